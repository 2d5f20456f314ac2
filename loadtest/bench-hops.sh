#!/usr/bin/env bash
# CPU cost of every emulated hop: microseconds of CPU time per request spent by the load
# generator, the client's delay line, each cache tier (PoP hit; PoP, REC and shield misses)
# and the origin, each measured in its own process so nothing is shared or guessed.
#
# Each scenario starts its chain of nodes (`edgelab origin`, `edgelab edge` per tier, each a
# process on loopback) and one `edgelab loadgen --target` against its head, open loop at
# RATE for DURATION. A server's CPU time (user + system, /proc/PID/stat) is read just before
# and after the measured run; the load generator's is its whole run (getrusage through
# /usr/bin/time) less a one-request run's (start-up and catalog). Each is divided by the
# requests completed. CPU time, not wall time: it barely moves when other work shares the
# cores, where latencies do.
#
#   direct        loadgen → origin                         (the load generator and the origin)
#   direct+rtt    loadgen ~RTT~ origin                     (+ the client's delay line)
#   hit           loadgen → PoP (every request a hit)      (the PoP's hit path)
#   miss          loadgen → PoP → REC → shield → origin    (every tier misses, zero RTT)
#   miss+rtt      the same, each backbone hop RTT          (+ a delay line per upstream hop)
#
# Then, per cache tier of each scenario, the upstream connections it opened during the run
# against the upstream requests it sent (from its /metrics): the pool reuses its connections.
#
# With INSTRUCTIONS=N (e.g. 2000), last, the load generator's user-space instructions per
# request, counted by valgrind's callgrind (exact, and unmoved by the host's load, unlike CPU
# time): `edgelab loadgen --target` against an origin at 400 req/s over 16 connections, N
# requests less a one-request run (start-up and catalog), plain and over a delay line of RTT.
#
# usage: loadtest/bench-hops.sh
#   RATE=2000 DURATION=10s CONNECTIONS=256 RTT=20ms SIZE=8192 OBJECTS=20000 loadtest/bench-hops.sh
#   SCENARIOS="direct hit" loadtest/bench-hops.sh
#   EDGELAB_BIN=/tmp/edgelab-before loadtest/bench-hops.sh   (another binary, not built here)
#   INSTRUCTIONS=2000 SCENARIOS= loadtest/bench-hops.sh   (only the load generator's instructions)
#   PERF= loadtest/bench-hops.sh   (without perf stat's lg_cs column: the load generator's
#                                   context switches per request; on by default with perf)
# needs: a release build (built here), jq, curl, /usr/bin/time (valgrind for INSTRUCTIONS). Bounded: per scenario one warm-up
# (hit only) and one run of DURATION, nodes killed at exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=loadtest/lib.sh
source loadtest/lib.sh

RATE="${RATE:-2000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-256}"
RTT="${RTT:-20ms}"
SIZE="${SIZE:-8192}"
OBJECTS="${OBJECTS:-20000}"
SCENARIOS="${SCENARIOS-direct direct+rtt hit miss miss+rtt}"
# The load generator's context switches per request (perf stat) when perf is installed.
PERF="${PERF-$(command -v perf || true)}"
lib_release_bin
lib_workdir hops
TCK="$(getconf CLK_TCK)"

# The origin: one class of fixed-size, immutable objects.
cat >"$WORK/origin.toml" <<TOML
seed = 42
objects = $OBJECTS
[classes.static]
share = 1.0
size = { distribution = "fixed", bytes = $SIZE }
[classes.img]
share = 0.0
[classes.api]
share = 0.0
[classes.video]
share = 0.0
TOML

# CPU seconds (user + system) of a running process, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# pool ADMIN: "connections requests", the sums of a cache node's upstream connections opened
# and upstream requests so far (from its /metrics).
pool() {
    curl -fsS "http://$1/metrics" | awk '
        /^edgelab_edge_upstream_connections_opened_total/ { c += $NF }
        /^edgelab_edge_upstream_requests_total/ { r += $NF }
        END { printf "%d %d\n", c, r }'
}

# edge_config NAME TIER UPSTREAM CAPACITY RTT: a cache node's config file.
edge_config() {
    cat >"$WORK/$1.toml" <<TOML
pop = "FRA"
tier = "$2"
capacity_bytes = $4
[upstream]
next_tier = "$3"
rtt = "$5"
[default_behavior]
cache_policy = { preset = "CachingOptimized" }
TOML
}

# loadgen NAME TARGET [ARGS...]: one open-loop run; prints "requests cpu_seconds".
loadgen() {
    local name="$1" target="$2"
    shift 2
    local perf=()
    [ -n "$PERF" ] && perf=(perf stat -x, -e task-clock,context-switches -o "$WORK/$name.perf")
    /usr/bin/time -f '%U %S' -o "$WORK/$name.time" "${perf[@]}" "$BIN" loadgen --target "$target" \
        --rate "$RATE" --duration "$DURATION" --connections "$CONNECTIONS" --seed 7 \
        --json "$WORK/$name.json" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" \
        || { echo "loadgen $name failed:" >&2; cat "$WORK/$name.err" >&2; return 1; }
    local switches=-
    [ -n "$PERF" ] && switches="$(awk -F, '$3 == "context-switches" { print $1 }' "$WORK/$name.perf")"
    printf '%s %s %s\n' "$(jq .totals.completed "$WORK/$name.json")" \
        "$(awk '{ print $1 + $2 }' "$WORK/$name.time")" "$switches"
}

# The load generator's fixed cost (start-up, catalog, plan, report): a one-request run.
fixed_cost() {
    "$BIN" origin --listen 127.0.0.1:0 --admin 127.0.0.1:0 --config "$WORK/origin.toml" \
        >"$WORK/fixed-origin.out" 2>&1 &
    local pid=$! _
    PIDS+=("$pid")
    for _ in $(seq 1 200); do grep -q '^listening ' "$WORK/fixed-origin.out" && break; sleep 0.05; done
    local traffic
    traffic="$(sed -n 's/^listening traffic=\([^ ]*\) .*/\1/p' "$WORK/fixed-origin.out")"
    /usr/bin/time -f '%U %S' -o "$WORK/fixed.time" "$BIN" loadgen --target "http://$traffic" \
        --requests 1 --seed 7 >/dev/null 2>&1
    kill "$pid"
    awk '{ print $1 + $2 }' "$WORK/fixed.time"
}

# run_scenario NAME: starts its chain, measures, prints one row of µs per request.
run_scenario() {
    local name="$1" rtt="0s" client=() chain=() tiers=() capacity
    case "$name" in
        direct) ;;
        direct+rtt) client=(--rtt "$RTT") ;;
        hit) tiers=(edge) ;;
        miss) tiers=(shield rec edge) ;;
        miss+rtt) tiers=(shield rec edge); rtt="$RTT" ;;
        *) echo "unknown scenario $name" >&2; return 1 ;;
    esac
    lib_start_node "$BIN" - origin --config "$WORK/origin.toml"
    local pids=("$NODE_PID") head="http://$NODE_TRAFFIC" tier admins=()
    chain=(origin)
    for tier in "${tiers[@]}"; do
        # A miss chain holds 1 % of the catalog per tier (uniform popularity below).
        capacity=$((OBJECTS * SIZE / 100))
        [ "$name" = hit ] && capacity=$((OBJECTS * SIZE * 4))
        edge_config "$name-$tier" "$tier" "$head" "$capacity" "$rtt"
        lib_start_node "$BIN" - edge --config "$WORK/$name-$tier.toml"
        pids+=("$NODE_PID")
        admins+=("$NODE_ADMIN")
        head="http://$NODE_TRAFFIC"
        chain+=("$tier")
    done
    if [ "$name" = hit ]; then
        # Warm-up: the same seed sends the same requests, so the measured run only hits.
        loadgen "$name-warm" "$head" --scenario "$WORK/scenario.toml" >/dev/null
    fi
    local before=() after=() pid pool_before=() admin
    for admin in "${admins[@]}"; do pool_before+=("$(pool "$admin")"); done
    for pid in "${pids[@]}"; do before+=("$(ticks "$pid")"); done
    local requests cpu switches
    read -r requests cpu switches < <(loadgen "$name" "$head" --scenario "$WORK/scenario.toml" "${client[@]}")
    for pid in "${pids[@]}"; do after+=("$(ticks "$pid")"); done
    local c0 r0 c1 r1
    for i in "${!admins[@]}"; do
        read -r c0 r0 <<<"${pool_before[$i]}"
        read -r c1 r1 < <(pool "${admins[$i]}")
        POOL_ROWS+=("$(printf '%-11s %-7s %12s %18s' "$name" "${chain[$((i + 1))]}" \
            "$((c1 - c0))" "$((r1 - r0))")")
    done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    local hit rate
    hit="$(jq '(.totals.hit_ratio // 0) * 100' "$WORK/$name.json")"
    rate="$(jq '.totals.rate_per_s' "$WORK/$name.json")"
    # Columns: loadgen, then origin, shield, rec, edge in chain order.
    local cells=() i us
    cells+=("$(awk -v c="$cpu" -v f="$FIXED" -v n="$requests" 'BEGIN { printf "%.1f", (c - f) * 1e6 / n }')")
    declare -A by_tier=()
    for i in "${!pids[@]}"; do
        us="$(awk -v a="${after[$i]}" -v b="${before[$i]}" -v t="$TCK" -v n="$requests" \
            'BEGIN { printf "%.1f", (a - b) / t * 1e6 / n }')"
        by_tier[${chain[$i]}]="$us"
    done
    local per_switch=-
    [ "$switches" = - ] || per_switch="$(awk -v s="$switches" -v n="$requests" 'BEGIN { printf "%.2f", s / n }')"
    printf '%-11s %8.0f %6.1f %9s %8s %8s %8s %8s %9s\n' "$name" "$rate" "$hit" "${cells[0]}" \
        "${by_tier[edge]:--}" "${by_tier[rec]:--}" "${by_tier[shield]:--}" "${by_tier[origin]:--}" \
        "$per_switch"
    ROW_LOADGEN[$name]="${cells[0]}"
    for tier in origin shield rec edge; do ROW_TIER[$name-$tier]="${by_tier[$tier]:-}"; done
}

printf 'duration = "%s"\nconnections = %s\n[arrival]\nkind = "poisson"\nrate = %s\n[workload]\nzipf_s = 0.0\n' \
    "$DURATION" "$CONNECTIONS" "$RATE" >"$WORK/scenario.toml"
FIXED="$(fixed_cost)"
declare -A ROW_LOADGEN=() ROW_TIER=()
POOL_ROWS=()
echo "# bench-hops $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# open loop $RATE req/s for $DURATION, $CONNECTIONS connections, $OBJECTS objects of $SIZE B (uniform), RTT $RTT"
echo "# CPU µs per request, per process (load generator: less its one-request run, ${FIXED}s)"
[ -n "$PERF" ] && echo "# lg_cs: the load generator's context switches per request (perf stat, whole run)"
printf '%-11s %8s %6s %9s %8s %8s %8s %8s %9s\n' scenario req/s hit% loadgen pop rec shield origin lg_cs
for scenario in $SCENARIOS; do run_scenario "$scenario"; done

# What each hop costs, from the differences between scenarios.
diff_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f", a - b }'; }
echo
echo "# per hop (CPU µs per request)"
printf '%-44s %s\n' "load generator (zero-RTT connection)" "${ROW_LOADGEN[direct]:--}"
printf '%-44s %s\n' "client delay line (loadgen +rtt - loadgen)" \
    "$(diff_of "${ROW_LOADGEN[direct+rtt]:-}" "${ROW_LOADGEN[direct]:-}")"
printf '%-44s %s\n' "origin (serve an object)" "${ROW_TIER[direct-origin]:--}"
printf '%-44s %s\n' "PoP hit" "${ROW_TIER[hit-edge]:--}"
printf '%-44s %s\n' "PoP miss (lookup, fill, upstream client)" "${ROW_TIER[miss-edge]:--}"
printf '%-44s %s\n' "REC miss" "${ROW_TIER[miss-rec]:--}"
printf '%-44s %s\n' "shield miss" "${ROW_TIER[miss-shield]:--}"
printf '%-44s %s\n' "backbone delay line (PoP miss +rtt - PoP miss)" \
    "$(diff_of "${ROW_TIER[miss+rtt-edge]:-}" "${ROW_TIER[miss-edge]:-}")"

# The upstream pool: connections a tier opened during the measured run against the upstream
# requests it sent (keep-alive reuse: about one connection per concurrent request at the
# start, then none while the rate holds).
if [ "${#POOL_ROWS[@]}" -gt 0 ]; then
    echo
    echo "# upstream pool during the measured run"
    printf '%-11s %-7s %12s %18s\n' scenario tier connections upstream_requests
    printf '%s\n' "${POOL_ROWS[@]}"
fi

# The load generator's instructions per request (callgrind), plain and over a delay line.
if [ -n "${INSTRUCTIONS:-}" ]; then
    command -v valgrind >/dev/null || { echo "INSTRUCTIONS needs valgrind" >&2; exit 1; }
    lib_start_node "$BIN" - origin --config "$WORK/origin.toml"
    # counted N ARGS...: instructions of one loadgen run of N requests.
    counted() {
        local n="$1"
        shift
        valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$n.out" "$BIN" loadgen \
            --target "http://$NODE_TRAFFIC" --rate 400 --requests "$n" --connections 16 --seed 7 \
            --json "$WORK/callgrind.json" "$@" >/dev/null 2>"$WORK/callgrind.err" \
            || { cat "$WORK/callgrind.err" >&2; return 1; }
        [ "$(jq .totals.errors "$WORK/callgrind.json")" = 0 ] || echo "warning: errors in the counted run" >&2
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$WORK/callgrind.err"
    }
    echo
    echo "# load generator, user-space instructions per request (callgrind, $INSTRUCTIONS requests less one)"
    for client in "plain" "rtt $RTT"; do
        args=()
        [ "$client" = plain ] || args=(--rtt "$RTT")
        one="$(counted 1 "${args[@]}")"
        many="$(counted "$INSTRUCTIONS" "${args[@]}")"
        printf '%-44s %s\n' "loadgen ($client)" "$(( (many - one) / (INSTRUCTIONS - 1) ))"
    done
fi
