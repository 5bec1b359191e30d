//! A source taken whole (`all_items_from`), through the binary: every item of a field's
//! own news feed reaches the group's digest whatever its words, save one carrying an
//! exclusion, with "every item of source" as the reason; items of other sources still
//! need a keyword; `veille check` names the source, `veille backtest` finds the same, and
//! `veille match --source` says what taking it whole does to one item.

use crate::support::app::{titles_of, Source, TestApp};
use crate::support::http::{Response, TestServer};

const NOW: &str = "2026-11-27T12:00:00Z";

const COHESION: &str = "name = \"Cohesion policy\"\nrecipients = [\"fg@example.org\"]\n\
keywords = [\"cohesion policy\"]\nexclude = [\"drought\"]\nall_items_from = [\"regio-news\"]\n";

/// A feed in the shape of the Commission's newsrooms (RSS 2.0), written for this test
/// with real titles of DG REGIO's news (read on its newsroom's pages; the labelled set
/// of tests/fixtures/titles/eval.tsv holds them): none names cohesion in a keyword, and
/// the third carries the watchlist's exclusion.
const REGIO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Regional policy news</title>
<link>https://regio.example.eu/</link>
<item><title>Panorama 63 - The Outermost Regions: joining forces across the EU</title>
<link>https://regio.example.eu/1</link><guid>1</guid>
<pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>
<item><title>Modern medicine without borders – Poland and Ukraine are saving lives together</title>
<link>https://regio.example.eu/2</link><guid>2</guid>
<pubDate>Fri, 27 Nov 2026 09:10:00 GMT</pubDate></item>
<item><title>Almost €34 million in European Solidarity Funds awarded to Romania to repair damages caused by severe drought in 2022</title>
<link>https://regio.example.eu/3</link><guid>3</guid>
<pubDate>Fri, 27 Nov 2026 09:20:00 GMT</pubDate></item>
</channel></rss>
"#;

/// Another press room: one item names the field, one does not.
const PRESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Press</title><link>https://press.example.eu/</link>
<item><title>New cohesion policy: MEPs assess previous period and identify new priorities</title>
<link>https://press.example.eu/1</link><guid>1</guid>
<pubDate>Fri, 27 Nov 2026 09:30:00 GMT</pubDate></item>
<item><title>Post-2020 brainstorming</title>
<link>https://press.example.eu/2</link><guid>2</guid>
<pubDate>Fri, 27 Nov 2026 09:40:00 GMT</pubDate></item>
</channel></rss>
"#;

fn app() -> TestApp {
    let server = TestServer::start_background();
    for (path, body) in [("/regio.xml", REGIO), ("/press.xml", PRESS)] {
        server.route(
            path,
            Response::ok(body.as_bytes().to_vec())
                .content_type("application/rss+xml; charset=utf-8"),
        );
    }
    let sources = vec![
        Source::new("regio-news", "feed", server.url("/regio.xml")),
        Source::new("press", "feed", server.url("/press.xml")),
    ];
    let app = TestApp::new(server, sources);
    app.add_watchlist("cohesion", COHESION);
    app
}

#[test]
fn every_item_of_a_source_taken_whole_reaches_the_digest_but_the_excluded() {
    let app = app();
    let out = app.expect(Some(NOW), &["check"], 0);
    assert!(
        out.contains("cohesion — Cohesion policy (1 recipient(s), 0 dossier(s), 1 keyword(s), every item of regio-news, 0 subject(s)"),
        "{out}"
    );
    let out = app.expect(Some(NOW), &["poll"], 0);
    let line = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        line("regio-news").ends_with("3 new event(s), 2 matched"),
        "{out}"
    );
    assert!(
        line("press ").ends_with("2 new event(s), 1 matched"),
        "{out}"
    );
    let preview = app.json(
        Some(NOW),
        &["digest", "preview", "cohesion", "--format", "json"],
        0,
    );
    let mut titles = titles_of(&preview);
    titles.sort();
    assert_eq!(
        titles,
        [
            "Modern medicine without borders – Poland and Ukraine are saving lives together",
            "New cohesion policy: MEPs assess previous period and identify new priorities",
            "Panorama 63 - The Outermost Regions: joining forces across the EU",
        ],
        "{preview}"
    );
    // The digest says why, as the officer reads it.
    let text = app.expect(Some(NOW), &["digest", "preview", "cohesion"], 0);
    assert!(
        text.contains("every item of source \"regio-news\""),
        "{text}"
    );
    assert!(text.contains("keyword \"cohesion policy\""), "{text}");
    assert!(!text.contains("drought"), "{text}");
    // The archive, replayed through the watchlist, finds the same three.
    let out = app.expect(Some(NOW), &["backtest", "cohesion", "--since", "30d"], 0);
    assert!(out.contains("every item of source \"regio-news\""), "{out}");
    assert!(out.contains("Panorama 63"), "{out}");
    assert!(!out.contains("drought"), "{out}");
    assert!(!out.contains("Post-2020"), "{out}");
}

#[test]
fn match_with_a_source_says_what_taking_it_whole_does() {
    let app = app();
    let title = "Post-2020 brainstorming";
    assert_eq!(
        app.expect(None, &["match", title], 0),
        "no watchlist matches\n"
    );
    assert_eq!(
        app.expect(None, &["match", title, "--source", "press"], 0),
        "no watchlist matches\n"
    );
    assert_eq!(
        app.expect(None, &["match", title, "--source", "regio-news"], 0),
        "cohesion: every item of source \"regio-news\"\n"
    );
    let drought = "Almost €34 million in European Solidarity Funds awarded to Romania to repair damages caused by severe drought in 2022";
    assert_eq!(
        app.expect(None, &["match", drought, "--source", "regio-news"], 0),
        "no watchlist matches\ncohesion: takes every item of source \"regio-news\", but exclude \"drought\" leaves this one out\n"
    );
    // An exclusion in the summary leaves it out too.
    let out = app.expect(
        None,
        &[
            "match",
            title,
            "--summary",
            "After the drought",
            "--source",
            "regio-news",
        ],
        0,
    );
    assert!(
        out.contains("but exclude \"drought\" leaves this one out"),
        "{out}"
    );
    // A source that is not configured is named, with the configured ones.
    let (out, err) = app.expect_both(None, &["match", title, "--source", "regio-new"], 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "veille: no source \"regio-new\" in config.toml\n  hint: did you mean \"regio-news\"? (configured sources: regio-news, press)\n"
    );
}

#[test]
fn match_with_a_source_applies_the_watchlists_source_limits() {
    let app = app();
    app.add_watchlist(
        "press-only",
        "name = \"Press\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"brainstorming\"]\nsources = [\"press\"]\n",
    );
    let title = "Post-2020 brainstorming";
    assert_eq!(
        app.expect(None, &["match", title], 0),
        "press-only: keyword \"brainstorming\"\n"
    );
    assert_eq!(
        app.expect(None, &["match", title, "--source", "regio-news"], 0),
        "cohesion: every item of source \"regio-news\"\n"
    );
    assert_eq!(
        app.expect(None, &["match", title, "--source", "press"], 0),
        "press-only: keyword \"brainstorming\"\n"
    );
}
