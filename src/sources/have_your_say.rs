//! The Commission's Better Regulation portal ("Have Your Say"): its `brpapi` JSON backend.
//! Owns the URLs of the search and detail calls and turns their JSON into one
//! `Observation::Consultation` per initiative: the item as listed (descriptive tags such
//! as `type:` and `topic:` in `categories`) and its typed [`Consultation`] (stage,
//! feedback window, COM numbers).
//! Must not fetch, read the clock or decide what a deadline means: that is `deadlines`.
//!
//! No raw capture of this API exists in the corpus (docs/eu-sources.md, "Have Your Say"). The shapes
//! accepted here come from third-party clients: the search page is
//! `{"initiativeResultDtoPage": {"content": [...], "totalElements": …}}` (current), or
//! `{"_embedded": {"initiativeResultDtoes": [...]}}` (older clients), or a plain Spring page
//! `{"content": [...]}`; ids are serialised as floats (`18805.0`); feedback dates are
//! `"2026/09/28 23:59:59"` in Brussels local time.

use std::collections::BTreeSet;

use crate::tz::Tz;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{looks_like_challenge, Input, ParseError};
use crate::model::{ComRef, FeedItem, Observation};

pub const SUPPORTED: bool = true;

/// The Accept header for the `brpapi` calls.
pub const ACCEPT: &str = "application/json";

/// The public page of an initiative (the portal redirects to its slugged URL).
const PUBLIC_PAGE: &str =
    "https://ec.europa.eu/info/law/better-regulation/have-your-say/initiatives";

/// The search calls to poll. `base` is the portal root,
/// `https://ec.europa.eu/info/law/better-regulation`, with or without a trailing `/`.
/// The first page of all initiatives, then the initiatives open for feedback: the
/// honoured filter is `feedbackStatus=OPEN` (a third-party measurement found
/// `receivingFeedbackStatus=OPEN` silently ignored, and `size` capped at 100).
pub fn urls(base: &str) -> Vec<String> {
    let base = base.trim_end_matches('/');
    vec![
        format!("{base}/brpapi/searchInitiatives?page=0&size=100&language=EN"),
        format!("{base}/brpapi/searchInitiatives?page=0&size=100&language=EN&feedbackStatus=OPEN"),
    ]
}

/// The detail call of one initiative (publications, COM numbers, `modifiedDate`).
pub fn detail_url(base: &str, id: u64) -> String {
    let base = base.trim_end_matches('/');
    format!("{base}/brpapi/groupInitiatives/{id}?language=EN")
}

/// The public page of initiative `id`.
pub fn public_url(id: u64) -> String {
    format!("{PUBLIC_PAGE}/{id}_en")
}

pub use crate::model::Consultation;

/// A portal date in Brussels local time → UTC: `"2026/09/28 23:59:59"`, `"2026/09/28"`
/// (start of that day), also with `-` separators or a `T`. A local time skipped by the
/// spring DST change is read one hour later; an ambiguous autumn time as its first
/// occurrence.
pub fn parse_feedback_date(s: &str) -> Option<DateTime<Utc>> {
    parse_local(s, false)
}

/// As [`parse_feedback_date`]; a date without time is the end of that day
/// (23:59:59) when `end_of_day`.
fn parse_local(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    let norm = t.replace('-', "/").replace('T', " ");
    let naive = ["%Y/%m/%d %H:%M:%S%.f", "%Y/%m/%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&norm, f).ok())
        .or_else(|| {
            let d = NaiveDate::parse_from_str(&norm, "%Y/%m/%d").ok()?;
            if end_of_day {
                d.and_hms_opt(23, 59, 59)
            } else {
                d.and_hms_opt(0, 0, 0)
            }
        })?;
    Some(local_to_utc(naive, Tz::brussels()))
}

/// A local wall-clock time in `tz` → UTC, DST-safe (see [`parse_feedback_date`]).
pub(crate) fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&naive).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a spring-forward gap: the same wall time one hour later exists.
    let later = naive + chrono::Duration::hours(1);
    match tz.from_local_datetime(&later).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&naive),
    }
}

/// One body of `searchInitiatives` or `groupInitiatives/{id}` → one item per initiative.
/// A page whose list is present but empty gives no items; a body without the expected
/// structure is `Layout`; an HTML challenge page is `Challenge`.
pub fn parse(input: &Input) -> Result<Vec<Observation>, ParseError> {
    let body = input.body;
    let trimmed = trim_ascii_start(body);
    if !matches!(trimmed.first(), Some(b'{') | Some(b'[')) {
        if looks_like_challenge(body) {
            return Err(ParseError::Challenge);
        }
        return Err(ParseError::Layout(
            "not JSON: an HTML page (the portal's SPA shell?) instead of brpapi JSON".into(),
        ));
    }
    let root: Value = serde_json::from_slice(trimmed).map_err(|e| ParseError::Syntax {
        format: "JSON",
        message: e.to_string(),
    })?;
    let (items, detail) = match initiative_list(&root) {
        Some(list) => (list.iter().collect::<Vec<_>>(), false),
        None if is_detail(&root) => (vec![&root], true),
        None => {
            return Err(ParseError::Layout(
                "no initiativeResultDtoPage.content, _embedded.initiativeResultDtoes, content \
                 or groupInitiatives detail in the JSON"
                    .into(),
            ))
        }
    };
    let mut out = Vec::new();
    let mut unusable = 0usize;
    for v in &items {
        match serde_json::from_value::<RawInitiative>((*v).clone()) {
            Ok(raw) => match initiative_of(&raw, detail) {
                Some(o) => out.push(o),
                None => unusable += 1,
            },
            Err(_) => unusable += 1,
        }
    }
    if out.is_empty() && unusable > 0 {
        return Err(ParseError::Layout(format!(
            "none of the {unusable} initiatives has a usable id"
        )));
    }
    Ok(out)
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

/// The initiatives of a search page, in any of the known wrappings.
fn initiative_list(root: &Value) -> Option<&Vec<Value>> {
    root.pointer("/initiativeResultDtoPage/content")
        .or_else(|| root.pointer("/_embedded/initiativeResultDtoes"))
        .or_else(|| root.get("content"))
        .and_then(Value::as_array)
}

/// A `groupInitiatives/{id}` body: one initiative object with its publications.
fn is_detail(root: &Value) -> bool {
    root.is_object()
        && root.get("id").is_some()
        && (root.get("publications").is_some_and(Value::is_array)
            || root.get("shortTitle").is_some())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawInitiative {
    #[serde(deserialize_with = "lenient_id")]
    id: Option<u64>,
    reference: Option<String>,
    short_title: Option<String>,
    foreseen_act_type: Option<String>,
    initiative_status: Option<String>,
    #[serde(deserialize_with = "null_default")]
    topics: Vec<RawTopic>,
    #[serde(deserialize_with = "null_default")]
    current_statuses: Vec<RawStatus>,
    #[serde(deserialize_with = "null_default")]
    publications: Vec<RawPublication>,
    modified_date: Option<String>,
}

/// A topic: `{"code": "ENV", "label": "Environment"}` or a plain string; anything else
/// is ignored.
#[derive(Debug)]
struct RawTopic {
    code: Option<String>,
    label: Option<String>,
}

impl<'de> Deserialize<'de> for RawTopic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(match &v {
            Value::String(_) => RawTopic {
                code: text(Some(&v)),
                label: text(Some(&v)),
            },
            _ => RawTopic {
                code: text(v.get("code")),
                label: text(v.get("label")),
            },
        })
    }
}

impl RawTopic {
    fn label(&self) -> Option<&str> {
        self.label.as_deref().or(self.code.as_deref())
    }
    fn code(&self) -> Option<&str> {
        self.code.as_deref().or(self.label.as_deref())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawStatus {
    front_end_stage: Option<String>,
    receiving_feedback_status: Option<String>,
    feedback_start_date: Option<String>,
    feedback_end_date: Option<String>,
    is_current: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawPublication {
    #[serde(rename = "type")]
    kind: Option<String>,
    reference: Option<String>,
    total_feedback: Option<f64>,
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `18805.0`, `18805` or `"18805"`; anything else (negative, fractional) is no id.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9.0e15)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    })
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The status that carries the feedback window: the open one, else the current one,
/// else the one closing last.
fn pick_status(statuses: &[RawStatus]) -> Option<&RawStatus> {
    let open = |s: &&RawStatus| {
        nonempty(&s.receiving_feedback_status).is_some_and(|v| v.eq_ignore_ascii_case("OPEN"))
    };
    statuses
        .iter()
        .filter(open)
        .max_by_key(|s| s.is_current == Some(true))
        .or_else(|| statuses.iter().find(|s| s.is_current == Some(true)))
        .or_else(|| {
            statuses.iter().max_by_key(|s| {
                s.feedback_end_date
                    .as_deref()
                    .and_then(|d| parse_local(d, true))
            })
        })
}

/// One initiative: the item as listed, and its consultation, typed.
fn initiative_of(raw: &RawInitiative, detail: bool) -> Option<Observation> {
    let id = raw.id?;
    let consultation = consultation(raw, id);
    let published = consultation.opens.or_else(|| {
        raw.modified_date
            .as_deref()
            .and_then(|d| parse_local(d, false))
    });
    let item = FeedItem {
        key: format!("hys:{id}"),
        title: consultation.title.clone(),
        link: Some(consultation.url.clone()),
        summary: capitalise(&summary_line(raw, &consultation).join("; ")),
        published,
        categories: tags(raw, detail),
    };
    Some(Observation::Consultation(item, Box::new(consultation)))
}

/// The initiative's consultation: its stage, feedback window and COM numbers.
fn consultation(raw: &RawInitiative, id: u64) -> Consultation {
    let status = pick_status(&raw.current_statuses);
    Consultation {
        initiative_id: id,
        title: nonempty(&raw.short_title)
            .map(str::to_string)
            .unwrap_or_else(|| format!("Initiative {id}")),
        url: public_url(id),
        stage: status
            .and_then(|s| nonempty(&s.front_end_stage))
            .map(str::to_string),
        feedback_open: feedback_status(raw).as_deref() == Some("OPEN"),
        opens: status
            .and_then(|s| s.feedback_start_date.as_deref())
            .and_then(|d| parse_local(d, false)),
        closes: status
            .and_then(|s| s.feedback_end_date.as_deref())
            .and_then(|d| parse_local(d, true)),
        com: proposals(raw).into_iter().collect(),
    }
}

/// The feedback status of the status that carries the window, upper-cased.
fn feedback_status(raw: &RawInitiative) -> Option<String> {
    pick_status(&raw.current_statuses)
        .and_then(|s| nonempty(&s.receiving_feedback_status))
        .map(str::to_ascii_uppercase)
}

/// COM numbers of adopted proposals (detail call only).
fn proposals(raw: &RawInitiative) -> BTreeSet<ComRef> {
    let mut com = BTreeSet::new();
    for p in &raw.publications {
        if nonempty(&p.kind).is_some_and(|k| k.starts_with("PROP_")) {
            if let Some(r) = nonempty(&p.reference) {
                com.extend(r.parse::<ComRef>().ok());
                com.extend(ComRef::find_all(r));
            }
        }
    }
    com
}

/// The item's descriptive tags: `type:`, `status:`, `ares:`, `topic:`, `publication:`,
/// `feedback-total:`, `modified:`. (What the consultation is, is typed in
/// [`Consultation`], not tagged.)
fn tags(raw: &RawInitiative, detail: bool) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    if let Some(t) = nonempty(&raw.foreseen_act_type) {
        tags.push(format!("type:{t}"));
    }
    if let Some(s) = nonempty(&raw.initiative_status) {
        tags.push(format!("status:{s}"));
    }
    if let Some(r) = nonempty(&raw.reference) {
        tags.push(format!("ares:{r}"));
    }
    for t in raw.topics.iter().filter_map(RawTopic::code) {
        tags.push(format!("topic:{t}"));
    }
    let mut feedback_total = 0u64;
    for p in &raw.publications {
        if let Some(k) = nonempty(&p.kind) {
            let t = format!("publication:{k}");
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        if let Some(n) = p.total_feedback.filter(|n| n.is_finite() && *n >= 0.0) {
            feedback_total += n as u64;
        }
    }
    if detail && !raw.publications.is_empty() {
        tags.push(format!("feedback-total:{feedback_total}"));
    }
    if let Some(m) = nonempty(&raw.modified_date) {
        tags.push(format!("modified:{m}"));
    }
    tags
}

/// The parts of the item's summary: stage, act type, topics, COM numbers, feedback.
fn summary_line(raw: &RawInitiative, c: &Consultation) -> Vec<String> {
    let mut line: Vec<String> = Vec::new();
    if let Some(s) = &c.stage {
        line.push(format!("stage {s}"));
    }
    if let Some(t) = nonempty(&raw.foreseen_act_type) {
        line.push(format!("act type {t}"));
    }
    let topics: Vec<&str> = raw.topics.iter().filter_map(RawTopic::label).collect();
    if !topics.is_empty() {
        line.push(format!("topics: {}", topics.join(", ")));
    }
    if !c.com.is_empty() {
        let list: Vec<String> = c.com.iter().map(ToString::to_string).collect();
        line.push(list.join(", "));
    }
    let feedback = feedback_status(raw);
    if feedback.is_some() || c.opens.is_some() || c.closes.is_some() {
        let mut s = format!(
            "feedback {}",
            feedback.as_deref().unwrap_or("status unknown")
        );
        if let Some(o) = c.opens {
            s.push_str(&format!(" from {}", brussels_human(o)));
        }
        if let Some(c) = c.closes {
            s.push_str(&format!(" until {}", brussels_human(c)));
        }
        if c.opens.is_some() || c.closes.is_some() {
            s.push_str(" (Brussels time)");
        }
        line.push(s);
    }
    line
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn brussels_human(t: DateTime<Utc>) -> String {
    t.with_timezone(&Tz::brussels())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}
