#!/usr/bin/env bash
# Smoke test of the `edgelab origin` binary: start on free loopback ports, fetch objects,
# check 304 / 206 / HEAD, scrape /metrics, stop with SIGTERM.
set -euo pipefail
EDGELAB="${EDGELAB:-target/debug/edgelab}"
out="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

"$EDGELAB" origin --listen 127.0.0.1:0 --admin 127.0.0.1:0 --seed 7 >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 100); do [[ -s "$out/stdout" ]] && break; sleep 0.1; done
read -r first <"$out/stdout"
[[ "$first" =~ ^listening\ traffic=([0-9.:]+)\ admin=([0-9.:]+)$ ]] || { echo "bad first line: $first"; cat "$out/stderr"; exit 1; }
traffic="http://${BASH_REMATCH[1]}"; admin="http://${BASH_REMATCH[2]}"

curl -fsS "$traffic/.well-known/edgelab/catalog" >"$out/catalog.json"
path="$(jq -r '[.objects[] | select(.size >= 100)][0].path' "$out/catalog.json")"
size="$(jq -r --arg p "$path" '.objects[] | select(.path == $p) | .size' "$out/catalog.json")"
[[ -n "$path" && "$path" != null ]] || { echo "catalog has no object of 100 bytes or more"; exit 1; }

# full GET: status, length, ETag
curl -fsS -D "$out/h1" -o "$out/body" "$traffic$path"
grep -qi '^etag:' "$out/h1"
[[ "$(stat -c %s "$out/body")" == "$size" ]] || { echo "body length != catalog size $size"; exit 1; }
etag="$(grep -i '^etag:' "$out/h1" | cut -d' ' -f2- | tr -d '\r')"

# conditional GET -> 304
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$traffic$path")"
[[ "$code" == 304 ]] || { echo "conditional GET gave $code, want 304"; exit 1; }

# range -> 206 with the right bytes
code="$(curl -sS -o "$out/range" -w '%{http_code}' -H 'Range: bytes=10-49' "$traffic$path")"
[[ "$code" == 206 ]] || { echo "range GET gave $code, want 206"; exit 1; }
cmp "$out/range" <(tail -c +11 "$out/body" | head -c 40)

# HEAD -> same length, no body
curl -fsS -I "$traffic$path" >"$out/head"
grep -qi "^content-length: $size" "$out/head"

# unknown path -> 404
code="$(curl -sS -o /dev/null -w '%{http_code}' "$traffic/no/such/object")"
[[ "$code" == 404 ]] || { echo "unknown path gave $code, want 404"; exit 1; }

# metrics count what was served
curl -fsS "$admin/metrics" >"$out/metrics"
grep -q '^edgelab_origin_requests_total{' "$out/metrics"
grep -q '^edgelab_origin_response_bytes_total{' "$out/metrics"

kill -TERM "$pid"
wait "$pid"
echo "origin smoke: ok ($path, $size bytes)"
