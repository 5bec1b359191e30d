//! Merging and diffing real captures: one timeline per procedure, each step once, and only
//! what is new reported as events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use veille::dossier::{self, DiffContext};
use veille::model::{DossierSnapshot, EventKind, Observation, Provenance, Stage};
use veille::sources::{cellar, ep_api, oeil, Input};

use crate::support::fixtures;

fn snapshot(rel: &str, source: &str, parse: veille::sources::ParseFn, at: &str) -> DossierSnapshot {
    let body = fixtures::read(rel);
    let provenance = Provenance {
        source: source.into(),
        url: format!("https://example.org/{rel}"),
        fetched_at: at.parse().unwrap_or_else(|e| panic!("{e}")),
    };
    let obs = parse(&Input {
        body: &body,
        content_type: None,
        provenance: &provenance,
    })
    .unwrap_or_else(|e| panic!("{rel}: {e}"));
    match obs.into_iter().next() {
        Some(Observation::Dossier(d)) => *d,
        other => panic!("{rel}: expected a dossier, got {other:?}"),
    }
}

fn ctx(p: &Provenance, now: &str) -> (DateTime<Utc>, Provenance) {
    (now.parse().unwrap_or_else(|e| panic!("{e}")), p.clone())
}

#[test]
fn the_2024_0258_pages_before_and_after_completion_yield_exactly_the_completion_steps() {
    let before = snapshot(
        "oeil/2024-0258-COD_new-design-erpl_page-available-2025-03-16.html",
        "oeil",
        oeil::parse,
        "2025-03-16T12:00:00Z",
    );
    let after = snapshot(
        "oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html",
        "oeil",
        oeil::parse,
        "2025-11-13T12:00:00Z",
    );
    let long = Duration::from_secs(100 * 365 * 86_400);
    let (now1, p1) = ctx(&before.provenance, "2025-03-16T12:00:00Z");
    let d1 = dossier::merge(None, &before);
    let first = dossier::diff(
        None,
        &d1,
        &DiffContext {
            now: now1,
            backfill: long,
            provenance: &p1,
        },
    );
    assert_eq!(
        first.len(),
        d1.timeline.len(),
        "first sight reports the whole (recent) history"
    );

    let (now2, p2) = ctx(&after.provenance, "2025-11-13T12:00:00Z");
    let d2 = dossier::merge(Some(&d1), &after);
    let events = dossier::diff(
        Some(&d1),
        &d2,
        &DiffContext {
            now: now2,
            backfill: long,
            provenance: &p2,
        },
    );
    let steps: Vec<(String, Stage)> = events
        .iter()
        .filter(|e| e.kind == EventKind::Step)
        .map(|e| (e.date.to_string(), e.stage.unwrap_or(Stage::Other)))
        .collect();
    assert_eq!(
        steps,
        [
            ("2025-03-11".to_string(), Stage::PlenaryVote),
            ("2025-03-18".to_string(), Stage::Adopted),
            ("2025-03-18".to_string(), Stage::Signed),
            ("2025-03-21".to_string(), Stage::Published),
        ]
    );
    // "Decision by Parliament" and "Results of vote in Parliament" are one step.
    assert_eq!(
        events
            .iter()
            .filter(|e| e.stage == Some(Stage::PlenaryVote))
            .count(),
        1
    );
    assert_eq!(d2.status.as_deref(), Some("Procedure completed"));
    assert_eq!(
        d2.final_act.as_ref().map(|c| c.to_string()).as_deref(),
        Some("32025R0535")
    );
    // Diffing the same page again reports nothing.
    let d3 = dossier::merge(Some(&d2), &after);
    assert!(dossier::diff(
        Some(&d2),
        &d3,
        &DiffContext {
            now: now2,
            backfill: long,
            provenance: &p2
        }
    )
    .is_empty());
}

#[test]
fn a_step_seen_by_two_sources_is_one_step_with_both_provenances() {
    // No two captures of one procedure from two sources exist; a second source reporting
    // the same real record must add its provenance to each step, not new steps.
    let api = snapshot(
        "ep-api/procedure_2016-0132_COD.jsonld.json",
        "ep-api",
        ep_api::parse,
        "2026-11-01T00:00:00Z",
    );
    let mut second = api.clone();
    second.provenance.source = "mirror".into();
    let d = dossier::merge(Some(&dossier::merge(None, &api)), &second);
    assert_eq!(d.timeline.len(), dossier::merge(None, &api).timeline.len());
    assert!(d.timeline.iter().all(|s| s.sources.len() == 2));

    let plastics = snapshot(
        "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
        "cellar",
        cellar::parse,
        "2026-11-01T00:00:00Z",
    );
    let merged = dossier::merge(None, &plastics);
    assert_eq!(merged.current_stage(), Some(Stage::Published));
    let published: Vec<_> = merged
        .timeline
        .iter()
        .filter(|s| s.stage == Stage::Published)
        .collect();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].date.to_string(), "2019-06-12");
}
