#!/usr/bin/env bash
# Creates (or brings up to date) .venv at the repository root with Scripts/requirements.txt.
# Idempotent: an existing .venv is reused, and pip skips what is already installed.
#   Scripts/python-env.sh            # then: .venv/bin/python Scripts/fixtures/make_fixtures.py
# Set PYTHON to pick the interpreter (default python3, 3.10 or newer). Set TORCH_INDEX_URL
# (for example https://download.pytorch.org/whl/cpu) to take torch from another index, such as
# the much smaller CPU-only wheels.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/Scripts/requirements.txt"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "python-env: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import torch, numpy, safetensors, PIL, skimage, httpx, h2" 2>/dev/null; then
    echo "python-env: $venv is up to date"
    exit 0
fi

extra=()
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    extra+=(--extra-index-url "$TORCH_INDEX_URL")
fi
"$venv/bin/python" -m pip install --upgrade pip >/dev/null
"$venv/bin/python" -m pip install "${extra[@]}" -r "$req"
echo "$want" > "$stamp"
echo "python-env: ready ($venv/bin/python)"
