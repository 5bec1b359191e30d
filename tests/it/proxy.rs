//! Outbound proxies, through the binary: `HTTP_PROXY`/`HTTPS_PROXY` carry the sources'
//! requests (absolute-form GET for http, a CONNECT tunnel for https, with TLS to the
//! source itself end to end), `NO_PROXY` exempts hosts, `[http] proxy` overrides the
//! environment and `proxy = "none"` ignores it, and a proxy that is down is named in the
//! short cause. reqwest (0.12.28, through hyper-util) does not exempt loopback by itself:
//! these loopback sources go through the loopback proxy unless `NO_PROXY` names them.

use crate::support::app::{Source, TestApp};
use crate::support::http::{free_port, Response, TestServer};
use crate::support::proxy::ForwardProxy;
use crate::support::tls::{self, toml_path, HttpsServer, Leaf, TestCa};

const MONDAY: &str = "2026-11-30T09:00:00Z";
const WATCHLIST: &str = "name = \"Zebras\"\nrecipients = [\"fg@example.org\"]\ndigest = \"daily\"\nkeywords = [\"zebra*\"]\n";

fn rss(title: &str, guid: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Test feed</title><link>https://example.org/</link><description>test</description>\n\
         <item><title>{title}</title><link>https://example.org/{guid}</link>\
         <guid isPermaLink=\"false\">{guid}</guid><description>{title}.</description>\
         <pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>\n</channel></rss>\n"
    )
}

/// An installation with one http feed on the loopback `TestServer`.
fn app_with_http_feed() -> TestApp {
    let server = TestServer::start_background();
    server.route(
        "/feed.rss",
        Response::ok(rss("Zebra crossings via the proxy", "p1"))
            .content_type("application/rss+xml"),
    );
    let url = server.url("/feed.rss");
    let app = TestApp::new(server, vec![Source::new("plain", "feed", url)]);
    app.add_watchlist("w", WATCHLIST);
    app
}

fn poll(app: &TestApp, env: &[(&str, &str)], code: i32) -> tls::Run {
    let r = tls::run(app, Some(MONDAY), &["poll", "--force"], env);
    assert_eq!(r.code, Some(code), "{}", r.all());
    r
}

#[test]
fn proxy_from_the_environment_carries_http_and_https_requests() {
    let ca = TestCa::new();
    let https = HttpsServer::start(&ca.leaf(Leaf::Good));
    https.put("feed.rss", &rss("Zebra mussels through the tunnel", "t1"));
    let mut app = app_with_http_feed();
    let http_url = app.server.url("/feed.rss");
    app.sources
        .push(Source::new("secure", "feed", https.url("feed.rss")));
    tls::write_config_with_http(&app, &format!("ca_file = {}\n", toml_path(&ca.ca_file())));
    let proxy = ForwardProxy::start();
    let p = proxy.url();
    poll(&app, &[("HTTP_PROXY", &p), ("HTTPS_PROXY", &p)], 0);

    let mut seen = proxy.seen();
    seen.sort();
    assert_eq!(
        seen,
        [
            format!("CONNECT localhost:{}", https.port),
            format!("GET {http_url}"),
        ]
    );
    assert_eq!(app.server.requests_to("/feed.rss").len(), 1);
    assert_eq!(https.requests(), ["GET /feed.rss"]);
    let preview = tls::run(&app, Some(MONDAY), &["digest", "preview", "w"], &[]);
    for title in [
        "Zebra crossings via the proxy",
        "Zebra mussels through the tunnel",
    ] {
        assert!(
            preview.stdout.contains(title),
            "{title}:\n{}",
            preview.stdout
        );
    }
}

#[test]
fn proxy_no_proxy_and_the_http_proxy_key_override_the_environment() {
    let app = app_with_http_feed();
    let from_env = ForwardProxy::start();
    let configured = ForwardProxy::start();
    let env_p = from_env.url();
    let env = [("HTTP_PROXY", env_p.as_str())];
    let url = app.server.url("/feed.rss");

    // NO_PROXY names the host: straight to the source.
    poll(&app, &[env[0], ("NO_PROXY", "localhost,127.0.0.1")], 0);
    assert_eq!(from_env.seen(), Vec::<String>::new());
    assert_eq!(app.server.requests_to("/feed.rss").len(), 1);

    // [http] proxy wins over HTTP_PROXY.
    tls::write_config_with_http(&app, &format!("proxy = \"{}\"\n", configured.url()));
    poll(&app, &env, 0);
    assert_eq!(configured.seen(), [format!("GET {url}")]);
    assert_eq!(from_env.seen(), Vec::<String>::new());
    assert_eq!(app.server.requests_to("/feed.rss").len(), 2);

    // proxy = "none": no proxy at all, whatever the environment says.
    tls::write_config_with_http(&app, "proxy = \"none\"\n");
    poll(&app, &env, 0);
    assert_eq!(configured.seen().len(), 1);
    assert_eq!(from_env.seen(), Vec::<String>::new());
    assert_eq!(app.server.requests_to("/feed.rss").len(), 3);

    // Without the key, the environment's proxy is used; `check` says which.
    tls::write_config_with_http(&app, "");
    poll(&app, &env, 0);
    assert_eq!(from_env.seen(), [format!("GET {url}")]);
    let r = tls::run(
        &app,
        None,
        &["check"],
        &[env[0], ("NO_PROXY", "example.org")],
    );
    let want = format!("proxy: HTTP_PROXY={env_p}/, NO_PROXY=example.org");
    assert!(r.stdout.contains(&want), "{want}\nin:\n{}", r.stdout);
}

#[test]
fn proxy_that_is_down_is_named_in_the_cause_and_a_bad_key_in_check() {
    let app = app_with_http_feed();
    let down = format!("http://127.0.0.1:{}", free_port());
    poll(&app, &[("HTTP_PROXY", &down)], 2);
    let status = tls::run(&app, Some(MONDAY), &["status"], &[("HTTP_PROXY", &down)]);
    let row = status
        .stdout
        .lines()
        .find(|l| l.starts_with("plain"))
        .unwrap_or_default();
    let want = format!("connection refused by the proxy {down}/ (HTTP_PROXY)");
    assert!(row.contains(&want), "{want}\nin:\n{}", status.stdout);
    assert!(app.server.requests_to("/feed.rss").is_empty());

    for (value, why) in [
        (
            "socks5://127.0.0.1:1080",
            "is not an http:// or https:// proxy",
        ),
        ("http://user:hunter2-proxy@", "hunter2"),
    ] {
        tls::write_config_with_http(&app, &format!("proxy = \"{value}\"\n"));
        let r = tls::run(&app, None, &["check"], &[]);
        assert_eq!(r.code, Some(3), "{}", r.all());
        assert!(r.stderr.contains("http.proxy"), "{}", r.stderr);
        if why == "hunter2" {
            assert!(
                !r.stderr.contains(why),
                "the proxy's password is not printed: {}",
                r.stderr
            );
        } else {
            assert!(r.stderr.contains(why), "{why}: {}", r.stderr);
        }
    }
}
