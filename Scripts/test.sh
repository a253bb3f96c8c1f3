#!/usr/bin/env bash
# The whole test suite: unit tests, parity with the committed PyTorch fixtures, and integration
# tests that start the real server and talk to it with real clients (curl, nghttp, h2load, httpx).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh

# The integration tests' Python client (httpx with HTTP/2). Parity tests need no Python.
if [ ! -x .venv-test/bin/python ] || ! .venv-test/bin/python -c 'import httpx, h2, numpy' 2>/dev/null; then
    python3 -m venv .venv-test
    .venv-test/bin/pip install -q -r Scripts/requirements-test.txt
fi
export VQTOK_PYTHON="$PWD/.venv-test/bin/python"
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$(Scripts/openblas-core.sh)}"

swift build
# SearchKernels is built for AVX2 and FMA and runs only where the CPU has them. Code it defines
# under another module's name (a generic specialization) could be shared by the linker with
# modules built for every x86-64 CPU, so it must define none.
foreign="$(nm --defined-only .build/debug/SearchKernels.build/*.o | awk '$2 ~ /^[TtWw]$/ && $3 !~ /^[$]s13SearchKernels/')"
if [ -n "$foreign" ]; then
    echo "SearchKernels defines code outside its own names:"; echo "$foreign"; exit 1
fi
# Suites run one after another: the attack tests measure the process's memory, and the integration
# tests' timeouts assume the machine is not also running every other suite.
# The log is long: on failure, its failing lines are printed again at the end, where a CI tail shows them.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
swift test --no-parallel 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
    echo "== swift test failed ($status); the failing lines =="
    grep -a -E '✘|error:|fatal|Fatal|crash|signal' "$log" | grep -v ' passed after' | head -80 || true
fi
exit "$status"
