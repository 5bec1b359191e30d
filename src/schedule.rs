//! Digest schedules: "daily", "weekly" or a 5-field crontab, evaluated in the configured
//! time zone, plus the idempotency key of a digest period and the catch-up rule after
//! downtime. Owns DST handling (a local time in the spring gap fires once at the next
//! valid time; an ambiguous autumn time fires once, at its first occurrence). Must not
//! know how digests are built or read the clock: every time is a parameter.
//!
//! The crontab is parsed here (for precise messages) into explicit lists and handed to the
//! `cron` crate, which only enumerates *wall-clock* times (evaluated as if in UTC); mapping
//! each wall-clock time to an instant in the time zone is done here.

use std::collections::BTreeSet;
use std::str::FromStr;

use crate::tz::Tz;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};

/// When a watchlist's digest goes out.
#[derive(Debug, Clone)]
pub struct DigestSchedule {
    written: String,
    cron: cron::Schedule,
}

impl PartialEq for DigestSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.cron.source() == other.cron.source()
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
pub const SCHEDULE_HINT: &str = "use \"daily\", \"weekly\" or five fields \"minute hour day-of-month month day-of-week\", e.g. \"30 7 * * MON-FRI\"";

/// One crontab field: its name, range, and names for its values (if any).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 7,
    },
];

fn value(field: usize, s: &str) -> Result<u32, String> {
    let f = &FIELDS[field];
    let up = s.to_ascii_uppercase();
    let named = match field {
        3 => MONTHS.iter().position(|m| *m == up).map(|i| i as u32 + 1),
        4 => DAYS
            .iter()
            .position(|d| d.to_ascii_uppercase() == up)
            .map(|i| i as u32),
        _ => None,
    };
    if let Some(v) = named {
        return Ok(v);
    }
    let v: u32 = s.parse().map_err(|_| {
        let names = match field {
            3 => " or a month name (JAN..DEC)",
            4 => " or a day name (MON..SUN)",
            _ => "",
        };
        format!(
            "{s:?} is not a valid {}: expected a number {}-{}{names}",
            f.name, f.min, f.max
        )
    })?;
    if v < f.min || v > f.max {
        return Err(format!(
            "{} {v} is out of range {}-{}",
            f.name, f.min, f.max
        ));
    }
    Ok(v)
}

/// Expand one field (`*`, `*/15`, `1-5`, `MON-FRI`, `0,30`, `8-18/2`) into its values.
fn expand(field: usize, text: &str) -> Result<BTreeSet<u32>, String> {
    let f = &FIELDS[field];
    let mut out = BTreeSet::new();
    for part in text.split(',') {
        if part.is_empty() {
            return Err(format!("empty item in the {} field {text:?}", f.name));
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("{s:?} is not a valid step in the {} field", f.name)
                    })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (f.min, if field == 4 { 6 } else { f.max })
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(field, a)?, value(field, b)?);
            if a > b {
                return Err(format!("the {} range {range:?} runs backwards", f.name));
            }
            (a, b)
        } else {
            let v = value(field, range)?;
            (v, if part.contains('/') { f.max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            out.insert(if field == 4 && v == 7 { 0 } else { v });
            v += step;
        }
    }
    Ok(out)
}

fn render(field: usize, values: &BTreeSet<u32>) -> String {
    let f = &FIELDS[field];
    let all = if field == 4 {
        7
    } else {
        (f.max - f.min + 1) as usize
    };
    if values.len() == all {
        return "*".into();
    }
    let items: Vec<String> = values
        .iter()
        .map(|v| match field {
            // cron counts Sunday as 1: names avoid the off-by-one.
            4 => DAYS[*v as usize].to_string(),
            _ => v.to_string(),
        })
        .collect();
    items.join(",")
}

/// Why days of month `days` never occur in months `months` (`"February has no day 31"`),
/// or `None` when some day does (29 February counts: it comes every four years).
fn never_fires(days: &BTreeSet<u32>, months: &BTreeSet<u32>) -> Option<String> {
    const LENGTHS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let first_day = *days.first()?;
    if months.iter().any(|m| {
        LENGTHS
            .get(*m as usize - 1)
            .is_some_and(|l| first_day <= *l)
    }) {
        return None;
    }
    let names: Vec<&str> = months
        .iter()
        .filter_map(|m| NAMES.get(*m as usize - 1).copied())
        .collect();
    let days: Vec<String> = days.iter().map(|d| d.to_string()).collect();
    let verb = if names.len() == 1 { "has" } else { "have" };
    Some(format!(
        "{} {verb} no day {}",
        names.join(" and "),
        days.join(" or ")
    ))
}

/// A schedule whose minute and hour look swapped: `"8 0 * * 1"` runs at 00:08, when
/// 08:00 (`"0 8 * * 1"`) was likely meant. The warning and its hint.
pub fn swapped_time(s: &str) -> Option<(String, String)> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return None;
    }
    let minutes = expand(0, fields[0]).ok()?;
    let hours = expand(1, fields[1]).ok()?;
    let (&[m], &[h]) = (
        minutes.iter().copied().collect::<Vec<_>>().as_slice(),
        hours.iter().copied().collect::<Vec<_>>().as_slice(),
    ) else {
        return None;
    };
    if h != 0 || m == 0 || m > 23 {
        return None;
    }
    let rest = fields[2..].join(" ");
    Some((
        format!("digest schedule {s:?} runs at 00:{m:02}, just after midnight: the minute comes first, then the hour"),
        format!("for {m:02}:00 write \"0 {m} {rest}\""),
    ))
}

impl DigestSchedule {
    /// Parse what an officer wrote under `digest`.
    pub fn parse(s: &str) -> Result<DigestSchedule, String> {
        let t = s.trim();
        let crontab = match t.to_ascii_lowercase().as_str() {
            "daily" => "0 8 * * *".to_string(),
            "weekly" => "0 8 * * MON".to_string(),
            "" => return Err("empty digest schedule".to_string()),
            _ => t.to_string(),
        };
        let fields: Vec<&str> = crontab.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "{s:?} has {} field{}; a crontab needs 5: minute hour day-of-month month day-of-week",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            ));
        }
        let mut parts = vec!["0".to_string()];
        let mut expanded = Vec::with_capacity(5);
        for (i, text) in fields.iter().enumerate() {
            let values = expand(i, text)?;
            parts.push(render(i, &values));
            expanded.push(values);
        }
        if let Some(why) = never_fires(&expanded[2], &expanded[3]) {
            return Err(format!("{t:?} never fires: {why}"));
        }
        let expr = parts.join(" ");
        let cron = cron::Schedule::from_str(&expr)
            .map_err(|e| format!("{s:?} is not a valid schedule ({e})"))?;
        Ok(DigestSchedule {
            written: t.to_string(),
            cron,
        })
    }

    /// What the officer wrote.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The expression handed to the `cron` crate (with seconds, days as names).
    pub fn cron_expression(&self) -> &str {
        self.cron.source()
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Wall-clock candidates map monotonically (non-decreasing) to instants, so start a
        // little before the local wall-clock time of `after` and take the first later one.
        let start = after.with_timezone(&tz).naive_local() - Duration::hours(3);
        self.cron
            .after(&start.and_utc())
            .take(100_000)
            .map(|wall| to_instant(wall.naive_utc(), tz))
            .find(|t| *t > after)
    }

    /// The next `n` fires after `after`, in local time (for `veille check`).
    pub fn upcoming(&self, after: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t, tz) {
                Some(next) => {
                    out.push(next.with_timezone(&tz));
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The last fire at or before `at` (catch-up: the digest of a period missed while the
    /// daemon was down goes out at start). Looks back at most 400 days.
    pub fn last_at_or_before(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let end = at.with_timezone(&tz).naive_local() + Duration::hours(3);
        let limit = at - Duration::days(400);
        self.cron
            .after(&end.and_utc())
            .rev()
            .map(|wall| to_instant(wall.naive_utc(), tz))
            .take_while(|t| *t >= limit)
            .find(|t| *t <= at)
    }
}

impl FromStr for DigestSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DigestSchedule::parse(s)
    }
}

/// The instant at which a wall-clock time fires in `tz`: the earlier of two ambiguous
/// instants; for a time in a spring gap, the first valid minute after it.
fn to_instant(wall: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            let mut w = wall;
            for _ in 0..(26 * 60) {
                w += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&w).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            // No zone has a day-long gap; fall back to reading the wall time as UTC.
            wall.and_utc()
        }
    }
}

/// The idempotency key of the digest period that fires at `fire`: the local fire time with
/// its offset, `2026-11-30T08:00+01:00`. Unique per fire, stable across restarts.
pub fn period_key(fire: DateTime<Utc>, tz: Tz) -> String {
    fire.with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M%:z")
        .to_string()
}
