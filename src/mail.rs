//! Mail delivery: the only lettre user. Turns an [`OutgoingMessage`] (already rendered)
//! into a multipart/alternative UTF-8 message with a deterministic `Message-ID`, a
//! per-watchlist `List-Id` and `Auto-Submitted: auto-generated` (and for a focus group's
//! digests and alerts `Precedence: bulk`, `Reply-To` and `List-Unsubscribe` naming the
//! officer who runs it), and delivers it either
//! over SMTP (STARTTLS required, implicit TLS, or plain to a loopback relay only; pooled
//! connections; every send bounded by the configured timeout) or into a file outbox (one
//! `.eml` per message, written atomically, the same message id overwriting the same file).
//! TLS trusts the bundled or the system's roots plus the operator's CA file
//! (`crate::tls::Trust`). The login (AUTH PLAIN or LOGIN) happens only inside TLS, or over
//! plain SMTP to a loopback relay, where the password never leaves the host. A failure
//! that the operator must fix (a certificate, the login, a relay without STARTTLS) is told
//! in one line naming the server and the key that fixes it ([`MailError::Smtp`]'s cause).
//!
//! Must not: choose recipients or timing, read the configuration (the caller converts it
//! into [`Transport`]), or print a password anywhere ([`Secret`] shows `***`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Tls, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS; refusing to go on without it.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only to a loopback relay.
    None,
}

/// A password: `Debug` and `Display` print `***`; [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where and how to reach the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Authenticate only when set.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bounds every SMTP command and every whole send.
    pub timeout: Duration,
    /// The roots and CA file trusted for the relay's certificate.
    pub trust: crate::tls::Trust,
}

/// Where messages go.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Write one `.eml` file per message into `dir` (the embedded default).
    File {
        dir: PathBuf,
    },
    Smtp(SmtpSettings),
}

/// The environment variable that holds the SMTP password (never the configuration file).
pub const PASSWORD_ENV: &str = "VEILLE_SMTP_PASSWORD";

impl Transport {
    /// SMTP with a username and no password: the commands that only read can run, but
    /// nothing can be sent ([`Mailer::new`] refuses).
    pub fn password_missing(&self) -> bool {
        matches!(self, Transport::Smtp(s) if s.username.is_some() && s.password.is_none())
    }

    /// What to tell the operator when [`Transport::password_missing`].
    pub fn password_missing_message(&self) -> Option<String> {
        match self {
            Transport::Smtp(s) if self.password_missing() => Some(format!(
                "[mail.smtp] username is set for {} but ${PASSWORD_ENV} is empty; the password is read from the environment only",
                s.host
            )),
            _ => None,
        }
    }
}

/// One rendered message for one watchlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// `Veille <veille@example.org>`.
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Derived by the caller from the digest key ([`message_id_for`]), without `<>`.
    pub message_id: String,
    /// The watchlist id.
    pub list_id: String,
    pub date: DateTime<Utc>,
    /// What makes a digest or an alert behave like a list message.
    pub list: ListHeaders,
}

/// The headers of a message sent to a focus group as a list: `Precedence: bulk`, and,
/// when the group names the officer who runs it, `Reply-To` and `List-Unsubscribe`
/// (RFC 2369: a `mailto:` to that officer). `Default`: none of them (`mail test`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListHeaders {
    pub bulk: bool,
    /// The officer's bare address.
    pub contact: Option<String>,
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP host {host:?}: security \"none\" is only allowed to a loopback relay (127.0.0.1, ::1, localhost); use \"starttls\" or \"tls\"")]
    InsecureRemote { host: String },
    #[error("{0}; sending mail needs it")]
    NoPassword(String),
    #[error("SMTP host {host:?}: cannot set up TLS: {reason}")]
    TlsSetup { host: String, reason: String },
    #[error("{field} address {value:?} is invalid: {reason}")]
    Address {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("message {message_id}: has no recipient")]
    NoRecipient { message_id: String },
    #[error("message {message_id}: cannot be built: {reason}")]
    Build { message_id: String, reason: String },
    #[error("message {message_id} to {host}:{port}: {}", with_cause(cause.as_deref(), source.as_ref()))]
    Smtp {
        message_id: String,
        host: String,
        port: u16,
        transient: bool,
        /// What the operator must fix, in one line naming the server and the key, when
        /// the failure is one veille recognises ([`explain`]).
        cause: Option<String>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("message {message_id} to {host}:{port}: no answer within {after:?}")]
    Timeout {
        message_id: String,
        host: String,
        port: u16,
        after: Duration,
    },
    #[error("outbox file {path}: {source}")]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Between a recognised cause and lettre's own words in a [`MailError::Smtp`] text; what
/// precedes it is the short cause `veille status` shows (`view::cause::of_mail_error`).
pub const CAUSE_SEPARATOR: &str = " — ";

fn with_cause(cause: Option<&str>, source: &(dyn std::error::Error + Send + Sync)) -> String {
    match cause {
        Some(c) => format!("{c}{CAUSE_SEPARATOR}{source}"),
        None => source.to_string(),
    }
}

impl MailError {
    /// Whether trying again later may succeed (server down, timeout, 4xx reply, full
    /// disk), as opposed to a configuration or message problem (5xx, bad address, TLS).
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Smtp { transient, .. } => *transient,
            MailError::Timeout { .. } | MailError::Outbox { .. } => true,
            MailError::InsecureRemote { .. }
            | MailError::TlsSetup { .. }
            | MailError::NoPassword(_)
            | MailError::Address { .. }
            | MailError::NoRecipient { .. }
            | MailError::Build { .. } => false,
        }
    }
}

/// A deterministic Message-ID (without `<>`) for a digest key: the same key gives the
/// same id, so a duplicate sent after a crash can be folded by mail clients.
pub fn message_id_for(key: &str, from_domain: &str) -> String {
    let hash = blake3::hash(key.as_bytes()).to_hex();
    let domain = domain_part(from_domain);
    format!("{}@veille.{domain}", &hash.as_str()[..32])
}

/// The domain of the sender (`Veille <veille@example.org>` → `example.org`), for
/// [`message_id_for`].
pub fn sender_domain(from: &str) -> Result<String, MailError> {
    Ok(domain_part(mailbox("From", from)?.email.domain()))
}

/// Keep what a domain may hold; `example.org` stays, anything odd becomes `invalid`.
fn domain_part(s: &str) -> String {
    let d: String = s
        .trim()
        .trim_end_matches('.')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect::<String>()
        .to_ascii_lowercase();
    if d.is_empty() {
        "invalid".to_string()
    } else {
        d
    }
}

/// Keep the characters of an RFC 5322 `id-left@id-right`.
fn sanitize_message_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.@".contains(*c))
        .collect()
}

/// One line with no control characters: what a subject or display name may carry.
use crate::text::one_line;

/// Parse `Name <user@domain>` or `user@domain`, sanitising the display name first
/// (lettre panics on a name containing CR/LF).
fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, MailError> {
    let bad = |reason: String| MailError::Address {
        field,
        value: one_line(value),
        reason,
    };
    let v = value.trim();
    let (name, addr) = match (v.rfind('<'), v.ends_with('>')) {
        (Some(open), true) => (Some(&v[..open]), &v[open + 1..v.len() - 1]),
        _ => (None, v),
    };
    let address: Address = addr.trim().parse().map_err(|e| bad(format!("{e}")))?;
    let name = name
        .map(|n| one_line(n).trim_matches('"').trim().to_string())
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, address))
}

/// `List-Id: <{id}.veille.{domain}>` (RFC 2919).
#[derive(Debug, Clone)]
struct ListId(String);

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListId(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no vacation replies to a digest.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// Headers whose values veille writes in ASCII (`Precedence`, `List-Unsubscribe`).
macro_rules! plain_header {
    ($ty:ident, $name:literal) => {
        #[derive(Debug, Clone)]
        struct $ty(String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($ty(s.to_string()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

plain_header!(Precedence, "Precedence");
plain_header!(ListUnsubscribe, "List-Unsubscribe");

/// `<mailto:officer@example.org?subject=unsubscribe%20air-quality>` (RFC 2369, RFC 6068).
fn list_unsubscribe(contact: &str, list_id: &str) -> String {
    format!(
        "<mailto:{}?subject=unsubscribe%20{}>",
        contact.trim(),
        list_label(list_id)
    )
}

/// A list identifier label: lowercase letters, digits and `-`.
fn list_label(id: &str) -> String {
    let l: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let l = l.trim_matches('-').to_string();
    if l.is_empty() {
        "watchlist".to_string()
    } else {
        l
    }
}

/// The message as it is sent, and as an outbox file holds it.
pub fn formatted(m: &OutgoingMessage) -> Result<Vec<u8>, MailError> {
    Ok(build_message(m)?.formatted())
}

/// Build the MIME message: multipart/alternative, text then HTML, UTF-8.
fn build_message(m: &OutgoingMessage) -> Result<Message, MailError> {
    let message_id = sanitize_message_id(&m.message_id);
    if m.to.is_empty() {
        return Err(MailError::NoRecipient { message_id });
    }
    let from = mailbox("From", &m.from)?;
    let domain = domain_part(from.email.domain());
    let mut builder = Message::builder()
        .from(from)
        .subject(one_line(&m.subject))
        .date(SystemTime::from(m.date))
        .message_id(Some(format!("<{message_id}>")))
        .header(ListId(format!(
            "<{}.veille.{domain}>",
            list_label(&m.list_id)
        )))
        .header(AutoSubmitted);
    if m.list.bulk {
        builder = builder.header(Precedence("bulk".to_string()));
    }
    if let Some(contact) = &m.list.contact {
        builder = builder
            .reply_to(mailbox("Reply-To", contact)?)
            .header(ListUnsubscribe(list_unsubscribe(contact, &m.list_id)));
    }
    for to in &m.to {
        builder = builder.to(mailbox("To", to)?);
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(body(&m.text)))
                .singlepart(SinglePart::html(body(&m.html))),
        )
        .map_err(|e| MailError::Build {
            message_id,
            reason: e.to_string(),
        })
}

/// The MIME body of `text`, byte for byte the one `lettre::message::Body::new` makes, in
/// linear time. lettre converts line endings to CRLF by inserting each CR into the string
/// in place, moving the rest of the body every time: the message of a digest of 20,000
/// events (3.5 MB of text and HTML) took 10 s of CPU. Here the endings are converted in
/// one pass; the transfer encoding is chosen as lettre chooses it, on the text before the
/// conversion (whose CRs would otherwise count as characters to escape, and lengthen
/// lines); lettre then has no CR to insert.
fn body(text: &str) -> Body {
    use email_encoding::body::Encoding;
    use lettre::message::header::ContentTransferEncoding as Cte;
    let crlf = crlf_line_endings(text);
    let encoding = match Encoding::choose(text, false) {
        // 7bit and 8bit bodies are their bytes, as `Body::new` leaves them.
        Encoding::SevenBit => return Body::dangerous_pre_encoded(crlf.into_bytes(), Cte::SevenBit),
        Encoding::EightBit => return Body::dangerous_pre_encoded(crlf.into_bytes(), Cte::EightBit),
        Encoding::QuotedPrintable => Cte::QuotedPrintable,
        Encoding::Base64 => Cte::Base64,
    };
    // Never refused: only 7bit and 8bit can be.
    Body::new_with_encoding(crlf, encoding).unwrap_or_else(|_| Body::new(text.to_string()))
}

/// `text` with every line ending a CRLF: a bare LF gains its CR; CRLF and a bare CR stay
/// as they are (lettre's rule).
fn crlf_line_endings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut rest = text;
    while let Some(lf) = rest.find('\n') {
        out.push_str(&rest[..lf]);
        if !out.ends_with('\r') {
            out.push('\r');
        }
        out.push('\n');
        rest = &rest[lf + 1..];
    }
    out.push_str(rest);
    out
}

/// Delivers messages; cheap to clone (the SMTP pool is shared). `new` needs no runtime;
/// `send` must run inside a Tokio runtime (the pool is created there on first use); a
/// `Mailer` may be dropped anywhere, even after its runtime is gone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

enum Inner {
    File {
        dir: PathBuf,
    },
    Smtp {
        /// Built on first use: lettre's pool spawns its reaper on the current Tokio
        /// runtime, so it cannot be created outside one.
        builder: Box<AsyncSmtpTransportBuilder>,
        pool: OnceLock<PooledTransport>,
        host: String,
        port: u16,
        security: Security,
        /// Who logs in (AUTH), when anyone does.
        username: Option<String>,
        /// For `mail test`, which runs each step itself: the TLS parameters (STARTTLS or
        /// implicit TLS) and the login.
        tls: Option<TlsParameters>,
        credentials: Option<Credentials>,
        timeout: Duration,
    },
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Inner::File { dir } => f.debug_struct("Mailer").field("outbox", dir).finish(),
            Inner::Smtp {
                host,
                port,
                security,
                username,
                timeout,
                ..
            } => f
                .debug_struct("Mailer")
                .field("host", host)
                .field("port", port)
                .field("security", security)
                .field("username", username)
                .field("timeout", timeout)
                .finish(),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Mailer {
    /// Set up delivery. No connection is made yet; a plain SMTP connection to a host
    /// that is not loopback is refused here.
    pub fn new(t: Transport) -> Result<Self, MailError> {
        if let Some(m) = t.password_missing_message() {
            return Err(MailError::NoPassword(m));
        }
        let inner = match t {
            Transport::File { dir } => Inner::File { dir },
            Transport::Smtp(s) => {
                let host = s.host.trim().to_string();
                // lettre: `Required` refuses to go on (and so to log in) when the relay
                // does not offer STARTTLS; `Wrapper` is TLS from the first byte. Only
                // plain SMTP logs in without TLS, and it is allowed to loopback only.
                let params = match s.security {
                    Security::None if is_loopback(&host) => None,
                    Security::None => return Err(MailError::InsecureRemote { host }),
                    Security::StartTls | Security::Tls => Some(tls_parameters(&host, &s.trust)?),
                };
                let tls = match (s.security, params.clone()) {
                    (Security::StartTls, Some(p)) => Tls::Required(p),
                    (Security::Tls, Some(p)) => Tls::Wrapper(p),
                    _ => Tls::None,
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                    .port(s.port)
                    .tls(tls)
                    .timeout(Some(s.timeout))
                    .pool_config(
                        PoolConfig::new()
                            .max_size(4)
                            .idle_timeout(Duration::from_secs(60)),
                    );
                let username = s.username.clone();
                let credentials = s.username.map(|user| {
                    let password = s
                        .password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default();
                    Credentials::new(user, password)
                });
                if let Some(c) = &credentials {
                    builder = builder.credentials(c.clone());
                }
                Inner::Smtp {
                    builder: Box::new(builder),
                    pool: OnceLock::new(),
                    host,
                    port: s.port,
                    security: s.security,
                    username,
                    tls: params,
                    credentials,
                    timeout: s.timeout,
                }
            }
        };
        Ok(Mailer {
            inner: Arc::new(inner),
        })
    }

    /// Deliver one message. Ok means the SMTP server accepted it (or the outbox file is
    /// in place); errors say whether a retry may help ([`MailError::is_transient`]).
    pub async fn send(&self, m: &OutgoingMessage) -> Result<(), MailError> {
        let message = build_message(m)?;
        let message_id = sanitize_message_id(&m.message_id);
        match &*self.inner {
            Inner::File { dir } => write_outbox(dir, &message_id, message.formatted()).await,
            Inner::Smtp {
                builder,
                pool,
                host,
                port,
                security,
                username,
                timeout,
                ..
            } => {
                let transport = match pool.get() {
                    Some(p) => p,
                    None => {
                        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
                            MailError::Build {
                                message_id: message_id.clone(),
                                reason: "SMTP delivery must run inside a Tokio runtime".into(),
                            }
                        })?;
                        pool.get_or_init(|| PooledTransport {
                            transport: Some((**builder).clone().build()),
                            handle,
                        })
                    }
                };
                let target = Target {
                    host,
                    port: *port,
                    security: *security,
                    username: username.as_deref(),
                    timeout: *timeout,
                };
                send_smtp(transport, message, message_id, target).await
            }
        }
    }
}

/// Where `veille mail test` stopped: the step, the server, and the error.
#[derive(Debug, thiserror::Error)]
#[error("{server}: failed at the step \"{step}\": {error}")]
pub struct TestFailure {
    pub step: &'static str,
    pub server: String,
    pub error: String,
}

/// The TLS parameters for `host`: the chosen roots plus the CA file's certificates.
fn tls_parameters(host: &str, trust: &crate::tls::Trust) -> Result<TlsParameters, MailError> {
    let setup = |e: &dyn std::error::Error| MailError::TlsSetup {
        host: host.to_string(),
        reason: error_chain(e),
    };
    let store = match trust.roots {
        crate::tls::Roots::Bundled => CertificateStore::WebpkiRoots,
        crate::tls::Roots::System => CertificateStore::Default,
    };
    let mut builder = TlsParameters::builder(host.to_string()).certificate_store(store);
    for der in trust.extra_certs() {
        builder = builder
            .add_root_certificate(Certificate::from_der(der.clone()).map_err(|e| setup(&e))?);
    }
    builder.build_rustls().map_err(|e| setup(&e))
}

/// The one line an operator needs for a failure veille recognises, naming the server and
/// what fixes it: a refused certificate, a relay without STARTTLS, a refused login, a
/// relay that wants one, a failed TLS handshake. `None` for the rest (outages, refusals of
/// the message), which lettre's words describe well enough.
fn explain(
    e: &lettre::transport::smtp::Error,
    host: &str,
    port: u16,
    security: Security,
    username: Option<&str>,
) -> Option<String> {
    let server = format!("{host}:{port}");
    if let Some(problem) = crate::tls::CertProblem::find(e) {
        return Some(problem.explain(&server, "mail.smtp.ca_file", "mail.smtp.host"));
    }
    let text = error_chain(e);
    if text.contains("STARTTLS is not supported") {
        return Some(format!(
            "the mail server {server} does not offer STARTTLS, so nothing was sent (no login, no mail in clear text); set mail.smtp.security = \"tls\" with its TLS port (465), or use a relay that offers STARTTLS"
        ));
    }
    if text.contains("No compatible authentication mechanism") {
        return Some(format!(
            "the mail server {server} offers no login veille can use (AUTH PLAIN or LOGIN); check mail.smtp.username, or remove it if this relay needs no login"
        ));
    }
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    match (code.as_str(), username) {
        ("535", Some(user)) | ("534", Some(user)) => {
            return Some(format!(
                "the mail server {server} refused the login of user {user:?} ({code}); check mail.smtp.username and ${PASSWORD_ENV}"
            ))
        }
        ("530", None) => {
            return Some(format!(
                "the mail server {server} requires a login ({code}); set mail.smtp.username and ${PASSWORD_ENV}"
            ))
        }
        _ => {}
    }
    let lower = text.to_ascii_lowercase();
    let handshake = lower.contains("corrupt message")
        || lower.contains("handshake")
        || lower.contains("alert")
        || lower.contains("invalidcontenttype");
    if handshake && security != Security::None {
        let hint = match security {
            Security::Tls => "is the port the relay's implicit-TLS port (465)? for 587 set mail.smtp.security = \"starttls\"",
            _ => "check mail.smtp.port and mail.smtp.security",
        };
        return Some(format!(
            "TLS handshake with the mail server {server} failed; {hint}"
        ));
    }
    None
}

/// What `veille mail test` needs of an SMTP mailer.
struct Session<'a> {
    host: &'a str,
    port: u16,
    security: Security,
    tls: Option<&'a TlsParameters>,
    credentials: Option<&'a Credentials>,
    username: Option<&'a str>,
    timeout: Duration,
}

impl Mailer {
    /// Send one message step by step (`veille mail test`), calling `step` with each step
    /// reached: connected, TLS established and the certificate verified, authenticated,
    /// accepted (or written to the outbox). Each step is its own SMTP exchange, so a
    /// failure names the one that failed.
    pub async fn test_send(
        &self,
        m: &OutgoingMessage,
        step: &mut dyn FnMut(String),
    ) -> Result<(), TestFailure> {
        let message = build_message(m).map_err(|e| TestFailure {
            step: "building the message",
            server: "-".into(),
            error: e.to_string(),
        })?;
        let message_id = sanitize_message_id(&m.message_id);
        let session = match &*self.inner {
            Inner::File { dir } => {
                write_outbox(dir, &message_id, message.formatted())
                    .await
                    .map_err(|e| TestFailure {
                        step: "writing the file",
                        server: format!("outbox {}", dir.display()),
                        error: e.to_string(),
                    })?;
                step(format!(
                    "written to the outbox: {}",
                    dir.join(outbox_file_name(&message_id)).display()
                ));
                return Ok(());
            }
            Inner::Smtp {
                host,
                port,
                security,
                tls,
                credentials,
                username,
                timeout,
                ..
            } => Session {
                host,
                port: *port,
                security: *security,
                tls: tls.as_ref(),
                credentials: credentials.as_ref(),
                username: username.as_deref(),
                timeout: *timeout,
            },
        };
        session.run(&message, &message_id, &m.to, step).await
    }
}

impl Session<'_> {
    /// `what` within the timeout; a failure becomes the step's [`TestFailure`].
    async fn step<T>(
        &self,
        name: &'static str,
        what: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, TestFailure> {
        let error = match tokio::time::timeout(self.timeout, what).await {
            Ok(Ok(v)) => return Ok(v),
            Err(_) => format!("no answer within {:?}", self.timeout),
            Ok(Err(e)) => explain(&e, self.host, self.port, self.security, self.username)
                .unwrap_or_else(|| error_chain(&e)),
        };
        Err(TestFailure {
            step: name,
            server: format!("SMTP server {}:{}", self.host, self.port),
            error,
        })
    }

    async fn run(
        &self,
        message: &Message,
        message_id: &str,
        to: &[String],
        step: &mut dyn FnMut(String),
    ) -> Result<(), TestFailure> {
        let (host, port) = (self.host, self.port);
        let tcp = tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect((host, port)));
        let refused = match tcp.await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {:?}", self.timeout)),
        };
        if let Some(error) = refused {
            return Err(TestFailure {
                step: "connect",
                server: format!("SMTP server {host}:{port}"),
                error,
            });
        }
        step(format!("connected to {host}:{port}"));
        let hello = ClientId::default();
        let wrapped = match self.security {
            Security::Tls => self.tls.cloned(),
            _ => None,
        };
        let first = if wrapped.is_some() {
            "TLS handshake"
        } else {
            "greeting (EHLO)"
        };
        let connect = AsyncSmtpConnection::connect_tokio1(
            (host, port),
            Some(self.timeout),
            &hello,
            wrapped,
            None,
        );
        let mut conn = self.step(first, connect).await?;
        match (self.security, self.tls) {
            (Security::StartTls, Some(tls)) => {
                self.step("STARTTLS", conn.starttls(tls.clone(), &hello))
                    .await?;
                step(format!(
                    "TLS established (STARTTLS); the certificate of {host} is trusted"
                ));
            }
            (Security::Tls, _) => step(format!(
                "TLS established (implicit TLS); the certificate of {host} is trusted"
            )),
            _ => step("no TLS (plain SMTP to a loopback relay)".to_string()),
        }
        if let Some(credentials) = self.credentials {
            let mechanisms = lettre::transport::smtp::authentication::DEFAULT_MECHANISMS;
            self.step("login (AUTH)", conn.auth(mechanisms, credentials))
                .await?;
            step(format!(
                "authenticated as {:?}",
                self.username.unwrap_or_default()
            ));
        }
        let bytes = message.formatted();
        self.step("sending the message", conn.send(message.envelope(), &bytes))
            .await?;
        step(format!(
            "accepted by {host}:{port}: message <{message_id}> to {}",
            to.join(", ")
        ));
        let _ = tokio::time::timeout(self.timeout, conn.quit()).await;
        Ok(())
    }
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Where a pooled send goes, for its errors.
struct Target<'a> {
    host: &'a str,
    port: u16,
    security: Security,
    username: Option<&'a str>,
    timeout: Duration,
}

/// One SMTP send through the pool, bounded by `timeout` as a whole.
async fn send_smtp(
    pool: &PooledTransport,
    message: Message,
    message_id: String,
    to: Target<'_>,
) -> Result<(), MailError> {
    let host = to.host.to_string();
    let port = to.port;
    let Some(transport) = pool.transport.as_ref() else {
        return Err(MailError::Build {
            message_id,
            reason: "the SMTP transport was shut down".into(),
        });
    };
    match tokio::time::timeout(to.timeout, transport.send(message)).await {
        Err(_) => Err(MailError::Timeout {
            message_id,
            host,
            port,
            after: to.timeout,
        }),
        Ok(Err(e)) => {
            let cause = explain(&e, to.host, port, to.security, to.username);
            Err(MailError::Smtp {
                message_id,
                host,
                port,
                // 5xx replies, TLS failures and what the operator must fix will not heal
                // by waiting; a refused connection, a 4xx reply or a dropped line may.
                transient: !(e.is_permanent() || e.is_tls() || cause.is_some()),
                cause,
                source: Box::new(e),
            })
        }
        Ok(Ok(_)) => {
            tracing::debug!(message_id = %message_id, host = %host, "mail accepted");
            Ok(())
        }
    }
}

/// lettre's SMTP pool and the runtime it was created on. lettre spawns a task when the
/// pool is dropped, which panics outside a Tokio runtime: drop it inside the runtime it
/// was made on (a no-op task if that runtime is already gone).
struct PooledTransport {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    handle: tokio::runtime::Handle,
}

impl Drop for PooledTransport {
    fn drop(&mut self) {
        if let Some(t) = self.transport.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                drop(t);
            } else {
                let _guard = self.handle.enter();
                drop(t);
            }
        }
    }
}

/// The outbox file name for a message id: safe characters only, `.eml`.
pub fn outbox_file_name(message_id: &str) -> String {
    let stem: String = sanitize_message_id(message_id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.');
    format!("{}.eml", if stem.is_empty() { "message" } else { stem })
}

/// Write `bytes` to `dir/{id}.eml` through a temporary file in the same directory, synced
/// then renamed: a crash leaves either the old file, the new one, or a `.tmp` to ignore.
async fn write_outbox(dir: &Path, message_id: &str, bytes: Vec<u8>) -> Result<(), MailError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = dir.to_path_buf();
    let name = outbox_file_name(message_id);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let target = dir.join(&name);
    let task = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MailError::Outbox { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(err(&dir))?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(&tmp)(e));
        }
        if let Err(e) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(&target)(e));
        }
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        tracing::debug!(path = %target.display(), "mail written to outbox");
        Ok(())
    });
    match task.await {
        Ok(r) => r,
        Err(e) => Err(MailError::Outbox {
            path: PathBuf::from(name),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_deterministic() {
        let a = message_id_for("procurement/2026-W48", "example.org");
        assert_eq!(a, message_id_for("procurement/2026-W48", "example.org"));
        assert_ne!(a, message_id_for("procurement/2026-W49", "example.org"));
        assert!(a.ends_with("@veille.example.org"), "{a}");
        assert!(!a.contains('<'));
    }

    #[test]
    fn display_names_lose_line_breaks() {
        let m = mailbox("From", "Evil\r\nBcc: x@evil.test <veille@example.org>")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.name.as_deref(), Some("Evil Bcc: x@evil.test"));
        assert!(matches!(
            mailbox("To", "not an address"),
            Err(MailError::Address { field: "To", .. })
        ));
    }

    #[test]
    fn sender_domain_and_recipients() {
        assert_eq!(
            sender_domain("Veille <veille@Example.ORG>").ok().as_deref(),
            Some("example.org")
        );
        assert!(sender_domain("nobody").is_err());
        let m = OutgoingMessage {
            from: "Veille <veille@example.org>".into(),
            to: vec![],
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            message_id: "x@veille.example.org".into(),
            list_id: "l".into(),
            date: DateTime::<Utc>::UNIX_EPOCH,
            list: ListHeaders::default(),
        };
        assert!(matches!(
            build_message(&m),
            Err(MailError::NoRecipient { .. })
        ));
    }

    /// A body's transfer encoding and bytes.
    fn encoded(b: Body) -> (String, Vec<u8>) {
        (format!("{:?}", b.encoding()), b.into_vec())
    }

    #[test]
    fn bodies_as_lettre_makes_them() {
        let long = format!("{}\n", "x".repeat(75));
        let short = format!("{}\n", "x".repeat(74));
        for text in [
            "",
            "\n",
            "a\nb\r\nc\rd\n\n",
            "\r\n\r\r\n\n\r",
            "déjà vu\nà la ligne",
            "Η Επιτροπή\nπρότεινε",
            &long,
            &short,
            &long.repeat(3),
        ] {
            assert_eq!(
                encoded(body(text)),
                encoded(Body::new(text.to_string())),
                "{text:?}"
            );
            assert!(!crlf_line_endings(text).replace("\r\n", "").contains('\n'));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_body_as_lettre_makes_it(text in "([a-zé€Ω =]{0,40}[\r\n]{0,3}){0,12}") {
            proptest::prop_assert_eq!(encoded(body(&text)), encoded(Body::new(text)));
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "127.0.0.2",
            "LOCALHOST.",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["smtp.example.org", "10.0.0.1", "localhost.example.org", ""] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn outbox_names_are_safe() {
        assert_eq!(outbox_file_name("<ab/../c@x.org>"), "ab_.._c@x.org.eml");
        assert_eq!(outbox_file_name("..."), "message.eml");
    }
}
