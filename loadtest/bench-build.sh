#!/usr/bin/env bash
# The cold release build of the demo binary as a fresh clone gets it: `git clone`, an empty
# target directory, `cargo build --release --locked -p edgelab-cli --timings` (what
# `cargo run --release -- demo` compiles). Crates are fetched before the clock starts, so the
# figure is compile time, not download time.
#
# Prints wall time, CPU seconds (user + system, from /usr/bin/time: the figure that survives a
# busy machine, where wall time does not), the slowest units, the critical path (the chain of
# units each of which waited for the one before it) and the serial tail (the end of the build
# where at most one unit runs while the other cores idle). Keeps the timings page and the
# summary in RESULTS; deletes the clone and its target directory.
#
# Also checks that no machine-local setting reaches the measured build: the clone lives under
# /tmp, outside any checkout's .cargo/config.toml, and the rustc flags of the final crate are
# printed (an unexpected -C flag there means CARGO_* or RUSTFLAGS leaked in).
#
# Usage: loadtest/bench-build.sh            # HEAD of this checkout
#        REV=main loadtest/bench-build.sh   # any commit
#        WORKTREE=1 loadtest/bench-build.sh # this checkout's tracked files, edits included
#        ROOT=/path/to/checkout loadtest/bench-build.sh   # another checkout
# Env:   RESULTS=target/bench-build/<UTC stamp>  TOP=12  JOBS=(cargo's default: all CPUs)
#        KEEP_BIN=path  (copy the built binary there, e.g. for bench-instructions.sh's EDGELAB_BIN)
set -euo pipefail

# The whole script is one function, read in full before it runs: editing this file while a
# build is being timed does not change that run.
main() {

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${ROOT:-$(dirname "$HERE")}"
REV="${REV:-HEAD}"
TOP="${TOP:-12}"
RESULTS="${RESULTS:-$ROOT/target/bench-build/$(date -u +%Y%m%dT%H%M%SZ)}"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 69; }

WORK="$(mktemp -d /tmp/edgelab-bench-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
if [ "${WORKTREE:-0}" = 1 ]; then
    mkdir "$WORK/src"
    git -C "$ROOT" ls-files -z | (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
    what="working tree of $ROOT ($(git -C "$ROOT" rev-parse --short HEAD) + edits)"
else
    git clone -q --no-hardlinks "$ROOT" "$WORK/src"
    git -C "$WORK/src" checkout -q --detach "$(git -C "$ROOT" rev-parse "$REV")"
    what="$(git -C "$WORK/src" log -1 --format='%h %s' | cut -c1-80)"
fi
cd "$WORK/src"
# A user's build: none of this machine's target or profile overrides.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_INCREMENTAL CARGO_BUILD_JOBS
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(CARGO_PROFILE_[A-Z_]*\)=.*/\1/p')
export CARGO_TARGET_DIR="$WORK/target"
export CARGO_TERM_COLOR=never
cargo fetch --locked -q

jobs=()
[ -n "${JOBS:-}" ] && jobs=(-j "$JOBS")
echo "cold release build of $what on $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f '%e %U %S' -o "$WORK/time" \
    cargo build --release --locked -p edgelab-cli --timings -v "${jobs[@]}" >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log" >&2; exit 1; }
mkdir -p "$RESULTS"
cp "$CARGO_TARGET_DIR"/cargo-timings/cargo-timing.html "$RESULTS/" 2>/dev/null \
    || cp "$(ls -t "$CARGO_TARGET_DIR"/cargo-timings/cargo-timing-*.html | head -1)" "$RESULTS/cargo-timing.html"
read -r wall user sys <"$WORK/time"
[ -n "${KEEP_BIN:-}" ] && cp "$CARGO_TARGET_DIR/release/edgelab" "$KEEP_BIN"
# The final crate's codegen flags, as the build ran them.
flags="$(grep -o 'Running `[^`]*--crate-name edgelab [^`]*' "$WORK/build.log" | grep -o -- '-C [^ ]*' \
    | grep -v -e metadata= -e extra-filename= | tr '\n' ' ')"
python3 "$HERE/build-timings.py" "$RESULTS/cargo-timing.html" "$wall" "$user" "$sys" "$TOP" "$flags" \
    | tee "$RESULTS/summary.txt"
echo "timings page and summary: $RESULTS"
}

main "$@"
