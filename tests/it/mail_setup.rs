//! The SMTP password is needed only where mail is sent: `check`, `match` and `digest preview` work without it
//! (with a warning from `check`) and always show the watchlist errors; `run` and `digest
//! send` refuse to start; a `password` key in the file is refused naming the variable.

use crate::support::app::TestApp;
use crate::support::http::{free_port, TestServer};
use crate::support::smtp::{self, SmtpServer};

const GOOD: &str = "name = \"W\"\nrecipients = [\"fg@example.org\"]\ndigest = \"weekly\"\nkeywords = [\"zebra\"]\n";

/// An installation with SMTP to loopback, a username, and no password in the environment.
fn app_with_username() -> TestApp {
    let mut app = TestApp::new(TestServer::start_background(), Vec::new());
    app.use_smtp(free_port());
    app.mail.push_str("username = \"veille\"\n");
    app.write_config();
    app.add_watchlist("w", GOOD);
    app
}

fn run(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let out = app.veille(None, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn reading_commands_work_without_the_password() {
    let app = app_with_username();
    let (code, out, err) = run(&app, &["check"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("is valid"), "{out}");
    assert!(
        err.contains("warning") && err.contains("VEILLE_SMTP_PASSWORD"),
        "{err}"
    );
    let (code, out, err) = run(&app, &["match", "zebra crossings"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("w:"), "{out}");
    let (code, out, err) = run(&app, &["digest", "preview", "w"]);
    assert_eq!(code, Some(0), "{out}\n{err}");

    // A broken watchlist: its error is what the officer sees (exit 3), not the password.
    app.add_watchlist("broken", "name = \"B\"\nrecipients = [\"fg@example.org\"]\ndigest = \"weekly\"\nkeywords = [\"x\"]\nkeywrods = [\"y\"]\n");
    let (code, out, err) = run(&app, &["check"]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(
        err.contains("broken.toml") && err.contains("keywrods"),
        "{err}"
    );
}

#[test]
fn sending_commands_refuse_without_the_password() {
    let app = app_with_username();
    for args in [&["run"][..], &["digest", "send", "--force"][..]] {
        let (code, out, err) = run(&app, args);
        assert_eq!(code, Some(3), "{args:?}\n{out}\n{err}");
        assert!(err.contains("VEILLE_SMTP_PASSWORD"), "{args:?}: {err}");
        assert!(!err.contains("veille started"), "{err}");
    }
}

#[test]
fn a_password_key_is_refused_naming_the_variable() {
    let mut app = app_with_username();
    app.mail.push_str("password = \"hunter2-secret\"\n");
    app.write_config();
    let (code, out, err) = run(&app, &["check"]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(err.contains("mail.smtp.password"), "{err}");
    assert!(err.contains("VEILLE_SMTP_PASSWORD"), "{err}");
    assert!(!format!("{out}{err}").contains("hunter2-secret"), "{err}");
}

#[test]
fn mail_test_is_accepted_by_a_real_smtp_server() {
    let smtp_server = SmtpServer::start();
    let mut app = TestApp::new(TestServer::start_background(), Vec::new());
    app.use_smtp(smtp_server.port());
    app.add_watchlist("w", GOOD);
    let (code, out, err) = run(&app, &["mail", "test"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for step in [
        "to fg@example.org",
        "connected to 127.0.0.1:",
        "accepted by 127.0.0.1:",
    ] {
        assert!(out.contains(step), "{step} in:\n{out}");
    }
    let m = smtp_server.messages();
    assert_eq!(m.len(), 1);
    let parsed = smtp::parse(&m[0]);
    assert_eq!(parsed.header("Subject"), "veille: test message");

    // An address given, and the file transport: written to the outbox.
    let app = TestApp::new(TestServer::start_background(), Vec::new());
    let (code, out, err) = run(&app, &["mail", "test", "someone@example.org"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("written to the outbox"), "{out}");
    assert_eq!(app.outbox().len(), 1);
}

#[test]
fn mail_test_to_a_closed_port_names_the_host_and_the_step() {
    let mut app = TestApp::new(TestServer::start_background(), Vec::new());
    let port = free_port();
    app.use_smtp(port);
    let (code, out, err) = run(&app, &["mail", "test", "someone@example.org"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let line = err
        .lines()
        .find(|l| l.contains("FAILED"))
        .unwrap_or_default();
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(line.contains("\"connect\""), "{err}");
    assert!(!out.contains("accepted"), "{out}");

    // Without the password it does not start.
    app.mail.push_str("username = \"veille\"\n");
    app.write_config();
    let (code, _, err) = run(&app, &["mail", "test"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("VEILLE_SMTP_PASSWORD"), "{err}");
}
