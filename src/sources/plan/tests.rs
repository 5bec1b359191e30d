//! The plans are pure: a view of what the store knew and `now` in, requests out.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::model::{Consultation, Provenance, Titles};

const BASE: &str = "https://svc.example";

fn now() -> DateTime<Utc> {
    "2026-11-20T10:00:00Z".parse().unwrap_or_default()
}

fn p(s: &str) -> ProcedureRef {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

/// A plan's view of the store, as a poll step reads it once.
#[derive(Default)]
struct View {
    urls: HashMap<String, UrlKnown>,
    dossiers: Vec<Dossier>,
}

impl Known for View {
    fn url(&self, url: &str) -> UrlKnown {
        self.urls.get(url).copied().unwrap_or_default()
    }
    fn has_dossier(&self, r: &ProcedureRef) -> bool {
        self.dossier(r).is_some()
    }
    fn dossier(&self, r: &ProcedureRef) -> Option<&Dossier> {
        self.dossiers.iter().find(|d| d.reference == *r)
    }
}

fn snapshot(r: ProcedureRef, final_act: Option<&str>) -> DossierSnapshot {
    DossierSnapshot {
        reference: r,
        titles: Titles::default(),
        status: None,
        committees: Vec::new(),
        steps: Vec::new(),
        forecasts: Vec::new(),
        com: Vec::new(),
        final_act: final_act.map(|c| c.parse().unwrap_or_else(|e| panic!("{c}: {e:?}"))),
        act_dates: Default::default(),
        subjects: Vec::new(),
        eurovoc: Vec::new(),
        last_modified: None,
        provenance: Provenance {
            source: "cellar".into(),
            url: BASE.into(),
            fetched_at: now(),
        },
    }
}

fn plan(kind: SourceKind, tracked: &[ProcedureRef], refresh_due: bool) -> Plan<'_> {
    Plan {
        kind,
        base: BASE,
        tracked,
        candidates: &[],
        refresh_due,
        first_poll: false,
        now: now(),
    }
}

#[test]
fn ep_api_asks_the_change_feeds_first_in_atom() {
    let tracked = [p("2016/0132(COD)")];
    let first = plan(SourceKind::EpApi, &tracked, false).first(&View::default());
    assert_eq!(first.len(), 2);
    for r in &first {
        assert_eq!(r.accept, Some(ep_api::FEED_ACCEPT));
        assert_eq!(r.why, Why::ChangeFeed);
        assert_eq!(r.dossier(), None);
    }
}

#[test]
fn ep_api_change_feed_naming_a_tracked_procedure_plans_that_procedure_only() {
    let (moved, quiet) = (p("2016/0132(COD)"), p("2012/0011(COD)"));
    let tracked = [quiet, moved];
    let read = UrlKnown {
        read: true,
        ..UrlKnown::default()
    };
    let mut known = View {
        dossiers: vec![
            crate::dossier::merge(None, &snapshot(moved, None)),
            crate::dossier::merge(None, &snapshot(quiet, None)),
        ],
        urls: HashMap::from([
            (ep_api::procedure_url(BASE, &moved), read),
            (ep_api::procedure_url(BASE, &quiet), read),
        ]),
    };
    let feed = [Observation::Changed(moved)];
    let seen: Vec<&Observation> = feed.iter().collect();
    let then = plan(SourceKind::EpApi, &tracked, false).then(&known, &seen);
    assert_eq!(
        then,
        [Request {
            url: ep_api::procedure_url(BASE, &moved),
            accept: Some(ep_api::ACCEPT),
            why: Why::Procedure(moved),
        }]
    );
    // Nothing moved, nothing due: nothing asked. The weekly refresh asks for all.
    assert!(plan(SourceKind::EpApi, &tracked, false)
        .then(&known, &[])
        .is_empty());
    assert_eq!(
        plan(SourceKind::EpApi, &tracked, true)
            .then(&known, &[])
            .len(),
        2
    );
    // A procedure never stored is asked for at once.
    assert_eq!(
        plan(SourceKind::EpApi, &tracked, false)
            .then(&View::default(), &[])
            .len(),
        2
    );
    // So is one another source brought (found by its CELLAR subjects) whose record was
    // never read here; one this service said it lacks waits for the weekly refresh.
    known.urls.remove(&ep_api::procedure_url(BASE, &quiet));
    let asked = plan(SourceKind::EpApi, &tracked, false).then(&known, &[]);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].why, Why::Procedure(quiet));
    known.urls.insert(
        ep_api::procedure_url(BASE, &quiet),
        UrlKnown {
            not_found_at: Some(now() - chrono::Duration::days(3)),
            ..UrlKnown::default()
        },
    );
    assert!(plan(SourceKind::EpApi, &tracked, false)
        .then(&known, &[])
        .is_empty());
}

#[test]
fn a_url_recently_missing_is_asked_again_about_once_a_day() {
    let r = p("2024/0258(COD)");
    let tracked = [r];
    let url = oeil::procedure_url(BASE, &r);
    let missing_since = |hours: i64| View {
        urls: HashMap::from([(
            url.clone(),
            UrlKnown {
                read: true,
                not_found_at: Some(now() - chrono::Duration::hours(hours)),
                missing_since: None,
            },
        )]),
        ..View::default()
    };
    let oeil = plan(SourceKind::Oeil, &tracked, false);
    assert!(oeil.first(&missing_since(2)).is_empty());
    let again = oeil.first(&missing_since(21));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].accept, Some(oeil::ACCEPT));
    assert_eq!(again[0].dossier(), Some(r));
}

#[test]
fn a_cellar_notice_whose_bytes_are_unchanged_plans_no_work_notice_already_read() {
    let r = p("2016/0070(COD)");
    let tracked = [r];
    let directive = "32019L0904";
    let stored = crate::dossier::merge(None, &snapshot(r, Some(directive)));
    let work_url = cellar_work::url(BASE, &directive.parse().unwrap_or_else(|e| panic!("{e:?}")));
    let cellar = plan(SourceKind::Cellar, &tracked, false);
    let first = cellar.first(&View::default());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].accept, Some(cellar::ACCEPT));

    // Unchanged notice (nothing parsed), work notice read before: nothing more.
    let read = View {
        urls: HashMap::from([(
            work_url.clone(),
            UrlKnown {
                read: true,
                not_found_at: None,
                missing_since: None,
            },
        )]),
        dossiers: vec![stored.clone()],
    };
    assert!(cellar.after(&read, &first[0], None).is_empty());

    // Never read: asked for, with the branch notice's Accept header.
    let unread = View {
        dossiers: vec![stored],
        ..View::default()
    };
    let next = cellar.after(&unread, &first[0], None);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].url, work_url);
    assert_eq!(next[0].accept, Some(cellar_work::ACCEPT));
    assert!(matches!(
        next[0].why,
        Why::WorkNotice(d, cellar_work::Role::FinalAct, _) if d == r
    ));

    // A changed notice asks again, from what it says itself.
    let fresh = [Observation::Dossier(Box::new(snapshot(r, Some(directive))))];
    assert_eq!(cellar.after(&read, &first[0], Some(&fresh)).len(), 1);
}

#[test]
fn feeds_and_have_your_say_have_no_follow_ups() {
    let feed = plan(SourceKind::Feed, &[], false);
    let first = feed.first(&View::default());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].accept, None);
    assert!(feed
        .after(&View::default(), &first[0], Some(&[]))
        .is_empty());
    let hys = plan(SourceKind::HaveYourSay, &[], false);
    let first = hys.first(&View::default());
    assert!(first
        .iter()
        .all(|r| r.accept == Some(have_your_say::ACCEPT) && r.why == Why::Listing));
    assert!(hys.then(&View::default(), &[]).is_empty());
}

#[test]
fn a_new_procedure_the_change_feed_names_is_read_once_and_a_candidate_is_not() {
    let (tracked_one, new, candidate) = (
        p("2016/0132(COD)"),
        p("2025/0260(COD)"),
        p("2025/0581(CNS)"),
    );
    let tracked = [tracked_one];
    let candidates = [candidate];
    let known = View {
        dossiers: vec![crate::dossier::merge(None, &snapshot(tracked_one, None))],
        urls: HashMap::from([(
            ep_api::procedure_url(BASE, &tracked_one),
            UrlKnown {
                read: true,
                ..UrlKnown::default()
            },
        )]),
    };
    let feed = [
        Observation::Changed(new),
        Observation::Changed(candidate),
        Observation::Changed(new),
    ];
    let seen: Vec<&Observation> = feed.iter().collect();
    let mut ep = plan(SourceKind::EpApi, &tracked, false);
    ep.candidates = &candidates;
    assert_eq!(
        ep.then(&known, &seen),
        [Request {
            url: ep_api::procedure_url(BASE, &new),
            accept: Some(ep_api::ACCEPT),
            why: Why::NewProcedure(new),
        }]
    );
    assert_eq!(Why::NewProcedure(new), ep.then(&known, &seen)[0].why);

    // CELLAR reads a candidate's notice while it was never read.
    let mut cellar = plan(SourceKind::Cellar, &tracked, false);
    cellar.candidates = &candidates;
    let urls: Vec<String> = cellar.first(&known).into_iter().map(|r| r.url).collect();
    assert_eq!(
        urls,
        [
            cellar::procedure_url(BASE, &tracked_one),
            cellar::procedure_url(BASE, &candidate)
        ]
    );
    let mut read = View::default();
    read.urls.insert(
        cellar::procedure_url(BASE, &candidate),
        UrlKnown {
            read: true,
            not_found_at: None,
            missing_since: None,
        },
    );
    assert_eq!(cellar.first(&read).len(), 1);
}

#[test]
fn the_first_poll_asks_the_change_feeds_longest_window() {
    let mut ep = plan(SourceKind::EpApi, &[], false);
    ep.first_poll = true;
    assert!(ep
        .first(&View::default())
        .iter()
        .all(|r| r.url.ends_with("timeframe=one-month")));
    ep.first_poll = false;
    assert!(ep
        .first(&View::default())
        .iter()
        .all(|r| r.url.ends_with("timeframe=one-day")));
}

#[test]
fn a_candidate_notice_cellar_never_had_is_asked_daily_for_a_month_only() {
    let candidate = p("2025/2099(INI)");
    let candidates = [candidate];
    let mut cellar = plan(SourceKind::Cellar, &[], false);
    cellar.candidates = &candidates;
    let url = cellar::procedure_url(BASE, &candidate);
    let missing = |since_days: i64| {
        let mut v = View::default();
        v.urls.insert(
            url.clone(),
            UrlKnown {
                read: false,
                not_found_at: Some(now() - chrono::Duration::hours(21)),
                missing_since: Some(now() - chrono::Duration::days(since_days)),
            },
        );
        v
    };
    assert_eq!(cellar.first(&missing(2)).len(), 1);
    assert!(cellar.first(&missing(31)).is_empty());
}

/// A listed initiative: feedback open or not, at a portal stage, with COM numbers or not.
fn initiative(id: u64, open: bool, stage: &str, com: &[&str]) -> Observation {
    let c = Consultation {
        initiative_id: id,
        title: format!("Initiative {id}"),
        url: have_your_say::public_url(id),
        stage: Some(stage.into()),
        feedback_open: open,
        opens: None,
        closes: None,
        com: com
            .iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}")))
            .collect(),
    };
    let item = crate::model::FeedItem {
        key: format!("hys:{id}"),
        title: c.title.clone(),
        link: Some(c.url.clone()),
        summary: String::new(),
        published: None,
        categories: Vec::new(),
    };
    Observation::Consultation(item, Box::new(c))
}

#[test]
fn have_your_say_reads_the_detail_of_open_feedback_on_an_adopted_proposal_once() {
    let listed = [
        initiative(1, true, "ADOPTION_WORKFLOW", &[]),
        initiative(2, false, "ADOPTION_WORKFLOW", &[]),
        initiative(3, true, "OPC_LAUNCHED", &[]),
        initiative(4, true, "ADOPTION_WORKFLOW", &["COM(2018)340"]),
        initiative(5, true, "adoption_workflow", &[]),
        initiative(1, true, "ADOPTION_WORKFLOW", &[]),
    ];
    let observed: Vec<&Observation> = listed.iter().collect();
    let hys = plan(SourceKind::HaveYourSay, &[], false);
    let then = hys.then(&View::default(), &observed);
    let ids: Vec<Option<u64>> = then.iter().map(Request::initiative).collect();
    assert_eq!(ids, [Some(5), Some(1)]);
    assert_eq!(then[1].url, have_your_say::detail_url(BASE, 1));
    assert_eq!(then[0].accept, Some(have_your_say::ACCEPT));
    assert_eq!(then[0].dossier(), None);

    // Read once: never again; said missing a moment ago: not before the recheck.
    let mut view = View::default();
    let read = UrlKnown {
        read: true,
        ..UrlKnown::default()
    };
    view.urls.insert(have_your_say::detail_url(BASE, 1), read);
    let missing = UrlKnown {
        not_found_at: Some(now() - chrono::Duration::hours(1)),
        ..UrlKnown::default()
    };
    view.urls
        .insert(have_your_say::detail_url(BASE, 5), missing);
    assert!(hys.then(&view, &observed).is_empty());

    // Other kinds of source ask nothing of a listing's initiatives.
    assert!(plan(SourceKind::Feed, &[], false)
        .then(&View::default(), &observed)
        .is_empty());
}

#[test]
fn have_your_say_details_are_bounded_per_poll() {
    let listed: Vec<Observation> = (1..=50)
        .map(|id| initiative(id, true, "ADOPTION_WORKFLOW", &[]))
        .collect();
    let observed: Vec<&Observation> = listed.iter().collect();
    let then = plan(SourceKind::HaveYourSay, &[], false).then(&View::default(), &observed);
    assert_eq!(then.len(), INITIATIVE_DETAILS_PER_POLL);
    assert_eq!(then[0].initiative(), Some(50), "the newest first");
}
