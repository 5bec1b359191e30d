//! The archive of everything seen, through the binary against a loopback server of real
//! EU titles (the Official Journal titles of `eu-titles.rss`, and the title of the
//! captured EP press release on alternative fuels, `ep-press/`): `backtest` says what a
//! watchlist would have matched, exactly what its digest would have held had it been
//! there from the start; a new or edited watchlist's next digest carries that once under
//! "Earlier, now matched"; `search` finds by words in any language and by every spelling
//! of a procedure; the archive is pruned after `storage.archive`; a running daemon
//! answers both commands.

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::app::{Source, TestApp};
use crate::support::fixtures;
use crate::support::http::{Response, TestServer};

const NOW: &str = "2026-06-18T08:00:00Z";
const LATER: &str = "2026-06-18T10:00:00Z";
const NEXT_DAY: &str = "2026-06-19T10:00:00Z";

const PROCUREMENT: &str = "name = \"Public procurement\"\nrecipients = [\"procurement@example.org\"]\nkeywords = [\"public procurement\", \"marchés publics\", \"concession contracts\"]\n";
const MOBILITY: &str = "name = \"Mobility\"\nrecipients = [\"mobility@example.org\"]\nkeywords = [\"alternative fuels\", \"recharging stations\"]\n";
/// The mobility watchlist edited: one more keyword, one dropped, and in French.
const MOBILITY_EDITED: &str = "name = \"Mobility\"\nrecipients = [\"mobility@example.org\"]\nkeywords = [\"alternative fuels\", \"air quality\"]\nlanguage = \"fr\"\n";

/// The title of the captured press release (its `<h1>`), as an RSS item naming its
/// procedure, dated as the release.
fn press_feed() -> String {
    let page = String::from_utf8_lossy(&fixtures::read(
        "ep-press/press-release_20221014IPR43206_AFIR-2021-0223-COD.html",
    ))
    .into_owned();
    let title = "Car-recharging stations should be available every 60 km, say MEPs";
    assert!(page.contains(title), "the capture's title changed");
    assert!(page.contains("2021/0223(COD)"));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>EP press</title><link>https://www.europarl.europa.eu/news/en/press-room</link><description>Press releases</description>\
         <item><title>{title}</title><link>https://www.europarl.europa.eu/news/en/press-room/20221014IPR43206</link><guid>20221014IPR43206</guid>\
         <description>Deployment of alternative fuels infrastructure, procedure 2021/0223(COD).</description><pubDate>Wed, 19 Oct 2022 12:00:00 +0200</pubDate></item>\
         </channel></rss>"
    )
}

/// An installation polling the two feeds; every item is news (`digest.backfill` reaches
/// back beyond the oldest title) and the archive keeps `archive`.
fn install(archive: &str) -> TestApp {
    let server = TestServer::start_background();
    server.route(
        "/eur-lex.rss",
        Response::ok(fixtures::own("eu-titles.rss")).content_type("application/rss+xml"),
    );
    server.route(
        "/press.rss",
        Response::ok(press_feed()).content_type("application/rss+xml"),
    );
    let mut app = TestApp::new(server, vec![]);
    app.sources = vec![
        Source::new("eur-lex", "feed", app.server.url("/eur-lex.rss")),
        Source::new("ep-press", "feed", app.server.url("/press.rss")),
    ];
    app.mail.push_str("[digest]\nbackfill = \"36500d\"\n");
    app.write_config();
    set_archive(&app, archive);
    app
}

/// Set `storage.archive` in the installation's configuration.
fn set_archive(app: &TestApp, archive: &str) {
    let c = std::fs::read_to_string(app.config_path()).unwrap_or_else(|e| panic!("{e}"));
    let c = c
        .lines()
        .filter(|l| !l.starts_with("archive = "))
        .map(|l| match l.starts_with("cache_capacity = ") {
            true => format!("{l}\narchive = \"{archive}\""),
            false => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(app.config_path(), c + "\n").unwrap_or_else(|e| panic!("{e}"));
}

fn entries(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["entries"].as_array().cloned().unwrap_or_default()
}

fn ids(v: &serde_json::Value) -> BTreeSet<String> {
    entries(v)
        .iter()
        .map(|e| e["event_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn titles(v: &serde_json::Value) -> Vec<String> {
    entries(v)
        .iter()
        .map(|e| e["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn preview(app: &TestApp, now: &str, id: &str) -> serde_json::Value {
    app.json(Some(now), &["digest", "preview", id, "--format", "json"], 0)
}

#[test]
fn backtest_is_what_the_digest_would_have_held_and_the_next_digest_brings_it_once() {
    // What the mobility watchlist's digest holds when it is there from the start.
    let control = install("36500d");
    control.add_watchlist("procurement", PROCUREMENT);
    control.add_watchlist("mobility", MOBILITY);
    control.expect(Some(NOW), &["poll"], 0);
    let from_start = preview(&control, NOW, "mobility");
    let expected = ids(&from_start);
    assert_eq!(expected.len(), 2, "{:#?}", titles(&from_start));

    // Here it comes later: the first poll knew only the procurement watchlist.
    let app = install("36500d");
    app.add_watchlist("procurement", PROCUREMENT);
    app.expect(Some(NOW), &["poll"], 0);
    let procurement = ids(&preview(&app, NOW, "procurement"));
    assert_eq!(procurement.len(), 3, "{procurement:?}");
    app.add_watchlist("mobility", MOBILITY);
    let tried = app.json(
        Some(NOW),
        &[
            "backtest", "mobility", "--since", "36500d", "--format", "json",
        ],
        0,
    );
    assert_eq!(tried["watchlist"], "mobility");
    assert_eq!(ids(&tried), expected, "{tried:#}");
    for e in entries(&tried) {
        let why = e["matched_by"].as_array().cloned().unwrap_or_default();
        assert!(!why.is_empty(), "{e:#}");
        for key in ["title", "url", "source", "kind", "date"] {
            assert!(e[key].is_string(), "{key} in {e:#}");
        }
    }
    let text = app.expect(Some(NOW), &["backtest", "mobility", "--since", "36500d"], 0);
    assert!(text.contains("Car-recharging stations"), "{text}");
    assert!(text.contains("keyword \"recharging stations\""), "{text}");
    // Nothing before the poll that follows the new watchlist.
    assert!(entries(&preview(&app, NOW, "mobility")).is_empty());

    // The next poll (the feeds unchanged) enqueues them as earlier, now matched.
    app.expect(Some(LATER), &["poll"], 0);
    let next = preview(&app, LATER, "mobility");
    assert_eq!(ids(&next), expected, "{next:#}");
    assert!(
        entries(&next).iter().all(|e| e["earlier"] == true),
        "{next:#}"
    );
    let text = app.expect(Some(LATER), &["digest", "preview", "mobility"], 0);
    assert!(text.contains("== Earlier, now matched =="), "{text}");
    // The procurement watchlist, unchanged, gets nothing again.
    assert_eq!(ids(&preview(&app, LATER, "procurement")), procurement);
    assert!(entries(&preview(&app, LATER, "procurement"))
        .iter()
        .all(|e| e.get("earlier").is_none()));

    app.expect(Some(LATER), &["digest", "send", "mobility", "--force"], 0);
    let sent: Vec<String> = app
        .outbox()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .filter(|m| m.contains("mobility@example.org"))
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("Earlier, now matched"), "{}", sent[0]);
    assert!(entries(&preview(&app, LATER, "mobility")).is_empty());

    // An edit: one keyword more, one less. Only what the new keyword brings comes; what
    // went out is not sent again, and what the dropped keyword found is not taken back.
    app.add_watchlist("mobility", MOBILITY_EDITED);
    app.expect(Some(NEXT_DAY), &["poll"], 0);
    let edited = preview(&app, NEXT_DAY, "mobility");
    let new_titles = titles(&edited);
    assert!(
        new_titles.iter().all(|t| t.contains("ambient air quality")),
        "{new_titles:#?}"
    );
    assert_eq!(new_titles.len(), 1, "{new_titles:#?}");
    assert!(ids(&edited).is_disjoint(&expected));
    let text = app.expect(Some(NEXT_DAY), &["digest", "preview", "mobility"], 0);
    assert!(text.contains("== Plus tôt, désormais retenus =="), "{text}");
    app.expect(
        Some(NEXT_DAY),
        &["digest", "send", "mobility", "--force"],
        0,
    );

    // Another edit back: nothing is sent twice.
    app.add_watchlist("mobility", MOBILITY);
    app.expect(Some(NEXT_DAY), &["poll"], 0);
    assert!(
        entries(&preview(&app, NEXT_DAY, "mobility")).is_empty(),
        "{:#}",
        preview(&app, NEXT_DAY, "mobility")
    );
}

#[test]
fn search_finds_french_words_and_every_spelling_of_a_procedure_newest_first() {
    let app = install("36500d");
    app.add_watchlist("procurement", PROCUREMENT);
    app.expect(Some(NOW), &["poll"], 0);

    for words in [
        &["passation"][..],
        &["PASSATION", "marches"],
        &["Marchés", "publics"],
    ] {
        let mut args = vec!["search"];
        args.extend_from_slice(words);
        args.extend(["--format", "json"]);
        let found = app.json(Some(NOW), &args, 0);
        let t = titles(&found);
        assert!(
            t.iter()
                .any(|t| t.contains("passation des marchés publics")),
            "{words:?}: {t:#?}"
        );
    }
    // Items no watchlist wanted are there too.
    let found = app.json(Some(NOW), &["search", "Ukraine", "--format", "json"], 0);
    assert_eq!(titles(&found).len(), 1, "{found:#}");

    for spelling in ["2021/0223(COD)", "2021-0223", "2021_223", "2021/0223/COD"] {
        let found = app.json(Some(NOW), &["search", spelling, "--format", "json"], 0);
        let t = titles(&found);
        assert_eq!(
            t,
            vec!["Car-recharging stations should be available every 60 km, say MEPs"],
            "{spelling}"
        );
        assert_eq!(entries(&found)[0]["source"], "ep-press");
    }
    // By the act's CELEX number and by its name.
    for r in ["32014L0024", "Directive 2014/24/EU"] {
        let found = app.json(Some(NOW), &["search", r, "--format", "json"], 0);
        assert_eq!(titles(&found).len(), 2, "{r}: {found:#}");
    }
    // One source's; newest first.
    let none = app.json(
        Some(NOW),
        &[
            "search",
            "passation",
            "--source",
            "ep-press",
            "--format",
            "json",
        ],
        0,
    );
    assert!(entries(&none).is_empty());
    let all = app.json(Some(NOW), &["search", "European", "--format", "json"], 0);
    let dates: Vec<String> = entries(&all)
        .iter()
        .map(|e| e["date"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(dates.len() >= 5, "{dates:?}");
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    let text = app.expect(Some(NOW), &["search", "passation"], 0);
    assert!(text.contains("passation des marchés publics"), "{text}");
}

/// The archive as the store holds it (no daemon holds the store).
fn archived(
    app: &TestApp,
    now: &str,
) -> Vec<(veille::model::EventId, veille::archive::ArchivedEvent)> {
    let now = now.parse().unwrap_or_default();
    let (store, _) = veille::store::Store::open(&app.path("data/veille.sled"), 8 << 20, now)
        .unwrap_or_else(|e| panic!("{e}"));
    let (n, bytes) = store.archive_size().unwrap_or_else(|e| panic!("{e}"));
    let all = store
        .archive_where(chrono::NaiveDate::MIN, |_| true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), n);
    eprintln!(
        "archive: {n} events, {bytes} bytes of keys and values, {} per event",
        bytes / n.max(1)
    );
    all
}

#[test]
fn the_archive_keeps_each_item_once_and_is_pruned_after_storage_archive() {
    let app = install("36500d");
    app.add_watchlist("procurement", PROCUREMENT);
    app.expect(Some(NOW), &["poll"], 0);
    let first = archived(&app, NOW);
    // Every item of both feeds, matched or not (the procurement watchlist wants three).
    assert_eq!(first.len(), 15, "{first:#?}");
    assert!(first
        .iter()
        .all(|(_, a)| a.seen_at.to_rfc3339() == "2026-06-18T08:00:00+00:00"));

    // Unchanged feeds: nothing written. A feed with one item more: that one only; the
    // items listed before keep the record of when they were first seen.
    app.expect(Some(LATER), &["poll"], 0);
    assert_eq!(archived(&app, LATER), first);
    let feed = String::from_utf8_lossy(&fixtures::own("eu-titles.rss")).replace(
        "</channel>",
        "<item><title>Directive (EU) 2024/1275 of the European Parliament and of the Council of 24 April 2024 on the energy performance of buildings (recast)</title><link>https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32024L1275</link><guid>https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32024L1275</guid><pubDate>Mon, 08 May 2024 00:00:00 +0200</pubDate></item></channel>",
    );
    app.server.route(
        "/eur-lex.rss",
        Response::ok(feed).content_type("application/rss+xml"),
    );
    app.expect(Some(NEXT_DAY), &["poll", "--force"], 0);
    let second = archived(&app, NEXT_DAY);
    assert_eq!(second.len(), first.len() + 1);
    for kept in &first {
        assert!(second.contains(kept), "{kept:#?} written again");
    }

    let count = |now: &str, w: &str| {
        entries(&app.json(Some(now), &["search", w, "--format", "json"], 0)).len()
    };
    assert_eq!(count(NEXT_DAY, "passation"), 1);
    assert_eq!(count(NEXT_DAY, "artificial intelligence"), 1);
    // Three years: the 2014 titles go, the 2024 ones stay.
    set_archive(&app, "1095d");
    app.expect(Some(NEXT_DAY), &["poll", "--force"], 0);
    assert_eq!(count(NEXT_DAY, "passation"), 0);
    assert_eq!(count(NEXT_DAY, "artificial intelligence"), 1);
    assert!(archived(&app, NEXT_DAY).len() < second.len());
}

#[test]
fn backtest_of_a_file_tries_it_before_it_is_installed_and_a_broken_one_says_where() {
    let app = install("36500d");
    app.add_watchlist("procurement", PROCUREMENT);
    app.expect(Some(NOW), &["poll"], 0);
    let draft = app.path("draft-mobility.toml");
    std::fs::write(&draft, MOBILITY).unwrap_or_else(|e| panic!("{e}"));
    let path = draft.to_string_lossy().into_owned();
    let tried = app.json(
        Some(NOW),
        &["backtest", &path, "--since", "36500d", "--format", "json"],
        0,
    );
    assert_eq!(tried["watchlist"], "draft-mobility");
    assert_eq!(titles(&tried).len(), 2, "{tried:#}");
    // Not installed: nothing else changed.
    assert!(!app.path("watchlists/draft-mobility.toml").exists());

    let broken = app.path("broken.toml");
    std::fs::write(
        &broken,
        "name = \"Broken\"\nrecipients = [\"x@example.org\"]\nkeywords = [\"fuels\"]\nkeywrods = [\"typo\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, err) = app.expect_both(Some(NOW), &["backtest", &broken.to_string_lossy()], 3);
    assert!(err.contains("broken.toml:4:1: "), "{err}");
    // An id that is no watchlist.
    app.expect(Some(NOW), &["backtest", "nobody"], 1);
}

/// `veille run`, spawned here and stopped by its process id.
struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn spawn(app: &TestApp, now: &str) -> Daemon {
        let log = app.path("run.stderr");
        let child = app.spawn_run(now, &log);
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_running_daemon_answers_backtest_and_search() {
    let app = install("36500d");
    app.add_watchlist("procurement", PROCUREMENT);
    let d = Daemon::spawn(&app, NOW);
    // The daemon polls at start; the store is its own: these go through its socket.
    let start = Instant::now();
    loop {
        let out = app.veille(Some(NOW), &["search", "passation", "--format", "json"]);
        if out.status.code() == Some(0) {
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
            if !entries(&v).is_empty() {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no search answer from the daemon: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let draft = app.path("draft-mobility.toml");
    std::fs::write(&draft, MOBILITY).unwrap_or_else(|e| panic!("{e}"));
    let tried = app.json(
        Some(NOW),
        &[
            "backtest",
            &draft.to_string_lossy(),
            "--since",
            "36500d",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(titles(&tried).len(), 2, "{tried:#}");
    let tried = app.json(
        Some(NOW),
        &[
            "backtest",
            "procurement",
            "--since",
            "36500d",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(titles(&tried).len(), 3, "{tried:#}");
    let broken = app.path("broken.toml");
    std::fs::write(&broken, "name = \"Broken\"\nrecipients = [\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, err) = app.expect_both(Some(NOW), &["backtest", &broken.to_string_lossy()], 3);
    assert!(err.contains("broken.toml:"), "{err}");

    // A watchlist installed while the daemon runs: after the reload, the daemon's next
    // poll step enqueues what it matches in the archive, and its preview shows them.
    app.add_watchlist("mobility", MOBILITY);
    let start = Instant::now();
    while !d.log().contains("watchlists reloaded") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no reload\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    app.expect(Some(LATER), &["poll"], 0);
    let next = preview(&app, LATER, "mobility");
    assert_eq!(titles(&next).len(), 2, "{next:#}\n{}", d.log());
    assert!(
        entries(&next).iter().all(|e| e["earlier"] == true),
        "{next:#}"
    );
}

#[test]
fn a_feed_larger_than_one_transaction_is_archived_in_parts_and_counted_once() {
    let items: String = (0..2_500)
        .map(|i| {
            format!(
                "<item><title>Notice {i} of the Official Journal on fisheries</title><link>https://example.org/oj/{i}</link><guid>oj-{i}</guid><pubDate>Mon, 08 Jun 2026 00:00:00 +0200</pubDate></item>"
            )
        })
        .collect();
    let feed = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>OJ</title><link>https://example.org/</link><description>d</description>{items}</channel></rss>"
    );
    let server = TestServer::start_background();
    server.route(
        "/oj.rss",
        Response::ok(feed).content_type("application/rss+xml"),
    );
    let mut app = TestApp::new(server, vec![]);
    app.sources = vec![Source::new("oj", "feed", app.server.url("/oj.rss"))];
    app.write_config();
    app.add_watchlist("procurement", PROCUREMENT);
    let out = app.expect(Some(NOW), &["poll"], 0);
    assert!(out.contains("2500 new event(s)"), "{out}");
    assert_eq!(archived(&app, NOW).len(), 2_500);
    let out = app.expect(Some(LATER), &["poll", "--force"], 0);
    assert!(out.contains(" 0 new event(s)"), "{out}");
    assert_eq!(archived(&app, LATER).len(), 2_500);
    let found = app.json(
        Some(LATER),
        &["search", "Notice", "2499", "--format", "json"],
        0,
    );
    assert_eq!(
        titles(&found),
        vec!["Notice 2499 of the Official Journal on fisheries"]
    );
}
