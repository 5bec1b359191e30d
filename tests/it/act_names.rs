//! EUR-Lex feeds and acts named as the Official Journal names them, through the binary: a
//! loopback server serves the (hand-written, see `tests/fixtures/eurlex/README.md`) EUR-Lex
//! feeds; watchlists listing a CELEX number, a COM number, an act named in an item's
//! title, or the procedure that made an act get the item, with the reference as the reason.
//! Also the references `dossier::item_event` reads from those feeds' items, and the
//! store's alias index (COM and CELEX numbers of stored dossiers → their procedure).

use veille::model::{DossierRef, Observation, Provenance};
use veille::sources::{feed, Input};

use crate::support::app::{Source, TestApp};
use crate::support::fixtures;
use crate::support::http::{Response, TestServer};

const NOW: &str = "2026-11-27T12:00:00Z";

fn provenance() -> Provenance {
    Provenance {
        source: "eur-lex-oj-l".into(),
        url: "https://eur-lex.europa.eu/EN/display-feed.rss?rssId=222".into(),
        fetched_at: NOW.parse().unwrap_or_else(|e| panic!("{e}")),
    }
}

/// The references each item of a fixture feed is tied to, as `item_event` reads them.
fn mentions_of(rel: &str) -> Vec<Vec<String>> {
    let body = fixtures::own(rel);
    let p = provenance();
    let input = Input {
        body: &body,
        content_type: Some("application/rss+xml"),
        provenance: &p,
    };
    feed::parse(&input)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .into_iter()
        .filter_map(|o| match o {
            Observation::Item(item) => Some(item),
            _ => None,
        })
        .map(|item| {
            let e = veille::dossier::item_event(&item, &p, p.fetched_at, None);
            e.mentions.iter().map(DossierRef::to_string).collect()
        })
        .collect()
}

#[test]
fn eurlex_items_are_tied_to_their_celex_com_and_named_acts() {
    assert_eq!(
        mentions_of("eurlex/oj-l-acts.rss"),
        [
            // uri=CELEX%3A… and the title's CELEX: prefix.
            vec!["32026R2417"],
            // celex=… in the link, the act's own name and the act it amends, by name.
            vec!["32026R2388", "32016R0679"],
            vec!["32026L2290", "32008L0050"],
            vec!["32026R2401"],
            vec!["32026R2433"],
        ]
    );
    assert_eq!(
        mentions_of("eurlex/commission-proposals.rss"),
        [
            vec!["COM(2026)123", "32014L0024"],
            // Only the link names it: uri=COM%3A2026%3A131%3AFIN.
            vec!["COM(2026)131"],
        ]
    );
}

/// Store the dossier of 2025/0260(COD) whose final act is Regulation (EU) 2026/2401, as
/// a poll of CELLAR would.
fn store_edip_dossier(app: &TestApp) {
    use veille::store::{PollBatch, SourceRecord, Store};
    let now = NOW.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut d = crate::deadlines::cod_dossier();
    d.final_act = Some("32026R2401".parse().unwrap_or_else(|e| panic!("{e}")));
    let (store, _) =
        Store::open(&app.path("data/veille.sled"), 8 << 20, now).unwrap_or_else(|e| panic!("{e}"));
    store
        .record_poll(&PollBatch {
            source: "cellar".into(),
            state: SourceRecord::default(),
            resources: vec![],
            dossiers: vec![d],
            events: vec![],
            track: vec![],
            deadlines: vec![],
            discovery: Default::default(),
            now,
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

fn watchlist(dossiers: &str) -> String {
    format!("name = \"W\"\nrecipients = [\"fg@example.org\"]\ndossiers = [{dossiers}]\n")
}

/// (title, reasons) of each entry of a watchlist's pending digest.
fn pending(app: &TestApp, id: &str) -> Vec<(String, Vec<String>)> {
    let preview = app.json(Some(NOW), &["digest", "preview", id, "--format", "json"], 0);
    preview["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let title = e["title"].as_str().unwrap_or_default().to_string();
            let reasons = e["matched_by"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect();
            (title, reasons)
        })
        .collect()
}

#[test]
fn eurlex_feeds_reach_watchlists_by_celex_com_act_name_and_procedure() {
    let server = TestServer::start_background();
    for (path, rel) in [
        ("/oj-l.rss", "eurlex/oj-l-acts.rss"),
        ("/proposals.rss", "eurlex/commission-proposals.rss"),
    ] {
        server.route(
            path,
            Response::ok(fixtures::own(rel)).content_type("application/rss+xml"),
        );
    }
    let mut app = TestApp::new(server, vec![]);
    app.sources = vec![
        Source::new("eur-lex-oj-l", "feed", app.server.url("/oj-l.rss")),
        Source::new(
            "eur-lex-proposals",
            "feed",
            app.server.url("/proposals.rss"),
        ),
    ];
    app.write_config();
    for (id, dossiers) in [
        ("forms", "\"32026R2417\""),
        ("gdpr", "\"32016R0679\""),
        ("air", "\"32008L0050\""),
        ("thresholds", "\"COM(2026) 123\""),
        ("procurement", "\"32014L0024\""),
        ("japan", "\"52026PC0131\""),
        ("edip", "\"2025/0260(COD)\""),
    ] {
        app.add_watchlist(id, &watchlist(dossiers));
    }
    store_edip_dossier(&app);
    app.expect(Some(NOW), &["poll"], 0);

    let one = |id: &str| {
        let p = pending(&app, id);
        assert_eq!(p.len(), 1, "{id}: {p:#?}");
        p.into_iter().next().unwrap_or_default()
    };
    let (title, reasons) = one("forms");
    assert!(title.contains("2026/2417"), "{title}");
    assert_eq!(reasons, ["act \"Regulation (EU) 2026/2417\" (32026R2417)"]);
    let (title, reasons) = one("gdpr");
    assert!(
        title.contains("amending Regulation (EU) 2016/679"),
        "{title}"
    );
    assert_eq!(reasons, ["act \"Regulation (EU) 2016/679\" (32016R0679)"]);
    let (_, reasons) = one("air");
    assert_eq!(reasons, ["act \"Directive 2008/50/EC\" (32008L0050)"]);
    let (title, reasons) = one("thresholds");
    assert!(title.contains("thresholds for public works"), "{title}");
    assert_eq!(reasons, ["dossier COM(2026)123"]);
    let (_, reasons) = one("procurement");
    assert_eq!(reasons, ["act \"Directive 2014/24/EU\" (32014L0024)"]);
    let (_, reasons) = one("japan");
    assert_eq!(reasons, ["dossier COM(2026)131"]);
    // The item names only the act; the store knows the procedure that made it.
    let (title, reasons) = one("edip");
    assert!(
        title.contains("European Defence Industry Programme"),
        "{title}"
    );
    assert_eq!(reasons, ["dossier 2025/0260(COD)"]);
    // `match` explains it the same way, through the stored dossier.
    let out = app.expect(Some(NOW), &["match", "Regulation (EU) 2026/2401"], 0);
    assert_eq!(
        out,
        "edip: dossier 2025/0260(COD) (through \"Regulation (EU) 2026/2401\" (32026R2401), its act, in the stored dossier)\n"
    );
}

/// The store's alias index: a recorded dossier's COM numbers and final act name its
/// procedure, read back after the store is closed and opened again.
#[test]
fn the_store_knows_which_procedure_a_com_or_celex_number_belongs_to() {
    use veille::store::Store;
    let app = TestApp::new(TestServer::start_background(), vec![]);
    store_edip_dossier(&app);
    let now = NOW.parse().unwrap_or_else(|e| panic!("{e}"));
    let (store, _) =
        Store::open(&app.path("data/veille.sled"), 8 << 20, now).unwrap_or_else(|e| panic!("{e}"));
    let refs = |s: &[&str]| -> Vec<DossierRef> {
        s.iter()
            .map(|r| r.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    };
    for view in [
        store.stored_aliases().unwrap_or_else(|e| panic!("{e}")),
        store.stored_dossiers().unwrap_or_else(|e| panic!("{e}")),
    ] {
        for found in [
            refs(&["32026R2401"]),
            refs(&["COM(2025) 820"]),
            refs(&["52025PC0820"]),
            refs(&["32014L0024", "32026R2401"]),
        ] {
            assert_eq!(
                view.procedure_of(&found).map(|p| p.to_string()),
                Some("2025/0260(COD)".to_string()),
                "{found:?}"
            );
        }
        assert_eq!(view.procedure_of(&refs(&["32014L0024"])), None);
        assert_eq!(view.procedure_of(&[]), None);
    }
}
