//! Wiring and lifecycle: loads configuration and watchlists, opens the store, builds the
//! fetcher and mailer, runs one command or the daemon's loops. Must not parse, match,
//! render, or touch sled/reqwest/lettre types: it calls the modules that own them.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::archive;
use crate::config::Config;
use crate::deliver::{self, DeliverContext, DeliveryReport, Mode, Outcome};
use crate::digest;
use crate::dossier;
use crate::fetch::Fetcher;
use crate::mail::Mailer;
use crate::model::{Dossier, DossierRef, ProcedureRef};
use crate::poll::{self, PollContext, PollReport, Selection};
use crate::store::Store;
use crate::view;
use crate::watchlist::{self, WatchlistSet};

mod control;
mod cpu;
mod daemon;
mod memory;
pub mod server;

/// The process exit codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Failure,
    SourcesFailed,
    Invalid,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::SourcesFailed => 2,
            Exit::Invalid => 3,
        }
    }

    /// The exit of a code from [`Exit::code`]; any other code is a failure.
    pub fn from_code(code: u8) -> Exit {
        match code {
            0 => Exit::Ok,
            2 => Exit::SourcesFailed,
            3 => Exit::Invalid,
            _ => Exit::Failure,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options every command shares.
#[derive(Debug, Clone)]
pub struct Global {
    pub config: PathBuf,
    /// A fixed "now" (tests, replays); the wall clock otherwise.
    pub now: Option<DateTime<Utc>>,
}

impl Global {
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    Run,
    Check,
    Poll {
        source: Option<String>,
        /// Poll even sources whose server asked to wait (`Retry-After`).
        force: bool,
    },
    DigestSend {
        watchlist: Option<String>,
        force: bool,
    },
    Match {
        watchlist: Option<String>,
        /// `--summary`: tested with `text` as its title.
        summary: Option<String>,
        /// `--source`: the source the item would come from.
        source: Option<String>,
        text: String,
    },
    /// `mail test [ADDRESS]`: one short message through the configured transport.
    MailTest {
        to: Option<String>,
    },
    /// `status`, `dossier show`, `digest preview`, `export ical`.
    Query(Query),
    /// `links WATCHLIST`: the web window's page, feed and calendar URLs of a watchlist.
    Links {
        watchlist: String,
    },
    /// `hash-password`: an Argon2 hash of the password read on stdin, for `[server.users]`.
    HashPassword,
}

/// A command that only reads the store. While the daemon holds the store, the daemon
/// answers it for the command-line process (`control`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Query {
    Status {
        format: Format,
    },
    DossierShow {
        reference: String,
        format: Format,
    },
    DigestPreview {
        watchlist: String,
        format: Format,
    },
    ExportIcal {
        watchlist: String,
    },
    /// `backtest`: what a watchlist (installed, or a file's text) would have matched in
    /// the archive over the last `since_secs`.
    Backtest {
        watchlist: String,
        /// A watchlist file not installed (yet): its path and text.
        #[serde(default)]
        file: Option<WatchlistFile>,
        since_secs: u64,
        format: Format,
    },
    /// `search`: the archive by words or reference, newest first.
    Search {
        words: String,
        /// Over the last this many seconds; the whole archive when absent.
        #[serde(default)]
        since_secs: Option<u64>,
        #[serde(default)]
        source: Option<String>,
        format: Format,
    },
}

/// A watchlist file read by the command-line process, for a daemon to load the same.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WatchlistFile {
    pub path: PathBuf,
    pub text: String,
}

/// Logs go to stderr; `RUST_LOG` filters (default: `info` for the daemon, `warn` for
/// one-shot commands, whose results are on stdout).
pub fn init_logging(format: LogFormat, daemon: bool) {
    let default = if daemon { "info,sled=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Run one command to completion.
/// Every command runs on one thread: the daemon is idle nearly all the time and every
/// worker thread costs resident memory, and a poll parses on the thread that drives it
/// anyway. Handing each response between a worker and that thread cost a poll 12 % more
/// CPU (0.57 s against 0.50 s over the 500-feed bench corpus), for no gain in wall time.
pub fn execute(g: Global, cmd: Command) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(execute_async(g, cmd))
}

async fn execute_async(g: Global, cmd: Command) -> anyhow::Result<Exit> {
    if matches!(cmd, Command::HashPassword) {
        // Needs no configuration: its output goes into one.
        return hash_password();
    }
    let Some(config) = load_config(&g) else {
        return Ok(Exit::Invalid);
    };
    let cmd = match read_backtest_file(cmd) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("veille: {e:#}");
            return Ok(Exit::Invalid);
        }
    };
    if let Some(exit) = preflight(&config, &cmd) {
        return Ok(exit);
    }
    let loaded = load_watchlists(&config);
    if let Command::Links { watchlist } = &cmd {
        return links(&config, &loaded, watchlist);
    }
    if matches!(cmd, Command::Check) {
        for w in &loaded.warnings {
            eprintln!("{}", w.warning_text());
        }
    }
    if let Command::MailTest { to } = &cmd {
        // Whatever the watchlists' state: it tests the mail set-up only.
        let first = loaded
            .lists
            .iter()
            .find_map(|w| w.recipients.first().cloned());
        return mail_test(&g, &config, to.clone().or(first)).await;
    }
    if !loaded.errors.is_empty() {
        return match cmd {
            Command::Query(q) => query_despite_errors(&g, &config, loaded, &q),
            Command::Match {
                watchlist,
                summary,
                source,
                text,
            } => match_despite_errors(
                &g,
                &config,
                loaded,
                watchlist.as_deref(),
                Probe {
                    text: &text,
                    summary: summary.as_deref(),
                    source: source.as_deref(),
                },
            ),
            _ => {
                print_watchlist_errors(&loaded.errors);
                Ok(Exit::Invalid)
            }
        };
    }
    let watchlists = WatchlistSet::new(loaded.lists);
    match cmd {
        Command::Check => check(&g, &config, &watchlists),
        Command::Match {
            watchlist,
            summary,
            source,
            text,
        } => match_text(
            &g,
            &config,
            &watchlists,
            watchlist.as_deref(),
            Probe {
                text: &text,
                summary: summary.as_deref(),
                source: source.as_deref(),
            },
        ),
        Command::Poll { source, force } => {
            poll_command(&g, &config, &watchlists, source, force).await
        }
        Command::DigestSend { watchlist, force } => {
            digest_send_command(&g, &config, &watchlists, watchlist, force).await
        }
        Command::MailTest { .. } | Command::Links { .. } | Command::HashPassword => {
            unreachable!("answered above")
        }
        Command::Run => {
            if refuse_without_password(&config) {
                return Ok(Exit::Invalid);
            }
            daemon::run(g, config, watchlists).await
        }
        Command::Query(q) => query(&g, &config, &watchlists, &q),
    }
}

/// What every command checks of the configuration before its watchlists are read: the
/// warnings `check` prints about missing secrets, and the group of the control socket.
fn preflight(config: &Config, cmd: &Command) -> Option<Exit> {
    if let Some(m) = config.mail.transport.password_missing_message() {
        // Only the commands that send need the password (the daemon, `digest send`,
        // `mail test`); `check` says it is missing, the others say nothing.
        if matches!(cmd, Command::Check) {
            eprintln!(
                "veille: warning: {m}; `run`, `digest send` and `mail test` will refuse to start"
            );
        }
    }
    for m in config.channels.iter().filter_map(|c| c.missing_message()) {
        // Only sending needs the channels' secrets: `check` warns, the daemon and
        // `digest send` say so, and each delivery to that channel fails naming the variable
        // (mail and the other channels go on).
        match cmd {
            Command::Check => eprintln!("veille: warning: {m}"),
            Command::Run | Command::DigestSend { .. } => tracing::error!("{m}"),
            _ => {}
        }
    }
    if let (Command::Check | Command::Run, Some(group)) = (&cmd, &config.control.readers) {
        // The group the daemon gives its control socket to must exist.
        if let Err(e) = control::readers_gid(group) {
            eprintln!(
                "veille: invalid configuration: {}: {e:#}",
                config.file.display()
            );
            return Some(Exit::Invalid);
        }
    }
    None
}

/// `veille poll [--source ID] [--force]`: asked of a running daemon, or polled here.
async fn poll_command(
    g: &Global,
    config: &Config,
    watchlists: &WatchlistSet,
    source: Option<String>,
    force: bool,
) -> anyhow::Result<Exit> {
    // A running daemon holds the store: its poll loop polls now.
    let ask = control::Ask::Poll {
        source: source.clone(),
        force,
    };
    if let Some(a) = control::ask(config, g.now, ask) {
        return a.print();
    }
    let store = open_store(g, config)?;
    store.check_free_space(config.storage.min_free)?;
    let fetcher = Fetcher::new(config.http.clone()).context("building the HTTP client")?;
    let ctx = PollContext {
        config,
        fetcher: &fetcher,
        store: &store,
        watchlists,
    };
    let which = match &source {
        Some(id) => Selection::One { id, force },
        None => Selection::All { force },
    };
    let now = g.now();
    let report = poll::poll_once(ctx, now, which).await?;
    // Buffered: stdout is line-buffered, one write per source otherwise.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    print_poll(&report, now, config.timezone, &mut out)
}

/// `veille digest send [WATCHLIST] [--force]`: asked of a running daemon, or sent here.
async fn digest_send_command(
    g: &Global,
    config: &Config,
    watchlists: &WatchlistSet,
    watchlist: Option<String>,
    force: bool,
) -> anyhow::Result<Exit> {
    // A running daemon holds the store: it sends, between its own deliveries.
    let ask = control::Ask::DigestSend {
        watchlist: watchlist.clone(),
        force,
    };
    if let Some(a) = control::ask(config, g.now, ask) {
        return a.print();
    }
    if refuse_without_password(config) {
        return Ok(Exit::Invalid);
    }
    let store = open_store(g, config)?;
    store.check_free_space(config.storage.min_free)?;
    let mailer = Mailer::new(config.mail.transport.clone()).context("setting up mail")?;
    let ctx = DeliverContext {
        config,
        store: &store,
        mailer: &mailer,
        watchlists,
    };
    // Not locked across the sending: logs from other threads write to stderr.
    send_digests(
        ctx,
        g.now(),
        watchlist.as_deref(),
        force,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await
}

/// `veille hash-password`: the password is one line on stdin (never an argument, which
/// other users could read in the process list).
fn hash_password() -> anyhow::Result<Exit> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("veille: no password on stdin; e.g. `read -rs P && printf '%s\\n' \"$P\" | veille hash-password`");
        return Ok(Exit::Invalid);
    }
    let hash = crate::web::access::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(Exit::Ok)
}

/// `veille links WATCHLIST`: its page, feed and calendar URLs, the tokens included.
fn links(config: &Config, loaded: &watchlist::Loaded, id: &str) -> anyhow::Result<Exit> {
    if !loaded.lists.iter().any(|w| w.id == id) {
        let set = WatchlistSet::new(loaded.lists.clone());
        eprintln!("{}", no_watchlist(id, &set));
        return Ok(Exit::Failure);
    }
    match crate::web::links(config, id) {
        Ok(text) => {
            print!("{text}");
            Ok(Exit::Ok)
        }
        Err(e) => {
            eprintln!("veille: {e}");
            Ok(Exit::Invalid)
        }
    }
}

/// `backtest FILE`: a watchlist given as a path (with a slash, or ending in `.toml`) is
/// read here, so that a running daemon tries the same text.
fn read_backtest_file(cmd: Command) -> anyhow::Result<Command> {
    let Command::Query(Query::Backtest {
        watchlist,
        file: None,
        since_secs,
        format,
    }) = cmd
    else {
        return Ok(cmd);
    };
    let path = PathBuf::from(&watchlist);
    // An id never has a slash; a file name in the current folder ends in `.toml`.
    if !(watchlist.ends_with(".toml") || watchlist.contains('/')) {
        return Ok(Command::Query(Query::Backtest {
            watchlist,
            file: None,
            since_secs,
            format,
        }));
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the watchlist file {}", path.display()))?;
    let path = std::path::absolute(&path).unwrap_or(path);
    Ok(Command::Query(Query::Backtest {
        watchlist: watchlist::id_of(&path),
        file: Some(WatchlistFile { path, text }),
        since_secs,
        format,
    }))
}

/// A command that sends mail cannot start when SMTP has a username and no password: said
/// on stderr (exit 3 follows).
fn refuse_without_password(config: &Config) -> bool {
    match config.mail.transport.password_missing_message() {
        Some(m) => {
            eprintln!(
                "veille: invalid configuration: {}: {m}; sending mail needs it",
                config.file.display()
            );
            true
        }
        None => false,
    }
}

/// `mail test`: one short plain message to `to` (default: the `from` address) through the
/// configured transport, printing each step reached; a failure in one line naming the
/// server and the step (exit 1).
async fn mail_test(g: &Global, config: &Config, to: Option<String>) -> anyhow::Result<Exit> {
    if refuse_without_password(config) {
        return Ok(Exit::Invalid);
    }
    let to = to.unwrap_or_else(|| config.mail.from.clone());
    let now = g.now();
    let host = hostname_for_test();
    let msg = crate::mail::OutgoingMessage {
        from: config.mail.from.clone(),
        to: vec![to.clone()],
        subject: "veille: test message".to_string(),
        text: format!(
            "This is a test message from veille on {host}, sent by `veille mail test` at {}.\n\nIf you can read it, mail from veille reaches this address. Nothing else to do.\n",
            now.to_rfc3339()
        ),
        html: format!(
            "<p>This is a test message from veille on {host}, sent by <code>veille mail test</code> at {}.</p><p>If you can read it, mail from veille reaches this address. Nothing else to do.</p>",
            now.to_rfc3339()
        ),
        message_id: crate::mail::message_id_for(
            &format!("mail-test/{}", now.to_rfc3339()),
            &crate::mail::sender_domain(&config.mail.from).unwrap_or_else(|_| "localhost".into()),
        ),
        list_id: "veille-mail-test".to_string(),
        date: now,
        list: Default::default(),
    };
    let mailer = match Mailer::new(config.mail.transport.clone()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("veille: mail test FAILED: {e}");
            return Ok(Exit::Failure);
        }
    };
    println!("mail test: to {to}");
    let result = mailer
        .test_send(&msg, &mut |step| println!("  {step}"))
        .await;
    match result {
        Ok(()) => {
            println!("mail test: ok");
            Ok(Exit::Ok)
        }
        Err(e) => {
            eprintln!("veille: mail test FAILED: {e}");
            Ok(Exit::Failure)
        }
    }
}

/// The machine's name for the test message's text ("this host" when unknown).
fn hostname_for_test() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".to_string())
}

/// A query is answered by the running daemon when there is one (it holds the store),
/// otherwise from the store opened here.
fn query(
    g: &Global,
    config: &Config,
    watchlists: &WatchlistSet,
    q: &Query,
) -> anyhow::Result<Exit> {
    if let Some(a) = control::ask(config, g.now, control::Ask::Query { query: q.clone() }) {
        return a.print();
    }
    let store = open_store(g, config)?;
    let ctx = QueryContext {
        config,
        watchlists,
        broken: &[],
        store: &store,
        running: None,
    };
    answer(
        q,
        g.now(),
        ctx,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// What a read-only command prints on stderr when the files on disk have errors.
const ERRORS_ON_DISK: &str = "the watchlist files on disk have errors (veille check lists them)";

/// A read-only query while the watchlist files on disk have errors. A running daemon
/// answers with the set it runs on (the previous one), as it would anyway. Without one,
/// `status` and `dossier show` are answered here (the broken watchlists shown without a
/// next digest); `digest preview` and `export ical` are answered for a watchlist that
/// loaded, and refused with its errors (exit 3) for one that did not.
fn query_despite_errors(
    g: &Global,
    config: &Config,
    loaded: watchlist::Loaded,
    q: &Query,
) -> anyhow::Result<Exit> {
    if let Some(a) = control::ask(config, g.now, control::Ask::Query { query: q.clone() }) {
        let exit = a.print()?;
        eprintln!("veille: warning: {ERRORS_ON_DISK}; the daemon runs on the previous set");
        return Ok(exit);
    }
    let one = match q {
        Query::DigestPreview { watchlist, .. } | Query::ExportIcal { watchlist } => {
            Some(watchlist.as_str())
        }
        Query::Backtest {
            watchlist,
            file: None,
            ..
        } => Some(watchlist.as_str()),
        Query::Status { .. }
        | Query::DossierShow { .. }
        | Query::Backtest { .. }
        | Query::Search { .. } => None,
    };
    if let Some(id) = one.filter(|id| loaded.is_broken(id)) {
        print_errors_of(&loaded, id);
        return Ok(Exit::Invalid);
    }
    let broken = loaded.broken.clone().unwrap_or_default();
    let watchlists = WatchlistSet::new(loaded.lists);
    let store = open_store(g, config)?;
    let ctx = QueryContext {
        config,
        watchlists: &watchlists,
        broken: &broken,
        store: &store,
        running: None,
    };
    let exit = answer(
        q,
        g.now(),
        ctx,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )?;
    eprintln!(
        "veille: warning: {ERRORS_ON_DISK}; `veille run` does not start until they are fixed"
    );
    Ok(exit)
}

/// `match` while the watchlist files on disk have errors: the watchlists that loaded are
/// tried (as `match` always tries the files on disk, which an officer has just edited,
/// never a running daemon's set); a watchlist asked for by name that has errors is
/// refused with them (exit 3).
fn match_despite_errors(
    g: &Global,
    config: &Config,
    loaded: watchlist::Loaded,
    only: Option<&str>,
    probe: Probe,
) -> anyhow::Result<Exit> {
    if let Some(id) = only.filter(|id| loaded.is_broken(id)) {
        print_errors_of(&loaded, id);
        return Ok(Exit::Invalid);
    }
    let not_tried = match &loaded.broken {
        Some(ids) => ids.join(", "),
        None => "all".to_string(),
    };
    let exit = match_text(g, config, &WatchlistSet::new(loaded.lists), only, probe)?;
    eprintln!("veille: warning: {ERRORS_ON_DISK}; not tried: {not_tried}");
    Ok(exit)
}

/// The errors of the watchlist `id` (all of them when the folder could not be read).
fn print_errors_of(loaded: &watchlist::Loaded, id: &str) {
    let own: Vec<watchlist::WatchlistError> = loaded
        .errors
        .iter()
        .filter(|e| loaded.broken.is_none() || watchlist::id_of(&e.file) == id)
        .cloned()
        .collect();
    print_watchlist_errors(&own);
}

fn print_watchlist_errors(errors: &[watchlist::WatchlistError]) {
    eprintln!("veille: {} error(s) in the watchlists:", errors.len());
    for e in errors {
        eprintln!("{e}");
    }
}

/// The daemon that answers a query, for `status` to say so.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Running {
    pub pid: u32,
    pub since: DateTime<Utc>,
}

/// What a query reads: the store, and the configuration and watchlists of the process
/// that has it open (the running daemon's, when `running` says so).
#[derive(Clone, Copy)]
pub(crate) struct QueryContext<'a> {
    pub config: &'a Config,
    pub watchlists: &'a WatchlistSet,
    /// The ids of watchlist files that have errors and are not in `watchlists` (only
    /// without a daemon: a daemon answers with the set it runs on).
    pub broken: &'a [String],
    pub store: &'a Store,
    pub running: Option<Running>,
}

/// Answer a query, writing what the command prints on stdout to `out` and its messages to
/// `err`.
pub(crate) fn answer(
    q: &Query,
    now: DateTime<Utc>,
    ctx: QueryContext<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let QueryContext {
        config,
        watchlists,
        store,
        ..
    } = ctx;
    match q {
        Query::Status { format } => status_answer(*format, now, &ctx, out, err),
        Query::DossierShow { reference, format } => {
            dossier_show(store, reference, *format, out, err)
        }
        Query::DigestPreview { watchlist, format } => {
            digest_preview(watchlist, *format, now, &ctx, out, err)
        }
        Query::ExportIcal { watchlist } => {
            let Some(w) = watchlists.get(watchlist) else {
                writeln!(err, "{}", no_watchlist(watchlist, watchlists))?;
                return Ok(Exit::Failure);
            };
            let ics = deliver::calendar(config, store, w, now)?;
            out.write_all(ics.as_bytes())?;
            Ok(Exit::Ok)
        }
        Query::Backtest {
            watchlist,
            file,
            since_secs,
            format,
        } => {
            let since = Duration::from_secs(*since_secs);
            let tried = Tried {
                watchlist,
                file: file.as_ref(),
                since,
                format: *format,
            };
            backtest(tried, now, config, watchlists, store, out, err)
        }
        Query::Search {
            words,
            since_secs,
            source,
            format,
        } => search_answer(words, *since_secs, source.clone(), *format, now, &ctx, out),
    }
}

/// `veille status`: a store problem first (and in the exit code), then the status.
fn status_answer(
    format: Format,
    now: DateTime<Utc>,
    ctx: &QueryContext<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let QueryContext {
        config,
        watchlists,
        broken,
        store,
        running,
    } = *ctx;
    if let Some(problem) = store.problem() {
        // Said first, and by the exit code: the rest may not be readable.
        writeln!(err, "veille: STORE PROBLEM: {problem}")?;
        if store.failed() {
            if let Some(r) = running {
                writeln!(out, "daemon: running, pid {}", r.pid)?;
            }
            writeln!(out, "store: FAILED: {problem}")?;
            return Ok(Exit::Failure);
        }
    }
    let s = gather_status(now, config, (watchlists, broken), store, running)?;
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&view::status::json(&s))?
        )?,
        Format::Text | Format::Html => out.write_all(view::status::text(&s).as_bytes())?,
    }
    if let Some(problem) = store.problem() {
        if format != Format::Json {
            writeln!(out, "store: {problem}")?;
        }
        return Ok(Exit::Failure);
    }
    Ok(Exit::Ok)
}

/// `veille digest preview WATCHLIST`: the pending digest, nothing sent or marked.
fn digest_preview(
    watchlist: &str,
    format: Format,
    now: DateTime<Utc>,
    ctx: &QueryContext<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let QueryContext {
        config,
        watchlists,
        store,
        ..
    } = *ctx;
    let Some(w) = watchlists.get(watchlist) else {
        writeln!(err, "{}", no_watchlist(watchlist, watchlists))?;
        return Ok(Exit::Failure);
    };
    let d = deliver::build_digest(config, store, w, now, false)?;
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&digest::to_json(&d))?
        )?,
        Format::Text | Format::Html => {
            let r = digest::render(&d)?;
            if format == Format::Html {
                writeln!(out, "{}", r.html)?;
            } else {
                writeln!(out, "Subject: {}\n\n{}", r.subject, r.text)?;
            }
        }
    }
    Ok(Exit::Ok)
}

/// `veille search WORDS`: the archive, newest first.
fn search_answer(
    words: &str,
    since_secs: Option<u64>,
    source: Option<String>,
    format: Format,
    now: DateTime<Utc>,
    ctx: &QueryContext<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let since = since_secs.map_or(ctx.config.storage.archive, Duration::from_secs);
    let since = dossier::backfill_horizon(now, since);
    let query = archive::SearchQuery::parse(words, source);
    let found = ctx
        .store
        .archive_search(since, &query, archive::Newest::all())?;
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&archive::search_json(words, since, &found))?
        )?,
        Format::Text | Format::Html => {
            out.write_all(archive::search_text(words, since, &found).as_bytes())?
        }
    }
    Ok(Exit::Ok)
}

/// The watchlist a `backtest` tries, over how long, printed how.
struct Tried<'a> {
    watchlist: &'a str,
    file: Option<&'a WatchlistFile>,
    since: Duration,
    format: Format,
}

/// `backtest`: what the watchlist (installed, or the file's) would have matched in the
/// archive since `since` ago, with its reasons, grouped like a digest.
fn backtest(
    t: Tried<'_>,
    now: DateTime<Utc>,
    config: &Config,
    watchlists: &WatchlistSet,
    store: &Store,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let from_file;
    let (set, id) = match t.file {
        Some(f) => match load_watchlist_file(config, f) {
            Ok(w) => {
                let id = w.id.clone();
                from_file = WatchlistSet::new(vec![w]);
                (&from_file, id)
            }
            Err(errors) => {
                writeln!(err, "veille: {} error(s) in the watchlists:", errors.len())?;
                for e in errors {
                    writeln!(err, "{e}")?;
                }
                return Ok(Exit::Invalid);
            }
        },
        None => {
            if watchlists.get(t.watchlist).is_none() {
                writeln!(err, "{}", no_watchlist(t.watchlist, watchlists))?;
                return Ok(Exit::Failure);
            }
            (watchlists, t.watchlist.to_string())
        }
    };
    let since = dossier::backfill_horizon(now, t.since);
    let wanted = [&id];
    let records = store.archive_where(since, |a| archive::matches_any(set, &wanted, a))?;
    let found = archive::backtest(set, &id, records);
    match t.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&archive::backtest_json(&id, since, &found))?
        )?,
        Format::Text | Format::Html => {
            out.write_all(archive::backtest_text(&id, since, &found).as_bytes())?
        }
    }
    Ok(Exit::Ok)
}

/// A watchlist file's text, validated as `check` validates the installed ones (the same
/// file:line:col errors).
pub(crate) fn load_watchlist_file(
    config: &Config,
    f: &WatchlistFile,
) -> Result<watchlist::Watchlist, Vec<watchlist::WatchlistError>> {
    let known: Vec<String> = config.sources.iter().map(|s| s.id.clone()).collect();
    let id = watchlist::id_of(&f.path);
    watchlist::load_str(&id, &f.path, &f.text, &known)
}

/// Load and validate the configuration; print its error (exit 3 follows).
fn load_config(g: &Global) -> Option<Config> {
    match Config::load(&g.config) {
        Ok(c) => Some(c),
        Err(crate::config::ConfigError::Read { file, source })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            eprintln!("{}", missing_config(&file));
            None
        }
        Err(e) => {
            eprintln!("veille: invalid configuration: {e}");
            None
        }
    }
}

/// A configuration file that does not exist: where veille looked, whence that place came,
/// and how to give another.
fn missing_config(file: &std::path::Path) -> String {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let from_env =
        std::env::var_os("VEILLE_CONFIG").is_some_and(|v| std::path::Path::new(&v) == file);
    let whence = if from_env {
        "the place VEILLE_CONFIG gives"
    } else if file == std::path::Path::new("config.toml") {
        "the default: config.toml in the current folder"
    } else {
        "the place --config gives"
    };
    format!(
        "veille: no configuration file at {} ({whence})\n  hint: give the configuration file's place with --config PATH or the VEILLE_CONFIG environment variable",
        absolute.display()
    )
}

/// Every watchlist file, each loaded on its own: those that loaded, and the errors of the
/// others.
fn load_watchlists(config: &Config) -> watchlist::Loaded {
    let known: Vec<String> = config.sources.iter().map(|s| s.id.clone()).collect();
    let mut loaded = watchlist::load_dir_partly(&config.watchlists_dir, &known);
    let channels: Vec<String> = config.channels.iter().map(|c| c.id.clone()).collect();
    watchlist::check_channels(&mut loaded, &channels);
    loaded
}

/// Open the store; a call into it that never returns (sled cannot recover from some IO
/// errors) ends the process with exit 1, naming the cause, once its deadline has passed:
/// the thread inside sled is lost, and the next start reopens the store.
pub(crate) fn open_store(g: &Global, config: &Config) -> anyhow::Result<Store> {
    let (store, report) = Store::open(&config.storage.path, config.storage.cache_capacity, g.now())
        .with_context(|| format!("opening the store at {}", config.storage.path.display()))?;
    store.on_stuck(|e| {
        eprintln!("veille: {e}; exiting");
        std::process::exit(i32::from(Exit::Failure.code()));
    });
    if let Some(aside) = report.moved_aside {
        eprintln!(
            "veille: WARNING: the database was corrupt and has been moved to {}; a new one was created",
            aside.display()
        );
    }
    if let Some((aside, why)) = report.damaged {
        eprintln!(
            "veille: WARNING: the database lost what it held ({why}) and has been moved to {}; a new one was created, and the next poll of each source is a first poll",
            aside.display()
        );
    }
    Ok(store)
}

fn check(g: &Global, config: &Config, watchlists: &WatchlistSet) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "configuration {} is valid", config.file.display())?;
    writeln!(out, "  time zone: {}", config.timezone)?;
    writeln!(out, "  store: {}", config.storage.path.display())?;
    if let Some(group) = &config.control.readers {
        writeln!(
            out,
            "  control socket: also for group {group} (read-only queries)"
        )?;
    }
    writeln!(
        out,
        "  http: trusts {}; proxy: {}",
        config.http.trust.describe(),
        config.http.proxy.describe()
    )?;
    match &config.mail.transport {
        crate::mail::Transport::File { dir } => {
            writeln!(out, "  mail: into the outbox {}", dir.display())?
        }
        crate::mail::Transport::Smtp(s) => {
            let how = match s.security {
                crate::mail::Security::StartTls => {
                    format!("STARTTLS; trusts {}", s.trust.describe())
                }
                crate::mail::Security::Tls => {
                    format!("implicit TLS; trusts {}", s.trust.describe())
                }
                crate::mail::Security::None => "plain, to loopback only".to_string(),
            };
            writeln!(out, "  mail: SMTP to {}:{} ({how})", s.host, s.port)?
        }
    }
    writeln!(out, "  sources: {}", config.sources.len())?;
    for s in &config.sources {
        writeln!(
            out,
            "    {} ({}) {} every {}",
            s.id,
            s.kind,
            s.url,
            humantime::format_duration(s.every)
        )?;
    }
    writeln!(
        out,
        "watchlists in {}: {}",
        config.watchlists_dir.display(),
        watchlists.lists().len()
    )?;
    let now = g.now();
    for w in watchlists.lists() {
        let mut keywords = match w.title_keywords.len() {
            0 => format!("{} keyword(s)", w.keywords.len()),
            t => format!("{} keyword(s), {t} title keyword(s)", w.keywords.len()),
        };
        if !w.ignore.is_empty() {
            keywords.push_str(&format!(", {} ignored phrase(s)", w.ignore.len()));
        }
        if !w.all_items_from.is_empty() {
            let whole = w.all_items_from.join(", ");
            keywords.push_str(&format!(", every item of {whole}"));
        }
        writeln!(
            out,
            "  {} — {} ({} recipient(s), {} dossier(s), {keywords}, {} subject(s), digest {:?})",
            w.id,
            w.name,
            w.recipients.len(),
            w.dossiers.len(),
            w.subjects.len(),
            w.digest.as_str()
        )?;
        let next = w.digest.upcoming(now, config.timezone, 3);
        let times: Vec<String> = next
            .iter()
            .map(|t| t.format("%a %Y-%m-%d %H:%M %Z").to_string())
            .collect();
        writeln!(out, "    next digests: {}", times.join(", "))?;
    }
    Ok(Exit::Ok)
}

/// A watchlist id given on the command line that names no watchlist, with the one
/// likely meant (`energy-climate.toml` for `energy-climate`) or the ids there are.
fn no_watchlist(id: &str, watchlists: &WatchlistSet) -> String {
    let ids: Vec<&str> = watchlists.lists().iter().map(|w| w.id.as_str()).collect();
    let hint = match crate::text::did_you_mean(id, &ids) {
        Some(m) => {
            format!("did you mean \"{m}\"? (a watchlist's id is its file name without .toml)")
        }
        None if ids.is_empty() => "there are no watchlists".to_string(),
        None => format!("watchlists: {}", ids.join(", ")),
    };
    format!("veille: no watchlist {id:?}\n  hint: {hint}")
}

/// What `veille match` tests: a title, maybe a summary, maybe the source it would come from.
struct Probe<'a> {
    text: &'a str,
    summary: Option<&'a str>,
    source: Option<&'a str>,
}

fn match_text(
    g: &Global,
    config: &Config,
    watchlists: &WatchlistSet,
    only: Option<&str>,
    probe: Probe,
) -> anyhow::Result<Exit> {
    if let Some(id) = only {
        if watchlists.get(id).is_none() {
            eprintln!("{}", no_watchlist(id, watchlists));
            return Ok(Exit::Failure);
        }
    }
    if let Some(s) = probe.source {
        if !config.sources.iter().any(|c| c.id == s) {
            eprintln!("{}", no_source(s, config));
            return Ok(Exit::Failure);
        }
    }
    let (text, summary) = (probe.text, probe.summary);
    let mut texts = vec![text];
    texts.extend(summary);
    let explained = watchlists.explain(&texts, probe.source, only);
    let (through, pending) =
        through_stored_dossiers(g, config, watchlists, only, &texts, &explained);
    let mut out = std::io::stdout().lock();
    // A COM or CELEX number of a stored dossier is that procedure's: a poll matches news
    // naming it to the watchlists listing the procedure (`through`); `pending` explains
    // the numbers of listed procedures not fetched yet.
    if explained.matches.is_empty() && through.is_empty() {
        writeln!(out, "no watchlist matches")?;
    }
    for m in &explained.matches {
        let why: Vec<String> = m.reasons.iter().map(|r| r.to_string()).collect();
        writeln!(out, "{}: {}", m.watchlist, why.join(", "))?;
    }
    for line in through.iter().chain(&pending) {
        writeln!(out, "{line}")?;
    }
    for c in &explained.cancelled {
        let quoted = |v: &[String]| -> String {
            v.iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let place = match (summary.is_some(), c.field) {
            (false, _) => "",
            (true, 0) => " in the title",
            (true, _) => " in the summary",
        };
        writeln!(
            out,
            "{}: found {}{place}, cancelled by exclude {}",
            c.watchlist,
            quoted(&c.keywords),
            quoted(&c.excludes)
        )?;
    }
    for t in &explained.title_only {
        let words: Vec<String> = t.keywords.iter().map(|k| format!("\"{k}\"")).collect();
        writeln!(
            out,
            "{}: title keyword {} found in the summary, where it does not count",
            t.watchlist,
            words.join(", ")
        )?;
    }
    for i in &explained.ignored {
        writeln!(
            out,
            "{}: keyword \"{}\" found only inside \"{}\", which the watchlist ignores",
            i.watchlist, i.keyword, i.phrase
        )?;
    }
    for l in &explained.left_out {
        let ex: Vec<String> = l.excludes.iter().map(|e| format!("\"{e}\"")).collect();
        writeln!(
            out,
            "{}: takes every item of source \"{}\", but exclude {} leaves this one out",
            l.watchlist,
            l.source,
            ex.join(", ")
        )?;
    }
    Ok(Exit::Ok)
}

/// `veille: no source "X"` with the configured ids as a hint.
fn no_source(id: &str, config: &Config) -> String {
    let ids: Vec<&str> = config.sources.iter().map(|s| s.id.as_str()).collect();
    let hint = match crate::text::did_you_mean(id, &ids) {
        Some(m) => format!(
            "did you mean \"{m}\"? (configured sources: {})",
            ids.join(", ")
        ),
        None => format!("configured sources: {}", ids.join(", ")),
    };
    format!("veille: no source {id:?} in config.toml\n  hint: {hint}")
}

/// The COM and CELEX numbers written in `match`'s texts (acts' names read as CELEX
/// numbers; a text that is itself a number counts), once each.
fn numbers_in(texts: &[&str]) -> Vec<DossierRef> {
    use crate::model::{Celex, ComRef};
    let mut refs: Vec<DossierRef> = Vec::new();
    for t in texts {
        let mut found: Vec<DossierRef> = ComRef::find_all(t)
            .into_iter()
            .map(DossierRef::Com)
            .collect();
        for c in Celex::find_in_prose(t) {
            found.push(match c.to_com() {
                Some(com) => DossierRef::Com(com),
                None => DossierRef::Celex(c),
            });
        }
        if let Ok(r) = t.trim().parse::<DossierRef>() {
            if !matches!(r, DossierRef::Procedure(_)) {
                found.push(r);
            }
        }
        for r in found {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
    }
    refs
}

/// The stored dossiers, for `veille match`. The store is read only if it exists (`match`
/// never creates one); while the daemon holds it, the numbers are not looked up, and
/// `match` says so.
fn stored_dossiers_for_match(g: &Global, config: &Config) -> Vec<Dossier> {
    if !config.storage.path.exists() {
        return Vec::new();
    }
    match open_store(g, config).and_then(|s| Ok(s.dossiers()?)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "veille: note: COM and CELEX numbers not looked up in the stored dossiers: {e:#}"
            );
            Vec::new()
        }
    }
}

/// `match`: the COM and CELEX numbers (or acts' names) in the texts that a watchlist does
/// not list, but that belong to a procedure it lists. Through the stored dossiers: a
/// stored dossier with that number matches its watchlists, as a poll does through the
/// store's alias index (`through`); a listed procedure not stored yet may be the one
/// (`pending`). Only here and in the poll step, not in the pure matcher.
fn through_stored_dossiers(
    g: &Global,
    config: &Config,
    watchlists: &WatchlistSet,
    only: Option<&str>,
    texts: &[&str],
    explained: &watchlist::Explained,
) -> (Vec<String>, Vec<String>) {
    let refs = numbers_in(texts);
    let lists: Vec<&watchlist::Watchlist> = watchlists
        .lists()
        .iter()
        .filter(|l| only.is_none_or(|o| l.id == o))
        .filter(|l| {
            l.dossiers
                .iter()
                .any(|d| matches!(d, DossierRef::Procedure(_)))
        })
        .collect();
    if refs.is_empty() || lists.is_empty() {
        return (vec![], vec![]);
    }
    let stored = stored_dossiers_for_match(g, config);
    let listed = |l: &watchlist::Watchlist, p: &ProcedureRef| {
        l.dossiers
            .iter()
            .any(|d| matches!(d, DossierRef::Procedure(q) if q.key() == p.key()))
    };
    let mut through = Vec::new();
    let mut pending = Vec::new();
    for r in &refs {
        let (what, whose) = match r {
            DossierRef::Com(_) => (r.to_string(), "proposal"),
            _ => (r.to_string(), "act"),
        };
        let owners: Vec<&Dossier> = stored
            .iter()
            .filter(|d| match r {
                DossierRef::Com(c) => d.com.contains(c),
                DossierRef::Celex(c) => d.final_act.as_ref() == Some(c),
                DossierRef::Procedure(_) => false,
            })
            .collect();
        for l in &lists {
            let already = explained.matches.iter().any(|m| {
                m.watchlist == l.id
                    && m.reasons
                        .contains(&watchlist::Reason::Dossier(what.clone()))
            });
            if already {
                continue;
            }
            if let Some(d) = owners.iter().find(|d| listed(l, &d.reference)) {
                // An act by the name the Official Journal gives it, as digests show it.
                let shown = match r {
                    DossierRef::Celex(c) => c
                        .oj_name()
                        .map_or(what.clone(), |n| format!("\"{n}\" ({what})")),
                    _ => what.clone(),
                };
                through.push(format!(
                    "{}: dossier {} (through {shown}, its {whose}, in the stored dossier)",
                    l.id, d.reference
                ));
                continue;
            }
            if !owners.is_empty() {
                continue;
            }
            let unfetched: Vec<String> = l
                .dossiers
                .iter()
                .filter_map(|d| match d {
                    DossierRef::Procedure(p)
                        if !stored.iter().any(|s| s.reference.key() == p.key()) =>
                    {
                        Some(p.to_string())
                    }
                    _ => None,
                })
                .collect();
            if !unfetched.is_empty() {
                pending.push(format!(
                    "{}: no stored dossier has {what} yet; if it is the {whose} of {}, news that names only it is matched once that dossier is fetched (or add \"{what}\" to its dossiers)",
                    l.id,
                    unfetched.join(" or ")
                ));
            }
        }
    }
    (through, pending)
}

/// `digest send`: deliver what is due (or, forced, what is pending) and say what happened
/// to each watchlist.
pub(crate) async fn send_digests<O: Write, E: Write>(
    ctx: DeliverContext<'_>,
    now: DateTime<Utc>,
    watchlist: Option<&str>,
    force: bool,
    out: &mut O,
    err: &mut E,
) -> anyhow::Result<Exit> {
    let mode = if force { Mode::Force } else { Mode::Due };
    let report = match deliver::send_due(ctx, now, watchlist, mode).await {
        Err(deliver::DeliverError::UnknownWatchlist(id)) => {
            writeln!(err, "{}", no_watchlist(&id, ctx.watchlists))?;
            return Ok(Exit::Failure);
        }
        other => other?,
    };
    print_deliveries(&report, out)?;
    Ok(if report.any_failed() {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

fn print_deliveries(report: &DeliveryReport, out: &mut dyn Write) -> anyhow::Result<()> {
    for d in &report.deliveries {
        let what = match &d.outcome {
            Outcome::Sent { key, events } => format!("sent {events} event(s) ({key})"),
            Outcome::NothingToSend { .. } => "nothing to send".to_string(),
            Outcome::AlreadySent { key } => format!("already sent ({key})"),
            Outcome::NotDue => "not due".to_string(),
            Outcome::Deferred { until } => format!("retrying after {}", until.to_rfc3339()),
            Outcome::Failed { error, .. } => format!("FAILED, stays pending: {error}"),
        };
        match &d.channel {
            Some(c) => writeln!(out, "{:<24} {:<6} to {c}: {what}", d.watchlist, d.kind)?,
            None => writeln!(out, "{:<24} {:<6} {what}", d.watchlist, d.kind)?,
        }
    }
    Ok(())
}

/// One line per source polled; the exit that the poll means (2 when a source failed).
pub(crate) fn print_poll(
    report: &PollReport,
    now: DateTime<Utc>,
    tz: crate::tz::Tz,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    for s in &report.sources {
        if let Some(until) = s.held_until {
            writeln!(
                out,
                "{:<20} waiting until {}: the server asked for a pause (Retry-After); --force polls it now",
                s.id,
                crate::view::when::local_relative(until, now, tz)
            )?;
        } else if s.ok {
            writeln!(
                out,
                "{:<20} ok      {} request(s), {} unchanged, {} new event(s), {} matched",
                s.id, s.requests, s.unchanged, s.new_events, s.enqueued
            )?;
        } else {
            writeln!(
                out,
                "{:<20} FAILED  {}",
                s.id,
                s.cause
                    .as_deref()
                    .or(s.error.as_deref())
                    .unwrap_or("unknown error")
            )?;
        }
    }
    out.flush()?;
    Ok(if report.any_failed() {
        Exit::SourcesFailed
    } else {
        Exit::Ok
    })
}

fn outbox_count(config: &Config) -> usize {
    std::fs::read_dir(&config.mail.outbox_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

/// What `status` shows, read from the store and the configuration.
fn gather_status(
    now: DateTime<Utc>,
    config: &Config,
    (watchlists, broken): (&WatchlistSet, &[String]),
    store: &Store,
    running: Option<Running>,
) -> anyhow::Result<view::status::Status> {
    let sources = status_sources(config, store)?;
    let pending = store.pending_counts()?;
    let rows = status_watchlists(now, config, (watchlists, broken), store, &pending)?;
    let undelivered = status_undelivered(store, &pending)?;
    let outbox = match &config.mail.transport {
        crate::mail::Transport::File { dir } => {
            Some((dir.display().to_string(), outbox_count(config)))
        }
        crate::mail::Transport::Smtp(_) => None,
    };
    Ok(view::status::Status {
        now,
        tz: config.timezone,
        daemon: running.map(|r| view::status::Daemon {
            pid: r.pid,
            since: r.since,
        }),
        sources,
        watchlists: rows,
        undelivered,
        events: store.event_count(),
        outbox,
    })
}

/// Each configured source's polling state, for `status`.
fn status_sources(config: &Config, store: &Store) -> anyhow::Result<Vec<view::status::Source>> {
    let mut sources = Vec::new();
    for s in &config.sources {
        let st = store.source(&s.id)?.unwrap_or_default();
        sources.push(view::status::Source {
            id: s.id.clone(),
            kind: s.kind.as_str().to_string(),
            url: s.url.to_string(),
            polled: st.last_attempt.is_some(),
            last_success: st.last_success,
            failures: st.failures,
            failing_since: st.failing_since,
            cause: (st.failures > 0)
                .then(|| {
                    view::cause::of_record(
                        s.kind,
                        st.last_cause.as_deref(),
                        st.last_error.as_deref(),
                    )
                })
                .flatten(),
            last_error: st.last_error,
            next_poll: st.next_poll_at,
        });
    }
    Ok(sources)
}

/// Each watchlist's pending events and deliveries, for `status`: the loaded ones, those
/// whose files have errors, and those that are gone but still have events waiting.
fn status_watchlists(
    now: DateTime<Utc>,
    config: &Config,
    (watchlists, broken): (&WatchlistSet, &[String]),
    store: &Store,
    pending: &std::collections::BTreeMap<String, usize>,
) -> anyhow::Result<Vec<view::status::Watchlist>> {
    let mut ids: Vec<&str> = watchlists.lists().iter().map(|w| w.id.as_str()).collect();
    // A file with errors is still configured; its next digest is not known.
    ids.extend(broken.iter().map(String::as_str));
    ids.extend(
        pending
            .keys()
            .map(String::as_str)
            .filter(|id| watchlists.get(id).is_none() && !broken.iter().any(|b| b == id)),
    );
    let mut rows = Vec::new();
    for id in ids {
        let d = store.delivery(id)?;
        let w = watchlists.get(id);
        rows.push(view::status::Watchlist {
            id: id.to_string(),
            configured: w.is_some() || broken.iter().any(|b| b == id),
            pending: pending.get(id).copied().unwrap_or(0),
            next_digest: w.and_then(|w| w.digest.next_after(now, config.timezone)),
            last_sent: d.last_digest_at,
            send_failures: d.failures,
            next_attempt: d.next_attempt_at,
            last_send_error: d.last_error,
        });
    }
    Ok(rows)
}

/// Every digest, alert or reminder that is not going out, by mail or by a channel.
fn status_undelivered(
    store: &Store,
    pending: &std::collections::BTreeMap<String, usize>,
) -> anyhow::Result<Vec<view::status::Undelivered>> {
    let mut undelivered = Vec::new();
    for (id, d) in store.deliveries()? {
        if d.failures == 0 {
            continue;
        }
        let (kind, key, events) = match &d.in_flight {
            Some(f) => (
                match f.kind {
                    crate::store::SentKind::Digest => "digest",
                    crate::store::SentKind::Alert => "alert",
                    crate::store::SentKind::Reminder => "reminder",
                },
                Some(f.key.clone()),
                f.event_ids.len(),
            ),
            None => ("digest", None, pending.get(&id).copied().unwrap_or(0)),
        };
        undelivered.push(view::status::Undelivered {
            watchlist: id,
            kind: kind.to_string(),
            channel: None,
            key,
            events,
            attempts: d.failures,
            cause: d.last_error.as_deref().map(view::cause::of_mail_error),
            last_error: d.last_error,
            next_attempt: d.next_attempt_at,
        });
    }
    for c in crate::deliver::channel_states(store)? {
        if c.failures == 0 {
            continue;
        }
        undelivered.push(view::status::Undelivered {
            watchlist: c.watchlist,
            kind: c.kind.unwrap_or("digest").to_string(),
            channel: Some(c.channel),
            key: c.key,
            events: c.events,
            attempts: c.failures,
            cause: c.last_error.clone(),
            last_error: c.last_error,
            next_attempt: c.next_attempt,
        });
    }
    Ok(undelivered)
}

/// The stored dossiers that have this COM or CELEX number (a procedure: itself), in the
/// store's order.
fn stored_dossiers_with(store: &Store, r: &DossierRef) -> anyhow::Result<Vec<Dossier>> {
    let has = |d: &Dossier| match r {
        DossierRef::Procedure(p) => d.reference.key() == p.key(),
        DossierRef::Com(c) => d.com.contains(c),
        DossierRef::Celex(c) => {
            d.final_act.as_ref() == Some(c) || c.to_com().is_some_and(|com| d.com.contains(&com))
        }
    };
    Ok(store.dossiers()?.into_iter().filter(|d| has(d)).collect())
}

fn dossier_show(
    store: &Store,
    reference: &str,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let r: ProcedureRef = match reference.parse::<DossierRef>() {
        Ok(DossierRef::Procedure(r)) => r,
        Ok(other) => {
            // A COM or CELEX number: the stored dossier that has it.
            let found = stored_dossiers_with(store, &other)?;
            match found.as_slice() {
                [d, ..] => d.reference,
                [] => {
                    writeln!(
                        err,
                        "veille: no stored dossier has {}; it is known once its procedure has been fetched",
                        reference.trim()
                    )?;
                    return Ok(Exit::Failure);
                }
            }
        }
        Err(e) => {
            writeln!(err, "veille: {e}")?;
            return Ok(Exit::Failure);
        }
    };
    let Some(d) = store.dossier(&r)? else {
        writeln!(
            err,
            "veille: dossier {r} is not known yet; list it in a watchlist: the next poll fetches it"
        )?;
        return Ok(Exit::Failure);
    };
    if format == Format::Json {
        writeln!(out, "{}", view::dossier::json(&d)?)?;
        return Ok(Exit::Ok);
    }
    let kept = store.deadlines_of_dossier(&r)?;
    let deadlines = crate::deadlines::on_dossier_page(&d, kept);
    out.write_all(view::dossier::text(&d, &deadlines).as_bytes())?;
    Ok(Exit::Ok)
}
