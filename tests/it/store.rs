//! The sled store on disk: what survives a reopen, insert-if-absent, the transactions of a
//! poll and of a delivery, and recovery from a corrupt database.

use chrono::{DateTime, NaiveDate, Utc};
use veille::model::{DossierEvent, EventId, EventKind, ProcedureRef, Provenance, Stage};
use veille::store::{
    Delivered, Enqueue, ObservedEvent, PollBatch, SentKind, SourceRecord, Store, StoredEvent,
};

fn now() -> DateTime<Utc> {
    "2026-11-20T10:00:00Z".parse().unwrap_or_default()
}

fn event(n: u32, source: &str) -> DossierEvent {
    DossierEvent {
        id: EventId::derive(&["test", &n.to_string()]),
        kind: EventKind::Step,
        stage: Some(Stage::PlenaryVote),
        dossier: "2018/0172(COD)".parse().ok(),
        dossier_title: Some("Single-use plastics".into()),
        date: NaiveDate::from_ymd_opt(2019, 3, 27).unwrap_or_default(),
        title: format!("Decision by Parliament {n}"),
        summary: String::new(),
        url: None,
        documents: vec![],
        mentions: vec![],
        provenance: vec![Provenance {
            source: source.into(),
            url: "https://example.org/x".into(),
            fetched_at: now(),
        }],
    }
}

fn batch(source: &str, events: Vec<DossierEvent>) -> PollBatch {
    PollBatch {
        source: source.into(),
        state: SourceRecord {
            v: 1,
            last_success: Some(now()),
            ..SourceRecord::default()
        },
        resources: vec![],
        dossiers: vec![],
        events: events
            .into_iter()
            .map(|event| ObservedEvent {
                event,
                matches: vec![Enqueue {
                    watchlist: "air-quality".into(),
                    reasons: vec!["dossier 2018/0172(COD)".into()],
                    alert_due: true,
                }],
                listed_before: false,
                joined: Vec::new(),
            })
            .collect(),
        track: vec![],
        deadlines: vec![],
        discovery: Default::default(),
        now: now(),
    }
}

/// The sources in the provenance of event `n`, kept in full.
fn provenance(store: &Store, n: u32) -> Vec<String> {
    store
        .event(&event(n, "").id)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.event.provenance.into_iter().map(|p| p.source).collect())
        .unwrap_or_default()
}

/// Prune 800 days after `now()` with the default two-year retention; what it removed,
/// and when it ran.
fn prune_800_days_later(store: &Store) -> (usize, DateTime<Utc>) {
    let later = now() + chrono::Duration::days(800);
    let removed = store
        .prune(later - chrono::Duration::days(730), later)
        .unwrap_or_else(|e| panic!("{e}"));
    (removed, later)
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("veille.sled"), 8 * 1024 * 1024, now())
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

#[tokio::test]
async fn the_same_events_polled_three_times_are_stored_and_enqueued_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let b = batch("ep-api", vec![event(1, "ep-api"), event(2, "ep-api")]);
    let first = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.new_events.len(), first.enqueued), (2, 2));
    for _ in 0..2 {
        let again = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((again.new_events.len(), again.enqueued), (0, 0));
    }
    // Another source reporting the same step adds provenance, not an event.
    let other = store
        .record_poll(&batch("cellar", vec![event(1, "cellar")]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(other.new_events.is_empty());
    assert_eq!(provenance(&store, 1), ["ep-api", "cellar"]);
    assert_eq!(
        store.pending("air-quality").map(|p| p.len()).unwrap_or(0),
        2
    );
    assert_eq!(store.event_count(), 2);
}

/// A known event that joined a dossier this step: the watchlists that follow the dossier
/// get it once, those that had it keep what they had, and the stored event names the
/// dossier's references from then on.
#[test]
fn a_known_event_that_joins_a_dossier_goes_once_to_those_who_follow_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let mut listed = event(1, "have-your-say");
    listed.dossier = None;
    store
        .record_poll(&batch("have-your-say", vec![listed.clone()]))
        .unwrap_or_else(|e| panic!("{e}"));
    let deliver = |watchlist: &str| {
        let ids = store
            .pending(watchlist)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|p| p.event.id)
            .collect::<Vec<_>>();
        store
            .mark_delivered(&Delivered {
                key: format!("{watchlist}/2026-11-23T08:00+01:00"),
                kind: SentKind::Digest,
                watchlist: watchlist.into(),
                event_ids: ids.clone(),
                message_id: format!("{watchlist}@veille"),
                sent_at: now(),
                period: Some("2026-11-23T08:00+01:00".into()),
                html: None,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        ids.len()
    };
    assert_eq!(deliver("air-quality"), 1);

    // Read again, listed before, now with its proposal: "plastics" follows that.
    let mut joined = event(1, "have-your-say");
    joined.mentions = vec!["COM(2018)340".parse().unwrap_or_else(|e| panic!("{e:?}"))];
    let mut b = batch("have-your-say", vec![joined]);
    let plastics = Enqueue {
        watchlist: "plastics".into(),
        reasons: vec!["dossier 2018/0172(COD)".into()],
        alert_due: true,
    };
    for o in &mut b.events {
        o.listed_before = true;
        o.joined = vec![plastics.clone()];
        o.matches.push(plastics.clone());
    }
    let outcome = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((outcome.new_events.len(), outcome.enqueued), (0, 1));
    assert_eq!(store.pending("air-quality").map(|p| p.len()).ok(), Some(0));
    let stored = store.event(&listed.id).ok().flatten().map(|r| r.event);
    assert_eq!(
        stored.as_ref().and_then(|e| e.dossier),
        event(1, "").dossier
    );
    assert_eq!(stored.map(|e| e.mentions.len()), Some(1));
    assert_eq!(deliver("plastics"), 1);

    // The same join read again (a detail asked for anew) is news to no one.
    let again = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.enqueued, 0);
    assert_eq!(store.pending("plastics").map(|p| p.len()).ok(), Some(0));
    assert_eq!(store.event_count(), 1);
}

#[tokio::test]
async fn everything_committed_and_flushed_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let store = open(dir.path());
        store
            .record_poll(&batch(
                "ep-api",
                vec![event(1, "ep-api"), event(2, "ep-api")],
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .mark_delivered(&Delivered {
                key: "air-quality/alert/x".into(),
                kind: SentKind::Alert,
                watchlist: "air-quality".into(),
                event_ids: vec![event(1, "").id],
                message_id: "abc@veille".into(),
                sent_at: now(),
                period: None,
                html: None,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        store.flush().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let store = open(dir.path());
    let pending = store
        .pending("air-quality")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pending.len(), 2);
    let alerted = |n: u32| {
        pending
            .iter()
            .find(|p| p.event.id == event(n, "").id)
            .and_then(|p| p.record.alerted.clone())
    };
    assert_eq!(alerted(1).as_deref(), Some("air-quality/alert/x"));
    assert_eq!(alerted(2), None);
    assert_eq!(
        store
            .source("ep-api")
            .ok()
            .flatten()
            .and_then(|s| s.last_success),
        Some(now())
    );
    assert!(store.sent("air-quality/alert/x").ok().flatten().is_some());

    // A digest clears what it delivered, in the same transaction as the sent log.
    let ids: Vec<EventId> = pending.iter().map(|p| p.event.id).collect();
    store
        .mark_delivered(&Delivered {
            key: "air-quality/2026-11-23T08:00+01:00".into(),
            kind: SentKind::Digest,
            watchlist: "air-quality".into(),
            event_ids: ids.clone(),
            message_id: "def@veille".into(),
            sent_at: now(),
            period: Some("2026-11-23T08:00+01:00".into()),
            html: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    store.flush().await.unwrap_or_else(|e| panic!("{e}"));
    drop(store);
    let store = open(dir.path());
    assert!(store
        .pending("air-quality")
        .map(|p| p.is_empty())
        .unwrap_or(false));
    let sent = store
        .sent("air-quality/2026-11-23T08:00+01:00")
        .ok()
        .flatten()
        .map(|s| s.event_ids);
    assert_eq!(sent, Some(ids));
    assert_eq!(
        store
            .delivery("air-quality")
            .ok()
            .and_then(|d| d.last_period),
        Some("2026-11-23T08:00+01:00".into())
    );
}

#[test]
fn a_corrupt_database_is_moved_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("veille.sled");
    {
        let store = open(dir.path());
        store
            .record_poll(&batch("ep-api", vec![event(1, "ep-api")]))
            .unwrap_or_else(|e| panic!("{e}"));
        store.flush_blocking().unwrap_or_else(|e| panic!("{e}"));
    }
    // Overwrite the database files with garbage.
    for entry in walk(&path) {
        let len = std::fs::metadata(&entry).map(|m| m.len()).unwrap_or(0) as usize;
        std::fs::write(&entry, vec![0xA5u8; len.max(64)]).unwrap_or_else(|e| panic!("{e}"));
    }
    let (store, report) =
        Store::open(&path, 8 * 1024 * 1024, now()).unwrap_or_else(|e| panic!("{e}"));
    let aside = report
        .moved_aside
        .unwrap_or_else(|| panic!("the corrupt database was not moved aside"));
    assert!(aside.exists(), "{}", aside.display());
    assert!(aside
        .to_string_lossy()
        .contains("veille.sled.corrupt-20261120T100000"));
    assert_eq!(store.event_count(), 0);
    store
        .record_poll(&batch("ep-api", vec![event(1, "ep-api")]))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_snapshot_left_half_written_by_a_kill_loses_nothing() {
    // sled writes `snap.{lsn}.generating`, then renames it; killed in between, the next
    // open used to find "an empty/corrupt snapshot" and the whole database was moved aside
    // (found by the crash harness; spacejam/sled#1527).
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("veille.sled");
    {
        let store = open(dir.path());
        store
            .record_poll(&batch(
                "ep-api",
                vec![event(1, "ep-api"), event(2, "ep-api")],
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        store.flush().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let leftover = path.join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, b"snap").unwrap_or_else(|e| panic!("{e}"));
    let (store, report) =
        Store::open(&path, 8 * 1024 * 1024, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.moved_aside, None, "nothing is moved aside");
    assert!(!leftover.exists(), "the half-written snapshot is removed");
    assert_eq!(store.event_count(), 2);
    assert_eq!(
        store
            .pending("air-quality")
            .unwrap_or_else(|e| panic!("{e}"))
            .len(),
        2
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("data/deeper/veille.sled");
    Store::open(&path, 1024 * 1024, now()).unwrap_or_else(|e| panic!("{e}"));
    let mode =
        std::fs::metadata(dir.path().join("data/deeper")).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o700));
}

#[test]
fn a_second_process_gets_a_clear_locked_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let _first = open(dir.path());
    let again = Store::open(&dir.path().join("veille.sled"), 1024 * 1024, now());
    match again {
        Err(e @ veille::store::StoreError::Locked { .. }) => {
            assert!(
                e.to_string().contains("in use by another veille process"),
                "{e}"
            )
        }
        other => panic!("expected a Locked error, got {other:?}"),
    }
}

#[test]
fn old_events_are_pruned_unless_a_digest_still_waits_for_them() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    legacy_seen(dir.path(), &[1]);
    let store = open(dir.path());
    store
        .record_poll(&batch("ep-api", vec![event(2, "ep-api")]))
        .unwrap_or_else(|e| panic!("{e}"));
    let (removed, later) = prune_800_days_later(&store);
    assert_eq!(
        removed, 1,
        "the old event no digest waits for goes; the pending one stays"
    );
    assert!(store.event(&event(2, "").id).ok().flatten().is_some());
    // At most once a day.
    assert_eq!(
        store
            .prune(later, later + chrono::Duration::hours(1))
            .unwrap_or(9),
        0
    );
}

/// Seen-only records, as veille wrote them for unmatched events before it kept the
/// items of each resource instead: written with sled directly, before the store opens.
fn legacy_seen(dir: &std::path::Path, ns: &[u32]) {
    let db = sled::open(dir.join("veille.sled")).unwrap_or_else(|e| panic!("{e}"));
    let events = db.open_tree("events").unwrap_or_else(|e| panic!("{e}"));
    for n in ns {
        events
            .insert(
                event(*n, "").id.0,
                &veille::store::StoredEvent::seen_bytes(now())[..],
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    db.flush().unwrap_or_else(|e| panic!("{e}"));
}

fn unmatched(mut b: PollBatch) -> PollBatch {
    for o in &mut b.events {
        o.matches.clear();
    }
    b
}

/// The event count (status, /metrics) is counted once, then kept by the writes: it
/// follows new events kept in full (an unmatched one is not written), known ones, the
/// seen-only records of an earlier veille and pruning, and a reopened store counts the
/// same.
#[test]
fn the_event_count_follows_records_and_pruning() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    legacy_seen(dir.path(), &[1, 2]);
    let store = open(dir.path());
    assert_eq!(store.event_count(), 2, "two seen-only records");
    let out = store
        .record_poll(&unmatched(batch(
            "feed",
            vec![event(1, "feed"), event(2, "feed"), event(4, "feed")],
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.new_events, [event(4, "").id], "1 and 2 were seen");
    assert_eq!(store.event_count(), 2, "an unmatched event is not written");
    // Seen before, now matched: known, not news. New and matched: kept, and known again
    // from another source.
    let out = store
        .record_polls(&[
            batch("ep-api", vec![event(2, "ep-api"), event(3, "ep-api")]),
            batch("oeil", vec![event(3, "oeil")]),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0].new_events, [event(3, "").id]);
    assert_eq!((out[0].enqueued, out[1].enqueued), (1, 0));
    assert_eq!(store.event_count(), 3);
    let (removed, _) = prune_800_days_later(&store);
    assert_eq!(
        removed, 2,
        "the two seen-only records go; the pending one stays"
    );
    assert_eq!(store.event_count(), 1);
    drop(store);
    assert_eq!(
        open(dir.path()).event_count(),
        1,
        "counted again on reopening"
    );
}

/// An event no watchlist wants is news to no one: counted as new, never written. An item
/// its resource listed before is known whether it matches or not; the same unmatched item
/// in two sources of one poll is new once; an event kept in full gains the provenance of
/// a source that matched nothing; and an item first seen unmatched is news when a later
/// source's report of it matches.
#[test]
fn an_event_no_watchlist_wants_is_counted_not_written() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let mut b = batch(
        "feed",
        vec![event(1, "feed"), event(2, "feed"), event(3, "feed")],
    );
    b.events[1].matches.clear();
    b.events[2].matches.clear();
    let first = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.new_events.len(), first.enqueued), (3, 1));
    assert_eq!(store.event_count(), 1);
    let stored = |n: u32| {
        store
            .stored_event(&event(n, "").id)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    match stored(1) {
        Some(StoredEvent::Full(r)) => assert_eq!(r.event.title, "Decision by Parliament 1"),
        other => panic!("the matched event is kept in full, got {other:?}"),
    }
    assert_eq!(stored(2), None);
    assert_eq!(stored(3), None);

    // The feed's next version still lists all three.
    for o in &mut b.events {
        o.listed_before = true;
    }
    let again = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (again.new_events.len(), again.enqueued),
        (0, 0),
        "{again:?}"
    );

    // Two sources of one poll bring event 4, unmatched: new once.
    let out = store
        .record_polls(&[
            unmatched(batch("cellar", vec![event(4, "cellar")])),
            unmatched(batch("oeil", vec![event(4, "oeil")])),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0].new_events, [event(4, "").id]);
    assert!(out[1].new_events.is_empty(), "{out:?}");

    // An event kept in full gains the provenance of a source whose report matched nothing.
    let o = store
        .record_poll(&unmatched(batch("cellar", vec![event(1, "cellar")])))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.new_events.is_empty());
    assert_eq!(provenance(&store, 1), ["feed", "cellar"]);

    // Event 2, unmatched in the feed, matches from another source: news.
    let o = store
        .record_poll(&batch("ep-api", vec![event(2, "ep-api")]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((o.new_events.len(), o.enqueued), (1, 1));
    assert_eq!(provenance(&store, 2), ["ep-api"]);
    assert_eq!(store.event_count(), 2);
}

/// Several sources' polls in one transaction, in order: an event reported by two of them
/// is new once (in the first) and gains the second's provenance; each batch gets its own
/// outcome and its source its own state.
#[test]
fn several_polls_are_recorded_in_one_transaction_in_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    // Between them, a source whose poll changed nothing but its own state (written
    // outside the transaction).
    let outcomes = store
        .record_polls(&[
            batch("ep-api", vec![event(1, "ep-api"), event(2, "ep-api")]),
            batch("feed", vec![]),
            batch("oeil", vec![event(2, "oeil"), event(3, "oeil")]),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<(usize, usize)> = outcomes
        .iter()
        .map(|o| (o.new_events.len(), o.enqueued))
        .collect();
    assert_eq!(counts, [(2, 2), (0, 0), (1, 1)]);
    assert_eq!(provenance(&store, 2), ["ep-api", "oeil"]);
    for (id, events) in [("ep-api", 2), ("feed", 0), ("oeil", 1)] {
        let state = store.source(id).ok().flatten().unwrap_or_default();
        assert_eq!((state.last_success, state.events), (Some(now()), events));
    }
    assert_eq!(
        store.pending("air-quality").map(|p| p.len()).unwrap_or(0),
        3
    );
    // The states read back after the write (kept in memory) are those on disk.
    let states = |store: &Store| {
        ["ep-api", "feed", "oeil", "cellar"]
            .map(|id| store.source(id).unwrap_or_else(|e| panic!("{e}")))
    };
    let in_memory = states(&store);
    drop(store);
    assert_eq!(states(&open(dir.path())), in_memory);
}

/// A database written by a version 1 veille (every event in full, schema version 1):
/// its records still read and prune, and the schema version moves to 2 so that an older
/// veille refuses the seen-only records this one writes instead of misreading them.
#[tokio::test]
async fn a_version_1_database_is_read_and_upgraded() {
    use veille::store::{EventRecord, StoredEvent, SCHEMA_VERSION};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("veille.sled");
    let old = event(7, "feed");
    {
        let db = sled::Config::new()
            .path(&path)
            .open()
            .unwrap_or_else(|e| panic!("{e}"));
        let meta = db.open_tree("meta").unwrap_or_else(|e| panic!("{e}"));
        meta.insert("schema_version", &1u32.to_be_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let events = db.open_tree("events").unwrap_or_else(|e| panic!("{e}"));
        let rec = EventRecord {
            v: 1,
            recorded_at: now(),
            event: old.clone(),
        };
        let bytes = serde_json::to_vec(&rec).unwrap_or_else(|e| panic!("{e}"));
        events
            .insert(old.id.0, bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        db.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    {
        let store = open(dir.path());
        match store
            .stored_event(&old.id)
            .unwrap_or_else(|e| panic!("{e}"))
        {
            Some(StoredEvent::Full(r)) => assert_eq!(r.event, old),
            other => panic!("expected the version 1 record, got {other:?}"),
        }
        let mut b = batch("feed", vec![old.clone()]);
        b.events[0].matches.clear();
        let o = store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
        assert!(o.new_events.is_empty(), "a version 1 event is known");
        let later = now() + chrono::Duration::days(800);
        assert_eq!(
            store
                .prune(later - chrono::Duration::days(730), later)
                .unwrap_or(0),
            1
        );
        store.flush().await.unwrap_or_else(|e| panic!("{e}"));
    }
    // sled lets go of its lock from a background thread after the last handle is dropped.
    let mut tries = 0;
    let db = loop {
        match sled::Config::new().path(&path).open() {
            Ok(db) => break db,
            Err(e) if tries < 50 => {
                tries += 1;
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let version = db
        .open_tree("meta")
        .and_then(|m| m.get("schema_version"))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|v| v.to_vec());
    assert_eq!(version, Some(SCHEMA_VERSION.to_be_bytes().to_vec()));
    assert_eq!(SCHEMA_VERSION, 3);
}

/// A version 2 database follows procedures by their bare reference: still read, and a
/// procedure found for a watchlist as a new dossier keeps its reference with for whom.
#[tokio::test]
async fn a_version_2_tracked_procedure_is_read_and_gains_its_watchlists() {
    use veille::store::{Discoveries, FoundFor};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("veille.sled");
    {
        let db = sled::Config::new()
            .path(&path)
            .open()
            .unwrap_or_else(|e| panic!("{e}"));
        let meta = db.open_tree("meta").unwrap_or_else(|e| panic!("{e}"));
        meta.insert("schema_version", &2u32.to_be_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let tracked = db.open_tree("tracked").unwrap_or_else(|e| panic!("{e}"));
        tracked
            .insert("2016-0132", "2016/0132(COD)".as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        db.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    let store = open(dir.path());
    let r: ProcedureRef = "2016/0132(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.tracked().unwrap_or_default(), vec![r]);
    let mut b = batch("ep-api", vec![]);
    b.discovery = Discoveries {
        found: vec![(
            r,
            FoundFor {
                watchlist: "eurodac".into(),
                reasons: vec!["keyword \"Eurodac\" in its title".into()],
                at: now(),
            },
        )],
        ..Discoveries::default()
    };
    store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    // A matched item naming it later does not forget for whom it was found.
    let mut again = batch("feed", vec![]);
    again.track = vec![r];
    store.record_poll(&again).unwrap_or_else(|e| panic!("{e}"));
    let records = store.tracked_records().unwrap_or_default();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].procedure.to_string(), "2016/0132(COD)");
    assert_eq!(records[0].found_for.len(), 1);
    assert_eq!(records[0].found_for[0].watchlist, "eurodac");
    store.flush().await.unwrap_or_else(|e| panic!("{e}"));
}

/// The daemon's deferral of routine poll states: an unchanged poll's state (times, count)
/// stays in memory, read by this process, and reaches the disk with the next write, after
/// `max_age`, or at shutdown; a failure is written at once. Dropping the store without the
/// shutdown write is a crash: only the routine change is lost.
#[test]
fn routine_poll_states_wait_in_memory_until_a_write_or_shutdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = |minutes: i64| now() + chrono::Duration::minutes(minutes);
    let state = |minutes: i64, polls: u64, failures: u32| SourceRecord {
        v: 1,
        next_poll_at: Some(t(minutes + 60)),
        last_attempt: Some(t(minutes)),
        last_success: (failures == 0).then(|| t(minutes)),
        failures,
        failing_since: (failures > 0).then(|| t(minutes)),
        last_error: (failures > 0).then(|| "HTTP 503".to_string()),
        polls,
        ..SourceRecord::default()
    };
    let unchanged = |source: &str, minutes: i64, polls: u64, failures: u32| PollBatch {
        state: state(minutes, polls, failures),
        now: t(minutes),
        ..batch(source, vec![])
    };
    let polls_on_disk = |source: &str| {
        let store = open(dir.path());
        store
            .source(source)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|s| s.polls)
    };
    let record = |store: &Store, b: PollBatch| {
        store.record_poll(&b).unwrap_or_else(|e| panic!("{e}"));
    };
    let opened = |deferring: bool| {
        let store = open(dir.path());
        if deferring {
            store.defer_routine_poll_states(chrono::Duration::minutes(10));
        }
        // A poll reads each source's state before recording it.
        for id in ["a", "b"] {
            store.source(id).unwrap_or_else(|e| panic!("{e}"));
        }
        store
    };

    let store = opened(true);
    record(&store, unchanged("a", 0, 1, 0));
    record(&store, unchanged("b", 0, 1, 0));
    record(&store, unchanged("a", 1, 2, 0));
    let polls = |store: &Store| store.source("a").ok().flatten().map(|s| s.polls);
    assert_eq!(
        polls(&store),
        Some(2),
        "this process reads the newest state"
    );
    drop(store);
    assert_eq!(
        polls_on_disk("a"),
        Some(1),
        "a crash loses the routine change only"
    );

    // A failure is written at once, and the routine changes waiting go with it.
    let store = opened(true);
    record(&store, unchanged("a", 2, 2, 0));
    record(&store, unchanged("b", 3, 2, 1));
    drop(store);
    assert_eq!(polls_on_disk("a"), Some(2));
    assert_eq!(polls_on_disk("b"), Some(2));

    // After max_age, the next routine change writes them all.
    let store = opened(true);
    record(&store, unchanged("a", 4, 3, 0));
    record(&store, unchanged("a", 9, 4, 0));
    record(&store, unchanged("a", 14, 5, 0));
    drop(store);
    assert_eq!(
        polls_on_disk("a"),
        Some(5),
        "written 10 minutes after the first"
    );

    // At shutdown.
    let store = opened(true);
    record(&store, unchanged("a", 15, 6, 0));
    store
        .write_deferred_poll_states()
        .unwrap_or_else(|e| panic!("{e}"));
    drop(store);
    assert_eq!(polls_on_disk("a"), Some(6));

    // A one-shot process (no deferral) writes every poll.
    let store = opened(false);
    record(&store, unchanged("a", 16, 7, 0));
    drop(store);
    assert_eq!(polls_on_disk("a"), Some(7));
}

/// The daemon's first start is recorded once: its time on a new store (a digest period
/// that ended before it was not missed); on a store that already has poll or send
/// history (written before this record existed), long ago, so missed digests still go.
/// An older record without a short cause reads as before.
#[test]
fn first_start_is_recorded_once_and_history_counts_as_long_ago() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fresh = open(dir.path());
    assert_eq!(fresh.first_start().ok().flatten(), None);
    let first = fresh
        .note_first_start(now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, now());
    let later = now() + chrono::Duration::days(3);
    assert_eq!(fresh.note_first_start(later).ok(), Some(now()), "once");
    drop(fresh);

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let used = open(dir.path());
    used.record_poll(&batch("ep-api", vec![]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        used.note_first_start(now()).ok(),
        Some(DateTime::UNIX_EPOCH),
        "a store with history started long ago"
    );
    assert_eq!(
        used.first_start().ok().flatten(),
        Some(DateTime::UNIX_EPOCH)
    );
}

#[test]
fn a_source_record_without_a_short_cause_still_reads() {
    let old = r#"{"v":1,"next_poll_at":null,"last_attempt":null,"last_success":null,"failures":2,"failing_since":null,"last_error":"HTTP 503 from https://x.eu/a","last_refresh":null,"polls":3,"events":0}"#;
    let r: SourceRecord = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.last_cause, None);
    assert_eq!(
        r.last_error.as_deref(),
        Some("HTTP 503 from https://x.eu/a")
    );
    let none = serde_json::to_string(&SourceRecord::default()).unwrap_or_default();
    assert!(!none.contains("last_cause"), "absent when none: {none}");
}

/// The store's own folder is its owner's alone even when the data folder around it exists
/// already and is open to others (sled would create it with the umask's permissions), and
/// a store folder an older version left open is closed.
#[cfg(unix)]
#[test]
fn the_store_folder_is_private_whatever_exists_around_it() {
    use std::os::unix::fs::PermissionsExt;

    use crate::support::app::TestApp;
    use crate::support::http::TestServer;
    let app = TestApp::new(TestServer::start_background(), vec![]);
    let mode = |rel: &str| {
        std::fs::metadata(app.path(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::create_dir(app.path("data")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(app.path("data"), open.clone()).unwrap_or_else(|e| panic!("{e}"));
    app.expect(None, &["poll"], 0);
    assert_eq!(
        mode("data"),
        0o755,
        "the folder around it is the operator's"
    );
    assert_eq!(mode("data/veille.sled"), 0o700);

    std::fs::set_permissions(app.path("data/veille.sled"), open).unwrap_or_else(|e| panic!("{e}"));
    app.expect(None, &["status"], 0);
    assert_eq!(mode("data/veille.sled"), 0o700);
}
