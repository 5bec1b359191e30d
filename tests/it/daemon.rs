//! `veille run` keeps its promises: the real binary, spawned as a
//! daemon over a loopback HTTP server and a real SMTP server (aiosmtpd), is stopped by
//! signals with its store flushed, polls at start and delivers, sends same-day alerts once,
//! reloads watchlists on SIGHUP and on file edits (keeping the previous set when an edit
//! is broken), serves /healthz and /metrics, never prints the SMTP password, survives an
//! SMTP outage, refuses a read-only data directory, and is not held up by a hanging source.
//!
//! Waiting is done with bounded loops on observable facts (a log line, a delivered
//! message, a metrics value); the deadlines are bounds, not performance assertions.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use veille::model::ProcedureRef;
use veille::sources::ep_api;

use crate::support::app::{titles_of, TestApp};
use crate::support::fixtures;
use crate::support::http::{free_port, http_get, Response, TestServer};
use crate::support::smtp::{self, SmtpServer};

/// The bound of every wait in this module.
const DEADLINE: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_millis(50);
/// Monday 30 November 2026, 10:00 in Brussels: the daily (08:00) digest has fired.
const MONDAY: &str = "2026-11-30T09:00:00Z";

/// Wait until `f` gives a value, or panic with `what` after [`DEADLINE`].
fn wait_until<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_or(what, String::new, f)
}

/// [`wait_until`], with `context()` (e.g. the daemon's log) in the panic message.
fn wait_or<T>(what: &str, context: impl Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(TICK);
    }
}

/// One `[[sources]]` entry of a daemon configuration.
struct Src {
    id: &'static str,
    url: String,
    every: &'static str,
    timeout: Option<&'static str>,
}

fn src(id: &'static str, url: String) -> Src {
    Src {
        id,
        url,
        every: "1h",
        timeout: None,
    }
}

/// Mail over plain SMTP to a loopback port (with a username when given).
fn smtp_mail(port: u16, username: Option<&str>) -> String {
    let user = username
        .map(|u| format!("username = \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        "[mail]\nfrom = \"Veille <veille@example.org>\"\ntransport = \"smtp\"\noutbox_dir = \"outbox\"\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout = \"5s\"\n{user}"
    )
}

/// Write the installation's config.toml (TestApp's own writer has fixed source periods).
fn configure(app: &TestApp, sources: &[Src], mail: &str, extra: &str) {
    let mut c = String::from(
        "timezone = \"Europe/Brussels\"\nwatchlists_dir = \"watchlists\"\n\
         [storage]\npath = \"data/veille.sled\"\ncache_capacity = \"8MiB\"\n\
         [http]\nuser_agent = \"veille-test\"\ntimeout = \"5s\"\nmax_body = \"16MiB\"\nper_host_interval = \"0s\"\nconcurrency = 4\n",
    );
    c.push_str(mail);
    c.push_str(extra);
    for s in sources {
        c.push_str(&format!(
            "[[sources]]\nid = \"{}\"\nkind = \"feed\"\nurl = \"{}\"\nevery = \"{}\"\n",
            s.id, s.url, s.every
        ));
        if let Some(t) = s.timeout {
            c.push_str(&format!("timeout = \"{t}\"\n"));
        }
    }
    std::fs::write(app.config_path(), c).unwrap_or_else(|e| panic!("{e}"));
}

/// An RSS 2.0 feed of (title, guid) items.
pub fn rss(items: &[(&str, &str)]) -> Response {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Test feed</title><link>https://example.org/</link><description>test</description>\n",
    );
    for (title, guid) in items {
        s.push_str(&format!(
            "<item><title>{title}</title><link>https://example.org/{guid}</link>\
             <guid isPermaLink=\"false\">{guid}</guid><description>{title}.</description>\
             <pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    Response::ok(s).content_type("application/rss+xml")
}

/// veille ran here before: the day before MONDAY, a `digest send` found nothing to send.
/// So the daemon's start that follows is a restart, and the digest of the period it
/// missed goes out at start; on a first start it would not (`first_start_is_quiet`).
fn ran_before(app: &TestApp, env: &[(&str, &str)]) {
    let out = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("--config")
        .arg(app.config_path())
        .args(["--now", "2026-11-29T09:00:00Z", "digest", "send"])
        .env_remove("VEILLE_CONFIG")
        .env_remove("VEILLE_SMTP_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

fn watchlist(keywords: &[&str], extra: &str) -> String {
    let kw: Vec<String> = keywords.iter().map(|k| format!("{k:?}")).collect();
    format!(
        "name = \"Daemon test\"\nrecipients = [\"fg@example.org\"]\ndigest = \"daily\"\nkeywords = [{}]\n{extra}",
        kw.join(", ")
    )
}

/// A `veille run` child with its stderr in a file.
struct Daemon {
    child: Child,
    stderr: PathBuf,
    stdout: PathBuf,
}

impl Daemon {
    fn spawn(app: &TestApp, now: Option<&str>, env: &[(&str, &str)]) -> Daemon {
        let n = std::fs::read_dir(app.path(""))
            .map(|d| d.count())
            .unwrap_or(0);
        let stderr = app.path(&format!("run-{n}.stderr"));
        let stdout = app.path(&format!("run-{n}.stdout"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veille"));
        cmd.arg("--config").arg(app.config_path());
        if let Some(t) = now {
            cmd.args(["--now", t]);
        }
        cmd.arg("run")
            .env_remove("VEILLE_CONFIG")
            .env_remove("VEILLE_SMTP_PASSWORD")
            .env("RUST_LOG", "info,sled=warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap_or_else(|e| panic!("{e}")))
            .stderr(std::fs::File::create(&stderr).unwrap_or_else(|e| panic!("{e}")));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning veille run: {e}"));
        let mut d = Daemon {
            child,
            stderr,
            stdout,
        };
        // Signals sent before the handlers are installed would kill it outright.
        wait_until("\"veille started\" in the daemon's log", || {
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("veille run exited at start-up ({st}):\n{}", d.log());
            }
            d.log().contains("veille started").then_some(())
        });
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Wait until the log has `needle` at least once.
    fn wait_log(&self, needle: &str) {
        self.wait_log_count(needle, 1);
    }

    fn wait_log_count(&self, needle: &str, n: usize) {
        wait_or(
            &format!("{n}× {needle:?} in the daemon's log"),
            || self.log(),
            || (self.log().matches(needle).count() >= n).then_some(()),
        );
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} failed");
    }

    /// Wait for the process to exit (bounded) and return its status.
    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                return st;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!(
                    "veille run did not exit within 20 s of the signal\n{}",
                    self.log()
                );
            }
            std::thread::sleep(TICK);
        }
    }

    /// SIGTERM and expect exit 0.
    fn stop(&mut self) {
        self.signal("TERM");
        let st = self.wait_exit();
        assert_eq!(st.code(), Some(0), "exit status {st}\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of one sample of a Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Text of every delivered message: (subject, Message-ID, text part).
fn mails(smtp: &SmtpServer) -> Vec<(String, String, String)> {
    smtp.messages()
        .iter()
        .map(|raw| {
            let m = smtp::parse(raw);
            let text = m
                .parts
                .iter()
                .find(|p| p.content_type == "text/plain")
                .map(|p| p.body.clone())
                .unwrap_or_default();
            (
                m.header("Subject").to_string(),
                m.header("Message-ID").to_string(),
                text,
            )
        })
        .collect()
}

fn wait_mails(smtp: &SmtpServer, n: usize) {
    wait_until(&format!("{n} message(s) at aiosmtpd"), || {
        (smtp.messages().len() >= n).then_some(())
    });
}

fn source_status<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["sources"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no source {id} in {status}"))
}

#[test]
fn sigterm_and_sigint_stop_the_daemon_with_exit_0_and_a_flushed_store() {
    for sig in ["TERM", "INT"] {
        let server = TestServer::start_background();
        server.route(
            "/feed.rss",
            rss(&[("Urban mobility package", "m1"), ("Other news", "o1")]),
        );
        let app = TestApp::new(server, vec![]);
        let every_second = Src {
            every: "1s",
            ..src("feed", app.server.url("/feed.rss"))
        };
        configure(&app, &[every_second], &app.mail.clone(), "");
        app.add_watchlist("w", &watchlist(&["urban mobility"], ""));
        let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
        // The second step finds the feed unchanged: its routine state stays in memory
        // until the shutdown writes it.
        d.wait_log_count("poll step", 2);
        let last_success = |status: &serde_json::Value| {
            source_status(status, "feed")["last_success"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .unwrap_or_else(|| panic!("no last_success: {status}"))
        };
        let live = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
        assert!(!live["daemon"].is_null(), "answered by the daemon: {live}");
        d.signal(sig);
        let st = d.wait_exit();
        assert_eq!(st.code(), Some(0), "SIG{sig}: {st}\n{}", d.log());
        assert!(d.log().contains("stopped"), "{}", d.log());
        let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
        assert!(status["daemon"].is_null(), "read from the store: {status}");
        assert!(
            last_success(&status) >= last_success(&live),
            "the last poll's state was written at shutdown, SIG{sig}:\n{live}\n{status}"
        );
        let feed = source_status(&status, "feed");
        assert_eq!(feed["polled"], true, "SIG{sig}: {status}");
        assert_eq!(feed["ok"], true, "SIG{sig}: {status}");
        assert_eq!(status["events"], 1, "the matched item, SIG{sig}: {status}");
    }
}

#[test]
fn the_daemon_polls_at_start_and_delivers_the_digest_that_is_due() {
    let server = TestServer::start_background();
    server.route(
        "/feed.rss",
        rss(&[
            ("Zebra crossings and urban mobility plans", "z1"),
            ("Zebra mussels in urban waters", "z2"),
            ("Fisheries quotas", "f1"),
        ]),
    );
    let smtp_server = SmtpServer::start();
    let app = TestApp::new(server, vec![]);
    configure(
        &app,
        &[src("feed", app.server.url("/feed.rss"))],
        &smtp_mail(smtp_server.port(), None),
        "",
    );
    app.add_watchlist("w", &watchlist(&["zebra*"], ""));
    ran_before(&app, &[]);
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    wait_mails(&smtp_server, 1);
    d.stop();
    // Each poll step says what it found and what it cost.
    let log = d.log();
    let step = log
        .lines()
        .find(|l| l.contains("poll step"))
        .unwrap_or_else(|| panic!("a \"poll step\" line in the log:\n{log}"));
    for field in [
        "sources=1 ",
        "failed=0 ",
        "requests=1 ",
        "unchanged=0 ",
        "new_events=3 ",
        "cpu_ms=",
        "wall_ms=",
    ] {
        assert!(step.contains(field), "{field:?} in {step}");
    }
    let m = mails(&smtp_server);
    assert_eq!(m.len(), 1, "one digest: {m:#?}");
    let (_, _, text) = &m[0];
    assert!(text.contains("Zebra crossings"), "{text}");
    assert!(text.contains("Zebra mussels"), "{text}");
    assert!(!text.contains("Fisheries"), "{text}");
    let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    assert_eq!(
        status["pending"],
        serde_json::json!({}),
        "nothing stays pending: {status}"
    );
}

fn path_of(server: &TestServer, url: &str) -> String {
    url.strip_prefix(&server.url("")).unwrap_or(url).to_string()
}

#[test]
fn a_step_in_alert_on_is_alerted_once_within_the_first_poll_cycle() {
    // The EP API serves the real record of 2016/0132(COD), published 2024-05-22; the
    // daemon runs on 23 May 2024, so the publication is yesterday's news.
    let server = TestServer::start_background();
    let api = server.url("/api/v2");
    let r: ProcedureRef = "2016/0132(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    server.route(
        &path_of(&server, &ep_api::procedure_url(&api, &r)),
        Response::ok(fixtures::read("ep-api/procedure_2016-0132_COD.jsonld.json"))
            .content_type("application/ld+json"),
    );
    for url in [true, false]
        .into_iter()
        .flat_map(|first| ep_api::feed_urls(&api, first))
    {
        server.route(&path_of(&server, &url), Response::status(204));
    }
    let smtp_server = SmtpServer::start();
    let app = TestApp::new(server, vec![]);
    let mail = smtp_mail(smtp_server.port(), None);
    let config = format!(
        "timezone = \"Europe/Brussels\"\nwatchlists_dir = \"watchlists\"\n\
         [storage]\npath = \"data/veille.sled\"\n\
         [http]\nuser_agent = \"veille-test\"\ntimeout = \"5s\"\nmax_body = \"16MiB\"\nper_host_interval = \"0s\"\n\
         {mail}[[sources]]\nid = \"ep-api\"\nkind = \"ep-api\"\nurl = \"{api}\"\nevery = \"1h\"\n"
    );
    std::fs::write(app.config_path(), config).unwrap_or_else(|e| panic!("{e}"));
    app.add_watchlist(
        "eurodac",
        "name = \"Eurodac\"\nrecipients = [\"fg@example.org\"]\ndigest = \"weekly\"\n\
         alert_on = [\"published\"]\ndossiers = [\"2016/0132(COD)\"]\n",
    );
    let mut d = Daemon::spawn(&app, Some("2024-05-23T10:00:00Z"), &[]);
    let alert = wait_or(
        "an alert at aiosmtpd",
        || d.log(),
        || {
            mails(&smtp_server)
                .into_iter()
                .find(|(subject, _, _)| subject.starts_with("[veille] Alert"))
        },
    );
    d.stop();
    let (_, _, text) = &alert;
    assert!(
        text.contains("2016/0132(COD)") || text.contains("Eurodac"),
        "{text}"
    );
    let alerts = mails(&smtp_server)
        .into_iter()
        .filter(|(s, _, _)| s.starts_with("[veille] Alert"))
        .count();
    assert_eq!(alerts, 1, "the alert goes out once\n{}", d.log());
}

/// Replace a file the way editors do: write a temporary file, then rename it over.
fn save_like_an_editor(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("toml.swp");
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn watchlists_reload_on_edits_and_sighup_and_a_broken_edit_keeps_the_previous_set() {
    let server = TestServer::start_background();
    server.route("/a.rss", rss(&[("Alpha directive", "a1")]));
    server.route("/b.rss", rss(&[("Unrelated", "u1")]));
    let smtp_server = SmtpServer::start();
    let app = TestApp::new(server, vec![]);
    let port = free_port();
    let fast = |id, path| Src {
        every: "1s",
        ..src(id, app.server.url(path))
    };
    let sources = [fast("a", "/a.rss"), fast("b", "/b.rss")];
    configure(
        &app,
        &sources,
        &smtp_mail(smtp_server.port(), None),
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let file = app.path("watchlists/w.toml");
    app.add_watchlist("w", &watchlist(&["alpha"], ""));
    ran_before(&app, &[]);
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    // The digest due at start-up carries what the start-up poll matched; from then on
    // matches wait for the next day's digest, so the pending count shows what matched.
    wait_mails(&smtp_server, 1);
    let pending = |n: f64| {
        wait_until(&format!("{n} pending"), || {
            let m = http_get(port, "/metrics")?.1;
            (sample(&m, "veille_pending{watchlist=\"w\"}") == Some(n)).then_some(())
        })
    };

    // An editor adds a keyword; the file watcher reloads; a new item of feed b matches.
    save_like_an_editor(&file, &watchlist(&["alpha", "beta"], ""));
    d.wait_log("watchlists reloaded");
    app.server.route(
        "/b.rss",
        rss(&[("Unrelated", "u1"), ("Beta regulation", "b1")]),
    );
    pending(1.0);

    // A broken edit: logged with file:line, the previous set stays in force.
    save_like_an_editor(
        &file,
        &watchlist(
            &["alpha", "beta", "gamma"],
            "alert_on = [\"no-such-stage\"]\n",
        ),
    );
    d.wait_log("previous watchlists stay in force");
    let log = d.log();
    assert!(
        log.contains("w.toml:5:"),
        "error with file and line:\n{log}"
    );
    // SIGHUP reloads on demand: the same broken file is reported again.
    d.signal("HUP");
    d.wait_log("SIGHUP: reloading the watchlists");
    d.wait_log_count("previous watchlists stay in force", 2);
    app.server.route(
        "/b.rss",
        rss(&[
            ("Unrelated", "u1"),
            ("Beta regulation", "b1"),
            ("Beta second reading", "b2"),
            ("Gamma plan", "g1"),
        ]),
    );
    // Both new items are recorded; only the one the old keywords match is enqueued.
    wait_until("the two new items of feed b", || {
        let m = http_get(port, "/metrics")?.1;
        (sample(&m, "veille_source_events_total{source=\"b\"}")? >= 4.0).then_some(())
    });
    pending(2.0);

    // config.toml is not reloaded: an edit is reported with what to do.
    let config = std::fs::read_to_string(app.config_path()).unwrap_or_default();
    std::fs::write(app.config_path(), config + "# edited\n").unwrap_or_else(|e| panic!("{e}"));
    d.wait_log("restart veille to apply it");

    // A valid file after SIGHUP: reloaded. The edited watchlist reaches back at the next
    // poll step: the item recorded while the broken edit was in force is enqueued now.
    save_like_an_editor(&file, &watchlist(&["alpha", "beta", "gamma"], ""));
    d.signal("HUP");
    d.wait_log_count("watchlists reloaded", 2);
    pending(3.0);
    d.stop();

    app.expect(
        Some("2026-12-01T09:00:00Z"),
        &["digest", "send", "--force"],
        0,
    );
    let all: String = mails(&smtp_server).into_iter().map(|(_, _, t)| t).collect();
    for t in ["Alpha directive", "Beta regulation", "Beta second reading"] {
        assert!(all.contains(t), "{t} delivered:\n{all}");
    }
    // The broken edit was not applied: "Gamma plan" came only with the valid edit, as an
    // earlier item now matched.
    let earlier = all.find("== Earlier, now matched ==");
    let gamma = all.find("Gamma plan");
    assert!(
        matches!((earlier, gamma), (Some(e), Some(g)) if e < g),
        "Gamma plan only under \"Earlier, now matched\":\n{all}"
    );
    assert!(!all.contains("Unrelated"), "{all}");
}

#[test]
fn healthz_turns_503_naming_a_failing_source_and_metrics_count_polls() {
    let server = TestServer::start_background();
    server.route("/good.rss", rss(&[("Good news", "g1")]));
    server.route("/flaky.rss", rss(&[("Flaky news", "f1")]));
    let app = TestApp::new(server, vec![]);
    let port = free_port();
    let sources = [
        Src {
            every: "1s",
            ..src("good", app.server.url("/good.rss"))
        },
        Src {
            every: "1s",
            ..src("flaky", app.server.url("/flaky.rss"))
        },
    ];
    configure(
        &app,
        &sources,
        &app.mail,
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    app.add_watchlist("w", &watchlist(&["news"], ""));
    let mut d = Daemon::spawn(&app, None, &[]);
    let metrics = wait_until("both sources polled", || {
        let (code, m) = http_get(port, "/metrics")?;
        assert_eq!(code, 200);
        (sample(&m, "veille_source_polls_total{source=\"good\"}")? >= 1.0
            && sample(&m, "veille_source_polls_total{source=\"flaky\"}")? >= 1.0)
            .then_some(m)
    });
    for needle in [
        "# TYPE veille_source_polls_total counter",
        "veille_source_failures{source=\"flaky\"} 0",
        "veille_source_last_success_timestamp_seconds{source=\"good\"}",
        "veille_events ",
        // Every watchlist has its series, zero included.
        "veille_pending{watchlist=\"w\"} ",
        "veille_send_failures{watchlist=\"w\"} 0",
    ] {
        assert!(metrics.contains(needle), "{needle} in:\n{metrics}");
    }
    assert_eq!(http_get(port, "/healthz"), Some((200, "ok\n".to_string())));
    assert_eq!(http_get(port, "/nope").map(|r| r.0), Some(404));

    app.server
        .route("/flaky.rss", Response::status(500).body("down"));
    let body = wait_until("/healthz to turn 503", || {
        let (code, body) = http_get(port, "/healthz")?;
        (code == 503).then_some(body)
    });
    assert!(body.contains("flaky"), "{body}");
    assert!(!body.contains("good"), "{body}");
    let m = http_get(port, "/metrics").map(|r| r.1).unwrap_or_default();
    assert!(
        sample(&m, "veille_source_failures{source=\"flaky\"}").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    d.stop();
}

/// aiosmtpd offering AUTH PLAIN/LOGIN in clear (loopback) and refusing every login.
struct AuthDenyingSmtp {
    child: Child,
    port: u16,
}

impl AuthDenyingSmtp {
    const SCRIPT: &'static str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
def deny(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)
c = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]),
               authenticator=deny, auth_require_tls=False)
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

    fn start() -> AuthDenyingSmtp {
        let port = free_port();
        let child = Command::new(smtp::python())
            .args(["-c", Self::SCRIPT, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting aiosmtpd: {e}"));
        let s = AuthDenyingSmtp { child, port };
        wait_until("the AUTH-denying SMTP server", || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        s
    }
}

impl Drop for AuthDenyingSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_smtp_password_is_never_printed() {
    const SECRET: &str = "s3cret-Zq8J-unique-4242";
    // aiosmtpd without AUTH (the login cannot happen), aiosmtpd refusing the login (the
    // password goes over the wire and is rejected), and a port where nothing listens.
    let smtp_server = SmtpServer::start();
    let denying = AuthDenyingSmtp::start();
    let env = [("VEILLE_SMTP_PASSWORD", SECRET)];
    for port in [smtp_server.port(), denying.port, free_port()] {
        let server = TestServer::start_background();
        server.route("/feed.rss", rss(&[("Secret-free item on zebras", "z1")]));
        let app = TestApp::new(server, vec![]);
        app.add_watchlist("w", &watchlist(&["zebras"], ""));
        configure(
            &app,
            &[src("feed", app.server.url("/feed.rss"))],
            &smtp_mail(port, Some("veille")),
            "",
        );
        ran_before(&app, &env);
        let mut d = Daemon::spawn(&app, Some(MONDAY), &env);
        d.wait_log("send failed");
        d.stop();
        let mut printed = d.log() + &d.stdout();
        for (args, code) in [
            (&["status"][..], 0),
            (&["status", "--format", "json"][..], 0),
            (&["digest", "send"][..], 1),
            (&["digest", "send", "--force"][..], 1),
            (&["check"][..], 0),
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_veille"))
                .arg("--config")
                .arg(app.config_path())
                .args(["--now", "2026-11-30T12:00:00Z"])
                .args(args)
                .env("VEILLE_SMTP_PASSWORD", SECRET)
                .env("RUST_LOG", "debug")
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {text}");
            printed.push_str(&text);
        }
        assert!(
            printed.contains("FAILED"),
            "the failure is reported: {printed}"
        );
        assert!(
            !printed.contains(SECRET),
            "the password leaked (port {port}):\n{printed}"
        );
        if port == denying.port {
            assert!(
                printed.contains("(535)"),
                "the refused login is what failed: {printed}"
            );
        }
    }
    assert!(smtp_server.messages().is_empty());
}

#[test]
fn a_digest_that_fails_during_an_smtp_outage_stays_pending_and_goes_out_once_after() {
    let server = TestServer::start_background();
    server.route(
        "/feed.rss",
        rss(&[("Zebra crossings", "z1"), ("Zebra mussels", "z2")]),
    );
    let mut smtp_server = SmtpServer::start();
    let app = TestApp::new(server, vec![]);
    configure(
        &app,
        &[src("feed", app.server.url("/feed.rss"))],
        &smtp_mail(smtp_server.port(), None),
        "",
    );
    app.add_watchlist("w", &watchlist(&["zebra*"], ""));
    app.expect(Some(MONDAY), &["poll"], 0);

    smtp_server.stop();
    let out = app.expect(Some(MONDAY), &["digest", "send"], 1);
    assert!(out.contains("FAILED, stays pending"), "{out}");
    let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    assert_eq!(status["pending"]["w"], 2, "{status}");
    assert_eq!(status["delivery"]["w"]["failures"], 1, "{status}");
    assert!(
        status["delivery"]["w"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{status}"
    );
    // Within the backoff nothing is attempted.
    let out = app.expect(Some("2026-11-30T09:00:30Z"), &["digest", "send"], 0);
    assert!(out.contains("retrying after"), "{out}");

    smtp_server.restart();
    let later = "2026-11-30T09:02:00Z";
    let out = app.expect(Some(later), &["digest", "send"], 0);
    assert!(out.contains("sent 2 event(s)"), "{out}");
    let out = app.expect(Some("2026-11-30T09:05:00Z"), &["digest", "send"], 0);
    assert!(!out.contains("sent"), "{out}");
    let m = mails(&smtp_server);
    assert_eq!(m.len(), 1, "delivered once: {m:#?}");
    let status = app.json(Some(later), &["status", "--format", "json"], 0);
    assert_eq!(status["pending"], serde_json::json!({}), "{status}");
}

/// Apply `f` to `p` and everything under it.
fn walk(p: &std::path::Path, f: &dyn Fn(&std::path::Path, bool)) {
    let dir = p.is_dir();
    if dir {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            walk(&e.path(), f);
        }
    }
    f(p, dir);
}

#[test]
fn a_read_only_data_directory_is_a_clear_error_and_corrupts_nothing() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let server = TestServer::start_background();
    server.route("/feed.rss", rss(&[("Zebra crossings", "z1")]));
    let app = TestApp::new(server, vec![]);
    configure(
        &app,
        &[src("feed", app.server.url("/feed.rss"))],
        &app.mail,
        "",
    );
    app.add_watchlist("w", &watchlist(&["zebra*"], ""));
    // Root ignores permission bits: then run veille as nobody (setpriv), owning the tree.
    let root = std::fs::metadata(app.config_path())
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    const NOBODY: u32 = 65534;
    if root {
        let setpriv = Command::new("setpriv").arg("--version").output();
        assert!(
            setpriv.is_ok_and(|o| o.status.success()),
            "as root this test runs veille as nobody with setpriv (util-linux): install it"
        );
        walk(app.dir.path(), &|p, _| {
            std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY))
                .unwrap_or_else(|e| panic!("{e}"))
        });
    }
    let veille = |now: &str, args: &[&str]| {
        let mut cmd = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_veille"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_veille"))
        };
        cmd.arg("--config")
            .arg(app.config_path())
            .args(["--now", now])
            .args(args)
            .env_remove("VEILLE_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let out = veille(MONDAY, &["poll"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let data = app.path("data");
    let mode = |m: u32| {
        move |p: &std::path::Path, dir: bool| {
            let m = if dir { m } else { m & 0o666 };
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let snapshot = |dir: &std::path::Path| {
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir.join("veille.sled"))
            .into_iter()
            .flatten()
            .flatten()
        {
            v.push((e.path(), std::fs::read(e.path()).ok()));
        }
        v.sort();
        v
    };
    let before = snapshot(&data);
    walk(&data, &mode(0o500));
    for args in [&["poll"][..], &["run"][..], &["digest", "send"][..]] {
        let out = veille("2026-11-30T12:00:00Z", args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("read-only store, veille {args:?}: {}", stderr.trim());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("veille.sled") && stderr.contains("ermission denied"),
            "{args:?} names the store and the cause: {stderr}"
        );
    }
    assert_eq!(snapshot(&data), before, "the store's files are untouched");
    walk(&data, &mode(0o700));
    let out = veille(MONDAY, &["status", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status["events"], 1, "nothing lost: {status}");
    assert_eq!(status["pending"]["w"], 1, "{status}");
}

#[test]
fn a_hanging_source_does_not_hold_back_another_sources_digest_beyond_its_timeout() {
    let server = TestServer::start_background();
    server.route("/good.rss", rss(&[("Zebra crossings", "z1")]));
    server.route("/hang.rss", Response::ok("never sent").hang());
    let smtp_server = SmtpServer::start();
    let app = TestApp::new(server, vec![]);
    let sources = [
        src("good", app.server.url("/good.rss")),
        Src {
            timeout: Some("3s"),
            ..src("hang", app.server.url("/hang.rss"))
        },
    ];
    configure(&app, &sources, &smtp_mail(smtp_server.port(), None), "");
    app.add_watchlist("w", &watchlist(&["zebra*"], ""));
    ran_before(&app, &[]);
    let start = Instant::now();
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    wait_mails(&smtp_server, 1);
    eprintln!(
        "the digest arrived {:?} after start (hanging source timeout: 3 s)",
        start.elapsed()
    );
    d.stop();
    let m = mails(&smtp_server);
    assert!(m[0].2.contains("Zebra crossings"), "{m:#?}");
    assert!(
        m[0].2.contains("hang"),
        "the digest names the failing source: {}",
        m[0].2
    );
    let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    let hang = source_status(&status, "hang");
    assert_eq!(hang["ok"], false, "{status}");
    assert_eq!(source_status(&status, "good")["ok"], true, "{status}");
}

#[test]
fn sigterm_during_a_hanging_fetch_exits_0_after_a_bounded_drain_and_a_second_daemon_is_refused() {
    let server = TestServer::start_background();
    server.route("/good.rss", rss(&[("Zebra crossings", "z1")]));
    server.route("/hang.rss", Response::ok("never sent").hang());
    let app = TestApp::new(server, vec![]);
    let sources = [
        src("good", app.server.url("/good.rss")),
        Src {
            timeout: Some("120s"),
            ..src("hang", app.server.url("/hang.rss"))
        },
    ];
    configure(&app, &sources, &app.mail.clone(), "");
    app.add_watchlist("w", &watchlist(&["zebra*"], ""));
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    wait_or(
        "the hanging request",
        || d.log(),
        || (!app.server.requests_to("/hang.rss").is_empty()).then_some(()),
    );
    d.wait_log("polled");

    // The store is locked by the running daemon: a second one says so and exits 1.
    let second = app.veille(Some(MONDAY), &["run"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another veille process"),
        "{stderr}"
    );

    d.stop();
    let log = d.log();
    assert!(
        log.contains("did not finish in time and was abandoned"),
        "{log}"
    );
    // What the good source brought was committed before the drain gave up.
    let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    assert_eq!(source_status(&status, "good")["polled"], true, "{status}");
    assert_eq!(status["events"], 1, "{status}");
}

/// The queries a command line asks while the daemon holds the store.
fn queries(app: &TestApp) -> (serde_json::Value, serde_json::Value, String) {
    let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    let preview = app.json(
        Some(MONDAY),
        &["digest", "preview", "w", "--format", "json"],
        0,
    );
    let ical = app.expect(Some(MONDAY), &["export", "ical", "w"], 0);
    (status, preview, ical)
}

#[test]
fn while_the_daemon_holds_the_store_it_answers_queries_polls_now_and_sends() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    let server = TestServer::start_background();
    server.route(
        "/feed.rss",
        rss(&[("Urban mobility package", "m1"), ("Other news", "o1")]),
    );
    let app = TestApp::new(server, vec![]);
    // The mail server is down: the digest due at start fails and stays pending, as an
    // operator would then see it in `veille status`.
    let mut smtp_server = SmtpServer::start();
    smtp_server.stop();
    configure(
        &app,
        &[src("feed", app.server.url("/feed.rss"))],
        &smtp_mail(smtp_server.port(), None),
        "",
    );
    app.add_watchlist("w", &watchlist(&["urban mobility"], ""));
    let socket = app.path("data/veille.sled.sock");
    // A socket a killed daemon left: nobody answers on it, so a command reads the store
    // itself, and the next daemon replaces it.
    std::fs::create_dir_all(app.path("data")).unwrap_or_else(|e| panic!("{e}"));
    drop(
        std::os::unix::net::UnixListener::bind(&socket)
            .unwrap_or_else(|e| panic!("binding {}: {e}", socket.display())),
    );
    let before = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    assert_eq!(source_status(&before, "feed")["polled"], false, "{before}");

    ran_before(&app, &[]);
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    d.wait_log("send failed; stays pending");
    let meta = std::fs::symlink_metadata(&socket).unwrap_or_else(|e| panic!("{e}"));
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "owner-only");

    // `poll` has the daemon's poll loop poll now, and prints what a poll prints.
    app.server.route(
        "/feed.rss",
        rss(&[
            ("Urban mobility package", "m1"),
            ("Other news", "o1"),
            ("Urban mobility: the Council's position", "m2"),
        ]),
    );
    let out = app.expect(Some(MONDAY), &["poll", "--source", "feed"], 0);
    assert!(out.starts_with("feed "), "{out}");
    assert!(out.contains("1 new event(s), 1 matched"), "{out}");
    d.wait_log_count("poll step", 2);
    let out = app.veille(Some(MONDAY), &["poll", "--source", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no source with id \"nope\""),
        "{out:?}"
    );

    let (status, preview, ical) = queries(&app);
    assert_eq!(status["daemon"]["pid"], d.child.id(), "{status}");
    assert_eq!(
        status["daemon"]["since"].as_str().map(|t| &t[..16]),
        Some("2026-11-30T09:00"),
        "{status}"
    );
    let text = app.expect(Some(MONDAY), &["status"], 0);
    assert!(
        text.starts_with(&format!("daemon: running (pid {}) since", d.child.id())),
        "{text}"
    );
    assert_eq!(source_status(&status, "feed")["ok"], true, "{status}");
    assert_eq!(status["events"], 2, "the two matched items: {status}");
    assert_eq!(
        status["now"], "2026-11-30T09:00:00+00:00",
        "the command's --now"
    );
    assert_eq!(status["pending"], serde_json::json!({"w": 2}), "{status}");
    assert_eq!(status["delivery"]["w"]["failures"], 1, "{status}");
    assert_eq!(
        titles_of(&preview),
        [
            "Urban mobility package",
            "Urban mobility: the Council's position"
        ],
        "{preview}"
    );
    assert!(ical.starts_with("BEGIN:VCALENDAR"), "{ical}");
    // A query's own failures come back as they would from the store: message and code.
    let out = app.veille(Some(MONDAY), &["dossier", "show", "2016/0132(COD)"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2016/0132(COD) is not known yet"),
        "{stderr}"
    );
    let out = app.veille(Some(MONDAY), &["digest", "preview", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no watchlist \"nope\""),
        "{out:?}"
    );
    // A second daemon is refused without touching the first one's socket.
    let out = app.veille(Some(MONDAY), &["run"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by another veille process"),
        "{out:?}"
    );

    // `digest send` sends between the daemon's own deliveries.
    smtp_server.restart();
    let out = app.expect(Some(MONDAY), &["digest", "send", "w", "--force"], 0);
    // First the digest that failed at start, as it was; then the rest, forced.
    assert!(
        out.contains("sent 1 event(s) (w/2026-11-30T08:00+01:00)"),
        "{out}"
    );
    assert!(out.contains("sent 1 event(s) (w/manual/"), "{out}");
    wait_mails(&smtp_server, 2);
    let texts: Vec<String> = mails(&smtp_server).into_iter().map(|m| m.2).collect();
    for (has, lacks) in [
        ("Urban mobility package", "the Council's position"),
        ("the Council's position", "Urban mobility package"),
    ] {
        assert!(
            texts.iter().any(|t| t.contains(has) && !t.contains(lacks)),
            "{texts:#?}"
        );
    }
    let out = app.veille(Some(MONDAY), &["digest", "send", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no watchlist \"nope\""),
        "{out:?}"
    );
    let (status, preview, ical) = queries(&app);
    assert_eq!(status["pending"], serde_json::json!({}), "{status}");
    assert_eq!(status["events"], 2, "{status}");

    d.stop();
    assert!(!socket.exists(), "the socket is removed at shutdown");
    assert!(!d.log().contains("no control socket"), "{}", d.log());
    // Without the daemon the same commands read the store and say the same.
    let (mut status_after, preview_after, ical_after) = queries(&app);
    assert_eq!(status_after["daemon"], serde_json::Value::Null);
    let text = app.expect(Some(MONDAY), &["status"], 0);
    assert!(text.starts_with("daemon: not running\n"), "{text}");
    status_after["daemon"] = status["daemon"].clone();
    assert_eq!(status_after, status);
    assert_eq!(preview_after, preview);
    let without_stamp = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.starts_with("DTSTAMP"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without_stamp(&ical_after), without_stamp(&ical));
}

/// The first start is quiet: on a new store, with its sources
/// unreachable, `veille run` sends nothing for the weekly period that ended before it
/// started, and says so plainly in `status`; the next period still goes, at the next
/// start after it (a period missed while veille was down), naming the failing source by
/// its short cause.
#[test]
fn first_start_is_quiet_and_the_next_period_still_goes() {
    let server = TestServer::start_background();
    let smtp_server = SmtpServer::start();
    let app = TestApp::new(server, vec![]);
    let closed = free_port();
    let url = format!("http://127.0.0.1:{closed}/feed.rss");
    configure(
        &app,
        &[src("feed", url)],
        &smtp_mail(smtp_server.port(), None),
        "",
    );
    app.add_watchlist(
        "w",
        "name = \"Weekly\"\nrecipients = [\"fg@example.org\"]\ndigest = \"weekly\"\nkeywords = [\"zebra\"]\n",
    );
    // Monday 10:00 in Brussels: the weekly digest (Monday 08:00) fired two hours before
    // veille ever ran.
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    d.wait_log("poll step");
    std::thread::sleep(Duration::from_secs(4));
    let text = app.expect(Some("2026-11-30T09:03:00Z"), &["status"], 0);
    d.stop();
    assert_eq!(
        mails(&smtp_server).len(),
        0,
        "nothing for a period that ended before the first start:\n{}",
        d.log()
    );
    assert!(text.starts_with("daemon: running"), "{text}");
    assert!(
        text.contains(&format!("connection refused by 127.0.0.1:{closed}")),
        "{text}"
    );
    assert!(text.contains("never"), "no digest sent yet: {text}");
    assert!(text.contains("(in 6 days)"), "the next digest: {text}");

    // Down over the next Monday 08:00: that period was missed, and goes out at start.
    let mut d = Daemon::spawn(&app, Some("2026-12-07T09:00:00Z"), &[]);
    wait_mails(&smtp_server, 1);
    d.stop();
    let m = mails(&smtp_server);
    assert_eq!(m.len(), 1, "{m:#?}");
    let (_, _, body) = &m[0];
    assert!(
        body.contains(&format!("connection refused by 127.0.0.1:{closed}")),
        "the digest names the short cause: {body}"
    );
    assert!(
        !body.contains("error sending request"),
        "not the error chain: {body}"
    );
}

/// While a broken edit sits on disk, the daemon runs on the previous set, and the
/// read-only commands it answers still work (exit 0), with a warning on stderr; `check`
/// still exits 3.
#[test]
fn read_only_commands_are_answered_by_the_daemon_while_a_broken_watchlist_is_on_disk() {
    let server = TestServer::start_background();
    server.route("/feed.rss", rss(&[("Urban mobility package", "m1")]));
    let app = TestApp::new(server, vec![]);
    configure(
        &app,
        &[src("feed", app.server.url("/feed.rss"))],
        &app.mail,
        "",
    );
    let file = app.path("watchlists/w.toml");
    app.add_watchlist("w", &watchlist(&["urban mobility"], ""));
    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    save_like_an_editor(
        &file,
        &watchlist(&["urban mobility"], "alert_on = [\"no-such-stage\"]\n"),
    );
    d.wait_log("previous watchlists stay in force");

    let warning = "veille: warning: the watchlist files on disk have errors (veille check lists them); the daemon runs on the previous set";
    let run = |args: &[&str], code: i32| {
        let out = app.veille(Some(MONDAY), args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}\n{stdout}\n{stderr}"
        );
        (stdout, stderr)
    };
    let (_, err) = run(&["check"], 3);
    assert!(err.contains("w.toml:5:13: unknown stage"), "{err}");
    let (out, err) = run(&["status", "--format", "json"], 0);
    assert!(err.contains(warning), "{err}");
    let status: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        status["daemon"]["pid"].is_u64(),
        "answered by the daemon: {status}"
    );
    let (out, err) = run(&["digest", "preview", "w", "--format", "json"], 0);
    assert!(err.contains(warning), "{err}");
    let preview: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(preview["watchlist"], "w", "{preview}");
    let (out, err) = run(&["export", "ical", "w"], 0);
    assert!(out.starts_with("BEGIN:VCALENDAR"), "{out}");
    assert!(err.contains(warning), "{err}");
    // match tries the files on disk: the broken one is refused with its errors.
    let (_, err) = run(&["match", "--watchlist", "w", "urban mobility"], 3);
    assert!(err.contains("w.toml:5:13: unknown stage"), "{err}");
    d.stop();
}

/// Mail that is not going out is visible. SMTP to a port where nothing listens: `status` lists the undelivered digest
/// (watchlist, events, attempts, the error in plain words, the next retry) in text and
/// JSON, with no outbox line; `/healthz` is 503 naming the watchlist.
#[test]
fn an_undelivered_digest_is_listed_by_status_and_healthz() {
    let server = TestServer::start_background();
    server.route(
        "/feed.rss",
        rss(&[("Zebra crossings", "z1"), ("Zebra mussels", "z2")]),
    );
    let app = TestApp::new(server, vec![]);
    let smtp_port = free_port();
    let http_port = free_port();
    configure(
        &app,
        &[src("feed", app.server.url("/feed.rss"))],
        &smtp_mail(smtp_port, None),
        &format!("[server]\nlisten = \"127.0.0.1:{http_port}\"\n"),
    );
    app.add_watchlist("w", &watchlist(&["zebra*"], ""));
    app.expect(Some(MONDAY), &["poll"], 0);
    let out = app.expect(Some(MONDAY), &["digest", "send", "--force"], 1);
    assert!(out.contains("FAILED"), "{out}");

    let text = app.expect(Some(MONDAY), &["status"], 0);
    let row = text
        .lines()
        .skip_while(|l| !l.starts_with("NOT DELIVERED"))
        .nth(1)
        .unwrap_or_default();
    for needle in [
        "w ",
        "digest",
        " 2 ",
        "1 failed attempt",
        "Mon 30 Nov 10:01 CET",
        &format!("the mail server 127.0.0.1:{smtp_port} refused the connection"),
    ] {
        assert!(row.contains(needle), "{needle:?} in {row:?}:\n{text}");
    }
    assert!(!text.contains("outbox"), "{text}");
    assert!(!text.contains("os error"), "plain words: {text}");

    let status = app.json(Some(MONDAY), &["status", "--format", "json"], 0);
    let u = &status["undelivered"][0];
    assert_eq!(u["watchlist"], "w", "{status}");
    assert_eq!(u["kind"], "digest", "{status}");
    assert_eq!(u["events"], 2, "{status}");
    assert_eq!(u["attempts"], 1, "{status}");
    assert_eq!(u["next_attempt"], "2026-11-30T09:01:00+00:00", "{status}");
    assert!(
        u["cause"]
            .as_str()
            .is_some_and(|c| c.contains("refused the connection")),
        "{status}"
    );
    assert!(
        u["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{status}"
    );
    assert_eq!(status["delivery"]["w"]["failures"], 1, "{status}");
    assert_eq!(status["outbox"], serde_json::Value::Null, "{status}");

    let mut d = Daemon::spawn(&app, Some(MONDAY), &[]);
    let body = wait_until("/healthz to answer", || {
        let (code, body) = http_get(http_port, "/healthz")?;
        Some((code, body))
    });
    assert_eq!(body.0, 503, "{body:?}");
    assert!(body.1.contains("failing deliveries: w"), "{body:?}");
    d.stop();
}
