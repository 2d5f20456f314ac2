#!/usr/bin/env bash
# The load generator alone, open loop, at the scale of loadtest/bench-scale.sh: 5,005 client
# connections (455 for each of 11 client places), Poisson arrivals, every connection paying a
# fixed modelled round trip (`--rtt`, through edgelab-link), against nginx serving 1 KiB on
# loopback (one worker, pinned to SERVER_CPU). The CDN is not in the process, so what this
# measures is the load generator's own cost and timing.
#
# For every offered rate it prints the achieved rate, the send lateness p50/p99 (how late the
# load generator itself sent: the report's `emulator_error.send_lateness`), the requests that
# waited for a free connection (count and p99 wait), the client links' emulation error p99,
# the process's CPU share and its CPU µs per request (user + sys over completed requests,
# start-up included).
#
# usage: loadtest/bench-open-loop.sh                          (RATES="3000 6000 10000 15000")
#        RATES="3000 10000" DURATION=10s RTT=20ms loadtest/bench-open-loop.sh
#        NO_BUILD=1 (use the build there), EDGELAB_BIN=path (another binary), SERVER_CPU=1
#        LOADGEN_CPUS=0 (pin the load generator, e.g. to one core; default: unpinned)
#        NICE=-10 (run nginx and the load generator at this nice level: on a host shared with
#        other work, a negative one (root) keeps the measured processes from being starved)
# needs: nginx, curl, jq, /usr/bin/time, a release build (built here). Bounded: one run of
# DURATION (plus the drain, at most RTT-bound) per rate.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
RATES="${RATES:-3000 6000 10000 15000}"
DURATION="${DURATION:-15s}"
RTT="${RTT:-20ms}"
SERVER_CPU="${SERVER_CPU:-1}"
lib_release_bin
# 5,005 client connections and as many on nginx's side.
lib_many_files
lib_workdir bench-open-loop
# nginx (at NICE, through lib_pinned) with room for every connection in its accept queue.
lib_start_static_nginx "$SERVER_CPU" 's|worker_connections 4096|worker_connections 16384|' \
    's|listen 127.0.0.1:\([0-9]*\);|listen 127.0.0.1:\1 backlog=4096;|'
prio=()
[ -z "${NICE:-}" ] || prio=(nice -n "$NICE")

scenario() {
    echo "duration = \"$DURATION\""
    echo "connections = 455"
    echo "timeout = \"20s\""
    printf '[arrival]\nkind = "poisson"\nrate = %s\n' "$1"
    lib_populations
}
pin=()
[ -z "${LOADGEN_CPUS:-}" ] || pin=(taskset -c "$LOADGEN_CPUS")

echo "# bench-open-loop $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# edgelab loadgen alone: 11 places x 455 connections, Poisson, --rtt $RTT, nginx 1 KiB on CPU $SERVER_CPU; $DURATION per rate${NICE:+; nice $NICE}"
printf '%8s %8s %8s %8s %8s %9s %8s %6s %7s %6s\n' \
    offered achieved send_p50 send_p99 waited wait_p99 emu_p99 cpu% cpu_us errors
for rate in $RATES; do
    scenario "$rate" >"$WORK/scenario.toml"
    status=0
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" "${prio[@]}" "${pin[@]}" "$BIN" loadgen --target "$URL" --urls "$WORK/urls.txt" \
        --scenario "$WORK/scenario.toml" --rtt "$RTT" --json "$WORK/run.json" >"$WORK/stdout" 2>"$WORK/stderr" || status=$?
    if [ "$status" != 0 ] || [ ! -f "$WORK/run.json" ]; then
        printf '%8s  failed (exit %s): %s\n' "$rate" "$status" "$(tail -1 "$WORK/stderr")"
        continue
    fi
    read -r achieved send50 send99 waited wait99 emu99 completed errors < <(jq -r '[.totals.rate_per_s,
        .emulator_error.send_lateness.p50_ms, .emulator_error.send_lateness.p99_ms,
        (.connection_wait.count // "-"), (.connection_wait.p99_ms // "-"),
        .emulator_error.emulation.p99_ms, .totals.completed, .totals.errors] | @tsv' "$WORK/run.json")
    read -r cpu_pct cpu_us < <(awk -v n="$completed" '{ printf "%.0f %.1f\n", ($2 + $3) / $1 * 100, ($2 + $3) * 1e6 / n }' "$WORK/time")
    printf '%8s %8.0f %8.3f %8.3f %8s %9s %8.3f %6s %7s %6s\n' \
        "$rate" "$achieved" "$send50" "$send99" "$waited" "$wait99" "$emu99" "$cpu_pct" "$cpu_us" "$errors"
    rm -f "$WORK/run.json"
done
