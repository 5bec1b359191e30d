//! `veille run`: the poll loop and the delivery loop (each a step plus a loop), the control
//! socket through which the other commands reach the daemon that holds the store, watchlist
//! reload on SIGHUP and on changes in `watchlists_dir`, and a bounded, flushed shutdown on
//! SIGTERM/SIGINT. The loops only sleep, call their step and watch for shutdown.
//! The first delivery step waits for the first poll step (a digest due at start-up carries
//! what that poll found); delivery steps never overlap (the poll loop's alerts and the
//! delivery loop's digests take turns); with `--now` the daemon's clock starts there and
//! runs on (tests, replays).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::{open_store, Exit, Global};
use crate::config::Config;
use crate::deliver::{self, DeliverContext, Mode};
use crate::fetch::Fetcher;
use crate::mail::Mailer;
use crate::poll::{self, PollContext, Selection};
use crate::store::Store;
use crate::watchlist::{self, WatchlistSet};

/// How long shutdown waits for in-flight work before abandoning it.
pub const DRAIN: Duration = Duration::from_secs(10);
/// The longest the poll loop sleeps before looking at the schedule again.
const POLL_TICK: Duration = Duration::from_secs(60);
/// How often the delivery loop looks for due digests.
const DELIVERY_TICK: Duration = Duration::from_secs(30);
/// How long a step skipped for want of free space waits before the next check.
const LOW_SPACE_RETRY: Duration = Duration::from_secs(30);
/// How often the watchlist folder and config file are checked for changes.
const WATCH_TICK: Duration = Duration::from_secs(2);

/// The daemon's clock: the wall clock, or — with `--now` (tests, replays) — that instant
/// advancing with the monotonic clock from start-up, so that a test can place the daemon
/// in time without waiting for it.
#[derive(Debug, Clone, Copy)]
struct Clock {
    base: Option<(DateTime<Utc>, Instant)>,
}

impl Clock {
    fn new(start: Option<DateTime<Utc>>) -> Clock {
        Clock {
            base: start.map(|t| (t, Instant::now())),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        match self.base {
            None => Utc::now(),
            Some((t, at)) => {
                t + chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::zero())
            }
        }
    }
}

/// "Poll now" from the command line (through the control socket): all sources, or the
/// one named; the poll loop answers with the step's report.
pub(super) struct PollNow {
    pub source: Option<String>,
    /// Poll even a source whose server asked to wait (`Retry-After`).
    pub force: bool,
    pub reply: tokio::sync::oneshot::Sender<Result<poll::PollReport, String>>,
}

#[derive(Clone)]
struct Shared {
    clock: Clock,
    config: Arc<Config>,
    store: Store,
    fetcher: Fetcher,
    mailer: Mailer,
    watchlists: watch::Receiver<WatchlistSet>,
    stop: watch::Receiver<bool>,
    /// Delivery steps run one at a time: the poll loop's alerts and the delivery loop's
    /// digests would otherwise both see the same pending alert as unsent and mail it twice.
    delivering: Arc<tokio::sync::Mutex<()>>,
    /// Turns true when the first poll step has finished: the delivery loop waits for it,
    /// so that a digest due at start-up carries what the start-up poll found instead of
    /// closing its period empty.
    first_poll: watch::Receiver<bool>,
    /// Set when the store failed: the daemon stops, and exits 1 so that it is restarted.
    store_failed: Arc<watch::Sender<bool>>,
}

impl Shared {
    /// Before a step that writes: false (and reported) when the store's device is below
    /// `storage.min_free`; the step is skipped, and the next one checks again.
    fn room_to_write(&self, step: &str) -> bool {
        match self.store.check_free_space(self.config.storage.min_free) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "{step} skipped");
                false
            }
        }
    }

    /// After a step: when the store failed, stop the daemon (sled cannot be reopened in
    /// this process; the service manager restarts it).
    fn stop_if_store_failed(&self) {
        if self.store.failed() {
            let _ = self.store_failed.send(true);
        }
    }
}

pub(super) async fn run(
    g: Global,
    config: Config,
    watchlists: WatchlistSet,
) -> anyhow::Result<Exit> {
    // Handlers first: a SIGHUP (`systemctl reload`) during start-up must not kill us.
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    super::memory::keep_large_blocks_apart();
    let store = open_store(&g, &config)?;
    // A digest period that ended before this first start was not missed (deliver).
    let first = store
        .note_first_start(Clock::new(g.now).now())
        .context("recording the first start")?;
    tracing::debug!(first_start = %first.to_rfc3339(), "first start");
    // An unchanged step writes nothing; its sources' routine states are written within
    // this long, with any other write, and at shutdown.
    store.defer_routine_poll_states(ROUTINE_STATES_WRITTEN_WITHIN);
    let fetcher = Fetcher::new(config.http.clone()).context("building the HTTP client")?;
    let mailer = Mailer::new(config.mail.transport.clone()).context("setting up mail")?;
    tracing::info!(
        sources = config.sources.len(),
        watchlists = watchlists.lists().len(),
        store = %config.storage.path.display(),
        "veille started"
    );
    let (wl_tx, wl_rx) = watch::channel(watchlists);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (first_poll_tx, first_poll_rx) = watch::channel(false);
    let (store_failed_tx, mut store_failed) = watch::channel(false);
    let shared = Shared {
        clock: Clock::new(g.now),
        config: Arc::new(config),
        store: store.clone(),
        fetcher,
        mailer,
        watchlists: wl_rx,
        stop: stop_rx,
        delivering: Arc::new(tokio::sync::Mutex::new(())),
        first_poll: first_poll_rx,
        store_failed: Arc::new(store_failed_tx),
    };
    serve_health(&shared).await?;
    let (poll_now_tx, poll_now_rx) = tokio::sync::mpsc::channel(4);
    let socket = serve_control(&shared, poll_now_tx);
    let poll_task = tokio::spawn(poll_loop(shared.clone(), first_poll_tx, poll_now_rx));
    let delivery_task = tokio::spawn(delivery_loop(shared.clone()));
    let watcher = tokio::spawn(watch_files(shared.clone(), wl_tx.clone()));

    loop {
        tokio::select! {
            _ = store_failed.wait_for(|f| *f) => {
                tracing::error!("the store failed: stopping, to be restarted (exit 1)");
                break;
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the watchlists");
                reload(&shared.config, &wl_tx);
            }
        }
    }
    let _ = stop_tx.send(true);
    watcher.abort();
    drain(poll_task, delivery_task).await;
    if let Some(path) = &socket {
        super::control::remove(path);
    }
    if let Some(problem) = store.failed().then(|| store.problem()).flatten() {
        // Nothing more can be written: what is not on disk is polled or sent again.
        tracing::error!(error = %problem, "stopped without writing: the store failed");
        return Ok(Exit::Failure);
    }
    store
        .write_deferred_poll_states()
        .context("writing the sources' poll states")?;
    store.flush().await.context("flushing the store")?;
    tracing::info!("stopped");
    Ok(Exit::Ok)
}

/// `[server] listen`: the web window, /healthz and /metrics, when configured.
async fn serve_health(shared: &Shared) -> anyhow::Result<()> {
    let clock = shared.clock;
    super::server::start(
        shared.config.clone(),
        shared.store.clone(),
        shared.watchlists.clone(),
        move || clock.now(),
        shared.stop.clone(),
    )
    .await
}

/// The control socket, through which the other commands reach this daemon; its path, to
/// remove at shutdown (none when it could not be bound: the daemon runs on without).
fn serve_control(shared: &Shared, poll_now: tokio::sync::mpsc::Sender<PollNow>) -> Option<PathBuf> {
    let (listener, path) = super::control::listen(&shared.config)?;
    let clock = shared.clock;
    let daemon = super::control::Daemon {
        config: shared.config.clone(),
        store: shared.store.clone(),
        watchlists: shared.watchlists.clone(),
        now: move || clock.now(),
        running: super::Running {
            pid: std::process::id(),
            since: shared.clock.now(),
        },
        poll_now,
        mailer: shared.mailer.clone(),
        delivering: shared.delivering.clone(),
    };
    tokio::spawn(super::control::serve(listener, daemon, shared.stop.clone()));
    Some(path)
}

/// Wait at most [`DRAIN`] for the loops' in-flight work, then abandon it.
async fn drain(poll_task: tokio::task::JoinHandle<()>, delivery_task: tokio::task::JoinHandle<()>) {
    let (pa, da) = (poll_task.abort_handle(), delivery_task.abort_handle());
    let drained = tokio::time::timeout(DRAIN, async {
        let _ = poll_task.await;
        let _ = delivery_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            seconds = DRAIN.as_secs(),
            "in-flight work did not finish in time and was abandoned; it is retried at the next start"
        );
        pa.abort();
        da.abort();
    }
}

/// How long the routine poll state of an unchanged source may stay in memory only
/// ([`crate::store::Store::defer_routine_poll_states`]): what a crash can lose, which only
/// means those sources are polled again at the next start.
const ROUTINE_STATES_WRITTEN_WITHIN: chrono::Duration = chrono::Duration::minutes(10);

/// Sleep for `d` unless shutdown comes first; false when stopping.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

/// Poll the sources that are due, then sleep until the next one is, or until a "poll
/// now" comes: polls never overlap, whoever asked for them.
async fn poll_loop(
    mut s: Shared,
    first_poll: watch::Sender<bool>,
    mut poll_now: tokio::sync::mpsc::Receiver<PollNow>,
) {
    let mut asked: Option<PollNow> = None;
    loop {
        if *s.stop.borrow() {
            return;
        }
        let wl = s.watchlists.borrow().clone();
        let now = s.clock.now();
        let ctx = PollContext {
            config: &s.config,
            fetcher: &s.fetcher,
            store: &s.store,
            watchlists: &wl,
        };
        let which = match &asked {
            None => Selection::Due,
            Some(PollNow {
                source: None,
                force,
                ..
            }) => Selection::All { force: *force },
            Some(PollNow {
                source: Some(id),
                force,
                ..
            }) => Selection::One { id, force: *force },
        };
        if !s.room_to_write("poll step") {
            if let Some(a) = asked.take() {
                let _ = a.reply.send(Err(s.store.problem().unwrap_or_default()));
            }
            let _ = first_poll.send(true);
            tokio::select! {
                Some(a) = poll_now.recv() => asked = Some(a),
                go_on = pause(&mut s.stop, LOW_SPACE_RETRY) => if !go_on { return },
            }
            continue;
        }
        let (cpu_before, started) = (super::cpu::process_time(), Instant::now());
        let polled = poll::poll_once(ctx, now, which).await;
        if let Ok(report) = &polled {
            log_step(report, cpu_before, started);
        }
        match &polled {
            Ok(report) if !report.sources.is_empty() => {
                // Same-day alerts go out within the poll cycle that found their step.
                let dctx = DeliverContext {
                    config: &s.config,
                    store: &s.store,
                    mailer: &s.mailer,
                    watchlists: &wl,
                };
                let _one_at_a_time = s.delivering.lock().await;
                if let Err(e) = deliver::send_due(dctx, s.clock.now(), None, Mode::AlertsOnly).await
                {
                    tracing::error!(error = %e, "sending alerts failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "poll step failed"),
        }
        if let Some(a) = asked.take() {
            let _ = a.reply.send(polled.map_err(|e| e.to_string()));
        }
        s.stop_if_store_failed();
        let _ = first_poll.send(true);
        // The step's buffers are freed by now; give them back for the sleep.
        super::memory::release_free_memory();
        let wait = next_poll_in(&s);
        tokio::select! {
            Some(a) = poll_now.recv() => asked = Some(a),
            go_on = pause(&mut s.stop, wait) => if !go_on { return },
        }
    }
}

/// One line per poll step that polled anything: what it found and what it cost (CPU of
/// the whole process during the step, every thread; wall time).
fn log_step(report: &poll::PollReport, cpu_before: Option<Duration>, started: Instant) {
    if report.sources.is_empty() {
        return;
    }
    let sum = |f: fn(&poll::SourceReport) -> usize| report.sources.iter().map(f).sum::<usize>();
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let cpu_ms = cpu_before
        .zip(super::cpu::process_time())
        .map(|(a, b)| ms(b.saturating_sub(a)));
    tracing::info!(
        sources = report.sources.len(),
        failed = report.sources.iter().filter(|r| !r.ok).count(),
        requests = sum(|r| r.requests),
        unchanged = sum(|r| r.unchanged),
        new_events = sum(|r| r.new_events),
        cpu_ms,
        wall_ms = ms(started.elapsed()),
        "poll step"
    );
}

/// Until the earliest next poll of any source, between 1 s and `POLL_TICK`.
fn next_poll_in(s: &Shared) -> Duration {
    let now = s.clock.now();
    let mut wait = POLL_TICK;
    for src in &s.config.sources {
        let next = s
            .store
            .source(&src.id)
            .ok()
            .flatten()
            .and_then(|st| st.next_poll_at);
        let d = match next {
            Some(t) if t > now => (t - now).to_std().unwrap_or(POLL_TICK),
            _ => Duration::from_secs(1),
        };
        wait = wait.min(d);
    }
    wait.max(Duration::from_secs(1))
}

async fn delivery_loop(mut s: Shared) {
    // Deliver after the start-up poll (or as soon as shutdown is asked for).
    let mut first = s.first_poll.clone();
    tokio::select! {
        _ = first.wait_for(|done| *done) => {}
        _ = s.stop.wait_for(|stop| *stop) => return,
    }
    loop {
        if *s.stop.borrow() {
            return;
        }
        let wl = s.watchlists.borrow().clone();
        let ctx = DeliverContext {
            config: &s.config,
            store: &s.store,
            mailer: &s.mailer,
            watchlists: &wl,
        };
        let sent = if s.room_to_write("delivery step") {
            let _one_at_a_time = s.delivering.lock().await;
            deliver::send_due(ctx, s.clock.now(), None, Mode::Due).await
        } else {
            Ok(Default::default())
        };
        if let Err(e) = sent {
            tracing::error!(error = %e, "delivery step failed");
        }
        s.stop_if_store_failed();
        super::memory::release_free_memory();
        if !pause(&mut s.stop, DELIVERY_TICK).await {
            return;
        }
    }
}

/// Reload the watchlists; on any error keep the running set and log every error.
fn reload(config: &Config, tx: &watch::Sender<WatchlistSet>) {
    let known: Vec<String> = config.sources.iter().map(|s| s.id.clone()).collect();
    let channels: Vec<String> = config.channels.iter().map(|c| c.id.clone()).collect();
    match watchlist::load_dir_checked(&config.watchlists_dir, &known, &channels) {
        Ok(set) => {
            tracing::info!(watchlists = set.lists().len(), "watchlists reloaded");
            let _ = tx.send(set);
        }
        Err(errors) => {
            for e in &errors {
                tracing::error!(error = %e, "watchlist error");
            }
            tracing::error!(
                errors = errors.len(),
                "the edited watchlists have errors; the previous watchlists stay in force"
            );
        }
    }
}

/// Names, sizes and modification times of the `*.toml` files of a folder.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| {
            let m = e.metadata().ok();
            (
                e.path(),
                m.as_ref().map(|m| m.len()).unwrap_or(0),
                m.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    out.sort();
    out
}

fn file_stamp(p: &Path) -> Option<(u64, Option<SystemTime>)> {
    std::fs::metadata(p)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// Reload when the watchlist folder changed and has been stable for one tick (editors save
/// by writing a temporary file and renaming it); warn when config.toml changed.
async fn watch_files(mut s: Shared, tx: watch::Sender<WatchlistSet>) {
    let dir = s.config.watchlists_dir.clone();
    let mut applied = fingerprint(&dir);
    let mut seen = applied.clone();
    let config_file = s.config.file.clone();
    let mut config_stamp = file_stamp(&config_file);
    loop {
        if !pause(&mut s.stop, WATCH_TICK).await {
            return;
        }
        let now = fingerprint(&dir);
        if now != applied && now == seen {
            reload(&s.config, &tx);
            applied = now.clone();
        }
        seen = now;
        let stamp = file_stamp(&config_file);
        if stamp != config_stamp {
            tracing::warn!(
                file = %config_file.display(),
                "the configuration file changed; restart veille to apply it (watchlists reload by themselves)"
            );
            config_stamp = stamp;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_start_runs_on_from_there() {
        let t: DateTime<Utc> = "2026-11-30T09:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let c = Clock::new(Some(t));
        let (a, b) = (c.now(), c.now());
        assert!(t <= a && a <= b && b - t < chrono::Duration::minutes(1));
        assert!(Clock::new(None).now() > t - chrono::Duration::days(365 * 100));
    }
}
