"""Prints libCacheSim's miss counts for an oracleGeneral trace as JSON shaped like
`edgelab replay --json -` (results[].capacity_bytes, misses, byte_misses).

usage: libcachesim_counts.py TRACE LRU|FIFO CAP[,CAP...]
process_trace returns ratios; counts are recovered exactly from them (n < 2^53)."""
import json
import struct
import sys

import libcachesim as lcs

path, algo, caps = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")]
requests = total_bytes = 0
with open(path, "rb") as trace:
    while record := trace.read(24):
        size = struct.unpack_from("<I", record, 12)[0]
        if size:  # libCacheSim skips zero-byte requests (ignore_size_zero_req)
            requests += 1
            total_bytes += size
results = []
for cap in caps:
    cache = getattr(lcs, algo)(cap, default_ttl=86400 * 300, hashpower=20)
    reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
    miss_ratio, byte_miss_ratio = cache.process_trace(reader)
    results.append({
        "capacity_bytes": cap,
        "misses": round(miss_ratio * requests),
        "byte_misses": round(byte_miss_ratio * total_bytes),
    })
print(json.dumps({"requests": requests, "results": results}))
