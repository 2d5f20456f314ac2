#!/usr/bin/env bash
# docker compose for real: a dockerd of our own, images made offline (loadtest/docker.sh), the
# compose file `edgelab deploy compose config/default.toml` generates brought up (every node
# and Prometheus; Grafana has no image here), every health check waited for, Prometheus'
# targets all `up`, the loadgen profile's comparison run inside the compose network; then
# `down -v`, the images removed and dockerd stopped. Bounded in time.
#   EDGELAB=target/debug/edgelab bash .ci/e2e/compose.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. loadtest/lib.sh
. loadtest/docker.sh
EDGELAB="${EDGELAB:-$PWD/target/debug/edgelab}"
start=$SECONDS
PROJECT=edgelab-ci

lib_workdir compose
docker_start
compose_cleanup() {
    (cd "$WORK/lab" 2>/dev/null && docker-compose -p "$PROJECT" --profile loadgen down -v \
        --remove-orphans >/dev/null 2>&1) || true
    docker_remove_images
    lib_cleanup
}
trap compose_cleanup EXIT
docker_base_image
docker_images "$EDGELAB"
echo "  images built ($((SECONDS - start)) s)"

"$EDGELAB" deploy compose config/default.toml --out "$WORK/lab" >/dev/null
cd "$WORK/lab"
export PROMETHEUS_IMAGE=edgelab-prometheus:local
nodes=$("$EDGELAB" up config/default.toml --list | python3 -c 'import json,sys; print(" ".join(n["name"] for n in json.load(sys.stdin)))')
# shellcheck disable=SC2086 # a word list of service names
docker-compose -p "$PROJECT" up -d --no-build $nodes prometheus >"$WORK/up.log" 2>&1 \
    || { echo "compose e2e: docker-compose up failed" >&2; tail -20 "$WORK/up.log" >&2; exit 1; }
healthy=0
for _ in $(seq 1 120); do
    healthy=0
    for name in $nodes; do
        id=$(docker-compose -p "$PROJECT" ps -q "$name")
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] && healthy=$((healthy + 1))
    done
    [ "$healthy" = "$(wc -w <<<"$nodes")" ] && break
    sleep 1
done
[ "$healthy" = "$(wc -w <<<"$nodes")" ] || { echo "compose e2e: $healthy healthy nodes" >&2; docker-compose -p "$PROJECT" ps >&2; exit 1; }
echo "  $healthy nodes healthy ($((SECONDS - start)) s)"

# Prometheus, queried inside its container (curl is in the base image).
up_targets=0
for _ in $(seq 1 60); do
    up_targets=$(docker-compose -p "$PROJECT" exec -T prometheus \
        curl -fsS 'http://127.0.0.1:9090/api/v1/targets?state=active' 2>/dev/null \
        | python3 -c 'import json,sys; print(sum(t["health"]=="up" for t in json.load(sys.stdin)["data"]["activeTargets"]))' 2>/dev/null || echo 0)
    [ "$up_targets" = "$healthy" ] && break
    sleep 1
done
[ "$up_targets" = "$healthy" ] || { echo "compose e2e: Prometheus has $up_targets of $healthy targets up" >&2; exit 1; }
echo "  Prometheus: $up_targets/$healthy targets up"

docker-compose -p "$PROJECT" --profile loadgen run --rm -T loadgen >"$WORK/compare.out" 2>&1 \
    || { echo "compose e2e: the loadgen comparison failed" >&2; tail -30 "$WORK/compare.out" >&2; exit 1; }
tail -15 "$WORK/compare.out"
echo "compose e2e: ok ($((SECONDS - start)) s)"
