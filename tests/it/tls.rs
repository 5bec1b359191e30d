//! Mail and HTTP as deployments have them, through the binary: an authenticated relay
//! with STARTTLS (587 style) or implicit TLS (465 style) whose certificate comes from a
//! private CA made at test time, a relay that offers no STARTTLS, certificates that are
//! expired or for another name, the system's roots (`SSL_CERT_FILE`), and an HTTPS source
//! signed by the same CA. Everything listens on 127.0.0.1.

use crate::support::app::{Source, TestApp};
use crate::support::http::{Response, TestServer};
use crate::support::smtp::{self, AuthAttempt, Secure, SecureMode, SmtpServer};
use crate::support::tls::{self, toml_path, HttpsServer, Leaf, Run, TestCa};

const PASSWORD: &str = "Zq7-relay-s3cret-4711";
const MONDAY: &str = "2026-11-30T09:00:00Z";
const WATCHLIST: &str = "name = \"Zebras\"\nrecipients = [\"fg@example.org\"]\ndigest = \"daily\"\nkeywords = [\"zebra*\"]\n";

fn rss(items: &[(&str, &str)]) -> String {
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
    s
}

/// A relay of the test CA's with one account, `veille` / [`PASSWORD`].
fn relay(mode: SecureMode, cert: &tls::ServerCert, mechanisms: &[&'static str]) -> SmtpServer {
    SmtpServer::start_secure(Secure {
        mode,
        cert: cert.clone(),
        user: "veille".into(),
        password: PASSWORD.into(),
        mechanisms: mechanisms.to_vec(),
    })
}

/// `[mail]` for SMTP to 127.0.0.1:`port` as user `veille`, with `extra` in `[mail.smtp]`.
fn smtp_config(port: u16, security: &str, extra: &str) -> String {
    format!(
        "[mail]\nfrom = \"Veille <veille@example.org>\"\ntransport = \"smtp\"\noutbox_dir = \"outbox\"\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\nusername = \"veille\"\ntimeout = \"5s\"\n{extra}"
    )
}

/// An installation with a feed of two zebra items, polled: a digest of 2 events pending.
fn app_with_pending_digest() -> TestApp {
    let server = TestServer::start_background();
    server.route(
        "/feed.rss",
        Response::ok(rss(&[("Zebra crossings", "z1"), ("Zebra mussels", "z2")]))
            .content_type("application/rss+xml"),
    );
    let url = server.url("/feed.rss");
    let app = TestApp::new(server, vec![Source::new("feed", "feed", url)]);
    app.add_watchlist("w", WATCHLIST);
    let r = tls::run(&app, Some(MONDAY), &["poll"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    app
}

fn set_mail(app: &mut TestApp, mail: String) {
    app.mail = mail;
    app.write_config();
}

fn with_password(app: &TestApp, args: &[&str]) -> Run {
    tls::run(
        app,
        Some(MONDAY),
        args,
        &[("VEILLE_SMTP_PASSWORD", PASSWORD)],
    )
}

/// The row of `status` about the undelivered digest.
fn undelivered_row(app: &TestApp) -> String {
    let r = with_password(app, &["status"]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    r.stdout
        .lines()
        .skip_while(|l| !l.starts_with("NOT DELIVERED"))
        .nth(1)
        .unwrap_or_else(|| panic!("no undelivered row:\n{}", r.stdout))
        .to_string()
}

/// The delivered digest: intact, multipart, with its headers.
fn assert_digest_arrived(server: &SmtpServer) {
    let raw = server.messages();
    assert_eq!(raw.len(), 1, "one message");
    let mail = smtp::parse(&raw[0]);
    assert_eq!(mail.content_type, "multipart/alternative");
    let types: Vec<&str> = mail.parts.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    assert!(
        mail.parts[0].body.contains("Zebra crossings"),
        "{:?}",
        mail.parts[0]
    );
    assert!(
        mail.parts[1].body.contains("Zebra mussels"),
        "{:?}",
        mail.parts[1]
    );
    let id = mail.header("Message-ID");
    assert!(
        id.starts_with('<') && id.ends_with("@veille.example.org>"),
        "{id}"
    );
    assert_eq!(mail.header("From"), "Veille <veille@example.org>");
    assert_eq!(mail.header("To"), "fg@example.org");
    assert_eq!(mail.header("List-Id"), "<w.veille.example.org>");
    assert_eq!(mail.header("Auto-Submitted"), "auto-generated");
    assert!(mail.header("Subject").contains("Zebras"), "{mail:?}");
}

/// Nothing veille printed, logged or recorded holds the password.
fn assert_no_password(app: &TestApp, printed: &str) {
    assert!(
        !printed.contains(PASSWORD),
        "the password leaked:\n{printed}"
    );
    for args in [&["status"][..], &["status", "--format", "json"][..]] {
        let r = with_password(app, args);
        assert!(!r.all().contains(PASSWORD), "{args:?}: {}", r.all());
    }
}

#[test]
fn tls_starttls_relay_with_a_private_ca_needs_ca_file_then_delivers_after_login() {
    let ca = TestCa::new();
    let server = relay(
        SecureMode::StartTls,
        &ca.leaf(Leaf::Good),
        &["PLAIN", "LOGIN"],
    );
    let mut app = app_with_pending_digest();

    // Bundled roots only: the certificate is refused, nothing is sent, the digest waits.
    set_mail(&mut app, smtp_config(server.port(), "starttls", ""));
    let r = with_password(&app, &["digest", "send", "--force"]);
    assert_eq!(r.code, Some(1), "{}", r.all());
    let want = format!(
        "the certificate of 127.0.0.1:{} is not signed by a trusted authority; set mail.smtp.ca_file",
        server.port()
    );
    assert!(r.all().contains(&want), "{want}\nin:\n{}", r.all());
    let row = undelivered_row(&app);
    assert!(row.contains(&want), "{want}\nin: {row}");
    let status = with_password(&app, &["status", "--format", "json"]);
    let status: serde_json::Value =
        serde_json::from_str(&status.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status["undelivered"][0]["events"], 2, "{status}");
    assert_eq!(
        status["undelivered"][0]["cause"],
        format!("{want} to the PEM file of the CA that signed it").as_str(),
        "{status}"
    );
    assert!(server.messages().is_empty());
    assert!(server.auth_attempts().is_empty(), "no login before trust");
    let mut printed = r.all();

    // With the CA's file: delivered once, after a login inside TLS.
    let ca_line = format!("ca_file = {}\n", toml_path(&ca.ca_file()));
    set_mail(&mut app, smtp_config(server.port(), "starttls", &ca_line));
    let r = with_password(&app, &["digest", "send", "--force"]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    printed.push_str(&r.all());
    assert_digest_arrived(&server);
    assert_eq!(
        server.auth_attempts(),
        [AuthAttempt {
            mechanism: "PLAIN".into(),
            login: "veille".into(),
            accepted: true,
            tls: true,
        }]
    );
    let r = with_password(&app, &["status"]);
    assert!(!r.stdout.contains("NOT DELIVERED"), "{}", r.stdout);
    assert_no_password(&app, &printed);
}

#[test]
fn tls_implicit_tls_relay_with_login_only_delivers_with_ca_file() {
    let ca = TestCa::new();
    let server = relay(SecureMode::ImplicitTls, &ca.leaf(Leaf::Good), &["LOGIN"]);
    let mut app = app_with_pending_digest();
    let ca_line = format!("ca_file = {}\n", toml_path(&ca.ca_file()));
    set_mail(&mut app, smtp_config(server.port(), "tls", &ca_line));
    let r = with_password(&app, &["digest", "send", "--force"]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert_digest_arrived(&server);
    assert_eq!(
        server.auth_attempts(),
        [AuthAttempt {
            mechanism: "LOGIN".into(),
            login: "veille".into(),
            accepted: true,
            tls: true,
        }]
    );
    assert_no_password(&app, &r.all());
}

#[test]
fn tls_a_wrong_password_is_a_login_error_never_printed_and_the_digest_waits() {
    let ca = TestCa::new();
    let server = relay(
        SecureMode::StartTls,
        &ca.leaf(Leaf::Good),
        &["PLAIN", "LOGIN"],
    );
    let mut app = app_with_pending_digest();
    let ca_line = format!("ca_file = {}\n", toml_path(&ca.ca_file()));
    set_mail(&mut app, smtp_config(server.port(), "starttls", &ca_line));
    const WRONG: &str = "not-the-Zq7-password-0815";
    let env = [("VEILLE_SMTP_PASSWORD", WRONG)];
    let mut printed = String::new();
    let r = tls::run(&app, Some(MONDAY), &["digest", "send", "--force"], &env);
    assert_eq!(r.code, Some(1), "{}", r.all());
    let want = format!(
        "the mail server 127.0.0.1:{} refused the login of user \"veille\" (535); check mail.smtp.username and $VEILLE_SMTP_PASSWORD",
        server.port()
    );
    assert!(r.all().contains(&want), "{want}\nin:\n{}", r.all());
    printed.push_str(&r.all());
    let r = tls::run(&app, Some(MONDAY), &["mail", "test"], &env);
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("\"login (AUTH)\""), "{}", r.all());
    assert!(r.stderr.contains(&want), "{}", r.all());
    assert!(!r.stdout.contains("authenticated"), "{}", r.stdout);
    printed.push_str(&r.all());
    // With the daemon's own log level, too.
    let mut debug = std::process::Command::new(env!("CARGO_BIN_EXE_veille"));
    debug
        .arg("--config")
        .arg(app.config_path())
        .args(["--now", MONDAY, "digest", "send", "--force"])
        .env("VEILLE_SMTP_PASSWORD", WRONG)
        .env("RUST_LOG", "debug");
    for v in tls::CLEARED
        .iter()
        .filter(|v| **v != "VEILLE_SMTP_PASSWORD")
    {
        debug.env_remove(v);
    }
    let out = debug.output().unwrap_or_else(|e| panic!("{e}"));
    printed.push_str(&String::from_utf8_lossy(&out.stdout));
    printed.push_str(&String::from_utf8_lossy(&out.stderr));

    let row = undelivered_row(&app);
    assert!(row.contains(&want), "{want}\nin: {row}");
    assert!(server.messages().is_empty());
    let attempts = server.auth_attempts();
    assert!(!attempts.is_empty() && attempts.iter().all(|a| a.tls && !a.accepted));
    assert!(!printed.contains(WRONG), "the password leaked:\n{printed}");
    for args in [&["status"][..], &["status", "--format", "json"][..]] {
        let r = tls::run(&app, Some(MONDAY), args, &env);
        assert!(!r.all().contains(WRONG), "{args:?}: {}", r.all());
    }
}

#[test]
fn tls_a_relay_without_starttls_gets_no_login_and_no_mail() {
    let ca = TestCa::new();
    // It offers AUTH in clear: veille must not take it.
    let server = relay(SecureMode::Clear, &ca.leaf(Leaf::Good), &["PLAIN", "LOGIN"]);
    let mut app = app_with_pending_digest();
    let ca_line = format!("ca_file = {}\n", toml_path(&ca.ca_file()));
    set_mail(&mut app, smtp_config(server.port(), "starttls", &ca_line));
    let r = with_password(&app, &["digest", "send", "--force"]);
    assert_eq!(r.code, Some(1), "{}", r.all());
    let want = format!(
        "the mail server 127.0.0.1:{} does not offer STARTTLS, so nothing was sent",
        server.port()
    );
    assert!(r.all().contains(&want), "{want}\nin:\n{}", r.all());
    let r = with_password(&app, &["mail", "test"]);
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(
        r.stderr.contains("\"STARTTLS\"") && r.stderr.contains(&want),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("TLS established"), "{}", r.stdout);
    assert!(undelivered_row(&app).contains(&want));
    assert_eq!(server.auth_attempts(), [], "no login attempted in clear");
    assert!(server.messages().is_empty());
}

#[test]
fn tls_mail_test_prints_each_step_and_names_certificate_problems() {
    let ca = TestCa::new();
    let good = relay(
        SecureMode::StartTls,
        &ca.leaf(Leaf::Good),
        &["PLAIN", "LOGIN"],
    );
    let mut app = app_with_pending_digest();
    let ca_line = format!("ca_file = {}\n", toml_path(&ca.ca_file()));
    set_mail(&mut app, smtp_config(good.port(), "starttls", &ca_line));
    let r = with_password(&app, &["mail", "test", "someone@example.org"]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let steps: Vec<&str> = r.stdout.lines().map(str::trim).collect();
    let p = good.port();
    assert_eq!(
        steps,
        [
            "mail test: to someone@example.org".to_string(),
            format!("connected to 127.0.0.1:{p}"),
            "TLS established (STARTTLS); the certificate of 127.0.0.1 is trusted".to_string(),
            "authenticated as \"veille\"".to_string(),
            steps[4].to_string(),
            "mail test: ok".to_string(),
        ]
    );
    assert!(steps[4].starts_with(&format!("accepted by 127.0.0.1:{p}: message <")));
    assert_eq!(good.messages().len(), 1);

    // Implicit TLS.
    let implicit = relay(SecureMode::ImplicitTls, &ca.leaf(Leaf::Good), &["PLAIN"]);
    set_mail(&mut app, smtp_config(implicit.port(), "tls", &ca_line));
    let r = with_password(&app, &["mail", "test"]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stdout
            .contains("TLS established (implicit TLS); the certificate of 127.0.0.1 is trusted")
            && r.stdout.contains("authenticated as \"veille\""),
        "{}",
        r.stdout
    );

    // Expired, for another name, untrusted: one line each, at the TLS step.
    let cases = [
        (Leaf::Expired, ca_line.as_str(), "has expired; it must be renewed on that server"),
        (Leaf::OtherName, ca_line.as_str(), "is not valid for that name; use in mail.smtp.host a name the certificate carries"),
        (Leaf::Good, "", "is not signed by a trusted authority; set mail.smtp.ca_file to the PEM file of the CA that signed it"),
    ];
    for (leaf, extra, cause) in cases {
        for (mode, security, step) in [
            (SecureMode::StartTls, "starttls", "STARTTLS"),
            (SecureMode::ImplicitTls, "tls", "TLS handshake"),
        ] {
            let server = relay(mode, &ca.leaf(leaf), &["PLAIN"]);
            set_mail(&mut app, smtp_config(server.port(), security, extra));
            let r = with_password(&app, &["mail", "test"]);
            assert_eq!(r.code, Some(1), "{leaf:?} {mode:?}: {}", r.all());
            let line = r
                .stderr
                .lines()
                .find(|l| l.contains("FAILED"))
                .unwrap_or_default();
            let want = format!(
                "SMTP server 127.0.0.1:{}: failed at the step \"{step}\": the certificate of 127.0.0.1:{} {cause}",
                server.port(),
                server.port()
            );
            assert!(
                line.ends_with(&want),
                "{leaf:?} {mode:?}:\n{want}\nin:\n{line}"
            );
            assert!(!r.stdout.contains("TLS established"), "{}", r.stdout);
            assert_eq!(server.auth_attempts(), []);
            assert!(server.messages().is_empty());
        }
    }
}

#[test]
fn tls_system_roots_trust_what_the_system_store_holds() {
    let ca = TestCa::new();
    let server = relay(SecureMode::StartTls, &ca.leaf(Leaf::Good), &["PLAIN"]);
    let mut app = app_with_pending_digest();
    set_mail(
        &mut app,
        smtp_config(server.port(), "starttls", "tls_roots = \"system\"\n"),
    );
    // The system store, as rustls-native-certs reads it on Linux, is $SSL_CERT_FILE here.
    let ca_file = ca.ca_file().display().to_string();
    let env = [
        ("VEILLE_SMTP_PASSWORD", PASSWORD),
        ("SSL_CERT_FILE", ca_file.as_str()),
    ];
    let r = tls::run(&app, Some(MONDAY), &["mail", "test"], &env);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stdout.contains("TLS established (STARTTLS)"),
        "{}",
        r.stdout
    );
    // The bundled roots do not hold it.
    set_mail(&mut app, smtp_config(server.port(), "starttls", ""));
    let r = tls::run(&app, Some(MONDAY), &["mail", "test"], &env);
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("set mail.smtp.ca_file"), "{}", r.all());
}

#[test]
fn tls_check_reads_the_ca_files_and_names_the_key_and_path() {
    let ca = TestCa::new();
    let mut app = app_with_pending_digest();
    let dir = app.path("");
    std::fs::write(dir.join("notes.txt"), "just some text\n").unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        ("mail.smtp.ca_file", "missing.pem", "cannot read"),
        ("mail.smtp.ca_file", "notes.txt", "holds no PEM certificate"),
        ("http.ca_file", "missing.pem", "cannot read"),
        ("http.ca_file", "notes.txt", "holds no PEM certificate"),
        ("mail.smtp.tls_roots", "", "is not one of \"bundled\""),
    ];
    for (key, file, why) in cases {
        let line = if key.ends_with("tls_roots") {
            "tls_roots = \"native\"\n".to_string()
        } else {
            format!("ca_file = \"{file}\"\n")
        };
        if key.starts_with("mail") {
            set_mail(&mut app, smtp_config(2525, "starttls", &line));
            tls::write_config_with_http(&app, "");
        } else {
            set_mail(&mut app, smtp_config(2525, "starttls", ""));
            tls::write_config_with_http(&app, &line);
        }
        let r = tls::run(&app, None, &["check"], &[]);
        assert_eq!(r.code, Some(3), "{key} {file}: {}", r.all());
        assert!(
            r.stderr.contains(key) && r.stderr.contains(why),
            "{key} {why}: {}",
            r.stderr
        );
        if !file.is_empty() {
            let path = dir.join(file).display().to_string();
            assert!(r.stderr.contains(&path), "{path} in {}", r.stderr);
        }
    }
    // Good files: valid, relative paths resolved against the configuration's folder.
    std::fs::copy(ca.ca_file(), dir.join("ca.pem")).unwrap_or_else(|e| panic!("{e}"));
    set_mail(
        &mut app,
        smtp_config(2525, "starttls", "ca_file = \"ca.pem\"\n"),
    );
    tls::write_config_with_http(&app, "ca_file = \"ca.pem\"\ntls_roots = \"system\"\n");
    let r = tls::run(&app, None, &["check"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let ca_path = dir.join("ca.pem").display().to_string();
    for line in [
        format!("  http: trusts the system's roots and 1 certificate of {ca_path}; proxy: none (no proxy in the environment)"),
        format!("  mail: SMTP to 127.0.0.1:2525 (STARTTLS; trusts the bundled roots and 1 certificate of {ca_path})"),
    ] {
        assert!(r.stdout.lines().any(|l| l == line), "{line}\nin:\n{}", r.stdout);
    }
}

#[test]
fn tls_https_source_of_a_private_ca_needs_http_ca_file() {
    let ca = TestCa::new();
    let https = HttpsServer::start(&ca.leaf(Leaf::Good));
    https.put(
        "feed.rss",
        &rss(&[
            ("Zebra crossings over TLS", "t1"),
            ("Zebra mussels over TLS", "t2"),
        ]),
    );
    let app = TestApp::new(
        TestServer::start_background(),
        vec![Source::new("secure", "feed", https.url("feed.rss"))],
    );
    app.add_watchlist("w", WATCHLIST);

    let r = tls::run(&app, Some(MONDAY), &["poll"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.all());
    let want = format!(
        "the certificate of localhost:{} is not signed by a trusted authority; set http.ca_file to the PEM file of the CA that signed it",
        https.port
    );
    let status = tls::run(&app, Some(MONDAY), &["status"], &[]);
    let row = status
        .stdout
        .lines()
        .find(|l| l.starts_with("secure"))
        .unwrap_or_default();
    assert!(row.contains(&want), "{want}\nin:\n{}", status.stdout);
    let preview = tls::run(&app, Some(MONDAY), &["digest", "preview", "w"], &[]);
    assert!(
        preview.stdout.contains(&want),
        "named in the digest's sources:\n{}",
        preview.stdout
    );
    assert!(https.requests().is_empty(), "{:?}", https.requests());

    tls::write_config_with_http(&app, &format!("ca_file = {}\n", toml_path(&ca.ca_file())));
    let r = tls::run(&app, Some(MONDAY), &["poll", "--force"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert_eq!(https.requests(), ["GET /feed.rss"]);
    let preview = tls::run(&app, Some(MONDAY), &["digest", "preview", "w"], &[]);
    assert!(
        preview.stdout.contains("Zebra crossings over TLS") && !preview.stdout.contains(&want),
        "{}",
        preview.stdout
    );
}

#[test]
fn tls_https_sources_with_expired_or_wrong_name_certificates_say_so() {
    let ca = TestCa::new();
    let expired = HttpsServer::start(&ca.leaf(Leaf::Expired));
    let other = HttpsServer::start(&ca.leaf(Leaf::OtherName));
    for s in [&expired, &other] {
        s.put("feed.rss", &rss(&[("Zebra", "z")]));
    }
    let app = TestApp::new(
        TestServer::start_background(),
        vec![
            Source::new("expired", "feed", expired.url("feed.rss")),
            Source::new("othername", "feed", other.url("feed.rss")),
        ],
    );
    app.add_watchlist("w", WATCHLIST);
    tls::write_config_with_http(&app, &format!("ca_file = {}\n", toml_path(&ca.ca_file())));
    let r = tls::run(&app, Some(MONDAY), &["poll"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.all());
    let status = tls::run(&app, Some(MONDAY), &["status"], &[]);
    for (id, server, cause) in [
        (
            "expired",
            &expired,
            "has expired; it must be renewed on that server",
        ),
        (
            "othername",
            &other,
            "is not valid for that name; use in the source's url a name the certificate carries",
        ),
    ] {
        let row = status
            .stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default();
        let want = format!("the certificate of localhost:{} {cause}", server.port);
        assert!(row.contains(&want), "{want}\nin:\n{}", status.stdout);
        assert!(server.requests().is_empty());
    }
}
