//! `veille status`: a table a person reads (local times, "3 min ago", "in 57 min", short
//! causes) and the JSON a program reads (RFC 3339 stamps, the whole error chain).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::table;
use super::when::{local, local_relative, relative};
use crate::tz::Tz;

/// Everything `status` shows, gathered by `app` from the store and the configuration.
#[derive(Debug, Clone)]
pub struct Status {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub daemon: Option<Daemon>,
    pub sources: Vec<Source>,
    pub watchlists: Vec<Watchlist>,
    /// Every digest or alert not delivered yet after a failed send.
    pub undelivered: Vec<Undelivered>,
    /// Events recorded in the store.
    pub events: usize,
    /// The file outbox (folder, messages in it); none when mail goes over SMTP.
    pub outbox: Option<(String, usize)>,
}

/// A digest or alert whose send failed: it stays pending and is retried.
#[derive(Debug, Clone, Default)]
pub struct Undelivered {
    pub watchlist: String,
    /// "digest", "alert" or "reminder".
    pub kind: String,
    /// The channel it waits for (Teams, Slack, Matrix, webhook); none for mail.
    pub channel: Option<String>,
    /// The delivery key (the Message-ID is derived from it); none when not known.
    pub key: Option<String>,
    pub events: usize,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// The failure in plain words.
    pub cause: Option<String>,
    /// The whole error (JSON only).
    pub last_error: Option<String>,
    pub next_attempt: Option<DateTime<Utc>>,
}

/// The daemon that answered, when one did.
#[derive(Debug, Clone, Copy)]
pub struct Daemon {
    pub pid: u32,
    pub since: DateTime<Utc>,
}

/// One configured source and its poll state.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub id: String,
    pub kind: String,
    pub url: String,
    pub polled: bool,
    pub last_success: Option<DateTime<Utc>>,
    pub failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    /// The whole error chain (JSON only).
    pub last_error: Option<String>,
    /// The failure in a few words.
    pub cause: Option<String>,
    pub next_poll: Option<DateTime<Utc>>,
}

/// One watchlist (configured, or only named by pending entries) and its delivery state.
#[derive(Debug, Clone, Default)]
pub struct Watchlist {
    pub id: String,
    /// False when entries wait for a watchlist that is no longer configured.
    pub configured: bool,
    pub pending: usize,
    pub next_digest: Option<DateTime<Utc>>,
    pub last_sent: Option<DateTime<Utc>>,
    pub send_failures: u32,
    pub next_attempt: Option<DateTime<Utc>>,
    pub last_send_error: Option<String>,
}

fn stamp(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| json!(t.to_rfc3339())).unwrap_or(Value::Null)
}

/// The JSON of `status --format json`: full RFC 3339 stamps and error chains. The keys
/// of earlier versions stay (`sources[].last_error`, `pending`, `delivery`, `events`,
/// `outbox`, `daemon`); `sources[].cause`, `timezone` and `watchlists` are added.
pub fn json(s: &Status) -> Value {
    let sources: Vec<Value> = s
        .sources
        .iter()
        .map(|x| {
            json!({
                "id": x.id,
                "kind": x.kind,
                "url": x.url,
                "ok": x.failures == 0,
                "polled": x.polled,
                "last_success": stamp(x.last_success),
                "failures": x.failures,
                "failing_since": stamp(x.failing_since),
                "last_error": x.last_error,
                "cause": x.cause,
                "next_poll": stamp(x.next_poll),
            })
        })
        .collect();
    let with_pending = || s.watchlists.iter().filter(|w| w.pending > 0);
    let pending: BTreeMap<&str, usize> =
        with_pending().map(|w| (w.id.as_str(), w.pending)).collect();
    let delivery: BTreeMap<&str, Value> = s
        .watchlists
        .iter()
        .filter(|w| w.pending > 0 || w.send_failures > 0)
        .map(|w| {
            let d = json!({
                "failures": w.send_failures,
                "next_attempt": stamp(w.next_attempt),
                "last_error": w.last_send_error,
            });
            (w.id.as_str(), d)
        })
        .collect();
    let watchlists: Vec<Value> = s
        .watchlists
        .iter()
        .map(|w| {
            json!({
                "id": w.id,
                "configured": w.configured,
                "pending": w.pending,
                "next_digest": stamp(w.next_digest),
                "last_sent": stamp(w.last_sent),
                "send_failures": w.send_failures,
            })
        })
        .collect();
    let undelivered: Vec<Value> = s
        .undelivered
        .iter()
        .map(|u| {
            json!({
                "watchlist": u.watchlist,
                "kind": u.kind,
                "channel": u.channel,
                "key": u.key,
                "events": u.events,
                "attempts": u.attempts,
                "cause": u.cause,
                "last_error": u.last_error,
                "next_attempt": stamp(u.next_attempt),
            })
        })
        .collect();
    json!({
        "now": s.now.to_rfc3339(),
        "timezone": s.tz.name(),
        "sources": sources,
        "watchlists": watchlists,
        "pending": pending,
        "delivery": delivery,
        "undelivered": undelivered,
        "events": s.events,
        "outbox": s.outbox.as_ref().map(|(dir, n)| json!({"dir": dir, "messages": n})),
        "daemon": s.daemon.map(|d| json!({"pid": d.pid, "since": d.since.to_rfc3339()})),
    })
}

/// The text of `status`: whether the daemon runs, a table of sources, a table of
/// watchlists, the event and outbox counts. Times are local, to the minute.
pub fn text(s: &Status) -> String {
    let mut out = String::new();
    match s.daemon {
        Some(d) => out.push_str(&format!(
            "daemon: running (pid {}) since {}\n",
            d.pid,
            local_relative(d.since, s.now, s.tz)
        )),
        None => out.push_str("daemon: not running\n"),
    }
    out.push_str(&format!(
        "now: {} ({})\n\n",
        local(s.now, s.now, s.tz),
        s.tz.name()
    ));
    out.push_str(&sources_table(s));
    out.push('\n');
    out.push_str(&watchlists_table(s));
    out.push('\n');
    if !s.undelivered.is_empty() {
        out.push_str(&undelivered_table(s));
        out.push('\n');
    }
    out.push_str(&format!("events recorded: {}\n", s.events));
    if let Some((dir, n)) = &s.outbox {
        out.push_str(&format!(
            "outbox: {} in {dir}\n",
            count(*n as u64, "message")
        ));
    }
    out
}

/// The digests and alerts that are not going out: what, how often tried, why, and when
/// the next attempt is.
fn undelivered_table(s: &Status) -> String {
    let mut rows = vec![row(&[
        "NOT DELIVERED",
        "WHAT",
        "EVENTS",
        "ATTEMPTS",
        "NEXT RETRY",
        "LAST ERROR",
    ])];
    for u in &s.undelivered {
        let retry = match u.next_attempt {
            Some(t) if t > s.now => local_relative(t, s.now, s.tz),
            _ => "now".to_string(),
        };
        rows.push(vec![
            u.watchlist.clone(),
            match &u.channel {
                Some(c) => format!("{} to {c}", u.kind),
                None => u.kind.clone(),
            },
            u.events.to_string(),
            count(u64::from(u.attempts), "failed attempt"),
            retry,
            u.cause.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table(&rows)
}

/// "1 failed attempt", "3 failed attempts".
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn sources_table(s: &Status) -> String {
    let mut rows = vec![row(&[
        "SOURCE",
        "KIND",
        "STATE",
        "LAST SUCCESS",
        "NEXT POLL",
        "CAUSE",
    ])];
    for x in &s.sources {
        let state = match (x.polled, x.failures) {
            (false, _) => "not polled yet",
            (true, 0) => "ok",
            (true, _) => "FAILING",
        };
        let last_success = match x.last_success {
            Some(t) => local_relative(t, s.now, s.tz),
            None => "never".to_string(),
        };
        let next_poll = match x.next_poll {
            Some(t) if t > s.now => relative(t, s.now),
            _ => "now".to_string(),
        };
        let cause = if x.failures == 0 {
            String::new()
        } else {
            let cause = x.cause.as_deref().unwrap_or("failed");
            match x.failing_since {
                Some(since) => format!(
                    "{cause} ({} since {})",
                    count(u64::from(x.failures), "failed attempt"),
                    local(since, s.now, s.tz)
                ),
                None => format!(
                    "{cause} ({})",
                    count(u64::from(x.failures), "failed attempt")
                ),
            }
        };
        rows.push(vec![
            x.id.clone(),
            x.kind.clone(),
            state.to_string(),
            last_success,
            next_poll,
            cause,
        ]);
    }
    if s.sources.is_empty() {
        rows.push(row(&["(no sources configured)"]));
    }
    table(&rows)
}

fn watchlists_table(s: &Status) -> String {
    let mut rows = vec![row(&["WATCHLIST", "PENDING", "NEXT DIGEST", "LAST SENT"])];
    for w in &s.watchlists {
        let next = match (w.configured, w.next_digest) {
            (false, _) => "never: no such watchlist any more".to_string(),
            (true, Some(t)) => local_relative(t, s.now, s.tz),
            (true, None) => "-".to_string(),
        };
        let last = match w.last_sent {
            Some(t) => local_relative(t, s.now, s.tz),
            None => "never".to_string(),
        };
        rows.push(vec![w.id.clone(), w.pending.to_string(), next, last]);
    }
    if s.watchlists.is_empty() {
        rows.push(row(&["(no watchlists)"]));
    }
    table(&rows)
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn status() -> Status {
        let min = |m: i64| now() + chrono::Duration::minutes(m);
        Status {
            now: now(),
            tz: Tz::brussels(),
            daemon: Some(Daemon {
                pid: 42,
                since: min(-3) + chrono::Duration::nanoseconds(123_456_789),
            }),
            sources: vec![
                Source {
                    id: "ep-press".into(),
                    kind: "feed".into(),
                    url: "https://www.europarl.europa.eu/rss/doc/press-releases/en.xml".into(),
                    polled: true,
                    last_success: Some(min(-3)),
                    next_poll: Some(min(57)),
                    ..Source::default()
                },
                Source {
                    id: "ep-api".into(),
                    kind: "ep-api".into(),
                    url: "https://data.europarl.europa.eu/api/v2".into(),
                    polled: true,
                    failures: 2,
                    failing_since: Some(min(-20)),
                    last_error: Some("could not connect to https://data.europarl.europa.eu/api/v2/procedures/feed: error sending request for url (https://data.europarl.europa.eu/api/v2/procedures/feed): client error (Connect): dns error: failed to lookup address information: Name or service not known".into()),
                    cause: Some("cannot resolve data.europarl.europa.eu".into()),
                    next_poll: Some(min(4)),
                    ..Source::default()
                },
                Source {
                    id: "oeil".into(),
                    kind: "oeil".into(),
                    ..Source::default()
                },
            ],
            watchlists: vec![
                Watchlist {
                    id: "air".into(),
                    configured: true,
                    pending: 2,
                    next_digest: Some(now() + chrono::Duration::days(7)),
                    last_sent: Some(now() - chrono::Duration::days(7)),
                    send_failures: 1,
                    next_attempt: Some(min(2)),
                    last_send_error: Some("SMTP 535".into()),
                },
                Watchlist {
                    id: "gone".into(),
                    pending: 1,
                    ..Watchlist::default()
                },
            ],
            undelivered: vec![Undelivered {
                watchlist: "air".into(),
                kind: "digest".into(),
                channel: None,
                key: Some("air/2026-W48".into()),
                events: 2,
                attempts: 1,
                cause: Some("the mail server smtp.example.org:587 refused the login".into()),
                last_error: Some("message x to smtp.example.org:587: permanent error (535)".into()),
                next_attempt: Some(min(2)),
            }],
            events: 3,
            outbox: Some(("/var/lib/veille/outbox".into(), 0)),
        }
    }

    #[test]
    fn text_is_a_table_in_local_time() {
        let t = text(&status());
        let expected = "\
daemon: running (pid 42) since Mon 30 Nov 09:57 CET (2 min ago)
now: Mon 30 Nov 10:00 CET (Europe/Brussels)

SOURCE    KIND    STATE           LAST SUCCESS                      NEXT POLL  CAUSE
ep-press  feed    ok              Mon 30 Nov 09:57 CET (3 min ago)  in 57 min
ep-api    ep-api  FAILING         never                             in 4 min   cannot resolve data.europarl.europa.eu (2 failed attempts since Mon 30 Nov 09:40 CET)
oeil      oeil    not polled yet  never                             now

WATCHLIST  PENDING  NEXT DIGEST                        LAST SENT
air        2        Mon 07 Dec 10:00 CET (in 7 days)   Mon 23 Nov 10:00 CET (7 days ago)
gone       1        never: no such watchlist any more  never

NOT DELIVERED  WHAT    EVENTS  ATTEMPTS          NEXT RETRY                       LAST ERROR
air            digest  2       1 failed attempt  Mon 30 Nov 10:02 CET (in 2 min)  the mail server smtp.example.org:587 refused the login

events recorded: 3
outbox: 0 messages in /var/lib/veille/outbox
";
        assert_eq!(t, expected, "\n{t}");
        assert!(!t.contains("2026-11-30T"), "no RFC 3339 stamps: {t}");
    }

    #[test]
    fn json_keeps_full_stamps_and_the_chain() {
        let v = json(&status());
        assert_eq!(v["now"], "2026-11-30T09:00:00+00:00");
        assert_eq!(v["daemon"]["since"], "2026-11-30T08:57:00.123456789+00:00");
        let api = &v["sources"][1];
        assert_eq!(api["ok"], false);
        assert_eq!(api["cause"], "cannot resolve data.europarl.europa.eu");
        assert!(api["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("dns error: failed to lookup address information")));
        assert_eq!(v["pending"], json!({"air": 2, "gone": 1}));
        assert_eq!(v["delivery"]["air"]["failures"], 1);
        assert_eq!(
            v["watchlists"][0]["next_digest"],
            "2026-12-07T09:00:00+00:00"
        );
        assert_eq!(v["sources"][2]["polled"], false);
        assert_eq!(v["undelivered"][0]["attempts"], 1);
        assert_eq!(
            v["undelivered"][0]["next_attempt"],
            "2026-11-30T09:02:00+00:00"
        );
    }

    #[test]
    fn no_outbox_line_over_smtp() {
        let mut s = status();
        s.outbox = None;
        s.undelivered.clear();
        let t = text(&s);
        assert!(!t.contains("outbox"), "{t}");
        assert!(!t.contains("NOT DELIVERED"), "{t}");
        assert_eq!(json(&s)["outbox"], Value::Null);
    }
}
