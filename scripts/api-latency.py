#!/usr/bin/env python3
"""Times GET requests against a running `palantir serve`, sequentially, and
prints p50/p99/max per route (milliseconds).

Usage: scripts/api-latency.py http://127.0.0.1:8080 [N] [PATH ...]
Default paths: history, filtered history, status, leaderboard, one mission.
"""
import json
import sys
import time
import urllib.request

base = sys.argv[1].rstrip("/")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
paths = sys.argv[3:] or [
    "/api/missions",
    "/api/missions?status=FAILURE&limit=50",
    "/api/missions?hero=frodo&type=raven&limit=50",
    "/api/missions?since=1h&limit=1000",
    "/api/status",
    "/api/leaderboard",
]
if len(sys.argv) <= 3:
    first = json.load(urllib.request.urlopen(base + "/api/missions?limit=1"))
    if first:
        paths.append("/api/missions/" + first[0]["id"])


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


print(f"{'route':48} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
for path in paths:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(base + path) as r:
            r.read()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{path:48} {n:>5} {pct(times, 50):8.2f} {pct(times, 99):8.2f} {max(times):8.2f}")
