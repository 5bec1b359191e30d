#!/usr/bin/env python3
"""Loopback HTTP server for scripts/bench.sh: the generated feeds (CORPUS/feeds/*.xml at
/feeds/NAME; run.py's large feed CORPUS/big/*.xml at /big/NAME) and stand-ins for the EP API, OEIL and CELLAR serving the real captures, with
strong ETags and `304 Not Modified` for a matching If-None-Match.

Writes its port to CORPUS/port, and the wall-clock time (ns since the epoch) at which a
connection is first accepted to CORPUS/first-request (only when that file is absent: delete it to
re-arm). Counts requests by outcome in memory; GET /__stats answers the counters as text.

usage: serve.py FIXTURES CORPUS
"""
import hashlib
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIXTURES, CORPUS = sys.argv[1], sys.argv[2]
FIRST = os.path.join(CORPUS, "first-request")

EP = {
    "2016-0132": "ep-api/procedure_2016-0132_COD.jsonld.json",
    "2025-0260": "ep-api/procedure_2025-0260_COD.jsonld.json",
    "2025-0581": "ep-api/procedure_2025-0581_CNS.jsonld.json",
}
OEIL = {
    "2024/0258(COD)": "oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html",
    "2023/2019(INI)": "oeil/2023-2019-INI_new-design-es_page-available-2025-11-13.html",
    "2025/0229(NLE)": "oeil/2025-0229-NLE_new-design-es_page-available-2025-12-21_contains-NBSP.html",
    "2022/2201(INI)": "oeil/2022-2201-INI_old-design_page-available-2023-12-27.html",
}
CELLAR = {
    "2018_172": "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
    "2013_449": "eurlex-cellar-notice/procedure_2013_449_COD_tree-notice.xml",
    "2009_162": "eurlex-cellar-notice/procedure_2009_162_tree-notice.xml",
}

ROUTES = {}
LOCK = threading.Lock()


def add(path, rel_or_bytes, ctype):
    body = rel_or_bytes if isinstance(rel_or_bytes, bytes) else open(os.path.join(FIXTURES, rel_or_bytes), "rb").read()
    ROUTES[path] = (body, ctype, '"%s"' % hashlib.blake2b(body, digest_size=12).hexdigest())


for pid, rel in EP.items():
    add(f"/api/v2/procedures/{pid}?format=application%2Fld%2Bjson", rel, "application/ld+json")
for ref, rel in OEIL.items():
    add(f"/oeil/en/procedure-file?reference={ref}", rel, "text/html; charset=utf-8")
for pid, rel in CELLAR.items():
    add(f"/resource/procedure/{pid}", rel, "application/xml")
for name in sorted(os.listdir(os.path.join(CORPUS, "feeds"))):
    add(f"/feeds/{name}", open(os.path.join(CORPUS, "feeds", name), "rb").read(), "application/xml")
# One large feed (run.py's bigfeed step), when generated.
if os.path.isdir(os.path.join(CORPUS, "big")):
    for name in sorted(os.listdir(os.path.join(CORPUS, "big"))):
        add(f"/big/{name}", open(os.path.join(CORPUS, "big", name), "rb").read(), "application/rss+xml")

STATS = {"requests": 0, "not_modified": 0, "ok": 0, "not_found": 0, "no_content": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/__stats":
            return self.send(200, " ".join(f"{k}={v}" for k, v in STATS.items()).encode(), "text/plain")
        STATS["requests"] += 1
        if "/procedures/feed" in self.path or "/events/feed" in self.path:
            STATS["no_content"] += 1
            return self.send(204, b"", None)
        route = ROUTES.get(self.path)
        if route is None:
            STATS["not_found"] += 1
            return self.send(404, b"not found", "text/plain")
        body, ctype, etag = route
        if self.headers.get("If-None-Match") == etag:
            STATS["not_modified"] += 1
            return self.send(304, b"", None, etag)
        STATS["ok"] += 1
        self.send(200, body, ctype, etag)

    def send(self, status, body, ctype, etag=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if etag:
            self.send_header("ETag", etag)
        if status != 304 and status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status not in (204, 304):
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def process_request(self, request, client_address):
        # Stamped on accept, in the serving thread, before a handler thread is started: the
        # Python handler's own latency is not counted against the client's cold start.
        now = time.time_ns()
        with LOCK:
            if not os.path.exists(FIRST):
                with open(FIRST + ".tmp", "w") as fh:
                    fh.write(str(now))
                os.replace(FIRST + ".tmp", FIRST)
        super().process_request(request, client_address)


srv = Server(("127.0.0.1", 0), Handler)
with open(os.path.join(CORPUS, "port.tmp"), "w") as fh:
    fh.write(str(srv.server_address[1]))
os.replace(os.path.join(CORPUS, "port.tmp"), os.path.join(CORPUS, "port"))
srv.serve_forever()
