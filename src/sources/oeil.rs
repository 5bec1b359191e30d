//! The EP Legislative Observatory (OEIL) procedure file: one HTML page in, one
//! `Observation::Dossier` out (reference, title, status line, committees and rapporteurs,
//! key events, forecasts, COM numbers, final act, subjects, the page's own change signal).
//!
//! Three markup generations are read: the old XHTML design (until November 2024, `ep_*`
//! classes and `#key_events-data`-style ids), and the new design whose classes carry a
//! prefix that was renamed once (`erpl_` in 2024, `es_` since 2025). The prefix is a
//! parameter tried in turn (`CLASS_PREFIXES`), so the next renaming is one string here.
//!
//! Must not: fetch, read the clock, or guess. A bot-challenge body is
//! `ParseError::Challenge`; a "does not exist" page is `ParseError::NotFound`; a page
//! without a key-events table (another OEIL page, a new redesign) is `ParseError::Layout`,
//! never an empty dossier.

use std::sync::LazyLock;

use chrono::NaiveDate;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::{looks_like_challenge, Input, ParseError};
use crate::model::{
    Celex, ComRef, Committee, CommitteeRole, Document, DossierSnapshot, Forecast, Observation,
    ProcedureRef, Stage, Step, Titles,
};
use crate::text::collapse_whitespace;

/// The Accept header for procedure files.
pub const ACCEPT: &str = "text/html";

/// The public OEIL host, used to resolve relative links when the provenance URL is not a
/// usable base.
pub const DEFAULT_BASE: &str = "https://oeil.europarl.europa.eu";

/// The class prefixes of the new design, newest first. A redesign that only renames the
/// prefix again needs one more entry here.
pub const CLASS_PREFIXES: [&str; 2] = ["es_", "erpl_"];

/// The procedure-file URL of one procedure: `{base}/oeil/en/procedure-file?reference=2024/0258(COD)`.
/// `base` may end with `/` or not.
pub fn procedure_url(base: &str, r: &ProcedureRef) -> String {
    let base = base.trim_end_matches('/');
    let mut reference = String::new();
    for c in r.oeil_reference().chars() {
        if c.is_ascii_alphanumeric() || "/()-_.".contains(c) {
            reference.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                reference.push_str(&format!("%{b:02X}"));
            }
        }
    }
    format!("{base}/oeil/en/procedure-file?reference={reference}")
}

/// Parse one OEIL procedure-file page into exactly one dossier snapshot.
pub fn parse(input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    if looks_like_challenge(input.body) || is_near_empty(input.body) {
        return Err(ParseError::Challenge);
    }
    let text = decode(input.body, input.content_type);
    let doc = Html::parse_document(&text);
    let base = Url::parse(&input.provenance.url)
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
        .or_else(|| Url::parse(DEFAULT_BASE).ok());
    let ctx = Ctx {
        base: base.as_ref(),
    };

    let raw = match new_design(&doc, &ctx)? {
        Some(raw) => raw,
        None => match old_design(&doc, &ctx)? {
            Some(raw) => raw,
            None => return Err(no_layout(&doc)),
        },
    };
    let snapshot = assemble(raw, &doc, input)?;
    Ok(vec![Observation::Dossier(Box::new(snapshot))])
}

// ---------------------------------------------------------------------------------------
// Selectors, built once.

fn sel(s: &str) -> Selector {
    // The selector strings are constants of this file, not data: a typo is a bug caught by
    // the first test run.
    Selector::parse(s).unwrap_or_else(|e| panic!("static selector {s:?}: {e}"))
}

struct Common {
    table: Selector,
    tr: Selector,
    th: Selector,
    thead_th: Selector,
    a: Selector,
    p: Selector,
    meta: Selector,
    title: Selector,
    flag: Selector,
    rapporteur: Selector,
    // old design
    old_key_events: Selector,
    old_row: Selector,
    old_cell: Selector,
    old_header_title: Selector,
    old_technical: Selector,
    old_basic_strong: Selector,
    old_status: Selector,
    old_players: Selector,
    old_abbr: Selector,
    old_photo: Selector,
    old_forecasts: Selector,
    old_final_act: Selector,
    old_not_found: Selector,
}

static SEL: LazyLock<Common> = LazyLock::new(|| Common {
    table: sel("table"),
    tr: sel("tr"),
    th: sel("th"),
    thead_th: sel("thead th"),
    a: sel("a[href]"),
    p: sel("p"),
    meta: sel("meta"),
    title: sel("title"),
    flag: sel("i.flag-icon, .flag-icon"),
    rapporteur: sel("a.rapporteur"),
    old_key_events: sel("#key_events-data"),
    old_row: sel(".ep-table-row"),
    old_cell: sel(".ep-table-cell"),
    old_header_title: sel("#procedure-file-header .ep_title"),
    old_technical: sel("#technical_information-data"),
    old_basic_strong: sel("#basic-information-data strong"),
    old_status: sel("p.procedure-status"),
    old_players: sel("#keyplayers_sectionPE-content"),
    old_abbr: sel("abbr"),
    old_photo: sel("a.photo"),
    old_forecasts: sel("#forecast-data"),
    old_final_act: sel("#final_act-data"),
    old_not_found: sel("span.ep_name"),
});

/// The selectors of the new design that carry the class prefix.
struct Prefixed {
    prefix: &'static str,
    title_h1: Selector,
    title_h2: Selector,
    badge: Selector,
}

static NEW_DESIGNS: LazyLock<Vec<Prefixed>> = LazyLock::new(|| {
    CLASS_PREFIXES
        .iter()
        .map(|p| Prefixed {
            prefix: p,
            title_h1: sel(&format!("h2.{p}title-h1")),
            title_h2: sel(&format!("h2.{p}title-h2")),
            badge: sel(&format!(".{p}badge-committee")),
        })
        .collect()
});

// ---------------------------------------------------------------------------------------
// What both layouts extract, before normalisation.

struct Ctx<'u> {
    base: Option<&'u Url>,
}

#[derive(Default)]
struct Raw {
    reference: Option<String>,
    title: Option<String>,
    status: Option<String>,
    subjects: Vec<String>,
    committees: Vec<Committee>,
    /// (date text, label, documents)
    events: Vec<(String, String, Vec<Document>)>,
    /// (date text, label)
    forecasts: Vec<(String, String)>,
    /// Links of the final-act section: (text, absolute URL).
    final_act: Vec<(String, String)>,
}

// ---------------------------------------------------------------------------------------
// The new design (`erpl_`, `es_`, ...): sections are `div.oeil-spy-section` headed by an
// `h2.{prefix}title-h2`; key events, technical information and key players are tables.

fn new_design(doc: &Html, ctx: &Ctx<'_>) -> Result<Option<Raw>, ParseError> {
    for design in NEW_DESIGNS.iter() {
        let sections = new_sections(doc, design);
        let Some(key_events) = find_section(&sections, "Key events") else {
            continue;
        };
        return new_design_page(doc, design, &sections, key_events, ctx).map(Some);
    }
    Ok(None)
}

type Sections<'a> = Vec<(String, ElementRef<'a>)>;

fn new_sections<'a>(doc: &'a Html, design: &Prefixed) -> Sections<'a> {
    let product_section = format!("{}product-section", design.prefix);
    doc.select(&design.title_h2)
        .filter_map(|h2| {
            let container = h2.ancestors().filter_map(ElementRef::wrap).find(|e| {
                e.value().has_class(
                    "oeil-spy-section",
                    scraper::CaseSensitivity::AsciiCaseInsensitive,
                ) || e.value().has_class(
                    &product_section,
                    scraper::CaseSensitivity::AsciiCaseInsensitive,
                )
            })?;
            Some((collapse_whitespace(&text_of(h2)), container))
        })
        .collect()
}

fn find_section<'a>(sections: &Sections<'a>, name: &str) -> Option<ElementRef<'a>> {
    sections
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(name))
        .map(|(_, e)| *e)
}

fn new_design_page(
    doc: &Html,
    design: &Prefixed,
    sections: &Sections<'_>,
    key_events: ElementRef<'_>,
    ctx: &Ctx<'_>,
) -> Result<Raw, ParseError> {
    let mut raw = Raw {
        reference: doc.select(&design.title_h1).next().map(|e| text_of(e)),
        // The page title is the first title-h2 outside any section.
        title: doc
            .select(&design.title_h2)
            .find(|h2| {
                !h2.ancestors().filter_map(ElementRef::wrap).any(|e| {
                    e.value().has_class(
                        "oeil-spy-section",
                        scraper::CaseSensitivity::AsciiCaseInsensitive,
                    )
                })
            })
            .map(text_of),
        ..Raw::default()
    };
    raw.events = new_key_events(key_events, ctx)?;
    if let Some(tech) = find_section(sections, "Technical information") {
        new_technical_information(tech, &mut raw);
    }
    if let Some(basic) = find_section(sections, "Basic information") {
        new_basic_information(basic, &mut raw);
    }
    if let Some(players) = find_section(sections, "Key players") {
        raw.committees = new_key_players(players, design);
    }
    if let Some(forecasts) = find_section(sections, "Forecasts") {
        raw.forecasts = new_forecasts(forecasts);
    }
    if let Some(final_act) = find_section(sections, "Final act") {
        raw.final_act = links(final_act, ctx);
    }
    Ok(raw)
}

/// Key events: Date | Event | Reference | Summary.
fn new_key_events(
    section: ElementRef<'_>,
    ctx: &Ctx<'_>,
) -> Result<Vec<(String, String, Vec<Document>)>, ParseError> {
    let table = section
        .select(&SEL.table)
        .next()
        .ok_or_else(|| ParseError::Layout("the \"Key events\" section has no table".into()))?;
    check_headers(table, &["Date", "Event"], "Key events")?;
    let mut events = Vec::new();
    for tr in table.select(&SEL.tr) {
        let cells: Vec<ElementRef<'_>> = tr
            .child_elements()
            .filter(|c| c.value().name() == "td")
            .collect();
        if cells.is_empty() {
            continue; // the header row
        }
        events.push(key_event_row(&cells, ctx)?);
    }
    Ok(events)
}

/// Technical information: th | td rows; the stage reached, and the reference if the
/// header had none.
fn new_technical_information(section: ElementRef<'_>, raw: &mut Raw) {
    for tr in section.select(&SEL.tr) {
        let (Some(th), Some(td)) = (
            tr.select(&SEL.th).next(),
            tr.child_elements().find(|c| c.value().name() == "td"),
        ) else {
            continue;
        };
        match collapse_whitespace(&text_of(th)).as_str() {
            "Stage reached in procedure" => raw.status = Some(text_of(td)),
            "Procedure reference" if raw.reference.is_none() => raw.reference = Some(text_of(td)),
            _ => {}
        }
    }
}

/// Basic information: `p.font-weight-bold` labels followed by a `p` value; the subjects,
/// and the status if the technical information had none.
fn new_basic_information(section: ElementRef<'_>, raw: &mut Raw) {
    for p in section.select(&SEL.p) {
        let label = collapse_whitespace(&text_of(p));
        if label != "Subject" && label != "Status" {
            continue;
        }
        let Some(value) = p.next_siblings().filter_map(ElementRef::wrap).next() else {
            continue;
        };
        if label == "Subject" {
            raw.subjects = value
                .text()
                .map(collapse_whitespace)
                .filter(|s| !s.is_empty())
                .collect();
        } else if raw.status.is_none() {
            raw.status = Some(text_of(value));
        }
    }
}

/// Key players: one table per role, the committee in a badge, rapporteurs as links.
fn new_key_players(section: ElementRef<'_>, design: &Prefixed) -> Vec<Committee> {
    let mut committees = Vec::new();
    for table in section.select(&SEL.table) {
        let Some(role) = table
            .select(&SEL.thead_th)
            .next()
            .and_then(|th| role_of(&text_of(th)))
        else {
            continue;
        };
        for tr in table.select(&SEL.tr) {
            let Some(badge) = tr.select(&design.badge).next() else {
                continue; // header and shadow-rapporteur rows
            };
            if declined(tr) {
                continue;
            }
            let rapporteurs = tr
                .child_elements()
                .find(|c| c.value().name() == "td")
                .map(|td| {
                    td.select(&SEL.rapporteur)
                        .map(|a| strip_group(&text_of(a)))
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            push_committee(&mut committees, &text_of(badge), role, rapporteurs);
        }
    }
    committees
}

/// Forecasts: Date | Subject.
fn new_forecasts(section: ElementRef<'_>) -> Vec<(String, String)> {
    let mut forecasts = Vec::new();
    for tr in section.select(&SEL.tr) {
        let cells: Vec<String> = tr
            .child_elements()
            .filter(|c| matches!(c.value().name(), "td" | "th"))
            .map(text_of)
            .collect();
        if cells.len() >= 2 && parse_date(&cells[0]).is_some() {
            forecasts.push((cells[0].clone(), cells[1].clone()));
        }
    }
    forecasts
}

// ---------------------------------------------------------------------------------------
// The old XHTML design (until November 2024): `div` tables (`.ep-table-row`,
// `.ep-table-cell`) inside sections with fixed ids.

fn old_design(doc: &Html, ctx: &Ctx<'_>) -> Result<Option<Raw>, ParseError> {
    let Some(key_events) = doc.select(&SEL.old_key_events).next() else {
        return Ok(None);
    };
    let mut raw = Raw::default();
    let mut header = doc.select(&SEL.old_header_title);
    raw.reference = header.next().map(text_of);
    raw.title = header.next().map(text_of);

    for row in key_events.select(&SEL.old_row) {
        if is_heading_row(row) {
            continue;
        }
        let cells: Vec<ElementRef<'_>> = row.select(&SEL.old_cell).collect();
        raw.events.push(key_event_row(&cells, ctx)?);
    }
    if let Some(tech) = doc.select(&SEL.old_technical).next() {
        old_technical_information(tech, &mut raw);
    }
    if raw.status.is_none() {
        raw.status = doc.select(&SEL.old_status).next().map(text_of);
    }
    raw.subjects = old_subjects(doc);
    if let Some(players) = doc.select(&SEL.old_players).next() {
        raw.committees = old_key_players(players);
    }
    if let Some(forecasts) = doc.select(&SEL.old_forecasts).next() {
        for row in forecasts.select(&SEL.old_row) {
            let cells: Vec<String> = row.select(&SEL.old_cell).map(text_of).collect();
            if cells.len() >= 2 && parse_date(&cells[0]).is_some() {
                raw.forecasts.push((cells[0].clone(), cells[1].clone()));
            }
        }
    }
    if let Some(final_act) = doc.select(&SEL.old_final_act).next() {
        raw.final_act = links(final_act, ctx);
    }
    Ok(Some(raw))
}

/// Technical information: label | value rows; the stage reached, and the reference if
/// the header had none.
fn old_technical_information(section: ElementRef<'_>, raw: &mut Raw) {
    for row in section.select(&SEL.old_row) {
        let cells: Vec<ElementRef<'_>> = row.select(&SEL.old_cell).collect();
        if cells.len() < 2 {
            continue;
        }
        match collapse_whitespace(&text_of(cells[0])).as_str() {
            "Stage reached in procedure" => raw.status = Some(text_of(cells[1])),
            "Procedure reference" if raw.reference.is_none() => {
                raw.reference = Some(text_of(cells[1]))
            }
            _ => {}
        }
    }
}

/// Subjects: `<strong>Subject</strong><br/>` then one text line per subject, up to the
/// next `<strong>`.
fn old_subjects(doc: &Html) -> Vec<String> {
    let mut subjects = Vec::new();
    let Some(strong) = doc
        .select(&SEL.old_basic_strong)
        .find(|s| collapse_whitespace(&text_of(*s)) == "Subject")
    else {
        return subjects;
    };
    for sib in strong.next_siblings() {
        if let Some(t) = sib.value().as_text() {
            let line = collapse_whitespace(t);
            if !line.is_empty() {
                subjects.push(line);
            }
        } else if sib
            .value()
            .as_element()
            .is_some_and(|e| e.name() == "strong")
        {
            break;
        }
    }
    subjects
}

/// Key players: a heading row per role, then one row per committee (its `abbr`) with
/// the rapporteurs' photo links, shadow rapporteurs left out.
fn old_key_players(section: ElementRef<'_>) -> Vec<Committee> {
    let mut committees = Vec::new();
    let mut role: Option<CommitteeRole> = None;
    for row in section.select(&SEL.old_row) {
        let cells: Vec<ElementRef<'_>> = row.select(&SEL.old_cell).collect();
        let Some(first) = cells.first() else { continue };
        if is_heading_row(row) {
            role = role_of(&text_of(*first));
            continue;
        }
        let (Some(role), Some(abbr)) = (role, first.select(&SEL.old_abbr).next()) else {
            continue;
        };
        if declined(row) {
            continue;
        }
        let rapporteurs = cells
            .get(1)
            .map(|cell| {
                cell.select(&SEL.old_photo)
                    .filter(|a| !in_shadow_list(*a))
                    .map(|a| strip_group(&text_of(a)))
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        push_committee(&mut committees, &text_of(abbr), role, rapporteurs);
    }
    committees
}

fn is_heading_row(row: ElementRef<'_>) -> bool {
    row.value().has_class(
        "ep-table-heading-row",
        scraper::CaseSensitivity::AsciiCaseInsensitive,
    )
}

fn in_shadow_list(a: ElementRef<'_>) -> bool {
    a.ancestors().filter_map(ElementRef::wrap).any(|e| {
        e.value().has_class(
            "shadow-rapporteur",
            scraper::CaseSensitivity::AsciiCaseInsensitive,
        )
    })
}

// ---------------------------------------------------------------------------------------
// From raw pieces to the snapshot.

fn assemble(raw: Raw, doc: &Html, input: &Input<'_>) -> Result<DossierSnapshot, ParseError> {
    let reference = procedure_reference(raw.reference)?;
    let mut steps = key_event_steps(raw.events, &reference)?;
    let forecasts = dated_forecasts(raw.forecasts);
    let final_act = attach_final_act(&raw.final_act, &mut steps);
    let com = com_numbers(&steps);

    let mut subjects: Vec<String> = Vec::new();
    for s in raw.subjects {
        if !subjects.contains(&s) {
            subjects.push(s);
        }
    }

    Ok(DossierSnapshot {
        reference,
        titles: page_titles(raw.title, doc),
        status: raw
            .status
            .map(|s| collapse_whitespace(&s))
            .filter(|s| !s.is_empty()),
        committees: raw.committees,
        steps,
        forecasts,
        com,
        final_act,
        act_dates: Default::default(),
        subjects,
        eurovoc: Vec::new(),
        last_modified: last_modified(doc),
        provenance: input.provenance.clone(),
    })
}

/// The procedure reference of the page header (or technical information).
fn procedure_reference(text: Option<String>) -> Result<ProcedureRef, ParseError> {
    let reference_text = text
        .map(|r| collapse_whitespace(&r))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ParseError::Layout("no procedure reference in the page header".into()))?;
    // "2025/0229 (NLE)", with any kind of space, is still 2025/0229(NLE).
    let compact: String = reference_text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    compact.parse().map_err(|e| {
        ParseError::Layout(format!(
            "procedure reference {reference_text:?} does not parse: {e}"
        ))
    })
}

/// The key events as steps: at least one, each with a dd/mm/yyyy date and a label.
fn key_event_steps(
    events: Vec<(String, String, Vec<Document>)>,
    reference: &ProcedureRef,
) -> Result<Vec<Step>, ParseError> {
    if events.is_empty() {
        return Err(ParseError::Layout(format!(
            "the key-events table of {reference} has no rows"
        )));
    }
    let mut steps = Vec::with_capacity(events.len());
    for (date, label, documents) in events {
        let date = parse_date(&date).ok_or_else(|| {
            ParseError::Layout(format!(
                "key event {label:?} of {reference}: date {date:?} is not dd/mm/yyyy"
            ))
        })?;
        let label = collapse_whitespace(&label);
        if label.is_empty() {
            return Err(ParseError::Layout(format!(
                "key event of {date} in {reference} has no label"
            )));
        }
        steps.push(Step {
            date,
            stage: event_stage(&label),
            label,
            documents,
        });
    }
    Ok(steps)
}

/// The forecasts with a date and a label.
fn dated_forecasts(raw: Vec<(String, String)>) -> Vec<Forecast> {
    raw.into_iter()
        .filter_map(|(date, label)| {
            let label = collapse_whitespace(&label);
            Some(Forecast {
                date: parse_date(&date)?,
                stage: forecast_stage(&label),
                label,
            })
        })
        .filter(|f| !f.label.is_empty())
        .collect()
}

/// Final act: the CELEX from the final-act links (else from the `published` step's
/// documents), and the act and OJ links added as documents of the `published` step.
fn attach_final_act(links: &[(String, String)], steps: &mut [Step]) -> Option<Celex> {
    let mut final_act: Option<Celex> = None;
    let mut act_docs: Vec<Document> = Vec::new();
    for (text, url) in links {
        if let Some(celex) = celex_in(url) {
            if final_act.is_none() {
                final_act = Some(celex.clone());
            }
            act_docs.push(Document {
                reference: celex.to_string(),
                url: Some(url.clone()),
            });
        } else if is_oj_link(text, url) {
            act_docs.push(Document {
                reference: oj_label(text),
                url: Some(url.clone()),
            });
        }
    }
    if let Some(published) = steps.iter_mut().rev().find(|s| s.stage == Stage::Published) {
        for d in act_docs {
            if !published
                .documents
                .iter()
                .any(|x| x.reference == d.reference)
            {
                published.documents.push(d);
            }
        }
        if final_act.is_none() {
            final_act = published
                .documents
                .iter()
                .find_map(|d| d.url.as_deref().and_then(celex_in));
        }
    }
    final_act
}

/// The COM numbers among the steps' documents, each once.
fn com_numbers(steps: &[Step]) -> Vec<ComRef> {
    let mut com: Vec<ComRef> = Vec::new();
    for d in steps.iter().flat_map(|s| &s.documents) {
        if d.reference.starts_with("COM") {
            if let Ok(c) = d.reference.parse::<ComRef>() {
                if !com.contains(&c) {
                    com.push(c);
                }
            }
        }
    }
    com
}

/// The page title, under the page's language.
fn page_titles(title: Option<String>, doc: &Html) -> Titles {
    let title = title
        .map(|t| collapse_whitespace(&t))
        .filter(|t| !t.is_empty());
    let mut titles = Titles::default();
    match page_language(doc).as_deref() {
        Some("fr") => titles.fr = title,
        Some("de") => titles.de = title,
        _ => titles.en = title,
    }
    titles
}

/// Why no known layout matched: a soft "does not exist" page, another OEIL page, or a
/// redesign.
fn no_layout(doc: &Html) -> ParseError {
    let title = doc
        .select(&SEL.title)
        .next()
        .map(text_of)
        .unwrap_or_default();
    let old_not_found = doc
        .select(&SEL.old_not_found)
        .any(|s| text_of(s).contains("does not exist"));
    let body_text =
        collapse_whitespace(&doc.root_element().text().collect::<String>()).to_lowercase();
    if old_not_found
        || [
            "this procedure or document does not exist",
            "procedure does not exist",
            "no procedure found",
            "no result found",
            "no results found",
        ]
        .iter()
        .any(|n| body_text.contains(n))
    {
        return ParseError::NotFound(if title.is_empty() {
            "OEIL says the procedure does not exist".into()
        } else {
            format!("OEIL says the procedure does not exist (page {title:?})")
        });
    }
    if title.to_lowercase().starts_with("document summary") {
        return ParseError::Layout(format!(
            "this is an OEIL document summary (page {title:?}), not a procedure file: no key-events table"
        ));
    }
    ParseError::Layout(format!(
        "no key-events table: neither the new design (a \"Key events\" section under h2.{{{}}}title-h2) nor the old design (#key_events-data) was found (page {title:?})",
        CLASS_PREFIXES.join(",")
    ))
}

// ---------------------------------------------------------------------------------------
// Stages.

/// The lifecycle stage of an OEIL key-event label.
pub fn event_stage(label: &str) -> Stage {
    let l = label.to_lowercase();
    let l = l.as_str();
    let starts = |p: &str| l.starts_with(p);
    if starts("approval in committee of the text agreed") {
        Stage::ProvisionalAgreement
    } else if (starts("committee decision to open") || starts("committee decision to enter"))
        && l.contains("interinstitutional negotiations")
    {
        Stage::Trilogue
    } else if l.contains("legislative proposal published") {
        Stage::Proposal
    } else if starts("committee referral announced in parliament") {
        Stage::Referral
    } else if starts("vote in committee")
        || starts("committee report tabled for plenary")
        || starts("committee recommendation tabled for plenary")
    {
        Stage::CommitteeVote
    } else if starts("debate in parliament") {
        Stage::PlenaryDebate
    } else if starts("decision by parliament") || starts("results of vote in parliament") {
        Stage::PlenaryVote
    } else if starts("council position") {
        Stage::CouncilPosition
    } else if starts("act adopted by council")
        || starts("act approved by council")
        || starts("decision by council")
    {
        Stage::Adopted
    } else if starts("final act signed") {
        Stage::Signed
    } else if starts("final act published in official journal") {
        Stage::Published
    } else if starts("proposal withdrawn") || l.contains("procedure lapsed") {
        Stage::Withdrawn
    } else {
        Stage::Other
    }
}

/// The lifecycle stage a forecast announces.
pub fn forecast_stage(label: &str) -> Stage {
    let l = label.to_lowercase();
    if l.starts_with("indicative plenary sitting date") || l.contains("vote scheduled") {
        Stage::PlenaryVote
    } else if l.contains("debate scheduled") || l.contains("debate in plenary scheduled") {
        Stage::PlenaryDebate
    } else if l.starts_with("council position scheduled") {
        Stage::CouncilPosition
    } else {
        event_stage(label)
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers.

fn is_near_empty(body: &[u8]) -> bool {
    body.iter().filter(|b| !b.is_ascii_whitespace()).count() < 200
}

fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let label = content_type.and_then(|ct| {
        ct.split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
            .map(|(_, c)| c.trim().trim_matches('"').to_string())
    });
    match label.and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes())) {
        Some(enc) => enc.decode(body).0.into_owned(),
        None => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Date, event label and documents of one key-events row (every design has the columns
/// Date | Event | Reference | Summary).
fn key_event_row(
    cells: &[ElementRef<'_>],
    ctx: &Ctx<'_>,
) -> Result<(String, String, Vec<Document>), ParseError> {
    if cells.len() < 3 {
        return Err(ParseError::Layout(format!(
            "a key-events row has {} cells, expected Date | Event | Reference | Summary",
            cells.len()
        )));
    }
    Ok((
        text_of(cells[0]),
        text_of(cells[1]),
        documents(cells[2], ctx),
    ))
}

fn text_of(e: ElementRef<'_>) -> String {
    collapse_whitespace(&e.text().collect::<String>())
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(collapse_whitespace(s).as_str(), "%d/%m/%Y").ok()
}

fn check_headers(table: ElementRef<'_>, wanted: &[&str], what: &str) -> Result<(), ParseError> {
    let headers: Vec<String> = table.select(&SEL.thead_th).map(text_of).collect();
    if headers.is_empty() {
        return Ok(()); // no thead: rows are checked one by one
    }
    for w in wanted {
        if !headers.iter().any(|h| h.eq_ignore_ascii_case(w)) {
            return Err(ParseError::Layout(format!(
                "the {what:?} table has columns {headers:?}, expected {wanted:?} among them"
            )));
        }
    }
    Ok(())
}

/// The role of a key-players table from its first header: "Committee responsible", "Joint
/// committee responsible", "Committee for opinion", "Committee for budgetary assessment";
/// former committees and non-committee tables have none.
fn role_of(header: &str) -> Option<CommitteeRole> {
    let h = collapse_whitespace(header).to_lowercase();
    if h.starts_with("former") {
        None
    } else if h.contains("committee responsible") {
        Some(CommitteeRole::Lead)
    } else if h.starts_with("committee for") {
        Some(CommitteeRole::Opinion)
    } else {
        None
    }
}

fn declined(row: ElementRef<'_>) -> bool {
    text_of(row).contains("decided not to give an opinion")
}

fn push_committee(
    out: &mut Vec<Committee>,
    code: &str,
    role: CommitteeRole,
    rapporteurs: Vec<String>,
) {
    let code = collapse_whitespace(code);
    if code.is_empty() {
        return;
    }
    if let Some(c) = out.iter_mut().find(|c| c.code == code && c.role == role) {
        for r in rapporteurs {
            if !c.rapporteurs.contains(&r) {
                c.rapporteurs.push(r);
            }
        }
    } else {
        out.push(Committee {
            code,
            role,
            rapporteurs,
        });
    }
}

/// "MIKSER Sven (S&D)" → "MIKSER Sven": the old design shows no group, so names alone keep
/// the designs comparable.
fn strip_group(name: &str) -> String {
    let name = collapse_whitespace(name);
    match name.rfind(" (") {
        Some(i) if name.ends_with(')') => name[..i].to_string(),
        _ => name,
    }
}

fn absolute(href: &str, ctx: &Ctx<'_>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') || href.starts_with("javascript:") {
        return None;
    }
    match ctx.base {
        Some(base) => base.join(href).ok().map(String::from),
        None => Url::parse(href).ok().map(String::from),
    }
}

/// Every link of a section: (text, absolute URL).
fn links(section: ElementRef<'_>, ctx: &Ctx<'_>) -> Vec<(String, String)> {
    section
        .select(&SEL.a)
        .filter_map(|a| Some((text_of(a), absolute(a.value().attr("href")?, ctx)?)))
        .collect()
}

/// The documents of a key-event "Reference" cell, in page order: links (`COM(2024)0469`,
/// `A10-0006/2025`, icon links to debates and votes) and plain references in a `span`
/// (`GEDA/A/(2025)001013`). The EUR-Lex flag next to a COM number repeats it and is skipped.
fn documents(cell: ElementRef<'_>, ctx: &Ctx<'_>) -> Vec<Document> {
    let mut out: Vec<Document> = Vec::new();
    for node in cell.descendants() {
        let Some(el) = ElementRef::wrap(node) else {
            continue;
        };
        let doc = match el.value().name() {
            "a" => {
                let Some(url) = el.value().attr("href").and_then(|h| absolute(h, ctx)) else {
                    continue;
                };
                let text = text_of(el);
                if text.is_empty() {
                    if el.select(&SEL.flag).next().is_some() {
                        continue;
                    }
                    Document {
                        reference: reference_from_url(&url),
                        url: Some(url),
                    }
                } else {
                    Document {
                        reference: text,
                        url: Some(url),
                    }
                }
            }
            "span" => {
                let own: String = el
                    .children()
                    .filter_map(|c| c.value().as_text().map(|t| t.to_string()))
                    .collect();
                let own = collapse_whitespace(&own);
                let in_link = el
                    .ancestors()
                    .filter_map(ElementRef::wrap)
                    .take_while(|e| e.id() != cell.id())
                    .any(|e| e.value().name() == "a");
                if own.is_empty() || in_link {
                    continue;
                }
                Document {
                    reference: own,
                    url: None,
                }
            }
            _ => continue,
        };
        if !out.iter().any(|d| d.reference == doc.reference) {
            out.push(doc);
        }
    }
    out
}

/// A reference for a link without text: `…/CRE-10-2025-03-10-TOC_EN.html` →
/// `CRE-10-2025-03-10-TOC`; `…/sda-vote-result?sdaId=60860` keeps its query.
fn reference_from_url(url: &str) -> String {
    let Ok(u) = Url::parse(url) else {
        return url.to_string();
    };
    let last = u
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("")
        .to_string();
    let stem = last.rsplit_once('.').map(|(s, _)| s).unwrap_or(&last);
    let stem = match stem.rsplit_once('_') {
        Some((s, lang)) if lang.len() == 2 && lang.chars().all(|c| c.is_ascii_uppercase()) => s,
        _ => stem,
    };
    if stem.is_empty() {
        return url.to_string();
    }
    match u.query() {
        Some(q) if !stem.chars().any(|c| c.is_ascii_digit()) => format!("{stem}?{q}"),
        _ => stem.to_string(),
    }
}

fn celex_in(url: &str) -> Option<Celex> {
    let decoded = url.replace("%3A", ":").replace("%3a", ":");
    Celex::find_all(&decoded).into_iter().next()
}

fn is_oj_link(text: &str, url: &str) -> bool {
    text.starts_with("OJ ") || url.contains("/oj/") || url.contains("/JOHtml")
}

/// "OJ OJ L 21.03.2025" (sic, on the page) → "OJ L 21.03.2025".
fn oj_label(text: &str) -> String {
    let mut t = collapse_whitespace(text);
    while let Some(rest) = t.strip_prefix("OJ OJ ") {
        t = format!("OJ {rest}");
    }
    t
}

fn meta_content(doc: &Html, attr: &str, value: &str) -> Option<String> {
    doc.select(&SEL.meta)
        .find(|m| {
            m.value()
                .attr(attr)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
        })
        .and_then(|m| m.value().attr("content"))
        .map(collapse_whitespace)
        .filter(|c| !c.is_empty())
}

/// The page's change signal: `<meta http-equiv="last-modified">` (old design), else
/// `<meta name="available">`. Weak either way: both old captures carry the same
/// last-modified "06/06/2023 14:02" although one has key events of December 2023, and
/// `available` is the day the page was rendered. Diff the content, not this.
fn last_modified(doc: &Html) -> Option<String> {
    meta_content(doc, "http-equiv", "last-modified")
        .or_else(|| meta_content(doc, "name", "available"))
}

fn page_language(doc: &Html) -> Option<String> {
    meta_content(doc, "name", "language").map(|l| l.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_the_display_reference() {
        let r: ProcedureRef = "2024-0258".parse().unwrap_or_else(|e| panic!("{e}"));
        let r = r.with_kind(crate::model::ProcedureType::Cod);
        let want =
            "https://oeil.europarl.europa.eu/oeil/en/procedure-file?reference=2024/0258(COD)";
        assert_eq!(procedure_url("https://oeil.europarl.europa.eu", &r), want);
        assert_eq!(procedure_url("https://oeil.europarl.europa.eu/", &r), want);
    }

    #[test]
    fn labels_map_to_stages() {
        for (label, stage) in [
            ("Legislative proposal published", Stage::Proposal),
            ("Committee referral announced in Parliament, 1st reading", Stage::Referral),
            ("Vote in committee, 1st reading", Stage::CommitteeVote),
            ("Committee report tabled for plenary, 1st reading/single reading", Stage::CommitteeVote),
            ("Committee decision to open interinstitutional negotiations with report adopted in committee", Stage::Trilogue),
            ("Committee decision to enter into interinstitutional negotiations announced in plenary (Rule 71)", Stage::Trilogue),
            ("Committee decision to enter into interinstitutional negotiations confirmed by plenary (Rule 71)", Stage::Trilogue),
            ("Approval in committee of the text agreed at 1st reading interinstitutional negotiations", Stage::ProvisionalAgreement),
            ("Debate in Parliament", Stage::PlenaryDebate),
            ("Decision by Parliament, 1st reading", Stage::PlenaryVote),
            ("Results of vote in Parliament", Stage::PlenaryVote),
            ("Council position published", Stage::CouncilPosition),
            ("Act adopted by Council after Parliament's 1st reading", Stage::Adopted),
            ("Final act signed", Stage::Signed),
            ("Final act published in Official Journal", Stage::Published),
            ("Proposal withdrawn by Commission", Stage::Withdrawn),
            ("Referral to associated committees announced in Parliament", Stage::Other),
        ] {
            assert_eq!(event_stage(label), stage, "{label}");
        }
        assert_eq!(
            forecast_stage("Indicative plenary sitting date"),
            Stage::PlenaryVote
        );
        assert_eq!(
            forecast_stage("Indicative plenary sitting date, 1st reading/single reading"),
            Stage::PlenaryVote
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(collapse_whitespace(" a\u{a0}\u{a0}b \n c "), "a b c");
        assert_eq!(strip_group("MIKSER Sven (S&D)"), "MIKSER Sven");
        assert_eq!(oj_label("OJ OJ L 21.03.2025"), "OJ L 21.03.2025");
        assert_eq!(
            reference_from_url(
                "https://www.europarl.europa.eu/doceo/document/CRE-10-2025-03-10-TOC_EN.html"
            ),
            "CRE-10-2025-03-10-TOC"
        );
        assert_eq!(
            reference_from_url(
                "https://oeil.europarl.europa.eu/oeil/en/sda-vote-result?sdaId=60860"
            ),
            "sda-vote-result?sdaId=60860"
        );
        assert_eq!(
            celex_in("https://eur-lex.europa.eu/smartapi/cgi/sga_doc?smartapi!celexplus!prod!CELEXnumdoc&lg=EN&numdoc=32025R0535")
                .map(|c| c.to_string()),
            Some("32025R0535".into())
        );
    }
}
