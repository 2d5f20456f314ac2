#!/usr/bin/env python3
"""Summarises a bench-edge.sh run: every measured hit run (runs.tsv), the memory probe
(memory.json when it ran) -> results.json and results.md in the same folder. It also reads
a results folder of perf-anchors' `run.sh bench` (runs.csv and the raw wrk output it names;
pinned wrk runs only), when the folder has no runs.tsv.

runs.tsv columns: target size conns rep req_s p50_ms p99_ms server_cpu_s wall_s
[requests load_cpu_s] (the last two are absent from runs made before they were recorded).
Per (target, size, conns): median req/s with min and max, spread (max-min)/median, median
p50/p99, the server's CPU share (CPU seconds / wall seconds; 1.0 = one core), the server's
CPU microseconds per request (median, min, max), wrk's CPU share, and whether the cell is
bound by the load generator (wrk at >= 95 % of its one core in the median run: the server
may have had more to give, so req/s does not rank the targets there and CPU per request
does). Ratios: edgelab's median req/s to nginx's and to the limit server's, and the same on
CPU per request (edgelab's CPU per request over the other's: below 1 is cheaper).

Usage: bench-summary.py RESULTS_DIR
"""
import csv
import json
import os
import re
import statistics
import sys

TARGETS = ["edgelab", "edgelab-base", "edgelab-heap", "edgelab-hyper", "edgelab-hyper-heap",
           "nginx", "limit"]
# What each edgelab target is compared with, where measured: edgelab-heap is edgelab with
# every body on the heap (EDGELAB_FILE_BODIES=0), edgelab-hyper edgelab with every hit served
# by hyper (--no-lane), edgelab-hyper-heap both, edgelab-base another build (BASE_BIN).
BASES = {
    "edgelab": ("nginx", "limit", "edgelab-heap", "edgelab-base"),
    "edgelab-hyper": ("edgelab-hyper-heap", "edgelab", "nginx"),
}


def size_key(size):
    """Sorts sizes such as 1k, 64k, 1m by their bytes (unknown forms last)."""
    m = re.fullmatch(r"(\d+)([km])", size)
    return int(m.group(1)) * (1024 if m.group(2) == "k" else 1 << 20) if m else float("inf")
# wrk's CPU share at or above which a cell is bound by the load generator (one thread, one core).
LOAD_BOUND = 0.95
NAN = float("nan")


def number(text):
    return float(text) if text not in (None, "", "nan") else NAN


def load_runs(path):
    runs = []
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            for key in ("req_s", "p50_ms", "p99_ms", "server_cpu_s", "wall_s", "requests",
                        "load_cpu_s"):
                row[key] = number(row.get(key))
            row["conns"] = int(row["conns"])
            row["rep"] = int(row["rep"])
            runs.append(row)
    return runs


def wrk_ms(token):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", token)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
    return float(m.group(1)) * scale[m.group(2)] if m else NAN


def parse_wrk(text):
    """req/s, p50 and p99 (ms) and the request count of one wrk --latency output."""
    out = {"req_s": NAN, "p50_ms": NAN, "p99_ms": NAN, "requests": NAN}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["req_s"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        if m:
            out[key] = wrk_ms(m.group(1))
    m = re.search(r"^\s*(\d+) requests in", text, re.M)
    if m:
        out["requests"] = float(m.group(1))
    return out


def load_anchors(folder):
    """The pinned wrk runs of a perf-anchors results folder (runs.csv: server_ticks, wrk's
    user and system seconds, wall seconds; the raw wrk output for req/s, latency, count)."""
    hz = os.sysconf("SC_CLK_TCK")
    runs = []
    with open(os.path.join(folder, "runs.csv")) as f:
        for row in csv.DictReader(f):
            if row["mode"] != "pinned" or row["tool"] != "wrk":
                continue
            raw = row["raw"]
            for candidate in (raw, os.path.join(folder, "raw", os.path.basename(raw))):
                if os.path.exists(candidate):
                    with open(candidate) as r:
                        parsed = parse_wrk(r.read())
                    break
            else:
                parsed = parse_wrk("")
            runs.append({
                "target": row["target"], "size": row["size"], "conns": int(row["conc"]),
                "rep": int(row["rep"]), **parsed,
                "server_cpu_s": int(row["server_ticks"]) / hz,
                "wall_s": number(row["lg_wall_s"]),
                "load_cpu_s": number(row["lg_user_s"]) + number(row["lg_sys_s"]),
            })
    return runs


def anchors_setup(folder):
    env = {}
    path = os.path.join(folder, "env.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, colon, value = line.partition(":")
                if colon:
                    env[key.strip()] = value.strip()
                else:  # the knobs line: HZ=100 DUR=5 REPS=3 ...
                    env["knobs"] = line.strip()
    return {
        "stamp": os.path.basename(os.path.normpath(folder)),
        "setup": f"perf-anchors run.sh bench results ({folder}), pinned mode; "
                 f"{env.get('date_utc', 'date unknown')}; {env.get('knobs', '')}".rstrip("; "),
        "load_note": "",
    }


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
        per_request = finite([r["server_cpu_s"] / r["requests"] * 1e6 for r in g
                              if r["requests"] > 0])
        load = [r["load_cpu_s"] / r["wall_s"] for r in g if r["wall_s"] > 0]
        load_median = median(load)
        out.append({
            "target": target, "size": size, "conns": conns, "runs": len(g),
            "req_s_median": m, "req_s_min": min(rps) if rps else None,
            "req_s_max": max(rps) if rps else None,
            "spread": (max(rps) - min(rps)) / m if rps and m else None,
            "p50_ms_median": median([r["p50_ms"] for r in g]),
            "p99_ms_median": median([r["p99_ms"] for r in g]),
            "server_cpu_share_median": median(share),
            "server_cpu_us_per_request_median": median(per_request),
            "server_cpu_us_per_request_min": min(per_request) if per_request else None,
            "server_cpu_us_per_request_max": max(per_request) if per_request else None,
            "load_cpu_share_median": load_median,
            "load_generator_bound": load_median is not None and load_median >= LOAD_BOUND,
        })
    order = {t: i for i, t in enumerate(TARGETS)}
    out.sort(key=lambda c: (size_key(c["size"]), c["conns"], order.get(c["target"], 9)))
    return out


def ratios(table):
    """Per edgelab target of BASES, size and connections: its req/s and CPU per request over
    each of its bases (the keys name the target: `edgelab_over_nginx`,
    `edgelab-hyper_over_edgelab-hyper-heap`, ...)."""
    by = {(c["target"], c["size"], c["conns"]): c for c in table}
    out = []
    for (target, size, conns), c in by.items():
        if target not in BASES or not c["req_s_median"]:
            continue
        row = {"target": target, "size": size, "conns": conns}
        for base in BASES[target]:
            b = by.get((base, size, conns))
            row[f"load_generator_bound_{base}"] = bool(
                c["load_generator_bound"] or (b and b["load_generator_bound"]))
            row[f"{target}_over_{base}"] = (c["req_s_median"] / b["req_s_median"]
                                            if b and b["req_s_median"] else None)
            mine, theirs = (c["server_cpu_us_per_request_median"],
                            b and b["server_cpu_us_per_request_median"])
            row[f"{target}_cpu_per_request_over_{base}"] = (mine / theirs if mine and theirs
                                                             else None)
        out.append(row)
    out.sort(key=lambda r: (TARGETS.index(r["target"]), size_key(r["size"]), r["conns"]))
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
                  "| server CPU | server CPU µs/req [min-max] | wrk CPU | runs |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in result["hits"]:
            bound = " (bound)" if c["load_generator_bound"] else ""
            lines.append(
                f"| {c['size']} | {c['conns']} | {c['target']} | {num(c['req_s_median'], ',.0f')} "
                f"| {num(c['req_s_min'], ',.0f')}-{num(c['req_s_max'], ',.0f')} "
                f"| {num(c['spread'] and c['spread'] * 100, '.0f')} % "
                f"| {num(c['p50_ms_median'], '.2f')} | {num(c['p99_ms_median'], '.2f')} "
                f"| {num(c['server_cpu_share_median'], '.2f')} "
                f"| {num(c['server_cpu_us_per_request_median'], '.2f')} "
                f"[{num(c['server_cpu_us_per_request_min'], '.2f')}-"
                f"{num(c['server_cpu_us_per_request_max'], '.2f')}] "
                f"| {num(c['load_cpu_share_median'], '.2f')}{bound} | {c['runs']} |")
        measured = {c["target"] for c in result["hits"]}
        for target, all_bases in BASES.items():
            bases = [b for b in all_bases if b in measured]
            rows = [r for r in result["ratios"] if r["target"] == target]
            if not bases or not rows:
                continue
            lines += ["", "| object | conns | "
                      + " | ".join(f"req/s: {target} / {b}" for b in bases) + " | "
                      + " | ".join(f"CPU per request: {target} / {b}" for b in bases) + " |",
                      "|---|---|" + "---|" * (2 * len(bases))]
            for r in rows:
                bound = {base: " (wrk-bound)" if r[f"load_generator_bound_{base}"] else ""
                         for base in bases}
                lines.append(
                    f"| {r['size']} | {r['conns']} | "
                    + " | ".join(f"{times(r[f'{target}_over_{b}'])}{bound[b]}" for b in bases)
                    + " | "
                    + " | ".join(times(r[f"{target}_cpu_per_request_over_{b}"]) for b in bases)
                    + " |")
        bound = sorted({(c["size"], c["conns"]) for c in result["hits"] if c["load_generator_bound"]},
                       key=lambda k: (size_key(k[0]), k[1]))
        if bound:
            cells_text = ", ".join(f"{size} c{conns}" for size, conns in bound)
            lines += ["", f"**Load-generator bound: {cells_text}** (wrk at >= "
                      f"{LOAD_BOUND * 100:.0f} % of its core): req/s there is wrk's ceiling and "
                      "does not rank the servers; compare them on server CPU per request."]
        lines += ["", "CPU per request ratio: the edgelab target's server CPU microseconds per "
                  "request over the other target's (below 1.00x: edgelab spends less). Server CPU is counted "
                  "in clock ticks (1/100 s), wrk's by its own rusage."]
        lines.append("")
    memory = result.get("memory")
    if memory:
        lines += [f"memory: {memory['objects']:,} objects of 1 byte cached "
                  f"({memory.get('path', '/tiny/')}), RSS "
                  f"+{memory['rss_delta_bytes'] / 2**20:.1f} MiB, "
                  f"**{memory['bytes_per_object']:.0f} bytes per object** beyond the body "
                  f"(target <= 512; fill {memory['fill_seconds']} s)"
                  + (f"; after one hit on each ({memory['hits']:,} hits): "
                     f"**{memory['bytes_per_object_after_hits']:.0f} bytes per object**"
                     if "bytes_per_object_after_hits" in memory else ""), ""]
    return "\n".join(lines)


def main(folder):
    runs_path = os.path.join(folder, "runs.tsv")
    if not os.path.exists(runs_path) and os.path.exists(os.path.join(folder, "runs.csv")):
        result = anchors_setup(folder)
        runs = load_anchors(folder)
    else:
        with open(os.path.join(folder, "setup.json")) as f:
            result = json.load(f)
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
