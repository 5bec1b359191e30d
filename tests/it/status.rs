//! `veille status` is read by a person: local times with
//! "ago" and "in", no nanosecond stamps, a short cause for each failing source; `--format
//! json` keeps the full stamps and the whole error chain, and adds the short cause.

use crate::support::app::{Source, TestApp};
use crate::support::http::{Response, TestServer};

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `HH:MM:SS.` followed by a digit: a stamp with fractions of a second.
fn has_fractional_stamp(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(9)).any(|i| {
        let d = |k: usize| b[i + k].is_ascii_digit();
        d(0) && d(1)
            && b[i + 2] == b':'
            && d(3)
            && d(4)
            && b[i + 5] == b':'
            && d(6)
            && d(7)
            && b[i + 8] == b'.'
            && b.get(i + 9).is_some_and(u8::is_ascii_digit)
    })
}

#[test]
fn status_is_a_table_with_relative_times_and_short_causes() {
    let server = TestServer::start_background();
    server.route(
        "/ok.rss",
        Response::ok(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
             <link>https://example.org/</link><description>d</description></channel></rss>",
        )
        .content_type("application/rss+xml"),
    );
    server.route(
        "/down.rss",
        Response::status(503).body("down for maintenance"),
    );
    let port = closed_port();
    let sources = vec![
        Source::new("good", "feed", server.url("/ok.rss")),
        Source::new("down", "feed", server.url("/down.rss")),
        Source::new(
            "refused",
            "feed",
            format!("http://127.0.0.1:{port}/feed.rss"),
        ),
    ];
    let app = TestApp::new(server, sources);
    app.add_watchlist(
        "w",
        "name = \"W\"\nrecipients = [\"fg@example.org\"]\ndigest = \"weekly\"\nkeywords = [\"zebra\"]\n",
    );
    // A poll at a stamp with nanoseconds: nothing of them may show in the text.
    app.expect(Some("2026-11-30T09:00:00.123456789Z"), &["poll"], 2);

    let text = app.expect(Some("2026-11-30T09:03:00Z"), &["status"], 0);
    assert!(text.starts_with("daemon: not running\n"), "{text}");
    assert!(
        !has_fractional_stamp(&text),
        "no fractions of seconds: {text}"
    );
    assert!(!text.contains("2026-11-30T"), "no RFC 3339 stamps: {text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no line for {id}:\n{text}"))
            .to_string()
    };
    let good = line("good");
    assert!(good.contains(" ok "), "{good}");
    assert!(good.contains("Mon 30 Nov 10:00 CET (2 min ago)"), "{good}");
    assert!(good.contains("in 57 min"), "next poll: {good}");
    let refused = line("refused");
    assert!(refused.contains("FAILING"), "{refused}");
    assert!(
        refused.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{refused}"
    );
    assert!(!refused.contains("error sending request"), "{refused}");
    let down = line("down");
    assert!(down.contains("HTTP 503"), "{down}");
    assert!(!down.contains(" from http"), "no URL in the cause: {down}");
    let w = line("w");
    assert!(w.contains("Mon 07 Dec 08:00 CET (in 6 days)"), "{w}");
    assert!(w.ends_with("never"), "nothing sent yet: {w}");

    let json = app.json(
        Some("2026-11-30T09:03:00Z"),
        &["status", "--format", "json"],
        0,
    );
    let source = |id: &str| {
        json["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no source {id} in {json}"))
    };
    let refused = source("refused");
    assert_eq!(
        refused["cause"],
        format!("connection refused by 127.0.0.1:{port}")
    );
    let chain = refused["last_error"].as_str().unwrap_or_default();
    assert!(
        chain.contains("error sending request") && chain.contains("onnection refused"),
        "the whole chain: {chain}"
    );
    assert_eq!(source("down")["cause"], "HTTP 503");
    assert_eq!(
        source("good")["last_success"],
        "2026-11-30T09:00:00.123456789+00:00",
        "full stamps in JSON"
    );
    assert_eq!(source("good")["cause"], serde_json::Value::Null);
    assert_eq!(json["timezone"], "Europe/Brussels");
    assert_eq!(json["watchlists"][0]["id"], "w");
}
