//! Watchlists: loading `watchlists/*.toml` with every error located at file:line:column,
//! and matching events against all watchlists at once (one Aho–Corasick pass over the
//! normalised text, plus a lookup of every dossier reference the event names); and
//! evaluating a procedure veille did not know ([`WatchlistSet::discover`]: every title,
//! its references, its EuroVoc subjects).
//! Owns the watchlist format (docs/watchlists.md). Must not read files after loading,
//! touch the store, or read the clock: matching is pure.

mod load;
mod matcher;
pub mod text;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::model::{
    Candidate, Celex, DossierEvent, DossierRef, ItemEvent, Language, ProcedureRef, Stage,
};
use crate::schedule::DigestSchedule;

pub use load::{
    check_channels, load_dir, load_dir_checked, load_dir_partly, load_str, load_str_warned,
    ChannelRef, Loaded,
};

/// The largest watchlist file read: far more than any focus group writes (the largest
/// shipped watchlist is a few kilobytes), small enough that checking it takes a moment.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// One focus group's watchlist, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Watchlist {
    /// The file stem: `public-procurement`.
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    pub recipients: Vec<String>,
    pub digest: DigestSchedule,
    /// Stages that also send a same-day alert.
    pub alert_on: Vec<Stage>,
    pub dossiers: Vec<DossierRef>,
    /// As the officer wrote them.
    pub keywords: Vec<String>,
    /// Keywords that count in a title only (an event's title, its dossier's title, a new
    /// procedure's titles), never in a summary: a field's broad name ("climate",
    /// "cohesion") that summaries use in passing.
    pub title_keywords: Vec<String>,
    pub exclude: Vec<String>,
    /// Phrases whose words do not count as keywords ("Committee on Industry, Research and
    /// Energy" for the keyword "energy"): a keyword found only inside one of them is not a
    /// match; the rest of the text still counts.
    pub ignore: Vec<String>,
    /// EuroVoc subjects as the officer wrote them: a label (`"plastic waste"`) or an id
    /// (`"eurovoc:4493"`). Matched against the CELLAR notice of a new procedure.
    pub subjects: Vec<String>,
    /// Source ids; empty means every source.
    pub sources: Vec<String>,
    /// Source ids whose every item belongs to the group whatever its words (a field's own
    /// news feed), unless one of the watchlist's exclusions is in its title or summary.
    pub all_items_from: Vec<String>,
    pub language: Language,
    /// Ids of `[channels.ID]` in config.toml that also receive its alerts and digests.
    pub channels: Vec<String>,
    /// Where each channel is named in the file (for `veille check`).
    pub channel_refs: Vec<ChannelRef>,
    /// The officer who runs the group: `Reply-To`, `List-Unsubscribe` and the "to stop
    /// receiving these" line.
    pub contact: Option<String>,
}

/// One problem in one watchlist file, located at the offending value; `line` 0 for a
/// problem of the whole file (it could not be read, or was refused before reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchlistError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl WatchlistError {
    /// A problem of the whole file, not of a place in it.
    pub fn whole_file(file: &Path, message: impl Into<String>, hint: impl Into<String>) -> Self {
        WatchlistError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl WatchlistError {
    /// The problem as a warning: `file:line:col: warning: message`, then the hint.
    pub fn warning_text(&self) -> String {
        let mut w = self.clone();
        w.message = format!("warning: {}", self.message);
        w.to_string()
    }
}

impl fmt::Display for WatchlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WatchlistError {}

/// Why a watchlist matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A listed dossier, in its canonical spelling.
    Dossier(String),
    /// A keyword as the officer wrote it.
    Keyword(String),
    /// A EuroVoc subject as the officer wrote it, carried by the procedure's notice.
    Subject(String),
    /// A source whose every item the watchlist takes (`all_items_from`), by its id.
    Source(String),
    /// The news that a procedure veille did not know was found for the watchlist, and
    /// why ([`Reason::as_discovery`]).
    NewDossier(String),
    /// A step of a dossier found earlier for the watchlist as a new dossier, and why.
    FoundBefore(String),
}

impl Reason {
    /// Why a new procedure was found for a watchlist: where the term was seen.
    /// `keyword "customs duties" in its title`, `subject "plastic waste" (EuroVoc)`.
    pub fn as_discovery(&self) -> String {
        match self {
            Reason::Keyword(k) => format!("keyword \"{k}\" in its title"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A listed act is shown by the name the Official Journal gives it.
            Reason::Dossier(d) => match d.parse::<Celex>().ok().and_then(|c| c.oj_name()) {
                Some(name) => write!(f, "act \"{name}\" ({d})"),
                None => write!(f, "dossier {d}"),
            },
            Reason::Keyword(k) => write!(f, "keyword \"{k}\""),
            Reason::Subject(s) => write!(f, "subject \"{s}\" (EuroVoc)"),
            Reason::Source(s) => write!(f, "every item of source \"{s}\""),
            Reason::NewDossier(why) => write!(f, "new dossier: {why}"),
            Reason::FoundBefore(why) => write!(f, "a dossier found for you as new ({why})"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One watchlist that matched, with every reason (deduplicated, in the watchlist's order:
/// dossiers first, then keywords).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub watchlist: String,
    pub reasons: Vec<Reason>,
}

/// Keywords of a watchlist found in one text but cancelled there by its exclusions, as the
/// officer wrote both (for `veille match`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancelled {
    pub watchlist: String,
    /// Which of the texts given to [`WatchlistSet::explain`] (0: the title, 1: the summary).
    pub field: usize,
    pub keywords: Vec<String>,
    pub excludes: Vec<String>,
}

/// What `veille match` says: the watchlists matched, and the keyword matches that an
/// exclusion cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explained {
    pub matches: Vec<Match>,
    pub cancelled: Vec<Cancelled>,
    /// Title keywords found in the summary, where they do not count.
    pub title_only: Vec<TitleOnly>,
    /// Keywords found only inside a phrase their watchlist ignores.
    pub ignored: Vec<Ignored>,
    /// Items of a source taken whole that an exclusion leaves out (`--source` only).
    pub left_out: Vec<LeftOut>,
}

/// An item of a source a watchlist takes whole, left out by the watchlist's exclusions
/// found in its texts (for `veille match --source`), as the officer wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub watchlist: String,
    pub source: String,
    pub excludes: Vec<String>,
}

/// A keyword of a watchlist found in a text only inside a phrase the watchlist ignores
/// (for `veille match`), as the officer wrote both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub watchlist: String,
    pub keyword: String,
    pub phrase: String,
}

/// Title keywords of a watchlist found outside the title, where they do not count (for
/// `veille match`), as the officer wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TitleOnly {
    pub watchlist: String,
    pub keywords: Vec<String>,
}

/// Every loaded watchlist and their compiled matcher. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct WatchlistSet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lists: Vec<Watchlist>,
    matcher: matcher::Matcher,
    /// See [`WatchlistSet::fingerprint`]: computed once, read at every poll step.
    fingerprint: String,
}

impl WatchlistSet {
    /// Compile the matcher for these lists, once.
    pub fn new(lists: Vec<Watchlist>) -> Self {
        let matcher = matcher::Matcher::new(&lists);
        let fingerprint = fingerprint_of(&lists);
        WatchlistSet {
            inner: Arc::new(Inner {
                lists,
                matcher,
                fingerprint,
            }),
        }
    }

    pub fn lists(&self) -> &[Watchlist] {
        &self.inner.lists
    }

    pub fn get(&self, id: &str) -> Option<&Watchlist> {
        self.inner.lists.iter().find(|l| l.id == id)
    }

    /// Which watchlists this event concerns, and why: the one entry point. The event says
    /// itself whether the references in its text are already read ([`Matchable`]): a
    /// fresh feed item's ([`ItemEvent`]) are in its dossier and mentions, so its text is
    /// searched for keywords only (reading the references twice was 3 % of a first
    /// poll); any other event is read in full. Same answer either way.
    pub fn matches<E: Matchable + ?Sized>(&self, event: &E) -> Vec<Match> {
        self.inner
            .matcher
            .matches(&self.inner.lists, event.event(), event.text_refs_read())
    }

    /// Which watchlists want a procedure veille did not know, and why: a keyword in one
    /// of its titles (every language, each title on its own for exclusions), its
    /// reference or one of its COM and CELEX numbers listed, or a EuroVoc subject of its
    /// notice. `source` is the source that brought what was evaluated: a watchlist
    /// limited to other sources is not asked.
    pub fn discover(&self, candidate: &Candidate, source: &str) -> Vec<Match> {
        self.inner
            .matcher
            .discover(&self.inner.lists, candidate, source)
    }

    /// A fingerprint of what decides discoveries (every watchlist's id, dossiers,
    /// keywords, title keywords, exclusions, subjects and sources): the candidates
    /// remembered are evaluated again when it changes.
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    /// Which watchlists a free text matches, read as a title (title keywords count);
    /// `only` restricts the answer to one watchlist id. Source filters do not apply.
    pub fn match_text(&self, text: &str, only: Option<&str>) -> Vec<Match> {
        self.inner
            .matcher
            .match_text(&self.inner.lists, text)
            .into_iter()
            .filter(|m| only.is_none_or(|o| m.watchlist == o))
            .collect()
    }

    /// Which watchlists these texts match (a title and a summary, as a feed item carries
    /// them), and which keyword matches an exclusion cancelled: `veille match`. The
    /// texts' references are read together; each text is searched for keywords on its
    /// own, as in a poll. `source`, when given, is the source the item would come from
    /// (sources taken whole, and watchlists limited to other sources); `only` restricts
    /// the answer to one watchlist id.
    pub fn explain(&self, texts: &[&str], source: Option<&str>, only: Option<&str>) -> Explained {
        let lists = &self.inner.lists;
        let mut e = self.inner.matcher.explain(lists, texts, source);
        let wanted = |id: &str| only.is_none_or(|o| id == o);
        e.matches.retain(|m| wanted(&m.watchlist));
        e.cancelled.retain(|c| wanted(&c.watchlist));
        e.title_only.retain(|t| wanted(&t.watchlist));
        e.ignored.retain(|i| wanted(&i.watchlist));
        e.left_out.retain(|l| wanted(&l.watchlist));
        e
    }

    /// Every procedure listed in any watchlist, once, sorted.
    pub fn tracked_dossiers(&self) -> Vec<ProcedureRef> {
        let mut out: Vec<ProcedureRef> = Vec::new();
        for l in &self.inner.lists {
            for d in &l.dossiers {
                if let DossierRef::Procedure(p) = d {
                    match out.iter_mut().find(|q| *q == p) {
                        Some(q) => *q = q.merge(*p),
                        None => out.push(*p),
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// What the matcher reads: an event, and whether the references written in its title,
/// summary and link are already in its `dossier` and `mentions`.
pub trait Matchable {
    fn event(&self) -> &DossierEvent;
    fn text_refs_read(&self) -> bool;
}

impl Matchable for DossierEvent {
    fn event(&self) -> &DossierEvent {
        self
    }
    fn text_refs_read(&self) -> bool {
        false
    }
}

impl Matchable for ItemEvent {
    fn event(&self) -> &DossierEvent {
        ItemEvent::event(self)
    }
    fn text_refs_read(&self) -> bool {
        true
    }
}

/// [`WatchlistSet::fingerprint`] of these lists: each one's id, then its terms.
fn fingerprint_of(lists: &[Watchlist]) -> String {
    let mut h = blake3::Hasher::new();
    for l in lists {
        hash_part(&mut h, std::slice::from_ref(&l.id));
        hash_terms(&mut h, l);
    }
    h.finalize().to_hex()[..32].to_string()
}

/// Add what decides what a watchlist matches to a fingerprint: its dossiers, keywords,
/// exclusions, subjects and sources, then its title keywords, its ignored phrases and the
/// sources it takes every item of when it has any, so that the fingerprints of watchlists
/// without them stay those of earlier versions (no reach-back nor re-evaluation on
/// upgrade).
pub(crate) fn hash_terms(h: &mut blake3::Hasher, w: &Watchlist) {
    let dossiers: Vec<String> = w.dossiers.iter().map(|d| d.to_string()).collect();
    for part in [&dossiers, &w.keywords, &w.exclude, &w.subjects, &w.sources] {
        hash_part(h, part);
    }
    if !w.title_keywords.is_empty() {
        h.update(b"title_keywords");
        hash_part(h, &w.title_keywords);
    }
    if !w.ignore.is_empty() {
        h.update(b"ignore");
        hash_part(h, &w.ignore);
    }
    if !w.all_items_from.is_empty() {
        h.update(b"all_items_from");
        hash_part(h, &w.all_items_from);
    }
}

/// One list of strings, each length-prefixed, after the list's length.
fn hash_part(h: &mut blake3::Hasher, part: &[String]) {
    h.update(&(part.len() as u64).to_le_bytes());
    for s in part {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
}

/// Where a watchlist file's id comes from: its stem.
pub fn id_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
