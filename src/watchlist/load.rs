//! Reading watchlist files: TOML into a lenient raw form that keeps the span of every
//! key and value, then validation that reports every problem of every file at its
//! line and column with a one-line hint. Only `load_dir` touches the file system.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::text::parse_term;
use super::{Watchlist, WatchlistError, WatchlistSet};
use crate::model::{DossierRef, Language, ProcedureRef, Stage};
use crate::schedule::{DigestSchedule, SCHEDULE_HINT};

const KEYS: [&str; 15] = [
    "name",
    "recipients",
    "channels",
    "contact",
    "digest",
    "alert_on",
    "dossiers",
    "keywords",
    "title_keywords",
    "exclude",
    "ignore",
    "subjects",
    "sources",
    "all_items_from",
    "language",
];

/// Any TOML value, accepted whatever its type so that type errors are ours to report.
#[derive(Debug)]
enum Raw {
    Str(String),
    Int,
    Float,
    Bool,
    Array(Vec<Spanned<Raw>>),
    Table,
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Str(_) => "a string",
            Raw::Int => "an integer",
            Raw::Float => "a number",
            Raw::Bool => "a boolean",
            Raw::Array(_) => "an array",
            Raw::Table => "a table or date",
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Raw, E> {
                Ok(Raw::Int)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Raw, E> {
                Ok(Raw::Int)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Raw, E> {
                Ok(Raw::Float)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Raw, E> {
                Ok(Raw::Bool)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Spanned<Raw>>()? {
                    out.push(v);
                }
                Ok(Raw::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Raw::Table)
            }
        }
        d.deserialize_any(V)
    }
}

type RawDoc = BTreeMap<Spanned<String>, Spanned<Raw>>;

/// One problem found, located by byte offset until [`Ctx::finish`] turns every offset
/// into a line and column in one pass over the text.
struct Found {
    offset: usize,
    message: String,
    hint: Option<String>,
}

/// Validation of one file. Everything it does is linear in the file's size (or n log n):
/// duplicates are found through maps keyed by the normalised form, lines through a
/// table of line starts, columns in one final pass; a watchlist of 40,000 keywords is
/// checked in a fraction of a second.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    /// The byte offset at which each line starts (the first at 0).
    line_starts: Vec<usize>,
    errors: Vec<Found>,
    /// Mistakes that do not stop the watchlist from loading, but are likely not meant.
    warnings: Vec<Found>,
}

impl<'a> Ctx<'a> {
    fn new(path: &'a Path, text: &'a str) -> Ctx<'a> {
        let line_starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        Ctx {
            path,
            text,
            line_starts,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn warn(&mut self, offset: usize, message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        self.warnings.push(Found {
            offset,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    /// The warnings found, each at its line and column.
    fn take_warnings(&mut self) -> Vec<WatchlistError> {
        let found = std::mem::take(&mut self.warnings);
        self.locate(found)
    }

    fn err(&mut self, offset: usize, message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        self.errors.push(Found {
            offset,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    /// The errors found, in the order of the text, each at its line and column (in
    /// characters, from 1).
    fn finish(mut self) -> Vec<WatchlistError> {
        let found = std::mem::take(&mut self.errors);
        self.locate(found)
    }

    fn locate(&self, mut found: Vec<Found>) -> Vec<WatchlistError> {
        found.sort_by_key(|f| f.offset);
        let (mut at, mut line, mut column) = (0, 1, 1);
        let mut out = Vec::with_capacity(found.len());
        for f in found {
            let mut offset = f.offset.min(self.text.len());
            while !self.text.is_char_boundary(offset) {
                offset -= 1;
            }
            for c in self.text[at..offset].chars() {
                if c == '\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            at = offset;
            out.push(WatchlistError {
                file: self.path.to_path_buf(),
                line,
                column,
                message: f.message,
                hint: f.hint,
            });
        }
        out
    }

    /// A string value, or an error.
    fn string(&mut self, key: &str, v: &Spanned<Raw>) -> Option<String> {
        match v.get_ref() {
            Raw::Str(s) => Some(s.clone()),
            other => {
                let msg = format!("\"{key}\" must be a string, not {}", other.kind());
                self.err(v.span().start, msg, format!("write {key} = \"...\""));
                None
            }
        }
    }

    /// An array of strings with the offset of each; items of another type are reported.
    fn strings(&mut self, key: &str, v: &Spanned<Raw>) -> Option<Vec<(String, usize)>> {
        match v.get_ref() {
            Raw::Array(items) => {
                let mut out = Vec::new();
                for it in items {
                    match it.get_ref() {
                        Raw::Str(s) => out.push((s.clone(), it.span().start)),
                        other => {
                            let msg = format!(
                                "each entry of \"{key}\" must be a string, not {}",
                                other.kind()
                            );
                            self.err(it.span().start, msg, "put the entry in double quotes");
                        }
                    }
                }
                Some(out)
            }
            other => {
                let msg = format!(
                    "\"{key}\" must be an array of strings, not {}",
                    other.kind()
                );
                self.err(
                    v.span().start,
                    msg,
                    format!("write {key} = [\"...\", \"...\"]"),
                );
                None
            }
        }
    }
}

fn similar_key(k: &str) -> Option<&'static str> {
    let k = k.to_ascii_lowercase().replace('-', "_");
    KEYS.iter().copied().find(|known| {
        k.trim_end_matches('s') == known.trim_end_matches('s')
            || (k.len() > 3 && (known.starts_with(&k) || k.starts_with(known)))
    })
}

fn email_ok(s: &str) -> Result<(), String> {
    if s.contains('<') || s.contains('>') {
        return Err("display names are not allowed".into());
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("it contains spaces or line breaks".into());
    }
    let opts = email_address::Options {
        minimum_sub_domains: 2,
        allow_domain_literal: false,
        allow_display_text: false,
        ..email_address::Options::default()
    };
    email_address::EmailAddress::parse_with_options(s, opts)
        .map(|_| ())
        .map_err(|e| {
            let m = e.to_string();
            let m = m.trim_end_matches('.');
            let mut c = m.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => m.to_string(),
            }
        })
}

/// Why a dossier entry is not a reference: the procedure parser's own reason when the
/// entry looks like a procedure, else the generic one.
fn dossier_reason(s: &str, generic: String) -> String {
    let t = s.trim();
    if t.starts_with(|c: char| c.is_ascii_digit()) && t.contains(['/', '(', '_', '-']) {
        if let Err(e) = t.parse::<ProcedureRef>() {
            return e.reason;
        }
    }
    generic
}

/// A TOML syntax error at `offset` (the parser's message `msg`) in words an officer
/// understands, for the usual slips: curly quotes, a comma missing between list entries,
/// a text without its closing quote. The place, the message and the hint.
fn plain_syntax_error(text: &str, offset: usize, msg: &str) -> Option<(usize, String, String)> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let at_char = text[offset..].chars().next();
    // Curly quotes: a double one on the line, or a single one where the value starts.
    let curly = line
        .char_indices()
        .find(|(_, c)| {
            matches!(
                c,
                '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}'
            )
        })
        .map(|(i, _)| line_start + i)
        .or_else(|| matches!(at_char, Some('\u{2018}' | '\u{2019}')).then_some(offset));
    if let Some(at) = curly {
        return Some((
            at,
            "curly quotes \u{201C}\u{2026}\u{201D} are not quotes in a watchlist".into(),
            "use straight quotes \"\u{2026}\" (a word processor or mail program may have changed them; edit the file in a plain-text editor)".into(),
        ));
    }
    if msg.contains("invalid basic string") || msg.contains("invalid literal string") {
        let quote = if msg.contains("literal") { '\'' } else { '"' };
        let open = text[line_start..offset]
            .rfind(quote)
            .map(|i| line_start + i)?;
        let unclosed = text[open + 1..line_end].trim_end();
        let line_no = text[..offset].matches('\n').count() + 1;
        return Some((
            open,
            format!("a closing quote {quote} is missing: the text {quote}{unclosed} runs to the end of line {line_no}"),
            format!("end the text with {quote} on the same line, as in {quote}public procurement{quote}"),
        ));
    }
    if msg.contains("invalid array") && matches!(at_char, Some('"' | '\'')) {
        // The end of the entry before: the last line (up to here) with something besides
        // blanks and comments.
        let before = &text[..offset];
        let mut end = before.len();
        for l in before.split('\n').rev() {
            let start = end - l.len().min(end);
            let code = strip_comment(&text[start..end]).trim_end();
            if !code.trim().is_empty() {
                let last = start + code.len();
                let line_no = text[..last].matches('\n').count() + 1;
                let hint =
                    "separate the entries of a list with commas: [\"one\", \"two\"]".to_string();
                return Some(if last <= line_start {
                    (
                        last,
                        format!("a comma is missing at the end of line {line_no}"),
                        hint,
                    )
                } else {
                    (offset, "a comma is missing before this entry".into(), hint)
                });
            }
            end = start.saturating_sub(1);
        }
    }
    None
}

/// The part of a line before its comment (a `#` outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return &line[..i],
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    line
}

/// A dossier written `YYYY/NNNN` without a procedure type: the form of an act's number
/// (Directive (EU) 2024/1275), which veille would take as a procedure and never find.
fn act_number(s: &str) -> Option<(String, String)> {
    let t = s.trim();
    let (year, number) = t.split_once('/')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !digits(year) || !digits(number) || number.len() > 4 {
        return None;
    }
    let n: u32 = number.parse().ok()?;
    let celex = |kind: char| format!("3{year}{kind}{n:04}");
    Some((
        format!("dossier {t:?} looks like the number of an act, not a procedure: veille would look for procedure {year}/{n:04} and likely never find it"),
        format!(
            "veille cannot know which kind of act it is: write the CELEX number ({} for a directive, {} for a regulation, {} for a decision) or the act's name (Directive (EU) {year}/{n}), or {year}/{n:04}(COD) if you meant a procedure",
            celex('L'),
            celex('R'),
            celex('D')
        ),
    ))
}

/// What the keys of one watchlist said, each kept as far as it was valid.
struct Fields {
    name: Option<String>,
    recipients: Option<Vec<String>>,
    digest: Option<DigestSchedule>,
    alert_on: Option<Vec<Stage>>,
    dossiers: Vec<DossierRef>,
    keywords: Vec<String>,
    title_keywords: Vec<String>,
    exclude: Vec<String>,
    ignore: Vec<String>,
    subjects: Vec<String>,
    sources: Vec<String>,
    /// With where each is written (checked against `sources` once every key is read).
    all_items_from: Vec<(String, usize)>,
    language: Language,
    channels: Vec<ChannelRef>,
    contact: Option<String>,
}

/// Validate one watchlist's text. `id` is the file stem, `path` is used in errors.
pub fn load_str(
    id: &str,
    path: &Path,
    text: &str,
    known_sources: &[String],
) -> Result<Watchlist, Vec<WatchlistError>> {
    load_str_warned(id, path, text, known_sources).0
}

/// [`load_str`], with the warnings: mistakes that leave the watchlist loaded but are
/// likely not what the officer meant (`veille check` prints them).
pub fn load_str_warned(
    id: &str,
    path: &Path,
    text: &str,
    known_sources: &[String],
) -> (Result<Watchlist, Vec<WatchlistError>>, Vec<WatchlistError>) {
    let mut cx = Ctx::new(path, text);
    let Some(doc) = cx.parse_toml() else {
        return (Err(cx.finish()), Vec::new());
    };
    let fields = cx.check_keys(&doc, known_sources);
    cx.check_required(&doc);
    let warnings = cx.take_warnings();
    if !cx.errors.is_empty() {
        return (Err(cx.finish()), warnings);
    }
    (cx.build(id, fields), warnings)
}

impl Ctx<'_> {
    /// The TOML document, or its syntax error where the parser stopped.
    fn parse_toml(&mut self) -> Option<RawDoc> {
        match toml::from_str(self.text) {
            Ok(d) => Some(d),
            Err(e) => {
                let offset = e.span().map(|s| s.start).unwrap_or(0);
                let msg = e.message().trim().replace('\n', "; ");
                match plain_syntax_error(self.text, offset, &msg) {
                    Some((at, message, hint)) => self.err(at, message, hint),
                    None => self.err(
                        offset,
                        format!("TOML syntax error: {msg}"),
                        "strings need double quotes, lists need [ ] and commas between entries",
                    ),
                }
                None
            }
        }
    }

    /// Every key of the document checked in turn (in key order, so errors come out in
    /// a stable order); what was valid is kept.
    fn check_keys(&mut self, doc: &RawDoc, known_sources: &[String]) -> Fields {
        let mut f = Fields {
            name: None,
            recipients: None,
            digest: None,
            alert_on: None,
            dossiers: Vec::new(),
            keywords: Vec::new(),
            title_keywords: Vec::new(),
            exclude: Vec::new(),
            ignore: Vec::new(),
            subjects: Vec::new(),
            sources: Vec::new(),
            all_items_from: Vec::new(),
            language: Language::En,
            channels: Vec::new(),
            contact: None,
        };
        for (key, value) in doc {
            match key.get_ref().as_str() {
                "name" => f.name = self.name(value),
                "recipients" => f.recipients = self.recipients(value),
                "digest" => f.digest = self.digest(value),
                "alert_on" => f.alert_on = self.alert_on(value),
                "dossiers" => {
                    if let Some(d) = self.dossiers(value) {
                        f.dossiers = d;
                    }
                }
                "keywords" => {
                    if let Some(k) = self.terms("keywords", value) {
                        f.keywords = k;
                    }
                }
                "title_keywords" => {
                    if let Some(k) = self.terms("title_keywords", value) {
                        f.title_keywords = k;
                    }
                }
                "exclude" => {
                    if let Some(x) = self.terms("exclude", value) {
                        f.exclude = x;
                    }
                }
                "ignore" => {
                    if let Some(x) = self.terms("ignore", value) {
                        f.ignore = x;
                    }
                }
                "subjects" => {
                    if let Some(s) = self.subjects(value) {
                        f.subjects = s;
                    }
                }
                "sources" => {
                    if let Some(s) = self.sources("sources", value, known_sources) {
                        f.sources = s.into_iter().map(|(s, _)| s).collect();
                    }
                }
                "all_items_from" => {
                    if let Some(s) = self.sources("all_items_from", value, known_sources) {
                        f.all_items_from = s;
                    }
                }
                "language" => {
                    if let Some(l) = self.language(value) {
                        f.language = l;
                    }
                }
                "channels" => {
                    if let Some(c) = self.channels(value) {
                        f.channels = c;
                    }
                }
                "contact" => f.contact = self.contact(value),
                other => self.unknown_key(key.span().start, other),
            }
        }
        let keywords = spanned_terms(doc, "keywords");
        let title_keywords = spanned_terms(doc, "title_keywords");
        self.check_cancelled(doc, &keywords, &title_keywords);
        self.check_title_keywords(&keywords, &title_keywords);
        self.check_ignored(doc, &keywords, &title_keywords);
        self.check_all_items_from(&f);
        f
    }

    /// Warn of a source whose every item the watchlist takes but which its `sources`
    /// leave out: none of its items would reach the watchlist.
    fn check_all_items_from(&mut self, f: &Fields) {
        if f.sources.is_empty() {
            return;
        }
        for (s, at) in &f.all_items_from {
            if !f.sources.contains(s) {
                self.warn(
                    *at,
                    format!("source {s:?} is not among the watchlist's sources, so none of its items reach it"),
                    format!("add \"{s}\" to sources, or remove it from all_items_from"),
                );
            }
        }
    }

    /// Warn of each ignored phrase that holds none of the keywords and title keywords: it
    /// would change nothing. A keyword's needle lies inside the phrase's words (a `*`
    /// keyword by its beginning), as the matcher finds it there.
    fn check_ignored(&mut self, doc: &RawDoc, keywords: &[SpannedTerm], titles: &[SpannedTerm]) {
        let ignored = spanned_terms(doc, "ignore");
        if ignored.is_empty() {
            return;
        }
        let needles: Vec<String> = keywords
            .iter()
            .chain(titles)
            .map(|(_, t, _)| t.needle())
            .collect();
        let ac = aho_corasick::AhoCorasick::new(&needles).ok();
        for (phrase, t, at) in &ignored {
            let holds = ac
                .as_ref()
                .is_some_and(|ac| ac.is_match(&format!(" {} ", t.words)));
            if !holds {
                self.warn(
                    *at,
                    format!("ignored phrase {phrase:?} holds none of the keywords, so it changes nothing"),
                    "remove it, or add the keyword it should hide (\"energy\" for \"Committee on Industry, Research and Energy\")",
                );
            }
        }
    }

    /// Warn of each keyword (or title keyword) an exclusion always cancels: every text
    /// the keyword is found in also holds the exclusion (its needle lies inside the
    /// keyword's), so the keyword can never match. One Aho–Corasick pass over the
    /// keywords' needles.
    fn check_cancelled(
        &mut self,
        doc: &RawDoc,
        keywords: &[SpannedTerm],
        title_keywords: &[SpannedTerm],
    ) {
        let excluded = spanned_terms(doc, "exclude");
        if excluded.is_empty() {
            return;
        }
        // An exclusion with a `*` inside needs more than its needle: left out.
        let whole: Vec<&SpannedTerm> = excluded
            .iter()
            .filter(|(_, t, _)| t.inner.is_empty())
            .collect();
        let needles: Vec<String> = whole.iter().map(|(_, t, _)| t.needle()).collect();
        let Ok(ac) = aho_corasick::AhoCorasick::new(&needles) else {
            return;
        };
        for (k, t, at) in keywords.iter().chain(title_keywords) {
            let Some(m) = ac.find_overlapping_iter(&t.needle()).next() else {
                continue;
            };
            let (x, _, x_at) = whole[m.pattern().as_usize()];
            let line = self.line(*x_at);
            self.warn(
                *at,
                format!("keyword {k:?} can never match: the exclusion {x:?} (line {line}) cancels every text it is found in"),
                "remove the keyword, or narrow the exclusion so that it is not part of the keyword",
            );
        }
    }

    /// A title keyword that is also a keyword: keywords count in titles already.
    fn check_title_keywords(&mut self, keywords: &[SpannedTerm], title_keywords: &[SpannedTerm]) {
        if title_keywords.is_empty() {
            return;
        }
        let first: HashMap<&super::text::Term, (&String, usize)> =
            keywords.iter().map(|(s, t, at)| (t, (s, *at))).collect();
        for (k, t, at) in title_keywords {
            if let Some((first, first_at)) = first.get(t) {
                let line = self.line(*first_at);
                self.err(
                    *at,
                    format!("title keyword {k:?} is already a keyword: {first:?} (line {line})"),
                    "keywords count in titles and summaries alike; keep it in one of the two lists",
                );
            }
        }
    }

    /// `name`: a non-empty string, kept trimmed.
    fn name(&mut self, value: &Spanned<Raw>) -> Option<String> {
        let s = self.string("name", value)?;
        if s.trim().is_empty() {
            self.err(
                value.span().start,
                "\"name\" is empty",
                "give the focus group's name, shown in every digest",
            );
            return None;
        }
        Some(s.trim().to_string())
    }

    /// `recipients`: bare e-mail addresses, each listed once (ignoring case).
    fn recipients(&mut self, value: &Spanned<Raw>) -> Option<Vec<String>> {
        let items = self.strings("recipients", value)?;
        if items.is_empty() && matches!(value.get_ref(), Raw::Array(a) if a.is_empty()) {
            self.err(
                value.span().start,
                "\"recipients\" is empty: nobody would receive the digest",
                "add at least one address, as in recipients = [\"focus-group@example.org\"]",
            );
        }
        let mut ok: Vec<String> = Vec::new();
        // Lower-cased address → where it was first listed.
        let mut first: HashMap<String, usize> = HashMap::new();
        for (s, at) in items {
            if let Err(why) = email_ok(&s) {
                self.err(
                    at,
                    format!("{s:?} is not a valid e-mail address: {why}"),
                    "write a bare address such as \"focus-group@example.org\"",
                );
                continue;
            }
            if let Some(&first_at) = first.get(&s.to_ascii_lowercase()) {
                let line = self.line(first_at);
                self.err(
                    at,
                    format!("recipient {s:?} is listed twice (first on line {line})"),
                    "remove one of them",
                );
                continue;
            }
            first.insert(s.to_ascii_lowercase(), at);
            ok.push(s);
        }
        Some(ok)
    }

    /// `digest`: a schedule (daily, weekly, or a crontab line).
    fn digest(&mut self, value: &Spanned<Raw>) -> Option<DigestSchedule> {
        let s = self.string("digest", value)?;
        match DigestSchedule::parse(&s) {
            Ok(d) => {
                if let Some((msg, hint)) = crate::schedule::swapped_time(&s) {
                    self.warn(value.span().start, msg, hint);
                }
                Some(d)
            }
            Err(why) => {
                self.err(
                    value.span().start,
                    format!("invalid digest schedule: {why}"),
                    SCHEDULE_HINT,
                );
                None
            }
        }
    }

    /// `alert_on`: known stages, each listed once.
    fn alert_on(&mut self, value: &Spanned<Raw>) -> Option<Vec<Stage>> {
        let items = self.strings("alert_on", value)?;
        let mut stages: Vec<Stage> = Vec::new();
        for (s, at) in items {
            match s.parse::<Stage>() {
                Ok(st) if stages.contains(&st) => {
                    self.err(
                        at,
                        format!("stage {s:?} is listed twice"),
                        "remove one of them",
                    );
                }
                Ok(st) => stages.push(st),
                Err(_) => {
                    let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                    let hint = match crate::text::did_you_mean(&s, &names) {
                        Some(n) => format!("did you mean \"{n}\"?"),
                        None => format!("known stages: {}", names.join(", ")),
                    };
                    self.err(at, format!("unknown stage {s:?} in \"alert_on\""), hint);
                }
            }
        }
        Some(stages)
    }

    /// `dossiers`: procedure, COM or CELEX references, each dossier listed once in
    /// whichever spelling.
    fn dossiers(&mut self, value: &Spanned<Raw>) -> Option<Vec<DossierRef>> {
        let items = self.strings("dossiers", value)?;
        let mut seen: Vec<DossierRef> = Vec::new();
        // The dossier's identity → how and where it was first listed.
        let mut first: HashMap<super::matcher::Key, (String, usize)> = HashMap::new();
        for (s, at) in items {
            match s.parse::<DossierRef>() {
                Ok(d) => {
                    if let Some((msg, hint)) = act_number(&s) {
                        self.warn(at, msg, hint);
                    }
                    let key = super::matcher::Key::of(&d);
                    if let Some((first, first_at)) = first.get(&key) {
                        let line = self.line(*first_at);
                        let msg = if first.trim() == s.trim() {
                            format!("dossier {s:?} is listed twice (first on line {line})")
                        } else {
                            format!("dossier {s:?} is the same as {first:?} (line {line})")
                        };
                        self.err(at, msg, "list each dossier once, in any one spelling");
                    } else {
                        first.insert(key, (s, at));
                        seen.push(d);
                    }
                }
                Err(e) => {
                    let why = dossier_reason(&s, e.reason);
                    self.err(
                        at,
                        format!("{s:?} is not a dossier reference: {why}"),
                        "write a procedure (2011/0438(COD)), a COM number (COM(2011)896), a CELEX number (32014L0024) or an act's name (Directive 2014/24/EU)",
                    );
                }
            }
        }
        Some(seen)
    }

    /// `keywords`, `title_keywords`, `exclude` or `ignore`: valid terms, none the same as
    /// another once normalised.
    fn terms(&mut self, key: &str, value: &Spanned<Raw>) -> Option<Vec<String>> {
        let items = self.strings(key, value)?;
        let what = match key {
            "keywords" => "keyword",
            "title_keywords" => "title keyword",
            "ignore" => "ignored phrase",
            _ => "exclusion",
        };
        let mut seen: Vec<String> = Vec::new();
        // The normalised term → how and where it was first written.
        let mut first: HashMap<super::text::Term, (usize, usize)> = HashMap::new();
        for (s, at) in items {
            match parse_term(&s) {
                Ok(t) => {
                    if let Some(&(index, first_at)) = first.get(&t) {
                        let line = self.line(first_at);
                        let first = &seen[index];
                        self.err(
                            at,
                            format!("{what} {s:?} duplicates {first:?} (line {line})"),
                            "keywords ignore case, accents, hyphens and apostrophes; keep one",
                        );
                    } else {
                        first.insert(t, (seen.len(), at));
                        seen.push(s);
                    }
                }
                Err(e) => self.err(at, e.message, e.hint),
            }
        }
        Some(seen)
    }

    /// `subjects`: EuroVoc labels or `eurovoc:` and a concept id, none empty, none twice
    /// (labels compared as they are matched: case, accents and punctuation aside).
    fn subjects(&mut self, value: &Spanned<Raw>) -> Option<Vec<String>> {
        let items = self.strings("subjects", value)?;
        let mut seen: Vec<String> = Vec::new();
        let mut first: HashMap<String, (usize, usize)> = HashMap::new();
        for (s, at) in items {
            if let Some(id) = s.trim().strip_prefix("eurovoc:") {
                if !is_eurovoc_id(id) {
                    self.err(
                        at,
                        format!("subject {s:?} is not a EuroVoc id: \"eurovoc:\" must be followed by the concept's number, or by c_ and its eight letters and digits"),
                        "write \"eurovoc:4493\" (the end of http://eurovoc.europa.eu/4493) or \"eurovoc:c_2b70515a\", or the concept's label, as in \"plastic waste\"",
                    );
                    continue;
                }
            }
            let key = super::matcher::subject_key(&s);
            if key.trim().is_empty() {
                self.err(
                    at,
                    "an empty subject matches nothing",
                    "write a EuroVoc label, as in \"plastic waste\", or an id, as in \"eurovoc:4493\"",
                );
                continue;
            }
            if let Some(&(index, first_at)) = first.get(&key) {
                let line = self.line(first_at);
                let first = &seen[index];
                self.err(
                    at,
                    format!("subject {s:?} duplicates {first:?} (line {line})"),
                    "subjects ignore case, accents, hyphens and apostrophes; keep one",
                );
                continue;
            }
            first.insert(key, (seen.len(), at));
            seen.push(s);
        }
        Some(seen)
    }

    /// `sources` or `all_items_from` (`key`): names of sources configured in config.toml,
    /// each listed once, with where each is written.
    fn sources(
        &mut self,
        key: &str,
        value: &Spanned<Raw>,
        known_sources: &[String],
    ) -> Option<Vec<(String, usize)>> {
        let items = self.strings(key, value)?;
        let mut sources = Vec::new();
        let mut listed = HashSet::new();
        for (s, at) in items {
            if !known_sources.contains(&s) {
                let names: Vec<&str> = known_sources.iter().map(String::as_str).collect();
                let hint = if known_sources.is_empty() {
                    "no sources are configured in config.toml".to_string()
                } else if let Some(n) = crate::text::did_you_mean(&s, &names) {
                    format!(
                        "did you mean \"{n}\"? (configured sources: {})",
                        names.join(", ")
                    )
                } else {
                    format!("configured sources: {}", known_sources.join(", "))
                };
                self.err(at, format!("unknown source {s:?}"), hint);
            } else if !listed.insert(s.clone()) {
                self.err(
                    at,
                    format!("source {s:?} is listed twice"),
                    "remove one of them",
                );
            } else {
                sources.push((s, at));
            }
        }
        Some(sources)
    }

    /// `language`: the language of digest headings.
    fn language(&mut self, value: &Spanned<Raw>) -> Option<Language> {
        let s = self.string("language", value)?;
        match s.parse::<Language>() {
            Ok(l) => Some(l),
            Err(_) => {
                self.err(
                    value.span().start,
                    format!("unknown language {s:?}"),
                    "digest headings exist in \"en\" and \"fr\"",
                );
                None
            }
        }
    }

    /// A key the watchlist format does not have, with the likely intended one.
    fn unknown_key(&mut self, at: usize, key: &str) {
        let hint = match similar_key(key) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None => format!("known keys: {}", KEYS.join(", ")),
        };
        self.err(at, format!("unknown key {key:?}"), hint);
    }

    /// The keys a watchlist cannot do without: a name, recipients, and something to
    /// match (unless an unknown key may be a misspelling of one).
    fn check_required(&mut self, doc: &RawDoc) {
        if !doc.keys().any(|k| k.get_ref() == "name") {
            self.err(
                0,
                "missing required key \"name\"",
                "add name = \"...\", the focus group's name shown in digests",
            );
        }
        let has_channels = doc.iter().any(|(k, v)| {
            k.get_ref() == "channels" && matches!(v.get_ref(), Raw::Array(a) if !a.is_empty())
        });
        if !has_channels && !doc.keys().any(|k| k.get_ref() == "recipients") {
            self.err(
                0,
                "missing required key \"recipients\"",
                "add recipients = [\"focus-group@example.org\"], or channels = [\"...\"] naming a [channels] entry of config.toml",
            );
        }
        let written = |k: &str| {
            doc.iter()
                .find(|(x, _)| x.get_ref() == k)
                .map(|(_, v)| match v.get_ref() {
                    Raw::Array(a) => a.len(),
                    _ => 1,
                })
                .unwrap_or(0)
        };
        let unknown_key = doc.keys().any(|k| !KEYS.contains(&k.get_ref().as_str()));
        let terms = written("keywords") + written("title_keywords");
        let whole = written("all_items_from");
        if written("dossiers") + terms + written("subjects") + whole == 0 && !unknown_key {
            self.err(
                0,
                "the watchlist has neither dossiers nor keywords nor subjects nor sources taken whole, so it would never match",
                "add dossiers = [\"2011/0438(COD)\"], keywords = [\"public procurement\"], subjects = [\"public contract\"] or all_items_from = [\"a source id of config.toml\"]",
            );
        }
    }

    /// The watchlist from valid fields, with the defaults for what was not written:
    /// a weekly digest, alerts on decisive stages.
    fn build(mut self, id: &str, f: Fields) -> Result<Watchlist, Vec<WatchlistError>> {
        let digest = match f.digest {
            Some(d) => d,
            None => match DigestSchedule::parse("weekly") {
                Ok(d) => d,
                Err(why) => {
                    self.err(0, why, "");
                    return Err(self.finish());
                }
            },
        };
        Ok(Watchlist {
            id: id.to_string(),
            name: f.name.unwrap_or_default(),
            path: self.path.to_path_buf(),
            recipients: f.recipients.unwrap_or_default(),
            digest,
            alert_on: f
                .alert_on
                .unwrap_or_else(|| Stage::ALL.into_iter().filter(|s| s.is_decisive()).collect()),
            dossiers: f.dossiers,
            keywords: f.keywords,
            title_keywords: f.title_keywords,
            exclude: f.exclude,
            ignore: f.ignore,
            subjects: f.subjects,
            sources: f.sources,
            all_items_from: f.all_items_from.into_iter().map(|(s, _)| s).collect(),
            language: f.language,
            channels: f.channels.iter().map(|c| c.id.clone()).collect(),
            channel_refs: f.channels,
            contact: f.contact,
        })
    }

    /// `channels`: channel ids, each listed once (whether config.toml has them is checked
    /// with the configuration, by [`check_channels`]).
    fn channels(&mut self, value: &Spanned<Raw>) -> Option<Vec<ChannelRef>> {
        let items = self.strings("channels", value)?;
        let mut out: Vec<ChannelRef> = Vec::new();
        for (s, at) in items {
            if out.iter().any(|c| c.id == s) {
                self.err(
                    at,
                    format!("channel {s:?} is listed twice"),
                    "remove one of them",
                );
                continue;
            }
            let (line, column) = crate::config::line_col(self.text, at);
            out.push(ChannelRef {
                id: s,
                line,
                column,
            });
        }
        Some(out)
    }

    /// `contact`: the address of the officer who runs the group (unsubscribe requests).
    fn contact(&mut self, value: &Spanned<Raw>) -> Option<String> {
        let s = self.string("contact", value)?;
        let s = s.trim().to_string();
        if let Err(why) = email_ok(&s) {
            self.err(
                value.span().start,
                format!("{s:?} is not a valid e-mail address: {why}"),
                "write the bare address of the officer who runs the group, as in contact = \"officer@example.org\"",
            );
            return None;
        }
        Some(s)
    }
}

/// Where a watchlist names a channel, for an error about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRef {
    pub id: String,
    pub line: usize,
    pub column: usize,
}

/// The watchlists naming a channel that config.toml does not have become errors (at the
/// place of the name, with the likely intended one), and are no longer loaded.
pub fn check_channels(loaded: &mut Loaded, known_channels: &[String]) {
    let names: Vec<&str> = known_channels.iter().map(String::as_str).collect();
    let mut kept = Vec::new();
    for w in std::mem::take(&mut loaded.lists) {
        let mut errors: Vec<WatchlistError> = Vec::new();
        for c in &w.channel_refs {
            if known_channels.contains(&c.id) {
                continue;
            }
            let hint = if names.is_empty() {
                "config.toml has no [channels] entries; add [channels.ID] with its kind".to_string()
            } else if let Some(n) = crate::text::did_you_mean(&c.id, &names) {
                format!(
                    "did you mean \"{n}\"? (configured channels: {})",
                    names.join(", ")
                )
            } else {
                format!("configured channels: {}", names.join(", "))
            };
            errors.push(WatchlistError {
                file: w.path.clone(),
                line: c.line,
                column: c.column,
                message: format!("unknown channel {:?}", c.id),
                hint: Some(hint),
            });
        }
        if errors.is_empty() {
            kept.push(w);
        } else {
            loaded.errors.append(&mut errors);
            if let Some(b) = &mut loaded.broken {
                b.push(w.id.clone());
            }
        }
    }
    loaded.lists = kept;
}

/// [`load_dir`], checking the channels the watchlists name against the configured ones.
pub fn load_dir_checked(
    dir: &Path,
    known_sources: &[String],
    known_channels: &[String],
) -> Result<WatchlistSet, Vec<WatchlistError>> {
    let mut loaded = load_dir_partly(dir, known_sources);
    check_channels(&mut loaded, known_channels);
    if loaded.errors.is_empty() {
        Ok(WatchlistSet::new(loaded.lists))
    } else {
        Err(loaded.errors)
    }
}

/// Load every `*.toml` in `dir` (sorted by name), reporting every error of every file.
pub fn load_dir(dir: &Path, known_sources: &[String]) -> Result<WatchlistSet, Vec<WatchlistError>> {
    let loaded = load_dir_partly(dir, known_sources);
    if loaded.errors.is_empty() {
        Ok(WatchlistSet::new(loaded.lists))
    } else {
        Err(loaded.errors)
    }
}

/// What the watchlist folder holds: the watchlists that loaded, and the errors of the
/// files that did not.
#[derive(Debug)]
pub struct Loaded {
    /// The files without errors, sorted by id.
    pub lists: Vec<Watchlist>,
    /// Every error of every file.
    pub errors: Vec<WatchlistError>,
    /// Every warning of every file read: likely mistakes that do not stop it loading.
    pub warnings: Vec<WatchlistError>,
    /// The ids of the files with errors; `None` when the folder itself could not be
    /// read, so that no watchlist is known to be fine.
    pub broken: Option<Vec<String>>,
}

impl Loaded {
    /// Whether the watchlist `id` is one of the files with errors (or may be: the folder
    /// could not be read).
    pub fn is_broken(&self, id: &str) -> bool {
        self.broken
            .as_ref()
            .is_none_or(|b| b.iter().any(|x| x == id))
    }
}

/// Every `*.toml` in `dir` loaded on its own: one broken file leaves the others loaded.
/// A file is refused before it is read when it is a link leading out of `dir`, or larger
/// than [`super::MAX_FILE_SIZE`]; two files whose ids differ only by case are both
/// refused (they would share a List-Id and a place in the store).
pub fn load_dir_partly(dir: &Path, known_sources: &[String]) -> Loaded {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Loaded {
                lists: Vec::new(),
                warnings: Vec::new(),
                errors: vec![WatchlistError::whole_file(
                    dir,
                    format!("cannot read the watchlist directory: {e}"),
                    "check `watchlists_dir` in config.toml",
                )],
                broken: None,
            }
        }
    };
    let mut all: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    all.sort();
    let (mut paths, others): (Vec<PathBuf>, Vec<PathBuf>) = all
        .into_iter()
        .partition(|p| p.extension().is_some_and(|x| x == "toml"));
    paths.sort();
    let warnings: Vec<WatchlistError> = others
        .iter()
        .filter_map(|p| {
            let rename = meant_as_watchlist(&file_name(p))?;
            Some(WatchlistError::whole_file(
                p,
                "the file is not read: only files whose names end in \".toml\" are watchlists",
                format!("if it is a watchlist, rename it to {rename:?}"),
            ))
        })
        .collect();
    // Lower-cased id → the files that have it.
    let mut by_id: BTreeMap<String, Vec<&Path>> = BTreeMap::new();
    for p in &paths {
        by_id
            .entry(super::id_of(p).to_lowercase())
            .or_default()
            .push(p);
    }
    let canonical_dir = std::fs::canonicalize(dir).ok();
    let mut out = Loaded {
        lists: Vec::new(),
        errors: Vec::new(),
        warnings,
        broken: Some(Vec::new()),
    };
    for p in &paths {
        let id = super::id_of(p);
        let mut errors = Vec::new();
        let same = &by_id[&id.to_lowercase()];
        if same.len() > 1 {
            let names: Vec<String> = same.iter().map(|q| format!("{:?}", file_name(q))).collect();
            errors.push(WatchlistError::whole_file(
                p,
                format!(
                    "the watchlist ids {} differ only by case: they would share a List-Id, and neither is loaded",
                    names.join(" and ")
                ),
                "rename or remove one of the files; ids are best written in lower case",
            ));
        }
        match read_watchlist(p, canonical_dir.as_deref()) {
            Ok(text) => {
                let (loaded, mut warnings) = load_str_warned(&id, p, &text, known_sources);
                out.warnings.append(&mut warnings);
                match loaded {
                    Ok(l) if errors.is_empty() => out.lists.push(l),
                    Ok(_) => {}
                    Err(mut e) => errors.append(&mut e),
                }
            }
            Err(e) => errors.push(e),
        }
        if !errors.is_empty() {
            out.errors.append(&mut errors);
            if let Some(b) = &mut out.broken {
                b.push(id);
            }
        }
    }
    out
}

/// The name a file that is not `*.toml` but looks meant to be a watchlist should have:
/// `energy.toml.txt` and `Energy.TOML` → `energy.toml`; `None` for other files, and for
/// hidden files and editors' backups (`.energy.toml.swp`, `energy.toml~`, `.bak`).
fn meant_as_watchlist(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    if lower.starts_with('.')
        || lower.ends_with('~')
        || [".swp", ".bak", ".orig", ".tmp"]
            .iter()
            .any(|x| lower.ends_with(x))
    {
        return None;
    }
    let at = lower.find(".toml")?;
    Some(format!("{}.toml", &lower[..at]))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The text of one watchlist file, refused before it is read when it is a link out of
/// the watchlist folder (its canonical form `dir`) or too large, and located at its first
/// byte that is not UTF-8.
fn read_watchlist(p: &Path, dir: Option<&Path>) -> Result<String, WatchlistError> {
    use std::io::Read;
    let cannot_read = |e: std::io::Error| {
        WatchlistError::whole_file(
            p,
            format!("cannot read the file: {e}"),
            "check that the file can be read by the user veille runs as",
        )
    };
    let link = std::fs::symlink_metadata(p).map_err(cannot_read)?;
    if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(p).map_err(cannot_read)?;
        if !dir.is_some_and(|d| target.starts_with(d)) {
            return Err(WatchlistError::whole_file(
                p,
                "the file is a link to a file outside the watchlists folder; it is not read",
                "copy the file into the watchlists folder instead of linking to it",
            ));
        }
    }
    let too_large = |size: u64| {
        WatchlistError::whole_file(
            p,
            format!(
                "the file is {}, larger than the {} a watchlist may be; it is not read",
                size_text(size),
                size_text(super::MAX_FILE_SIZE)
            ),
            "split it into several watchlists, or keep the keywords that matter: a few hundred well-chosen terms match better than thousands",
        )
    };
    let file = std::fs::File::open(p).map_err(cannot_read)?;
    let size = file.metadata().map_err(cannot_read)?.len();
    if size > super::MAX_FILE_SIZE {
        return Err(too_large(size));
    }
    // Bounded even if the file grows between the size check and the read.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(super::MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > super::MAX_FILE_SIZE {
        return Err(too_large(bytes.len() as u64));
    }
    crate::text::utf8_text(bytes).map_err(|e| WatchlistError {
        file: p.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
        hint: Some("save the file as UTF-8 (in most editors: \"Save as\", encoding UTF-8)".into()),
    })
}

/// A size in bytes as people read it: "1 MiB", "2.5 MiB", "800 KiB".
fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        let tenths = (bytes * 10 + MIB / 2) / MIB;
        if tenths.is_multiple_of(10) {
            format!("{} MiB", tenths / 10)
        } else {
            format!("{}.{} MiB", tenths / 10, tenths % 10)
        }
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

/// A EuroVoc concept id as its URI ends: digits (`4493`), or, for concepts added since
/// 2018, `c_` and eight hexadecimal digits (`c_2b70515a`, "plastic waste").
fn is_eurovoc_id(id: &str) -> bool {
    let digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let new_form = id.strip_prefix("c_").is_some_and(|h| {
        h.len() == 8
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    digits || new_form
}

/// A term as written, parsed, and where it is written.
type SpannedTerm = (String, super::text::Term, usize);

/// The valid terms of a list of terms (`keywords`, `title_keywords`, `exclude`).
fn spanned_terms(doc: &RawDoc, key: &str) -> Vec<SpannedTerm> {
    let Some((_, v)) = doc.iter().find(|(k, _)| k.get_ref() == key) else {
        return Vec::new();
    };
    let Raw::Array(items) = v.get_ref() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| match it.get_ref() {
            Raw::Str(s) => parse_term(s).ok().map(|t| (s.clone(), t, it.span().start)),
            _ => None,
        })
        .collect()
}
