//! Parser throughput on the real captures.

use criterion::{BenchmarkId, Criterion, Throughput};
use veille::dossier;
use veille::model::Observation;
use veille::sources::{self, Input};

use crate::corpus;

pub fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");

    // Feeds: 1,000 items in one RSS 2.0 document; parse, then normalise into events.
    let body = corpus::scaled_rss(1000);
    let prov = corpus::provenance("bench-feed", "https://example.org/feed.xml");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("feed_1000_items", |b| {
        b.iter(|| {
            let input = Input {
                body: &body,
                content_type: Some("application/rss+xml"),
                provenance: &prov,
            };
            let obs = sources::feed::parse(&input).unwrap_or_default();
            assert_eq!(obs.len(), 1000);
            obs
        })
    });
    g.bench_function("feed_1000_items_to_events", |b| {
        b.iter(|| {
            let input = Input {
                body: &body,
                content_type: Some("application/rss+xml"),
                provenance: &prov,
            };
            let obs = sources::feed::parse(&input).unwrap_or_default();
            let events: Vec<_> = obs
                .iter()
                .filter_map(|o| match o {
                    Observation::Item(i) => {
                        Some(dossier::item_event(i, &prov, corpus::now(), None).into_event())
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(events.len(), 1000);
            events
        })
    });

    // References in titles: the labelled real EU titles (tests/fixtures/titles/eval.tsv),
    // read for CELEX numbers alone and for CELEX numbers and acts' names, as every feed
    // item's title is: the cost of reading "Directive 2014/24/EU" as 32014L0024.
    let eval = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/titles/eval.tsv"
    ))
    .unwrap_or_default();
    let titles: Vec<&str> = eval
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .collect();
    g.throughput(Throughput::Elements(titles.len() as u64));
    g.bench_function("titles_celex_numbers", |b| {
        b.iter(|| {
            titles
                .iter()
                .map(|t| veille::model::Celex::find_all(t).len())
                .sum::<usize>()
        })
    });
    g.bench_function("titles_celex_numbers_and_act_names", |b| {
        b.iter(|| {
            titles
                .iter()
                .map(|t| veille::model::Celex::find_in_prose(t).len())
                .sum::<usize>()
        })
    });

    // The whole loopback corpus of scripts/bench.sh (500 feeds made from the fixtures), when
    // the script points here: the like-for-like figure for feedparser's parse loop.
    if let Some(dir) = std::env::var_os("VEILLE_BENCH_CORPUS") {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        files.sort();
        let bodies: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
        let parse_all = |each: &mut dyn FnMut(Vec<Observation>)| {
            for body in &bodies {
                let input = Input {
                    body,
                    content_type: Some("application/xml"),
                    provenance: &prov,
                };
                each(sources::feed::parse(&input).unwrap_or_default());
            }
        };
        g.throughput(Throughput::Elements(bodies.len() as u64));
        g.bench_function(format!("corpus_{}_feeds", bodies.len()), |b| {
            b.iter(|| {
                let mut items = 0usize;
                parse_all(&mut |obs| items += obs.len());
                items
            })
        });
        // ... and everything a poll does with them short of HTTP and the store: the items
        // as events, matched against the six shipped watchlists.
        let set = veille::watchlist::WatchlistSet::new(crate::matching::watchlists(6));
        g.bench_function(format!("corpus_{}_feeds_to_matches", bodies.len()), |b| {
            b.iter(|| {
                let mut matched = 0usize;
                parse_all(&mut |obs| {
                    for o in obs {
                        if let Observation::Item(i) = o {
                            let ev = dossier::item_event(&i, &prov, corpus::now(), None);
                            matched += set.matches(&ev).len();
                        }
                    }
                });
                matched
            })
        });
    }

    // One dossier per iteration.
    g.throughput(Throughput::Elements(1));
    let dossiers: [(&str, &str, sources::ParseFn, &str); 6] = [
        (
            "oeil",
            "oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html",
            sources::oeil::parse,
            "text/html; charset=utf-8",
        ),
        (
            "oeil",
            "oeil/2023-2019-INI_old-design_page-available-2023-12-23.html",
            sources::oeil::parse,
            "text/html; charset=utf-8",
        ),
        (
            "oeil",
            "oeil/2025-0229-NLE_new-design-es_page-available-2025-12-21_contains-NBSP.html",
            sources::oeil::parse,
            "text/html; charset=utf-8",
        ),
        (
            "ep_api",
            "ep-api/procedure_2016-0132_COD.jsonld.json",
            sources::ep_api::parse,
            "application/ld+json",
        ),
        (
            "ep_api",
            "ep-api/procedure_2025-0260_COD.jsonld.json",
            sources::ep_api::parse,
            "application/ld+json",
        ),
        (
            "cellar",
            "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
            sources::cellar::parse,
            "application/xml",
        ),
    ];
    for (kind, rel, parse, ctype) in dossiers {
        let body = corpus::read(rel);
        let prov = corpus::provenance(kind, "https://example.org/");
        let name = rel.split('/').nth(1).unwrap_or(rel);
        let name = name.split("_page").next().unwrap_or(name);
        let id = BenchmarkId::new(kind, format!("{name} ({} KB)", body.len() / 1024));
        g.bench_with_input(id, &body, |b, body| {
            b.iter(|| {
                let input = Input {
                    body,
                    content_type: Some(ctype),
                    provenance: &prov,
                };
                let obs = parse(&input).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert!(!obs.is_empty());
                obs
            })
        });
    }
    // An act's own notice: the proposal's branch notice (about 1 MB), read for the day it
    // went to national parliaments.
    let rel = "eurlex-cellar-notice/celex_52018PC0340_branch-notice_COM-2018-340-proposal.xml";
    let body = corpus::read(rel);
    let id = BenchmarkId::new(
        "cellar-work",
        format!("52018PC0340 branch notice ({} KB)", body.len() / 1024),
    );
    g.bench_with_input(id, &body, |b, body| {
        b.iter(|| {
            let notice = sources::cellar_work::read(body).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(notice.sent_to_parliaments.len(), 1);
            notice
        })
    });
    g.finish();
}
