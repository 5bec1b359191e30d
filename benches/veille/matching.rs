//! Matching 100,000 events against 1, 10, 50 and 200 watchlists: one Aho–Corasick pass per
//! text field, so the cost should not grow with the number of watchlists.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use veille::model::{DossierEvent, DossierRef, ProcedureRef};
use veille::watchlist::{self, Watchlist, WatchlistSet};

use crate::corpus::{self, Lcg};

/// Words to vary keywords and texts with (policy vocabulary in three languages).
const VOCAB: &[&str] = &[
    "regional",
    "municipal",
    "cohesion",
    "funding",
    "directive",
    "regulation",
    "amendment",
    "transport",
    "energy",
    "housing",
    "water",
    "waste",
    "digital",
    "platform",
    "workers",
    "social",
    "climate",
    "emissions",
    "biodiversity",
    "agriculture",
    "fisheries",
    "budget",
    "taxation",
    "competition",
    "innovation",
    "health",
    "education",
    "migration",
    "border",
    "security",
    "procurement",
    "services",
    "market",
    "consumer",
    "rights",
    "environment",
    "régional",
    "collectivités",
    "financement",
    "règlement",
    "logement",
    "déchets",
    "Gemeinden",
    "Förderung",
    "Verordnung",
    "Wohnungsbau",
    "Abwasser",
    "Verkehr",
    "infrastructure",
    "resilience",
    "statistics",
    "reporting",
    "simplification",
    "omnibus",
];

/// The six shipped watchlists, then variants of them with shifted dossiers and varied
/// keywords, up to `n`.
pub fn watchlists(n: usize) -> Vec<Watchlist> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists");
    let known: Vec<String> = [
        "ep-api",
        "cellar",
        "oeil",
        "ep-press",
        "council-press",
        "commission-press",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let shipped = match watchlist::load_dir(&dir, &known) {
        Ok(set) => set.lists().to_vec(),
        Err(errors) => panic!("shipped watchlists: {errors:?}"),
    };
    let mut rng = Lcg(42);
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let mut w = shipped[k % shipped.len()].clone();
        if k >= shipped.len() {
            w.id = format!("{}-{k}", w.id);
            w.keywords = w
                .keywords
                .iter()
                .enumerate()
                .map(|(j, kw)| {
                    if (j + k) % 3 == 0 {
                        format!("{kw} {}", VOCAB[(j + k) % VOCAB.len()])
                    } else {
                        kw.clone()
                    }
                })
                .collect();
            for _ in 0..5 {
                let a = rng.pick(VOCAB);
                let b = rng.pick(VOCAB);
                let kw = format!("{a} {b} {k}");
                if !w.keywords.contains(&kw) {
                    w.keywords.push(kw);
                }
            }
            w.dossiers = w
                .dossiers
                .iter()
                .map(|d| match d {
                    DossierRef::Procedure(p) => DossierRef::Procedure(ProcedureRef::new(
                        p.year(),
                        (p.number() as usize + k) as u16 % 9000 + 1,
                        p.split(),
                        p.kind(),
                    )),
                    other => other.clone(),
                })
                .collect();
        }
        out.push(w);
    }
    out
}

/// `n` watchlists of which only the first can match the events: the others have as many
/// keywords, each made unique to its watchlist. The output stays that of one watchlist, so
/// what grows is only what the scan has to look for.
pub fn distinct_watchlists(n: usize) -> Vec<Watchlist> {
    let mut out = watchlists(n);
    for (k, w) in out.iter_mut().enumerate().skip(1) {
        w.keywords = w
            .keywords
            .iter()
            .enumerate()
            .map(|(j, kw)| format!("{kw} vw{k}k{j}"))
            .collect();
        w.dossiers.clear();
    }
    out
}

/// `n` events made from the real feed items and dossier steps, each with a different
/// title; one in 20 names a shipped keyword, one in 50 a listed dossier.
pub fn events(n: usize) -> Vec<DossierEvent> {
    let mut base = corpus::item_events(1000);
    base.extend(corpus::dossiers_and_steps().1);
    for e in &mut base {
        if e.summary.len() > 400 {
            let mut cut = 400;
            while !e.summary.is_char_boundary(cut) {
                cut -= 1;
            }
            e.summary.truncate(cut);
        }
    }
    let hits = [
        "public procurement",
        "state aid",
        "urban mobility",
        "ambient air quality",
        "working time",
        "personal data",
    ];
    let listed: ProcedureRef = "2011/0438(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Lcg(7);
    (0..n)
        .map(|i| {
            let mut e = base[i % base.len()].clone();
            e.title = format!(
                "{} {} {} {}",
                e.title,
                rng.pick(VOCAB),
                rng.pick(VOCAB),
                rng.pick(VOCAB)
            );
            if i % 20 == 0 {
                e.title = format!("{} {}", e.title, hits[(i / 20) % hits.len()]);
            }
            if i % 50 == 0 {
                e.dossier = Some(listed);
            }
            e
        })
        .collect()
}

/// How many (event, watchlist) pairs match: the work measured.
fn matched(set: &WatchlistSet, events: &[DossierEvent]) -> usize {
    events.iter().map(|e| set.matches(e).len()).sum()
}

pub fn benches(c: &mut Criterion) {
    const N: usize = 100_000;
    let events = events(N);
    let all = watchlists(200);
    let mut g = c.benchmark_group("matching");
    g.throughput(Throughput::Elements(N as u64));
    for n in [1usize, 10, 50, 200] {
        let set = WatchlistSet::new(all[..n].to_vec());
        // What grows with the number of watchlists is the output: how many (event,
        // watchlist) pairs match, since the variants share the shipped keywords.
        let terms: usize = set
            .lists()
            .iter()
            .map(|l| l.keywords.len() + l.exclude.len())
            .sum();
        let pairs = matched(&set, &events);
        eprintln!("matching: {n} watchlists, {terms} keywords and exclusions, {pairs} (event, watchlist) matches over {N} events");
        let id = BenchmarkId::new("100k_events", format!("{n}_watchlists"));
        g.bench_with_input(id, &set, |b, set| b.iter(|| matched(set, &events)));
    }
    // The same numbers of watchlists and terms, but only one watchlist matches: the cost
    // of watching more subjects, with the output held constant.
    let distinct = distinct_watchlists(200);
    for n in [1usize, 10, 50, 200] {
        let set = WatchlistSet::new(distinct[..n].to_vec());
        let pairs = matched(&set, &events);
        eprintln!("matching, one matching watchlist: {n} watchlists, {pairs} (event, watchlist) matches over {N} events");
        let id = BenchmarkId::new("100k_events_one_matching", format!("{n}_watchlists"));
        g.bench_with_input(id, &set, |b, set| b.iter(|| matched(set, &events)));
    }
    g.finish();
}
