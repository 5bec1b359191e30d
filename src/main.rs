//! The `veille` binary: parses arguments, sets up logging, calls `veille::app`, and maps
//! the outcome to an exit code (0 ok, 1 unexpected failure, 2 done but some sources
//! failed, 3 invalid configuration or watchlists). Decides nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use veille::app::{self, Command, Exit, Format, Global, LogFormat, Query};

#[derive(Debug, Parser)]
#[command(
    name = "veille",
    version,
    about = "Tracks EU legislation for local and regional government focus groups"
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "VEILLE_CONFIG",
        default_value = "config.toml"
    )]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogArg::Text)]
    log_format: LogArg,
    /// Pretend the time is this (RFC 3339); for tests and replays.
    #[arg(long, global = true, hide = true)]
    now: Option<chrono::DateTime<chrono::Utc>>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Html,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the daemon: poll and send digests on schedule until SIGTERM/SIGINT.
    Run,
    /// Validate the configuration and watchlists; print each watchlist's next digests.
    Check,
    /// Poll all sources (or one) once now and print a summary.
    Poll {
        #[arg(long)]
        source: Option<String>,
        /// Poll even sources whose server asked to wait (Retry-After).
        #[arg(long)]
        force: bool,
    },
    /// Preview or send digests.
    #[command(subcommand)]
    Digest(DigestCmd),
    /// Which watchlists TEXT matches, and why.
    Match {
        #[arg(long)]
        watchlist: Option<String>,
        /// A summary to test with TEXT as its title, as a feed item carries them.
        #[arg(long)]
        summary: Option<String>,
        /// The source the item would come from (an id of config.toml).
        #[arg(long)]
        source: Option<String>,
        text: String,
    },
    /// Dossiers.
    #[command(subcommand)]
    Dossier(DossierCmd),
    /// Sources, pending digests and the outbox.
    Status {
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// Export calendars.
    #[command(subcommand)]
    Export(ExportCmd),
    /// Mail set-up.
    #[command(subcommand)]
    Mail(MailCmd),
    /// The web window's page, Atom feed and calendar URLs of a watchlist, with their tokens.
    Links { watchlist: String },
    /// Hash the password read from stdin for `[server.users]` (Argon2id).
    HashPassword,
    /// What a watchlist (installed, or a file not installed yet) would have matched in
    /// the archive of everything seen, with the reasons.
    Backtest {
        /// A watchlist id, or the path of a watchlist file.
        watchlist: String,
        /// How far back (e.g. 30d, 12w).
        #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
        since: std::time::Duration,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// The archive of everything seen, by words (any language, accents and case aside)
    /// or by reference (procedure, COM, CELEX, act name), newest first.
    Search {
        #[arg(required = true)]
        words: Vec<String>,
        /// How far back (default: the whole archive).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Only what this source reported.
        #[arg(long)]
        source: Option<String>,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
}

#[derive(Debug, Subcommand)]
enum MailCmd {
    /// Send one test message through the configured transport and say each step reached
    /// (default ADDRESS: the first recipient of the first watchlist, or the `from` address).
    Test { address: Option<String> },
}

#[derive(Debug, Subcommand)]
enum DigestCmd {
    /// The pending digest of a watchlist, without sending or marking anything.
    Preview {
        watchlist: String,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// Deliver the digests that are due (--force: deliver what is pending now).
    Send {
        watchlist: Option<String>,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DossierCmd {
    /// One dossier's merged timeline (any spelling of REF).
    Show {
        reference: String,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCmd {
    /// An RFC 5545 calendar of the watchlist's deadlines and scheduled steps.
    Ical { watchlist: String },
}

fn format(f: FormatArg) -> Format {
    match f {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
        FormatArg::Html => Format::Html,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match cli.log_format {
        LogArg::Text => LogFormat::Text,
        LogArg::Json => LogFormat::Json,
    };
    app::init_logging(log, matches!(cli.command, Cmd::Run));
    let command = match cli.command {
        Cmd::Run => Command::Run,
        Cmd::Check => Command::Check,
        Cmd::Poll { source, force } => Command::Poll { source, force },
        Cmd::Digest(DigestCmd::Preview {
            watchlist,
            format: f,
        }) => Command::Query(Query::DigestPreview {
            watchlist,
            format: format(f),
        }),
        Cmd::Digest(DigestCmd::Send { watchlist, force }) => {
            Command::DigestSend { watchlist, force }
        }
        Cmd::Match {
            watchlist,
            summary,
            source,
            text,
        } => Command::Match {
            watchlist,
            summary,
            source,
            text,
        },
        Cmd::Dossier(DossierCmd::Show {
            reference,
            format: f,
        }) => Command::Query(Query::DossierShow {
            reference,
            format: format(f),
        }),
        Cmd::Status { format: f } => Command::Query(Query::Status { format: format(f) }),
        Cmd::Export(ExportCmd::Ical { watchlist }) => {
            Command::Query(Query::ExportIcal { watchlist })
        }
        Cmd::Mail(MailCmd::Test { address }) => Command::MailTest { to: address },
        Cmd::Links { watchlist } => Command::Links { watchlist },
        Cmd::HashPassword => Command::HashPassword,
        Cmd::Backtest {
            watchlist,
            since,
            format: f,
        } => Command::Query(Query::Backtest {
            watchlist,
            file: None,
            since_secs: since.as_secs(),
            format: format(f),
        }),
        Cmd::Search {
            words,
            since,
            source,
            format: f,
        } => Command::Query(Query::Search {
            words: words.join(" "),
            since_secs: since.map(|d| d.as_secs()),
            source,
            format: format(f),
        }),
    };
    let global = Global {
        config: cli.config,
        now: cli.now,
    };
    let exit = match app::execute(global, command) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("veille: {e:#}");
            Exit::Failure
        }
    };
    ExitCode::from(exit.code())
}
