//! Dossiers: merging the snapshots of one procedure from several sources into one
//! timeline, and diffing a merged dossier against the stored one into `DossierEvent`s;
//! also turning feed items into events, and the news that a new procedure was found for a
//! watchlist ([`discovered_event`]). Pure: no fetching, no storing, no clock (`now` is
//! given). A source that lost a section (a partial page) never produces "removed" events:
//! the merge keeps what was known and the diff only reports what is new.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::deadlines::{self, Deadline, DeadlineKind};
use crate::model::{
    Candidate, Celex, ComRef, Dossier, DossierEvent, DossierRef, DossierSnapshot, EventId,
    EventKind, FeedItem, Forecast, ItemEvent, ProcedureRef, Provenance, Stage, TimelineStep,
};

/// The identity of a step on a merged timeline: one lifecycle step per (stage, date);
/// generic steps also by their wording.
fn step_identity(stage: Stage, date: NaiveDate, label: &str) -> (Stage, NaiveDate, String) {
    let detail = if stage == Stage::Other {
        normalise_label(label)
    } else {
        String::new()
    };
    (stage, date, detail)
}

fn normalise_label(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Merge one source's snapshot into the stored dossier (or start one).
pub fn merge(stored: Option<&Dossier>, snap: &DossierSnapshot) -> Dossier {
    let mut d = match stored {
        Some(d) => d.clone(),
        None => Dossier {
            reference: snap.reference,
            titles: Default::default(),
            status: None,
            committees: Vec::new(),
            timeline: Vec::new(),
            forecasts: Vec::new(),
            com: Vec::new(),
            final_act: None,
            act_dates: Default::default(),
            subjects: Vec::new(),
            eurovoc: Vec::new(),
            last_modified: Vec::new(),
        },
    };
    d.reference = snap.reference.merge(d.reference);
    let mut titles = snap.titles.clone();
    titles.fill_from(&d.titles);
    d.titles = titles;
    if snap.status.is_some() {
        d.status.clone_from(&snap.status);
    }
    merge_committees(&mut d.committees, &snap.committees);
    for step in &snap.steps {
        let id = step_identity(step.stage, step.date, &step.label);
        match d
            .timeline
            .iter_mut()
            .find(|t| step_identity(t.stage, t.date, &t.label) == id)
        {
            Some(t) => {
                if !t.sources.iter().any(|p| p.source == snap.provenance.source) {
                    t.sources.push(snap.provenance.clone());
                }
                for doc in &step.documents {
                    if !t.documents.iter().any(|x| x.reference == doc.reference) {
                        t.documents.push(doc.clone());
                    }
                }
            }
            None => d.timeline.push(TimelineStep {
                date: step.date,
                stage: step.stage,
                label: step.label.clone(),
                documents: step.documents.clone(),
                sources: vec![snap.provenance.clone()],
            }),
        }
    }
    d.timeline
        .sort_by(|a, b| (a.date, a.stage, &a.label).cmp(&(b.date, b.stage, &b.label)));
    if !snap.forecasts.is_empty() {
        d.forecasts.clone_from(&snap.forecasts);
        d.forecasts.sort_by_key(|a| (a.date, a.stage));
    }
    for c in &snap.com {
        if !d.com.contains(c) {
            d.com.push(*c);
        }
    }
    if snap.final_act.is_some() {
        d.final_act.clone_from(&snap.final_act);
    }
    if snap.act_dates.sent_to_parliaments.is_some() {
        d.act_dates.sent_to_parliaments = snap.act_dates.sent_to_parliaments;
    }
    if !snap.act_dates.transposition.is_empty() {
        d.act_dates
            .transposition
            .clone_from(&snap.act_dates.transposition);
    }
    if !snap.subjects.is_empty() {
        d.subjects.clone_from(&snap.subjects);
    }
    if !snap.eurovoc.is_empty() {
        d.eurovoc.clone_from(&snap.eurovoc);
    }
    if let Some(lm) = &snap.last_modified {
        let src = snap.provenance.source.clone();
        match d.last_modified.iter_mut().find(|(s, _)| *s == src) {
            Some(e) => e.1.clone_from(lm),
            None => d.last_modified.push((src, lm.clone())),
        }
    }
    d
}

/// Committees from a new snapshot: a source that names a committee without rapporteurs
/// (the EP API gives only person ids) keeps the names another source gave; committees a
/// snapshot does not mention stay.
fn merge_committees(known: &mut Vec<crate::model::Committee>, new: &[crate::model::Committee]) {
    for c in new {
        match known.iter_mut().find(|k| k.code == c.code) {
            Some(k) => {
                k.role = c.role;
                if !c.rapporteurs.is_empty() {
                    k.rapporteurs.clone_from(&c.rapporteurs);
                }
            }
            None => known.push(c.clone()),
        }
    }
}

/// What a diff needs besides the two dossiers.
#[derive(Debug, Clone)]
pub struct DiffContext<'a> {
    pub now: DateTime<Utc>,
    /// On a dossier's first sight, only steps this recent are news.
    pub backfill: Duration,
    /// The snapshot that produced `new`.
    pub provenance: &'a Provenance,
}

/// A human page for a dossier: its Legislative Observatory procedure file.
pub fn dossier_page(r: &ProcedureRef) -> String {
    let reference = r.to_string().replace('(', "%28").replace(')', "%29");
    format!("https://oeil.secure.europarl.europa.eu/oeil/en/procedure-file?reference={reference}")
}

fn aliases(d: &Dossier) -> Vec<DossierRef> {
    let mut out: Vec<DossierRef> = d.com.iter().copied().map(DossierRef::Com).collect();
    out.extend(d.final_act.iter().cloned().map(DossierRef::Celex));
    out
}

fn http_link(u: &Option<String>) -> Option<String> {
    u.as_ref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .cloned()
}

/// The oldest day that is still news in what is seen for the first time (a dossier's
/// steps, a source's items): `backfill` before `now`.
pub fn backfill_horizon(now: DateTime<Utc>, backfill: Duration) -> NaiveDate {
    (now - chrono::Duration::from_std(backfill).unwrap_or(chrono::Duration::days(30))).date_naive()
}

/// A dossier of what a candidate says (no timeline): what a procedure found for a
/// watchlist before its record was read again is known by.
pub fn candidate_dossier(c: &Candidate) -> Dossier {
    Dossier {
        reference: c.reference,
        titles: c.titles.clone(),
        status: None,
        committees: Vec::new(),
        timeline: Vec::new(),
        forecasts: Vec::new(),
        com: c.com.clone(),
        final_act: c.final_act.clone(),
        act_dates: Default::default(),
        subjects: c.subjects.clone(),
        eurovoc: c.eurovoc.clone(),
        last_modified: Vec::new(),
    }
}

/// The news that a procedure veille did not know was found for `watchlist`: one event
/// per dossier and watchlist, dated by its latest step (or `now`), at its current stage.
/// Its title is the dossier's; the reasons go with the match.
pub fn discovered_event(
    d: &Dossier,
    watchlist: &str,
    provenance: &Provenance,
    now: DateTime<Utc>,
) -> DossierEvent {
    let r = &d.reference;
    let title = d
        .titles
        .best()
        .map(str::to_string)
        .unwrap_or_else(|| r.to_string());
    DossierEvent {
        id: EventId::derive(&["discovered", &r.storage_key(), watchlist]),
        kind: EventKind::Discovered,
        stage: d.current_stage(),
        dossier: Some(*r),
        dossier_title: Some(title.clone()),
        date: d
            .timeline
            .iter()
            .map(|s| s.date)
            .max()
            .unwrap_or(now.date_naive()),
        title,
        summary: String::new(),
        url: Some(dossier_page(r)),
        documents: Vec::new(),
        mentions: aliases(d),
        provenance: vec![provenance.clone()],
    }
}

/// The events that `new` adds to `old`: new steps, new documents on known steps, forecasts
/// added or moved, new rapporteurs. Never "removed" events.
pub fn diff(old: Option<&Dossier>, new: &Dossier, ctx: &DiffContext<'_>) -> Vec<DossierEvent> {
    let d = Diff {
        old,
        new,
        ctx,
        today: ctx.now.date_naive(),
        page: dossier_page(&new.reference),
    };
    let mut out = Vec::new();
    d.steps(backfill_horizon(ctx.now, ctx.backfill), &mut out);
    d.forecasts(&mut out);
    d.deadlines(&mut out);
    d.rapporteurs(&mut out);
    out
}

/// One diff of `new` against `old`, one method per kind of change.
struct Diff<'a> {
    old: Option<&'a Dossier>,
    new: &'a Dossier,
    ctx: &'a DiffContext<'a>,
    today: NaiveDate,
    /// The dossier's human page, each event's link unless it has a better one.
    page: String,
}

impl Diff<'_> {
    /// An event about the dossier, with what every such event carries.
    fn event(
        &self,
        kind: EventKind,
        stage: Option<Stage>,
        date: NaiveDate,
        title: String,
        id: EventId,
    ) -> DossierEvent {
        DossierEvent {
            id,
            kind,
            stage,
            dossier: Some(self.new.reference),
            dossier_title: self.new.titles.best().map(str::to_string),
            date,
            title,
            summary: String::new(),
            url: Some(self.page.clone()),
            documents: Vec::new(),
            mentions: aliases(self.new),
            provenance: vec![self.ctx.provenance.clone()],
        }
    }

    /// Steps not on the old timeline (on first sight, only those since `horizon`), and
    /// new documents on steps that were.
    fn steps(&self, horizon: NaiveDate, out: &mut Vec<DossierEvent>) {
        for step in &self.new.timeline {
            let ident = step_identity(step.stage, step.date, &step.label);
            let known = self.old.and_then(|o| {
                o.timeline
                    .iter()
                    .find(|t| step_identity(t.stage, t.date, &t.label) == ident)
            });
            match known {
                None => {
                    if self.old.is_none() && step.date < horizon {
                        continue;
                    }
                    out.push(self.new_step(step, &ident.2));
                }
                Some(t) => self.new_documents(step, t, out),
            }
        }
    }

    /// A step seen for the first time; `detail` is its identity's wording part.
    fn new_step(&self, step: &TimelineStep, detail: &str) -> DossierEvent {
        let r = &self.new.reference;
        let id = EventId::for_step(r, EventKind::Step, step.stage, step.date, detail);
        let mut ev = self.event(
            EventKind::Step,
            Some(step.stage),
            step.date,
            step.label.clone(),
            id,
        );
        ev.documents.clone_from(&step.documents);
        ev.url = step
            .documents
            .iter()
            .find_map(|d| http_link(&d.url))
            .or(ev.url);
        ev.provenance.clone_from(&step.sources);
        ev
    }

    /// Documents of `step` that its known version `known` did not list.
    fn new_documents(
        &self,
        step: &TimelineStep,
        known: &TimelineStep,
        out: &mut Vec<DossierEvent>,
    ) {
        let r = &self.new.reference;
        for doc in &step.documents {
            if known.documents.iter().any(|x| x.reference == doc.reference) {
                continue;
            }
            let id = EventId::derive(&[&r.storage_key(), "document", &doc.reference]);
            let mut ev = self.event(
                EventKind::Document,
                Some(step.stage),
                step.date,
                format!("{}: {}", step.label, doc.reference),
                id,
            );
            ev.documents = vec![doc.clone()];
            ev.url = http_link(&doc.url).or(ev.url);
            out.push(ev);
        }
    }

    /// Forecasts from today on that are new or whose date moved.
    fn forecasts(&self, out: &mut Vec<DossierEvent>) {
        let r = &self.new.reference;
        for f in &self.new.forecasts {
            if f.date < self.today {
                continue;
            }
            let same = |o: &Forecast| {
                o.stage == f.stage && normalise_label(&o.label) == normalise_label(&f.label)
            };
            let before = self.old.and_then(|o| o.forecasts.iter().find(|o| same(o)));
            if before.is_some_and(|b| b.date == f.date) {
                continue;
            }
            let title = match before {
                Some(b) => format!("{} (moved from {})", f.label, b.date),
                None => f.label.clone(),
            };
            let id = EventId::for_step(
                r,
                EventKind::Forecast,
                f.stage,
                f.date,
                &normalise_label(&f.label),
            );
            out.push(self.event(EventKind::Forecast, Some(f.stage), f.date, title, id));
        }
    }

    /// Deadlines the acts set: news when CELLAR's dates make them known or move them,
    /// while they are still ahead. A subsidiarity window estimated from the proposal date
    /// is listed under "coming up" but is not news until its real start is known.
    fn deadlines(&self, out: &mut Vec<DossierEvent>) {
        let known = |d: &Dossier| -> Vec<Deadline> {
            deadlines::act_deadlines(d)
                .into_iter()
                .filter(|x| {
                    x.kind != DeadlineKind::Subsidiarity
                        || d.act_dates.sent_to_parliaments.is_some()
                })
                .collect()
        };
        let before = self.old.map(known).unwrap_or_default();
        let now_known = known(self.new);
        for dl in &now_known {
            if dl.at < self.ctx.now || before.iter().any(|b| b.uid == dl.uid) {
                continue;
            }
            let count = |v: &[Deadline]| v.iter().filter(|x| x.kind == dl.kind).count();
            let moved_from = before
                .iter()
                .find(|b| b.kind == dl.kind)
                .filter(|_| count(&before) == 1 && count(&now_known) == 1);
            let mut title = self.deadline_title(dl);
            if let Some(b) = moved_from {
                title = format!("{title}; moved from {}", b.local_date());
            }
            let id = EventId::derive(&["deadline-known", &dl.uid]);
            let mut ev = self.event(
                EventKind::Forecast,
                Some(dl.stage),
                dl.local_date(),
                title,
                id,
            );
            if let Some(u) = &dl.url {
                ev.url = Some(u.clone());
            }
            out.push(ev);
        }
    }

    /// What a deadline means for the reader: transposing the act, or objecting on
    /// subsidiarity grounds.
    fn deadline_title(&self, dl: &Deadline) -> String {
        match (dl.kind, &self.new.final_act) {
            (DeadlineKind::Transposition, Some(act)) => {
                format!("Member States must transpose {} by this date", act.act_name())
            }
            _ => match self.new.act_dates.sent_to_parliaments {
                Some(sent) => format!(
                    "National parliaments can object on subsidiarity grounds until this date (proposal sent to them on {sent})"
                ),
                None => dl.title.clone(),
            },
        }
    }

    /// Rapporteurs named since the stored dossier (none on first sight).
    fn rapporteurs(&self, out: &mut Vec<DossierEvent>) {
        let Some(old) = self.old else {
            return;
        };
        let r = &self.new.reference;
        for c in &self.new.committees {
            let before = old.committees.iter().find(|o| o.code == c.code);
            for name in &c.rapporteurs {
                if before.is_some_and(|b| b.rapporteurs.contains(name)) {
                    continue;
                }
                let id = EventId::derive(&[&r.storage_key(), "rapporteur", &c.code, name]);
                out.push(self.event(
                    EventKind::Rapporteur,
                    None,
                    self.today,
                    format!("Rapporteur for {}: {}", c.code, name),
                    id,
                ));
            }
        }
    }
}

/// Every dossier reference named in a text or link: `2011/0438(COD)`, `COM(2011) 896`,
/// CELEX `32014L0024` or an act's name ("Directive 2014/24/EU"), and the URL spellings
/// `2011_438` / `2011-0438` next to `procedure`/`reference`, `uri=COM:2011:0896:FIN`.
pub fn references_in(text: &str) -> (Vec<ProcedureRef>, Vec<ComRef>, Vec<Celex>) {
    let mut procs = ProcedureRef::find_all(text);
    static URL_FORMS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    // `[0-9]`, not `\d` (Unicode digits): see `model::refs::procedure_in_text`.
    let re = URL_FORMS.get_or_init(|| {
        regex::Regex::new(
            r"(?i)(?:procedure[/=]|reference=|proc/)((?:19|20)[0-9]{2}[_-][0-9]{1,4}[A-Z]?)(?-u:\b)",
        )
        .expect("static regex")
    });
    for cap in re.captures_iter(text) {
        if let Ok(p) = cap[1].parse::<ProcedureRef>() {
            if !procs.contains(&p) {
                procs.push(p);
            }
        }
    }
    let mut coms = ComRef::find_all(text);
    for c in ComRef::find_in_link(text) {
        if !coms.contains(&c) {
            coms.push(c);
        }
    }
    (procs, coms, Celex::find_in_prose(text))
}

/// A feed item as an event. Undated items take `first_seen`.
pub fn item_event(
    item: &FeedItem,
    provenance: &Provenance,
    first_seen: DateTime<Utc>,
    feed_title: Option<&str>,
) -> ItemEvent {
    let link = Celex::decode_link(item.link.as_deref().unwrap_or_default());
    let text = [item.title.as_str(), item.summary.as_str(), &link].join(" ");
    let (procs, coms, celexes) = references_in(&text);
    let mut mentions: Vec<DossierRef> = procs
        .iter()
        .skip(1)
        .copied()
        .map(DossierRef::Procedure)
        .collect();
    mentions.extend(coms.into_iter().map(DossierRef::Com));
    mentions.extend(celexes.into_iter().map(|c| match c.to_com() {
        Some(com) => DossierRef::Com(com),
        None => DossierRef::Celex(c),
    }));
    ItemEvent::with_text_refs_read(DossierEvent {
        id: item.event_id(&provenance.source),
        kind: EventKind::Item,
        stage: None,
        dossier: procs.first().copied(),
        dossier_title: feed_title.map(str::to_string),
        date: item.published.unwrap_or(first_seen).date_naive(),
        title: item.title.clone(),
        summary: item.summary.clone(),
        url: http_link(&item.link),
        documents: Vec::new(),
        mentions,
        provenance: vec![provenance.clone()],
    })
}

/// A Have Your Say initiative as an event: an open feedback period is a
/// `consultation-open` step (same-day alerts may follow); otherwise a plain item.
pub fn consultation_event(
    c: &crate::model::Consultation,
    item: &FeedItem,
    provenance: &Provenance,
    first_seen: DateTime<Utc>,
) -> DossierEvent {
    // Its COM numbers join the mentions: a plain event, matched in full.
    let mut ev = item_event(item, provenance, first_seen, Some("Have your say")).into_event();
    if c.feedback_open {
        let opens = c.opens.unwrap_or(first_seen);
        ev.id = EventId::derive(&[
            "consultation-open",
            &c.initiative_id.to_string(),
            &opens.to_rfc3339(),
        ]);
        ev.kind = EventKind::Step;
        ev.stage = Some(Stage::ConsultationOpen);
        let brussels = crate::tz::Tz::brussels();
        ev.date = opens.with_timezone(&brussels).date_naive();
        if let Some(closes) = c.closes {
            let until = closes.with_timezone(&brussels).date_naive();
            ev.title = format!("{} (feedback until {until})", c.title.trim());
        }
    }
    for com in &c.com {
        let r = DossierRef::Com(*com);
        if !ev.mentions.contains(&r) {
            ev.mentions.push(r);
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Committee, CommitteeRole, Document, Step, Titles};

    fn prov(source: &str) -> Provenance {
        Provenance {
            source: source.into(),
            url: format!("https://{source}.example/x"),
            fetched_at: "2026-11-20T10:00:00Z".parse().unwrap_or_default(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn snap(source: &str, steps: Vec<(&str, Stage, &str)>) -> DossierSnapshot {
        DossierSnapshot {
            reference: "2018/0172(COD)".parse().unwrap_or_else(|e| panic!("{e}")),
            titles: Titles {
                en: Some(
                    "Reduction of the impact of certain plastic products on the environment".into(),
                ),
                ..Titles::default()
            },
            status: None,
            committees: vec![],
            steps: steps
                .into_iter()
                .map(|(d, stage, label)| Step {
                    date: day(d),
                    stage,
                    label: label.into(),
                    documents: vec![],
                })
                .collect(),
            forecasts: vec![],
            com: vec![],
            final_act: None,
            act_dates: Default::default(),
            subjects: vec![],
            eurovoc: Vec::new(),
            last_modified: None,
            provenance: prov(source),
        }
    }

    fn ctx(p: &Provenance) -> DiffContext<'_> {
        DiffContext {
            now: "2026-11-20T10:00:00Z".parse().unwrap_or_default(),
            backfill: Duration::from_secs(10_000 * 86_400),
            provenance: p,
        }
    }

    #[test]
    fn one_step_reported_by_two_sources_is_one_step_and_one_event() {
        let a = snap(
            "ep-api",
            vec![
                ("2019-05-21", Stage::Adopted, "Act adopted by Council"),
                ("2019-06-05", Stage::Signed, "Final act signed"),
            ],
        );
        let b = snap(
            "cellar",
            vec![
                (
                    "2019-06-05",
                    Stage::Signed,
                    "Signature by the President of the EP and by the President of the Council",
                ),
                (
                    "2019-06-12",
                    Stage::Published,
                    "Publication in the Official Journal",
                ),
            ],
        );
        let d1 = merge(None, &a);
        let e1 = diff(None, &d1, &ctx(&a.provenance));
        assert_eq!(e1.len(), 2);
        let d2 = merge(Some(&d1), &b);
        let e2 = diff(Some(&d1), &d2, &ctx(&b.provenance));
        assert_eq!(d2.timeline.len(), 3);
        let signed = d2
            .timeline
            .iter()
            .find(|t| t.stage == Stage::Signed)
            .map(|t| t.sources.len());
        assert_eq!(signed, Some(2));
        assert_eq!(e2.len(), 1);
        assert_eq!(e2[0].stage, Some(Stage::Published));
        // The same step seen by the other source first has the same id.
        let other_first = diff(None, &merge(None, &b), &ctx(&b.provenance));
        assert!(other_first.iter().any(|e| e.id == e1[1].id));
    }

    #[test]
    fn a_partial_page_removes_nothing_and_reports_nothing() {
        let full = snap(
            "oeil",
            vec![
                (
                    "2018-05-28",
                    Stage::Proposal,
                    "Legislative proposal published",
                ),
                ("2018-10-24", Stage::PlenaryVote, "Decision by Parliament"),
            ],
        );
        let mut partial = snap(
            "oeil",
            vec![(
                "2018-05-28",
                Stage::Proposal,
                "Legislative proposal published",
            )],
        );
        partial.titles = Titles::default();
        let d1 = merge(None, &full);
        let d2 = merge(Some(&d1), &partial);
        assert_eq!(d2.timeline.len(), 2);
        assert!(d2.titles.en.is_some());
        assert!(diff(Some(&d1), &d2, &ctx(&partial.provenance)).is_empty());
    }

    #[test]
    fn first_sight_reports_only_recent_history() {
        let s = snap(
            "oeil",
            vec![
                (
                    "2018-05-28",
                    Stage::Proposal,
                    "Legislative proposal published",
                ),
                ("2026-11-10", Stage::PlenaryVote, "Decision by Parliament"),
            ],
        );
        let d = merge(None, &s);
        let mut c = ctx(&s.provenance);
        c.backfill = Duration::from_secs(30 * 86_400);
        let ev = diff(None, &d, &c);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].date, day("2026-11-10"));
        assert_eq!(d.timeline.len(), 2);
    }

    #[test]
    fn forecasts_added_or_moved_and_new_rapporteurs_and_documents() {
        let mut s1 = snap(
            "oeil",
            vec![("2026-10-01", Stage::CommitteeVote, "Vote in committee")],
        );
        s1.forecasts = vec![Forecast {
            date: day("2026-12-14"),
            stage: Stage::PlenaryVote,
            label: "Indicative plenary sitting date".into(),
        }];
        s1.committees = vec![Committee {
            code: "ENVI".into(),
            role: CommitteeRole::Lead,
            rapporteurs: vec!["Frédérique Ries".into()],
        }];
        let d1 = merge(None, &s1);
        let mut s2 = s1.clone();
        s2.forecasts[0].date = day("2027-01-18");
        s2.committees[0].rapporteurs.push("Another Member".into());
        s2.steps[0].documents.push(Document {
            reference: "A9-0317/2018".into(),
            url: Some("https://www.europarl.europa.eu/doceo/document/A-8-2018-0317_EN.html".into()),
        });
        let d2 = merge(Some(&d1), &s2);
        let ev = diff(Some(&d1), &d2, &ctx(&s2.provenance));
        let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Document,
                EventKind::Forecast,
                EventKind::Rapporteur
            ]
        );
        assert!(
            ev[1].title.contains("moved from 2026-12-14"),
            "{}",
            ev[1].title
        );
        // Unchanged again: nothing.
        assert!(diff(Some(&d2), &merge(Some(&d2), &s2), &ctx(&s2.provenance)).is_empty());
    }

    #[test]
    fn a_source_without_rapporteur_names_does_not_erase_them() {
        let mut oeil = snap("oeil", vec![]);
        oeil.committees = vec![Committee {
            code: "ENVI".into(),
            role: CommitteeRole::Lead,
            rapporteurs: vec!["Frédérique Ries".into()],
        }];
        let mut api = snap("ep-api", vec![]);
        api.committees = vec![
            Committee {
                code: "ENVI".into(),
                role: CommitteeRole::Lead,
                rapporteurs: vec![],
            },
            Committee {
                code: "ITRE".into(),
                role: CommitteeRole::Opinion,
                rapporteurs: vec![],
            },
        ];
        let d1 = merge(None, &oeil);
        let d2 = merge(Some(&d1), &api);
        assert_eq!(d2.committees.len(), 2);
        assert_eq!(d2.committees[0].rapporteurs, ["Frédérique Ries"]);
        let d3 = merge(Some(&d2), &oeil);
        assert!(
            diff(Some(&d2), &d3, &ctx(&oeil.provenance)).is_empty(),
            "no flip-flop of rapporteurs"
        );
    }

    #[test]
    fn items_name_their_dossiers_in_every_spelling() {
        let item = FeedItem {
            key: "https://www.europarl.europa.eu/news/en/press-room/20221014IPR43206".into(),
            title: "Car-recharging stations should be available every 60 km".into(),
            link: Some("https://www.europarl.europa.eu/news/en/press-room/20221014IPR43206".into()),
            summary: "Procedure 2021/0223(COD), proposal COM(2021) 559 final; see also eur-lex procedure/2021_210".into(),
            published: None,
            categories: vec![],
        };
        let seen: DateTime<Utc> = "2022-10-19T12:00:00Z".parse().unwrap_or_default();
        let ev = item_event(&item, &prov("ep-press"), seen, None);
        assert_eq!(
            ev.dossier.map(|d| d.to_string()),
            Some("2021/0223(COD)".into())
        );
        assert_eq!(ev.date, day("2022-10-19"));
        let m: Vec<String> = ev.mentions.iter().map(|m| m.to_string()).collect();
        assert_eq!(m, ["2021/0210", "COM(2021)559"]);
    }
}
