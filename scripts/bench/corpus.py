#!/usr/bin/env python3
"""Build the loopback benchmark corpus from the real generic-rss fixtures.

Writes OUT/feeds/f0000.xml ... : feed number i is fixture (i mod 10), its items replicated
to ITEMS items, every guid/link/id made unique per (feed, copy), so that the 500 feeds hold
distinct items as 500 real sources would. Bytes are edited in place: each fixture keeps its
own encoding, format (RSS 0.91/1.0/2.0, Atom) and quirks (one is deliberately invalid).

usage: corpus.py FIXTURES OUT N_FEEDS ITEMS_PER_FEED
"""
import os
import re
import sys

ITEM = re.compile(rb"<(item|entry)\b.*?</\1>", re.S)


def uniquify(block: bytes, tag: bytes) -> bytes:
    def suffix_url(m):
        url = m.group(2)
        sep = b"&amp;" if b"?" in url else b"?"
        return m.group(1) + url + sep + b"v=" + tag + m.group(3)

    def suffix_id(m):
        return m.group(1) + m.group(2) + b"-" + tag + m.group(3)

    block = re.sub(rb"(<link>\s*)(.*?)(\s*</link>)", suffix_url, block, flags=re.S)
    block = re.sub(rb'(<link\b[^>]*?href=")([^"]*)(")', suffix_url, block)
    block = re.sub(rb'(rdf:about=")([^"]*)(")', suffix_url, block)
    block = re.sub(rb"(<guid\b[^>]*>\s*)(.*?)(\s*</guid>)", suffix_id, block, flags=re.S)
    block = re.sub(rb"(<id>\s*)(.*?)(\s*</id>)", suffix_id, block, flags=re.S)
    # Items without any id or link are identified by their title.
    block = re.sub(rb"(<title\b[^>]*>)(.*?)(</title>)", lambda m: m.group(1) + m.group(2) + b" " + tag + m.group(3), block, count=1, flags=re.S)
    return block


def build(fixture: bytes, feed: int, items: int) -> bytes:
    blocks = list(ITEM.finditer(fixture))
    if not blocks:
        return fixture
    start, end = blocks[0].start(), blocks[-1].end()
    out = []
    for k in range(items):
        m = blocks[k % len(blocks)]
        kind = m.group(1)
        out.append(uniquify(m.group(0), b"f%dk%d" % (feed, k)))
        out.append(b"\n")
    # Keep whatever sat between the first and last item (nothing, usually) out of the copy.
    return fixture[:start] + b"".join(out) + fixture[end:]


def main():
    fixtures, out, n, items = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    src = os.path.join(fixtures, "generic-rss")
    names = sorted(os.listdir(src))
    bodies = [open(os.path.join(src, f), "rb").read() for f in names]
    os.makedirs(os.path.join(out, "feeds"), exist_ok=True)
    total = 0
    for i in range(n):
        body = build(bodies[i % len(bodies)], i, items)
        total += len(body)
        with open(os.path.join(out, "feeds", "f%04d.xml" % i), "wb") as fh:
            fh.write(body)
    print(f"{n} feeds, {total} bytes, from {len(names)} fixtures")


if __name__ == "__main__":
    main()
