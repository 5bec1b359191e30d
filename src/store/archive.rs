//! The `archive` tree: every event a poll saw new, matched or not, keyed by its date and
//! id so that "since a date" is one range scan and pruning cuts a prefix; and the store's
//! side of a watchlist's backfill (the fingerprints of the watchlists in `meta`, what was
//! delivered or is pending for one, the events enqueued "earlier, now matched").
//! What is archived and how it is matched or searched is `crate::archive`'s.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{
    abort, decode, encode, enqueue_absent, health, Enqueue, EventRecord, ObservedEvent, Store,
    StoreError, StoredEvent,
};
use crate::archive::{archives, ArchivedEvent, Found, Newest, SearchQuery};
use crate::model::{Dossier, DossierEvent, EventId};
use crate::store::records::{ArchiveRecord, ArchiveRef, ArchiveValue};

/// The key of an archived event: its date (days from the common era, big-endian, so that
/// keys sort by date), then its id.
pub(super) fn key(date: NaiveDate, id: &EventId) -> Vec<u8> {
    let mut k = Vec::with_capacity(20);
    k.extend_from_slice(&day(date).to_be_bytes());
    k.extend_from_slice(&id.0);
    k
}

fn day(date: NaiveDate) -> u32 {
    u32::try_from(date.num_days_from_ce()).unwrap_or(0)
}

/// A key and its value, encoded.
pub(super) type Row = (Vec<u8>, Vec<u8>);

/// The archive rows of a poll's events: those seen new (not listed before by their URL, or
/// that joined a dossier this step, whose row then points to their record in `events`),
/// of a kind sources report, dated within the archive's window. A step takes its
/// procedure's titles and subjects from the poll's merged dossier.
pub(super) fn rows<'e>(
    events: impl IntoIterator<Item = &'e ObservedEvent>,
    dossiers: &[Dossier],
    now: DateTime<Utc>,
    archive_secs: i64,
) -> Result<Vec<Row>, StoreError> {
    let horizon = (now - chrono::Duration::seconds(archive_secs)).date_naive();
    let mut out = Vec::new();
    for o in events {
        let e = &o.event;
        let known = o.listed_before && o.joined.is_empty();
        if known || !archives(e.kind) || e.date < horizon {
            continue;
        }
        let dossier = e
            .dossier
            .and_then(|r| dossiers.iter().find(|d| d.reference == r));
        // A matched event is written in full to `events` in the same transaction.
        let value = match o.matches.is_empty() {
            true => encode(&ArchiveRecord {
                v: 1,
                event: ArchivedEvent::of(e, dossier, now),
            })?,
            false => {
                let (titles, subjects) = ArchivedEvent::procedure_of(dossier);
                encode(&ArchiveRef {
                    v: 1,
                    matched: true,
                    titles,
                    subjects,
                })?
            }
        };
        out.push((key(e.date, &e.id), value));
    }
    Ok(out)
}

/// An event to enqueue for a watchlist as "earlier, now matched", with its reasons.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub event: DossierEvent,
    pub reasons: Vec<String>,
}

impl Store {
    /// How long the archive keeps what polls see (`storage.archive`); set before a poll.
    pub fn keep_archive(&self, window: std::time::Duration) {
        let secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2);
        self.archive_secs.store(secs, Ordering::Relaxed);
    }

    /// Archive events ahead of their poll's transaction (a part of a source that brought
    /// more than one transaction takes); see `poll::archive_ahead`.
    pub fn archive_ahead(
        &self,
        events: &[&ObservedEvent],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _call = self.call("archiving a part of a poll", health::DEADLINE)?;
        self.wrote();
        let mut batch = sled::Batch::default();
        let secs = self.archive_secs.load(Ordering::Relaxed);
        for (k, v) in rows(events.iter().copied(), &[], now, secs)? {
            batch.insert(k, v);
        }
        self.archive.apply_batch(batch)?;
        Ok(())
    }

    /// The archived events dated `since` or later that `keep` wants, oldest first. Each
    /// record is read and judged in turn, so a backtest holds what it found, never the
    /// whole archive.
    pub fn archive_where(
        &self,
        since: NaiveDate,
        mut keep: impl FnMut(&ArchivedEvent) -> bool,
    ) -> Result<Vec<(EventId, ArchivedEvent)>, StoreError> {
        let mut out = Vec::new();
        self.archive_each(since, |id, event| {
            if keep(&event) {
                out.push((id, event));
            }
        })?;
        Ok(out)
    }

    /// The archived events dated `since` or later that answer `query`, as `keep` keeps
    /// them (all, or the newest few), newest first.
    pub fn archive_search(
        &self,
        since: NaiveDate,
        query: &SearchQuery,
        mut keep: Newest,
    ) -> Result<Vec<Found>, StoreError> {
        self.archive_each(since, |id, a| {
            if query.hits(&a) {
                keep.push(id, a);
            }
        })?;
        Ok(keep.into_found())
    }

    /// Hand each archived event dated `since` or later to `each`, oldest first.
    fn archive_each(
        &self,
        since: NaiveDate,
        mut each: impl FnMut(EventId, ArchivedEvent),
    ) -> Result<(), StoreError> {
        let _call = self.call("reading the archive", health::SCAN_DEADLINE)?;
        for kv in self.archive.range(day(since).to_be_bytes()..) {
            let (k, v) = kv?;
            let Ok(id) = <[u8; 16]>::try_from(&k[k.len().saturating_sub(16)..]) else {
                continue;
            };
            let event = match decode::<ArchiveValue>("archive", &v)? {
                ArchiveValue::Full(rec) => rec.event,
                ArchiveValue::Matched(r) => match self.matched_event(&id, r)? {
                    Some(event) => event,
                    // Its event was pruned (`storage.retention` shorter than the archive).
                    None => continue,
                },
            };
            each(EventId(id), event);
        }
        Ok(())
    }

    /// A matched event as archived: its record in `events`, with the archive's titles
    /// and subjects of its procedure.
    fn matched_event(
        &self,
        id: &[u8; 16],
        r: ArchiveRef,
    ) -> Result<Option<ArchivedEvent>, StoreError> {
        let Some(bytes) = self.events.get(id)? else {
            return Ok(None);
        };
        let StoredEvent::Full(rec) = super::decode_event(&bytes)? else {
            return Ok(None);
        };
        let mut event = ArchivedEvent::of(&rec.event, None, rec.recorded_at);
        event.titles = r.titles;
        event.subjects = r.subjects;
        Ok(Some(event))
    }

    /// How many events the archive holds, and their records' bytes (keys and values).
    pub fn archive_size(&self) -> Result<(usize, usize), StoreError> {
        let _call = self.call("reading the archive", health::SCAN_DEADLINE)?;
        let (mut n, mut bytes) = (0, 0);
        for kv in self.archive.iter() {
            let (k, v) = kv?;
            n += 1;
            bytes += k.len() + v.len();
        }
        Ok((n, bytes))
    }

    /// Remove the archived events dated before `before`. A step with nothing that old
    /// costs one seek. Returns how many were removed.
    pub fn prune_archive(&self, before: NaiveDate) -> Result<usize, StoreError> {
        let _call = self.call("pruning the archive", health::SCAN_DEADLINE)?;
        let mut removed = 0;
        for kv in self.archive.range(..day(before).to_be_bytes().to_vec()) {
            let (k, _) = kv?;
            if removed == 0 {
                self.wrote();
            }
            self.archive.remove(k)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The fingerprint of each watchlist's terms when its backfill was last done.
    pub fn watchlist_fingerprints(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let _call = self.call("reading the store's metadata", health::DEADLINE)?;
        match self.meta.get("watchlist_fingerprints")? {
            Some(v) => decode("watchlist fingerprints", &v),
            None => Ok(BTreeMap::new()),
        }
    }

    /// The events this watchlist was sent (the sent log) or waits for (pending): what a
    /// backfill must not bring again.
    pub fn known_to(&self, watchlist: &str) -> Result<HashSet<EventId>, StoreError> {
        let _call = self.call("reading the sent log", health::SCAN_DEADLINE)?;
        let mut out = HashSet::new();
        for kv in self.sent.iter() {
            let (_, v) = kv?;
            let rec: super::SentRecord = decode("sent", &v)?;
            if rec.watchlist == watchlist {
                out.extend(rec.event_ids);
            }
        }
        let mut prefix = watchlist.as_bytes().to_vec();
        prefix.push(0);
        for kv in self.pending.scan_prefix(&prefix) {
            let (k, _) = kv?;
            if let Ok(id) = <[u8; 16]>::try_from(&k[k.len().saturating_sub(16)..]) {
                out.insert(EventId(id));
            }
        }
        Ok(out)
    }

    /// Enqueue the events each watchlist's new version matches in the archive ("earlier,
    /// now matched"), and record the watchlists' fingerprints, in one transaction: an
    /// event not kept yet is kept in full; a pending entry is written only where there is
    /// none. Returns how many were enqueued. Call `flush` after.
    pub fn record_backfill(
        &self,
        earlier: &[(String, Earlier)],
        fingerprints: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let _call = self.call("recording a watchlist's backfill", health::DEADLINE)?;
        self.wrote();
        let fingerprints = encode(fingerprints)?;
        let recorded = (&self.events, &self.pending, &self.meta)
            .transaction(|(events, pending, meta)| {
                let mut kept = 0i64;
                let mut enqueued = 0usize;
                for (watchlist, e) in earlier {
                    let (k, q) = enqueue(events, pending, watchlist, e, now)?;
                    kept += i64::from(k);
                    enqueued += usize::from(q);
                }
                meta.insert("watchlist_fingerprints", fingerprints.as_slice())?;
                Ok((kept, enqueued))
            })
            .map_err(StoreError::from);
        self.adjust_event_count(recorded.as_ref().ok().map(|(k, _)| *k));
        recorded.map(|(_, n)| n)
    }
}

/// Inside the backfill's transaction: keep the event (if not kept) and enqueue it for the
/// watchlist (if not pending). Returns (kept, enqueued).
fn enqueue(
    events: &TransactionalTree,
    pending: &TransactionalTree,
    watchlist: &str,
    e: &Earlier,
    now: DateTime<Utc>,
) -> Result<(bool, bool), ConflictableTransactionError<StoreError>> {
    let id = e.event.id;
    let mut kept = false;
    // Absent, or only the seen-only record an older veille wrote: kept in full now.
    let full = match events.get(id.0)? {
        Some(v) => matches!(super::decode_event(&v), Ok(super::StoredEvent::Full(_))),
        None => false,
    };
    if !full {
        let rec = EventRecord {
            v: 1,
            recorded_at: now,
            event: e.event.clone(),
        };
        match encode(&rec) {
            Ok(b) => events.insert(&id.0, b)?,
            Err(err) => return abort(err),
        };
        kept = true;
    }
    let m = Enqueue {
        watchlist: watchlist.to_string(),
        reasons: e.reasons.clone(),
        alert_due: false,
    };
    let enqueued = enqueue_absent(pending, id, std::slice::from_ref(&m), now)? == 1;
    Ok((kept, enqueued))
}
