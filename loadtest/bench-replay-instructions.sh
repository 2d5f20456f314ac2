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
EDGELAB="${EDGELAB:-target/release/edgelab}"
TRACE="${TRACE:-crates/replay/tests/data/cloudPhysicsIO.oracleGeneral.bin}"
RUNS="${RUNS:-3}"
ROWS="${ROWS:-read one grid tiers policies}"
OUT="${OUT:-target/bench-replay-instructions/$(date -u +%Y%m%dT%H%M%SZ)}"
[[ -x "$EDGELAB" ]] || cargo build --locked --release -q -p edgelab-cli
lib_install valgrind valgrind
mkdir -p "$OUT"

mib=$((1 << 20))
grid="$(seq -s, $((128 * mib)) $((128 * mib)) $((1024 * mib)))"
flags() {
  case "$1" in
    read) echo "--capacity 1" ;;
    one) echo "--capacity $((1024 * mib))" ;;
    grid) echo "--capacity $grid" ;;
    tiers) echo "--capacity pop=128MiB,pop=256MiB,rec=1GiB,shield=4GiB --tiers pop,rec,shield" ;;
    policies) echo "--capacity 256MiB,1GiB --policy CachingOptimized,UseOriginCacheControlHeaders --min-ttl 0s --default-ttl 10m,1h" ;;
    *) echo "unknown row $1" >&2; exit 64 ;;
  esac
}

echo "instructions of edgelab replay ($EDGELAB) on $(basename "$TRACE"), median of $RUNS (min–max)"
for row in $ROWS; do
  counts=()
  for run in $(seq "$RUNS"); do
    # shellcheck disable=SC2046 # the flags are a word list
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$row.$run.callgrind" \
      "$EDGELAB" replay "$TRACE" --format oracle-general --eviction lru $(flags "$row") \
      --json "$OUT/$row.$run.json" >/dev/null 2>"$OUT/$row.$run.log"
    counts+=("$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/$row.$run.log")")
  done
  printf '%s\n' "${counts[@]}" | sort -n | awk -v row="$row" '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%-9s %7.1f M  (%.1f–%.1f)\n", row, m / 1e6, v[1] / 1e6, v[NR] / 1e6 }'
done
echo "profiles and JSON reports in $OUT (callgrind_annotate $OUT/grid.1.callgrind)"
