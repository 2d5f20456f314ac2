#!/usr/bin/env bash
# Instructions of whole `edgelab replay` processes, counted by valgrind's callgrind (so the
# host's load does not enter), on the cloudPhysics trace (113,872 requests, LRU), for the runs
# loadtest/bench-replay.sh times and the reading alone:
#
#   read      --capacity 1B (the reading and start-up, one cache that holds nothing)
#   one       one 1 GiB cache
#   grid      128 MiB … 1 GiB in 128 MiB steps (8 caches)
#   tiers     --tiers pop,rec,shield at 2 grid points
#   policies  2 presets × 2 DefaultTTLs × 2 capacities
#
# Each run RUNS times (default 3; the object index hashes with a random seed, so counts move
# by a few per cent between runs): prints the median and the spread per row, and keeps each
# run's JSON report in OUT so two binaries' results can be diffed.
#
#   loadtest/bench-replay-instructions.sh                       # target/release/edgelab
#   EDGELAB=/path/to/edgelab OUT=/tmp/before RUNS=5 loadtest/bench-replay-instructions.sh
#   ROWS="grid tiers" loadtest/bench-replay-instructions.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib.sh
source loadtest/lib.sh
lib_replay_bench
ROWS="${ROWS:-read one grid tiers policies}"
OUT="${OUT:-target/bench-replay-instructions/$(date -u +%Y%m%dT%H%M%SZ)}"
lib_install valgrind valgrind
mkdir -p "$OUT"

# The --capacity value and further flags of a row (sets FLAGS).
flags() {
  case "$1" in
    read) FLAGS=(1) ;;
    one) FLAGS=("$REPLAY_ONE") ;;
    grid) FLAGS=("$REPLAY_GRID") ;;
    tiers) FLAGS=("${REPLAY_TIERS[@]}") ;;
    policies) FLAGS=("${REPLAY_POLICIES[@]}") ;;
    *) echo "unknown row $1" >&2; exit 64 ;;
  esac
}

echo "instructions of edgelab replay ($EDGELAB) on $(basename "$TRACE"), median of $RUNS (min–max)"
for row in $ROWS; do
  counts=()
  flags "$row"
  for run in $(seq "$RUNS"); do
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$row.$run.callgrind" \
      "$EDGELAB" replay "$TRACE" --format oracle-general --eviction lru --capacity "${FLAGS[@]}" \
      --json "$OUT/$row.$run.json" >/dev/null 2>"$OUT/$row.$run.log"
    counts+=("$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/$row.$run.log")")
  done
  read -r m lo hi <<<"$(lib_median "${counts[@]}")"
  awk -v row="$row" -v m="$m" -v lo="$lo" -v hi="$hi" \
    'BEGIN { printf "%-9s %7.1f M  (%.1f–%.1f)\n", row, m / 1e6, lo / 1e6, hi / 1e6 }'
done
echo "profiles and JSON reports in $OUT (callgrind_annotate $OUT/grid.1.callgrind)"
