#!/usr/bin/env bash
# The vendored feed-rs against feed-rs 2.4.0 as published (vendor/README.md, "Checked"):
#   scripts/check-feed-rs.sh [FEED_FILE...]   (default: $VEILLE_FIXTURES/generic-rss/*.xml, the
#                                              fixtures defaulting to ../shared/fixtures, and the
#                                              bench corpus, if scripts/bench.sh made it)
# Builds a scratch program in target/check-feed-rs with both crates (the vendored copy's
# version renamed, since one build cannot hold two feed-rs 2.4.0) and compares their output.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$repo/target/check-feed-rs"
rm -rf "$work/feed-rs" "$work/src"
mkdir -p "$work"
cp -r "$repo/vendor/feed-rs" "$work/feed-rs"
sed -i 's/^version = "2.4.0"$/version = "2.4.0-vendored"/' "$work/feed-rs/Cargo.toml"
cp "$repo/scripts/check-feed-rs/Cargo.toml.in" "$work/Cargo.toml"
cp -r "$repo/scripts/check-feed-rs/src" "$work/src"
cargo build --quiet --release --manifest-path "$work/Cargo.toml"
if [ "$#" -eq 0 ]; then
    set -- "${VEILLE_FIXTURES:-$repo/../shared/fixtures}"/generic-rss/*.xml
    if [ -d "$repo/target/bench/corpus/feeds" ]; then
        set -- "$@" "$repo"/target/bench/corpus/feeds/*.xml
    fi
fi
"$work/target/release/check-feed-rs" "$@"
