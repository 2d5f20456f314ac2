#!/usr/bin/env bash
# `edgelab replay` against libCacheSim 0.3.5's Python binding, LRU on the cloudPhysics trace,
# in the same run: each side RUNS times (default 3), interleaved, pinned to one CPU, timed
# inside its own process (edgelab: the "replayed in" line of its table, from the first record
# read to the last counted; libCacheSim: process_trace, which reads the trace in C).
#
#   one capacity (1 GiB): requests per second;
#   the grid 128 MiB … 1 GiB in 128 MiB steps (8 caches): edgelab replays them in one pass,
#   libCacheSim one process_trace per capacity; requests × caches per second.
#
#   tiers: --tiers pop,rec,shield at 2 grid points (PoP 128 MiB / 256 MiB, REC 1 GiB,
#   shield 4 GiB); policies: --policy CachingOptimized,UseOriginCacheControlHeaders with
#   --min-ttl 0s --default-ttl 10m,1h at 256 MiB and 1 GiB (8 caches). edgelab alone
#   (libCacheSim has neither): requests × cache configurations per second.
#
# Prints the median and the spread (min–max) of each side, and edgelab / libCacheSim.
#   loadtest/bench-replay.sh                       # builds target/release/edgelab if missing
#   EDGELAB=path/to/edgelab RUNS=5 CPU=1 loadtest/bench-replay.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib.sh
source loadtest/lib.sh
lib_replay_bench
CPU="${CPU:-0}"
lib_install "python3 python3-venv python3-pip" python3
venv=target/replay-venv
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import libcachesim' 2>/dev/null || "$venv/bin/pip" install -q libcachesim==0.3.5
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$CPU")

# Requests × caches per second of one edgelab run over CAPACITIES (then any other flags).
edgelab_rate() {
  "${pin[@]}" "$EDGELAB" replay "$TRACE" --format oracle-general --eviction lru --capacity "$@" \
    | sed -n 's/^replayed in \([0-9.]*\) ms: .* × \([0-9]*\) cache.*/\1 \2/p' \
    | awk -v requests="$requests" '{ printf "%.0f\n", requests * $2 / ($1 / 1000) }'
}

# The same for libCacheSim: one LRU per capacity, process_trace timed alone.
libcachesim_rate() {
  "${pin[@]}" "$venv/bin/python" - "$TRACE" "$1" "$requests" <<'EOF' 2>/dev/null
import sys, time
import libcachesim as lcs
path, caps, requests = sys.argv[1], [int(c) for c in sys.argv[2].split(",")], int(sys.argv[3])
spent = 0.0
for cap in caps:
    cache = lcs.LRU(cap, default_ttl=86400 * 300, hashpower=20)
    reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
    start = time.perf_counter()
    cache.process_trace(reader)
    spent += time.perf_counter() - start
print(round(requests * len(caps) / spent))
EOF
}

# "median min max" of the numbers in file $1, one a line (lib_median).
stats() { local v; mapfile -t v <"$1"; lib_median "${v[@]}"; }

# "median (min–max)" of the numbers in file $1, in millions.
summary() {
  local m lo hi
  read -r m lo hi <<<"$(stats "$1")"
  awk -v m="$m" -v lo="$lo" -v hi="$hi" \
    'BEGIN { printf "%.2f M/s (%.2f–%.2f)\n", m / 1e6, lo / 1e6, hi / 1e6 }'
}

# The median of the numbers in file $1.
median() { local m _; read -r m _ <<<"$(stats "$1")"; echo "$m"; }

requests="$("$EDGELAB" replay "$TRACE" --format oracle-general --capacity 1MiB --json - | sed -n 's/^  "requests": \([0-9]*\),/\1/p' | head -1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for run in $(seq "$RUNS"); do
  edgelab_rate "$REPLAY_ONE" >>"$work/edgelab-one"
  libcachesim_rate "$REPLAY_ONE" >>"$work/lcs-one"
  edgelab_rate "$REPLAY_GRID" >>"$work/edgelab-grid"
  libcachesim_rate "$REPLAY_GRID" >>"$work/lcs-grid"
  edgelab_rate "${REPLAY_TIERS[@]}" >>"$work/edgelab-tiers"
  edgelab_rate "${REPLAY_POLICIES[@]}" >>"$work/edgelab-policies"
  echo "run $run/$RUNS: one $(tail -1 "$work/edgelab-one") vs $(tail -1 "$work/lcs-one"), grid $(tail -1 "$work/edgelab-grid") vs $(tail -1 "$work/lcs-grid"), tiers $(tail -1 "$work/edgelab-tiers"), policies $(tail -1 "$work/edgelab-policies")" >&2
done
echo "LRU on $(basename "$TRACE") ($requests requests), median of $RUNS interleaved runs (min–max), CPU $CPU"
for what in one grid; do
  label="1 capacity (1 GiB), requests/s"
  [[ "$what" == grid ]] && label="8 capacities (128 MiB … 1 GiB), requests × caches/s"
  ratio="$(awk -v a="$(median "$work/edgelab-$what")" -v b="$(median "$work/lcs-$what")" 'BEGIN { printf "%.2f", a / b }')"
  echo "$label:"
  echo "  edgelab      $(summary "$work/edgelab-$what")"
  echo "  libCacheSim  $(summary "$work/lcs-$what")"
  echo "  edgelab / libCacheSim ${ratio}x"
done
echo "tiers (pop,rec,shield, 2 grid points), requests × configurations/s:"
echo "  edgelab      $(summary "$work/edgelab-tiers")"
echo "policies (2 presets × 2 DefaultTTLs × 2 capacities), requests × configurations/s:"
echo "  edgelab      $(summary "$work/edgelab-policies")"
