#!/usr/bin/env python3
"""Peer: Python feedparser parsing the bench feeds from disk (no HTTP). Prints one JSON line:
files, entries, and the CPU seconds of the parse loop alone (after imports and reads).

usage: peer_feedparser.py FEEDS_DIR N
"""
import json
import os
import sys
import time

import feedparser

d, n = sys.argv[1], int(sys.argv[2])
bodies = []
for i in range(n):
    with open(os.path.join(d, "f%04d.xml" % i), "rb") as fh:
        bodies.append(fh.read())
t0 = time.process_time()
w0 = time.perf_counter()
entries = 0
for b in bodies:
    entries += len(feedparser.parse(b).entries)
cpu = time.process_time() - t0
print(json.dumps({"files": n, "entries": entries, "parse_cpu_s": round(cpu, 3),
                  "parse_wall_s": round(time.perf_counter() - w0, 3)}))
