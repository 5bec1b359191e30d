//! The poll step in-process against a loopback server: every kind of broken source is
//! reported for itself only, the others' items are stored; a second poll is conditional;
//! a 304 or an unchanged body writes no event; `Retry-After` pushes the next poll back.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use veille::config::Config;
use veille::fetch::Fetcher;
use veille::poll::{poll_once, PollContext, Selection};
use veille::store::Store;
use veille::watchlist::{load_str, WatchlistSet};

use crate::support::http::{Response, TestServer};

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Council press releases</title><link>https://www.consilium.europa.eu/</link>
<item><title>Public procurement: Council agrees its position on the revision of the procurement directives</title>
<link>https://www.consilium.europa.eu/en/press/1</link><guid>https://www.consilium.europa.eu/en/press/1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 +0100</pubDate></item>
<item><title>Air quality: provisional agreement reached</title>
<link>https://www.consilium.europa.eu/en/press/2</link><guid>https://www.consilium.europa.eu/en/press/2</guid>
<pubDate>Wed, 25 Nov 2026 10:00:00 +0100</pubDate></item>
</channel></rss>"#;

const MIB: usize = 1024 * 1024;

fn config(server: &TestServer, sources: &[(&str, &str)]) -> Config {
    let mut c = String::from(
        "timezone = \"Europe/Brussels\"\nwatchlists_dir = \"watchlists\"\n[storage]\npath = \"data/veille.sled\"\n\
         [http]\nuser_agent = \"veille-test\"\ntimeout = \"1s\"\nmax_body = \"16MiB\"\nper_host_interval = \"0s\"\nconcurrency = 8\nper_host_concurrency = 8\n\
         [mail]\nfrom = \"v@example.org\"\ntransport = \"file\"\noutbox_dir = \"outbox\"\n",
    );
    for (id, path) in sources {
        c.push_str(&format!(
            "[[sources]]\nid = \"{id}\"\nkind = \"feed\"\nurl = \"{}\"\nevery = \"1h\"\n",
            server.url(path)
        ));
    }
    Config::from_str(Path::new("/tmp/veille-test/config.toml"), &c, None)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn watchlists() -> WatchlistSet {
    let w = load_str(
        "procurement",
        Path::new("procurement.toml"),
        "name = \"Procurement\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"public procurement\"]\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    WatchlistSet::new(vec![w])
}

/// A store in a temporary folder and a fetcher for one configuration.
struct Rig {
    _dir: tempfile::TempDir,
    config: Config,
    store: Store,
    fetcher: Fetcher,
}

impl Rig {
    fn new(config: Config, now: DateTime<Utc>) -> Rig {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (store, _) = Store::open(&dir.path().join("s.sled"), 8 * MIB as u64, now)
            .unwrap_or_else(|e| panic!("{e}"));
        let fetcher = Fetcher::new(config.http.clone()).unwrap_or_else(|e| panic!("{e}"));
        Rig {
            _dir: dir,
            config,
            store,
            fetcher,
        }
    }

    fn ctx<'a>(&'a self, watchlists: &'a WatchlistSet) -> PollContext<'a> {
        PollContext {
            config: &self.config,
            fetcher: &self.fetcher,
            store: &self.store,
            watchlists,
        }
    }
}

fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; MIB];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap_or_else(|e| panic!("{e}"));
    }
    enc.finish().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn each_broken_source_is_reported_for_itself_and_the_others_are_stored() {
    let server = TestServer::start().await;
    server.route(
        "/good.xml",
        Response::ok(RSS)
            .content_type("application/rss+xml")
            .etag("\"g1\""),
    );
    server.route(
        "/slow.xml",
        Response::ok(RSS).content_type("application/rss+xml").hang(),
    );
    server.route("/429", Response::status(429).header("Retry-After", "7200"));
    server.route("/500", Response::status(500));
    server.route(
        "/truncated",
        Response::ok(RSS)
            .content_type("application/rss+xml")
            .truncate_at(120),
    );
    server.route(
        "/huge",
        Response::ok(vec![b' '; 50 * MIB]).content_type("application/rss+xml"),
    );
    server.route(
        "/bomb",
        Response::ok(gzip_bomb())
            .header("Content-Encoding", "gzip")
            .content_type("application/rss+xml"),
    );
    server.route(
        "/challenge",
        Response::status(202).header("x-amzn-waf-action", "challenge"),
    );
    server.route(
        "/html",
        Response::ok("<!doctype html><html><body>News</body></html>").content_type("text/html"),
    );
    let sources = [
        ("good", "/good.xml"),
        ("hanging", "/slow.xml"),
        ("rate-limited", "/429"),
        ("server-error", "/500"),
        ("truncated", "/truncated"),
        ("huge", "/huge"),
        ("gzip-bomb", "/bomb"),
        ("challenged", "/challenge"),
        ("html", "/html"),
    ];
    let config = config(&server, &sources);
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config, now);
    let (store, ctx) = (&rig.store, rig.ctx(&wl));
    let report = poll_once(ctx, now, Selection::Due)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let by_id = |id: &str| {
        report
            .sources
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{id} not polled"))
    };
    assert!(by_id("good").ok);
    assert_eq!(by_id("good").new_events, 2);
    assert_eq!(by_id("good").enqueued, 1);
    for (id, why) in [
        ("hanging", "timed out"),
        ("rate-limited", "429"),
        ("server-error", "500"),
        ("truncated", ""),
        ("huge", "larger than"),
        ("gzip-bomb", "larger than"),
        ("challenged", "challenge"),
        ("html", "HTML page where a feed was expected"),
    ] {
        let s = by_id(id);
        assert!(!s.ok, "{id} should have failed");
        let err = s.error.clone().unwrap_or_default();
        assert!(
            err.to_lowercase().contains(&why.to_lowercase()),
            "{id}: {err}"
        );
    }
    // Retry-After is a floor for the next poll; other failures back off from one minute.
    let next = |id: &str| store.source(id).ok().flatten().and_then(|s| s.next_poll_at);
    assert_eq!(next("rate-limited"), Some(now + Duration::hours(2)));
    assert_eq!(next("server-error"), Some(now + Duration::minutes(1)));
    assert_eq!(next("good"), Some(now + Duration::hours(1)));
    assert_eq!(
        store.pending("procurement").map(|p| p.len()).unwrap_or(0),
        1
    );

    // The second poll is conditional; the 304 writes no event.
    let later = now + Duration::hours(1);
    let events_before = store.event_count();
    let again = poll_once(
        ctx,
        later,
        Selection::One {
            id: "good",
            force: false,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.sources[0].ok);
    assert_eq!(again.sources[0].unchanged, 1);
    assert_eq!(again.sources[0].observations, 0, "a 304 is not parsed");
    let reqs = server.requests_to("/good.xml");
    assert_eq!(
        reqs.last().and_then(|r| r.header("if-none-match")),
        Some("\"g1\"")
    );
    assert_eq!(store.event_count(), events_before);
}

#[tokio::test]
async fn an_unchanged_body_without_validators_is_not_parsed_again() {
    let server = TestServer::start().await;
    server.route(
        "/plain.xml",
        Response::ok(RSS)
            .content_type("application/rss+xml")
            .ignore_conditional(),
    );
    let config = config(&server, &[("plain", "/plain.xml")]);
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config, now);
    let ctx = rig.ctx(&wl);
    let first = poll_once(ctx, now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.sources[0].observations, 2);
    let second = poll_once(
        ctx,
        now + Duration::hours(1),
        Selection::All { force: false },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (second.sources[0].unchanged, second.sources[0].observations),
        (1, 0)
    );
}

#[tokio::test]
async fn a_feed_that_does_not_parse_stays_failing_without_being_parsed_again() {
    let server = TestServer::start().await;
    server.route(
        "/broken.xml",
        Response::ok("<rss><channel><item><title>cut off")
            .content_type("application/rss+xml")
            .etag("\"b1\""),
    );
    let config = config(&server, &[("broken", "/broken.xml")]);
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config, now);
    let (store, ctx) = (&rig.store, rig.ctx(&wl));
    let first = poll_once(ctx, now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!first.sources[0].ok);
    let second = poll_once(
        ctx,
        now + Duration::hours(1),
        Selection::All { force: false },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let s = &second.sources[0];
    assert!(!s.ok, "unchanged broken bytes are still broken");
    assert_eq!(s.unchanged, 1, "answered 304, not parsed again");
    assert_eq!(s.error, first.sources[0].error);
    assert_eq!(
        store.source("broken").ok().flatten().map(|s| s.failures),
        Some(2)
    );
}

/// A configuration with one EU service source `kind` (its id is its kind) at `base`.
fn eu_config(base: &str, kind: &str, every: &str, max_body: &str) -> Config {
    let c = format!(
        "timezone = \"Europe/Brussels\"\nwatchlists_dir = \"w\"\n[storage]\npath = \"s\"\n\
         [http]\nuser_agent = \"t\"\ntimeout = \"2s\"\nmax_body = \"{max_body}\"\nper_host_interval = \"0s\"\n\
         [mail]\nfrom = \"v@example.org\"\ntransport = \"file\"\noutbox_dir = \"o\"\n\
         [[sources]]\nid = \"{kind}\"\nkind = \"{kind}\"\nurl = \"{base}\"\nevery = \"{every}\"\n"
    );
    Config::from_str(Path::new("/tmp/x/config.toml"), &c, None).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_service_that_is_down_is_not_asked_for_every_dossier() {
    let server = TestServer::start().await;
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let refs = ["2018/0172(COD)", "2016/0132(COD)", "2024/0258(COD)"];
    for r in refs {
        let url = veille::sources::cellar::procedure_url(
            base,
            &r.parse().unwrap_or_else(|e| panic!("{e}")),
        );
        let path = url.strip_prefix(base).unwrap_or(&url).to_string();
        server.route(&path, Response::status(503).header("Retry-After", "600"));
    }
    let config = eu_config(base, "cellar", "1d", "1MiB");
    let w = load_str(
        "d",
        Path::new("d.toml"),
        &format!("name = \"D\"\nrecipients = [\"fg@example.org\"]\ndossiers = {refs:?}\n"),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let wl = WatchlistSet::new(vec![w]);
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let rig = Rig::new(config, now);
    let (store, ctx) = (&rig.store, rig.ctx(&wl));
    let report = poll_once(ctx, now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.sources[0].ok);
    assert_eq!(
        server.requests().len(),
        1,
        "the first 503 stops this source's round"
    );
    assert_eq!(
        store
            .source("cellar")
            .ok()
            .flatten()
            .and_then(|s| s.next_poll_at),
        Some(now + Duration::minutes(10))
    );
}

#[tokio::test]
async fn act_notices_missing_or_challenged_are_retried_without_losing_the_procedure() {
    let server = TestServer::start().await;
    let base = server.url("");
    let base = base.trim_end_matches('/').to_string();
    let r: veille::model::ProcedureRef = "2018/0172(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    let tree = veille::sources::cellar::procedure_url(&base, &r);
    let path = |url: &str| url.strip_prefix(base.as_str()).unwrap_or(url).to_string();
    server.route(
        &path(&tree),
        Response::ok(crate::support::fixtures::read(
            "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
        ))
        .content_type("application/xml"),
    );
    let proposal = "/resource/celex/52018PC0340";
    let directive = "/resource/celex/32019L0904";
    // CELLAR has no notice for the proposal yet, and challenges the directive's request.
    server.route(proposal, Response::status(404));
    server.route(
        directive,
        Response::status(202)
            .header("x-amzn-waf-action", "challenge")
            .content_type("text/html")
            .body("<!DOCTYPE html><html><head><script src=\"https://x.token.awswaf.com/challenge.js\"></script></head></html>"),
    );
    let config = eu_config(&base, "cellar", "1d", "4MiB");
    let w = load_str(
        "plastics",
        Path::new("plastics.toml"),
        "name = \"P\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"2018/0172(COD)\"]\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let wl = WatchlistSet::new(vec![w]);
    let now: DateTime<Utc> = "2018-06-10T10:00:00Z".parse().unwrap_or_default();
    let rig = Rig::new(config, now);
    let (store, ctx) = (&rig.store, rig.ctx(&wl));

    let report = poll_once(ctx, now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = &report.sources[0];
    assert!(!s.ok, "a challenge is a failure: {s:?}");
    assert!(
        s.error.as_deref().is_some_and(|e| e.contains("challenge")),
        "{s:?}"
    );
    // The procedure itself is kept, without act dates.
    let d = store
        .dossier(&r)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the procedure is stored"));
    assert_eq!(
        d.final_act.map(|c| c.to_string()).as_deref(),
        Some("32019L0904")
    );
    assert!(d.act_dates.is_empty());

    // CELLAR answers the next time: both notices are asked for again (they were never
    // read), the procedure's unchanged notice is not parsed again.
    server.route(
        proposal,
        Response::ok(crate::support::fixtures::read(
            "eurlex-cellar-notice/celex_52018PC0340_branch-notice_COM-2018-340-proposal.xml",
        )),
    );
    server.route(
        directive,
        Response::ok(crate::support::fixtures::own(
            "cellar/celex_32019L0904_branch-notice.xml",
        )),
    );
    let later = now + Duration::days(1);
    let report = poll_once(ctx, later, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.sources[0].ok, "{:?}", report.sources[0]);
    assert_eq!(server.requests_to(proposal).len(), 2);
    assert_eq!(server.requests_to(directive).len(), 2);
    let d = store
        .dossier(&r)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(
        d.act_dates
            .sent_to_parliaments
            .map(|x| x.to_string())
            .as_deref(),
        Some("2018-05-28")
    );
    assert_eq!(
        d.act_dates
            .transposition
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["2021-07-03"]
    );

    // Read once, not again while the procedure's notice stays the same.
    poll_once(
        ctx,
        later + Duration::days(1),
        Selection::All { force: false },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.requests_to(proposal).len(), 2);
    assert_eq!(server.requests_to(directive).len(), 2);
}

#[tokio::test]
async fn a_procedure_a_service_does_not_hold_is_asked_for_about_once_a_day() {
    let server = TestServer::start().await;
    let base = server.url("");
    let base = base.trim_end_matches('/').to_string();
    let r: veille::model::ProcedureRef = "2026/0101(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    let url = veille::sources::oeil::procedure_url(&base, &r);
    let path = url.strip_prefix(base.as_str()).unwrap_or(&url).to_string();
    server.route(&path, Response::status(404));
    let config = eu_config(&base, "oeil", "6h", "1MiB");
    let w = load_str(
        "d",
        Path::new("d.toml"),
        "name = \"D\"\nrecipients = [\"fg@example.org\"]\ndossiers = [\"2026/0101(COD)\"]\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let wl = WatchlistSet::new(vec![w]);
    let t0: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let rig = Rig::new(config, t0);
    let ctx = rig.ctx(&wl);
    let mut asked = Vec::new();
    for hours in [0, 6, 12, 18, 24, 30] {
        let report = poll_once(
            ctx,
            t0 + Duration::hours(hours),
            Selection::All { force: false },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.sources[0].ok, "a missing procedure is not a failure");
        asked.push(server.requests_to(&path).len());
    }
    assert_eq!(
        asked,
        [1, 1, 1, 1, 2, 2],
        "asked again after a day, not every 6 hours"
    );
}

/// An RSS feed of `n` items (ids `{prefix}-0`..), one in 100 about public procurement.
fn big_feed(prefix: &str, n: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Big</title><link>https://example.org/</link>"#,
    );
    for i in 0..n {
        let title = if i % 100 == 0 {
            format!("Public procurement notice {i}")
        } else {
            format!("Town hall news {i}: opening hours of the library")
        };
        s.push_str(&format!(
            "<item><title>{title}</title><link>https://example.org/{prefix}/{i}</link><guid>{prefix}-{i}</guid>\
             <description>Item {i} of the {prefix} feed.</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// A step with more events than one transaction takes: every item is new once, each
/// source's counts are its own, the matched ones are kept and wait in the digest, the
/// others are only counted (each feed's resource record lists them); a feed that gains
/// one item brings one new event.
#[tokio::test]
async fn a_poll_bigger_than_one_transaction_records_every_item_once() {
    let server = TestServer::start().await;
    for name in ["a", "b", "c"] {
        server.route(
            &format!("/{name}.xml"),
            Response::ok(big_feed(name, 900)).content_type("application/rss+xml"),
        );
    }
    let config = config(
        &server,
        &[("a", "/a.xml"), ("b", "/b.xml"), ("c", "/c.xml")],
    );
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config, now);
    let report = poll_once(rig.ctx(&wl), now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<(String, usize, usize)> = report
        .sources
        .iter()
        .map(|s| (s.id.clone(), s.new_events, s.enqueued))
        .collect();
    assert_eq!(
        counts,
        [
            ("a".into(), 900, 9),
            ("b".into(), 900, 9),
            ("c".into(), 900, 9)
        ]
    );
    assert_eq!(rig.store.event_count(), 27, "the matched events are kept");
    let pending = rig
        .store
        .pending("procurement")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pending.len(), 27);
    assert!(pending
        .iter()
        .all(|p| p.event.title.starts_with("Public procurement notice")));

    let later = now + Duration::hours(2);
    server.route(
        "/a.xml",
        Response::ok(big_feed("a", 901)).content_type("application/rss+xml"),
    );
    let report = poll_once(rig.ctx(&wl), later, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let new: Vec<usize> = report.sources.iter().map(|s| s.new_events).collect();
    assert_eq!(new, [1, 0, 0]);
    assert_eq!(rig.store.event_count(), 28, "item 900 matched");
}

/// The archive rule of a source's first poll applies at its first *successful* poll: a feed
/// that was down when it was added does not flood the next digest when it comes back.
#[tokio::test]
async fn a_feed_down_at_its_first_poll_still_reports_only_its_recent_items_when_it_comes_back() {
    let archive = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Council press releases</title><link>https://www.consilium.europa.eu/</link>
<item><title>Public procurement: the 2014 directives are adopted</title>
<link>https://www.consilium.europa.eu/en/press/0</link><guid>https://www.consilium.europa.eu/en/press/0</guid>
<pubDate>Fri, 28 Mar 2014 00:00:00 +0100</pubDate></item>
<item><title>Public procurement: Council agrees its position on the revision of the procurement directives</title>
<link>https://www.consilium.europa.eu/en/press/1</link><guid>https://www.consilium.europa.eu/en/press/1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 +0100</pubDate></item>
</channel></rss>"#;
    let server = TestServer::start().await;
    server.route("/council.xml", Response::status(503));
    let config = config(&server, &[("council", "/council.xml")]);
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config, now);
    let ctx = rig.ctx(&wl);
    let down = poll_once(ctx, now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!down.sources[0].ok);

    server.route(
        "/council.xml",
        Response::ok(archive).content_type("application/rss+xml"),
    );
    let back = poll_once(
        ctx,
        now + Duration::hours(1),
        Selection::All { force: false },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let r = &back.sources[0];
    assert!(r.ok, "{r:?}");
    // Both items are new to veille (the old one kept out of the digests), only the recent
    // one is news.
    assert_eq!((r.new_events, r.enqueued), (2, 1), "{r:?}");
    assert_eq!(
        procurement_news(&rig.store),
        ["Public procurement: Council agrees its position on the revision of the procurement directives"]
    );
}

/// The titles waiting in the procurement watchlist's digest, sorted.
fn procurement_news(store: &Store) -> Vec<String> {
    let mut titles: Vec<String> = store
        .pending("procurement")
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|p| p.event.title)
        .collect();
    titles.sort();
    titles
}

/// An item is known by its feed's last parsed version (the resource's record), not by a
/// record of its own: through a version that does not parse, the items stay known, and
/// an archived item (first poll, older than the backfill) never reaches a digest, even
/// after the feed was broken for a while. Only the item added meanwhile is new.
#[tokio::test]
async fn items_stay_known_through_a_broken_version_of_their_feed() {
    let item = |n: usize, title: &str, date: &str| {
        format!(
            "<item><title>{title}</title><link>https://example.org/press/{n}</link>\
             <guid>https://example.org/press/{n}</guid><pubDate>{date}</pubDate></item>"
        )
    };
    let feed = |items: &[String]| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
             <title>Council</title><link>https://example.org/</link>{}</channel></rss>",
            items.concat()
        )
    };
    let archived = item(
        0,
        "Public procurement: the 2014 directives are adopted",
        "Fri, 28 Mar 2014 00:00:00 +0100",
    );
    let recent = item(
        1,
        "Public procurement: Council agrees its position",
        "Tue, 24 Nov 2026 10:00:00 +0100",
    );
    let other = item(
        2,
        "Fisheries: quotas for 2027",
        "Wed, 25 Nov 2026 10:00:00 +0100",
    );
    let added = item(
        3,
        "Public procurement: trilogue agreement",
        "Mon, 30 Nov 2026 10:00:00 +0100",
    );
    let server = TestServer::start().await;
    let serve = |body: String| {
        server.route(
            "/council.xml",
            Response::ok(body).content_type("application/rss+xml"),
        )
    };
    serve(feed(&[archived.clone(), recent.clone(), other.clone()]));
    let config = config(&server, &[("council", "/council.xml")]);
    let t0: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config, t0);
    let ctx = rig.ctx(&wl);
    let poll = |hours: i64| {
        poll_once(
            ctx,
            t0 + Duration::hours(hours),
            Selection::All { force: false },
        )
    };

    let first = poll(0).await.unwrap_or_else(|e| panic!("{e}"));
    let r = &first.sources[0];
    assert_eq!((r.new_events, r.enqueued), (3, 1), "{r:?}");
    assert_eq!(rig.store.event_count(), 1, "only the news is kept");

    serve(String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><item>",
    ));
    let broken = poll(2).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!broken.sources[0].ok, "{:?}", broken.sources[0]);

    serve(feed(&[added, archived, recent, other]));
    let back = poll(4).await.unwrap_or_else(|e| panic!("{e}"));
    let r = &back.sources[0];
    assert!(r.ok, "{r:?}");
    assert_eq!((r.new_events, r.enqueued), (1, 1), "{r:?}");
    assert_eq!(
        procurement_news(&rig.store),
        [
            "Public procurement: Council agrees its position",
            "Public procurement: trilogue agreement"
        ]
    );
    let known = rig
        .store
        .resource("council", &server.url("/council.xml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.items.len());
    assert_eq!(known, Some(4), "the feed's last version lists four items");
}

/// A manual `veille poll` leaves alone a source whose server answered `Retry-After: 3600`,
/// and says until when; `--force` polls it anyway; the other sources are polled as asked.
#[test]
fn a_manual_poll_honours_retry_after_unless_forced() {
    use crate::support::app::{Source, TestApp};
    use crate::support::http::{Response, TestServer};
    let server = TestServer::start_background();
    server.route(
        "/busy.xml",
        Response::status(429).header("Retry-After", "3600"),
    );
    server.route(
        "/calm.xml",
        Response::ok("<rss version=\"2.0\"><channel><title>t</title></channel></rss>")
            .content_type("application/rss+xml"),
    );
    let sources = vec![
        Source::new("busy", "feed", server.url("/busy.xml")),
        Source::new("calm", "feed", server.url("/calm.xml")),
    ];
    let app = TestApp::new(server, sources);
    let now = Some("2026-11-28T10:00:00Z");
    let out = app.expect(now, &["poll"], 2);
    assert!(out.contains("HTTP 429, asked to wait 1 h"), "{out}");

    let later = Some("2026-11-28T10:10:00Z");
    let out = app.expect(later, &["poll"], 0);
    assert!(out.contains("busy") && out.contains("--force"), "{out}");
    assert!(out.contains("waiting until Sat 28 Nov 12:00 CET"), "{out}");
    let out = app.expect(later, &["poll", "--source", "busy"], 0);
    assert!(out.contains("--force"), "{out}");
    assert_eq!(app.server.requests_to("/busy.xml").len(), 1);
    assert_eq!(app.server.requests_to("/calm.xml").len(), 2);

    let out = app.expect(later, &["poll", "--source", "busy", "--force"], 2);
    assert!(out.contains("FAILED"), "{out}");
    assert_eq!(app.server.requests_to("/busy.xml").len(), 2);
    // Once the hour is over, a manual poll asks again.
    let out = app.expect(Some("2026-11-28T11:20:00Z"), &["poll"], 2);
    assert!(out.contains("busy") && out.contains("FAILED"), "{out}");
    assert_eq!(app.server.requests_to("/busy.xml").len(), 3);
}

/// A poll killed after writing a part of a large source's matched events (the state that
/// kill leaves: those events kept and enqueued, the URL's record and the source's state
/// as before) loses nothing and enqueues nothing twice: the next poll parses the body
/// again, finds the events written ahead kept, and records the others.
#[tokio::test]
async fn a_poll_killed_between_its_parts_loses_nothing_and_enqueues_nothing_twice() {
    use veille::model::{Observation, Provenance};
    use veille::store::{Enqueue, ObservedEvent, PollBatch, SourceRecord};

    let server = TestServer::start().await;
    // `big_feed` has one item in 100 match; here every item does.
    let body = big_feed("k", 4_500).replace("Town hall news", "Public procurement news");
    server.route(
        "/k.xml",
        Response::ok(body.clone()).content_type("application/rss+xml"),
    );
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap_or_default();
    let wl = watchlists();
    let rig = Rig::new(config(&server, &[("k", "/k.xml")]), now);

    // What the killed poll wrote: its first part, the first 2,000 matched events.
    let provenance = Provenance {
        source: "k".into(),
        url: server.url("/k.xml"),
        fetched_at: now,
    };
    let input = veille::sources::Input {
        body: body.as_bytes(),
        content_type: None,
        provenance: &provenance,
    };
    let items = veille::sources::feed::parse(&input).unwrap_or_else(|e| panic!("{e}"));
    let events: Vec<ObservedEvent> = items
        .iter()
        .take(2_000)
        .map(|o| match o {
            Observation::Item(item) => {
                let event = veille::dossier::item_event(item, &provenance, now, None);
                assert_eq!(wl.matches(&event).len(), 1, "{item:?}");
                ObservedEvent {
                    event: event.into_event(),
                    matches: vec![Enqueue {
                        watchlist: "procurement".into(),
                        reasons: vec!["keyword \"public procurement\"".into()],
                        alert_due: false,
                    }],
                    listed_before: false,
                    joined: Vec::new(),
                }
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let part = PollBatch {
        source: "k".into(),
        state: SourceRecord::default(),
        resources: vec![],
        dossiers: vec![],
        events,
        track: vec![],
        deadlines: vec![],
        discovery: Default::default(),
        now,
    };
    let written = rig
        .store
        .record_part(&part)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((written.new_events.len(), written.enqueued), (2_000, 2_000));

    // The poll after the restart: the others are new, the first 2,000 are not again.
    let report = poll_once(rig.ctx(&wl), now, Selection::All { force: false })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = &report.sources[0];
    assert_eq!((r.new_events, r.enqueued), (2_500, 2_500));
    let pending = rig
        .store
        .pending("procurement")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pending.len(), 4_500);
    let mut ids: Vec<_> = pending.iter().map(|p| p.event.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4_500, "each once");
    assert_eq!(rig.store.event_count(), 4_500);

    // Recorded whole: the same body again brings nothing.
    let report = poll_once(
        rig.ctx(&wl),
        now + Duration::hours(2),
        Selection::All { force: false },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (report.sources[0].new_events, report.sources[0].enqueued),
        (0, 0)
    );
}
