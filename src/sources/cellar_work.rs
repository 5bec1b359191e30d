//! CELLAR work notices (`{base}/resource/celex/52018PC0340`, `Accept:
//! application/xml;notice=branch`): the dates the law attaches to one act of a dossier.
//! From a Commission proposal, the day it was sent to the national parliaments
//! (`RESOURCE_LEGAL_DATE_DISPATCH` annotated `TRANS/PARL`), which starts the 8-week
//! subsidiarity window; from a final directive, its transposition deadline(s)
//! (`DIRECTIVE_DATE_TRANSPOSITION`, the CDM property `directive_date_transposition`).
//!
//! Reads only the notice's own `WORK` (embedded notices of cited works, expressions and
//! manifestations are skipped), as a stream: a branch notice of a proposal is about 1 MB.
//! Must not do HTTP or read the clock; which notices to fetch is the poll's decision.

use chrono::NaiveDate;
use quick_xml::events::Event;

use super::cellar::{not_a_notice, syntax, truncated};
use super::{Input, ParseError};
use crate::model::{ActDates, Celex, DossierSnapshot, Observation, ProcedureRef, Titles};

/// The Accept header that makes CELLAR answer with a work's branch notice.
pub const ACCEPT: &str = "application/xml;notice=branch";

/// `{base}/resource/celex/32019L0904`.
pub fn url(base: &str, celex: &Celex) -> String {
    format!("{}/resource/celex/{celex}", base.trim_end_matches('/'))
}

/// Which act of the dossier a work notice is read for: it decides which date is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Commission proposal: when it was sent to the national parliaments.
    Proposal,
    /// The adopted act: its transposition deadlines, if it is a directive.
    FinalAct,
}

/// What a work notice says, before the role picks from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkNotice {
    /// `RESOURCE_LEGAL_ID_CELEX` (or `ID_CELEX`).
    pub celex: Option<String>,
    /// `WORK_HAS_RESOURCE-TYPE` identifier: `PROP_DIR`, `DIR`, `REG` ...
    pub resource_type: Option<String>,
    /// Dispatch dates annotated `TRANS/PARL`, earliest first.
    pub sent_to_parliaments: Vec<NaiveDate>,
    /// `DIRECTIVE_DATE_TRANSPOSITION` values, sorted, without duplicates.
    pub transposition: Vec<NaiveDate>,
}

/// Read the notice's own `WORK`.
pub fn read(body: &[u8]) -> Result<WorkNotice, ParseError> {
    super::cellar::reject_html(body)?;
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut embedded = 0usize;
    let mut saw_root = false;
    let mut saw_work = false;
    let mut out = WorkNotice::default();
    // The dispatch element being read: its date and whether it went to parliaments.
    let mut dispatch: (Option<NaiveDate>, bool) = (None, false);

    loop {
        let ev = reader
            .read_event()
            .map_err(|e| syntax(e.to_string(), reader.buffer_position()))?;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if stack.is_empty() {
                    if name != b"NOTICE" {
                        return Err(not_a_notice(&name));
                    }
                    saw_root = true;
                }
                if name == b"EMBEDDED_NOTICE" {
                    embedded += 1;
                }
                if embedded == 0 && stack.len() == 1 && name == b"WORK" {
                    saw_work = true;
                }
                if embedded == 0 && own_field(&stack) && name == b"RESOURCE_LEGAL_DATE_DISPATCH" {
                    dispatch = (None, false);
                }
                stack.push(name);
            }
            Event::Text(t) if embedded == 0 && stack.len() >= 4 && own_field(&stack[..2]) => {
                let text = t
                    .unescape()
                    .map_err(|e| syntax(e.to_string(), reader.buffer_position()))?;
                field_value(&stack, text.trim(), &mut out, &mut dispatch);
            }
            Event::End(_) => {
                let Some(name) = stack.pop() else {
                    return Err(syntax(
                        "unbalanced end tag".into(),
                        reader.buffer_position(),
                    ));
                };
                if name == b"EMBEDDED_NOTICE" {
                    embedded = embedded.saturating_sub(1);
                } else if embedded == 0
                    && own_field(&stack)
                    && name == b"RESOURCE_LEGAL_DATE_DISPATCH"
                {
                    if let (Some(d), true) = dispatch {
                        out.sent_to_parliaments.push(d);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(truncated(open));
    }
    finish(out, saw_root, saw_work)
}

/// A value in one of the work's own fields (`stack` is `NOTICE/WORK/<field>/...`): the
/// CELEX, the resource type, a dispatch date and whether it went to the parliaments, or
/// a transposition deadline.
fn field_value(
    stack: &[Vec<u8>],
    text: &str,
    out: &mut WorkNotice,
    dispatch: &mut (Option<NaiveDate>, bool),
) {
    let field = stack[2].as_slice();
    let leaf = stack[stack.len() - 1].as_slice();
    match (field, stack.len(), leaf) {
        (b"RESOURCE_LEGAL_ID_CELEX" | b"ID_CELEX", 4, b"VALUE") => {
            out.celex.get_or_insert_with(|| text.to_string());
        }
        (b"WORK_HAS_RESOURCE-TYPE", 4, b"IDENTIFIER") => {
            out.resource_type.get_or_insert_with(|| text.to_string());
        }
        (b"RESOURCE_LEGAL_DATE_DISPATCH", 4, b"VALUE") => dispatch.0 = date(text),
        // `{TRANS/PARL|http://publications.europa.eu/resource/authority/fd_340/TRANS%2FPARL}`
        (b"RESOURCE_LEGAL_DATE_DISPATCH", _, b"COMMENT_ON_DATE")
            if text.contains("TRANS/PARL") || text.contains("TRANS%2FPARL") =>
        {
            dispatch.1 = true;
        }
        (b"DIRECTIVE_DATE_TRANSPOSITION", 4, b"VALUE") => {
            if let Some(d) = date(text) {
                out.transposition.push(d);
            }
        }
        _ => {}
    }
}

/// The notice read to its end: it must have had a `NOTICE` root and a `WORK`; the dates
/// come out sorted, the transposition deadlines without duplicates.
fn finish(mut out: WorkNotice, saw_root: bool, saw_work: bool) -> Result<WorkNotice, ParseError> {
    if !saw_root {
        return Err(ParseError::Layout(
            "no CELLAR <NOTICE> element (empty or non-XML body)".into(),
        ));
    }
    if !saw_work {
        return Err(ParseError::Layout(
            "CELLAR notice has no WORK: not a work notice".into(),
        ));
    }
    out.sent_to_parliaments.sort();
    out.transposition.sort();
    out.transposition.dedup();
    Ok(out)
}

/// `stack` is `NOTICE/WORK`: the next element is one of the work's own fields.
fn own_field(stack: &[Vec<u8>]) -> bool {
    stack.len() == 2 && stack[0] == b"NOTICE" && stack[1] == b"WORK"
}

/// `2021-07-03`, also with a time or zone after it.
fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// The work notice of `celex`, read for `role` in `dossier`: one snapshot carrying only the
/// act dates (everything else empty, so the merge keeps what the other sources said).
/// A notice of another act than the one asked for is a layout error, never merged.
pub fn parse(
    input: &Input<'_>,
    dossier: ProcedureRef,
    role: Role,
    celex: &Celex,
) -> Result<Vec<Observation>, ParseError> {
    let notice = read(input.body)?;
    if let Some(found) = &notice.celex {
        if found.parse::<Celex>().ok().as_ref() != Some(celex) {
            return Err(ParseError::Layout(format!(
                "the notice is about {found}, not {celex}"
            )));
        }
    }
    let mut act_dates = ActDates::default();
    match role {
        Role::Proposal => {
            act_dates.sent_to_parliaments = notice.sent_to_parliaments.first().copied()
        }
        Role::FinalAct if celex.is_directive() => act_dates.transposition = notice.transposition,
        Role::FinalAct => {}
    }
    Ok(vec![Observation::Dossier(Box::new(DossierSnapshot {
        reference: dossier,
        titles: Titles::default(),
        status: None,
        committees: Vec::new(),
        steps: Vec::new(),
        forecasts: Vec::new(),
        com: Vec::new(),
        final_act: None,
        act_dates,
        subjects: Vec::new(),
        eurovoc: Vec::new(),
        last_modified: None,
        provenance: input.provenance.clone(),
    }))])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<NOTICE decoding="eng" type="branch">
  <WORK>
    <WORK_HAS_EXPRESSION type="link"><EMBEDDED_NOTICE><WORK>
      <DIRECTIVE_DATE_TRANSPOSITION type="date"><VALUE>1999-01-01</VALUE></DIRECTIVE_DATE_TRANSPOSITION>
      <RESOURCE_LEGAL_ID_CELEX type="data"><VALUE>31998L0001</VALUE></RESOURCE_LEGAL_ID_CELEX>
    </WORK></EMBEDDED_NOTICE></WORK_HAS_EXPRESSION>
    <RESOURCE_LEGAL_ID_CELEX type="data"><VALUE>32019L0904</VALUE></RESOURCE_LEGAL_ID_CELEX>
    <DIRECTIVE_DATE_TRANSPOSITION type="date"><VALUE>2024-12-31</VALUE></DIRECTIVE_DATE_TRANSPOSITION>
    <DIRECTIVE_DATE_TRANSPOSITION type="date"><VALUE>2021-07-03</VALUE></DIRECTIVE_DATE_TRANSPOSITION>
    <DIRECTIVE_DATE_TRANSPOSITION type="date"><VALUE>2021-07-03</VALUE></DIRECTIVE_DATE_TRANSPOSITION>
    <RESOURCE_LEGAL_DATE_DISPATCH type="date"><VALUE>2019-05-02</VALUE>
      <ANNOTATION><COMMENT_ON_DATE>{TRANS/CONS|x}</COMMENT_ON_DATE></ANNOTATION>
    </RESOURCE_LEGAL_DATE_DISPATCH>
  </WORK>
  <EXPRESSION><DIRECTIVE_DATE_TRANSPOSITION type="date"><VALUE>2000-01-01</VALUE></DIRECTIVE_DATE_TRANSPOSITION></EXPRESSION>
</NOTICE>"#;

    #[test]
    fn reads_only_the_works_own_dates() {
        let n = read(NOTICE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.celex.as_deref(), Some("32019L0904"));
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        assert_eq!(n.transposition, vec![d("2021-07-03"), d("2024-12-31")]);
        // Sent to the Council only: not the subsidiarity start.
        assert!(n.sent_to_parliaments.is_empty());
    }

    #[test]
    fn broken_notices_are_errors() {
        assert!(matches!(read(b""), Err(ParseError::Layout(_))));
        assert!(matches!(
            read(b"<NOTICE type=\"tree\"><DOSSIER/></NOTICE>"),
            Err(ParseError::Layout(m)) if m.contains("WORK")
        ));
        let cut = &NOTICE.as_bytes()[..NOTICE.len() / 2];
        assert!(read(cut).is_err());
        assert!(matches!(
            read(b"<!DOCTYPE html><html><body>x</body></html>"),
            Err(ParseError::Layout(_))
        ));
    }

    #[test]
    fn url_of_a_work() {
        let c: Celex = "32019L0904".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url("http://publications.europa.eu/", &c),
            "http://publications.europa.eu/resource/celex/32019L0904"
        );
    }
}
