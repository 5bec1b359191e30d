//! `config.toml` → a validated `Config`: time zone, paths, HTTP politeness, mail transport,
//! sources. Parse, don't validate: the raw serde structs mirror the file
//! (`deny_unknown_fields`), one step turns them into typed values, and nothing downstream
//! re-checks strings. The CA files named by `ca_file` are read and checked here (through
//! `crate::tls`), so that `veille check` reports them. Must not read watchlists or hold
//! global state; the SMTP password is read from `$VEILLE_SMTP_PASSWORD` only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fetch::{FetchSettings, Proxy};
use crate::mail::{Secret, Security, SmtpSettings, Transport};
use crate::sources::SourceKind;
use crate::tls::{Roots, Trust};

/// The environment variable that holds the SMTP password.
pub const PASSWORD_ENV: &str = crate::mail::PASSWORD_ENV;

/// A configuration error, naming the file, the line and column, and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value that is not valid, at the place of the value (or of its key, or of the
    /// nearest table that is written, for a missing one); line 0 when none is found.
    #[error("{}{key}: {message}", located(file, *line, *column))]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

// ---------------------------------------------------------------------------------------
// Raw file shape.

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub timezone: String,
    pub watchlists_dir: String,
    pub storage: RawStorage,
    pub http: RawHttp,
    pub mail: RawMail,
    #[serde(default)]
    pub digest: Option<RawDigest>,
    #[serde(default)]
    pub server: Option<RawServer>,
    #[serde(default)]
    pub ical: Option<RawIcal>,
    #[serde(default)]
    pub control: Option<RawControl>,
    #[serde(default)]
    pub sources: Vec<RawSource>,
    /// `[channels.ID]`: Teams, Slack, Matrix and webhook destinations, by id.
    #[serde(default)]
    pub channels: std::collections::BTreeMap<String, RawChannel>,
}

/// One `[channels.ID]` table. Secrets are never written here: only the names of the
/// environment variables that hold them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub kind: String,
    /// A webhook's URL when it is not a secret.
    #[serde(default)]
    pub url: Option<String>,
    /// The variable holding the URL (Teams, Slack; or a webhook's).
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub homeserver: Option<String>,
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub path: String,
    #[serde(default)]
    pub cache_capacity: Option<String>,
    #[serde(default)]
    pub retention: Option<String>,
    #[serde(default)]
    pub min_free: Option<String>,
    /// How long the archive of everything seen is kept (`storage.archive`).
    #[serde(default)]
    pub archive: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub user_agent: String,
    pub timeout: String,
    #[serde(default)]
    pub connect_timeout: Option<String>,
    pub max_body: String,
    pub per_host_interval: String,
    #[serde(default)]
    pub per_host_concurrency: Option<usize>,
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default)]
    pub max_redirects: Option<usize>,
    /// A PEM file of CA certificates trusted besides the roots (`tls_roots`).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// `"bundled"` (default) or `"system"`.
    #[serde(default)]
    pub tls_roots: Option<String>,
    /// `"http://host:port"` for every request, `"none"` (or `""`) for none; absent: the
    /// environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    #[serde(default)]
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub from: String,
    pub transport: String,
    pub outbox_dir: String,
    #[serde(default)]
    pub smtp: Option<RawSmtp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    pub port: u16,
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    /// A PEM file of CA certificates trusted besides the roots (`tls_roots`).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// `"bundled"` (default) or `"system"`.
    #[serde(default)]
    pub tls_roots: Option<String>,
    /// Never accepted: read only so that its refusal can name `$VEILLE_SMTP_PASSWORD`.
    #[serde(default, skip_serializing)]
    pub password: Option<toml::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDigest {
    #[serde(default)]
    pub send_empty: Option<bool>,
    #[serde(default)]
    pub upcoming: Option<String>,
    #[serde(default)]
    pub backfill: Option<String>,
    #[serde(default)]
    pub retry_max: Option<String>,
    #[serde(default)]
    pub max_events: Option<usize>,
    #[serde(default)]
    pub reminders: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: String,
    /// The address officers reach the web window at (behind a reverse proxy, say).
    #[serde(default)]
    pub public_url: Option<String>,
    /// HTTP Basic users of the web window: name → Argon2 password hash (PHC string).
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIcal {
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    #[serde(default)]
    pub readers: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub id: String,
    pub kind: String,
    pub url: String,
    pub every: String,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub refresh: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Typed configuration.

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from.
    pub file: PathBuf,
    pub timezone: crate::tz::Tz,
    pub watchlists_dir: PathBuf,
    pub storage: StorageConfig,
    pub http: FetchSettings,
    pub mail: MailConfig,
    pub digest: DigestConfig,
    pub server: Option<ServerConfig>,
    pub ical: Option<IcalConfig>,
    pub control: ControlConfig,
    pub sources: Vec<SourceConfig>,
    /// `[channels.ID]`, sorted by id; their secrets as `Config::load` read them.
    pub channels: Vec<crate::channels::Channel>,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub path: PathBuf,
    pub cache_capacity: u64,
    /// Events older than this (and no longer pending) are pruned.
    pub retention: Duration,
    /// Free space below which, on the device holding the store, a step that writes is
    /// skipped and reported (`storage.min_free`).
    pub min_free: u64,
    /// Every item and step seen, matched or not, is kept this long after its date, for
    /// `backtest`, `search` and a new watchlist's first digest (`storage.archive`).
    pub archive: Duration,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub from: String,
    pub transport: Transport,
    pub outbox_dir: PathBuf,
}

/// The most events in one digest message by default: about 0.7 MB of mail, far below
/// what relays accept (often 10 MB), and already more than anyone reads in one sitting.
pub const DEFAULT_MAX_EVENTS: usize = 1_000;

#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// Send a digest even when nothing matched (default: no, the skip is logged).
    pub send_empty: bool,
    /// How far ahead "coming up" looks.
    pub upcoming: Duration,
    /// On a dossier's first poll, steps this recent are reported as news; older ones
    /// only fill its timeline. On a source's first poll, likewise for its items.
    pub backfill: Duration,
    /// The longest wait between two attempts at a failed send.
    pub retry_max: Duration,
    /// The most events one digest message carries; a larger digest goes in parts.
    pub max_events: usize,
    /// When deadlines (consultations, subsidiarity, transposition) are reminded of.
    pub reminders: crate::deadlines::ReminderPolicy,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: std::net::SocketAddr,
    /// Where officers reach the web window (`server.public_url`): the base of the links
    /// `veille links` prints and digests carry; none when absent.
    pub public_url: Option<url::Url>,
    /// HTTP Basic users (`[server.users]`): name → Argon2 password hash, checked at load.
    /// Required when `listen` is not a loopback address.
    pub users: std::collections::BTreeMap<String, String>,
}

impl ServerConfig {
    /// The base URL of the web window, without a trailing slash: `public_url`, else the
    /// listen address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[derive(Debug, Clone)]
pub struct IcalConfig {
    pub dir: PathBuf,
}

/// The daemon's control socket (`[control]`).
#[derive(Debug, Clone, Default)]
pub struct ControlConfig {
    /// The Unix group whose members may ask the running daemon read-only queries (the
    /// socket is then mode 0660 with that group); owner-only when absent. Only the name is
    /// checked here: whether the group exists on this host is `veille check`'s and the
    /// daemon's business (src/app/control.rs).
    pub readers: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub id: String,
    pub kind: SourceKind,
    pub url: url::Url,
    pub every: Duration,
    /// Per-request timeout override (the EP API feeds are slow).
    pub timeout: Option<Duration>,
    /// How often every tracked dossier is fetched in full even when the change feeds are
    /// silent (EU services only).
    pub refresh: Duration,
}

/// `file:line:column: `, or `file: ` when the place is not known.
fn located(file: &Path, line: usize, column: usize) -> String {
    if line == 0 {
        format!("{}: ", file.display())
    } else {
        format!("{}:{line}:{column}: ", file.display())
    }
}

impl Config {
    /// Load the configuration file at `path`, resolving relative paths against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let text = crate::text::utf8_text(bytes).map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.to_string(),
        })?;
        let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        let mut config = Config::from_str(path, &text, password)?;
        for c in &mut config.channels {
            c.read_secrets(&|var| std::env::var(var).ok());
        }
        Ok(config)
    }

    /// The channel with this id.
    pub fn channel(&self, id: &str) -> Option<&crate::channels::Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// Parse configuration text; `path` names the file in errors and anchors relative paths.
    pub fn from_str(
        path: &Path,
        text: &str,
        password: Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError::Syntax {
                file: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Typed {
            file: path,
            base: &base,
        }
        .config(raw, password)
        .map_err(|e| match e {
            ConfigError::Invalid {
                file, key, message, ..
            } => {
                let (line, column) = locate_key(text, &key).unwrap_or((0, 0));
                ConfigError::Invalid {
                    file,
                    line,
                    column,
                    key,
                    message,
                }
            }
            other => other,
        })
    }
}

/// The line and column of a key path such as `http.timeout` or `sources[2].url` in the
/// configuration text: of its value, or of the key, or of the nearest enclosing table or
/// entry that is written (`mail` for a missing `mail.smtp`). Only called for an error.
fn locate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    use toml_edit::{Item, TableLike, Value};
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn TableLike = doc.as_table();
    let mut best: Option<std::ops::Range<usize>> = None;
    for segment in path.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let Some((key, item)) = table.get_key_value(name) else {
            break;
        };
        best = item.span().or_else(|| key.span()).or(best);
        let next: Option<&dyn TableLike> = match index {
            None => item.as_table_like(),
            Some(i) => match item {
                Item::ArrayOfTables(a) => a.get(i).map(|t| {
                    best = t.span().or(best.clone());
                    t as &dyn TableLike
                }),
                Item::Value(Value::Array(a)) => a.get(i).and_then(|v| {
                    best = v.span().or(best.clone());
                    v.as_inline_table().map(|t| t as &dyn TableLike)
                }),
                _ => None,
            },
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    best.map(|s| line_col(text, s.start))
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

struct Typed<'a> {
    file: &'a Path,
    base: &'a Path,
}

impl Typed<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        // Located by `Config::from_str`, which has the text.
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            line: 0,
            column: 0,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn duration(&self, key: &str, s: &str) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            self.err(
                key,
                format!("{s:?} is not a duration ({e}); write e.g. \"60s\", \"6h\", \"7d\""),
            )
        })?;
        if d.is_zero() {
            return Err(self.err(key, "must be longer than zero"));
        }
        Ok(d)
    }

    fn size(&self, key: &str, s: &str) -> Result<u64, ConfigError> {
        let b: bytesize::ByteSize = s.trim().parse().map_err(|e| {
            self.err(
                key,
                format!("{s:?} is not a size ({e}); write e.g. \"16MiB\""),
            )
        })?;
        if b.as_u64() == 0 {
            return Err(self.err(key, "must be larger than zero"));
        }
        Ok(b.as_u64())
    }

    fn config(&self, raw: RawConfig, password: Option<String>) -> Result<Config, ConfigError> {
        let timezone: crate::tz::Tz = raw.timezone.parse().map_err(|_| {
            self.err(
                "timezone",
                format!(
                    "{:?} is not an IANA time zone such as \"Europe/Brussels\"",
                    raw.timezone
                ),
            )
        })?;
        let storage = self.storage(&raw.storage)?;
        let http = self.http(&raw.http)?;
        let mail = self.mail(&raw.mail, password)?;
        let digest = self.digest(raw.digest.as_ref())?;
        let server = match &raw.server {
            Some(s) => Some(self.server(s)?),
            None => None,
        };
        let ical = raw.ical.as_ref().map(|i| IcalConfig {
            dir: self.path(&i.dir),
        });
        let control = self.control(raw.control.as_ref())?;
        let sources = self.sources(&raw.sources)?;
        let channels = raw
            .channels
            .iter()
            .map(|(id, c)| self.channel(id, c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            file: self.file.to_path_buf(),
            timezone,
            watchlists_dir: self.path(&raw.watchlists_dir),
            storage,
            http,
            mail,
            digest,
            server,
            ical,
            control,
            sources,
            channels,
        })
    }

    /// `[server]`: the address, the public URL, and the users, required off loopback.
    fn server(&self, s: &RawServer) -> Result<ServerConfig, ConfigError> {
        let listen: std::net::SocketAddr = s.listen.parse().map_err(|_| {
            self.err(
                "server.listen",
                format!(
                    "{:?} is not an address such as \"127.0.0.1:9184\"",
                    s.listen
                ),
            )
        })?;
        let public_url = match &s.public_url {
            None => None,
            Some(u) => {
                let parsed = url::Url::parse(u.trim()).ok().filter(|p| {
                    matches!(p.scheme(), "http" | "https")
                        && p.host_str().is_some()
                        && p.query().is_none()
                        && p.fragment().is_none()
                });
                Some(parsed.ok_or_else(|| {
                    self.err(
                        "server.public_url",
                        format!(
                            "{u:?} is not an http(s) address such as \"https://veille.example.org\" (no query or fragment)"
                        ),
                    )
                })?)
            }
        };
        for (name, hash) in &s.users {
            let key = format!("server.users.{name}");
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
                return Err(self.err(&key, "a user name may not be empty nor contain ':'"));
            }
            if let Err(e) = crate::web::access::check_password_hash(hash) {
                return Err(self.err(
                    &key,
                    format!("{e}; make one with `veille hash-password` (the password on stdin)"),
                ));
            }
        }
        if !listen.ip().is_loopback() && s.users.is_empty() {
            return Err(self.err(
                "server.listen",
                format!(
                    "{listen} is not a loopback address, so the web window needs access control: add a [server.users] table (name = \"hash\" from `veille hash-password`), or listen on 127.0.0.1 behind a reverse proxy that checks who may look"
                ),
            ));
        }
        Ok(ServerConfig {
            listen,
            public_url,
            users: s.users.clone(),
        })
    }

    /// One `[channels.ID]`: the keys its kind needs, and none it does not read.
    fn channel(&self, id: &str, raw: &RawChannel) -> Result<crate::channels::Channel, ConfigError> {
        use crate::channels::{Channel, ChannelKind, Endpoint};
        let key = |k: &str| format!("channels.{id}.{k}");
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err(
                &format!("channels.{id}"),
                "a channel id is letters, digits, '-' and '_'",
            ));
        }
        let kind: ChannelKind = raw.kind.trim().parse().map_err(|_| {
            self.err(
                &key("kind"),
                format!(
                    "unknown channel kind {:?}; write \"teams\", \"slack\", \"matrix\" or \"webhook\"",
                    raw.kind
                ),
            )
        })?;
        let reads: &[&str] = match kind {
            ChannelKind::Teams | ChannelKind::Slack => &["url_env"],
            ChannelKind::Webhook => &["url", "url_env", "secret_env"],
            ChannelKind::Matrix => &["homeserver", "room", "token_env"],
        };
        let written = [
            ("url", raw.url.is_some()),
            ("url_env", raw.url_env.is_some()),
            ("homeserver", raw.homeserver.is_some()),
            ("room", raw.room.is_some()),
            ("token_env", raw.token_env.is_some()),
            ("secret_env", raw.secret_env.is_some()),
        ];
        if let Some((k, _)) = written.iter().find(|(k, w)| *w && !reads.contains(k)) {
            return Err(self.err(
                &key(k),
                format!("a {} channel does not read {k:?}", kind.as_str()),
            ));
        }
        let url_env = self.env_name(&key("url_env"), &raw.url_env)?;
        let signing = self.env_name(&key("secret_env"), &raw.secret_env)?;
        let missing = |k: &str, what: &str| self.err(&key(k), format!("missing: {what}"));
        let endpoint = match kind {
            ChannelKind::Teams | ChannelKind::Slack => Endpoint::Env(url_env.ok_or_else(|| {
                missing("url_env", "the name of the environment variable holding the webhook URL (the URL is a secret: anyone who has it can post)")
            })?),
            ChannelKind::Webhook => {
                if signing.is_none() {
                    return Err(missing("secret_env", "the name of the environment variable holding the key that signs each request"));
                }
                match (&raw.url, url_env) {
                    (Some(u), None) => Endpoint::Url(self.http_url(&key("url"), u)?),
                    (None, Some(e)) => Endpoint::Env(e),
                    _ => {
                        return Err(
                            self.err(&key("url"), "write either url or url_env (one of them)")
                        )
                    }
                }
            }
            ChannelKind::Matrix => self.matrix_endpoint(id, raw)?,
        };
        Ok(Channel {
            id: id.to_string(),
            kind,
            endpoint,
            signing,
        })
    }

    /// The name of an environment variable holding a secret (never the secret itself).
    fn env_name(
        &self,
        key: &str,
        v: &Option<String>,
    ) -> Result<Option<crate::channels::EnvSecret>, ConfigError> {
        match v.as_deref().map(str::trim) {
            None => Ok(None),
            Some(name)
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Ok(Some(crate::channels::EnvSecret::named(name)))
            }
            Some(name) => Err(self.err(
                key,
                format!("{name:?} is not an environment variable name (letters, digits, '_'); the secret itself goes in the environment, never here"),
            )),
        }
    }

    /// A Matrix channel's homeserver, room id and the variable of its access token.
    fn matrix_endpoint(
        &self,
        id: &str,
        raw: &RawChannel,
    ) -> Result<crate::channels::Endpoint, ConfigError> {
        let key = |k: &str| format!("channels.{id}.{k}");
        let homeserver = raw.homeserver.as_deref().ok_or_else(|| {
            self.err(
                &key("homeserver"),
                "missing: the homeserver's URL, as in \"https://matrix.example.org\"",
            )
        })?;
        let room = raw.room.as_deref().map(str::trim).unwrap_or_default();
        if !room.starts_with('!') || !room.contains(':') {
            return Err(self.err(
                &key("room"),
                format!("{room:?} is not a room id: write the room's internal id, as in \"!AbCdEf:example.org\" (clients show it in the room's settings; an alias such as #room:example.org is not accepted)"),
            ));
        }
        let token = self
            .env_name(&key("token_env"), &raw.token_env)?
            .ok_or_else(|| {
                self.err(
                    &key("token_env"),
                    "missing: the name of the environment variable holding the access token",
                )
            })?;
        Ok(crate::channels::Endpoint::Matrix {
            homeserver: self.http_url(&key("homeserver"), homeserver)?,
            room: room.to_string(),
            token,
        })
    }

    /// An absolute `http(s)` URL with a host.
    fn http_url(&self, key: &str, raw: &str) -> Result<url::Url, ConfigError> {
        match url::Url::parse(raw.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
            Ok(_) => Err(self.err(key, format!("{raw:?} is not an http or https URL"))),
            Err(e) => Err(self.err(key, format!("{raw:?} is not a URL ({e})"))),
        }
    }

    fn control(&self, raw: Option<&RawControl>) -> Result<ControlConfig, ConfigError> {
        let Some(name) = raw.and_then(|c| c.readers.as_deref()) else {
            return Ok(ControlConfig::default());
        };
        let valid = !name.is_empty()
            && name.len() <= 256
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
        if !valid {
            return Err(self.err(
                "control.readers",
                format!(
                    "{name:?} is not a Unix group name; write the name of the group whose members may read previews, e.g. \"veille-editors\""
                ),
            ));
        }
        Ok(ControlConfig {
            readers: Some(name.to_string()),
        })
    }

    /// A count that must be at least 1, or its default.
    fn positive(&self, key: &str, v: Option<usize>, default: usize) -> Result<usize, ConfigError> {
        match v {
            Some(0) => Err(self.err(key, "must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    }

    fn storage(&self, s: &RawStorage) -> Result<StorageConfig, ConfigError> {
        Ok(StorageConfig {
            path: self.path(&s.path),
            cache_capacity: match &s.cache_capacity {
                Some(c) => self.size("storage.cache_capacity", c)?,
                // 8 MiB: the hot trees (sources, resources, pending) and the index nodes
                // fit many times over; more only keeps more of the events' leaves, which
                // sled holds at about twice the size it counts (docs/performance.md).
                None => 8 * 1024 * 1024,
            },
            retention: match &s.retention {
                Some(r) => self.duration("storage.retention", r)?,
                None => Duration::from_secs(730 * 86_400),
            },
            min_free: match &s.min_free {
                Some(m) if m.trim() == "0" => 0,
                Some(m) => self.size("storage.min_free", m)?,
                None => 64 * 1024 * 1024,
            },
            archive: match &s.archive {
                Some(a) => self.duration("storage.archive", a)?,
                None => Duration::from_secs(365 * 86_400),
            },
        })
    }

    fn http(&self, h: &RawHttp) -> Result<FetchSettings, ConfigError> {
        if h.user_agent.trim().is_empty() || h.user_agent.chars().any(char::is_control) {
            return Err(self.err(
                "http.user_agent",
                "must be a non-empty single line naming you and a contact",
            ));
        }
        let timeout = self.duration("http.timeout", &h.timeout)?;
        let connect_timeout = match &h.connect_timeout {
            Some(s) => self.duration("http.connect_timeout", s)?,
            None => timeout.min(Duration::from_secs(15)),
        };
        Ok(FetchSettings {
            user_agent: h.user_agent.trim().to_string(),
            timeout,
            connect_timeout,
            max_body: self.size("http.max_body", &h.max_body)?,
            per_host_interval: humantime::parse_duration(h.per_host_interval.trim()).map_err(
                |e| {
                    self.err(
                        "http.per_host_interval",
                        format!(
                            "{:?} is not a duration ({e}); write e.g. \"2s\"",
                            h.per_host_interval
                        ),
                    )
                },
            )?,
            per_host_concurrency: self.positive(
                "http.per_host_concurrency",
                h.per_host_concurrency,
                2,
            )?,
            global_concurrency: self.positive("http.concurrency", h.concurrency, 8)?,
            max_redirects: h.max_redirects.unwrap_or(5),
            trust: self.trust("http", h.tls_roots.as_deref(), h.ca_file.as_deref())?,
            proxy: self.proxy(h.proxy.as_deref())?,
        })
    }

    /// `SECTION.tls_roots` and `SECTION.ca_file`: the roots, and the CA file read and
    /// checked now (so `veille check` reports a missing or malformed one).
    fn trust(
        &self,
        section: &str,
        roots: Option<&str>,
        ca_file: Option<&str>,
    ) -> Result<Trust, ConfigError> {
        let roots = match roots {
            Some(r) => Roots::parse(r).map_err(|m| self.err(&format!("{section}.tls_roots"), m))?,
            None => Roots::Bundled,
        };
        let ca_file = match ca_file.map(str::trim) {
            None => None,
            Some("") => {
                return Err(self.err(
                    &format!("{section}.ca_file"),
                    "is empty; give the path of a PEM file, or remove the key",
                ))
            }
            Some(p) => Some(
                crate::tls::read_ca_file(&self.path(p))
                    .map_err(|m| self.err(&format!("{section}.ca_file"), m))?,
            ),
        };
        Ok(Trust { roots, ca_file })
    }

    /// `http.proxy`: absent, the environment decides; `"none"` or `""`, no proxy; else an
    /// http(s) URL with a host.
    fn proxy(&self, raw: Option<&str>) -> Result<Proxy, ConfigError> {
        let Some(raw) = raw.map(str::trim) else {
            return Ok(Proxy::Environment);
        };
        if raw.is_empty() || raw.eq_ignore_ascii_case("none") {
            return Ok(Proxy::None);
        }
        let bad = |why: &str| {
            self.err(
                "http.proxy",
                format!(
                    "{:?} {why}; write e.g. \"http://proxy.example.org:3128\", or \"none\"",
                    crate::fetch::redact_url(raw)
                ),
            )
        };
        let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("is not an http:// or https:// proxy"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("names no host"));
        }
        Ok(Proxy::Url(url))
    }

    /// The `[digest]` table, every key optional (and the table itself).
    fn digest(&self, d: Option<&RawDigest>) -> Result<DigestConfig, ConfigError> {
        let d = d.cloned().unwrap_or(RawDigest {
            send_empty: None,
            upcoming: None,
            backfill: None,
            retry_max: None,
            max_events: None,
            reminders: None,
        });
        Ok(DigestConfig {
            send_empty: d.send_empty.unwrap_or(false),
            upcoming: match &d.upcoming {
                Some(s) => self.duration("digest.upcoming", s)?,
                None => Duration::from_secs(8 * 7 * 86_400),
            },
            backfill: match &d.backfill {
                Some(s) => self.duration("digest.backfill", s)?,
                None => Duration::from_secs(30 * 86_400),
            },
            retry_max: match &d.retry_max {
                Some(s) => self.duration("digest.retry_max", s)?,
                None => Duration::from_secs(3600),
            },
            max_events: self.positive("digest.max_events", d.max_events, DEFAULT_MAX_EVENTS)?,
            reminders: match &d.reminders {
                Some(list) => crate::deadlines::ReminderPolicy {
                    offsets: list
                        .iter()
                        .map(|o| {
                            o.parse()
                                .map_err(|e: String| self.err("digest.reminders", e))
                        })
                        .collect::<Result<_, _>>()?,
                },
                None => crate::deadlines::ReminderPolicy::default(),
            },
        })
    }

    /// The `[[sources]]`: unique ids of letters, digits, '-' and '_', a known kind, an
    /// http(s) URL, an interval.
    fn sources(&self, raw: &[RawSource]) -> Result<Vec<SourceConfig>, ConfigError> {
        let mut sources: Vec<SourceConfig> = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let key = |k: &str| format!("sources[{i}].{k}");
            let id = s.id.trim();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.err(
                    &key("id"),
                    format!("{id:?} must be made of letters, digits, '-' and '_'"),
                ));
            }
            if sources.iter().any(|o| o.id == id) {
                return Err(self.err(&key("id"), format!("source id {id:?} is used twice")));
            }
            let kind: SourceKind = s
                .kind
                .parse()
                .map_err(|e: String| self.err(&key("kind"), e))?;
            let url = url::Url::parse(s.url.trim())
                .map_err(|e| self.err(&key("url"), format!("{:?} is not a URL: {e}", s.url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(self.err(&key("url"), "only http and https URLs can be polled"));
            }
            sources.push(SourceConfig {
                id: id.to_string(),
                kind,
                url,
                every: self.duration(&key("every"), &s.every)?,
                timeout: s
                    .timeout
                    .as_deref()
                    .map(|t| self.duration(&key("timeout"), t))
                    .transpose()?,
                refresh: match &s.refresh {
                    Some(r) => self.duration(&key("refresh"), r)?,
                    None => Duration::from_secs(7 * 86_400),
                },
            });
        }
        Ok(sources)
    }

    fn mail(&self, m: &RawMail, password: Option<String>) -> Result<MailConfig, ConfigError> {
        let from = m.from.trim();
        if from.is_empty() || from.chars().any(char::is_control) || !from.contains('@') {
            return Err(self.err(
                "mail.from",
                format!("{from:?} must be an address such as \"Veille <veille@example.org>\""),
            ));
        }
        let addr = from
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>').trim())
            .unwrap_or(from);
        if !email_address::EmailAddress::is_valid(addr) {
            return Err(self.err(
                "mail.from",
                format!("{addr:?} is not a valid e-mail address"),
            ));
        }
        let outbox_dir = self.path(&m.outbox_dir);
        let transport = match m.transport.as_str() {
            "file" => Transport::File {
                dir: outbox_dir.clone(),
            },
            "smtp" => {
                let s = m.smtp.as_ref().ok_or_else(|| {
                    self.err(
                        "mail.smtp",
                        "transport = \"smtp\" needs a [mail.smtp] table",
                    )
                })?;
                let security = match s.security.as_str() {
                    "starttls" => Security::StartTls,
                    "tls" => Security::Tls,
                    "none" => Security::None,
                    other => {
                        return Err(self.err(
                            "mail.smtp.security",
                            format!("{other:?} is not one of \"starttls\", \"tls\", \"none\""),
                        ))
                    }
                };
                if security == Security::None && !is_loopback(&s.host) {
                    return Err(self.err(
                        "mail.smtp.security",
                        format!(
                            "\"none\" sends mail and passwords in clear text; it is only allowed to a loopback host, not {:?}",
                            s.host
                        ),
                    ));
                }
                if s.password.is_some() {
                    return Err(self.err(
                        "mail.smtp.password",
                        format!("the SMTP password is not read from the configuration file: remove this key and set ${PASSWORD_ENV} in the environment (for the service, in /etc/veille/env)"),
                    ));
                }
                // A username without a password is checked where mail is sent
                // (`Transport::password_missing`): the other commands do not need it.
                let username = s.username.clone().filter(|u| !u.trim().is_empty());
                Transport::Smtp(SmtpSettings {
                    host: s.host.trim().to_string(),
                    port: s.port,
                    security,
                    password: if username.is_some() {
                        password.map(Secret::new)
                    } else {
                        None
                    },
                    username,
                    timeout: match &s.timeout {
                        Some(t) => self.duration("mail.smtp.timeout", t)?,
                        None => Duration::from_secs(30),
                    },
                    trust: self.trust("mail.smtp", s.tls_roots.as_deref(), s.ca_file.as_deref())?,
                })
            }
            other => {
                return Err(self.err(
                    "mail.transport",
                    format!("{other:?} is not one of \"file\", \"smtp\""),
                ));
            }
        };
        Ok(MailConfig {
            from: from.to_string(),
            transport,
            outbox_dir,
        })
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
timezone = "Europe/Brussels"
watchlists_dir = "watchlists"
[storage]
path = "data/veille.sled"
[http]
user_agent = "veille-test"
timeout = "60s"
max_body = "16MiB"
per_host_interval = "2s"
[mail]
from = "Veille <veille@example.org>"
transport = "file"
outbox_dir = "outbox"
[[sources]]
id = "ep-api"
kind = "ep-api"
url = "https://data.europarl.europa.eu/api/v2"
every = "6h"
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(Path::new("/etc/veille/config.toml"), text, None)
    }

    #[test]
    fn minimal_config_gets_defaults_and_resolves_paths() {
        let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.storage.path, Path::new("/etc/veille/data/veille.sled"));
        assert_eq!(c.http.max_body, 16 * 1024 * 1024);
        assert_eq!(c.http.per_host_interval, Duration::from_secs(2));
        assert_eq!(c.sources[0].every, Duration::from_secs(6 * 3600));
        assert!(!c.digest.send_empty);
        assert!(matches!(c.mail.transport, Transport::File { .. }));
    }

    fn invalid(text: &str) -> (String, String) {
        match load(text) {
            Err(ConfigError::Invalid { key, message, .. }) => (key, message),
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_key() {
        let (k, m) = invalid(&MINIMAL.replace("\"60s\"", "\"sixty\""));
        assert_eq!(k, "http.timeout");
        assert!(m.contains("not a duration"), "{m}");
        let (k, _) = invalid(&MINIMAL.replace("16MiB", "lots"));
        assert_eq!(k, "http.max_body");
        let (k, _) = invalid(&MINIMAL.replace("Europe/Brussels", "Europe/Atlantis"));
        assert_eq!(k, "timezone");
        let (k, _) = invalid(&MINIMAL.replace("kind = \"ep-api\"", "kind = \"gopher\""));
        assert_eq!(k, "sources[0].kind");
        let (k, _) = invalid(&MINIMAL.replace("transport = \"file\"", "transport = \"pigeon\""));
        assert_eq!(k, "mail.transport");
        let (k, m) = invalid(&format!(
            "{MINIMAL}\n[control]\nreaders = \"veille editors\"\n"
        ));
        assert_eq!(k, "control.readers");
        assert!(m.contains("not a Unix group name"), "{m}");
    }

    #[test]
    fn invalid_values_are_located_at_line_and_column() {
        let at = |text: &str| match load(text) {
            Err(e @ ConfigError::Invalid { .. }) => {
                let ConfigError::Invalid { line, column, .. } = e else {
                    unreachable!()
                };
                ((line, column), e.to_string())
            }
            other => panic!("expected an invalid key, got {other:?}"),
        };
        let (lc, shown) = at(&MINIMAL.replace("\"60s\"", "\"sixty\""));
        assert_eq!(lc, (8, 11));
        assert!(
            shown.starts_with(
                "/etc/veille/config.toml:8:11: http.timeout: \"sixty\" is not a duration"
            ),
            "{shown}"
        );
        let (lc, _) = at(&MINIMAL.replace("kind = \"ep-api\"", "kind = \"gopher\""));
        assert_eq!(lc, (17, 8));
        // A table that is missing: the table that should hold it.
        let (lc, shown) = at(&MINIMAL.replace("transport = \"file\"", "transport = \"smtp\""));
        assert_eq!(lc, (11, 1), "{shown}");
        let second = MINIMAL.to_string()
            + "[[sources]]\nid = \"two\"\nkind = \"feed\"\nurl = \"ftp://example.org/\"\nevery = \"1h\"\n";
        let (lc, shown) = at(&second);
        assert_eq!(lc, (23, 7), "{shown}");
        assert!(shown.contains(": sources[1].url: only http"), "{shown}");
        // Inline tables and dotted keys too.
        let inline = MINIMAL.replace(
            "[storage]\npath = \"data/veille.sled\"",
            "storage = { path = \"data/veille.sled\", retention = \"forever\" }",
        );
        assert_eq!(at(&inline).0, (4, 52));
    }

    #[test]
    fn unknown_keys_are_rejected_with_a_position() {
        match load(&MINIMAL.replace("[http]", "[http]\ncolour = \"blue\"")) {
            Err(ConfigError::Syntax { line, message, .. }) => {
                assert_eq!(line, 7, "{message}");
                assert!(message.contains("unknown field `colour`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_smtp_only_to_loopback() {
        let smtp = |host: &str| {
            MINIMAL.replace("transport = \"file\"", "transport = \"smtp\"")
                + &format!("[mail.smtp]\nhost = \"{host}\"\nport = 25\nsecurity = \"none\"\n")
        };
        let (k, m) = invalid(&smtp("smtp.example.org"));
        assert_eq!(k, "mail.smtp.security");
        assert!(m.contains("loopback"), "{m}");
        for host in ["127.0.0.1", "localhost", "::1"] {
            let c = load(&smtp(host)).unwrap_or_else(|e| panic!("{host}: {e}"));
            assert!(matches!(c.mail.transport, Transport::Smtp(_)));
        }
    }

    #[test]
    fn password_only_from_environment_and_never_printed() {
        let text = MINIMAL.replace("transport = \"file\"", "transport = \"smtp\"")
            + "[mail.smtp]\nhost = \"smtp.example.org\"\nport = 587\nsecurity = \"starttls\"\nusername = \"veille\"\n";
        let without = load(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(without.mail.transport.password_missing());
        let c = Config::from_str(Path::new("c.toml"), &text, Some("hunter2-secret".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{c:?}").contains("hunter2-secret"));
        let with_password = text.replace(
            "username = \"veille\"",
            "username = \"veille\"\npassword = \"x\"",
        );
        let (k, m) = invalid(&with_password);
        assert_eq!(k, "mail.smtp.password");
        assert!(m.contains(PASSWORD_ENV), "{m}");
        assert!(!c.mail.transport.password_missing());
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
    }
}
