#!/usr/bin/env bash
# Origin throughput side by side with nginx serving the same bytes, and origin RSS with a
# 100k-object catalog.
#
# Both servers are pinned to CPU 0, wrk to CPU 1; 64 connections, one 1 KiB and one 1 MiB
# object, DURATION seconds per run (default 10). Prints req/s for each and edgelab/nginx.
# Targets (issue 3): >= 0.9x nginx on 1 KiB, >= 1.0x on 1 MiB; RSS < 50 MiB.
#
# Usage: loadtest/bench-origin.sh            (installs nginx and wrk with apt-get if missing)
# Env:   DURATION=10  CONNECTIONS=64  CARGO_TARGET_DIR=target  SERVER_CPU=0  LOAD_CPU=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/edgelab"

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! need nginx || ! need wrk || ! need curl; then
    echo "installing nginx, wrk, curl (apt-get)" >&2
    apt-get install -y nginx wrk curl >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y nginx wrk curl >/dev/null; }
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

echo "building edgelab (release) into $TARGET" >&2
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release --locked -q -p edgelab-cli)

WORK="$(mktemp -d /tmp/edgelab-bench-origin.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts `edgelab origin ARGS` pinned to SERVER_CPU; sets ORIGIN_PID and ORIGIN_TRAFFIC.
start_origin() {
    local out="$WORK/origin.$RANDOM.out"
    : >"$out"
    taskset -c "$SERVER_CPU" "$BIN" origin --listen 127.0.0.1:0 --admin 127.0.0.1:0 "$@" >"$out" &
    ORIGIN_PID=$!
    PIDS+=("$ORIGIN_PID")
    for _ in $(seq 1 600); do
        if grep -q '^listening ' "$out"; then break; fi
        sleep 0.1
    done
    ORIGIN_TRAFFIC="$(sed -n 's/^listening traffic=\([^ ]*\) admin=.*/\1/p' "$out" | head -n1)"
    [ -n "$ORIGIN_TRAFFIC" ] || { echo "edgelab origin did not start" >&2; exit 1; }
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# wrk pinned to LOAD_CPU; prints requests per second.
load() {
    timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" >"$WORK/wrk.out"
    awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out"
}

# --- the same bytes for both servers -------------------------------------------------------
"$BIN" origin --config "$ROOT/loadtest/bench-origin/origin.toml" --export "$WORK/www" >/dev/null

cat >"$WORK/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path $WORK/tmp-body;
    proxy_temp_path $WORK/tmp-proxy;
    fastcgi_temp_path $WORK/tmp-fastcgi;
    uwsgi_temp_path $WORK/tmp-uwsgi;
    scgi_temp_path $WORK/tmp-scgi;
    types { application/javascript js; video/mp4 mp4; }
    server {
        listen 127.0.0.1:0;
        root $WORK/www;
    }
}
NGINX
# nginx cannot listen on port 0: pick a free port.
NGINX_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)"
sed -i "s/listen 127.0.0.1:0;/listen 127.0.0.1:$NGINX_PORT;/" "$WORK/nginx.conf"
if [ "$(id -u)" = 0 ]; then sed -i '1i user root;' "$WORK/nginx.conf"; fi
taskset -c "$SERVER_CPU" "$NGINX" -p "$WORK" -c "$WORK/nginx.conf" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

start_origin --config "$ROOT/loadtest/bench-origin/origin.toml"
EDGELAB_PID=$ORIGIN_PID
EDGELAB="http://$ORIGIN_TRAFFIC"
NGINXURL="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$NGINXURL/static/00000.js" 2>/dev/null && break
    sleep 0.1
done

# Same bytes on both?
for path in /static/00000.js /video/00000.mp4; do
    cmp -s <(curl -fsS "$EDGELAB$path") <(curl -fsS "$NGINXURL$path") \
        || { echo "edgelab and nginx disagree on $path" >&2; exit 1; }
done

echo "origin throughput: ${CONNECTIONS} connections, ${DURATION}s per run, servers on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU"
printf '%-8s %14s %14s %8s\n' object edgelab_req_s nginx_req_s ratio
for case in "1KiB /static/00000.js" "1MiB /video/00000.mp4"; do
    set -- $case
    e=$(load "$EDGELAB$2")
    n=$(load "$NGINXURL$2")
    ratio=$(awk -v e="$e" -v n="$n" 'BEGIN { printf "%.2f", (n > 0 ? e / n : 0) }')
    printf '%-8s %14s %14s %7sx\n' "$1" "$e" "$n" "$ratio"
done
stop "$EDGELAB_PID"
stop "$NGINX_PID"

# --- memory with a 100k-object catalog ------------------------------------------------------
started=$(date +%s.%N)
start_origin --objects 100000
ready=$(date +%s.%N)
curl -fsS -o /dev/null "http://$ORIGIN_TRAFFIC/.well-known/edgelab/catalog"
for i in 00000 00001 00002 00100 01000; do
    curl -fsS -o /dev/null "http://$ORIGIN_TRAFFIC/static/$i.js" || true
done
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$ORIGIN_PID/status")
hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$ORIGIN_PID/status")
awk -v r="$rss_kib" -v h="$hwm_kib" -v s="$started" -v e="$ready" 'BEGIN {
    printf "100k-object catalog: ready in %.2fs, RSS %.1f MiB (peak %.1f MiB), target < 50 MiB\n",
        e - s, r / 1024, h / 1024 }'
stop "$ORIGIN_PID"
