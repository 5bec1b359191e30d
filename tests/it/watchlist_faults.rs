//! Watchlist files that once hurt, through the
//! binary: a huge file is refused before it is read and a large one is checked in linear
//! time, a pattern is not a keyword, a file that is not UTF-8 and an invalid
//! configuration value are located at line and column, ids that differ only by case are
//! refused, and a link out of the watchlists folder is not followed.

use crate::support::app::TestApp;
use crate::support::http::TestServer;

fn app() -> TestApp {
    TestApp::new(TestServer::start_background(), vec![])
}

const HEAD: &str = "name = \"W\"\nrecipients = [\"fg@example.org\"]\n";

/// Run `veille ARGS`, expect `code`; (stdout, stderr).
fn run(app: &TestApp, args: &[&str], code: i32) -> (String, String) {
    app.expect_both(None, args, code)
}

/// A watchlist of `n` distinct keywords, one a line.
fn keywords(n: usize) -> String {
    let mut s = String::from(HEAD);
    s.push_str("keywords = [\n");
    for i in 0..n {
        s.push_str(&format!("  \"t{i} aid\",\n"));
    }
    s.push_str("]\n");
    s
}

#[test]
fn a_watchlist_over_1_mib_is_refused_by_name_and_size_and_40k_keywords_are_checked() {
    let app = app();
    // 2 MiB of keywords: refused before parsing, with its size and the limit.
    let mut huge = keywords(160_000);
    assert!(huge.len() > 2 * 1024 * 1024, "{}", huge.len());
    huge.truncate(2 * 1024 * 1024);
    app.add_watchlist("huge", &huge);
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains(
            "watchlists/huge.toml: the file is 2 MiB, larger than the 1 MiB a watchlist may be"
        ),
        "{err}"
    );
    assert!(!err.contains(":0:0"), "{err}");
    assert_eq!(err.matches("huge.toml").count(), 1, "one error: {err}");

    // 40,000 keywords (under 1 MiB) are accepted, every one of them.
    std::fs::remove_file(app.path("watchlists/huge.toml")).unwrap_or_else(|e| panic!("{e}"));
    let large = keywords(40_000);
    assert!(large.len() < 1024 * 1024, "{}", large.len());
    app.add_watchlist("large", &large);
    let (out, _) = run(&app, &["check"], 0);
    assert!(
        out.contains("large — W (1 recipient(s), 0 dossier(s), 40000 keyword(s)"),
        "{out}"
    );
    let (out, _) = run(&app, &["match", "On t39999 aid rules"], 0);
    assert_eq!(out, "large: keyword \"t39999 aid\"\n");

    // Duplicates among them are each reported, with the line of the first.
    let mut dup = keywords(20_000);
    dup.push_str("exclude = [\"x\"]\n");
    let dup = dup.replace("  \"t19999 aid\",", "  \"T7-Aid\",");
    app.add_watchlist("large", &dup);
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains("large.toml:20003:3: keyword \"T7-Aid\" duplicates \"t7 aid\" (line 11)"),
        "{err}"
    );
}

#[test]
fn a_keyword_written_as_a_pattern_is_refused_at_its_place() {
    let app = app();
    app.add_watchlist(
        "w",
        &format!("{HEAD}keywords = [\"state aid\",\n  \"(a+)+$\", \"!?!\"]\n"),
    );
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains(
            "watchlists/w.toml:4:3: keyword \"(a+)+$\" is written as a pattern (\"+\", \"$\" cannot be in a word): keywords are words, not patterns"
        ),
        "{err}"
    );
    assert!(
        err.contains("use * at the end of a word for any ending"),
        "{err}"
    );
    assert!(
        err.contains("watchlists/w.toml:4:13: keyword \"!?!\""),
        "{err}"
    );
    // What it used to do: match any text with the word "a".
    app.add_watchlist("w", &format!("{HEAD}keywords = [\"state aid\"]\n"));
    let (out, _) = run(&app, &["match", "a text about a thing"], 0);
    assert_eq!(out, "no watchlist matches\n");
}

#[test]
fn a_watchlist_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
    let app = app();
    let mut bytes = format!("{HEAD}keywords = [\"march").into_bytes();
    bytes.extend_from_slice(b"\xe9s publics\"]\n"); // Latin-1 é
    std::fs::write(app.path("watchlists/latin.toml"), bytes).unwrap_or_else(|e| panic!("{e}"));
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains("watchlists/latin.toml:3:19: the file is not UTF-8 text: byte 0xE9"),
        "{err}"
    );
    assert!(err.contains("hint: save the file as UTF-8"), "{err}");
}

#[test]
fn an_invalid_configuration_value_is_located_at_line_and_column() {
    let app = app();
    let config = std::fs::read_to_string(app.config_path()).unwrap_or_default();
    let config = config.replace("timeout = \"5s\"", "timeout = \"five seconds\"");
    std::fs::write(app.config_path(), &config).unwrap_or_else(|e| panic!("{e}"));
    let line = config
        .lines()
        .position(|l| l.starts_with("timeout"))
        .map_or(0, |i| i + 1);
    let (_, err) = run(&app, &["check"], 3);
    let at = format!("config.toml:{line}:11: http.timeout: \"five seconds\" is not a duration");
    assert!(err.contains(&at), "{at}\n{err}");

    // A configuration that is not UTF-8: the line and column of the first bad byte.
    let mut bytes = config
        .replace("timeout = \"five seconds\"", "timeout = \"5s\"")
        .into_bytes();
    bytes.extend_from_slice(b"# r\xe9glages\n");
    std::fs::write(app.config_path(), &bytes).unwrap_or_else(|e| panic!("{e}"));
    let last = bytes.iter().filter(|b| **b == b'\n').count();
    let (_, err) = run(&app, &["check"], 3);
    let at = format!("config.toml:{last}:4: the file is not UTF-8 text");
    assert!(err.contains(&at), "{at}\n{err}");
}

#[test]
fn watchlist_ids_that_differ_only_by_case_are_both_refused() {
    let app = app();
    let ok = format!("{HEAD}keywords = [\"state aid\"]\n");
    app.add_watchlist("WL", &ok);
    app.add_watchlist("wl", &ok);
    app.add_watchlist("other", &ok);
    let (_, err) = run(&app, &["check"], 3);
    for file in ["WL.toml", "wl.toml"] {
        assert!(
            err.contains(&format!(
                "watchlists/{file}: the watchlist ids \"WL.toml\" and \"wl.toml\" differ only by case"
            )),
            "{file}: {err}"
        );
    }
    assert!(!err.contains("other.toml"), "{err}");
    std::fs::remove_file(app.path("watchlists/WL.toml")).unwrap_or_else(|e| panic!("{e}"));
    run(&app, &["check"], 0);
}

#[test]
fn a_link_out_of_the_watchlists_folder_is_refused_unread_and_a_link_within_is_followed() {
    let app = app();
    let outside = app.path("private.toml");
    std::fs::write(
        &outside,
        "password = \"hunter2-outside\"\nname = 42\nrecipients = [\"fg@example.org\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&outside, app.path("watchlists/linked.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, err) = run(&app, &["check"], 3);
    assert!(
        err.contains(
            "watchlists/linked.toml: the file is a link to a file outside the watchlists folder; it is not read"
        ),
        "{err}"
    );
    assert!(err.contains("copy the file"), "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains("password") && !err.contains("private.toml"),
        "nothing of the target is shown: {err}"
    );

    // A link to a file inside the folder (here in a sub-folder, not loaded itself) is fine.
    std::fs::remove_file(app.path("watchlists/linked.toml")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(app.path("watchlists/shared")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        app.path("watchlists/shared/base.toml"),
        format!("{HEAD}keywords = [\"state aid\"]\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("shared/base.toml", app.path("watchlists/linked.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, _) = run(&app, &["check"], 0);
    assert!(out.contains("linked — W"), "{out}");
}

#[test]
fn read_only_commands_work_beside_a_broken_watchlist_and_say_so() {
    let app = app();
    app.add_watchlist("w", &format!("{HEAD}keywords = [\"state aid\"]\n"));
    app.add_watchlist(
        "b",
        &format!("{HEAD}keywords = [\"state aid\"]\nalert_on = [\"no-such-stage\"]\n"),
    );
    let warning =
        "veille: warning: the watchlist files on disk have errors (veille check lists them)";
    let (_, err) = run(&app, &["check"], 3);
    assert!(err.contains("b.toml:4:13: unknown stage"), "{err}");
    // Commands that change state still refuse to run on part of the watchlists.
    run(&app, &["poll"], 3);
    run(&app, &["digest", "send"], 3);

    // status and dossier show need no watchlist.
    let (out, err) = run(&app, &["status"], 0);
    assert!(err.contains(warning), "{err}");
    assert!(!err.contains("unknown stage"), "{err}");
    assert!(
        out.contains("\nb "),
        "the broken watchlist is listed: {out}"
    );
    assert!(!out.contains("no such watchlist"), "{out}");
    let (_, err) = run(&app, &["dossier", "show", "2016/0132(COD)"], 1);
    assert!(err.contains("is not known yet"), "{err}");

    // The watchlist that loaded can be previewed and exported; the broken one cannot.
    let (out, err) = run(&app, &["digest", "preview", "w"], 0);
    assert!(out.starts_with("Subject: "), "{out}");
    assert!(err.contains(warning), "{err}");
    let (out, _) = run(&app, &["export", "ical", "w"], 0);
    assert!(out.starts_with("BEGIN:VCALENDAR"), "{out}");
    for args in [
        &["digest", "preview", "b"][..],
        &["export", "ical", "b"],
        &["match", "--watchlist", "b", "state aid"],
    ] {
        let (out, err) = run(&app, args, 3);
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(
            err.contains("b.toml:4:13: unknown stage"),
            "{args:?}: {err}"
        );
    }

    // match tries the watchlists that loaded and names those it could not.
    let (out, err) = run(&app, &["match", "New state aid rules"], 0);
    assert_eq!(out, "w: keyword \"state aid\"\n");
    assert!(err.contains(&format!("{warning}; not tried: b")), "{err}");
}
