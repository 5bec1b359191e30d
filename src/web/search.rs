//! A small search over what veille keeps: the stored dossiers (their titles in every
//! language, their procedure, COM and CELEX references) and the matched events (title,
//! summary, dossier). A reference in any spelling finds its dossier; words are folded as
//! watchlist keywords are (case, accents) and each must begin a word of the text.
//! Scans the store on each query: a stand-in, kept apart so that the archive's search
//! can replace it.
//!
//! Must not: write to the store.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{Dossier, DossierEvent, DossierRef, EventId};
use crate::store::{Store, StoreError};
use crate::watchlist::text::normalise;
use crate::watchlist::Watchlist;

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

/// Dossiers and events for `q`: by reference when `q` is one, else by words.
pub fn search(store: &Store, _watchlists: &[Watchlist], q: &str) -> Result<Found, StoreError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(Found::default());
    }
    let dossiers = store.dossiers()?;
    let events = matched_events(store, None)?;
    if let Ok(r) = q.parse::<DossierRef>() {
        let hit: Vec<Dossier> = dossiers.into_iter().filter(|d| names(d, &r)).collect();
        let keys: Vec<_> = hit.iter().map(|d| d.reference.key()).collect();
        let events = events
            .into_iter()
            .filter(|(_, e)| {
                e.dossier.is_some_and(|p| keys.contains(&p.key())) || e.mentions.contains(&r)
            })
            .map(|(_, e)| e)
            .take(MAX_RESULTS)
            .collect();
        return Ok(Found {
            dossiers: hit,
            events,
        });
    }
    let words: Vec<String> = normalise(q)
        .split_whitespace()
        .map(|w| format!(" {w}"))
        .collect();
    if words.is_empty() {
        return Ok(Found::default());
    }
    let all = |text: &str| {
        let t = normalise(text);
        words.iter().all(|w| t.contains(w.as_str()))
    };
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
            all(&text.join(" \u{1f} "))
        })
        .take(MAX_RESULTS)
        .collect();
    let events = events
        .into_iter()
        .filter(|(_, e)| {
            all(&format!(
                "{} {} {}",
                e.title,
                e.summary,
                e.dossier_title.as_deref().unwrap_or("")
            ))
        })
        .map(|(_, e)| e)
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
