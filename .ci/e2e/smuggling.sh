#!/usr/bin/env bash
# Request smuggling through the edge against a real third-party origin (Debian's nginx):
# request A carries a Content-Length and a body, request B's first header line hides a
# request for /SMUGGLED. If the edge forwarded A's length without its body, nginx would read
# the start of B as A's body and answer /SMUGGLED for B, and the edge would cache that under
# B's URL. Each sequence is tried for a range of lengths (the split point depends on how the
# edge writes B's head); afterwards every B URL must hold B's own body, in the cache too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EDGELAB="${EDGELAB:-$ROOT/target/debug/edgelab}"
# shellcheck source=../../loadtest/lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "nginx curl python3" nginx curl python3
lib_workdir smuggling

port="$(lib_free_port)"
cat >"$WORK/nginx.conf" <<NGINX
$(lib_nginx_main origin)
events { worker_connections 256; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy;
    server {
        listen 127.0.0.1:$port;
        add_header Cache-Control "max-age=300";
        location ~ ^/early/a { return 200 "a"; }
        location ~ ^/early/b { return 200 "b"; }
        location /SMUGGLED { return 200 "smuggled"; }
        location / { return 404; }
    }
}
NGINX
lib_start_nginx - "$WORK/nginx.conf"
lib_wait_http "http://127.0.0.1:$port/early/a"
lib_start_node "$EDGELAB" - edge --upstream "http://127.0.0.1:$port" --policy CachingOptimized --pop FRA
edge="$NODE_TRAFFIC"

# Sends A then B on one viewer connection. The edge writes B's head as the request line, then
# `x-pad: ` first, so A's length would split B at 26 + 7 = 33 bytes with three-digit ids; the
# lengths 20..45 cover that split and its neighbours. Fresh URLs for every sequence.
python3 - "$edge" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
for i, n in enumerate(range(20, 46)):
    a = f"GET /early/a{100 + i} HTTP/1.1\r\nHost: d.example\r\nContent-Length: {n}\r\n\r\n" + "x" * n
    b = f"GET /early/b{100 + i} HTTP/1.1\r\nX-Pad: GET /SMUGGLED HTTP/1.1\r\nHost: d.example\r\n\r\n"
    s = socket.create_connection((host, int(port)), timeout=2)
    try:
        s.sendall(a.encode())
        s.recv(65536)
        s.sendall(b.encode())
        s.recv(65536)
    except OSError:
        pass
    finally:
        s.close()
PY

bad=0
for i in $(seq 0 25); do
    id=$((100 + i))
    body="$(curl -sS -m 5 "http://$edge/early/b$id" -H 'Host: d.example' || true)"
    if [[ "$body" != "b" ]]; then
        echo "the edge answers /early/b$id with '$body'" >&2
        bad=$((bad + 1))
    fi
done
[[ "$bad" == 0 ]] || { echo "smuggling: $bad poisoned or failing URLs" >&2; exit 1; }
echo "smuggling against nginx: ok (26 sequences, no poisoned URL)"
