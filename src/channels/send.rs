//! One attempt at delivering a channel's body: the request each service documents, sent
//! through `crate::fetch`'s client. The error names the channel and says what went wrong
//! in words an operator can act on, with the host at most: never a webhook URL (its path
//! is its secret), a token or a signing key.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Channel, ChannelKind, Endpoint};
use crate::fetch::{FetchError, Fetcher, SendMethod, SendRequest};

/// The one key of a channel's delivery, the same on every attempt: Matrix's `txnId` and
/// the webhook's `Idempotency-Key`, derived from the message's key and the channel.
pub fn idempotency_key(key: &str, channel: &str) -> String {
    let h = blake3::hash(format!("{key}\0{channel}").as_bytes()).to_hex();
    format!("veille-{}", &h.as_str()[..32])
}

/// Why a channel did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel {channel:?} ({kind}): {cause}")]
pub struct ChannelError {
    pub channel: String,
    pub kind: &'static str,
    pub cause: String,
    /// The service asked to wait this long (a 429's or 503's `Retry-After`).
    pub retry_after: Option<Duration>,
    /// Worth retrying soon (a timeout, a 5xx, a 429), rather than after the operator
    /// fixed something (a refused token, an unknown room).
    pub transient: bool,
}

/// The signature of a webhook body: `sha256=` and the hex HMAC-SHA256 under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Send `body` to the channel once, under `key` (the delivery's idempotency key).
pub async fn send(
    fetcher: &Fetcher,
    ch: &Channel,
    body: &str,
    key: &str,
) -> Result<(), ChannelError> {
    let fail = |cause: String, retry_after, transient| ChannelError {
        channel: ch.id.clone(),
        kind: ch.kind.as_str(),
        cause,
        retry_after,
        transient,
    };
    if let Some(m) = ch.missing_message() {
        return Err(fail(m, None, false));
    }
    let url = |s: &super::EnvSecret| s.value.as_ref().map(|v| v.expose().to_string());
    let mut headers = Vec::new();
    let (method, target) = match &ch.endpoint {
        Endpoint::Url(u) => (SendMethod::Post, Some(u.to_string())),
        Endpoint::Env(s) => (SendMethod::Post, url(s)),
        Endpoint::Matrix {
            homeserver,
            room,
            token,
        } => {
            let mut u = homeserver.clone();
            if let Ok(mut p) = u.path_segments_mut() {
                p.pop_if_empty().extend([
                    "_matrix",
                    "client",
                    "v3",
                    "rooms",
                    room,
                    "send",
                    "m.room.message",
                    key,
                ]);
            }
            if let Some(t) = &token.value {
                headers.push((
                    "Authorization".to_string(),
                    format!("Bearer {}", t.expose()),
                    true,
                ));
            }
            (SendMethod::Put, Some(u.to_string()))
        }
    };
    let Some(target) = target else {
        return Err(fail("no URL".into(), None, false));
    };
    if ch.kind == ChannelKind::Webhook {
        if let Some(k) = ch.signing.as_ref().and_then(|s| s.value.as_ref()) {
            headers.push((
                "X-Veille-Signature-256".to_string(),
                signature(k.expose().as_bytes(), body.as_bytes()),
                false,
            ));
        }
        headers.push(("Idempotency-Key".to_string(), key.to_string(), false));
    }
    let req = SendRequest {
        method,
        url: target,
        headers,
        body: body.as_bytes().to_vec(),
    };
    match fetcher.send(&req).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let (retry_after, transient) = match &e {
                FetchError::Status {
                    status,
                    retry_after,
                    ..
                } => (
                    *retry_after,
                    *status == 429 || *status == 408 || *status >= 500,
                ),
                FetchError::InvalidUrl { .. } | FetchError::Setup { .. } => (None, false),
                _ => (None, true),
            };
            Err(fail(cause_of(ch, &e), retry_after, transient))
        }
    }
}

/// The failure in words, with the host and never the URL; any secret that a message
/// could still carry is masked.
fn cause_of(ch: &Channel, e: &FetchError) -> String {
    let mut cause = match e {
        FetchError::InvalidUrl { .. } => match &ch.endpoint {
            Endpoint::Env(s) => format!("${} does not hold an http or https URL", s.var),
            _ => "invalid URL".to_string(),
        },
        FetchError::Status { status: 401, .. } | FetchError::Status { status: 403, .. }
            if ch.kind == ChannelKind::Matrix =>
        {
            format!("{} (check the access token)", e.cause())
        }
        FetchError::Status { status: 404, .. } => match &ch.endpoint {
            Endpoint::Env(s) => format!("{} (is ${} the current webhook URL?)", e.cause(), s.var),
            _ => e.cause(),
        },
        _ => e.cause(),
    };
    for secret in ch.secret_values() {
        if cause.contains(secret) {
            cause = cause.replace(secret, "***");
        }
    }
    format!("{} at {}", cause, ch.destination())
}
