//! Deadlines from dossiers and consultations, reminders over consecutive windows,
//! calendar-month arithmetic in Brussels, countdowns.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use veille::deadlines::{
    consultation_deadlines, countdown_days, dossier_deadlines, reminder_due, reminders_due,
    subsidiarity_deadline, transposition_deadline, Deadline, DeadlineKind, ReminderOffset,
    ReminderPolicy,
};
use veille::model::{Celex, ComRef, Dossier, Forecast, ProcedureRef, Stage, TimelineStep, Titles};
use veille::sources::have_your_say::Consultation;
use veille::tz::Tz;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn step(d: NaiveDate, stage: Stage, label: &str) -> TimelineStep {
    TimelineStep {
        date: d,
        stage,
        label: label.into(),
        documents: vec![],
        sources: vec![],
    }
}

fn forecast(d: NaiveDate, stage: Stage, label: &str) -> Forecast {
    Forecast {
        date: d,
        stage,
        label: label.into(),
    }
}

/// A COD dossier written by hand (the EP API parser lives on another branch).
pub fn cod_dossier() -> Dossier {
    Dossier {
        reference: "2025/0260(COD)".parse().unwrap(),
        titles: Titles {
            en: Some("European Defence Industry Programme, amendments".into()),
            fr: None,
            de: None,
            more: Vec::new(),
        },
        status: Some("Awaiting committee decision".into()),
        committees: vec![],
        timeline: vec![
            step(
                date(2025, 11, 19),
                Stage::Proposal,
                "Legislative proposal published",
            ),
            step(
                date(2025, 12, 15),
                Stage::Referral,
                "Committee referral announced",
            ),
        ],
        forecasts: vec![
            forecast(
                date(2026, 1, 27),
                Stage::CommitteeVote,
                "Vote scheduled in committee",
            ),
            forecast(
                date(2026, 3, 10),
                Stage::PlenaryVote,
                "Indicative plenary sitting date",
            ),
        ],
        com: vec![ComRef {
            year: 2025,
            number: 820,
        }],
        final_act: None,
        act_dates: Default::default(),
        subjects: vec![],
        eurovoc: Vec::new(),
        last_modified: vec![],
    }
}

fn consultation(id: u64, closes: &str) -> Consultation {
    Consultation {
        initiative_id: id,
        title: format!("Consultation {id}"),
        url: format!(
            "https://ec.europa.eu/info/law/better-regulation/have-your-say/initiatives/{id}_en"
        ),
        stage: Some("OPC_LAUNCHED".into()),
        feedback_open: true,
        opens: None,
        closes: Some(utc(closes)),
        com: vec![],
    }
}

#[test]
fn subsidiarity_is_proposal_plus_eight_weeks() {
    let d = cod_dossier();
    let all = dossier_deadlines(&d);
    let subs: Vec<&Deadline> = all
        .iter()
        .filter(|x| x.kind == DeadlineKind::Subsidiarity)
        .collect();
    assert_eq!(subs.len(), 1);
    let s = subs[0];
    assert_eq!(s.stage, Stage::SubsidiarityDeadline);
    assert!(s.all_day);
    assert_eq!(s.local_date(), date(2026, 1, 14));
    // End of that day in Brussels (CET in January).
    assert_eq!(s.at, utc("2026-01-14T22:59:59Z"));
    assert_eq!(s.dossier, Some(d.reference));
    assert!(
        s.title.contains("European Defence Industry Programme"),
        "{}",
        s.title
    );
    assert!(s.url.as_deref().unwrap().contains("2025/0260(COD)"));
    assert!(
        s.uid.ends_with("@veille") && s.uid.len() == 32 + 7,
        "{}",
        s.uid
    );

    // Same as giving the transmission date directly.
    let direct = subsidiarity_deadline(Some(d.reference), date(2025, 11, 19), "x", None);
    assert_eq!(direct.uid, s.uid);
    assert_eq!(direct.at, s.at);

    // A renamed dossier keeps its uids; a moved proposal date changes the subsidiarity one.
    let mut renamed = d.clone();
    renamed.titles.en = Some("Another title".into());
    let uids =
        |d: &Dossier| -> Vec<String> { dossier_deadlines(d).into_iter().map(|x| x.uid).collect() };
    assert_eq!(uids(&renamed), uids(&d));
    let mut moved = d.clone();
    moved.timeline[0].date = date(2025, 11, 20);
    assert_ne!(uids(&moved), uids(&d));
}

#[test]
fn subsidiarity_only_for_legislative_proposals() {
    let mut ini = cod_dossier();
    ini.reference = "2025/2001(INI)".parse().unwrap();
    assert!(dossier_deadlines(&ini)
        .iter()
        .all(|x| x.kind != DeadlineKind::Subsidiarity));

    let mut untyped = cod_dossier();
    untyped.reference = "2025-0260".parse().unwrap();
    assert!(dossier_deadlines(&untyped)
        .iter()
        .all(|x| x.kind != DeadlineKind::Subsidiarity));

    let mut no_proposal = cod_dossier();
    no_proposal.timeline.retain(|s| s.stage != Stage::Proposal);
    assert!(dossier_deadlines(&no_proposal)
        .iter()
        .all(|x| x.kind != DeadlineKind::Subsidiarity));

    for t in ["CNS", "APP", "SYN"] {
        let mut d = cod_dossier();
        d.reference = format!("2025/0260({t})").parse().unwrap();
        assert_eq!(
            dossier_deadlines(&d)
                .iter()
                .filter(|x| x.kind == DeadlineKind::Subsidiarity)
                .count(),
            1,
            "{t}"
        );
    }

    // A source that announces the deadline itself wins over the computation.
    let mut announced = cod_dossier();
    announced.forecasts.push(forecast(
        date(2026, 2, 2),
        Stage::SubsidiarityDeadline,
        "Deadline for national parliaments",
    ));
    let subs: Vec<Deadline> = dossier_deadlines(&announced)
        .into_iter()
        .filter(|x| x.kind == DeadlineKind::Subsidiarity)
        .collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].local_date(), date(2026, 2, 2));
}

#[test]
fn forecasts_become_scheduled_steps_sorted() {
    let all = dossier_deadlines(&cod_dossier());
    let summary: Vec<(DeadlineKind, Stage, NaiveDate)> = all
        .iter()
        .map(|d| (d.kind, d.stage, d.local_date()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                DeadlineKind::Subsidiarity,
                Stage::SubsidiarityDeadline,
                date(2026, 1, 14)
            ),
            (
                DeadlineKind::ScheduledStep,
                Stage::CommitteeVote,
                date(2026, 1, 27)
            ),
            (
                DeadlineKind::ScheduledStep,
                Stage::PlenaryVote,
                date(2026, 3, 10)
            ),
        ]
    );
    let vote = &all[2];
    assert!(vote.all_day);
    assert!(
        vote.title.starts_with("Indicative plenary sitting date: "),
        "{}",
        vote.title
    );
    // Deterministic.
    assert_eq!(dossier_deadlines(&cod_dossier()), all);
}

#[test]
fn transposition_and_consultation_deadlines() {
    let celex: Celex = "32019L0904".parse().unwrap();
    let proc: ProcedureRef = "2018/0172(COD)".parse().unwrap();
    let t = transposition_deadline(&celex, date(2021, 7, 3), Some(proc));
    assert_eq!(t.kind, DeadlineKind::Transposition);
    assert_eq!(t.stage, Stage::TranspositionDeadline);
    assert_eq!(t.at, utc("2021-07-03T21:59:59Z"));
    assert_eq!(t.url, Some(celex.eurlex_url()));
    assert!(t.title.contains("Directive (EU) 2019/904"), "{}", t.title);
    assert_eq!(
        t.uid,
        transposition_deadline(&celex, date(2021, 7, 3), None).uid
    );

    let c = consultation(18805, "2026-09-28T23:59:59+02:00");
    let d = consultation_deadlines(&c);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DeadlineKind::ConsultationClosing);
    assert_eq!(d[0].stage, Stage::ConsultationClosing);
    assert!(!d[0].all_day);
    assert_eq!(d[0].at, utc("2026-09-28T21:59:59Z"));
    assert_eq!(d[0].url.as_deref(), Some(c.url.as_str()));
    let open_ended = Consultation {
        closes: None,
        ..c.clone()
    };
    assert!(consultation_deadlines(&open_ended).is_empty());
}

#[test]
fn month_arithmetic_at_month_ends_in_brussels() {
    let t = |d: NaiveDate| transposition_deadline(&"32019L0904".parse().unwrap(), d, None);
    let end_march = t(date(2026, 3, 31));
    // A month before 31 March is the last day of February, 00:00 CET.
    assert_eq!(
        reminder_due(&end_march, ReminderOffset::Months(1)),
        utc("2026-02-27T23:00:00Z")
    );
    assert_eq!(
        reminder_due(&t(date(2028, 3, 31)), ReminderOffset::Months(1)),
        utc("2028-02-28T23:00:00Z") // 29 February 2028, leap year
    );
    // Six months before 31 March is 30 September, in summer time.
    assert_eq!(
        reminder_due(&end_march, ReminderOffset::Months(6)),
        utc("2025-09-29T22:00:00Z")
    );
    assert_eq!(
        reminder_due(&t(date(2026, 8, 31)), ReminderOffset::Months(6)),
        utc("2026-02-27T23:00:00Z")
    );
    assert_eq!(
        reminder_due(&end_march, ReminderOffset::Weeks(2)),
        utc("2026-03-16T23:00:00Z")
    );
    assert_eq!(
        reminder_due(&end_march, ReminderOffset::Days(3)),
        utc("2026-03-27T23:00:00Z")
    );
    // On the day: midnight starting the deadline's day, on both sides of the DST changes.
    assert_eq!(
        reminder_due(&t(date(2026, 3, 29)), ReminderOffset::OnTheDay),
        utc("2026-03-28T23:00:00Z")
    );
    assert_eq!(
        reminder_due(&t(date(2026, 3, 30)), ReminderOffset::OnTheDay),
        utc("2026-03-29T22:00:00Z")
    );
    assert_eq!(
        reminder_due(&t(date(2026, 10, 25)), ReminderOffset::OnTheDay),
        utc("2026-10-24T22:00:00Z")
    );
}

fn sample_deadlines() -> Vec<Deadline> {
    let mut v = dossier_deadlines(&cod_dossier());
    v.push(transposition_deadline(
        &"32019L0904".parse().unwrap(),
        date(2026, 3, 31),
        None,
    ));
    v.push(transposition_deadline(
        &"32024L1275".parse().unwrap(),
        date(2026, 10, 25),
        None,
    ));
    v.extend(consultation_deadlines(&consultation(
        18805,
        "2026-09-28T23:59:59+02:00",
    )));
    v.extend(consultation_deadlines(&consultation(
        16001,
        "2026-03-29T10:00:00+02:00",
    )));
    v
}

#[test]
fn reminders_fire_once_each_over_consecutive_windows() {
    let deadlines = sample_deadlines();
    let policy = ReminderPolicy::default();
    let reminding: Vec<&Deadline> = deadlines
        .iter()
        .filter(|d| d.kind != DeadlineKind::ScheduledStep)
        .collect();
    assert_eq!(reminding.len(), 5);

    // Polls every 5 hours (not aligned with days) from well before the first reminder to
    // after the last deadline, with the last check persisted between polls.
    let start = utc("2025-05-01T00:00:00Z");
    let end = utc("2026-11-30T00:00:00Z");
    let mut last = Some(start);
    let mut now = start;
    let mut seen: BTreeMap<String, (String, ReminderOffset, DateTime<Utc>)> = BTreeMap::new();
    while now < end {
        now += Duration::hours(5);
        for r in reminders_due(&deadlines, &policy, last, now) {
            assert!(r.due > last.unwrap() && r.due <= now);
            assert!(r.due <= r.deadline.at, "{r:?}");
            assert!(r.deadline.kind != DeadlineKind::ScheduledStep);
            let prev = seen.insert(r.key.clone(), (r.deadline.uid.clone(), r.offset, r.due));
            assert!(prev.is_none(), "{} fired twice", r.key);
        }
        // A restart with the same persisted last check yields nothing new.
        assert!(reminders_due(&deadlines, &policy, Some(now), now).is_empty());
        last = Some(now);
    }
    assert_eq!(seen.len(), reminding.len() * policy.offsets.len());
    for d in &reminding {
        for o in &policy.offsets {
            let key = format!("{}#{}", d.uid, o.slug());
            let (uid, offset, due) = seen.get(&key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!((uid, offset, *due), (&d.uid, o, reminder_due(d, *o)));
        }
    }
    // The subsidiarity deadline's reminders are at 00:00 Brussels on their days.
    let subs = reminding
        .iter()
        .find(|d| d.kind == DeadlineKind::Subsidiarity)
        .unwrap();
    let due = seen[&format!("{}#on-the-day", subs.uid)].2;
    assert_eq!(due, utc("2026-01-13T23:00:00Z"));
    let due = seen[&format!("{}#6-months", subs.uid)].2;
    assert_eq!(due, utc("2025-07-13T22:00:00Z"));
}

#[test]
fn replaying_a_window_gives_the_same_reminders() {
    let deadlines = sample_deadlines();
    let policy = ReminderPolicy::default();
    let lc = Some(utc("2026-02-27T06:00:00Z"));
    let now = utc("2026-02-28T06:00:00Z");
    let a = reminders_due(&deadlines, &policy, lc, now);
    let b = reminders_due(&deadlines, &policy, lc, now);
    assert_eq!(a, b);
    let keys: Vec<String> = a.iter().map(|r| r.key.clone()).collect();
    // 1 month before 31 March and 1 month before 29 March (28 February).
    assert_eq!(a.len(), 2, "{keys:?}");
    assert!(a.iter().all(|r| r.offset == ReminderOffset::Months(1)));
}

#[test]
fn first_run_catches_up_with_one_reminder_per_deadline() {
    let deadlines = sample_deadlines();
    let policy = ReminderPolicy::default();
    // 5 March 2026: for 31 March the 6-month and 1-month reminders are past; only the
    // latest is sent. Deadlines already past get nothing.
    let now = utc("2026-03-05T08:00:00Z");
    let r = reminders_due(&deadlines, &policy, None, now);
    let mut per_uid = BTreeMap::new();
    for x in &r {
        *per_uid.entry(x.deadline.uid.clone()).or_insert(0) += 1;
        assert!(x.deadline.at >= now);
        assert!(x.due <= now);
    }
    assert!(per_uid.values().all(|n| *n == 1), "{per_uid:?}");
    let march = r
        .iter()
        .find(|x| x.deadline.local_date() == date(2026, 3, 31))
        .unwrap();
    assert_eq!(march.offset, ReminderOffset::Months(1));
    assert!(r
        .iter()
        .all(|x| x.deadline.kind != DeadlineKind::Subsidiarity)); // 14 January: past
}

#[test]
fn no_reminders_for_scheduled_steps_or_past_deadlines() {
    let steps: Vec<Deadline> = dossier_deadlines(&cod_dossier())
        .into_iter()
        .filter(|d| d.kind == DeadlineKind::ScheduledStep)
        .collect();
    assert_eq!(steps.len(), 2);
    let r = reminders_due(
        &steps,
        &ReminderPolicy::default(),
        Some(utc("2025-01-01T00:00:00Z")),
        utc("2026-12-31T00:00:00Z"),
    );
    assert!(r.is_empty());

    let past = transposition_deadline(&"32019L0904".parse().unwrap(), date(2026, 3, 31), None);
    let r = reminders_due(
        &[past],
        &ReminderPolicy::default(),
        Some(utc("2025-01-01T00:00:00Z")),
        utc("2026-04-01T00:00:00Z"),
    );
    assert!(
        r.is_empty(),
        "a reminder after the deadline is noise: {r:?}"
    );
}

#[test]
fn offsets_parse_and_print() {
    for (s, o) in [
        ("6 months", ReminderOffset::Months(6)),
        ("3 months", ReminderOffset::Months(3)),
        ("1 month", ReminderOffset::Months(1)),
        ("2 weeks", ReminderOffset::Weeks(2)),
        ("1 week", ReminderOffset::Weeks(1)),
        ("10 days", ReminderOffset::Days(10)),
        ("1 day", ReminderOffset::Days(1)),
        ("on the day", ReminderOffset::OnTheDay),
    ] {
        assert_eq!(s.parse::<ReminderOffset>(), Ok(o), "{s}");
        assert_eq!(o.to_string(), s);
    }
    assert_eq!("  6  Months before ".parse(), Ok(ReminderOffset::Months(6)));
    assert_eq!("6-months".parse(), Ok(ReminderOffset::Months(6)));
    assert_eq!("On the day".parse(), Ok(ReminderOffset::OnTheDay));
    assert_eq!("0 days".parse(), Ok(ReminderOffset::OnTheDay));
    for bad in [
        "",
        "6",
        "months",
        "six months",
        "6 fortnights",
        "-1 month",
        "1 month 2 days",
    ] {
        assert!(bad.parse::<ReminderOffset>().is_err(), "{bad:?}");
    }
    assert_eq!(ReminderOffset::OnTheDay.slug(), "on-the-day");
    let policy: ReminderPolicy =
        serde_json::from_str(r#"{"offsets": ["2 weeks", "on the day"]}"#).unwrap();
    assert_eq!(
        policy.offsets,
        vec![ReminderOffset::Weeks(2), ReminderOffset::OnTheDay]
    );
}

#[test]
fn countdowns_count_calendar_days_in_the_zone() {
    let at = Tz::brussels()
        .with_ymd_and_hms(2026, 3, 31, 23, 59, 59)
        .unwrap()
        .with_timezone(&Utc);
    // 01:30 on 31 March in Brussels, still 30 March in UTC.
    let now = utc("2026-03-30T23:30:00Z");
    assert_eq!(countdown_days(at, now, Tz::brussels()), 0);
    assert_eq!(countdown_days(at, now, Tz::utc()), 1);
    assert_eq!(
        countdown_days(at, utc("2026-03-01T12:00:00Z"), Tz::brussels()),
        30
    );
    assert_eq!(
        countdown_days(at, utc("2026-04-02T12:00:00Z"), Tz::brussels()),
        -2
    );
    // Across the spring change: still whole days.
    let d = Tz::brussels()
        .with_ymd_and_hms(2026, 3, 30, 0, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        countdown_days(d, utc("2026-03-28T23:30:00Z"), Tz::brussels()),
        1
    );
}

#[test]
fn a_deadline_found_late_gets_a_catch_up_reminder() {
    // Found on 7 September, closing 28 September: the 1-month reminder (28 August) is
    // before the window; the separate call for new deadlines catches up once.
    let new = consultation_deadlines(&consultation(18805, "2026-09-28T23:59:59+02:00"));
    let policy = ReminderPolicy::default();
    let lc = Some(utc("2026-09-06T06:00:00Z"));
    let now = utc("2026-09-07T06:00:00Z");
    assert!(reminders_due(&new, &policy, lc, now).is_empty());
    let caught = reminders_due(&new, &policy, None, now);
    assert_eq!(caught.len(), 1);
    assert_eq!(caught[0].offset, ReminderOffset::Months(1));
    assert_eq!(caught[0].key, format!("{}#1-month", new[0].uid));
    // Next day, a normal window: nothing until the day itself.
    let later = reminders_due(&new, &policy, Some(now), utc("2026-09-08T06:00:00Z"));
    assert!(later.is_empty());
    let on_the_day = reminders_due(
        &new,
        &policy,
        Some(utc("2026-09-27T06:00:00Z")),
        utc("2026-09-28T06:00:00Z"),
    );
    assert_eq!(on_the_day.len(), 1);
    assert_eq!(on_the_day[0].offset, ReminderOffset::OnTheDay);
}

#[test]
fn the_subsidiarity_window_leaves_out_august() {
    use veille::deadlines::subsidiarity_end;
    // No August in the window: plain 8 weeks.
    assert_eq!(subsidiarity_end(date(2018, 5, 28)), date(2018, 7, 23));
    assert_eq!(subsidiarity_end(date(2025, 11, 19)), date(2026, 1, 14));
    // 16 days of July, then September and 10 days of October.
    assert_eq!(subsidiarity_end(date(2026, 7, 15)), date(2026, 10, 10));
    // Sent in August: the count starts on 1 September.
    assert_eq!(subsidiarity_end(date(2026, 8, 5)), date(2026, 10, 26));
    // Sent on 31 July: 56 days from 1 September.
    assert_eq!(subsidiarity_end(date(2026, 7, 31)), date(2026, 10, 26));
    // Ending just before August is untouched.
    assert_eq!(subsidiarity_end(date(2026, 6, 4)), date(2026, 7, 30));
    // Never ends in August.
    let mut d = date(2026, 1, 1);
    while d.year() == 2026 {
        assert_ne!(subsidiarity_end(d).month(), 8, "{d}");
        d = d.succ_opt().unwrap();
    }
}

#[test]
fn act_dates_from_cellar_give_the_exact_windows() {
    let mut d = cod_dossier();
    // Without CELLAR's date, the proposal's stands in, and the title says so.
    let estimated = dossier_deadlines(&d)
        .into_iter()
        .find(|x| x.kind == DeadlineKind::Subsidiarity)
        .unwrap();
    assert_eq!(estimated.local_date(), date(2026, 1, 14));
    assert!(estimated.title.contains("estimated"), "{}", estimated.title);

    d.act_dates.sent_to_parliaments = Some(date(2025, 11, 21));
    let exact = dossier_deadlines(&d)
        .into_iter()
        .find(|x| x.kind == DeadlineKind::Subsidiarity)
        .unwrap();
    assert_eq!(exact.local_date(), date(2026, 1, 16));
    assert!(!exact.title.contains("estimated"), "{}", exact.title);
    assert_ne!(
        exact.uid, estimated.uid,
        "a moved deadline gets fresh reminders"
    );

    // Transposition deadlines only for a directive's dates.
    d.act_dates.transposition = vec![date(2027, 6, 30), date(2028, 1, 1)];
    assert!(dossier_deadlines(&d)
        .iter()
        .all(|x| x.kind != DeadlineKind::Transposition));
    d.final_act = Some("32026R0101".parse().unwrap());
    assert!(dossier_deadlines(&d)
        .iter()
        .all(|x| x.kind != DeadlineKind::Transposition));
    d.final_act = Some("32026L0101".parse().unwrap());
    let t: Vec<Deadline> = dossier_deadlines(&d)
        .into_iter()
        .filter(|x| x.kind == DeadlineKind::Transposition)
        .collect();
    assert_eq!(
        t.iter().map(Deadline::local_date).collect::<Vec<_>>(),
        [date(2027, 6, 30), date(2028, 1, 1)]
    );
    assert!(
        t[0].title
            .starts_with("Transposition deadline of Directive (EU) 2026/101 (2025/0260(COD))"),
        "{}",
        t[0].title
    );
    assert_ne!(t[0].uid, t[1].uid);
}
