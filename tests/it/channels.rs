//! Channels through the binary, against loopback doubles (`support/hooks.rs`): each
//! service gets the request its documentation describes (a Teams Adaptive Card, Slack
//! blocks, a Matrix `m.notice` under its txnId, a webhook signed with HMAC-SHA256); each
//! channel is a delivery of its own, retried with backoff (a 429's `Retry-After`
//! honoured) without holding back mail or another channel; a run killed while reading a
//! Matrix 200 resends under the same txnId and the homeserver keeps one event; no
//! secret reaches a log, `status` or an error; `check` places an unknown channel; and a
//! focus group's mail carries its list headers and the line saying whom to write to.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::app::{Source, TestApp};
use crate::support::hooks::{Hit, Hooks, Reply};
use crate::support::http::{Response, TestServer};
use crate::support::smtp::{self, SmtpServer};

const T0: &str = "2026-11-30T09:00:00Z";
const ROOM: &str = "!room:example.org";
const MATRIX_SEND: &str = "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/*";

const TEAMS_URL_SECRET: &str = "teams-s3cr3t-path";
const TOKEN: &str = "tok-s3cr3t-matrix";
const SIGNING_KEY: &str = "key-s3cr3t-webhook";

fn feed() -> Response {
    feed_of(3, "")
}

/// A feed of `n` zebra items, their titles ending with `tail`.
fn feed_of(n: usize, tail: &str) -> Response {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
         <link>https://example.org/</link><description>d</description>",
    );
    for i in 0..n {
        s.push_str(&format!(
            "<item><title>Zebra crossing rules {i}{tail}</title><link>https://example.org/z{i}</link>\
             <guid isPermaLink=\"false\">z{i}</guid><pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    Response::ok(s).content_type("application/rss+xml")
}

/// An installation with one feed of zebra items, these `[channels]` tables, and
/// watchlist `w` with these extra lines.
fn installation(channels: &str, watchlist: &str) -> TestApp {
    let server = TestServer::start_background();
    server.route("/feed.rss", feed());
    let url = server.url("/feed.rss");
    let mut app = TestApp::new(server, vec![Source::new("feed", "feed", url)]);
    app.mail.push_str(channels);
    app.write_config();
    app.add_watchlist(
        "w",
        &format!("name = \"Zebras\"\ndigest = \"weekly\"\nkeywords = [\"zebra\"]\n{watchlist}"),
    );
    app
}

fn teams(hooks: &Hooks) -> (String, String) {
    (
        "[channels.teams]\nkind = \"teams\"\nurl_env = \"VEILLE_TEST_TEAMS\"\n".to_string(),
        hooks.url(&format!("/teams/{TEAMS_URL_SECRET}?sig={TEAMS_URL_SECRET}")),
    )
}

fn slack(hooks: &Hooks) -> (String, String) {
    (
        "[channels.slack]\nkind = \"slack\"\nurl_env = \"VEILLE_TEST_SLACK\"\n".to_string(),
        hooks.url("/slack/T000/B000/XXXX"),
    )
}

fn matrix(hooks: &Hooks) -> String {
    format!(
        "[channels.matrix]\nkind = \"matrix\"\nhomeserver = \"{}\"\nroom = \"{ROOM}\"\ntoken_env = \"VEILLE_TEST_MATRIX\"\n",
        hooks.url("")
    )
}

fn webhook(hooks: &Hooks) -> String {
    format!(
        "[channels.hook]\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"VEILLE_TEST_HOOK_KEY\"\n",
        hooks.url("/hook")
    )
}

/// The environment holding every channel's secret.
fn secrets(hooks: &Hooks) -> Vec<(&'static str, String)> {
    vec![
        ("VEILLE_TEST_TEAMS", teams(hooks).1),
        ("VEILLE_TEST_SLACK", slack(hooks).1),
        ("VEILLE_TEST_MATRIX", TOKEN.to_string()),
        ("VEILLE_TEST_HOOK_KEY", SIGNING_KEY.to_string()),
    ]
}

/// Run `veille --now NOW ARGS` with `env` and `RUST_LOG=log`: (exit code, stdout, stderr).
fn run(
    app: &TestApp,
    now: &str,
    args: &[&str],
    env: &[(&'static str, String)],
    log: &str,
) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veille"));
    cmd.arg("--config")
        .arg(app.config_path())
        .args(["--now", now])
        .args(args)
        .env("RUST_LOG", log);
    for v in crate::support::tls::CLEARED {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running veille: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `run`, expecting `code`; stdout.
fn expect(
    app: &TestApp,
    now: &str,
    args: &[&str],
    env: &[(&'static str, String)],
    code: i32,
) -> String {
    let (c, out, err) = run(app, now, args, env, "warn");
    assert_eq!(
        c,
        Some(code),
        "veille {args:?}\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    out
}

fn status_json(app: &TestApp, now: &str) -> serde_json::Value {
    let s = expect(app, now, &["status", "--format", "json"], &[], 0);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn at(base: &str, minutes: i64) -> String {
    let t: chrono::DateTime<chrono::Utc> = base.parse().unwrap_or_else(|e| panic!("{e}"));
    (t + chrono::Duration::minutes(minutes)).to_rfc3339()
}

fn ok_hits(hits: &[Hit]) -> usize {
    hits.iter()
        .filter(|h| (200..300).contains(&h.status))
        .count()
}

#[test]
fn each_channel_gets_the_request_its_service_documents() {
    let hooks = Hooks::start();
    let channels = format!(
        "{}{}{}{}",
        teams(&hooks).0,
        slack(&hooks).0,
        matrix(&hooks),
        webhook(&hooks)
    );
    let app = installation(
        &channels,
        "recipients = [\"fg@example.org\"]\nchannels = [\"teams\", \"slack\", \"matrix\", \"hook\"]\n",
    );
    let env = secrets(&hooks);
    expect(&app, T0, &["poll"], &env, 0);
    let out = expect(&app, &at(T0, 1), &["digest", "send", "--force"], &env, 0);
    for c in ["teams", "slack", "matrix", "hook"] {
        assert!(
            out.contains(&format!("to {c}: sent 3 event(s)")),
            "{c}: {out}"
        );
    }
    assert_eq!(app.outbox().len(), 1, "mail went too");

    // Teams: a Workflows message with one Adaptive Card, under 28 KB.
    let t = &hooks.hits_to("/teams/")[0];
    assert_eq!(t.method, "POST");
    assert!(t.body.len() < 28 * 1024);
    let v = t.json();
    assert_eq!(v["type"], "message");
    let a = &v["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["content"]["type"], "AdaptiveCard");
    assert_eq!(a["content"]["version"], "1.2");
    assert_eq!(
        a["content"]["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let blocks = a["content"]["body"].as_array().cloned().unwrap_or_default();
    assert!(
        blocks.iter().all(|b| b["type"] == "TextBlock"),
        "{blocks:?}"
    );
    let card = serde_json::to_string(&blocks).unwrap_or_default();
    for i in 0..3 {
        assert!(
            card.contains(&format!(
                "[2026-11-27 — Zebra crossing rules {i}](https://example.org/z{i})"
            )),
            "{card}"
        );
    }

    // Slack: text and Block Kit blocks within Slack's limits.
    let s = &hooks.hits_to("/slack/")[0];
    assert_eq!(s.method, "POST");
    let v = s.json();
    assert!(
        v["text"].as_str().is_some_and(|t| t.contains("Zebras")),
        "{v}"
    );
    let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .filter_map(|b| b["text"]["text"].as_str())
        .collect();
    assert!(sections.iter().all(|t| t.chars().count() <= 3000));
    assert!(
        sections
            .iter()
            .any(|t| t.contains("• <https://example.org/z0|2026-11-27 — Zebra crossing rules 0>")),
        "{sections:?}"
    );

    // Matrix: PUT to the room's send path under a txnId, with the bearer token.
    let m = &hooks.hits_to("/_matrix/")[0];
    assert_eq!(m.method, "PUT");
    let prefix = format!("/_matrix/client/v3/rooms/{ROOM}/send/m.room.message/");
    assert!(m.path.starts_with(&prefix), "{}", m.path);
    let txn = &m.path[prefix.len()..];
    assert!(txn.starts_with("veille-") && txn.len() > 20, "{txn}");
    assert_eq!(
        m.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let v = m.json();
    assert_eq!(v["msgtype"], "m.notice");
    assert_eq!(v["format"], "org.matrix.custom.html");
    assert!(v["body"]
        .as_str()
        .is_some_and(|b| b.contains("Zebra crossing rules 1")));
    let html = v["formatted_body"].as_str().unwrap_or_default();
    assert!(
        html.contains(
            "<li><a href=\"https://example.org/z2\">2026-11-27 — Zebra crossing rules 2</a></li>"
        ),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    assert_eq!(hooks.matrix_events().len(), 1);

    // Webhook: the preview JSON with kind and key, signed, with an idempotency key.
    let h = &hooks.hits_to("/hook")[0];
    assert_eq!(h.method, "POST");
    let mut mac =
        Hmac::<Sha256>::new_from_slice(SIGNING_KEY.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(&h.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        h.header("x-veille-signature-256"),
        Some(format!("sha256={hex}").as_str())
    );
    let idem = h.header("idempotency-key").unwrap_or_default();
    assert!(idem.starts_with("veille-") && idem != txn, "{idem}");
    let v = h.json();
    assert_eq!(v["kind"], "digest");
    assert_eq!(v["watchlist"], "w");
    assert!(
        v["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("w/manual/")),
        "{v}"
    );
    let titles: Vec<&str> = v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["title"].as_str())
        .collect();
    assert_eq!(titles.len(), 3, "{v}");
    assert!(v["entries"][0]["event_id"].is_string() && v["sources"].is_array());

    // Sent is sent: nothing goes again.
    expect(&app, &at(T0, 2), &["digest", "send"], &env, 0);
    assert_eq!(hooks.hits().len(), 4);
}

#[test]
fn a_channel_answering_500_then_200_gets_it_once_and_holds_back_neither_mail_nor_slack() {
    let hooks = Hooks::start();
    hooks.route(
        &format!("/teams/{TEAMS_URL_SECRET}"),
        vec![
            Reply::status(500).body("{\"error\":\"boom\"}"),
            Reply::status(202),
        ],
    );
    let channels = format!("{}{}", teams(&hooks).0, slack(&hooks).0);
    let app = installation(
        &channels,
        "recipients = [\"fg@example.org\"]\nchannels = [\"teams\", \"slack\"]\n",
    );
    let env = secrets(&hooks);
    expect(&app, T0, &["poll"], &env, 0);
    let out = expect(&app, &at(T0, 1), &["digest", "send", "--force"], &env, 1);
    assert!(out.contains("to teams: FAILED"), "{out}");
    assert!(out.contains("to slack: sent"), "{out}");
    assert_eq!(app.outbox().len(), 1, "mail is not held back");
    assert_eq!(ok_hits(&hooks.hits_to("/slack/")), 1);

    // status names the watchlist, the channel and the cause, in text and JSON.
    let text = expect(&app, &at(T0, 1), &["status"], &[], 0);
    let line = text
        .lines()
        .find(|l| l.contains("to teams"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with("w ") && line.contains("HTTP 500"),
        "{line}"
    );
    let v = status_json(&app, &at(T0, 1));
    let u = &v["undelivered"][0];
    assert_eq!(u["watchlist"], "w");
    assert_eq!(u["channel"], "teams");
    assert_eq!(u["attempts"], 1);
    assert_eq!(u["events"], 3);
    assert_eq!(u["next_attempt"], at(T0, 2));

    // Not retried before its backoff; then once more, under the same key, and sent.
    let out = expect(&app, &at(T0, 1), &["digest", "send"], &env, 0);
    assert!(out.contains("to teams: retrying after"), "{out}");
    assert_eq!(hooks.hits_to("/teams/").len(), 1);
    let out = expect(&app, &at(T0, 2), &["digest", "send"], &env, 0);
    assert!(out.contains("to teams: sent 3 event(s)"), "{out}");
    let tries = hooks.hits_to("/teams/");
    assert_eq!(tries.len(), 2);
    assert_eq!(ok_hits(&tries), 1, "the message reached Teams once");
    assert_eq!(tries[0].body, tries[1].body, "the same message both times");
    let v = status_json(&app, &at(T0, 3));
    assert_eq!(v["undelivered"], serde_json::json!([]));
    expect(&app, &at(T0, 10), &["digest", "send"], &env, 0);
    assert_eq!(hooks.hits_to("/teams/").len(), 2);
    assert_eq!(ok_hits(&hooks.hits_to("/slack/")), 1);
    assert_eq!(app.outbox().len(), 1);
}

#[test]
fn a_429_retry_after_is_honoured_and_force_retries_at_once_under_the_same_key() {
    let hooks = Hooks::start();
    hooks.route(
        "/hook",
        vec![
            Reply::status(429).header("Retry-After", "3600"),
            Reply::status(503),
            Reply::status(200),
        ],
    );
    let app = installation(&webhook(&hooks), "channels = [\"hook\"]\n");
    let env = secrets(&hooks);
    expect(&app, T0, &["poll"], &env, 0);
    let out = expect(&app, T0, &["digest", "send", "--force"], &env, 1);
    assert!(out.contains("to hook: FAILED"), "{out}");
    // A watchlist with only channels: its digest counts as delivered once queued.
    assert!(app.outbox().is_empty());
    let v = status_json(&app, &at(T0, 1));
    assert_eq!(v["undelivered"][0]["next_attempt"], at(T0, 60), "{v}");
    assert!(
        v["undelivered"][0]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("HTTP 429")),
        "{v}"
    );
    // Ten minutes later the backoff would have passed, the Retry-After has not.
    let out = expect(&app, &at(T0, 10), &["digest", "send"], &env, 0);
    assert!(out.contains("to hook: retrying after"), "{out}");
    assert_eq!(hooks.hits_to("/hook").len(), 1);
    // After the hour: tried again (503), then `--force` at once, under the same key.
    expect(&app, &at(T0, 60), &["digest", "send"], &env, 1);
    let hits = hooks.hits_to("/hook");
    assert_eq!(hits.len(), 2);
    let out = expect(&app, &at(T0, 61), &["digest", "send", "--force"], &env, 0);
    assert!(out.contains("to hook: sent 3 event(s)"), "{out}");
    let hits = hooks.hits_to("/hook");
    assert_eq!(hits.len(), 3);
    let keys: Vec<&str> = hits
        .iter()
        .filter_map(|h| h.header("idempotency-key"))
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert!(hits.iter().all(|h| h.body == hits[0].body));
}

#[test]
fn killed_while_reading_the_matrix_200_it_resends_under_the_same_txn_and_one_event_is_kept() {
    let hooks = Hooks::start();
    hooks.route(
        MATRIX_SEND,
        vec![
            Reply::status(200)
                .body("{\"event_id\":\"$stalled-answer-padding\"}")
                .stall_in_body(),
            Reply::status(200),
        ],
    );
    let app = installation(&matrix(&hooks), "channels = [\"matrix\"]\n");
    let env = secrets(&hooks);
    expect(&app, T0, &["poll"], &env, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("--config")
        .arg(app.config_path())
        .args(["--now", &at(T0, 1), "digest", "send", "--force"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    while hooks.hits_to("/_matrix/").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no Matrix request"
        );
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "veille ended first"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The homeserver stored the event and sent its 200; veille is reading the body.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().ok().flatten().is_none(), "still reading");
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    let _ = child.wait();
    assert_eq!(hooks.matrix_events().len(), 1);

    let out = expect(&app, &at(T0, 2), &["digest", "send"], &env, 0);
    assert!(out.contains("to matrix: sent 3 event(s)"), "{out}");
    let hits = hooks.hits_to("/_matrix/");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].path, hits[1].path, "the same txnId");
    assert_eq!(hits[0].body, hits[1].body);
    assert_eq!(hooks.matrix_events().len(), 1, "one event in the room");
    assert_eq!(
        status_json(&app, &at(T0, 3))["undelivered"],
        serde_json::json!([])
    );
    expect(&app, &at(T0, 30), &["digest", "send"], &env, 0);
    assert_eq!(hooks.hits_to("/_matrix/").len(), 2);
}

#[test]
fn secrets_never_reach_logs_status_or_errors() {
    let hooks = Hooks::start();
    hooks.route(
        &format!("/teams/{TEAMS_URL_SECRET}"),
        vec![Reply::status(404)],
    );
    hooks.route(
        MATRIX_SEND,
        vec![Reply::status(401).body(&format!(
            "{{\"errcode\":\"M_UNKNOWN_TOKEN\",\"token\":\"{TOKEN}\"}}"
        ))],
    );
    hooks.route("/hook", vec![Reply::status(500)]);
    let channels = format!("{}{}{}", teams(&hooks).0, matrix(&hooks), webhook(&hooks));
    let app = installation(
        &channels,
        "recipients = [\"fg@example.org\"]\nchannels = [\"teams\", \"matrix\", \"hook\"]\n",
    );
    let env = secrets(&hooks);
    let mut seen = String::new();
    let mut go = |now: &str, args: &[&str], log: &str| {
        let (_, out, err) = run(&app, now, args, &env, log);
        seen.push_str(&out);
        seen.push_str(&err);
        out
    };
    go(T0, &["check"], "debug");
    go(T0, &["poll"], "debug");
    let out = go(&at(T0, 1), &["digest", "send", "--force"], "debug");
    assert!(
        out.contains("to teams: FAILED") && out.contains("HTTP 404"),
        "{out}"
    );
    assert!(
        out.contains("is $VEILLE_TEST_TEAMS the current webhook URL?"),
        "{out}"
    );
    assert!(
        out.contains("to matrix: FAILED") && out.contains("HTTP 401"),
        "{out}"
    );
    assert!(out.contains("to hook: FAILED"), "{out}");
    go(&at(T0, 5), &["digest", "send", "--force"], "trace");
    go(&at(T0, 6), &["status"], "debug");
    let json = go(&at(T0, 6), &["status", "--format", "json"], "debug");
    assert!(json.contains("\"channel\": \"matrix\"") || json.contains("\"channel\":\"matrix\""));
    assert!(seen.contains("127.0.0.1"), "the host is named");
    for secret in [TEAMS_URL_SECRET, TOKEN, SIGNING_KEY] {
        assert!(!seen.contains(secret), "{secret} shown:\n{seen}");
    }
    // Unset, a secret is named by its variable: `check` warns, sending fails on that
    // channel only.
    let (code, _, err) = run(&app, T0, &["check"], &[], "warn");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(
            "warning: channel \"teams\" (teams) needs $VEILLE_TEST_TEAMS set in the environment"
        ),
        "{err}"
    );
}

#[test]
fn check_places_an_unknown_channel_with_the_likely_one() {
    let hooks = Hooks::start();
    let app = installation(
        &teams(&hooks)
            .0
            .replace("[channels.teams]", "[channels.procurement-team]"),
        "channels = [\"procurment-team\"]\n",
    );
    let (code, out, err) = run(&app, T0, &["check"], &secrets(&hooks), "warn");
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(
        err.contains("watchlists/w.toml:4:13: unknown channel \"procurment-team\""),
        "{err}"
    );
    assert!(
        err.contains("did you mean \"procurement-team\"? (configured channels: procurement-team)"),
        "{err}"
    );
    // A channel's kind is checked in config.toml, at its place.
    let mut app = app;
    app.mail.push_str("[channels.x]\nkind = \"telegram\"\n");
    app.write_config();
    let (code, _, err) = run(&app, T0, &["check"], &[], "warn");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("channels.x.kind: unknown channel kind \"telegram\""),
        "{err}"
    );
}

#[test]
fn mail_to_a_focus_group_carries_list_headers_and_whom_to_write_to() {
    let smtp_server = SmtpServer::start();
    let mut app = installation(
        "",
        "recipients = [\"fg@example.org\"]\ncontact = \"officer@example.org\"\n",
    );
    app.use_smtp(smtp_server.port());
    app.add_watchlist(
        "v",
        "name = \"Zèbres\"\nlanguage = \"fr\"\nkeywords = [\"zebra\"]\nrecipients = [\"gf@example.org\"]\ncontact = \"agent@example.org\"\n",
    );
    expect(&app, T0, &["poll"], &[], 0);
    expect(&app, &at(T0, 1), &["digest", "send", "--force"], &[], 0);
    let mails: Vec<smtp::ParsedMail> = smtp_server
        .messages()
        .iter()
        .map(|raw| smtp::parse(raw))
        .collect();
    assert_eq!(mails.len(), 2);
    let of = |to: &str| {
        mails
            .iter()
            .find(|m| m.header("To").contains(to))
            .unwrap_or_else(|| panic!("no mail to {to}"))
    };
    for (m, contact, list, line) in [
        (
            of("fg@example.org"),
            "officer@example.org",
            "w",
            "To stop receiving these messages, write to officer@example.org.",
        ),
        (
            of("gf@example.org"),
            "agent@example.org",
            "v",
            "Pour ne plus recevoir ces messages, écrivez à agent@example.org.",
        ),
    ] {
        assert_eq!(
            m.header("List-Unsubscribe"),
            format!("<mailto:{contact}?subject=unsubscribe%20{list}>")
        );
        assert_eq!(m.header("Reply-To"), contact);
        assert_eq!(m.header("Precedence"), "bulk");
        let text = &m.parts[0];
        assert_eq!(text.content_type, "text/plain");
        assert!(text.body.contains(line), "{}", text.body);
        let html = &m.parts[1];
        assert!(
            html.body
                .contains(&format!("<a href=\"mailto:{contact}\">{contact}</a>")),
            "{}",
            html.body
        );
    }
}

#[test]
fn the_daemon_names_a_failing_channel_in_healthz_and_metrics() {
    let hooks = Hooks::start();
    hooks.route(
        &format!("/teams/{TEAMS_URL_SECRET}"),
        vec![Reply::status(500)],
    );
    let port = crate::support::http::free_port();
    let channels = format!(
        "{}{}[server]\nlisten = \"127.0.0.1:{port}\"\n",
        teams(&hooks).0,
        slack(&hooks).0
    );
    let app = installation(
        &channels,
        "recipients = [\"fg@example.org\"]\nchannels = [\"teams\", \"slack\"]\n",
    );
    let env = secrets(&hooks);
    expect(&app, T0, &["poll"], &env, 0);
    expect(&app, &at(T0, 1), &["digest", "send", "--force"], &env, 1);

    let log = app.path("run.stderr");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_veille"))
        .arg("--config")
        .arg(app.config_path())
        .args(["--now", &at(T0, 1), "run"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "info,sled=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let health = loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no 503 from /healthz:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            daemon.try_wait().ok().flatten().is_none(),
            "the daemon ended"
        );
        match crate::support::http::http_get(port, "/healthz") {
            Some((503, body)) => break body,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let metrics = crate::support::http::http_get(port, "/metrics")
        .map(|r| r.1)
        .unwrap_or_default();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(health.contains("failing deliveries: w → teams"), "{health}");
    assert!(!health.contains("slack"), "{health}");
    for line in [
        "veille_channel_failures{watchlist=\"w\",channel=\"teams\"} 1",
        "veille_channel_waiting{watchlist=\"w\",channel=\"teams\"} 1",
        "veille_channel_failures{watchlist=\"w\",channel=\"slack\"} 0",
        "veille_channel_waiting{watchlist=\"w\",channel=\"slack\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log.contains(TEAMS_URL_SECRET), "{log}");
}

#[test]
fn a_digest_too_large_for_a_channel_says_so_and_where_the_whole_one_went() {
    let hooks = Hooks::start();
    let channels = format!("{}{}{}", teams(&hooks).0, slack(&hooks).0, matrix(&hooks));
    let app = installation(
        &channels,
        "recipients = [\"fg@example.org\"]\nchannels = [\"teams\", \"slack\", \"matrix\"]\n",
    );
    // Titles of about 250 characters: 600 of them are more than 50 Slack sections hold.
    let tail = " and pedestrian safety in urban areas".repeat(6);
    app.server.route("/feed.rss", feed_of(600, &tail));
    let env = secrets(&hooks);
    expect(&app, T0, &["poll"], &env, 0);
    let out = expect(&app, &at(T0, 1), &["digest", "send", "--force"], &env, 0);
    assert!(out.contains("to teams: sent 600 event(s)"), "{out}");

    let t = &hooks.hits_to("/teams/")[0];
    assert!(t.body.len() <= 28 * 1024, "{} bytes", t.body.len());
    let card = t.json()["attachments"][0]["content"]["body"].to_string();
    let notice = regex_like(&card, "Too large for Microsoft Teams: ");
    assert!(
        notice.ends_with(
            "of 600 lines shown. The full digest is in the mail sent to fg@example.org."
        ),
        "{notice}"
    );
    assert!(
        card.contains("Zebra crossing rules 0 and"),
        "the first lines are kept"
    );

    let v = hooks.hits_to("/slack/")[0].json();
    let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    assert!(blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .all(|t| t.chars().count() <= 3000));
    let last = blocks.last().map(|b| b.to_string()).unwrap_or_default();
    assert!(
        last.contains("Too large for Slack: ") && last.contains("of 600 lines shown"),
        "{last}"
    );

    let m = &hooks.hits_to("/_matrix/")[0];
    assert!(m.body.len() < 64 * 1024, "{} bytes", m.body.len());
    assert!(m.json()["body"]
        .as_str()
        .is_some_and(|b| b.contains("Too large for Matrix: ")));
}

/// The sentence of `text` that starts with `start` (up to its closing quote).
fn regex_like(text: &str, start: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in {text}"));
    text[from..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_same_day_alert_reaches_a_channel_as_an_alert_and_a_hostile_title_stays_text() {
    // The EP API serves the real record of 2016/0132(COD), published 2024-05-22.
    use veille::sources::ep_api;
    let server = TestServer::start_background();
    let api = server.url("/api/v2");
    let path_of = |url: &str| url.strip_prefix(&server.url("")).unwrap_or(url).to_string();
    let r: veille::model::ProcedureRef = "2016/0132(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    server.route(
        &path_of(&ep_api::procedure_url(&api, &r)),
        Response::ok(crate::support::fixtures::read(
            "ep-api/procedure_2016-0132_COD.jsonld.json",
        ))
        .content_type("application/ld+json"),
    );
    for url in [true, false]
        .into_iter()
        .flat_map(|first| ep_api::feed_urls(&api, first))
    {
        server.route(&path_of(&url), Response::status(204));
    }
    server.route(
        "/feed.rss",
        Response::ok(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
             <link>https://example.org/</link><description>d</description>\
             <item><title>Eurodac &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; &amp;amp; &amp;lt;b&amp;gt;bold</title>\
             <link>https://example.org/e</link><guid isPermaLink=\"false\">e1</guid>\
             <pubDate>Wed, 22 May 2024 09:00:00 GMT</pubDate></item></channel></rss>",
        )
        .content_type("application/rss+xml"),
    );
    let hooks = Hooks::start();
    let mut app = TestApp::new(
        server,
        vec![
            Source::new("ep-api", "ep-api", api.clone()),
            Source::new("feed", "feed", String::new()),
        ],
    );
    app.sources[1].url = app.server.url("/feed.rss");
    app.mail.push_str(&webhook(&hooks));
    app.mail.push_str(&matrix(&hooks));
    app.write_config();
    app.add_watchlist(
        "eurodac",
        "name = \"Eurodac\"\ndigest = \"weekly\"\nalert_on = [\"published\"]\n\
         dossiers = [\"2016/0132(COD)\"]\nkeywords = [\"eurodac\"]\nchannels = [\"hook\", \"matrix\"]\n",
    );
    let env = secrets(&hooks);
    let now = "2024-05-23T10:00:00Z";
    expect(&app, now, &["poll"], &env, 0);
    let out = expect(&app, now, &["digest", "send"], &env, 0);
    assert!(out.contains("alert  to hook: sent"), "{out}");
    let alerts: Vec<serde_json::Value> = hooks
        .hits_to("/hook")
        .iter()
        .map(Hit::json)
        .filter(|v| v["kind"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 1, "{out}");
    assert!(alerts[0]["key"]
        .as_str()
        .is_some_and(|k| k.starts_with("eurodac/alert/")));
    assert!(alerts[0]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["stage"] == "published" && e["dossier"] == "2016/0132(COD)"));

    // A title carrying markup, in the digest that follows, is escaped text in Matrix's HTML.
    expect(&app, &at(now, 1), &["digest", "send", "--force"], &env, 0);
    let html: String = hooks
        .hits_to("/_matrix/")
        .iter()
        .map(|h| {
            h.json()["formatted_body"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    // (The feed's title, once its markup is read as text, is "<script>alert(1)</script>".)
    assert!(
        html.contains("Eurodac &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold"),
        "{html}"
    );
    assert!(!html.contains("<script") && !html.contains("<b>"), "{html}");
}
