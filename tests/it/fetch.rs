//! The polite fetcher against the loopback server: validators and 304, Retry-After,
//! retry classification, timeouts, truncation, size caps, challenges, pacing.

use std::io::Write as _;
use std::time::Duration;

use veille::fetch::{
    FetchError, FetchOutcome, FetchRequest, FetchSettings, Fetcher, Transient, Validators,
};

use crate::support::http::{Response, TestServer};

const MIB: usize = 1024 * 1024;

fn settings() -> FetchSettings {
    FetchSettings {
        user_agent: "veille-test/0.1 (+https://example.org/veille)".to_string(),
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(5),
        max_body: 16 * MIB as u64,
        per_host_interval: Duration::ZERO,
        per_host_concurrency: 2,
        global_concurrency: 8,
        max_redirects: 3,
        trust: Default::default(),
        // Whatever proxy the environment running the tests names, these go direct.
        proxy: veille::fetch::Proxy::None,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(settings()).unwrap()
}

async fn get(f: &Fetcher, url: String) -> Result<FetchOutcome, FetchError> {
    f.get(&FetchRequest::new(url)).await
}

fn body(outcome: FetchOutcome) -> veille::fetch::Body {
    match outcome {
        FetchOutcome::Body(b) => b,
        other => panic!("expected a body, got {other:?}"),
    }
}

const RSS: &[u8] =
    b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title></channel></rss>";
const LAST_MODIFIED: &str = "Mon, 03 Mar 2025 10:00:00 GMT";

#[tokio::test]
async fn ok_with_validators_then_conditional_not_modified() {
    let server = TestServer::start().await;
    server.route(
        "/feed.xml",
        Response::ok(RSS)
            .etag("\"v1\"")
            .last_modified(LAST_MODIFIED)
            .content_type("application/rss+xml; charset=utf-8"),
    );
    let f = fetcher();

    let first = body(get(&f, server.url("/feed.xml")).await.unwrap());
    assert_eq!(first.status, 200);
    assert_eq!(&first.bytes[..], RSS);
    assert_eq!(
        first.content_type.as_deref(),
        Some("application/rss+xml; charset=utf-8")
    );
    assert_eq!(first.final_url, server.url("/feed.xml"));
    assert_eq!(
        first.validators,
        Validators {
            etag: Some("\"v1\"".into()),
            last_modified: Some(LAST_MODIFIED.into())
        }
    );
    let plain = &server.requests()[0];
    assert_eq!(plain.method, "GET");
    assert_eq!(plain.header("if-none-match"), None);
    assert_eq!(plain.header("if-modified-since"), None);
    assert_eq!(
        plain.header("user-agent"),
        Some("veille-test/0.1 (+https://example.org/veille)")
    );

    let req = FetchRequest {
        url: server.url("/feed.xml"),
        validators: first.validators.clone(),
        ..FetchRequest::default()
    };
    match f.get(&req).await.unwrap() {
        FetchOutcome::NotModified { validators, .. } => {
            assert_eq!(validators, first.validators)
        }
        other => panic!("expected NotModified, got {other:?}"),
    }
    let conditional = &server.requests()[1];
    assert_eq!(conditional.header("if-none-match"), Some("\"v1\""));
    assert_eq!(conditional.header("if-modified-since"), Some(LAST_MODIFIED));
}

#[tokio::test]
async fn not_modified_keeps_old_validators_and_takes_new_ones() {
    let server = TestServer::start().await;
    // Only Last-Modified on the route: the 304 carries no ETag, so the old one is kept.
    server.route(
        "/a",
        Response::ok(RSS)
            .last_modified("Tue, 04 Mar 2025 10:00:00 GMT")
            .header("Cache-Control", "max-age=900"),
    );
    let req = FetchRequest {
        url: server.url("/a"),
        validators: Validators {
            etag: Some("\"old\"".into()),
            last_modified: Some("Tue, 04 Mar 2025 10:00:00 GMT".into()),
        },
        ..FetchRequest::default()
    };
    match fetcher().get(&req).await.unwrap() {
        FetchOutcome::NotModified {
            validators,
            cache_floor,
        } => {
            assert_eq!(validators.etag.as_deref(), Some("\"old\""));
            assert_eq!(
                validators.last_modified.as_deref(),
                Some("Tue, 04 Mar 2025 10:00:00 GMT")
            );
            assert_eq!(cache_floor, Some(Duration::from_secs(900)));
        }
        other => panic!("expected NotModified, got {other:?}"),
    }
}

#[tokio::test]
async fn cache_control_max_age_is_a_floor() {
    let server = TestServer::start().await;
    server.route(
        "/c",
        Response::ok(RSS).header("Cache-Control", "public, max-age=3600"),
    );
    server.route("/n", Response::ok(RSS));
    let f = fetcher();
    assert_eq!(
        body(get(&f, server.url("/c")).await.unwrap()).cache_floor,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        body(get(&f, server.url("/n")).await.unwrap()).cache_floor,
        None
    );
}

#[tokio::test]
async fn too_many_requests_with_retry_after_seconds_and_date() {
    let server = TestServer::start().await;
    server.route("/s", Response::status(429).header("Retry-After", "120"));
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    server.route(
        "/d",
        Response::status(503).header("Retry-After", &in_an_hour),
    );
    let f = fetcher();

    let err = get(&f, server.url("/s")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.to_string().contains(&server.url("/s")), "{err}");

    let err = get(&f, server.url("/d")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 503, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    let after = err.retry_after().expect("retry_after from an HTTP-date");
    assert!(
        after > Duration::from_secs(3000) && after <= Duration::from_secs(3600),
        "{after:?}"
    );
}

#[tokio::test]
async fn server_error_is_transient_not_found_is_not() {
    let server = TestServer::start().await;
    server.route("/boom", Response::status(500).body("oops"));
    let f = fetcher();
    let err = get(&f, server.url("/boom")).await.unwrap_err();
    assert!(matches!(
        err,
        FetchError::Status {
            status: 500,
            retry_after: None,
            ..
        }
    ));
    assert!(err.is_transient());

    let err = get(&f, server.url("/missing")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn hanging_server_times_out() {
    let server = TestServer::start().await;
    server.route("/hang", Response::ok(RSS).hang());
    let f = Fetcher::new(FetchSettings {
        timeout: Duration::from_millis(300),
        ..settings()
    })
    .unwrap();
    let err = get(&f, server.url("/hang")).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(err.is_transient());

    // The per-request override wins over the default.
    let f = fetcher();
    let req = FetchRequest {
        timeout: Some(Duration::from_millis(300)),
        ..FetchRequest::new(server.url("/hang"))
    };
    let err = f.get(&req).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn truncated_body_is_an_error() {
    let server = TestServer::start().await;
    server.route("/t", Response::ok(vec![b'x'; 10_000]).truncate_at(4_000));
    let err = get(&fetcher(), server.url("/t")).await.unwrap_err();
    assert!(matches!(err, FetchError::Body { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn large_body_is_too_large_not_truncated() {
    let server = TestServer::start().await;
    server.route("/big", Response::ok(vec![b'a'; 50 * MIB]));
    let err = get(&fetcher(), server.url("/big")).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::TooLarge {
            url: server.url("/big"),
            limit: 16 * MIB as u64
        }
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn large_gzipped_body_is_counted_decompressed() {
    let server = TestServer::start().await;
    // 20 MiB of text, gzipped on the wire: small compressed, too large decompressed.
    server.route("/gz", Response::ok(vec![b'a'; 20 * MIB]).gzip());
    server.route("/small", Response::ok(RSS).gzip());
    let f = fetcher();
    let err = get(&f, server.url("/gz")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    // A small gzipped body is decompressed transparently.
    assert_eq!(
        &body(get(&f, server.url("/small")).await.unwrap()).bytes[..],
        RSS
    );
}

/// 100 MiB of zeros, gzipped (about 100 KiB on the wire).
fn gzip_bomb() -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; MIB];
    for _ in 0..100 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

#[tokio::test]
async fn gzip_bomb_is_stopped_by_the_cap() {
    let server = TestServer::start().await;
    server.route(
        "/bomb",
        Response::ok(gzip_bomb())
            .header("Content-Encoding", "gzip")
            .content_type("application/rss+xml"),
    );
    let err = get(&fetcher(), server.url("/bomb")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn bot_challenges_are_errors_never_content() {
    let server = TestServer::start().await;
    server.route("/empty202", Response::status(202));
    server.route(
        "/script202",
        Response::status(202)
            .content_type("text/html")
            .body("<html><head><script>window.location.reload()</script></head></html>"),
    );
    server.route(
        "/waf",
        Response::ok("<html>hello</html>")
            .content_type("text/html")
            .header("x-amzn-waf-action", "challenge"),
    );
    server.route(
        "/page",
        Response::ok(
            "<!DOCTYPE html><html><head><script src=\"https://x.token.awswaf.com/challenge.js\"></script></head>\
             <body>We need to verify that you're not a robot</body></html>",
        )
        .content_type("text/html; charset=utf-8"),
    );
    // A feed that merely mentions the words is content.
    server.route(
        "/feed",
        Response::ok(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Please enable JavaScript to continue</title></channel></rss>",
        )
        .content_type("application/rss+xml"),
    );
    let f = fetcher();
    server.route(
        "/cookie403",
        Response::status(403).header("Set-Cookie", "aws-waf-token=abc; Path=/; Secure"),
    );
    server.route(
        "/page403",
        Response::status(403)
            .content_type("text/html")
            .body("<html><body>Please enable JavaScript to continue</body></html>"),
    );
    for path in [
        "/empty202",
        "/script202",
        "/waf",
        "/page",
        "/cookie403",
        "/page403",
    ] {
        let err = get(&f, server.url(path)).await.unwrap_err();
        assert!(err.is_challenge(), "{path}: {err}");
        assert!(matches!(err, FetchError::Challenge { .. }));
        assert!(err.is_transient());
        assert!(err.to_string().contains(&server.url(path)));
    }
    assert_eq!(
        body(get(&f, server.url("/feed")).await.unwrap()).status,
        200
    );
}

#[tokio::test]
async fn invalid_urls_are_refused_without_a_request() {
    let f = fetcher();
    // Twice: a refused URL is not kept with the parsed ones.
    for url in ["not a url", "ftp://example.org/feed", "file:///etc/passwd"].repeat(2) {
        let err = get(&f, url.to_string()).await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl { .. }), "{url}: {err}");
        assert!(!err.is_transient());
    }
}

/// The fetcher keeps the URLs it has parsed (a daemon requests the same ones at every
/// step): the same URL again, and many different ones, are requested as they are written.
#[tokio::test]
async fn urls_requested_again_and_many_urls_go_where_they_say() {
    let server = TestServer::start().await;
    server.route(
        "/feed",
        Response::ok(RSS).content_type("application/rss+xml"),
    );
    let f = fetcher();
    for _ in 0..3 {
        let b = body(get(&f, server.url("/feed")).await.unwrap());
        assert_eq!(b.status, 200);
        assert_eq!(b.final_url, server.url("/feed"));
    }
    // More distinct URLs than the fetcher keeps: each still reaches its own path.
    for i in 0..1100 {
        let url = server.url(&format!("/missing/{i}?q={i}"));
        match get(&f, url.clone()).await {
            Err(FetchError::Status {
                status: 404,
                url: u,
                ..
            }) => assert_eq!(u, url),
            other => panic!("{url}: {other:?}"),
        }
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 1103);
    for i in 0..1100 {
        assert_eq!(paths[3 + i], format!("/missing/{i}?q={i}"));
    }
    assert_eq!(
        body(get(&f, server.url("/feed")).await.unwrap()).status,
        200
    );
}

#[tokio::test]
async fn connection_refused_is_a_transient_connect_error() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = get(&fetcher(), format!("http://127.0.0.1:{port}/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Connect { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn redirects_are_followed_within_the_limit() {
    let server = TestServer::start().await;
    server.route("/old", Response::status(301).header("Location", "/new"));
    server.route("/new", Response::ok(RSS));
    server.route("/loop", Response::status(302).header("Location", "/loop"));
    let f = fetcher();
    let b = body(get(&f, server.url("/old")).await.unwrap());
    assert_eq!(b.final_url, server.url("/new"));
    // The redirected request says where it came from; the first one has nothing to say.
    assert_eq!(server.requests_to("/old")[0].header("referer"), None);
    assert_eq!(
        server.requests_to("/new")[0].header("referer"),
        Some(server.url("/old").as_str())
    );
    let err = get(&f, server.url("/loop")).await.unwrap_err();
    assert!(matches!(err, FetchError::Redirect { .. }), "{err}");
    assert_eq!(server.requests_to("/loop").len(), 4); // the request and 3 redirects
}

#[tokio::test]
async fn requests_to_one_host_are_spaced() {
    let server = TestServer::start().await;
    server.route("/a", Response::ok(RSS));
    let interval = Duration::from_millis(300);
    let f = Fetcher::new(FetchSettings {
        per_host_interval: interval,
        ..settings()
    })
    .unwrap();
    let t0 = std::time::Instant::now();
    let (a, b) = tokio::join!(get(&f, server.url("/a")), get(&f, server.url("/a")));
    a.unwrap();
    b.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    // Both requests started after t0, and the later one at least `interval` after the
    // earlier one started: a lower bound, whatever the machine's speed.
    let last = reqs.iter().map(|r| r.at).max().unwrap();
    assert!(last.duration_since(t0) >= interval);
}

#[tokio::test]
async fn a_hanging_host_does_not_delay_another_host() {
    let slow = TestServer::start().await;
    let fast = TestServer::start().await;
    slow.route("/hang", Response::ok(RSS).hang());
    fast.route("/ok", Response::ok(RSS));
    let f = Fetcher::new(FetchSettings {
        per_host_interval: Duration::from_secs(30),
        per_host_concurrency: 1,
        timeout: Duration::from_secs(120),
        ..settings()
    })
    .unwrap();
    let hanging = tokio::spawn({
        let f = f.clone();
        let url = slow.url("/hang");
        async move { get(&f, url).await }
    });
    slow.wait_for_requests(1).await;
    body(get(&f, fast.url("/ok")).await.unwrap());
    // The slow host's request is still hanging: the other host did not wait for it.
    assert!(!hanging.is_finished());
    hanging.abort();
}

#[tokio::test]
async fn route_sequences_serve_in_order_then_repeat_the_last() {
    let server = TestServer::start().await;
    server.route_sequence("/seq?x=1", vec![Response::status(503), Response::ok(RSS)]);
    let f = fetcher();
    let err = get(&f, server.url("/seq?x=1")).await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 503, .. }));
    assert_eq!(
        body(get(&f, server.url("/seq?x=1")).await.unwrap()).status,
        200
    );
    assert_eq!(
        body(get(&f, server.url("/seq?x=1")).await.unwrap()).status,
        200
    );
    assert_eq!(server.requests_to("/seq?x=1").len(), 3);
}

#[test]
fn background_server_serves_sync_clients() {
    use std::io::Read as _;
    let server = TestServer::start_background();
    server.route("/f", Response::ok(RSS).content_type("application/rss+xml"));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream
        .write_all(b"GET /f HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"nope\"\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with(std::str::from_utf8(RSS).unwrap()));
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/f");
    assert_eq!(reqs[0].header("If-None-Match"), Some("\"nope\""));
}

/// A redirect to a link-local address (169.254.0.0/16, fe80::/10, and the IPv4 one written
/// as IPv6: where cloud metadata services answer) is refused before connecting. The test
/// runs in a network namespace of its own with only loopback (`unshare -n`), so even a
/// broken policy could not send a packet anywhere else.
#[test]
fn redirects_to_link_local_addresses_are_refused() {
    const INNER: &str = "VEILLE_TEST_IN_NETNS";
    let netns = || std::fs::read_link("/proc/self/ns/net").unwrap_or_else(|e| panic!("{e}"));
    match std::env::var(INNER) {
        Ok(outer) => {
            assert_ne!(
                std::path::PathBuf::from(outer),
                netns(),
                "not in a namespace of its own"
            );
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
                .block_on(link_local_redirects());
        }
        Err(_) => {
            let me = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
            let out = std::process::Command::new("unshare")
                .args([
                    "-n",
                    "--",
                    "sh",
                    "-c",
                    "ip link set lo up && exec \"$0\" \"$@\"",
                ])
                .arg(me)
                .args([
                    "fetch::redirects_to_link_local_addresses_are_refused",
                    "--exact",
                    "--nocapture",
                ])
                .env(INNER, netns())
                .output()
                .unwrap_or_else(|e| panic!("unshare (util-linux) is needed: {e}"));
            let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "in the namespace:\n{text}");
            assert!(
                text.contains("1 passed"),
                "the inner test did not run:\n{text}"
            );
        }
    }
}

async fn link_local_redirects() {
    let server = TestServer::start().await;
    let to = |location: &str| Response::status(302).header("Location", location);
    server.route("/metadata", to("http://169.254.169.254/latest/meta-data/"));
    server.route("/v6", to("http://[fe80::1]/feed.xml"));
    server.route("/mapped", to("http://[::ffff:169.254.169.254]/"));
    server.route("/moved", to("/feed.xml"));
    server.route("/feed.xml", Response::ok(RSS));
    let f = fetcher();
    for path in ["/metadata", "/v6", "/mapped"] {
        let err = get(&f, server.url(path)).await.unwrap_err();
        assert!(matches!(err, FetchError::Redirect { .. }), "{path}: {err}");
        assert_eq!(
            err.cause(),
            "redirect to a link-local address refused",
            "{path}"
        );
        assert!(!err.is_transient(), "{path}");
    }
    // Redirects elsewhere are still followed.
    let b = body(get(&f, server.url("/moved")).await.unwrap());
    assert_eq!(b.final_url, server.url("/feed.xml"));
}
