//! The web window's search: the stored dossiers (their titles in every language, their
//! procedure, COM and CELEX references) and the archive of everything seen, by the
//! engine of `veille search` (`archive::SearchQuery`). A reference in any spelling finds
//! its dossier; words are folded as watchlist keywords are (case, accents) and each must
//! begin a word of the text. Scans on each query, holding only the newest hits (see
//! docs/performance.md, the archive).
//!
//! Must not: write to the store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::archive::{Newest, SearchQuery};

use crate::model::{Dossier, DossierEvent, DossierRef, EventId};
use crate::store::{Store, StoreError};
use crate::watchlist::text::normalise;

/// The most results of each kind a query shows.
const MAX_RESULTS: usize = 50;

/// What a query found.
#[derive(Debug, Default)]
pub struct Found {
    pub dossiers: Vec<Dossier>,
    /// Newest first.
    pub events: Vec<DossierEvent>,
}

/// The matched events of one watchlist (or of all), pending or sent, with when each was
/// recorded, newest first; events pruned since are left out.
pub fn matched_events(
    store: &Store,
    watchlist: Option<&str>,
) -> Result<Vec<(DateTime<Utc>, DossierEvent)>, StoreError> {
    let mut ids: BTreeMap<EventId, ()> = BTreeMap::new();
    let mut out: Vec<(DateTime<Utc>, DossierEvent)> = Vec::new();
    let lists: Vec<String> = match watchlist {
        Some(w) => vec![w.to_string()],
        None => store.pending_counts()?.keys().cloned().collect(),
    };
    for w in &lists {
        for p in store.pending(w)? {
            if ids.insert(p.event.id, ()).is_none() {
                out.push((p.recorded_at, p.event));
            }
        }
    }
    for (_, s) in store.sent_log()? {
        if watchlist.is_some_and(|w| w != s.watchlist) {
            continue;
        }
        for id in s.event_ids {
            if ids.contains_key(&id) {
                continue;
            }
            ids.insert(id, ());
            if let Some(r) = store.event(&id)? {
                out.push((r.recorded_at, r.event));
            }
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse((e.1.date, e.0)));
    Ok(out)
}

/// Dossiers and events for `q`: by reference when `q` is one, else by words. The events
/// are the archive's (everything seen, matched or not), found by the same engine as
/// `veille search`.
pub fn search(store: &Store, q: &str) -> Result<Found, StoreError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(Found::default());
    }
    let query = SearchQuery::parse(q, None);
    let events: Vec<DossierEvent> = store
        .archive_search(NaiveDate::MIN, &query, Newest::at_most(MAX_RESULTS))?
        .into_iter()
        .map(|f| f.event.to_event(f.id))
        .collect();
    let dossiers = store.dossiers()?;
    if !query.refs.is_empty() {
        let hit: Vec<Dossier> = dossiers
            .into_iter()
            .filter(|d| query.refs.iter().any(|r| names(d, r)))
            .take(MAX_RESULTS)
            .collect();
        return Ok(Found {
            dossiers: hit,
            events,
        });
    }
    if query.words.is_empty() {
        return Ok(Found::default());
    }
    let hit: Vec<Dossier> = dossiers
        .into_iter()
        .filter(|d| {
            let t = &d.titles;
            let mut text: Vec<String> = [&t.en, &t.fr, &t.de]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            text.extend(t.more.iter().map(|(_, s)| s.clone()));
            text.push(d.reference.to_string());
            let hay = normalise(&text.join(" \u{1f} "));
            query.words.iter().all(|w| hay.contains(&format!(" {w}")))
        })
        .take(MAX_RESULTS)
        .collect();
    Ok(Found {
        dossiers: hit,
        events,
    })
}

/// Whether a dossier is named by a reference (its procedure, a COM or CELEX number).
fn names(d: &Dossier, r: &DossierRef) -> bool {
    match r {
        DossierRef::Procedure(p) => d.reference.key() == p.key(),
        DossierRef::Com(c) => d.com.contains(c),
        DossierRef::Celex(c) => {
            d.final_act.as_ref() == Some(c) || c.to_com().is_some_and(|com| d.com.contains(&com))
        }
    }
}
