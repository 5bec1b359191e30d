//! One poll step: which sources are due, fetch them (bounded concurrency, per-host pacing
//! in `fetch`), parse, merge dossiers, diff into events, match watchlists, and record
//! each source's whole result atomically — several sources per store transaction, at most
//! 2,000 events or one second after the first is ready — then flush. `poll_once(now)` is the
//! step; the daemon's loop only calls it and sleeps. Must not render or send mail.
//!
//! Discovery: a procedure a source brings that veille did not follow (a new procedure an
//! EP API change feed named, a candidate's CELLAR notice) is evaluated against every
//! watchlist ([`crate::watchlist::WatchlistSet::discover`]): found, it is tracked for the
//! watchlists that want it, with the news of it and its recent steps; not, it is kept
//! as a candidate. When the watchlists change, the step first evaluates the candidates
//! again.
//!
//! The archive: every event a source brought new, matched or not, is archived in the
//! same transaction as the URL records that make it known (so a crash before it leaves
//! both for the next poll to redo). A watchlist that is new or edited since the last step
//! gets, first, what its new version matches in the archive within `digest.backfill` and
//! was never sent to it, enqueued as "earlier, now matched".
//!
//! Scheduling per source: `every` after a success (or the server's `Cache-Control`
//! max-age, whichever is later); after a failure an exponential backoff from one minute,
//! capped at four times `every` (at most a day), never disabled; `Retry-After` is a floor.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::{Config, SourceConfig};
use crate::deadlines;
use crate::dossier::{self, DiffContext};
use crate::fetch::{FetchError, FetchOutcome, FetchRequest, Fetcher, Transient, Validators};
use crate::model::{
    Candidate, ComRef, Consultation, Dossier, DossierEvent, DossierSnapshot, EventId, EventKind,
    FeedItem, Observation, ProcedureRef, Provenance,
};
use crate::sources::plan::{self, Known, Plan, Request, UrlKnown};
use crate::sources::{Input, ParseError, SourceKind};
use crate::store::{
    Discoveries, Enqueue, FoundFor, ObservedEvent, PollBatch, ResourceRecord, SourceRecord, Store,
    StoreError, StoredCandidates, StoredDossiers,
};
use crate::watchlist::{Match, Reason, WatchlistSet};

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
    /// All of them, now (`veille poll`), but for those whose server asked to be left
    /// alone for a while (`Retry-After`), unless `force`.
    All { force: bool },
    /// This one, now, on the same terms.
    One { id: &'a str, force: bool },
}

impl Selection<'_> {
    /// Whether a source is polled in this step, and if not because its server asked to
    /// wait, until when.
    fn picks(&self, s: &SourceConfig, state: &SourceRecord, now: DateTime<Utc>) -> Pick {
        let held = state.hold_until.filter(|t| *t > now);
        match *self {
            Selection::Due => match state.next_poll_at.is_none_or(|t| t <= now) {
                true => Pick::Poll,
                false => Pick::Skip,
            },
            Selection::One { id, .. } if s.id != id => Pick::Skip,
            Selection::All { force } | Selection::One { force, .. } => match held {
                Some(until) if !force => Pick::Held(until),
                _ => Pick::Poll,
            },
        }
    }
}

enum Pick {
    Poll,
    Skip,
    Held(DateTime<Utc>),
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
    /// The full error chain of a failed poll (for the log), and its short cause (for people).
    pub error: Option<String>,
    pub cause: Option<String>,
    pub next_poll: Option<DateTime<Utc>>,
    /// Not polled: its server asked to wait until then (`Retry-After`).
    pub held_until: Option<DateTime<Utc>>,
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
    /// The record of one procedure, act or initiative, not a listing ([`Request::one_record`]).
    one_record: bool,
    /// The Have Your Say initiative this URL is the detail of, if any.
    initiative: Option<u64>,
    result: Result<FetchOutcome, FetchError>,
    parsed: Option<Result<Vec<Observation>, ParseError>>,
    content_hash: Option<String>,
    /// What was recorded about this URL before this fetch.
    prev: ResourceRecord,
}

/// What a poll step reads of the store, read once at its start: the due sources with
/// their poll state and URL records, the tracked procedures and the stored dossiers.
/// Everything after works on this value; only `record` writes.
struct StepView<'c> {
    due: Vec<(
        &'c SourceConfig,
        SourceRecord,
        HashMap<String, ResourceRecord>,
    )>,
    tracked: Vec<ProcedureRef>,
    /// The tracked procedures found for watchlists as new dossiers: for whom, and why.
    found_for: HashMap<ProcedureRef, Vec<FoundFor>>,
    dossiers: StoredDossiers,
    candidates: StoredCandidates,
    /// Sources asked for but left alone: their server asked to wait until then.
    held: Vec<(&'c SourceConfig, DateTime<Utc>)>,
}

/// The step's one read of the store.
fn read_step<'c>(
    config: &'c Config,
    store: &Store,
    watchlists: &WatchlistSet,
    now: DateTime<Utc>,
    which: Selection<'_>,
) -> Result<StepView<'c>, StoreError> {
    let (mut due, mut held) = (Vec::new(), Vec::new());
    for s in &config.sources {
        let state = store.source(&s.id)?.unwrap_or_default();
        match which.picks(s, &state, now) {
            Pick::Poll => due.push((s, state, store.resources_of(&s.id)?)),
            Pick::Held(until) => held.push((s, until)),
            Pick::Skip => {}
        }
    }
    let procedures = due
        .iter()
        .any(|(s, ..)| !matches!(s.kind, SourceKind::Feed | SourceKind::HaveYourSay));
    let mut tracked: BTreeSet<ProcedureRef> = watchlists.tracked_dossiers().into_iter().collect();
    let mut found_for = HashMap::new();
    for t in store.tracked_records()? {
        tracked.insert(t.procedure);
        if !t.found_for.is_empty() {
            found_for.insert(t.procedure, t.found_for);
        }
    }
    let (dossiers, candidates) = match procedures {
        true => (store.stored_dossiers()?, store.stored_candidates()?),
        false => (store.stored_aliases()?, StoredCandidates::default()),
    };
    Ok(StepView {
        due,
        tracked: tracked.into_iter().collect(),
        found_for,
        dossiers,
        candidates,
        held,
    })
}

/// What one source's plan knows: its part of the step's view.
struct SourceKnown<'v> {
    resources: &'v HashMap<String, ResourceRecord>,
    dossiers: &'v StoredDossiers,
}

impl Known for SourceKnown<'_> {
    fn url(&self, url: &str) -> UrlKnown {
        self.resources
            .get(url)
            .map(|r| UrlKnown {
                read: r.content_hash.is_some(),
                not_found_at: r.not_found_at,
                missing_since: r.missing_since,
            })
            .unwrap_or_default()
    }
    fn has_dossier(&self, r: &ProcedureRef) -> bool {
        self.dossiers.contains(r)
    }
    fn dossier(&self, r: &ProcedureRef) -> Option<&Dossier> {
        self.dossiers.get(r).ok().flatten()
    }
}

/// What fetching needs: no store (the plans read the step's view).
#[derive(Clone, Copy)]
struct Fetching<'a> {
    fetcher: &'a Fetcher,
    now: DateTime<Utc>,
}

/// Poll the selected sources once.
pub async fn poll_once(
    ctx: PollContext<'_>,
    now: DateTime<Utc>,
    which: Selection<'_>,
) -> Result<PollReport, PollError> {
    if let Selection::One { id, .. } = which {
        if !ctx.config.sources.iter().any(|s| s.id == id) {
            return Err(PollError::UnknownSource(id.to_string()));
        }
    }
    reevaluate_candidates(ctx, now)?;
    backfill_changed_watchlists(ctx, now)?;
    ctx.store.keep_archive(ctx.config.storage.archive);
    let view = read_step(ctx.config, ctx.store, ctx.watchlists, now, which)?;
    let fetching = Fetching {
        fetcher: ctx.fetcher,
        now,
    };
    // Fetch concurrently (the fetcher paces hosts and bounds concurrency), prepare one
    // source at a time so that dossier merges never race.
    let concurrency = ctx.config.http.global_concurrency.max(1);
    type Job<'f> = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = (&'f SourceConfig, SourceRecord, Vec<Fetched>)>
                + Send
                + 'f,
        >,
    >;
    let mut jobs: Vec<Job<'_>> = Vec::with_capacity(view.due.len());
    for (s, state, resources) in &view.due {
        let known = SourceKnown {
            resources,
            dossiers: &view.dossiers,
        };
        let follows = Follows {
            tracked: &view.tracked,
            candidates: view.candidates.keys(),
        };
        jobs.push(Box::pin(async move {
            let fetched = fetch_source(fetching, s, state, follows, &known).await;
            (*s, state.clone(), fetched)
        }));
    }
    let mut fetches = stream::iter(jobs).buffer_unordered(concurrency);

    let mut report = PollReport::default();
    report
        .sources
        .extend(view.held.iter().map(|(s, until)| held_report(s, *until)));
    // Sources are prepared one at a time as their fetches finish (so dossier merges never
    // race: `merged` carries the dossiers this step merged to the sources after them) and
    // recorded together, a few thousand events per transaction.
    let preparing = Preparing {
        config: ctx.config,
        watchlists: ctx.watchlists,
        stored: &view.dossiers,
        tracked: &view.tracked,
        found_for: &view.found_for,
        candidates: &view.candidates,
        now,
    };
    let mut merged: BTreeMap<ProcedureRef, Dossier> = BTreeMap::new();
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
                    record(ctx.store, &mut prepared, &mut report)?;
                    prepared_events = 0;
                    continue;
                }
            }
        };
        let Some((s, state, fetched)) = next else {
            break;
        };
        let (mut r, mut batch) = preparing.source(s, state, fetched, &mut merged)?;
        record_ahead(ctx.store, &mut r, &mut batch)?;
        if prepared.is_empty() {
            waiting_since = tokio::time::Instant::now();
        }
        prepared_events += batch.events.len();
        prepared.push((r, batch));
        if prepared_events >= EVENTS_PER_TRANSACTION {
            record(ctx.store, &mut prepared, &mut report)?;
            prepared_events = 0;
        }
    }
    record(ctx.store, &mut prepared, &mut report)?;
    prune_and_flush(ctx, now).await?;
    report.sources.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(report)
}

/// After a step: the events past `storage.retention` and the archive past
/// `storage.archive` are pruned, and everything is flushed to disk.
async fn prune_and_flush(ctx: PollContext<'_>, now: DateTime<Utc>) -> Result<(), PollError> {
    let retention = chrono::Duration::from_std(ctx.config.storage.retention)
        .unwrap_or(chrono::Duration::days(730));
    let pruned = ctx.store.prune(now - retention, now)?;
    if pruned > 0 {
        tracing::info!(events = pruned, "pruned old events");
    }
    let archive_horizon = dossier::backfill_horizon(now, ctx.config.storage.archive);
    let archived = ctx.store.prune_archive(archive_horizon)?;
    if archived > 0 {
        tracing::info!(events = archived, before = %archive_horizon, "pruned the archive");
    }
    ctx.store.flush().await?;
    Ok(())
}

/// When the watchlists changed since the candidates were last evaluated (a start, a
/// reload), evaluate every candidate again: one a watchlist now wants is tracked for it,
/// with the news of it, and is no longer a candidate. Its record is fetched by the next
/// EP API poll (a tracked procedure without a dossier). Unchanged watchlists cost one
/// read of the store's metadata.
fn reevaluate_candidates(ctx: PollContext<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let fingerprint = ctx.watchlists.fingerprint();
    if ctx.store.discovery_fingerprint()?.as_deref() == Some(fingerprint) {
        return Ok(());
    }
    let mut events = Vec::new();
    let mut found = Vec::new();
    for rec in ctx.store.candidates()? {
        let matches = ctx.watchlists.discover(&rec.candidate, &rec.source);
        if matches.is_empty() {
            continue;
        }
        let r = rec.candidate.reference;
        let d = dossier::candidate_dossier(&rec.candidate);
        let provenance = Provenance {
            source: rec.source.clone(),
            url: dossier::dossier_page(&r),
            fetched_at: now,
        };
        let mut discovery = Discoveries {
            no_longer_candidates: vec![r],
            source: rec.source.clone(),
            ..Discoveries::default()
        };
        for m in matches {
            let why: Vec<String> = m.reasons.iter().map(Reason::as_discovery).collect();
            events.push(ObservedEvent {
                event: dossier::discovered_event(&d, &m.watchlist, &provenance, now),
                matches: vec![Enqueue {
                    watchlist: m.watchlist.clone(),
                    reasons: why
                        .iter()
                        .map(|w| Reason::NewDossier(w.clone()).to_string())
                        .collect(),
                    alert_due: false,
                }],
                joined: Vec::new(),
                listed_before: false,
            });
            discovery.found.push((
                r,
                FoundFor {
                    watchlist: m.watchlist,
                    reasons: why,
                    at: now,
                },
            ));
        }
        found.push(discovery);
    }
    ctx.store
        .record_reevaluation(&events, &found, fingerprint, now)?;
    if !found.is_empty() {
        tracing::info!(
            dossiers = found.len(),
            "the watchlists changed: candidates now wanted are tracked as new dossiers"
        );
    }
    Ok(())
}

/// When a watchlist is new, or its dossiers, keywords, exclusions, subjects or sources
/// changed, enqueue for it what its new version matches in the archive within
/// `digest.backfill` and it was never sent nor waits for: its next digest carries them
/// once, as "earlier, now matched". Removing a term un-sends nothing. Unchanged
/// watchlists cost one read of the store's metadata.
fn backfill_changed_watchlists(ctx: PollContext<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let current: BTreeMap<String, String> = ctx
        .watchlists
        .lists()
        .iter()
        .map(|w| (w.id.clone(), crate::archive::watchlist_fingerprint(w)))
        .collect();
    let stored = ctx.store.watchlist_fingerprints()?;
    if stored == current {
        return Ok(());
    }
    let changed: Vec<&String> = current
        .iter()
        .filter(|(id, fp)| stored.get(*id) != Some(fp))
        .map(|(id, _)| id)
        .collect();
    let mut earlier = Vec::new();
    if !changed.is_empty() {
        let since = dossier::backfill_horizon(now, ctx.config.digest.backfill);
        let records = ctx.store.archive_where(since, |a| {
            crate::archive::matches_any(ctx.watchlists, &changed, a)
        })?;
        for id in changed {
            let known = ctx.store.known_to(id)?;
            let fresh = records.iter().filter(|(e, _)| !known.contains(e));
            for found in crate::archive::backtest(ctx.watchlists, id, fresh.cloned()) {
                earlier.push((
                    id.clone(),
                    crate::store::Earlier {
                        event: found.event.to_event(found.id),
                        reasons: found
                            .matched_by
                            .iter()
                            .map(|r| crate::digest::earlier_reason(r))
                            .collect(),
                    },
                ));
            }
        }
    }
    let enqueued = ctx.store.record_backfill(&earlier, &current, now)?;
    if enqueued > 0 {
        tracing::info!(
            events = enqueued,
            "watchlists new or changed: what they now match in the archive is enqueued as earlier, now matched"
        );
    }
    Ok(())
}

/// The report of a source left alone because its server asked to wait.
fn held_report(s: &SourceConfig, until: DateTime<Utc>) -> SourceReport {
    SourceReport {
        id: s.id.clone(),
        kind: s.kind,
        ok: true,
        requests: 0,
        unchanged: 0,
        observations: 0,
        new_events: 0,
        enqueued: 0,
        error: None,
        cause: None,
        next_poll: Some(until),
        held_until: Some(until),
    }
}

/// How many events a poll step gathers before committing them with their sources' state:
/// a sled transaction has a fixed cost about that of 20 inserts, so committing each
/// source's handful of items alone doubled the store's share of a poll; the bound keeps
/// the memory held for it small (a few MB).
const EVENTS_PER_TRANSACTION: usize = 2_000;

/// ... or once the first of them has waited this long, so that a hanging source does not
/// hold back the others' events (and alerts) until its timeout.
const MAX_RECORD_DELAY: Duration = Duration::from_secs(1);

/// Write ahead, in parts of `EVENTS_PER_TRANSACTION` events each in a transaction of its
/// own, the matched new events of a source that brought more than one transaction takes
/// (a feed of 50,000 matching items): a transaction's memory grows with what it writes.
/// The batch keeps the rest (the events no watchlist matched, which are only counted),
/// the source's state and its resources' records, recorded last, with the sources
/// prepared around it. Nothing lost, nothing twice: until that last write, the URL's
/// record still lists its previous items and has its previous content hash, so a crash
/// in between has the next poll parse the body again; the events written ahead are then
/// found kept (not new, not enqueued again), the others are new.
fn record_ahead(
    store: &Store,
    r: &mut SourceReport,
    batch: &mut PollBatch,
) -> Result<(), StoreError> {
    archive_ahead(store, r, batch)?;
    let ahead = |o: &ObservedEvent| !o.matches.is_empty() && !o.listed_before;
    if batch.events.iter().filter(|o| ahead(o)).count() <= EVENTS_PER_TRANSACTION {
        return Ok(());
    }
    let (matched, rest): (Vec<ObservedEvent>, Vec<ObservedEvent>) =
        std::mem::take(&mut batch.events)
            .into_iter()
            .partition(ahead);
    batch.events = rest;
    let mut matched = matched.into_iter();
    loop {
        let events: Vec<ObservedEvent> = matched.by_ref().take(EVENTS_PER_TRANSACTION).collect();
        if events.is_empty() {
            return Ok(());
        }
        let part = PollBatch {
            source: batch.source.clone(),
            state: batch.state.clone(),
            resources: Vec::new(),
            dossiers: Vec::new(),
            events,
            track: Vec::new(),
            deadlines: Vec::new(),
            discovery: Discoveries::default(),
            now: batch.now,
        };
        let outcome = store.record_part(&part)?;
        // The source's stored count of events includes those written ahead.
        batch.state.events += outcome.new_events.len() as u64;
        r.new_events += outcome.new_events.len();
        r.enqueued += outcome.enqueued;
    }
}

/// Archive ahead, in parts of `EVENTS_PER_TRANSACTION`, the new events no watchlist
/// matched of a source that brought more of them than one transaction takes (a feed of
/// 50,000 items): each is then only counted, as the store counts an unmatched new event,
/// and left out of the last transaction. A crash before that transaction has the next
/// poll parse the body again and archive the same keys again.
fn archive_ahead(
    store: &Store,
    r: &mut SourceReport,
    batch: &mut PollBatch,
) -> Result<(), StoreError> {
    let unmatched = |o: &ObservedEvent| o.matches.is_empty() && !o.listed_before;
    if batch.events.iter().filter(|o| unmatched(o)).count() <= EVENTS_PER_TRANSACTION {
        return Ok(());
    }
    let mut part: Vec<&mut ObservedEvent> = Vec::with_capacity(EVENTS_PER_TRANSACTION);
    let mut written = 0;
    for o in batch.events.iter_mut().filter(|o| unmatched(o)) {
        part.push(o);
        if part.len() == EVENTS_PER_TRANSACTION {
            written += archive_part(store, &mut part, batch.now)?;
        }
    }
    written += archive_part(store, &mut part, batch.now)?;
    batch.state.events += written as u64;
    r.new_events += written;
    Ok(())
}

/// Archive one part of unmatched new events; they are then known (`listed_before`).
fn archive_part(
    store: &Store,
    part: &mut Vec<&mut ObservedEvent>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let events: Vec<&ObservedEvent> = part.iter().map(|o| &**o).collect();
    store.archive_ahead(&events, now)?;
    for o in part.iter_mut() {
        o.listed_before = true;
    }
    let n = part.len();
    part.clear();
    Ok(n)
}

/// Record the prepared sources in one transaction; complete and log their reports (which
/// may already count events written ahead).
fn record(
    store: &Store,
    prepared: &mut Vec<(SourceReport, PollBatch)>,
    report: &mut PollReport,
) -> Result<(), StoreError> {
    if prepared.is_empty() {
        return Ok(());
    }
    let (reports, batches): (Vec<SourceReport>, Vec<PollBatch>) = prepared.drain(..).unzip();
    let outcomes = store.record_polls(&batches)?;
    for ((mut r, batch), outcome) in reports.into_iter().zip(batches).zip(outcomes) {
        r.new_events += outcome.new_events.len();
        r.enqueued += outcome.enqueued;
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

/// Fetch one planned request, conditionally on what the step's view knew of its URL,
/// and parse a body that changed.
async fn get(f: Fetching<'_>, s: &SourceConfig, known: &SourceKnown<'_>, req: &Request) -> Fetched {
    // One record of what we know about this URL serves the conditional request, the
    // content-hash check and the recording.
    let prev = known.resources.get(&req.url).cloned().unwrap_or_default();
    let fetch = FetchRequest {
        url: req.url.clone(),
        accept: req.accept.map(str::to_string),
        validators: Validators {
            etag: prev.etag.clone(),
            last_modified: prev.last_modified.clone(),
        },
        timeout: s.timeout,
    };
    let result = f.fetcher.get(&fetch).await;
    let mut out = Fetched {
        url: req.url.clone(),
        one_record: req.one_record(),
        initiative: req.initiative(),
        result,
        parsed: None,
        content_hash: None,
        prev,
    };
    if let Ok(FetchOutcome::Body(body)) = &mut out.result {
        let hash = blake3::hash(&body.bytes).to_hex().to_string();
        if out.prev.content_hash.as_deref() != Some(hash.as_str()) {
            let provenance = Provenance {
                source: s.id.clone(),
                url: body.final_url.clone(),
                fetched_at: f.now,
            };
            let input = Input {
                body: &body.bytes,
                content_type: body.content_type.as_deref(),
                provenance: &provenance,
            };
            out.parsed = Some(req.parse(s.kind, &input));
        }
        out.content_hash = Some(hash);
        // Hashed and parsed: the bytes are not needed any more (a feed may be 16 MiB).
        body.bytes = bytes::Bytes::new();
    }
    out
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

/// Fetch (and parse) everything one source needs this time: its plan's first requests,
/// each followed at once by the follow-ups it calls for, then the second stage.
async fn fetch_source(
    f: Fetching<'_>,
    s: &SourceConfig,
    state: &SourceRecord,
    follows: Follows<'_>,
    known: &SourceKnown<'_>,
) -> Vec<Fetched> {
    let plan = Plan {
        kind: s.kind,
        base: s.url.as_str().trim_end_matches('/'),
        tracked: follows.tracked,
        candidates: follows.candidates,
        refresh_due: plan::refresh_due(state.last_refresh, s.refresh, f.now),
        first_poll: state.last_success.is_none(),
        now: f.now,
    };
    let mut out = Vec::new();
    if !run_plan(f, s, &plan, known, plan.first(known), &mut out).await {
        return out;
    }
    let observed: Vec<&Observation> = out
        .iter()
        .filter_map(|f| match &f.parsed {
            Some(Ok(obs)) => Some(obs),
            _ => None,
        })
        .flatten()
        .collect();
    let then = plan.then(known, &observed);
    run_plan(f, s, &plan, known, then, &mut out).await;
    out
}

/// The COM numbers each Have Your Say detail fetched (and parsed) names, by initiative.
fn proposals_of(fetched: &[Fetched]) -> BTreeMap<u64, Vec<ComRef>> {
    let mut out = BTreeMap::new();
    for f in fetched {
        let (Some(id), Some(Ok(observations))) = (f.initiative, &f.parsed) else {
            continue;
        };
        for o in observations {
            match o {
                Observation::Consultation(_, c) if c.initiative_id == id => {
                    let coms: &mut Vec<ComRef> = out.entry(id).or_default();
                    coms.extend(c.com.iter().copied());
                }
                _ => {}
            }
        }
    }
    out
}

/// The listings to read whole at the next poll because a Have Your Say detail they called
/// for failed (a 404 or 410 is an answer, not a failure): every listing of the source when
/// one did, else none. The consultation was reported without its proposal; when the detail
/// comes, its closing date joins the proposal's dossier and the watchlists following it.
fn listings_to_read_again(fetched: &[Fetched]) -> Vec<String> {
    let failed = fetched
        .iter()
        .any(|f| f.initiative.is_some() && matches!(&f.result, Err(e) if !e.not_held()));
    if !failed {
        return Vec::new();
    }
    fetched
        .iter()
        .filter(|f| f.initiative.is_none())
        .map(|f| f.url.clone())
        .collect()
}

/// The procedures a plan reads of the step's view: those followed, and the candidates.
#[derive(Clone, Copy)]
struct Follows<'v> {
    tracked: &'v [ProcedureRef],
    candidates: &'v [ProcedureRef],
}

/// Fetch `requests` in order, each request's follow-ups right after it. Returns false when
/// the service of a dossier's or an initiative's request is down: the source's other
/// requests wait (a portal that times out costs one timeout, not one per initiative).
async fn run_plan(
    f: Fetching<'_>,
    s: &SourceConfig,
    plan: &Plan<'_>,
    known: &SourceKnown<'_>,
    requests: Vec<Request>,
    out: &mut Vec<Fetched>,
) -> bool {
    let mut queue: VecDeque<Request> = requests.into();
    while let Some(req) = queue.pop_front() {
        let fetched = get(f, s, known, &req).await;
        if fetched.one_record && host_is_down(&fetched) {
            out.push(fetched);
            return false;
        }
        let parsed = match &fetched.parsed {
            Some(Ok(obs)) => Some(obs.as_slice()),
            _ => None,
        };
        for next in plan.after(known, &req, parsed).into_iter().rev() {
            queue.push_front(next);
        }
        out.push(fetched);
    }
    true
}

fn reasons(m: &crate::watchlist::Match) -> Vec<String> {
    m.reasons.iter().map(|r| r.to_string()).collect()
}

/// An event found in one poll of a source, matched as it was made.
struct Found {
    event: DossierEvent,
    matches: Vec<crate::watchlist::Match>,
    /// A feed item as it is (`dossier::item_event`): the first-poll backfill rule applies.
    plain_item: bool,
    /// An item the resource's previous version already listed: not news again.
    listed_before: bool,
    /// The watchlists among `matches` that follow the dossier it joined only this step
    /// ([`ObservedEvent::joined`]).
    joined: Vec<Match>,
}

impl Found {
    fn new(event: DossierEvent, matches: Vec<Match>, plain_item: bool) -> Found {
        Found {
            event,
            matches,
            plain_item,
            listed_before: false,
            joined: Vec::new(),
        }
    }

    fn joining(self, joined: Vec<Match>) -> Found {
        Found { joined, ..self }
    }
}

/// A consultation with the COM numbers its initiative's detail named this step
/// (`proposals`), and as it was listed, when the detail added any.
fn with_proposals(
    mut c: Consultation,
    proposals: &BTreeMap<u64, Vec<ComRef>>,
) -> (Consultation, Option<Consultation>) {
    let Some(coms) = proposals.get(&c.initiative_id) else {
        return (c, None);
    };
    if coms.iter().all(|x| c.com.contains(x)) {
        return (c, None);
    }
    let listed = c.clone();
    c.com.extend(coms);
    c.com.sort_unstable();
    c.com.dedup();
    (c, Some(listed))
}

/// What preparing a source's batch reads: the configuration, the watchlists and the
/// step's view of the stored dossiers. Pure.
struct Preparing<'a> {
    config: &'a Config,
    watchlists: &'a WatchlistSet,
    stored: &'a StoredDossiers,
    /// The procedures followed, sorted: a snapshot of another is a new procedure.
    tracked: &'a [ProcedureRef],
    found_for: &'a HashMap<ProcedureRef, Vec<FoundFor>>,
    candidates: &'a StoredCandidates,
    now: DateTime<Utc>,
}

/// What one source's fetches came to: requests, errors, URL records to write.
#[derive(Default)]
struct Tally {
    unchanged: usize,
    observations: usize,
    errors: Vec<String>,
    /// The short cause of `errors[0]` when it is a fetch error (`SourceRecord::last_cause`).
    first_cause: Option<String>,
    floor: Option<Duration>,
    retry_after: Option<Duration>,
    resources: Vec<(String, ResourceRecord)>,
    any_success: bool,
}

/// A body that was new and parsed, with the record its URL gets.
struct Parsed {
    url: String,
    final_url: String,
    record: ResourceRecord,
    /// The items the previous version of the URL listed, sorted.
    prev_items: Vec<EventId>,
    observations: Vec<Observation>,
}

/// One source's findings, before matching.
#[derive(Default)]
struct Findings {
    events: Vec<Found>,
    dossiers: BTreeMap<ProcedureRef, Dossier>,
    /// Deadlines carried by consultation events, kept for the watchlists they match.
    consultations: Vec<(EventId, Vec<deadlines::Deadline>)>,
    /// New procedures found for watchlists, or kept as candidates.
    discovery: Discoveries,
    /// The COM numbers the Have Your Say details read this step name, by initiative.
    proposals: BTreeMap<u64, Vec<ComRef>>,
}

/// The matched events of one source, and what their matches keep.
#[derive(Default)]
struct Matched {
    observed: Vec<ObservedEvent>,
    track: Vec<ProcedureRef>,
    deadlines: Vec<(String, deadlines::Deadline)>,
}

impl Findings {
    /// An event of an item its URL lists: new unless the previous version listed it.
    fn listed(&mut self, record: &mut ResourceRecord, prev_items: &[EventId], mut f: Found) {
        record.items.push(f.event.id);
        f.listed_before = prev_items.binary_search(&f.event.id).is_ok();
        self.events.push(f);
    }
}

impl Tally {
    /// Account for one fetch; a new body that parsed is returned for its events.
    fn fetched(&mut self, s: &SourceConfig, f: Fetched, now: DateTime<Utc>) -> Option<Parsed> {
        let mut prev = f.prev;
        match f.result {
            // A service that has no record of one procedure (OEIL lacks CELLAR-only
            // procedures and vice versa), or of one initiative, is not a broken source.
            Err(e) if e.not_held() && f.one_record => {
                self.any_success = true;
                tracing::debug!(source = %s.id, url = %f.url, "not found at this source");
                prev.v = 1;
                prev.not_found_at = Some(now);
                prev.missing_since = prev.missing_since.or(Some(now));
                self.resources.push((f.url, prev));
            }
            Err(e) => {
                self.retry_after = self.retry_after.max(e.retry_after());
                if self.errors.is_empty() {
                    self.first_cause = Some(e.cause());
                }
                self.errors.push(e.to_string());
            }
            Ok(FetchOutcome::NotModified {
                validators,
                cache_floor,
            }) => {
                self.unchanged += 1;
                self.floor = self.floor.max(cache_floor);
                self.same_as_before(&f.url, &prev);
                if prev.etag != validators.etag
                    || prev.last_modified != validators.last_modified
                    || prev.not_found_at.is_some()
                    || prev.missing_since.is_some()
                {
                    prev.v = 1;
                    prev.etag = validators.etag;
                    prev.last_modified = validators.last_modified;
                    prev.not_found_at = None;
                    prev.missing_since = None;
                    self.resources.push((f.url, prev));
                }
            }
            Ok(FetchOutcome::Body(body)) => {
                self.floor = self.floor.max(body.cache_floor);
                let record = ResourceRecord {
                    v: 1,
                    etag: body.validators.etag.clone(),
                    last_modified: body.validators.last_modified.clone(),
                    content_hash: f.content_hash,
                    fetched_at: Some(now),
                    parse_error: None,
                    not_found_at: None,
                    missing_since: None,
                    items: Vec::new(),
                };
                return self.body(s, f.url, body.final_url, record, prev, f.parsed, now);
            }
        }
        None
    }

    /// The same content as last time: a success, or still what failed to parse then.
    fn same_as_before(&mut self, url: &str, prev: &ResourceRecord) {
        match &prev.parse_error {
            Some(e) => self.errors.push(format!("{url}: {e}")),
            None => self.any_success = true,
        }
    }

    /// Account for a body, parsed (new bytes) or not (the same bytes as before).
    #[allow(clippy::too_many_arguments)]
    fn body(
        &mut self,
        s: &SourceConfig,
        url: String,
        final_url: String,
        mut record: ResourceRecord,
        mut prev: ResourceRecord,
        parsed: Option<Result<Vec<Observation>, ParseError>>,
        now: DateTime<Utc>,
    ) -> Option<Parsed> {
        match parsed {
            None => {
                // Same bytes as last time: nothing to parse (and, if they did not parse
                // then, the same error).
                self.unchanged += 1;
                self.same_as_before(&url, &prev);
                record.parse_error = prev.parse_error.clone();
                record.not_found_at = prev.not_found_at;
                record.missing_since = prev.missing_since;
                record.fetched_at = prev.fetched_at;
                record.items.clone_from(&prev.items);
                if record != prev {
                    self.resources.push((url, record));
                }
            }
            Some(Err(ParseError::NotFound(why))) => {
                self.any_success = true;
                tracing::info!(source = %s.id, url = %url, reason = %why, "not found at the source");
                record.not_found_at = Some(now);
                record.missing_since = prev.missing_since.or(Some(now));
                record.items = prev.items;
                self.resources.push((url, record));
            }
            Some(Err(e)) => {
                // Remember the bytes and the error: the same bytes are not parsed again,
                // and the source stays failing until they change.
                self.errors.push(format!("{url}: {e}"));
                record.parse_error = Some(e.to_string());
                record.items = prev.items;
                self.resources.push((url, record));
            }
            Some(Ok(observations)) => {
                self.any_success = true;
                self.observations += observations.len();
                // Sorted as stored; sorting again costs nothing and keeps the binary
                // search right whatever wrote the record.
                prev.items.sort_unstable();
                return Some(Parsed {
                    url,
                    final_url,
                    record,
                    prev_items: prev.items,
                    observations,
                });
            }
        }
        None
    }
}

impl Preparing<'_> {
    /// Turn one source's fetches into events, matches and its new poll state: the batch
    /// that `record` commits. Dossiers merge against `merged` (this step's earlier
    /// sources) before the stored ones, and this source's merges are added to it.
    fn source(
        &self,
        s: &SourceConfig,
        state: SourceRecord,
        fetched: Vec<Fetched>,
        merged: &mut BTreeMap<ProcedureRef, Dossier>,
    ) -> Result<(SourceReport, PollBatch), StoreError> {
        let requests = fetched.len();
        let mut tally = Tally::default();
        let mut found = Findings {
            proposals: proposals_of(&fetched),
            ..Findings::default()
        };
        let read_again = listings_to_read_again(&fetched);
        for f in fetched {
            let detail = f.initiative.is_some();
            if let Some(mut p) = tally.fetched(s, f, self.now) {
                // A detail's initiative is the listing's: its COM numbers join that one.
                if detail {
                    p.observations.clear();
                }
                self.events_of(s, &mut p, &mut found, merged)?;
                p.record.items.sort_unstable();
                p.record.items.dedup();
                tally.resources.push((p.url, p.record));
            }
        }
        // Read whole at the next poll, so that the failed detail is asked for again; the
        // items they list stay known, so nothing is news twice.
        for (url, record) in &mut tally.resources {
            if read_again.contains(url) {
                record.content_hash = None;
                record.etag = None;
                record.last_modified = None;
            }
        }
        let first_sight = state.last_success.is_none();
        let matched = self.match_events(s, found.events, &found.consultations, first_sight);
        let state = self.next_state(s, state, &tally);
        for (r, d) in &found.dossiers {
            merged.insert(*r, d.clone());
        }
        let report = SourceReport {
            id: s.id.clone(),
            kind: s.kind,
            ok: tally.errors.is_empty(),
            requests,
            unchanged: tally.unchanged,
            observations: tally.observations,
            new_events: 0,
            enqueued: 0,
            error: state.last_error.clone(),
            cause: state.last_cause.clone(),
            next_poll: state.next_poll_at,
            held_until: None,
        };
        let batch = PollBatch {
            source: s.id.clone(),
            state,
            resources: tally.resources,
            dossiers: found.dossiers.into_values().collect(),
            events: matched.observed,
            track: matched.track,
            deadlines: matched.deadlines,
            discovery: Discoveries {
                source: s.id.clone(),
                ..found.discovery
            },
            now: self.now,
        };
        Ok((report, batch))
    }

    /// The events of one parsed body: items as they are, consultations, and the diffs of
    /// dossier snapshots merged into what this step or the store knew.
    fn events_of(
        &self,
        s: &SourceConfig,
        p: &mut Parsed,
        found: &mut Findings,
        merged: &BTreeMap<ProcedureRef, Dossier>,
    ) -> Result<(), StoreError> {
        let now = self.now;
        let provenance = Provenance {
            source: s.id.clone(),
            url: p.final_url.clone(),
            fetched_at: now,
        };
        found.events.reserve(p.observations.len());
        for o in std::mem::take(&mut p.observations) {
            match o {
                Observation::Item(item) => {
                    let mut event = dossier::item_event(&item, &provenance, now, None);
                    // An item naming only a stored dossier's COM or CELEX number is that
                    // procedure's (the store's alias index, read with the dossiers).
                    if let Some(p) = self.stored.procedure_of(&event.mentions) {
                        let mut e = event.into_event();
                        e.dossier = e.dossier.or(Some(p));
                        event = crate::model::ItemEvent::with_text_refs_read(e);
                    }
                    let matches = self.watchlists.matches(&event);
                    let f = Found::new(event.into_event(), matches, true);
                    found.listed(&mut p.record, &p.prev_items, f);
                }
                Observation::Consultation(item, c) => {
                    let (c, listed) = with_proposals(*c, &found.proposals);
                    let event = self.consultation_event(&c, &item, &provenance);
                    let matches = self.watchlists.matches(&event);
                    // Listed before its detail came: those who follow only the proposal
                    // it names now have not had it.
                    let joined: Vec<_> = match listed {
                        Some(listed) => {
                            let before = self.consultation_event(&listed, &item, &provenance);
                            let before = self.watchlists.matches(&before);
                            let new =
                                |m: &&Match| before.iter().all(|b| b.watchlist != m.watchlist);
                            matches.iter().filter(new).cloned().collect()
                        }
                        None => Vec::new(),
                    };
                    let mut due = deadlines::consultation_deadlines(&c);
                    for d in &mut due {
                        d.dossier = d.dossier.or(event.dossier);
                    }
                    found.consultations.push((event.id, due));
                    let f = Found::new(event, matches, false).joining(joined);
                    found.listed(&mut p.record, &p.prev_items, f);
                }
                Observation::Dossier(snap) => {
                    let key = snap.reference;
                    let known = found.dossiers.contains_key(&key)
                        || merged.contains_key(&key)
                        || self.stored.contains(&key)
                        || self.tracked.binary_search(&key).is_ok();
                    if !known {
                        self.discover(s, &snap, found);
                        continue;
                    }
                    let stored = match found.dossiers.get(&key).or(merged.get(&key)) {
                        Some(d) => Some(d.clone()),
                        None => self.stored.get(&key)?.cloned(),
                    };
                    let merged = dossier::merge(stored.as_ref(), &snap);
                    let diff_ctx = DiffContext {
                        now,
                        backfill: self.config.digest.backfill,
                        provenance: &snap.provenance,
                    };
                    for event in dossier::diff(stored.as_ref(), &merged, &diff_ctx) {
                        let matches = self.with_found_for(&event, &found.discovery.found);
                        found.events.push(Found::new(event, matches, false));
                    }
                    found.dossiers.insert(key, merged);
                }
                Observation::Changed(_) => {}
            }
        }
        Ok(())
    }

    /// A consultation's event, with the stored procedure its COM numbers name: feedback on
    /// an adopted proposal is that procedure's.
    fn consultation_event(
        &self,
        c: &Consultation,
        item: &FeedItem,
        at: &Provenance,
    ) -> DossierEvent {
        let mut event = dossier::consultation_event(c, item, at, self.now);
        event.dossier = event
            .dossier
            .or_else(|| self.stored.procedure_of(&event.mentions));
        event
    }

    /// The watchlists an event of a tracked dossier matches: by their terms, and those the
    /// dossier was found for as new (before this step, or by this source just now).
    fn with_found_for(
        &self,
        event: &DossierEvent,
        now_found: &[(ProcedureRef, FoundFor)],
    ) -> Vec<Match> {
        let mut matches = self.watchlists.matches(event);
        let Some(r) = event.dossier else {
            return matches;
        };
        let earlier = self.found_for.get(&r).into_iter().flatten();
        let now = now_found.iter().filter(|(p, _)| *p == r).map(|(_, f)| f);
        for f in earlier.chain(now) {
            if self.watchlists.get(&f.watchlist).is_none()
                || matches.iter().any(|m| m.watchlist == f.watchlist)
            {
                continue;
            }
            matches.push(Match {
                watchlist: f.watchlist.clone(),
                reasons: f.reasons.iter().cloned().map(Reason::FoundBefore).collect(),
            });
        }
        matches
    }

    /// A procedure veille did not follow, as one source read it: evaluated against every
    /// watchlist with what its candidate record already said (titles in every language,
    /// references, EuroVoc subjects). Wanted, it is tracked for those watchlists, with the
    /// news of it and its steps within `digest.backfill`; not, it is kept as a candidate.
    fn discover(&self, s: &SourceConfig, snap: &DossierSnapshot, found: &mut Findings) {
        let key = snap.reference;
        let mut dossier = dossier::merge(None, snap);
        let older = self.candidates.get(&key);
        let mut candidate = Candidate::of(&dossier);
        if let Some(o) = older {
            candidate = candidate.completed_by(&o.candidate);
        }
        let matches = self.watchlists.discover(&candidate, &s.id);
        if matches.is_empty() {
            found.discovery.candidates.push(candidate);
            return;
        }
        if older.is_some() || self.candidates.keys().binary_search(&key).is_ok() {
            found.discovery.no_longer_candidates.push(key);
        }
        dossier.reference = candidate.reference;
        dossier.titles = candidate.titles;
        dossier.com = candidate.com;
        dossier.final_act = candidate.final_act;
        dossier.eurovoc = candidate.eurovoc;
        for m in &matches {
            let why: Vec<String> = m.reasons.iter().map(Reason::as_discovery).collect();
            let event =
                dossier::discovered_event(&dossier, &m.watchlist, &snap.provenance, self.now);
            let matches = vec![Match {
                watchlist: m.watchlist.clone(),
                reasons: why.iter().cloned().map(Reason::NewDossier).collect(),
            }];
            found.events.push(Found::new(event, matches, false));
            let found_for = FoundFor {
                watchlist: m.watchlist.clone(),
                reasons: why,
                at: self.now,
            };
            found.discovery.found.push((key, found_for));
        }
        let diff_ctx = DiffContext {
            now: self.now,
            backfill: self.config.digest.backfill,
            provenance: &snap.provenance,
        };
        for event in dossier::diff(None, &dossier, &diff_ctx) {
            let matches = self.with_found_for(&event, &found.discovery.found);
            found.events.push(Found::new(event, matches, false));
        }
        tracing::info!(source = %s.id, dossier = %key, watchlists = matches.len(), "new dossier found for watchlists");
        found.dossiers.insert(key, dossier);
    }

    /// Match and enqueue. On a source's first successful poll, a feed's items older than
    /// `digest.backfill` are what it held before veille watched it, not news: like a new
    /// dossier's old steps, they are kept as seen, out of the digests (a dossier they
    /// name is still tracked).
    fn match_events(
        &self,
        s: &SourceConfig,
        events: Vec<Found>,
        consultations: &[(EventId, Vec<deadlines::Deadline>)],
        first_sight: bool,
    ) -> Matched {
        let horizon = dossier::backfill_horizon(self.now, self.config.digest.backfill);
        let mut archived_items = 0usize;
        let mut out = Matched::default();
        out.observed.reserve(events.len());
        for Found {
            event: ev,
            matches,
            plain_item,
            listed_before,
            joined,
        } in events
        {
            let archived = first_sight && plain_item && ev.date < horizon;
            if archived && !matches.is_empty() {
                archived_items += 1;
            }
            let news: &[_] = if archived { &[] } else { &matches };
            let enqueue = news.iter().map(|m| self.enqueue(&ev, m)).collect();
            if let Some((_, ds)) = consultations.iter().find(|(id, _)| *id == ev.id) {
                for m in &matches {
                    out.deadlines
                        .extend(ds.iter().map(|d| (m.watchlist.clone(), d.clone())));
                }
            }
            if !matches.is_empty() && ev.kind == EventKind::Item {
                if let Some(d) = ev.dossier {
                    if !out.track.contains(&d) {
                        out.track.push(d);
                    }
                }
            }
            let joined = joined.iter().map(|m| self.enqueue(&ev, m)).collect();
            out.observed.push(ObservedEvent {
                event: ev,
                matches: enqueue,
                listed_before,
                joined,
            });
        }
        if archived_items > 0 {
            tracing::info!(
                source = %s.id,
                items = archived_items,
                backfill = %humantime::format_duration(self.config.digest.backfill),
                "first poll of this source: matched items older than digest.backfill are kept as seen, not reported as news"
            );
        }
        out
    }

    fn enqueue(&self, ev: &DossierEvent, m: &crate::watchlist::Match) -> Enqueue {
        let alert_due = ev.kind == EventKind::Step
            && ev.stage.is_some_and(|st| {
                self.watchlists
                    .get(&m.watchlist)
                    .is_some_and(|w| w.alert_on.contains(&st))
            });
        Enqueue {
            watchlist: m.watchlist.clone(),
            reasons: reasons(m),
            alert_due,
        }
    }

    /// The source's poll state after this poll: the next poll `every` later (or the
    /// server's cache floor), or after a backoff if anything failed.
    fn next_state(&self, s: &SourceConfig, mut state: SourceRecord, tally: &Tally) -> SourceRecord {
        let now = self.now;
        let errors = &tally.errors;
        state.v = 1;
        state.polls += 1;
        state.last_attempt = Some(now);
        if let Some(first) = errors.first() {
            state.failures += 1;
            state.failing_since.get_or_insert(now);
            let more = if errors.len() > 1 {
                format!(" (and {} more errors)", errors.len() - 1)
            } else {
                String::new()
            };
            state.last_error = Some(format!("{first}{more}"));
            state.last_cause = Some(
                tally
                    .first_cause
                    .clone()
                    .unwrap_or_else(|| crate::view::cause::of_error_text(s.kind, first)),
            );
            state.hold_until = tally
                .retry_after
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d);
            let wait = backoff(s.every, state.failures).max(tally.retry_after.unwrap_or_default());
            state.next_poll_at =
                Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)));
            return state;
        }
        state.failures = 0;
        state.failing_since = None;
        state.last_error = None;
        state.last_cause = None;
        state.hold_until = None;
        state.last_success = Some(now);
        let wait = s.every.max(tally.floor.unwrap_or_default());
        state.next_poll_at =
            Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(6)));
        if tally.any_success
            && s.kind == SourceKind::EpApi
            && plan::refresh_due(state.last_refresh, s.refresh, now)
        {
            state.last_refresh = Some(now);
        }
        state
    }
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
