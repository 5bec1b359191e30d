//! iCalendar (RFC 5545) export of deadlines: one VCALENDAR per call, one VEVENT per
//! deadline with its stable UID, times in the association's time zone with a VTIMEZONE
//! that carries the EU summer-time rules. Owns the text format only (CRLF, 75-octet folding
//! on character boundaries, TEXT escaping). Pure: returns a `String`, does no IO and reads
//! no clock (`now` is the DTSTAMP).
//!
//! Time zones: a zone that follows the EU rules (last Sunday of March and of October at
//! 01:00 UTC, as Europe/Brussels, Paris, Berlin, Lisbon, London…) over every year of the
//! calendar gets a VTIMEZONE and `DTSTART;TZID=…`. Any other zone falls back to UTC times
//! (`…Z`, always correct, shown in the reader's own zone). All-day deadlines are `VALUE=DATE`
//! on their date in `tz`.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::tz::Tz;
use chrono::{DateTime, Datelike, Days, NaiveDate, Offset, TimeZone, Utc, Weekday};

use crate::deadlines::{Deadline, DeadlineKind};
use crate::model::Language;

const PRODID: &str = "-//veille//EU deadlines//EN";

/// The calendar of `deadlines`, sorted by instant then uid (duplicates by uid dropped).
pub fn calendar(name: &str, deadlines: &[Deadline], now: DateTime<Utc>, tz: Tz) -> String {
    let mut events: Vec<&Deadline> = deadlines.iter().collect();
    events.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.uid.cmp(&b.uid)));
    let mut seen = HashSet::new();
    events.retain(|d| seen.insert(d.uid.as_str()));

    let mut years: Vec<i32> = events
        .iter()
        .map(|d| d.at.with_timezone(&tz).year())
        .collect();
    years.push(now.with_timezone(&tz).year());
    let first = years.iter().copied().min().unwrap_or(1996);
    let last = years.iter().copied().max().unwrap_or(1996);
    let rules = eu_rules(tz, first, last);

    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "VERSION:2.0");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    if let Some(r) = &rules {
        line(&mut out, &format!("X-WR-TIMEZONE:{}", tz.name()));
        vtimezone(&mut out, tz, r);
    }
    let stamp = utc_stamp(now);
    for d in events {
        vevent(&mut out, d, &stamp, tz, rules.is_some());
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// The offsets of a zone that follows the EU rules.
struct EuRules {
    standard: i32,
    daylight: i32,
    standard_name: Option<String>,
    daylight_name: Option<String>,
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut d = first_next.pred_opt()?;
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt()?;
    }
    Some(d)
}

fn offset_at(tz: Tz, t: DateTime<Utc>) -> (i32, Option<String>) {
    let o = tz.offset_from_utc_datetime(&t.naive_utc());
    (
        o.fix().local_minus_utc(),
        o.abbreviation().map(str::to_string),
    )
}

/// Whether `tz` switches at 01:00 UTC on the last Sundays of March and October in every
/// year from `first` to `last` (the EU rules since 1996), and its two offsets.
fn eu_rules(tz: Tz, first: i32, last: i32) -> Option<EuRules> {
    if first < 1996 || last - first > 200 {
        return None;
    }
    let mut found: Option<EuRules> = None;
    for y in first..=last {
        let spring = last_sunday(y, 3)?.and_hms_opt(1, 0, 0)?.and_utc();
        let autumn = last_sunday(y, 10)?.and_hms_opt(1, 0, 0)?.and_utc();
        let sec = chrono::Duration::seconds(1);
        let (winter, wname) = offset_at(tz, spring - sec);
        let (summer, sname) = offset_at(tz, spring);
        let (summer2, _) = offset_at(tz, autumn - sec);
        let (winter2, _) = offset_at(tz, autumn);
        let (jan, _) = offset_at(
            tz,
            NaiveDate::from_ymd_opt(y, 1, 15)?
                .and_hms_opt(12, 0, 0)?
                .and_utc(),
        );
        let (dec, _) = offset_at(
            tz,
            NaiveDate::from_ymd_opt(y, 12, 15)?
                .and_hms_opt(12, 0, 0)?
                .and_utc(),
        );
        let (jul, _) = offset_at(
            tz,
            NaiveDate::from_ymd_opt(y, 7, 15)?
                .and_hms_opt(12, 0, 0)?
                .and_utc(),
        );
        let consistent = winter != summer
            && summer2 == summer
            && winter2 == winter
            && jan == winter
            && dec == winter
            && jul == summer;
        if !consistent {
            return None;
        }
        match &found {
            Some(r) if r.standard != winter || r.daylight != summer => return None,
            Some(_) => {}
            None => {
                found = Some(EuRules {
                    standard: winter,
                    daylight: summer,
                    standard_name: wname,
                    daylight_name: sname,
                })
            }
        }
    }
    found
}

fn offset_text(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

/// Local wall time `hh:mm:ss` of 01:00 UTC under `offset` seconds.
fn local_switch_time(offset: i32) -> String {
    let secs = (3600 + offset).rem_euclid(86_400);
    format!(
        "{:02}{:02}{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn vtimezone(out: &mut String, tz: Tz, r: &EuRules) {
    line(out, "BEGIN:VTIMEZONE");
    line(out, &format!("TZID:{}", tz.name()));
    // DAYLIGHT: the last Sunday of March, at 01:00 UTC (02:00 CET → 03:00 CEST).
    line(out, "BEGIN:DAYLIGHT");
    line(out, &format!("TZOFFSETFROM:{}", offset_text(r.standard)));
    line(out, &format!("TZOFFSETTO:{}", offset_text(r.daylight)));
    if let Some(n) = &r.daylight_name {
        line(out, &format!("TZNAME:{}", text(n)));
    }
    line(
        out,
        &format!("DTSTART:19810329T{}", local_switch_time(r.standard)),
    );
    line(out, "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU");
    line(out, "END:DAYLIGHT");
    // STANDARD: the last Sunday of October, at 01:00 UTC (03:00 CEST → 02:00 CET).
    line(out, "BEGIN:STANDARD");
    line(out, &format!("TZOFFSETFROM:{}", offset_text(r.daylight)));
    line(out, &format!("TZOFFSETTO:{}", offset_text(r.standard)));
    if let Some(n) = &r.standard_name {
        line(out, &format!("TZNAME:{}", text(n)));
    }
    line(
        out,
        &format!("DTSTART:19961027T{}", local_switch_time(r.daylight)),
    );
    line(out, "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU");
    line(out, "END:STANDARD");
    line(out, "END:VTIMEZONE");
}

fn utc_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn kind_label(k: DeadlineKind) -> &'static str {
    match k {
        DeadlineKind::ConsultationClosing => "Consultation closing",
        DeadlineKind::Subsidiarity => "Subsidiarity deadline (national parliaments)",
        DeadlineKind::Transposition => "Transposition deadline",
        DeadlineKind::ScheduledStep => "Scheduled step (forecast)",
    }
}

fn vevent(out: &mut String, d: &Deadline, stamp: &str, tz: Tz, zoned: bool) {
    let local = d.at.with_timezone(&tz);
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", text(&d.uid)));
    line(out, &format!("DTSTAMP:{stamp}"));
    if d.all_day {
        // The date is the deadline's own (Brussels) date, whatever the display zone.
        let day = d.local_date();
        let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
        line(out, &format!("DTSTART;VALUE=DATE:{}", day.format("%Y%m%d")));
        line(out, &format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")));
    } else if zoned {
        line(
            out,
            &format!(
                "DTSTART;TZID={}:{}",
                tz.name(),
                local.format("%Y%m%dT%H%M%S")
            ),
        );
    } else {
        line(out, &format!("DTSTART:{}", utc_stamp(d.at)));
    }
    line(out, &format!("SUMMARY:{}", text(&d.title)));

    let mut desc = vec![d.title.clone(), format!("Type: {}", kind_label(d.kind))];
    if d.kind == DeadlineKind::ScheduledStep {
        desc.push(format!("Stage: {}", d.stage.label(Language::En)));
    }
    if let Some(r) = &d.dossier {
        desc.push(format!("Dossier: {r}"));
    }
    if d.all_day {
        desc.push(format!("Date: {}", d.local_date().format("%Y-%m-%d")));
    } else {
        desc.push(format!(
            "Time: {} ({})",
            local.format("%Y-%m-%d %H:%M"),
            tz.name()
        ));
    }
    if let Some(u) = &d.url {
        desc.push(format!("Source: {u}"));
    }
    line(out, &format!("DESCRIPTION:{}", text(&desc.join("\n"))));
    if let Some(u) = &d.url {
        let u: String = u.chars().filter(|c| !c.is_control()).collect();
        line(out, &format!("URL:{u}"));
    }
    line(out, &format!("CATEGORIES:{}", text(d.stage.as_str())));
    if d.kind == DeadlineKind::ScheduledStep {
        line(out, "STATUS:TENTATIVE");
    }
    line(out, "TRANSP:TRANSPARENT");
    line(out, "END:VEVENT");
}

/// RFC 5545 TEXT escaping: backslash, semicolon, comma, newline; other control characters
/// become spaces.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Append one content line, folded at 75 octets (continuations start with a space and
/// count it), never inside a UTF-8 character, ended by CRLF.
fn line(out: &mut String, content: &str) {
    let mut used = 0usize;
    for c in content.chars() {
        let n = c.len_utf8();
        if used + n > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    let _ = out.write_str("\r\n");
}

/// Split a calendar back into logical lines (unfold), for tests and tools.
pub fn unfold(ics: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in ics.split("\r\n") {
        if let Some(rest) = raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')) {
            if let Some(last) = lines.last_mut() {
                last.push_str(rest);
                continue;
            }
        }
        if !raw.is_empty() {
            lines.push(raw.to_string());
        }
    }
    lines
}
