//! Mistakes an officer makes in a watchlist, through the binary: each is an error, or a warning
//! printed at file:line:col with a hint (`check` exits 0 when there are only warnings).

use crate::support::app::{Source, TestApp};
use crate::support::http::TestServer;

fn app() -> TestApp {
    TestApp::new(TestServer::start_background(), vec![])
}

const HEAD: &str = "name = \"W\"\nrecipients = [\"fg@example.org\"]\n";

/// Run `veille ARGS`, expect `code`; (stdout, stderr).
fn run(app: &TestApp, args: &[&str], code: i32) -> (String, String) {
    app.expect_both(None, args, code)
}

#[test]
fn an_act_number_as_dossier_is_a_warning_with_the_celex_and_procedure_forms() {
    let app = app();
    app.add_watchlist(
        "energy",
        &format!("{HEAD}dossiers = [\"2021/0426(COD)\", \"2024/1275\"]\n"),
    );
    let (out, err) = run(&app, &["check"], 0);
    assert!(out.contains("energy — W"), "{out}");
    assert!(
        err.contains("watchlists/energy.toml:3:31: warning: dossier \"2024/1275\" looks like the number of an act, not a procedure"),
        "{err}"
    );
    assert!(
        err.contains("  hint: veille cannot know which kind of act it is: write the CELEX number (32024L1275 for a directive, 32024R1275 for a regulation, 32024D1275 for a decision) or the act's name (Directive (EU) 2024/1275), or 2024/1275(COD) if you meant a procedure"),
        "{err}"
    );
    // The procedure forms with a type, and the other spellings, are not flagged.
    app.add_watchlist(
        "energy",
        &format!("{HEAD}dossiers = [\"2021/0426(COD)\", \"2011-0438\", \"32024L1275\"]\n"),
    );
    let (_, err) = run(&app, &["check"], 0);
    assert!(!err.contains("warning"), "{err}");
    // The act's name is its CELEX number: listed beside it, it is the same dossier.
    app.add_watchlist(
        "energy",
        &format!("{HEAD}dossiers = [\"Directive (EU) 2024/1275\", \"32024L1275\"]\n"),
    );
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains("dossier \"32024L1275\" is the same as \"Directive (EU) 2024/1275\" (line 3)"),
        "{err}"
    );
}

#[test]
fn a_schedule_that_never_fires_is_an_error_and_a_swapped_time_a_warning() {
    let app = app();
    app.add_watchlist(
        "feb",
        &format!("{HEAD}keywords = [\"aid\"]\ndigest = \"0 8 31 2 *\"\n"),
    );
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains("watchlists/feb.toml:4:10: invalid digest schedule: \"0 8 31 2 *\" never fires: February has no day 31"),
        "{err}"
    );
    app.add_watchlist(
        "feb",
        &format!("{HEAD}keywords = [\"aid\"]\ndigest = \"0 8 30,31 2,4 *\"\n"),
    );
    let (_, err) = run(&app, &["check"], 0);
    assert!(!err.contains("never fires"), "April 30th exists: {err}");

    std::fs::remove_file(app.path("watchlists/feb.toml")).unwrap_or_else(|e| panic!("{e}"));
    app.add_watchlist(
        "night",
        &format!("{HEAD}keywords = [\"aid\"]\ndigest = \"8 0 * * 1\"\n"),
    );
    let (out, err) = run(&app, &["check"], 0);
    assert!(out.contains("night — W"), "{out}");
    assert!(
        err.contains("watchlists/night.toml:4:10: warning: digest schedule \"8 0 * * 1\" runs at 00:08, just after midnight: the minute comes first, then the hour\n  hint: for 08:00 write \"0 8 * * 1\""),
        "{err}"
    );
    // 29 February fires (in leap years); midnight itself is not flagged.
    app.add_watchlist(
        "night",
        &format!("{HEAD}keywords = [\"aid\"]\ndigest = \"0 0 29 2 *\"\n"),
    );
    let (_, err) = run(&app, &["check"], 0);
    assert!(!err.contains("warning") && !err.contains("never"), "{err}");
}

#[test]
fn did_you_mean_for_stages_sources_and_watchlist_ids_on_the_command_line() {
    let server = TestServer::start_background();
    let feed = server.url("/feed");
    let app = TestApp::new(server, vec![Source::new("ep-press", "feed", feed)]);
    app.add_watchlist(
        "energy-climate",
        &format!(
            "{HEAD}keywords = [\"aid\"]\nalert_on = [\"publised\", \"plenary_vote\"]\nsources = [\"ep_press\"]\n"
        ),
    );
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains("energy-climate.toml:4:13: unknown stage \"publised\" in \"alert_on\"\n  hint: did you mean \"published\"?"),
        "{err}"
    );
    // `plenary_vote` is read as `plenary-vote`: no error for it.
    assert!(!err.contains("plenary_vote"), "{err}");
    assert!(
        err.contains("energy-climate.toml:5:12: unknown source \"ep_press\"\n  hint: did you mean \"ep-press\"? (configured sources: ep-press)"),
        "{err}"
    );
    // Far from any: the full list, as before.
    app.add_watchlist(
        "energy-climate",
        &format!("{HEAD}keywords = [\"aid\"]\nalert_on = [\"ratified\"]\n"),
    );
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains("  hint: known stages: consultation-open,"),
        "{err}"
    );

    app.add_watchlist("energy-climate", &format!("{HEAD}keywords = [\"aid\"]\n"));
    for args in [
        &["digest", "preview", "energy-climate.toml"][..],
        &["export", "ical", "Energy-Climate"][..],
        &["digest", "send", "energy_climate"][..],
    ] {
        let (_, err) = run(&app, args, 1);
        assert!(
            err.contains("hint: did you mean \"energy-climate\"? (a watchlist's id is its file name without .toml)"),
            "{args:?}: {err}"
        );
    }
    let (_, err) = run(&app, &["digest", "preview", "transport"], 1);
    assert!(
        err.contains("veille: no watchlist \"transport\"\n  hint: watchlists: energy-climate"),
        "{err}"
    );
}

#[test]
fn toml_syntax_errors_in_plain_words() {
    let app = app();
    let cases = [
        (
            "curly",
            "name = \u{201C}W\u{201D}\nrecipients = [\"fg@example.org\"]\nkeywords = [\"aid\"]\n",
            "curly.toml:1:8: curly quotes \u{201C}\u{2026}\u{201D} are not quotes in a watchlist\n  hint: use straight quotes \"\u{2026}\"",
        ),
        (
            "comma",
            "name = \"W\"\r\nrecipients = [\"fg@example.org\"]\r\nkeywords = [\r\n  \"a\",  # first\r\n  \"c\" # the c\r\n\r\n  \"b\",\r\n]\r\n",
            "comma.toml:5:6: a comma is missing at the end of line 5\n  hint: separate the entries of a list with commas: [\"one\", \"two\"]",
        ),
        (
            "inline",
            "name = \"W\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"a\" \"b\"]\n",
            "inline.toml:3:17: a comma is missing before this entry",
        ),
        (
            "quote",
            "name = \"W\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"a\", \"b]\nexclude = [\"x\"]\n",
            "quote.toml:3:18: a closing quote \" is missing: the text \"b] runs to the end of line 3\n  hint: end the text with \" on the same line, as in \"public procurement\"",
        ),
    ];
    for (id, toml, _) in &cases {
        app.add_watchlist(id, toml);
    }
    let (_, err) = run(&app, &["check"], 3);
    for (_, _, want) in &cases {
        assert!(err.contains(want), "{want}\n---\n{err}");
    }
    assert!(!err.contains("expected"), "{err}");
}

#[test]
fn files_that_look_meant_as_watchlists_are_named() {
    let app = app();
    let wl = format!("{HEAD}keywords = [\"aid\"]\n");
    app.add_watchlist("transport", &wl);
    for name in [
        "energy.toml.txt",
        "Climate.TOML",
        "notes.txt",
        ".transport.toml.swp",
        "transport.toml~",
    ] {
        std::fs::write(app.path(&format!("watchlists/{name}")), &wl)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let (out, err) = run(&app, &["check"], 0);
    assert!(
        out.contains("watchlists in") && out.contains(": 1\n"),
        "{out}"
    );
    assert!(
        err.contains("watchlists/energy.toml.txt: warning: the file is not read: only files whose names end in \".toml\" are watchlists\n  hint: if it is a watchlist, rename it to \"energy.toml\""),
        "{err}"
    );
    assert!(
        err.contains("watchlists/Climate.TOML: warning: the file is not read"),
        "{err}"
    );
    assert!(err.contains("rename it to \"climate.toml\""), "{err}");
    assert_eq!(err.matches("warning").count(), 2, "{err}");
}

#[test]
fn a_missing_configuration_file_says_where_veille_looked_and_how_to_give_another() {
    let app = app();
    let dir = app.path("elsewhere");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let veille = |args: &[&str], env: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_veille"));
        cmd.current_dir(&dir).args(args).env_remove("VEILLE_CONFIG");
        if let Some(v) = env {
            cmd.env("VEILLE_CONFIG", v);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let hint = "  hint: give the configuration file's place with --config PATH or the VEILLE_CONFIG environment variable";
    let err = veille(&["check"], None);
    let want = format!(
        "veille: no configuration file at {} (the default: config.toml in the current folder)\n{hint}",
        dir.join("config.toml").display()
    );
    assert!(err.contains(&want), "{err}");
    let err = veille(&["check"], Some("/etc/veille/none.toml"));
    assert!(
        err.contains(
            "no configuration file at /etc/veille/none.toml (the place VEILLE_CONFIG gives)"
        ),
        "{err}"
    );
    let err = veille(&["--config", "/etc/veille/none.toml", "check"], None);
    assert!(
        err.contains("no configuration file at /etc/veille/none.toml (the place --config gives)"),
        "{err}"
    );
}

#[test]
fn a_keyword_an_exclusion_always_cancels_is_a_warning() {
    let app = app();
    app.add_watchlist(
        "aid",
        &format!(
            "{HEAD}keywords = [\n  \"State-aid rules\",\n  \"aid*\",\n  \"humanitarian\",\n  \"energy transition\",\n]\nexclude = [\"aid\", \"transit*\"]\n"
        ),
    );
    let (out, err) = run(&app, &["check"], 0);
    assert!(out.contains("aid — W"), "{out}");
    assert!(
        err.contains("watchlists/aid.toml:4:3: warning: keyword \"State-aid rules\" can never match: the exclusion \"aid\" (line 9) cancels every text it is found in\n  hint: remove the keyword, or narrow the exclusion"),
        "{err}"
    );
    assert!(
        err.contains("watchlists/aid.toml:7:3: warning: keyword \"energy transition\" can never match: the exclusion \"transit*\" (line 9)"),
        "{err}"
    );
    // "aid*" also matches "aids", which "aid" does not cancel.
    assert_eq!(err.matches("warning").count(), 2, "{err}");
}

#[test]
fn an_ignored_phrase_that_hides_no_keyword_is_a_warning() {
    let app = app();
    app.add_watchlist(
        "energy",
        &format!(
            "{HEAD}keywords = [\"renewable energy\"]\ntitle_keywords = [\"energy\"]\nignore = [\n  \"Committee on Industry, Research and Energy\",\n  \"Committee on Regional Development\",\n]\n"
        ),
    );
    let (out, err) = run(&app, &["check"], 0);
    assert!(out.contains("energy — W"), "{out}");
    assert!(
        err.contains("watchlists/energy.toml:7:3: warning: ignored phrase \"Committee on Regional Development\" holds none of the keywords, so it changes nothing\n  hint: remove it, or add the keyword it should hide"),
        "{err}"
    );
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}

#[test]
fn a_source_taken_whole_but_left_out_of_sources_is_a_warning() {
    let server = TestServer::start_background();
    let url = server.url("/feed.xml");
    let sources = vec![
        Source::new("ep-press", "feed", url.clone()),
        Source::new("regio-news", "feed", url),
    ];
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "cohesion",
        &format!("{HEAD}sources = [\"ep-press\"]\nall_items_from = [\"regio-news\"]\n"),
    );
    let (out, err) = run(&app, &["check"], 0);
    assert!(out.contains("cohesion — W"), "{out}");
    assert!(
        err.contains("watchlists/cohesion.toml:4:19: warning: source \"regio-news\" is not among the watchlist's sources, so none of its items reach it\n  hint: add \"regio-news\" to sources, or remove it from all_items_from"),
        "{err}"
    );
    // Listed in both: no warning.
    app.add_watchlist(
        "cohesion",
        &format!(
            "{HEAD}sources = [\"ep-press\", \"regio-news\"]\nall_items_from = [\"regio-news\"]\n"
        ),
    );
    let (_, err) = run(&app, &["check"], 0);
    assert!(!err.contains("warning"), "{err}");
}
