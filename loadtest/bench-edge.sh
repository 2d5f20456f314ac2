#!/usr/bin/env bash
# Cache-hit throughput and latency: edgelab edge vs nginx proxy_cache, same origin, same
# objects; then the edge's memory overhead per cached object.
#
# The origin is a plain nginx serving 1 KiB, 16 KiB and 1 MiB files with
# `Cache-Control: max-age=3600` (it only sees the warm-up misses). Each proxy in turn runs
# pinned to SERVER_CPU, wrk pinned to LOAD_CPU; every (size, connections) pair is warmed then
# loaded for DURATION seconds. Prints req/s, p99 and the edgelab/nginx ratios.
# Targets (issue 5): >= 1.2x nginx req/s on 1 KiB and 16 KiB hits, >= 1.0x on 1 MiB, p99 no
# worse than nginx's; memory overhead per cached object (beyond its body) < 512 bytes.
#
# Usage: loadtest/bench-edge.sh        (installs nginx and wrk with apt-get if missing)
# Env:   DURATION=10  CONNS="64 256"  SIZES="1k 16k 1m"  OBJECTS_SECONDS=20
#        CARGO_TARGET_DIR=target  SERVER_CPU=0  LOAD_CPU=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64 256}"
SIZES="${SIZES:-1k 16k 1m}"
OBJECTS_SECONDS="${OBJECTS_SECONDS:-20}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/edgelab"

# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "nginx wrk curl python3" nginx wrk curl python3
NGINX="$(lib_nginx)"

echo "building edgelab (release) into $TARGET" >&2
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release --locked -q -p edgelab-cli)

lib_workdir bench-edge
free_port() { lib_free_port; }
wait_http() { lib_wait_http "$1" || exit 1; }

# --- origin: nginx with three files and a tiny-object location --------------------------------
mkdir -p "$WORK/www/obj"
head -c 1024 /dev/urandom >"$WORK/www/obj/1k.bin"
head -c 16384 /dev/urandom >"$WORK/www/obj/16k.bin"
head -c 1048576 /dev/urandom >"$WORK/www/obj/1m.bin"
ORIGIN_PORT="$(free_port)"
NGINX_PORT="$(free_port)"
cat >"$WORK/origin.conf" <<NGINX
$(lib_nginx_main origin)
events { worker_connections 4096; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy-o;
    types { application/octet-stream bin; }
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $WORK/www;
        add_header Cache-Control "max-age=3600";
        location /tiny/ { add_header Cache-Control "max-age=3600"; return 200 "x"; }
    }
}
NGINX
cat >"$WORK/proxy.conf" <<NGINX
$(lib_nginx_main proxy)
events { worker_connections 8192; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy;
    proxy_cache_path $WORK/cache levels=1:2 keys_zone=edge:64m max_size=2g inactive=1h use_temp_path=off;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
NGINX
lib_start_nginx "$LOAD_CPU" "$WORK/origin.conf"
wait_http "http://127.0.0.1:$ORIGIN_PORT/obj/1k.bin"

start_edge() {
    lib_start_node "$BIN" "$SERVER_CPU" edge \
        --upstream "http://127.0.0.1:$ORIGIN_PORT" --policy CachingOptimized --pop FRA
    EDGE_PID=$NODE_PID
    EDGE_TRAFFIC=$NODE_TRAFFIC
    EDGE_ADMIN=$NODE_ADMIN
}

# wrk pinned to LOAD_CPU; prints "req/s p99_ms".
load() {
    lib_wrk "$LOAD_CPU" "$1" "$2" "$DURATION"
}

declare -A RESULT
start_edge
EDGE_URL="http://$EDGE_TRAFFIC"
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
lib_start_nginx "$SERVER_CPU" "$WORK/proxy.conf"
wait_http "$NGINX_URL/obj/1k.bin"

for size in $SIZES; do
    for url in "$EDGE_URL" "$NGINX_URL"; do
        curl -fsS -o /dev/null "$url/obj/$size.bin"
        curl -fsS -o /dev/null "$url/obj/$size.bin"
        cmp -s <(curl -fsS "$url/obj/$size.bin") "$WORK/www/obj/$size.bin" \
            || { echo "$url/obj/$size.bin differs from the origin file" >&2; exit 1; }
    done
    curl -fsS -D - -o /dev/null "$EDGE_URL/obj/$size.bin" | grep -qi '^x-cache: Hit from cloudfront' \
        || { echo "edge is not serving $size from cache" >&2; exit 1; }
    curl -fsS -D - -o /dev/null "$NGINX_URL/obj/$size.bin" | grep -qi '^x-cache: HIT' \
        || { echo "nginx is not serving $size from cache" >&2; exit 1; }
    for c in $CONNS; do
        RESULT["edge $size $c"]="$(load "$EDGE_URL/obj/$size.bin" "$c")"
        RESULT["nginx $size $c"]="$(load "$NGINX_URL/obj/$size.bin" "$c")"
    done
done

echo "cache hits: proxies on CPU $SERVER_CPU, wrk (1 thread) on CPU $LOAD_CPU, ${DURATION}s per run"
printf '%-6s %5s %12s %12s %7s %10s %10s\n' object conns edge_req_s nginx_req_s ratio edge_p99ms nginx_p99ms
for size in $SIZES; do
    for c in $CONNS; do
        read -r er ep <<<"${RESULT["edge $size $c"]}"
        read -r nr np <<<"${RESULT["nginx $size $c"]}"
        ratio=$(awk -v e="$er" -v n="$nr" 'BEGIN { printf "%.2f", (n > 0 ? e / n : 0) }')
        printf '%-6s %5s %12s %12s %6sx %10s %10s\n' "$size" "$c" "$er" "$nr" "$ratio" "$ep" "$np"
    done
done
kill "$NGINX_PID" 2>/dev/null || true

# --- memory per cached object ----------------------------------------------------------------
# Fill the edge with distinct 1-byte objects for OBJECTS_SECONDS, then compare RSS growth with
# the object count. The result includes allocator slack; it is an upper bound on overhead.
kill "$EDGE_PID" 2>/dev/null || true
wait "$EDGE_PID" 2>/dev/null || true
start_edge
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$EDGE_PID/status")
cat >"$WORK/distinct.lua" <<'LUA'
counter = 0
request = function()
    counter = counter + 1
    return wrk.format(nil, "/tiny/" .. counter)
end
LUA
timeout $((OBJECTS_SECONDS + 30)) taskset -c "$LOAD_CPU" \
    wrk -t1 -c64 -d"${OBJECTS_SECONDS}s" -s "$WORK/distinct.lua" "http://$EDGE_TRAFFIC" >/dev/null
sleep 1 # let the store's housekeeping (every 200 ms) publish its gauges
objects=$(curl -fsS "http://$EDGE_ADMIN/metrics" | awk '/^edgelab_edge_cache_objects/ { print $2 }')
rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$EDGE_PID/status")
awk -v b="$rss_before" -v a="$rss_after" -v n="$objects" 'BEGIN {
    per = (n > 0 ? (a - b) * 1024 / n : 0)
    printf "memory: %d objects cached, RSS +%.1f MiB, %.0f bytes per object (1-byte bodies; target < 512)\n",
        n, (a - b) / 1024, per }'
