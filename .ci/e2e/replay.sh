#!/usr/bin/env bash
# `edgelab replay` gives exactly libCacheSim's LRU and FIFO miss counts (objects and bytes)
# on the shipped cloudPhysics trace (128 MiB … 1 GiB in 128 MiB steps) and on a generated
# trace with varying sizes, objects larger than the cache and zero-byte requests.
# libCacheSim 0.3.5 is installed from PyPI in a virtualenv under target/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
EDGELAB="${EDGELAB:-target/debug/edgelab}"
# shellcheck source=../../loadtest/lib.sh
source loadtest/lib.sh
lib_install "jq python3 python3-venv python3-pip" jq python3
python3 -c 'import ensurepip' 2>/dev/null || lib_install "python3-venv" python3-venv-missing
here="$(dirname "$0")/replay"
venv=target/replay-venv
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import libcachesim' 2>/dev/null || "$venv/bin/pip" install -q libcachesim==0.3.5
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

compare() { # TRACE CAPACITIES
  for eviction in lru fifo; do
    "$venv/bin/python" "$here/libcachesim_counts.py" "$1" "${eviction^^}" "$2" 2>/dev/null \
      | jq -S '[.requests, [.results[] | {capacity_bytes, misses, byte_misses}]]' >"$out/want"
    "$EDGELAB" replay "$1" --format oracle-general --eviction "$eviction" --capacity "$2" --json - \
      | jq -S '[.requests, [.results[] | {capacity_bytes, misses, byte_misses}]]' >"$out/got"
    diff -u "$out/want" "$out/got" || { echo "replay $1 $eviction differs from libCacheSim"; exit 1; }
    echo "ok: $1 $eviction $(jq -c '[.[1][].misses]' "$out/got")"
  done
}

mib=$((1 << 20))
compare crates/replay/tests/data/cloudPhysicsIO.oracleGeneral.bin \
  "$(seq -s, $((128 * mib)) $((128 * mib)) $((1024 * mib)))"
python3 "$here/gen_trace.py" "$out/generated.bin" 200000
compare "$out/generated.bin" "$(seq -s, $((4 * mib)) $((4 * mib)) $((20 * mib)))"
