//! Building and rendering 50 digests of 200 events each (subject, text and HTML), and one
//! digest of 20,000 events as far as its message.

use chrono::Duration;
use criterion::{Criterion, Throughput};
use veille::digest::{self, DigestEntry, DigestRequest, SourceHealth};
use veille::model::Language;

use crate::corpus;

pub fn benches(c: &mut Criterion) {
    let (dossiers, steps) = corpus::dossiers_and_steps();
    let items = corpus::item_events(200);
    // Every dossier step (capped at 100), then items up to 200 events.
    let mut events: Vec<_> = steps.into_iter().take(100).collect();
    let room = 200 - events.len();
    events.extend(items.into_iter().take(room));
    assert_eq!(events.len(), 200);
    let entries: Vec<DigestEntry> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| DigestEntry {
            event,
            reasons: vec![format!("keyword \"term {i}\"")],
            alerted: i % 7 == 0,
        })
        .collect();
    let sources: Vec<SourceHealth> = ["cellar", "ep-api", "ep-press", "oeil"]
        .iter()
        .map(|id| SourceHealth {
            id: id.to_string(),
            ok: *id != "oeil",
            last_success: Some(corpus::now()),
            failing_since: None,
            failures: u32::from(*id == "oeil"),
            last_error: None,
            cause: None,
        })
        .collect();
    let names: Vec<(String, String)> = (0..50)
        .map(|i| (format!("group-{i}"), format!("Focus group {i}")))
        .collect();

    let mut g = c.benchmark_group("digest");
    g.throughput(Throughput::Elements(50));
    g.bench_function("50_digests_of_200_events", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for (i, (id, name)) in names.iter().enumerate() {
                let language = if i % 2 == 0 {
                    Language::En
                } else {
                    Language::Fr
                };
                let req = request(id, name, language, &entries, &dossiers, &sources);
                let out =
                    digest::render(&digest::build(req)).unwrap_or_else(|e| panic!("render: {e}"));
                bytes += out.text.len() + out.html.len();
            }
            bytes
        })
    });
    g.finish();

    // One very large digest (a broad watchlist, or the first after a long outage), as far as
    // the bytes of its message: every step of the three dossiers and 20,000 items.
    let (dossiers, steps) = corpus::dossiers_and_steps();
    let mut events = steps;
    events.extend(corpus::item_events(20_000));
    let large: Vec<DigestEntry> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| DigestEntry {
            event,
            reasons: vec![format!("keyword \"term {}\"", i % 50)],
            alerted: false,
        })
        .collect();
    let mut g = c.benchmark_group("digest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(large.len() as u64));
    g.bench_function(
        format!("one_digest_of_{}_events_to_message", large.len()),
        |b| {
            b.iter(|| {
                let req = request(
                    "group-0",
                    "Focus group 0",
                    Language::En,
                    &large,
                    &dossiers,
                    &sources,
                );
                let out =
                    digest::render(&digest::build(req)).unwrap_or_else(|e| panic!("render: {e}"));
                let message = veille::mail::OutgoingMessage {
                    from: "Veille <veille@example.org>".into(),
                    to: vec!["group-0@example.org".into()],
                    subject: out.subject,
                    text: out.text,
                    html: out.html,
                    message_id: "bench@veille.example.org".into(),
                    list_id: "group-0".into(),
                    list: Default::default(),
                    date: corpus::now(),
                };
                veille::mail::formatted(&message)
                    .unwrap_or_else(|e| panic!("message: {e}"))
                    .len()
            })
        },
    );
    g.finish();
}

/// The weekly digest of `entries` for one watchlist, as `deliver` asks for it.
fn request<'a>(
    id: &'a str,
    name: &'a str,
    language: Language,
    entries: &[DigestEntry],
    dossiers: &[veille::model::Dossier],
    sources: &[SourceHealth],
) -> DigestRequest<'a> {
    DigestRequest {
        horizon_days: veille::digest::UPCOMING_HORIZON_DAYS,
        watchlist_id: id,
        watchlist_name: name,
        language,
        period_start: Some(corpus::now() - Duration::days(7)),
        period_end: corpus::now(),
        tz: veille::tz::Tz::brussels(),
        entries: entries.to_vec(),
        dossiers: dossiers.to_vec(),
        upcoming: Vec::new(),
        sources: sources.to_vec(),
        now: corpus::now(),
    }
}
