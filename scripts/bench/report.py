#!/usr/bin/env python3
"""Render results.json (from run.py) and the criterion estimates into a markdown report.

usage: report.py RESULTS_JSON REPORT_MD [CRITERION_DIR]
"""
import glob
import json
import re
import os
import sys

R = json.load(open(sys.argv[1]))
OUT = sys.argv[2]
CRIT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(OUT), "criterion")
L = []


def g(key, field, default=None):
    return R.get(key, {}).get(field, default)


def ok(cond):
    return "**met**" if cond else "**MISSED**"


def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "n/a"


def fmt_time(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.2f} {unit}"
    return f"{ns:.0f} ns"


m = R.get("machine", {})
c = R.get("corpus", {})
L.append("# veille benchmark report\n")
L.append(f"Machine: {m.get('cpus')} × {m.get('cpu')}; load average before: "
         f"{', '.join('%.2f' % x for x in m.get('load_before', []))}. {m.get('veille', '')}.\n")
L.append(f"Corpus: {c.get('feeds')} feeds ({c.get('generated')}), {c.get('items_per_feed')} items "
         f"per feed, served over loopback HTTP with ETags; the full configuration adds the EP API, "
         f"OEIL and CELLAR services tracking {len(c.get('dossiers', []))} dossiers with real captures "
         f"(plus the shipped watchlists' dossiers, which the server answers 404).\n")

srcs = sorted({R[k].get("cpu_source", "rusage (10 ms ticks)") for k in R
               if isinstance(R[k], dict) and "cpu_s" in R[k] and "wall_s" in R[k]})
L.append("## Whole process (`/usr/bin/time -v`; CPU: " + ", ".join(srcs) + ")\n")
L.append("| run | wall | CPU (all threads) | peak RSS | requests (200 / 304 / 404) | exit |")
L.append("|---|---|---|---|---|---|")
for key, label in [("feeds-poll1", f"veille poll, {c.get('feeds')} feeds, first"),
                   ("feeds-poll2", f"veille poll, {c.get('feeds')} feeds, unchanged"),
                   ("full-poll1", "veille poll, feeds + EU services, first"),
                   ("full-poll2", "veille poll, feeds + EU services, unchanged")]:
    r = R.get(key)
    if not r:
        continue
    q = r.get("requests", {})
    runs = r.get("cpu_runs") or []
    spread = f" (median of {len(runs)}: {', '.join('%.3f' % x for x in sorted(runs))})" if len(runs) > 1 else ""
    L.append(f"| {label} | {r['wall_s']:.2f} s | {r['cpu_s']:.3f} s{spread} | {r['max_rss_mb']} MB | "
             f"{q.get('ok', '?')} / {q.get('not_modified', '?')} / {q.get('not_found', '?')} | {r['exit']} |")
L.append("")
cs = R.get("cold-start", {})
idle = R.get("idle", {})
sg = R.get("store-growth", [])
if isinstance(sg, dict):  # results.json of an older run.py: one measurement
    sg = [sg]
p1, p2 = R.get("full-poll1", {}), R.get("full-poll2", {})

ds = R.get("daemon-steps", {})
if ds:
    L.append(f"## The daemon's poll steps (`veille run`, every source every {ds['every']}; its log line per step)\n")
    L.append("| step | sources | requests | unchanged | new events | CPU | wall |")
    L.append("|---|---|---|---|---|---|---|")
    for i, st in enumerate([ds["first"]] + ds["unchanged_steps"]):
        L.append(f"| {'first' if i == 0 else i + 1} | {st['sources']} | {st['requests']} | {st['unchanged']} | "
                 f"{st['new_events']} | {st['cpu_ms']} ms | {st['wall_ms']} ms |")
    L.append("")
L.append("## Budget\n")
L.append("Side by side in one run on the bench corpus (docs/performance.md).\n")
L.append("| budget | measured | verdict |")
L.append("|---|---|---|")
_v1, _v2 = R.get("feeds-poll1"), R.get("feeds-poll2")
_r1, _r2 = R.get("rss2email-poll1"), R.get("rss2email-poll2")
_fp = R.get("feedparser-parse")
if _v1 and _r1:
    L.append(f"| first `veille poll` ≥ 15× less CPU than rss2email's first run | rss2email {_r1['cpu_s']:.2f} s / veille "
             f"{_v1['cpu_s']:.3f} s = {ratio(_r1['cpu_s'], _v1['cpu_s'])} | {ok(_r1['cpu_s'] >= 15 * _v1['cpu_s'])} |")
if _v1 and _fp:
    L.append(f"| first `veille poll` ≥ 5× less CPU than feedparser's parse alone | feedparser {_fp['parse_cpu_s']:.2f} s / veille "
             f"{_v1['cpu_s']:.3f} s = {ratio(_fp['parse_cpu_s'], _v1['cpu_s'])} | {ok(_fp['parse_cpu_s'] >= 5 * _v1['cpu_s'])} |")
if _v2 and _r2:
    L.append(f"| unchanged `veille poll` ≥ 10× less CPU than rss2email's | rss2email {_r2['cpu_s']:.2f} s / veille "
             f"{_v2['cpu_s']:.3f} s = {ratio(_r2['cpu_s'], _v2['cpu_s'])} | {ok(_r2['cpu_s'] >= 10 * _v2['cpu_s'])} |")
if _v1 and _r1:
    L.append(f"| peak RSS below rss2email's (first polls) | veille {_v1['max_rss_mb']} MB, rss2email {_r1['max_rss_mb']} MB | "
             f"{ok(_v1['max_rss_mb'] < _r1['max_rss_mb'])} |")
if _v2 and _r2:
    L.append(f"| peak RSS below rss2email's (unchanged polls) | veille {_v2['max_rss_mb']} MB, rss2email {_r2['max_rss_mb']} MB | "
             f"{ok(_v2['max_rss_mb'] < _r2['max_rss_mb'])} |")
if idle:
    L.append(f"| idle RSS ≤ 15 MB (daemon, 50 sources, after {idle['seconds']} s) | {idle['rss_mb']} MB "
             f"(peak during its first poll {idle['peak_rss_mb']} MB; {idle['cpu_s']} s CPU in all) | {ok(idle['rss_mb'] <= 15)} |")
_bf, _bf2 = R.get("bigfeed-poll1"), R.get("bigfeed-poll2")
if _bf:
    _n = _bf.get("items", 50000)
    _mib = _bf.get("bytes", 16 * 2**20) / 2**20
    _tail = "; ".join(" ".join(l.split()) for l in _bf.get("summary_tail", [])[-1:])
    _then = f"; unchanged again: {_bf2['max_rss_mb']} MB, {_bf2['cpu_s']:.3f} s CPU" if _bf2 else ""
    L.append(f"| one {_mib:.0f} MiB feed of {_n:,} matching items: peak RSS (budget < 150 MB) | "
             f"{_bf['max_rss_mb']} MB, {_bf['cpu_s']:.2f} s CPU, {_bf['wall_s']:.2f} s wall "
             f"(`{_tail}`{_then}) | {ok(_bf['max_rss_mb'] < 150 and _bf['exit'] == 0)} |")
L.append("\nAlso measured (not budgets):\n")
L.append("| figure | measured |")
L.append("|---|---|")
if p1:
    L.append(f"| peak RSS polling {c.get('feeds')} feeds + EU services | {p1['max_rss_mb']} MB |")
if ds and ds.get("unchanged_cpu_ms_all_sources"):
    first_ms, unch_ms = ds["first"]["cpu_ms"], ds["unchanged_cpu_ms_all_sources"]
    pct = 100 * unch_ms / first_ms if first_ms else 0
    L.append(f"| the daemon's unchanged poll step against its first ({ds['sources']} sources) | "
             f"CPU {unch_ms:.1f} ms vs {first_ms:.1f} ms = {pct:.1f} % "
             f"({ds['unchanged_cpu_ms_per_source'] * 1000:.0f} µs per source polled unchanged, over "
             f"{len(ds['unchanged_steps'])} steps) |")
if p1 and p2:
    cpu_pct = 100 * p2["cpu_s"] / p1["cpu_s"] if p1["cpu_s"] else 0
    L.append(f"| one-shot unchanged `veille poll` against a first one (start, configuration and store opening included) | "
             f"CPU {p2['cpu_s']:.3f} s vs {p1['cpu_s']:.3f} s = {cpu_pct:.0f} % |")
if cs:
    L.append(f"| cold start (exec → first request at the server) | median {cs['median_ms']} ms "
             f"(runs: {', '.join(str(x) for x in cs['runs_ms'])}) |")
for g in sg:
    per_m = float(g["allocated_bytes"]) * 1e6 / float(g["events"]) / 2**20
    every = int(g.get("matched_every", "20"))
    share = "every event matched" if every == 1 else f"one event in {every} matched"
    L.append(f"| store growth ({share}) | {per_m:.0f} MiB per million events on disk "
             f"({float(g['bytes_per_event']):.0f} B/event; measured over {int(g['events']):,} events, "
             f"{float(g['events_per_second']):.0f} events/s with flushes) |")

for sc, g in zip(R.get("store-count-scan", []), sg):
    every = int(g.get("matched_every", "20"))
    share = "every event matched" if every == 1 else f"one event in {every} matched"
    L.append(f"| counting the events once per process (`status`, the daemon's first `/metrics`; {share}) | "
             f"{float(sc['seconds']) * 1000:.0f} ms for {int(sc['events']):,} events (a full scan); then kept by the writes |")

# Criterion estimates (mean).
rows = []
for bj in sorted(glob.glob(os.path.join(CRIT, "**", "new", "benchmark.json"), recursive=True)):
    b = json.load(open(bj))
    e = json.load(open(os.path.join(os.path.dirname(bj), "estimates.json")))
    mean = e["mean"]["point_estimate"]
    thr = b.get("throughput") or {}
    per = ""
    if "Elements" in thr:
        per = f"{thr['Elements'] / (mean / 1e9):,.0f} elements/s"
    elif "Bytes" in thr:
        per = f"{thr['Bytes'] / (mean / 1e9) / 2**20:,.0f} MiB/s"
    rows.append((b["full_id"], fmt_time(mean), per))
if rows:
    L.append("\n## Criterion (`cargo bench --bench veille`), mean per iteration\n")
    L.append("| benchmark | time | throughput |")
    L.append("|---|---|---|")
    for r in rows:
        L.append(f"| `{r[0]}` | {r[1]} | {r[2]} |")

fp = R.get("feedparser-parse")
if fp:
    v1, v2 = R.get("feeds-poll1", {}), R.get("feeds-poll2", {})
    imp = R.get("feedparser-import", {})
    L.append("\n## Side by side, same loopback corpus\n")
    L.append(f"veille figures are `veille poll` over the {c.get('feeds')} feeds alone (no EU services), "
             "whole process: HTTP, parsing, events, matching against the "
             f"{c.get('watchlists', 'shipped')} shipped watchlists and the bench's own (its dossiers), "
             "sled transaction and flush.\n")
    L.append("| tool | what it does | wall | CPU | peak RSS | CPU ratio to veille |")
    L.append("|---|---|---|---|---|---|")
    L.append(f"| veille | first poll | {v1['wall_s']:.2f} s | {v1['cpu_s']:.3f} s | {v1['max_rss_mb']} MB | 1× |")
    L.append(f"| veille | unchanged poll (304) | {v2['wall_s']:.2f} s | {v2['cpu_s']:.3f} s | {v2['max_rss_mb']} MB | — |")
    L.append(f"| feedparser {fp.get('entries')} entries | parse loop only (files in memory) | {fp['parse_wall_s']:.2f} s | "
             f"{fp['parse_cpu_s']:.2f} s | — | {ratio(fp['parse_cpu_s'], v1['cpu_s'])} |")
    L.append(f"| feedparser | whole process (Python start, import, read, parse) | {fp['wall_s']:.2f} s | "
             f"{fp['cpu_s']:.2f} s | {fp['max_rss_mb']} MB | {ratio(fp['cpu_s'], v1['cpu_s'])} |")
    if imp:
        L.append(f"| (python -c 'import feedparser') | fixed cost | {imp['wall_s']:.2f} s | {imp['cpu_s']:.2f} s | {imp['max_rss_mb']} MB | — |")
    for tool in ("urlwatch", "rss2email"):
        for n, what in (("1", "first poll"), ("2", "unchanged poll")):
            r = R.get(f"{tool}-poll{n}")
            if not r:
                continue
            base = v1 if n == "1" else v2
            q = r.get("requests", {})
            L.append(f"| {tool} | {what} ({q.get('ok', '?')} × 200, {q.get('not_modified', '?')} × 304; exit {r['exit']}) | "
                     f"{r['wall_s']:.2f} s | {r['cpu_s']:.2f} s | {r['max_rss_mb']} MB | {ratio(r['cpu_s'], base['cpu_s'])} |")
    # `parse/corpus_N_feeds` (parse alone), not `..._to_matches` (parse, events, matching).
    corpus_rows = [r for r in rows if re.fullmatch(r"parse/corpus_[0-9]+_feeds", r[0])]
    if corpus_rows:
        # Mean wall time of one single-threaded iteration ≈ its CPU time.
        est = json.load(open(os.path.join(CRIT, "parse", corpus_rows[0][0].split("/")[1], "new", "estimates.json")))
        vparse = est["mean"]["point_estimate"] / 1e9
        L.append(f"| veille, parse only | `sources::feed::parse` over the same {c.get('feeds')} files in memory "
                 f"(criterion `{corpus_rows[0][0]}`) | {vparse:.2f} s | {vparse:.2f} s | — | "
                 f"feedparser parse loop: {ratio(fp['parse_cpu_s'], vparse)} |")
        L.append(f"\nParse alone against parse alone: feedparser {fp['parse_cpu_s']:.2f} s CPU, veille {vparse:.2f} s: "
                 f"{ratio(fp['parse_cpu_s'], vparse)} — (no budget: for comparison).")
    L.append(f"\nWhole veille poll (HTTP, parse, match, store) against feedparser's parse loop alone: "
             f"{ratio(fp['parse_cpu_s'], v1['cpu_s'])} — {ok(fp['parse_cpu_s'] >= 5 * v1['cpu_s'])} against the 5× budget.")

rp = R.get("ratio-pairs")
if rp and rp.get("median"):
    each = ", ".join(f"{p['feedparser_parse_cpu_s']:.2f} s / {p['veille_cpu_s']:.3f} s" for p in rp["pairs"])
    L.append(f"\nWhole veille poll against feedparser's parse loop in the same minutes ({len(rp['pairs'])} "
             f"interleaved pairs, feedparser / veille CPU: {each}): median **{rp['median']:.1f}×**, "
             f"from {rp['min']:.1f}× to {rp['max']:.1f}× — {ok(rp['median'] >= 5)} against the 5× budget.")

if idle.get("rss_samples_mb"):
    L.append("\nIdle daemon RSS over time (s, MB): " + ", ".join(f"{t}: {v}" for t, v in idle["rss_samples_mb"]) + ".")
sm = idle.get("smaps")
if sm:
    L.append(f"\nIdle daemon resident memory by kind (smaps): binary code and data "
             f"{sm['binary_kb'] / 1024:.1f} MB, other files {sm['other_files_kb'] / 1024:.1f} MB, "
             f"anonymous {sm['anon_kb'] / 1024:.1f} MB, main stack {sm['stack_kb'] / 1024:.1f} MB; "
             f"threads: {', '.join(idle.get('threads') or [])}. Largest anonymous mappings (resident / size, kB): "
             + ", ".join(f"{m['rss_kb']} / {m['size_kb']}" for m in sm["largest_anon"]) + ".")
L.append("\nRaw figures: `target/bench/results.json`; each run's output: `target/bench/out-*.txt`.")
open(OUT, "w").write("\n".join(L) + "\n")
print(f"wrote {OUT}")
