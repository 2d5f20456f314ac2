#!/usr/bin/env python3
"""Asks one URL every 50 ms for a while and writes one line per answer, for failover drills:

    SENT DONE OK REPLICA

SENT and DONE are Unix times (seconds), OK is 1 for a 2xx answer, REPLICA the AZ of the
origin replica that served it (the second part of X-Edgelab-Origin, `-` when absent). One
keep-alive connection, reopened after a failure; each request times out after 5 s.

    python3 loadtest/probe.py http://127.0.0.1:8001/api/x 30 probes.txt
"""
import http.client
import sys
import time
import urllib.parse

EVERY = 0.05
TIMEOUT = 5.0


def main():
    url, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    parts = urllib.parse.urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    end = time.time() + seconds
    connection = None
    with open(out, "w", encoding="utf-8") as lines:
        while time.time() < end:
            sent = time.time()
            ok, replica = 0, "-"
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                ok = 1 if 200 <= response.status < 300 else 0
                origin = response.getheader("x-edgelab-origin") or ""
                replica = origin.split("/")[1] if "/" in origin else "-"
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
            done = time.time()
            lines.write(f"{sent:.3f} {done:.3f} {ok} {replica}\n")
            lines.flush()
            time.sleep(max(0.0, EVERY - (done - sent)))


if __name__ == "__main__":
    main()
