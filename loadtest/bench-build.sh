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
# Env:   RESULTS=target/bench-build/<UTC stamp>  TOP=12  JOBS=(cargo's default: all CPUs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
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
# The final crate's codegen flags, as the build ran them.
flags="$(grep -o 'Running `[^`]*--crate-name edgelab [^`]*' "$WORK/build.log" | grep -o -- '-C [^ ]*' | tr '\n' ' ')"
python3 - "$RESULTS/cargo-timing.html" "$wall" "$user" "$sys" "$TOP" "$flags" <<'PY' | tee "$RESULTS/summary.txt"
import json, re, sys

page, wall, user, sys_, top, flags = sys.argv[1:7]
wall, user, sys_, top = float(wall), float(user), float(sys_), int(top)
text = open(page, encoding="utf-8").read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", text, re.S).group(1))

def label(u):
    kind = "" if u["target"].strip() in ("", "(lib)") else " " + u["target"].strip()
    return f'{u["name"]} {u["version"]}{kind}'

end = max(u["start"] + u["duration"] for u in units)
total = sum(u["duration"] for u in units)
print(f"wall {wall:.0f} s, CPU {user + sys_:.0f} s (user {user:.0f} + system {sys_:.0f}), "
      f"{len(units)} units, build span {end:.0f} s")
print(f"final crate's codegen flags: {flags.strip() or '(none found)'}")

print(f"\nslowest units (unit wall time; share of the sum over units, {total:.0f} s):")
for u in sorted(units, key=lambda u: -u["duration"])[:top]:
    print(f'  {u["duration"]:6.1f} s  {100 * u["duration"] / total:4.1f} %  {label(u)}')

ws = {}
for u in units:
    if u["name"].startswith("edgelab"):
        ws[u["name"]] = ws.get(u["name"], 0) + u["duration"]
share = 100 * sum(ws.values()) / total
print(f"\nworkspace crates: {share:.0f} % of the sum over units")

# Critical path: from the unit that finished last, back through the unit whose completion
# (or metadata, for pipelined builds) unlocked it and that finished last among those.
by_i = {u["i"]: u for u in units}
gates = {}
for u in units:
    for key, at in (("unlocked_units", u["start"] + u["duration"]),
                    ("unlocked_rmeta_units", u["start"] + (u.get("rmeta_time") or u["duration"]))):
        for j in u.get(key) or []:
            if j not in gates or at > gates[j][1]:
                gates[j] = (u["i"], at)
path = [max(units, key=lambda u: u["start"] + u["duration"])]
while path[-1]["i"] in gates:
    path.append(by_i[gates[path[-1]["i"]][0]])
print(f"\ncritical path ({end:.0f} s, earliest first):")
for u in reversed(path):
    print(f'  starts {u["start"]:6.1f} s  takes {u["duration"]:5.1f} s  {label(u)}')

# Serial tail: from the last moment two units ran together to the end.
edges = sorted([(u["start"], 1) for u in units] + [(u["start"] + u["duration"], -1) for u in units])
running, last_parallel = 0, 0.0
for t, step in edges:
    if running >= 2:
        last_parallel = t
    running += step
tail = [u for u in units if u["start"] + u["duration"] > last_parallel]
print(f"\nserial tail: the last {end - last_parallel:.0f} s run one unit at a time: "
      + ", ".join(label(u) for u in sorted(tail, key=lambda u: u["start"])))
PY
echo "timings page and summary: $RESULTS"
