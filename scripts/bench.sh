#!/usr/bin/env bash
# veille performance figures on this machine; writes target/bench-report.md.
#
#   scripts/bench.sh            everything (≈ 17 min on 2 cores: release and bench builds, 2 min idle window)
#
# Steps: release build; criterion benches (`cargo bench --bench veille`); two one-shot store
# growth measurements (1,000,000 events into sled, one in 20 matched, then all matched); whole-process runs against a loopback
# server (`scripts/bench/run.py`: veille poll first/unchanged, cold start, idle daemon,
# and the peers feedparser, urlwatch and rss2email from PyPI in target/bench-venv).
#
# Environment: BENCH_FEEDS (500),
# BENCH_ITEMS (items per feed, 20), BENCH_IDLE_SECONDS (120), BENCH_COLD_RUNS (5),
# BENCH_GROWTH_EVENTS (1000000; 0 skips), BENCH_CRITERION (1; 0 skips),
# BENCH_SKIP_PEERS (0; 1 skips the peers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The real captures the corpus is made of, inside the repository.
FIXTURES=$ROOT/tests/fixtures/captured
WORK=$ROOT/target/bench
mkdir -p "$WORK"

if [ ! -x /usr/bin/time ]; then
  echo "bench: installing GNU time (for peak RSS)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y time >/dev/null; else sudo apt-get install -y time >/dev/null; fi
fi

echo "bench: release build" >&2
cargo build --release --locked --quiet
VEILLE=$ROOT/target/release/veille

# The loopback corpus (run.py regenerates the same bytes): criterion parses it too.
python3 scripts/bench/corpus.py "$FIXTURES" "$WORK/corpus" "${BENCH_FEEDS:-500}" "${BENCH_ITEMS:-20}" >&2
export VEILLE_BENCH_CORPUS=$WORK/corpus/feeds

if [ "${BENCH_CRITERION:-1}" = 1 ]; then
  echo "bench: criterion benches" >&2
  rm -rf target/criterion
  cargo bench --locked --bench veille 2>&1 | tee "$WORK/criterion.txt" >&2
fi

GROWTH_FILE=$WORK/store-growth.txt
if [ "${BENCH_GROWTH_EVENTS:-1000000}" != 0 ]; then
  mkdir -p "$WORK/growth"
  : > "$GROWTH_FILE"
  # One event in 20 matched (the others are not written), then every event matched.
  for every in 20 1; do
    echo "bench: store growth, ${BENCH_GROWTH_EVENTS:-1000000} events, one in $every matched" >&2
    VEILLE_STORE_GROWTH=${BENCH_GROWTH_EVENTS:-1000000} VEILLE_STORE_GROWTH_MATCH_EVERY=$every \
      VEILLE_STORE_GROWTH_DIR=$WORK/growth \
      cargo bench --locked --bench veille 2>/dev/null | tee -a "$GROWTH_FILE" >&2
  done
fi

VENV=$ROOT/target/bench-venv
if [ "${BENCH_SKIP_PEERS:-0}" != 1 ] && [ ! -x "$VENV/bin/r2e" ]; then
  echo "bench: creating $VENV (feedparser, urlwatch, rss2email from PyPI)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet feedparser==6.0.14 urlwatch==2.29 rss2email==3.14
fi

echo "bench: whole-process runs" >&2
python3 scripts/bench/run.py "$VEILLE" "$FIXTURES" "$WORK" "$VENV" "$ROOT/target/bench-report.md" "$GROWTH_FILE"
cat target/bench-report.md
