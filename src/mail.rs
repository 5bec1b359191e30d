//! Mail delivery: the only lettre user. Turns an [`OutgoingMessage`] (already rendered)
//! into a multipart/alternative UTF-8 message with a deterministic `Message-ID`, a
//! per-watchlist `List-Id` and `Auto-Submitted: auto-generated`, and delivers it either
//! over SMTP (STARTTLS required, implicit TLS, or plain to a loopback relay only; pooled
//! connections; every send bounded by the configured timeout) or into a file outbox (one
//! `.eml` per message, written atomically, the same message id overwriting the same file).
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
use lettre::transport::smtp::client::{Tls, TlsParameters};
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
    #[error("message {message_id} to {host}:{port}: {source}")]
    Smtp {
        message_id: String,
        host: String,
        port: u16,
        transient: bool,
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
        authenticated: bool,
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
                authenticated,
                timeout,
                ..
            } => f
                .debug_struct("Mailer")
                .field("host", host)
                .field("port", port)
                .field("security", security)
                .field("authenticated", authenticated)
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
                let tls_params = || {
                    TlsParameters::new(host.clone()).map_err(|e| MailError::TlsSetup {
                        host: host.clone(),
                        reason: e.to_string(),
                    })
                };
                let tls = match s.security {
                    Security::StartTls => Tls::Required(tls_params()?),
                    Security::Tls => Tls::Wrapper(tls_params()?),
                    Security::None if is_loopback(&host) => Tls::None,
                    Security::None => return Err(MailError::InsecureRemote { host }),
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
                let authenticated = s.username.is_some();
                if let Some(user) = s.username {
                    let password = s
                        .password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user, password));
                }
                Inner::Smtp {
                    builder: Box::new(builder),
                    pool: OnceLock::new(),
                    host,
                    port: s.port,
                    security: s.security,
                    authenticated,
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
                send_smtp(transport, message, message_id, host, *port, *timeout).await
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

impl Mailer {
    /// Send one message step by step (`veille mail test`), calling `step` with each step
    /// reached: connected, TLS, authenticated, accepted (or written to the outbox).
    pub async fn test_send(
        &self,
        m: &OutgoingMessage,
        step: &mut dyn FnMut(String),
    ) -> Result<(), TestFailure> {
        let fail = |step: &'static str, server: &str, error: String| TestFailure {
            step,
            server: server.to_string(),
            error,
        };
        let message =
            build_message(m).map_err(|e| fail("building the message", "-", e.to_string()))?;
        let message_id = sanitize_message_id(&m.message_id);
        let (builder, host, port, security, authenticated, timeout) = match &*self.inner {
            Inner::File { dir } => {
                let server = format!("outbox {}", dir.display());
                write_outbox(dir, &message_id, message.formatted())
                    .await
                    .map_err(|e| fail("writing the file", &server, e.to_string()))?;
                step(format!(
                    "written to the outbox: {}",
                    dir.join(outbox_file_name(&message_id)).display()
                ));
                return Ok(());
            }
            Inner::Smtp {
                builder,
                host,
                port,
                security,
                authenticated,
                timeout,
                ..
            } => (builder, host, *port, *security, *authenticated, *timeout),
        };
        let server = format!("SMTP server {host}:{port}");
        match tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Err(_) => {
                return Err(fail(
                    "connect",
                    &server,
                    format!("no answer within {timeout:?}"),
                ))
            }
            Ok(Err(e)) => return Err(fail("connect", &server, e.to_string())),
            Ok(Ok(_)) => step(format!("connected to {host}:{port}")),
        }
        let transport = (**builder).clone().build();
        let session = match security {
            Security::StartTls => "greeting, STARTTLS",
            Security::Tls => "TLS handshake, greeting",
            Security::None => "greeting (EHLO)",
        };
        match tokio::time::timeout(timeout, transport.test_connection()).await {
            Err(_) => {
                return Err(fail(
                    session,
                    &server,
                    format!("no answer within {timeout:?}"),
                ))
            }
            Ok(Err(e)) => {
                let text = error_chain(&e);
                let lower = text.to_ascii_lowercase();
                let at = if e.is_tls() || lower.contains("tls") {
                    if security == Security::Tls {
                        "TLS handshake"
                    } else {
                        "STARTTLS"
                    }
                } else if authenticated && (e.is_permanent() || lower.contains("auth")) {
                    "login (AUTH)"
                } else {
                    session
                };
                return Err(fail(at, &server, text));
            }
            Ok(Ok(false)) => {
                return Err(fail(
                    session,
                    &server,
                    "the server did not answer NOOP".into(),
                ))
            }
            Ok(Ok(true)) => {
                match security {
                    Security::StartTls => step("TLS established (STARTTLS)".to_string()),
                    Security::Tls => step("TLS established (implicit TLS)".to_string()),
                    Security::None => step("no TLS (plain SMTP to a loopback relay)".to_string()),
                }
                if authenticated {
                    step("authenticated".to_string());
                }
            }
        }
        match tokio::time::timeout(timeout, transport.send(message)).await {
            Err(_) => Err(fail(
                "sending the message",
                &server,
                format!("no answer within {timeout:?}"),
            )),
            Ok(Err(e)) => Err(fail("sending the message", &server, error_chain(&e))),
            Ok(Ok(_)) => {
                step(format!(
                    "accepted by {host}:{port}: message <{message_id}> to {}",
                    m.to.join(", ")
                ));
                Ok(())
            }
        }
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

/// One SMTP send through the pool, bounded by `timeout` as a whole.
async fn send_smtp(
    pool: &PooledTransport,
    message: Message,
    message_id: String,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), MailError> {
    let host = host.to_string();
    let Some(transport) = pool.transport.as_ref() else {
        return Err(MailError::Build {
            message_id,
            reason: "the SMTP transport was shut down".into(),
        });
    };
    match tokio::time::timeout(timeout, transport.send(message)).await {
        Err(_) => Err(MailError::Timeout {
            message_id,
            host,
            port,
            after: timeout,
        }),
        Ok(Err(e)) => Err(MailError::Smtp {
            message_id,
            host,
            port,
            // 5xx replies and TLS failures will not heal by waiting; a refused
            // connection, a 4xx reply or a dropped line may.
            transient: !(e.is_permanent() || e.is_tls()),
            source: Box::new(e),
        }),
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
