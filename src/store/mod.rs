//! The only sled user: typed trees of versioned records (`records.rs`), multi-tree
//! transactions for "record a poll" and "mark a digest sent", flush discipline, and
//! recovery from a corrupt database. Must not contain matching or scheduling rules, and
//! must not leak `sled::` types.
//!
//! Trees: `sources` (poll state per source), `resources` (validators, content hash and the
//! items last listed, per fetched URL), `dossiers` (merged snapshot per procedure),
//! `events` (insert-if-absent by `EventId`, the events a watchlist wanted, in full; also
//! the seen-only records of earlier versions, still read), `pending`
//! (watchlist, event id), `sent` (digest key → what went out), `delivery` (send retry
//! state per watchlist), `tracked` (procedures named by matched
//! items or found for watchlists as new dossiers, followed from then on: a
//! [`TrackedRecord`], or the bare reference older versions wrote), `candidates` (new
//! procedures no watchlist wanted, by reference: [`CandidateRecord`]), `deadlines` (watchlist, deadline uid: consultations and
//! other dated deadlines to remind of), `archive` (every event a poll saw new, matched or
//! not, by date and id: `store/archive.rs`), `meta` (schema version, last prune, first
//! start, the watchlists' fingerprints).
//! A transaction is atomic but durable only after `flush`: callers flush before sending
//! mail and before reporting success.

mod archive;
mod health;
pub use archive::Earlier;
pub mod records;
mod sidecar;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use crate::model::{Candidate, Dossier, DossierEvent, EventId, ProcedureRef};
pub use records::{
    ArchiveRecord, CandidateRecord, ChannelDeliveryRecord, DeadlineRecord, DeliveryRecord,
    DossierRecord, EventRecord, FoundFor, InFlight, PendingRecord, ResourceRecord, SentKind,
    SentRecord, SourceRecord, StoredEvent, TrackedRecord, SCHEMA_VERSION,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store at {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("store is in use by another veille process (is the daemon running?): {path}")]
    Locked { path: PathBuf },
    #[error("store: {0}")]
    Db(String),
    #[error("store: undecodable {what} record: {message}")]
    Decode { what: &'static str, message: String },
    #[error("store at {path} has schema version {found}, newer than this veille ({SCHEMA_VERSION}); upgrade veille")]
    TooNew { path: PathBuf, found: u32 },
    /// An IO error (or a stuck call) left sled unusable in this process: nothing more is
    /// asked of it; a restart reopens the store.
    #[error("{message}; the store at {path} cannot be used again by this process")]
    Failed { path: PathBuf, message: String },
    #[error("the store at {path} did not answer for {secs} s ({what}); a stuck store cannot be recovered in this process")]
    Stuck {
        path: PathBuf,
        what: &'static str,
        secs: u64,
    },
    /// Free space below `storage.min_free`: the step that would write is skipped.
    #[error("{message}")]
    LowSpace { path: PathBuf, message: String },
}

impl StoreError {
    /// Whether the store itself failed (not one record, not a busy store): it must be
    /// reopened, i.e. the process restarted.
    pub fn is_fault(&self) -> bool {
        matches!(self, StoreError::Failed { .. } | StoreError::Stuck { .. })
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        health::note_sled_error(&e).unwrap_or_else(|| StoreError::Db(e.to_string()))
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::from(e),
        }
    }
}

/// How the store was opened.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// A corrupt database was moved here and a new one created.
    pub moved_aside: Option<PathBuf>,
    /// The database did not exist before.
    pub created: bool,
    /// The database held less than its last flush recorded (`veille.sled.state`): it was
    /// moved here and a new one created.
    pub damaged: Option<(PathBuf, String)>,
}

/// A match to enqueue with a new event.
#[derive(Debug, Clone)]
pub struct Enqueue {
    pub watchlist: String,
    pub reasons: Vec<String>,
    pub alert_due: bool,
}

/// An event observed by a poll, with the watchlists it matched.
#[derive(Debug, Clone)]
pub struct ObservedEvent {
    pub event: DossierEvent,
    pub matches: Vec<Enqueue>,
    /// An item the previous version of its resource already listed
    /// ([`ResourceRecord::items`]): known, so not news, and nothing to write.
    pub listed_before: bool,
    /// The watchlists among `matches` that follow the dossier this event joined only now
    /// (a consultation whose initiative's proposal came after its listing): they get the
    /// event even when it is known, once.
    pub joined: Vec<Enqueue>,
}

/// Everything one poll of one source writes, committed atomically (with other sources'
/// batches, in one transaction: [`Store::record_polls`]).
#[derive(Debug, Clone)]
pub struct PollBatch {
    pub source: String,
    pub state: SourceRecord,
    pub resources: Vec<(String, ResourceRecord)>,
    pub dossiers: Vec<Dossier>,
    pub events: Vec<ObservedEvent>,
    /// Procedures to follow from now on (named by matched items).
    pub track: Vec<ProcedureRef>,
    /// Deadlines to keep for a watchlist (watchlist id, deadline).
    pub deadlines: Vec<(String, crate::deadlines::Deadline)>,
    /// New procedures found for watchlists, and those remembered as candidates.
    pub discovery: Discoveries,
    pub now: DateTime<Utc>,
}

/// What evaluating new procedures against the watchlists decided, to record.
#[derive(Debug, Clone, Default)]
pub struct Discoveries {
    /// Procedures found for a watchlist: tracked from now on, for it (`found_for`).
    pub found: Vec<(ProcedureRef, FoundFor)>,
    /// Procedures no watchlist wanted: kept as candidates (written over an older record
    /// of the same procedure, whose first `recorded_at` stays).
    pub candidates: Vec<Candidate>,
    /// Candidates a watchlist now wants: no longer candidates.
    pub no_longer_candidates: Vec<ProcedureRef>,
    /// The source that evaluated them.
    pub source: String,
}

impl Discoveries {
    pub fn is_empty(&self) -> bool {
        self.found.is_empty() && self.candidates.is_empty() && self.no_longer_candidates.is_empty()
    }
}

impl PollBatch {
    /// Whether the poll brought nothing to record but the source's own state.
    fn only_state(&self) -> bool {
        self.events.is_empty()
            && self.resources.is_empty()
            && self.dossiers.is_empty()
            && self.track.is_empty()
            && self.deadlines.is_empty()
            && self.discovery.is_empty()
    }

    /// The source's state as stored after this poll: its events counter includes the
    /// events the poll found new.
    fn stored_state(&self, outcome: &RecordOutcome) -> SourceRecord {
        let mut state = self.state.clone();
        state.events += outcome.new_events.len() as u64;
        state
    }
}

/// The alias rows of a dossier: its COM numbers and its final act's CELEX number, each
/// naming its procedure (as `StoredDossiers::procedure_of` looks them up).
fn aliases_of(d: &Dossier) -> Vec<(Vec<u8>, Vec<u8>)> {
    let procedure = d.reference.to_string().into_bytes();
    d.com
        .iter()
        .map(|c| crate::model::DossierRef::Com(*c).to_string())
        .chain(d.final_act.iter().map(|c| c.to_string()))
        .map(|k| (k.into_bytes(), procedure.clone()))
        .collect()
}

/// The dossiers the store held when read ([`Store::stored_dossiers`]): a value, detached
/// from the database; each is decoded the first time it is asked for.
#[derive(Default)]
pub struct StoredDossiers {
    entries: HashMap<String, (sled::IVec, std::sync::OnceLock<Result<Dossier, String>>)>,
    /// COM and CELEX numbers (`COM(2011)896`, `32014L0024`) → their procedure.
    aliases: HashMap<String, ProcedureRef>,
}

impl std::fmt::Debug for StoredDossiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDossiers")
            .field("len", &self.entries.len())
            .finish()
    }
}

impl StoredDossiers {
    /// Whether a dossier of this procedure was stored (without decoding it).
    pub fn contains(&self, r: &ProcedureRef) -> bool {
        self.entries.contains_key(&r.storage_key())
    }

    /// The stored procedure whose proposal (COM number) or final act (CELEX number) one
    /// of these references is, without decoding any dossier.
    pub fn procedure_of(&self, refs: &[crate::model::DossierRef]) -> Option<ProcedureRef> {
        if self.aliases.is_empty() {
            return None;
        }
        refs.iter()
            .find_map(|r| self.aliases.get(&r.to_string()).copied())
    }

    /// The stored dossier of this procedure.
    pub fn get(&self, r: &ProcedureRef) -> Result<Option<&Dossier>, StoreError> {
        let Some((bytes, decoded)) = self.entries.get(&r.storage_key()) else {
            return Ok(None);
        };
        let decoded = decoded.get_or_init(|| {
            decode::<DossierRecord>("dossier", bytes)
                .map(|r| r.dossier)
                .map_err(|e| match e {
                    StoreError::Decode { message, .. } => message,
                    other => other.to_string(),
                })
        });
        match decoded {
            Ok(d) => Ok(Some(d)),
            Err(message) => Err(StoreError::Decode {
                what: "dossier",
                message: message.clone(),
            }),
        }
    }
}

/// The candidates the store held when read ([`Store::stored_candidates`]): their
/// references (sorted, for the plans) and their records, each decoded the first time it
/// is asked for, so that an unchanged step decodes none.
#[derive(Default)]
pub struct StoredCandidates {
    keys: Vec<ProcedureRef>,
    entries: HashMap<String, (sled::IVec, std::sync::OnceLock<Option<CandidateRecord>>)>,
}

impl std::fmt::Debug for StoredCandidates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCandidates")
            .field("len", &self.keys.len())
            .finish()
    }
}

impl StoredCandidates {
    /// The candidates' references, sorted.
    pub fn keys(&self) -> &[ProcedureRef] {
        &self.keys
    }

    /// The stored record of this candidate (`None` for one unknown, or whose record does
    /// not decode: it is then evaluated from what was fetched now, and written again).
    pub fn get(&self, r: &ProcedureRef) -> Option<&CandidateRecord> {
        let (bytes, decoded) = self.entries.get(&r.storage_key())?;
        decoded
            .get_or_init(|| decode::<CandidateRecord>("candidate", bytes).ok())
            .as_ref()
    }
}

/// What a recorded poll changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Events that were not known before: the matched ones in batch order, then the others.
    pub new_events: Vec<EventId>,
    /// Pending entries created.
    pub enqueued: usize,
    /// Of the new events, those written to `events` (the matched ones).
    pub kept: usize,
}

/// One pending entry with its event.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    pub watchlist: String,
    pub record: PendingRecord,
    pub event: DossierEvent,
    pub recorded_at: DateTime<Utc>,
}

/// A message that went out, to record in the sent log.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub key: String,
    pub kind: SentKind,
    pub watchlist: String,
    pub event_ids: Vec<EventId>,
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
    pub period: Option<String>,
    /// The HTML of the message, kept for the web window (`SentRecord::html`).
    pub html: Option<String>,
}

/// The sled handles of a store.
pub struct Handles {
    db: sled::Db,
    sources: sled::Tree,
    resources: sled::Tree,
    dossiers: sled::Tree,
    events: sled::Tree,
    pending: sled::Tree,
    sent: sled::Tree,
    delivery: sled::Tree,
    tracked: sled::Tree,
    candidates: sled::Tree,
    deadlines: sled::Tree,
    meta: sled::Tree,
    /// A dossier's COM and CELEX numbers → its procedure, written with each dossier.
    aliases: sled::Tree,
    /// Every event seen, matched or not, by date and id ([`ArchiveRecord`]).
    archive: sled::Tree,
    /// Each message for each channel of a watchlist (`ChannelDeliveryRecord`).
    channels: sled::Tree,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles").finish_non_exhaustive()
    }
}

/// The handles, owned once for all the clones of a [`Store`]: dropping them flushes, which
/// is not done once the store has failed (it could wait forever): they are leaked, and
/// the process is about to end.
struct Sled {
    handles: Option<Handles>,
    health: Arc<health::Health>,
}

impl Drop for Sled {
    fn drop(&mut self) {
        let handles = self.handles.take();
        match health::Call::enter(&self.health, "closing", health::DEADLINE) {
            Ok(_closing) => drop(handles),
            Err(_) => std::mem::forget(handles),
        }
    }
}

impl std::ops::Deref for Store {
    type Target = Handles;
    fn deref(&self) -> &Handles {
        match &self.sled.handles {
            Some(h) => h,
            // Taken only by `Sled::drop`, when no `Store` is left.
            None => unreachable!("store handles used after the store was dropped"),
        }
    }
}

/// The veille database.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    sled: Arc<Sled>,
    health: Arc<health::Health>,
    /// Something was written since the last flush: the next one bumps the generation and
    /// rewrites the record of what the store holds ([`sidecar`]).
    dirty: Arc<std::sync::atomic::AtomicBool>,
    /// How many events the `events` tree holds, once counted (-1 until then). sled's
    /// `len` is a full scan — seconds on a store of millions of events — and `/metrics`
    /// asks at every scrape. Every write of events goes through this `Store` (one process
    /// holds the database), which keeps the count exact; a write that fails resets it.
    event_count: Arc<AtomicI64>,
    /// The poll states of sources and URLs as last read or written (write-through).
    poll_states: Arc<Mutex<PollStates>>,
    /// How long, in seconds, the archive keeps what a poll saw (`storage.archive`): an
    /// event older than that is not archived ([`Store::keep_archive`]).
    archive_secs: Arc<AtomicI64>,
}

/// Every poll step reads the record of each source it polls and of each URL it fetches;
/// they change only through [`Store::record_polls`], and one process holds the database,
/// so a copy kept here stays exact: an unchanged step then does no sled read and no JSON
/// decoding for them (about 7 % of its CPU, measured). A failed write empties it. Its size is that of
/// the configuration: one entry per source and per URL polled.
#[derive(Default)]
struct PollStates {
    sources: HashMap<String, Option<SourceRecord>>,
    /// Per source, every URL record it has, once read whole ([`Store::resources_of`]).
    resources: HashMap<String, HashMap<String, ResourceRecord>>,
    deferred: Deferred,
}

/// Sources whose state here is newer than on disk by a routine change only (see
/// [`Store::defer_routine_poll_states`]).
#[derive(Default)]
struct Deferred {
    /// How long a routine change may wait; `None`: it is written at once.
    max_age: Option<chrono::Duration>,
    /// The poll time of the oldest change waiting.
    since: Option<DateTime<Utc>>,
    sources: std::collections::BTreeSet<String>,
}

/// Whether a source's new state differs from the previous one only by what every
/// successful poll changes: when it ran and succeeded, when the next is due, the count.
fn routine_change(prev: &SourceRecord, next: &SourceRecord) -> bool {
    let without_times = |s: &SourceRecord| SourceRecord {
        next_poll_at: None,
        last_attempt: None,
        last_success: None,
        polls: 0,
        ..s.clone()
    };
    next.failures == 0 && without_times(prev) == without_times(next)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Db(format!("encoding: {e}")))
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        what,
        message: e.to_string(),
    })
}

fn decode_event(bytes: &[u8]) -> Result<StoredEvent, StoreError> {
    StoredEvent::from_bytes(
        bytes,
        |b| decode("event", b),
        || StoreError::Decode {
            what: "event",
            message: format!("a seen-event record of {} bytes, not 9", bytes.len()),
        },
    )
}

fn pending_key(watchlist: &str, id: &EventId) -> Vec<u8> {
    let mut k = Vec::with_capacity(watchlist.len() + 17);
    k.extend_from_slice(watchlist.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.0);
    k
}

fn resource_key(source: &str, url: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + url.len() + 1);
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(url.as_bytes());
    k
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// What a poll's transaction needs to know of the unmatched events, looked up before it.
struct Unmatched {
    /// Per batch: the unmatched events counted new (an item in two feeds is new once).
    seen: Vec<RecordOutcome>,
    /// Unmatched events already kept in full (matched once, another source now): the
    /// transaction adds their provenance.
    known_in_full: HashSet<EventId>,
}

/// The rows a poll writes whatever its events, encoded before the transaction.
struct PollRows {
    /// Every event seen new, matched or not ([`archive::rows`]).
    archive: Vec<(Vec<u8>, Vec<u8>)>,
    dossiers: Vec<(Vec<u8>, Vec<u8>)>,
    aliases: Vec<(Vec<u8>, Vec<u8>)>,
    resources: Vec<(Vec<u8>, Vec<u8>)>,
    deadlines: Vec<(Vec<u8>, Vec<u8>)>,
}

impl PollRows {
    /// Merged dossiers, resource records and deadlines of every batch.
    fn encode(batches: &[PollBatch], archive_secs: i64) -> Result<PollRows, StoreError> {
        let mut rows = PollRows {
            archive: Vec::new(),
            dossiers: Vec::new(),
            aliases: Vec::new(),
            resources: Vec::new(),
            deadlines: Vec::new(),
        };
        for batch in batches {
            rows.archive.extend(archive::rows(
                &batch.events,
                &batch.dossiers,
                batch.now,
                archive_secs,
            )?);
            for d in &batch.dossiers {
                let rec = DossierRecord {
                    v: 1,
                    updated_at: batch.now,
                    dossier: d.clone(),
                };
                rows.dossiers
                    .push((d.reference.storage_key().into_bytes(), encode(&rec)?));
                rows.aliases.extend(aliases_of(d));
            }
            for (url, r) in &batch.resources {
                rows.resources
                    .push((resource_key(&batch.source, url), encode(r)?));
            }
            for (wl, d) in &batch.deadlines {
                let rec = DeadlineRecord {
                    v: 1,
                    recorded_at: batch.now,
                    deadline: d.clone(),
                };
                rows.deadlines
                    .push((resource_key(wl, &d.uid), encode(&rec)?));
            }
        }
        Ok(rows)
    }
}

/// Inside a poll's transaction: the matched events of one batch, insert-if-absent, kept in
/// full with their pending entries; a known event kept in full gains the provenance of
/// sources it lacked (also an unmatched one, when it is in `known_in_full`). The other
/// unmatched events are not written, and an item its resource listed before is skipped,
/// unless it joined a dossier this step ([`ObservedEvent::joined`]): a known event then
/// gains the dossier and references, and the watchlists that follow it get it once.
fn record_events(
    events: &TransactionalTree,
    pending: &TransactionalTree,
    batch: (&[ObservedEvent], DateTime<Utc>),
    known_in_full: &std::collections::HashSet<EventId>,
) -> Result<RecordOutcome, ConflictableTransactionError<StoreError>> {
    let mut outcome = RecordOutcome::default();
    let (observed, now) = batch;
    for obs in observed {
        let id = obs.event.id;
        let joins = !obs.joined.is_empty();
        if (obs.listed_before && !joins) || (obs.matches.is_empty() && !known_in_full.contains(&id))
        {
            continue;
        }
        match events.get(id.0)? {
            Some(existing) => {
                let mut rec = match decode_event(&existing) {
                    Ok(StoredEvent::Full(r)) => r,
                    // Kept as seen by an earlier veille: known.
                    Ok(StoredEvent::Seen { .. }) => continue,
                    Err(e) => return abort(e),
                };
                let mut changed = add_provenance(&mut rec.event, &obs.event);
                if joins && join_references(&mut rec.event, &obs.event) {
                    changed = true;
                    outcome.enqueued += enqueue_absent(pending, id, &obs.joined, now)?;
                }
                if changed {
                    match encode(&rec) {
                        Ok(b) => events.insert(&id.0, b)?,
                        Err(e) => return abort(e),
                    };
                }
            }
            // Known in full before the transaction, and pruned since: nothing to add to.
            None if obs.matches.is_empty() => {}
            None => {
                let rec = EventRecord {
                    v: 1,
                    recorded_at: now,
                    event: obs.event.clone(),
                };
                match encode(&rec) {
                    Ok(b) => events.insert(&id.0, b)?,
                    Err(e) => return abort(e),
                };
                outcome.kept += 1;
                // Listed before and news to no one then: news to those it joined.
                let waiting = if obs.listed_before {
                    &obs.joined
                } else {
                    outcome.new_events.push(id);
                    &obs.matches
                };
                for m in waiting {
                    put_pending(pending, id, m, now)?;
                }
                outcome.enqueued += waiting.len();
            }
        }
    }
    Ok(outcome)
}

/// Add to a stored event the sources of `seen` it lacked; whether any was added.
fn add_provenance(stored: &mut DossierEvent, seen: &DossierEvent) -> bool {
    let before = stored.provenance.len();
    for p in &seen.provenance {
        if !stored.provenance.iter().any(|q| q.source == p.source) {
            stored.provenance.push(p.clone());
        }
    }
    stored.provenance.len() != before
}

/// Add to a stored event the dossier and the references `seen` names and it lacked;
/// whether any was added (none: the join was recorded before).
fn join_references(stored: &mut DossierEvent, seen: &DossierEvent) -> bool {
    let mut added = false;
    if stored.dossier.is_none() && seen.dossier.is_some() {
        stored.dossier = seen.dossier;
        added = true;
    }
    for r in &seen.mentions {
        if !stored.mentions.contains(r) {
            stored.mentions.push(r.clone());
            added = true;
        }
    }
    added
}

/// Inside a transaction: an event's pending entry for each match, unless one waits
/// already (its alert state is kept); how many were written. A new event has none: it
/// takes [`put_pending`] directly.
pub(super) fn enqueue_absent(
    pending: &TransactionalTree,
    id: EventId,
    matches: &[Enqueue],
    now: DateTime<Utc>,
) -> Result<usize, ConflictableTransactionError<StoreError>> {
    let mut written = 0;
    for m in matches {
        if pending.get(pending_key(&m.watchlist, &id))?.is_none() {
            put_pending(pending, id, m, now)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Inside a transaction: write an event's pending entry for one match.
fn put_pending(
    pending: &TransactionalTree,
    id: EventId,
    m: &Enqueue,
    now: DateTime<Utc>,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let p = PendingRecord {
        v: 1,
        event_id: id,
        reasons: m.reasons.clone(),
        enqueued_at: now,
        alert_due: m.alert_due,
        alerted: None,
    };
    match encode(&p) {
        Ok(b) => pending.insert(pending_key(&m.watchlist, &id), b)?,
        Err(e) => return abort(e),
    };
    Ok(())
}

/// Inside a transaction: follow a procedure a matched item named. A record that says for
/// which watchlists it was found stays as it is.
fn track(
    tracked: &TransactionalTree,
    r: &ProcedureRef,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let key = r.storage_key();
    let found = tracked
        .get(key.as_bytes())?
        .and_then(|v| TrackedRecord::from_bytes(&v).ok())
        .is_some_and(|t| !t.is_plain());
    if !found {
        tracked.insert(key.as_bytes(), r.to_string().as_bytes())?;
    }
    Ok(())
}

/// Inside a transaction: the procedures found for watchlists (tracked, with for whom and
/// why, added to what their record said), the candidates written, those no longer
/// candidates removed.
fn record_discoveries(
    tracked: &TransactionalTree,
    candidates: &TransactionalTree,
    d: &Discoveries,
    now: DateTime<Utc>,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    for (r, found) in &d.found {
        let key = r.storage_key();
        let mut rec = tracked
            .get(key.as_bytes())?
            .and_then(|v| TrackedRecord::from_bytes(&v).ok())
            .unwrap_or(TrackedRecord {
                v: 2,
                procedure: *r,
                found_for: Vec::new(),
            });
        rec.v = 2;
        rec.procedure = rec.procedure.merge(*r);
        if !rec.found_for.iter().any(|f| f.watchlist == found.watchlist) {
            rec.found_for.push(found.clone());
        }
        match encode(&rec) {
            Ok(b) => tracked.insert(key.as_bytes(), b)?,
            Err(e) => return abort(e),
        };
    }
    for r in &d.no_longer_candidates {
        candidates.remove(r.storage_key().as_bytes())?;
    }
    for c in &d.candidates {
        let key = c.reference.storage_key();
        let recorded_at = candidates
            .get(key.as_bytes())?
            .and_then(|v| decode::<CandidateRecord>("candidate", &v).ok())
            .map_or(now, |old| old.recorded_at);
        let rec = CandidateRecord {
            v: 1,
            recorded_at,
            source: d.source.clone(),
            candidate: c.clone(),
        };
        match encode(&rec) {
            Ok(b) => candidates.insert(key.as_bytes(), b)?,
            Err(e) => return abort(e),
        };
    }
    Ok(())
}

/// sled 0.34.7 writes a snapshot to `snap.{lsn}.generating`, syncs it and renames it; a
/// process killed before the rename leaves the partial file, which the next open takes for
/// the newest snapshot and reports as corruption (spacejam/sled#1527). The file is only a
/// recovery shortcut: without it sled starts from the previous snapshot and replays the
/// log. Called only after an open failed as corrupt, so no live process is writing it.
/// Returns whether any file was removed.
fn remove_interrupted_snapshots(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::warn!(
                        store = %path.display(),
                        file = %name,
                        "removed a snapshot file that a killed process left half-written; the log is replayed instead"
                    );
                    removed = true;
                }
                Err(e) => tracing::error!(
                    store = %path.display(),
                    file = %name,
                    error = %e,
                    "cannot remove a half-written snapshot file"
                ),
            }
        }
    }
    removed
}

impl Store {
    /// Open (or create) the database at `path` with a bounded page cache. A database that
    /// fails to open as corrupt is moved aside (`*.corrupt-YYYYMMDDTHHMMSS`), reported
    /// loudly, and rebuilt empty: sources are re-polled, and already-sent digests may be
    /// resent once (their Message-ID is stable, so mail clients fold them). So is a
    /// database that holds less than the record of its last flush says it did, or that is
    /// missing while that record is there (`*.damaged-YYYYMMDDTHHMMSS`, see [`sidecar`]).
    /// A rebuilt store knows no source, so the next poll of each is a first poll: only
    /// what is within `digest.backfill` is news.
    pub fn open(
        path: &Path,
        cache_capacity: u64,
        now: DateTime<Utc>,
    ) -> Result<(Store, OpenReport), StoreError> {
        let record = sidecar::read(path);
        let stamp = now.format("%Y%m%dT%H%M%S").to_string();
        let mut damaged = None;
        if record.is_some() && !path.join("db").exists() {
            damaged = Some(Self::move_damaged(
                path,
                &stamp,
                "the database file is missing".into(),
            )?);
        }
        let (store, mut report) = Self::open_plain(path, cache_capacity, &stamp)?;
        // A corrupt store was moved aside with its record: the new one is checked from now.
        let checked = record.as_ref().filter(|_| report.moved_aside.is_none());
        let (store, report) = match (checked, &damaged) {
            (Some(before), None) => match sidecar::lost(before, &store.holds()?) {
                None => (store, report),
                Some(why) => {
                    // Closed (flushing what little it has) before it is moved aside.
                    drop(store);
                    damaged = Some(Self::move_damaged(path, &stamp, why)?);
                    let (store, mut report) = Self::open_plain(path, cache_capacity, &stamp)?;
                    report.created = true;
                    report.damaged = damaged;
                    (store, report)
                }
            },
            _ => {
                if damaged.is_some() {
                    report.created = true;
                }
                report.damaged = damaged;
                (store, report)
            }
        };
        if report.damaged.is_some() || record.is_none() {
            // The record of the new (or first checked) store, from now on.
            store.dirty.store(true, Ordering::Relaxed);
            store.flush_blocking()?;
        }
        Ok((store, report))
    }

    /// Move a store that lost what it had aside, with its record, and say so loudly.
    fn move_damaged(
        path: &Path,
        stamp: &str,
        why: String,
    ) -> Result<(PathBuf, String), StoreError> {
        let aside = PathBuf::from(format!("{}.damaged-{stamp}", path.display()));
        tracing::error!(
            store = %path.display(),
            moved_to = %aside.display(),
            reason = %why,
            "THE DATABASE LOST WHAT IT HELD: moving it aside and starting a new one; the next poll of each source is a first poll"
        );
        if path.exists() {
            std::fs::rename(path, &aside).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: format!("damaged ({why}) and cannot be moved aside: {e}"),
            })?;
        }
        let mut record_aside = aside.clone().into_os_string();
        record_aside.push(".state");
        let _ = std::fs::rename(sidecar::path_of(path), record_aside);
        Ok((aside, why))
    }

    /// What the store holds now, as its record counts it.
    fn holds(&self) -> Result<sidecar::Record, StoreError> {
        let _call = self.call("counting records", health::SCAN_DEADLINE)?;
        let generation = self
            .meta
            .get("generation")?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        Ok(sidecar::Record {
            v: 1,
            generation,
            sources: self.sources.len() as u64,
            resources: self.resources.len() as u64,
            dossiers: self.dossiers.len() as u64,
            tracked: self.tracked.len() as u64,
            sent: self.sent.len() as u64,
        })
    }

    /// Watch a call into sled (see [`health`]); the fault if the store has failed.
    fn call(
        &self,
        what: &'static str,
        deadline: std::time::Duration,
    ) -> Result<health::Call, StoreError> {
        health::Call::enter(&self.health, what, deadline)
    }

    /// Open without checking against the record; a corrupt database is moved aside.
    fn open_plain(
        path: &Path,
        cache_capacity: u64,
        stamp: &str,
    ) -> Result<(Store, OpenReport), StoreError> {
        let mut report = OpenReport {
            created: !path.exists(),
            ..OpenReport::default()
        };
        prepare_folders(path)?;
        let health = health::Health::new(path);
        let opening = health::Call::enter(&health, "opening", health::OPEN_DEADLINE)?;
        let mut opened = Self::open_db_waiting(path, cache_capacity);
        if matches!(opened, Err(OpenFailure::Corrupt(_))) && remove_interrupted_snapshots(path) {
            opened = Self::open_db_waiting(path, cache_capacity);
        }
        let db = match opened {
            Ok(db) => db,
            Err(OpenFailure::Corrupt(message)) => {
                report.moved_aside = Some(move_corrupt_aside(path, stamp, &message)?);
                report.created = true;
                Self::open_db(path, cache_capacity).map_err(|f| f.into_error(path, &health))?
            }
            Err(f) => return Err(f.into_error(path, &health)),
        };
        let tree = |name: &str| db.open_tree(name);
        let handles = Handles {
            sources: tree("sources")?,
            resources: tree("resources")?,
            dossiers: tree("dossiers")?,
            events: tree("events")?,
            pending: tree("pending")?,
            sent: tree("sent")?,
            delivery: tree("delivery")?,
            tracked: tree("tracked")?,
            candidates: tree("candidates")?,
            deadlines: tree("deadlines")?,
            meta: tree("meta")?,
            aliases: tree("aliases")?,
            archive: tree("archive")?,
            channels: tree("channels")?,
            db,
        };
        drop(opening);
        let store = Store {
            path: path.to_path_buf(),
            sled: Arc::new(Sled {
                handles: Some(handles),
                health: health.clone(),
            }),
            health,
            dirty: Arc::default(),
            event_count: Arc::new(AtomicI64::new(-1)),
            poll_states: Arc::default(),
            archive_secs: Arc::new(AtomicI64::new(365 * 86_400)),
        };
        store.check_schema()?;
        store.backfill_aliases()?;
        Ok((store, report))
    }

    /// Write the schema version into a new store, upgrade an older one's, refuse a newer.
    fn check_schema(&self) -> Result<(), StoreError> {
        let _call = self.call("opening", health::DEADLINE)?;
        match self.meta.get("schema_version")? {
            None => {
                self.meta
                    .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .unwrap_or(u32::MAX);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew {
                        path: self.path.clone(),
                        found,
                    });
                }
                // Older records are all still read as they are; the new version number
                // keeps an older veille from misreading what this one writes.
                if found < SCHEMA_VERSION {
                    self.meta
                        .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                    self.db.flush()?;
                    tracing::info!(from = found, to = SCHEMA_VERSION, "store schema upgraded");
                }
            }
        }
        Ok(())
    }

    /// sled releases its file lock from a background thread after the last handle is
    /// dropped, so a database closed a moment ago (a restart, the previous command) can
    /// still look locked: wait up to two seconds before calling it in use.
    fn open_db_waiting(path: &Path, cache_capacity: u64) -> Result<sled::Db, OpenFailure> {
        let mut tries = 0;
        loop {
            match Self::open_db(path, cache_capacity) {
                Err(OpenFailure::Locked) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn open_db(path: &Path, cache_capacity: u64) -> Result<sled::Db, OpenFailure> {
        let res = std::panic::catch_unwind(|| {
            sled::Config::new()
                .path(path)
                .cache_capacity(cache_capacity)
                .open()
        });
        match res {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(sled::Error::Corruption { at, .. })) => {
                Err(OpenFailure::Corrupt(format!("corruption at {at:?}")))
            }
            Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
                Err(OpenFailure::Locked)
            }
            Ok(Err(sled::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::InvalidData
                    || e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                Err(OpenFailure::Corrupt(e.to_string()))
            }
            Ok(Err(e @ sled::Error::Unsupported(_)))
            | Ok(Err(e @ sled::Error::ReportableBug(_))) => {
                Err(OpenFailure::Corrupt(e.to_string()))
            }
            Ok(Err(sled::Error::Io(e))) => Err(OpenFailure::Io(e)),
            Ok(Err(e)) => Err(OpenFailure::Other(e.to_string())),
            Err(_) => Err(OpenFailure::Corrupt(
                "sled panicked while recovering the log".into(),
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make everything committed so far durable; after a write, with the generation
    /// bumped and the record of what the store holds rewritten ([`sidecar`]).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _call = self.call("flushing", health::DEADLINE)?;
        let generation = self.bump_generation()?;
        self.db.flush_async().await?;
        self.write_record(generation)
    }

    /// Make everything committed so far durable (blocking).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let _call = self.call("flushing", health::DEADLINE)?;
        let generation = self.bump_generation()?;
        self.db.flush()?;
        self.write_record(generation)
    }

    /// Before a flush that follows a write: the next generation, written (`None`: no
    /// write since the last flush).
    fn bump_generation(&self) -> Result<Option<u64>, StoreError> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(None);
        }
        let next = self
            .meta
            .get("generation")?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
            + 1;
        self.meta.insert("generation", &next.to_be_bytes())?;
        Ok(Some(next))
    }

    /// After a flush: the record of what the store holds, when the flush followed a write.
    fn write_record(&self, generation: Option<u64>) -> Result<(), StoreError> {
        let Some(generation) = generation else {
            return Ok(());
        };
        let mut record = self.holds()?;
        record.generation = generation;
        sidecar::write(&self.path, &record).map_err(|e| {
            // Written again after the next write.
            self.dirty.store(true, Ordering::Relaxed);
            StoreError::Db(format!(
                "writing the record of what the store holds ({}): {}",
                sidecar::path_of(&self.path).display(),
                self.health.describe(&e)
            ))
        })
    }

    /// Something was written: the next flush records it.
    fn wrote(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// What is wrong with the store, if anything: it failed (nothing more can be done in
    /// this process) or the last check found too little free space.
    pub fn problem(&self) -> Option<String> {
        self.health.fault().or_else(|| self.health.low_space())
    }

    /// Whether the store failed (see [`health`]): the process must restart to reopen it.
    pub fn failed(&self) -> bool {
        self.health.fault().is_some()
    }

    /// What to do when a call into sled does not return in time (the thread inside it is
    /// lost): report it and end the process. Called from the watchdog's thread.
    pub fn on_stuck(&self, f: impl Fn(&StoreError) + Send + Sync + 'static) {
        self.health.set_on_stuck(Box::new(f));
    }

    /// Before a step that writes: `LowSpace` when the device holding the store has less
    /// than `min_free` bytes free (0: not checked). The state is kept for
    /// [`Store::problem`] until the next check.
    pub fn check_free_space(&self, min_free: u64) -> Result<(), StoreError> {
        if min_free == 0 {
            self.health.set_low_space(None);
            return Ok(());
        }
        let free = match fs2::available_space(&self.path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(store = %self.path.display(), error = %e, "cannot read the free space of the store's device; not checked");
                return Ok(());
            }
        };
        if free >= min_free {
            self.health.set_low_space(None);
            return Ok(());
        }
        let message = format!(
            "no space left on the device holding {}: {} free, below storage.min_free ({}); nothing is written until space is freed",
            self.path.display(),
            bytesize::ByteSize(free).to_string_as(true),
            bytesize::ByteSize(min_free).to_string_as(true),
        );
        self.health.set_low_space(Some(message.clone()));
        Err(StoreError::LowSpace {
            path: self.path.clone(),
            message,
        })
    }

    // --- sources ------------------------------------------------------------------------

    pub fn source(&self, id: &str) -> Result<Option<SourceRecord>, StoreError> {
        if let Some(known) = self.poll_states().sources.get(id) {
            return Ok(known.clone());
        }
        let _call = self.call("reading a source", health::DEADLINE)?;
        let record: Option<SourceRecord> = self
            .sources
            .get(id)?
            .map(|v| decode("source", &v))
            .transpose()?;
        self.poll_states()
            .sources
            .insert(id.to_string(), record.clone());
        Ok(record)
    }

    pub fn resource(&self, source: &str, url: &str) -> Result<Option<ResourceRecord>, StoreError> {
        Ok(self.resources_of(source)?.remove(url))
    }

    /// Every URL record of `source`, by URL: read from sled once (one prefix scan), then
    /// kept here, written through by [`Store::record_polls`].
    pub fn resources_of(
        &self,
        source: &str,
    ) -> Result<HashMap<String, ResourceRecord>, StoreError> {
        if let Some(known) = self.poll_states().resources.get(source) {
            return Ok(known.clone());
        }
        let _call = self.call("reading fetched URLs", health::DEADLINE)?;
        let prefix = resource_key(source, "");
        let mut records = HashMap::new();
        for kv in self.resources.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let url = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            records.insert(url, decode("resource", &v)?);
        }
        self.poll_states()
            .resources
            .insert(source.to_string(), records.clone());
        Ok(records)
    }

    /// For a process that keeps the store open (the daemon): a poll that changes nothing
    /// but the routine part of a source's state (when it ran, when the next is due, the
    /// count; every URL unchanged) is kept in memory, where every query of this process
    /// reads it, and written with the next write of the store, or after `max_age` at
    /// most, or by [`Store::write_deferred_poll_states`]. An unchanged step then writes
    /// nothing. A crash loses at most `max_age` of such changes: those sources are
    /// polled again at the next start. Anything else (a failure, a recovery, a new
    /// event) is written at once.
    pub fn defer_routine_poll_states(&self, max_age: chrono::Duration) {
        self.poll_states().deferred.max_age = Some(max_age);
    }

    /// Write the routine poll states kept in memory (at shutdown, before the flush).
    pub fn write_deferred_poll_states(&self) -> Result<(), StoreError> {
        let _call = self.call("writing poll states", health::DEADLINE)?;
        self.wrote();
        let mut batch = sled::Batch::default();
        {
            let mut states = self.poll_states();
            for id in std::mem::take(&mut states.deferred.sources) {
                if let Some(Some(state)) = states.sources.get(&id) {
                    batch.insert(id.as_bytes(), encode(state)?);
                }
            }
            states.deferred.since = None;
        }
        self.sources.apply_batch(batch)?;
        Ok(())
    }

    fn poll_states(&self) -> MutexGuard<'_, PollStates> {
        // A panic while holding it cannot leave it half-written: each use is one map call.
        self.poll_states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // --- dossiers and events ------------------------------------------------------------

    pub fn dossier(&self, r: &ProcedureRef) -> Result<Option<Dossier>, StoreError> {
        let _call = self.call("reading a dossier", health::DEADLINE)?;
        Ok(self
            .dossiers
            .get(r.storage_key())?
            .map(|v| decode::<DossierRecord>("dossier", &v))
            .transpose()?
            .map(|r| r.dossier))
    }

    /// Every stored dossier as it is now, decoded only when asked for
    /// ([`StoredDossiers::get`]): a poll step's one read of the dossiers.
    pub fn stored_dossiers(&self) -> Result<StoredDossiers, StoreError> {
        let _call = self.call("reading the dossiers", health::SCAN_DEADLINE)?;
        let mut entries = HashMap::new();
        for kv in self.dossiers.iter() {
            let (k, v) = kv?;
            let key = String::from_utf8_lossy(&k).into_owned();
            entries.insert(key, (v, std::sync::OnceLock::new()));
        }
        let aliases = self.read_aliases()?;
        Ok(StoredDossiers { entries, aliases })
    }

    /// Only the alias index of the stored dossiers (COM and CELEX numbers → procedure),
    /// for a poll step of feeds alone, which needs no dossier.
    pub fn stored_aliases(&self) -> Result<StoredDossiers, StoreError> {
        let _call = self.call("reading the dossiers' numbers", health::SCAN_DEADLINE)?;
        Ok(StoredDossiers {
            entries: HashMap::new(),
            aliases: self.read_aliases()?,
        })
    }

    fn read_aliases(&self) -> Result<HashMap<String, ProcedureRef>, StoreError> {
        let mut aliases = HashMap::new();
        for kv in self.aliases.iter() {
            let (k, v) = kv?;
            if let Ok(p) = String::from_utf8_lossy(&v).parse::<ProcedureRef>() {
                aliases.insert(String::from_utf8_lossy(&k).into_owned(), p);
            }
        }
        Ok(aliases)
    }

    /// Write the aliases of the dossiers a store held before it kept aliases (once: the
    /// tree is then no longer empty, or there are no dossiers).
    fn backfill_aliases(&self) -> Result<(), StoreError> {
        if !self.aliases.is_empty() || self.dossiers.is_empty() {
            return Ok(());
        }
        let _call = self.call("indexing the dossiers' numbers", health::SCAN_DEADLINE)?;
        let mut batch = sled::Batch::default();
        for kv in self.dossiers.iter() {
            let (_, v) = kv?;
            // An undecodable dossier is reported where it is read, not here.
            if let Ok(rec) = decode::<DossierRecord>("dossier", &v) {
                for (k, v) in aliases_of(&rec.dossier) {
                    batch.insert(k, v);
                }
            }
        }
        self.aliases.apply_batch(batch)?;
        Ok(())
    }

    pub fn dossiers(&self) -> Result<Vec<Dossier>, StoreError> {
        let _call = self.call("reading the dossiers", health::SCAN_DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.dossiers.iter() {
            let (_, v) = kv?;
            out.push(decode::<DossierRecord>("dossier", &v)?.dossier);
        }
        Ok(out)
    }

    /// Remove events recorded before `before` that no watchlist still waits for, so the
    /// database stays bounded. A pruned item that reappears in a feed is news again, so
    /// keep the retention longer than any feed's memory (the default is two years).
    /// Returns how many events were removed. Runs at most once a day (`meta/last_prune`).
    pub fn prune(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let _call = self.call("pruning", health::SCAN_DEADLINE)?;
        self.wrote();
        if let Some(v) = self.meta.get("last_prune")? {
            let last = <[u8; 8]>::try_from(v.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(0);
            if now.timestamp() - last < 86_400 {
                return Ok(0);
            }
        }
        let mut waiting = std::collections::HashSet::new();
        for kv in self.pending.iter() {
            let (k, _) = kv?;
            if k.len() >= 16 {
                waiting.insert(k[k.len() - 16..].to_vec());
            }
        }
        let (mut removed, mut kept) = (0, 0);
        let mut sweep = || -> Result<(), StoreError> {
            for kv in self.events.iter() {
                let (k, v) = kv?;
                if !waiting.contains(k.as_ref()) && decode_event(&v)?.recorded_at() < before {
                    self.events.remove(k)?;
                    removed += 1;
                } else {
                    kept += 1;
                }
            }
            Ok(())
        };
        let swept = sweep();
        // The sweep saw every event: the count is now exact (or unknown, if it failed).
        self.event_count
            .store(if swept.is_ok() { kept } else { -1 }, Ordering::Relaxed);
        swept?;
        for kv in self.candidates.iter() {
            let (k, v) = kv?;
            let old =
                decode::<CandidateRecord>("candidate", &v).map_or(true, |c| c.recorded_at < before);
            if old {
                self.candidates.remove(k)?;
            }
        }
        self.forget_sent_html(before)?;
        for kv in self.channels.iter() {
            let (k, v) = kv?;
            let old = decode::<ChannelDeliveryRecord>("channel delivery", &v)
                .is_ok_and(|r| r.sent_at.is_some_and(|t| t < before));
            if old {
                self.channels.remove(k)?;
            }
        }
        self.meta
            .insert("last_prune", &now.timestamp().to_be_bytes())?;
        Ok(removed)
    }

    /// Drop the HTML kept of messages sent before `before` (`storage.retention`); the
    /// record of the sending stays, as the sent log always did.
    fn forget_sent_html(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        for kv in self.sent.iter() {
            let (k, v) = kv?;
            let Ok(mut rec) = decode::<SentRecord>("sent", &v) else {
                continue;
            };
            if rec.html.is_some() && rec.sent_at < before {
                rec.html = None;
                self.sent.insert(k, encode(&rec)?)?;
            }
        }
        Ok(())
    }

    /// Procedures followed because a matched item named them or a watchlist wanted them
    /// as new dossiers.
    pub fn tracked(&self) -> Result<Vec<ProcedureRef>, StoreError> {
        Ok(self
            .tracked_records()?
            .into_iter()
            .map(|t| t.procedure)
            .collect())
    }

    /// The records of the procedures followed (a record that does not read is skipped,
    /// as an unreadable reference always was).
    pub fn tracked_records(&self) -> Result<Vec<TrackedRecord>, StoreError> {
        let _call = self.call("reading tracked procedures", health::DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.tracked.iter() {
            let (_, v) = kv?;
            if let Ok(t) = TrackedRecord::from_bytes(&v) {
                out.push(t);
            }
        }
        Ok(out)
    }

    // --- candidates ---------------------------------------------------------------------

    /// The candidates as they are now, decoded only when asked for: a poll step's one read
    /// of them.
    pub fn stored_candidates(&self) -> Result<StoredCandidates, StoreError> {
        let _call = self.call("reading the candidates", health::SCAN_DEADLINE)?;
        let mut out = StoredCandidates::default();
        for kv in self.candidates.iter() {
            let (k, v) = kv?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if let Ok(r) = key.parse::<ProcedureRef>() {
                out.keys.push(r);
            }
            out.entries.insert(key, (v, std::sync::OnceLock::new()));
        }
        out.keys.sort();
        Ok(out)
    }

    /// Every candidate, decoded (to evaluate them again when the watchlists changed).
    pub fn candidates(&self) -> Result<Vec<CandidateRecord>, StoreError> {
        let _call = self.call("reading the candidates", health::SCAN_DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.candidates.iter() {
            let (_, v) = kv?;
            out.push(decode::<CandidateRecord>("candidate", &v)?);
        }
        Ok(out)
    }

    /// The fingerprint of the watchlists the candidates were last evaluated against.
    pub fn discovery_fingerprint(&self) -> Result<Option<String>, StoreError> {
        let _call = self.call("reading the store's metadata", health::DEADLINE)?;
        Ok(self
            .meta
            .get("discovery_fingerprint")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Record what evaluating the candidates again against new watchlists found, in one
    /// transaction: the events (the "new dossier" news, enqueued for their watchlists),
    /// the procedures now tracked and no longer candidates, and the watchlists'
    /// `fingerprint`. Call `flush` after.
    pub fn record_reevaluation(
        &self,
        events: &[ObservedEvent],
        found: &[Discoveries],
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome, StoreError> {
        let _call = self.call("recording new dossiers", health::DEADLINE)?;
        self.wrote();
        let none = HashSet::new();
        let trees = (
            &self.events,
            &self.pending,
            &self.tracked,
            &self.candidates,
            &self.meta,
        );
        let recorded = trees
            .transaction(|(ev, pending, tracked, candidates, meta)| {
                let outcome = record_events(ev, pending, (events, now), &none)?;
                for d in found {
                    record_discoveries(tracked, candidates, d, now)?;
                }
                meta.insert("discovery_fingerprint", fingerprint.as_bytes())?;
                Ok(outcome)
            })
            .map_err(StoreError::from);
        self.adjust_event_count(recorded.as_ref().ok().map(|o| o.kept as i64));
        recorded
    }

    /// The full record of an event a watchlist waited for when it was recorded (`None`
    /// for an event only kept as seen: see [`StoredEvent`]).
    pub fn event(&self, id: &EventId) -> Result<Option<EventRecord>, StoreError> {
        Ok(match self.stored_event(id)? {
            Some(StoredEvent::Full(r)) => Some(*r),
            _ => None,
        })
    }

    /// What the store keeps of an event, in either form.
    pub fn stored_event(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let _call = self.call("reading an event", health::DEADLINE)?;
        self.events.get(id.0)?.map(|v| decode_event(&v)).transpose()
    }

    /// How many events are stored: counted once (a full scan), then kept up to date.
    pub fn event_count(&self) -> usize {
        let n = self.event_count.load(Ordering::Relaxed);
        if n >= 0 {
            return n as usize;
        }
        // A failed store is not asked (it is reported as failed, by `problem`).
        let Ok(_call) = self.call("counting events", health::SCAN_DEADLINE) else {
            return 0;
        };
        let n = self.events.len();
        self.event_count.store(n as i64, Ordering::Relaxed);
        n
    }

    /// After a write of events: `Some(delta)` adds to the count if there is one; `None`
    /// (the write failed part-way) forgets it, so that the next call counts again.
    fn adjust_event_count(&self, delta: Option<i64>) {
        match delta {
            Some(d) => {
                let _ = self
                    .event_count
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n >= 0).then_some(n + d)
                    });
            }
            None => self.event_count.store(-1, Ordering::Relaxed),
        }
    }

    /// Record one poll of one source; see [`Store::record_polls`].
    pub fn record_poll(&self, batch: &PollBatch) -> Result<RecordOutcome, StoreError> {
        Ok(self
            .record_polls(std::slice::from_ref(batch))?
            .pop()
            .unwrap_or_default())
    }

    /// Record ahead a part of one source's poll too large for one transaction: its
    /// matched events and their pending entries, in a transaction of their own (an event
    /// already kept only gains provenance; nothing is enqueued twice). Nothing else of
    /// the part is written: the source's state and its resources' records (the items
    /// each URL lists, its validators), dossiers, tracked procedures and deadlines come
    /// with the last part, through [`Store::record_polls`]. So a crash between the parts
    /// leaves the body unrecorded: the next poll parses it again, finds the events
    /// written ahead already kept, and the others new. Events no watchlist matched are
    /// not looked at here: they belong in the last part.
    ///
    /// A transaction's cost in memory grows with what it writes (one transaction of
    /// 50,000 matched events and their pending entries had sled hold 600 MB), so a
    /// large poll is written in bounded parts.
    pub fn record_part(&self, part: &PollBatch) -> Result<RecordOutcome, StoreError> {
        debug_assert!(part.events.iter().all(|o| !o.matches.is_empty()));
        debug_assert!(part.resources.is_empty() && part.dossiers.is_empty());
        debug_assert!(part.track.is_empty() && part.deadlines.is_empty());
        let _call = self.call("recording a part of a poll", health::DEADLINE)?;
        self.wrote();
        let none = std::collections::HashSet::new();
        let archived = archive::rows(
            &part.events,
            &[],
            part.now,
            self.archive_secs.load(Ordering::Relaxed),
        )?;
        let recorded = (&self.events, &self.pending, &self.archive)
            .transaction(|(events, pending, archive)| {
                for (k, v) in &archived {
                    archive.insert(k.as_slice(), v.as_slice())?;
                }
                record_events(events, pending, (&part.events, part.now), &none)
            })
            .map_err(StoreError::from);
        self.adjust_event_count(recorded.as_ref().ok().map(|o| o.kept as i64));
        recorded
    }

    /// Record the polls of several sources, in order, in ONE transaction: insert new
    /// events (existing ones only gain provenance), enqueue the matches of NEW events,
    /// save merged dossiers, resource validators and each source's poll state. Returns
    /// one outcome per batch. Call `flush` before acknowledging.
    ///
    /// One transaction for many sources, not one each: a sled transaction costs about
    /// as much as 20 plain inserts, whatever it holds (see docs/performance.md).
    ///
    /// An event no watchlist matched is not written: it is news to no one. An item is
    /// known by its resource's record ([`ResourceRecord::items`], written in the same
    /// transaction), which lists the items of the body last parsed, so an item still
    /// listed is not new again ([`ObservedEvent::listed_before`]: skipped here, matched or
    /// not); a dossier's step is known by the dossier's record. An unmatched event not
    /// listed before is looked up, outside the transaction, only to count it as new or
    /// not and to add its source to the provenance of an event kept in full. Records of
    /// the seen-only kind, which an earlier veille wrote, are still read as known.
    pub fn record_polls(&self, batches: &[PollBatch]) -> Result<Vec<RecordOutcome>, StoreError> {
        let _call = self.call("recording a poll", health::DEADLINE)?;
        self.wrote();
        let recorded = self.write_polls(batches);
        self.adjust_event_count(
            recorded
                .as_ref()
                .ok()
                .map(|outcomes| outcomes.iter().map(|o| o.kept as i64).sum()),
        );
        let mut states = self.poll_states();
        match &recorded {
            Ok(outcomes) => {
                for (batch, outcome) in batches.iter().zip(outcomes) {
                    states
                        .sources
                        .insert(batch.source.clone(), Some(batch.stored_state(outcome)));
                    // Only a source read whole is kept: the next read scans the others.
                    if let Some(known) = states.resources.get_mut(&batch.source) {
                        for (url, r) in &batch.resources {
                            known.insert(url.clone(), r.clone());
                        }
                    }
                }
            }
            Err(_) => {
                // What was deferred is lost with the rest: those sources are polled again
                // sooner, by the states on disk.
                let max_age = states.deferred.max_age;
                *states = PollStates::default();
                states.deferred.max_age = max_age;
            }
        }
        drop(states);
        recorded
    }

    /// The writes of [`Store::record_polls`], which then updates the count and the
    /// in-memory poll states from what they returned.
    fn write_polls(&self, batches: &[PollBatch]) -> Result<Vec<RecordOutcome>, StoreError> {
        let unmatched = self.look_up_unmatched(batches)?;
        let rows = PollRows::encode(batches, self.archive_secs.load(Ordering::Relaxed))?;
        let transaction = !batches.iter().all(PollBatch::only_state);
        let outcomes = if !transaction {
            // Nothing for a transaction (a step of unchanged sources): skip its fixed cost.
            vec![RecordOutcome::default(); batches.len()]
        } else {
            self.write_poll_transaction(batches, &unmatched, &rows)?
        };
        self.write_quiet_states(batches, transaction)?;
        Ok(outcomes)
    }

    /// Before the transaction: the unmatched events not listed before, looked up to count
    /// them as new (one outcome per batch) or to find those already kept in full.
    fn look_up_unmatched(&self, batches: &[PollBatch]) -> Result<Unmatched, StoreError> {
        let mut seen = Vec::with_capacity(batches.len());
        let mut known_in_full = HashSet::new();
        // Unmatched events counted new in these batches: an item in two feeds is new once.
        let mut counted: HashSet<EventId> = HashSet::new();
        for batch in batches {
            let mut outcome = RecordOutcome::default();
            let unknown = batch
                .events
                .iter()
                .filter(|o| o.matches.is_empty() && !o.listed_before);
            for obs in unknown {
                let id = obs.event.id;
                match self.events.get(id.0)? {
                    None if counted.insert(id) => outcome.new_events.push(id),
                    None => {}
                    Some(v) => {
                        if matches!(decode_event(&v), Ok(StoredEvent::Full(_))) {
                            known_in_full.insert(id);
                        }
                    }
                }
            }
            seen.push(outcome);
        }
        Ok(Unmatched {
            seen,
            known_in_full,
        })
    }

    /// The ONE transaction of a poll step: each batch's events, pending entries, tracked
    /// procedures and poll state, then the dossier, resource and deadline rows.
    fn write_poll_transaction(
        &self,
        batches: &[PollBatch],
        unmatched: &Unmatched,
        rows: &PollRows,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        let trees = (
            &self.events,
            &self.pending,
            &self.dossiers,
            &self.resources,
            &self.sources,
            &self.tracked,
            &self.deadlines,
            &self.candidates,
            &self.aliases,
            &self.archive,
        );
        let outcomes = trees.transaction(
            |(
                events,
                pending,
                dossiers,
                resources,
                sources,
                tracked,
                deadlines,
                candidates,
                aliases,
                archive,
            )| {
                let mut outcomes = Vec::with_capacity(batches.len());
                for (batch, seen) in batches.iter().zip(&unmatched.seen) {
                    if batch.only_state() {
                        outcomes.push(RecordOutcome::default());
                        continue;
                    }
                    let mut outcome = record_events(
                        events,
                        pending,
                        (&batch.events, batch.now),
                        &unmatched.known_in_full,
                    )?;
                    outcome.new_events.extend_from_slice(&seen.new_events);
                    for r in &batch.track {
                        track(tracked, r)?;
                    }
                    record_discoveries(tracked, candidates, &batch.discovery, batch.now)?;
                    match encode(&batch.stored_state(&outcome)) {
                        Ok(b) => sources.insert(batch.source.as_bytes(), b)?,
                        Err(e) => return abort(e),
                    };
                    outcomes.push(outcome);
                }
                for (k, v) in &rows.dossiers {
                    dossiers.insert(k.as_slice(), v.as_slice())?;
                }
                for (k, v) in &rows.aliases {
                    aliases.insert(k.as_slice(), v.as_slice())?;
                }
                for (k, v) in &rows.resources {
                    resources.insert(k.as_slice(), v.as_slice())?;
                }
                for (k, v) in &rows.deadlines {
                    deadlines.insert(k.as_slice(), v.as_slice())?;
                }
                for (k, v) in &rows.archive {
                    archive.insert(k.as_slice(), v.as_slice())?;
                }
                Ok(outcomes)
            },
        )?;
        Ok(outcomes)
    }

    /// The sources whose poll changed nothing but their own state (every URL unchanged):
    /// that state needs no atomicity with anything, so it goes in one batch after the
    /// transaction, which costs a fraction of a transactional insert per source. A crash
    /// in between only means that those sources are polled again. A routine change may
    /// wait for a later write ([`Store::defer_routine_poll_states`]).
    fn write_quiet_states(
        &self,
        batches: &[PollBatch],
        transaction: bool,
    ) -> Result<(), StoreError> {
        let mut quiet = sled::Batch::default();
        let mut quiet_rows = 0usize;
        let mut states = self.poll_states();
        let deferring = states.deferred.max_age;
        for batch in batches {
            let routine = batch.only_state()
                && deferring.is_some()
                && matches!(
                    states.sources.get(&batch.source),
                    Some(Some(prev)) if routine_change(prev, &batch.state)
                );
            if routine {
                states.deferred.sources.insert(batch.source.clone());
                states.deferred.since.get_or_insert(batch.now);
                continue;
            }
            states.deferred.sources.remove(&batch.source);
            if batch.only_state() {
                quiet.insert(batch.source.as_bytes(), encode(&batch.state)?);
                quiet_rows += 1;
            }
        }
        let now = batches.iter().map(|b| b.now).max();
        let due = match (states.deferred.since, deferring, now) {
            (Some(since), Some(max_age), Some(now)) => now - since >= max_age,
            _ => false,
        };
        if transaction || quiet_rows > 0 || due {
            // The deferred states go with this write: their latest is this call's, if it
            // has one, else the one kept in memory.
            for id in std::mem::take(&mut states.deferred.sources) {
                let latest = match batches.iter().rev().find(|b| b.source == id) {
                    Some(b) => Some(&b.state),
                    None => states.sources.get(&id).and_then(Option::as_ref),
                };
                if let Some(state) = latest {
                    quiet.insert(id.as_bytes(), encode(state)?);
                    quiet_rows += 1;
                }
            }
            states.deferred.since = None;
        }
        drop(states);
        if quiet_rows > 0 {
            self.sources.apply_batch(quiet)?;
        }
        Ok(())
    }

    // --- pending and sent ---------------------------------------------------------------

    /// The pending entries of one watchlist, oldest event first.
    pub fn pending(&self, watchlist: &str) -> Result<Vec<PendingEntry>, StoreError> {
        let _call = self.call("reading pending events", health::SCAN_DEADLINE)?;
        let mut prefix = watchlist.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.pending.scan_prefix(&prefix) {
            let (_, v) = kv?;
            let record: PendingRecord = decode("pending", &v)?;
            let Some(ev) = self.event(&record.event_id)? else {
                tracing::warn!(watchlist, event_id = %record.event_id, "pending entry without its event; skipped");
                continue;
            };
            out.push(PendingEntry {
                watchlist: watchlist.to_string(),
                record,
                event: ev.event,
                recorded_at: ev.recorded_at,
            });
        }
        out.sort_by(|a, b| {
            (a.event.date, a.recorded_at, a.event.id).cmp(&(
                b.event.date,
                b.recorded_at,
                b.event.id,
            ))
        });
        Ok(out)
    }

    /// Number of pending entries per watchlist.
    pub fn pending_counts(&self) -> Result<BTreeMap<String, usize>, StoreError> {
        let _call = self.call("counting pending events", health::SCAN_DEADLINE)?;
        let mut out = BTreeMap::new();
        for kv in self.pending.iter() {
            let (k, _) = kv?;
            let wl = k.split(|b| *b == 0).next().unwrap_or_default();
            *out.entry(String::from_utf8_lossy(wl).into_owned())
                .or_insert(0) += 1;
        }
        Ok(out)
    }

    pub fn sent(&self, key: &str) -> Result<Option<SentRecord>, StoreError> {
        let _call = self.call("reading the sent log", health::DEADLINE)?;
        self.sent.get(key)?.map(|v| decode("sent", &v)).transpose()
    }

    pub fn sent_log(&self) -> Result<Vec<(String, SentRecord)>, StoreError> {
        let _call = self.call("reading the sent log", health::SCAN_DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.sent.iter() {
            let (k, v) = kv?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                decode("sent", &v)?,
            ));
        }
        Ok(out)
    }

    /// After the mail transport accepted a message: write the sent log and, in the same
    /// transaction, clear the delivered pending entries (digest) or mark them alerted
    /// (alert); reset the watchlist's delivery state.
    pub fn mark_delivered(&self, d: &Delivered) -> Result<(), StoreError> {
        let _call = self.call("recording a delivery", health::DEADLINE)?;
        self.wrote();
        let sent = encode(&SentRecord {
            v: if d.html.is_some() { 2 } else { 1 },
            kind: d.kind,
            watchlist: d.watchlist.clone(),
            event_ids: d.event_ids.clone(),
            message_id: d.message_id.clone(),
            sent_at: d.sent_at,
            html: d.html.clone(),
        })?;
        (&self.sent, &self.pending, &self.delivery).transaction(
            |(sent_t, pending, delivery)| {
                sent_t.insert(d.key.as_bytes(), sent.as_slice())?;
                for id in &d.event_ids {
                    let k = pending_key(&d.watchlist, id);
                    match d.kind {
                        SentKind::Digest => {
                            pending.remove(k)?;
                        }
                        SentKind::Alert | SentKind::Reminder => {
                            if let Some(v) = pending.get(&k)? {
                                let mut rec: PendingRecord = match decode("pending", &v) {
                                    Ok(r) => r,
                                    Err(e) => return abort(e),
                                };
                                rec.alerted = Some(d.key.clone());
                                match encode(&rec) {
                                    Ok(b) => pending.insert(k, b)?,
                                    Err(e) => return abort(e),
                                };
                            }
                        }
                    }
                }
                let mut state: DeliveryRecord = match delivery.get(d.watchlist.as_bytes())? {
                    Some(v) => match decode("delivery", &v) {
                        Ok(r) => r,
                        Err(e) => return abort(e),
                    },
                    None => DeliveryRecord::default(),
                };
                state.v = 1;
                state.in_flight = None;
                state.failures = 0;
                state.next_attempt_at = None;
                state.last_error = None;
                if d.kind == SentKind::Digest {
                    if let Some(p) = &d.period {
                        state.last_period = Some(p.clone());
                    }
                    state.last_digest_at = Some(d.sent_at);
                }
                match encode(&state) {
                    Ok(b) => delivery.insert(d.watchlist.as_bytes(), b)?,
                    Err(e) => return abort(e),
                };
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Queue a message for channels: each record is written unless one with its
    /// (watchlist, channel, key) is already there (a message resent after a crash keeps
    /// its first body and its state). Durable with the next flush.
    pub fn enqueue_channels(&self, recs: &[ChannelDeliveryRecord]) -> Result<(), StoreError> {
        if recs.is_empty() {
            return Ok(());
        }
        let _call = self.call("queueing channel deliveries", health::DEADLINE)?;
        self.wrote();
        for r in recs {
            let k = channel_key(&r.watchlist, &r.channel, &r.key);
            let v = encode(r)?;
            self.channels
                .compare_and_swap(k, None as Option<&[u8]>, Some(v))?
                .ok();
        }
        Ok(())
    }

    /// Every channel delivery of every watchlist (those sent too), in key order.
    pub fn channel_deliveries(&self) -> Result<Vec<ChannelDeliveryRecord>, StoreError> {
        let _call = self.call("reading channel deliveries", health::SCAN_DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.channels.iter() {
            let (_, v) = kv?;
            out.push(decode("channel delivery", &v)?);
        }
        Ok(out)
    }

    /// A watchlist's channel deliveries not sent yet, oldest first.
    pub fn channel_pending(
        &self,
        watchlist: &str,
    ) -> Result<Vec<ChannelDeliveryRecord>, StoreError> {
        let _call = self.call("reading channel deliveries", health::DEADLINE)?;
        let mut prefix = watchlist.as_bytes().to_vec();
        prefix.push(0);
        let mut out: Vec<ChannelDeliveryRecord> = Vec::new();
        for kv in self.channels.scan_prefix(&prefix) {
            let (_, v) = kv?;
            let r: ChannelDeliveryRecord = decode("channel delivery", &v)?;
            if r.sent_at.is_none() {
                out.push(r);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
        Ok(out)
    }

    /// Write a channel delivery's state (an attempt failed, or it was sent).
    pub fn save_channel_delivery(&self, rec: &ChannelDeliveryRecord) -> Result<(), StoreError> {
        let _call = self.call("writing a channel delivery", health::DEADLINE)?;
        self.wrote();
        self.channels.insert(
            channel_key(&rec.watchlist, &rec.channel, &rec.key),
            encode(rec)?,
        )?;
        Ok(())
    }

    /// The deadlines kept for a watchlist.
    pub fn deadlines(&self, watchlist: &str) -> Result<Vec<DeadlineRecord>, StoreError> {
        let _call = self.call("reading deadlines", health::DEADLINE)?;
        let mut prefix = watchlist.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.deadlines.scan_prefix(&prefix) {
            let (_, v) = kv?;
            out.push(decode("deadline", &v)?);
        }
        Ok(out)
    }

    /// The deadlines kept for any watchlist that name this procedure (a consultation on
    /// its proposal), each watchlist's copy included.
    pub fn deadlines_of_dossier(
        &self,
        r: &ProcedureRef,
    ) -> Result<Vec<crate::deadlines::Deadline>, StoreError> {
        let _call = self.call("reading deadlines", health::SCAN_DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.deadlines.iter() {
            let (_, v) = kv?;
            let rec: DeadlineRecord = decode("deadline", &v)?;
            if rec.deadline.dossier == Some(*r) {
                out.push(rec.deadline);
            }
        }
        Ok(out)
    }

    pub fn delivery(&self, watchlist: &str) -> Result<DeliveryRecord, StoreError> {
        let _call = self.call("reading a delivery state", health::DEADLINE)?;
        Ok(self
            .delivery
            .get(watchlist)?
            .map(|v| decode("delivery", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Every watchlist's delivery state, by watchlist id (those never delivered have none).
    pub fn deliveries(&self) -> Result<Vec<(String, DeliveryRecord)>, StoreError> {
        let _call = self.call("reading the delivery states", health::SCAN_DEADLINE)?;
        let mut out = Vec::new();
        for kv in self.delivery.iter() {
            let (k, v) = kv?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                decode("delivery", &v)?,
            ));
        }
        Ok(out)
    }

    pub fn save_delivery(&self, watchlist: &str, rec: &DeliveryRecord) -> Result<(), StoreError> {
        let _call = self.call("writing a delivery state", health::DEADLINE)?;
        self.wrote();
        self.delivery.insert(watchlist, encode(rec)?)?;
        Ok(())
    }

    /// When the daemon first ran on this store (`meta/first_start`): a digest period that
    /// ended before then was not missed. `None` until a daemon has run.
    pub fn first_start(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let _call = self.call("reading the first start", health::DEADLINE)?;
        Ok(self.meta.get("first_start")?.and_then(|v| {
            let secs = <[u8; 8]>::try_from(v.as_ref())
                .map(i64::from_be_bytes)
                .ok()?;
            DateTime::from_timestamp(secs, 0)
        }))
    }

    /// Record the daemon's first start, once, and return it: `now` on a store with no
    /// history; on a store that already polled or sent (a veille before this record, or
    /// one-shot commands), the Unix epoch, i.e. long ago, so that a digest it missed still
    /// goes out.
    pub fn note_first_start(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let _call = self.call("recording the first start", health::DEADLINE)?;
        if let Some(t) = self.first_start()? {
            return Ok(t);
        }
        let history =
            !self.sources.is_empty() || !self.sent.is_empty() || !self.delivery.is_empty();
        let first = if history { DateTime::UNIX_EPOCH } else { now };
        self.wrote();
        self.meta
            .insert("first_start", &first.timestamp().to_be_bytes())?;
        Ok(first)
    }
}

enum OpenFailure {
    Io(std::io::Error),
    Corrupt(String),
    Locked,
    Other(String),
}

impl OpenFailure {
    fn into_error(self, path: &Path, health: &health::Health) -> StoreError {
        match self {
            OpenFailure::Io(e) => {
                health.set_fault(health.describe(&e));
                health.failed()
            }
            OpenFailure::Locked => StoreError::Locked {
                path: path.to_path_buf(),
            },
            OpenFailure::Corrupt(message) | OpenFailure::Other(message) => StoreError::Open {
                path: path.to_path_buf(),
                message,
            },
        }
    }
}

/// The data folder (created private if missing) and the store's own folder, its owner's
/// alone whatever the folders around it allow (sled would create it with the umask's
/// permissions).
fn prepare_folders(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: format!("cannot create the data directory {}: {e}", parent.display()),
        })?;
    }
    create_private_dir(path)
        .and_then(|()| make_private(path))
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: format!("cannot make the store's folder private: {e}"),
        })?;
    Ok(())
}

/// Move a corrupt store (and its record) aside, loudly; where it went.
fn move_corrupt_aside(path: &Path, stamp: &str, message: &str) -> Result<PathBuf, StoreError> {
    let aside = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    tracing::error!(
        store = %path.display(),
        moved_to = %aside.display(),
        error = %message,
        "THE DATABASE IS CORRUPT: moving it aside and starting a new one; sources will be re-polled"
    );
    std::fs::rename(path, &aside).map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        message: format!("corrupt ({message}) and cannot be moved aside: {e}"),
    })?;
    let mut record_aside = aside.clone().into_os_string();
    record_aside.push(".state");
    let _ = std::fs::rename(sidecar::path_of(path), record_aside);
    Ok(aside)
}

/// Take the group's and others' access away from a directory that has it.
fn make_private(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

/// The key of a channel delivery: watchlist, channel and message key, NUL-separated.
fn channel_key(watchlist: &str, channel: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(watchlist.len() + channel.len() + key.len() + 2);
    k.extend_from_slice(watchlist.as_bytes());
    k.push(0);
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Create a directory (and parents) readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}
