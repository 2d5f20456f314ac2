#!/usr/bin/env bash
# Load generator benchmark (issue 6): edgelab loadgen against wrk and oha, same server, same run.
#
# nginx serves a 1 KiB static file on loopback, pinned to SERVER_CPU; every load generator is
# pinned to LOAD_CPU; zero emulated latency. Measures, in this order:
#   1. maximum sustained rate: `wrk -t1 -cN` vs `edgelab loadgen --closed --connections N`,
#      ratio edgelab/wrk (target >= 0.8), and edgelab's CPU time per request (user + sys);
#   2. p50/p99 at a fixed RATE (default 20000 req/s): `edgelab loadgen --rate RATE` vs
#      `oha -q RATE --latency-correction` (target: within 20 %); without oha, wrk's (closed
#      loop, uncorrected) latency is printed instead, which is not a like-for-like comparison;
#   3. memory: edgelab at RATE for MEM_SECONDS (default 60; the issue's full run is 600),
#      RSS sampled every 5 s (target < 200 MiB, flat: histograms, not samples).
#
# Usage: loadtest/bench-loadgen.sh
# Env:   DURATION=10 ROUNDS=3 CONNECTIONS=64 RATE=20000 MEM_SECONDS=60 SERVER_CPU=1 LOAD_CPU=0
#        OHA=/path/to/oha (default: oha on PATH, else $OHA_ROOT/bin/oha; OHA_INSTALL=1 runs
#        `cargo install oha --locked --root $OHA_ROOT`, OHA_ROOT=/tmp/edgelab-oha)
#        CARGO_TARGET_DIR=target
# Bounded: every run has a fixed duration and a `timeout`; the whole script takes about
# (2 × ROUNDS + 2) × DURATION + MEM_SECONDS + build time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
RATE="${RATE:-20000}"
MEM_SECONDS="${MEM_SECONDS:-60}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/edgelab"
OHA_ROOT="${OHA_ROOT:-/tmp/edgelab-oha}"

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! need nginx || ! need wrk || ! need curl; then
    echo "installing nginx, wrk, curl (apt-get)" >&2
    apt-get install -y nginx wrk curl >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y nginx wrk curl >/dev/null; }
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

OHA="${OHA:-$(command -v oha || true)}"
if [ -z "$OHA" ] && [ -x "$OHA_ROOT/bin/oha" ]; then OHA="$OHA_ROOT/bin/oha"; fi
if [ -z "$OHA" ] && [ "${OHA_INSTALL:-0}" = 1 ]; then
    echo "installing oha from crates.io into $OHA_ROOT" >&2
    cargo install oha --locked --root "$OHA_ROOT" >&2 && OHA="$OHA_ROOT/bin/oha"
fi

echo "building edgelab (release) into $TARGET" >&2
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release --locked -q -p edgelab-cli)

WORK="$(mktemp -d /tmp/edgelab-bench-loadgen.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- nginx with one 1 KiB file ---------------------------------------------------------------
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18081)"
sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$PORT|g" "$ROOT/loadtest/bench-loadgen/nginx.conf.in" >"$WORK/nginx.conf"
if [ "$(id -u)" = 0 ]; then sed -i '1i user root;' "$WORK/nginx.conf"; fi
taskset -c "$SERVER_CPU" "$NGINX" -p "$WORK" -c "$WORK/nginx.conf" &
PIDS+=("$!")
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$URL/1k.bin" 2>/dev/null && break
    sleep 0.1
done
echo "/1k.bin" >"$WORK/urls.txt"

# Runs edgelab loadgen pinned to LOAD_CPU with ARGS; writes $WORK/$1.json and $WORK/$1.time
# ("user sys" CPU seconds).
edgelab_run() {
    local name=$1
    shift
    TIMEFORMAT='%U %S'
    { time timeout $((DURATION + 60)) taskset -c "$LOAD_CPU" "$BIN" loadgen --target "$URL" \
        --urls "$WORK/urls.txt" --seed 1 --json "$WORK/$name.json" "$@" >"$WORK/$name.out" ; } 2>"$WORK/$name.time"
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

echo "# bench-loadgen $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# nginx 1 KiB on CPU $SERVER_CPU, load generators on CPU $LOAD_CPU, ${CONNECTIONS} connections, ${DURATION}s per run"

# --- 1. maximum sustained rate ---------------------------------------------------------------
# Alternating ROUNDS runs of each and keeping each tool's best makes the ratio robust to other
# work on a shared machine.
wrk_rate=0
edgelab_rate=0
for round in $(seq 1 "$ROUNDS"); do
    timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL/1k.bin" >"$WORK/wrk.$round.out"
    w=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.$round.out")
    edgelab_run "max.$round" --closed --connections "$CONNECTIONS" --duration "${DURATION}s"
    e=$(json "$WORK/max.$round.json" 'd["totals"]["rate_per_s"]')
    echo "  round $round: wrk $w req/s, edgelab $e req/s" >&2
    if awk -v a="$w" -v b="$wrk_rate" 'BEGIN { exit !(a > b) }'; then wrk_rate=$w; cp "$WORK/wrk.$round.out" "$WORK/wrk.out"; fi
    if awk -v a="$e" -v b="$edgelab_rate" 'BEGIN { exit !(a > b) }'; then
        edgelab_rate=$e
        cp "$WORK/max.$round.json" "$WORK/max.json"
        cp "$WORK/max.$round.time" "$WORK/max.time"
    fi
done
edgelab_done=$(json "$WORK/max.json" 'd["totals"]["completed"]')
edgelab_errors=$(json "$WORK/max.json" 'd["totals"]["errors"]')
read -r cpu_user cpu_sys <"$WORK/max.time"
awk -v w="$wrk_rate" -v e="$edgelab_rate" -v n="$edgelab_done" -v u="$cpu_user" -v s="$cpu_sys" -v err="$edgelab_errors" -v r="$ROUNDS" 'BEGIN {
    printf "max rate (best of %d): wrk %.0f req/s, edgelab %.0f req/s (%d errors), ratio %.2f (target >= 0.80)\n", r, w, e, err, (w > 0 ? e / w : 0)
    printf "edgelab CPU per request: %.2f us (user %.2fs + sys %.2fs over %d requests)\n", (u + s) * 1e6 / n, u, s, n }'

# --- 2. latency at a fixed rate ---------------------------------------------------------------
edgelab_run fixed --rate "$RATE" --connections "$CONNECTIONS" --duration "${DURATION}s"
e50=$(json "$WORK/fixed.json" 'd["latency"]["p50_ms"]')
e99=$(json "$WORK/fixed.json" 'd["latency"]["p99_ms"]')
erate=$(json "$WORK/fixed.json" 'd["totals"]["rate_per_s"]')
printf 'at %s req/s: edgelab p50 %.3f ms, p99 %.3f ms (achieved %.0f req/s)\n' "$RATE" "$e50" "$e99" "$erate"
if [ -n "$OHA" ]; then
    timeout $((DURATION + 60)) taskset -c "$LOAD_CPU" "$OHA" --no-tui --output-format json -q "$RATE" --latency-correction \
        -z "${DURATION}s" -c "$CONNECTIONS" "$URL/1k.bin" >"$WORK/oha.json"
    o50=$(json "$WORK/oha.json" 'd["latencyPercentiles"]["p50"] * 1000')
    o99=$(json "$WORK/oha.json" 'd["latencyPercentiles"]["p99"] * 1000')
    orate=$(json "$WORK/oha.json" 'd["summary"]["requestsPerSec"]')
    awk -v r="$RATE" -v e50="$e50" -v e99="$e99" -v o50="$o50" -v o99="$o99" -v orate="$orate" 'BEGIN {
        printf "at %s req/s: oha    p50 %.3f ms, p99 %.3f ms (achieved %.0f req/s, --latency-correction)\n", r, o50, o99, orate
        printf "edgelab/oha: p50 %.2f, p99 %.2f (target within 0.80..1.20)\n", (o50 > 0 ? e50 / o50 : 0), (o99 > 0 ? e99 / o99 : 0) }'
else
    echo "oha not available (set OHA=... or OHA_INSTALL=1): wrk's closed-loop latency instead, not like-for-like:"
    awk '/Latency Distribution/ { on = 1; next } on && /%/ { printf "  wrk %s %s\n", $1, $2 } /^ +99%/ { on = 0 }' "$WORK/wrk.out"
fi

# --- 3. memory over a long run at RATE ----------------------------------------------------------
taskset -c "$LOAD_CPU" "$BIN" loadgen --target "$URL" --urls "$WORK/urls.txt" --seed 1 --rate "$RATE" \
    --connections "$CONNECTIONS" --duration "${MEM_SECONDS}s" --json "$WORK/mem.json" >"$WORK/mem.out" &
MEM_PID=$!
PIDS+=("$MEM_PID")
samples=()
while kill -0 "$MEM_PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$MEM_PID/status" 2>/dev/null || true)
    [ -n "$rss" ] && samples+=("$rss")
    sleep 5
done
wait "$MEM_PID" || true
mem_done=$(json "$WORK/mem.json" 'd["totals"]["completed"]')
printf '%s\n' "${samples[@]}" | awk -v secs="$MEM_SECONDS" -v n="$mem_done" '
    { kib[NR] = $1; if ($1 > max) max = $1 }
    END {
        printf "memory: %ss at rate, %d requests, RSS every 5 s (MiB):", secs, n
        for (i = 1; i <= NR; i++) printf " %.1f", kib[i] / 1024
        printf "\nmemory: peak %.1f MiB (target < 200 MiB), last - first %.1f MiB\n", max / 1024, (kib[NR] - kib[1]) / 1024 }'
