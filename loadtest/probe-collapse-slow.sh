#!/usr/bin/env bash
# The slow-body collapsing probe of issue 11 (defect 7): 5 concurrent misses, through one edge
# (collapse timeout 5 s), for one 171 KB object the origin sends at 25 KB/s (~6.8 s). Prints
# each viewer's time, status and X-Cache, and how many requests reached the origin.
#
# Usage: loadtest/probe-collapse-slow.sh [EDGELAB_BINARY]   (default: a debug build of this tree)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "curl python3" curl python3
lib_debug_bin "${1:-}"

lib_workdir probe-collapse-slow
mkdir "$WORK/files"
head -c 171000 /dev/urandom >"$WORK/files/slow.bin"
lib_start_node "$BIN" - origin --files "$WORK/files" --objects 10
ORIGIN=$NODE_TRAFFIC ORIGIN_ADMIN=$NODE_ADMIN
curl -fsS -o /dev/null -X POST -H 'content-type: application/json' \
    -d '{"slow_body_bytes_per_second": 25000}' "http://$ORIGIN_ADMIN/faults"
lib_start_node "$BIN" - edge --upstream "http://$ORIGIN" --policy CachingOptimized --pop FRA
EDGE=$NODE_TRAFFIC EDGE_ADMIN=$NODE_ADMIN
origin_requests() {
    curl -fsS "http://$ORIGIN_ADMIN/metrics" \
        | awk '/^edgelab_origin_requests_total/ {n += $NF} END {print n + 0}'
}
before=$(origin_requests)
viewers=()
for i in 1 2 3 4 5; do
    curl -s -m 60 -o /dev/null -D "$WORK/h$i" \
        -w "viewer $i: status=%{http_code} bytes=%{size_download} time=%{time_total}s" \
        "http://$EDGE/files/slow.bin" >"$WORK/v$i" &
    viewers+=($!)
done
wait "${viewers[@]}"
for i in 1 2 3 4 5; do
    echo "$(cat "$WORK/v$i") $(grep -i '^x-cache:' "$WORK/h$i" | tr -d '\r')"
done
echo "origin requests: $(($(origin_requests) - before))"
curl -fsS "http://$EDGE_ADMIN/metrics" | grep -E '^edgelab_edge_collapsed_(requests|from_fill)_total' || true
