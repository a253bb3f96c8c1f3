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
"$BIN" --host 127.0.0.1 --port "$OURS_PORT" --bytes "$BYTES" >/dev/null & PIDS+=($!); OURS_PID=$!
"$NGHTTPD" --no-tls -a 127.0.0.1 -d "$DIR" "$PEER_PORT" >/dev/null 2>&1 & PIDS+=($!); PEER_PID=$!
for port in "$OURS_PORT" "$PEER_PORT"; do
  for _ in $(seq 50); do curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$port/f" && break; sleep 0.1; done
done

# CPU time (user + system, all threads) of a process, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# One h2load run against port $1 (server pid $2); prints "req/s cpu-us-per-request".
load() {
  local out before after rps
  before=$(ticks "$2")
  out=$(h2load -c "$CONNS" -m "$STREAMS" -D "$SECONDS_PER_RUN" --warm-up-time 1 "http://127.0.0.1:$1/f")
  after=$(ticks "$2")
  echo "$out" | grep -q " 0 failed, 0 errored" || { echo "$out" >&2; echo "h2load saw failures on port $1" >&2; exit 1; }
  rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
  # CPU is counted over warm-up + measurement, requests over the measurement only: an upper bound.
  awk -v r="$rps" -v t=$((after - before)) -v hz="$HZ" -v d="$SECONDS_PER_RUN" \
    'BEGIN { printf "%s %.1f\n", r, t / hz * 1e6 / (r * (d + 1)) }'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ours=() peer=() ours_cpu=() peer_cpu=()
for i in $(seq "$RUNS"); do
  read -r r c < <(load "$OURS_PORT" "$OURS_PID"); ours+=("$r"); ours_cpu+=("$c")
  read -r r c < <(load "$PEER_PORT" "$PEER_PID"); peer+=("$r"); peer_cpu+=("$c")
  echo "run $i: vqtok ${ours[-1]} req/s (${ours_cpu[-1]} us CPU/req), nghttpd ${peer[-1]} req/s (${peer_cpu[-1]} us CPU/req)" >&2
done
O=$(printf '%s\n' "${ours[@]}" | median)
P=$(printf '%s\n' "${peer[@]}" | median)
OC=$(printf '%s\n' "${ours_cpu[@]}" | median)
PC=$(printf '%s\n' "${peer_cpu[@]}" | median)
echo "h2load -c $CONNS -m $STREAMS -D $SECONDS_PER_RUN, ${BYTES}-byte body, median of $RUNS ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo "vqtok   $O req/s  $OC us CPU/request"
echo "nghttpd $P req/s  $PC us CPU/request"
awk -v o="$O" -v p="$P" 'BEGIN { printf "ratio vqtok/nghttpd %.2f\n", o / p }'
