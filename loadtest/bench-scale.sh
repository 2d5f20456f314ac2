#!/usr/bin/env bash
# Scale check of `edgelab up`: the global topology (45 PoPs, 13 RECs with the shield, an
# origin with 3 AZ replicas) in ONE process with the load generator, 5,005 simulated clients
# (455 connections for each of 11 client places). Prints, per place, the latency of hits
# served by the client's PoP against the modelled client→PoP RTT (last mile + internet, plus
# the mean jitter), i.e. the emulation error under load.
#
# usage: loadtest/bench-scale.sh [RATE] [DURATION]   (defaults: 1500 req/s open loop, 20s)
#        CLOSED=1 loadtest/bench-scale.sh            (closed loop: every client back-to-back)
# needs: a release build (built here), jq. Bounded: two runs of DURATION plus start-up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RATE="${1:-1500}"
DURATION="${2:-20s}"
BIN="${CARGO_TARGET_DIR:-target}/release/edgelab"
cargo build --release --locked -p edgelab-cli >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
places=("New York" "Los Angeles" "Sao Paulo" "London" "Berlin" "Lagos" "Dubai" "Mumbai" "Singapore" "Tokyo" "Sydney")
{
  echo "duration = \"$DURATION\""
  echo "connections = 455"
  echo "timeout = \"20s\""
  if [[ "${CLOSED:-0}" == 1 ]]; then echo "closed = true"; else
    printf '[arrival]\nkind = "poisson"\nrate = %s\n' "$RATE"; fi
  printf '[workload]\nzipf_s = 0.9\n'
  for p in "${places[@]}"; do printf '[[population]]\nplace = "%s"\n' "$p"; done
} >"$work/scenario.toml"

/usr/bin/time -v "$BIN" compare --topology config/global.toml --scenario "$work/scenario.toml" \
  --out "$work/report" >"$work/stdout" 2>"$work/time"
grep -E '^(origin|edge run)' "$work/stdout"
jq -r '"edge run: \(.totals.completed) responses, \(.totals.rate_per_s|floor) req/s, hit ratio \(.totals.hit_ratio*100|floor)%"' "$work/report/edge.json"
grep -E 'Maximum resident|Percent of CPU' "$work/time" | sed 's/^\s*/process: /'

printf '\n%-12s %-9s %9s %9s %9s %9s\n' place pop model_ms p50_ms p99_ms p50_err
for p in "${places[@]}"; do
  row="$(jq -r --arg p "$p" '[.groups[] | select(.place == $p and .cache == "hit" and .tier == "edge")] | max_by(.responses) | "\(.pop) \(.ttfb.p50_ms) \(.ttfb.p99_ms)"' "$work/report/edge.json")"
  read -r pop p50 p99 <<<"$row"
  code="${pop%%[0-9]*}"
  model="$("$BIN" topology rtt "$p" "$code" --class client | awk '/^rtt/ {r=$2} /^jitter/ {j=$2} END {printf "%.1f", r + j}')"
  printf '%-12s %-9s %9s %9.1f %9.1f %+9.1f\n' "$p" "$pop" "$model" "$p50" "$p99" "$(echo "$p50 - $model" | bc -l)"
done
