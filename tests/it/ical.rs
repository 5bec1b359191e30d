//! iCalendar export: golden calendar, read back by a real parser (the `icalendar` crate),
//! stable UIDs, DST-correct times checked against the VTIMEZONE we emit, folding and
//! escaping.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use icalendar::{CalendarComponent, CalendarDateTime, Component as _, DatePerhapsTime};
use proptest::prelude::*;
use veille::deadlines::{
    consultation_deadlines, dossier_deadlines, transposition_deadline, Deadline, DeadlineKind,
};
use veille::ical::{calendar, text, unfold};
use veille::model::Stage;
use veille::sources::have_your_say::Consultation;
use veille::tz::Tz;

use crate::deadlines::cod_dossier;
use crate::support::fixtures;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    utc("2026-02-01T07:00:00Z")
}

fn consultation(id: u64, title: &str, closes: DateTime<Utc>) -> Consultation {
    Consultation {
        initiative_id: id,
        title: title.into(),
        url: format!(
            "https://ec.europa.eu/info/law/better-regulation/have-your-say/initiatives/{id}_en"
        ),
        stage: Some("OPC_LAUNCHED".into()),
        feedback_open: true,
        opens: None,
        closes: Some(closes),
        com: vec!["COM(2021)206".parse().unwrap()],
    }
}

fn brussels(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Tz::brussels()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// The deadlines of the golden calendar: a hand-built COD dossier with forecasts on
/// plenary dates, two consultations closing around the DST changes (one with a long
/// title full of accents and separators), a transposition deadline.
fn sample() -> Vec<Deadline> {
    let mut v = dossier_deadlines(&cod_dossier());
    v.extend(consultation_deadlines(&consultation(
        16001,
        "Communautés d'énergie locales; « guide », révision, et ŒUVRES — évaluation \\ des règles applicables aux collectivités territoriales",
        brussels(2026, 3, 29, 10, 0),
    )));
    v.extend(consultation_deadlines(&consultation(
        16002,
        "Urban wastewater reporting",
        brussels(2026, 10, 25, 10, 0),
    )));
    v.push(transposition_deadline(
        &"32024L1275".parse().unwrap(),
        NaiveDate::from_ymd_opt(2026, 5, 29).unwrap(),
        Some("2021/0426(COD)".parse().unwrap()),
    ));
    v
}

fn export(deadlines: &[Deadline], now: DateTime<Utc>) -> String {
    calendar(
        "Veille – Regional policy, deadlines",
        deadlines,
        now,
        Tz::brussels(),
    )
}

#[test]
fn golden_calendar() {
    let ics = export(&sample(), now());
    fixtures::golden("ical/deadlines.ics", &ics);
}

#[test]
fn text_format_crlf_folding_no_split_characters() {
    let ics = export(&sample(), now());
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF");
    assert!(!ics.replace("\r\n", "").contains('\r'), "bare CR");
    let mut folded = 0;
    for l in ics.split("\r\n") {
        assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
        if l.starts_with(' ') {
            folded += 1;
        }
    }
    assert!(folded > 3, "the long title must be folded");
    // The unfolded SUMMARY is the escaped title, whole.
    let lines = unfold(&ics);
    assert!(lines.iter().any(|l| l
        == "SUMMARY:Feedback closes: Communautés d'énergie locales\\; « guide »\\, révision\\, et ŒUVRES — évaluation \\\\ des règles applicables aux collectivités territoriales (COM(2021)206)"));
}

#[test]
fn a_real_parser_reads_it_back() {
    let deadlines = sample();
    let ics = export(&deadlines, now());
    // Raw component tree.
    let unfolded = icalendar::parser::unfold(&ics);
    let raw = icalendar::parser::read_calendar(&unfolded).expect("parses");
    let find = |name: &str| raw.properties.iter().find(|p| p.name.as_str() == name);
    assert_eq!(find("VERSION").unwrap().val.as_str(), "2.0");
    assert!(find("PRODID").is_some());
    assert_eq!(find("CALSCALE").unwrap().val.as_str(), "GREGORIAN");
    assert_eq!(
        find("X-WR-CALNAME").unwrap().val.as_str(),
        "Veille – Regional policy\\, deadlines"
    );
    let tz: Vec<_> = raw
        .components
        .iter()
        .filter(|c| c.name.as_str() == "VTIMEZONE")
        .collect();
    assert_eq!(tz.len(), 1);
    assert_eq!(
        tz[0].find_prop("TZID").unwrap().val.as_str(),
        "Europe/Brussels"
    );

    // Typed calendar.
    let cal = icalendar::Calendar::from_str(&ics).expect("parses");
    let events: Vec<&icalendar::Event> = cal
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), deadlines.len());
    for e in &events {
        let uid = e.get_uid().unwrap();
        let d = deadlines.iter().find(|d| d.uid == uid).unwrap();
        assert_eq!(e.get_timestamp(), Some(now()));
        assert_eq!(e.get_url(), d.url.as_deref());
        let summary = icalendar::parser::ParseString::from(e.get_summary().unwrap())
            .unescape_text()
            .into_owned();
        assert_eq!(summary.as_str(), d.title);
        let desc = e.get_description().unwrap();
        assert!(desc.contains(d.url.as_deref().unwrap()), "{desc}");
        match e.get_start().unwrap() {
            DatePerhapsTime::Date(day) => {
                assert!(d.all_day);
                assert_eq!(day, d.local_date());
                match e.get_end() {
                    Some(DatePerhapsTime::Date(end)) => assert_eq!(end, day.succ_opt().unwrap()),
                    other => panic!("all-day event without DATE end: {other:?}"),
                }
            }
            DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
                assert!(!d.all_day);
                assert_eq!(tzid, "Europe/Brussels");
                assert_eq!(to_utc_by_vtimezone(&ics, date_time), d.at);
            }
            other => panic!("unexpected DTSTART {other:?}"),
        }
    }
}

#[test]
fn uids_are_stable_across_exports() {
    let a = export(&sample(), now());
    let mut reversed = sample();
    reversed.reverse();
    let b = export(&reversed, now() + Duration::days(3));
    let uids = |s: &str| -> Vec<String> {
        unfold(s)
            .into_iter()
            .filter(|l| l.starts_with("UID:"))
            .collect()
    };
    assert_eq!(uids(&a), uids(&b));
    assert_eq!(uids(&a).len(), sample().len());
    // Only the DTSTAMP differs.
    let strip = |s: &str| -> Vec<String> {
        unfold(s)
            .into_iter()
            .filter(|l| !l.starts_with("DTSTAMP:"))
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    // Duplicates collapse to one event.
    let mut twice = sample();
    twice.extend(sample());
    assert_eq!(export(&twice, now()), a);
}

#[test]
fn times_around_the_dst_changes() {
    let ics = export(&sample(), now());
    let lines = unfold(&ics);
    assert!(lines.contains(&"DTSTART;TZID=Europe/Brussels:20260329T100000".to_string()));
    assert!(lines.contains(&"DTSTART;TZID=Europe/Brussels:20261025T100000".to_string()));
    let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").unwrap();
    assert_eq!(
        to_utc_by_vtimezone(&ics, at("20260329T100000")),
        utc("2026-03-29T08:00:00Z")
    );
    assert_eq!(
        to_utc_by_vtimezone(&ics, at("20261025T100000")),
        utc("2026-10-25T09:00:00Z")
    );
    // The VTIMEZONE agrees with chrono-tz over a decade, around each change.
    for y in 2026..2036 {
        for (m, d, h) in [
            (3, 0, 1),
            (3, 0, 4),
            (10, 0, 1),
            (10, 0, 4),
            (1, 15, 12),
            (7, 15, 12),
        ] {
            let day = if d == 0 {
                last_sunday(y, m)
            } else {
                NaiveDate::from_ymd_opt(y, m, d).unwrap()
            };
            let local = day.and_hms_opt(h, 0, 0).unwrap();
            let expected = Tz::brussels()
                .from_local_datetime(&local)
                .earliest()
                .unwrap();
            assert_eq!(
                to_utc_by_vtimezone(&ics, local),
                expected.with_timezone(&Utc),
                "{local}"
            );
        }
    }
}

#[test]
fn forecasts_on_plenary_dates_become_all_day_events() {
    let ics = calendar(
        "ENVI",
        &dossier_deadlines(&cod_dossier()),
        now(),
        Tz::brussels(),
    );
    let lines = unfold(&ics);
    let events = lines.iter().filter(|l| *l == "BEGIN:VEVENT").count();
    assert_eq!(events, 3);
    assert!(lines.contains(&"DTSTART;VALUE=DATE:20260310".to_string()));
    assert!(lines.contains(&"DTEND;VALUE=DATE:20260311".to_string()));
    assert!(lines.contains(&"CATEGORIES:plenary-vote".to_string()));
    assert!(lines.contains(&"CATEGORIES:committee-vote".to_string()));
    assert!(lines.contains(&"CATEGORIES:subsidiarity-deadline".to_string()));
    assert_eq!(lines.iter().filter(|l| *l == "STATUS:TENTATIVE").count(), 2);
    // Sorted by date.
    let starts: Vec<&String> = lines.iter().filter(|l| l.starts_with("DTSTART;")).collect();
    assert_eq!(
        starts,
        [
            "DTSTART;VALUE=DATE:20260114",
            "DTSTART;VALUE=DATE:20260127",
            "DTSTART;VALUE=DATE:20260310"
        ]
    );
}

#[test]
fn other_zones() {
    let d = consultation_deadlines(&consultation(1, "x", brussels(2026, 3, 29, 10, 0)));
    let paris = calendar("x", &d, now(), Tz::get("Europe/Paris").unwrap());
    assert!(paris.contains("TZID:Europe/Paris\r\n"));
    assert!(paris.contains("DTSTART;TZID=Europe/Paris:20260329T100000\r\n"));
    let lisbon = calendar("x", &d, now(), Tz::get("Europe/Lisbon").unwrap());
    assert!(lisbon.contains("TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\n"));
    assert!(lisbon.contains("DTSTART:19810329T010000\r\n"));
    assert!(lisbon.contains("DTSTART;TZID=Europe/Lisbon:20260329T090000\r\n"));
    // No EU rules: plain UTC, no VTIMEZONE.
    let ny = calendar("x", &d, now(), Tz::get("America/New_York").unwrap());
    assert!(!ny.contains("VTIMEZONE"));
    assert!(ny.contains("DTSTART:20260329T080000Z\r\n"));
    icalendar::Calendar::from_str(&ny).expect("parses");
    // An empty calendar is still valid.
    let empty = calendar("nothing", &[], now(), Tz::brussels());
    icalendar::parser::read_calendar(&icalendar::parser::unfold(&empty)).expect("parses");
}

#[test]
fn escaping() {
    assert_eq!(
        text("a,b;c\\d\ne\r\nf\rg\u{7}h"),
        "a\\,b\\;c\\\\d\\ne\\nf\\ng h"
    );
}

proptest! {
    #[test]
    fn folding_never_splits_a_character(title in "[a-zé€😀,;\\\\ \n]{0,300}") {
        let mut d = transposition_deadline(&"32024L1275".parse().unwrap(), NaiveDate::from_ymd_opt(2026, 5, 29).unwrap(), None);
        d.title = title.clone();
        d.kind = DeadlineKind::Transposition;
        d.stage = Stage::TranspositionDeadline;
        let ics = calendar("p", &[d], now(), Tz::brussels());
        for l in ics.split("\r\n") {
            prop_assert!(l.len() <= 75);
        }
        let summary = format!("SUMMARY:{}", text(&title));
        prop_assert!(unfold(&ics).contains(&summary));
        let cal = icalendar::Calendar::from_str(&ics);
        prop_assert!(cal.is_ok());
    }
}

fn last_sunday(y: i32, m: u32) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(y, m + 1, 1)
        .unwrap()
        .pred_opt()
        .unwrap();
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt().unwrap();
    }
    d
}

/// Resolve a local time with the VTIMEZONE written in `ics` (not with chrono-tz): an
/// independent check of the observances' DTSTART, RRULE and offsets. Handles the yearly
/// "BYMONTH=m;BYDAY=-1SU" rules we emit.
fn to_utc_by_vtimezone(ics: &str, local: NaiveDateTime) -> DateTime<Utc> {
    let unfolded = icalendar::parser::unfold(ics);
    let raw = icalendar::parser::read_calendar(&unfolded).unwrap();
    let vtz = raw
        .components
        .iter()
        .find(|c| c.name.as_str() == "VTIMEZONE")
        .unwrap();
    let offset = |s: &str| -> i64 {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let h: i64 = s[1..3].parse().unwrap();
        let m: i64 = s[3..5].parse().unwrap();
        sign * (h * 3600 + m * 60)
    };
    // (local onset this year, offset to) of each observance.
    let mut onsets: Vec<(NaiveDateTime, i64)> = Vec::new();
    for obs in &vtz.components {
        let start = NaiveDateTime::parse_from_str(
            obs.find_prop("DTSTART").unwrap().val.as_str(),
            "%Y%m%dT%H%M%S",
        )
        .unwrap();
        let rrule = obs.find_prop("RRULE").unwrap().val.as_str().to_string();
        assert!(
            rrule.starts_with("FREQ=YEARLY;") && rrule.ends_with(";BYDAY=-1SU"),
            "{rrule}"
        );
        let month: u32 = rrule
            .split(';')
            .find_map(|p| p.strip_prefix("BYMONTH="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(start.date() <= local.date());
        let day = last_sunday(local.year(), month);
        onsets.push((
            day.and_time(start.time()),
            offset(obs.find_prop("TZOFFSETTO").unwrap().val.as_str()),
        ));
    }
    onsets.sort();
    assert_eq!(onsets.len(), 2);
    // Before the first onset of the year, the last observance of the previous year holds.
    let off = if local < onsets[0].0 {
        onsets[1].1
    } else if local < onsets[1].0 {
        onsets[0].1
    } else {
        onsets[1].1
    };
    Utc.from_utc_datetime(&(local - Duration::seconds(off)))
}
