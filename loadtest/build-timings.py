#!/usr/bin/env python3
"""Summarises a `cargo build --timings` page: the slowest units, the workspace's share, the
critical path and the serial tail. Used by bench-build.sh; also runs on a saved page:

    loadtest/build-timings.py target/cargo-timings/cargo-timing.html [WALL USER SYS [TOP [FLAGS]]]
"""
import json
import re
import sys


def label(unit):
    target = unit["target"].strip().replace('"', "")
    kind = "" if target in ("", "(lib)", "lib") else " " + target
    return f'{unit["name"]} {unit["version"]}{kind}'


def unblocks(unit, kind):
    # cargo has spelt these "unlocked_*" and "unblocked_*".
    return unit.get(f"unblocked_{kind}") or unit.get(f"unlocked_{kind}") or []


def critical_path(units):
    """From the unit that finished last back through the unit that made each ready: cargo
    records, for each unit, the dependency whose end (or metadata, when pipelined) released
    it. Returns (unit, ready at) pairs; a unit that starts after it is ready waited for a CPU."""
    by_i = {u["i"]: u for u in units}
    gates = {}
    for u in units:
        end = u["start"] + u["duration"]
        for kind in ("units", "rmeta_units"):
            for j in unblocks(u, kind):
                at = end if kind == "units" else min(end, by_i[j]["start"])
                if j not in gates or at > gates[j][1]:
                    gates[j] = (u["i"], at)
    path = [max(units, key=lambda u: u["start"] + u["duration"])]
    while path[-1]["i"] in gates:
        path.append(by_i[gates[path[-1]["i"]][0]])
    return [(u, gates.get(u["i"], (None, 0.0))[1]) for u in reversed(path)]


def serial_tail(units):
    """The moment from which at most one unit runs, and the units running after it."""
    edges = sorted([(u["start"], 1) for u in units]
                   + [(u["start"] + u["duration"], -1) for u in units])
    running, last_parallel = 0, 0.0
    for t, step in edges:
        if running >= 2:
            last_parallel = t
        running += step
    return last_parallel, [u for u in units if u["start"] + u["duration"] > last_parallel]


def main(argv):
    text = open(argv[1], encoding="utf-8").read()
    units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", text, re.S).group(1))
    end = max(u["start"] + u["duration"] for u in units)
    total = sum(u["duration"] for u in units)
    top = int(argv[5]) if len(argv) > 5 else 12
    if len(argv) > 4:
        wall, user, system = map(float, argv[2:5])
        print(f"wall {wall:.0f} s, CPU {user + system:.0f} s (user {user:.0f} + system "
              f"{system:.0f}), {len(units)} units")
    if len(argv) > 6:
        print(f"final crate's codegen flags: {argv[6].strip() or '(none found)'}")

    print(f"\nslowest units (wall time of each; share of their sum, {total:.0f} s):")
    for u in sorted(units, key=lambda u: -u["duration"])[:top]:
        print(f'  {u["duration"]:7.1f} s  {100 * u["duration"] / total:4.1f} %  {label(u)}')
    ours = sum(u["duration"] for u in units if u["name"].startswith("edgelab"))
    print(f"workspace crates: {100 * ours / total:.0f} % of the sum")

    print(f"\ncritical path ({end:.0f} s, earliest first; a start after ready waited for a CPU):")
    for u, ready in critical_path(units):
        print(f'  ready {ready:7.1f} s  starts {u["start"]:7.1f} s  takes {u["duration"]:6.1f} s'
              f'  {label(u)}')

    last_parallel, tail = serial_tail(units)
    print(f"\nserial tail: the last {end - last_parallel:.0f} s of {end:.0f} s "
          f"({100 * (end - last_parallel) / end:.0f} %) run one unit at a time: "
          + ", ".join(label(u) for u in sorted(tail, key=lambda u: u["start"])))


if __name__ == "__main__":
    main(sys.argv)
