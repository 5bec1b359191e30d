//! A dossier's lifecycle drawn as a picture: an SVG (no script, no external resource)
//! of the steps from the Commission's proposal to publication in the Official Journal,
//! each reached step with its date, the next one with its expected date and countdown,
//! the later ones in grey; a withdrawal ends the line in red.
//!
//! Must not: read the store or the clock; `today` is a parameter. Every text in the
//! picture is escaped here.

use chrono::NaiveDate;

use super::pages::fmt_date;
use crate::model::{Dossier, Language, Stage};

/// The steps of the lifecycle, in order.
pub const LIFECYCLE: [Stage; 9] = [
    Stage::Proposal,
    Stage::Referral,
    Stage::CommitteeVote,
    Stage::ProvisionalAgreement,
    Stage::PlenaryVote,
    Stage::CouncilPosition,
    Stage::Adopted,
    Stage::Signed,
    Stage::Published,
];

/// Where a step of the lifecycle stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Reached on this date.
    Reached(NaiveDate),
    /// Passed over: a later step was reached, this one has no date.
    Passed,
    /// The next step, with its expected date when one is scheduled.
    Next(Option<NaiveDate>),
    Later,
}

/// One step of the picture.
#[derive(Debug, Clone)]
pub struct Step {
    pub stage: Stage,
    pub state: State,
}

/// The lifecycle steps of a dossier and where each stands on `today`.
pub fn steps(d: &Dossier, today: NaiveDate) -> Vec<Step> {
    let reached: Vec<Option<NaiveDate>> = LIFECYCLE.iter().map(|s| d.first_date(*s)).collect();
    let last = reached.iter().rposition(Option::is_some);
    let withdrawn = d.first_date(Stage::Withdrawn).is_some();
    LIFECYCLE
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let state = match (reached[i], last) {
                (Some(date), _) => State::Reached(date),
                (None, Some(l)) if i < l => State::Passed,
                (None, l) if !withdrawn && l.map_or(i == 0, |l| i == l + 1) => {
                    State::Next(expected(d, *stage, today))
                }
                _ => State::Later,
            };
            Step {
                stage: *stage,
                state,
            }
        })
        .collect()
}

/// The first date on or after `today` a step of `stage` is scheduled for.
pub fn expected(d: &Dossier, stage: Stage, today: NaiveDate) -> Option<NaiveDate> {
    d.forecasts
        .iter()
        .filter(|f| f.stage == stage && f.date >= today)
        .map(|f| f.date)
        .min()
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const ROW: u32 = 52;

/// The SVG of the lifecycle, `countdown` saying "in 25 days" for a date.
pub fn svg(d: &Dossier, today: NaiveDate, countdown: impl Fn(NaiveDate) -> String) -> String {
    let steps = steps(d, today);
    let withdrawn = d.first_date(Stage::Withdrawn);
    let rows = steps.len() as u32 + u32::from(withdrawn.is_some());
    let height = rows * ROW + 8;
    let reached = steps
        .iter()
        .filter(|s| matches!(s.state, State::Reached(_)))
        .count();
    let mut out = format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 360 {height}\" width=\"360\" height=\"{height}\" role=\"img\" aria-labelledby=\"timeline-title\">\n<title id=\"timeline-title\">Lifecycle of {}: {reached} of {} steps reached</title>\n",
        esc(&d.reference.to_string()),
        steps.len()
    );
    out.push_str(&format!(
        "<line x1=\"20\" y1=\"24\" x2=\"20\" y2=\"{}\" stroke=\"#9ca3af\" stroke-width=\"3\"/>\n",
        (rows - 1) * ROW + 24
    ));
    for (i, s) in steps.iter().enumerate() {
        let y = i as u32 * ROW + 24;
        let (class, circle, line2) = match &s.state {
            State::Reached(date) => (
                "reached",
                "fill=\"#003399\" stroke=\"#003399\"",
                fmt_date(*date),
            ),
            State::Passed => (
                "passed",
                "fill=\"#93a4d6\" stroke=\"#003399\"",
                "passed, no date recorded".to_string(),
            ),
            State::Next(Some(date)) => (
                "next",
                "fill=\"#ffffff\" stroke=\"#b45309\" stroke-width=\"4\"",
                format!("next: expected {} ({})", fmt_date(*date), countdown(*date)),
            ),
            State::Next(None) => (
                "next",
                "fill=\"#ffffff\" stroke=\"#b45309\" stroke-width=\"4\"",
                "next: no date announced".to_string(),
            ),
            State::Later => (
                "later",
                "fill=\"#e5e7eb\" stroke=\"#6b7280\"",
                "not reached".to_string(),
            ),
        };
        out.push_str(&format!(
            "<g class=\"step {class}\" data-stage=\"{}\"><circle cx=\"20\" cy=\"{y}\" r=\"9\" {circle}/><text x=\"40\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#1f2937\">{}</text><text x=\"40\" y=\"{}\" font-size=\"13\" fill=\"#374151\">{}</text></g>\n",
            s.stage.as_str(),
            y - 3,
            esc(s.stage.label(Language::En)),
            y + 15,
            esc(&line2)
        ));
    }
    if let Some(date) = withdrawn {
        let y = steps.len() as u32 * ROW + 24;
        out.push_str(&format!(
            "<g class=\"step withdrawn\" data-stage=\"withdrawn\"><circle cx=\"20\" cy=\"{y}\" r=\"9\" fill=\"#b91c1c\" stroke=\"#b91c1c\"/><text x=\"40\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#b91c1c\">{}</text><text x=\"40\" y=\"{}\" font-size=\"13\" fill=\"#374151\">{}</text></g>\n",
            y - 3,
            esc(Stage::Withdrawn.label(Language::En)),
            y + 15,
            esc(&fmt_date(date))
        ));
    }
    out.push_str("</svg>");
    out
}
