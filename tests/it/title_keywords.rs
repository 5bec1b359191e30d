//! Title keywords through the binary: a feed item with the field's broad word in its title
//! reaches the digest, one with the word in its summary only does not; `veille match` says
//! why, and `veille check` counts them.

use crate::support::app::{titles_of, Source, TestApp};
use crate::support::http::{Response, TestServer};

const NOW: &str = "2026-11-27T12:00:00Z";

const CLIMATE: &str = "name = \"Energy and climate\"\nrecipients = [\"fg@example.org\"]\n\
keywords = [\"energy efficiency\"]\ntitle_keywords = [\"climate\", \"Klima*\"]\n";

/// Three items as a press room's feed carries them. The second is the real title and
/// summary of the European Parliament's press release 20221014IPR43206 (recharging
/// points, kept under tests/fixtures/captured/ep-press/): "climate" in its summary only.
const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Press</title><link>https://press.example.eu/</link>
<item><title>Climate: Council agrees its position on the 2040 target</title>
<link>https://press.example.eu/1</link><guid>1</guid>
<description>Ministers agreed a general approach.</description>
<pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>
<item><title>Car-recharging stations should be available every 60 km, say MEPs</title>
<link>https://press.example.eu/2</link><guid>2</guid>
<description>To help the EU become climate neutral, MEPs want car-recharging stations every 60 km, hydrogen refuelling stations every 100 km and fewer emissions from ships.</description>
<pubDate>Fri, 27 Nov 2026 09:10:00 GMT</pubDate></item>
<item><title>Neue Regeln für Gebäude</title>
<link>https://press.example.eu/3</link><guid>3</guid>
<description>Mehr Energieeffizienz und Klimaschutz in Gebäuden.</description>
<pubDate>Fri, 27 Nov 2026 09:20:00 GMT</pubDate></item>
</channel></rss>
"#;

fn app() -> TestApp {
    let server = TestServer::start_background();
    server.route(
        "/feed.xml",
        Response::ok(FEED.as_bytes().to_vec()).content_type("application/rss+xml; charset=utf-8"),
    );
    let url = server.url("/feed.xml");
    let app = TestApp::new(server, vec![Source::new("press", "feed", url)]);
    app.add_watchlist("climate", CLIMATE);
    app
}

#[test]
fn a_title_keyword_brings_an_item_by_its_title_never_by_its_summary() {
    let app = app();
    let out = app.expect(Some(NOW), &["poll"], 0);
    assert!(out.contains("3 new event(s), 1 matched"), "{out}");
    let preview = app.json(
        Some(NOW),
        &["digest", "preview", "climate", "--format", "json"],
        0,
    );
    assert_eq!(
        titles_of(&preview),
        ["Climate: Council agrees its position on the 2040 target"],
        "{preview}"
    );
}

#[test]
fn match_says_a_title_keyword_in_the_summary_does_not_count() {
    let app = app();
    let out = app.expect(
        None,
        &[
            "match",
            "Car-recharging stations should be available every 60 km, say MEPs",
            "--summary",
            "To help the EU become climate neutral, MEPs want car-recharging stations every 60 km",
        ],
        0,
    );
    assert_eq!(
        out,
        "no watchlist matches\nclimate: title keyword \"climate\" found in the summary, where it does not count\n"
    );
    let out = app.expect(
        None,
        &[
            "match",
            "Klimaschutz",
            "--summary",
            "Klimaschutz in Gebäuden",
        ],
        0,
    );
    assert_eq!(out, "climate: keyword \"Klima*\"\n");
    // A keyword found only inside a phrase the watchlist ignores.
    app.add_watchlist(
        "industry",
        "name = \"Energy\"\nrecipients = [\"fg@example.org\"]\ntitle_keywords = [\"energy\"]\n\
         ignore = [\"Committee on Industry, Research and Energy\"]\n",
    );
    let opinion =
        "OPINION of the Committee on Industry, Research and Energy on single-use plastics";
    let out = app.expect(None, &["match", opinion], 0);
    assert_eq!(
        out,
        "no watchlist matches\nindustry: keyword \"energy\" found only inside \"Committee on Industry, Research and Energy\", which the watchlist ignores\n"
    );
    let out = app.expect(None, &["match", &format!("{opinion} and energy prices")], 0);
    assert_eq!(out, "industry: keyword \"energy\"\n");
    let out = app.expect(None, &["check"], 0);
    assert!(
        out.contains("climate — Energy and climate (1 recipient(s), 0 dossier(s), 1 keyword(s), 2 title keyword(s), 0 subject(s)"),
        "{out}"
    );
}
