//! The European Parliament Open Data API v2 (`data.europarl.europa.eu/api/v2`), veille's
//! primary source: procedure records in JSON-LD (`/procedures/{process-id}`) become one
//! `DossierSnapshot` each, and the Atom change feeds (`/procedures/feed`, `/events/feed`)
//! become `Observation::Changed` for the procedures they name.
//!
//! Owns the mapping of the API's `had_activity_type` vocabulary onto `Stage`, and the
//! rendering of EP document ids (`A-9-2024-0163`) in the form the institutions write them
//! (`A9-0163/2024`). Must not do HTTP, read the clock, or trust `current_stage` (every
//! record says `RDG1`, whatever its state).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use quick_xml::events::Event;
use serde_json::Value;

use super::{looks_like_challenge, Input, ParseError};
use crate::model::{
    Committee, CommitteeRole, Document, DossierSnapshot, Forecast, Observation, ProcedureRef,
    ProcedureType, Stage, Step, Titles,
};
use crate::text::collapse_whitespace;

/// The Accept header for procedure records. The API also takes a `format` query parameter
/// (default `application/ld+json`), which `procedure_url` sets explicitly.
pub const ACCEPT: &str = "application/ld+json";

/// The Accept header for the change feeds (the spec answers them in Atom).
pub const FEED_ACCEPT: &str = "application/atom+xml";

/// The feed window asked for. The spec's default is `one-week`; the API was slow and
/// flaky with long windows in 2026, and veille polls at least daily.
pub const FEED_TIMEFRAME: &str = "one-day";

/// The window of a source's first poll: the longest the spec documents (`today`,
/// `one-day`, `one-week`, `one-month`), so that the procedures that moved in the last
/// month are evaluated once as new dossiers.
pub const FIRST_FEED_TIMEFRAME: &str = "one-month";

/// `{base}/procedures/2016-0132?format=application%2Fld%2Bjson`.
pub fn procedure_url(base: &str, r: &ProcedureRef) -> String {
    format!(
        "{}/procedures/{}?format=application%2Fld%2Bjson",
        base.trim_end_matches('/'),
        r.ep_process_id()
    )
}

/// The two Atom change feeds, `{base}/procedures/feed` and `{base}/events/feed`, over
/// [`FEED_TIMEFRAME`], or [`FIRST_FEED_TIMEFRAME`] at the source's `first` poll.
pub fn feed_urls(base: &str, first: bool) -> Vec<String> {
    let base = base.trim_end_matches('/');
    let window = if first {
        FIRST_FEED_TIMEFRAME
    } else {
        FEED_TIMEFRAME
    };
    vec![
        format!("{base}/procedures/feed?timeframe={window}"),
        format!("{base}/events/feed?timeframe={window}"),
    ]
}

/// Any body from the EP API: Atom feeds go to `parse_feed`, JSON-LD to `parse_procedure`.
pub fn parse(input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    match sniff(input) {
        Body::Json => parse_procedure(input),
        Body::Xml => parse_feed(input),
        Body::Html => Err(html_error(input.body)),
        // The feeds answer `204 No Content` when nothing changed.
        Body::Other if is_blank(input.body) && is_feed_url(&input.provenance.url) => Ok(Vec::new()),
        Body::Other => Err(ParseError::Layout(
            "neither JSON-LD nor an Atom feed (empty or unrecognised body)".into(),
        )),
    }
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

fn is_feed_url(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.trim_end_matches('/').ends_with("/feed")
}

enum Body {
    Json,
    Xml,
    Html,
    Other,
}

fn sniff(input: &Input<'_>) -> Body {
    let first = input
        .body
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
    if is_html(input.body) {
        return Body::Html;
    }
    match first {
        Some(b'{') | Some(b'[') => Body::Json,
        Some(b'<') => Body::Xml,
        _ => {
            let ct = input.content_type.unwrap_or("").to_ascii_lowercase();
            if ct.contains("json") {
                Body::Json
            } else if ct.contains("xml") {
                Body::Xml
            } else {
                Body::Other
            }
        }
    }
}

fn is_html(body: &[u8]) -> bool {
    let head = &body[..body.len().min(1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with("<!doctype html") || t.starts_with("<html") || text.contains("<html")
}

fn html_error(body: &[u8]) -> ParseError {
    if looks_like_challenge(body) {
        ParseError::Challenge
    } else {
        ParseError::Layout("an HTML page instead of an EP API record or feed".into())
    }
}

// ---------------------------------------------------------------------------------------
// Procedure records (JSON-LD)
// ---------------------------------------------------------------------------------------

/// One procedure record, `GET /procedures/{process-id}`, as one `DossierSnapshot`.
pub fn parse_procedure(input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    if is_html(input.body) {
        return Err(html_error(input.body));
    }
    let root: Value = serde_json::from_slice(input.body).map_err(|e| ParseError::Syntax {
        format: "JSON",
        message: e.to_string(),
    })?;
    let data = root
        .get("data")
        .or_else(|| root.get("@graph"))
        .ok_or_else(|| {
            ParseError::Layout("EP API record without a `data` (@graph) member".into())
        })?;
    let items: Vec<&Value> = match data {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![data],
        _ => {
            return Err(ParseError::Layout(
                "EP API `data` is neither an array nor an object".into(),
            ))
        }
    };
    if items.is_empty() {
        return Err(ParseError::NotFound(
            "the EP API answered with an empty `data` array".into(),
        ));
    }
    let process = items
        .iter()
        .copied()
        .find(|v| is_process(v))
        .ok_or_else(|| {
            ParseError::Layout("EP API `data` holds no Process (eli/dl/proc/...) record".into())
        })?;
    let snapshot = procedure_snapshot(process, input)?;
    Ok(vec![Observation::Dossier(Box::new(snapshot))])
}

fn is_process(v: &Value) -> bool {
    str_of(v, "type") == Some("Process")
        || str_of(v, "id").is_some_and(|id| id.starts_with("eli/dl/proc/"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A member that may be one value or an array of values, as JSON-LD compaction does.
fn many<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    match v.get(key) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    many(v, key)
        .into_iter()
        .filter_map(|x| x.as_str().or_else(|| str_of(x, "id")))
        .collect()
}

/// The last path segment of an EP URI: `def/ep-activities/REFERRAL` → `REFERRAL`.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn procedure_snapshot(p: &Value, input: &Input<'_>) -> Result<DossierSnapshot, ParseError> {
    let reference = procedure_ref(p)?;
    let own_docs: BTreeSet<&str> = strings(p, "created_a_realization_of").into_iter().collect();

    let mut raw_steps: Vec<RawStep> = Vec::new();
    for ev in many(p, "consists_of") {
        if let Some(step) = raw_step(ev, &own_docs) {
            raw_steps.push(step);
        }
    }
    let steps = merge_steps(raw_steps);

    let mut forecasts: Vec<Forecast> = Vec::new();
    for ev in many(p, "was_scheduled_in") {
        if let Some(f) = forecast(ev) {
            if !forecasts
                .iter()
                .any(|g| g.date == f.date && g.stage == f.stage)
            {
                forecasts.push(f);
            }
        }
    }
    forecasts.sort_by(|a, b| (a.date, a.stage, &a.label).cmp(&(b.date, b.stage, &b.label)));

    Ok(DossierSnapshot {
        reference,
        titles: titles(p),
        status: None,
        committees: committees(p),
        steps,
        forecasts,
        com: Vec::new(),
        final_act: None,
        act_dates: Default::default(),
        subjects: Vec::new(),
        eurovoc: Vec::new(),
        last_modified: None,
        provenance: input.provenance.clone(),
    })
}

fn procedure_ref(p: &Value) -> Result<ProcedureRef, ParseError> {
    let kind = str_of(p, "process_type")
        .map(last_segment)
        .and_then(|t| t.parse::<ProcedureType>().ok());
    let parsed = str_of(p, "label")
        .and_then(|l| l.parse::<ProcedureRef>().ok())
        .or_else(|| str_of(p, "process_id").and_then(|id| id.parse().ok()))
        .or_else(|| str_of(p, "id").and_then(|id| id.parse().ok()))
        .ok_or_else(|| {
            ParseError::Layout(
                "EP API Process without a usable `label`, `process_id` or `id`".into(),
            )
        })?;
    Ok(match (parsed.kind(), kind) {
        (None, Some(k)) => parsed.with_kind(k),
        _ => parsed,
    })
}

/// The title in every language `process_title` gives (24): English, French and German
/// in their fields, the others in `more`, sorted by language.
fn titles(p: &Value) -> Titles {
    let mut out = Titles::default();
    let Some(Value::Object(t)) = p.get("process_title") else {
        return out;
    };
    for (lang, v) in t {
        let Some(title) = v
            .as_str()
            .map(collapse_whitespace)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        match lang.as_str() {
            "en" => out.en = Some(title),
            "fr" => out.fr = Some(title),
            "de" => out.de = Some(title),
            other => out.more.push((other.to_ascii_lowercase(), title)),
        }
    }
    out.more.sort();
    out
}

/// Lead and opinion committees. The payload names rapporteurs only by EP person id
/// (`person/197829`), not by name, so `rapporteurs` stays empty rather than holding ids
/// that other sources would spell as names.
fn committees(p: &Value) -> Vec<Committee> {
    let mut out: Vec<Committee> = Vec::new();
    for part in many(p, "had_participation") {
        let role = match str_of(part, "participation_role").map(last_segment) {
            Some("COMMITTEE_LEAD") => CommitteeRole::Lead,
            Some("COMMITTEE_OPINION") => CommitteeRole::Opinion,
            _ => continue,
        };
        for org in strings(part, "had_participant_organization") {
            let code = last_segment(org).to_string();
            if code.is_empty() || out.iter().any(|c| c.code == code && c.role == role) {
                continue;
            }
            out.push(Committee {
                code,
                role,
                rapporteurs: Vec::new(),
            });
        }
    }
    out.sort_by(|a, b| {
        let rank = |r: CommitteeRole| match r {
            CommitteeRole::Lead => 0,
            CommitteeRole::Opinion => 1,
        };
        (rank(a.role), &a.code).cmp(&(rank(b.role), &b.code))
    });
    out
}

/// One event of `consists_of` before merging: the stage, a priority for choosing the
/// label of a merged step, and its documents.
struct RawStep {
    date: NaiveDate,
    stage: Stage,
    priority: u8,
    label: String,
    documents: Vec<Document>,
}

fn activity_date(ev: &Value) -> Option<NaiveDate> {
    let d = str_of(ev, "activity_date")?;
    // Dates come as `2024-04-10`, sometimes with a time part.
    NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok()
}

fn raw_step(ev: &Value, own_docs: &BTreeSet<&str>) -> Option<RawStep> {
    let date = activity_date(ev)?;
    let activity = str_of(ev, "had_activity_type").map(last_segment)?;
    let id = str_of(ev, "id").unwrap_or("");
    let event_id = id.strip_prefix("eli/dl/event/").unwrap_or(id);

    let decided: Vec<&str> = strings(ev, "decided_on_a_realization_of");
    let based: Vec<&str> = strings(ev, "based_on_a_realization_of");
    let recorded: Vec<&str> = strings(ev, "recorded_in_a_realization_of");

    // Plenary agenda items (`MTG-PL-...`) are often joint debates that cite the documents
    // of many procedures: keep only this procedure's own documents there.
    let shared_item = event_id.starts_with("MTG-");
    let keep = |d: &str| !shared_item || own_docs.contains(d) || own_docs.is_empty();
    let mut ids: Vec<&str> = decided.clone();
    ids.extend(based.iter().copied().filter(|d| keep(d)));
    ids.extend(recorded.iter().copied().filter(|d| keep(d)));
    let mut documents: Vec<Document> = Vec::new();
    for d in ids {
        let doc = ep_document(last_doc_id(d));
        if !documents.contains(&doc) {
            documents.push(doc);
        }
    }

    let all_docs: Vec<&str> = decided.iter().chain(&based).copied().collect();
    let amendments_only =
        !all_docs.is_empty() && all_docs.iter().all(|d| last_doc_id(d).contains("-AM-"));
    let committee = all_docs
        .iter()
        .find_map(|d| committee_of(last_doc_id(d)))
        .or_else(|| committee_in_event_id(event_id));

    let (stage, priority, label) = activity_stage(activity, amendments_only, committee);
    Some(RawStep {
        date,
        stage,
        priority,
        label,
        documents,
    })
}

fn last_doc_id(d: &str) -> &str {
    d.strip_prefix("eli/dl/doc/").unwrap_or(d)
}

/// `LIBE-PR-597620` → `LIBE`.
fn committee_of(doc: &str) -> Option<String> {
    let mut parts = doc.split('-');
    let code = parts.next()?;
    let kind = parts.next()?;
    let number = parts.next()?;
    let is_code = (3..=5).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase());
    let is_kind = (2..=3).contains(&kind.len()) && kind.bytes().all(|b| b.is_ascii_uppercase());
    (is_code && is_kind && number.bytes().all(|b| b.is_ascii_digit()) && !number.is_empty())
        .then(|| code.to_string())
}

/// `2016-0132-DEC-ADCP-BUDG-2017-03-06` → `BUDG`.
fn committee_in_event_id(event_id: &str) -> Option<String> {
    let parts: Vec<&str> = event_id.split('-').collect();
    let at = parts.iter().position(|p| *p == "ADCP")?;
    let code = parts.get(at + 1)?;
    ((3..=5).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase()))
        .then(|| code.to_string())
}

/// The stage of one `had_activity_type`, a priority (higher wins the label when several
/// activities make one step) and the label. Unknown activities stay `other` with their
/// code as label, so nothing the API reports is lost.
fn activity_stage(
    activity: &str,
    amendments_only: bool,
    committee: Option<String>,
) -> (Stage, u8, String) {
    if activity == "TABLING_PLENARY" && amendments_only {
        return (Stage::Other, 1, "Amendments tabled for plenary".into());
    }
    let known = |table: &[Activity]| table.iter().find(|(code, ..)| *code == activity).copied();
    if let Some((_, stage, priority, label)) = known(COMMITTEE_ACTIVITIES) {
        let label = match &committee {
            Some(c) => format!("{label} ({c})"),
            None => label.to_string(),
        };
        return (stage, priority, label);
    }
    match known(ACTIVITIES) {
        Some((_, stage, priority, label)) => (stage, priority, label.to_string()),
        // Not in the spec's (non-exhaustive) enum: keep the API's own code as the label.
        None => (Stage::Other, 0, activity.to_string()),
    }
}

/// A `had_activity_type` code, its stage, its priority and its label.
type Activity = (&'static str, Stage, u8, &'static str);

/// Activities of one committee: the label names the committee when the event id does.
#[rustfmt::skip]
const COMMITTEE_ACTIVITIES: &[Activity] = &[
    // The draft report (`…-PR-…`) tabled in committee: not a vote.
    ("COMMITTEE_TABLING_REPORT",    Stage::Other, 2, "Draft report tabled in committee"),
    ("COMMITTEE_TABLING_AMENDMENT", Stage::Other, 1, "Amendments tabled in committee"),
    ("COMMITTEE_TABLING_OPINION",   Stage::Other, 1, "Draft opinion tabled in committee"),
    ("COMMITTEE_ADOPTING_OPINION",  Stage::Other, 2, "Committee opinion adopted"),
];

/// The other activities of the API's vocabulary (`TABLING_PLENARY` of amendments only is
/// handled before this table is read).
#[rustfmt::skip]
const ACTIVITIES: &[Activity] = &[
    ("REFERRAL", Stage::Referral, 5, "Committee referral announced in Parliament"),
    ("COMMITTEE_ADOPTING_REPORT", Stage::CommitteeVote, 6, "Vote in committee"),
    ("TABLING_PLENARY", Stage::CommitteeVote, 5, "Committee report tabled for plenary"),
    ("PLENARY_ENDORSE_COMMITTEE_INTERINSTITUTIONAL_NEGOTIATIONS", Stage::Trilogue, 6,
        "Committee decision to open interinstitutional negotiations confirmed by plenary"),
    ("PLENARY_REFER_COMMITTEE_INTERINSTITUTIONAL_NEGOTIATIONS", Stage::Trilogue, 6,
        "Matter referred back to committee for interinstitutional negotiations"),
    // The spec's spelling, then the corrected one.
    ("PLENARY_REJECT_COMMITTEE_INTERINSTUTIONAL_NEGOTIATIONS", Stage::Other, 3,
        "Committee decision to open interinstitutional negotiations rejected by plenary"),
    ("PLENARY_REJECT_COMMITTEE_INTERINSTITUTIONAL_NEGOTIATIONS", Stage::Other, 3,
        "Committee decision to open interinstitutional negotiations rejected by plenary"),
    ("INTERINSTITUTIONAL_NEGOTIATION", Stage::Trilogue, 4,
        "Interinstitutional negotiations (trilogue)"),
    ("COMMITTEE_APPROVE_PROVISIONAL_AGREEMENT", Stage::ProvisionalAgreement, 6,
        "Provisional agreement from interinstitutional negotiations approved in committee"),
    ("PLENARY_DEBATE", Stage::PlenaryDebate, 5, "Debate in plenary"),
    ("PLENARY_VOTE", Stage::PlenaryVote, 3, "Vote in plenary"),
    ("PLENARY_VOTE_RESULTS", Stage::PlenaryVote, 4, "Results of vote in plenary"),
    ("PLENARY_ADOPT_POSITION", Stage::PlenaryVote, 7, "Parliament's position adopted in plenary"),
    ("PLENARY_AMEND_PROPOSAL", Stage::PlenaryVote, 7,
        "Commission proposal amended by Parliament in plenary"),
    ("PLENARY_AMEND", Stage::PlenaryVote, 6, "Amendments adopted in plenary"),
    ("PLENARY_DECISION", Stage::PlenaryVote, 6, "Decision by Parliament"),
    ("PLENARY_AMEND_COUNCIL_POSITION", Stage::PlenaryVote, 7,
        "Council position amended by Parliament (2nd reading)"),
    ("PLENARY_REJECT_COUNCIL_POSITION", Stage::PlenaryVote, 7,
        "Council position rejected by Parliament (2nd reading)"),
    ("PLENARY_APPROVE_COUNCIL_POSITION", Stage::Adopted, 7,
        "Council position approved by Parliament (2nd reading): act adopted"),
    ("SIGNATURE", Stage::Signed, 5, "Final act signed"),
    ("PUBLICATION_OFFICIAL_JOURNAL", Stage::Published, 5,
        "Final act published in the Official Journal"),
    ("PLENARY_VOTE_URGENCY", Stage::Other, 2, "Vote on urgent procedure"),
    ("PLENARY_ACTIVITY", Stage::Other, 1, "Item on the plenary agenda"),
    ("PLENARY_OUTCOME", Stage::Other, 1, "Outcome in plenary"),
    ("PLENARY_SITTING", Stage::Other, 0, "Plenary sitting"),
    ("PLENARY_PART_SESSION", Stage::Other, 0, "Plenary part-session"),
    ("PLENARY_PART_SESSION_DOSSIER", Stage::Other, 0, "On the agenda of a plenary part-session"),
    ("MEETING_PART", Stage::Other, 0, "Part of a meeting"),
    ("REQUEST_VOTE_ROLLCALL", Stage::Other, 0, "Request for a roll-call vote"),
    ("REQUEST_VOTE_SPLIT", Stage::Other, 0, "Request for a split vote"),
    ("REQUEST_VOTE_SEPARATE", Stage::Other, 0, "Request for a separate vote"),
    ("PLENARY_DEBATE_SPEECH", Stage::Other, 0, "Speech in plenary debate"),
    ("PLENARY_DEBATE_WRITTEN_STATEMENT", Stage::Other, 0, "Written statement for plenary debate"),
    ("PLENARY_VOTE_EXPLANATIONS", Stage::Other, 0, "Explanations of vote"),
];

/// Activities that map to the same stage on the same date become one step (documents
/// merged, the most specific label kept). `other` steps merge only with the same label.
fn merge_steps(mut raw: Vec<RawStep>) -> Vec<Step> {
    raw.sort_by(|a, b| {
        (a.date, a.stage, std::cmp::Reverse(a.priority), &a.label).cmp(&(
            b.date,
            b.stage,
            std::cmp::Reverse(b.priority),
            &b.label,
        ))
    });
    let mut out: Vec<Step> = Vec::new();
    for r in raw {
        let same = out.iter_mut().rev().find(|s| {
            s.date == r.date
                && s.stage == r.stage
                && (r.stage != Stage::Other || s.label == r.label)
        });
        match same {
            Some(step) => {
                for d in r.documents {
                    if !step.documents.contains(&d) {
                        step.documents.push(d);
                    }
                }
            }
            None => out.push(Step {
                date: r.date,
                stage: r.stage,
                label: r.label,
                documents: r.documents,
            }),
        }
    }
    for s in &mut out {
        s.documents.sort();
    }
    out.sort_by(|a, b| (a.date, a.stage, &a.label).cmp(&(b.date, b.stage, &b.label)));
    out
}

fn forecast(ev: &Value) -> Option<Forecast> {
    let date = activity_date(ev)?;
    let activity = str_of(ev, "had_activity_type").map(last_segment)?;
    let (stage, _, label) = activity_stage(activity, false, None);
    let label = match str_of(ev, "notation_agendaPoint") {
        Some(point) => format!("{label} (plenary agenda item {point})"),
        None => label,
    };
    Some(Forecast { date, stage, label })
}

/// An EP document id as the institutions write it, with a link:
/// `A-9-2024-0163` → `A9-0163/2024`, `TA-9-2024-0183` → `T9-0183/2024`,
/// `C-10-2025-0192` → `C10-0192/2025`, `LIBE-PR-597620` → `PE597.620`; other ids are
/// kept as they are.
pub(crate) fn ep_document(id: &str) -> Document {
    let parts: Vec<&str> = id.split('-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Series documents: A (reports), TA (texts adopted), B (motions), RC, C (registrations).
    if let [series, term, year, number] = parts.as_slice() {
        if digits(term) && digits(year) && year.len() == 4 && digits(number) {
            let letter = match *series {
                "TA" => Some("T"),
                "A" | "B" | "C" | "RC" => Some(*series),
                _ => None,
            };
            if let Some(letter) = letter {
                let url = matches!(*series, "A" | "TA" | "B" | "RC")
                    .then(|| format!("https://www.europarl.europa.eu/doceo/document/{id}_EN.html"));
                return Document {
                    reference: format!("{letter}{term}-{number}/{year}"),
                    url,
                };
            }
        }
    }
    // Committee documents: `LIBE-PR-597620` carries the PE number 597.620.
    if let [_, _, number] = parts.as_slice() {
        if committee_of(id).is_some() && number.len() == 6 && digits(number) {
            return Document {
                reference: format!("PE{}.{}", &number[..3], &number[3..]),
                url: Some(format!("https://data.europarl.europa.eu/eli/dl/doc/{id}")),
            };
        }
    }
    Document {
        reference: id.to_string(),
        url: Some(format!("https://data.europarl.europa.eu/eli/dl/doc/{id}")),
    }
}

// ---------------------------------------------------------------------------------------
// Change feeds (Atom)
// ---------------------------------------------------------------------------------------

/// The Atom change feeds: every entry naming a procedure (by its `id` or a `link`) gives
/// one `Observation::Changed`, deduplicated. An empty feed is valid and gives nothing, and
/// so is an empty body (the spec's `204 No Content`); any other body that is not an Atom
/// `feed` is a layout error.
pub fn parse_feed(input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    if is_html(input.body) {
        return Err(html_error(input.body));
    }
    if is_blank(input.body) {
        return Ok(Vec::new());
    }
    let mut reader = quick_xml::Reader::from_reader(input.body);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut saw_feed = false;
    let mut out: Vec<ProcedureRef> = Vec::new();
    let syntax = |e: quick_xml::Error, pos: u64| ParseError::Syntax {
        format: "Atom",
        message: format!("{e} at byte {pos}"),
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| syntax(e, reader.buffer_position()))?;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if stack.is_empty() {
                    check_feed_root(&name, "")?;
                    saw_feed = true;
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_vec();
                if stack.is_empty() {
                    check_feed_root(&name, "/")?;
                    saw_feed = true;
                    continue;
                }
                let in_entry = stack.last().is_some_and(|n| n == b"entry");
                if in_entry && name == b"link" {
                    for r in linked_procedures(&e) {
                        push_changed(r, &mut out);
                    }
                }
            }
            Event::Text(t) => {
                let in_entry_id = stack.len() >= 2
                    && stack[stack.len() - 1] == b"id"
                    && stack[stack.len() - 2] == b"entry";
                if in_entry_id {
                    let v = t
                        .unescape()
                        .map_err(|e| syntax(e, reader.buffer_position()))?;
                    if let Some(r) = procedure_in_uri(v.trim()) {
                        push_changed(r, &mut out);
                    }
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    check_feed_complete(&stack, saw_feed)?;
    Ok(out.into_iter().map(Observation::Changed).collect())
}

/// The document element must be an Atom `feed` (`close` is "/" for an empty element).
fn check_feed_root(name: &[u8], close: &str) -> Result<(), ParseError> {
    if name == b"feed" {
        return Ok(());
    }
    Err(ParseError::Layout(format!(
        "expected an Atom <feed>, found <{}{close}>",
        String::from_utf8_lossy(name)
    )))
}

/// The procedures an entry's `<link href>` names.
fn linked_procedures(link: &quick_xml::events::BytesStart<'_>) -> Vec<ProcedureRef> {
    link.attributes()
        .flatten()
        .filter(|a| a.key.local_name().as_ref() == b"href")
        .filter_map(|a| a.unescape_value().ok().and_then(|v| procedure_in_uri(&v)))
        .collect()
}

/// A changed procedure, once: a second mention of it is merged into the first.
fn push_changed(r: ProcedureRef, out: &mut Vec<ProcedureRef>) {
    if let Some(existing) = out.iter_mut().find(|x| **x == r) {
        *existing = existing.merge(r);
    } else {
        out.push(r);
    }
}

/// At the end of the body: every element closed, and a `feed` seen.
fn check_feed_complete(stack: &[Vec<u8>], saw_feed: bool) -> Result<(), ParseError> {
    if !stack.is_empty() {
        return Err(ParseError::Syntax {
            format: "Atom",
            message: format!(
                "truncated: <{}> is never closed",
                String::from_utf8_lossy(stack.last().map(Vec::as_slice).unwrap_or(b""))
            ),
        });
    }
    if !saw_feed {
        return Err(ParseError::Layout("no Atom <feed> element".into()));
    }
    Ok(())
}

/// The procedure an EP URI names: `…/eli/dl/proc/2016-0132`, `…/procedures/2016-0132`, or
/// an event of it, `…/eli/dl/event/2016-0132-SIGN-2024-05-14`. Events of plenary sittings
/// (`MTG-PL-…`) and documents name no procedure.
fn procedure_in_uri(uri: &str) -> Option<ProcedureRef> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    for marker in ["/eli/dl/proc/", "/procedures/"] {
        if let Some((_, rest)) = path.rsplit_once(marker) {
            let id = rest.split('/').next().unwrap_or(rest);
            return id.parse().ok();
        }
    }
    if let Some((_, rest)) = path.rsplit_once("/eli/dl/event/") {
        // `2016-0132-…` or `2016-0062A-…`: a year, a dash, four digits and a split letter.
        let b = rest.as_bytes();
        let ok = b.len() > 10
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[5..9].iter().all(u8::is_ascii_digit);
        if ok {
            let end = if b[9].is_ascii_uppercase() { 10 } else { 9 };
            if b.get(end) == Some(&b'-') {
                return rest[..end].parse().ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_rendered_the_institutions_way() {
        assert_eq!(ep_document("A-9-2024-0163").reference, "A9-0163/2024");
        assert_eq!(ep_document("TA-10-2026-0197").reference, "T10-0197/2026");
        assert_eq!(ep_document("C-10-2025-0192").reference, "C10-0192/2025");
        assert_eq!(ep_document("LIBE-PR-597620").reference, "PE597.620");
        assert_eq!(
            ep_document("CRE-9-2024-04-10-ITM-017").reference,
            "CRE-9-2024-04-10-ITM-017"
        );
        assert_eq!(
            ep_document("A-8-2017-0212").url.as_deref(),
            Some("https://www.europarl.europa.eu/doceo/document/A-8-2017-0212_EN.html")
        );
    }

    #[test]
    fn uris_name_procedures() {
        let p = |s: &str| procedure_in_uri(s).map(|r| r.ep_process_id());
        assert_eq!(
            p("https://data.europarl.europa.eu/eli/dl/proc/2016-0132").as_deref(),
            Some("2016-0132")
        );
        assert_eq!(
            p("https://data.europarl.europa.eu/eli/dl/event/2016-0062A-SIGN-2024-05-14").as_deref(),
            Some("2016-0062A")
        );
        assert_eq!(
            p("https://data.europarl.europa.eu/eli/dl/event/MTG-PL-2024-04-10-VOT-ITM-1"),
            None
        );
        assert_eq!(
            p("https://data.europarl.europa.eu/api/v2/procedures/2025-0260?format=x").as_deref(),
            Some("2025-0260")
        );
    }

    #[test]
    fn urls() {
        let r: ProcedureRef = "2016/0132(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            procedure_url("https://x/api/v2/", &r),
            "https://x/api/v2/procedures/2016-0132?format=application%2Fld%2Bjson"
        );
        assert_eq!(
            feed_urls("https://x/api/v2", true)[0],
            "https://x/api/v2/procedures/feed?timeframe=one-month"
        );
        assert_eq!(
            feed_urls("https://x/api/v2", false),
            vec![
                "https://x/api/v2/procedures/feed?timeframe=one-day".to_string(),
                "https://x/api/v2/events/feed?timeframe=one-day".to_string()
            ]
        );
    }
}
