//! The compiled matcher of a whole `WatchlistSet`: one Aho–Corasick automaton over every
//! keyword and exclusion of every watchlist (searched once per text field, cost
//! independent of the number of watchlists), one map from dossier identity to the
//! watchlists listing it, and one from source id to the watchlists taking it whole. Pure:
//! no IO, no clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

use super::text::{normalise, parse_term, tail_end, word_end, Term};
use super::{Match, Reason, Watchlist};
use crate::model::{
    Candidate, Celex, ComRef, DossierEvent, DossierRef, ProcedureKey, ProcedureRef,
};

/// The identity of a listed dossier: a procedure (any spelling), a COM number (also
/// written as its CELEX `5YYYYPCNNNN`), or another CELEX number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Procedure(ProcedureKey),
    Com(ComRef),
    Celex(String),
}

impl Key {
    pub(crate) fn of(d: &DossierRef) -> Key {
        match d {
            DossierRef::Procedure(p) => Key::Procedure(p.key()),
            DossierRef::Com(c) => Key::Com(*c),
            DossierRef::Celex(c) => Key::of_celex(c),
        }
    }
    fn of_celex(c: &Celex) -> Key {
        match c.to_com() {
            Some(com) => Key::Com(com),
            None => Key::Celex(c.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Role {
    /// The index in the watchlist's keywords, then title keywords ([`keyword_at`]).
    Keyword(usize),
    /// A title keyword, by the same index: ignored outside titles.
    TitleKeyword(usize),
    /// The index in the watchlist's `exclude`: read only to explain (`veille match`).
    Exclude(usize),
    /// The index in the watchlist's `ignore`: keywords inside it do not count.
    Ignore(usize),
}

/// Which text of an event a keyword is searched in: title keywords count in titles only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// An event's title, its dossier's title, a new procedure's titles.
    Title,
    Summary,
}

pub(crate) struct Matcher {
    /// None when no watchlist has a keyword or exclusion.
    ac: Option<AhoCorasick>,
    /// Pattern id → the (watchlist, role) pairs that use it.
    owners: Owners,
    /// Pattern id → the words that must follow its match, for the keywords with a `*`
    /// inside ([`Term::tail`]), by pattern id.
    tails: Vec<(usize, Vec<(String, bool)>)>,
    /// Dossier identity → (watchlist, index in its `dossiers`).
    dossiers: HashMap<Key, Vec<(usize, usize)>>,
    /// A normalised EuroVoc label, or `id:4493` → (watchlist, index in its `subjects`).
    subjects: HashMap<String, Vec<(usize, usize)>>,
    /// Source id → the watchlists that take every item of it (`all_items_from`).
    whole_sources: HashMap<String, Vec<usize>>,
}

/// Pattern id → the (watchlist, role) pairs that use it, in one flat list: those of term
/// `id` are `pairs[starts[id]..starts[id + 1]]`. A list per term would cost a block of
/// its own for each of thousands of terms, most of them used by one watchlist.
struct Owners {
    starts: Vec<usize>,
    pairs: Vec<(usize, Role)>,
}

impl Owners {
    fn of(per_term: Vec<Vec<(usize, Role)>>) -> Owners {
        let mut starts = Vec::with_capacity(per_term.len() + 1);
        let mut pairs = Vec::with_capacity(per_term.iter().map(Vec::len).sum());
        starts.push(0);
        for term in per_term {
            pairs.extend(term);
            starts.push(pairs.len());
        }
        Owners { starts, pairs }
    }

    fn terms(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    fn of_term(&self, id: usize) -> &[(usize, Role)] {
        match (self.starts.get(id), self.starts.get(id + 1)) {
            (Some(&from), Some(&to)) => self.pairs.get(from..to).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// How a watchlist's `subjects` entry is looked up: `eurovoc:4493` by the concept id,
/// anything else by its label, normalised (case, accents, punctuation).
pub(crate) fn subject_key(entry: &str) -> String {
    match entry.trim().strip_prefix("eurovoc:") {
        Some(id) => format!("id:{}", id.trim()),
        None => normalise(entry),
    }
}

impl std::fmt::Debug for Matcher {
    /// A summary: the automaton itself is large and says nothing useful in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("terms", &self.owners.terms())
            .field("dossiers", &self.dossiers.len())
            .field("subjects", &self.subjects.len())
            .finish()
    }
}

/// Keywords of one watchlist found in one field, cancelled by its exclusions there.
struct Cancel {
    list: usize,
    field: usize,
    keywords: BTreeSet<usize>,
    excludes: BTreeSet<usize>,
}

/// What `veille match` collects beside the hits: keywords an exclusion cancelled, and
/// title keywords found outside the title (watchlist, keyword index).
#[derive(Default)]
struct Unmatched {
    cancels: Vec<Cancel>,
    title_only: BTreeSet<(usize, usize)>,
    /// (watchlist, keyword index, ignored phrase index).
    ignored: BTreeSet<(usize, usize, usize)>,
    /// Watchlist → the exclusions found in any of the texts.
    excluded: BTreeMap<usize, BTreeSet<usize>>,
}

/// The terms of one watchlist found in one text field, with their places in the
/// normalised text (start, end).
#[derive(Default)]
struct Found {
    /// Each keyword (or title keyword, in a title) found, by [`keyword_at`] index.
    keywords: Vec<(usize, (usize, usize))>,
    excludes: BTreeSet<usize>,
    /// Each ignored phrase found, by its index in `ignore`.
    ignored: Vec<(usize, (usize, usize))>,
}

impl Found {
    /// The keywords found at least once outside every ignored phrase, and those found only
    /// inside one (with the first such phrase).
    fn split(&self) -> (BTreeSet<usize>, BTreeMap<usize, usize>) {
        let mut counted = BTreeSet::new();
        let mut inside: BTreeMap<usize, usize> = BTreeMap::new();
        for &(ki, (start, end)) in &self.keywords {
            let within = |&&(_, (s, e)): &&(usize, (usize, usize))| s <= start && end <= e;
            match self.ignored.iter().find(within) {
                Some(&(ii, _)) => {
                    inside.entry(ki).or_insert(ii);
                }
                None => {
                    counted.insert(ki);
                }
            }
        }
        inside.retain(|ki, _| !counted.contains(ki));
        (counted, inside)
    }
}

/// What one event or text hit, per watchlist.
#[derive(Default)]
struct Hits {
    dossiers: BTreeSet<usize>,
    keywords: BTreeSet<usize>,
    subjects: BTreeSet<usize>,
    /// One of the watchlist's exclusions is in one of the texts read.
    excluded: bool,
    /// The source whose every item the watchlist takes, when the event came from it.
    whole_source: Option<String>,
}

impl Matcher {
    pub(crate) fn new(lists: &[Watchlist]) -> Matcher {
        let mut needles: Vec<String> = Vec::new();
        let mut tails: Vec<Vec<(String, bool)>> = Vec::new();
        // The term (its needle and tail) → its pattern id.
        let mut index: HashMap<(String, Vec<(String, bool)>), usize> = HashMap::new();
        let mut owners: Vec<Vec<(usize, Role)>> = Vec::new();
        let mut add = |term: Term, owner: (usize, Role)| {
            let key = (term.needle(), term.tail());
            let id = *index.entry(key.clone()).or_insert_with(|| {
                needles.push(key.0);
                tails.push(key.1);
                owners.push(Vec::new());
                owners.len() - 1
            });
            owners[id].push(owner);
        };
        let mut dossiers: HashMap<Key, Vec<(usize, usize)>> = HashMap::new();
        let mut subjects: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut whole_sources: HashMap<String, Vec<usize>> = HashMap::new();
        for (li, list) in lists.iter().enumerate() {
            for (si, s) in list.subjects.iter().enumerate() {
                subjects.entry(subject_key(s)).or_default().push((li, si));
            }
            for (ki, k) in list.keywords.iter().enumerate() {
                if let Ok(t) = parse_term(k) {
                    add(t, (li, Role::Keyword(ki)));
                }
            }
            let first = list.keywords.len();
            for (ti, k) in list.title_keywords.iter().enumerate() {
                if let Ok(t) = parse_term(k) {
                    add(t, (li, Role::TitleKeyword(first + ti)));
                }
            }
            for (ei, k) in list.exclude.iter().enumerate() {
                if let Ok(t) = parse_term(k) {
                    add(t, (li, Role::Exclude(ei)));
                }
            }
            for (ii, k) in list.ignore.iter().enumerate() {
                if let Ok(t) = parse_term(k) {
                    add(t, (li, Role::Ignore(ii)));
                }
            }
            for (di, d) in list.dossiers.iter().enumerate() {
                dossiers.entry(Key::of(d)).or_default().push((li, di));
            }
            for s in &list.all_items_from {
                whole_sources.entry(s.clone()).or_default().push(li);
            }
        }
        let ac = if needles.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&needles)
                .ok()
        };
        Matcher {
            ac,
            owners: Owners::of(owners),
            tails: tails
                .into_iter()
                .enumerate()
                .filter(|(_, t)| !t.is_empty())
                .collect(),
            dossiers,
            subjects,
            whole_sources,
        }
    }

    /// [`super::WatchlistSet::discover`]: a new procedure's references, each of its
    /// titles, and its EuroVoc concepts (by id, and by each label).
    pub(crate) fn discover(&self, lists: &[Watchlist], c: &Candidate, source: &str) -> Vec<Match> {
        let mut hits: BTreeMap<usize, Hits> = BTreeMap::new();
        let mut keys = vec![Key::Procedure(c.reference.key())];
        keys.extend(c.com.iter().copied().map(Key::Com));
        keys.extend(c.final_act.iter().map(Key::of_celex));
        self.dossier_keys(keys, &mut hits);
        for t in c.titles.all() {
            self.scan(t, Field::Title, &mut hits);
        }
        if !self.subjects.is_empty() {
            for concept in &c.eurovoc {
                let by_id = format!("id:{}", concept.id);
                let labels = concept.labels.iter().map(|l| normalise(l));
                for k in std::iter::once(by_id).chain(labels) {
                    for (li, si) in self.subjects.get(&k).into_iter().flatten() {
                        hits.entry(*li).or_default().subjects.insert(*si);
                    }
                }
            }
        }
        finish(lists, hits, |l| reads(l, source))
    }

    /// Record the keyword hits of one text field: a watchlist whose exclusion also occurs
    /// in this field gets no keyword hit from it; title keywords count in titles only; a
    /// keyword found only inside a phrase its watchlist ignores does not count.
    fn scan(&self, text: &str, field: Field, hits: &mut BTreeMap<usize, Hits>) {
        for (li, found) in self.found(text, field == Field::Title, &mut |_, _| {}) {
            if !found.excludes.is_empty() {
                hits.entry(li).or_default().excluded = true;
                continue;
            }
            let (counted, _) = found.split();
            if !counted.is_empty() {
                hits.entry(li).or_default().keywords.extend(counted);
            }
        }
    }

    /// The terms of each watchlist found in one text field; `title_only` gets each title
    /// keyword found outside a title.
    fn found(
        &self,
        text: &str,
        title: bool,
        title_only: &mut dyn FnMut(usize, usize),
    ) -> BTreeMap<usize, Found> {
        let mut found: BTreeMap<usize, Found> = BTreeMap::new();
        let Some(ac) = &self.ac else { return found };
        if text.trim().is_empty() {
            return found;
        }
        let norm = normalise(text);
        for m in ac.find_overlapping_iter(&norm) {
            let id = m.pattern().as_usize();
            // A keyword with a `*` inside matches only where its tail follows.
            let end = match self.tails.binary_search_by_key(&id, |(i, _)| *i) {
                Ok(i) => tail_end(&norm, m.end(), &self.tails[i].1),
                Err(_) => Some(word_end(&norm, m.end())),
            };
            let Some(end) = end else { continue };
            let span = (m.start(), end);
            for (li, role) in self.owners.of_term(id) {
                let f = found.entry(*li).or_default();
                match role {
                    Role::Keyword(ki) => f.keywords.push((*ki, span)),
                    Role::TitleKeyword(ki) if title => f.keywords.push((*ki, span)),
                    Role::TitleKeyword(ki) => title_only(*li, *ki),
                    Role::Exclude(ei) => {
                        f.excludes.insert(*ei);
                    }
                    Role::Ignore(ii) => f.ignored.push((*ii, span)),
                }
            }
        }
        found
    }

    /// The watchlists that take every item of `source` (one of the sources that reported
    /// the event), unless an exclusion of theirs was found in the event's texts.
    fn whole_source(&self, source: &str, hits: &mut BTreeMap<usize, Hits>) {
        for li in self.whole_sources.get(source).into_iter().flatten() {
            let h = hits.entry(*li).or_default();
            if !h.excluded && h.whole_source.is_none() {
                h.whole_source = Some(source.to_string());
            }
        }
    }

    fn dossier_keys(&self, keys: impl IntoIterator<Item = Key>, hits: &mut BTreeMap<usize, Hits>) {
        for k in keys {
            for (li, di) in self.dossiers.get(&k).into_iter().flatten() {
                hits.entry(*li).or_default().dossiers.insert(*di);
            }
        }
    }

    /// `text_refs_read`: the event's dossier and mentions already hold every reference
    /// in its title, summary and URL (an event fresh from `dossier::item_event`), so they
    /// are not read again.
    pub(crate) fn matches(
        &self,
        lists: &[Watchlist],
        event: &DossierEvent,
        text_refs_read: bool,
    ) -> Vec<Match> {
        let mut hits: BTreeMap<usize, Hits> = BTreeMap::new();
        if !self.dossiers.is_empty() {
            let mut keys: Vec<Key> = Vec::new();
            if let Some(d) = &event.dossier {
                keys.push(Key::Procedure(d.key()));
            }
            keys.extend(event.mentions.iter().map(Key::of));
            let mut prose: Vec<&str> = Vec::with_capacity(3);
            if !text_refs_read {
                prose.extend([event.title.as_str(), event.summary.as_str()]);
            }
            prose.extend(event.dossier_title.as_deref());
            for d in &event.documents {
                prose.push(&d.reference);
                if let Ok(r) = d.reference.parse::<DossierRef>() {
                    keys.push(Key::of(&r));
                }
            }
            for t in prose {
                refs_in_text(t, &mut keys);
            }
            if let Some(u) = &event.url {
                if !text_refs_read {
                    refs_in_text(u, &mut keys);
                }
                refs_in_url(u, &mut keys);
            }
            for u in event.documents.iter().filter_map(|d| d.url.as_ref()) {
                refs_in_text(u, &mut keys);
                refs_in_url(u, &mut keys);
            }
            self.dossier_keys(keys, &mut hits);
        }
        self.scan(&event.title, Field::Title, &mut hits);
        self.scan(&event.summary, Field::Summary, &mut hits);
        if let Some(t) = &event.dossier_title {
            self.scan(t, Field::Title, &mut hits);
        }
        for p in &event.provenance {
            self.whole_source(&p.source, &mut hits);
        }
        let source = event.source();
        finish(lists, hits, |l| reads(l, source))
    }

    /// [`Matcher::scan`] that also says, per watchlist, the keywords an exclusion cancelled
    /// and those exclusions, and the keywords found only inside an ignored phrase (for
    /// `veille match` only).
    fn scan_explain(
        &self,
        text: &str,
        hits: &mut BTreeMap<usize, Hits>,
        unmatched: &mut Unmatched,
        field: usize,
    ) {
        let mut title_only = |li, ki| {
            unmatched.title_only.insert((li, ki));
        };
        for (li, found) in self.found(text, field == 0, &mut title_only) {
            if !found.excludes.is_empty() {
                let ex = unmatched.excluded.entry(li).or_default();
                ex.extend(found.excludes.iter().copied());
            }
            let (counted, inside) = found.split();
            if !found.excludes.is_empty() && !counted.is_empty() {
                unmatched.cancels.push(Cancel {
                    list: li,
                    field,
                    keywords: counted,
                    excludes: found.excludes,
                });
                continue;
            }
            unmatched
                .ignored
                .extend(inside.into_iter().map(|(ki, ii)| (li, ki, ii)));
            if !counted.is_empty() {
                hits.entry(li).or_default().keywords.extend(counted);
            }
        }
    }

    /// `veille match`: the references of every field, the keywords of each field on its
    /// own (an exclusion cancels a keyword of its own field only; title keywords count in
    /// the first field, the title, only), what was cancelled and what counts in titles only.
    /// With `source`, the item is read as that source's: the watchlists taking it whole
    /// match (or say which exclusion leaves it out), and those limited to other sources
    /// do not.
    pub(crate) fn explain(
        &self,
        lists: &[Watchlist],
        fields: &[&str],
        source: Option<&str>,
    ) -> super::Explained {
        let mut hits: BTreeMap<usize, Hits> = BTreeMap::new();
        let mut keys = Vec::new();
        for text in fields {
            refs_in_text(text, &mut keys);
            refs_in_url(text, &mut keys);
            if let Ok(r) = text.trim().parse::<DossierRef>() {
                keys.push(Key::of(&r));
            }
        }
        self.dossier_keys(keys, &mut hits);
        // A text that is a whole EuroVoc label or id a watchlist lists as a subject: what
        // a new procedure's notice would be found by.
        for text in fields {
            for (li, si) in self.subjects.get(&subject_key(text)).into_iter().flatten() {
                hits.entry(*li).or_default().subjects.insert(*si);
            }
        }
        let mut unmatched = Unmatched::default();
        for (field, text) in fields.iter().enumerate() {
            self.scan_explain(text, &mut hits, &mut unmatched, field);
        }
        let cancelled = unmatched
            .cancels
            .into_iter()
            .filter_map(|c| {
                let list = lists.get(c.list)?;
                Some(super::Cancelled {
                    watchlist: list.id.clone(),
                    field: c.field,
                    keywords: c
                        .keywords
                        .iter()
                        .filter_map(|k| keyword_at(list, *k).cloned())
                        .collect(),
                    excludes: c
                        .excludes
                        .iter()
                        .filter_map(|e| list.exclude.get(*e).cloned())
                        .collect(),
                })
            })
            .collect();
        let title_only = title_only(lists, &hits, unmatched.title_only);
        let ignored = ignored(lists, &hits, unmatched.ignored);
        let left_out = match source {
            Some(s) => self.whole_source_explained(lists, s, &unmatched.excluded, &mut hits),
            None => Vec::new(),
        };
        super::Explained {
            matches: finish(lists, hits, |l| source.is_none_or(|s| reads(l, s))),
            cancelled,
            title_only,
            ignored,
            left_out,
        }
    }

    /// `veille match --source`: the watchlists taking `source` whole match, unless one of
    /// their exclusions is in the texts (then said, as the officer wrote them).
    fn whole_source_explained(
        &self,
        lists: &[Watchlist],
        source: &str,
        excluded: &BTreeMap<usize, BTreeSet<usize>>,
        hits: &mut BTreeMap<usize, Hits>,
    ) -> Vec<super::LeftOut> {
        let mut left_out = Vec::new();
        for li in self.whole_sources.get(source).into_iter().flatten() {
            let Some(list) = lists.get(*li) else { continue };
            match excluded.get(li) {
                None => hits.entry(*li).or_default().whole_source = Some(source.to_string()),
                Some(ex) => left_out.push(super::LeftOut {
                    watchlist: list.id.clone(),
                    source: source.to_string(),
                    excludes: ex
                        .iter()
                        .filter_map(|e| list.exclude.get(*e).cloned())
                        .collect(),
                }),
            }
        }
        left_out
    }

    pub(crate) fn match_text(&self, lists: &[Watchlist], text: &str) -> Vec<Match> {
        let mut hits: BTreeMap<usize, Hits> = BTreeMap::new();
        let mut keys = Vec::new();
        refs_in_text(text, &mut keys);
        refs_in_url(text, &mut keys);
        if let Ok(r) = text.trim().parse::<DossierRef>() {
            keys.push(Key::of(&r));
        }
        self.dossier_keys(keys, &mut hits);
        self.scan(text, Field::Title, &mut hits);
        finish(lists, hits, |_| true)
    }
}

fn finish(
    lists: &[Watchlist],
    hits: BTreeMap<usize, Hits>,
    source_ok: impl Fn(&Watchlist) -> bool,
) -> Vec<Match> {
    let mut out = Vec::new();
    for (li, h) in hits {
        let Some(list) = lists.get(li) else { continue };
        if !source_ok(list) {
            continue;
        }
        let mut reasons: Vec<Reason> = Vec::new();
        for di in h.dossiers {
            if let Some(d) = list.dossiers.get(di) {
                reasons.push(Reason::Dossier(d.to_string()));
            }
        }
        for ki in h.keywords {
            if let Some(k) = keyword_at(list, ki) {
                reasons.push(Reason::Keyword(k.clone()));
            }
        }
        for si in h.subjects {
            if let Some(s) = list.subjects.get(si) {
                reasons.push(Reason::Subject(s.clone()));
            }
        }
        reasons.extend(h.whole_source.map(Reason::Source));
        if !reasons.is_empty() {
            out.push(Match {
                watchlist: list.id.clone(),
                reasons,
            });
        }
    }
    out
}

/// Whether a watchlist reads what `source` brings: it names no sources, or names this one.
fn reads(list: &Watchlist, source: &str) -> bool {
    list.sources.is_empty() || list.sources.iter().any(|s| s == source)
}

/// Title keywords found outside the title and not in it (where they would have counted),
/// per watchlist, as the officer wrote them.
fn title_only(
    lists: &[Watchlist],
    hits: &BTreeMap<usize, Hits>,
    found: BTreeSet<(usize, usize)>,
) -> Vec<super::TitleOnly> {
    let mut out: Vec<super::TitleOnly> = Vec::new();
    for (li, ki) in found {
        if hits.get(&li).is_some_and(|h| h.keywords.contains(&ki)) {
            continue;
        }
        let Some(list) = lists.get(li) else { continue };
        let Some(k) = keyword_at(list, ki) else {
            continue;
        };
        match out.last_mut() {
            Some(t) if t.watchlist == list.id => t.keywords.push(k.clone()),
            _ => out.push(super::TitleOnly {
                watchlist: list.id.clone(),
                keywords: vec![k.clone()],
            }),
        }
    }
    out
}

/// Keywords found only inside an ignored phrase and nowhere else (where they would have
/// counted), per watchlist, as the officer wrote them.
fn ignored(
    lists: &[Watchlist],
    hits: &BTreeMap<usize, Hits>,
    found: BTreeSet<(usize, usize, usize)>,
) -> Vec<super::Ignored> {
    let mut out: Vec<super::Ignored> = Vec::new();
    for (li, ki, ii) in found {
        if hits.get(&li).is_some_and(|h| h.keywords.contains(&ki)) {
            continue;
        }
        let Some(list) = lists.get(li) else { continue };
        let (Some(keyword), Some(phrase)) = (keyword_at(list, ki), list.ignore.get(ii)) else {
            continue;
        };
        let seen = out
            .iter()
            .any(|i| i.watchlist == list.id && &i.keyword == keyword);
        if !seen {
            out.push(super::Ignored {
                watchlist: list.id.clone(),
                keyword: keyword.clone(),
                phrase: phrase.clone(),
            });
        }
    }
    out
}

/// A watchlist's keyword by its index in its keywords followed by its title keywords.
fn keyword_at(list: &Watchlist, index: usize) -> Option<&String> {
    match index.checked_sub(list.keywords.len()) {
        None => list.keywords.get(index),
        Some(ti) => list.title_keywords.get(ti),
    }
}

/// Procedure, COM and CELEX references written in prose.
fn refs_in_text(text: &str, keys: &mut Vec<Key>) {
    keys.extend(
        ProcedureRef::find_all(text)
            .iter()
            .map(|p| Key::Procedure(p.key())),
    );
    keys.extend(ComRef::find_all(text).into_iter().map(Key::Com));
    keys.extend(Celex::find_in_prose(text).iter().map(Key::of_celex));
}

/// The spellings URLs use: `procedure/2011_438`, `proc/2011-0438`, `uri=COM:2011:0896:FIN`.
fn refs_in_url(url: &str, keys: &mut Vec<Key>) {
    let decoded = Celex::decode_link(url);
    // `uri=CELEX%3A32025R1234`: the plain `uri=CELEX:…` and `celex=…` forms are words
    // that `refs_in_text` reads in the link as it is.
    if let std::borrow::Cow::Owned(d) = &decoded {
        keys.extend(Celex::find_all(d).iter().map(Key::of_celex));
    }
    let url = &*decoded;
    static PROC: OnceLock<Option<regex::Regex>> = OnceLock::new();
    // `[0-9]`, not `\d` (Unicode digits): see `model::refs::procedure_in_text`.
    let proc_re = PROC.get_or_init(|| {
        regex::Regex::new(
            r"(?:^|[^0-9A-Za-z])((?:19|20)[0-9]{2})(?:_([0-9]{1,4})|-([0-9]{4}))([A-Z])?(?:[^0-9A-Za-z]|$)",
        )
        .ok()
    });
    if let Some(re) = proc_re {
        for c in re.captures_iter(url) {
            let year: Option<u16> = c.get(1).and_then(|m| m.as_str().parse().ok());
            let number: Option<u16> = c
                .get(2)
                .or_else(|| c.get(3))
                .and_then(|m| m.as_str().parse().ok());
            let split = c.get(4).and_then(|m| m.as_str().chars().next());
            if let (Some(y), Some(n)) = (year, number) {
                if n > 0 {
                    keys.push(Key::Procedure((y, n, split)));
                }
            }
        }
    }
    keys.extend(ComRef::find_in_link(url).into_iter().map(Key::Com));
}
