#!/usr/bin/env bash
# The service against its own engine: h2load posts a real PNG to `vqtok serve` (HTTP/2), and
# `vqtok bench model` times the in-process encoder on the same model at the same batch size and
# threads, in the same run. Prints images/s of each and the ratio (goal: the server keeps >= 90%).
#
#   Scripts/bench-service.sh [MODEL_DIR] [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS] [-t THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=Models/vqganlc-f8-tiny; requests=200; connections=4; streams=4; threads=2; batch=8
[ $# -gt 0 ] && [ "${1#-}" = "$1" ] && { model=$1; shift; }
while getopts n:c:m:t: opt; do
    case $opt in n) requests=$OPTARG ;; c) connections=$OPTARG ;; m) streams=$OPTARG ;; t) threads=$OPTARG ;; *) exit 2 ;; esac
done
photo=Tests/Fixtures/photos/coffee.png
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$(Scripts/openblas-core.sh)}"
swift build -c release --product vqtok >/dev/null
vqtok=.build/release/vqtok

port=$((20000 + RANDOM % 20000))
$vqtok serve --model "$model" --host 127.0.0.1 --port $port --threads $threads --max-batch $batch \
    2>/tmp/vqtok-bench-service.log &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 1 300); do
    curl -sf -o /dev/null http://127.0.0.1:$port/readyz && break
    sleep 0.2
done
name=$(curl -s http://127.0.0.1:$port/v1/models | python3 -c 'import json,sys; print(json.load(sys.stdin)["models"][0]["name"])')

h2load -n $((requests / 10)) -c $connections -m $streams -d $photo -H 'content-type: image/png' \
    http://127.0.0.1:$port/v1/models/$name/encode >/dev/null   # warm-up
server_out=$(h2load -n $requests -c $connections -m $streams -d $photo -H 'content-type: image/png' \
    http://127.0.0.1:$port/v1/models/$name/encode)
kill $server; wait $server 2>/dev/null || true; trap - EXIT
echo "$server_out" | grep -E "^(finished|requests|status codes|time for request)"
failed=$(echo "$server_out" | sed -n 's/.* \([0-9]*\) failed.*/\1/p' | head -1)
[ "${failed:-1}" = 0 ] || { echo "h2load reported failed requests"; exit 1; }
served=$(echo "$server_out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')

inproc=$($vqtok bench model --model "$model" --batch $batch --threads $threads --what encode --repeats 5 \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["batch"] * 1000 / r["encode_ms"]["median"])')
python3 - "$served" "$inproc" <<'PY'
import sys
served, inproc = map(float, sys.argv[1:])
print(f"server (h2load, PNG in, JSON ids out): {served:.1f} images/s")
print(f"in-process encoder (tensor in, ids out): {inproc:.1f} images/s")
print(f"ratio server / in-process: {served / inproc:.2f}")
PY
