//! Channels: where a watchlist's alerts and digests go besides mail — a Microsoft Teams
//! Workflows webhook, a Slack incoming webhook, a Matrix room, or a signed webhook.
//!
//! Owns: the typed channel settings (built by `config` from `[channels.ID]`), the secrets
//! they read from the environment (webhook URLs, the Matrix token, the webhook signing
//! key: never in a file, never printed), each kind's request body from a built digest
//! (`payload.rs`: what each service can show, within its size limits), and one attempt
//! at sending it (`send.rs`, through `crate::fetch`'s client), whose error names the
//! channel and the cause and never a secret.
//!
//! Must not: decide when to send or record anything (that is `deliver`, which keeps each
//! channel's delivery in the store), touch reqwest (only `fetch` does), or read the
//! clock.

mod payload;
mod send;

pub use payload::{body_for, PayloadContext};
pub use send::{idempotency_key, send, ChannelError};

use crate::mail::Secret;

/// What kind of service a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Teams,
    Slack,
    Matrix,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Teams,
        ChannelKind::Slack,
        ChannelKind::Matrix,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Teams => "teams",
            ChannelKind::Slack => "slack",
            ChannelKind::Matrix => "matrix",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// The service's name, for people.
    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Teams => "Microsoft Teams",
            ChannelKind::Slack => "Slack",
            ChannelKind::Matrix => "Matrix",
            ChannelKind::Webhook => "the webhook",
        }
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// A secret named by an environment variable: its name (which may be shown) and its
/// value when the variable is set (which never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSecret {
    pub var: String,
    pub value: Option<Secret>,
}

impl EnvSecret {
    pub fn named(var: &str) -> Self {
        EnvSecret {
            var: var.to_string(),
            value: None,
        }
    }
}

/// Where a channel's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A URL written in the configuration (a webhook whose URL is not a secret).
    Url(url::Url),
    /// A URL that is itself a secret (Teams, Slack), from the environment.
    Env(EnvSecret),
    /// A Matrix room on a homeserver, with the access token from the environment.
    Matrix {
        homeserver: url::Url,
        room: String,
        token: EnvSecret,
    },
}

/// One `[channels.ID]` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub kind: ChannelKind,
    pub endpoint: Endpoint,
    /// The webhook's signing key (`secret_env`).
    pub signing: Option<EnvSecret>,
}

impl Channel {
    /// Every secret the channel reads from the environment.
    fn secrets(&self) -> Vec<&EnvSecret> {
        let mut out = Vec::new();
        match &self.endpoint {
            Endpoint::Env(s) => out.push(s),
            Endpoint::Matrix { token, .. } => out.push(token),
            Endpoint::Url(_) => {}
        }
        out.extend(self.signing.as_ref());
        out
    }

    /// Read the channel's secrets with `env` (the process environment in `Config::load`).
    pub fn read_secrets(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let read = |s: &mut EnvSecret| {
            s.value = env(&s.var).filter(|v| !v.is_empty()).map(Secret::new);
        };
        match &mut self.endpoint {
            Endpoint::Env(s) => read(s),
            Endpoint::Matrix { token, .. } => read(token),
            Endpoint::Url(_) => {}
        }
        if let Some(s) = &mut self.signing {
            read(s);
        }
    }

    /// The environment variables the channel needs that are not set.
    pub fn missing_secrets(&self) -> Vec<&str> {
        self.secrets()
            .into_iter()
            .filter(|s| s.value.is_none())
            .map(|s| s.var.as_str())
            .collect()
    }

    /// What to tell the operator when a secret is missing: `None` when all are set.
    pub fn missing_message(&self) -> Option<String> {
        let missing = self.missing_secrets();
        if missing.is_empty() {
            return None;
        }
        let vars: Vec<String> = missing.iter().map(|v| format!("${v}")).collect();
        Some(format!(
            "channel {:?} ({}) needs {} set in the environment: nothing can be sent to it",
            self.id,
            self.kind.as_str(),
            vars.join(" and ")
        ))
    }

    /// The secret values, to be removed from anything shown (an error body echoing them).
    fn secret_values(&self) -> Vec<&str> {
        self.secrets()
            .into_iter()
            .filter_map(|s| s.value.as_ref().map(Secret::expose))
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Where the channel's messages go, for people: the host only (a webhook URL's path
    /// is its secret).
    pub fn destination(&self) -> String {
        match &self.endpoint {
            Endpoint::Url(u) => u.host_str().unwrap_or("?").to_string(),
            Endpoint::Env(s) => s
                .value
                .as_ref()
                .and_then(|v| url::Url::parse(v.expose()).ok())
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| format!("${}", s.var)),
            Endpoint::Matrix {
                homeserver, room, ..
            } => format!("{room} on {}", homeserver.host_str().unwrap_or("?")),
        }
    }
}
