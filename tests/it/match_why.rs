//! `veille match` explains misses, not only hits (issue "The first week of an officer and
//! an operator", part 4), through the binary: the exclusion that cancelled a keyword, a
//! title and a summary tested as a feed item carries them, the COM number of a listed
//! procedure, and `dossier show` in every spelling.

use crate::support::app::TestApp;
use crate::support::http::TestServer;

fn app() -> TestApp {
    let app = TestApp::new(TestServer::start_background(), vec![]);
    app.write_config();
    app.add_watchlist(
        "klima",
        "name = \"K\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"Klima*\", \"Emission*\"]\nexclude = [\"Klimaanlage*\"]\n",
    );
    app
}

#[test]
fn an_exclusion_that_cancels_a_keyword_is_named() {
    let app = app();
    let out = app.expect(None, &["match", "Klimaanlagen in Fahrzeugen"], 0);
    assert_eq!(
        out,
        "no watchlist matches\nklima: found \"Klima*\", cancelled by exclude \"Klimaanlage*\"\n"
    );
    let out = app.expect(None, &["match", "Europäisches Klimagesetz"], 0);
    assert_eq!(out, "klima: keyword \"Klima*\"\n");
    let out = app.expect(
        None,
        &[
            "match",
            "--watchlist",
            "klima",
            "Klimaanlagen und Emissionen",
        ],
        0,
    );
    assert_eq!(
        out,
        "no watchlist matches\nklima: found \"Klima*\", \"Emission*\", cancelled by exclude \"Klimaanlage*\"\n"
    );
}

#[test]
fn a_summary_is_tested_with_the_title_as_a_feed_item_carries_them() {
    let app = app();
    // The keyword in the summary, the exclusion in the title: it matches.
    let out = app.expect(
        None,
        &[
            "match",
            "Klimaanlagen in Fahrzeugen",
            "--summary",
            "Die Kommission schlägt neue Emissionsnormen vor.",
        ],
        0,
    );
    assert_eq!(
        out,
        "klima: keyword \"Emission*\"\nklima: found \"Klima*\" in the title, cancelled by exclude \"Klimaanlage*\"\n"
    );
    let out = app.expect(
        None,
        &[
            "match",
            "Neue Regeln",
            "--summary",
            "Klimaschutz im Verkehr",
        ],
        0,
    );
    assert_eq!(out, "klima: keyword \"Klima*\"\n");
    let out = app.expect(
        None,
        &["match", "Neue Regeln", "--summary", "Weniger Wasser"],
        0,
    );
    assert_eq!(out, "no watchlist matches\n");
}
