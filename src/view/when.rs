//! Times as a person reads them: a local time in the configured zone ("Mon 30 Nov 2026
//! 10:00 CET"), how long ago or how soon ("3 min ago", "in 57 min"), and a duration ("60 s",
//! "1 h"). Pure: `now` and the zone are parameters.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::tz::Tz;

/// A duration in one or two units: "45 s", "90 s", "5 min", "1 h 30 min", "12 h",
/// "3 days". Rounded down; seconds up to two minutes (a timeout of "60 s" is what was
/// configured); minutes beside hours only under 10 hours.
pub fn span(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs} s")
    } else if mins < 60 {
        format!("{mins} min")
    } else if hours < 48 {
        let m = mins % 60;
        if hours < 10 && m != 0 {
            format!("{hours} h {m} min")
        } else {
            format!("{hours} h")
        }
    } else if days == 1 {
        "1 day".to_string()
    } else {
        format!("{days} days")
    }
}

/// How far `t` is from `now`: "3 min ago", "in 57 min"; "just now" and "in under a
/// minute" within a minute.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let diff = t - now;
    let past = diff < chrono::Duration::zero();
    let abs = diff.abs().to_std().unwrap_or_default();
    match (past, abs < Duration::from_secs(60)) {
        (true, true) => "just now".to_string(),
        (false, true) => "in under a minute".to_string(),
        (true, false) => format!("{} ago", span(abs)),
        (false, false) => format!("in {}", span(abs)),
    }
}

/// `t` in the zone, to the minute: "Mon 30 Nov 2026 10:00 CET"; the year is left out
/// when it is `now`'s.
pub fn local(t: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    let same_year = l.format("%Y").to_string() == now.with_timezone(&tz).format("%Y").to_string();
    if same_year {
        l.format("%a %d %b %H:%M %Z").to_string()
    } else {
        l.format("%a %d %b %Y %H:%M %Z").to_string()
    }
}

/// `t` in the zone with how far it is from now: "Mon 30 Nov 10:00 CET (3 min ago)".
pub fn local_relative(t: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> String {
    format!("{} ({})", local(t, now, tz), relative(t, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap()
    }

    #[test]
    fn spans_in_one_or_two_units() {
        let s = |n| span(Duration::from_secs(n));
        assert_eq!(s(0), "0 s");
        assert_eq!(s(60), "60 s");
        assert_eq!(s(119), "119 s");
        assert_eq!(s(120), "2 min");
        assert_eq!(s(59 * 60 + 59), "59 min");
        assert_eq!(s(3600), "1 h");
        assert_eq!(s(5400), "1 h 30 min");
        assert_eq!(s(12 * 3600 + 60), "12 h");
        assert_eq!(s(47 * 3600), "47 h");
        assert_eq!(s(3 * 86_400 + 5), "3 days");
    }

    #[test]
    fn relative_wording() {
        let now = at(10, 0, 0);
        assert_eq!(relative(at(9, 57, 0), now), "3 min ago");
        assert_eq!(relative(at(10, 57, 0), now), "in 57 min");
        assert_eq!(relative(at(9, 59, 30), now), "just now");
        assert_eq!(relative(at(10, 0, 30), now), "in under a minute");
        assert_eq!(relative(at(8, 0, 0), now), "2 h ago");
        assert_eq!(
            relative(
                now + chrono::Duration::days(6) + chrono::Duration::hours(23),
                now
            ),
            "in 6 days"
        );
    }

    #[test]
    fn local_time_in_the_zone_to_the_minute() {
        let tz = Tz::brussels();
        let now = at(10, 0, 0);
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 9, 57, 12).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(local(t, now, tz), "Mon 30 Nov 10:57 CET");
        assert_eq!(
            local_relative(t, now, tz),
            "Mon 30 Nov 10:57 CET (2 min ago)"
        );
        let last_year = Utc.with_ymd_and_hms(2025, 7, 1, 6, 0, 0).unwrap();
        assert_eq!(local(last_year, now, tz), "Tue 01 Jul 2025 08:00 CEST");
    }
}
