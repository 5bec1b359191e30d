//! `veille dossier show`: one dossier's merged timeline as text, or its record as JSON
//! (which carries its subjects: the Legislative Observatory's and the EuroVoc concepts).

use std::fmt::Write;

use crate::deadlines::Deadline;
use crate::model::{Dossier, Language};

/// The JSON of `dossier show --format json`: the dossier as stored.
pub fn json(d: &Dossier) -> serde_json::Result<String> {
    serde_json::to_string_pretty(d)
}

/// The text of `dossier show`: titles, status, committees, the acts, the timeline with
/// its documents, what is scheduled, and the deadlines that get reminders (`deadlines`,
/// computed by the caller).
pub fn text(d: &Dossier, deadlines: &[Deadline]) -> String {
    let mut out = String::new();
    header(&mut out, d);
    timeline(&mut out, d);
    if !deadlines.is_empty() {
        out.push_str("deadlines:\n");
        if let Some(sent) = d.act_dates.sent_to_parliaments {
            let _ = writeln!(out, "  (proposal sent to national parliaments on {sent})");
        }
        for x in deadlines {
            let _ = writeln!(
                out,
                "  {}  {:<22} {}",
                x.local_date(),
                x.stage.as_str(),
                x.title
            );
        }
    }
    out
}

fn header(out: &mut String, d: &Dossier) {
    let lang = Language::En;
    let _ = writeln!(out, "{}", d.reference);
    let t = &d.titles;
    for title in [&t.en, &t.fr, &t.de].into_iter().flatten() {
        let _ = writeln!(out, "  {title}");
    }
    if !t.more.is_empty() {
        let langs: Vec<&str> = t.more.iter().map(|(l, _)| l.as_str()).collect();
        let _ = writeln!(out, "  (also titled in {})", langs.join(", "));
    }
    if let Some(s) = &d.status {
        let _ = writeln!(out, "status: {s}");
    }
    if let Some(s) = d.current_stage() {
        let _ = writeln!(out, "stage reached: {}", s.label(lang));
    }
    for c in &d.committees {
        let who = if c.rapporteurs.is_empty() {
            "-".to_string()
        } else {
            c.rapporteurs.join(", ")
        };
        let _ = writeln!(out, "committee {} ({:?}): {who}", c.code, c.role);
    }
    if !d.com.is_empty() {
        let coms: Vec<String> = d.com.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(out, "proposal: {}", coms.join(", "));
    }
    if let Some(c) = &d.final_act {
        let _ = writeln!(out, "final act: {c} {}", c.eurlex_url());
    }
    subjects(out, d);
}

/// The subjects the sources give: the Legislative Observatory's, then the EuroVoc
/// concepts (label and id, as a watchlist's `subjects` may name them).
fn subjects(out: &mut String, d: &Dossier) {
    if d.subjects.is_empty() && d.eurovoc.is_empty() {
        return;
    }
    out.push_str("subjects:\n");
    for s in &d.subjects {
        let _ = writeln!(out, "  {s}");
    }
    for c in &d.eurovoc {
        let _ = writeln!(out, "  {} (EuroVoc, eurovoc:{})", c.label(), c.id);
    }
}

fn timeline(out: &mut String, d: &Dossier) {
    out.push_str("timeline:\n");
    for s in &d.timeline {
        let sources: Vec<&str> = s.sources.iter().map(|p| p.source.as_str()).collect();
        let _ = writeln!(
            out,
            "  {}  {:<22} {}  [{}]",
            s.date,
            s.stage.as_str(),
            s.label,
            sources.join(", ")
        );
        for doc in &s.documents {
            let _ = writeln!(
                out,
                "      {} {}",
                doc.reference,
                doc.url.as_deref().unwrap_or("")
            );
        }
    }
    if !d.forecasts.is_empty() {
        out.push_str("upcoming:\n");
        for f in &d.forecasts {
            let _ = writeln!(out, "  {}  {:<22} {}", f.date, f.stage.as_str(), f.label);
        }
    }
}
