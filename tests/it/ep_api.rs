//! `sources::ep_api`: the EP Open Data API v2 procedure records (real captures, golden
//! files) and change feeds (own imitation fixtures), and the error cases.

use chrono::{NaiveDate, TimeZone, Utc};
use veille::model::{
    CommitteeRole, DossierSnapshot, Observation, ProcedureRef, ProcedureType, Provenance, Stage,
};
use veille::sources::{ep_api, Input, ParseError};

use crate::support::fixtures;

fn provenance(url: &str) -> Provenance {
    Provenance {
        source: "ep-api".into(),
        url: url.into(),
        fetched_at: Utc
            .with_ymd_and_hms(2026, 6, 18, 6, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("fixed time")),
    }
}

fn parse_with(
    f: fn(&Input<'_>) -> Result<Vec<Observation>, ParseError>,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Vec<Observation>, ParseError> {
    let prov = provenance("https://data.europarl.europa.eu/api/v2/procedures/test");
    f(&Input {
        body,
        content_type,
        provenance: &prov,
    })
}

fn snapshot(rel: &str) -> DossierSnapshot {
    let body = fixtures::read(rel);
    let obs = parse_with(ep_api::parse, &body, Some("application/ld+json"))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(obs.len(), 1, "{rel}: one observation");
    match obs.into_iter().next() {
        Some(Observation::Dossier(d)) => *d,
        other => panic!("{rel}: expected a dossier, got {other:?}"),
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn step_on(d: &DossierSnapshot, stage: Stage, on: &str) -> bool {
    d.steps
        .iter()
        .any(|s| s.stage == stage && s.date == date(on))
}

#[test]
fn procedures_match_their_golden_files() {
    let procedures: Vec<String> = fixtures::list("ep-api")
        .into_iter()
        .filter(|f| f.starts_with("ep-api/procedure_") && f.ends_with(".json"))
        .collect();
    assert_eq!(procedures.len(), 3, "{procedures:?}");
    for rel in procedures {
        let body = fixtures::read(&rel);
        let obs = parse_with(ep_api::parse, &body, Some("application/ld+json"))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        let json = serde_json::to_string_pretty(&obs).unwrap_or_else(|e| panic!("{e}"));
        let name = rel
            .trim_start_matches("ep-api/")
            .trim_end_matches(".jsonld.json");
        fixtures::golden(&format!("ep_api/{name}.json"), &format!("{json}\n"));
    }
}

#[test]
fn eurodac_has_its_whole_lifecycle_with_real_dates() {
    let d = snapshot("ep-api/procedure_2016-0132_COD.jsonld.json");
    assert_eq!(d.reference.to_string(), "2016/0132(COD)");
    assert_eq!(d.reference.kind(), Some(ProcedureType::Cod));
    assert!(d
        .titles
        .en
        .as_deref()
        .is_some_and(|t| t.contains("Eurodac")));
    assert!(d.titles.fr.is_some() && d.titles.de.is_some());
    assert_eq!(d.status, None, "current_stage RDG1 is not a status");

    assert!(step_on(&d, Stage::Referral, "2016-09-12"));
    assert!(step_on(&d, Stage::CommitteeVote, "2017-05-30"));
    assert!(
        step_on(&d, Stage::CommitteeVote, "2017-06-09"),
        "report tabled"
    );
    assert!(step_on(&d, Stage::Trilogue, "2017-06-14"), "mandate");
    assert!(step_on(&d, Stage::ProvisionalAgreement, "2024-02-14"));
    assert!(step_on(&d, Stage::PlenaryDebate, "2024-04-10"));
    assert!(step_on(&d, Stage::PlenaryVote, "2024-04-10"));
    assert!(step_on(&d, Stage::Signed, "2024-05-14"));
    assert!(step_on(&d, Stage::Published, "2024-05-22"));
    // The draft report tabled in committee is not a vote.
    assert!(!step_on(&d, Stage::CommitteeVote, "2017-02-02"));

    // Sorted by (date, stage); one step per (date, stage) outside `other`.
    let keys: Vec<(NaiveDate, Stage)> = d.steps.iter().map(|s| (s.date, s.stage)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let vote = d
        .steps
        .iter()
        .filter(|s| s.stage == Stage::PlenaryVote)
        .collect::<Vec<_>>();
    assert_eq!(vote.len(), 1, "three activities of 2024-04-10, one step");
    let refs: Vec<&str> = vote[0]
        .documents
        .iter()
        .map(|d| d.reference.as_str())
        .collect();
    assert!(refs.contains(&"T9-0183/2024"), "{refs:?}");
    assert!(refs.contains(&"A8-0212/2017"), "{refs:?}");
    // The joint debate cites other procedures' reports: only this one's are kept.
    let debate = d
        .steps
        .iter()
        .find(|s| s.stage == Stage::PlenaryDebate)
        .unwrap_or_else(|| panic!("debate"));
    assert!(debate
        .documents
        .iter()
        .all(|doc| doc.reference != "A9-0149/2023"));
    assert!(debate
        .documents
        .iter()
        .any(|doc| doc.reference == "A8-0212/2017"));

    let lead: Vec<&str> = d
        .committees
        .iter()
        .filter(|c| c.role == CommitteeRole::Lead)
        .map(|c| c.code.as_str())
        .collect();
    assert_eq!(lead, ["LIBE"]);
    let opinion: Vec<&str> = d
        .committees
        .iter()
        .filter(|c| c.role == CommitteeRole::Opinion)
        .map(|c| c.code.as_str())
        .collect();
    assert_eq!(opinion, ["AFET", "BUDG"]);

    // Scheduled agenda items of the plenary of 2024-04-10.
    assert_eq!(d.forecasts.len(), 2);
    assert!(d.forecasts.iter().all(|f| f.date == date("2024-04-10")));
    assert_eq!(
        d.provenance,
        provenance("https://data.europarl.europa.eu/api/v2/procedures/test")
    );
}

#[test]
fn customs_duties_has_its_scheduled_plenary_items_as_forecasts() {
    let d = snapshot("ep-api/procedure_2025-0260_COD.jsonld.json");
    let forecasts: Vec<(NaiveDate, Stage)> =
        d.forecasts.iter().map(|f| (f.date, f.stage)).collect();
    assert_eq!(
        forecasts,
        vec![
            (date("2026-03-26"), Stage::PlenaryDebate),
            (date("2026-03-26"), Stage::PlenaryVote),
            (date("2026-06-15"), Stage::PlenaryDebate),
            (date("2026-06-16"), Stage::PlenaryVote),
        ]
    );
    assert!(d.forecasts.iter().any(|f| f.label.contains("V-51")));
    // Three trilogues, the agreement, the position; no signature yet.
    for on in ["2026-04-13", "2026-05-06", "2026-05-19"] {
        assert!(step_on(&d, Stage::Trilogue, on), "trilogue {on}");
    }
    assert!(step_on(&d, Stage::Trilogue, "2026-03-26"), "referred back");
    assert!(step_on(&d, Stage::ProvisionalAgreement, "2026-06-02"));
    assert!(step_on(&d, Stage::PlenaryVote, "2026-06-16"));
    assert!(!d.steps.iter().any(|s| s.stage == Stage::Signed));
    // Plenary amendments tabled on 2026-06-10 are not a committee vote.
    assert!(!step_on(&d, Stage::CommitteeVote, "2026-06-10"));
    assert!(step_on(&d, Stage::CommitteeVote, "2026-03-19"));
}

#[test]
fn the_feed_names_each_changed_procedure_once() {
    let body = fixtures::own("ep-api-procedures-feed.atom");
    let obs = parse_with(ep_api::parse, &body, Some("application/atom+xml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let p = |s: &str| s.parse::<ProcedureRef>().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        obs,
        vec![
            Observation::Changed(p("2025-0260")),
            Observation::Changed(p("2016-0132")),
            Observation::Changed(p("2025-0581")),
        ]
    );
}

#[test]
fn the_events_feed_names_the_procedures_of_its_events() {
    let body = fixtures::own("ep-api-events-feed.atom");
    let obs = parse_with(ep_api::parse_feed, &body, None).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = obs
        .iter()
        .map(|o| match o {
            Observation::Changed(r) => r.ep_process_id(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, ["2025-0260", "2016-0062A"]);
}

#[test]
fn an_empty_feed_is_valid() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><id>x</id><title type="text">EP Procedures</title><updated>2026-06-18T06:00:00Z</updated></feed>"#;
    assert_eq!(parse_with(ep_api::parse, body, None), Ok(vec![]));
}

#[test]
fn a_challenge_page_is_a_challenge() {
    let body = br#"<!DOCTYPE html><html><head><script src="https://x.token.awswaf.com/challenge.js"></script></head><body>We need to verify that you're not a robot</body></html>"#;
    for f in [ep_api::parse, ep_api::parse_procedure, ep_api::parse_feed] {
        assert_eq!(
            parse_with(f, body, Some("text/html")),
            Err(ParseError::Challenge)
        );
    }
    let plain = b"<html><body><h1>Service unavailable</h1></body></html>";
    assert!(matches!(
        parse_with(ep_api::parse, plain, Some("text/html")),
        Err(ParseError::Layout(_))
    ));
}

#[test]
fn json_without_a_procedure_is_a_layout_error() {
    let no_data = br#"{"@context": [], "meta": {"total": 0}}"#;
    assert!(matches!(
        parse_with(ep_api::parse, no_data, None),
        Err(ParseError::Layout(m)) if m.contains("data")
    ));
    let not_a_process = br#"{"data": [{"id": "eli/dl/doc/A-9-2024-0163", "type": "Work"}]}"#;
    assert!(matches!(
        parse_with(ep_api::parse, not_a_process, None),
        Err(ParseError::Layout(m)) if m.contains("Process")
    ));
    assert!(matches!(
        parse_with(ep_api::parse, br#"{"data": []}"#, None),
        Err(ParseError::NotFound(_))
    ));
    assert!(matches!(
        parse_with(ep_api::parse, br#"{"data": [{"type": "Process""#, None),
        Err(ParseError::Syntax { .. })
    ));
    assert!(parse_with(ep_api::parse, b"", None).is_err());
}

#[test]
fn a_body_that_is_not_a_feed_is_refused() {
    assert!(matches!(
        parse_with(
            ep_api::parse_feed,
            b"<rss version=\"2.0\"><channel/></rss>",
            None
        ),
        Err(ParseError::Layout(_))
    ));
    let truncated = b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>https://data.europarl.europa.eu/eli/dl/proc/2016-0132</id>";
    assert!(parse_with(ep_api::parse_feed, truncated, None).is_err());
}

#[test]
fn truncated_procedures_are_errors_never_panics() {
    let body = fixtures::read("ep-api/procedure_2025-0581_CNS.jsonld.json");
    for cut in [1, 10, 100, body.len() / 3, body.len() / 2, body.len() - 1] {
        assert!(
            parse_with(ep_api::parse, &body[..cut], None).is_err(),
            "cut at {cut}"
        );
    }
}

/// A procedure record with one event of each activity type, shaped like the captures.
fn synthetic_procedure(activities: &[&str]) -> Vec<u8> {
    let events: Vec<serde_json::Value> = activities
        .iter()
        .enumerate()
        .map(|(i, a)| {
            serde_json::json!({
                "id": format!("eli/dl/event/2099-0001-X{i}-2099-01-01"),
                "type": "Activity",
                "activity_date": format!("2099-01-{:02}", i % 28 + 1),
                "had_activity_type": format!("def/ep-activities/{a}"),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "data": [{
            "id": "eli/dl/proc/2099-0001",
            "type": "Process",
            "process_id": "2099-0001",
            "label": "2099/0001(COD)",
            "process_type": "def/ep-procedure-types/COD",
            "consists_of": events,
        }],
        "@context": [{"data": "@graph", "@base": "https://data.europarl.europa.eu/"}],
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_activity_type_of_the_spec_is_mapped() {
    let spec: serde_json::Value = serde_json::from_slice(&fixtures::read(
        "ep-api/openapi-spec_ep-open-data-api-v2.json",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let enum_values: Vec<String> = spec["components"]["parameters"]["activity-type"]["schema"]
        ["items"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no activity-type enum in the spec"))
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert!(enum_values.len() >= 30, "{enum_values:?}");
    let mut all: Vec<&str> = enum_values.iter().map(String::as_str).collect();
    // Seen in the captures but not in the spec's enum.
    all.extend([
        "REFERRAL",
        "COMMITTEE_TABLING_REPORT",
        "COMMITTEE_ADOPTING_REPORT",
        "COMMITTEE_TABLING_AMENDMENT",
        "COMMITTEE_ADOPTING_OPINION",
        "COMMITTEE_TABLING_OPINION",
        "INTERINSTITUTIONAL_NEGOTIATION",
    ]);
    for activity in all {
        let body = synthetic_procedure(&[activity]);
        let obs = parse_with(ep_api::parse, &body, None).unwrap_or_else(|e| panic!("{e}"));
        let Some(Observation::Dossier(d)) = obs.first() else {
            panic!("{activity}: no dossier")
        };
        assert_eq!(d.steps.len(), 1, "{activity}");
        assert_ne!(
            d.steps[0].label, activity,
            "{activity} has no label of its own"
        );
    }
    let stage_of = |a: &str| {
        let obs = parse_with(ep_api::parse, &synthetic_procedure(&[a]), None)
            .unwrap_or_else(|e| panic!("{e}"));
        match obs.first() {
            Some(Observation::Dossier(d)) => d.steps[0].stage,
            other => panic!("{other:?}"),
        }
    };
    for (a, stage) in [
        ("REFERRAL", Stage::Referral),
        ("COMMITTEE_ADOPTING_REPORT", Stage::CommitteeVote),
        ("TABLING_PLENARY", Stage::CommitteeVote),
        (
            "PLENARY_ENDORSE_COMMITTEE_INTERINSTITUTIONAL_NEGOTIATIONS",
            Stage::Trilogue,
        ),
        (
            "PLENARY_REFER_COMMITTEE_INTERINSTITUTIONAL_NEGOTIATIONS",
            Stage::Trilogue,
        ),
        ("INTERINSTITUTIONAL_NEGOTIATION", Stage::Trilogue),
        (
            "COMMITTEE_APPROVE_PROVISIONAL_AGREEMENT",
            Stage::ProvisionalAgreement,
        ),
        ("PLENARY_DEBATE", Stage::PlenaryDebate),
        ("PLENARY_VOTE", Stage::PlenaryVote),
        ("PLENARY_ADOPT_POSITION", Stage::PlenaryVote),
        ("PLENARY_AMEND_PROPOSAL", Stage::PlenaryVote),
        ("PLENARY_AMEND", Stage::PlenaryVote),
        ("PLENARY_DECISION", Stage::PlenaryVote),
        ("PLENARY_APPROVE_COUNCIL_POSITION", Stage::Adopted),
        ("SIGNATURE", Stage::Signed),
        ("PUBLICATION_OFFICIAL_JOURNAL", Stage::Published),
        ("SOMETHING_NEW", Stage::Other),
    ] {
        assert_eq!(stage_of(a), stage, "{a}");
    }
    // An activity the house does not know keeps its code as label.
    let obs = parse_with(
        ep_api::parse,
        &synthetic_procedure(&["SOMETHING_NEW"]),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(obs.first(), Some(Observation::Dossier(d)) if d.steps[0].label == "SOMETHING_NEW")
    );
}

#[test]
fn a_feed_with_no_content_is_empty_not_an_error() {
    let prov =
        provenance("https://data.europarl.europa.eu/api/v2/procedures/feed?timeframe=one-day");
    let input = Input {
        body: b"",
        content_type: None,
        provenance: &prov,
    };
    assert_eq!(ep_api::parse(&input), Ok(vec![]));
    assert_eq!(ep_api::parse_feed(&input), Ok(vec![]));
}
