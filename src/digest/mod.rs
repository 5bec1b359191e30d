//! Digests: building what one watchlist is told for one period (or in a same-day alert)
//! and rendering it to a subject, plain text and HTML, plus the JSON of
//! `digest preview --format json`.
//!
//! Owns: grouping matched events by dossier, the one-line stage path of each dossier,
//! the "new dossiers in your field" section (procedures veille found for the watchlist),
//! the "earlier, now matched" section (what a new or edited watchlist matches in the
//! archive, enqueued once with reasons marked by [`earlier_reason`]),
//! the "coming up" and "sources" sections, the subject line, the templates (embedded,
//! HTML with autoescape) and the JSON contract of `digest preview --format json`.
//!
//! Must not: send mail, read the store, read files or the clock — `now` and everything
//! else come in through [`DigestRequest`]. Every string from a source is untrusted: it is
//! stripped of control characters and escaped in HTML, and only `http(s)` URLs become links.

mod render;

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::{Dossier, DossierEvent, EventId, EventKind, Language, ProcedureRef, Stage};

pub(crate) use render::{html_formatter, safe_link};
pub use render::{render, render_with_links, with_stop_line, Rendered, WebLinks};

/// How far ahead the "coming up" section looks by default (eight weeks).
pub const UPCOMING_HORIZON_DAYS: i64 = 56;
/// The longest stage path shown; older stages are elided with "…".
pub const MAX_PATH_STAGES: usize = 8;

/// How a reason says that its event was enqueued from the archive, when the watchlist
/// appeared or changed: such entries go under "Earlier, now matched", the mark removed.
/// (A mark in the reason, which the pending record stores as it is, so that delivery
/// needs no field of its own for it.)
pub const EARLIER_MARK: &str = "earlier: ";

/// A reason of an event enqueued from the archive ([`EARLIER_MARK`]).
pub fn earlier_reason(reason: &str) -> String {
    format!("{EARLIER_MARK}{reason}")
}

/// Whether an entry came from the archive, and then its reasons without the mark.
fn from_archive(entry: &mut DigestEntry) -> bool {
    let earlier = entry.reasons.iter().any(|r| r.starts_with(EARLIER_MARK));
    if earlier {
        for r in &mut entry.reasons {
            if let Some(rest) = r.strip_prefix(EARLIER_MARK) {
                *r = rest.to_string();
            }
        }
    }
    earlier
}

/// One matched event and why it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub event: DossierEvent,
    /// Why the watchlist matched: `dossier 2011/0438(COD)`, `keyword "marchés publics"`.
    pub reasons: Vec<String>,
    /// Already sent as a same-day alert.
    pub alerted: bool,
}

/// A step or deadline announced for a future date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upcoming {
    pub date: NaiveDate,
    pub stage: Stage,
    pub label: String,
    pub dossier: Option<ProcedureRef>,
    pub dossier_title: Option<String>,
    pub url: Option<String>,
}

/// The health of one configured source, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub id: String,
    pub ok: bool,
    pub last_success: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub failures: u32,
    /// The whole error of the last failed poll (for `digest preview --format json`).
    pub last_error: Option<String>,
    /// The same failure in a few words ("cannot resolve data.europarl.europa.eu", "HTTP
    /// 503"): what the digest's readers see.
    #[serde(default)]
    pub cause: Option<String>,
}

impl SourceHealth {
    /// Whether the digest must name this source: failing now, or failed during the
    /// period (a failure count or a failure start is still recorded).
    pub fn needs_mention(&self) -> bool {
        !self.ok || self.failures > 0 || self.failing_since.is_some()
    }
}

/// Everything a digest is built from. The caller (the digest job) reads the store and
/// the clock; this module does neither.
#[derive(Debug, Clone)]
pub struct DigestRequest<'a> {
    /// How far ahead "coming up" looks, in days (see [`UPCOMING_HORIZON_DAYS`]).
    pub horizon_days: i64,
    pub watchlist_id: &'a str,
    pub watchlist_name: &'a str,
    pub language: Language,
    /// The end of the previous digest, `None` for the first one.
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: DateTime<Utc>,
    /// The time zone dates and times are shown in.
    pub tz: crate::tz::Tz,
    pub entries: Vec<DigestEntry>,
    /// The merged timelines of the dossiers concerned.
    pub dossiers: Vec<Dossier>,
    pub upcoming: Vec<Upcoming>,
    pub sources: Vec<SourceHealth>,
    pub now: DateTime<Utc>,
}

/// A weekly/daily digest or a same-day alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestKind {
    Digest,
    Alert,
}

/// The entries of one dossier, with its title and stage path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DossierBlock {
    pub reference: ProcedureRef,
    pub title: String,
    /// Stages from the timeline, consecutive duplicates and `other` removed; the last is
    /// the current one. At most [`MAX_PATH_STAGES`].
    pub path: Vec<Stage>,
    /// Whether older stages were left out of `path`.
    pub path_elided: bool,
    /// In date order.
    pub entries: Vec<DigestEntry>,
}

/// A built digest: grouped, sorted and ready to render or serialise.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub kind: DigestKind,
    pub watchlist_id: String,
    pub watchlist_name: String,
    pub language: Language,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: DateTime<Utc>,
    #[serde(serialize_with = "serialize_tz")]
    pub tz: crate::tz::Tz,
    pub now: DateTime<Utc>,
    /// New dossiers found for the watchlist (events of kind `discovered`), in date order.
    pub discovered: Vec<DigestEntry>,
    /// Dossier blocks, most recent news first.
    pub dossiers: Vec<DossierBlock>,
    /// Matched items without a dossier, in date order.
    pub items: Vec<DigestEntry>,
    /// What the watchlist, new or edited, matches in the archive and was never sent: told
    /// once, in date order.
    pub earlier: Vec<DigestEntry>,
    /// Within the request's horizon of `now`, sorted by date (empty in alerts).
    pub upcoming: Vec<Upcoming>,
    /// Every source, sorted by id.
    pub sources: Vec<SourceHealth>,
    /// `(k, n)`: this message is part `k` of `n` of one digest too large for one message
    /// (see [`Digest::into_parts`]); `None` for a digest sent whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<(usize, usize)>,
}

fn serialize_tz<S: Serializer>(tz: &crate::tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// Rendering failed: a template error (a bug, not bad data).
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("digest template {template}: {source}")]
    Template {
        template: &'static str,
        #[source]
        source: minijinja::Error,
    },
}

impl Digest {
    /// Nothing to tell: no entry and, for a digest, no source to warn about. Upcoming
    /// steps alone do not justify a mail; a broken source does, so that silence never
    /// hides it.
    pub fn is_empty(&self) -> bool {
        let no_entries = self.dossiers.is_empty()
            && self.items.is_empty()
            && self.discovered.is_empty()
            && self.earlier.is_empty();
        match self.kind {
            DigestKind::Alert => no_entries,
            DigestKind::Digest => no_entries && !self.sources.iter().any(|s| s.needs_mention()),
        }
    }

    /// The number of matched events.
    pub fn entry_count(&self) -> usize {
        self.discovered.len()
            + self.dossiers.iter().map(|d| d.entries.len()).sum::<usize>()
            + self.items.len()
            + self.earlier.len()
    }

    /// Every entry in display order: new dossiers, dossier blocks, other items, then
    /// the earlier ones now matched.
    pub fn entries(&self) -> impl Iterator<Item = &DigestEntry> {
        self.discovered
            .iter()
            .chain(self.dossiers.iter().flat_map(|d| d.entries.iter()))
            .chain(self.items.iter())
            .chain(self.earlier.iter())
    }

    /// The ids of every event the digest carries, in display order (for the sent log).
    pub fn event_ids(&self) -> Vec<EventId> {
        self.entries().map(|e| e.event.id).collect()
    }

    /// The sources the digest warns about.
    pub fn troubled_sources(&self) -> impl Iterator<Item = &SourceHealth> {
        self.sources.iter().filter(|s| s.needs_mention())
    }

    /// The digest as messages of at most `max_events` events each (`max_events` ≥ 1), in
    /// display order; the digest itself, whole, when it fits in one.
    ///
    /// A digest that gathered tens of thousands of events (a broad watchlist, weeks of a
    /// stopped relay) would be one message of tens of megabytes, which relays refuse and
    /// which stays pending, growing, for ever. In parts, each message is delivered (and
    /// its events cleared) on its own. A dossier's entries stay in one part unless they
    /// alone are more than `max_events`; a dossier split across parts keeps its heading
    /// in each. "Coming up" and the sources' health are told once, in the first part.
    pub fn into_parts(self, max_events: usize) -> Vec<Digest> {
        let max = max_events.max(1);
        if self.entry_count() <= max {
            return vec![self];
        }
        let Digest {
            kind,
            watchlist_id,
            watchlist_name,
            language,
            period_start,
            period_end,
            tz,
            now,
            discovered,
            dossiers,
            items,
            earlier,
            upcoming,
            sources,
            part: _,
        } = self;
        let empty = |upcoming, sources| Digest {
            kind,
            watchlist_id: watchlist_id.clone(),
            watchlist_name: watchlist_name.clone(),
            language,
            period_start,
            period_end,
            tz,
            now,
            discovered: Vec::new(),
            dossiers: Vec::new(),
            items: Vec::new(),
            earlier: Vec::new(),
            upcoming,
            sources,
            part: None,
        };
        let mut parts = vec![empty(upcoming, sources)];
        // The entries in the last part so far.
        let mut filled = 0;
        // The part one more entry goes to: the last, or a new one when the last is full.
        let room = |parts: &mut Vec<Digest>, filled: &mut usize| -> usize {
            if *filled == max {
                parts.push(empty(Vec::new(), Vec::new()));
                *filled = 0;
            }
            *filled += 1;
            parts.len() - 1
        };
        for entry in discovered {
            let at = room(&mut parts, &mut filled);
            parts[at].discovered.push(entry);
        }
        for mut block in dossiers {
            // A block that does not fit where there is room starts a new part.
            if block.entries.len() > max - filled {
                if filled > 0 {
                    parts.push(empty(Vec::new(), Vec::new()));
                    filled = 0;
                }
                // A block larger than a whole part fills parts of its own.
                while block.entries.len() > max {
                    let rest = block.entries.split_off(max);
                    let head = DossierBlock {
                        reference: block.reference,
                        title: block.title.clone(),
                        path: block.path.clone(),
                        path_elided: block.path_elided,
                        entries: std::mem::replace(&mut block.entries, rest),
                    };
                    parts.last_mut().expect("one part").dossiers.push(head);
                    parts.push(empty(Vec::new(), Vec::new()));
                }
            }
            if !block.entries.is_empty() {
                filled += block.entries.len();
                parts.last_mut().expect("one part").dossiers.push(block);
            }
        }
        for item in items {
            let at = room(&mut parts, &mut filled);
            parts[at].items.push(item);
        }
        for entry in earlier {
            let at = room(&mut parts, &mut filled);
            parts[at].earlier.push(entry);
        }
        let n = parts.len();
        for (k, d) in parts.iter_mut().enumerate() {
            d.part = Some((k + 1, n));
        }
        parts
    }

    /// The rest of a digest sent in parts, whose parts before `first` went already: as
    /// [`Digest::into_parts`], numbered on from `first` (a rest that fits in one message
    /// is still a part: the last).
    pub fn into_parts_from(self, max_events: usize, first: usize) -> Vec<Digest> {
        let mut parts = self.into_parts(max_events);
        let last = first + parts.len() - 1;
        for (i, d) in parts.iter_mut().enumerate() {
            d.part = Some((first + i, last));
        }
        parts
    }
}

/// Build a periodic digest.
pub fn build(req: DigestRequest) -> Digest {
    build_kind(req, DigestKind::Digest)
}

/// Build a short same-day alert for decisive steps: the entries given (the caller chose
/// them by the watchlist's `alert_on`), grouped like a digest, without "coming up".
pub fn build_alert(req: DigestRequest) -> Digest {
    build_kind(req, DigestKind::Alert)
}

fn build_kind(req: DigestRequest, kind: DigestKind) -> Digest {
    let entries = merge_duplicates(req.entries);
    // Indexes, not scans: a digest may gather tens of thousands of events (a broad
    // watchlist, or the first digest after a long outage).
    let mut dossiers: HashMap<ProcedureRef, &Dossier> = HashMap::with_capacity(req.dossiers.len());
    for d in &req.dossiers {
        dossiers.entry(d.reference).or_insert(d);
    }
    let mut blocks: Vec<DossierBlock> = Vec::new();
    let mut block_of: HashMap<ProcedureRef, usize> = HashMap::new();
    let mut items: Vec<DigestEntry> = Vec::new();
    let mut discovered: Vec<DigestEntry> = Vec::new();
    let mut earlier: Vec<DigestEntry> = Vec::new();
    for mut entry in entries {
        if kind == DigestKind::Alert {
            entry.alerted = false;
        }
        if from_archive(&mut entry) {
            earlier.push(entry);
            continue;
        }
        if entry.event.kind == EventKind::Discovered {
            discovered.push(entry);
            continue;
        }
        let Some(reference) = entry.event.dossier else {
            items.push(entry);
            continue;
        };
        match block_of.get(&reference) {
            Some(&i) => blocks[i].entries.push(entry),
            None => {
                let dossier = dossiers.get(&reference).copied();
                let title = dossier_title(dossier, &entry, req.language, reference);
                let (path, path_elided) = dossier.map(stage_path).unwrap_or_default();
                block_of.insert(reference, blocks.len());
                blocks.push(DossierBlock {
                    reference: dossier.map_or(reference, |d| d.reference.merge(reference)),
                    title,
                    path,
                    path_elided,
                    entries: vec![entry],
                });
            }
        }
    }
    for b in &mut blocks {
        b.entries.sort_by(entry_order);
    }
    // Most recent news first; ties by reference for a stable order.
    blocks.sort_by_cached_key(|b| {
        let latest = b.entries.iter().map(|e| e.event.date).max();
        (std::cmp::Reverse(latest), b.reference)
    });
    items.sort_by(entry_order);
    discovered.sort_by(entry_order);
    earlier.sort_by(entry_order);

    let today = req.now.with_timezone(&req.tz).date_naive();
    let horizon = today + Duration::days(req.horizon_days);
    let mut upcoming: Vec<Upcoming> = match kind {
        DigestKind::Alert => Vec::new(),
        DigestKind::Digest => req
            .upcoming
            .into_iter()
            .filter(|u| u.date >= today && u.date <= horizon)
            .collect(),
    };
    upcoming.sort_by(|a, b| {
        (a.date, a.stage, &a.label, a.dossier).cmp(&(b.date, b.stage, &b.label, b.dossier))
    });
    upcoming.dedup();

    let mut sources = req.sources;
    sources.sort_by(|a, b| a.id.cmp(&b.id));

    Digest {
        kind,
        watchlist_id: req.watchlist_id.to_string(),
        watchlist_name: req.watchlist_name.to_string(),
        language: req.language,
        period_start: req.period_start,
        period_end: req.period_end,
        tz: req.tz,
        now: req.now,
        discovered,
        dossiers: blocks,
        items,
        earlier,
        upcoming,
        sources,
        part: None,
    }
}

/// One entry per event id: reasons are united, `alerted` if any copy was.
fn merge_duplicates(entries: Vec<DigestEntry>) -> Vec<DigestEntry> {
    let mut out: Vec<DigestEntry> = Vec::with_capacity(entries.len());
    let mut index: HashMap<EventId, usize> = HashMap::with_capacity(entries.len());
    for e in entries {
        match index.get(&e.event.id).map(|&i| &mut out[i]) {
            Some(o) => {
                for r in e.reasons {
                    if !o.reasons.contains(&r) {
                        o.reasons.push(r);
                    }
                }
                o.alerted |= e.alerted;
            }
            None => {
                index.insert(e.event.id, out.len());
                out.push(e);
            }
        }
    }
    out
}

fn entry_order(a: &DigestEntry, b: &DigestEntry) -> std::cmp::Ordering {
    (a.event.date, a.event.stage, &a.event.title, a.event.id).cmp(&(
        b.event.date,
        b.event.stage,
        &b.event.title,
        b.event.id,
    ))
}

fn dossier_title(
    dossier: Option<&Dossier>,
    entry: &DigestEntry,
    lang: Language,
    reference: ProcedureRef,
) -> String {
    let from_dossier = dossier.and_then(|d| {
        let preferred = match lang {
            Language::En => d.titles.en.as_deref(),
            Language::Fr => d.titles.fr.as_deref(),
        };
        preferred.or(d.titles.best()).map(str::to_string)
    });
    from_dossier
        .or_else(|| entry.event.dossier_title.clone())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| reference.to_string())
}

/// The stages of a timeline in order, without `other` and consecutive repeats, keeping
/// the last [`MAX_PATH_STAGES`].
fn stage_path(d: &Dossier) -> (Vec<Stage>, bool) {
    let mut path: Vec<Stage> = Vec::new();
    for step in &d.timeline {
        if step.stage != Stage::Other && path.last() != Some(&step.stage) {
            path.push(step.stage);
        }
    }
    if path.len() > MAX_PATH_STAGES {
        let cut = path.len() - MAX_PATH_STAGES;
        path.drain(..cut);
        (path, true)
    } else {
        (path, false)
    }
}

fn date_time(t: Option<DateTime<Utc>>) -> serde_json::Value {
    match t {
        Some(t) => serde_json::Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => serde_json::Value::Null,
    }
}

/// The JSON of `digest preview --format json`. The contract fields
/// (`watchlist`, `entries[].{event_id,title,url,source,kind,date,dossier,matched_by}`,
/// `sources[].{id,ok,last_success,failures}`) stay; others may be added. An entry of the
/// "earlier, now matched" section (last) has `"earlier": true`.
pub fn to_json(d: &Digest) -> serde_json::Value {
    use serde_json::json;
    // The earlier ones now matched come last (`Digest::entries`).
    let first_earlier = d.entry_count() - d.earlier.len();
    let entries: Vec<serde_json::Value> = d
        .entries()
        .enumerate()
        .map(|(i, e)| {
            let ev = &e.event;
            let mut entry = json!({
                "event_id": ev.id.to_hex(),
                "title": ev.title,
                "url": ev.url.clone().or_else(|| ev.provenance.first().map(|p| p.url.clone())),
                "source": ev.source(),
                "kind": ev.kind_name(),
                "date": ev.date.to_string(),
                "dossier": ev.dossier.map(|r| r.to_string()),
                "matched_by": e.reasons,
                "alerted": e.alerted,
                "stage": ev.stage.map(|s| s.as_str()),
                "dossier_title": ev.dossier_title,
            });
            if i >= first_earlier {
                entry["earlier"] = json!(true);
            }
            entry
        })
        .collect();
    let dossiers: Vec<serde_json::Value> = d
        .dossiers
        .iter()
        .map(|b| {
            json!({
                "reference": b.reference.to_string(),
                "title": b.title,
                "stage_path": b.path.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "current_stage": b.path.last().map(|s| s.as_str()),
            })
        })
        .collect();
    let upcoming: Vec<serde_json::Value> = d
        .upcoming
        .iter()
        .map(|u| {
            json!({
                "date": u.date.to_string(),
                "stage": u.stage.as_str(),
                "label": u.label,
                "dossier": u.dossier.map(|r| r.to_string()),
                "dossier_title": u.dossier_title,
                "url": u.url,
            })
        })
        .collect();
    let sources: Vec<serde_json::Value> = d
        .sources
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "ok": s.ok,
                "last_success": date_time(s.last_success),
                "failures": s.failures,
                "failing_since": date_time(s.failing_since),
                "last_error": s.last_error,
                "cause": s.cause,
            })
        })
        .collect();
    json!({
        "watchlist": d.watchlist_id,
        "watchlist_name": d.watchlist_name,
        "kind": d.kind,
        "language": d.language.as_str(),
        "period_start": date_time(d.period_start),
        "period_end": date_time(Some(d.period_end)),
        "entries": entries,
        "dossiers": dossiers,
        "upcoming": upcoming,
        "sources": sources,
    })
}
