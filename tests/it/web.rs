//! The officers' window, through the real binary: `veille run` with `[server] listen`
//! serves the overview, a watchlist's page, a sent digest, a dossier's page (found by each
//! spelling of its reference, redirected to one URL), the search, and a watchlist's Atom
//! feed and calendar behind their tokens, over the loopback EU fixtures. Hostile titles
//! (`<script>`, `javascript:` links, CR/LF) stay inert on every page and in the feed; HTTP
//! Basic users are enforced when configured, and `check` refuses a public address
//! without them.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::app::{Source, TestApp};
use crate::support::eu;
use crate::support::http::{free_port, Response, TestServer};

/// The first poll; the digest due is sent then, a second poll brings more news.
pub const T0: &str = "2026-03-01T10:00:00Z";
const T1: &str = "2026-03-01T11:00:00Z";
/// The daemon's clock starts here.
pub const T2: &str = "2026-03-01T11:05:00Z";

pub const WATCHLIST: &str = "waste";
/// A watchlist's name is the officers' text: hostile too.
const NAME: &str = "Waste & plastics <b>bold</b>";
/// Escaped twice: the feed's text is markup-free once read, and these are its words.
const HOSTILE_A: &str =
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; Plastic bags ban&#13;&#10;Injected-Header: x";
const HOSTILE_B: &str = "Single-use plastic &amp;lt;img src=x onerror=alert(2)&amp;gt; review";

/// A press feed whose items carry markup, a `javascript:` link and a line break.
fn hostile_feed(items: &[(&str, &str, &str)]) -> Response {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Press</title><link>https://example.org/</link><description>press</description>\n",
    );
    for (title, link, date) in items {
        s.push_str(&format!(
            "<item><title>{title}</title><link>{link}</link><guid isPermaLink=\"false\">{date}</guid>\
             <description>{title}</description><pubDate>{date}</pubDate></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    Response::ok(s).content_type("application/rss+xml")
}

/// An installation that polled the EU fixtures and a hostile press feed at T0, sent a
/// digest, and polled again at T1 (one more event pending); `server` is its `[server]`
/// table.
pub fn installed(server_toml: &str) -> TestApp {
    let server = TestServer::start_background();
    let mut sources = eu::serve_captures(&server);
    sources.push(Source::new("press", "feed", server.url("/press.rss")));
    let item_a = (
        HOSTILE_A,
        "javascript:alert(1)",
        "Fri, 27 Feb 2026 09:00:00 GMT",
    );
    server.route("/press.rss", hostile_feed(&[item_a]));
    let mut app = TestApp::new(server, sources);
    app.mail.push_str(server_toml);
    app.write_config();
    app.add_watchlist(
        WATCHLIST,
        &format!(
            "name = {NAME:?}\nrecipients = [\"secret-recipient@example.org\"]\n\
             dossiers = [\"2016/0132(COD)\", \"2025/0260(COD)\", \"2024/0258(COD)\", \"2018/0172(COD)\"]\n\
             keywords = [\"plastic\"]\n"
        ),
    );
    app.expect(Some(T0), &["poll"], 0);
    // The digest of the period that fired on Monday 23 February: the daemon has nothing
    // to catch up on when it starts.
    let sent = app.expect(Some(T0), &["digest", "send"], 0);
    assert!(sent.contains("sent"), "{sent}");
    app.server.route(
        "/press.rss",
        hostile_feed(&[
            item_a,
            (
                HOSTILE_B,
                "https://example.org/review?a=1&amp;b=\"x\"",
                "Sun, 01 Mar 2026 08:00:00 GMT",
            ),
        ]),
    );
    app.expect(Some(T1), &["poll", "--force"], 0);
    app
}

/// `veille run` of an installation; stopped (SIGTERM to its own pid) when dropped.
pub struct Running {
    child: Child,
    log: PathBuf,
    pub port: u16,
}

impl Running {
    pub fn start(app: &TestApp, port: u16) -> Running {
        let log = app.path(&format!("web-{port}.log"));
        let child = app.spawn_run(T2, &log);
        let mut r = Running { child, log, port };
        let start = Instant::now();
        while fetch(port, "GET", "/healthz", &[]).is_none() {
            if let Ok(Some(st)) = r.child.try_wait() {
                panic!("veille run exited ({st}):\n{}", r.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the web window did not answer:\n{}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// One answer: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on its own connection (the server closes it after the answer).
pub fn fetch(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<Answer> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn get(port: u16, path: &str) -> Answer {
    fetch(port, "GET", path, &[]).unwrap_or_else(|| panic!("no answer to GET {path}"))
}

/// GET that must answer 200.
pub fn page(port: u16, path: &str) -> String {
    let a = get(port, path);
    assert_eq!(a.status, 200, "GET {path}: {}", a.body);
    a.body
}

/// Nothing of a hostile title is live: no markup, no `javascript:` link, no line break
/// inside a title, no recipient's address.
fn assert_inert(what: &str, body: &str) {
    for bad in [
        "<script",
        "<img src=x",
        "href=\"javascript:",
        "href='javascript:",
        "<b>bold",
        "\nInjected-Header",
        "secret-recipient",
    ] {
        assert!(!body.contains(bad), "{what} contains {bad:?}:\n{body}");
    }
}

/// The `veille links` URLs: (page, feed, calendar), paths only.
pub fn links(app: &TestApp) -> (String, String, String) {
    let out = app.expect(None, &["links", WATCHLIST], 0);
    let url = |label: &str| -> String {
        let line = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in:\n{out}"));
        let url = line.split_whitespace().nth(1).unwrap_or_default();
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        format!("/{path}")
    };
    (url("page:"), url("feed:"), url("calendar:"))
}

pub fn server_on(port: u16) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://veille.example.org/\"\n"
    )
}

#[test]
fn web_pages_answer_with_the_watchlist_the_dossiers_and_the_sent_digest() {
    let port = free_port();
    let app = installed(&server_on(port));
    let web = Running::start(&app, port);

    // The overview: the watchlist with its pending count and last digest; the sources.
    let home = page(port, "/");
    assert!(home.contains("<html lang=\"en\">"), "{home}");
    assert!(
        home.contains("Waste &amp; plastics &lt;b&gt;bold&lt;/b&gt;"),
        "{home}"
    );
    assert!(home.contains("1 event"), "one event pending: {home}");
    assert!(
        home.contains("Next digest") && home.contains("Last sent"),
        "{home}"
    );
    assert!(home.contains("All 4 sources are working."), "{home}");
    assert!(home.contains("working; last read"), "{home}");
    assert_inert("/", &home);

    // The watchlist: what the next digest holds, its dossiers, what was sent.
    let wl = page(port, &format!("/watchlists/{WATCHLIST}"));
    assert!(wl.contains("In the next digest: 1 event"), "{wl}");
    assert!(
        wl.contains("Single-use plastic &lt;img src=x onerror=alert(2)&gt; review"),
        "{wl}"
    );
    for reference in [
        "2016/0132(COD)",
        "2025/0260(COD)",
        "2024/0258(COD)",
        "2018/0172(COD)",
    ] {
        assert!(wl.contains(reference), "{reference} in {wl}");
    }
    assert!(
        wl.contains("Published in the Official Journal, 22 May 2024"),
        "{wl}"
    );
    assert!(wl.contains("href=\"/dossiers/2016-0132-COD\""), "{wl}");
    assert!(wl.contains("Coming up"), "{wl}");
    assert_inert("the watchlist page", &wl);
    let sent = wl
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/digests/"))
        .unwrap_or_else(|| panic!("no sent digest linked: {wl}"))
        .to_string();
    let digest = get(port, &sent);
    assert_eq!(digest.status, 200, "{sent}: {}", digest.body);
    assert!(
        digest
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; Plastic bags ban"),
        "{}",
        digest.body
    );
    assert!(digest
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'")));
    assert_inert("the sent digest", &digest.body);
    // With `public_url`, the mailed digest links to its own page and to each dossier's,
    // at the public address; the same paths answer here.
    let mailed: String = app
        .outbox()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let unfolded = mailed.replace("=\r\n", "").replace("=\n", "");
    let view = format!("https://veille.example.org{sent}");
    assert!(
        unfolded.contains(&format!("View in a browser: {view}")),
        "no {view} in the text part:\n{mailed}"
    );
    assert!(
        unfolded.contains(&format!("href=3D\"{view}\"")),
        "no link to {view} in the HTML part:\n{mailed}"
    );
    let dossier = unfolded
        .split("https://veille.example.org/dossiers/")
        .nth(1)
        .and_then(|rest| rest.split(['\r', '\n', '"']).next())
        .unwrap_or_else(|| panic!("no dossier link in:\n{mailed}"));
    assert_eq!(dossier, "2025-0260-COD", "{mailed}");
    page(port, &format!("/dossiers/{dossier}"));
    let preview = page(port, &format!("/watchlists/{WATCHLIST}/preview"));
    assert!(preview.contains("Single-use plastic"), "{preview}");
    assert_inert("the preview", &preview);
    assert_eq!(get(port, "/watchlists/nope").status, 404);
    assert_eq!(
        get(
            port,
            &format!("/watchlists/{WATCHLIST}/digests/manual/nope")
        )
        .status,
        404
    );
    drop(web);
}

#[test]
fn a_dossier_is_found_by_every_spelling_and_drawn_with_its_steps() {
    let port = free_port();
    let app = installed(&server_on(port));
    let d = app.json(
        Some(T0),
        &["dossier", "show", "2018/0172(COD)", "--format", "json"],
        0,
    );
    let com = d["com"][0].as_str().unwrap_or_default().to_string();
    // An item no watchlist wants is still in the archive, which the search reads; so are
    // 60 opinions, one a day, of which the search shows the newest 50.
    let opinions: Vec<(String, String, String)> = (0..60)
        .map(|k| {
            let day = chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default()
                + chrono::Days::new(k + 1);
            (
                format!("Avis {k:03} sur les réseaux de chaleur"),
                format!("https://example.org/avis/{k}"),
                format!("{} 07:15:00 GMT", day.format("%a, %d %b %Y")),
            )
        })
        .collect();
    let mut items = vec![(
        "Révision de la directive relative aux eaux urbaines résiduaires",
        "https://example.org/eaux",
        "Sun, 01 Mar 2026 09:30:00 GMT",
    )];
    items.extend(
        opinions
            .iter()
            .map(|(t, l, d)| (t.as_str(), l.as_str(), d.as_str())),
    );
    app.server.route("/press.rss", hostile_feed(&items));
    app.expect(Some(T1), &["poll", "--force"], 0);
    let web = Running::start(&app, port);
    let mut spellings = vec![
        "2018/0172(COD)".to_string(),
        "2018-0172".to_string(),
        "2018_172".to_string(),
        "2018/0172/COD".to_string(),
        "32019L0904".to_string(),
    ];
    if !com.is_empty() {
        spellings.push(com.clone());
    }
    for s in &spellings {
        let a = get(port, &format!("/dossiers/{s}"));
        assert_eq!(a.status, 308, "{s}: {}", a.body);
        assert_eq!(a.header("location"), Some("/dossiers/2018-0172-COD"), "{s}");
    }
    let plastics = page(port, "/dossiers/2018-0172-COD");
    assert!(plastics.contains("<svg class=\"timeline\""), "{plastics}");
    for needle in [
        "data-stage=\"published\"",
        "Published in the Official Journal",
        "12 Jun 2019",
        "Act signed",
        "5 Jun 2019",
        "32019L0904",
        "Watchlists following it",
        "href=\"/watchlists/waste\"",
    ] {
        assert!(plastics.contains(needle), "{needle} in {plastics}");
    }
    assert!(
        plastics.contains("<a class=\"source\" href=\"http://127.0.0.1"),
        "each step's sources link: {plastics}"
    );
    // What comes next, with its countdown; the deadlines.
    let next = page(port, "/dossiers/2025-0260-COD");
    assert!(next.contains("What comes next"), "{next}");
    assert!(
        next.contains("26 Mar 2026") && next.contains("in 25 days"),
        "{next}"
    );
    assert!(next.contains("class=\"step next\""), "{next}");
    let found = page(port, "/search?q=single-use+plastic");
    assert!(found.contains("Single-use plastic &lt;img"), "{found}");
    assert_inert("the search", &found);
    let unmatched = page(port, "/search?q=EAUX+urbaines+residuaires");
    assert!(
        unmatched.contains("Révision de la directive relative aux eaux urbaines résiduaires"),
        "{unmatched}"
    );
    let avis = page(port, "/search?q=avis+reseaux");
    let shown: Vec<usize> = (0..60)
        .filter(|k| avis.contains(&format!("Avis {k:03} ")))
        .collect();
    assert_eq!(shown, (10..60).collect::<Vec<_>>(), "{avis}");
    let at = |k: usize| avis.find(&format!("Avis {k:03} ")).unwrap_or_default();
    assert!(at(59) < at(58) && at(11) < at(10), "newest first: {avis}");
    // An act's name, as an officer copies it, is one more spelling of its dossier.
    let named = get(port, "/dossiers/Directive%20(EU)%202019%2F904");
    assert_eq!(named.status, 308, "{}", named.body);
    assert_eq!(named.header("location"), Some("/dossiers/2018-0172-COD"));
    let by_ref = page(port, "/search?q=2016_132");
    assert!(
        by_ref.contains("href=\"/dossiers/2016-0132-COD\""),
        "{by_ref}"
    );
    assert_eq!(get(port, "/dossiers/1999-9999").status, 404);
    drop(web);
}

#[test]
fn the_feed_and_calendar_open_with_their_tokens_only() {
    let port = free_port();
    let app = installed(&server_on(port));
    let (page_path, feed, calendar) = links(&app);
    assert_eq!(page_path, format!("/watchlists/{WATCHLIST}"));
    let out = app.expect(None, &["links", WATCHLIST], 0);
    assert!(
        out.contains("https://veille.example.org/watchlists/waste/feed.atom?token="),
        "{out}"
    );
    let secret = app.path("data/web.secret");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&secret).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "{}", secret.display());
    let web = Running::start(&app, port);

    let atom = get(port, &feed);
    assert_eq!(atom.status, 200, "{}", atom.body);
    assert!(atom
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/atom+xml")));
    assert_inert("the feed", &atom.body);
    let parsed = feed_rs::parser::parse(atom.body.as_bytes())
        .unwrap_or_else(|e| panic!("{e}: {}", atom.body));
    assert!(parsed.entries.len() >= 2, "{}", atom.body);
    assert!(parsed.updated.is_some());
    assert!(!parsed.links.is_empty());
    for e in &parsed.entries {
        assert!(e.id.starts_with("urn:veille:event:"), "{}", e.id);
        assert!(e.updated.is_some());
        let title = e
            .title
            .as_ref()
            .map(|t| t.content.clone())
            .unwrap_or_default();
        assert!(!title.contains('\n') && !title.contains('\r'), "{title:?}");
        assert!(
            e.links.iter().all(|l| !l.href.starts_with("javascript")),
            "{:?}",
            e.links
        );
    }
    let titles: Vec<String> = parsed
        .entries
        .iter()
        .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("<script>alert(1)</script> Plastic bags ban")),
        "{titles:?}"
    );
    assert!(
        parsed.entries.iter().any(|e| e
            .links
            .iter()
            .any(|l| l.href == "https://example.org/review?a=1&b=%22x%22")),
        "{}",
        atom.body
    );

    let ics = get(port, &calendar);
    assert_eq!(ics.status, 200, "{}", ics.body);
    let cal: icalendar::Calendar = ics
        .body
        .parse()
        .unwrap_or_else(|e| panic!("{e}:\n{}", ics.body));
    assert!(
        cal.components.iter().filter_map(|c| c.as_event()).count() >= 2,
        "{}",
        ics.body
    );

    // Missing, wrong, or another purpose's token: refused, whatever the watchlist.
    let token = feed.split("token=").nth(1).unwrap_or_default().to_string();
    for path in [
        format!("/watchlists/{WATCHLIST}/feed.atom"),
        format!("/watchlists/{WATCHLIST}/feed.atom?token=0000"),
        format!("/watchlists/{WATCHLIST}/feed.atom?token={}", "0".repeat(32)),
        format!("/watchlists/{WATCHLIST}/calendar.ics?token={token}"),
        format!("/watchlists/other/feed.atom?token={token}"),
    ] {
        assert_eq!(get(port, &path).status, 404, "{path}");
    }
    // Read-only, with the security headers.
    for m in ["POST", "PUT", "DELETE"] {
        let a = fetch(port, m, "/", &[]).unwrap_or_else(|| panic!("{m}"));
        assert_eq!(a.status, 405, "{m}");
    }
    let head = fetch(port, "HEAD", "/", &[]).unwrap_or_else(|| panic!("HEAD"));
    assert_eq!(head.status, 200);
    let home = get(port, "/");
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(home.header("referrer-policy"), Some("no-referrer"));
    let csp = home
        .header("content-security-policy")
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(get(port, "/healthz").body, "ok\n");
    assert!(get(port, "/metrics")
        .body
        .contains("veille_pending{watchlist=\"waste\"} 1"));
    drop(web);

    // A new secret revokes every token.
    std::fs::remove_file(&secret).unwrap_or_else(|e| panic!("{e}"));
    let (_, new_feed, _) = links(&app);
    assert_ne!(new_feed, feed);
    let web = Running::start(&app, port);
    assert_eq!(get(port, &feed).status, 404);
    assert_eq!(get(port, &new_feed).status, 200);
    drop(web);
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn basic_users_are_enforced_when_configured_and_check_refuses_a_public_address_without_them() {
    let app = TestApp::new(TestServer::start_background(), vec![]);
    app.add_watchlist(
        WATCHLIST,
        "name = \"Waste\"\nrecipients = [\"fg@example.org\"]\nkeywords = [\"plastic\"]\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    child
        .stdin
        .take()
        .map(|mut i| i.write_all(b"correct horse\n"))
        .transpose()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    // Any address but loopback needs users.
    let port = free_port();
    let with = |listen: &str, users: &str| {
        let c = std::fs::read_to_string(app.config_path()).unwrap_or_default();
        let base = c.split("[server]").next().unwrap_or_default().to_string();
        std::fs::write(
            app.config_path(),
            format!("{base}[server]\nlisten = \"{listen}\"\n{users}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    };
    with(&format!("0.0.0.0:{port}"), "");
    let (_, err) = app.expect_both(None, &["check"], 3);
    assert!(
        err.contains("server.listen") && err.contains("[server.users]"),
        "{err}"
    );
    with(
        &format!("0.0.0.0:{port}"),
        "[server.users]\nana = \"not a hash\"\n",
    );
    let (_, err) = app.expect_both(None, &["check"], 3);
    assert!(
        err.contains("server.users.ana") && err.contains("veille hash-password"),
        "{err}"
    );
    // A user copied from an Apache password file (`htpasswd -B`) keeps its bcrypt hash.
    let bea = bcrypt::hash_with_result("battery staple", 5)
        .unwrap_or_else(|e| panic!("{e}"))
        .format_for_version(bcrypt::Version::TwoY);
    with(
        &format!("0.0.0.0:{port}"),
        &format!("[server.users]\nana = \"{hash}\"\nbea = \"{bea}\"\n"),
    );
    app.expect(None, &["check"], 0);

    let (_, feed, _) = links(&app);
    let web = Running::start(&app, port);
    for path in [
        "/",
        "/watchlists/waste",
        "/metrics",
        "/search?q=x",
        "/dossiers/2016-0132",
    ] {
        let a = get(port, path);
        assert_eq!(a.status, 401, "{path}");
        assert!(
            a.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic")),
            "{path}"
        );
        for wrong in [
            basic("ana", "wrong"),
            basic("bob", "correct horse"),
            "Bearer x".to_string(),
        ] {
            let a = fetch(port, "GET", path, &[("Authorization", &wrong)])
                .unwrap_or_else(|| panic!("{path}"));
            assert_eq!(a.status, 401, "{path} {wrong}");
        }
    }
    let ok = basic("ana", "correct horse");
    let home = fetch(port, "GET", "/", &[("Authorization", &ok)]).unwrap_or_else(|| panic!("/"));
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Waste"), "{}", home.body);
    for (password, status) in [("battery staple", 200), ("correct horse", 401)] {
        let bea = basic("bea", password);
        let a = fetch(port, "GET", "/", &[("Authorization", &bea)]).unwrap_or_else(|| panic!("/"));
        assert_eq!(a.status, status, "bea {password}");
    }
    let m = fetch(port, "GET", "/metrics", &[("Authorization", &ok)])
        .unwrap_or_else(|| panic!("/metrics"));
    assert_eq!(m.status, 200);
    assert_eq!(get(port, "/healthz").status, 200, "health stays open");
    // The feed opens with its token, no user needed.
    assert_eq!(get(port, &feed).status, 200);
    drop(web);
}
