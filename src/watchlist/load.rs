//! Reading watchlist files: TOML into a lenient raw form that keeps the span of every
//! key and value, then validation that reports every problem of every file at its
//! line and column with a one-line hint. Only `load_dir` touches the file system.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::text::parse_term;
use super::{Watchlist, WatchlistError, WatchlistSet};
use crate::model::{DossierRef, Language, ProcedureRef, Stage};
use crate::schedule::{DigestSchedule, SCHEDULE_HINT};

const KEYS: [&str; 9] = [
    "name",
    "recipients",
    "digest",
    "alert_on",
    "dossiers",
    "keywords",
    "exclude",
    "sources",
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

/// Byte offset → 1-based line and column (in characters).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<WatchlistError>,
}

impl Ctx<'_> {
    fn err(&mut self, offset: usize, message: impl Into<String>, hint: impl Into<String>) {
        let (line, column) = line_col(self.text, offset);
        let hint: String = hint.into();
        self.errors.push(WatchlistError {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }
    fn line(&self, offset: usize) -> usize {
        line_col(self.text, offset).0
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

/// Validate one watchlist's text. `id` is the file stem, `path` is used in errors.
pub fn load_str(
    id: &str,
    path: &Path,
    text: &str,
    known_sources: &[String],
) -> Result<Watchlist, Vec<WatchlistError>> {
    let mut cx = Ctx {
        path,
        text,
        errors: Vec::new(),
    };
    let doc: RawDoc = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let msg = e.message().trim().replace('\n', "; ");
            cx.err(
                offset,
                format!("TOML syntax error: {msg}"),
                "strings need double quotes, lists need [ ] and commas between entries",
            );
            return Err(cx.errors);
        }
    };

    let mut name = None;
    let mut recipients: Option<Vec<String>> = None;
    let mut recipients_seen = false;
    let mut digest = None;
    let mut alert_on = None;
    let mut dossiers = Vec::new();
    let mut keywords = Vec::new();
    let mut exclude = Vec::new();
    let mut sources = Vec::new();
    let mut language = Language::En;

    for (key, value) in &doc {
        let k = key.get_ref().as_str();
        match k {
            "name" => {
                if let Some(s) = cx.string(k, value) {
                    if s.trim().is_empty() {
                        cx.err(
                            value.span().start,
                            "\"name\" is empty",
                            "give the focus group's name, shown in every digest",
                        );
                    } else {
                        name = Some(s.trim().to_string());
                    }
                }
            }
            "recipients" => {
                recipients_seen = true;
                if let Some(items) = cx.strings(k, value) {
                    if items.is_empty() && matches!(value.get_ref(), Raw::Array(a) if a.is_empty())
                    {
                        cx.err(
                            value.span().start,
                            "\"recipients\" is empty: nobody would receive the digest",
                            "add at least one address, as in recipients = [\"focus-group@example.org\"]",
                        );
                    }
                    let mut ok: Vec<(String, usize)> = Vec::new();
                    for (s, at) in items {
                        if let Err(why) = email_ok(&s) {
                            cx.err(
                                at,
                                format!("{s:?} is not a valid e-mail address: {why}"),
                                "write a bare address such as \"focus-group@example.org\"",
                            );
                            continue;
                        }
                        if let Some((_, first)) =
                            ok.iter().find(|(o, _)| o.eq_ignore_ascii_case(&s))
                        {
                            let line = cx.line(*first);
                            cx.err(
                                at,
                                format!("recipient {s:?} is listed twice (first on line {line})"),
                                "remove one of them",
                            );
                            continue;
                        }
                        ok.push((s, at));
                    }
                    recipients = Some(ok.into_iter().map(|(s, _)| s).collect());
                }
            }
            "digest" => {
                if let Some(s) = cx.string(k, value) {
                    match DigestSchedule::parse(&s) {
                        Ok(d) => digest = Some(d),
                        Err(why) => {
                            cx.err(
                                value.span().start,
                                format!("invalid digest schedule: {why}"),
                                SCHEDULE_HINT,
                            );
                        }
                    }
                }
            }
            "alert_on" => {
                if let Some(items) = cx.strings(k, value) {
                    let mut stages: Vec<Stage> = Vec::new();
                    for (s, at) in items {
                        match s.parse::<Stage>() {
                            Ok(st) if stages.contains(&st) => {
                                cx.err(
                                    at,
                                    format!("stage {s:?} is listed twice"),
                                    "remove one of them",
                                );
                            }
                            Ok(st) => stages.push(st),
                            Err(_) => {
                                let names: Vec<&str> =
                                    Stage::ALL.iter().map(|s| s.as_str()).collect();
                                cx.err(
                                    at,
                                    format!("unknown stage {s:?} in \"alert_on\""),
                                    format!("known stages: {}", names.join(", ")),
                                );
                            }
                        }
                    }
                    alert_on = Some(stages);
                }
            }
            "dossiers" => {
                if let Some(items) = cx.strings(k, value) {
                    let mut seen: Vec<(DossierRef, String, usize)> = Vec::new();
                    for (s, at) in items {
                        match s.parse::<DossierRef>() {
                            Ok(d) => {
                                if let Some((_, first, first_at)) =
                                    seen.iter().find(|(o, _, _)| same_dossier(o, &d))
                                {
                                    let line = cx.line(*first_at);
                                    let msg = if first.trim() == s.trim() {
                                        format!(
                                            "dossier {s:?} is listed twice (first on line {line})"
                                        )
                                    } else {
                                        format!(
                                            "dossier {s:?} is the same as {first:?} (line {line})"
                                        )
                                    };
                                    cx.err(at, msg, "list each dossier once, in any one spelling");
                                } else {
                                    seen.push((d, s, at));
                                }
                            }
                            Err(e) => {
                                let why = dossier_reason(&s, e.reason);
                                cx.err(
                                    at,
                                    format!("{s:?} is not a dossier reference: {why}"),
                                    "write a procedure (2011/0438(COD)), a COM number (COM(2011)896) or a CELEX number (32014L0024)",
                                );
                            }
                        }
                    }
                    dossiers = seen.into_iter().map(|(d, _, _)| d).collect();
                }
            }
            "keywords" | "exclude" => {
                if let Some(items) = cx.strings(k, value) {
                    let what = if k == "keywords" {
                        "keyword"
                    } else {
                        "exclusion"
                    };
                    let mut seen: Vec<(super::text::Term, String, usize)> = Vec::new();
                    for (s, at) in items {
                        match parse_term(&s) {
                            Ok(t) => {
                                if let Some((_, first, first_at)) =
                                    seen.iter().find(|(o, _, _)| *o == t)
                                {
                                    let line = cx.line(*first_at);
                                    cx.err(
                                        at,
                                        format!("{what} {s:?} duplicates {first:?} (line {line})"),
                                        "keywords ignore case, accents, hyphens and apostrophes; keep one",
                                    );
                                } else {
                                    seen.push((t, s, at));
                                }
                            }
                            Err(e) => cx.err(at, e.message, e.hint),
                        }
                    }
                    let list: Vec<String> = seen.into_iter().map(|(_, s, _)| s).collect();
                    if k == "keywords" {
                        keywords = list;
                    } else {
                        exclude = list;
                    }
                }
            }
            "sources" => {
                if let Some(items) = cx.strings(k, value) {
                    for (s, at) in items {
                        if !known_sources.contains(&s) {
                            let hint = if known_sources.is_empty() {
                                "no sources are configured in config.toml".to_string()
                            } else {
                                format!("configured sources: {}", known_sources.join(", "))
                            };
                            cx.err(at, format!("unknown source {s:?}"), hint);
                        } else if sources.contains(&s) {
                            cx.err(
                                at,
                                format!("source {s:?} is listed twice"),
                                "remove one of them",
                            );
                        } else {
                            sources.push(s);
                        }
                    }
                }
            }
            "language" => {
                if let Some(s) = cx.string(k, value) {
                    match s.parse::<Language>() {
                        Ok(l) => language = l,
                        Err(_) => cx.err(
                            value.span().start,
                            format!("unknown language {s:?}"),
                            "digest headings exist in \"en\" and \"fr\"",
                        ),
                    }
                }
            }
            other => {
                let hint = match similar_key(other) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => format!("known keys: {}", KEYS.join(", ")),
                };
                cx.err(key.span().start, format!("unknown key {other:?}"), hint);
            }
        }
    }

    if !doc.keys().any(|k| k.get_ref() == "name") {
        cx.err(
            0,
            "missing required key \"name\"",
            "add name = \"...\", the focus group's name shown in digests",
        );
    }
    if !recipients_seen {
        cx.err(
            0,
            "missing required key \"recipients\"",
            "add recipients = [\"focus-group@example.org\"]",
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
    if written("dossiers") + written("keywords") == 0 && !unknown_key {
        cx.err(
            0,
            "the watchlist has neither dossiers nor keywords, so it would never match",
            "add dossiers = [\"2011/0438(COD)\"] or keywords = [\"public procurement\"]",
        );
    }

    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| (e.line, e.column));
        return Err(cx.errors);
    }
    let digest = match digest {
        Some(d) => d,
        None => match DigestSchedule::parse("weekly") {
            Ok(d) => d,
            Err(why) => {
                cx.err(0, why, "");
                return Err(cx.errors);
            }
        },
    };
    Ok(Watchlist {
        id: id.to_string(),
        name: name.unwrap_or_default(),
        path: path.to_path_buf(),
        recipients: recipients.unwrap_or_default(),
        digest,
        alert_on: alert_on
            .unwrap_or_else(|| Stage::ALL.into_iter().filter(|s| s.is_decisive()).collect()),
        dossiers,
        keywords,
        exclude,
        sources,
        language,
    })
}

fn same_dossier(a: &DossierRef, b: &DossierRef) -> bool {
    super::matcher::Key::of(a) == super::matcher::Key::of(b)
}

/// Load every `*.toml` in `dir` (sorted by name), reporting every error of every file.
pub fn load_dir(dir: &Path, known_sources: &[String]) -> Result<WatchlistSet, Vec<WatchlistError>> {
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Err(vec![WatchlistError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the watchlist directory: {e}"),
                hint: Some("check `watchlists_dir` in config.toml".into()),
            }])
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    let mut lists = Vec::new();
    for p in paths {
        let id = super::id_of(&p);
        match std::fs::read_to_string(&p) {
            Ok(text) => match load_str(&id, &p, &text, known_sources) {
                Ok(l) => lists.push(l),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(WatchlistError {
                file: p.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read the file: {e}"),
                hint: Some("watchlists must be UTF-8 text files".into()),
            }),
        }
    }
    if errors.is_empty() {
        Ok(WatchlistSet::new(lists))
    } else {
        Err(errors)
    }
}
