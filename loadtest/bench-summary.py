#!/usr/bin/env python3
"""Summarises a bench-edge.sh run: every measured hit run (runs.tsv), the memory probe
(memory.json when it ran) -> results.json and results.md in the same folder.

runs.tsv columns: target size conns rep req_s p50_ms p99_ms server_cpu_s wall_s
Per (target, size, conns): median req/s with min and max, spread (max-min)/median, median
p50/p99, the server's CPU share (CPU seconds / wall seconds; 1.0 = one core), and the ratio
of edgelab's median to nginx's and to the limit server's.

Usage: bench-summary.py RESULTS_DIR
"""
import csv
import json
import os
import statistics
import sys

SIZES = ["1k", "16k", "1m"]
TARGETS = ["edgelab", "nginx", "limit"]


def load_runs(path):
    runs = []
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            for key in ("req_s", "p50_ms", "p99_ms", "server_cpu_s", "wall_s"):
                row[key] = float(row[key]) if row[key] not in ("", "nan") else float("nan")
            row["conns"] = int(row["conns"])
            row["rep"] = int(row["rep"])
            runs.append(row)
    return runs


def finite(xs):
    return [x for x in xs if x == x]


def median(xs):
    xs = finite(xs)
    return statistics.median(xs) if xs else None


def cells(runs):
    groups = {}
    for r in runs:
        groups.setdefault((r["target"], r["size"], r["conns"]), []).append(r)
    out = []
    for (target, size, conns), g in groups.items():
        rps = finite([r["req_s"] for r in g])
        m = median(rps)
        share = [r["server_cpu_s"] / r["wall_s"] for r in g if r["wall_s"] > 0]
        out.append({
            "target": target, "size": size, "conns": conns, "runs": len(g),
            "req_s_median": m, "req_s_min": min(rps) if rps else None,
            "req_s_max": max(rps) if rps else None,
            "spread": (max(rps) - min(rps)) / m if rps and m else None,
            "p50_ms_median": median([r["p50_ms"] for r in g]),
            "p99_ms_median": median([r["p99_ms"] for r in g]),
            "server_cpu_share_median": median(share),
        })
    order = {t: i for i, t in enumerate(TARGETS)}
    out.sort(key=lambda c: (SIZES.index(c["size"]) if c["size"] in SIZES else 9, c["conns"],
                            order.get(c["target"], 9)))
    return out


def ratios(table):
    by = {(c["target"], c["size"], c["conns"]): c for c in table}
    out = []
    for (target, size, conns), c in by.items():
        if target != "edgelab" or not c["req_s_median"]:
            continue
        row = {"size": size, "conns": conns}
        for base in ("nginx", "limit"):
            b = by.get((base, size, conns))
            row[f"edgelab_over_{base}"] = (c["req_s_median"] / b["req_s_median"]
                                           if b and b["req_s_median"] else None)
        out.append(row)
    out.sort(key=lambda r: (SIZES.index(r["size"]) if r["size"] in SIZES else 9, r["conns"]))
    return out


def num(x, fmt):
    return format(x, fmt) if x is not None else "-"


def times(x):
    return f"{x:.2f}x" if x is not None else "-"


def markdown(result):
    lines = [f"# bench-edge {result['stamp']}", "", result["setup"], ""]
    if result["load_note"]:
        lines += [f"**{result['load_note']}**", ""]
    if result["hits"]:
        lines += ["| object | conns | target | req/s median | min-max | spread | p50 ms | p99 ms "
                  "| server CPU | runs |", "|---|---|---|---|---|---|---|---|---|---|"]
        for c in result["hits"]:
            lines.append(
                f"| {c['size']} | {c['conns']} | {c['target']} | {num(c['req_s_median'], ',.0f')} "
                f"| {num(c['req_s_min'], ',.0f')}-{num(c['req_s_max'], ',.0f')} "
                f"| {num(c['spread'] and c['spread'] * 100, '.0f')} % "
                f"| {num(c['p50_ms_median'], '.2f')} | {num(c['p99_ms_median'], '.2f')} "
                f"| {num(c['server_cpu_share_median'], '.2f')} | {c['runs']} |")
        lines += ["", "| object | conns | edgelab / nginx | edgelab / limit |", "|---|---|---|---|"]
        for r in result["ratios"]:
            lines.append(f"| {r['size']} | {r['conns']} | {times(r['edgelab_over_nginx'])} "
                         f"| {times(r['edgelab_over_limit'])} |")
        lines.append("")
    memory = result.get("memory")
    if memory:
        lines += [f"memory: {memory['objects']:,} objects of 1 byte cached "
                  f"({memory.get('path', '/tiny/')}), RSS "
                  f"+{memory['rss_delta_bytes'] / 2**20:.1f} MiB, "
                  f"**{memory['bytes_per_object']:.0f} bytes per object** beyond the body "
                  f"(target <= 512; fill {memory['fill_seconds']} s)", ""]
    return "\n".join(lines)


def main(folder):
    with open(os.path.join(folder, "setup.json")) as f:
        result = json.load(f)
    runs_path = os.path.join(folder, "runs.tsv")
    runs = load_runs(runs_path) if os.path.exists(runs_path) else []
    result["runs"] = runs
    result["hits"] = cells(runs)
    result["ratios"] = ratios(result["hits"])
    memory_path = os.path.join(folder, "memory.json")
    if os.path.exists(memory_path):
        with open(memory_path) as f:
            result["memory"] = json.load(f)
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    text = markdown(result)
    with open(os.path.join(folder, "results.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1])
