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
#        NO_BUILD=1 (use the build there)  EDGELAB_BIN=path (another binary)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"

# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "nginx wrk curl python3" nginx wrk curl python3
NGINX="$(lib_nginx)"

lib_release_bin

lib_workdir bench-origin

# Starts `edgelab origin ARGS` pinned to SERVER_CPU; sets ORIGIN_PID and ORIGIN_TRAFFIC.
start_origin() {
    lib_start_node "$BIN" "$SERVER_CPU" origin "$@"
    ORIGIN_PID=$NODE_PID
    ORIGIN_TRAFFIC=$NODE_TRAFFIC
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# wrk pinned to LOAD_CPU; prints requests per second.
load() {
    lib_wrk "$LOAD_CPU" "$1" "$CONNECTIONS" "$DURATION" | cut -d' ' -f1
}

# --- the same bytes for both servers -------------------------------------------------------
"$BIN" origin --config "$ROOT/loadtest/bench-origin/origin.toml" --export "$WORK/www" >/dev/null

# nginx cannot listen on port 0: pick a free port.
NGINX_PORT="$(lib_free_port)"
cat >"$WORK/nginx.conf" <<NGINX
$(lib_nginx_main nginx)
events { worker_connections 4096; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy;
    types { application/javascript js; video/mp4 mp4; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
    }
}
NGINX
lib_start_nginx "$SERVER_CPU" "$WORK/nginx.conf"

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
