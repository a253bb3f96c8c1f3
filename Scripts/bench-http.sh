#!/usr/bin/env bash
# HTTP/2 transport benchmark: h2load against vqtok's HTTP layer and against nghttpd serving the
# same bytes, in the same run, alternating; prints the median req/s of each and the ratio.
#   Scripts/bench-http.sh [-c CONNECTIONS] [-m STREAMS] [-D SECONDS] [-r RUNS] [-b BYTES]
# Defaults: -c 64 -m 16 -D 5 -r 3 -b 13. Needs h2load (nghttp2-client) and nghttpd (nghttp2-server).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=64 STREAMS=16 SECONDS_PER_RUN=5 RUNS=3 BYTES=13
while getopts "c:m:D:r:b:" opt; do
  case $opt in
    c) CONNS=$OPTARG ;; m) STREAMS=$OPTARG ;; D) SECONDS_PER_RUN=$OPTARG ;;
    r) RUNS=$OPTARG ;; b) BYTES=$OPTARG ;; *) exit 2 ;;
  esac
done

NGHTTPD=$(command -v nghttpd || echo /usr/sbin/nghttpd)
command -v h2load >/dev/null || { echo "h2load not found (apt-get install nghttp2-client)" >&2; exit 1; }
[ -x "$NGHTTPD" ] || { echo "nghttpd not found (apt-get install nghttp2-server)" >&2; exit 1; }

swift build -c release --product vqtok-http-bench >&2
BIN=$(swift build -c release --show-bin-path)/vqtok-http-bench

DIR=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
head -c "$BYTES" /dev/zero | tr '\0' 'x' > "$DIR/f"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OURS_PORT=$(free_port); PEER_PORT=$(free_port)
"$BIN" --host 127.0.0.1 --port "$OURS_PORT" --bytes "$BYTES" >/dev/null & PIDS+=($!)
"$NGHTTPD" --no-tls -a 127.0.0.1 -d "$DIR" "$PEER_PORT" >/dev/null 2>&1 & PIDS+=($!)
for port in "$OURS_PORT" "$PEER_PORT"; do
  for _ in $(seq 50); do curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$port/f" && break; sleep 0.1; done
done

# One h2load run; prints req/s (fails the script if any request failed).
load() {
  local out
  out=$(h2load -c "$CONNS" -m "$STREAMS" -D "$SECONDS_PER_RUN" --warm-up-time 1 "http://127.0.0.1:$1/f")
  echo "$out" | grep -q " 0 failed, 0 errored" || { echo "$out" >&2; echo "h2load saw failures on port $1" >&2; exit 1; }
  echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ours=() peer=()
for i in $(seq "$RUNS"); do
  ours+=("$(load "$OURS_PORT")")
  peer+=("$(load "$PEER_PORT")")
  echo "run $i: vqtok ${ours[-1]} req/s, nghttpd ${peer[-1]} req/s" >&2
done
O=$(printf '%s\n' "${ours[@]}" | median)
P=$(printf '%s\n' "${peer[@]}" | median)
echo "h2load -c $CONNS -m $STREAMS -D $SECONDS_PER_RUN, ${BYTES}-byte body, median of $RUNS"
echo "vqtok   $O req/s"
echo "nghttpd $P req/s"
awk -v o="$O" -v p="$P" 'BEGIN { printf "ratio vqtok/nghttpd %.2f\n", o / p }'
