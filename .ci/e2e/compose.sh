#!/usr/bin/env bash
# docker compose for real: a dockerd of our own, images made offline (loadtest/docker.sh), the
# compose file `edgelab deploy compose config/default.toml` generates brought up (every node
# and Prometheus; Grafana has no image here), every health check waited for, Prometheus'
# targets all `up`, the loadgen profile's comparison run inside the compose network. Then a
# load generator run inside the network whose hit ratio and origin offload Prometheus must
# reproduce within 2 points, every Grafana dashboard query answered with data, every body
# verified against its digest; then the AZ drill under load (the primary origin replica
# stopped, a REC cut off its network): cached objects stay available, no body is wrong or
# short, the origin group fails over within its connection timeout. Then `down -v`, the
# images removed and dockerd stopped. Bounded in time.
#   EDGELAB=target/debug/edgelab bash .ci/e2e/compose.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. loadtest/lib.sh
. loadtest/docker.sh
EDGELAB="${EDGELAB:-$PWD/target/debug/edgelab}"
REPO="$PWD"
start=$SECONDS
PROJECT=edgelab-ci
TOPOLOGY=/etc/edgelab/default.toml
fail() { echo "compose e2e: $*" >&2; exit 1; }

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
# Scrapes every second (as .ci/e2e/prometheus.sh), so the counters settle quickly.
sed -i -e 's/^\(  scrape_interval:\) .*/\1 1s/' -e 's/^\(  scrape_timeout:\) .*/\1 900ms/' \
    "$WORK/lab/deploy/prometheus/prometheus.yml"
mkdir -p "$WORK/report"
chmod 777 "$WORK/report" # the image runs as uid 10001
cd "$WORK/lab"
export PROMETHEUS_IMAGE=edgelab-prometheus:local
compose() { docker-compose -p "$PROJECT" "$@"; }
# Runs the image's edgelab ARGS... as the loadgen service, with $WORK/report as /out (not
# /report: the service mounts its volume there).
in_network() { compose --profile loadgen run --rm -T -v "$WORK/report:/out" loadgen "$@"; }
nodes=$("$EDGELAB" up config/default.toml --list | jq -r '[.[].name] | join(" ")')
# shellcheck disable=SC2086 # a word list of service names
compose up -d --no-build $nodes prometheus >"$WORK/up.log" 2>&1 \
    || { tail -20 "$WORK/up.log" >&2; fail "docker-compose up failed"; }
healthy=0
for _ in $(seq 1 120); do
    healthy=0
    for name in $nodes; do
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$(compose ps -q "$name")")" = healthy ] \
            && healthy=$((healthy + 1))
    done
    [ "$healthy" = "$(wc -w <<<"$nodes")" ] && break
    sleep 1
done
[ "$healthy" = "$(wc -w <<<"$nodes")" ] || { compose ps >&2; fail "$healthy healthy nodes"; }
echo "  $healthy nodes healthy ($((SECONDS - start)) s)"

PROM="$(compose ps -q prometheus)"
up_targets=0
for _ in $(seq 1 60); do
    up_targets=$(docker_prom_value 'count(up{job="edgelab"} == 1)' 2>/dev/null || echo 0)
    [ "$up_targets" = "$healthy" ] && break
    sleep 1
done
[ "$up_targets" = "$healthy" ] || fail "Prometheus has $up_targets of $healthy targets up"
echo "  Prometheus: $up_targets/$healthy targets up"

# 1. The loadgen profile's comparison (direct, then through the PoPs): the service's command
#    (crates/cli/tests/it/deploy.rs checks it), with the reports in /out.
in_network compare --topology "$TOPOLOGY" --peers dns --out /out >"$WORK/compare.out" 2>&1 \
    || { tail -30 "$WORK/compare.out" >&2; fail "the loadgen comparison failed"; }
tail -8 "$WORK/compare.out"
echo "  comparison done ($((SECONDS - start)) s)"

# 2. One run through the PoPs between two settled Prometheus snapshots: the hit ratio and
#    origin offload of the load generator and of Prometheus' counters agree.
before="$(docker_prom_counters 1)"
in_network loadgen --topology "$TOPOLOGY" --peers dns --json /out/agreement.json \
    >"$WORK/agreement.out" 2>&1 || { tail -30 "$WORK/agreement.out" >&2; fail "the load generator failed"; }
after="$(docker_prom_counters "$(jq -n "${before%% *} + $(jq .totals.responses "$WORK/report/agreement.json")")")"
echo "  Prometheus and the load generator ($(jq .totals.responses "$WORK/report/agreement.json") requests):"
docker_agreement "$WORK/report/agreement.json" "$before" "$after"
docker_dashboard_series deploy/grafana/dashboards/edgelab.json
docker_bodies_verified "$WORK/report/direct.json" "$WORK/report/edge.json" "$WORK/report/agreement.json"
echo "  checks done ($((SECONDS - start)) s)"

# 3. The AZ drill under load: a load generator inside the network asks pop-lhr (below
#    rec-lhr) for cached objects (static and img, warmed first); once it runs, the primary
#    origin replica is stopped and rec-lhr disconnected. A probe on the host asks pop-iad for
#    an uncacheable object every 50 ms, so each probe reaches the origin group: its answers
#    show the failover. (The load reads no origin metrics: one replica goes away mid-run.)
DRILL_SECONDS=20
catalog="$(curl -fsS "http://$(compose port origin-use1-az1 8080)/.well-known/edgelab/catalog")"
jq -r '([.objects[] | select(.class == "static")][:30] + [.objects[] | select(.class == "img")][:30])[].path' \
    <<<"$catalog" >"$WORK/cached.txt"
probe_path="$(jq -r '[.objects[] | select(.class == "api")][0].path' <<<"$catalog")"
cat >config/drill.toml <<TOML
# The AZ drill's load: the objects warmed at pop-lhr, uniformly.
seed = 7
duration = "${DRILL_SECONDS}s"
connections = 32
timeout = "5s"
[arrival]
kind = "constant"
rate = 150
[workload]
objects = 30
zipf_s = 0.0
mix = { static = 0.5, img = 0.5 }
TOML
# Fetches every cached.txt path at PoP $1 from inside its container (the loadgen's Host, so
# the loadgen's cache key); prints how many were hits.
warm() {
    # shellcheck disable=SC2016 # $p is the container shell's
    docker exec -i "$(compose ps -q "$1")" sh -c 'while read -r p; do
        curl -s -o /dev/null -w "%header{x-cache}\n" "http://'"$1"':8080$p"; done' \
        <"$WORK/cached.txt" | grep -c '^Hit from cloudfront' || true
}
warm pop-lhr >/dev/null
hits="$(warm pop-lhr)"
[ "$hits" = "$(wc -l <"$WORK/cached.txt")" ] || fail "pop-lhr: $hits of $(wc -l <"$WORK/cached.txt") objects cached after warming"
# Viewer requests pop-lhr has counted.
lhr_requests() {
    docker exec "$(compose ps -q pop-lhr)" curl -fsS http://127.0.0.1:9090/metrics \
        | awk '/^edgelab_edge_requests_total\{/ { n += $NF } END { print n + 0 }'
}
python3 "$REPO/loadtest/probe.py" "http://$(compose port pop-iad 8080)$probe_path" \
    $((DRILL_SECONDS + 8)) "$WORK/probes.txt" &
PIDS+=($!)
probe_pid=$!
in_network loadgen --target http://pop-lhr:8080 --mode edge --scenario /etc/edgelab/drill.toml \
    --json /out/drill.json >"$WORK/drill.out" 2>&1 &
drill_pid=$!
# The faults once the load runs (pop-lhr has served 300 of its requests).
base="$(lhr_requests)"
for _ in $(seq 100); do
    [ "$(lhr_requests)" -ge $((base + 300)) ] && break
    kill -0 "$drill_pid" 2>/dev/null || break
    sleep 0.2
done
fault="$(date +%s.%N)"
docker stop "$(compose ps -q origin-use1-az1)" >/dev/null
stopped="$(date +%s.%N)"
docker network disconnect "${PROJECT}_default" "$(compose ps -q rec-lhr)"
wait "$drill_pid" || { tail -30 "$WORK/drill.out" >&2; fail "the drill's load generator failed"; }
wait "$probe_pid" || true
report="$WORK/report/drill.json"
docker_bodies_verified "$report"
read -r availability served requests hit_ratio < <(jq -r '.totals
    | [(.responses - .errors) / (.responses + .unfinished), .responses - .errors,
       .responses + .unfinished, .hit_ratio] | @tsv' "$report")
# The origin group's failover from the probes (times from the fault): the last answer of the
# primary replica, the first of another, the probes that failed in between; and the slowest
# probe before the fault and after it. A request gives the primary up after
# connection_attempts failed connections of at most connection_timeout each (CloudFront's
# rule), so failing over may add at most their product to any request.
read -r last_primary first_other failed slowest_before slowest < <(awk -v fault="$fault" '
    $1 < fault - 0.05 && $2 - $1 > before { before = $2 - $1 }
    $1 < fault - 0.05 { next }
    $3 == 1 && $4 == "use1-az1" { last = $2 - fault }
    $3 == 1 && $4 != "use1-az1" && other == "" { other = $2 - fault }
    other == "" && $3 == 0 { failed++ }
    $2 - $1 > slowest { slowest = $2 - $1 }
    END { printf "%.3f %.3f %d %.3f %.3f\n", last, (other == "" ? -1 : other), failed, before, slowest }' \
    "$WORK/probes.txt")
# config/default.toml keeps the origin group's defaults (docs/config.md): 3 attempts of 1 s.
attempts=3 timeout_s=1
! grep -Eq '^connection_(timeout|attempts)' config/default.toml || fail "default.toml sets the origin group's timeouts: update the bound"
budget=$((attempts * timeout_s))
printf '  AZ drill: %s requests for cached objects, %s served (availability %.4f %%, hit ratio %.4f)\n' \
    "$requests" "$served" "$(jq -n "$availability * 100")" "$hit_ratio"
printf '  failover: docker stop took %.2f s; the primary answered until +%s s, another AZ from +%s s; %s probes failed; slowest probe %s s (before the fault %s s; budget %s x %s s)\n' \
    "$(jq -n "$stopped - $fault")" "$last_primary" "$first_other" "$failed" "$slowest" "$slowest_before" "$attempts" "$timeout_s"
jq -e -n "$availability >= 0.999" >/dev/null || { jq -c '.errors' "$report" >&2; fail "availability $availability < 99.9 %"; }
jq -e -n "$first_other >= 0 and $first_other - $last_primary <= $budget
    and $slowest - $slowest_before <= $budget" >/dev/null \
    || fail "no failover within $attempts x ${timeout_s} s"
echo "  drill done ($((SECONDS - start)) s)"
echo "compose e2e: ok ($((SECONDS - start)) s)"
