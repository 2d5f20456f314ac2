"""Writes a deterministic synthetic oracleGeneral trace for the replay comparison.

usage: gen_trace.py OUT [REQUESTS]
Zipf-like popularity over 20,000 objects, sizes from 1 B to 8 MiB (a few larger than the
smallest cache compared), about 1% of requests with a size other than the object's first
(libCacheSim keeps the stored size on a hit), and some zero-byte requests (skipped)."""
import random
import struct
import sys

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
rng = random.Random(13)
objects = 20_000
weights = [1.0 / (rank + 1) ** 0.8 for rank in range(objects)]
sizes = [min(int(rng.lognormvariate(10, 2)) + 1, 8 << 20) for _ in range(objects)]
ids = [rng.getrandbits(64) for _ in range(objects)]
with open(out, "wb") as trace:
    for time, obj in enumerate(rng.choices(range(objects), weights, k=n)):
        size = sizes[obj]
        roll = rng.random()
        if roll < 0.01:
            size = rng.randint(1, 1 << 20)
        elif roll < 0.012:
            size = 0
        trace.write(struct.pack("<IQIq", time // 100, ids[obj], size, -1))
