#!/usr/bin/env bash
# Docker Swarm for real, on this one machine: a dockerd of our own with images made offline
# (loadtest/docker.sh), `docker swarm init`, the stack `edgelab deploy stack
# config/default.toml` generates deployed with the local images (every node and
# Prometheus), every service's replica running and healthy, the load generator run as a
# one-shot service of two shards on the stack's attachable overlay network and their reports
# merged; then the checks of compose.sh: the hit ratio and origin offload Prometheus computes
# agree with the merged report's within 2 points, every Grafana dashboard query has data,
# every body matched its digest. Then `docker stack rm`, `docker swarm leave --force`, the
# images removed and dockerd stopped. Bounded in time.
#   EDGELAB=target/debug/edgelab bash .ci/e2e/swarm.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. loadtest/lib.sh
. loadtest/docker.sh
EDGELAB="${EDGELAB:-$PWD/target/debug/edgelab}"
start=$SECONDS
STACK=edgelab
TOPOLOGY=/etc/edgelab/default.toml
fail() { echo "swarm e2e: $*" >&2; exit 1; }

lib_workdir swarm
docker_start
swarm_cleanup() {
    docker service rm "${STACK}_loadgen" >/dev/null 2>&1 || true
    docker stack rm "$STACK" >/dev/null 2>&1 || true
    docker swarm leave --force >/dev/null 2>&1 || true
    docker_remove_images
    lib_cleanup
}
trap swarm_cleanup EXIT
docker_base_image
docker_images "$EDGELAB"
echo "  images built ($((SECONDS - start)) s)"

# One manager on this machine. The address only matters to workers joining it (see
# docs/deploy.md); loopback keeps the swarm's ports off the network.
docker swarm init --advertise-addr 127.0.0.1 >"$WORK/swarm.log" 2>&1 \
    || { cat "$WORK/swarm.log" >&2; fail "docker swarm init failed"; }

"$EDGELAB" deploy stack config/default.toml --out "$WORK/lab" >/dev/null
# Scrapes every second (as compose.sh), so the counters settle quickly.
sed -i -e 's/^\(  scrape_interval:\) .*/\1 1s/' -e 's/^\(  scrape_timeout:\) .*/\1 900ms/' \
    "$WORK/lab/deploy/prometheus/prometheus.yml"
mkdir -p "$WORK/report"
chmod 777 "$WORK/report" # the image runs as uid 10001
cd "$WORK/lab"
set -a
. ./.env # docker stack deploy reads no .env
set +a
export PROMETHEUS_IMAGE=edgelab-prometheus:local
docker stack deploy --resolve-image never -c edgelab-stack.yml "$STACK" >"$WORK/deploy.log" 2>&1 \
    || { cat "$WORK/deploy.log" >&2; fail "docker stack deploy failed"; }
! grep -i -E 'warn|ignor|unsupported' "$WORK/deploy.log" || fail "docker stack deploy warned about the stack file"
services="$(docker stack services "$STACK" --format '{{.Name}}' | wc -l)"
[ "$services" = "$(("$("$EDGELAB" up config/default.toml --list | jq length)" + 1))" ] \
    || fail "the stack has $services services"

# Every service with its one replica running, every container healthy (Prometheus has no
# health check).
stack_state() {
    local running healthy=0 id
    running="$(docker stack services "$STACK" --format '{{.Replicas}}' | grep -c '^1/1' || true)"
    for id in $(docker ps -q --filter "label=com.docker.stack.namespace=$STACK"); do
        case "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")" in
            healthy | none) healthy=$((healthy + 1)) ;;
        esac
    done
    echo "$running $healthy"
}
state=""
for _ in $(seq 1 180); do
    state="$(stack_state)"
    [ "$state" = "$services $services" ] && break
    sleep 1
done
[ "$state" = "$services $services" ] || { docker stack ps "$STACK" --no-trunc >&2; fail "running, healthy: $state of $services"; }
echo "  $services services running, every node healthy ($((SECONDS - start)) s)"

PROM="$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_prometheus")"
nodes=$((services - 1))
up_targets=0
for _ in $(seq 1 60); do
    up_targets=$(docker_prom_value 'count(up{job="edgelab"} == 1)' 2>/dev/null || echo 0)
    [ "$up_targets" = "$nodes" ] && break
    sleep 1
done
[ "$up_targets" = "$nodes" ] || fail "Prometheus has $up_targets of $nodes targets up"
echo "  Prometheus: $up_targets/$nodes targets up"

# The load generator as a one-shot Swarm service (never restarted; a replicated job would
# number its tasks' slots unevenly) of SHARDS tasks on the
# stack's overlay network, as the stack file's header shows: the stack's own topology config,
# each task sending its slice of the workload (EDGELAB_SHARD from its slot) and writing its
# report into its own directory; the reports merged after. It runs between two settled
# Prometheus snapshots.
SHARDS=2
before="$(docker_prom_counters 0)"
for slot in $(seq "$SHARDS"); do mkdir -m 777 "$WORK/report/shard-$slot"; done
docker service create --detach --name "${STACK}_loadgen" --restart-condition none \
    --replicas "$SHARDS" --network "${STACK}_edgelab" --no-resolve-image --no-healthcheck \
    --config "source=${STACK}_topology,target=$TOPOLOGY" --env "EDGELAB_SHARD={{.Task.Slot}}/$SHARDS" \
    --mount "type=bind,source=$WORK/report/shard-{{.Task.Slot}},target=/out" \
    edgelab:local loadgen --topology "$TOPOLOGY" --peers dns --json /out/run.json >/dev/null
states=""
for _ in $(seq 1 120); do
    states="$(docker service ps "${STACK}_loadgen" --format '{{.CurrentState}}' | awk '{ print $1 }' | sort | uniq -c | xargs)"
    [ "$states" = "$SHARDS Complete" ] && break
    grep -q -E 'Failed|Rejected' <<<"$states" && break
    sleep 1
done
[ "$states" = "$SHARDS Complete" ] || {
    docker service ps --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' "${STACK}_loadgen" >&2
    docker service logs "${STACK}_loadgen" 2>&1 | tail -30 >&2
    fail "loadgen tasks: $states"
}
"$EDGELAB" report merge "$WORK"/report/shard-*/run.json --json "$WORK/report/swarm.json" \
    >"$WORK/merge.out" 2>&1 || { cat "$WORK/merge.out" >&2; fail "report merge failed"; }
for report in "$WORK"/report/shard-*/run.json "$WORK/report/swarm.json"; do
    echo "    ${report#"$WORK/report/"}: $(jq -c '.totals as $t | {scheduled: $t.scheduled, responses: $t.responses, errors: (.errors.by_kind | map({(.kind): .count}) | add // {})}' "$report")"
done
responses="$(jq .totals.responses "$WORK/report/swarm.json")"
after="$(docker_prom_counters "$(jq -n "${before%% *} + $responses")")"
echo "  Prometheus and $SHARDS load generator shards, merged ($responses requests):"
docker_agreement "$WORK/report/swarm.json" "$before" "$after"
docker_dashboard_series deploy/grafana/dashboards/edgelab.json
docker_bodies_verified "$WORK"/report/shard-*/run.json
docker service rm "${STACK}_loadgen" >/dev/null
docker stack rm "$STACK" >/dev/null
for _ in $(seq 1 60); do
    [ -z "$(docker ps -q --filter "label=com.docker.stack.namespace=$STACK")" ] && break
    sleep 1
done
docker swarm leave --force >/dev/null
echo "  stack removed, swarm left ($((SECONDS - start)) s)"
echo "swarm e2e: ok ($((SECONDS - start)) s)"
