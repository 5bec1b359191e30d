//! The daemon's control socket. sled lets one process open the store, so while `veille
//! run` holds it, the other commands typed on the command line go to the daemon: it
//! answers `status`, `dossier show`, `digest preview` and `export ical` itself, its poll
//! loop polls now for `poll`, and it sends for `digest send` between its own deliveries.
//! Over a Unix socket beside the store (`{storage.path}.sock`): one JSON request line in,
//! one JSON answer line out (the command's exit code, stdout and stderr), one exchange per
//! connection.
//!
//! Who may ask: the socket is owner-only (0600), or, with `[control] readers`, mode 0660
//! with that group, so that officers in it read previews without the service account. The
//! daemon reads each peer's credentials: its own user and root may ask anything, any other
//! peer (a member of the readers group) only the read-only queries.
//!
//! Owns: the socket file's life (bound after the store is opened, so only the process that
//! holds the store ever replaces a socket a killed daemon left; its mode and group; removed
//! at shutdown), the exchange, bounded in size and time on both sides, who may ask what, and
//! what a command line that may not use the socket is told. Holds the crate's third
//! `unsafe` call (`getgrnam_r`, to find the readers group).
//! Must not: accept anything but read-only queries ([`Query`]), "poll now" (which the poll
//! loop runs as one of its own steps, never beside another) and "send digests" (never
//! beside another delivery), let a peer other than the daemon's user or root poll or send,
//! or let a slow or silent client hold up the daemon.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::daemon::PollNow;
use super::{answer, print_poll, send_digests, Exit, Query, QueryContext, Running};
use crate::config::Config;
use crate::deliver::DeliverContext;
use crate::mail::Mailer;
use crate::store::Store;
use crate::watchlist::WatchlistSet;

/// The exchange's version: a request from another version is refused with a message.
const VERSION: u16 = 1;
/// A request is one short JSON line.
const MAX_REQUEST: u64 = 64 * 1024;
/// An answer is what the command prints: a calendar or a digest of a few hundred events.
const MAX_ANSWER: u64 = 256 * 1024 * 1024;
/// How long the daemon waits for a request, and the client for the request to be taken.
const REQUEST_TIME: Duration = Duration::from_secs(5);
/// How long an answer may take to compute and to be read.
const ANSWER_TIME: Duration = Duration::from_secs(120);
/// A poll waits for its slowest source (a source's own timeout may be minutes), a send
/// for the mail server (each send has its timeout, and there may be many).
const POLL_TIME: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    v: u16,
    /// The command line's `--now`, if it gave one, for a query or a send; the daemon's
    /// clock otherwise (a poll always runs on the daemon's clock).
    now: Option<DateTime<Utc>>,
    ask: Ask,
}

/// What the command line asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "kebab-case")]
pub(crate) enum Ask {
    Query {
        query: Query,
    },
    Poll {
        source: Option<String>,
        /// Absent from older clients: no force.
        #[serde(default)]
        force: bool,
    },
    DigestSend {
        watchlist: Option<String>,
        force: bool,
    },
}

/// The daemon's answer: what the command would have printed, and its exit code.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Answer {
    v: u16,
    exit: u8,
    pub stdout: String,
    pub stderr: String,
}

impl Answer {
    pub fn exit(&self) -> Exit {
        Exit::from_code(self.exit)
    }

    /// What a command's run gave: its exit (an error is printed as the command would) and
    /// what it wrote.
    fn of(exit: anyhow::Result<Exit>, out: Vec<u8>, mut err: Vec<u8>) -> Answer {
        let exit = exit.unwrap_or_else(|e| {
            let _ = writeln!(err, "veille: {e:#}");
            Exit::Failure
        });
        Answer {
            v: VERSION,
            exit: exit.code(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        }
    }

    /// Print it as the command would have, and give its exit.
    pub fn print(&self) -> anyhow::Result<Exit> {
        std::io::stdout().lock().write_all(self.stdout.as_bytes())?;
        std::io::stderr().lock().write_all(self.stderr.as_bytes())?;
        Ok(self.exit())
    }

    fn failure(message: String) -> Answer {
        Answer {
            v: VERSION,
            exit: Exit::Failure.code(),
            stdout: String::new(),
            stderr: format!("veille: {message}\n"),
        }
    }
}

/// `{storage.path}.sock`: beside the store, so that every command reading the same
/// configuration finds it.
pub(crate) fn socket_path(config: &Config) -> PathBuf {
    let store = &config.storage.path;
    let mut name = store
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "veille".into());
    name.push(".sock");
    store.with_file_name(name)
}

/// Ask the running daemon. `None` when no daemon answers (no socket, a socket a killed
/// daemon left, an exchange cut short): the caller then opens the store itself, and says
/// so plainly if another process holds it.
///
/// A command line that may not use the socket, or may not read the store when no daemon
/// runs, gets `Some` failure saying so and naming the fix, not the store's "permission
/// denied" from a fallback that cannot work either.
pub(crate) fn ask(config: &Config, now: Option<DateTime<Utc>>, ask: Ask) -> Option<Answer> {
    let path = socket_path(config);
    let sock = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(sock) => sock,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(Answer::failure(socket_denied(config, &path)));
        }
        Err(_) => return store_denied(config, &path).map(Answer::failure),
    };
    let request = Request {
        v: VERSION,
        now,
        ask,
    };
    match request_answer(sock, &request) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(socket = %path.display(), error = %e, "the running daemon did not answer; reading the store directly");
            None
        }
    }
}

/// What a command line that may not connect to the socket is told.
fn socket_denied(config: &Config, path: &Path) -> String {
    let folder = path.parent().unwrap_or(Path::new("/"));
    format!(
        "permission denied on the daemon's control socket {}: this user may not ask the daemon.\n  \
         hint: ask your operator to set `[control] readers` in {} to a group you are in, and to let \
         that group through the folder {} (docs/operations.md, \"Officers' access\"); after being \
         added to a group, log in again",
        path.display(),
        config.file.display(),
        folder.display()
    )
}

/// When no daemon answers and this user may not read the store either: what it is told
/// instead of the store's own error.
fn store_denied(config: &Config, path: &Path) -> Option<String> {
    let store = &config.storage.path;
    match std::fs::read_dir(store) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
            "the daemon is not running (no control socket answers at {}), and you may not read \
             its store {} yourself.\n  hint: ask your operator to start it (systemctl start veille); \
             while it runs, members of the `[control] readers` group can read previews",
            path.display(),
            store.display()
        )),
        _ => None,
    }
}

fn request_answer(
    mut sock: std::os::unix::net::UnixStream,
    request: &Request,
) -> std::io::Result<Answer> {
    sock.set_write_timeout(Some(REQUEST_TIME))?;
    sock.set_read_timeout(Some(match request.ask {
        Ask::Query { .. } => ANSWER_TIME,
        Ask::Poll { .. } | Ask::DigestSend { .. } => POLL_TIME,
    }))?;
    let mut bytes = serde_json::to_vec(request)?;
    bytes.push(b'\n');
    sock.write_all(&bytes)?;
    let mut line = String::new();
    BufReader::new(sock.take(MAX_ANSWER)).read_line(&mut line)?;
    Ok(serde_json::from_str(&line)?)
}

/// Bind the control socket. Called only by the process that holds the store, so a socket
/// file already there is one a killed daemon left, and is replaced. Without a socket the
/// daemon runs on, and says what is lost.
pub(super) fn listen(config: &Config) -> Option<(UnixListener, PathBuf)> {
    let path = socket_path(config);
    let unavailable = |error: &dyn std::fmt::Display| {
        tracing::warn!(
            socket = %path.display(),
            error = %error,
            "no control socket: while the daemon runs, the other commands (status, poll, digest, dossier, export) find the store in use"
        );
    };
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_socket() => {
            if let Err(e) = std::fs::remove_file(&path) {
                unavailable(&e);
                return None;
            }
        }
        Ok(_) => {
            unavailable(&"a file that is not a socket is in the way");
            return None;
        }
        Err(_) => {}
    }
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            unavailable(&e);
            return None;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        unavailable(&e);
        remove(&path);
        return None;
    }
    if let Some(group) = &config.control.readers {
        if let Err(e) = share_with(&path, group) {
            tracing::error!(
                socket = %path.display(),
                "{e:#}; the socket stays the daemon's user's only, and officers cannot read previews"
            );
        }
    }
    Some((listener, path))
}

/// Give the readers group the socket: its group, then mode 0660.
fn share_with(path: &Path, group: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let gid = readers_gid(group)?;
    std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| {
        format!(
            "[control] readers: cannot give the control socket to group {group:?} (gid {gid}); \
             the daemon's user must be a member of it (usermod -aG {group} veille, then restart the daemon)"
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .context("[control] readers: cannot make the control socket mode 0660")?;
    tracing::info!(socket = %path.display(), group, gid, "control socket readable by group");
    Ok(())
}

/// The gid of the `[control] readers` group, or an error naming the key and the fix.
pub(crate) fn readers_gid(group: &str) -> anyhow::Result<u32> {
    match group_id(group) {
        Ok(Some(gid)) => Ok(gid),
        Ok(None) => anyhow::bail!(
            "[control] readers: there is no group {group:?} on this host\n  \
             hint: create it (groupadd {group}) and add the daemon's user and the officers to it \
             (usermod -aG {group} USER), or remove the key to keep the control socket the daemon's user's only"
        ),
        Err(e) => anyhow::bail!("[control] readers: cannot look up group {group:?}: {e}"),
    }
}

/// The gid of the group named `name` (files, LDAP, whatever the host's NSS says), `None`
/// when there is none.
#[allow(unsafe_code)]
fn group_id(name: &str) -> std::io::Result<Option<u32>> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte"))?;
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: `getgrnam_r` writes the entry into `grp` and its strings into `buf`, of
        // the length given, and sets `found` to null or to `&grp`; all outlive the call,
        // and only the integer `gr_gid` is read after it.
        let (rc, found, gid) = unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut found: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            );
            (rc, !found.is_null(), grp.gr_gid)
        };
        match rc {
            0 => return Ok(found.then_some(gid)),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            // Some NSS modules say "no such group" with one of these.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

/// Remove the socket at shutdown.
pub(super) fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(socket = %path.display(), error = %e, "could not remove the control socket");
        }
    }
}

/// What the requests need from the daemon.
#[derive(Clone)]
pub(super) struct Daemon<F> {
    pub config: Arc<Config>,
    pub store: Store,
    pub watchlists: watch::Receiver<WatchlistSet>,
    pub now: F,
    /// This process, and when it started (`status` says so).
    pub running: Running,
    /// The poll loop's "poll now" queue.
    pub poll_now: tokio::sync::mpsc::Sender<PollNow>,
    pub mailer: Mailer,
    /// Held while delivering: the daemon's own deliveries and this one take turns.
    pub delivering: Arc<tokio::sync::Mutex<()>>,
}

/// Who asks: a peer's uid, and whether it may poll and send.
#[derive(Debug, Clone, Copy)]
struct Peer {
    uid: Option<u32>,
    /// The daemon's own user or root.
    trusted: bool,
}

/// What a peer that may only ask queries is told when it asks for a poll or a send.
const REFUSED: &str = "only the service account may poll or send; ask your operator \
    (you may still use status, digest preview, dossier show and export ical)";

/// Answer requests until `stop` turns true.
pub(super) async fn serve<F>(
    listener: UnixListener,
    daemon: Daemon<F>,
    mut stop: watch::Receiver<bool>,
) where
    F: Fn() -> DateTime<Utc> + Clone + Send + Sync + 'static,
{
    // The socket file was made by this process: its owner is the daemon's user.
    let own = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().and_then(|p| std::fs::metadata(p).ok()))
        .map(|m| m.uid());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((sock, _)) = accepted else {
            // Out of descriptors, most likely: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let uid = sock.peer_cred().ok().map(|c| c.uid());
        let peer = Peer {
            uid,
            trusted: uid.is_some_and(|u| u == 0 || Some(u) == own),
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            if let Err(e) = exchange(sock, &daemon, peer).await {
                tracing::debug!(error = %e, "control socket: exchange cut short");
            }
        });
    }
}

async fn exchange<F>(sock: UnixStream, d: &Daemon<F>, peer: Peer) -> std::io::Result<()>
where
    F: Fn() -> DateTime<Utc>,
{
    let (rd, mut wr) = sock.into_split();
    let mut line = String::new();
    let mut rd = tokio::io::BufReader::new(rd.take(MAX_REQUEST));
    tokio::time::timeout(REQUEST_TIME, rd.read_line(&mut line)).await??;
    let answer = match serde_json::from_str::<Request>(&line) {
        Ok(Request {
            v: VERSION,
            now,
            ask: Ask::Query { query },
        }) => query_answer(d, now, &query),
        Ok(Request {
            v: VERSION,
            ask: ask @ (Ask::Poll { .. } | Ask::DigestSend { .. }),
            ..
        }) if !peer.trusted => {
            let uid = peer.uid.map_or_else(|| "unknown".to_string(), |u| u.to_string());
            tracing::warn!(uid = %uid, ?ask, "control socket: refused a poll or send from a reader (only the daemon's user and root may)");
            Answer::failure(REFUSED.into())
        }
        Ok(Request {
            v: VERSION,
            ask: Ask::Poll { source, force },
            ..
        }) => poll_answer(d, source, force).await,
        Ok(Request {
            v: VERSION,
            now,
            ask: Ask::DigestSend { watchlist, force },
        }) => send_answer(d, now, watchlist, force).await,
        Ok(r) => Answer::failure(format!(
            "the running daemon answers requests of version {VERSION}, not {}: run the same veille as the daemon",
            r.v
        )),
        Err(e) => Answer::failure(format!(
            "the running daemon could not read the request ({e}): run the same veille as the daemon"
        )),
    };
    let mut bytes = serde_json::to_vec(&answer)?;
    bytes.push(b'\n');
    tokio::time::timeout(ANSWER_TIME, wr.write_all(&bytes)).await??;
    wr.shutdown().await
}

/// A read-only query, answered from the daemon's store and watchlists.
fn query_answer<F>(d: &Daemon<F>, now: Option<DateTime<Utc>>, query: &Query) -> Answer
where
    F: Fn() -> DateTime<Utc>,
{
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = {
        let watchlists = d.watchlists.borrow();
        let now = now.unwrap_or_else(|| (d.now)());
        let ctx = QueryContext {
            config: &d.config,
            watchlists: &watchlists,
            broken: &[],
            store: &d.store,
            running: Some(d.running),
        };
        answer(query, now, ctx, &mut out, &mut err)
    };
    Answer::of(exit, out, err)
}

/// "Poll now", run by the poll loop as one of its steps.
async fn poll_answer<F>(d: &Daemon<F>, source: Option<String>, force: bool) -> Answer
where
    F: Fn() -> DateTime<Utc>,
{
    let (reply, report) = tokio::sync::oneshot::channel();
    let asked = d
        .poll_now
        .send(PollNow {
            source,
            force,
            reply,
        })
        .await;
    match (asked, report.await) {
        (Ok(()), Ok(Ok(report))) => {
            let mut out = Vec::new();
            let exit = print_poll(&report, (d.now)(), d.config.timezone, &mut out);
            Answer::of(exit, out, Vec::new())
        }
        (Ok(()), Ok(Err(e))) => Answer::failure(e),
        _ => Answer::failure("the daemon stopped before the poll finished".into()),
    }
}

/// "Send digests", between the daemon's own deliveries.
async fn send_answer<F>(
    d: &Daemon<F>,
    now: Option<DateTime<Utc>>,
    watchlist: Option<String>,
    force: bool,
) -> Answer
where
    F: Fn() -> DateTime<Utc>,
{
    let _one_at_a_time = d.delivering.lock().await;
    // Read once it is this send's turn: the watchlists as they are then.
    let watchlists = d.watchlists.borrow().clone();
    let ctx = DeliverContext {
        config: &d.config,
        store: &d.store,
        mailer: &d.mailer,
        watchlists: &watchlists,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let now = now.unwrap_or_else(|| (d.now)());
    let exit = send_digests(ctx, now, watchlist.as_deref(), force, &mut out, &mut err).await;
    Answer::of(exit, out, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Format;

    /// The shipped configuration, with the store at `storage`.
    fn config(storage: &str) -> Config {
        let shipped = include_str!("../../config.toml");
        let text = shipped.replace(
            "path = \"data/veille.sled\"",
            &format!("path = \"{storage}\""),
        );
        assert!(shipped.contains("path = \"data/veille.sled\""));
        Config::from_str(Path::new("/srv/veille/config.toml"), &text, None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_socket_sits_beside_the_store() {
        assert_eq!(
            socket_path(&config("data/veille.sled")),
            Path::new("/srv/veille/data/veille.sled.sock")
        );
        assert_eq!(
            socket_path(&config("/var/lib/veille/store")),
            Path::new("/var/lib/veille/store.sock")
        );
    }

    #[test]
    fn requests_and_answers_keep_their_meaning_on_the_wire() {
        let queries = [
            Query::Status {
                format: Format::Json,
            },
            Query::DossierShow {
                reference: "2016/0132(COD)".into(),
                format: Format::Text,
            },
            Query::DigestPreview {
                watchlist: "state-aid".into(),
                format: Format::Html,
            },
            Query::ExportIcal {
                watchlist: "air-quality".into(),
            },
            Query::Backtest {
                watchlist: "draft".into(),
                file: Some(crate::app::WatchlistFile {
                    path: "/home/officer/draft.toml".into(),
                    text: "name = \"Draft\"\nkeywords = [\"marchés publics\"]\n".into(),
                }),
                since_secs: 90 * 86_400,
                format: Format::Json,
            },
            Query::Search {
                words: "2021/0223(COD)".into(),
                since_secs: None,
                source: Some("ep-press".into()),
                format: Format::Text,
            },
        ];
        let asks = queries
            .into_iter()
            .map(|query| Ask::Query { query })
            .chain([
                Ask::Poll {
                    source: None,
                    force: false,
                },
                Ask::Poll {
                    source: Some("council-press".into()),
                    force: true,
                },
            ]);
        for ask in asks {
            let r = Request {
                v: VERSION,
                now: "2026-11-30T09:00:00Z".parse().ok(),
                ask: ask.clone(),
            };
            let line = serde_json::to_string(&r).unwrap_or_default();
            assert!(!line.contains('\n'), "one line: {line}");
            let back: Request = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((back.v, back.now, back.ask), (r.v, r.now, ask));
        }
        // A request from an older client, without `force`, still reads.
        let older: Request =
            serde_json::from_str(r#"{"v":1,"now":null,"ask":{"ask":"poll","source":"ep-api"}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(older.ask, Ask::Poll { force: false, .. }));
        assert_eq!(
            serde_json::to_string(&Query::Status {
                format: Format::Json
            })
            .unwrap_or_default(),
            r#"{"command":"status","format":"json"}"#
        );
        for exit in [Exit::Ok, Exit::Failure, Exit::SourcesFailed, Exit::Invalid] {
            assert_eq!(Exit::from_code(exit.code()), exit);
        }
        let a = Answer::failure("no".into());
        assert_eq!(
            (a.exit(), a.stderr.as_str()),
            (Exit::Failure, "veille: no\n")
        );
    }
}
