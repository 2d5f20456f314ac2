#!/usr/bin/env bash
# The Range denial-of-service probe of issue 11 (defect 2): peak RSS of an edge asked for
# `Range: bytes=0-,0-,…` (2,000 times) on a cached 3.6 MB object, and the bytes an origin
# sends for 32 × `0-`. Prints status, bytes sent and the servers' peak RSS (VmHWM).
#
# Usage: loadtest/probe-range-dos.sh [EDGELAB_BINARY]   (default: a debug build of this tree)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "curl python3" curl python3
lib_debug_bin "${1:-}"

lib_workdir probe-range-dos
mkdir "$WORK/files"
head -c 3600000 /dev/urandom >"$WORK/files/big.bin"
peak() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$1/status"; }
ranges() { echo "bytes=$(yes 0- | head -"$1" | paste -sd,)"; }
send() { # label url range
    curl -s -m 120 -o /dev/null -H "Range: $3" \
        -w "$1: status=%{http_code} bytes=%{size_download} time=%{time_total}s\n" "$2" || echo "$1: failed"
}

lib_start_node "$BIN" - origin --files "$WORK/files" --objects 10
ORIGIN_PID=$NODE_PID ORIGIN=$NODE_TRAFFIC
lib_start_node "$BIN" - edge --upstream "http://$ORIGIN" --policy CachingOptimized --pop FRA
EDGE_PID=$NODE_PID EDGE=$NODE_TRAFFIC
curl -s -o /dev/null "http://$EDGE/files/big.bin"
curl -s -o /dev/null -D - "http://$EDGE/files/big.bin" | grep -i '^x-cache'
echo "edge peak RSS before: $(peak "$EDGE_PID")"
send "edge 2000 x 0-" "http://$EDGE/files/big.bin" "$(ranges 2000)"
echo "edge peak RSS after: $(peak "$EDGE_PID")"
echo "origin peak RSS before: $(peak "$ORIGIN_PID")"
send "origin 32 x 0-" "http://$ORIGIN/files/big.bin" "$(ranges 32)"
echo "origin peak RSS after: $(peak "$ORIGIN_PID")"
