//! The store recording events with dedupe (insert-if-absent) in sled, in a temporary
//! directory: a criterion bench of one poll's batch, and a one-shot growth measurement.

use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use veille::model::{DossierEvent, EventId};
use veille::store::{Enqueue, ObservedEvent, PollBatch, SourceRecord, Store};

use crate::corpus;

/// Realistic event bodies: the real feed items (summaries capped at 600 bytes, as feeds
/// give them) and dossier steps.
fn templates() -> Vec<DossierEvent> {
    let mut t = corpus::item_events(1000);
    t.extend(corpus::dossiers_and_steps().1);
    for e in &mut t {
        if e.summary.len() > 600 {
            let mut cut = 600;
            while !e.summary.is_char_boundary(cut) {
                cut -= 1;
            }
            e.summary.truncate(cut);
        }
    }
    t
}

/// Event number `i`: a template with its own id and URL; one in `match_every` matched a
/// watchlist (kept in full and pending), the others matched nothing (counted, not
/// written). `listed_before`: the poll found it in the resource's previous version.
fn observed(
    templates: &[DossierEvent],
    i: u64,
    match_every: u64,
    listed_before: bool,
) -> ObservedEvent {
    let mut event = templates[i as usize % templates.len()].clone();
    let n = i.to_string();
    event.id = EventId::derive(&["bench", &n]);
    event.url = Some(format!("https://example.org/news/{n}"));
    let matches = if i.is_multiple_of(match_every) {
        vec![Enqueue {
            watchlist: "public-procurement".into(),
            reasons: vec!["keyword \"public procurement\"".into()],
            alert_due: false,
        }]
    } else {
        Vec::new()
    };
    ObservedEvent {
        event,
        matches,
        listed_before,
        joined: Vec::new(),
    }
}

/// One poll's batch: events `start..start+len`, plus the last tenth of the previous batch
/// again, still listed by the feed (already known: dedupe).
fn batch(templates: &[DossierEvent], start: u64, len: u64, match_every: u64) -> PollBatch {
    let dup = len / 10;
    let from = start.saturating_sub(dup);
    PollBatch {
        source: "bench".into(),
        state: SourceRecord::default(),
        resources: Vec::new(),
        dossiers: Vec::new(),
        events: (from..start + len)
            .map(|i| observed(templates, i, match_every, i < start))
            .collect(),
        track: Vec::new(),
        deadlines: vec![],
        discovery: Default::default(),
        now: corpus::now(),
    }
}

fn open(dir: &Path) -> Store {
    match Store::open(&dir.join("veille.sled"), 32 * 1024 * 1024, corpus::now()) {
        Ok((s, _)) => s,
        Err(e) => panic!("opening the store: {e}"),
    }
}

/// Bytes on disk (allocated blocks) under `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut apparent, mut allocated) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                apparent += m.len();
                allocated += m.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

pub fn benches(c: &mut Criterion) {
    let templates = templates();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let mut next = 0u64;
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("record_poll_1000_events_100_known_and_flush", |b| {
        b.iter(|| {
            let batch = batch(&templates, next, 1000, 20);
            next += 1000;
            let out = store
                .record_poll(&batch)
                .unwrap_or_else(|e| panic!("record_poll: {e}"));
            store
                .flush_blocking()
                .unwrap_or_else(|e| panic!("flush: {e}"));
            assert_eq!(out.new_events.len(), 1000);
            out
        })
    });
    g.finish();
}

/// Record `n` events once, 1,000 per poll (plus 100 already known), flushing after each
/// poll as the poller does, one in `match_every` matched; print the time and the size on
/// disk.
pub fn growth(n: usize, match_every: u64) {
    let templates = templates();
    let dir = match std::env::var_os("VEILLE_STORE_GROWTH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let started = Instant::now();
    let per = 1000u64;
    let mut start = 0u64;
    let mut checkpoints = vec![n / 10, n / 2, n];
    checkpoints.dedup();
    while (start as usize) < n {
        let len = per.min(n as u64 - start);
        let b = batch(&templates, start, len, match_every);
        store
            .record_poll(&b)
            .unwrap_or_else(|e| panic!("record_poll: {e}"));
        store
            .flush_blocking()
            .unwrap_or_else(|e| panic!("flush: {e}"));
        start += len;
        if checkpoints.first() == Some(&(start as usize)) {
            checkpoints.remove(0);
            let (apparent, allocated) = disk_usage(dir.path());
            println!(
                "store-growth events={start} stored={} seconds={:.2} apparent_bytes={apparent} allocated_bytes={allocated}",
                store.event_count(),
                started.elapsed().as_secs_f64(),
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    drop(store);
    // What counting the events costs a process that opens this store (status, the first
    // /metrics scrape): one full scan; after it, the count is kept by the writes.
    let reopened = open(dir.path());
    let counting = Instant::now();
    let counted = reopened.event_count();
    println!(
        "store-count-scan events={counted} seconds={:.3}",
        counting.elapsed().as_secs_f64()
    );
    drop(reopened);
    let (apparent, allocated) = disk_usage(dir.path());
    println!(
        "store-growth-final events={n} matched_every={match_every} seconds={secs:.2} events_per_second={:.0} apparent_bytes={apparent} allocated_bytes={allocated} bytes_per_event={:.0}",
        n as f64 / secs,
        allocated as f64 / n as f64
    );
    // A store of this size, kept for measuring what a daemon with years of events costs
    // (docs/performance.md).
    if let Some(keep) = std::env::var_os("VEILLE_STORE_GROWTH_KEEP") {
        let kept = dir.keep();
        std::fs::rename(&kept, &keep)
            .unwrap_or_else(|e| panic!("moving {} to {keep:?}: {e}", kept.display()));
        println!(
            "store-growth-kept path={}",
            Path::new(&keep).join("veille.sled").display()
        );
    }
}
