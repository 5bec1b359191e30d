//! Criterion benches of veille's pure core and store (run: `cargo bench --bench veille`;
//! the whole-process figures and the peers are in `scripts/bench.sh`).
//!
//! Groups: `parse` (feeds scaled to 1,000 items, EP API and OEIL per dossier, the 1.3 MB
//! CELLAR notice), `matching` (100,000 events against 1, 10, 50 and 200 watchlists),
//! `digest` (50 digests of 200 events, built and rendered), `store` (recording batches of
//! events with dedupe in sled). The real payloads are read from
//! `tests/fixtures/captured`.
//!
//! `VEILLE_STORE_GROWTH=N cargo bench --bench veille` does not run criterion: it records N
//! events once (1,000 per transaction, a tenth of them already known) in a fresh sled
//! database and prints the time taken and the size on disk; with
//! `VEILLE_STORE_GROWTH_KEEP=DIR` the database is kept as `DIR/veille.sled`.

mod corpus;
mod digest;
mod matching;
mod parse;
mod store;

use criterion::Criterion;

fn main() {
    if let Ok(n) = std::env::var("VEILLE_STORE_GROWTH") {
        let n: usize = n.parse().unwrap_or(1_000_000);
        let match_every: u64 = std::env::var("VEILLE_STORE_GROWTH_MATCH_EVERY")
            .ok()
            .and_then(|k| k.parse().ok())
            .unwrap_or(20);
        store::growth(n, match_every.max(1));
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .configure_from_args();
    parse::benches(&mut c);
    matching::benches(&mut c);
    digest::benches(&mut c);
    store::benches(&mut c);
    c.final_summary();
}
