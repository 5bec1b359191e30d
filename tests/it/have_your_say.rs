//! Have Your Say (brpapi JSON): our own small fixtures imitating the documented shape
//! (no real capture exists), Brussels dates across DST, errors, and the typed read-back.

use chrono::{DateTime, TimeZone, Utc};
use veille::model::{ComRef, Consultation, FeedItem, Observation, Provenance};
use veille::sources::have_your_say::{detail_url, parse, parse_feedback_date, urls, SUPPORTED};
use veille::sources::{Input, ParseError};

use crate::support::fixtures;

fn prov() -> Provenance {
    Provenance {
        source: "have-your-say".into(),
        url: "https://ec.europa.eu/info/law/better-regulation/brpapi/searchInitiatives".into(),
        fetched_at: Utc.with_ymd_and_hms(2026, 8, 10, 6, 0, 0).unwrap(),
    }
}

fn run(body: &[u8]) -> Result<Vec<FeedItem>, ParseError> {
    Ok(run_typed(body)?.into_iter().map(|(i, _)| i).collect())
}

/// Every initiative as parsed: the item and its typed consultation.
fn run_typed(body: &[u8]) -> Result<Vec<(FeedItem, Consultation)>, ParseError> {
    let p = prov();
    let input = Input {
        body,
        content_type: Some("application/json"),
        provenance: &p,
    };
    parse(&input).map(|obs| {
        obs.into_iter()
            .map(|o| match o {
                Observation::Consultation(i, c) => (i, *c),
                other => panic!("expected consultations only, got {other:?}"),
            })
            .collect()
    })
}

fn items(name: &str) -> Vec<FeedItem> {
    run(&fixtures::own(&format!("have-your-say/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn consultations(name: &str) -> Vec<Consultation> {
    run_typed(&fixtures::own(&format!("have-your-say/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .into_iter()
        .map(|(_, c)| c)
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn urls_are_built_with_or_without_trailing_slash() {
    const { assert!(SUPPORTED) };
    let a = urls("https://ec.europa.eu/info/law/better-regulation");
    let b = urls("https://ec.europa.eu/info/law/better-regulation/");
    assert_eq!(a, b);
    assert_eq!(
        a[0],
        "https://ec.europa.eu/info/law/better-regulation/brpapi/searchInitiatives?page=0&size=100&language=EN"
    );
    assert!(a[1].ends_with("&feedbackStatus=OPEN"), "{}", a[1]);
    assert_eq!(
        detail_url("https://ec.europa.eu/info/law/better-regulation/", 12527),
        "https://ec.europa.eu/info/law/better-regulation/brpapi/groupInitiatives/12527?language=EN"
    );
}

#[test]
fn search_page_with_float_ids_missing_and_extra_fields() {
    let items = items("search-initiatives_page.json");
    let typed = consultations("search-initiatives_page.json");
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["hys:18805", "hys:14000", "hys:16001", "hys:16002"]);

    let a = &items[0];
    assert_eq!(a.title, "Urban wastewater – revision of reporting rules");
    assert_eq!(
        a.link.as_deref(),
        Some("https://ec.europa.eu/info/law/better-regulation/have-your-say/initiatives/18805_en")
    );
    // The open status wins over the older closed one.
    assert_eq!(typed[0].stage.as_deref(), Some("OPC_LAUNCHED"));
    assert!(typed[0].feedback_open);
    assert_eq!(typed[0].opens, Some(utc("2026-08-02T22:00:00Z")));
    assert_eq!(typed[0].closes, Some(utc("2026-09-28T21:59:59Z")));
    for tag in [
        "type:PROP_REG",
        "ares:Ares(2026)7014840",
        "topic:ENV",
        "topic:REGIO",
    ] {
        assert!(
            a.categories.iter().any(|c| c == tag),
            "{tag} in {:?}",
            a.categories
        );
    }
    assert!(!a.categories.iter().any(|c| c.contains("ISC_WORKFLOW")));
    assert_eq!(a.published, Some(utc("2026-08-02T22:00:00Z")));
    assert!(
        a.summary.contains("Environment, Regional policy"),
        "{}",
        a.summary
    );
    assert!(
        a.summary.contains("until 2026-09-28 23:59"),
        "{}",
        a.summary
    );

    // Almost nothing known: still an item, no invented dates.
    let b = &items[1];
    assert_eq!(b.title, "Evaluation of the public procurement directives");
    assert!(b.categories.is_empty(), "{:?}", b.categories);
    assert_eq!(b.published, None);

    // Closing on the day summer time ends: 23:59:59 is CET (+01:00) again.
    let c = &typed[2];
    assert_eq!(c.closes, Some(utc("2026-10-25T22:59:59Z")));
    assert_eq!(c.opens, Some(utc("2026-09-27T22:00:00Z")));

    // Id as a string, null topics, date-only end date = end of that day.
    let d = &typed[3];
    assert_eq!(d.closes, Some(utc("2026-03-30T21:59:59Z")));
    assert!(!d.feedback_open);
    assert!(items[3].summary.contains("CLOSED"), "{}", items[3].summary);
}

#[test]
fn embedded_page_shape_of_older_clients() {
    let items = items("search-initiatives_embedded-page.json");
    assert_eq!(items.len(), 1);
    let c = &consultations("search-initiatives_embedded-page.json")[0];
    assert_eq!(c.initiative_id, 12527);
    // 12:00 Brussels on the day summer time starts is CEST (10:00Z); on the day it ends,
    // CET (11:00Z).
    assert_eq!(c.opens, Some(utc("2026-03-29T10:00:00Z")));
    assert_eq!(c.closes, Some(utc("2026-10-25T11:00:00Z")));
    assert!(items[0].categories.contains(&"topic:REGIO".to_string()));
}

#[test]
fn detail_gives_com_numbers_of_proposals() {
    let items = items("group-initiative_detail.json");
    assert_eq!(items.len(), 1);
    let i = &items[0];
    assert_eq!(i.key, "hys:12527");
    assert!(i.categories.contains(&"publication:PROP_REG".to_string()));
    assert!(i.categories.contains(&"feedback-total:1651".to_string()));
    // No feedback window in the detail call: published falls back to modifiedDate.
    assert_eq!(i.published, Some(utc("2021-08-06T14:05:11Z")));
    assert!(i.summary.contains("COM(2021)206"), "{}", i.summary);
    let c = &consultations("group-initiative_detail.json")[0];
    assert_eq!(
        c.com,
        vec![ComRef {
            year: 2021,
            number: 206
        }]
    );
    assert!(!c.feedback_open);
    assert_eq!(c.closes, None);
}

#[test]
fn brussels_dates_across_dst() {
    assert_eq!(
        parse_feedback_date("2026/03/29 12:00:00"),
        Some(utc("2026-03-29T10:00:00Z"))
    );
    assert_eq!(
        parse_feedback_date("2026/10/25 12:00:00"),
        Some(utc("2026-10-25T11:00:00Z"))
    );
    assert_eq!(
        parse_feedback_date("2026/01/15 23:59:59"),
        Some(utc("2026-01-15T22:59:59Z"))
    );
    assert_eq!(
        parse_feedback_date("2026/09/28"),
        Some(utc("2026-09-27T22:00:00Z"))
    );
    // 02:30 does not exist on 29 March 2026: read as 03:30 CEST.
    assert_eq!(
        parse_feedback_date("2026/03/29 02:30:00"),
        Some(utc("2026-03-29T01:30:00Z"))
    );
    // 02:30 happens twice on 25 October 2026: the first (CEST) one.
    assert_eq!(
        parse_feedback_date("2026/10/25 02:30:00"),
        Some(utc("2026-10-25T00:30:00Z"))
    );
    for bad in ["", "soon", "2026/13/01", "28/09/2026 23:59:59"] {
        assert_eq!(parse_feedback_date(bad), None, "{bad:?}");
    }
}

#[test]
fn challenge_and_wrong_bodies() {
    let waf = b"<!DOCTYPE html><html><head><script src=\"https://x.token.awswaf.com/challenge.js\"></script></head><body>AwsWafIntegration</body></html>";
    assert_eq!(run(waf), Err(ParseError::Challenge));

    let shell = b"<!doctype html><html><head><title>Have your say</title></head><body><app-root></app-root></body></html>";
    assert!(matches!(run(shell), Err(ParseError::Layout(_))));

    assert!(matches!(
        run(&fixtures::own("have-your-say/wrong-structure.json")),
        Err(ParseError::Layout(_))
    ));
    assert!(matches!(run(b"[1, 2, 3]"), Err(ParseError::Layout(_))));
    assert!(matches!(
        run(b"{\"initiativeResultDtoPage\": {\"content\": [{\"shortTitle\": \"no id\"}]}}"),
        Err(ParseError::Layout(_))
    ));
    assert!(matches!(
        run(b"{\"initiativeResultDtoPage\": {\"content\": ["),
        Err(ParseError::Syntax { .. })
    ));
    // A well-formed page that lists nothing is an empty answer, not an error.
    assert_eq!(
        run(b"{\"initiativeResultDtoPage\": {\"content\": [], \"totalElements\": 0}}"),
        Ok(vec![])
    );
}

#[test]
fn the_consultation_is_typed_beside_its_item() {
    let items = items("search-initiatives_page.json");
    let typed = consultations("search-initiatives_page.json");
    let c = &typed[0];
    assert_eq!(c.initiative_id, 18805);
    assert_eq!(c.title, items[0].title);
    assert_eq!(c.url, items[0].link.clone().unwrap());
    assert_eq!(c.stage.as_deref(), Some("OPC_LAUNCHED"));
    assert!(c.feedback_open);
    assert_eq!(c.opens, parse_feedback_date("2026/08/03 00:00:00"));
    assert_eq!(c.closes, parse_feedback_date("2026/09/28 23:59:59"));
    assert!(c.com.is_empty());

    let none = &typed[1];
    assert_eq!(
        (none.stage.as_deref(), none.opens, none.closes),
        (None, None, None)
    );
    assert!(!none.feedback_open);
}

#[test]
fn parse_never_panics_on_odd_json() {
    for body in [
        &b"{}"[..],
        b"null",
        b"{\"content\": null}",
        b"{\"content\": [null, 1, \"x\", {\"id\": -3}, {\"id\": 1.5}, {\"id\": 7, \"currentStatuses\": [{\"feedbackEndDate\": 5}]}]}",
        b"{\"id\": 1e300, \"publications\": [{\"type\": 3}]}",
        b"\xEF\xBB\xBF  {\"content\": [{\"id\": 9.0, \"topics\": [1, {\"x\": 2}]}]}",
    ] {
        let _ = run(body);
    }
}
