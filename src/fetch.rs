//! The polite HTTP fetcher: the only user of `reqwest` in veille.
//!
//! Owns: one HTTP client (rustls, gzip/brotli/deflate, a descriptive User-Agent, connect and
//! whole-request timeouts, limited redirects), conditional GET with stored validators,
//! `Retry-After` and `Cache-Control: max-age`, a body cap counted while streaming the
//! decompressed body, bot-challenge detection, and pacing (per-host spacing, per-host and
//! global concurrency limits).
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

/// Why a GET failed. Every message names the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("timed out fetching {url}")]
    Timeout { url: String },
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
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
            | FetchError::Timeout { url }
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

    /// Whether a bot-challenge page was served instead of content.
    pub fn is_challenge(&self) -> bool {
        matches!(self, FetchError::Challenge { .. })
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

impl Fetcher {
    pub fn new(settings: FetchSettings) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(settings.max_redirects))
            // Requests to one host within a poll are `per_host_interval` apart; an idle
            // connection kept longer only holds its buffers (about 1 MB for 50 sources)
            // through the daemon's sleep. hyper's default kept them 90 s.
            .pool_idle_timeout(settings.per_host_interval + Duration::from_secs(10))
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| FetchError::Setup {
                reason: error_chain(&e),
            })?;
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

        let mut builder = self.inner.client.get(parsed).header(
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

        let response = builder.send().await.map_err(|e| classify(&url, &e))?;
        let status = response.status().as_u16();
        let final_url = response.url().to_string();
        let headers = response.headers().clone();
        tracing::debug!(url = %url, status, final_url = %final_url, "fetch headers");

        if let Some(action) = headers.get("x-amzn-waf-action") {
            let action = String::from_utf8_lossy(action.as_bytes()).into_owned();
            tracing::debug!(url = %url, status, waf_action = %action, "fetch challenge");
            return Err(FetchError::Challenge {
                url,
                reason: format!("x-amzn-waf-action: {action} (HTTP {status})"),
            });
        }

        // The WAF hands out its token cookie with the challenge, not with content.
        let waf_cookie = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.as_bytes().starts_with(b"aws-waf-token="));
        if waf_cookie && (status == 202 || status >= 400) {
            return Err(FetchError::Challenge {
                url,
                reason: format!("aws-waf-token cookie with HTTP {status}"),
            });
        }

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
            // Some challenges come with an error status: look at a small head of the body.
            let head_limit = self.inner.settings.max_body.min(64 * 1024);
            if let Ok(head) = read_capped(&url, response, head_limit).await {
                if is_html(content_type.as_deref(), &head)
                    && crate::sources::looks_like_challenge(&head)
                {
                    return Err(FetchError::Challenge {
                        url,
                        reason: format!("challenge page with HTTP {status}"),
                    });
                }
            }
            let retry_after = retry_after(&headers, Utc::now());
            tracing::debug!(url = %url, status, "fetch status error");
            return Err(FetchError::Status {
                url,
                status,
                retry_after,
            });
        }

        let limit = self.inner.settings.max_body;
        // Without a content encoding the declared length is the body length: refuse early.
        if let Some(declared) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if declared > limit && !headers.contains_key(header::CONTENT_ENCODING) {
                return Err(FetchError::TooLarge { url, limit });
            }
        }
        let bytes = read_capped(&url, response, limit).await?;
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
            Err(e) => return Err(classify(url, &e)),
        }
    }
}

/// Map a reqwest error to ours.
fn classify(url: &str, e: &reqwest::Error) -> FetchError {
    let url = url.to_string();
    let reason = error_chain(e);
    if e.is_timeout() {
        FetchError::Timeout { url }
    } else if e.is_connect() {
        FetchError::Connect { url, reason }
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
