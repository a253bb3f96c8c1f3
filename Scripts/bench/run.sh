#!/usr/bin/env bash
# One command for the benchmark table of issue 6 (Benchmarks/README.md records its figures):
#   Scripts/bench/run.sh [run.py options]      e.g. --threads 2 --batches 1 --sections model
# Makes the peers' virtualenv Benchmarks/.venv (torch, onnx, onnxruntime, faiss-cpu from PyPI;
# about 6 GB, the torch wheel is a CUDA build) when it is missing, builds vqtok in release mode,
# writes the random-weight benchmark model into Benchmarks/.cache/ (git-ignored, ~600 MB), then
# runs Scripts/bench/run.py. Run it on an otherwise idle machine: two benchmarks at once on two
# cores measure nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=Benchmarks/.venv
if ! "$venv/bin/python" -c "import torch, onnx, onnxruntime, faiss, safetensors, PIL" 2>/dev/null; then
    echo "installing the peers into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r Scripts/bench/requirements.txt
fi
command -v taskset >/dev/null || echo "taskset missing (util-linux): 1-thread runs are not pinned" >&2
Scripts/install-deps.sh
swift build -c release --product vqtok >&2
exec "$venv/bin/python" Scripts/bench/run.py "$@"
