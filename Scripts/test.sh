#!/usr/bin/env bash
# The whole test suite: unit, parity with the committed PyTorch fixtures, and integration
# tests that start the real server and talk to it with real clients.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build
swift test 2>&1
