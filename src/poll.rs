//! One poll step: which sources are due, fetch them (bounded concurrency, per-host pacing
//! in `fetch`), parse, merge dossiers, diff into events, match watchlists, and record
//! each source's whole result atomically — several sources per store transaction, at most
//! 2,000 events or one second after the first is ready — then flush. `poll_once(now)` is the
//! step; the daemon's loop only calls it and sleeps. Must not render or send mail.
//!
//! Scheduling per source: `every` after a success (or the server's `Cache-Control`
//! max-age, whichever is later); after a failure an exponential backoff from one minute,
//! capped at four times `every` (at most a day), never disabled; `Retry-After` is a floor.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::{Config, SourceConfig};
use crate::deadlines;
use crate::dossier::{self, DiffContext};
use crate::fetch::{FetchError, FetchOutcome, FetchRequest, Fetcher, Transient, Validators};
use crate::model::{
    Celex, ComRef, DossierEvent, EventKind, Observation, ProcedureRef, Provenance, Stage,
};
use crate::sources::{self, cellar_work, Input, ParseError, SourceKind};
use crate::store::{
    Enqueue, ObservedEvent, PollBatch, ResourceRecord, SourceRecord, Store, StoreError,
};
use crate::watchlist::WatchlistSet;

/// Everything a poll needs, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct PollContext<'a> {
    pub config: &'a Config,
    pub fetcher: &'a Fetcher,
    pub store: &'a Store,
    pub watchlists: &'a WatchlistSet,
}

/// Which sources to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// Those whose next poll time has come.
    Due,
    /// All of them, now.
    All,
    /// This one, now.
    One(&'a str),
}

/// The outcome of one source's poll.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub id: String,
    pub kind: SourceKind,
    pub ok: bool,
    /// Requests made, and how many were answered 304 or had an unchanged body.
    pub requests: usize,
    pub unchanged: usize,
    /// Items and dossier snapshots parsed.
    pub observations: usize,
    pub new_events: usize,
    pub enqueued: usize,
    pub error: Option<String>,
    pub next_poll: Option<DateTime<Utc>>,
}

/// The outcome of one poll step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    pub sources: Vec<SourceReport>,
}

impl PollReport {
    pub fn any_failed(&self) -> bool {
        self.sources.iter().any(|s| !s.ok)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("no source with id {0:?} in the configuration")]
    UnknownSource(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// When a source should next be polled after `failures` consecutive failures.
pub fn backoff(every: Duration, failures: u32) -> Duration {
    let cap = (every * 4)
        .min(Duration::from_secs(86_400))
        .max(Duration::from_secs(60));
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_secs(60)
        .saturating_mul(4u32.saturating_pow(exp))
        .min(cap)
}

/// One fetched URL, before processing.
struct Fetched {
    url: String,
    /// The procedure this URL is the record of (EU services), if any.
    dossier: Option<ProcedureRef>,
    result: Result<FetchOutcome, FetchError>,
    parsed: Option<Result<Vec<Observation>, ParseError>>,
    content_hash: Option<String>,
    /// What was recorded about this URL before this fetch.
    prev: ResourceRecord,
}

/// Poll the selected sources once.
pub async fn poll_once(
    ctx: PollContext<'_>,
    now: DateTime<Utc>,
    which: Selection<'_>,
) -> Result<PollReport, PollError> {
    if let Selection::One(id) = which {
        if !ctx.config.sources.iter().any(|s| s.id == id) {
            return Err(PollError::UnknownSource(id.to_string()));
        }
    }
    let mut due = Vec::new();
    for s in &ctx.config.sources {
        let state = ctx.store.source(&s.id)?.unwrap_or_default();
        let pick = match which {
            Selection::All => true,
            Selection::One(id) => s.id == id,
            Selection::Due => state.next_poll_at.is_none_or(|t| t <= now),
        };
        if pick {
            due.push((s, state));
        }
    }
    let mut tracked: BTreeSet<ProcedureRef> =
        ctx.watchlists.tracked_dossiers().into_iter().collect();
    tracked.extend(ctx.store.tracked()?);
    let tracked: Vec<ProcedureRef> = tracked.into_iter().collect();

    // Fetch concurrently (the fetcher paces hosts and bounds concurrency), record one
    // source at a time so that dossier merges never race.
    let concurrency = ctx.config.http.global_concurrency.max(1);
    type Job<'f> = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = (&'f SourceConfig, SourceRecord, Vec<Fetched>)>
                + Send
                + 'f,
        >,
    >;
    let mut jobs: Vec<Job<'_>> = Vec::with_capacity(due.len());
    for (s, state) in due {
        let tracked = &tracked;
        jobs.push(Box::pin(async move {
            let fetched = fetch_source(ctx, s, &state, tracked, now).await;
            (s, state, fetched)
        }));
    }
    let mut fetches = stream::iter(jobs).buffer_unordered(concurrency);

    let mut report = PollReport::default();
    // Sources are prepared one at a time as their fetches finish (so dossier merges never
    // race: `merged` carries the dossiers this step merged to the sources after them) and
    // recorded together, a few thousand events per transaction.
    let mut merged: BTreeMap<ProcedureRef, crate::model::Dossier> = BTreeMap::new();
    let mut prepared: Vec<(SourceReport, PollBatch)> = Vec::new();
    let mut prepared_events = 0;
    let mut waiting_since = tokio::time::Instant::now();
    loop {
        let next = if prepared.is_empty() {
            fetches.next().await
        } else {
            // A slow source never holds back what the others brought. (`next` is
            // cancel-safe: a fetch that completes later is not lost.)
            let deadline = waiting_since + MAX_RECORD_DELAY;
            match tokio::time::timeout_at(deadline, fetches.next()).await {
                Ok(next) => next,
                Err(_) => {
                    record(ctx, &mut prepared, &mut report)?;
                    prepared_events = 0;
                    continue;
                }
            }
        };
        let Some((s, state, fetched)) = next else {
            break;
        };
        let (r, batch) = prepare_source(ctx, s, state, fetched, now, &mut merged)?;
        if prepared.is_empty() {
            waiting_since = tokio::time::Instant::now();
        }
        prepared_events += batch.events.len();
        prepared.push((r, batch));
        if prepared_events >= EVENTS_PER_TRANSACTION {
            record(ctx, &mut prepared, &mut report)?;
            prepared_events = 0;
        }
    }
    record(ctx, &mut prepared, &mut report)?;
    let retention = chrono::Duration::from_std(ctx.config.storage.retention)
        .unwrap_or(chrono::Duration::days(730));
    let pruned = ctx.store.prune(now - retention, now)?;
    if pruned > 0 {
        tracing::info!(events = pruned, "pruned old events");
    }
    ctx.store.flush().await?;
    report.sources.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(report)
}

/// How many events a poll step gathers before committing them with their sources' state:
/// a sled transaction has a fixed cost about that of 20 inserts, so committing each
/// source's handful of items alone doubled the store's share of a poll; the bound keeps
/// the memory held for it small (a few MB).
const EVENTS_PER_TRANSACTION: usize = 2_000;

/// ... or once the first of them has waited this long, so that a hanging source does not
/// hold back the others' events (and alerts) until its timeout.
const MAX_RECORD_DELAY: Duration = Duration::from_secs(1);

/// Record the prepared sources in one transaction; complete and log their reports.
fn record(
    ctx: PollContext<'_>,
    prepared: &mut Vec<(SourceReport, PollBatch)>,
    report: &mut PollReport,
) -> Result<(), StoreError> {
    if prepared.is_empty() {
        return Ok(());
    }
    let (reports, batches): (Vec<SourceReport>, Vec<PollBatch>) = prepared.drain(..).unzip();
    let outcomes = ctx.store.record_polls(&batches)?;
    for ((mut r, batch), outcome) in reports.into_iter().zip(batches).zip(outcomes) {
        r.new_events = outcome.new_events.len();
        r.enqueued = outcome.enqueued;
        // A source that brought nothing new is a debug line: the daemon's "poll step" line
        // sums up the step, and 500 unchanged sources an hour would bury what matters.
        if r.ok && r.new_events == 0 && r.enqueued == 0 {
            tracing::debug!(source = %r.id, unchanged = r.unchanged, "polled");
        } else if r.ok {
            tracing::info!(source = %r.id, new_events = r.new_events, enqueued = r.enqueued, unchanged = r.unchanged, "polled");
        } else {
            tracing::warn!(source = %r.id, failures = batch.state.failures, error = r.error.as_deref().unwrap_or_default(), "poll failed");
        }
        report.sources.push(r);
    }
    Ok(())
}

/// How a fetched body is read: by its source's parser, or as something else the source
/// serves (a CELLAR work notice).
type ParseFn<'a> = &'a (dyn Fn(&Input<'_>) -> Result<Vec<Observation>, ParseError> + Sync);

async fn get(
    ctx: PollContext<'_>,
    s: &SourceConfig,
    url: String,
    accept: Option<&str>,
    now: DateTime<Utc>,
) -> Fetched {
    let parse = |input: &Input<'_>| parse(s.kind, input);
    get_with(ctx, s, url, accept, now, &parse).await
}

async fn get_with(
    ctx: PollContext<'_>,
    s: &SourceConfig,
    url: String,
    accept: Option<&str>,
    now: DateTime<Utc>,
    parse: ParseFn<'_>,
) -> Fetched {
    // One read of what we know about this URL serves the conditional request, the
    // content-hash check and the recording.
    let prev = match ctx.store.resource(&s.id, &url) {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            return Fetched {
                url,
                dossier: None,
                result: Err(FetchError::Body {
                    url: String::new(),
                    reason: e.to_string(),
                }),
                parsed: None,
                content_hash: None,
                prev: ResourceRecord::default(),
            }
        }
    };
    let req = FetchRequest {
        url: url.clone(),
        accept: accept.map(str::to_string),
        validators: Validators {
            etag: prev.etag.clone(),
            last_modified: prev.last_modified.clone(),
        },
        timeout: s.timeout,
    };
    let result = ctx.fetcher.get(&req).await;
    let mut f = Fetched {
        url,
        dossier: None,
        result,
        parsed: None,
        content_hash: None,
        prev,
    };
    if let Ok(FetchOutcome::Body(body)) = &f.result {
        let hash = blake3::hash(&body.bytes).to_hex().to_string();
        if f.prev.content_hash.as_deref() != Some(hash.as_str()) {
            let provenance = Provenance {
                source: s.id.clone(),
                url: body.final_url.clone(),
                fetched_at: now,
            };
            let input = Input {
                body: &body.bytes,
                content_type: body.content_type.as_deref(),
                provenance: &provenance,
            };
            f.parsed = Some(parse(&input));
        }
        f.content_hash = Some(hash);
    }
    f
}

/// A procedure a service said it does not hold is asked for again after this long, not at
/// every poll: about once a day (a source polled daily asks at each poll). A procedure
/// reaches OEIL and CELLAR within days of the proposal, so a day's delay costs little, and
/// the EU services are spared a request per untracked-there dossier and poll.
const NOT_FOUND_RECHECK: chrono::Duration = chrono::Duration::hours(20);

/// Whether the service said recently that it does not hold `url`.
fn recently_missing(ctx: PollContext<'_>, s: &SourceConfig, url: &str, now: DateTime<Utc>) -> bool {
    ctx.store
        .resource(&s.id, url)
        .ok()
        .flatten()
        .and_then(|r| r.not_found_at)
        .is_some_and(|t| t <= now && now - t < NOT_FOUND_RECHECK)
}

/// After an error that says the service itself is unreachable, refusing or challenging
/// us, the remaining dossiers of this source wait for the next poll (with its backoff):
/// politeness, and a dead host does not hold the poll for one timeout per dossier.
fn host_is_down(f: &Fetched) -> bool {
    match &f.result {
        Err(FetchError::Status { status, .. }) => *status == 429 || *status >= 500,
        Err(
            FetchError::Timeout { .. } | FetchError::Connect { .. } | FetchError::Challenge { .. },
        ) => true,
        _ => false,
    }
}

fn parse(kind: SourceKind, input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    match kind {
        SourceKind::Feed => sources::feed::parse(input),
        SourceKind::EpApi => sources::ep_api::parse(input),
        SourceKind::Oeil => sources::oeil::parse(input),
        SourceKind::Cellar => sources::cellar::parse(input),
        SourceKind::HaveYourSay => sources::have_your_say::parse(input),
    }
}

/// Fetch (and parse) everything one source needs this time.
async fn fetch_source(
    ctx: PollContext<'_>,
    s: &SourceConfig,
    state: &SourceRecord,
    tracked: &[ProcedureRef],
    now: DateTime<Utc>,
) -> Vec<Fetched> {
    let base = s.url.as_str().trim_end_matches('/').to_string();
    match s.kind {
        SourceKind::Feed => vec![get(ctx, s, s.url.to_string(), None, now).await],
        SourceKind::EpApi => {
            let mut out = Vec::new();
            let mut changed: BTreeSet<ProcedureRef> = BTreeSet::new();
            for url in sources::ep_api::feed_urls(&base) {
                let f = get(ctx, s, url, Some("application/atom+xml"), now).await;
                if let Some(Ok(obs)) = &f.parsed {
                    changed.extend(obs.iter().filter_map(|o| match o {
                        Observation::Changed(r) => Some(*r),
                        _ => None,
                    }));
                }
                out.push(f);
            }
            // Never trust an empty feed: every tracked dossier is refreshed on a slower cycle.
            let refresh_due = state.last_refresh.is_none_or(|t| {
                now - t
                    >= chrono::Duration::from_std(s.refresh).unwrap_or(chrono::Duration::days(7))
            });
            for r in tracked {
                let known = ctx.store.dossier(r).ok().flatten().is_some();
                if refresh_due || !known || changed.contains(r) {
                    let url = sources::ep_api::procedure_url(&base, r);
                    if !changed.contains(r) && recently_missing(ctx, s, &url, now) {
                        continue;
                    }
                    let mut f = get(ctx, s, url, Some(sources::ep_api::ACCEPT), now).await;
                    f.dossier = Some(*r);
                    let stop = host_is_down(&f);
                    out.push(f);
                    if stop {
                        break;
                    }
                }
            }
            out
        }
        SourceKind::Oeil => {
            let mut out = Vec::new();
            for r in tracked {
                let url = sources::oeil::procedure_url(&base, r);
                if recently_missing(ctx, s, &url, now) {
                    continue;
                }
                let mut f = get(ctx, s, url, Some("text/html"), now).await;
                f.dossier = Some(*r);
                let stop = host_is_down(&f);
                out.push(f);
                if stop {
                    break;
                }
            }
            out
        }
        SourceKind::Cellar => {
            let mut out = Vec::new();
            'dossiers: for r in tracked {
                let url = sources::cellar::procedure_url(&base, r);
                if recently_missing(ctx, s, &url, now) {
                    continue;
                }
                let mut f = get(ctx, s, url, Some(sources::cellar::ACCEPT), now).await;
                f.dossier = Some(*r);
                let stop = host_is_down(&f);
                let works = if stop {
                    Vec::new()
                } else {
                    work_notices_due(ctx, s, &base, r, &f, now)
                };
                out.push(f);
                if stop {
                    break;
                }
                for (role, celex) in works {
                    let url = cellar_work::url(&base, &celex);
                    if recently_missing(ctx, s, &url, now) {
                        continue;
                    }
                    let dossier = *r;
                    let parse =
                        |input: &Input<'_>| cellar_work::parse(input, dossier, role, &celex);
                    let mut w = get_with(ctx, s, url, Some(cellar_work::ACCEPT), now, &parse).await;
                    w.dossier = Some(*r);
                    let stop = host_is_down(&w);
                    out.push(w);
                    if stop {
                        break 'dossiers;
                    }
                }
            }
            out
        }
        SourceKind::HaveYourSay => {
            let mut out = Vec::new();
            for url in sources::have_your_say::urls(&base) {
                out.push(get(ctx, s, url, Some("application/json"), now).await);
            }
            out
        }
    }
}

/// The CELLAR work notices to read after a procedure's tree notice `f`:
/// - the Commission proposal's, for the day it was sent to national parliaments, while
///   that is unknown and the subsidiarity window may still be open (proposal less than
///   16 weeks old, or its date unknown), for procedures with a subsidiarity check;
/// - the final act's, for its transposition deadlines, when it is a directive.
///
/// Each is read when it never was, and again only when the procedure's notice changed
/// (new bytes): act metadata changes with the procedure, and one unchanged procedure
/// costs one conditional request, not three.
fn work_notices_due(
    ctx: PollContext<'_>,
    s: &SourceConfig,
    base: &str,
    r: &ProcedureRef,
    f: &Fetched,
    now: DateTime<Utc>,
) -> Vec<(cellar_work::Role, Celex)> {
    let fresh = match &f.parsed {
        Some(Ok(obs)) => obs.iter().find_map(|o| match o {
            Observation::Dossier(d) => Some(d.as_ref()),
            _ => None,
        }),
        _ => None,
    };
    let stored = ctx.store.dossier(r).ok().flatten();
    let changed = f.parsed.is_some();
    let mut com: Vec<ComRef> = fresh.map(|d| d.com.clone()).unwrap_or_default();
    let mut final_act = fresh.and_then(|d| d.final_act.clone());
    let mut proposed = fresh.and_then(|d| d.first_date(Stage::Proposal));
    let mut sent = None;
    if let Some(d) = &stored {
        com.extend(d.com.iter().copied());
        final_act = final_act.or_else(|| d.final_act.clone());
        proposed = match (proposed, d.first_date(Stage::Proposal)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        sent = d.act_dates.sent_to_parliaments;
    }
    let never_read = |url: &str| {
        ctx.store
            .resource(&s.id, url)
            .ok()
            .flatten()
            .is_none_or(|rec| rec.content_hash.is_none())
    };
    let mut out = Vec::new();
    let window_may_be_open =
        proposed.is_none_or(|p| p >= now.date_naive() - chrono::Duration::weeks(16));
    if sent.is_none() && window_may_be_open && deadlines::has_subsidiarity_check(r.kind()) {
        if let Some(first) = com.iter().min() {
            let celex = first.to_celex();
            if changed || never_read(&cellar_work::url(base, &celex)) {
                out.push((cellar_work::Role::Proposal, celex));
            }
        }
    }
    if let Some(act) = final_act.filter(Celex::is_directive) {
        if changed || never_read(&cellar_work::url(base, &act)) {
            out.push((cellar_work::Role::FinalAct, act));
        }
    }
    out
}

fn reasons(m: &crate::watchlist::Match) -> Vec<String> {
    m.reasons.iter().map(|r| r.to_string()).collect()
}

/// An event found in one poll of a source, before matching.
struct Found {
    event: DossierEvent,
    /// Made by `dossier::item_event` as the item is (then `WatchlistSet::matches_item`
    /// applies).
    plain_item: bool,
    /// An item the resource's previous version already listed: not news again.
    listed_before: bool,
}

/// Turn one source's fetches into events, matches and its new poll state: the batch that
/// `record` commits. Dossiers merge against `merged` (this step's earlier sources) before
/// the store, and this source's merges are added to it.
fn prepare_source(
    ctx: PollContext<'_>,
    s: &SourceConfig,
    mut state: SourceRecord,
    fetched: Vec<Fetched>,
    now: DateTime<Utc>,
    merged: &mut BTreeMap<ProcedureRef, crate::model::Dossier>,
) -> Result<(SourceReport, PollBatch), StoreError> {
    let mut report = SourceReport {
        id: s.id.clone(),
        kind: s.kind,
        ok: true,
        requests: fetched.len(),
        unchanged: 0,
        observations: 0,
        new_events: 0,
        enqueued: 0,
        error: None,
        next_poll: None,
    };
    let mut errors: Vec<String> = Vec::new();
    // The short cause of `errors[0]` when it is a fetch error (`SourceRecord::last_cause`).
    let mut first_cause: Option<String> = None;
    let mut floor: Option<Duration> = None;
    let mut retry_after: Option<Duration> = None;
    let mut resources = Vec::new();
    let mut events: Vec<Found> = Vec::new();
    let mut dossiers: BTreeMap<ProcedureRef, crate::model::Dossier> = BTreeMap::new();
    let mut any_success = false;
    // Deadlines carried by consultation events, kept for the watchlists they match.
    let mut consultations: Vec<(crate::model::EventId, Vec<deadlines::Deadline>)> = Vec::new();

    for f in fetched {
        let mut prev = f.prev;
        match f.result {
            // A service that has no record of one procedure (OEIL lacks CELLAR-only
            // procedures and vice versa) is not a broken source.
            Err(FetchError::Status {
                status: 404 | 410, ..
            }) if f.dossier.is_some() => {
                any_success = true;
                tracing::debug!(source = %s.id, url = %f.url, "procedure not found at this source");
                prev.v = 1;
                prev.not_found_at = Some(now);
                resources.push((f.url, prev));
            }
            Err(e) => {
                retry_after = retry_after.max(e.retry_after());
                if errors.is_empty() {
                    first_cause = Some(e.cause());
                }
                errors.push(e.to_string());
            }
            Ok(FetchOutcome::NotModified {
                validators,
                cache_floor,
            }) => {
                report.unchanged += 1;
                floor = floor.max(cache_floor);
                match &prev.parse_error {
                    // Unchanged, and still what failed to parse last time.
                    Some(e) => errors.push(format!("{}: {e}", f.url)),
                    None => any_success = true,
                }
                if prev.etag != validators.etag
                    || prev.last_modified != validators.last_modified
                    || prev.not_found_at.is_some()
                {
                    prev.v = 1;
                    prev.etag = validators.etag;
                    prev.last_modified = validators.last_modified;
                    prev.not_found_at = None;
                    resources.push((f.url, prev));
                }
            }
            Ok(FetchOutcome::Body(body)) => {
                floor = floor.max(body.cache_floor);
                let mut record = ResourceRecord {
                    v: 1,
                    etag: body.validators.etag.clone(),
                    last_modified: body.validators.last_modified.clone(),
                    content_hash: f.content_hash.clone(),
                    fetched_at: Some(now),
                    parse_error: None,
                    not_found_at: None,
                    items: Vec::new(),
                };
                match f.parsed {
                    None => {
                        // Same bytes as last time: nothing to parse (and, if they did not
                        // parse then, the same error).
                        report.unchanged += 1;
                        match &prev.parse_error {
                            Some(e) => errors.push(format!("{}: {e}", f.url)),
                            None => any_success = true,
                        }
                        record.parse_error = prev.parse_error.clone();
                        record.not_found_at = prev.not_found_at;
                        record.fetched_at = prev.fetched_at;
                        record.items.clone_from(&prev.items);
                        if record != prev {
                            resources.push((f.url, record));
                        }
                    }
                    Some(Err(ParseError::NotFound(why))) => {
                        any_success = true;
                        tracing::info!(source = %s.id, url = %f.url, reason = %why, "not found at the source");
                        record.not_found_at = Some(now);
                        record.items = prev.items;
                        resources.push((f.url, record));
                    }
                    Some(Err(e)) => {
                        // Remember the bytes and the error: the same bytes are not parsed
                        // again, and the source stays failing until they change.
                        errors.push(format!("{}: {e}", f.url));
                        record.parse_error = Some(e.to_string());
                        record.items = prev.items;
                        resources.push((f.url, record));
                    }
                    Some(Ok(observations)) => {
                        any_success = true;
                        // Sorted as stored; sorting again costs nothing and keeps the
                        // binary search below right whatever wrote the record.
                        prev.items.sort_unstable();
                        report.observations += observations.len();
                        let provenance = Provenance {
                            source: s.id.clone(),
                            url: body.final_url.clone(),
                            fetched_at: now,
                        };
                        events.reserve(observations.len());
                        for o in observations {
                            match o {
                                Observation::Item(item) => {
                                    let (event, plain_item) =
                                        match sources::have_your_say::consultation_of(&item) {
                                            Some(c) if s.kind == SourceKind::HaveYourSay => {
                                                let ev = dossier::consultation_event(
                                                    &c,
                                                    &item,
                                                    &provenance,
                                                    now,
                                                );
                                                consultations.push((
                                                    ev.id,
                                                    deadlines::consultation_deadlines(&c),
                                                ));
                                                (ev, false)
                                            }
                                            _ => (
                                                dossier::item_event(&item, &provenance, now, None),
                                                true,
                                            ),
                                        };
                                    record.items.push(event.id);
                                    events.push(Found {
                                        listed_before: prev.items.binary_search(&event.id).is_ok(),
                                        event,
                                        plain_item,
                                    });
                                }
                                Observation::Dossier(snap) => {
                                    let key = snap.reference;
                                    let stored = match dossiers.get(&key).or(merged.get(&key)) {
                                        Some(d) => Some(d.clone()),
                                        None => ctx.store.dossier(&key)?,
                                    };
                                    let merged = dossier::merge(stored.as_ref(), &snap);
                                    let diff_ctx = DiffContext {
                                        now,
                                        backfill: ctx.config.digest.backfill,
                                        provenance: &snap.provenance,
                                    };
                                    events.extend(
                                        dossier::diff(stored.as_ref(), &merged, &diff_ctx)
                                            .into_iter()
                                            .map(|event| Found {
                                                event,
                                                plain_item: false,
                                                listed_before: false,
                                            }),
                                    );
                                    dossiers.insert(key, merged);
                                }
                                Observation::Changed(_) => {}
                            }
                        }
                        record.items.sort_unstable();
                        record.items.dedup();
                        resources.push((f.url, record));
                    }
                }
            }
        }
    }

    // Match and enqueue. On a source's first successful poll, a feed's items older than
    // `digest.backfill` are what it held before veille watched it, not news: like a new
    // dossier's old steps, they are kept as seen, out of the digests (a dossier they name
    // is still tracked).
    let first_sight = state.last_success.is_none();
    let horizon = dossier::backfill_horizon(now, ctx.config.digest.backfill);
    let mut archived_items = 0usize;
    let mut observed = Vec::with_capacity(events.len());
    let mut track: Vec<ProcedureRef> = Vec::new();
    let mut kept: Vec<(String, deadlines::Deadline)> = Vec::new();
    for Found {
        event: ev,
        plain_item,
        listed_before,
    } in events
    {
        let matches = match plain_item {
            true => ctx.watchlists.matches_item(&ev),
            false => ctx.watchlists.matches(&ev),
        };
        let archived = first_sight && plain_item && ev.date < horizon;
        let news: &[_] = match archived {
            true => &[],
            false => &matches,
        };
        if archived && !matches.is_empty() {
            archived_items += 1;
        }
        let mut enqueue = Vec::with_capacity(news.len());
        for m in news {
            let alert_due = ev.kind == EventKind::Step
                && ev.stage.is_some_and(|st| {
                    ctx.watchlists
                        .get(&m.watchlist)
                        .is_some_and(|w| w.alert_on.contains(&st))
                });
            enqueue.push(Enqueue {
                watchlist: m.watchlist.clone(),
                reasons: reasons(m),
                alert_due,
            });
        }
        if let Some((_, ds)) = consultations.iter().find(|(id, _)| *id == ev.id) {
            for m in &matches {
                kept.extend(ds.iter().map(|d| (m.watchlist.clone(), d.clone())));
            }
        }
        if !matches.is_empty() && ev.kind == EventKind::Item {
            if let Some(d) = ev.dossier {
                if !track.contains(&d) {
                    track.push(d);
                }
            }
        }
        observed.push(ObservedEvent {
            event: ev,
            matches: enqueue,
            listed_before,
        });
    }

    if archived_items > 0 {
        tracing::info!(
            source = %s.id,
            items = archived_items,
            backfill = %humantime::format_duration(ctx.config.digest.backfill),
            "first poll of this source: matched items older than digest.backfill are kept as seen, not reported as news"
        );
    }

    let failed = !errors.is_empty();
    state.v = 1;
    state.polls += 1;
    state.last_attempt = Some(now);
    if failed {
        state.failures += 1;
        state.failing_since.get_or_insert(now);
        let more = if errors.len() > 1 {
            format!(" (and {} more errors)", errors.len() - 1)
        } else {
            String::new()
        };
        state.last_error = Some(format!("{}{more}", errors[0]));
        state.last_cause = Some(
            first_cause.unwrap_or_else(|| crate::view::cause::of_error_text(s.kind, &errors[0])),
        );
        let wait = backoff(s.every, state.failures).max(retry_after.unwrap_or_default());
        state.next_poll_at =
            Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)));
    } else {
        state.failures = 0;
        state.failing_since = None;
        state.last_error = None;
        state.last_cause = None;
        state.last_success = Some(now);
        let wait = s.every.max(floor.unwrap_or_default());
        state.next_poll_at =
            Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(6)));
    }
    if any_success && matches!(s.kind, SourceKind::EpApi) && !failed {
        let refresh = chrono::Duration::from_std(s.refresh).unwrap_or(chrono::Duration::days(7));
        if state.last_refresh.is_none_or(|t| now - t >= refresh) {
            state.last_refresh = Some(now);
        }
    }

    for (r, d) in &dossiers {
        merged.insert(*r, d.clone());
    }
    let batch = PollBatch {
        source: s.id.clone(),
        state: state.clone(),
        resources,
        dossiers: dossiers.into_values().collect(),
        events: observed,
        track,
        deadlines: kept,
        now,
    };
    report.ok = !failed;
    report.error = state.last_error.clone();
    report.next_poll = state.next_poll_at;
    Ok((report, batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_but_never_stops() {
        let every = Duration::from_secs(6 * 3600);
        assert_eq!(backoff(every, 1), Duration::from_secs(60));
        assert_eq!(backoff(every, 2), Duration::from_secs(240));
        assert_eq!(backoff(every, 3), Duration::from_secs(960));
        assert_eq!(backoff(every, 50), Duration::from_secs(86_400));
        assert_eq!(
            backoff(Duration::from_secs(600), 50),
            Duration::from_secs(2400)
        );
    }
}
