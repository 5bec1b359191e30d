#!/usr/bin/env python3
"""Whole-process measurements for scripts/bench.sh (stdlib only; peers run in the venv).

Runs, against a loopback server (serve.py) holding N feeds made from the real generic-rss
fixtures plus the real EP API / OEIL / CELLAR captures:
  - veille poll, first and unchanged second, over N feeds + 3 EU services (full), and
    over the N feeds alone (the like-for-like comparison with the peers);
  - cold start: exec to the first request arriving at the server (median of R runs);
  - idle daemon (`veille run`) RSS and CPU after W seconds with 50 sources;
  - one 16 MiB feed of 50,000 items that all match a shipped watchlist: peak RSS and CPU
    of its first poll (from an empty store) and of the unchanged second one;
  - peers from PyPI in the venv: feedparser parsing the same files (no HTTP), urlwatch
    and rss2email polling the same URLs (first and unchanged second run);
and writes the results as JSON and a markdown report.

usage: run.py VEILLE FIXTURES WORKDIR VENV REPORT [store-growth-file]
env: BENCH_FEEDS (500), BENCH_ITEMS (20), BENCH_IDLE_SECONDS (120), BENCH_COLD_RUNS (5),
     BENCH_POLL_RUNS (5: each pair of polls from an empty store; medians reported),
     BENCH_PEER_FEEDS (= BENCH_FEEDS), BENCH_DAEMON_EVERY (15s: every source's interval in
     the daemon-steps measurement), BENCH_DAEMON_STEPS (4: unchanged steps measured),
     BENCH_RATIO_PAIRS (5: interleaved pairs of a first veille poll and feedparser's parse
     loop, for the CPU ratio measured in the same minutes; 0 skips them),
     BENCH_ONLY (comma-separated steps among feeds, full, daemon, cold, peers, ratio, idle,
     bigfeed; default all: e.g. BENCH_ONLY=idle measures the idle daemon alone),
     BENCH_BIG_ITEMS (50000: the items of the one large feed of the bigfeed step, all
     matching a shipped watchlist, in 16 MiB)
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Absolute: some steps run with another working directory (urlwatch, rss2email).
VEILLE, FIXTURES, WORK, VENV, REPORT = map(os.path.abspath, sys.argv[1:6])
GROWTH = sys.argv[6] if len(sys.argv) > 6 else None
FEEDS = int(os.environ.get("BENCH_FEEDS", "500"))
ITEMS = int(os.environ.get("BENCH_ITEMS", "20"))
IDLE = int(os.environ.get("BENCH_IDLE_SECONDS", "120"))
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
PEER_FEEDS = int(os.environ.get("BENCH_PEER_FEEDS", str(FEEDS)))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
POLL_RUNS = max(1, int(os.environ.get("BENCH_POLL_RUNS", "5")))
RATIO_PAIRS = int(os.environ.get("BENCH_RATIO_PAIRS", "5"))
DAEMON_EVERY = os.environ.get("BENCH_DAEMON_EVERY", "15s")
DAEMON_UNCHANGED_STEPS = int(os.environ.get("BENCH_DAEMON_STEPS", "4"))
DAEMON_SECONDS = 30 + 90 * DAEMON_UNCHANGED_STEPS
CORPUS = os.path.join(WORK, "corpus")
BIG_ITEMS = int(os.environ.get("BENCH_BIG_ITEMS", "50000"))
BIG_BYTES = 16 * 1024 * 1024
RESULTS = {}

BENCH_DOSSIERS = [
    "2016/0132(COD)", "2025/0260(COD)", "2025/0581(CNS)",  # EP API captures
    "2024/0258(COD)", "2023/2019(INI)", "2025/0229(NLE)", "2022/2201(INI)",  # OEIL
    "2018/0172(COD)", "2013/0449(COD)", "2009/0162(COD)",  # CELLAR
]


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def perf_works():
    """Whether `perf stat` can count task-clock here (a container may forbid it)."""
    try:
        p = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
        return p.returncode == 0 and b"task-clock" in p.stderr
    except (OSError, subprocess.TimeoutExpired):
        return False


PERF = perf_works()


def timed(label, argv, cwd=None, env=None, ok=(0,)):
    """Run argv under /usr/bin/time -v (and `perf stat -e task-clock` when it works); return
    wall/user/sys/rss. /usr/bin/time's user and sys are counted in 10 ms ticks, too coarse
    for a 50 ms poll: with perf, cpu_s is the task-clock of every thread, to the ns."""
    out = os.path.join(WORK, "time-%s.txt" % label)
    clock = os.path.join(WORK, "task-clock-%s.txt" % label)
    wrap = ["perf", "stat", "-x,", "-e", "task-clock", "-o", clock, "--"] if PERF else []
    t0 = time.monotonic()
    p = subprocess.run(wrap + ["/usr/bin/time", "-v", "-o", out] + argv, cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    text = open(out).read()

    def field(name):
        m = re.search(re.escape(name) + r":\s*(.+)", text)
        return m.group(1).strip() if m else None

    el = field("Elapsed (wall clock) time (h:mm:ss or m:ss)") or "0:0"
    secs = 0.0
    for part in el.split(":"):
        secs = secs * 60 + float(part)
    r = {
        "wall_s": round(secs, 3),
        "user_s": float(field("User time (seconds)") or 0),
        "sys_s": float(field("System time (seconds)") or 0),
        "max_rss_mb": round(int(field("Maximum resident set size (kbytes)") or 0) / 1024, 1),
        "exit": p.returncode,
    }
    r["cpu_s"] = round(r["user_s"] + r["sys_s"], 3)
    r["cpu_source"] = "rusage (10 ms ticks)"
    if PERF and os.path.exists(clock):
        for line in open(clock):
            f = line.split(",")
            if len(f) > 2 and f[2].startswith("task-clock"):
                r["rusage_cpu_s"] = r["cpu_s"]
                r["cpu_s"] = round(float(f[0]) / 1000, 4)
                r["cpu_source"] = "perf task-clock"
    with open(os.path.join(WORK, "out-%s.txt" % label), "wb") as fh:
        fh.write(p.stdout + b"\n--- stderr\n" + p.stderr)
    if p.returncode not in ok:
        log(f"{label}: exit {p.returncode}\n{p.stderr.decode(errors='replace')[-2000:]}")
    log(f"{label}: {r}")
    RESULTS[label] = r
    return r, p


def server_stats(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats") as r:
        return dict(kv.split("=") for kv in r.read().decode().split())


def install(name, port, feeds, eu, every=None):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "watchlists"))
    for f in os.listdir(os.path.join(REPO, "watchlists")):
        if f.endswith(".toml"):
            shutil.copy(os.path.join(REPO, "watchlists", f), os.path.join(d, "watchlists", f))
    with open(os.path.join(d, "watchlists", "bench-dossiers.toml"), "w") as fh:
        fh.write('# The dossiers whose captures the bench server serves.\nname = "Bench dossiers"\n'
                 'recipients = ["bench@example.org"]\ndossiers = [%s]\n'
                 % ", ".join('"%s"' % r for r in BENCH_DOSSIERS))
    base = f"http://127.0.0.1:{port}"
    c = [
        'timezone = "Europe/Brussels"', 'watchlists_dir = "watchlists"',
        "[storage]", 'path = "data/veille.sled"', 'cache_capacity = "8MiB"',
        "[http]", 'user_agent = "veille-bench"', 'timeout = "60s"', 'max_body = "16MiB"',
        'per_host_interval = "0s"', "per_host_concurrency = 8", "concurrency = 8",
        "[mail]", 'from = "Veille <veille@example.org>"', 'transport = "file"', 'outbox_dir = "outbox"',
        # The captures' items are months or years old; on a source's first poll such items
        # are not news (they would be kept as seen only). The bench measures the work of
        # items that are news, as every new item is once a feed is known.
        "[digest]", 'backfill = "36500d"',
    ]
    for i in range(feeds):
        c += ["[[sources]]", f'id = "f{i:04d}"', 'kind = "feed"', f'url = "{base}/feeds/f{i:04d}.xml"', f'every = "{every or "1h"}"']
    if eu:
        c += ["[[sources]]", 'id = "ep-api"', 'kind = "ep-api"', f'url = "{base}/api/v2"', f'every = "{every or "6h"}"']
        c += ["[[sources]]", 'id = "oeil"', 'kind = "oeil"', f'url = "{base}"', f'every = "{every or "1d"}"']
        c += ["[[sources]]", 'id = "cellar"', 'kind = "cellar"', f'url = "{base}"', f'every = "{every or "1d"}"']
    with open(os.path.join(d, "config.toml"), "w") as fh:
        fh.write("\n".join(c) + "\n")
    return d


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def veille_env():
    """The environment veille runs in under its systemd unit, whatever the bench's shell has.
    A developer's RUST_BACKTRACE=1 makes every error capture a backtrace, and the first
    capture loads the unwinder's tables: +0.4 MB for the idle daemon, measured side by side."""
    env = dict(os.environ)
    for name in ("VEILLE_CONFIG", "RUST_BACKTRACE", "RUST_LIB_BACKTRACE"):
        env.pop(name, None)
    env["RUST_LOG"] = "warn"
    return env


def poll_pair(name, app, port):
    """A first poll on an empty store, then an unchanged one; POLL_RUNS times, each from an
    empty store. The record kept for each is the run of median CPU, with every run's CPU."""
    cfg = os.path.join(app, "config.toml")
    firsts, seconds = [], []
    for i in range(POLL_RUNS):
        for d in ("data", "outbox"):
            shutil.rmtree(os.path.join(app, d), ignore_errors=True)
        s0 = server_stats(port)
        first, p = timed(f"{name}-poll1", [VEILLE, "--config", cfg, "poll"], env=veille_env(), ok=(0, 2))
        s1 = server_stats(port)
        second, _ = timed(f"{name}-poll2", [VEILLE, "--config", cfg, "poll"], env=veille_env(), ok=(0, 2))
        s2 = server_stats(port)
        first["requests"] = {k: int(s1[k]) - int(s0[k]) for k in s0}
        second["requests"] = {k: int(s2[k]) - int(s1[k]) for k in s1}
        first["summary_tail"] = p.stdout.decode(errors="replace").strip().splitlines()[-3:]
        firsts.append(first)
        seconds.append(second)
    RESULTS[f"{name}-store"] = {"bytes": du(os.path.join(app, "data"))}
    out = []
    for label, runs in ((f"{name}-poll1", firsts), (f"{name}-poll2", seconds)):
        median = sorted(runs, key=lambda r: r["cpu_s"])[len(runs) // 2]
        median = dict(median, cpu_runs=[r["cpu_s"] for r in runs], runs=len(runs))
        RESULTS[label] = median
        out.append(median)
    return out[0], out[1]


def ratio_pairs(port):
    """The feedparser budget is a ratio of CPU times, and this machine's speed drifts within an
    hour: a first `veille poll` of the feeds (from an empty store) and feedparser's parse
    loop, alternately, RATIO_PAIRS times; each pair's ratio is taken in the same minute."""
    py = os.path.join(VENV, "bin", "python")
    app = install("app-ratio", port, FEEDS, False)
    cfg = os.path.join(app, "config.toml")
    pairs = []
    for i in range(RATIO_PAIRS):
        for d in ("data", "outbox"):
            shutil.rmtree(os.path.join(app, d), ignore_errors=True)
        v, _ = timed("ratio-veille", [VEILLE, "--config", cfg, "poll"], env=veille_env(), ok=(0, 2))
        f, p = timed("ratio-feedparser", [py, os.path.join(HERE, "peer_feedparser.py"),
                                          os.path.join(CORPUS, "feeds"), str(FEEDS)])
        parse = json.loads(p.stdout.decode().strip().splitlines()[-1])["parse_cpu_s"]
        pairs.append({"veille_cpu_s": v["cpu_s"], "feedparser_parse_cpu_s": parse,
                      "ratio": round(parse / v["cpu_s"], 2) if v["cpu_s"] else None})
    ratios = sorted(r["ratio"] for r in pairs if r["ratio"])
    RESULTS["ratio-pairs"] = {"pairs": pairs, "median": statistics.median(ratios) if ratios else None,
                              "min": ratios[0] if ratios else None, "max": ratios[-1] if ratios else None}
    log(f"ratio pairs: {RESULTS['ratio-pairs']}")


def cold_start(app):
    cfg = os.path.join(app, "config.toml")
    marker = os.path.join(CORPUS, "first-request")
    samples = []
    for _ in range(COLD_RUNS):
        if os.path.exists(marker):
            os.remove(marker)
        t0 = time.time_ns()
        p = subprocess.Popen([VEILLE, "--config", cfg, "poll"], env=veille_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p.wait()
        t1 = int(open(marker).read())
        samples.append((t1 - t0) / 1e6)
    RESULTS["cold-start"] = {"runs_ms": [round(s, 1) for s in samples],
                             "median_ms": round(statistics.median(samples), 1),
                             "min_ms": round(min(samples), 1)}
    log("cold start", RESULTS["cold-start"])


def stop_daemon(p):
    """SIGTERM, as systemd would; SIGKILL if it has not exited 15 s later."""
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def daemon_steps(port):
    """The daemon's own poll steps, from its log line per step (sources polled, CPU of the
    whole process during the step, every thread): its first step, then the steps that poll
    the same sources again, unchanged. No process start, configuration or store opening in
    either: what polling costs the service that runs for years. Every source is polled
    every DAEMON_EVERY; sources whose feed does not parse are on backoff and come back later,
    so the unchanged cost is reported per source polled, times the number of sources."""
    app = install("app-daemon", port, FEEDS, True, every=DAEMON_EVERY)
    cfg = os.path.join(app, "config.toml")
    n_sources = FEEDS + 3
    logpath = os.path.join(WORK, "out-daemon-steps.txt")
    env = dict(veille_env(), RUST_LOG="warn,veille::app::daemon=info")
    with open(logpath, "wb") as logf:
        p = subprocess.Popen([VEILLE, "--config", cfg, "--log-format", "json", "run"], env=env,
                             stdout=logf, stderr=logf)
        steps = []
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < DAEMON_SECONDS and p.poll() is None:
                time.sleep(1)
                steps = []
                for line in open(logpath, errors="replace"):
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    f = rec.get("fields", {})
                    if f.get("message") == "poll step":
                        steps.append(f)
                if len(steps) > DAEMON_UNCHANGED_STEPS:
                    break
        finally:
            stop_daemon(p)
    if not steps:
        log("daemon steps: none logged; see", logpath)
        return
    first, later = steps[0], steps[1:]
    polled = sum(s["sources"] for s in later)
    cpu = sum(s["cpu_ms"] for s in later)
    RESULTS["daemon-steps"] = {
        "sources": n_sources, "every": DAEMON_EVERY, "first": first, "unchanged_steps": later,
        "unchanged_cpu_ms_per_source": cpu / polled if polled else None,
        "unchanged_cpu_ms_all_sources": cpu / polled * n_sources if polled else None,
        "all_unchanged": all(s["unchanged"] == s["requests"] and s["new_events"] == 0 for s in later),
    }
    log("daemon steps", RESULTS["daemon-steps"])


def idle_daemon(port):
    app = install("app-idle", port, 47, True)  # 47 feeds + 3 EU services = 50 sources
    cfg = os.path.join(app, "config.toml")
    logf = open(os.path.join(WORK, "out-idle-daemon.txt"), "wb")
    p = subprocess.Popen([VEILLE, "--config", cfg, "run"], env=veille_env(), stdout=logf, stderr=logf)
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < IDLE and p.poll() is None:
        time.sleep(min(10, IDLE))
        st = proc_status(p.pid)
        if st:
            samples.append((round(time.monotonic() - t0), st["VmRSS"]))
    st = proc_status(p.pid) or {}
    cpu = proc_cpu(p.pid)
    smaps = proc_smaps(p.pid)
    threads = proc_threads(p.pid)
    stop_daemon(p)
    RESULTS["idle"] = {
        "seconds": IDLE, "sources": 50,
        "rss_mb": round(st.get("VmRSS", 0) / 1024, 1),
        "peak_rss_mb": round(st.get("VmHWM", 0) / 1024, 1),
        "cpu_s": cpu, "exit": p.returncode, "threads": threads, "smaps": smaps,
        "rss_samples_mb": [(t, round(kb / 1024, 1)) for t, kb in samples],
    }
    log("idle", RESULTS["idle"])


def proc_status(pid):
    try:
        out = {}
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
        return out
    except OSError:
        return None


def proc_smaps(pid):
    """Resident memory by kind (binary's file pages, other files, anonymous, stacks) and
    the largest anonymous mappings, from /proc/PID/smaps (kB)."""
    try:
        lines = open(f"/proc/{pid}/smaps").read().splitlines()
    except OSError:
        return None
    exe = os.path.realpath(f"/proc/{pid}/exe")
    maps, cur = [], None
    for line in lines:
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            cur = {"range": head[0], "size_kb": (hi - lo) // 1024, "perms": head[1],
                   "name": head[5] if len(head) > 5 else "", "rss_kb": 0, "anon_kb": 0}
            maps.append(cur)
        elif head and head[0] == "Rss:":
            cur["rss_kb"] = int(head[1])
        elif head and head[0] == "Anonymous:":
            cur["anon_kb"] = int(head[1])
    out = {"binary_kb": 0, "other_files_kb": 0, "anon_kb": 0, "stack_kb": 0}
    for m in maps:
        if m["name"] == exe:
            out["binary_kb"] += m["rss_kb"] - m["anon_kb"]
            out["anon_kb"] += m["anon_kb"]
        elif m["name"].startswith("/"):
            out["other_files_kb"] += m["rss_kb"] - m["anon_kb"]
            out["anon_kb"] += m["anon_kb"]
        elif m["name"] == "[stack]":
            out["stack_kb"] += m["rss_kb"]
        else:
            out["anon_kb"] += m["rss_kb"]
    out["largest_anon"] = [
        {k: m[k] for k in ("range", "size_kb", "rss_kb", "perms", "name")}
        for m in sorted(maps, key=lambda m: -m["rss_kb"])
        if not m["name"].startswith("/")][:8]
    return out


def proc_threads(pid):
    try:
        return sorted(open(f"/proc/{pid}/task/{t}/comm").read().strip()
                      for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


def proc_cpu(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, IndexError):
        return None


def peers(port):
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        sys.exit(f"run.py: no peer venv at {VENV}: scripts/bench.sh creates it "
                 "(python3 -m venv, then pip install feedparser urlwatch rss2email)")
    feeds = [f"f{i:04d}.xml" for i in range(PEER_FEEDS)]
    base = f"http://127.0.0.1:{port}/feeds/"
    # feedparser alone, on the files (no HTTP).
    r, p = timed("feedparser-parse", [py, os.path.join(HERE, "peer_feedparser.py"),
                                      os.path.join(CORPUS, "feeds"), str(PEER_FEEDS)])
    r.update(json.loads(p.stdout.decode().strip().splitlines()[-1]))
    # Python itself with feedparser imported and nothing parsed: the fixed cost.
    timed("feedparser-import", [py, "-c", "import feedparser"])
    # urlwatch: one url job per feed.
    d = os.path.join(WORK, "urlwatch")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "urls.yaml"), "w") as fh:
        fh.write("\n---\n".join(f"name: {f}\nurl: {base}{f}" for f in feeds) + "\n")
    uw = [os.path.join(VENV, "bin", "urlwatch"), "--urls", os.path.join(d, "urls.yaml"),
          "--config", os.path.join(d, "urlwatch.yaml"), "--cache", os.path.join(d, "cache.db"),
          "--hooks", os.path.join(d, "hooks.py")]
    env = dict(os.environ, HOME=d, XDG_CONFIG_HOME=d, XDG_CACHE_HOME=d)
    s0 = server_stats(port)
    timed("urlwatch-poll1", uw, cwd=d, env=env, ok=(0, 1))
    s1 = server_stats(port)
    timed("urlwatch-poll2", uw, cwd=d, env=env, ok=(0, 1))
    s2 = server_stats(port)
    RESULTS["urlwatch-poll1"]["requests"] = {k: int(s1[k]) - int(s0[k]) for k in s0}
    RESULTS["urlwatch-poll2"]["requests"] = {k: int(s2[k]) - int(s1[k]) for k in s1}
    # rss2email: the config and data files written directly (500 `r2e add` would take
    # minutes of Python start-ups); `run --no-send` fetches, parses and records, no mail.
    d = os.path.join(WORK, "rss2email")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    r2e = os.path.join(VENV, "bin", "r2e")
    cfg, data = os.path.join(d, "r2e.cfg"), os.path.join(d, "data.json")
    subprocess.run([r2e, "-c", cfg, "-d", data, "new", "bench@example.org"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(cfg, "a") as fh:
        for f in feeds:
            fh.write(f"\n[feed.{f[:-4]}]\nurl = {base}{f}\n")
    with open(data, "w") as fh:
        json.dump({"version": 2, "feeds": [{"name": f[:-4], "etag": None, "modified": None, "seen": {}} for f in feeds]}, fh)
    s0 = server_stats(port)
    timed("rss2email-poll1", [r2e, "-c", cfg, "-d", data, "run", "--no-send"], cwd=d, ok=(0, 1))
    s1 = server_stats(port)
    timed("rss2email-poll2", [r2e, "-c", cfg, "-d", data, "run", "--no-send"], cwd=d, ok=(0, 1))
    s2 = server_stats(port)
    RESULTS["rss2email-poll1"]["requests"] = {k: int(s1[k]) - int(s0[k]) for k in s0}
    RESULTS["rss2email-poll2"]["requests"] = {k: int(s2[k]) - int(s1[k]) for k in s1}


def big_feed(path, n, size):
    """One RSS feed of n items, all about state aid (the shipped state-aid watchlist matches
    each), their descriptions padded so that the body is just under `size` bytes (the
    bench configuration's max_body is 16 MiB)."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            b"<title>State aid decisions</title><link>https://competition.example.eu/</link>"
            b"<description>Every decision</description>\n")
    tail = b"</channel></rss>\n"

    def item(k, pad):
        return (b"<item><title>State aid: Commission approves scheme SA.%d</title>"
                b"<link>https://competition.example.eu/decisions/SA.%d</link><guid>urn:bench:sa:%d</guid>"
                b"<pubDate>Mon, 02 Nov 2026 10:00:00 +0100</pubDate><description>%s</description></item>\n"
                % (k, k, k, pad))

    base = sum(len(item(k, b"")) for k in range(n))
    per = max(0, (size - 4096 - len(head) - len(tail) - base) // n)
    words = b"The Commission found the measure in line with the rules on regional aid. " * (per // 70 + 1)
    body = head + b"".join(item(k, words[:per]) for k in range(n)) + tail
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(body)
    return len(body)


def big_feed_poll(port, size):
    """`veille poll` of one large feed whose every item matches: the first poll from an
    empty store (every event recorded and enqueued), then the unchanged one."""
    app = install("app-bigfeed", port, 0, False)
    cfg = os.path.join(app, "config.toml")
    with open(cfg, "a") as fh:
        fh.write("\n".join(["[[sources]]", 'id = "big"', 'kind = "feed"',
                            f'url = "http://127.0.0.1:{port}/big/big.xml"', 'every = "1h"']) + "\n")
    first, p = timed("bigfeed-poll1", [VEILLE, "--config", cfg, "poll"], env=veille_env(), ok=(0, 2))
    first["summary_tail"] = p.stdout.decode(errors="replace").strip().splitlines()[-3:]
    first["items"], first["bytes"] = BIG_ITEMS, size
    second, p = timed("bigfeed-poll2", [VEILLE, "--config", cfg, "poll"], env=veille_env(), ok=(0, 2))
    second["summary_tail"] = p.stdout.decode(errors="replace").strip().splitlines()[-3:]


def main():
    os.makedirs(WORK, exist_ok=True)
    shutil.rmtree(CORPUS, ignore_errors=True)
    gen = subprocess.run([sys.executable, os.path.join(HERE, "corpus.py"), FIXTURES, CORPUS, str(FEEDS), str(ITEMS)],
                         check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    shipped = sum(f.endswith(".toml") for f in os.listdir(os.path.join(REPO, "watchlists")))
    RESULTS["corpus"] = {"feeds": FEEDS, "items_per_feed": ITEMS, "generated": gen,
                         "dossiers": BENCH_DOSSIERS, "watchlists": shipped}
    log(gen)
    big_size = None
    if not ONLY or "bigfeed" in ONLY:
        big_size = big_feed(os.path.join(CORPUS, "big", "big.xml"), BIG_ITEMS, BIG_BYTES)
        RESULTS["corpus"]["big_feed"] = {"items": BIG_ITEMS, "bytes": big_size}
        log(f"big feed: {BIG_ITEMS} items, {big_size} bytes")
    server = subprocess.Popen([sys.executable, os.path.join(HERE, "serve.py"), FIXTURES, CORPUS])
    try:
        port_file = os.path.join(CORPUS, "port")
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        port = int(open(port_file).read())
        RESULTS["machine"] = {
            "cpus": os.cpu_count(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "load_before": os.getloadavg(),
            "veille": subprocess.run([VEILLE, "--version"], stdout=subprocess.PIPE).stdout.decode().strip(),
        }
        def step(name):
            return not ONLY or name in ONLY
        if step("feeds"):
            feeds_app = install("app-feeds", port, FEEDS, False)
            poll_pair("feeds", feeds_app, port)
        if step("full") or step("cold"):
            full_app = install("app-full", port, FEEDS, True)
            poll_pair("full", full_app, port)
        if step("cold"):
            cold_start(full_app)
        if step("daemon"):
            daemon_steps(port)
        if step("peers") and os.environ.get("BENCH_SKIP_PEERS") != "1":
            peers(port)
        if step("ratio") and RATIO_PAIRS > 0 and os.environ.get("BENCH_SKIP_PEERS") != "1":
            ratio_pairs(port)
        if step("idle") and IDLE > 0:
            idle_daemon(port)
        if step("bigfeed"):
            big_feed_poll(port, big_size)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    if GROWTH and os.path.exists(GROWTH):
        for line in open(GROWTH):
            if line.startswith("store-growth-final"):
                RESULTS.setdefault("store-growth", []).append(
                    dict(kv.split("=") for kv in line.split()[1:]))
            if line.startswith("store-count-scan"):
                RESULTS.setdefault("store-count-scan", []).append(
                    dict(kv.split("=") for kv in line.split()[1:]))
    with open(os.path.join(WORK, "results.json"), "w") as fh:
        json.dump(RESULTS, fh, indent=2)
    subprocess.run([sys.executable, os.path.join(HERE, "report.py"), os.path.join(WORK, "results.json"), REPORT], check=True)


if __name__ == "__main__":
    main()
