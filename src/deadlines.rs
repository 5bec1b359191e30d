//! Deadlines and reminders: the dates by which something must be done (consultation
//! closing, subsidiarity window, transposition) and the scheduled steps announced for a
//! dossier, computed from a merged `Dossier`, a Have Your Say `Consultation` or a date a
//! source supplies; and which reminders fall due between two checks.
//! Pure: no IO, no clock (`now` is always a parameter), no knowledge of mail or store.
//!
//! Conventions:
//! - A date-only deadline is due by the **end of that day in Brussels**: `at` is 23:59:59
//!   Europe/Brussels on that date, and `all_day` is true.
//! - A reminder is due at **00:00 Brussels** on the reminder day: the deadline's Brussels
//!   date minus the offset, in calendar arithmetic (a month before 31 March is the last day
//!   of February). "On the day" is 00:00 on the deadline's own day.
//! - A deadline's `uid` hashes its kind, what it is about (dossier, initiative, act or
//!   title), its stage and its Brussels date: it is stable across runs and changes when the
//!   date moves, so a moved deadline gets fresh reminders.

use std::fmt;
use std::str::FromStr;

use crate::tz::Tz;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Consultation;
use crate::model::{Celex, Dossier, EventId, ProcedureRef, ProcedureType, Stage};

/// The subsidiarity window of national parliaments (Protocol No 2, Article 6).
pub const SUBSIDIARITY_WEEKS: u64 = 8;

/// What a deadline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeadlineKind {
    /// A Have Your Say feedback period closes.
    ConsultationClosing,
    /// The 8-week subsidiarity window of national parliaments ends.
    Subsidiarity,
    /// Member States must have transposed a directive.
    Transposition,
    /// A step announced for a date (OEIL forecasts, plenary agenda): not a deadline for
    /// the officer, so no reminders.
    ScheduledStep,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::ConsultationClosing => "consultation-closing",
            DeadlineKind::Subsidiarity => "subsidiarity",
            DeadlineKind::Transposition => "transposition",
            DeadlineKind::ScheduledStep => "scheduled-step",
        }
    }
    /// Whether reminders apply.
    pub fn has_reminders(self) -> bool {
        self != DeadlineKind::ScheduledStep
    }
}

impl fmt::Display for DeadlineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dated thing to put in a calendar and, for real deadlines, to remind of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    /// `consultation-closing`, `subsidiarity-deadline`, `transposition-deadline`, or the
    /// forecast's stage for scheduled steps.
    pub stage: Stage,
    /// The instant; for date-only deadlines 23:59:59 Brussels on that date.
    pub at: DateTime<Utc>,
    /// The source gives a date, not a time.
    pub all_day: bool,
    pub title: String,
    pub dossier: Option<ProcedureRef>,
    /// Where the officer reads more (the source page).
    pub url: Option<String>,
    /// Stable identity, `{32 hex}@veille`: the iCalendar UID and the reminder key's base.
    pub uid: String,
}

impl Deadline {
    /// The date of the deadline in Brussels.
    pub fn local_date(&self) -> NaiveDate {
        self.at.with_timezone(&Tz::brussels()).date_naive()
    }
}

/// The uid of a deadline: `subject` says what it is about (dossier key, `hys:{id}`,
/// CELEX, else the normalised title); `detail` separates several of one kind and date.
fn uid(kind: DeadlineKind, subject: &str, stage: Stage, date: NaiveDate, detail: &str) -> String {
    let date = date.to_string();
    let id = EventId::derive(&[
        "deadline",
        kind.as_str(),
        subject,
        stage.as_str(),
        &date,
        detail,
    ]);
    format!("{id}@veille")
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// 23:59:59 Brussels on `date`, in UTC.
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    local_to_utc(date.and_time(t), Tz::brussels())
}

/// 00:00 in `tz` on `date`, in UTC.
fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    local_to_utc(date.and_time(NaiveTime::MIN), tz)
}

fn local_to_utc(naive: chrono::NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    crate::sources::have_your_say::local_to_utc(naive, tz)
}

/// The dossier's page on the Legislative Observatory.
fn oeil_url(r: &ProcedureRef) -> String {
    format!(
        "https://oeil.secure.europarl.europa.eu/oeil/en/procedure-file?reference={}",
        r.oeil_reference()
    )
}

fn dossier_label(d: &Dossier) -> String {
    match d.titles.best() {
        Some(t) => format!("{} ({})", t.trim(), d.reference),
        None => d.reference.to_string(),
    }
}

/// Legislative procedures in which a proposal goes to national parliaments for the
/// subsidiarity check.
pub fn has_subsidiarity_check(t: Option<ProcedureType>) -> bool {
    matches!(
        t,
        Some(ProcedureType::Cod | ProcedureType::Cns | ProcedureType::App | ProcedureType::Syn)
    )
}

/// The last day of the subsidiarity window for a proposal sent to national parliaments on
/// `transmitted`: 8 weeks (56 days) later, not counting days in August, which the
/// Commission leaves out of the period since 2010 ("the period of August is not taken
/// into account" in its transmission letters). A proposal sent on 15 July closes on
/// 10 October, not 9 September.
pub fn subsidiarity_end(transmitted: NaiveDate) -> NaiveDate {
    let mut day = transmitted;
    let mut left = 7 * SUBSIDIARITY_WEEKS;
    while left > 0 {
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
        if day.month() != 8 {
            left -= 1;
        }
    }
    day
}

/// The subsidiarity deadline for a proposal transmitted to national parliaments on
/// `transmitted` ([`subsidiarity_end`]), all day.
pub fn subsidiarity_deadline(
    dossier: Option<ProcedureRef>,
    transmitted: NaiveDate,
    about: &str,
    url: Option<String>,
) -> Deadline {
    let date = subsidiarity_end(transmitted);
    let subject = match &dossier {
        Some(r) => r.storage_key(),
        None => normalise(about),
    };
    Deadline {
        kind: DeadlineKind::Subsidiarity,
        stage: Stage::SubsidiarityDeadline,
        at: end_of_day(date),
        all_day: true,
        title: format!("Subsidiarity deadline for national parliaments: {about}"),
        dossier,
        url,
        uid: uid(
            DeadlineKind::Subsidiarity,
            &subject,
            Stage::SubsidiarityDeadline,
            date,
            "",
        ),
    }
}

/// The deadlines of a merged dossier, sorted by instant then uid:
/// - subsidiarity, for COD, CNS, APP and SYN procedures: [`subsidiarity_end`] of the day
///   CELLAR says the proposal was sent to national parliaments; until that is known, of
///   the earliest `proposal` step (usually the same day, and the title says it is an
///   estimate). Not computed when a source announces the deadline itself (a forecast
///   with stage `subsidiarity-deadline`).
/// - transposition: each transposition date of the final act, when it is a directive.
/// - every forecast: a `ScheduledStep`, except forecasts whose stage is itself a
///   deadline (`subsidiarity-deadline`, `transposition-deadline`, `consultation-closing`),
///   which become deadlines of that kind.
pub fn dossier_deadlines(d: &Dossier) -> Vec<Deadline> {
    let mut out = Vec::new();
    let label = dossier_label(d);
    let key = d.reference.storage_key();
    let url = Some(oeil_url(&d.reference));

    for f in &d.forecasts {
        let kind = match f.stage {
            Stage::SubsidiarityDeadline => DeadlineKind::Subsidiarity,
            Stage::TranspositionDeadline => DeadlineKind::Transposition,
            Stage::ConsultationClosing => DeadlineKind::ConsultationClosing,
            _ => DeadlineKind::ScheduledStep,
        };
        let what = f.label.trim();
        let what = if what.is_empty() {
            f.stage.label(crate::model::Language::En)
        } else {
            what
        };
        out.push(Deadline {
            kind,
            stage: f.stage,
            at: end_of_day(f.date),
            all_day: true,
            title: format!("{what}: {label}"),
            dossier: Some(d.reference),
            url: url.clone(),
            uid: uid(kind, &key, f.stage, f.date, &normalise(what)),
        });
    }

    out.extend(act_deadlines(d));
    sort(&mut out);
    out
}

/// The deadlines a dossier's acts set by law rather than by announcement (subsidiarity,
/// transposition; see [`dossier_deadlines`]), sorted.
pub fn act_deadlines(d: &Dossier) -> Vec<Deadline> {
    let mut out = Vec::new();
    let label = dossier_label(d);
    let url = Some(oeil_url(&d.reference));
    let announced = d
        .forecasts
        .iter()
        .any(|f| f.stage == Stage::SubsidiarityDeadline);
    if !announced && has_subsidiarity_check(d.reference.kind()) {
        match (
            d.act_dates.sent_to_parliaments,
            d.first_date(Stage::Proposal),
        ) {
            (Some(sent), _) => out.push(subsidiarity_deadline(
                Some(d.reference),
                sent,
                &label,
                url.clone(),
            )),
            (None, Some(p)) => {
                let mut dl = subsidiarity_deadline(Some(d.reference), p, &label, url.clone());
                dl.title = format!(
                    "Subsidiarity deadline for national parliaments (estimated from the proposal date): {label}"
                );
                out.push(dl);
            }
            (None, None) => {}
        }
    }
    if let Some(act) = d.final_act.as_ref().filter(|a| a.is_directive()) {
        for date in &d.act_dates.transposition {
            out.push(transposition_deadline(act, *date, Some(d.reference)));
        }
    }
    sort(&mut out);
    out
}

/// The transposition deadline of a directive, when a source supplies its date.
pub fn transposition_deadline(
    final_act: &Celex,
    date: NaiveDate,
    dossier: Option<ProcedureRef>,
) -> Deadline {
    let act = final_act.act_name();
    let title = match &dossier {
        Some(r) => format!("Transposition deadline of {act} ({r})"),
        None => format!("Transposition deadline of {act}"),
    };
    Deadline {
        kind: DeadlineKind::Transposition,
        stage: Stage::TranspositionDeadline,
        at: end_of_day(date),
        all_day: true,
        title,
        dossier,
        url: Some(final_act.eurlex_url()),
        uid: uid(
            DeadlineKind::Transposition,
            &final_act.to_string(),
            Stage::TranspositionDeadline,
            date,
            "",
        ),
    }
}

/// The closing of a consultation's feedback period, at the portal's own time
/// (usually 23:59:59 Brussels); nothing when the portal gives no end date.
pub fn consultation_deadlines(c: &Consultation) -> Vec<Deadline> {
    let Some(closes) = c.closes else {
        return Vec::new();
    };
    let date = closes.with_timezone(&Tz::brussels()).date_naive();
    let mut title = format!("Feedback closes: {}", c.title.trim());
    if !c.com.is_empty() {
        let coms: Vec<String> = c.com.iter().map(ToString::to_string).collect();
        title.push_str(&format!(" ({})", coms.join(", ")));
    }
    vec![Deadline {
        kind: DeadlineKind::ConsultationClosing,
        stage: Stage::ConsultationClosing,
        at: closes,
        all_day: false,
        title,
        dossier: None,
        url: Some(c.url.clone()),
        uid: uid(
            DeadlineKind::ConsultationClosing,
            &format!("hys:{}", c.initiative_id),
            Stage::ConsultationClosing,
            date,
            "",
        ),
    }]
}

/// The deadlines a dossier's page lists: those of the dossier itself that get reminders,
/// and those kept for a watchlist that name it (a consultation on its proposal), once
/// each, in date order.
pub fn on_dossier_page(d: &Dossier, kept: Vec<Deadline>) -> Vec<Deadline> {
    let mut out: Vec<Deadline> = dossier_deadlines(d)
        .into_iter()
        .chain(kept.into_iter().filter(|x| x.dossier == Some(d.reference)))
        .filter(|x| x.kind.has_reminders())
        .collect();
    out.sort_by(|a, b| a.uid.cmp(&b.uid));
    out.dedup_by(|a, b| a.uid == b.uid);
    sort(&mut out);
    out
}

fn sort(v: &mut [Deadline]) {
    v.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.uid.cmp(&b.uid)));
}

/// How long before a deadline a reminder is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReminderOffset {
    Months(u32),
    Weeks(u32),
    Days(u32),
    OnTheDay,
}

impl ReminderOffset {
    /// The reminder day for a deadline on `date` (calendar arithmetic, clamped to the end
    /// of shorter months).
    pub fn reminder_date(self, date: NaiveDate) -> NaiveDate {
        let d = match self {
            ReminderOffset::Months(n) => date.checked_sub_months(Months::new(n)),
            ReminderOffset::Weeks(n) => date.checked_sub_days(Days::new(7 * u64::from(n))),
            ReminderOffset::Days(n) => date.checked_sub_days(Days::new(u64::from(n))),
            ReminderOffset::OnTheDay => Some(date),
        };
        d.unwrap_or(NaiveDate::MIN)
    }
    /// A stable slug for keys: `6-months`, `2-weeks`, `on-the-day`.
    pub fn slug(self) -> String {
        self.to_string().replace(' ', "-")
    }
}

impl fmt::Display for ReminderOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = match *self {
            ReminderOffset::OnTheDay => return f.write_str("on the day"),
            ReminderOffset::Months(n) => (n, "month"),
            ReminderOffset::Weeks(n) => (n, "week"),
            ReminderOffset::Days(n) => (n, "day"),
        };
        if n == 1 {
            write!(f, "1 {unit}")
        } else {
            write!(f, "{n} {unit}s")
        }
    }
}

impl FromStr for ReminderOffset {
    type Err = String;
    /// `"6 months"`, `"1 month"`, `"2 weeks"`, `"3 days"`, `"on the day"` (also
    /// `"6-months"`, `"0 days"` = on the day; an optional trailing `"before"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        if t.starts_with(['-', '+']) {
            return Err(format!(
                "a reminder offset counts back from the deadline: {s:?}"
            ));
        }
        let t = t.replace(['-', '_'], " ");
        let words: Vec<&str> = t.split_whitespace().collect();
        let words: &[&str] = match words.as_slice() {
            [rest @ .., "before"] => rest,
            w => w,
        };
        let bad = || {
            format!(
                "unknown reminder {s:?}; write e.g. \"6 months\", \"1 month\", \"2 weeks\", \
                 \"3 days\" or \"on the day\""
            )
        };
        match words {
            ["on", "the", "day"] | ["on", "the", "day", "of"] => Ok(ReminderOffset::OnTheDay),
            [n, unit] => {
                let n: u32 = n.parse().map_err(|_| bad())?;
                if n > 1200 {
                    return Err(bad());
                }
                match *unit {
                    "month" | "months" if n > 0 => Ok(ReminderOffset::Months(n)),
                    "week" | "weeks" if n > 0 => Ok(ReminderOffset::Weeks(n)),
                    "day" | "days" if n > 0 => Ok(ReminderOffset::Days(n)),
                    "month" | "months" | "week" | "weeks" | "day" | "days" => {
                        Ok(ReminderOffset::OnTheDay)
                    }
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

impl Serialize for ReminderOffset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for ReminderOffset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which reminders to send before each deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderPolicy {
    pub offsets: Vec<ReminderOffset>,
}

impl Default for ReminderPolicy {
    /// 6 months, 3 months and 1 month before, and on the day.
    fn default() -> Self {
        ReminderPolicy {
            offsets: vec![
                ReminderOffset::Months(6),
                ReminderOffset::Months(3),
                ReminderOffset::Months(1),
                ReminderOffset::OnTheDay,
            ],
        }
    }
}

/// One reminder to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub deadline: Deadline,
    pub offset: ReminderOffset,
    /// 00:00 Brussels on the reminder day.
    pub due: DateTime<Utc>,
    /// `{uid}#{offset slug}`: record it once sent, so that it is sent once across restarts.
    pub key: String,
}

/// The instant a reminder falls due (see the module doc).
pub fn reminder_due(deadline: &Deadline, offset: ReminderOffset) -> DateTime<Utc> {
    start_of_day(offset.reminder_date(deadline.local_date()), Tz::brussels())
}

/// The reminders whose due instant falls in `(last_check, now]`, sorted by due instant
/// then key. Scheduled steps get none; a deadline already passed at `now` gets none (a
/// reminder after the fact is noise).
///
/// Without a `last_check` (first run), each deadline still ahead gets at most one
/// catch-up reminder: its most recent offset already due, if any.
///
/// Persist `now` as the next `last_check` together with the keys sent; windows that
/// follow each other then yield each (deadline, offset) exactly once.
///
/// A deadline first seen after some of its reminders fell due (a consultation found three
/// weeks before it closes) would miss them in the window call: pass such new deadlines
/// separately with `last_check: None` to give each its one catch-up reminder. Keys are
/// the same whichever call produced a reminder, so a set of sent keys removes overlaps.
pub fn reminders_due(
    deadlines: &[Deadline],
    policy: &ReminderPolicy,
    last_check: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Reminder> {
    let mut offsets = policy.offsets.clone();
    offsets.sort();
    offsets.dedup();
    let mut out: Vec<Reminder> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in deadlines {
        if !d.kind.has_reminders() || d.at < now || !seen.insert(d.uid.as_str()) {
            continue;
        }
        let due: Vec<(ReminderOffset, DateTime<Utc>)> = offsets
            .iter()
            .map(|&o| (o, reminder_due(d, o)))
            .filter(|(_, t)| *t <= now)
            .collect();
        let chosen: Vec<(ReminderOffset, DateTime<Utc>)> = match last_check {
            Some(lc) => due.into_iter().filter(|(_, t)| *t > lc).collect(),
            None => due
                .into_iter()
                .max_by_key(|(_, t)| *t)
                .into_iter()
                .collect(),
        };
        for (offset, due) in chosen {
            out.push(Reminder {
                deadline: d.clone(),
                offset,
                due,
                key: format!("{}#{}", d.uid, offset.slug()),
            });
        }
    }
    out.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.key.cmp(&b.key)));
    out
}

/// Whole days from `now`'s date to `at`'s date in `tz`: 0 on the day, negative once
/// passed.
pub fn countdown_days(at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> i64 {
    let a = at.with_timezone(&tz).date_naive();
    let n = now.with_timezone(&tz).date_naive();
    (a - n).num_days()
}
