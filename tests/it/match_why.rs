//! `veille match` explains misses, not only hits, through the binary: the exclusion that cancelled a keyword, a
//! title and a summary tested as a feed item carries them, the COM number of a listed
//! procedure, and `dossier show` in every spelling; a `*` inside a keyword.

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

/// Store a dossier of 2025/0260(COD) whose proposal is COM(2025) 823, as a poll would.
fn store_dossier(app: &TestApp) {
    use veille::store::{PollBatch, SourceRecord, Store};
    let now = chrono::Utc::now();
    let mut d = crate::deadlines::cod_dossier();
    d.com = vec!["COM(2025)823".parse().unwrap_or_else(|e| panic!("{e}"))];
    let (store, _) =
        Store::open(&app.path("data/veille.sled"), 8 << 20, now).unwrap_or_else(|e| panic!("{e}"));
    store
        .record_poll(&PollBatch {
            source: "oeil".into(),
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

#[test]
fn dossier_show_takes_com_and_celex_spellings_through_stored_dossiers() {
    let app = app();
    let (code, err) = {
        let o = app.veille(None, &["dossier", "show", "COM(2025) 823"]);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        "veille: no stored dossier has COM(2025) 823; it is known once its procedure has been fetched\n"
    );
    store_dossier(&app);
    for spelling in [
        "COM(2025) 823",
        "COM(2025)823",
        "COM(2025) 823 final",
        "COM/2025/0823",
        "52025PC0823",
        "2025/0260(COD)",
        "2025-0260",
    ] {
        let text = app.expect(None, &["dossier", "show", spelling], 0);
        assert!(text.starts_with("2025/0260(COD)"), "{spelling}: {text}");
    }
    let o = app.veille(None, &["dossier", "show", "COM(2021) 802"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "veille: no stored dossier has COM(2021) 802; it is known once its procedure has been fetched\n"
    );
}

/// A COM number of a listed procedure matches through the stored dossier whose proposal
/// it is (as a poll does); before that dossier is fetched, `match` says what will happen.
#[test]
fn a_com_number_of_a_listed_procedure_is_explained_through_the_store() {
    let app = app();
    app.add_watchlist(
        "edip",
        "name = \"E\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"2025/0260(COD)\"]\n",
    );
    let out = app.expect(None, &["match", "Proposal COM(2025) 823 on defence"], 0);
    assert_eq!(
        out,
        "no watchlist matches\nedip: no stored dossier has COM(2025)823 yet; if it is the proposal of 2025/0260(COD), news that names only it is matched once that dossier is fetched (or add \"COM(2025)823\" to its dossiers)\n"
    );
    // `match` never creates a store.
    assert!(!app.path("data/veille.sled").exists());
    store_dossier(&app);
    for text in [
        "Proposal COM(2025) 823 on defence",
        "52025PC0823",
        "COM(2025)823 final",
    ] {
        let out = app.expect(None, &["match", text], 0);
        assert_eq!(
            out,
            "edip: dossier 2025/0260(COD) (through COM(2025)823, its proposal, in the stored dossier)\n",
            "{text}"
        );
    }
    // A COM number of another stored dossier or of no listed procedure says nothing more.
    let out = app.expect(None, &["match", "COM(2021) 802"], 0);
    assert_eq!(out, "no watchlist matches\n");
    // The summary is read too; one watchlist may be asked for.
    let out = app.expect(
        None,
        &[
            "match",
            "--watchlist",
            "klima",
            "Neu",
            "--summary",
            "COM(2025) 823",
        ],
        0,
    );
    assert_eq!(out, "no watchlist matches\n");
    let out = app.expect(
        None,
        &[
            "match",
            "--watchlist",
            "edip",
            "Neu",
            "--summary",
            "COM(2025) 823",
        ],
        0,
    );
    assert!(
        out.contains("edip: dossier 2025/0260(COD) (through COM(2025)823, its proposal"),
        "{out}"
    );
}

/// A `*` inside a keyword ends its word, for any ending: the German and French endings of
/// an adjective in one keyword, in keywords and exclusions alike; `check` takes it, and
/// refuses it twice.
#[test]
fn a_star_inside_a_keyword_takes_any_ending_of_its_word() {
    let app = TestApp::new(TestServer::start_background(), vec![]);
    app.write_config();
    app.add_watchlist(
        "gewalt",
        "name = \"G\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"häuslich* Gewalt\", \"marché* public*\"]\nexclude = [\"marché* intérieur*\"]\n",
    );
    app.expect(None, &["check"], 0);
    for (text, out) in [
        ("Richtlinie gegen häusliche Gewalt", "gewalt: keyword \"häuslich* Gewalt\"\n"),
        ("Kampf gegen häuslicher Gewalt", "gewalt: keyword \"häuslich* Gewalt\"\n"),
        ("Häusliche Gewalttaten nehmen zu", "no watchlist matches\n"),
        ("häusliche und sexuelle Gewalt", "no watchlist matches\n"),
        ("Les marchés publics de travaux", "gewalt: keyword \"marché* public*\"\n"),
        (
            "Marchés publics et marché intérieur",
            "no watchlist matches\ngewalt: found \"marché* public*\", cancelled by exclude \"marché* intérieur*\"\n",
        ),
    ] {
        assert_eq!(app.expect(None, &["match", text], 0), out, "{text}");
    }
    // An ignored phrase whose last word takes any ending still holds a keyword that is its
    // last word, whole.
    app.add_watchlist(
        "urbain",
        "name = \"U\"\nrecipients = [\"fg@example.org\"]\ntitle_keywords = [\"urbains\", \"nodes\"]\nignore = [\"transport* urbain*\", \"urban node*\"]\n",
    );
    for (text, keyword, phrase) in [
        (
            "Les transports urbains de demain",
            "urbains",
            "transport* urbain*",
        ),
        ("TEN-T urban nodes", "nodes", "urban node*"),
    ] {
        let out = app.expect(None, &["match", "--watchlist", "urbain", text], 0);
        assert_eq!(
            out,
            format!("no watchlist matches\nurbain: keyword \"{keyword}\" found only inside \"{phrase}\", which the watchlist ignores\n"),
            "{text}"
        );
    }
    assert_eq!(
        app.expect(
            None,
            &["match", "--watchlist", "urbain", "Quartiers urbains"],
            0
        ),
        "urbain: keyword \"urbains\"\n"
    );
    app.add_watchlist(
        "twice",
        "name = \"T\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"häuslich* Gewalt\", \"Häuslich* gewalt\", \"häus*lich Gewalt\"]\n",
    );
    let (_, err) = app.expect_both(None, &["check"], 3);
    assert!(
        err.contains("keyword \"Häuslich* gewalt\" duplicates \"häuslich* Gewalt\""),
        "{err}"
    );
    assert!(
        err.contains("keyword \"häus*lich Gewalt\" has a `*` that does not end a word"),
        "{err}"
    );
}
