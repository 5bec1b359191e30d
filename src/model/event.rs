//! What sources observe and what veille records: feed items, dossier snapshots, the
//! merged `Dossier`, and `DossierEvent`s with a stable `EventId` and their provenance.
//! Must not do IO or read the clock: times are always given.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::refs::{Celex, ComRef, DossierRef, ProcedureRef};
use super::stage::Stage;

/// Where a fact came from: which configured source, which URL, when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub source: String,
    pub url: String,
    pub fetched_at: DateTime<Utc>,
}

/// One entry of an RSS/Atom/JSON feed, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    /// Stable identity within the feed: guid, else link, else a hash of title and link.
    pub key: String,
    /// Plain text; HTML entities decoded.
    pub title: String,
    pub link: Option<String>,
    /// Plain text of the description/summary/content (may be empty).
    pub summary: String,
    /// Publication (or update) time when the feed gives one.
    pub published: Option<DateTime<Utc>>,
    pub categories: Vec<String>,
}

impl FeedItem {
    /// The event id of this item. Links and URL-like guids are global (the same article in
    /// two feeds is one event); other guids are only unique within their feed.
    pub fn event_id(&self, source: &str) -> EventId {
        let key = self.key.trim();
        if key.starts_with("http://") || key.starts_with("https://") {
            EventId::derive(&["item", key])
        } else {
            EventId::derive(&["item", source, key])
        }
    }
}

/// A document cited by a step: a COM proposal, a report, a text adopted, an act.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Document {
    /// The reference as the institutions write it: `COM(2024)0469`, `A10-0006/2025`,
    /// `T10-0022/2025`, `32019L0904`, `ST 8172 2023 INIT`.
    pub reference: String,
    pub url: Option<String>,
}

/// One key event of a dossier as one source reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub date: NaiveDate,
    pub stage: Stage,
    /// The source's own wording, e.g. "Decision by Parliament, 1st reading".
    pub label: String,
    pub documents: Vec<Document>,
}

/// A step announced for a future date (OEIL forecasts, EP agenda items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    pub date: NaiveDate,
    pub stage: Stage,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitteeRole {
    Lead,
    Opinion,
}

/// A parliamentary committee on the dossier and its rapporteurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committee {
    /// The committee abbreviation: `ENVI`, `IMCO`, `LIBE`.
    pub code: String,
    pub role: CommitteeRole,
    pub rapporteurs: Vec<String>,
}

/// Titles in the languages the association works in, and the others a source gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Titles {
    pub en: Option<String>,
    pub fr: Option<String>,
    pub de: Option<String>,
    /// The titles in the other languages a source gives (`nl`, `it`, …: the EP API
    /// names a procedure in 24), as (ISO 639-1 code, title), sorted by code. Read for
    /// keywords when a new procedure is evaluated; absent in records written before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<(String, String)>,
}

impl Titles {
    /// The best title to show, English first.
    pub fn best(&self) -> Option<&str> {
        self.en
            .as_deref()
            .or(self.fr.as_deref())
            .or(self.de.as_deref())
    }
    /// Every title: English, French, German, then the other languages.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        [&self.en, &self.fr, &self.de]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(self.more.iter().map(|(_, t)| t.as_str()))
    }
    /// Fill the languages this one lacks from `other`.
    pub fn fill_from(&mut self, other: &Titles) {
        if self.en.is_none() {
            self.en.clone_from(&other.en);
        }
        if self.fr.is_none() {
            self.fr.clone_from(&other.fr);
        }
        if self.de.is_none() {
            self.de.clone_from(&other.de);
        }
        for (lang, title) in &other.more {
            if !self.more.iter().any(|(l, _)| l == lang) {
                self.more.push((lang.clone(), title.clone()));
            }
        }
        self.more.sort();
    }
}

/// A EuroVoc concept a CELLAR notice classifies the procedure's acts by: the concept
/// itself, or its micro-thesaurus, top term or domain (`WORK_IS_ABOUT_CONCEPT_EUROVOC_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EuroVoc {
    /// The concept's id in `http://eurovoc.europa.eu/{id}`: `4493`.
    pub id: String,
    /// Its preferred label first, then the alternative ones (English).
    pub labels: Vec<String>,
}

impl EuroVoc {
    /// The preferred label, or the id.
    pub fn label(&self) -> &str {
        self.labels.first().map(String::as_str).unwrap_or(&self.id)
    }
}

/// Dates the law attaches to a dossier's acts, from their CELLAR work metadata: they start
/// or end the windows officers act in (subsidiarity, transposition).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActDates {
    /// When the Commission sent the proposal to the national parliaments
    /// (`RESOURCE_LEGAL_DATE_DISPATCH` annotated `TRANS/PARL`): the subsidiarity window
    /// starts here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_to_parliaments: Option<NaiveDate>,
    /// The final act's transposition deadline(s) (`DIRECTIVE_DATE_TRANSPOSITION`), sorted;
    /// a directive may stagger several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transposition: Vec<NaiveDate>,
}

impl ActDates {
    pub fn is_empty(&self) -> bool {
        self.sent_to_parliaments.is_none() && self.transposition.is_empty()
    }
}

/// Everything one source says about one procedure at one time. Sections a source does
/// not report are left empty; emptiness never means "removed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DossierSnapshot {
    pub reference: ProcedureRef,
    pub titles: Titles,
    /// The source's status line verbatim ("Awaiting Council's 1st reading position").
    pub status: Option<String>,
    pub committees: Vec<Committee>,
    pub steps: Vec<Step>,
    pub forecasts: Vec<Forecast>,
    /// Commission proposals of this procedure.
    pub com: Vec<ComRef>,
    /// The final act, once adopted.
    pub final_act: Option<Celex>,
    /// Dates from the acts' own metadata (CELLAR work notices).
    #[serde(default, skip_serializing_if = "ActDates::is_empty")]
    pub act_dates: ActDates,
    pub subjects: Vec<String>,
    /// EuroVoc concepts of the procedure's acts (CELLAR), sorted by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eurovoc: Vec<EuroVoc>,
    /// The source's own change signal (`LASTMODIFICATIONDATE`, `<meta available>`).
    pub last_modified: Option<String>,
    pub provenance: Provenance,
}

impl DossierSnapshot {
    /// The date of the earliest step of `stage` this source reports.
    pub fn first_date(&self, stage: Stage) -> Option<NaiveDate> {
        self.steps
            .iter()
            .filter(|s| s.stage == stage)
            .map(|s| s.date)
            .min()
    }
}

/// What a source parser returns for one fetched body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observation {
    /// A feed item (news, press release, change-feed entry).
    Item(FeedItem),
    /// A full snapshot of one procedure.
    Dossier(Box<DossierSnapshot>),
    /// A change feed says this procedure moved: fetch its full record.
    Changed(ProcedureRef),
    /// A Have Your Say initiative: the item as listed, and its consultation.
    Consultation(FeedItem, Box<Consultation>),
}

/// A Have Your Say initiative's consultation, as the portal describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consultation {
    pub initiative_id: u64,
    pub title: String,
    pub url: String,
    /// The portal's `frontEndStage` (`OPC_LAUNCHED`, `ISC_WORKFLOW`, …).
    pub stage: Option<String>,
    pub feedback_open: bool,
    pub opens: Option<DateTime<Utc>>,
    pub closes: Option<DateTime<Utc>>,
    pub com: Vec<ComRef>,
}

/// One step on a dossier's merged timeline, with every source that reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineStep {
    pub date: NaiveDate,
    pub stage: Stage,
    pub label: String,
    pub documents: Vec<Document>,
    pub sources: Vec<Provenance>,
}

/// One procedure merged from every source that reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dossier {
    pub reference: ProcedureRef,
    pub titles: Titles,
    pub status: Option<String>,
    pub committees: Vec<Committee>,
    /// Sorted by date, then stage.
    pub timeline: Vec<TimelineStep>,
    /// Upcoming steps, sorted by date.
    pub forecasts: Vec<Forecast>,
    pub com: Vec<ComRef>,
    pub final_act: Option<Celex>,
    /// Dates from the acts' own metadata: proposal sent to national parliaments,
    /// transposition deadlines.
    #[serde(default, skip_serializing_if = "ActDates::is_empty")]
    pub act_dates: ActDates,
    pub subjects: Vec<String>,
    /// EuroVoc concepts of the procedure's acts (CELLAR), sorted by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eurovoc: Vec<EuroVoc>,
    /// Source id → that source's change signal at its last snapshot.
    pub last_modified: Vec<(String, String)>,
}

impl Dossier {
    /// The date of the earliest step of `stage` on the timeline.
    pub fn first_date(&self, stage: Stage) -> Option<NaiveDate> {
        self.timeline
            .iter()
            .filter(|s| s.stage == stage)
            .map(|s| s.date)
            .min()
    }
    /// The most advanced stage reached so far (ignoring `other`).
    pub fn current_stage(&self) -> Option<Stage> {
        self.timeline
            .iter()
            .map(|s| s.stage)
            .filter(|s| *s != Stage::Other)
            .max()
    }
    /// The references by which officers may name this dossier.
    pub fn aliases(&self) -> Vec<DossierRef> {
        let mut out = vec![DossierRef::Procedure(self.reference)];
        out.extend(self.com.iter().copied().map(DossierRef::Com));
        out.extend(self.final_act.iter().cloned().map(DossierRef::Celex));
        out
    }
}

/// What veille keeps of a procedure a change feed named and no watchlist wanted (yet):
/// what a watchlist may find it by, so that it is not fetched again and can be evaluated
/// again when the watchlists change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// With its type (`COD`, `CNS`) when a source gave it.
    pub reference: ProcedureRef,
    /// In every language the sources gave.
    pub titles: Titles,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub com: Vec<ComRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_act: Option<Celex>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eurovoc: Vec<EuroVoc>,
}

impl Candidate {
    /// What a merged dossier says of its procedure.
    pub fn of(d: &Dossier) -> Candidate {
        Candidate {
            reference: d.reference,
            titles: d.titles.clone(),
            com: d.com.clone(),
            final_act: d.final_act.clone(),
            subjects: d.subjects.clone(),
            eurovoc: d.eurovoc.clone(),
        }
    }

    /// What is known from both: this one's, completed by `older`'s.
    pub fn completed_by(mut self, older: &Candidate) -> Candidate {
        self.reference = self.reference.merge(older.reference);
        self.titles.fill_from(&older.titles);
        for c in &older.com {
            if !self.com.contains(c) {
                self.com.push(*c);
            }
        }
        if self.final_act.is_none() {
            self.final_act.clone_from(&older.final_act);
        }
        if self.subjects.is_empty() {
            self.subjects.clone_from(&older.subjects);
        }
        if self.eurovoc.is_empty() {
            self.eurovoc.clone_from(&older.eurovoc);
        }
        self
    }
}

/// A stable identity for an event: the hash of dossier, kind, date and source-independent
/// content, so the same step seen by two sources is one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// Hash of the parts, each length-prefixed so that ("ab","c") ≠ ("a","bc").
    pub fn derive(parts: &[&str]) -> EventId {
        // Hashed in one call (the same hash as one `update` per piece, at a fraction of
        // the cost for these short inputs).
        let mut bytes = Vec::with_capacity(parts.iter().map(|p| 8 + p.len()).sum());
        for p in parts {
            bytes.extend_from_slice(&(p.len() as u64).to_le_bytes());
            bytes.extend_from_slice(p.as_bytes());
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&blake3::hash(&bytes).as_bytes()[..16]);
        EventId(out)
    }

    /// The id of a lifecycle step of a dossier. Generic steps (`other`) also hash their
    /// wording, since a dossier may have several on one day.
    pub fn for_step(
        dossier: &ProcedureRef,
        kind: EventKind,
        stage: Stage,
        date: NaiveDate,
        detail: &str,
    ) -> EventId {
        let key = dossier.storage_key();
        let date = date.to_string();
        EventId::derive(&[&key, kind.as_str(), stage.as_str(), &date, detail])
    }

    pub fn to_hex(&self) -> String {
        self.hex_digits().iter().map(|&c| char::from(c)).collect()
    }

    /// The 32 lower-case hex digits, without allocating.
    pub fn hex_digits(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }

    /// Read 32 hex digits (either case); `None` for anything else.
    pub fn from_hex(digits: &[u8]) -> Option<EventId> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (b, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            *b = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(EventId(out))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.hex_digits();
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl std::str::FromStr for EventId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(format!("{s:?} is not an event id (32 hex digits)"));
        }
        EventId::from_hex(s.as_bytes()).ok_or_else(|| format!("{s:?} is not hex"))
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An event just made from a feed item by `dossier::item_event`: every reference written
/// in its title, summary and link is already in its `dossier` and `mentions`, so the
/// matcher searches that text for keywords only. Dereferences to its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemEvent(DossierEvent);

impl ItemEvent {
    /// Wrap an event whose `dossier` and `mentions` hold every reference written in its
    /// title, summary and link (what `dossier::item_event` makes).
    pub fn with_text_refs_read(event: DossierEvent) -> ItemEvent {
        ItemEvent(event)
    }
    pub fn event(&self) -> &DossierEvent {
        &self.0
    }
    pub fn into_event(self) -> DossierEvent {
        self.0
    }
}

impl std::ops::Deref for ItemEvent {
    type Target = DossierEvent;
    fn deref(&self) -> &DossierEvent {
        &self.0
    }
}

/// What kind of news an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A lifecycle step happened (its `stage` says which).
    Step,
    /// A step was announced or moved to a new date.
    Forecast,
    /// The rapporteur of a committee changed.
    Rapporteur,
    /// A new document on a step already known.
    Document,
    /// A matched feed item.
    Item,
    /// A deadline reminder (consultation, subsidiarity, transposition).
    Reminder,
    /// A procedure veille did not know, found in a watchlist's field (one event per
    /// dossier and watchlist).
    Discovered,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Step => "step",
            EventKind::Forecast => "forecast",
            EventKind::Rapporteur => "rapporteur",
            EventKind::Document => "document",
            EventKind::Item => "item",
            EventKind::Reminder => "reminder",
            EventKind::Discovered => "discovered",
        }
    }
}

/// A fact worth telling a focus group, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DossierEvent {
    pub id: EventId,
    pub kind: EventKind,
    /// The lifecycle stage for steps, forecasts and reminders.
    pub stage: Option<Stage>,
    /// The procedure concerned, when known.
    pub dossier: Option<ProcedureRef>,
    /// The dossier's title, or the item's feed, shown as context.
    pub dossier_title: Option<String>,
    pub date: NaiveDate,
    /// What happened, one line.
    pub title: String,
    /// More text (item summary); used for keyword matching.
    pub summary: String,
    /// The link a digest line points to.
    pub url: Option<String>,
    pub documents: Vec<Document>,
    /// Other references by which the event's dossier is known (COM, CELEX).
    pub mentions: Vec<DossierRef>,
    pub provenance: Vec<Provenance>,
}

impl DossierEvent {
    /// The first source that reported this event.
    pub fn source(&self) -> &str {
        self.provenance
            .first()
            .map(|p| p.source.as_str())
            .unwrap_or("")
    }
    /// The name used as `kind` in JSON output: the stage for steps, else the kind.
    pub fn kind_name(&self) -> &'static str {
        match (self.kind, self.stage) {
            (EventKind::Step, Some(s)) => s.as_str(),
            (k, _) => k.as_str(),
        }
    }
}

impl Serialize for DossierRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for DossierRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Event ids are stored: `derive` must give what it always gave, one blake3
        /// update per length and per piece.
        #[test]
        fn event_ids_are_the_incremental_hash(parts in proptest::collection::vec(".{0,40}", 0..6)) {
            let mut h = blake3::Hasher::new();
            for p in &parts {
                h.update(&(p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let expected = h.finalize();
            proptest::prop_assert_eq!(&EventId::derive(&refs).0[..], &expected.as_bytes()[..16]);
        }
    }

    #[test]
    fn event_ids_are_stable_and_parse_back() {
        let r: ProcedureRef = "2016/0132(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
        let d = NaiveDate::from_ymd_opt(2024, 5, 14).unwrap_or_default();
        let a = EventId::for_step(&r, EventKind::Step, Stage::Signed, d, "");
        let same = EventId::for_step(
            &"2016_132".parse().unwrap_or(r),
            EventKind::Step,
            Stage::Signed,
            d,
            "",
        );
        assert_eq!(a, same);
        // Pinned: changing the hash would make every stored event new again.
        assert_eq!(
            a.to_hex(),
            EventId::derive(&["2016-0132", "step", "signed", "2024-05-14", ""]).to_hex()
        );
        assert_eq!(a.to_hex().parse::<EventId>(), Ok(a));
        assert_ne!(EventId::derive(&["ab", "c"]), EventId::derive(&["a", "bc"]));
    }

    #[test]
    fn item_ids_scope_plain_guids_to_their_feed() {
        let item = FeedItem {
            key: "42".into(),
            title: "t".into(),
            link: None,
            summary: String::new(),
            published: None,
            categories: vec![],
        };
        assert_ne!(item.event_id("a"), item.event_id("b"));
        let url = FeedItem {
            key: "https://example.org/x".into(),
            ..item
        };
        assert_eq!(url.event_id("a"), url.event_id("b"));
    }

    proptest::proptest! {
        /// The hex form is what `format!("{b:02x}")` per byte made, and reads back, in
        /// either case.
        #[test]
        fn an_event_id_reads_back_from_its_hex(bytes in proptest::array::uniform16(0u8..)) {
            let id = EventId(bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(id.to_hex(), hex.clone());
            proptest::prop_assert_eq!(id.to_string(), hex.clone());
            proptest::prop_assert_eq!(hex.parse::<EventId>(), Ok(id));
            proptest::prop_assert_eq!(hex.to_uppercase().parse::<EventId>(), Ok(id));
        }
    }

    #[test]
    fn anything_but_32_hex_digits_is_not_an_event_id() {
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcdeg",
            "+123456789abcdef0123456789abcdef",
            "é123456789abcdef0123456789abcde",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad:?}");
        }
    }
}
