//! End to end through the real `veille` binary: the shipped configuration checks; feeds
//! and EU dossier services served by a loopback HTTP server are polled into a real sled
//! store; digests go to a real SMTP server (aiosmtpd).

use std::collections::BTreeSet;

use veille::sources::cellar_work;

use crate::support::app::{kinds_of, repo, titles_of, Source, TestApp};
use crate::support::eu::{self, path_of};
use crate::support::fixtures;
use crate::support::http::{free_port, Response, TestServer};
use crate::support::smtp::{self, SmtpServer};

const NOW: &str = "2026-11-28T10:00:00Z";

#[test]
fn check_on_the_shipped_config_prints_next_digests_and_a_broken_watchlist_exits_3() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veille"))
        .current_dir(repo(""))
        .args(["--now", NOW, "check"])
        .env_remove("VEILLE_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in [
        "public-procurement",
        "state-aid",
        "data-protection",
        "air-quality",
        "urban-mobility",
        "employers",
    ] {
        assert!(stdout.contains(id), "{id} missing from:\n{stdout}");
    }
    // Weekly digests: Monday 30 November 2026, 08:00 Brussels time.
    assert!(stdout.contains("Mon 2026-11-30 08:00 CET"), "{stdout}");

    let app = TestApp::new(TestServer::start_background(), vec![]);
    app.add_watchlist(
        "broken",
        "name = \"Broken\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"2011/438(COD)\"]\n",
    );
    let out = app.veille(None, &["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("broken.toml:3:"),
        "the error names file and line: {stderr}"
    );
}

fn feed_source_id(file: &str) -> String {
    file.trim_end_matches(".xml").replace(['.', '_'], "-")
}

#[test]
fn polling_real_feeds_stores_them_revalidates_and_names_the_failing_sources() {
    let server = TestServer::start_background();
    let mut sources = Vec::new();
    let mut good = Vec::new();
    for rel in fixtures::list("generic-rss") {
        let file = rel.rsplit('/').next().unwrap_or_default().to_string();
        let path = format!("/feeds/{file}");
        let ctype = if file.starts_with("atom") {
            "application/atom+xml"
        } else {
            "application/rss+xml"
        };
        server.route(
            &path,
            Response::ok(fixtures::read(&rel))
                .content_type(ctype)
                .etag(&format!("\"{file}-v1\"")),
        );
        sources.push(Source::new(
            &feed_source_id(&file),
            "feed",
            server.url(&path),
        ));
        if !file.contains("invalid") {
            good.push((feed_source_id(&file), path));
        }
    }
    server.route("/broken", Response::status(500).body("internal error"));
    server.route(
        "/challenge",
        Response::status(202).header("x-amzn-waf-action", "challenge"),
    );
    server.route(
        "/html",
        Response::ok("<!doctype html><html><body><p>Welcome</p></body></html>")
            .content_type("text/html"),
    );
    sources.push(Source::new("broken", "feed", server.url("/broken")));
    sources.push(Source::new("challenged", "feed", server.url("/challenge")));
    sources.push(Source::new("not-a-feed", "feed", server.url("/html")));
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "everything",
        "name = \"Everything\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"linux\", \"debian\", \"security\"]\n",
    );

    let first = app.expect(Some(NOW), &["poll"], 2);
    assert!(first.contains("FAILED"), "{first}");
    let status = app.json(Some(NOW), &["status", "--format", "json"], 0);
    let failing: BTreeSet<String> = status["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["ok"] == false)
        .map(|s| s["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = ["broken", "challenged", "not-a-feed", "rss-2-0-invalid-1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(failing, expected);
    let error_of = |id: &str| {
        status["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == id)
            .and_then(|s| s["last_error"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(error_of("broken").contains("500"), "{}", error_of("broken"));
    assert!(
        error_of("challenged").contains("challenge"),
        "{}",
        error_of("challenged")
    );
    assert!(
        error_of("rss-2-0-invalid-1").contains("malformed"),
        "{}",
        error_of("rss-2-0-invalid-1")
    );
    assert!(
        new_events(&first) >= 9,
        "every item of the nine good feeds is new: {first}"
    );
    let events_after_first = status["events"].as_u64();

    // The second poll is conditional for every feed that answered, and stores nothing twice.
    let second = app.expect(Some("2026-11-28T12:00:00Z"), &["poll"], 2);
    assert_eq!(new_events(&second), 0, "{second}");
    for (id, path) in &good {
        let reqs = app.server.requests_to(path);
        assert_eq!(reqs.len(), 2, "{id}");
        assert_eq!(
            reqs[1].header("if-none-match"),
            Some(format!("\"{}-v1\"", &path[7..]).as_str()),
            "{id}"
        );
    }
    let third = app.expect(Some("2026-11-28T14:00:00Z"), &["poll"], 2);
    assert_eq!(new_events(&third), 0, "{third}");
    let status = app.json(Some(NOW), &["status", "--format", "json"], 0);
    assert_eq!(
        status["events"].as_u64(),
        events_after_first,
        "the same items polled three times are stored once"
    );
}

/// The new events a `veille poll` reported, over all its sources.
fn new_events(poll_output: &str) -> usize {
    poll_output
        .lines()
        .flat_map(|l| l.split(", "))
        .filter_map(|part| part.strip_suffix(" new event(s)"))
        .map(|n| n.parse::<usize>().unwrap_or_else(|e| panic!("{n:?}: {e}")))
        .sum()
}

/// A loopback stand-in for the EP API, OEIL and CELLAR serving the real captures.
fn eu_services() -> (TestServer, Vec<Source>) {
    let server = TestServer::start_background();
    let sources = eu::serve_captures(&server);
    (server, sources)
}

#[test]
fn one_poll_gives_merged_dossier_timelines_with_their_real_dates() {
    let (server, sources) = eu_services();
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "dossiers",
        "name = \"Dossiers\"\nrecipients = [\"fg@example.org\"]\n\
         dossiers = [\"2016/0132(COD)\", \"2025/0260(COD)\", \"2024/0258(COD)\", \"2018/0172(COD)\"]\n",
    );
    let out = app.expect(Some(NOW), &["poll"], 0);
    assert!(
        out.contains("ep-api") && out.contains("oeil") && out.contains("cellar"),
        "{out}"
    );

    let d = app.json(
        Some(NOW),
        &["dossier", "show", "2016-0132", "--format", "json"],
        0,
    );
    assert_eq!(d["reference"], "2016/0132(COD)");
    let steps: Vec<(String, String)> = d["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["date"].as_str().unwrap_or("").to_string(),
                s["stage"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (date, stage) in [
        ("2016-09-12", "referral"),
        ("2017-05-30", "committee-vote"),
        ("2024-02-14", "provisional-agreement"),
        ("2024-04-10", "plenary-vote"),
        ("2024-05-14", "signed"),
        ("2024-05-22", "published"),
    ] {
        assert!(
            steps.contains(&(date.to_string(), stage.to_string())),
            "{date} {stage} missing from {steps:?}"
        );
    }

    for spelling in ["2024_258", "2024/0258(COD)", "2024-0258"] {
        let text = app.expect(Some(NOW), &["dossier", "show", spelling], 0);
        assert!(text.starts_with("2024/0258(COD)"), "{text}");
        for line in [
            "2025-03-11  plenary-vote",
            "2025-03-18  adopted",
            "2025-03-18  signed",
            "2025-03-21  published",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.contains("Procedure completed"), "{text}");
    }

    let plastics = app.expect(Some(NOW), &["dossier", "show", "2018/0172/COD"], 0);
    // The act's name, as an officer copies it from the Official Journal, is the same.
    let by_name = app.expect(
        Some(NOW),
        &["dossier", "show", "Directive (EU) 2019/904"],
        0,
    );
    assert_eq!(by_name, plastics);
    for line in [
        "2018-10-10  opinion",
        "2019-06-05  signed",
        "2019-06-12  published",
        "final act: 32019L0904",
    ] {
        assert!(plastics.contains(line), "{line} missing from:\n{plastics}");
    }
    // Upcoming plenary items of 2025/0260(COD) are known.
    let upcoming = app.json(
        Some(NOW),
        &["dossier", "show", "2025-0260", "--format", "json"],
        0,
    );
    let dates: Vec<&str> = upcoming["forecasts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["date"].as_str())
        .collect();
    assert!(dates.contains(&"2026-06-16"), "{dates:?}");
}

/// A Council press feed: (number, title, pubDate) per item.
fn council_feed(items: &[(u32, &str, Option<&str>)]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Council press releases</title><link>https://www.consilium.europa.eu/</link>\n",
    );
    for (n, title, date) in items {
        xml.push_str(&format!(
            "<item><title>{title}</title><link>https://www.consilium.europa.eu/en/press/{n}</link>\
             <guid>https://www.consilium.europa.eu/en/press/{n}</guid>{}</item>\n",
            date.map(|d| format!("<pubDate>{d}</pubDate>"))
                .unwrap_or_default()
        ));
    }
    xml.push_str("</channel></rss>\n");
    xml
}

/// A feed added to the configuration brings its archive: on its first poll only the items
/// of the last `digest.backfill` (30 days) are news, and an undated one (its age unknown);
/// an older matched item still has its dossier tracked. After that, every new item is news
/// whatever its date.
#[test]
fn a_new_feed_reports_its_recent_items_not_its_archive() {
    let (server, mut sources) = eu_services();
    let old_with_dossier = (
        1,
        "Public procurement: Council and Parliament resume talks on 2016/0132(COD)",
        Some("Mon, 01 Jun 2026 10:00:00 +0200"),
    );
    let old = (
        2,
        "Public procurement: the 2014 directives are adopted",
        Some("Fri, 28 Mar 2014 00:00:00 +0100"),
    );
    let recent = (
        3,
        "Public procurement: Council agrees its position on the revision",
        Some("Tue, 24 Nov 2026 10:00:00 +0100"),
    );
    let undated = (4, "Public procurement: note to delegations", None);
    let unmatched = (
        5,
        "Fisheries: quotas for 2027",
        Some("Wed, 25 Nov 2026 10:00:00 +0100"),
    );
    let serve = |server: &TestServer, items: &[(u32, &str, Option<&str>)]| {
        server.route(
            "/council.rss",
            Response::ok(council_feed(items)).content_type("application/rss+xml"),
        );
    };
    serve(
        &server,
        &[old_with_dossier, old, recent, undated, unmatched],
    );
    sources.push(Source::new("council", "feed", server.url("/council.rss")));
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "procurement",
        "name = \"Procurement\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"public procurement\"]\n",
    );
    let preview = |now: &str| {
        titles_of(&app.json(
            Some(now),
            &["digest", "preview", "procurement", "--format", "json"],
            0,
        ))
    };

    app.expect(Some(NOW), &["poll"], 0);
    let titles = preview(NOW);
    assert!(titles.iter().any(|t| t == recent.1), "{titles:#?}");
    assert!(titles.iter().any(|t| t == undated.1), "{titles:#?}");
    for archived in [old_with_dossier.1, old.1] {
        assert!(
            !titles.iter().any(|t| t == archived),
            "{archived:?} in {titles:#?}"
        );
    }

    // The dossier the archived item names is fetched from the next poll on.
    let out = app.veille(Some(NOW), &["dossier", "show", "2016/0132(COD)"]);
    assert_eq!(out.status.code(), Some(1));
    let later = "2026-11-28T11:00:00Z";
    let late = (
        6,
        "Public procurement: a report published late",
        Some("Fri, 02 Oct 2026 10:00:00 +0200"),
    );
    serve(
        &app.server,
        &[late, old_with_dossier, old, recent, undated, unmatched],
    );
    app.expect(Some(later), &["poll"], 0);
    let shown = app.expect(Some(later), &["dossier", "show", "2016/0132(COD)"], 0);
    assert!(shown.starts_with("2016/0132(COD)"), "{shown}");

    // The feed is known now: a new item is news, however old its date; the archive
    // stays out.
    let titles = preview(later);
    assert!(titles.iter().any(|t| t == late.1), "{titles:#?}");
    assert_eq!(
        titles
            .iter()
            .filter(|t| t.starts_with("Public procurement"))
            .count(),
        3,
        "{titles:#?}"
    );
}

#[test]
fn focus_groups_get_what_an_expert_expects_once_over_real_smtp() {
    let server = TestServer::start_background();
    server.route(
        "/eur-lex.rss",
        Response::ok(fixtures::own("eu-titles.rss")).content_type("application/rss+xml"),
    );
    let smtp_server = SmtpServer::start();
    let mut app = TestApp::new(server, vec![]);
    app.sources = vec![Source::new(
        "eur-lex",
        "feed",
        app.server.url("/eur-lex.rss"),
    )];
    app.use_smtp(smtp_server.port());
    // These real titles span 2012–2024: all of them are news here, however old.
    app.mail.push_str("[digest]\nbackfill = \"36500d\"\n");
    app.write_config();
    app.add_shipped_watchlists();
    app.expect(Some(NOW), &["poll"], 0);

    let expect: [(&str, &[&str]); 6] = [
        (
            "public-procurement",
            &[
                "on public procurement",
                "award of concession contracts",
                "passation des marchés publics",
            ],
        ),
        (
            "state-aid",
            &["de minimis aid", "services of general economic interest"],
        ),
        ("data-protection", &["General Data Protection Regulation"]),
        (
            "air-quality",
            &["ambient air quality", "plastic products on the environment"],
        ),
        ("urban-mobility", &["alternative fuels infrastructure"]),
        ("employers", &["posting of workers"]),
    ];
    let never = [
        "Artificial Intelligence Act",
        "air transport",
        "Ukraine Facility",
    ];
    for (id, wanted) in expect {
        let preview = app.json(Some(NOW), &["digest", "preview", id, "--format", "json"], 0);
        assert_eq!(preview["watchlist"], id);
        let titles = titles_of(&preview);
        for w in wanted {
            assert!(
                titles.iter().any(|t| t.contains(w)),
                "{id} lacks {w:?}: {titles:#?}"
            );
        }
        for n in never {
            assert!(
                !titles.iter().any(|t| t.contains(n)),
                "{id} wrongly has {n:?}"
            );
        }
        for e in preview["entries"].as_array().into_iter().flatten() {
            for field in [
                "event_id",
                "title",
                "url",
                "source",
                "kind",
                "date",
                "dossier",
                "matched_by",
            ] {
                assert!(e.get(field).is_some(), "{field} missing in {e}");
            }
            assert!(
                !e["matched_by"]
                    .as_array()
                    .map(|a| a.is_empty())
                    .unwrap_or(true),
                "{e}"
            );
        }
        assert!(preview["sources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["id"] == "eur-lex")));
    }

    // Delivery: one multipart message per focus group; a second send delivers nothing.
    let out = app.expect(Some("2026-11-30T08:05:00Z"), &["digest", "send"], 0);
    let messages = smtp_server.messages();
    assert_eq!(messages.len(), 6, "{out}");
    let mut lists = BTreeSet::new();
    for raw in &messages {
        let m = smtp::parse(raw);
        assert_eq!(m.content_type, "multipart/alternative");
        assert_eq!(
            m.parts
                .iter()
                .map(|p| p.content_type.as_str())
                .collect::<Vec<_>>(),
            ["text/plain", "text/html"]
        );
        assert_eq!(m.header("Auto-Submitted"), "auto-generated");
        lists.insert(m.header("List-Id").to_string());
    }
    assert_eq!(lists.len(), 6);
    let again = app.expect(Some("2026-11-30T08:10:00Z"), &["digest", "send"], 0);
    assert_eq!(
        smtp_server.messages().len(),
        6,
        "a second send delivers nothing:\n{again}"
    );
    // Nothing is pending any more.
    let status = app.json(Some(NOW), &["status", "--format", "json"], 0);
    assert_eq!(status["pending"], serde_json::json!({}));
}

#[test]
fn a_tracked_dossier_gives_a_calendar_a_standard_parser_reads_with_stable_uids() {
    let (server, sources) = eu_services();
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "cohesion",
        "name = \"Dossier 2025/0260\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"2025/0260(COD)\"]\n",
    );
    let now = "2026-03-01T10:00:00Z";
    app.expect(Some(now), &["poll"], 0);
    let first = app.expect(Some(now), &["export", "ical", "cohesion"], 0);
    let second = app.expect(
        Some("2026-03-02T10:00:00Z"),
        &["export", "ical", "cohesion"],
        0,
    );
    let cal: icalendar::Calendar = first
        .parse()
        .unwrap_or_else(|e| panic!("not iCalendar: {e}\n{first}"));
    let events: Vec<&icalendar::Event> =
        cal.components.iter().filter_map(|c| c.as_event()).collect();
    use icalendar::Component;
    let starts: Vec<String> = events
        .iter()
        .filter_map(|e| e.property_value("DTSTART").map(str::to_string))
        .collect();
    for day in ["20260326", "20260616"] {
        assert!(
            starts.iter().any(|s| s.contains(day)),
            "no event on {day}: {starts:?}"
        );
    }
    let uids = |ics: &str| -> Vec<String> {
        ics.lines()
            .filter(|l| l.starts_with("UID:"))
            .map(str::to_string)
            .collect()
    };
    assert!(!uids(&first).is_empty());
    assert_eq!(
        uids(&first),
        uids(&second),
        "UIDs are stable across exports"
    );
    assert!(first.contains("\r\n"), "CRLF line endings");

    // The digest's "coming up" lists the plenary vote with a countdown.
    let text = app.expect(Some(now), &["digest", "preview", "cohesion"], 0);
    assert!(text.contains("in 25 days"), "{text}");
}

#[test]
fn a_directive_gets_its_subsidiarity_and_transposition_deadlines_from_cellar() {
    let (server, sources) = eu_services();
    let cellar_only: Vec<Source> = sources.into_iter().filter(|s| s.id == "cellar").collect();
    let app = TestApp::new(server, cellar_only);
    app.add_watchlist(
        "plastics",
        "name = \"Single-use plastics\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"2018/0172(COD)\"]\n",
    );
    // Two weeks after the proposal: the subsidiarity window is open.
    let now = "2018-06-10T10:00:00Z";
    app.expect(Some(now), &["poll"], 0);
    let proposal = "/resource/celex/52018PC0340";
    let directive = "/resource/celex/32019L0904";
    assert_eq!(app.server.requests_to(proposal).len(), 1);
    assert_eq!(app.server.requests_to(directive).len(), 1);
    assert_eq!(
        app.server.requests_to(directive)[0].header("accept"),
        Some(cellar_work::ACCEPT)
    );

    let d = app.json(
        Some(now),
        &["dossier", "show", "2018/0172(COD)", "--format", "json"],
        0,
    );
    assert_eq!(d["act_dates"]["sent_to_parliaments"], "2018-05-28", "{d}");
    assert_eq!(
        d["act_dates"]["transposition"],
        serde_json::json!(["2021-07-03"])
    );
    let text = app.expect(Some(now), &["dossier", "show", "2018/0172(COD)"], 0);
    for line in [
        "(proposal sent to national parliaments on 2018-05-28)",
        "2018-07-23  subsidiarity-deadline",
        "2021-07-03  transposition-deadline Transposition deadline of Directive (EU) 2019/904",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }

    // Both are news in the digest, and listed with countdowns.
    let preview = app.json(
        Some(now),
        &["digest", "preview", "plastics", "--format", "json"],
        0,
    );
    let stages: Vec<&str> = preview["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    for stage in ["subsidiarity-deadline", "transposition-deadline"] {
        assert!(stages.contains(&stage), "{stage} not in {preview}");
    }
    let text = app.expect(Some(now), &["digest", "preview", "plastics"], 0);
    assert!(text.contains("Subsidiarity deadline"), "{text}");
    assert!(
        text.contains("in 43 days"),
        "2018-07-23 is 43 days away:\n{text}"
    );

    // The calendar has both, all day, with a link to the act.
    let ics = app.expect(Some(now), &["export", "ical", "plastics"], 0);
    let cal: icalendar::Calendar = ics
        .parse()
        .unwrap_or_else(|e| panic!("not iCalendar: {e}\n{ics}"));
    use icalendar::Component;
    let events: Vec<&icalendar::Event> =
        cal.components.iter().filter_map(|c| c.as_event()).collect();
    let on = |day: &str| {
        events
            .iter()
            .find(|e| e.property_value("DTSTART").is_some_and(|s| s.contains(day)))
    };
    let subsidiarity = on("20180723").unwrap_or_else(|| panic!("no 2018-07-23 event:\n{ics}"));
    assert!(subsidiarity
        .get_summary()
        .is_some_and(|s| s.contains("Subsidiarity")));
    let transposition = on("20210703").unwrap_or_else(|| panic!("no 2021-07-03 event:\n{ics}"));
    assert!(
        transposition
            .get_summary()
            .is_some_and(|s| s.contains("Directive (EU) 2019/904")),
        "{ics}"
    );
    assert!(ics.contains("CELEX:32019L0904"), "{ics}");

    // Unchanged procedure: the act notices are not asked for again.
    app.expect(Some("2018-06-11T10:00:00Z"), &["poll"], 0);
    assert_eq!(app.server.requests_to(proposal).len(), 1);
    assert_eq!(app.server.requests_to(directive).len(), 1);

    // The digest goes out; six months before the transposition deadline, one reminder,
    // once.
    app.expect(Some(now), &["digest", "send"], 0);
    let earlier = app.outbox();
    let sent = earlier.len();
    let out = app.expect(Some("2021-01-03T07:00:00Z"), &["digest", "send"], 0);
    assert!(out.contains("reminder"), "{out}");
    assert_eq!(app.outbox().len(), sent + 1, "{out}");
    let mails: Vec<String> = app
        .outbox()
        .iter()
        .filter(|p| !earlier.contains(p))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("2019/904"), "{}", mails[0]);
    app.expect(Some("2021-01-03T09:00:00Z"), &["digest", "send"], 0);
    assert_eq!(app.outbox().len(), sent + 1);
}

#[test]
fn a_consultation_on_a_watched_subject_alerts_the_same_day_and_reminds_once() {
    let server = TestServer::start_background();
    let base = server.url("/better-regulation");
    serve_listing(&server, &base, "have-your-say/search-initiatives_page.json");
    let app = TestApp::new(
        server,
        vec![Source::new("have-your-say", "have-your-say", base)],
    );
    app.add_watchlist(
        "water",
        "name = \"Water and waste\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"urban wastewater\"]\n",
    );
    // Calendar files kept up to date by the delivery step.
    let mut config = std::fs::read_to_string(app.config_path()).unwrap_or_default();
    config.push_str("[ical]\ndir = \"calendars\"\n");
    std::fs::write(app.config_path(), config).unwrap_or_else(|e| panic!("{e}"));
    let now = "2026-08-10T10:00:00Z";
    app.expect(Some(now), &["poll"], 0);
    let preview = app.preview(now, "water");
    assert_eq!(kinds_of(&preview), ["consultation-open"], "{preview}");
    let text = app.expect(Some(now), &["digest", "preview", "water"], 0);
    assert!(text.contains("Feedback closes: Urban wastewater"), "{text}");
    assert!(text.contains("in 49 days"), "{text}");

    let out = app.expect(Some(now), &["digest", "send"], 0);
    assert!(out.contains("alert") && out.contains("sent"), "{out}");
    let ics = std::fs::read_to_string(app.path("calendars/water.ics")).unwrap_or_default();
    assert!(
        ics.contains("SUMMARY:Feedback closes: Urban wastewater"),
        "calendars/water.ics: {ics}"
    );
    let after_first = app.outbox().len();
    // One month before the closing date, one reminder; sending again sends nothing more.
    let out = app.expect(Some("2026-08-28T07:00:00Z"), &["digest", "send"], 0);
    assert!(out.contains("reminder"), "{out}");
    assert_eq!(app.outbox().len(), after_first + 1, "{out}");
    app.expect(Some("2026-08-28T09:00:00Z"), &["digest", "send"], 0);
    assert_eq!(app.outbox().len(), after_first + 1);
    let calendar = app.expect(Some(now), &["export", "ical", "water"], 0);
    assert!(
        calendar.contains("SUMMARY:Feedback closes: Urban wastewater"),
        "{calendar}"
    );
}

/// Serve the Have Your Say fixture `name` at both listing URLs of the portal at `base`.
fn serve_listing(server: &TestServer, base: &str, name: &str) {
    for url in veille::sources::have_your_say::urls(base) {
        server.route(
            &path_of(server, &url),
            Response::ok(fixtures::own(name)).content_type("application/json"),
        );
    }
}

/// The detail of initiative 1201: feedback on the single-use plastics proposal.
fn serve_detail(server: &TestServer, detail: &str) {
    server.route(
        detail,
        Response::ok(fixtures::own(
            "have-your-say/group-initiative_adopted-proposal.json",
        ))
        .content_type("application/json"),
    );
}

/// CELLAR's captures and Have Your Say serving `listing`, initiative 1201's detail down
/// (503) until [`serve_detail`], and the group "plastics" following 2018/0172(COD) by its
/// reference only: the app, the portal's base URL and the detail's path.
fn plastics_and_the_portal(listing: &str) -> (TestApp, String, String) {
    let (server, sources) = eu_services();
    let base = server.url("/better-regulation");
    serve_listing(&server, &base, listing);
    let detail = path_of(
        &server,
        &veille::sources::have_your_say::detail_url(&base, 1201),
    );
    server.route(&detail, Response::status(503).body("maintenance"));
    let mut sources: Vec<Source> = sources.into_iter().filter(|s| s.id == "cellar").collect();
    sources.push(Source::new("have-your-say", "have-your-say", base.clone()));
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "plastics",
        "name = \"Single-use plastics\"\nrecipients = [\"plastics@example.org\"]\ndossiers = [\"2018/0172(COD)\"]\n",
    );
    (app, base, detail)
}

#[test]
fn feedback_on_an_adopted_proposal_joins_its_dossier_through_the_initiative_detail() {
    // The group follows the procedure by its reference only: no keyword.
    let (mut app, base, detail) =
        plastics_and_the_portal("have-your-say/search-initiatives_page.json");
    serve_detail(&app.server, &detail);
    let listing = |server: &TestServer, name: &str| serve_listing(server, &base, name);
    let port = free_port();
    app.mail.push_str(&crate::web::server_on(port));
    app.write_config();
    app.expect(Some("2018-06-10T10:00:00Z"), &["poll"], 0);

    // The portal opens feedback on the adopted proposal; its listing does not name it.
    listing(
        &app.server,
        "have-your-say/search-initiatives_adopted-proposal.json",
    );
    let now = "2018-06-11T10:00:00Z";
    app.expect(Some(now), &["poll"], 0);
    assert_eq!(app.server.requests_to(&detail).len(), 1);
    for other in [16001, 16002, 18805] {
        let url = veille::sources::have_your_say::detail_url(&base, other);
        assert!(app
            .server
            .requests_to(&path_of(&app.server, &url))
            .is_empty());
    }
    let preview = app.json(
        Some(now),
        &["digest", "preview", "plastics", "--format", "json"],
        0,
    );
    let consultation = preview["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "consultation-open")
        .unwrap_or_else(|| panic!("no consultation in {preview}"));
    assert_eq!(consultation["dossier"], "2018/0172(COD)", "{preview}");
    let text = app.expect(Some(now), &["digest", "preview", "plastics"], 0);
    assert!(
        text.contains("Feedback closes: Reducing marine litter") && text.contains("COM(2018)340"),
        "{text}"
    );
    let ics = app.expect(Some(now), &["export", "ical", "plastics"], 0);
    assert!(ics.contains("Reducing marine litter"), "{ics}");
    // The dossier's page lists the feedback period's end among its deadlines.
    let page = app.expect(Some(now), &["dossier", "show", "2018/0172(COD)"], 0);
    assert!(
        page.lines()
            .any(|l| l.contains("2018-07-24  consultation-closing")
                && l.contains("Feedback closes: Reducing marine litter")),
        "{page}"
    );

    // Read once: a later poll whose listing changed does not ask for it again.
    listing(&app.server, "have-your-say/search-initiatives_page.json");
    app.expect(Some("2018-06-12T10:00:00Z"), &["poll"], 0);
    listing(
        &app.server,
        "have-your-say/search-initiatives_adopted-proposal.json",
    );
    let listed = |app: &TestApp| {
        let url = &veille::sources::have_your_say::urls(&base)[0];
        app.server.requests_to(&path_of(&app.server, url)).len()
    };
    let before = listed(&app);
    app.expect(Some("2018-06-13T10:00:00Z"), &["poll"], 0);
    assert_eq!(listed(&app), before + 1);
    assert_eq!(app.server.requests_to(&detail).len(), 1);

    // The web window's page of the dossier lists it too.
    let web = crate::web::Running::start(&app, port);
    let html = crate::web::page(port, "/dossiers/2018-0172-COD");
    assert!(
        html.contains("Feedback closes: Reducing marine litter")
            && html.contains("initiatives/1201_en"),
        "{html}"
    );
    drop(web);
}

#[test]
fn a_failed_initiative_detail_is_asked_again_and_its_consultation_joins_the_proposal_then() {
    let server = TestServer::start_background();
    let base = server.url("/better-regulation");
    let listing = |server: &TestServer, name: &str| serve_listing(server, &base, name);
    listing(
        &server,
        "have-your-say/search-initiatives_adopted-proposal.json",
    );
    let detail = path_of(
        &server,
        &veille::sources::have_your_say::detail_url(&base, 1201),
    );
    server.route(&detail, Response::status(503).body("maintenance"));
    let hys = Source::new("have-your-say", "have-your-say", base.clone());
    let app = TestApp::new(server, vec![hys]);
    app.add_watchlist(
        "litter",
        "name = \"Marine litter\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"marine litter\"]\n",
    );
    // A group that follows the proposal by its COM number only.
    app.add_watchlist(
        "proposal",
        "name = \"Plastics proposal\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"COM(2018)340\"]\n",
    );
    let closes = "Feedback closes: Reducing marine litter";
    let calendar = |now: &str| app.expect(Some(now), &["export", "ical", "proposal"], 0);
    let consultations = |now: &str| {
        let preview = app.preview(now, "litter");
        let kinds = kinds_of(&preview);
        assert!(kinds.iter().all(|k| k == "consultation-open"), "{preview}");
        kinds.len()
    };

    // The detail fails: a source error; the consultation is reported by its keyword.
    let now = "2018-06-11T10:00:00Z";
    app.expect(Some(now), &["poll"], 2);
    let status = app.json(Some(now), &["status", "--format", "json"], 0);
    let source = &status["sources"][0];
    assert_eq!(source["ok"], false, "{status}");
    let error = source["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("groupInitiatives/1201"), "{status}");
    assert_eq!(consultations(now), 1);
    assert!(!calendar(now).contains(closes));

    // Asked again at the next poll, the listing unchanged; an initiative the portal no
    // longer holds is an answer, not a broken source, and is not asked again at once.
    app.server
        .route(&detail, Response::status(404).body("no such initiative"));
    app.expect(Some("2018-06-12T10:00:00Z"), &["poll"], 0);
    assert_eq!(app.server.requests_to(&detail).len(), 2);
    app.expect(Some("2018-06-12T18:00:00Z"), &["poll", "--force"], 0);
    assert_eq!(app.server.requests_to(&detail).len(), 2);

    // A day later, with the listing changed, it answers: the closing date joins the
    // group that follows the proposal; the consultation is not news twice.
    serve_detail(&app.server, &detail);
    listing(&app.server, "have-your-say/search-initiatives_page.json");
    app.expect(Some("2018-06-13T10:00:00Z"), &["poll"], 0);
    listing(
        &app.server,
        "have-your-say/search-initiatives_adopted-proposal.json",
    );
    let later = "2018-06-14T10:00:00Z";
    app.expect(Some(later), &["poll"], 0);
    assert_eq!(app.server.requests_to(&detail).len(), 3);
    let ics = calendar(later);
    assert!(
        ics.contains(closes) && ics.contains("COM(2018)340"),
        "{ics}"
    );
    assert_eq!(consultations(later), 1);
    // The group that follows the proposal gets the consultation it had not had.
    let preview = app.preview(later, "proposal");
    assert_eq!(kinds_of(&preview), ["consultation-open"], "{preview}");
    let status = app.json(Some(later), &["status", "--format", "json"], 0);
    assert_eq!(status["sources"][0]["ok"], true, "{status}");
}

#[test]
fn a_consultation_listed_before_its_detail_came_reaches_the_proposal_s_group_once() {
    let (app, base, detail) = plastics_and_the_portal("have-your-say/search-initiatives_page.json");
    let listing = |server: &TestServer, name: &str| serve_listing(server, &base, name);
    app.add_watchlist(
        "litter",
        "name = \"Marine litter\"\nrecipients = [\"litter@example.org\"]\nkeywords = [\"marine litter\"]\n",
    );
    app.expect(Some("2018-06-11T10:00:00Z"), &["poll"], 0);
    let open = |now: &str, group: &str| {
        let preview = app.preview(now, group);
        let entries = preview["entries"].as_array().cloned().unwrap_or_default();
        let open: Vec<_> = entries
            .into_iter()
            .filter(|e| e["kind"] == "consultation-open")
            .collect();
        (open, preview)
    };
    let alerts_to = |group: &str| {
        app.outbox()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .filter(|m| m.contains(&format!("To: {group}@example.org")))
            .filter(|m| {
                m.contains("Subject: [veille] Alert:") && m.contains("Reducing marine litter")
            })
            .count()
    };

    // Feedback opens (a Tuesday: no digest is due); the detail fails: the keyword's group has it, not the dossier's.
    listing(
        &app.server,
        "have-your-say/search-initiatives_adopted-proposal.json",
    );
    let now = "2018-06-12T10:00:00Z";
    app.expect(Some(now), &["poll"], 2);
    assert_eq!(open(now, "litter").0.len(), 1);
    assert!(open(now, "plastics").0.is_empty());
    app.expect(Some(now), &["digest", "send"], 0);
    assert_eq!((alerts_to("litter"), alerts_to("plastics")), (1, 0));

    // The next poll reads the unchanged listing again and the detail comes: the
    // consultation is the proposal's, and the dossier's group gets it, alert and digest.
    serve_detail(&app.server, &detail);
    let later = "2018-06-13T10:00:00Z";
    app.expect(Some(later), &["poll"], 0);
    let (entries, preview) = open(later, "plastics");
    assert_eq!(entries.len(), 1, "{preview}");
    assert_eq!(entries[0]["dossier"], "2018/0172(COD)", "{preview}");
    app.expect(Some(later), &["digest", "send"], 0);
    assert_eq!((alerts_to("litter"), alerts_to("plastics")), (1, 1));
    let page = app.expect(Some(later), &["dossier", "show", "2018/0172(COD)"], 0);
    assert!(page.contains("Reducing marine litter"), "{page}");
    assert_eq!(searched(&app, later, "COM(2018)340"), 1);

    // Once: later polls, the listing changed and back, add it to no one again.
    listing(&app.server, "have-your-say/search-initiatives_page.json");
    app.expect(Some("2018-06-14T10:00:00Z"), &["poll"], 0);
    listing(
        &app.server,
        "have-your-say/search-initiatives_adopted-proposal.json",
    );
    let last = "2018-06-15T10:00:00Z";
    app.expect(Some(last), &["poll"], 0);
    assert_eq!(app.server.requests_to(&detail).len(), 2);
    app.expect(Some(last), &["digest", "send"], 0);
    assert_eq!((alerts_to("litter"), alerts_to("plastics")), (1, 1));
}

/// How many consultations on marine litter `veille search` finds by these words.
fn searched(app: &TestApp, now: &str, words: &str) -> usize {
    let found = app.json(Some(now), &["search", words, "--format", "json"], 0);
    found["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["title"]
                .as_str()
                .unwrap_or("")
                .contains("Reducing marine litter")
        })
        .count()
}

#[test]
fn a_consultation_no_one_wanted_that_joins_its_proposal_is_archived_with_it() {
    let (app, _, detail) =
        plastics_and_the_portal("have-your-say/search-initiatives_adopted-proposal.json");
    let now = "2018-06-12T10:00:00Z";
    app.expect(Some(now), &["poll"], 2);
    assert_eq!(searched(&app, now, "marine litter"), 1);
    assert_eq!(searched(&app, now, "COM(2018)340"), 0);

    serve_detail(&app.server, &detail);
    let later = "2018-06-13T10:00:00Z";
    app.expect(Some(later), &["poll"], 0);
    for words in ["COM(2018)340", "2018/0172(COD)", "marine litter"] {
        assert_eq!(searched(&app, later, words), 1, "{words}");
    }
    let preview = app.preview(later, "plastics");
    let kinds = kinds_of(&preview);
    let open = kinds.iter().filter(|k| *k == "consultation-open").count();
    assert_eq!(open, 1, "{preview}");
}

#[test]
fn a_portal_that_is_down_costs_one_initiative_detail_per_poll_not_one_each() {
    let server = TestServer::start_background();
    let base = server.url("/better-regulation");
    // The listing with a second initiative at the same stage, its copy numbered 1202.
    let mut page: serde_json::Value = serde_json::from_slice(&fixtures::own(
        "have-your-say/search-initiatives_adopted-proposal.json",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let content = &mut page["initiativeResultDtoPage"]["content"];
    let mut copy = content[0].clone();
    copy["id"] = serde_json::json!(1202.0);
    copy["shortTitle"] = serde_json::json!("Fishing gear: extended producer responsibility");
    content
        .as_array_mut()
        .unwrap_or_else(|| panic!("no content"))
        .push(copy);
    for url in veille::sources::have_your_say::urls(&base) {
        server.route(
            &path_of(&server, &url),
            Response::ok(page.to_string().into_bytes()).content_type("application/json"),
        );
    }
    let details: Vec<String> = [1201, 1202]
        .iter()
        .map(|id| {
            path_of(
                &server,
                &veille::sources::have_your_say::detail_url(&base, *id),
            )
        })
        .collect();
    for d in &details {
        server.route(d, Response::status(503).body("maintenance"));
    }
    let hys = Source::new("have-your-say", "have-your-say", base.clone());
    let app = TestApp::new(server, vec![hys]);
    app.expect(Some("2018-06-11T10:00:00Z"), &["poll"], 2);
    let asked: Vec<usize> = details
        .iter()
        .map(|d| app.server.requests_to(d).len())
        .collect();
    assert_eq!(asked, [0, 1], "the newest first, then the source waits");
}

#[test]
fn match_says_which_watchlists_a_text_matches_and_why() {
    let app = TestApp::new(TestServer::start_background(), vec![]);
    app.add_shipped_watchlists();
    let out = app.expect(
        None,
        &[
            "match",
            "Proposition de directive sur la passation des marchés publics, COM(2011) 896",
        ],
        0,
    );
    assert!(out.contains("public-procurement:"), "{out}");
    assert!(
        out.contains("dossier COM(2011)896") || out.contains("dossier 2011/0438(COD)"),
        "{out}"
    );
    assert!(out.contains("keyword"), "{out}");
    let none = app.expect(None, &["match", "Macro-financial assistance to Ukraine"], 0);
    assert_eq!(none.trim(), "no watchlist matches");
    let only = app.expect(
        None,
        &["match", "--watchlist", "state-aid", "marchés publics"],
        0,
    );
    assert_eq!(only.trim(), "no watchlist matches");
    let unknown = app.veille(None, &["match", "--watchlist", "nope", "x"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn links_in_feeds_are_never_followed_and_logs_can_be_json() {
    let server = TestServer::start_background();
    let trap = server.url("/trap");
    let feed = format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{trap}</link>
<item><title>Public procurement reform</title><link>{trap}/item</link><enclosure url="{trap}/enc" type="audio/mpeg" length="1"/></item>
</channel></rss>"#
    );
    server.route(
        "/feed.xml",
        Response::ok(feed).content_type("application/rss+xml"),
    );
    let app = TestApp::new(server, vec![]);
    let mut app = app;
    app.sources = vec![Source::new("one", "feed", app.server.url("/feed.xml"))];
    app.write_config();
    app.add_watchlist(
        "p",
        "name = \"P\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"public procurement\"]\n",
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_veille"));
    let out = cmd
        .arg("--config")
        .arg(app.config_path())
        .args(["--log-format", "json", "--now", NOW, "poll"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
        assert!(v.get("level").is_some() && v.get("fields").is_some(), "{l}");
    }
    app.expect(Some(NOW), &["digest", "send", "--force"], 0);
    let paths: Vec<String> = app.server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/feed.xml"], "only the configured URL is fetched");
}

#[test]
fn the_field_feeds_shipped_commented_out_are_valid_once_enabled_as_their_comments_say() {
    for (id, list, url, every) in [
        (
            "regio-news",
            "cohesion-urban",
            "https://ec.europa.eu/newsroom/regio/feed?item_type_id=1165&lang=en&orderby=item_date",
            "6h",
        ),
        (
            "eige-news",
            "equality",
            "https://eige.europa.eu/newsroom/news/rss.xml",
            "12h",
        ),
    ] {
        let stdout = check_with_field_feed(id, list);
        assert!(
            stdout.contains(&format!("{id} (feed) {url} every {every}")),
            "{stdout}"
        );
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("  {list} "))
                && l.contains(&format!("every item of {id}"))),
            "{stdout}"
        );
    }
}

/// `veille check` on the shipped configuration with the commented source `id` enabled as
/// its comment says (the `#` removed from its five lines) and taken whole by `list`: its
/// output, once it is clean (exit 0, no warning).
fn check_with_field_feed(id: &str, list: &str) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = std::fs::read_to_string(repo("config.toml")).unwrap_or_default();
    let block = format!("#[[sources]]\n#id = \"{id}\"\n");
    let at = config
        .find(&block)
        .unwrap_or_else(|| panic!("config.toml has no commented {id} source"));
    let (head, tail) = config.split_at(at);
    let (enabled, rest): (Vec<&str>, Vec<&str>) = {
        let lines: Vec<&str> = tail.lines().collect();
        (lines[..5].to_vec(), lines[5..].to_vec())
    };
    let enabled: String = enabled
        .iter()
        .map(|l| format!("{}\n", l.trim_start_matches('#')))
        .collect();
    let config = format!("{head}{enabled}{}\n", rest.join("\n"));
    std::fs::write(dir.path().join("config.toml"), config).unwrap_or_else(|e| panic!("{e}"));
    let lists = dir.path().join("watchlists");
    std::fs::create_dir(&lists).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(repo("watchlists")).unwrap_or_else(|e| panic!("{e}")) {
        let f = entry.unwrap_or_else(|e| panic!("{e}")).file_name();
        let mut text = std::fs::read_to_string(repo("watchlists").join(&f)).unwrap_or_default();
        if f.to_string_lossy() == format!("{list}.toml") {
            text.push_str(&format!("all_items_from = [\"{id}\"]\n"));
        }
        std::fs::write(lists.join(&f), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veille"))
        .current_dir(dir.path())
        .args(["--now", NOW, "check"])
        .env_remove("VEILLE_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{id}: {stdout}\n{stderr}");
    assert!(!stderr.contains("warning"), "{id}: {stderr}");
    stdout
}
