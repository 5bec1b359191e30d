//! Mail delivery against a real SMTP server (aiosmtpd, see `support::smtp`) and the file
//! outbox: structure and headers of a sent digest, sanitised headers, refusal of plain
//! SMTP to a remote host, an SMTP outage, atomic `.eml` files, and a password that is
//! never printed.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use veille::digest;
use veille::mail::{
    message_id_for, outbox_file_name, MailError, Mailer, OutgoingMessage, Secret, Security,
    SmtpSettings, Transport,
};
use veille::model::Language;

use crate::support::smtp::{self, SmtpServer};

const PASSWORD: &str = "hunter2-Zq9!secret";

fn plain(server: &SmtpServer) -> SmtpSettings {
    SmtpSettings {
        host: server.host().into(),
        port: server.port(),
        security: Security::None,
        username: None,
        password: None,
        timeout: Duration::from_secs(10),
        trust: Default::default(),
    }
}

fn smtp_mailer(settings: SmtpSettings) -> Mailer {
    Mailer::new(Transport::Smtp(settings)).unwrap_or_else(|e| panic!("{e}"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A rendered French digest for "Marchés publics", as the digest job would send it.
fn message(key: &str) -> OutgoingMessage {
    let mut req = crate::digest::request(Language::Fr);
    req.watchlist_id = "marches-publics";
    req.watchlist_name = "Marchés publics et concessions";
    let rendered = digest::render(&digest::build(req)).unwrap_or_else(|e| panic!("{e}"));
    OutgoingMessage {
        from: "Veille <veille@example.org>".into(),
        to: vec!["Groupe marchés <focus-group-procurement@example.org>".into()],
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        message_id: message_id_for(key, "example.org"),
        list_id: "marches-publics".into(),
        list: Default::default(),
        date: Utc
            .with_ymd_and_hms(2022, 10, 24, 6, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("date")),
    }
}

#[test]
fn digest_arrives_once_as_multipart_alternative_with_headers() {
    let server = SmtpServer::start();
    let mailer = smtp_mailer(plain(&server));
    let m = message("marches-publics/2022-10-24");
    rt().block_on(mailer.send(&m))
        .unwrap_or_else(|e| panic!("{e}"));

    let raw = server.messages();
    assert_eq!(raw.len(), 1, "exactly one message delivered");
    let mail = smtp::parse(&raw[0]);
    assert_eq!(mail.content_type, "multipart/alternative");
    let types: Vec<&str> = mail.parts.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(
        types,
        vec!["text/plain", "text/html"],
        "text first, then HTML"
    );
    for p in &mail.parts {
        assert_eq!(p.charset.as_deref(), Some("utf-8"));
    }
    assert!(mail.parts[0]
        .body
        .contains("Déploiement d’une infrastructure"));
    assert!(mail.parts[1].body.contains("<html lang=\"fr\">"));

    assert_eq!(
        mail.header("Subject"),
        "[veille] Marchés publics et concessions : 3 nouveautés (semaine du 17 octobre 2022)"
    );
    assert_eq!(mail.header("Message-ID"), format!("<{}>", m.message_id));
    assert!(m.message_id.ends_with("@veille.example.org"));
    assert_eq!(
        mail.header("List-Id"),
        "<marches-publics.veille.example.org>"
    );
    assert_eq!(mail.header("Auto-Submitted"), "auto-generated");
    assert!(
        mail.header("Date").contains("24 Oct 2022 06:00:00"),
        "{}",
        mail.header("Date")
    );
    assert_eq!(mail.header("From"), "Veille <veille@example.org>");
    assert_eq!(
        mail.header("To"),
        "Groupe marchés <focus-group-procurement@example.org>"
    );
    assert_eq!(mail.header("MIME-Version"), "1.0");
}

#[test]
fn hostile_subject_and_display_names_are_sanitised() {
    let server = SmtpServer::start();
    let mailer = smtp_mailer(plain(&server));
    let mut m = message("hostile");
    m.from = "Veille\r\nBcc: victim@evil.test <veille@example.org>".into();
    m.to = vec!["Focus\r\nX-Injected: 1\r\n <focus@example.org>".into()];
    m.subject = "Weekly\r\nBcc: victim@evil.test\r\n\r\nbody".into();
    m.list_id = "Marchés publics\r\n".into();
    rt().block_on(mailer.send(&m))
        .unwrap_or_else(|e| panic!("{e}"));

    let raw = server.messages();
    assert_eq!(raw.len(), 1);
    let mail = smtp::parse(&raw[0]);
    assert!(mail.all("Bcc").is_empty(), "{:?}", mail.headers);
    assert!(mail.all("X-Injected").is_empty(), "{:?}", mail.headers);
    assert_eq!(mail.header("Subject"), "Weekly Bcc: victim@evil.test body");
    assert_eq!(
        mail.header("From"),
        "\"Veille Bcc: victim@evil.test\" <veille@example.org>"
    );
    assert_eq!(
        mail.header("To"),
        "\"Focus X-Injected: 1\" <focus@example.org>"
    );
    assert_eq!(
        mail.header("List-Id"),
        "<march-s-publics.veille.example.org>"
    );
    // The envelope went to the one real recipient only (aiosmtpd records it).
    assert_eq!(mail.header("X-RcptTo"), "focus@example.org");
}

#[test]
fn plain_smtp_to_a_remote_host_is_refused() {
    let settings = SmtpSettings {
        host: "smtp.example.org".into(),
        port: 25,
        security: Security::None,
        username: Some("veille".into()),
        password: Some(Secret::new(PASSWORD)),
        timeout: Duration::from_secs(5),
        trust: Default::default(),
    };
    let err = Mailer::new(Transport::Smtp(settings))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, MailError::InsecureRemote { ref host } if host == "smtp.example.org"));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

#[test]
fn smtp_outage_is_a_transient_error_then_recovers() {
    let mut server = SmtpServer::start();
    let mut settings = plain(&server);
    settings.timeout = Duration::from_secs(5);
    let mailer = smtp_mailer(settings);
    let rt = rt();
    // A first message puts a connection in the pool.
    rt.block_on(mailer.send(&message("outage/1")))
        .unwrap_or_else(|e| panic!("{e}"));

    server.stop();
    let err = rt
        .block_on(mailer.send(&message("outage/2")))
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        matches!(err, MailError::Smtp { .. } | MailError::Timeout { .. }),
        "{err:?}"
    );

    server.restart();
    rt.block_on(mailer.send(&message("outage/2")))
        .unwrap_or_else(|e| panic!("after restart: {e}"));
    let ids: Vec<String> = server
        .messages()
        .iter()
        .map(|raw| smtp::parse(raw).header("Message-ID").to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&format!("<{}>", message_id_for("outage/2", "example.org"))));
}

#[test]
fn a_server_that_never_answers_gives_a_transient_error_not_a_hang() {
    // Connections complete in the kernel backlog, but no greeting ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = silent
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let mailer = smtp_mailer(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: None,
        password: None,
        timeout: Duration::from_secs(1),
        trust: Default::default(),
    });
    let err = rt()
        .block_on(mailer.send(&message("silent")))
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    drop(silent);
}

#[test]
fn starttls_is_required_not_opportunistic() {
    // aiosmtpd here offers no STARTTLS: the mailer must refuse to go on in clear.
    let server = SmtpServer::start();
    let mut settings = plain(&server);
    settings.security = Security::StartTls;
    settings.username = Some("veille".into());
    settings.password = Some(Secret::new(PASSWORD));
    let mailer = smtp_mailer(settings);
    let err = rt()
        .block_on(mailer.send(&message("starttls")))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, MailError::Smtp { .. }), "{err:?}");
    assert!(server.messages().is_empty());
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

#[test]
fn file_outbox_writes_one_parseable_eml_atomically_and_idempotently() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("outbox/new");
    let mailer =
        Mailer::new(Transport::File { dir: dir.clone() }).unwrap_or_else(|e| panic!("{e}"));
    let rt = rt();
    let mut m = message("marches-publics/2022-10-24");
    rt.block_on(mailer.send(&m))
        .unwrap_or_else(|e| panic!("{e}"));
    m.text.push_str("\nsecond rendering\n");
    rt.block_on(mailer.send(&m))
        .unwrap_or_else(|e| panic!("{e}"));

    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![outbox_file_name(&m.message_id)],
        "one file, no temp left"
    );
    assert!(names[0].ends_with("@veille.example.org.eml"));
    let raw = std::fs::read(dir.join(&names[0])).unwrap_or_else(|e| panic!("{e}"));
    let mail = smtp::parse(&raw);
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.header("Message-ID"), format!("<{}>", m.message_id));
    assert!(
        mail.parts[0].body.contains("second rendering"),
        "overwritten by the resend"
    );
}

#[test]
fn the_password_is_never_printed() {
    let server = SmtpServer::start();
    let mut settings = plain(&server);
    settings.username = Some("veille".into());
    settings.password = Some(Secret::new(PASSWORD));
    let secret = Secret::new(PASSWORD);
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(format!("{secret:?}"), "***");
    assert_eq!(secret.expose(), PASSWORD);
    let transport = Transport::Smtp(settings.clone());
    let mailer = smtp_mailer(settings.clone());
    let printed = format!("{settings:?} {transport:?} {mailer:?} {:#?}", settings);
    assert!(!printed.contains(PASSWORD), "{printed}");
    assert!(printed.contains("***"));

    // aiosmtpd offers no AUTH: the login fails, and the error does not carry the password.
    let err = rt()
        .block_on(mailer.send(&message("auth")))
        .map(|_| ())
        .unwrap_err();
    let printed = format!("{err} {err:?}");
    assert!(!printed.contains(PASSWORD), "{printed}");
    assert!(server.messages().is_empty());
}
