//! Digest building and rendering: golden text/HTML/JSON in English and French for a
//! realistic week (the AFIR plenary vote of October 2022, its press release, an upcoming
//! plenary vote, a source behind a bot challenge), hostile input, the JSON contract.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use veille::digest::{
    self, DigestEntry, DigestKind, DigestRequest, SourceHealth, Upcoming, UPCOMING_HORIZON_DAYS,
};
use veille::model::{
    Document, Dossier, DossierEvent, EventId, EventKind, Language, ProcedureRef, Provenance, Stage,
    TimelineStep, Titles,
};

use crate::support::fixtures;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap_or_else(|| panic!("bad time"))
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date"))
}

fn r(s: &str) -> ProcedureRef {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Monday 24 October 2022, 08:00 in Brussels (CEST): the weekly digest fires.
fn now() -> DateTime<Utc> {
    utc(2022, 10, 24, 6, 0)
}

fn prov(source: &str, url: &str) -> Provenance {
    Provenance {
        source: source.into(),
        url: url.into(),
        fetched_at: utc(2022, 10, 20, 4, 0),
    }
}

const AFIR: &str = "2021/0223(COD)";
const AFIR_OEIL: &str =
    "https://oeil.secure.europarl.europa.eu/oeil/en/procedure-file?reference=2021/0223(COD)";
const AFIR_EN: &str = "Deployment of alternative fuels infrastructure";
const AFIR_FR: &str = "Déploiement d’une infrastructure pour carburants alternatifs";

fn step(
    dossier: &str,
    stage: Stage,
    date: NaiveDate,
    title: &str,
    url: &str,
    source: &str,
) -> DossierEvent {
    let reference = r(dossier);
    DossierEvent {
        id: EventId::for_step(&reference, EventKind::Step, stage, date, title),
        kind: EventKind::Step,
        stage: Some(stage),
        dossier: Some(reference),
        dossier_title: Some(AFIR_EN.into()),
        date,
        title: title.into(),
        summary: String::new(),
        url: Some(url.into()),
        documents: vec![],
        mentions: vec![],
        provenance: vec![prov(source, url)],
    }
}

fn item(key: &str, date: NaiveDate, title: &str, url: Option<&str>, source: &str) -> DossierEvent {
    DossierEvent {
        id: EventId::derive(&["item", key]),
        kind: EventKind::Item,
        stage: None,
        dossier: None,
        dossier_title: None,
        date,
        title: title.into(),
        summary: String::new(),
        url: url.map(str::to_string),
        documents: vec![],
        mentions: vec![],
        provenance: vec![prov(
            source,
            "https://www.europarl.europa.eu/rss/doc/press-releases/en.xml",
        )],
    }
}

fn timeline_step(date: NaiveDate, stage: Stage, label: &str) -> TimelineStep {
    TimelineStep {
        date,
        stage,
        label: label.into(),
        documents: vec![],
        sources: vec![prov("oeil", AFIR_OEIL)],
    }
}

fn afir_dossier() -> Dossier {
    Dossier {
        reference: r(AFIR),
        titles: Titles {
            en: Some(AFIR_EN.into()),
            fr: Some(AFIR_FR.into()),
            de: None,
            more: Vec::new(),
        },
        status: Some("Awaiting committee decision".into()),
        committees: vec![],
        timeline: vec![
            timeline_step(
                day(2021, 7, 14),
                Stage::Proposal,
                "Legislative proposal published",
            ),
            timeline_step(
                day(2021, 9, 13),
                Stage::Referral,
                "Committee referral announced in Parliament, 1st reading",
            ),
            timeline_step(
                day(2021, 11, 23),
                Stage::Opinion,
                "Opinion of the European Economic and Social Committee",
            ),
            timeline_step(
                day(2022, 6, 2),
                Stage::CouncilPosition,
                "Debate in Council (general approach)",
            ),
            timeline_step(
                day(2022, 10, 3),
                Stage::CommitteeVote,
                "Vote in committee, 1st reading",
            ),
            timeline_step(
                day(2022, 10, 10),
                Stage::Other,
                "Committee report tabled for plenary, 1st reading",
            ),
            timeline_step(
                day(2022, 10, 18),
                Stage::PlenaryDebate,
                "Debate in Parliament",
            ),
            timeline_step(
                day(2022, 10, 19),
                Stage::PlenaryVote,
                "Decision by Parliament, 1st reading",
            ),
        ],
        forecasts: vec![],
        com: vec![],
        final_act: None,
        act_dates: Default::default(),
        subjects: vec![],
        eurovoc: Vec::new(),
        last_modified: vec![],
    }
}

pub(crate) fn request(language: Language) -> DigestRequest<'static> {
    let mut vote = step(
        AFIR,
        Stage::PlenaryVote,
        day(2022, 10, 19),
        "Decision by Parliament, 1st reading",
        AFIR_OEIL,
        "oeil",
    );
    vote.documents.push(Document {
        reference: "T9-0368/2022".into(),
        url: Some("https://www.europarl.europa.eu/doceo/document/TA-9-2022-0368_EN.html".into()),
    });
    let debate = step(
        AFIR,
        Stage::PlenaryDebate,
        day(2022, 10, 18),
        "Debate in Parliament",
        "https://www.europarl.europa.eu/doceo/document/CRE-9-2022-10-18-ITM-003_EN.html",
        "ep-api",
    );
    let press = item(
        "https://www.europarl.europa.eu/news/en/press-room/20221014IPR43206",
        day(2022, 10, 19),
        "Car-recharging stations should be available every 60 km",
        Some("https://www.europarl.europa.eu/news/en/press-room/20221014IPR43206"),
        "ep-press",
    );
    DigestRequest {
        horizon_days: UPCOMING_HORIZON_DAYS,
        watchlist_id: "mobility",
        watchlist_name: "Urban mobility and clean transport",
        language,
        period_start: Some(utc(2022, 10, 17, 6, 0)),
        period_end: now(),
        tz: veille::tz::Tz::brussels(),
        entries: vec![
            DigestEntry {
                event: vote,
                reasons: vec![format!("dossier {AFIR}")],
                alerted: true,
            },
            DigestEntry {
                event: press,
                reasons: vec![
                    "keyword \"recharging\"".into(),
                    "keyword \"alternative fuels\"".into(),
                ],
                alerted: false,
            },
            DigestEntry {
                event: debate,
                reasons: vec![format!("dossier {AFIR}")],
                alerted: false,
            },
        ],
        dossiers: vec![afir_dossier()],
        upcoming: vec![
            Upcoming {
                date: day(2022, 11, 10),
                stage: Stage::PlenaryVote,
                label: "Indicative plenary sitting date, 1st reading".into(),
                dossier: Some(r("2021/0104(COD)")),
                dossier_title: Some("Corporate sustainability reporting".into()),
                url: Some("https://oeil.secure.europarl.europa.eu/oeil/en/procedure-file?reference=2021/0104(COD)".into()),
            },
            Upcoming {
                date: day(2022, 10, 26),
                stage: Stage::Proposal,
                label: "Commission proposal: urban wastewater treatment (recast)".into(),
                dossier: None,
                dossier_title: None,
                url: None,
            },
            // Beyond the horizon and in the past: not shown.
            Upcoming {
                date: day(2023, 7, 11),
                stage: Stage::PlenaryVote,
                label: "Indicative plenary sitting date".into(),
                dossier: Some(r(AFIR)),
                dossier_title: Some(AFIR_EN.into()),
                url: None,
            },
            Upcoming {
                date: day(2022, 10, 19),
                stage: Stage::PlenaryVote,
                label: "Indicative plenary sitting date".into(),
                dossier: Some(r(AFIR)),
                dossier_title: None,
                url: None,
            },
        ],
        sources: vec![
            SourceHealth {
                id: "oeil".into(),
                ok: true,
                last_success: Some(utc(2022, 10, 24, 4, 0)),
                failing_since: None,
                failures: 0,
                last_error: None,
                cause: None,
            },
            SourceHealth {
                id: "ep-press".into(),
                ok: false,
                last_success: Some(utc(2022, 10, 21, 3, 30)),
                failing_since: Some(utc(2022, 10, 21, 9, 30)),
                failures: 7,
                last_error: Some("bot challenge: HTTP 202 with x-amzn-waf-action".into()),
                cause: Some("bot challenge".into()),
            },
            SourceHealth {
                id: "eurlex-cellar".into(),
                ok: true,
                last_success: Some(utc(2022, 10, 24, 2, 0)),
                failing_since: None,
                failures: 0,
                last_error: None,
                cause: None,
            },
        ],
        now: now(),
    }
}

#[test]
fn weekly_digest_in_english_matches_golden() {
    let d = digest::build(request(Language::En));
    let out = digest::render(&d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.subject,
        "[veille] Urban mobility and clean transport: 3 new (week of 17 Oct 2022)"
    );
    assert!(out.text.contains(
        "… → Referral to committee → Opinion → Council position → Committee vote → Plenary debate → now: Plenary vote"
    ) || out.text.contains("now: Plenary vote"));
    assert!(out.text.contains("(in 17 days)"), "{}", out.text);
    assert!(out
        .text
        .contains("ep-press: failing since 21 Oct 2022, 11:30 CEST"));
    fixtures::golden(
        "digest/weekly-en.txt",
        &format!("Subject: {}\n\n{}", out.subject, out.text),
    );
    fixtures::golden("digest/weekly-en.html", &out.html);
    let json = serde_json::to_string_pretty(&digest::to_json(&d)).unwrap_or_default();
    fixtures::golden("digest/weekly-en.json", &format!("{json}\n"));
}

#[test]
fn weekly_digest_in_french_matches_golden() {
    let d = digest::build(request(Language::Fr));
    let out = digest::render(&d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.subject,
        "[veille] Urban mobility and clean transport : 3 nouveautés (semaine du 17 octobre 2022)"
    );
    for heading in [
        "== Dossiers ==",
        "== Autres éléments retenus ==",
        "== À venir ==",
        "== Sources ==",
    ] {
        assert!(
            out.text.contains(heading),
            "{heading} missing:\n{}",
            out.text
        );
    }
    assert!(out.text.contains("dans 17 jours"));
    assert!(out.text.contains(AFIR_FR), "French title preferred");
    assert!(out.html.contains("<html lang=\"fr\">"));
    assert!(out.html.contains("À venir"));
    fixtures::golden(
        "digest/weekly-fr.txt",
        &format!("Subject: {}\n\n{}", out.subject, out.text),
    );
    fixtures::golden("digest/weekly-fr.html", &out.html);
}

#[test]
fn dossiers_come_first_with_their_steps_in_order() {
    let d = digest::build(request(Language::En));
    assert_eq!(d.dossiers.len(), 1);
    let b = &d.dossiers[0];
    assert_eq!(b.reference.to_string(), AFIR);
    assert_eq!(b.title, AFIR_EN);
    let stages: Vec<Option<Stage>> = b.entries.iter().map(|e| e.event.stage).collect();
    assert_eq!(
        stages,
        vec![Some(Stage::PlenaryDebate), Some(Stage::PlenaryVote)]
    );
    // `other` skipped, nothing repeated, the current stage last.
    assert_eq!(
        b.path,
        vec![
            Stage::Proposal,
            Stage::Referral,
            Stage::Opinion,
            Stage::CouncilPosition,
            Stage::CommitteeVote,
            Stage::PlenaryDebate,
            Stage::PlenaryVote
        ]
    );
    assert_eq!(d.items.len(), 1);
    assert_eq!(d.event_ids().len(), 3);
    assert_eq!(d.event_ids()[0], b.entries[0].event.id);
    // Upcoming: only within the horizon and not in the past, sorted.
    let dates: Vec<NaiveDate> = d.upcoming.iter().map(|u| u.date).collect();
    assert_eq!(dates, vec![day(2022, 10, 26), day(2022, 11, 10)]);
    let text = digest::render(&d).unwrap_or_else(|e| panic!("{e}")).text;
    let pos = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s} missing in\n{text}"))
    };
    assert!(pos("== Dossiers ==") < pos("== Other matched items =="));
    assert!(pos("== Other matched items ==") < pos("== Coming up =="));
    assert!(pos("== Coming up ==") < pos("== Sources =="));
    assert!(
        pos("Plenary debate: Debate in Parliament") < pos("Plenary vote: Decision by Parliament")
    );
    assert!(text.contains("Decision by Parliament, 1st reading (alert sent)"));
    assert!(text.contains("Why: keyword \"recharging\"; keyword \"alternative fuels\""));
}

#[test]
fn upcoming_horizon_is_inclusive() {
    let mut req = request(Language::En);
    let today = day(2022, 10, 24);
    let at = |days: i64| Upcoming {
        date: today + chrono::Duration::days(days),
        stage: Stage::ConsultationClosing,
        label: format!("day {days}"),
        dossier: None,
        dossier_title: None,
        url: None,
    };
    req.upcoming = vec![
        at(UPCOMING_HORIZON_DAYS + 1),
        at(UPCOMING_HORIZON_DAYS),
        at(0),
        at(-1),
    ];
    let d = digest::build(req);
    let labels: Vec<&str> = d.upcoming.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(
        labels,
        vec!["day 0".to_string(), format!("day {UPCOMING_HORIZON_DAYS}")]
    );
    let text = digest::render(&d).unwrap_or_else(|e| panic!("{e}")).text;
    assert!(text.contains("(today)"), "{text}");
}

#[test]
fn json_contract_fields_are_present() {
    let d = digest::build(request(Language::En));
    let j = digest::to_json(&d);
    assert_eq!(j["watchlist"], "mobility");
    let entries = j["entries"].as_array().unwrap_or_else(|| panic!("entries"));
    assert_eq!(entries.len(), 3);
    for e in entries {
        for k in [
            "event_id",
            "title",
            "url",
            "source",
            "kind",
            "date",
            "dossier",
            "matched_by",
        ] {
            assert!(e.get(k).is_some(), "entry lacks {k}: {e}");
        }
        assert!(e["matched_by"].is_array());
        assert_eq!(e["event_id"].as_str().map(str::len), Some(32));
    }
    let vote = &entries[1];
    assert_eq!(vote["kind"], "plenary-vote");
    assert_eq!(vote["dossier"], AFIR);
    assert_eq!(vote["date"], "2022-10-19");
    assert_eq!(vote["alerted"], true);
    let press = &entries[2];
    assert_eq!(press["kind"], "item");
    assert!(press["dossier"].is_null());
    assert_eq!(press["source"], "ep-press");
    let sources = j["sources"].as_array().unwrap_or_else(|| panic!("sources"));
    assert_eq!(sources.len(), 3, "every source, healthy or not");
    for s in sources {
        for k in ["id", "ok", "last_success", "failures"] {
            assert!(s.get(k).is_some(), "source lacks {k}: {s}");
        }
    }
    let press_src = sources
        .iter()
        .find(|s| s["id"] == "ep-press")
        .unwrap_or_else(|| panic!("ep-press"));
    assert_eq!(press_src["ok"], false);
    assert_eq!(press_src["failures"], 7);
    assert_eq!(press_src["last_success"], "2022-10-21T03:30:00Z");
}

fn hostile_request() -> DigestRequest<'static> {
    let mut req = request(Language::En);
    req.watchlist_name = "Procurement\r\nBcc: victim@example.org";
    let mut evil = item(
        "evil-1",
        day(2022, 10, 20),
        "<script>alert(1)</script>\r\nInjected-Header: yes",
        Some("javascript:alert(document.cookie)"),
        "generic-rss",
    );
    evil.provenance[0].url = "javascript:alert(2)".into();
    let data = item(
        "evil-2",
        day(2022, 10, 21),
        "Tender <b onmouseover=\"x()\">notice</b> & \"quotes\"",
        Some("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
        "generic-rss",
    );
    let quote_url = item(
        "evil-3",
        day(2022, 10, 21),
        "Link with a quote",
        Some("https://example.org/a\"onmouseover=\"x()"),
        "generic-rss",
    );
    req.entries.push(DigestEntry {
        event: evil,
        reasons: vec!["keyword \"<img src=x onerror=alert(1)>\"".into()],
        alerted: false,
    });
    req.entries.push(DigestEntry {
        event: data,
        reasons: vec!["keyword \"tender\"".into()],
        alerted: false,
    });
    req.entries.push(DigestEntry {
        event: quote_url,
        reasons: vec!["keyword \"link\"".into()],
        alerted: false,
    });
    req.dossiers[0].titles.en = Some("Fuels </td></tr></table><script>x()</script>".into());
    req.sources[1].last_error = Some("<b>HTTP 503</b>\r\nRetry-After: 60".into());
    req.sources[1].cause = req.sources[1].last_error.clone();
    req
}

#[test]
fn hostile_titles_and_links_are_escaped_and_not_linked() {
    let d = digest::build(hostile_request());
    let out = digest::render(&d).unwrap_or_else(|e| panic!("{e}"));
    // No control characters anywhere in the subject; the name is kept on one line.
    assert!(!out.subject.contains('\r') && !out.subject.contains('\n'));
    assert!(out
        .subject
        .starts_with("[veille] Procurement Bcc: victim@example.org: 6 new"));
    let html = &out.html;
    assert!(!html.contains("<script"), "raw script in HTML");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b onmouseover"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>HTTP 503"));
    assert!(!html.to_ascii_lowercase().contains("href=\"javascript:"));
    assert!(!html.contains("href=\"data:"));
    // Every href is an http(s) URL.
    for (i, _) in html.match_indices("href=\"") {
        let rest = &html[i + 6..];
        assert!(
            rest.starts_with("https://") || rest.starts_with("http://"),
            "non-http link: {}",
            &rest[..rest.len().min(60)]
        );
    }
    // The quote in the URL cannot leave the attribute.
    assert!(!html.contains("a\"onmouseover"));
    // Non-http URLs are shown as text, marked as such.
    assert!(html.contains("javascript:alert(document.cookie) (not a web link)"));
    assert!(out
        .text
        .contains("javascript:alert(document.cookie) (not a web link)"));
    // Text: CR/LF in titles cannot start a new line.
    assert!(!out.text.contains("\nInjected-Header"));
    assert!(out
        .text
        .contains("<script>alert(1)</script> Injected-Header: yes"));
    assert!(!out.text.contains('\r'));
    assert!(!out.text.contains("\nRetry-After"));
    let json = digest::to_json(&d);
    assert_eq!(json["entries"].as_array().map(Vec::len), Some(6));
}

#[test]
fn empty_digest_is_empty_unless_a_source_is_failing() {
    let mut req = request(Language::En);
    req.entries.clear();
    req.sources.retain(|s| s.ok);
    let d = digest::build(req.clone());
    assert!(d.is_empty());
    assert!(d.event_ids().is_empty());
    let out = digest::render(&d).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.subject.contains(": 0 new (week of 17 Oct 2022)"),
        "{}",
        out.subject
    );
    assert!(out.text.contains("All sources OK (2)."), "{}", out.text);

    // A broken source is worth a mail even when nothing matched.
    let mut broken = request(Language::En);
    broken.entries.clear();
    let d = digest::build(broken);
    assert!(!d.is_empty());
    assert!(digest::render(&d)
        .unwrap_or_else(|e| panic!("{e}"))
        .text
        .contains("1 of 3 sources failed during the period"));
}

#[test]
fn recovered_source_is_still_named() {
    let mut req = request(Language::En);
    req.sources[1].ok = true;
    req.sources[1].failing_since = None;
    let d = digest::build(req);
    let text = digest::render(&d).unwrap_or_else(|e| panic!("{e}")).text;
    assert!(
        text.contains(
            "ep-press: working again; 7 failed attempts; last success 21 Oct 2022, 05:30 CEST"
        ),
        "{text}"
    );
}

#[test]
fn duplicate_entries_are_merged() {
    let mut req = request(Language::En);
    let mut dup = req.entries[0].clone();
    dup.reasons = vec!["keyword \"alternative fuels\"".into()];
    dup.alerted = false;
    req.entries.push(dup);
    let d = digest::build(req);
    assert_eq!(d.entry_count(), 3);
    let vote = &d.dossiers[0].entries[1];
    assert_eq!(
        vote.reasons,
        vec![
            format!("dossier {AFIR}"),
            "keyword \"alternative fuels\"".to_string()
        ]
    );
    assert!(vote.alerted);
}

#[test]
fn alert_is_short_and_says_alert() {
    let mut req = request(Language::En);
    req.entries.truncate(1);
    let d = digest::build_alert(req);
    assert_eq!(d.kind, DigestKind::Alert);
    assert!(d.upcoming.is_empty());
    let out = digest::render(&d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.subject,
        "[veille] Alert: Urban mobility and clean transport: Plenary vote – 2021/0223(COD)"
    );
    assert!(!out.text.contains("(alert sent)"));
    assert!(!out.text.contains("== Coming up =="));
    // The failing source is still named, even in an alert.
    assert!(out.text.contains("ep-press: failing since"));
    fixtures::golden(
        "digest/alert-en.txt",
        &format!("Subject: {}\n\n{}", out.subject, out.text),
    );

    let mut fr = request(Language::Fr);
    fr.entries.truncate(1);
    let out = digest::render(&digest::build_alert(fr)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.subject,
        "[veille] Alerte : Urban mobility and clean transport : Vote en plénière – 2021/0223(COD)"
    );
}

#[test]
fn first_digest_and_daily_periods() {
    let mut req = request(Language::En);
    req.period_start = None;
    let s = digest::render(&digest::build(req))
        .unwrap_or_else(|e| panic!("{e}"))
        .subject;
    assert!(s.ends_with("(until 24 Oct 2022)"), "{s}");
    let mut req = request(Language::Fr);
    req.period_start = Some(utc(2022, 10, 23, 6, 0));
    let s = digest::render(&digest::build(req))
        .unwrap_or_else(|e| panic!("{e}"))
        .subject;
    assert!(s.ends_with("(24 octobre 2022)"), "{s}");
}

/// The golden HTML digest, loaded in a real headless Chromium, shows its items and runs
/// no script.
#[test]
fn golden_html_renders_in_a_browser() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/digest/weekly-en.html");
    let dom = crate::support::browser::dump_dom(&format!("file://{}", path.display()));
    assert!(dom.contains("Car-recharging stations should be available every 60 km"));
    assert!(!dom.contains("<script"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever a feed says, rendering works, the text and subject stay line-safe, and
    /// the HTML has no markup from the input and only http(s) links.
    #[test]
    fn any_title_and_url_render_safely(
        title in "\\PC{0,40}[<>\"'&\r\n]{0,4}\\PC{0,20}",
        url in "(https?|javascript|data|ftp|JAVASCRIPT)?:?/{0,2}[a-z<>\"' .]{0,20}",
        name in "[a-zA-Z\r\n<>é ]{0,20}",
    ) {
        let mut req = DigestRequest {
            horizon_days: UPCOMING_HORIZON_DAYS,
            watchlist_name: &name,
            ..request(Language::En)
        };
        req.entries.push(DigestEntry {
            event: item(
                "prop",
                day(2022, 10, 20),
                &format!("<zz{title}"),
                Some(&url),
                "generic-rss",
            ),
            reasons: vec![format!("keyword {title:?}")],
            alerted: false,
        });
        let out = digest::render(&digest::build(req)).unwrap_or_else(|e| panic!("{e}"));
        proptest::prop_assert!(!out.subject.contains(['\r', '\n']));
        proptest::prop_assert!(!out.text.contains('\r'));
        proptest::prop_assert!(!out.html.contains("<script"));
        for (i, _) in out.html.match_indices("href=\"") {
            let rest = &out.html[i + 6..];
            proptest::prop_assert!(rest.starts_with("https://") || rest.starts_with("http://"));
        }
        proptest::prop_assert!(!out.html.contains("<zz"));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// `Digest::into_parts`: every event once, in display order; no part over the cap;
    /// a dossier's entries together unless they alone exceed it; "coming up" and the
    /// sources in the first part only; a digest that fits is left whole.
    #[test]
    fn a_digest_in_parts_keeps_every_event_once_in_order(
        blocks in proptest::collection::vec(1usize..9, 0..6),
        items in 0usize..9,
        max in 1usize..7,
    ) {
        let base = digest::build(request(Language::En));
        let mut serial = 0u32;
        let mut entry = |from: &DigestEntry| {
            serial += 1;
            let mut e = from.clone();
            e.event.id = EventId::derive(&["part-test", &serial.to_string()]);
            e
        };
        let mut d = base.clone();
        d.dossiers = blocks
            .iter()
            .map(|&n| {
                let mut b = base.dossiers[0].clone();
                b.entries = (0..n).map(|_| entry(&base.dossiers[0].entries[0])).collect();
                b
            })
            .collect();
        d.items = (0..items).map(|_| entry(&base.items[0])).collect();
        let all = d.event_ids();
        let total = all.len();
        let parts = d.clone().into_parts(max);

        let joined: Vec<EventId> = parts.iter().flat_map(|p| p.event_ids()).collect();
        proptest::prop_assert_eq!(&joined, &all);
        if total <= max {
            proptest::prop_assert_eq!(parts.len(), 1);
            proptest::prop_assert_eq!(parts[0].part, None);
        } else {
            let n = parts.len();
            for (k, p) in parts.iter().enumerate() {
                proptest::prop_assert_eq!(p.part, Some((k + 1, n)));
                proptest::prop_assert!(p.entry_count() >= 1 && p.entry_count() <= max);
                if k > 0 {
                    proptest::prop_assert!(p.upcoming.is_empty() && p.sources.is_empty());
                }
            }
            proptest::prop_assert_eq!(&parts[0].upcoming, &d.upcoming);
            proptest::prop_assert_eq!(parts[0].sources.len(), d.sources.len());
        }
        // The rest of a digest whose first two parts went: numbered on from 3, even whole.
        let rest = d.clone().into_parts_from(max, 3);
        let joined: Vec<EventId> = rest.iter().flat_map(|p| p.event_ids()).collect();
        proptest::prop_assert_eq!(&joined, &all);
        let last = 2 + rest.len();
        for (i, p) in rest.iter().enumerate() {
            proptest::prop_assert_eq!(p.part, Some((3 + i, last)));
        }
        for b in &d.dossiers {
            if b.entries.len() <= max {
                let holding = parts
                    .iter()
                    .filter(|p| p.entries().any(|e| e.event.id == b.entries[0].event.id))
                    .collect::<Vec<_>>();
                proptest::prop_assert_eq!(holding.len(), 1);
                let first = b.entries[0].event.id;
                let block = holding[0]
                    .dossiers
                    .iter()
                    .find(|x| x.entries.iter().any(|e| e.event.id == first));
                proptest::prop_assert_eq!(block.map(|x| x.entries.len()), Some(b.entries.len()));
            }
        }
    }
}

/// A part says which it is, in the subject and the introduction, in both languages; only
/// the first tells the sources' health.
#[test]
fn a_digest_in_parts_says_so() {
    for (lang, subject, intro) in [
        (
            Language::En,
            "(part 2 of 2)",
            "it comes in 2 parts, and this is part 2.",
        ),
        (
            Language::Fr,
            "(partie 2 sur 2)",
            "elle arrive en 2 parties, et voici la partie 2.",
        ),
    ] {
        let parts = digest::build(request(lang)).into_parts(2);
        assert_eq!(parts.len(), 2);
        let first = digest::render(&parts[0]).unwrap_or_else(|e| panic!("{e}"));
        let second = digest::render(&parts[1]).unwrap_or_else(|e| panic!("{e}"));
        assert!(second.subject.ends_with(subject), "{}", second.subject);
        assert!(second.text.contains(intro), "{}", second.text);
        assert!(second.html.contains(intro), "{}", second.html);
        // The heading is the same word in both languages.
        assert!(first.text.contains("== Sources =="));
        assert!(!second.text.contains("== Sources =="), "{}", second.text);
    }
}

/// A new dossier found for the watchlist is told once, first, under its own heading in
/// text and HTML (and in French), with its title, reference, stage and why; its JSON
/// entry is of kind `discovered`. It is not a dossier block.
#[test]
fn a_new_dossier_has_its_own_heading() {
    for (lang, heading, now_word) in [
        (Language::En, "New dossiers in your field", "now: "),
        (
            Language::Fr,
            "Nouveaux dossiers dans votre domaine",
            "actuellement : ",
        ),
    ] {
        let mut req = request(lang);
        let mut d = afir_dossier();
        d.reference = r("2025/0260(COD)");
        d.titles.en = Some("Non-application of customs duties <b>on imports</b>".into());
        d.titles.fr = d.titles.en.clone();
        let ev = veille::dossier::discovered_event(&d, "wl", &prov("ep-api", "https://x"), now());
        assert_eq!(ev.kind, EventKind::Discovered);
        req.entries.push(DigestEntry {
            event: ev,
            reasons: vec!["new dossier: keyword \"customs duties\" in its title".into()],
            alerted: false,
        });
        let built = digest::build(req);
        assert_eq!(built.discovered.len(), 1);
        assert!(built
            .dossiers
            .iter()
            .all(|b| b.reference != r("2025/0260(COD)")));
        let out = digest::render(&built).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.text.contains(&format!("== {heading} ==")),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains("customs duties <b>on imports</b> (2025/0260(COD)) — "),
            "{}",
            out.text
        );
        assert!(out.text.contains(now_word), "{}", out.text);
        assert!(
            out.text
                .contains("new dossier: keyword \"customs duties\" in its title"),
            "{}",
            out.text
        );
        assert!(out.html.contains(heading), "{}", out.html);
        assert!(
            out.html.contains("&lt;b&gt;on imports&lt;/b&gt;"),
            "{}",
            out.html
        );
        let json = digest::to_json(&built);
        let first = &json["entries"][0];
        assert_eq!(first["kind"], "discovered");
        assert_eq!(first["dossier"], "2025/0260(COD)");
    }
}
