#!/usr/bin/env bash
# User-space instructions per cache hit, counted by valgrind's callgrind: edgelab edge vs nginx
# proxy_cache vs perf-anchors' one-thread hyper "limit" server, in front of one nginx origin.
#
# Why: on a shared machine wall-clock req/s moves by 2x-30x with the neighbours' load, and
# without hardware counters (a VM) `perf stat -e instructions` reads "not supported". What a
# server executes per request does not depend on the load: callgrind counts it exactly. Each
# server runs under callgrind pinned to SERVER_CPU (so edgelab's default --threads is 1, as in
# the pinned benchmark); after a warm-up the counters are zeroed, wrk (one thread, LOAD_CPU)
# sends a fixed number of requests, the counters are dumped and divided by the requests the
# server answered. Kernel work (the TCP path, sendfile) is not counted: bench-edge.sh's CPU
# share covers it.
#
# A fixed count, not a fixed time: what a cell counts also holds the set-up of its connections
# and the runtime's timers, so dividing by however many requests a slowed-down server answered
# in DURATION seconds (2,700 to 19,000 on a busy host) moved a cell by hundreds of instructions
# between runs of one binary. wrk stops at its REQUESTS-th response (a Lua `response()`); each
# of its other connections then has one request in flight, which the server answers before
# the dump, so every cell divides by REQUESTS + connections - 1.
#
# Results: RESULTS (default target/bench-instructions/<UTC stamp>/) holds results.tsv
# (target, size, connections, requests, instructions per request), each run's wrk output
# and the callgrind profile (`callgrind_annotate FILE`) of every cell.
#
# Usage: loadtest/bench-instructions.sh   (installs nginx, wrk, valgrind with apt-get if missing)
# Env:   REQUESTS=20000  CONNS="64 256"  SIZES="1k 16k"  TARGETS="edgelab nginx limit"
#        DURATION=600 (longest a cell may take)  EDGELAB_BIN=target/release/edgelab (built
#        when missing)  LIMIT_BIN=...  RESULTS=...  SERVER_CPU=0  LOAD_CPU=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUESTS="${REQUESTS:-20000}"
DURATION="${DURATION:-600}"
CONNS="${CONNS:-64 256}"
SIZES="${SIZES:-1k 16k}"
TARGETS="${TARGETS:-edgelab nginx limit}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${EDGELAB_BIN:-$TARGET/release/edgelab}"
LIMIT_BIN="${LIMIT_BIN:-/tmp/perf-anchors/limit/target/release/limit}"
RESULTS="${RESULTS:-$TARGET/bench-instructions/$(date -u +%Y%m%dT%H%M%SZ)}"

# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "nginx wrk curl valgrind" nginx wrk curl valgrind callgrind_control
if [[ " $TARGETS " == *" edgelab "* ]] && ! [ -x "$BIN" ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release --locked -q -p edgelab-cli)
fi
if [[ " $TARGETS " == *" limit "* ]] && ! [ -x "$LIMIT_BIN" ]; then
    echo "no limit server at $LIMIT_BIN (perf-anchors' run.sh install builds it): left out" >&2
    TARGETS="${TARGETS//limit/}"
fi
lib_workdir bench-instructions
mkdir -p "$RESULTS" "$WORK/www" "$WORK/cache"
# Stops wrk's thread at its REQUESTS-th response, then wrk itself: it sleeps out its duration
# unless interrupted, and os.execute's system() ignores SIGINT until the shell returns, so the
# signal comes from a child that outlives it ($PPID is wrk).
cat >"$WORK/count.lua" <<'LUA'
local limit = tonumber(os.getenv("REQUESTS"))
local seen = 0
function response(status, headers, body)
    seen = seen + 1
    if seen == limit then
        wrk.thread:stop()
        os.execute("(sleep 0.2; kill -INT $PPID) &")
    end
end
LUA
for size in $SIZES; do
    case $size in 1k) n=1024 ;; 16k) n=16384 ;; 1m) n=1048576 ;; *) echo "size $size?" >&2; exit 64 ;; esac
    head -c "$n" /dev/urandom >"$WORK/www/$size"
done

ORIGIN_PORT="$(lib_free_port)"
cat >"$WORK/origin.conf" <<NGINX
$(lib_nginx_main origin)
events { worker_connections 4096; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy-o;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $WORK/www;
        add_header Cache-Control "public, max-age=3600";
    }
}
NGINX
lib_start_nginx "$LOAD_CPU" "$WORK/origin.conf"
lib_wait_http "http://127.0.0.1:$ORIGIN_PORT/${SIZES%% *}"

# Starts target $1 under callgrind; sets SERVER_PID and SERVER_URL.
start_counted() {
    local port cmd
    port="$(lib_free_port)"
    case $1 in
        edgelab)
            cmd=("$BIN" edge --listen "127.0.0.1:$port" --admin "127.0.0.1:$(lib_free_port)"
                --upstream "http://127.0.0.1:$ORIGIN_PORT" --policy CachingOptimized --pop FRA) ;;
        limit) cmd=("$LIMIT_BIN" --listen "127.0.0.1:$port") ;;
        nginx)
            # One process (no master): the one callgrind counts.
            lib_nginx_proxy_conf "$port" "master_process off;" >"$WORK/proxy.conf"
            cmd=("$(lib_nginx)" -p "$WORK" -c "$WORK/proxy.conf") ;;
    esac
    lib_pinned "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$WORK/$1.cg" \
        "${cmd[@]}" >"$WORK/$1.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL="http://127.0.0.1:$port"
    local _
    for _ in $(seq 1 600); do curl -fsS -o /dev/null "$SERVER_URL/${SIZES%% *}" 2>/dev/null && return 0; sleep 0.1; done
    echo "$1 did not start under callgrind:" >&2
    cat "$WORK/$1.log" >&2
    return 1
}

# Returns once process $1's CPU time (user + system ticks) has not moved for 0.5 s.
wait_idle() {
    local last=-1 now _
    for _ in $(seq 1 100); do
        now="$(awk '{ print $14 + $15 }' "/proc/$1/stat")"
        [ "$now" = "$last" ] && return 0
        last="$now"
        sleep 0.5
    done
}

printf 'target\tsize\tconns\trequests\tinstructions_per_request\n' >"$RESULTS/results.tsv"
for t in $TARGETS; do
    start_counted "$t"
    for size in $SIZES; do
        curl -fsS -o /dev/null "$SERVER_URL/$size"
        curl -fsS -o /dev/null "$SERVER_URL/$size"
        (TIMEOUT=30 lib_pinned "$LOAD_CPU" wrk -t1 -c16 -d2s "$SERVER_URL/$size" >/dev/null)
    done
    for size in $SIZES; do
        for c in $CONNS; do
            out="$RESULTS/$t-$size-c$c"
            callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
            (TIMEOUT=$((DURATION + 30)) REQUESTS="$REQUESTS" lib_pinned "$LOAD_CPU" wrk -t1 \
                -c"$c" -d"${DURATION}s" -s "$WORK/count.lua" "$SERVER_URL/$size" >"$out.wrk")
            completed="$(awk '/requests in/ { print $1 }' "$out.wrk")"
            if [ "$completed" -lt "$REQUESTS" ]; then
                echo "$t $size c$c: wrk stopped after $completed of $REQUESTS requests" >&2
                exit 1
            fi
            # The requests still in flight when wrk stopped: the server answers them (and sees
            # the connections close) within moments; the dump waits until its CPU time stands
            # still for half a second.
            wait_idle "$SERVER_PID"
            callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
            # The dump is complete once its last line (totals) is written.
            for _ in $(seq 1 100); do
                dump="$(ls -t "$WORK/$t.cg".* 2>/dev/null | head -1)"
                [ -n "$dump" ] && grep -q '^totals:' "$dump" && break
                sleep 0.1
            done
            cp "$dump" "$out.callgrind"
            requests=$((REQUESTS + c - 1))
            awk -v t="$t" -v s="$size" -v c="$c" -v r="$requests" \
                '/^summary:/ { printf "%s\t%s\t%s\t%d\t%.0f\n", t, s, c, r, $2 / r }' \
                "$out.callgrind" | tee -a "$RESULTS/results.tsv"
        done
    done
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
done
echo "results: $RESULTS/results.tsv" >&2
