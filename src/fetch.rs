//! The polite HTTP fetcher: the only user of `reqwest` in veille.
//!
//! Owns: one HTTP client (rustls, gzip/brotli/deflate, a descriptive User-Agent, connect and
//! whole-request timeouts, limited redirects), conditional GET with stored validators,
//! `Retry-After` and `Cache-Control: max-age`, a body cap counted while streaming the
//! decompressed body, bot-challenge detection, and pacing (per-host spacing, per-host and
//! global concurrency limits); whom it trusts (the bundled or the system's roots plus the
//! operator's CA file, as `crate::tls` reads them) and which proxy it goes through (the
//! environment's `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`, or the one configured).
//! The same client sends the channels' messages ([`Fetcher::send`]: a POST or PUT with a
//! JSON body, its sensitive headers and its URL never logged).
//!
//! Must not: know about `config`, sources, the store or the schedule; follow links found in
//! bodies; hand a bot-challenge page or a truncated body to a parser as content. Whether a
//! failure is worth retrying is the [`Transient`] trait, never string matching.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How the fetcher behaves; built by the application from its configuration.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The `User-Agent` sent with every request (the EP asks for a descriptive one).
    pub user_agent: String,
    /// The whole-request timeout (connect, headers and body), unless a request overrides it.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The largest decompressed body accepted, in bytes; a larger one is [`FetchError::TooLarge`].
    pub max_body: u64,
    /// The minimum time between the starts of two requests to one host.
    pub per_host_interval: Duration,
    /// How many requests may be in flight to one host at once (at least 1).
    pub per_host_concurrency: usize,
    /// How many requests may be in flight in total (at least 1).
    pub global_concurrency: usize,
    pub max_redirects: usize,
    /// The roots and CA file trusted for https URLs (and an https proxy).
    pub trust: crate::tls::Trust,
    pub proxy: Proxy,
}

/// Which proxy requests go through.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// What the environment says, as curl reads it: `HTTPS_PROXY` for https URLs,
    /// `HTTP_PROXY` for http ones, `ALL_PROXY` for both, except the hosts in `NO_PROXY`
    /// (lower-case names too). Loopback hosts are not exempt unless listed there.
    #[default]
    Environment,
    /// No proxy, whatever the environment says.
    None,
    /// This proxy for every request, whatever the environment says (`NO_PROXY` included).
    Url(url::Url),
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proxy::Environment => f.write_str("Environment"),
            Proxy::None => f.write_str("None"),
            Proxy::Url(u) => write!(f, "Url({})", redact_url(u.as_str())),
        }
    }
}

impl Proxy {
    /// Which proxy requests go through, in words, for `veille check`: the configured one,
    /// or the environment's variables as they are now ("HTTPS_PROXY=http://proxy:3128/,
    /// NO_PROXY=localhost"), or none.
    pub fn describe(&self) -> String {
        match self {
            Proxy::None => "none (http.proxy = \"none\")".to_string(),
            Proxy::Url(u) => format!("{} (http.proxy)", redact_url(u.as_str())),
            Proxy::Environment => {
                let mut vars: Vec<String> = ["https", "http"]
                    .iter()
                    .filter_map(|s| env_proxy(s))
                    .map(|(var, p)| format!("{var}={p}"))
                    .collect();
                vars.dedup();
                if vars.is_empty() {
                    return "none (no proxy in the environment)".to_string();
                }
                if let Some(no) = ["NO_PROXY", "no_proxy"]
                    .iter()
                    .find_map(|n| std::env::var(n).ok().map(|v| format!("{n}={v}")))
                {
                    vars.push(no);
                }
                vars.join(", ")
            }
        }
    }
}

/// A URL without the password it may carry (`http://user:***@proxy:3128/`), for messages.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Not a URL: drop whatever stands before an '@', where a password would be.
        Err(_) => match raw.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => raw.to_string(),
        },
    }
}

/// The proxy a request to `url` goes through, as reqwest decides it (for messages): the
/// configured one, or the environment's unless `NO_PROXY` exempts the host (curl's rules,
/// as hyper-util applies them: a name and its subdomains, an IP address or network, `*`
/// for every name).
fn proxy_for(proxy: &Proxy, url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    match proxy {
        Proxy::None => None,
        Proxy::Url(u) => Some(format!("{} (http.proxy)", redact_url(u.as_str()))),
        Proxy::Environment => {
            if std::env::var_os("REQUEST_METHOD").is_some() {
                return None;
            }
            let (var, proxy) = env_proxy(url.scheme())?;
            let no_proxy = ["NO_PROXY", "no_proxy"]
                .iter()
                .find_map(|n| std::env::var(n).ok())
                .unwrap_or_default();
            let host = url
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']');
            (!no_proxy_matches(&no_proxy, host)).then(|| format!("{proxy} ({var})"))
        }
    }
}

/// Whether `host` is exempt from the proxy by a `NO_PROXY` list.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    use std::net::IpAddr;
    let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
    if let Ok(ip) = host.parse::<IpAddr>() {
        return entries.into_iter().any(|e| match e.split_once('/') {
            Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Ok(IpAddr::V4(n)), Ok(b)) if b <= 32 => match ip {
                    IpAddr::V4(a) => {
                        let mask = u32::MAX.checked_shl(32 - b).unwrap_or(0);
                        u32::from(a) & mask == u32::from(n) & mask
                    }
                    IpAddr::V6(_) => false,
                },
                (Ok(IpAddr::V6(n)), Ok(b)) if b <= 128 => match ip {
                    IpAddr::V6(a) => {
                        let mask = u128::MAX.checked_shl(128 - b).unwrap_or(0);
                        u128::from(a) & mask == u128::from(n) & mask
                    }
                    IpAddr::V4(_) => false,
                },
                _ => false,
            },
            None => e.parse::<IpAddr>() == Ok(ip),
        });
    }
    let host = host.to_ascii_lowercase();
    entries.into_iter().any(|e| {
        let d = e.to_ascii_lowercase();
        if d == "*" {
            return true;
        }
        let bare = d.trim_start_matches('.');
        host == bare || host.ends_with(&format!(".{bare}"))
    })
}

/// The proxy the environment names for `scheme` ("http" or "https"), as reqwest reads it
/// (upper case first, then lower case; `ALL_PROXY` last), with its password hidden.
fn env_proxy(scheme: &str) -> Option<(String, String)> {
    let names: &[&str] = if scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (n.to_string(), redact_url(v.trim())))
    })
}

/// The cache validators a server gave for a resource, sent back on the next request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// The validators of a response, each one falling back to `previous` when absent
    /// (a 304 may omit headers it did not change).
    fn from_headers(headers: &HeaderMap, previous: Option<&Validators>) -> Validators {
        let get = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Validators {
            etag: get(header::ETAG).or_else(|| previous.and_then(|p| p.etag.clone())),
            last_modified: get(header::LAST_MODIFIED)
                .or_else(|| previous.and_then(|p| p.last_modified.clone())),
        }
    }
}

/// One GET to perform.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    pub url: String,
    /// The `Accept` header; `*/*` when absent.
    pub accept: Option<String>,
    /// Validators from the previous successful fetch, for a conditional GET.
    pub validators: Validators,
    /// Overrides [`FetchSettings::timeout`] for this request (e.g. the slow EP feeds).
    pub timeout: Option<Duration>,
}

impl FetchRequest {
    /// A plain, unconditional GET of `url`.
    pub fn new(url: impl Into<String>) -> Self {
        FetchRequest {
            url: url.into(),
            ..FetchRequest::default()
        }
    }
}

/// What a successful GET gave.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// `304 Not Modified`: nothing to parse; keep these validators for the next request.
    NotModified {
        validators: Validators,
        /// `Cache-Control: max-age`: do not poll again before this much time.
        cache_floor: Option<Duration>,
    },
    /// A complete body.
    Body(Body),
}

/// A complete, size-checked, decompressed response body.
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Bytes,
    /// The `Content-Type` header as sent (with its charset, if any).
    pub content_type: Option<String>,
    pub validators: Validators,
    /// The URL after redirects.
    pub final_url: String,
    pub status: u16,
    /// `Cache-Control: max-age`: do not poll again before this much time.
    pub cache_floor: Option<Duration>,
}

/// The method of a [`SendRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMethod {
    Post,
    Put,
}

/// A request that carries a JSON body (a channel's message).
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub method: SendMethod,
    pub url: String,
    /// Extra headers: (name, value, sensitive — never logged).
    pub headers: Vec<(String, String, bool)>,
    pub body: Vec<u8>,
}

/// A 2xx answer to a [`SendRequest`].
#[derive(Debug, Clone)]
pub struct SendResponse {
    pub status: u16,
    pub body: Bytes,
}

/// Why a GET failed. Every message names the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("timed out after {} fetching {url}", crate::view::when::span(*after))]
    Timeout { url: String, after: Duration },
    #[error("could not connect to {url}{}: {reason}", proxy.as_ref().map(|p| format!(" through the proxy {p}")).unwrap_or_default())]
    Connect {
        url: String,
        /// What kind of connection failure it was, read from the error's sources.
        kind: ConnectKind,
        /// The whole chain of the underlying error.
        reason: String,
        /// The proxy the request went through (password hidden), and where it was named.
        proxy: Option<String>,
    },
    #[error("redirect problem fetching {url}: {reason}")]
    Redirect { url: String, reason: String },
    #[error("HTTP {status} from {url}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        url: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("body of {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("bot challenge instead of content at {url}: {reason}")]
    Challenge { url: String, reason: String },
    #[error("failed reading the body of {url}: {reason}")]
    Body { url: String, reason: String },
    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("could not build the HTTP client: {reason}")]
    Setup { reason: String },
}

impl FetchError {
    /// The URL the failure is about (empty for [`FetchError::Setup`]).
    pub fn url(&self) -> &str {
        match self {
            FetchError::InvalidUrl { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::Connect { url, .. }
            | FetchError::Redirect { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::Challenge { url, .. }
            | FetchError::Body { url, .. }
            | FetchError::Request { url, .. } => url,
            FetchError::Setup { .. } => "",
        }
    }

    /// Whether the service says it does not hold the resource (HTTP 404 or 410).
    pub fn not_held(&self) -> bool {
        matches!(
            self,
            FetchError::Status {
                status: 404 | 410,
                ..
            }
        )
    }

    /// Whether a bot-challenge page was served instead of content.
    pub fn is_challenge(&self) -> bool {
        matches!(self, FetchError::Challenge { .. })
    }

    /// The failure in a few words, for a person: "cannot resolve data.europarl.europa.eu",
    /// "connection refused by 127.0.0.1:8080", "timed out after 60 s", "HTTP 503",
    /// "HTTP 429, asked to wait 1 h", "bot challenge". The whole story is the
    /// `Display` text (for logs and `status --format json`).
    pub fn cause(&self) -> String {
        use crate::view::when::span;
        let host = || host_of(self.url());
        match self {
            FetchError::InvalidUrl { .. } => "invalid URL".to_string(),
            FetchError::Timeout { after, .. } => format!("timed out after {}", span(*after)),
            FetchError::Connect {
                kind,
                proxy: Some(proxy),
                ..
            } if !matches!(kind, ConnectKind::Certificate(_)) => match kind {
                ConnectKind::Dns => format!("cannot resolve the proxy {proxy}"),
                ConnectKind::Refused => format!("connection refused by the proxy {proxy}"),
                ConnectKind::Tunnel => {
                    format!("the proxy {proxy} did not open a tunnel to {}", host())
                }
                _ => format!("cannot connect to {} through the proxy {proxy}", host()),
            },
            FetchError::Connect { kind, .. } => match kind {
                ConnectKind::Dns => format!("cannot resolve {}", host()),
                ConnectKind::Refused => format!("connection refused by {}", host()),
                ConnectKind::Reset => format!("connection reset by {}", host()),
                ConnectKind::Unreachable => format!("{} is unreachable", host()),
                ConnectKind::Tls => format!("secure connection to {} failed", host()),
                ConnectKind::Tunnel => format!("a proxy did not open a tunnel to {}", host()),
                ConnectKind::Certificate(p) => {
                    p.explain(&host(), "http.ca_file", "the source's url")
                }
                ConnectKind::Other => format!("cannot connect to {}", host()),
            },
            FetchError::Redirect { reason, .. } if reason.contains("too many redirects") => {
                "too many redirects".to_string()
            }
            FetchError::Redirect { reason, .. } if reason.contains(LINK_LOCAL_REFUSED) => {
                LINK_LOCAL_REFUSED.to_string()
            }
            FetchError::Redirect { .. } => "bad redirect".to_string(),
            FetchError::Status {
                status,
                retry_after: Some(wait),
                ..
            } if !wait.is_zero() => format!("HTTP {status}, asked to wait {}", span(*wait)),
            FetchError::Status { status, .. } => format!("HTTP {status}"),
            FetchError::TooLarge { limit, .. } => {
                format!("response larger than {}", byte_size(*limit))
            }
            FetchError::Challenge { .. } => "bot challenge".to_string(),
            FetchError::Body { .. } => format!("{} broke off the response", host()),
            FetchError::Request { .. } => format!("request to {} failed", host()),
            FetchError::Setup { .. } => "cannot set up HTTP".to_string(),
        }
    }
}

/// What kind of connection failure a [`FetchError::Connect`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectKind {
    /// The host name does not resolve.
    Dns,
    Refused,
    Reset,
    /// No route to the host or its network.
    Unreachable,
    /// The TLS handshake failed (protocol, alert).
    Tls,
    /// The server's certificate was refused, and why.
    Certificate(crate::tls::CertProblem),
    /// The proxy refused or failed to open a tunnel (CONNECT) to the host.
    Tunnel,
    Other,
}

impl ConnectKind {
    /// Read the kind from an error's sources: the I/O error's kind where there is one; a
    /// resolver failure and a TLS failure are told by the layer that wraps them.
    fn of(e: &(dyn std::error::Error + 'static)) -> ConnectKind {
        use std::io::ErrorKind as K;
        if let Some(problem) = crate::tls::CertProblem::find(e) {
            return ConnectKind::Certificate(problem);
        }
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut kind = ConnectKind::Other;
        while let Some(err) = cur {
            let text = err.to_string();
            if text.starts_with("dns error") {
                return ConnectKind::Dns;
            }
            // hyper-util's CONNECT failure ("tunnel error: unsuccessful", …).
            if text.starts_with("tunnel error") {
                return ConnectKind::Tunnel;
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    K::ConnectionRefused => return ConnectKind::Refused,
                    K::ConnectionReset | K::ConnectionAborted => kind = ConnectKind::Reset,
                    K::HostUnreachable | K::NetworkUnreachable => kind = ConnectKind::Unreachable,
                    K::InvalidData if kind == ConnectKind::Other => kind = ConnectKind::Tls,
                    _ => {}
                }
            }
            cur = err.source();
        }
        kind
    }
}

/// The host (and port, when the URL names one) of a URL, for a short cause.
fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// A byte count as a person says it: "16 MiB", "512 KiB", "800 bytes".
fn byte_size(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= KIB {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// Whether a failure may go away by itself, so the same request is worth retrying later.
pub trait Transient {
    fn is_transient(&self) -> bool;
    /// The delay the server asked for (`Retry-After`), if any.
    fn retry_after(&self) -> Option<Duration>;
}

impl Transient for FetchError {
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. }
            | FetchError::Connect { .. }
            | FetchError::Body { .. }
            | FetchError::Request { .. }
            // A challenge may pass later; callers can still tell it apart.
            | FetchError::Challenge { .. } => true,
            FetchError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            FetchError::InvalidUrl { .. }
            | FetchError::Redirect { .. }
            | FetchError::TooLarge { .. }
            | FetchError::Setup { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The HTTP client with its pacing; cheap to clone (shared inside).
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    settings: FetchSettings,
    pacer: Pacer,
    targets: Mutex<HashMap<String, Target>>,
}

/// A URL as requests need it: parsed, and its host as the pacer knows it.
#[derive(Debug, Clone)]
struct Target {
    url: url::Url,
    host: String,
}

/// At most this many parsed URLs are kept (every URL of every source, many times over); the
/// whole cache is dropped when it is full.
const MAX_TARGETS: usize = 1024;

impl Inner {
    /// `url` parsed and checked, from the cache when it has been requested before: a daemon
    /// requests the same URLs at every step, and parsing one (its host through IDNA) was a
    /// tenth of an unchanged request's CPU outside the kernel.
    fn target(&self, url: &str) -> Result<Target, FetchError> {
        if let Some(t) = self.targets.lock().ok().and_then(|t| t.get(url).cloned()) {
            return Ok(t);
        }
        let parsed = url::Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl {
                url: url.to_string(),
                reason: format!("scheme {:?} is not http or https", parsed.scheme()),
            });
        }
        let host = match parsed.host_str() {
            Some(h) => format!(
                "{}:{}",
                h.to_ascii_lowercase(),
                parsed.port_or_known_default().unwrap_or(0)
            ),
            None => {
                return Err(FetchError::InvalidUrl {
                    url: url.to_string(),
                    reason: "no host".to_string(),
                })
            }
        };
        let target = Target { url: parsed, host };
        if let Ok(mut targets) = self.targets.lock() {
            if targets.len() >= MAX_TARGETS {
                targets.clear();
            }
            targets.insert(url.to_string(), target.clone());
        }
        Ok(target)
    }
}

/// What a refused redirect to a link-local address says (and its short cause).
const LINK_LOCAL_REFUSED: &str = "redirect to a link-local address refused";

/// Follow at most `max` redirects, and never one to a link-local address (169.254.0.0/16,
/// fe80::/10: where cloud metadata services answer), decided before connecting.
fn redirect_policy(max: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            attempt.error("too many redirects")
        } else if let Some(ip) = link_local_host(attempt.url()) {
            attempt.error(format!("{LINK_LOCAL_REFUSED} ({ip})"))
        } else {
            attempt.follow()
        }
    })
}

/// The link-local address a URL's host is written as, if it is one.
pub fn link_local_host(url: &url::Url) -> Option<std::net::IpAddr> {
    use std::net::IpAddr;
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        url::Host::Domain(_) => return None,
    };
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    link_local.then_some(ip)
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Self, FetchError> {
        let setup = |e: reqwest::Error| FetchError::Setup {
            reason: error_chain(&e),
        };
        let system = settings.trust.roots == crate::tls::Roots::System;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_webpki_certs(!system)
            .tls_built_in_native_certs(system);
        for der in settings.trust.extra_certs() {
            builder =
                builder.add_root_certificate(reqwest::Certificate::from_der(der).map_err(setup)?);
        }
        builder = match &settings.proxy {
            Proxy::Environment => {
                for scheme in ["https", "http"] {
                    if let Some((var, proxy)) = env_proxy(scheme) {
                        tracing::info!(scheme, proxy = %proxy, from = %var, "HTTP requests go through a proxy");
                    }
                }
                builder
            }
            Proxy::None => builder.no_proxy(),
            Proxy::Url(url) => {
                tracing::info!(proxy = %redact_url(url.as_str()), "HTTP requests go through the configured proxy");
                builder.proxy(reqwest::Proxy::all(url.as_str()).map_err(setup)?)
            }
        };
        let client = builder
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(redirect_policy(settings.max_redirects))
            // Requests to one host within a poll are `per_host_interval` apart; an idle
            // connection kept longer only holds its buffers (about 1 MB for 50 sources)
            // through the daemon's sleep. hyper's default kept them 90 s.
            .pool_idle_timeout(settings.per_host_interval + Duration::from_secs(10))
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(setup)?;
        let pacer = Pacer::new(
            settings.per_host_interval,
            settings.per_host_concurrency,
            settings.global_concurrency,
        );
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                settings,
                pacer,
                targets: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// GET one URL, politely: waits for its turn on the host, sends the validators, and
    /// reads the whole body within the size cap. Never follows links found in the body.
    pub async fn get(&self, req: &FetchRequest) -> Result<FetchOutcome, FetchError> {
        let url = req.url.clone();
        let Target { url: parsed, host } = self.inner.target(&url)?;

        let _turn = self.inner.pacer.acquire(&host).await;
        tracing::debug!(url = %url, host = %host, "fetch start");

        let limits = Limits {
            timeout: req.timeout.unwrap_or(self.inner.settings.timeout),
            connect_timeout: self.inner.settings.connect_timeout,
        };
        let response = self
            .request(parsed, req)
            .send()
            .await
            .map_err(|e| classify(&url, &e, limits, &self.inner.settings.proxy))?;
        let status = response.status().as_u16();
        let final_url = response.url().to_string();
        let headers = response.headers().clone();
        tracing::debug!(url = %url, status, final_url = %final_url, "fetch headers");

        challenge_in_headers(&url, status, &headers)?;
        let cache_floor = cache_floor(&headers);
        if status == 304 {
            return Ok(FetchOutcome::NotModified {
                validators: Validators::from_headers(&headers, Some(&req.validators)),
                cache_floor,
            });
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if !(200..300).contains(&status) {
            return Err(self
                .status_error(url, response, content_type.as_deref(), limits)
                .await);
        }
        let bytes = self.body(&url, response, &headers, limits).await?;
        tracing::debug!(url = %url, status, bytes = bytes.len(), "fetch body");
        if let Some(reason) = challenge_reason(status, content_type.as_deref(), &bytes) {
            tracing::debug!(url = %url, status, reason = %reason, "fetch challenge");
            return Err(FetchError::Challenge { url, reason });
        }
        Ok(FetchOutcome::Body(Body {
            bytes,
            content_type,
            validators: Validators::from_headers(&headers, None),
            final_url,
            status,
            cache_floor,
        }))
    }

    /// Send one request with a body (a channel's POST or PUT): the same client, so the
    /// same roots, CA file, proxy, timeouts and body cap as every GET; no pacing (these
    /// are single messages to the operator's own services). A status outside 2xx is
    /// [`FetchError::Status`] with the `Retry-After` the server asked for; a 2xx's body
    /// is read within the cap. Headers marked sensitive (an `Authorization`) are never
    /// logged, by reqwest or here; the URL is not logged either (a webhook's URL is its
    /// secret).
    pub async fn send(&self, req: &SendRequest) -> Result<SendResponse, FetchError> {
        let url = req.url.clone();
        let Target { url: parsed, .. } = self.inner.target(&url)?;
        let limits = Limits {
            timeout: self.inner.settings.timeout,
            connect_timeout: self.inner.settings.connect_timeout,
        };
        let method = match req.method {
            SendMethod::Post => reqwest::Method::POST,
            SendMethod::Put => reqwest::Method::PUT,
        };
        let mut builder = self
            .inner
            .client
            .request(method, parsed)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(req.body.clone());
        for (name, value, sensitive) in &req.headers {
            let mut v = header_value(value);
            v.set_sensitive(*sensitive);
            builder = builder.header(name.as_str(), v);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| classify(&url, &e, limits, &self.inner.settings.proxy))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = retry_after(response.headers(), Utc::now());
            tracing::debug!(status, "send refused");
            return Err(FetchError::Status {
                url,
                status,
                retry_after,
            });
        }
        let headers = response.headers().clone();
        let body = self.body(&url, response, &headers, limits).await?;
        Ok(SendResponse { status, body })
    }

    /// The GET with its `Accept`, validators and timeout.
    fn request(&self, url: url::Url, req: &FetchRequest) -> reqwest::RequestBuilder {
        let mut builder = self.inner.client.get(url).header(
            header::ACCEPT,
            header_value(req.accept.as_deref().unwrap_or("*/*")),
        );
        if let Some(etag) = &req.validators.etag {
            builder = builder.header(header::IF_NONE_MATCH, header_value(etag));
        }
        if let Some(lm) = &req.validators.last_modified {
            builder = builder.header(header::IF_MODIFIED_SINCE, header_value(lm));
        }
        if let Some(t) = req.timeout {
            builder = builder.timeout(t);
        }
        builder
    }

    /// The error a response with a status outside 2xx (and not 304) is: a challenge page
    /// (some come with an error status: a small head of the body is looked at), or the
    /// status with the `Retry-After` the server asked for.
    async fn status_error(
        &self,
        url: String,
        response: reqwest::Response,
        content_type: Option<&str>,
        limits: Limits,
    ) -> FetchError {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), Utc::now());
        let head_limit = self.inner.settings.max_body.min(64 * 1024);
        if let Ok(head) = read_capped(&url, response, head_limit, limits).await {
            if is_html(content_type, &head) && crate::sources::looks_like_challenge(&head) {
                return FetchError::Challenge {
                    url,
                    reason: format!("challenge page with HTTP {status}"),
                };
            }
        }
        tracing::debug!(url = %url, status, "fetch status error");
        FetchError::Status {
            url,
            status,
            retry_after,
        }
    }

    /// The whole body within the size cap (refused early when its declared length, without
    /// a content encoding, is already over).
    async fn body(
        &self,
        url: &str,
        response: reqwest::Response,
        headers: &HeaderMap,
        limits: Limits,
    ) -> Result<Bytes, FetchError> {
        let limit = self.inner.settings.max_body;
        if let Some(declared) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if declared > limit && !headers.contains_key(header::CONTENT_ENCODING) {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
        }
        read_capped(url, response, limit, limits).await
    }
}

/// The time limits of one request, for a timeout to say which one it hit.
#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Duration,
    connect_timeout: Duration,
}

/// A challenge the headers alone tell: the AWS WAF's action header, or its token cookie
/// with a 202 or an error status (the WAF hands it out with the challenge, not content).
fn challenge_in_headers(url: &str, status: u16, headers: &HeaderMap) -> Result<(), FetchError> {
    if let Some(action) = headers.get("x-amzn-waf-action") {
        let action = String::from_utf8_lossy(action.as_bytes()).into_owned();
        tracing::debug!(url = %url, status, waf_action = %action, "fetch challenge");
        return Err(FetchError::Challenge {
            url: url.to_string(),
            reason: format!("x-amzn-waf-action: {action} (HTTP {status})"),
        });
    }
    let waf_cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|c| c.as_bytes().starts_with(b"aws-waf-token="));
    if waf_cookie && (status == 202 || status >= 400) {
        return Err(FetchError::Challenge {
            url: url.to_string(),
            reason: format!("aws-waf-token cookie with HTTP {status}"),
        });
    }
    Ok(())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| {
        // Non-visible characters cannot be sent; keep what can be.
        let cleaned: String = s
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        HeaderValue::from_str(&cleaned).unwrap_or(HeaderValue::from_static(""))
    })
}

/// Read the whole decompressed body, failing as soon as it exceeds `limit` bytes.
async fn read_capped(
    url: &str,
    mut response: reqwest::Response,
    limit: u64,
    limits: Limits,
) -> Result<Bytes, FetchError> {
    // A body in one chunk is returned as it came; a longer one is copied once into a
    // buffer sized by Content-Length (when the body is not compressed) and the limit.
    let expected = response.content_length().unwrap_or(0).min(limit) as usize;
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut total = 0u64;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                if total > limit {
                    tracing::debug!(url = %url, bytes = total, limit, "fetch body too large");
                    return Err(FetchError::TooLarge {
                        url: url.to_string(),
                        limit,
                    });
                }
                if first.is_none() && buf.is_empty() {
                    first = Some(chunk);
                    continue;
                }
                if let Some(f) = first.take() {
                    buf.reserve(expected.max(f.len() + chunk.len()));
                    buf.extend_from_slice(&f);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(first.unwrap_or_else(|| buf.freeze())),
            // Reading a body: the connection is made, the proxy is no longer in question.
            Err(e) => return Err(classify(url, &e, limits, &Proxy::None)),
        }
    }
}

/// Map a reqwest error to ours.
fn classify(url: &str, e: &reqwest::Error, limits: Limits, proxy: &Proxy) -> FetchError {
    let url = url.to_string();
    let reason = error_chain(e);
    if e.is_timeout() {
        let after = if e.is_connect() {
            limits.connect_timeout
        } else {
            limits.timeout
        };
        FetchError::Timeout { url, after }
    } else if e.is_connect() {
        FetchError::Connect {
            kind: ConnectKind::of(e),
            reason,
            proxy: proxy_for(proxy, &url),
            url,
        }
    } else if e.is_redirect() {
        FetchError::Redirect { url, reason }
    } else if e.is_body() || e.is_decode() {
        FetchError::Body { url, reason }
    } else if e.is_builder() {
        FetchError::InvalidUrl { url, reason }
    } else {
        FetchError::Request { url, reason }
    }
}

/// An error with its sources, joined by ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// Whether a response is an HTML page: by its Content-Type, or, when it has none, by sniffing.
fn is_html(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type {
        Some(ct) => {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "text/html" || essence == "application/xhtml+xml"
        }
        None => {
            let head = &body[..body.len().min(512)];
            let text = String::from_utf8_lossy(head)
                .trim_start()
                .to_ascii_lowercase();
            text.starts_with("<!doctype html") || text.starts_with("<html")
        }
    }
}

/// Why a successful response is a bot challenge rather than content, if it is one.
/// Feeds (XML, JSON) are never flagged by their text alone.
fn challenge_reason(status: u16, content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if status == 202 {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Some("HTTP 202 with an empty body".to_string());
        }
        let head = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_ascii_lowercase();
        if head.contains("<script") || crate::sources::looks_like_challenge(body) {
            return Some("HTTP 202 with a scripted body".to_string());
        }
    }
    if is_html(content_type, body) && crate::sources::looks_like_challenge(body) {
        return Some(format!("challenge page with HTTP {status}"));
    }
    None
}

/// `Cache-Control: max-age=N` as a floor for the next poll (none with `no-store`).
fn cache_floor(headers: &HeaderMap) -> Option<Duration> {
    let mut floor = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" {
                return None;
            }
            if let Some(n) = directive.strip_prefix("max-age=") {
                if let Ok(secs) = n.trim().trim_matches('"').parse::<u64>() {
                    floor = Some(Duration::from_secs(secs));
                }
            }
        }
    }
    floor.filter(|d| !d.is_zero())
}

/// `Retry-After` as delta-seconds or an HTTP-date (a date in the past means zero).
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// Parse a `Retry-After` value: delta-seconds or an HTTP-date, relative to `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Pacing: a minimum spacing between request starts and a concurrency limit per host,
/// plus a global concurrency limit.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    per_host_concurrency: usize,
    global: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<HostSlot>>>,
}

#[derive(Debug)]
struct HostSlot {
    permits: Arc<Semaphore>,
    /// The earliest time the next request to this host may start.
    next_start: tokio::sync::Mutex<Option<Instant>>,
}

/// Held while a request is in flight.
#[derive(Debug)]
struct Turn {
    _host: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl Pacer {
    fn new(interval: Duration, per_host: usize, global: usize) -> Self {
        Pacer {
            interval,
            per_host_concurrency: per_host.max(1),
            global: Arc::new(Semaphore::new(global.max(1))),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, host: &str) -> Arc<HostSlot> {
        let mut hosts = match self.hosts.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        hosts
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(HostSlot {
                    permits: Arc::new(Semaphore::new(self.per_host_concurrency)),
                    next_start: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    /// Wait for a turn on `host`: a host permit, then the host's spacing, then a global
    /// permit (so a slow host does not hold global permits while it waits).
    async fn acquire(&self, host: &str) -> Option<Turn> {
        let slot = self.slot(host);
        let host_permit = slot.permits.clone().acquire_owned().await.ok()?;
        {
            let mut next = slot.next_start.lock().await;
            let now = Instant::now();
            if let Some(at) = *next {
                if at > now {
                    tokio::time::sleep_until(at).await;
                }
            }
            *next = Some(Instant::now() + self.interval);
        }
        let global = self.global.clone().acquire_owned().await.ok()?;
        Some(Turn {
            _host: host_permit,
            _global: global,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2025, 3, 3, 12, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Mon, 03 Mar 2025 12:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Mon, 03 Mar 2025 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn cache_control_max_age() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        );
        assert_eq!(cache_floor(&h), Some(Duration::from_secs(600)));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, max-age=600"),
        );
        assert_eq!(cache_floor(&h), None);
    }

    #[test]
    fn feeds_are_not_challenges() {
        let rss = b"<?xml version=\"1.0\"?><rss><channel><title>Please enable JavaScript to continue</title></channel></rss>";
        assert_eq!(
            challenge_reason(200, Some("application/rss+xml"), rss),
            None
        );
        let html = b"<!DOCTYPE html><html><script src=\"challenge.js\"></script></html>";
        assert!(challenge_reason(200, Some("text/html; charset=utf-8"), html).is_some());
        assert!(challenge_reason(200, None, html).is_some());
        assert!(challenge_reason(202, Some("text/html"), b"").is_some());
    }

    #[test]
    fn no_proxy_lists_as_curl_reads_them() {
        let list = "example.org, .europa.eu,10.0.0.0/8, ::1, 192.168.1.7";
        for host in [
            "example.org",
            "www.example.org",
            "data.europarl.europa.eu",
            "europa.eu",
        ] {
            assert!(no_proxy_matches(list, host), "{host}");
        }
        for host in ["notexample.org", "127.0.0.1", "europa.eu.evil.test"] {
            assert!(!no_proxy_matches(list, host), "{host}");
        }
        for ip in ["10.1.2.3", "::1", "192.168.1.7"] {
            assert!(no_proxy_matches(list, ip), "{ip}");
        }
        assert!(no_proxy_matches("*", "example.org"));
        assert!(
            !no_proxy_matches("*", "127.0.0.1"),
            "as hyper-util: * is for names"
        );
        assert_eq!(
            redact_url("http://user:pa55@proxy.example.org:3128"),
            "http://user:***@proxy.example.org:3128/"
        );
        let p = Proxy::Url(
            url::Url::parse("http://u:pa55@proxy:3128").unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(!format!("{p:?}").contains("pa55"));
    }

    #[test]
    fn short_causes() {
        let url = "https://data.europarl.europa.eu/api/v2/procedures/feed".to_string();
        let connect = |kind| FetchError::Connect {
            url: url.clone(),
            kind,
            reason: "error sending request: client error (Connect): …".into(),
            proxy: None,
        };
        assert_eq!(
            connect(ConnectKind::Dns).cause(),
            "cannot resolve data.europarl.europa.eu"
        );
        let local = FetchError::Connect {
            url: "http://127.0.0.1:4321/feed.rss".into(),
            kind: ConnectKind::Refused,
            reason: String::new(),
            proxy: None,
        };
        assert_eq!(local.cause(), "connection refused by 127.0.0.1:4321");
        let proxied = FetchError::Connect {
            url: "https://data.europarl.europa.eu/api/v2".into(),
            kind: ConnectKind::Refused,
            reason: String::new(),
            proxy: Some("http://proxy.example.org:3128/ (HTTPS_PROXY)".into()),
        };
        assert_eq!(
            proxied.cause(),
            "connection refused by the proxy http://proxy.example.org:3128/ (HTTPS_PROXY)"
        );
        let untrusted = FetchError::Connect {
            url: "https://data.europarl.europa.eu/api/v2".into(),
            kind: ConnectKind::Certificate(crate::tls::CertProblem::UnknownIssuer),
            reason: String::new(),
            proxy: Some("http://proxy.example.org:3128/ (HTTPS_PROXY)".into()),
        };
        assert_eq!(
            untrusted.cause(),
            "the certificate of data.europarl.europa.eu is not signed by a trusted authority; set http.ca_file to the PEM file of the CA that signed it"
        );
        let timeout = FetchError::Timeout {
            url: url.clone(),
            after: Duration::from_secs(60),
        };
        assert_eq!(timeout.cause(), "timed out after 60 s");
        assert_eq!(
            timeout.to_string(),
            format!("timed out after 60 s fetching {url}")
        );
        let status = |status, wait: Option<u64>| FetchError::Status {
            url: url.clone(),
            status,
            retry_after: wait.map(Duration::from_secs),
        };
        assert_eq!(status(503, None).cause(), "HTTP 503");
        assert_eq!(status(503, Some(0)).cause(), "HTTP 503");
        assert_eq!(
            status(429, Some(3600)).cause(),
            "HTTP 429, asked to wait 1 h"
        );
        let large = FetchError::TooLarge {
            url: url.clone(),
            limit: 16 * 1024 * 1024,
        };
        assert_eq!(large.cause(), "response larger than 16 MiB");
        let challenge = FetchError::Challenge {
            url: url.clone(),
            reason: "x-amzn-waf-action: challenge (HTTP 202)".into(),
        };
        assert_eq!(challenge.cause(), "bot challenge");
        let redirects = FetchError::Redirect {
            url,
            reason: "error following redirect: too many redirects".into(),
        };
        assert_eq!(redirects.cause(), "too many redirects");
    }

    #[test]
    fn transient_classification() {
        let status = |s| FetchError::Status {
            url: "u".into(),
            status: s,
            retry_after: None,
        };
        assert!(status(500).is_transient());
        assert!(status(429).is_transient());
        assert!(status(408).is_transient());
        assert!(!status(404).is_transient());
        assert!(!FetchError::TooLarge {
            url: "u".into(),
            limit: 1
        }
        .is_transient());
    }
}
