//! The Publications Office CELLAR: procedure tree notices
//! (`{base}/resource/procedure/2018_172`, `Accept: application/xml;notice=tree`), each
//! turned into one `DossierSnapshot`: reference, titles, the `EVENT`s as steps, the COM
//! proposal, the final act's CELEX, `LASTMODIFICATIONDATE`, and the EuroVoc concepts its
//! acts are classified by (`WORK_IS_ABOUT_CONCEPT_EUROVOC*`, also in embedded notices).
//!
//! Owns the mapping of the OP "event" authority codes (`ADP_byCOM`, `OPI_byCOR`,
//! `PUB_OJ`, ...) onto `Stage`. Reads the notice as a stream (notices reach 1.3 MB and
//! embed whole work notices, which are skipped), builds no DOM. Must not do HTTP or read
//! the clock.

use chrono::{DateTime, NaiveDate};
use quick_xml::events::{BytesStart, Event};

use super::ep_api::ep_document;
use super::{looks_like_challenge, Input, ParseError};
use crate::model::{
    Celex, ComRef, Document, DossierSnapshot, EuroVoc, Observation, ProcedureRef, ProcedureType,
    Stage, Step, Titles,
};
use crate::text::collapse_whitespace;

/// The Accept header that makes CELLAR answer with a tree notice.
pub const ACCEPT: &str = "application/xml;notice=tree";

/// `{base}/resource/procedure/2018_172`.
pub fn procedure_url(base: &str, r: &ProcedureRef) -> String {
    format!(
        "{}/resource/procedure/{}",
        base.trim_end_matches('/'),
        r.eurlex_id()
    )
}

/// One procedure tree notice → one `Observation::Dossier`.
pub fn parse(input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    reject_html(input.body)?;
    let notice = read_notice(input.body)?;
    let snapshot = notice.into_snapshot(input)?;
    Ok(vec![Observation::Dossier(Box::new(snapshot))])
}

/// An XML syntax error at byte `pos`.
pub(super) fn syntax(e: String, pos: u64) -> ParseError {
    ParseError::Syntax {
        format: "XML",
        message: format!("{e} at byte {pos}"),
    }
}

/// The document's root element is not `<NOTICE>`.
pub(super) fn not_a_notice(root: &[u8]) -> ParseError {
    ParseError::Layout(format!(
        "expected a CELLAR <NOTICE>, found <{}>",
        String::from_utf8_lossy(root)
    ))
}

/// The body ended inside `<open>`.
pub(super) fn truncated(open: &[u8]) -> ParseError {
    ParseError::Syntax {
        format: "XML",
        message: format!(
            "truncated: <{}> is never closed",
            String::from_utf8_lossy(open)
        ),
    }
}

/// An HTML page where a notice should be: a bot challenge, or some other page.
pub(super) fn reject_html(body: &[u8]) -> Result<(), ParseError> {
    let head = &body[..body.len().min(2048)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    if head.contains("<html") || head.contains("<!doctype html") {
        return Err(if looks_like_challenge(body) {
            ParseError::Challenge
        } else {
            ParseError::Layout("an HTML page instead of a CELLAR notice".into())
        });
    }
    Ok(())
}

/// What the stream yields, before interpretation.
#[derive(Default)]
struct Notice {
    saw_root: bool,
    notice_type: Option<String>,
    default_lang: Option<String>,
    saw_dossier: bool,
    reference_code: Option<String>,
    reference_fallback: Option<String>,
    procedure_ids: Vec<String>,
    procedure_kind: Option<String>,
    titles: Vec<(Option<String>, String)>,
    last_modified: Option<String>,
    com_type: Option<String>,
    com_year: Option<String>,
    com_number: Option<String>,
    produces: Vec<String>,
    contains_celex: Vec<String>,
    events: Vec<RawEvent>,
    eurovoc: Vec<EuroVoc>,
}

/// A EuroVoc concept element being read: its URI's id, its own `IDENTIFIER` (a domain's
/// or micro-thesaurus's code), its labels.
#[derive(Default)]
struct RawConcept {
    uri_id: Option<String>,
    code: Option<String>,
    pref: Option<String>,
    alt: Vec<String>,
}

impl RawConcept {
    /// The concept, if it named one: a wrapper element (a facet, a hierarchy) has no
    /// identifier of its own.
    fn finish(self) -> Option<EuroVoc> {
        let id = self.uri_id.or(self.code)?;
        let mut labels: Vec<String> = Vec::new();
        let mut add = |l: String| {
            let l = collapse_whitespace(&l);
            if !l.is_empty() && !labels.contains(&l) {
                labels.push(l);
            }
        };
        for l in self.pref.into_iter().chain(self.alt) {
            // A domain or micro-thesaurus label starts with its code: `5206 environmental
            // policy`; the words alone are a label too.
            let words = l
                .split_once(' ')
                .filter(|(code, _)| code.bytes().all(|b| b.is_ascii_digit()))
                .map(|(_, w)| w.to_string());
            add(l);
            if let Some(w) = words {
                add(w);
            }
        }
        Some(EuroVoc { id, labels })
    }
}

/// Add a concept once: a second sight of the same id adds the labels it lacked.
fn push_concept(c: EuroVoc, out: &mut Vec<EuroVoc>) {
    match out.iter_mut().find(|x| x.id == c.id) {
        Some(known) => {
            for l in c.labels {
                if !known.labels.contains(&l) {
                    known.labels.push(l);
                }
            }
        }
        None => out.push(c),
    }
}

#[derive(Default)]
struct RawEvent {
    code: Option<String>,
    label: Option<String>,
    date: Option<String>,
    documents: Vec<String>,
    celex: Vec<String>,
    last_modified: Option<String>,
}

/// An `<X><URI><IDENTIFIER/><TYPE/></URI></X>` pair being read.
#[derive(Default)]
struct SameAs {
    identifier: Option<String>,
    kind: Option<String>,
}

/// Where the element being read sits.
#[derive(Clone, Copy, PartialEq)]
enum Anchor {
    None,
    Dossier(usize),
    Event(usize),
}

fn read_notice(body: &[u8]) -> Result<Notice, ParseError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut r = NoticeReader {
        n: Notice::default(),
        stack: Vec::new(),
        embedded: 0,
        anchor: Anchor::None,
        event: None,
        title: (None, None),
        same_as: SameAs::default(),
        concepts: Vec::new(),
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| syntax(e.to_string(), reader.buffer_position()))?;
        match ev {
            Event::Start(e) => r.start(&e)?,
            Event::Text(t) if r.in_anchor() || !r.concepts.is_empty() => {
                let text = t
                    .unescape()
                    .map_err(|e| syntax(e.to_string(), reader.buffer_position()))?;
                r.concept_text(&text);
                if r.in_anchor() {
                    r.text(&text);
                }
            }
            Event::CData(t) if r.in_anchor() => r.text(&String::from_utf8_lossy(&t)),
            Event::End(_) => r.end(reader.buffer_position())?,
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = r.stack.last() {
        return Err(truncated(open));
    }
    r.n.eurovoc.sort();
    Ok(r.n)
}

/// One pass over a notice: where the reader is, and what it has kept so far.
struct NoticeReader {
    n: Notice,
    /// The names of the open elements.
    stack: Vec<Vec<u8>>,
    /// How many `EMBEDDED_NOTICE`s are open: their content is skipped.
    embedded: usize,
    anchor: Anchor,
    /// The event being read.
    event: Option<RawEvent>,
    /// The (language, value) of the title being read.
    title: (Option<String>, Option<String>),
    same_as: SameAs,
    /// The EuroVoc elements open (anywhere, embedded notices too), with their depth.
    concepts: Vec<(usize, RawConcept)>,
}

impl NoticeReader {
    /// Text is kept only inside the dossier or one of its events, outside embedded notices.
    fn in_anchor(&self) -> bool {
        self.embedded == 0 && self.anchor != Anchor::None
    }

    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), ParseError> {
        let name = e.local_name().as_ref().to_vec();
        if self.stack.is_empty() {
            if name != b"NOTICE" {
                return Err(not_a_notice(&name));
            }
            self.root(e);
        }
        if name == b"EMBEDDED_NOTICE" {
            self.embedded += 1;
        }
        if self.embedded == 0 {
            self.enter(&name);
        }
        if name.starts_with(b"WORK_IS_ABOUT_CONCEPT_EUROVOC") {
            self.concepts
                .push((self.stack.len(), RawConcept::default()));
        }
        self.stack.push(name);
        Ok(())
    }

    /// Text inside a EuroVoc element: its identifiers and labels, read where they sit
    /// right under it (`IDENTIFIER`, `PREFLABEL`, `ALTLABEL`, `URI/IDENTIFIER`).
    fn concept_text(&mut self, text: &str) {
        let Some((at, c)) = self.concepts.last_mut() else {
            return;
        };
        let below = self.stack.get(*at + 1..).unwrap_or_default();
        let value = text.trim().to_string();
        match below {
            [id] if id == b"IDENTIFIER" => c.code = Some(value),
            [uri, id] if uri == b"URI" && id == b"IDENTIFIER" => c.uri_id = Some(value),
            [l] if l == b"PREFLABEL" => c.pref = Some(value),
            [l] if l == b"ALTLABEL" => c.alt.push(value),
            _ => {}
        }
    }

    /// The `NOTICE` element: its type and default language.
    fn root(&mut self, e: &BytesStart<'_>) {
        self.n.saw_root = true;
        for a in e.attributes().flatten() {
            let v = a.unescape_value().ok().map(|v| v.into_owned());
            match a.key.local_name().as_ref() {
                b"type" => self.n.notice_type = v,
                b"decoding" => self.n.default_lang = v,
                _ => {}
            }
        }
    }

    /// An element of the notice itself opens: the dossier or an event becomes the
    /// anchor; a `SAMEAS` or a title starts afresh.
    fn enter(&mut self, name: &[u8]) {
        let depth = self.stack.len();
        let parent = self.stack.last().map(Vec::as_slice);
        if name == b"DOSSIER" && depth == 1 {
            self.n.saw_dossier = true;
            self.anchor = Anchor::Dossier(depth);
        } else if name == b"EVENT"
            && !matches!(self.anchor, Anchor::Event(_))
            && matches!(parent, Some(b"NOTICE") | Some(b"DOSSIER"))
        {
            self.anchor = Anchor::Event(depth);
            self.event = Some(RawEvent::default());
        }
        match name {
            b"SAMEAS" => self.same_as = SameAs::default(),
            b"TITLE" | b"DOSSIER_TITLE" => self.title = (None, None),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        on_text(
            &self.stack,
            self.anchor,
            text,
            &mut self.n,
            self.event.as_mut(),
            &mut self.title,
            &mut self.same_as,
        );
    }

    /// An element closes (`pos` is where, for the error of an end tag never opened): an
    /// event is kept, and the anchor goes back to the dossier or to nothing.
    fn end(&mut self, pos: u64) -> Result<(), ParseError> {
        let Some(name) = self.stack.pop() else {
            return Err(syntax("unbalanced end tag".into(), pos));
        };
        if self
            .concepts
            .last()
            .is_some_and(|(at, _)| *at == self.stack.len())
        {
            if let Some(c) = self.concepts.pop().and_then(|(_, c)| c.finish()) {
                push_concept(c, &mut self.n.eurovoc);
            }
        }
        if name == b"EMBEDDED_NOTICE" {
            self.embedded = self.embedded.saturating_sub(1);
            return Ok(());
        }
        if self.embedded > 0 {
            return Ok(());
        }
        let depth = self.stack.len();
        match self.anchor {
            Anchor::Event(at) if at == depth => {
                if let Some(ev) = self.event.take() {
                    self.n.events.push(ev);
                }
                // Back in the dossier when events are nested in it.
                self.anchor = if self.stack.len() >= 2 && self.stack[1] == b"DOSSIER" {
                    Anchor::Dossier(1)
                } else {
                    Anchor::None
                };
            }
            Anchor::Dossier(at) if at == depth => self.anchor = Anchor::None,
            _ => {}
        }
        on_end(
            &self.stack,
            &name,
            self.anchor,
            &mut self.n,
            self.event.as_mut(),
            &mut self.title,
            &self.same_as,
        );
        Ok(())
    }
}

/// The path below the anchor element, e.g. `TITLE/VALUE` in the dossier.
fn rel_path(stack: &[Vec<u8>], anchor: Anchor) -> String {
    let from = match anchor {
        Anchor::Dossier(at) | Anchor::Event(at) => at + 1,
        Anchor::None => return String::new(),
    };
    let mut out = String::new();
    for (i, part) in stack.iter().enumerate().skip(from) {
        if i > from {
            out.push('/');
        }
        out.push_str(&String::from_utf8_lossy(part));
    }
    out
}

fn on_text(
    stack: &[Vec<u8>],
    anchor: Anchor,
    text: &str,
    n: &mut Notice,
    event: Option<&mut RawEvent>,
    title: &mut (Option<String>, Option<String>),
    same_as: &mut SameAs,
) {
    let path = rel_path(stack, anchor);
    let value = || Some(text.trim().to_string());
    if path.ends_with("SAMEAS/URI/IDENTIFIER") {
        same_as.identifier = value();
        return;
    }
    if path.ends_with("SAMEAS/URI/TYPE") {
        same_as.kind = value();
        return;
    }
    match (anchor, event) {
        (Anchor::Event(_), Some(ev)) => match path.as_str() {
            "EVENT_LEGAL_DATE/VALUE" => ev.date = value(),
            "EVENT_LEGAL_HAS_TYPE_CONCEPT_TYPE_EVENT_LEGAL/IDENTIFIER" => ev.code = value(),
            "EVENT_LEGAL_HAS_TYPE_CONCEPT_TYPE_EVENT_LEGAL/PREFLABEL" => ev.label = value(),
            "EVENT_LEGAL_DOCUMENT_REFERENCE/VALUE" => {
                let v = text.trim().to_string();
                if !v.is_empty() && !ev.documents.contains(&v) {
                    ev.documents.push(v);
                }
            }
            "LASTMODIFICATIONDATE/VALUE" => ev.last_modified = value(),
            _ => {}
        },
        (Anchor::Dossier(_), _) => match path.as_str() {
            "TITLE/VALUE" | "DOSSIER_TITLE/VALUE" => title.1 = value(),
            "TITLE/LANG" | "DOSSIER_TITLE/LANG" => title.0 = value(),
            "PROCEDURE_CODE_INTERINSTITUTIONAL_REFERENCE_PROCEDURE/VALUE" => {
                n.reference_code = value()
            }
            "REFERENCE_PROCEDURE/VALUE" => n.reference_fallback = value(),
            "PROCEDURE_CODE_INTERINSTITUTIONAL_HAS_TYPE_CONCEPT_TYPE_PROCEDURE_CODE_INTERINSTITUTIONAL/IDENTIFIER" => {
                n.procedure_kind = value()
            }
            "LASTMODIFICATIONDATE/VALUE" => n.last_modified = value(),
            "DOSSIER_TYPE_REFERENCE/VALUE" => n.com_type = value(),
            "DOSSIER_YEAR_REFERENCE/VALUE" => n.com_year = value(),
            "DOSSIER_NUMBER_REFERENCE/VALUE" => n.com_number = value(),
            _ => {}
        },
        _ => {}
    }
}

fn on_end(
    stack: &[Vec<u8>],
    name: &[u8],
    anchor: Anchor,
    n: &mut Notice,
    event: Option<&mut RawEvent>,
    title: &mut (Option<String>, Option<String>),
    same_as: &SameAs,
) {
    let parent = rel_path(stack, anchor);
    match name {
        b"TITLE" | b"DOSSIER_TITLE"
            if matches!(anchor, Anchor::Dossier(_)) && parent.is_empty() =>
        {
            if let Some(v) = title.1.take() {
                n.titles.push((title.0.take(), v));
            }
        }
        b"SAMEAS" => {
            let (Some(id), Some(kind)) = (&same_as.identifier, &same_as.kind) else {
                return;
            };
            match (anchor, event, parent.as_str(), kind.as_str()) {
                (Anchor::Dossier(_), _, "", "procedure") => n.procedure_ids.push(id.clone()),
                (Anchor::Dossier(_), _, "DOSSIER_PRODUCES_RESOURCE_LEGAL", "celex") => {
                    n.produces.push(id.clone())
                }
                (Anchor::Dossier(_), _, "CONTAINS", "celex") => n.contains_celex.push(id.clone()),
                (Anchor::Event(_), Some(ev), "CONTAINS", "celex") if !ev.celex.contains(id) => {
                    ev.celex.push(id.clone())
                }
                _ => {}
            }
        }
        _ => {}
    }
}

impl Notice {
    fn into_snapshot(self, input: &Input<'_>) -> Result<DossierSnapshot, ParseError> {
        if !self.saw_root {
            return Err(ParseError::Layout(
                "no CELLAR <NOTICE> element (empty or non-XML body)".into(),
            ));
        }
        if !self.saw_dossier {
            return Err(ParseError::Layout(format!(
                "CELLAR notice{} has no DOSSIER: not a procedure tree notice",
                self.notice_type
                    .as_deref()
                    .map(|t| format!(" of type {t:?}"))
                    .unwrap_or_default()
            )));
        }
        let reference = self.reference()?;
        let titles = self.titles();
        let final_act = self.final_act();
        let com = self.com();
        let last_modified = self.last_modified.clone().or_else(|| {
            self.events
                .iter()
                .filter_map(|e| e.last_modified.as_deref())
                .filter_map(|s| DateTime::parse_from_rfc3339(s).ok().map(|d| (d, s)))
                .max_by_key(|(d, _)| *d)
                .map(|(_, s)| s.to_string())
        });
        let steps = steps(&self.events, final_act.as_ref());
        Ok(DossierSnapshot {
            reference,
            titles,
            status: None,
            committees: Vec::new(),
            steps,
            forecasts: Vec::new(),
            com,
            final_act,
            act_dates: Default::default(),
            subjects: Vec::new(),
            eurovoc: self.eurovoc,
            last_modified,
            provenance: input.provenance.clone(),
        })
    }

    fn reference(&self) -> Result<ProcedureRef, ParseError> {
        let from_code = [&self.reference_code, &self.reference_fallback]
            .into_iter()
            .flatten()
            .find_map(|c| c.parse::<ProcedureRef>().ok());
        let r = from_code
            .or_else(|| {
                self.procedure_ids
                    .iter()
                    .find_map(|id| id.parse::<ProcedureRef>().ok())
            })
            .ok_or_else(|| {
                ParseError::Layout(
                    "CELLAR DOSSIER without a procedure reference (PROCEDURE_CODE_INTERINSTITUTIONAL_REFERENCE_PROCEDURE or a procedure SAMEAS)"
                        .into(),
                )
            })?;
        let kind = self.procedure_kind.as_deref().and_then(|k| match k {
            "OLP" => Some(ProcedureType::Cod),
            other => other.parse::<ProcedureType>().ok(),
        });
        Ok(match (r.kind(), kind) {
            (None, Some(k)) => r.with_kind(k),
            _ => r,
        })
    }

    /// The first title in each language; a title without `LANG` is in the notice's
    /// `decoding` language.
    fn titles(&self) -> Titles {
        let default = match self.default_lang.as_deref() {
            Some("eng") => "en",
            Some("fra") => "fr",
            Some("deu") => "de",
            _ => "",
        };
        let pick = |lang: &str| {
            self.titles
                .iter()
                .find(|(l, _)| l.as_deref().unwrap_or(default) == lang)
                .map(|(_, v)| collapse_whitespace(&v.replace("&#13;", " ")))
                .filter(|v| !v.is_empty())
        };
        Titles {
            en: pick("en"),
            fr: pick("fr"),
            de: pick("de"),
            more: Vec::new(),
        }
    }

    fn final_act(&self) -> Option<Celex> {
        let act = |ids: &[String]| -> Vec<Celex> {
            let mut v: Vec<Celex> = ids
                .iter()
                .filter_map(|c| c.parse::<Celex>().ok())
                .filter(|c| c.sector == '3')
                .collect();
            v.dedup();
            v
        };
        if let Some(c) = act(&self.produces).into_iter().next() {
            return Some(c);
        }
        let published: Vec<String> = self
            .events
            .iter()
            .filter(|e| e.code.as_deref() == Some("PUB_OJ"))
            .flat_map(|e| e.celex.iter().cloned())
            .collect();
        if let Some(c) = act(&published).into_iter().next() {
            return Some(c);
        }
        // A dossier that contains exactly one legal act has produced it.
        let contained = act(&self.contains_celex);
        (contained.len() == 1)
            .then(|| contained.into_iter().next())
            .flatten()
    }

    fn com(&self) -> Vec<ComRef> {
        let mut out: Vec<ComRef> = Vec::new();
        if self.com_type.as_deref() == Some("COM") {
            if let (Some(y), Some(num)) = (&self.com_year, &self.com_number) {
                if let Ok(c) = format!("COM({y}){num}").parse::<ComRef>() {
                    out.push(c);
                }
            }
        }
        for ev in &self.events {
            if stage_of(ev.code.as_deref().unwrap_or("")) != Stage::Proposal {
                continue;
            }
            for d in &ev.documents {
                if let Ok(c) = document(d).reference.parse::<ComRef>() {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
        if out.is_empty() {
            for c in self
                .contains_celex
                .iter()
                .filter_map(|c| c.parse::<Celex>().ok())
            {
                if let Some(com) = c.to_com() {
                    if !out.contains(&com) {
                        out.push(com);
                    }
                }
            }
        }
        out
    }
}

/// The lifecycle stage of an OP event code (authority table "event").
fn stage_of(code: &str) -> Stage {
    match code {
        "ADP_byCOM"
        | "ADP_PROPLEG_byCOM"
        | "ADP_PROPAME_byCOM"
        | "ADP_PROPLEGAME_byCOM"
        | "ADP_PROREEX_byCOM" => Stage::Proposal,
        "REF_OF_byEP" => Stage::Referral,
        "DIS_byCONSIL" => Stage::CouncilDiscussion,
        "REP_R1_byEP_CMT" | "REP_R2_byEP_CMT" | "REP_RSI_byEP_CMT" | "ADP_REP_byEP_CMT" => {
            Stage::CommitteeVote
        }
        "ENDORSE_CMT_DEC_NGTINST_byEP_PLEN" | "REF_toCMT_NGTINST_byEP_PLEN" => Stage::Trilogue,
        "APR_AGRPROV_CONSIL_byEP_CMT" | "ENDORS_AGRPROV_byCOREPER" => Stage::ProvisionalAgreement,
        "ADP_R1_POS_byEP"
        | "OPI_R1_byEP"
        | "OPI_RSI_byEP"
        | "DEC_RSI_R1_byEP"
        | "AMEND_R1_byEP"
        | "AMEND_R2_byEP"
        | "AMEND_byEP"
        | "ADP_byEP"
        | "ASS_byEP"
        | "DEC_byEP"
        | "RES_byEP"
        | "RJ_byEP"
        | "RJ_R2_POS_CONSIL_byEP"
        | "OPI_R2_byEP"
        | "ADP_R3_byEP"
        | "DEC_R3_byEP"
        | "APR_NO_byEP"
        | "APR_JT_CMT_CONC_byEP"
        | "RJ_JT_CMT_CONC_byEP" => Stage::PlenaryVote,
        "ADP_R1_byCONSIL"
        | "ADP_R1_POS_byCONSIL"
        | "ADP_COMPOS_byCONSIL"
        | "AGR_COMPOS_byCONSIL"
        | "AGR_byCONSIL" => Stage::CouncilPosition,
        "APR_R1_byCONSIL"
        | "APR_R2_byCONSIL"
        | "APR_R2_POS_CONSIL_byEP"
        | "ADP_R3_byCONSIL"
        | "ADP_FRM_byCONSIL"
        | "ADP_ACT_byCOM" => Stage::Adopted,
        "SIGN_byEP_CONSIL" => Stage::Signed,
        "PUB_OJ" | "PUB" => Stage::Published,
        "WDW_byCOM" | "WDW_PROPLEG_byCOM" | "WDW_LIS_byCOM" => Stage::Withdrawn,
        c if c.starts_with("OPI_by")
            || c.starts_with("OPI_EXPL_by")
            || c == "SUBM_OPIREAS_byNP" =>
        {
            Stage::Opinion
        }
        _ => Stage::Other,
    }
}

fn steps(events: &[RawEvent], final_act: Option<&Celex>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for ev in events {
        let Some(date) = ev
            .date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok())
        else {
            continue;
        };
        let code = ev.code.as_deref().unwrap_or("");
        let stage = stage_of(code);
        let label = ev
            .label
            .clone()
            .or_else(|| ev.code.clone())
            .unwrap_or_else(|| "Event".to_string());
        let mut documents: Vec<Document> = ev.documents.iter().map(|d| document(d)).collect();
        let celex: Vec<Celex> = ev
            .celex
            .iter()
            .filter_map(|c| c.parse::<Celex>().ok())
            .collect();
        match stage {
            // The opinion's own CELEX (`52018AR3652`) links its one document, or is
            // listed beside several.
            Stage::Opinion if celex.len() == 1 => {
                let url = celex[0].eurlex_url();
                match documents.as_mut_slice() {
                    [only] if only.url.is_none() => only.url = Some(url),
                    _ => documents.push(Document {
                        reference: celex[0].to_string(),
                        url: Some(url),
                    }),
                }
            }
            // The published act.
            Stage::Published => {
                let acts = celex
                    .iter()
                    .filter(|c| c.sector == '3')
                    .cloned()
                    .chain(final_act.cloned());
                for c in acts {
                    let doc = Document {
                        reference: c.to_string(),
                        url: Some(c.eurlex_url()),
                    };
                    if !documents.contains(&doc) {
                        documents.push(doc);
                    }
                }
            }
            _ => {}
        }
        let same = out.iter_mut().find(|s| {
            s.date == date && s.stage == stage && (stage != Stage::Other || s.label == label)
        });
        match same {
            Some(s) => {
                for d in documents {
                    if !s.documents.contains(&d) {
                        s.documents.push(d);
                    }
                }
            }
            None => out.push(Step {
                date,
                stage,
                label,
                documents,
            }),
        }
    }
    for s in &mut out {
        s.documents.sort();
    }
    out.sort_by(|a, b| (a.date, a.stage, &a.label).cmp(&(b.date, b.stage, &b.label)));
    out
}

/// A document reference as CELLAR writes it, in the form the institutions use, with a
/// link where one is known: `COM/2018/340/FINAL` → `COM(2018)0340`, `P8_A(2018)0317` →
/// `A8-0317/2018`, `ST 9465 2018 INIT` (kept) with its Council register link.
fn document(raw: &str) -> Document {
    let raw = raw.trim();
    let keep = |url: Option<String>| Document {
        reference: raw.to_string(),
        url,
    };
    // Commission documents: COM/2018/340/FINAL, SWD/2018/257/FINAL.
    let parts: Vec<&str> = raw.split('/').collect();
    if let [series, year, number, ..] = parts.as_slice() {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let celex_type = match *series {
            "COM" => Some("PC"),
            "SWD" => Some("SC"),
            "JOIN" => Some("JC"),
            _ => None,
        };
        if let Some(t) = celex_type {
            if digits(year) && year.len() == 4 && digits(number) && number.len() <= 4 {
                let n: u32 = number.parse().unwrap_or(0);
                return Document {
                    reference: format!("{series}({year}){n:04}"),
                    url: Some(format!(
                        "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:5{year}{t}{n:04}"
                    )),
                };
            }
        }
        // Old EP spellings: A7/2014/36, TA/2014/49/P7.
        if *series == "TA" && digits(year) {
            if let Some(term) = parts.get(3).and_then(|p| p.strip_prefix('P')) {
                if digits(term) && digits(number) {
                    let n: u32 = number.parse().unwrap_or(0);
                    return ep_document(&format!("TA-{term}-{year}-{n:04}"));
                }
            }
        }
        if let Some(term) = series.strip_prefix('A') {
            if digits(term) && digits(year) && digits(number) && parts.len() == 3 {
                let n: u32 = number.parse().unwrap_or(0);
                return ep_document(&format!("A-{term}-{year}-{n:04}"));
            }
        }
    }
    // EP documents: P8_A(2018)0317, P8_TA(2019)0305, ITRE_AD(2018)625401.
    if let Some((prefix, rest)) = raw.split_once('_') {
        if let Some((year, number)) = rest
            .strip_prefix("A(")
            .or_else(|| rest.strip_prefix("TA("))
            .and_then(|r| r.split_once(')'))
        {
            let series = if rest.starts_with("TA(") { "TA" } else { "A" };
            if let Some(term) = prefix.strip_prefix('P') {
                return ep_document(&format!("{series}-{term}-{year}-{number}"));
            }
        }
        if let Some((kind, tail)) = rest.split_once('(') {
            if let Some((_, number)) = tail.split_once(')') {
                let committee = format!("{prefix}-{kind}-{number}");
                let doc = ep_document(&committee);
                if doc.reference.starts_with("PE") {
                    return doc;
                }
            }
        }
    }
    // Council documents: ST 9465 2018 ADD 2, PE 11 2019 INIT, PE_11_2019_REV_1.
    let spaced = raw.replace('_', " ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    if let [series, number, year, ..] = words.as_slice() {
        if matches!(*series, "ST" | "PE" | "CM" | "SN")
            && number.bytes().all(|b| b.is_ascii_digit())
            && year.len() == 4
            && year.bytes().all(|b| b.is_ascii_digit())
            && words.len() >= 4
        {
            let reference = words.join(" ");
            return Document {
                url: Some(format!(
                    "https://data.consilium.europa.eu/doc/document/{}/en/pdf",
                    words.join("-")
                )),
                reference,
            };
        }
    }
    keep(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_references_are_rendered() {
        let r = |s: &str| document(s).reference;
        assert_eq!(r("COM/2018/340/FINAL"), "COM(2018)0340");
        assert_eq!(r("SWD/2018/257/FINAL"), "SWD(2018)0257");
        assert_eq!(r("P8_A(2018)0317"), "A8-0317/2018");
        assert_eq!(r("P8_TA(2019)0305"), "T8-0305/2019");
        assert_eq!(r("ITRE_AD(2018)625401"), "PE625.401");
        assert_eq!(r("A7/2014/36"), "A7-0036/2014");
        assert_eq!(r("TA/2014/49/P7"), "T7-0049/2014");
        assert_eq!(r("PE_11_2019_REV_1"), "PE 11 2019 REV 1");
        assert_eq!(r("ST 9465 2018 ADD 2"), "ST 9465 2018 ADD 2");
        assert_eq!(r("COR 2018-03652"), "COR 2018-03652");
        assert_eq!(
            document("ST 9465 2018 ADD 2").url.as_deref(),
            Some("https://data.consilium.europa.eu/doc/document/ST-9465-2018-ADD-2/en/pdf")
        );
        assert_eq!(
            document("COM/2018/340/FINAL").url.as_deref(),
            Some("https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:52018PC0340")
        );
    }

    #[test]
    fn url() {
        let r: ProcedureRef = "2018/0172(COD)".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            procedure_url("http://publications.europa.eu/", &r),
            "http://publications.europa.eu/resource/procedure/2018_172"
        );
    }
}
