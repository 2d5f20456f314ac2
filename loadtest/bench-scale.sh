#!/usr/bin/env bash
# Scale check of the whole CDN in one process: `edgelab compare` over config/global.toml
# (45 PoPs, 13 RECs with the shield, an origin with 3 AZ replicas) with the load generator in
# the same process, 5,005 simulated clients (455 connections for each of 11 client places),
# open loop (Poisson) at each offered rate, direct then through the edges.
#
# For every rate it prints what the edge run achieved and how much of its latency was the
# emulator's own (the report's `emulator_error`: emulation error of the client links p50/p99,
# of the links between the tiers p99, and send lateness p99), the direct run's worst p99, the
# process's CPU share and CPU µs per request (both runs, start-up included), the hit ratio,
# and whether both runs held the bound (every p99 ≤ MAX_ERROR ms). Under each rate, the time view
# of the report (`emulator_error.series`): which seconds broke the bound, and the edge run's
# achieved rate and p99s per second. Then the highest rate held. Per place, for the
# last rate: the latency of hits at the client's PoP against the modelled client→PoP RTT.
#
# usage: loadtest/bench-scale.sh [RATE] [DURATION]       (one rate; defaults 1500 req/s, 20s)
#        RATES="2000 5000 8000 10000 12000" DURATION=15s loadtest/bench-scale.sh   (a sweep)
#        CLOSED=1 loadtest/bench-scale.sh                (closed loop: every client back-to-back)
#        WARM=1 (`compare --warm`: a warm-up through the edges from cold caches first, printed on
#        its own line per rate and not part of "held"; the edge run then measures warm caches.
#        Default off: the edge run starts cold and its figures include the caches' fill),
#        WORKERS=N (`compare --workers N`: the nodes on N single-thread runtimes; 0 = on the
#        command's runtime; unset = compare's default),
#        MAX_ERROR=5 (ms, the bound), TOPOLOGY=config/global.toml, NO_BUILD=1 (use the build there),
#        EDGELAB_BIN=path (another binary, e.g. a saved build to compare with)
#        REPS=N (default 1): each rate N times; VARIANTS="default VAR=V[,VAR2=V2] ...": each rep
#        runs every variant in turn (interleaved), a variant being environment assignments for
#        that compare ("default": none). With REPS > 1 or VARIANTS, each run gets a row, then per
#        rate and variant the median [min–max] of every p99 column and of CPU µs per request,
#        and "held" when the medians held (each p99's median ≤ MAX_ERROR; not every run).
#          REPS=3 VARIANTS="default EDGELAB_RUNTIME_GLOBAL_QUEUE_INTERVAL=16" RATES=8000 loadtest/bench-scale.sh
# needs: a release build (built here), jq, /usr/bin/time. Bounded: two runs of DURATION plus
# start-up per rate, per rep and variant.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
# shellcheck source=lib.sh
source loadtest/lib.sh
RATES="${RATES:-${1:-1500}}"
DURATION="${DURATION:-${2:-20s}}"
MAX_ERROR="${MAX_ERROR:-5}"
TOPOLOGY="${TOPOLOGY:-config/global.toml}"
lib_release_bin
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# 5,005 client connections plus every node's.
lib_many_files

scenario() {
    echo "duration = \"$DURATION\""
    echo "connections = 455"
    echo "timeout = \"20s\""
    if [[ "${CLOSED:-0}" == 1 ]]; then echo "closed = true"; else
        printf '[arrival]\nkind = "poisson"\nrate = %s\n' "$1"; fi
    printf '[workload]\nzipf_s = 0.9\n'
    lib_populations
}

echo "# bench-scale $(date -u +%Y-%m-%dT%H:%M:%SZ) $TOPOLOGY on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# one process: every node and the load generator (workers: ${WORKERS:-default}); $DURATION per run; bound: p99 ≤ $MAX_ERROR ms"
# Every connection inside the process holds two descriptors (5,005 client connections, the
# pools between the tiers): under ~40,000 an overloaded run can fail accepts with EMFILE.
echo "# open files limit $(ulimit -n)$([ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 40000 ] && echo ' (low: a run that falls behind grows its pools and can fail accepts with "Too many open files")')"
REPS="${REPS:-1}"
VARIANTS="${VARIANTS:-}"
many=""
{ [ "$REPS" -gt 1 ] || [ -n "$VARIANTS" ]; } && many=1

# compare RATE OUT [VAR=V ...]: one `edgelab compare` at RATE into OUT with the environment
# assignments given; sets the figures of its row (achieved emu50 emu99 tier99 send99 direct99
# cpu_pct cpu_us hit held) and returns 1 (after printing why) when it failed.
compare() {
    local rate="$1" out="$2" status=0
    shift 2
    mkdir -p "$out"
    scenario "$rate" >"$out/scenario.toml"
    env "$@" /usr/bin/time -f '%e %U %S' -o "$out/time" "$BIN" compare --topology "$TOPOLOGY" \
        --scenario "$out/scenario.toml" --out "$out/report" ${WORKERS:+--workers "$WORKERS"} ${WARM:+--warm} \
        >"$out/stdout" 2>"$out/stderr" || status=$?
    if [ "$status" != 0 ] || [ ! -f "$out/report/edge.json" ]; then
        printf '%8s  failed (exit %s): %s\n' "$rate" "$status" "$(tail -1 "$out/stderr")"
        return 1
    fi
    local edge="$out/report/edge.json" direct="$out/report/direct.json" cold="$out/report/edge-cold.json"
    read -r achieved emu50 emu99 tier99 send99 hit < <(jq -r '[.totals.rate_per_s, .emulator_error.emulation.p50_ms,
        .emulator_error.emulation.p99_ms, (.emulator_error.tier_links.p99_ms // 0),
        .emulator_error.send_lateness.p99_ms, .totals.hit_ratio * 100] | @tsv' "$edge")
    direct99="$(jq -r '[.emulator_error.emulation.p99_ms, .emulator_error.send_lateness.p99_ms] | max' "$direct")"
    local runs=("$edge" "$direct") requests
    [ -f "$cold" ] && runs+=("$cold")
    # CPU per request over every run of the compare (the warm-up's requests too).
    requests="$(jq -s 'map(.totals.completed) | add' "${runs[@]}")"
    read -r cpu_pct cpu_us < <(awk -v n="$requests" '{ printf "%.0f %.1f\n", ($2 + $3) / $1 * 100, ($2 + $3) * 1e6 / n }' "$out/time")
    held="$(awk -v a="$emu99" -v b="$send99" -v c="$direct99" -v t="$tier99" -v m="$MAX_ERROR" \
        'BEGIN { print (a <= m && b <= m && c <= m && t <= m) ? "yes" : "no" }')"
}

# details OUT: the warm-up's line and the time view of one compare.
details() {
    local out="$1" cold="$1/report/edge-cold.json" run part
    if [ -f "$cold" ]; then
        printf '%8s edge-cold (warm-up, not in "held"): %s\n' '' "$(jq -r '"achieved \(.totals.rate_per_s | floor) req/s, client p50/p99 \(.emulator_error.emulation.p50_ms)/\(.emulator_error.emulation.p99_ms) ms, tier p99 \(.emulator_error.tier_links.p99_ms // 0) ms, send p99 \(.emulator_error.send_lateness.p99_ms) ms, hits \(.totals.hit_ratio * 100 | floor) %"' "$cold")"
    fi
    # The time view (emulator_error.series): where in the run the bound broke, and each
    # second's achieved rate and p99s, so a cold start or a burst is told from a steady lag.
    for run in direct edge; do
        part="$(jq -r '.emulator_error.late_in_part // empty' "$out/report/$run.json")"
        [ -z "$part" ] || printf '%8s %s: %s\n' '' "$run" "$part"
    done
    [ -n "$many" ] && return 0
    printf '%8s edge per second (req/s client/tier/send p99 ms): %s\n' '' "$(jq -r '[.emulator_error.series[]? |
        "\(.start_s | floor): \(.rate_per_s | floor) \(.client_links.p99_ms | floor)/\(.tier_links.p99_ms | floor)/\(.send_lateness.p99_ms | floor)"] | join(", ")' "$out/report/edge.json")"
}

row_format='%8s %8.0f %7.2f %7.2f %8.2f %7.2f %9.2f %6s %7s %6.1f %5s'
best=0
if [ -z "$many" ]; then
    printf '%8s %8s %7s %7s %8s %7s %9s %6s %7s %6s %5s\n' \
        offered achieved emu_p50 emu_p99 tier_p99 send_p99 direct_p99 cpu% cpu_us hit% held
    for rate in $RATES; do
        out="$work/$rate"
        compare "$rate" "$out" || continue
        [ "$held" = yes ] && [ "$(echo "$rate > $best" | bc -l)" = 1 ] && best="$rate"
        # shellcheck disable=SC2059
        printf "$row_format\n" \
            "$rate" "$achieved" "$emu50" "$emu99" "$tier99" "$send99" "$direct99" "$cpu_pct" "$cpu_us" "$hit" "$held"
        details "$out"
        last="$out"
    done
else
    read -r -a variants <<<"${VARIANTS:-default}"
    echo "# $REPS rep(s) per rate; variants in turn within each rep: ${variants[*]}"
    printf '%-40s %4s %8s %8s %7s %7s %8s %7s %9s %6s %7s %6s %5s\n' \
        variant rep offered achieved emu_p50 emu_p99 tier_p99 send_p99 direct_p99 cpu% cpu_us hit% held
    rows="$work/rows.tsv"
    : >"$rows"
    for rate in $RATES; do
        for rep in $(seq 1 "$REPS"); do
            for variant in "${variants[@]}"; do
                assignments=()
                [ "$variant" = default ] || IFS=, read -r -a assignments <<<"$variant"
                out="$work/$rate/$rep/$(echo "$variant" | tr -c 'A-Za-z0-9_=.\n-' _)"
                compare "$rate" "$out" "${assignments[@]}" || continue
                # shellcheck disable=SC2059
                printf "%-40s %4s $row_format\n" "$variant" "$rep" \
                    "$rate" "$achieved" "$emu50" "$emu99" "$tier99" "$send99" "$direct99" "$cpu_pct" "$cpu_us" "$hit" "$held"
                details "$out"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$variant" "$emu99" "$tier99" "$send99" \
                    "$direct99" "$cpu_us" "$held" >>"$rows"
                last="$out"
            done
        done
    done
    echo
    echo "# per rate and variant over its reps: median [min–max]; held = every p99's median ≤ $MAX_ERROR ms (runs held: of the reps)"
    printf '%8s %-40s %4s %20s %20s %20s %20s %20s %5s %9s\n' \
        offered variant runs emu_p99 tier_p99 send_p99 direct_p99 cpu_us held runs_held
    for rate in $RATES; do
        for variant in "${variants[@]}"; do
            line="$(awk -F'\t' -v r="$rate" -v v="$variant" -v m="$MAX_ERROR" '
                function sort(a, n,   i, j, t) {
                    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                }
                function median(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
                $1 == r && $2 == v {
                    n++
                    for (c = 3; c <= 7; c++) col[c, n] = $c + 0
                    if ($8 == "yes") ok++
                }
                END {
                    if (n == 0) { print "-"; exit }
                    held = "yes"
                    out = sprintf("%4d", n)
                    for (c = 3; c <= 7; c++) {
                        for (i = 1; i <= n; i++) a[i] = col[c, i]
                        sort(a, n)
                        med = median(a, n)
                        if (c <= 6 && med > m) held = "no"
                        out = out sprintf(" %20s", sprintf(c == 7 ? "%.1f [%.1f–%.1f]" : "%.2f [%.2f–%.2f]", med, a[1], a[n]))
                    }
                    printf "%s %5s %9s\n", out, held, sprintf("%d/%d", ok, n)
                }' "$rows")"
            [ "$line" = - ] && continue
            printf '%8s %-40s %s\n' "$rate" "$variant" "$line"
            [[ "$line" == *" yes "* ]] && [ "$(echo "$rate > $best" | bc -l)" = 1 ] && best="$rate"
        done
    done
fi
echo "highest rate held (emulation error p99 of client and tier links and send lateness p99 ≤ $MAX_ERROR ms in both runs${many:+, medians over the reps, any variant}${WARM:+, the edge run on warm caches}): $best req/s"
[ -n "${last:-}" ] || exit 1

echo
echo "# last rate, edge run: hits at the client's PoP against the modelled client→PoP RTT"
grep -E '^(origin|edge run)' "$last/stdout" || true
grep -E 'Maximum resident' "$last/time" | sed 's/^\s*/process: /' || true
printf '%-12s %-9s %9s %9s %9s %9s\n' place pop model_ms p50_ms p99_ms p50_err
for p in "${LIB_PLACES[@]}"; do
    row="$(jq -r --arg p "$p" '[.groups[] | select(.place == $p and .cache == "hit" and .tier == "edge")] | max_by(.responses) | "\(.pop) \(.ttfb.p50_ms) \(.ttfb.p99_ms)"' "$last/report/edge.json")"
    read -r pop p50 p99 <<<"$row"
    [ "$pop" != null ] || continue
    code="${pop%%[0-9]*}"
    model="$("$BIN" topology rtt "$p" "$code" --class client | awk '/^rtt/ {r=$2} /^jitter/ {j=$2} END {printf "%.1f", r + j}')"
    printf '%-12s %-9s %9s %9.1f %9.1f %+9.1f\n' "$p" "$pop" "$model" "$p50" "$p99" "$(echo "$p50 - $model" | bc -l)"
done
