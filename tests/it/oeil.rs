//! The OEIL procedure-file parser against the real captured pages in `oeil/`: golden
//! output for every file, the three markup generations of one dossier, one dossier before
//! and after completion, and the error cases (no key events, challenge, garbage).

use chrono::{DateTime, NaiveDate, Utc};
use veille::model::{DossierSnapshot, Observation, Provenance, Stage};
use veille::sources::oeil::{parse, procedure_url};
use veille::sources::{Input, ParseError};

use crate::support::fixtures;

fn provenance(url: &str) -> Provenance {
    Provenance {
        source: "oeil".into(),
        url: url.into(),
        fetched_at: DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

const URL: &str = "https://oeil.europarl.europa.eu/oeil/en/procedure-file?reference=x";

fn run(body: &[u8]) -> Result<Vec<Observation>, ParseError> {
    let p = provenance(URL);
    parse(&Input {
        body,
        content_type: Some("text/html;charset=UTF-8"),
        provenance: &p,
    })
}

fn snapshot(rel: &str) -> DossierSnapshot {
    let obs = run(&fixtures::read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(obs.len(), 1, "{rel}: exactly one observation");
    match obs.into_iter().next() {
        Some(Observation::Dossier(d)) => *d,
        other => panic!("{rel}: expected a dossier, got {other:?}"),
    }
}

/// (date, stage, label) of every key event.
fn events(d: &DossierSnapshot) -> Vec<(NaiveDate, Stage, String)> {
    d.steps
        .iter()
        .map(|s| (s.date, s.stage, s.label.clone()))
        .collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date"))
}

#[test]
fn golden_output_for_every_oeil_fixture() {
    let files = fixtures::list("oeil");
    assert!(
        files.len() >= 8,
        "expected the 8 OEIL fixtures, found {files:?}"
    );
    for rel in files {
        let name = rel
            .rsplit('/')
            .next()
            .unwrap_or(&rel)
            .trim_end_matches(".html");
        // The URL the page would have been fetched from, as the poller builds it.
        let url = match name
            .split('_')
            .next()
            .map(|r| r.splitn(3, '-').collect::<Vec<_>>())
        {
            Some(p) if p.len() == 3 && p[0].len() == 4 => {
                let r: veille::model::ProcedureRef = format!("{}/{}({})", p[0], p[1], p[2])
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                procedure_url("https://oeil.europarl.europa.eu", &r)
            }
            _ => "https://oeil.europarl.europa.eu/oeil/en/document-summary?id=1651118".to_string(),
        };
        let p = provenance(&url);
        let input = Input {
            body: &fixtures::read(&rel),
            content_type: Some("text/html;charset=UTF-8"),
            provenance: &p,
        };
        let text = match parse(&input) {
            Ok(obs) => serde_json::to_string_pretty(&obs).unwrap_or_else(|e| panic!("{e}")),
            Err(e) => format!("error: {e}"),
        } + "\n";
        fixtures::golden(&format!("oeil/{name}.json"), &text);
    }
}

#[test]
fn three_designs_of_one_dossier_give_the_same_key_events() {
    let old = snapshot("oeil/2023-2019-INI_old-design_page-available-2023-12-23.html");
    let erpl = snapshot("oeil/2023-2019-INI_new-design-erpl_page-available-2024-11-14.html");
    let es = snapshot("oeil/2023-2019-INI_new-design-es_page-available-2025-11-13.html");
    for d in [&old, &erpl, &es] {
        assert_eq!(d.reference.to_string(), "2023/2019(INI)");
        assert_eq!(
            d.titles.en.as_deref(),
            Some("Implementation of the 2018 Geoblocking Regulation in the Digital Single Market")
        );
        assert_eq!(d.status.as_deref(), Some("Procedure completed"));
        assert!(d
            .subjects
            .contains(&"3.50.15 Intellectual property, copyright".to_string()));
        let lead: Vec<_> = d
            .committees
            .iter()
            .filter(|c| c.role == veille::model::CommitteeRole::Lead)
            .map(|c| (c.code.as_str(), c.rapporteurs.clone()))
            .collect();
        assert_eq!(lead, vec![("IMCO", vec!["MAZUREK Beata".to_string()])]);
    }
    assert_eq!(events(&erpl), events(&es));
    assert_eq!(erpl.committees, es.committees);
    assert_eq!(old.committees, es.committees);
    assert_eq!(old.subjects, es.subjects);

    // The old capture (December 2023) predates OEIL's "Results of vote in Parliament" row;
    // every other key event is identical across the three designs.
    let mut new_without_results = events(&es);
    new_without_results.retain(|(_, _, l)| l != "Results of vote in Parliament");
    assert_eq!(events(&old), new_without_results);
    assert_eq!(
        events(&es),
        vec![
            (
                date(2023, 2, 16),
                Stage::Referral,
                "Committee referral announced in Parliament".to_string()
            ),
            (
                date(2023, 2, 16),
                Stage::Other,
                "Referral to associated committees announced in Parliament".to_string()
            ),
            (
                date(2023, 10, 25),
                Stage::CommitteeVote,
                "Vote in committee".to_string()
            ),
            (
                date(2023, 11, 7),
                Stage::CommitteeVote,
                "Committee report tabled for plenary".to_string()
            ),
            (
                date(2023, 12, 13),
                Stage::PlenaryVote,
                "Decision by Parliament".to_string()
            ),
            (
                date(2023, 12, 13),
                Stage::PlenaryVote,
                "Results of vote in Parliament".to_string()
            ),
        ]
    );
    // Document references and links agree where the designs show the same document.
    let docs = |d: &DossierSnapshot, i: usize| d.steps[i].documents.clone();
    assert_eq!(docs(&old, 3), docs(&es, 3));
    assert_eq!(docs(&old, 4), docs(&es, 4));
    assert_eq!(old.last_modified.as_deref(), Some("06/06/2023 14:02"));
    assert_eq!(erpl.last_modified.as_deref(), Some("14-11-2024"));
    assert_eq!(es.last_modified.as_deref(), Some("13-11-2025"));
}

#[test]
fn one_dossier_before_and_after_completion() {
    let before = snapshot("oeil/2024-0258-COD_new-design-erpl_page-available-2025-03-16.html");
    let after = snapshot("oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html");
    assert_eq!(before.reference.to_string(), "2024/0258(COD)");
    assert_eq!(after.reference, before.reference);
    assert_eq!(
        before.status.as_deref(),
        Some("Awaiting Council's 1st reading position")
    );
    assert_eq!(after.status.as_deref(), Some("Procedure completed"));
    assert_eq!(before.titles, after.titles);
    assert_eq!(
        before.com.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        after.com.iter().map(|c| c.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(after.com.len(), 1);
    assert_eq!(after.com[0].year, 2024);
    assert_eq!(after.com[0].number, 469);

    // The after-page is the before-page plus exactly these steps. The before-page (available
    // 16/03/2025) already said "Awaiting Council's 1st reading position" but its key events
    // stopped at the debate of 10/03: the plenary vote of 11/03 shows up only afterwards.
    let b = events(&before);
    let a = events(&after);
    assert_eq!(
        &a[..b.len()],
        &b[..],
        "the earlier key events are unchanged"
    );
    assert_eq!(
        a[b.len()..].to_vec(),
        vec![
            (
                date(2025, 3, 11),
                Stage::PlenaryVote,
                "Decision by Parliament, 1st reading".to_string()
            ),
            (
                date(2025, 3, 11),
                Stage::PlenaryVote,
                "Results of vote in Parliament".to_string()
            ),
            (
                date(2025, 3, 18),
                Stage::Adopted,
                "Act adopted by Council after Parliament's 1st reading".to_string()
            ),
            (
                date(2025, 3, 18),
                Stage::Signed,
                "Final act signed".to_string()
            ),
            (
                date(2025, 3, 21),
                Stage::Published,
                "Final act published in Official Journal".to_string()
            ),
        ]
    );

    // The final act: CELEX from the Final act section, OJ link on the published step.
    assert_eq!(before.final_act, None);
    assert_eq!(
        after.final_act.as_ref().map(|c| c.to_string()).as_deref(),
        Some("32025R0535")
    );
    let published = after
        .steps
        .iter()
        .find(|s| s.stage == Stage::Published)
        .unwrap_or_else(|| panic!("no published step"));
    let refs: Vec<&str> = published
        .documents
        .iter()
        .map(|d| d.reference.as_str())
        .collect();
    assert_eq!(refs, vec!["32025R0535", "OJ L 21.03.2025"]);
    assert!(published.documents.iter().all(|d| d
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://eur-lex.europa.eu/"))));

    // Documents carry absolute links; COM numbers come from the proposal step.
    let proposal = &after.steps[0];
    assert_eq!(proposal.stage, Stage::Proposal);
    assert_eq!(proposal.documents[0].reference, "COM(2024)0469");
    for s in &after.steps {
        for d in &s.documents {
            if let Some(u) = &d.url {
                assert!(u.starts_with("https://"), "{u} is not absolute");
            }
        }
    }
    let agreement = after
        .steps
        .iter()
        .find(|s| s.stage == Stage::ProvisionalAgreement)
        .unwrap_or_else(|| panic!("no provisional agreement"));
    let refs: Vec<&str> = agreement
        .documents
        .iter()
        .map(|d| d.reference.as_str())
        .collect();
    assert_eq!(refs, vec!["PE770.077", "GEDA/A/(2025)001013"]);

    // Joint committee: two leads, each with its rapporteur; shadows are not rapporteurs.
    let leads: Vec<_> = after
        .committees
        .iter()
        .filter(|c| c.role == veille::model::CommitteeRole::Lead)
        .map(|c| (c.code.as_str(), c.rapporteurs.join(";")))
        .collect();
    assert_eq!(
        leads,
        vec![
            ("AFET", "MIKSER Sven".into()),
            ("BUDG", "MUREŞAN Siegfried".into())
        ]
    );
    assert_eq!(before.committees, after.committees);
}

#[test]
fn nbsp_in_the_page_is_whitespace() {
    let d =
        snapshot("oeil/2025-0229-NLE_new-design-es_page-available-2025-12-21_contains-NBSP.html");
    assert_eq!(d.reference.to_string(), "2025/0229(NLE)");
    assert_eq!(
        d.titles.en.as_deref(),
        Some("European High Performance Computing Joint Undertaking (EuroHPC)")
    );
    assert_eq!(d.status.as_deref(), Some("Awaiting final decision"));
    // BUDG declined to give an opinion: it is not listed as an opinion committee.
    assert!(d.committees.iter().any(|c| c.code == "ITRE"));

    // The same page with real NBSPs (not entities) in the reference still parses.
    let body = fixtures::read(
        "oeil/2025-0229-NLE_new-design-es_page-available-2025-12-21_contains-NBSP.html",
    );
    let text = String::from_utf8(body).unwrap_or_else(|e| panic!("{e}"));
    let spaced = text.replacen(
        "title-h1 mb-3\">2025/0229(NLE)<",
        "title-h1 mb-3\">\u{a0}2025/0229\u{a0}(NLE)\n<",
        1,
    );
    assert_ne!(spaced, text, "the fixture's header changed");
    let obs = run(spaced.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    match &obs[0] {
        Observation::Dossier(d) => assert_eq!(d.reference.to_string(), "2025/0229(NLE)"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_document_summary_is_not_a_procedure_file() {
    let err = run(&fixtures::read(
        "oeil/document-summary_id-1651118_page-available-2025-12-06.html",
    ));
    match err {
        Err(ParseError::Layout(msg)) => assert!(msg.contains("document summary"), "{msg}"),
        other => panic!("expected a layout error, got {other:?}"),
    }
}

/// Cut the `<table>…</table>` that follows `marker` out of `html`.
fn without_table_after(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not found"));
    let start = at
        + html[at..]
            .find("<table")
            .unwrap_or_else(|| panic!("no table"));
    let end = start
        + html[start..]
            .find("</table>")
            .unwrap_or_else(|| panic!("no end"))
        + 8;
    format!("{}{}", &html[..start], &html[end..])
}

#[test]
fn a_page_without_key_events_is_a_layout_error() {
    let es = String::from_utf8(fixtures::read(
        "oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let cut = without_table_after(&es, ">Key events</h2>");
    assert!(
        matches!(run(cut.as_bytes()), Err(ParseError::Layout(_))),
        "{:?}",
        run(cut.as_bytes())
    );

    // The whole section gone (a redesign that renames it): still a layout error.
    let renamed = es.replace(">Key events</h2>", ">Events</h2>");
    match run(renamed.as_bytes()) {
        Err(ParseError::Layout(msg)) => assert!(msg.contains("key-events"), "{msg}"),
        other => panic!("expected a layout error, got {other:?}"),
    }

    // A third class prefix is not silently accepted.
    let prefixed = es.replace("es_title-h2", "xx_title-h2");
    assert!(matches!(
        run(prefixed.as_bytes()),
        Err(ParseError::Layout(_))
    ));

    // The old design without its key-events block.
    let old = String::from_utf8_lossy(&fixtures::read(
        "oeil/2023-2019-INI_old-design_page-available-2023-12-23.html",
    ))
    .into_owned();
    let cut = old.replace("id=\"key_events-data\"", "id=\"gone\"");
    assert!(matches!(run(cut.as_bytes()), Err(ParseError::Layout(_))));
}

#[test]
fn forecasts_are_read_when_the_section_is_present() {
    // No captured page has a Forecasts section; this one is modelled on the other new-design
    // sections (h2 heading + Date | Subject table) and is an assumption to check against
    // the next real capture.
    let es = String::from_utf8(fixtures::read(
        "oeil/2025-0229-NLE_new-design-es_page-available-2025-12-21_contains-NBSP.html",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let section = r#"<div class="es_product-section"><div id="section4" class="erpl-product-content oeil-spy-section mb-2">
<div class="row"><div class="col-12 col-lg"><h2 class="es_title-h2 mb-2">Forecasts</h2></div></div>
<div class="table-responsive"><table class="table table-striped table-bordered">
<thead><tr><th class="align-middle" scope="col">Date</th><th class="align-middle" scope="col">Subject</th></tr></thead>
<tbody><tr><td class="align-middle">19/01/2026</td><td class="align-middle">Indicative plenary sitting date</td></tr></tbody>
</table></div></div></div>"#;
    let marker = "<div class=\"es_product-section\">\n    <div class=\"separator border-dark my-3\"></div>\n    <div id=\"section5\"";
    assert!(
        es.contains(marker),
        "the fixture's technical section changed"
    );
    let with = es.replacen(marker, &format!("{section}{marker}"), 1);
    let obs = run(with.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let Observation::Dossier(d) = &obs[0] else {
        panic!("not a dossier")
    };
    assert_eq!(d.forecasts.len(), 1);
    assert_eq!(d.forecasts[0].date, date(2026, 1, 19));
    assert_eq!(d.forecasts[0].stage, Stage::PlenaryVote);
    assert_eq!(d.forecasts[0].label, "Indicative plenary sitting date");
}

#[test]
fn old_design_forecasts_are_read() {
    // The old design's forecast block as parltrack reads it (`#forecast-data`, two-cell
    // `.ep-table-row`s); not in any capture, so this checks the assumption, not the site.
    let old = String::from_utf8_lossy(&fixtures::read(
        "oeil/2022-2201-INI_old-design_page-available-2023-12-27.html",
    ))
    .into_owned();
    let block = r#"<div id="forecast-data" class="ep_gridcolumn ep-m_product"><div class="ep-table">
<div class="ep-table-row"><div class="ep-table-cell"><span class="ep_name">05/07/2023</span></div>
<div class="ep-table-cell"><span class="ep_name">Indicative plenary sitting date, 1st reading/single reading</span></div></div>
</div></div>"#;
    let marker = "<div id=\"key_events-data\"";
    assert!(old.contains(marker));
    let with = old.replacen(marker, &format!("{block}{marker}"), 1);
    let obs = run(with.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let Observation::Dossier(d) = &obs[0] else {
        panic!("not a dossier")
    };
    assert_eq!(d.forecasts.len(), 1);
    assert_eq!(d.forecasts[0].date, date(2023, 7, 5));
    assert_eq!(d.forecasts[0].stage, Stage::PlenaryVote);
    // The forecast block does not leak into the key events.
    assert_eq!(d.steps.len(), 6);
}

#[test]
fn challenge_and_empty_bodies_are_challenges() {
    let waf = br#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title></title>
<script type="text/javascript">window.awsWafCookieDomainList = [];window.gokuProps = {"key":"AQIDAHjcYu","iv":"D549","context":"x"};</script>
<script src="https://3e3378af7cd0.eu-central-1.sdk.awswaf.com/3e3378af7cd0/b1d2b3c8d1a4/challenge.js"></script>
</head><body><div id="challenge-container"></div>
<script type="text/javascript">AwsWafIntegration.saveReferrer();AwsWafIntegration.checkForceRefresh().then((forceRefresh) => {
if (forceRefresh) { AwsWafIntegration.forceRefreshToken().then(() => { window.location.reload(true); }); }
else { AwsWafIntegration.getToken().then(() => { window.location.reload(true); }); } });</script>
<noscript><h1>JavaScript is disabled</h1>In order to continue, we need to verify that you're not a robot.</noscript>
</body></html>"#;
    assert_eq!(run(waf), Err(ParseError::Challenge));
    assert_eq!(run(b""), Err(ParseError::Challenge));
    assert_eq!(run(b"  \n <html></html>\n"), Err(ParseError::Challenge));
}

#[test]
fn soft_not_found_pages_are_not_found() {
    // The old design's soft 404 (parltrack looks for this `span.ep_name`).
    let page = format!(
        "<html><head><title>Legislative Observatory</title></head><body><div id=\"website-body\">\
         <span class=\"ep_name\">This procedure or document does not exist!</span>{}</div></body></html>",
        "<p>padding</p>".repeat(30)
    );
    assert!(matches!(run(page.as_bytes()), Err(ParseError::NotFound(_))));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    // A fixed pseudo-random sequence (xorshift), so the test is reproducible.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in [1usize, 199, 200, 4096, 65_537] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(
            run(&bytes).is_err(),
            "{len} random bytes parsed as a dossier"
        );
    }
    // Markup soup that looks a little like OEIL.
    let soup =
        "<h2 class=\"es_title-h2\">Key events</h2><table><tr><td>x</td></tr></table>".repeat(10);
    assert!(run(soup.as_bytes()).is_err());
    let soup = format!(
        "<div class=\"oeil-spy-section\"><h2 class=\"es_title-h2\">Key events</h2><table><tr><td>31/02/2025</td><td>Vote</td><td></td></tr></table></div>{}",
        "<p>padding</p>".repeat(20)
    );
    assert!(matches!(run(soup.as_bytes()), Err(ParseError::Layout(_))));
}

#[test]
fn procedure_urls() {
    let r: veille::model::ProcedureRef = "2024/0258(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        procedure_url("https://oeil.europarl.europa.eu/", &r),
        "https://oeil.europarl.europa.eu/oeil/en/procedure-file?reference=2024/0258(COD)"
    );
    assert_eq!(
        procedure_url("http://127.0.0.1:8080", &r),
        "http://127.0.0.1:8080/oeil/en/procedure-file?reference=2024/0258(COD)"
    );
}

#[test]
fn truncated_pages_never_panic() {
    for rel in fixtures::list("oeil") {
        let body = fixtures::read(&rel);
        for cut in [
            0,
            100,
            1_000,
            body.len() / 3,
            body.len() / 2,
            body.len() - 1,
        ] {
            // Ok (the key events survived the cut) or an error: never a panic, and never a
            // dossier without key events.
            if let Ok(obs) = run(&body[..cut]) {
                for o in obs {
                    if let Observation::Dossier(d) = o {
                        assert!(!d.steps.is_empty(), "{rel} cut at {cut}");
                    }
                }
            }
        }
    }
}
