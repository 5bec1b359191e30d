//! Loading watchlists: the shipped ones load cleanly; malformed ones are reported with
//! the exact file, line, column, message and hint; every error of every file is listed.

use std::path::{Path, PathBuf};

use veille::model::{DossierRef, Language, Stage};
use veille::watchlist::{load_dir, load_str, WatchlistError};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists")
}

fn sources() -> Vec<String> {
    vec!["ep-press".into(), "oeil".into()]
}

fn errors(text: &str) -> Vec<WatchlistError> {
    match load_str("bad", Path::new("watchlists/bad.toml"), text, &sources()) {
        Ok(w) => panic!("accepted: {w:?}\n{text}"),
        Err(e) => e,
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/watchlists")
}

/// Each malformed file, with every error it must produce: (line, column, message).
#[allow(clippy::type_complexity)]
const MALFORMED: &[(&str, &[(usize, usize, &str)])] = &[
    (
        "bad-address.toml",
        &[(
            3,
            15,
            r#""focus-group" is not a valid e-mail address: missing separator character '@'"#,
        )],
    ),
    (
        "bad-crontab.toml",
        &[(
            5,
            10,
            "invalid digest schedule: hour 25 is out of range 0-23",
        )],
    ),
    ("bad-language.toml", &[(5, 12, r#"unknown language "de""#)]),
    (
        "bad-ref.toml",
        &[(
            4,
            31,
            r#""2011/438(COD)" is not a dossier reference: the number must have four digits, as in 2012/0011(COD)"#,
        )],
    ),
    (
        "bad-ref2.toml",
        &[(
            4,
            13,
            r#""directive on procurement" is not a dossier reference: expected a procedure (2011/0438(COD)), a COM number (COM(2011)896), a CELEX number (32014L0024) or an act's name (Directive 2014/24/EU)"#,
        )],
    ),
    (
        "bad-stage.toml",
        &[(5, 24, r#"unknown stage "plenary vote" in "alert_on""#)],
    ),
    (
        "crlf-recipient.toml",
        &[(
            3,
            15,
            r#""a@example.org\r\nBcc: x@example.org" is not a valid e-mail address: it contains spaces or line breaks"#,
        )],
    ),
    (
        "display-name.toml",
        &[(
            3,
            15,
            r#""Focus Group <fg@example.org>" is not a valid e-mail address: display names are not allowed"#,
        )],
    ),
    (
        "dup-com.toml",
        &[(
            4,
            29,
            r#"dossier "52011PC0896" is the same as "COM(2011)896" (line 4)"#,
        )],
    ),
    (
        "dup-dossier.toml",
        &[(
            6,
            3,
            r#"dossier "2011-0438" is the same as "2011/0438(COD)" (line 5)"#,
        )],
    ),
    (
        "dup-keyword.toml",
        &[(
            4,
            32,
            r#"keyword "Marches Publics" duplicates "marchés publics" (line 4)"#,
        )],
    ),
    (
        "bad-title-keywords.toml",
        &[
            (
                4,
                30,
                r#"title keyword "Climate" duplicates "climate" (line 4)"#,
            ),
            (
                4,
                41,
                r#"title keyword "klima*" is already a keyword: "Klima*" (line 3)"#,
            ),
            (4, 51, r#"keyword "*climat" has a `*` that does not end a word"#),
            (
                4,
                62,
                r#"each entry of "title_keywords" must be a string, not an integer"#,
            ),
        ],
    ),
    (
        "bad-all-items-from.toml",
        &[
            (5, 27, r#"unknown source "regio""#),
            (5, 36, r#"source "oeil" is listed twice"#),
        ],
    ),
    (
        "bad-ignore.toml",
        &[
            (
                6,
                3,
                r#"ignored phrase "committee on industry, research and energy" duplicates "Committee on Industry, Research and Energy" (line 5)"#,
            ),
            (
                7,
                3,
                r#"keyword "(a+)+$" is written as a pattern ("+", "$" cannot be in a word): keywords are words, not patterns"#,
            ),
        ],
    ),
    (
        "dup-recipient.toml",
        &[(
            3,
            32,
            r#"recipient "A@example.org" is listed twice (first on line 3)"#,
        )],
    ),
    ("empty-keyword.toml", &[(4, 13, "empty keyword")]),
    (
        "empty-recipients.toml",
        &[(
            3,
            14,
            r#""recipients" is empty: nobody would receive the digest"#,
        )],
    ),
    (
        "leading-star.toml",
        &[(
            4,
            13,
            r#"keyword "*procurement" has a `*` that does not end a word"#,
        )],
    ),
    (
        "lone-star.toml",
        &[(
            4,
            35,
            r#"keyword "*" is only a wildcard and would match everything"#,
        )],
    ),
    (
        "many.toml",
        &[
            (
                3,
                32,
                r#""bad" is not a valid e-mail address: missing separator character '@'"#,
            ),
            (
                4,
                10,
                r#"invalid digest schedule: "sometimes" has 1 field; a crontab needs 5: minute hour day-of-month month day-of-week"#,
            ),
            (5, 13, r#"unknown stage "voted" in "alert_on""#),
            (
                6,
                19,
                r#"keyword "pro*curement" has a `*` that does not end a word"#,
            ),
            (7, 12, r#"unknown language "nl""#),
            (8, 1, r#"unknown key "colour""#),
        ],
    ),
    (
        "never-matches.toml",
        &[(
            1,
            1,
            "the watchlist has neither dossiers nor keywords nor subjects nor sources taken whole, so it would never match",
        )],
    ),
    ("no-name.toml", &[(1, 1, r#"missing required key "name""#)]),
    (
        "no-recipients.toml",
        &[(1, 1, r#"missing required key "recipients""#)],
    ),
    (
        "short-crontab.toml",
        &[(
            5,
            10,
            r#"invalid digest schedule: "0 8 * *" has 4 fields; a crontab needs 5: minute hour day-of-month month day-of-week"#,
        )],
    ),
    (
        "syntax.toml",
        &[(
            2,
            8,
            "a closing quote \" is missing: the text \"Test runs to the end of line 2",
        )],
    ),
    ("unknown-key.toml", &[(4, 1, r#"unknown key "keyword""#)]),
    ("unknown-key2.toml", &[(5, 1, r#"unknown key "colour""#)]),
    (
        "unknown-source.toml",
        &[(5, 20, r#"unknown source "eurlex""#)],
    ),
    (
        "wrong-item-type.toml",
        &[(
            4,
            31,
            r#"each entry of "dossiers" must be a string, not an integer"#,
        )],
    ),
    (
        "wrong-type-name.toml",
        &[(2, 8, r#""name" must be a string, not an integer"#)],
    ),
    (
        "wrong-type.toml",
        &[(
            4,
            12,
            r#""keywords" must be an array of strings, not a string"#,
        )],
    ),
];

#[test]
fn malformed_watchlists_are_reported_at_the_offending_value() {
    assert!(MALFORMED.len() >= 15);
    for (file, expected) in MALFORMED {
        let path = fixture_dir().join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let errs = match load_str("bad", &path, &text, &sources()) {
            Ok(w) => panic!("{file} accepted: {w:?}"),
            Err(e) => e,
        };
        let got: Vec<(usize, usize, &str)> = errs
            .iter()
            .map(|e| (e.line, e.column, e.message.as_str()))
            .collect();
        assert_eq!(got, expected.to_vec(), "{file}");
        for e in &errs {
            assert_eq!(e.file, path, "{file}");
            assert!(
                e.hint
                    .as_deref()
                    .is_some_and(|h| !h.is_empty() && !h.contains('\n')),
                "{file}: {e}"
            );
        }
    }
}

#[test]
fn shipped_watchlists_load_without_error() {
    let set = load_dir(&shipped_dir(), &sources()).unwrap_or_else(|errs| {
        panic!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let ids: Vec<&str> = set.lists().iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "air-quality",
            "cohesion-urban",
            "data-protection",
            "employers",
            "energy-climate",
            "equality",
            "public-procurement",
            "state-aid",
            "urban-mobility"
        ]
    );
    for l in set.lists() {
        assert!(
            l.recipients.iter().all(|r| r.ends_with("@example.org")),
            "{}",
            l.id
        );
        assert!(!l.keywords.is_empty() && !l.dossiers.is_empty(), "{}", l.id);
        assert_eq!(l.digest.as_str(), "weekly");
    }
}

#[test]
fn the_design_example_loads_with_every_field() {
    let text = r#"
name = "Public procurement and concessions"
recipients = ["focus-group-procurement@example.org"]
digest = "30 7 * * MON-FRI"
alert_on = ["plenary-vote", "adopted", "published"]
dossiers = ["2011/0438(COD)", "2011/0437(COD)", "COM(2011)896"]
keywords = ["public procurement", "marchés publics", "öffentliche Auftragsvergabe", "concession contract*"]
exclude = ["defence and security"]
sources = ["oeil"]
language = "fr"
"#;
    let w = load_str(
        "public-procurement",
        Path::new("watchlists/public-procurement.toml"),
        text,
        &sources(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(w.id, "public-procurement");
    assert_eq!(w.name, "Public procurement and concessions");
    assert_eq!(w.digest.as_str(), "30 7 * * MON-FRI");
    assert_eq!(
        w.alert_on,
        [Stage::PlenaryVote, Stage::Adopted, Stage::Published]
    );
    assert_eq!(
        w.dossiers,
        [
            "2011/0438(COD)".parse::<DossierRef>().unwrap(),
            "2011/0437(COD)".parse().unwrap(),
            "COM(2011)896".parse().unwrap()
        ]
    );
    assert_eq!(w.keywords[1], "marchés publics");
    assert_eq!(w.exclude, ["defence and security"]);
    assert_eq!(w.sources, ["oeil"]);
    assert_eq!(w.language, Language::Fr);
}

#[test]
fn optional_keys_have_sensible_defaults() {
    let w = load_str(
        "min",
        Path::new("min.toml"),
        "name = \"Minimal\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"state aid\"]\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(w.digest.as_str(), "weekly");
    let decisive: Vec<Stage> = Stage::ALL.into_iter().filter(|s| s.is_decisive()).collect();
    assert_eq!(w.alert_on, decisive);
    assert!(w.dossiers.is_empty() && w.exclude.is_empty() && w.sources.is_empty());
    assert_eq!(w.language, Language::En);
    // An empty alert_on is allowed: digests only.
    let w = load_str(
        "quiet",
        Path::new("quiet.toml"),
        "name = \"Q\"\nrecipients = [\"a@example.org\"]\ndossiers = [\"2012_11\"]\nalert_on = []\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(w.alert_on.is_empty());
}

#[test]
fn errors_display_as_file_line_column_with_a_hint() {
    let errs = errors(
        "name = \"T\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"x\"]\nlanguage = \"de\"\n",
    );
    assert_eq!(
        errs[0].to_string(),
        "watchlists/bad.toml:4:12: unknown language \"de\"\n  hint: digest headings exist in \"en\" and \"fr\""
    );
}

#[test]
fn every_error_of_every_file_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "b-second.toml",
        "name = \"B\"\nrecipients = []\nkeywords = [\"*\"]\n",
    );
    write(
        "a-first.toml",
        "name = \"A\"\nrecipients = [\"a@example.org\"]\ndigest = \"monthly\"\nkeywords = [\"x\", \"X\"]\n",
    );
    write(
        "c-fine.toml",
        "name = \"C\"\nrecipients = [\"c@example.org\"]\nkeywords = [\"y\"]\n",
    );
    write("notes.txt", "not a watchlist");
    let errs = load_dir(dir.path(), &[]).expect_err("two broken files");
    let got: Vec<(String, usize, usize)> = errs
        .iter()
        .map(|e| {
            (
                e.file.file_name().unwrap().to_string_lossy().into_owned(),
                e.line,
                e.column,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a-first.toml".to_string(), 3, 10),
            ("a-first.toml".to_string(), 4, 18),
            ("b-second.toml".to_string(), 2, 14),
            ("b-second.toml".to_string(), 3, 13),
        ]
    );
    // Fixed, the directory loads; non-TOML files are ignored.
    write(
        "a-first.toml",
        "name = \"A\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"x\"]\n",
    );
    write(
        "b-second.toml",
        "name = \"B\"\nrecipients = [\"b@example.org\"]\ndossiers = [\"2012/0011(COD)\"]\n",
    );
    let set = load_dir(dir.path(), &[]).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(set.lists().len(), 3);
    assert_eq!(set.get("b-second").map(|l| l.name.as_str()), Some("B"));
}

#[test]
fn the_malformed_fixture_directory_reports_every_file() {
    let errs = load_dir(&fixture_dir(), &sources()).expect_err("all broken");
    let mut files: Vec<String> = errs
        .iter()
        .map(|e| e.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.dedup();
    let mut listed: Vec<&str> = MALFORMED.iter().map(|(f, _)| *f).collect();
    listed.sort();
    assert_eq!(files, listed);
    let total: usize = MALFORMED.iter().map(|(_, e)| e.len()).sum();
    assert_eq!(errs.len(), total);
}

#[test]
fn a_missing_directory_is_one_error() {
    let errs = load_dir(Path::new("/nonexistent/watchlists"), &[]).expect_err("missing");
    assert_eq!(errs.len(), 1);
    assert!(errs[0]
        .message
        .starts_with("cannot read the watchlist directory"));
}

#[test]
fn every_toml_example_in_the_readme_and_the_guide_is_a_valid_watchlist() {
    let read = |rel: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    let guide = read("README.md") + &read("docs/watchlists.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in guide.lines() {
        match (&mut current, line.trim()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 10, "{}", blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        load_str(
            "guide",
            Path::new("guide.toml"),
            b,
            // A shipped source, and the feed the guide's "Taking a source whole" adds.
            &["ep-press".to_string(), "regio-news".to_string()],
        )
        .unwrap_or_else(|e| panic!("block {i}: {e:?}\n{b}"));
    }
}

proptest::proptest! {
    #[test]
    fn loading_never_panics(text in "\\PC{0,120}") {
        let _ = load_str("p", Path::new("p.toml"), &text, &[]);
    }

    #[test]
    fn loading_never_panics_on_near_valid_files(kw in "\\PC{0,20}", digest in "[0-9*,/ A-Za-z-]{0,20}", d in "\\PC{0,16}") {
        let text = format!("name = \"N\"\nrecipients = [\"a@example.org\"]\ndigest = {digest:?}\ndossiers = [{d:?}]\nkeywords = [{kw:?}]\n");
        if let Err(errs) = load_str("p", Path::new("p.toml"), &text, &[]) {
            for e in errs {
                proptest::prop_assert!(e.line >= 1 && e.line <= 5, "{}", e);
            }
        }
    }
}
