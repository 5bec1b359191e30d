//! The archive of everything seen: what veille keeps of every feed item and dossier step a
//! poll found new, matched or not ([`ArchivedEvent`], stored by `store` in the `archive`
//! tree for `storage.archive`), and the pure engine over it: what a watchlist would have
//! matched ([`backtest`], also the backfill of a new or edited watchlist), a search by
//! words or by reference ([`SearchQuery`]), and the text and JSON both commands print.
//!
//! Owns: the archived form of an event (compact: a capped summary, one provenance, the
//! procedure's titles in the association's languages and its EuroVoc subjects by id and
//! preferred label), turning it back into an event to match or to put in a digest, the
//! per-watchlist fingerprint that says a watchlist changed, and the output shapes
//! (`entries` as in `digest preview --format json`).
//!
//! Must not: read the store or the clock, or know sled; `now` and the records come in as
//! parameters, so that a web page can call the same functions later.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    Candidate, Celex, ComRef, Document, Dossier, DossierEvent, DossierRef, EuroVoc, EventId,
    EventKind, ProcedureRef, Provenance, Stage, Titles,
};
use crate::watchlist::text::normalise;
use crate::watchlist::{Match, Reason, Watchlist, WatchlistSet};

/// The longest summary kept, in characters: enough for the words a keyword finds in a
/// feed item's first lines, not a copy of the page.
pub const SUMMARY_CAP: usize = 500;

/// What the archive keeps of one event (its id is the record's key). Field names are
/// short: the record is written for every item seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    #[serde(rename = "k")]
    pub kind: EventKind,
    #[serde(rename = "st", default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub dossier: Option<ProcedureRef>,
    #[serde(rename = "dt", default, skip_serializing_if = "Option::is_none")]
    pub dossier_title: Option<String>,
    #[serde(rename = "on")]
    pub date: NaiveDate,
    #[serde(rename = "t")]
    pub title: String,
    /// At most [`SUMMARY_CAP`] characters.
    #[serde(rename = "s", default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The source that first reported it, and the URL it was read at.
    #[serde(rename = "src")]
    pub source: String,
    #[serde(rename = "at")]
    pub source_url: String,
    #[serde(rename = "seen")]
    pub seen_at: DateTime<Utc>,
    /// The other references it names (COM, CELEX, procedures).
    #[serde(rename = "m", default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<DossierRef>,
    #[serde(rename = "doc", default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    /// A step's procedure: its titles (English, French, German).
    #[serde(rename = "ti", default, skip_serializing_if = "titles_empty")]
    pub titles: Titles,
    /// A step's procedure: its EuroVoc subjects, each by id and preferred label.
    #[serde(rename = "ev", default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<EuroVoc>,
}

pub(crate) fn titles_empty(t: &Titles) -> bool {
    t.en.is_none() && t.fr.is_none() && t.de.is_none() && t.more.is_empty()
}

/// `text` cut to at most `max` characters, at a character boundary.
fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// Whether the archive keeps this kind of event: what sources reported (items, steps,
/// documents...), not what veille made for one watchlist (a new dossier's news, a
/// reminder).
pub fn archives(kind: EventKind) -> bool {
    !matches!(kind, EventKind::Discovered | EventKind::Reminder)
}

impl ArchivedEvent {
    /// What is kept of `event`; `dossier` is its procedure's merged record when the poll
    /// has it (a step's), for the titles and subjects.
    pub fn of(event: &DossierEvent, dossier: Option<&Dossier>, seen_at: DateTime<Utc>) -> Self {
        let first = event.provenance.first();
        let (titles, subjects) = Self::procedure_of(dossier);
        ArchivedEvent {
            kind: event.kind,
            stage: event.stage,
            dossier: event.dossier,
            dossier_title: event.dossier_title.clone(),
            date: event.date,
            title: event.title.clone(),
            summary: capped(&event.summary, SUMMARY_CAP),
            url: event.url.clone(),
            source: first.map(|p| p.source.clone()).unwrap_or_default(),
            source_url: first.map(|p| p.url.clone()).unwrap_or_default(),
            seen_at,
            mentions: event.mentions.clone(),
            documents: event.documents.clone(),
            titles,
            subjects,
        }
    }

    /// What the archive keeps of a step's procedure: its titles (English, French, German)
    /// and its EuroVoc subjects by id and preferred label; nothing without one.
    pub fn procedure_of(dossier: Option<&Dossier>) -> (Titles, Vec<EuroVoc>) {
        let Some(d) = dossier else {
            return (Titles::default(), Vec::new());
        };
        let titles = Titles {
            en: d.titles.en.clone(),
            fr: d.titles.fr.clone(),
            de: d.titles.de.clone(),
            more: Vec::new(),
        };
        let subjects = d
            .eurovoc
            .iter()
            .map(|c| EuroVoc {
                id: c.id.clone(),
                labels: c.labels.iter().take(1).cloned().collect(),
            })
            .collect();
        (titles, subjects)
    }

    /// The event again, as a digest shows it (its summary capped, one provenance).
    pub fn to_event(&self, id: EventId) -> DossierEvent {
        DossierEvent {
            id,
            kind: self.kind,
            stage: self.stage,
            dossier: self.dossier,
            dossier_title: self.dossier_title.clone(),
            date: self.date,
            title: self.title.clone(),
            summary: self.summary.clone(),
            url: self.url.clone(),
            documents: self.documents.clone(),
            mentions: self.mentions.clone(),
            provenance: vec![Provenance {
                source: self.source.clone(),
                url: self.source_url.clone(),
                fetched_at: self.seen_at,
            }],
        }
    }

    /// The procedure as discovery evaluates a new one: its titles and subjects.
    fn candidate(&self) -> Option<Candidate> {
        let reference = self.dossier?;
        if titles_empty(&self.titles) && self.subjects.is_empty() {
            return None;
        }
        Some(Candidate {
            reference,
            titles: self.titles.clone(),
            com: Vec::new(),
            final_act: None,
            subjects: Vec::new(),
            eurovoc: self.subjects.clone(),
        })
    }

    /// Every reference the event names: its procedure, the others it mentions, and those
    /// written in its title, summary and link.
    fn references(&self) -> Vec<DossierRef> {
        let mut out: Vec<DossierRef> = self
            .dossier
            .into_iter()
            .map(DossierRef::Procedure)
            .collect();
        out.extend(self.mentions.iter().cloned());
        let link = self.url.as_deref().map(Celex::decode_link);
        for text in [
            Some(self.title.as_str()),
            Some(self.summary.as_str()),
            link.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            out.extend(refs_in(text));
        }
        out
    }
}

/// The references written in a text: procedures, COM numbers, CELEX numbers and acts
/// named as the Official Journal names them.
fn refs_in(text: &str) -> Vec<DossierRef> {
    let mut out: Vec<DossierRef> = ProcedureRef::find_all(text)
        .into_iter()
        .map(DossierRef::Procedure)
        .collect();
    out.extend(ComRef::find_all(text).into_iter().map(DossierRef::Com));
    out.extend(Celex::find_all(text).into_iter().map(DossierRef::Celex));
    out.extend(
        Celex::find_act_names(text)
            .into_iter()
            .map(|(c, _)| DossierRef::Celex(c)),
    );
    out
}

/// Whether two references name the same thing (a COM number and its CELEX number too).
fn same_ref(a: &DossierRef, b: &DossierRef) -> bool {
    let com = |r: &DossierRef| match r {
        DossierRef::Com(c) => Some(*c),
        DossierRef::Celex(c) => c.to_com(),
        DossierRef::Procedure(_) => None,
    };
    match (a, b) {
        (DossierRef::Procedure(x), DossierRef::Procedure(y)) => x == y,
        (DossierRef::Celex(x), DossierRef::Celex(y)) => x == y,
        _ => com(a).is_some_and(|c| com(b) == Some(c)),
    }
}

/// One archived event found, with why.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: EventId,
    pub event: ArchivedEvent,
    /// The watchlist's reasons (`backtest`), or empty (`search`).
    pub matched_by: Vec<String>,
}

/// Every watchlist's match of one archived event: by its terms as a poll would match the
/// event, and, for a step of a procedure, by the procedure's titles and subjects as
/// discovery would evaluate it new (those reasons as `NewDossier`).
fn matches_of(set: &WatchlistSet, a: &ArchivedEvent) -> Vec<Match> {
    let mut all = set.matches(&a.to_event(EventId([0; 16])));
    if let Some(c) = a.candidate() {
        all.extend(set.discover(&c, &a.source).into_iter().map(|m| {
            Match {
                watchlist: m.watchlist,
                reasons: m
                    .reasons
                    .into_iter()
                    .map(|r| Reason::NewDossier(r.as_discovery()))
                    .collect(),
            }
        }));
    }
    all
}

/// What `watchlist` matches of one archived event, and why ([`matches_of`]'s rules), each
/// reason once. `None` when nothing.
pub fn match_one(set: &WatchlistSet, watchlist: &str, a: &ArchivedEvent) -> Option<Match> {
    let mut reasons: Vec<Reason> = Vec::new();
    for m in matches_of(set, a) {
        if m.watchlist == watchlist {
            for r in m.reasons {
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
            }
        }
    }
    (!reasons.is_empty()).then(|| Match {
        watchlist: watchlist.to_string(),
        reasons,
    })
}

/// Whether any of `watchlists` matches the archived event ([`matches_of`]'s rules, the
/// set's matching done once for all of them).
pub fn matches_any(set: &WatchlistSet, watchlists: &[&String], a: &ArchivedEvent) -> bool {
    matches_of(set, a)
        .iter()
        .any(|m| watchlists.contains(&&m.watchlist))
}

/// What `watchlist` would have matched among `records` (the archive since some date),
/// with its reasons, oldest first.
pub fn backtest(
    set: &WatchlistSet,
    watchlist: &str,
    records: impl IntoIterator<Item = (EventId, ArchivedEvent)>,
) -> Vec<Found> {
    records
        .into_iter()
        .filter_map(|(id, event)| {
            let m = match_one(set, watchlist, &event)?;
            Some(Found {
                id,
                matched_by: m.reasons.iter().map(|r| r.to_string()).collect(),
                event,
            })
        })
        .collect()
}

/// A search of the archive: by references (any spelling `model::refs` reads), or by words
/// (accent- and case-insensitive, every title of the event), optionally one source's.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub refs: Vec<DossierRef>,
    /// Normalised words, each to be found at the start of a word.
    pub words: Vec<String>,
    pub source: Option<String>,
}

impl SearchQuery {
    /// Read the words of `veille search`: a text that is one reference, or names some, is
    /// a search by reference; any other, by words.
    pub fn parse(text: &str, source: Option<String>) -> SearchQuery {
        let trimmed = text.trim();
        let mut refs: Vec<DossierRef> = match trimmed.parse::<DossierRef>() {
            Ok(r) if !trimmed.contains(' ') || trimmed.to_ascii_uppercase().starts_with("COM") => {
                vec![r]
            }
            _ => Vec::new(),
        };
        if refs.is_empty() {
            refs = refs_in(trimmed);
        }
        let words = match refs.is_empty() {
            true => normalise(trimmed)
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            false => Vec::new(),
        };
        SearchQuery {
            refs,
            words,
            source,
        }
    }

    /// Whether the archived event answers the query.
    pub fn hits(&self, a: &ArchivedEvent) -> bool {
        if self.source.as_deref().is_some_and(|s| s != a.source) {
            return false;
        }
        if !self.refs.is_empty() {
            let named = a.references();
            return self
                .refs
                .iter()
                .any(|q| named.iter().any(|r| same_ref(q, r)));
        }
        if self.words.is_empty() {
            return false;
        }
        let mut hay = String::new();
        for t in [&a.title, &a.summary]
            .into_iter()
            .chain(a.dossier_title.as_ref())
            .map(String::as_str)
            .chain(a.titles.all())
        {
            hay.push_str(&normalise(t));
        }
        self.words.iter().all(|w| hay.contains(&format!(" {w}")))
    }
}

/// What a search keeps of the archived events that answer it, newest first: all of them,
/// or the newest `limit`, gathered one at a time as the store reads the archive, so that
/// a search never holds more than its answer.
#[derive(Debug)]
pub struct Newest {
    limit: Option<usize>,
    found: Vec<Found>,
}

impl Newest {
    /// Keep every event pushed.
    pub fn all() -> Newest {
        Newest {
            limit: None,
            found: Vec::new(),
        }
    }

    /// Keep the newest `limit` events pushed.
    pub fn at_most(limit: usize) -> Newest {
        Newest {
            limit: Some(limit),
            found: Vec::new(),
        }
    }

    pub fn push(&mut self, id: EventId, event: ArchivedEvent) {
        self.found.push(Found {
            id,
            event,
            matched_by: Vec::new(),
        });
        if self.limit.is_some_and(|n| self.found.len() >= 4 * n) {
            self.trim();
        }
    }

    /// The events kept, newest first.
    pub fn into_found(mut self) -> Vec<Found> {
        self.trim();
        self.found
    }

    fn trim(&mut self) {
        self.found
            .sort_by_key(|f| std::cmp::Reverse((f.event.date, f.id)));
        if let Some(n) = self.limit {
            self.found.truncate(n);
        }
    }
}

/// A fingerprint of what decides what one watchlist matches (its dossiers, keywords,
/// title keywords, exclusions, subjects and sources): when it changes, or is new, the
/// watchlist's next digest reaches back into the archive.
pub fn watchlist_fingerprint(w: &Watchlist) -> String {
    let mut h = blake3::Hasher::new();
    crate::watchlist::hash_terms(&mut h, w);
    h.finalize().to_hex()[..32].to_string()
}

/// One entry of the JSON of `backtest` and `search`: the shape of `digest preview`'s.
fn entry_json(f: &Found) -> serde_json::Value {
    let a = &f.event;
    let kind = match (a.kind, a.stage) {
        (EventKind::Step, Some(s)) => s.as_str(),
        (k, _) => k.as_str(),
    };
    serde_json::json!({
        "event_id": f.id.to_hex(),
        "title": a.title,
        "url": a.url.clone().unwrap_or_else(|| a.source_url.clone()),
        "source": a.source,
        "kind": kind,
        "date": a.date.to_string(),
        "dossier": a.dossier.map(|r| r.to_string()),
        "matched_by": f.matched_by,
        "dossier_title": a.dossier_title,
    })
}

/// The JSON of `backtest`: `{"watchlist", "since", "entries": [...]}`.
pub fn backtest_json(watchlist: &str, since: NaiveDate, found: &[Found]) -> serde_json::Value {
    serde_json::json!({
        "watchlist": watchlist,
        "since": since.to_string(),
        "entries": found.iter().map(entry_json).collect::<Vec<_>>(),
    })
}

/// The JSON of `search`: `{"query", "since", "entries": [...]}`.
pub fn search_json(query: &str, since: NaiveDate, found: &[Found]) -> serde_json::Value {
    serde_json::json!({
        "query": query,
        "since": since.to_string(),
        "entries": found.iter().map(entry_json).collect::<Vec<_>>(),
    })
}

/// The text of `backtest`, grouped like a digest: each dossier's entries under its title,
/// then the items without one.
pub fn backtest_text(watchlist: &str, since: NaiveDate, found: &[Found]) -> String {
    let mut out = format!(
        "{watchlist}: {} item(s) in the archive since {since} would have matched\n",
        found.len()
    );
    let mut blocks: BTreeMap<ProcedureRef, Vec<&Found>> = BTreeMap::new();
    let mut items = Vec::new();
    for f in found {
        match f.event.dossier {
            Some(r) => blocks.entry(r).or_default().push(f),
            None => items.push(f),
        }
    }
    for (r, entries) in &blocks {
        let title = entries
            .iter()
            .find_map(|f| f.event.titles.best().or(f.event.dossier_title.as_deref()))
            .unwrap_or_default();
        out.push_str(&format!("\n## {r} {title}\n"));
        for f in entries {
            out.push_str(&line(f));
        }
    }
    if !items.is_empty() {
        out.push_str("\n## Other items\n");
        for f in items {
            out.push_str(&line(f));
        }
    }
    out
}

/// The text of `search`, newest first.
pub fn search_text(query: &str, since: NaiveDate, found: &[Found]) -> String {
    let mut out = format!(
        "{} item(s) in the archive since {since} for {query:?}\n\n",
        found.len()
    );
    for f in found {
        out.push_str(&line(f));
    }
    out
}

fn line(f: &Found) -> String {
    let a = &f.event;
    let mut s = format!(" * {} — {}\n", a.date, crate::text::one_line(&a.title));
    let link = a.url.as_deref().unwrap_or(&a.source_url);
    s.push_str(&format!("   {link}\n   source: {}", a.source));
    if let Some(d) = a.dossier {
        s.push_str(&format!(" · {d}"));
    }
    if !f.matched_by.is_empty() {
        s.push_str(&format!(" · why: {}", f.matched_by.join(", ")));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_summary_is_capped_at_a_character_boundary() {
        let s = "é".repeat(SUMMARY_CAP + 10);
        assert_eq!(capped(&s, SUMMARY_CAP).chars().count(), SUMMARY_CAP);
        assert_eq!(capped("short", SUMMARY_CAP), "short");
    }

    fn step_of_single_use_plastics() -> (DossierEvent, Dossier) {
        let reference: ProcedureRef = "2018/0172(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
        let d = crate::dossier::candidate_dossier(&Candidate {
            reference,
            titles: Titles {
                en: Some("Reduction of the impact of certain plastic products on the environment".into()),
                fr: Some("Réduction de l'incidence de certains produits en plastique sur l'environnement".into()),
                de: None,
                more: vec![("it".into(), "Riduzione dell'incidenza di determinati prodotti di plastica sull'ambiente".into())],
            },
            com: Vec::new(),
            final_act: None,
            subjects: Vec::new(),
            eurovoc: vec![EuroVoc {
                id: "2497".into(),
                labels: vec!["marine pollution".into(), "pollution of the sea".into()],
            }],
        });
        let event = DossierEvent {
            id: EventId::for_step(
                &reference,
                EventKind::Step,
                Stage::PlenaryVote,
                NaiveDate::from_ymd_opt(2019, 3, 27).unwrap_or_default(),
                "",
            ),
            kind: EventKind::Step,
            stage: Some(Stage::PlenaryVote),
            dossier: Some(reference),
            dossier_title: d.titles.en.clone(),
            date: NaiveDate::from_ymd_opt(2019, 3, 27).unwrap_or_default(),
            title: "Decision by Parliament, 1st reading".into(),
            summary: String::new(),
            url: None,
            documents: Vec::new(),
            mentions: Vec::new(),
            provenance: vec![Provenance {
                source: "ep-api".into(),
                url: "https://data.europarl.europa.eu/api/v2/procedures/2018-0172".into(),
                fetched_at: DateTime::<Utc>::default(),
            }],
        };
        (event, d)
    }

    #[test]
    fn a_step_is_found_by_its_procedures_subjects_and_french_title() {
        let (event, d) = step_of_single_use_plastics();
        let a = ArchivedEvent::of(&event, Some(&d), DateTime::<Utc>::default());
        // The 24 languages stay with the dossier; the subject keeps its preferred label.
        assert!(a.titles.more.is_empty());
        assert_eq!(a.subjects[0].labels, vec!["marine pollution".to_string()]);
        let load = |id: &str, text: &str| {
            crate::watchlist::load_str(id, std::path::Path::new("w.toml"), text, &[])
                .unwrap_or_else(|e| panic!("{e:?}"))
        };
        let set = WatchlistSet::new(vec![
            load("sea", "name = \"Sea\"\nrecipients = [\"a@example.org\"]\nsubjects = [\"Marine pollution\"]\n"),
            load("plastique", "name = \"P\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"produits en plastique\"]\n"),
            load("other", "name = \"O\"\nrecipients = [\"a@example.org\"]\nkeywords = [\"state aid\"]\n"),
        ]);
        let why = |w: &str| match_one(&set, w, &a).map(|m| m.reasons);
        assert!(
            why("sea")
                .is_some_and(|r| r.iter().any(|r| r.to_string().contains("Marine pollution"))),
            "{:?}",
            why("sea")
        );
        assert!(why("plastique").is_some());
        assert!(why("other").is_none());
        // Back to an event with the same id and what a digest shows.
        let back = a.to_event(event.id);
        assert_eq!(
            (back.id, &back.title, back.date),
            (event.id, &event.title, event.date)
        );
        assert_eq!(back.source(), "ep-api");
    }

    #[test]
    fn a_feed_item_is_a_few_hundred_bytes() {
        let (mut event, _) = step_of_single_use_plastics();
        event.kind = EventKind::Item;
        event.stage = None;
        event.dossier = None;
        event.title = "Directive (EU) 2019/904 of the European Parliament and of the Council of 5 June 2019 on the reduction of the impact of certain plastic products on the environment".into();
        event.summary = "x".repeat(2_000);
        event.url =
            Some("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32019L0904".into());
        let a = ArchivedEvent::of(&event, None, DateTime::<Utc>::default());
        let bytes = serde_json::to_vec(&a).unwrap_or_default().len();
        assert!((600..1_100).contains(&bytes), "{bytes}");
    }

    #[test]
    fn a_query_is_read_as_references_or_words() {
        for spelling in ["2021/0223(COD)", "2021-0223", "2021_223", "2021/0223/COD"] {
            let q = SearchQuery::parse(spelling, None);
            assert_eq!(q.refs.len(), 1, "{spelling}: {q:?}");
            assert!(q.words.is_empty());
        }
        let q = SearchQuery::parse("Marchés publics", None);
        assert!(q.refs.is_empty());
        assert_eq!(q.words, vec!["marches", "publics"]);
    }
}
