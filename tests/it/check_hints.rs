//! Mistakes that used to pass `veille check` silently (issue "The first week of an
//! officer and an operator", part 3), through the binary: each is an error, or a warning
//! printed at file:line:col with a hint (`check` exits 0 when there are only warnings).

use crate::support::app::TestApp;
use crate::support::http::TestServer;

fn app() -> TestApp {
    TestApp::new(TestServer::start_background(), vec![])
}

const HEAD: &str = "name = \"W\"\nrecipients = [\"fg@example.org\"]\n";

/// Run `veille ARGS`, expect `code`; (stdout, stderr).
fn run(app: &TestApp, args: &[&str], code: i32) -> (String, String) {
    let out = app.veille(None, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "veille {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    (stdout, stderr)
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
        err.contains("  hint: veille cannot know which kind of act it is: write the CELEX number (32024L1275 for a directive, 32024R1275 for a regulation, 32024D1275 for a decision), or 2024/1275(COD) if you meant a procedure"),
        "{err}"
    );
    // The procedure forms with a type, and the other spellings, are not flagged.
    app.add_watchlist(
        "energy",
        &format!("{HEAD}dossiers = [\"2021/0426(COD)\", \"2011-0438\", \"32024L1275\"]\n"),
    );
    let (_, err) = run(&app, &["check"], 0);
    assert!(!err.contains("warning"), "{err}");
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
