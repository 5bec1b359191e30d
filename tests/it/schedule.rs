//! Digest schedules: conversions, next fire times in Europe/Brussels across both DST
//! transitions of 2026, catch-up after downtime, and period keys.

use chrono::{DateTime, TimeZone, Utc};
use veille::schedule::{period_key, DigestSchedule};
use veille::tz::Tz;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn sched(s: &str) -> DigestSchedule {
    DigestSchedule::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn local(fires: &[DateTime<Tz>]) -> Vec<String> {
    fires.iter().map(|t| t.to_rfc3339()).collect()
}

#[test]
fn conversions_to_cron_syntax() {
    for (written, cron) in [
        ("daily", "0 0 8 * * *"),
        ("weekly", "0 0 8 * * Mon"),
        ("Weekly", "0 0 8 * * Mon"),
        ("30 7 * * MON-FRI", "0 30 7 * * Mon,Tue,Wed,Thu,Fri"),
        ("0 8 1 * *", "0 0 8 1 * *"),
        ("0 8 * * 1", "0 0 8 * * Mon"),
        ("0 8 * * 0", "0 0 8 * * Sun"),
        ("0 8 * * 7", "0 0 8 * * Sun"),
        ("0 8 * * 5-7", "0 0 8 * * Sun,Fri,Sat"),
        ("0 8 * * 0-6", "0 0 8 * * *"),
        ("0,30 8-10 * jan,Jul *", "0 0,30 8,9,10 * 1,7 *"),
        ("*/20 6 * * sat,sun", "0 0,20,40 6 * * Sun,Sat"),
    ] {
        let s = sched(written);
        assert_eq!(s.cron_expression(), cron, "{written}");
        assert_eq!(s.as_str(), written);
    }
}

#[test]
fn bad_schedules_say_why() {
    for (written, why) in [
        ("", "empty digest schedule"),
        ("hourly", "\"hourly\" has 1 field; a crontab needs 5"),
        ("0 8 * *", "has 4 fields"),
        ("60 8 * * *", "minute 60 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 8 0 * *", "day of month 0 is out of range 1-31"),
        ("0 8 * 13 *", "month 13 is out of range 1-12"),
        ("0 8 * * 8", "day of week 8 is out of range 0-7"),
        ("0 8 * * MONDAY", "\"MONDAY\" is not a valid day of week"),
        ("0 8 * * FRI-MON", "range \"FRI-MON\" runs backwards"),
        ("0 8 * * */0", "not a valid step"),
        ("0 8 ,1 * *", "empty item"),
    ] {
        let e = DigestSchedule::parse(written).expect_err(written);
        assert!(e.contains(why), "{written}: {e}");
    }
}

#[test]
fn weekly_is_monday_eight_local() {
    let fires = sched("weekly").upcoming(utc("2026-11-25T12:00:00Z"), Tz::brussels(), 3);
    assert_eq!(
        local(&fires),
        [
            "2026-11-30T08:00:00+01:00",
            "2026-12-07T08:00:00+01:00",
            "2026-12-14T08:00:00+01:00"
        ]
    );
    // A fire time itself is not "after" itself.
    assert_eq!(
        sched("weekly").next_after(utc("2026-11-30T07:00:00Z"), Tz::brussels()),
        Some(utc("2026-12-07T07:00:00Z"))
    );
}

#[test]
fn eight_stays_eight_across_dst() {
    let fires = sched("daily").upcoming(utc("2026-03-27T12:00:00Z"), Tz::brussels(), 3);
    assert_eq!(
        local(&fires),
        [
            "2026-03-28T08:00:00+01:00",
            "2026-03-29T08:00:00+02:00",
            "2026-03-30T08:00:00+02:00"
        ]
    );
    let fires = sched("daily").upcoming(utc("2026-10-24T12:00:00Z"), Tz::brussels(), 2);
    assert_eq!(
        local(&fires),
        ["2026-10-25T08:00:00+01:00", "2026-10-26T08:00:00+01:00"]
    );
}

#[test]
fn spring_gap_fires_once_at_the_next_valid_time() {
    // 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    let fires = sched("30 2 * * *").upcoming(utc("2026-03-27T12:00:00Z"), Tz::brussels(), 3);
    assert_eq!(
        local(&fires),
        [
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00"
        ]
    );
}

#[test]
fn autumn_ambiguity_fires_once() {
    // 25 October 2026: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    let fires = sched("30 2 * * *").upcoming(utc("2026-10-24T12:00:00Z"), Tz::brussels(), 2);
    assert_eq!(
        local(&fires),
        ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    );
    // Asked during the repeated hour, after the first 02:30: no second fire that day.
    assert_eq!(
        sched("30 2 * * *").next_after(utc("2026-10-25T00:45:00Z"), Tz::brussels()),
        Some(utc("2026-10-26T01:30:00Z"))
    );
}

#[test]
fn catch_up_finds_the_last_missed_fire() {
    let weekly = sched("weekly");
    // Down from Sunday to Wednesday: Monday's digest is the one to send.
    assert_eq!(
        weekly.last_at_or_before(utc("2026-12-02T10:00:00Z"), Tz::brussels()),
        Some(utc("2026-11-30T07:00:00Z"))
    );
    // Exactly at the fire time counts.
    assert_eq!(
        weekly.last_at_or_before(utc("2026-11-30T07:00:00Z"), Tz::brussels()),
        Some(utc("2026-11-30T07:00:00Z"))
    );
    assert_eq!(
        weekly.last_at_or_before(utc("2026-11-30T06:59:59Z"), Tz::brussels()),
        Some(utc("2026-11-23T07:00:00Z"))
    );
    // Across the spring gap and the autumn repeat.
    let s = sched("30 2 * * *");
    assert_eq!(
        s.last_at_or_before(utc("2026-03-29T01:30:00Z"), Tz::brussels()),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        s.last_at_or_before(utc("2026-10-25T01:40:00Z"), Tz::brussels()),
        Some(utc("2026-10-25T00:30:00Z"))
    );
    // A monthly schedule looks back more than a week.
    assert_eq!(
        sched("0 8 1 * *").last_at_or_before(utc("2026-12-20T00:00:00Z"), Tz::brussels()),
        Some(utc("2026-12-01T07:00:00Z"))
    );
    // A schedule that never fires is refused when it is read, so it never has to be
    // looked back for.
    assert_eq!(
        DigestSchedule::parse("0 8 31 2 *").err().as_deref(),
        Some("\"0 8 31 2 *\" never fires: February has no day 31")
    );
}

#[test]
fn period_keys_are_local_and_unique() {
    assert_eq!(
        period_key(utc("2026-11-30T07:00:00Z"), Tz::brussels()),
        "2026-11-30T08:00+01:00"
    );
    assert_eq!(
        period_key(utc("2026-06-01T06:00:00Z"), Tz::brussels()),
        "2026-06-01T08:00+02:00"
    );
    // The two 02:30 of 25 October 2026 have different keys.
    assert_ne!(
        period_key(utc("2026-10-25T00:30:00Z"), Tz::brussels()),
        period_key(utc("2026-10-25T01:30:00Z"), Tz::brussels())
    );
    let fires = sched("daily").upcoming(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Tz::brussels(),
        400,
    );
    let keys: std::collections::BTreeSet<String> = fires
        .iter()
        .map(|t| period_key(t.with_timezone(&Utc), Tz::brussels()))
        .collect();
    assert_eq!(keys.len(), 400);
}

#[test]
fn day_of_month_and_day_of_week_must_both_hold() {
    // 1 June 2026 is a Monday; the next 1st that is a Monday is 1 February 2027.
    let s = sched("0 8 1 * MON");
    assert_eq!(
        local(&s.upcoming(utc("2026-05-01T00:00:00Z"), Tz::brussels(), 2)),
        ["2026-06-01T08:00:00+02:00", "2027-02-01T08:00:00+01:00"]
    );
}
