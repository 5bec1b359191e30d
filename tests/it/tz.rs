//! `veille::tz` against chrono-tz, which veille used before: the same offsets, the same
//! abbreviations and the same answers for wall times in gaps and folds, in the zones of
//! the associations veille is for (every EU and EEA country, the Council of Europe's,
//! the EU's outermost regions) and in zones whose rules are odd (half-hour and
//! 45-minute offsets, negative summer time, half-hour summer time). Not compared: zones
//! whose future the two databases predict differently (Africa/Casablanca's Ramadan).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use veille::tz::Tz;

const ZONES: &[&str] = &[
    // EU and EEA, Switzerland, the United Kingdom.
    "Europe/Brussels",
    "Europe/Amsterdam",
    "Europe/Luxembourg",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Vienna",
    "Europe/Rome",
    "Europe/Madrid",
    "Atlantic/Canary",
    "Europe/Lisbon",
    "Atlantic/Madeira",
    "Atlantic/Azores",
    "Europe/Dublin",
    "Europe/London",
    "Europe/Copenhagen",
    "Europe/Stockholm",
    "Europe/Oslo",
    "Europe/Helsinki",
    "Europe/Tallinn",
    "Europe/Riga",
    "Europe/Vilnius",
    "Europe/Warsaw",
    "Europe/Prague",
    "Europe/Bratislava",
    "Europe/Budapest",
    "Europe/Ljubljana",
    "Europe/Zagreb",
    "Europe/Bucharest",
    "Europe/Sofia",
    "Europe/Athens",
    "Europe/Malta",
    "Asia/Nicosia",
    "Atlantic/Reykjavik",
    "Europe/Zurich",
    // The Council of Europe's other members.
    "Europe/Kyiv",
    "Europe/Chisinau",
    "Europe/Belgrade",
    "Europe/Istanbul",
    "Asia/Tbilisi",
    "Asia/Yerevan",
    // Outermost regions.
    "America/Martinique",
    "America/Guadeloupe",
    "America/Cayenne",
    "Indian/Reunion",
    "Indian/Mayotte",
    // Odd rules.
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
];

/// The year from which the two databases disagree, because the newer one (jiff's) has a
/// correction that chrono-tz 0.10.4's does not: Moldova has changed its clocks at the EU's
/// times (01:00 UTC) since 2022, not at 02:00 and 03:00 local time.
fn compared_until(name: &str) -> i32 {
    match name {
        "Europe/Chisinau" => 2022,
        _ => 2040,
    }
}

fn both(name: &str) -> (Tz, chrono_tz::Tz) {
    let ours = Tz::get(name).unwrap_or_else(|| panic!("{name} is in the database"));
    let theirs: chrono_tz::Tz = name.parse().unwrap();
    assert_eq!(ours.name(), theirs.name());
    (ours, theirs)
}

fn same_offset_at(name: &str, ours: Tz, theirs: chrono_tz::Tz, t: DateTime<Utc>) {
    use chrono_tz::OffsetName;
    let a = ours.offset_from_utc_datetime(&t.naive_utc());
    let b = theirs.offset_from_utc_datetime(&t.naive_utc());
    assert_eq!(a.fix(), b.fix(), "{name} at {t}: offset");
    assert_eq!(
        a.abbreviation(),
        b.abbreviation(),
        "{name} at {t}: abbreviation"
    );
    assert_eq!(a.to_string(), b.to_string(), "{name} at {t}: %Z");
}

fn same_instants_for(name: &str, ours: Tz, theirs: chrono_tz::Tz, local: NaiveDateTime) {
    let a = ours
        .from_local_datetime(&local)
        .map(|t| t.with_timezone(&Utc));
    let b = theirs
        .from_local_datetime(&local)
        .map(|t| t.with_timezone(&Utc));
    assert_eq!(a, b, "{name}: wall time {local}");
}

/// The instant in `(lo, hi]` at which chrono-tz's offset changes (it changes once).
fn transition(theirs: chrono_tz::Tz, mut lo: i64, mut hi: i64) -> i64 {
    let off = |s: i64| {
        theirs
            .offset_from_utc_datetime(&DateTime::from_timestamp(s, 0).unwrap().naive_utc())
            .fix()
    };
    let before = off(lo);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if off(mid) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[test]
fn offsets_and_abbreviations_are_chrono_tz_s_from_1970_to_2040() {
    let start = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
    let mut transitions = 0;
    for name in ZONES {
        let (ours, theirs) = both(name);
        let end = Utc
            .with_ymd_and_hms(compared_until(name), 1, 1, 0, 0, 0)
            .unwrap();
        let mut t = start;
        let mut prev = theirs.offset_from_utc_datetime(&t.naive_utc()).fix();
        while t < end {
            same_offset_at(name, ours, theirs, t);
            let next = t + Duration::hours(13);
            let off = theirs.offset_from_utc_datetime(&next.naive_utc()).fix();
            if off != prev {
                let at = transition(theirs, t.timestamp(), next.timestamp());
                for s in [at - 1, at] {
                    same_offset_at(name, ours, theirs, DateTime::from_timestamp(s, 0).unwrap());
                }
                transitions += 1;
                prev = off;
            }
            t = next;
        }
    }
    assert!(transitions > 2_000, "{transitions} transitions compared");
}

#[test]
fn wall_times_in_gaps_and_folds_map_as_with_chrono_tz() {
    // Every quarter of an hour on the days around each change of offset from 1996 (the
    // EU's rules) to 2039, and on an ordinary day.
    let mut compared = 0;
    for name in ZONES {
        let (ours, theirs) = both(name);
        let mut day = NaiveDate::from_ymd_opt(1996, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(compared_until(name) - 1, 12, 31).unwrap();
        while day <= last {
            let noon = |d: NaiveDate| {
                theirs
                    .offset_from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
                    .fix()
            };
            let next = day.succ_opt().unwrap();
            if noon(day) != noon(next) || day.format("%m-%d").to_string() == "07-14" {
                for d in [day, next] {
                    for q in 0..96 {
                        let local = d.and_hms_opt(0, 0, 0).unwrap() + Duration::minutes(15 * q);
                        same_instants_for(name, ours, theirs, local);
                        compared += 1;
                    }
                }
            }
            day = next;
        }
    }
    assert!(compared > 100_000, "{compared} wall times compared");
}

#[test]
fn names_are_looked_up_without_regard_to_case_and_spelled_as_the_database_does() {
    let tz = Tz::get("europe/brussels").unwrap();
    assert_eq!(tz.name(), "Europe/Brussels");
    assert_eq!(tz, Tz::brussels());
    assert_eq!(tz.to_string(), "Europe/Brussels");
    assert_eq!("UTC".parse::<Tz>().unwrap(), Tz::utc());
    let err = "Europe/Atlantis".parse::<Tz>().unwrap_err();
    assert!(err.to_string().contains("Europe/Atlantis"), "{err}");
    assert!(Tz::get("").is_none());
    assert!(Tz::get("Etc/Unknown").is_none());
    assert!(Tz::get("../../etc/passwd").is_none());
}

#[test]
fn a_zone_with_only_numeric_abbreviations_has_none_and_prints_its_offset() {
    let (ours, theirs) = both("Asia/Dubai");
    let t = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    same_offset_at("Asia/Dubai", ours, theirs, t);
    let o = ours.offset_from_utc_datetime(&t.naive_utc());
    assert_eq!(o.abbreviation(), None);
    assert_eq!(
        t.with_timezone(&ours).format("%H:%M %Z").to_string(),
        "04:00 +04"
    );
}

#[test]
fn moldova_changes_its_clocks_at_the_eu_s_times_since_2022() {
    let ours = Tz::get("Europe/Chisinau").unwrap();
    for (before, after, from, to) in [
        ("2022-03-27T00:59:59Z", "2022-03-27T01:00:00Z", 7200, 10800),
        ("2026-10-25T00:59:59Z", "2026-10-25T01:00:00Z", 10800, 7200),
    ] {
        let at = |s: &str| {
            let t: DateTime<Utc> = s.parse().unwrap();
            ours.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
        };
        assert_eq!((at(before), at(after)), (from, to), "{before}");
    }
}

#[test]
fn every_zone_name_chrono_tz_accepted_is_still_accepted() {
    let missing: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| Tz::get(name).is_none())
        .collect();
    assert!(missing.is_empty(), "no longer accepted: {missing:?}");
}
