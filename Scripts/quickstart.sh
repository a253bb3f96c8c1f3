#!/usr/bin/env bash
# Installs what is missing, builds vqtok in release mode and serves the model shipped in Models/.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build -c release
exec .build/release/vqtok serve "$@"
