#!/usr/bin/env bash
# The Prometheus path end to end: a real Prometheus (Debian's package) scrapes an
# `edgelab up config/minimal.toml` cluster on loopback with the shipped
# deploy/prometheus/prometheus.yml (targets rewritten to the loopback admin addresses, 1 s
# scrapes), `edgelab loadgen` drives every PoP, and the hit ratio and origin offload that
# Prometheus computes must match what the load generator reported within 2 percentage points.
# Then every PromQL expression of the Grafana dashboard must evaluate without error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
EDGELAB="${EDGELAB:-target/debug/edgelab}"
TOPOLOGY=config/minimal.toml
REQUESTS_PER_POP=1500
RATE=300
TOLERANCE=0.02

if ! "$EDGELAB" up --help 2>/dev/null | grep -q -- '--nodes-json'; then
  echo "prometheus e2e skipped: edgelab up not available"
  exit 0
fi

if ! command -v prometheus >/dev/null 2>&1; then
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null
fi
PROMETHEUS="$(command -v prometheus)"
"$PROMETHEUS" --version 2>&1 | head -1

work="$(mktemp -d)"
up_pid=""; prom_pid=""
cleanup() {
  local pid
  for pid in "$prom_pid" "$up_pid"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  for pid in "$prom_pid" "$up_pid"; do
    if [[ -n "$pid" ]]; then wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "prometheus e2e: $*" >&2; exit 1; }
# Grafana's variables in a dashboard expression, for a query over the whole run.
# shellcheck disable=SC2016 # the dollars are Grafana's, not the shell's
grafana_vars() { sed -e 's/\$__rate_interval/10m/g' -e 's/\$pop/.*/g'; }

# 1. The cluster on loopback.
"$EDGELAB" up "$TOPOLOGY" --nodes-json "$work/nodes.json" >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
for _ in $(seq 300); do
  [[ -s "$work/nodes.json" ]] && jq -e 'length > 0' "$work/nodes.json" >/dev/null 2>&1 && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.err"; fail "edgelab up exited"; }
  sleep 0.1
done
[[ -s "$work/nodes.json" ]] || { cat "$work/up.err"; fail "edgelab up wrote no nodes JSON within 30 s"; }
cat "$work/up.out"

# 2. The shipped Prometheus config with loopback targets: same job, same labels (node, tier),
#    each node's admin address instead of NAME:9090; 1 s scrapes.
mkdir -p "$work/prometheus/targets" "$work/tsdb"
sed -e 's/^\(  scrape_interval:\) .*/\1 1s/' -e 's/^\(  scrape_timeout:\) .*/\1 900ms/' \
  -e 's/^\(  evaluation_interval:\) .*/\1 1s/' \
  deploy/prometheus/prometheus.yml >"$work/prometheus/prometheus.yml"
grep -q '^  scrape_interval: 1s$' "$work/prometheus/prometheus.yml" || fail "could not set the scrape interval"
jq '[.[] | {targets: [.admin | sub("^https?://"; "")], labels: {node: .name, tier: .tier}}]' \
  "$work/nodes.json" >"$work/prometheus/targets/edgelab.json"
# The shipped targets name default.toml's nodes `NAME:9090` with the same labels.
jq -e 'all(.[]; (.targets | length) == 1 and .targets[0] == "\(.labels.node):9090")' \
  deploy/prometheus/targets/edgelab.json >/dev/null || fail "shipped targets are not NAME:9090"
if command -v promtool >/dev/null 2>&1; then
  promtool check config "$work/prometheus/prometheus.yml" >/dev/null
  promtool check config deploy/prometheus/prometheus.yml >/dev/null
fi
# A loopback port nothing listens on (Prometheus cannot report a port 0 it bound).
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}
port="$(free_port)" || fail "no free loopback port"
prom="http://127.0.0.1:$port"
"$PROMETHEUS" --config.file="$work/prometheus/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

# query EXPR -> the first sample's value ("" when the result is empty)
query() {
  local answer
  answer="$(curl -sS --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1")" || return 1
  jq -r 'if .status != "success" then error("\(.errorType): \(.error)")
         else (.data.result[0].value[1] // "") end' <<<"$answer"
}
nodes="$(jq length "$work/nodes.json")"
for _ in $(seq 300); do
  up="$(query 'count(up{job="edgelab"} == 1)' 2>/dev/null || true)"
  [[ "$up" == "$nodes" ]] && break
  kill -0 "$prom_pid" 2>/dev/null || { tail -20 "$work/prometheus.log"; fail "prometheus exited"; }
  sleep 0.1
done
[[ "$up" == "$nodes" ]] || { tail -20 "$work/prometheus.log"; fail "prometheus scrapes $up of $nodes nodes after 30 s"; }
echo "prometheus at $prom scrapes all $nodes nodes"

# 3. Load on every PoP (one run each), origin requests read from every origin replica.
origin_metrics=()
while read -r admin; do origin_metrics+=(--origin-metrics "$admin/metrics"); done \
  < <(jq -r '.[] | select(.tier == "origin") | .admin' "$work/nodes.json")
i=0
while read -r pop traffic; do
  i=$((i + 1))
  timeout 120 "$EDGELAB" loadgen --target "$traffic" --mode edge "${origin_metrics[@]}" \
    --requests "$REQUESTS_PER_POP" --rate "$RATE" --seed "$i" --json "$work/run-$i.json" \
    >"$work/run-$i.out" 2>&1 || { cat "$work/run-$i.out"; fail "loadgen against $pop failed"; }
  echo "loadgen $pop: $(jq -c '{responses: .totals.responses, hits: .totals.hits, misses: .totals.misses, origin: .origin.requests}' "$work/run-$i.json")"
done < <(jq -r '.[] | select(.tier == "edge") | "\(.name) \(.traffic)"' "$work/nodes.json")
[[ "$i" -gt 0 ]] || fail "the topology has no PoP"

read -r responses hits misses origin_requests < <(jq -s -r '
  [ (map(.totals.responses) | add), (map(.totals.hits) | add), (map(.totals.misses) | add),
    (map(.origin.requests) | add) ] | @tsv' "$work"/run-*.json)
lg_hit="$(jq -n "$hits / ($hits + $misses)")"
lg_offload="$(jq -n "1 - $origin_requests / $responses")"

# 4. Wait until Prometheus has scraped the end of the load (every response counted, twice the
#    same value), then compute the same figures from the counters.
viewer='sum(edgelab_edge_requests_total{tier="edge"})'
last=""; seen=0
for _ in $(seq 200); do
  now="$(query "$viewer")"
  if [[ -n "$now" ]] && jq -e -n "$now >= $responses" >/dev/null && [[ "$now" == "$last" ]]; then
    seen=$((seen + 1)); [[ "$seen" -ge 2 ]] && break
  else
    seen=0
  fi
  last="$now"; sleep 0.5
done
[[ "$seen" -ge 2 ]] || fail "prometheus counted $now PoP requests, the load generator $responses"

hits_expr='sum(edgelab_edge_requests_total{tier="edge",cache_status=~"hit|refresh_hit|stale"}) + (sum(edgelab_edge_requests_total{tier!="edge",cache_status=~"hit|stale"}) or vector(0))'
prom_hit="$(query "($hits_expr) / $viewer")"
prom_offload="$(query "1 - sum(edgelab_origin_requests_total) / $viewer")"
# The dashboard's own stat expressions, over a window covering the whole run.
dash_expr() {
  jq -r --arg title "$1" '.panels[] | select(.type == "stat" and .title == $title) | .targets[0].expr' \
    deploy/grafana/dashboards/edgelab.json | grafana_vars
}
dash_hit="$(query "$(dash_expr 'CDN hit ratio')")"
dash_offload="$(query "$(dash_expr 'Origin offload')")"

printf '%-28s %10s %10s\n' "" "hit ratio" "offload"
printf '%-28s %10.4f %10.4f\n' "load generator" "$lg_hit" "$lg_offload"
printf '%-28s %10.4f %10.4f\n' "prometheus (counters)" "$prom_hit" "$prom_offload"
printf '%-28s %10.4f %10.4f\n' "prometheus (dashboard, 10m)" "$dash_hit" "$dash_offload"
within() { jq -e -n "($1 - $2) | fabs <= $TOLERANCE" >/dev/null; }
within "$prom_hit" "$lg_hit" || fail "hit ratio: prometheus $prom_hit, load generator $lg_hit"
within "$prom_offload" "$lg_offload" || fail "offload: prometheus $prom_offload, load generator $lg_offload"
within "$dash_hit" "$lg_hit" || fail "dashboard hit ratio: $dash_hit, load generator $lg_hit"
within "$dash_offload" "$lg_offload" || fail "dashboard offload: $dash_offload, load generator $lg_offload"

# 5. Every dashboard expression is valid PromQL for this Prometheus and the request panels
#    have data.
count=0
while IFS=$'\t' read -r title expr; do
  expr="$(grafana_vars <<<"$expr")"
  value="$(query "$expr")" || fail "panel \"$title\": Prometheus rejects $expr"
  case "$title" in
    *Requests/s\ per\ PoP* | *Hit\ ratio* | *latency\ percentiles* | Origin\ requests/s*)
      [[ -n "$value" ]] || fail "panel \"$title\" has no data: $expr" ;;
  esac
  count=$((count + 1))
done < <(jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | [$t, .expr] | @tsv' \
  deploy/grafana/dashboards/edgelab.json)
echo "prometheus e2e: ok ($responses requests; $count dashboard queries evaluated)"
