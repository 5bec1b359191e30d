//! The delivery step: which digests and same-day alerts are due, build them from the
//! store's pending entries, send them, and record the outcome. `send_due(now)` is the
//! step the daemon's loop and `veille digest send` call. Must not fetch or match.
//!
//! Nothing lost, nothing twice: pending entries are durable before a send; the sent log
//! and the clearing of pending are one transaction after the transport accepted the
//! message; a digest is keyed by (watchlist, period), so a repeated send is a no-op. The
//! one duplicate window — a crash after the SMTP server accepted, before the commit — is
//! covered by a Message-ID derived from the key, which mail clients fold.
//!
//! Channels (Teams, Slack, Matrix, webhooks) get each message as deliveries of their own:
//! a copy per channel is queued in the store before the message first leaves, under the
//! message's key; each is sent on its own, marked sent only on a 2xx, and retried with
//! backoff (never sooner than a `Retry-After`) under the same idempotency key. A channel
//! that fails holds back neither mail nor another channel. A watchlist with channels and
//! no recipients counts a message as delivered once its copies are queued.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::channels;
use crate::config::Config;
use crate::deadlines::{self, Deadline};
use crate::digest::{self, Digest, DigestEntry, DigestRequest, SourceHealth, Upcoming};
use crate::fetch::Fetcher;
use crate::mail::{self, MailError, Mailer, OutgoingMessage};
use crate::model::{
    Dossier, DossierEvent, DossierRef, EventId, EventKind, ProcedureRef, Provenance,
};
use crate::schedule;
use crate::store::{
    ChannelDeliveryRecord, Delivered, DeliveryRecord, InFlight, SentKind, Store, StoreError,
};
use crate::watchlist::{Watchlist, WatchlistSet};

/// Everything a delivery step needs, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct DeliverContext<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub mailer: &'a Mailer,
    pub watchlists: &'a WatchlistSet,
}

/// What to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Alerts that are due, and digests whose schedule fired (catching up missed ones).
    Due,
    /// Alerts only (after each poll).
    AlertsOnly,
    /// Everything pending now, whatever the schedule (`digest send --force`).
    Force,
}

/// The recorded outcome of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Sent {
        key: String,
        events: usize,
    },
    NothingToSend {
        key: String,
    },
    AlreadySent {
        key: String,
    },
    NotDue,
    Deferred {
        until: DateTime<Utc>,
    },
    Failed {
        key: String,
        error: String,
        transient: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub watchlist: String,
    pub kind: &'static str,
    /// The channel it went to; absent for mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryReport {
    pub deliveries: Vec<Delivery>,
}

impl DeliveryReport {
    /// The outcomes of one watchlist's messages of one kind (the parts of a digest).
    fn add(&mut self, w: &Watchlist, kind: &'static str, outcomes: Vec<Outcome>) {
        self.deliveries
            .extend(outcomes.into_iter().map(|outcome| Delivery {
                watchlist: w.id.clone(),
                kind,
                channel: None,
                outcome,
            }));
    }

    pub fn any_failed(&self) -> bool {
        self.deliveries
            .iter()
            .any(|d| matches!(d.outcome, Outcome::Failed { .. }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("no watchlist {0:?}")]
    UnknownWatchlist(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] digest::DigestError),
}

/// The wait before the next attempt after `failures` failed sends.
pub fn retry_delay(failures: u32, max: Duration) -> Duration {
    Duration::from_secs(60)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
        .min(max)
}

fn domain_of(from: &str) -> &str {
    let addr = from
        .rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>'))
        .unwrap_or(from);
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim())
        .unwrap_or("veille.invalid")
}

/// The health of the sources a watchlist reads.
pub fn source_health(
    ctx_config: &Config,
    store: &Store,
    w: Option<&Watchlist>,
) -> Result<Vec<SourceHealth>, StoreError> {
    let mut out = Vec::new();
    for s in &ctx_config.sources {
        if let Some(w) = w {
            if !w.sources.is_empty() && !w.sources.contains(&s.id) {
                continue;
            }
        }
        let st = store.source(&s.id)?.unwrap_or_default();
        out.push(SourceHealth {
            id: s.id.clone(),
            ok: st.failures == 0,
            last_success: st.last_success,
            failing_since: st.failing_since,
            failures: st.failures,
            cause: crate::view::cause::of_record(
                s.kind,
                st.last_cause.as_deref(),
                st.last_error.as_deref(),
            ),
            last_error: st.last_error.clone(),
        });
    }
    Ok(out)
}

/// The dossiers a watchlist follows (listed, or concerned by pending entries), merged.
/// The dossiers the entries concern (all an alert needs).
fn dossiers_of_entries(store: &Store, entries: &[DigestEntry]) -> Result<Vec<Dossier>, StoreError> {
    let refs: BTreeSet<ProcedureRef> = entries.iter().filter_map(|e| e.event.dossier).collect();
    let mut out = Vec::new();
    for r in refs {
        if let Some(d) = store.dossier(&r)? {
            out.push(d);
        }
    }
    Ok(out)
}

fn dossiers_for(
    store: &Store,
    w: &Watchlist,
    entries: &[DigestEntry],
) -> Result<Vec<Dossier>, StoreError> {
    let mut out = dossiers_of_entries(store, entries)?;
    let mut refs: BTreeSet<ProcedureRef> = BTreeSet::new();
    for d in &w.dossiers {
        if let DossierRef::Procedure(p) = d {
            refs.insert(*p);
        }
    }
    for r in refs {
        if out.iter().all(|o| o.reference != r) {
            if let Some(d) = store.dossier(&r)? {
                out.push(d);
            }
        }
    }
    // Dossiers listed by COM or CELEX number.
    let aliases: Vec<&DossierRef> = w
        .dossiers
        .iter()
        .filter(|d| !matches!(d, DossierRef::Procedure(_)))
        .collect();
    if !aliases.is_empty() {
        for d in store.dossiers()? {
            if out.iter().all(|o| o.reference != d.reference)
                && d.aliases().iter().any(|a| aliases.contains(&a))
            {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Every deadline and scheduled step a watchlist follows: those of its dossiers (agenda
/// items, subsidiarity windows) and those kept for it (consultations), by uid.
fn deadlines_of(
    store: &Store,
    w: &Watchlist,
    dossiers: &[Dossier],
) -> Result<Vec<Deadline>, StoreError> {
    let mut out: Vec<Deadline> = dossiers
        .iter()
        .flat_map(deadlines::dossier_deadlines)
        .collect();
    let mut uids: HashSet<String> = out.iter().map(|d| d.uid.clone()).collect();
    for rec in store.deadlines(&w.id)? {
        if uids.insert(rec.deadline.uid.clone()) {
            out.push(rec.deadline);
        }
    }
    out.sort_by(|a, b| (a.at, &a.uid).cmp(&(b.at, &b.uid)));
    Ok(out)
}

/// The deadlines and scheduled steps of a watchlist (for calendars).
pub fn watchlist_deadlines(store: &Store, w: &Watchlist) -> Result<Vec<Deadline>, StoreError> {
    let dossiers = dossiers_for(store, w, &[])?;
    deadlines_of(store, w, &dossiers)
}

/// The RFC 5545 calendar of a watchlist.
pub fn calendar(
    config: &Config,
    store: &Store,
    w: &Watchlist,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let d = watchlist_deadlines(store, w)?;
    Ok(crate::ical::calendar(&w.name, &d, now, config.timezone))
}

/// Build (without sending) the digest of what is pending for a watchlist.
pub fn build_digest(
    config: &Config,
    store: &Store,
    w: &Watchlist,
    now: DateTime<Utc>,
    alerts_only: bool,
) -> Result<Digest, StoreError> {
    build_digest_of(config, store, w, now, alerts_only, None)
}

/// `build_digest`, restricted to some events (the resend of a message in flight).
fn build_digest_of(
    config: &Config,
    store: &Store,
    w: &Watchlist,
    now: DateTime<Utc>,
    alerts_only: bool,
    only: Option<&[EventId]>,
) -> Result<Digest, StoreError> {
    let pending = store.pending(&w.id)?;
    let only: Option<HashSet<&EventId>> = only.map(|ids| ids.iter().collect());
    let entries: Vec<DigestEntry> = pending
        .into_iter()
        .filter(|p| match &only {
            Some(ids) => ids.contains(&p.event.id),
            None => !alerts_only || (p.record.alert_due && p.record.alerted.is_none()),
        })
        .map(|p| DigestEntry {
            alerted: p.record.alerted.is_some(),
            reasons: p.record.reasons,
            event: p.event,
        })
        .collect();
    if alerts_only {
        // An alert names its steps and failing sources; no "coming up", so none of the
        // watchlist's other dossiers or deadlines are read (this runs after every poll).
        let sources = if entries.is_empty() {
            Vec::new()
        } else {
            source_health(config, store, Some(w))?
        };
        let dossiers = dossiers_of_entries(store, &entries)?;
        return Ok(digest::build_alert(DigestRequest {
            horizon_days: 0,
            watchlist_id: &w.id,
            watchlist_name: &w.name,
            language: w.language,
            period_start: None,
            period_end: now,
            tz: config.timezone,
            entries,
            dossiers,
            upcoming: Vec::new(),
            sources,
            now,
        }));
    }
    let dossiers = dossiers_for(store, w, &entries)?;
    let today = now.with_timezone(&config.timezone).date_naive();
    let horizon = today
        + chrono::Duration::from_std(config.digest.upcoming).unwrap_or(chrono::Duration::weeks(8));
    let mut upcoming: Vec<Upcoming> = deadlines_of(store, w, &dossiers)?
        .into_iter()
        .filter(|d| (today..=horizon).contains(&d.local_date()))
        .map(|d| {
            let title = d
                .dossier
                .and_then(|r| dossiers.iter().find(|x| x.reference == r))
                .and_then(|x| x.titles.best());
            Upcoming {
                date: d.local_date(),
                stage: d.stage,
                label: d.title.clone(),
                dossier: d.dossier,
                dossier_title: title.map(str::to_string),
                url: d.url.clone(),
            }
        })
        .collect();
    upcoming.sort_by(|a, b| (a.date, a.stage, &a.label).cmp(&(b.date, b.stage, &b.label)));
    let delivery = store.delivery(&w.id)?;
    let req = DigestRequest {
        horizon_days: (config.digest.upcoming.as_secs() / 86_400) as i64,
        watchlist_id: &w.id,
        watchlist_name: &w.name,
        language: w.language,
        period_start: delivery.last_digest_at,
        period_end: now,
        tz: config.timezone,
        entries,
        dossiers,
        upcoming,
        sources: source_health(config, store, Some(w))?,
        now,
    };
    Ok(digest::build(req))
}

/// One delivery step.
pub async fn send_due(
    ctx: DeliverContext<'_>,
    now: DateTime<Utc>,
    only: Option<&str>,
    mode: Mode,
) -> Result<DeliveryReport, DeliverError> {
    if let Some(id) = only {
        if ctx.watchlists.get(id).is_none() {
            return Err(DeliverError::UnknownWatchlist(id.to_string()));
        }
    }
    // A period that ended before the daemon first ran was not missed.
    let first_start = ctx.store.first_start()?;
    let mut report = DeliveryReport::default();
    for w in ctx.watchlists.lists() {
        if only.is_some_and(|id| id != w.id) {
            continue;
        }
        send_for(ctx, w, now, mode, first_start, &mut report).await?;
    }
    // Each channel's deliveries on their own: a failing channel holds back neither mail
    // nor another channel.
    let mut fetcher = None;
    for w in ctx.watchlists.lists() {
        if only.is_some_and(|id| id != w.id) {
            continue;
        }
        send_channels(ctx, w, now, mode, &mut fetcher, &mut report).await?;
    }
    if mode == Mode::Due && only.is_none() {
        if let Some(ical) = &ctx.config.ical {
            for w in ctx.watchlists.lists() {
                if let Err(e) = write_calendar(ctx, w, &ical.dir, now) {
                    tracing::error!(watchlist = %w.id, dir = %ical.dir.display(), error = %e, "cannot write the calendar");
                }
            }
        }
    }
    ctx.store.flush().await?;
    Ok(report)
}

/// One watchlist's delivery step: what was in flight, same-day alerts, the rest of a
/// digest in parts, reminders, and the digest whose period fired.
async fn send_for(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
    mode: Mode,
    first_start: Option<DateTime<Utc>>,
    report: &mut DeliveryReport,
) -> Result<(), DeliverError> {
    let digest = |outcome| Delivery {
        watchlist: w.id.clone(),
        kind: "digest",
        channel: None,
        outcome,
    };
    if mode != Mode::Force {
        let state = ctx.store.delivery(&w.id)?;
        if let Some(until) = state.next_attempt_at.filter(|t| *t > now) {
            report.deliveries.push(digest(Outcome::Deferred { until }));
            return Ok(());
        }
    }
    let Some(rest_of) = resend_in_flight(ctx, w, now, report).await? else {
        return Ok(());
    };
    // Same-day alerts first: they are the urgent part.
    if !send_alerts(ctx, w, now, report).await? {
        return Ok(());
    }
    // The parts of a digest after the one resent above: what is pending now, numbered
    // on from it (the first part told "coming up" and the sources).
    if let Some(rest) = rest_of {
        send_rest(ctx, w, now, rest, report).await?;
    }
    if mode == Mode::AlertsOnly {
        return Ok(());
    }
    for outcome in send_reminders(ctx, w, now).await? {
        report.deliveries.push(Delivery {
            watchlist: w.id.clone(),
            kind: "reminder",
            channel: None,
            outcome,
        });
    }
    let Some((key, period)) = digest_key(ctx, w, now, mode, first_start)? else {
        report.deliveries.push(digest(Outcome::NotDue));
        return Ok(());
    };
    // Every part records the period; a part that fails is resent as any message in
    // flight, and the parts after it follow it (`rest_of` above).
    let d = build_digest(ctx.config, ctx.store, w, now, false)?;
    let parts = d.into_parts(ctx.config.digest.max_events);
    let sent = deliver_in_parts(ctx, w, parts, &key, SentKind::Digest, period, now).await?;
    report.add(w, "digest", sent);
    Ok(())
}

/// The rest of a digest in parts whose sending stopped at the part resent: (base key,
/// period, next part).
type RestOf = (String, Option<String>, usize);

/// A message that was in flight when veille stopped goes again first, under the same key,
/// with the same events. `None` when it failed again (nothing else is sent then);
/// otherwise the rest of its digest, if it was a part of one.
async fn resend_in_flight(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
    report: &mut DeliveryReport,
) -> Result<Option<Option<RestOf>>, DeliverError> {
    let Some(f) = ctx.store.delivery(&w.id)?.in_flight else {
        return Ok(Some(None));
    };
    let outcome = if ctx.store.sent(&f.key)?.is_some() {
        Outcome::AlreadySent { key: f.key.clone() }
    } else {
        let alert = f.kind != SentKind::Digest;
        let mut d = build_digest_of(ctx.config, ctx.store, w, now, alert, Some(&f.event_ids))?;
        // A part goes again as that part: "coming up" and the sources are the first part's.
        d.part = f.part;
        if f.part.is_some_and(|(k, _)| k > 1) {
            d.upcoming.clear();
            d.sources.clear();
        }
        deliver(ctx, w, &d, f.key.clone(), f.kind, f.period.clone(), now).await?
    };
    if !matches!(outcome, Outcome::Failed { .. } | Outcome::Sent { .. }) {
        let mut st = ctx.store.delivery(&w.id)?;
        st.in_flight = None;
        ctx.store.save_delivery(&w.id, &st)?;
    }
    let failed = matches!(outcome, Outcome::Failed { .. });
    let mut rest_of = None;
    if let (SentKind::Digest, Some((k, n)), false) = (f.kind, f.part, failed) {
        if k < n {
            let base = f.key.rsplit_once("/part-").map_or(&*f.key, |(b, _)| b);
            rest_of = Some((base.to_string(), f.period.clone(), k + 1));
        }
    }
    report.deliveries.push(Delivery {
        watchlist: w.id.clone(),
        channel: None,
        kind: if f.kind == SentKind::Digest {
            "digest"
        } else {
            "alert"
        },
        outcome,
    });
    Ok((!failed).then_some(rest_of))
}

/// Send the same-day alerts that are due, in parts when too large (a long outage of the
/// sources or the relay; the entries of a part not sent stay due and make the next
/// alert). False when a part failed.
async fn send_alerts(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
    report: &mut DeliveryReport,
) -> Result<bool, DeliverError> {
    let alert = build_digest(ctx.config, ctx.store, w, now, true)?;
    if alert.is_empty() {
        return Ok(true);
    }
    let ids: Vec<String> = alert.event_ids().iter().map(|i| i.to_hex()).collect();
    let key = format!(
        "{}/alert/{}",
        w.id,
        blake3::hash(ids.join(",").as_bytes()).to_hex()
    );
    let parts = alert.into_parts(ctx.config.digest.max_events);
    let sent = deliver_in_parts(ctx, w, parts, &key, SentKind::Alert, None, now).await?;
    let failed = sent.iter().any(|o| matches!(o, Outcome::Failed { .. }));
    report.add(w, "alert", sent);
    Ok(!failed)
}

/// The parts of a digest after a part resent: what is pending now, numbered on from it.
async fn send_rest(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
    (base, period, next): RestOf,
    report: &mut DeliveryReport,
) -> Result<(), DeliverError> {
    let mut rest = build_digest(ctx.config, ctx.store, w, now, false)?;
    rest.upcoming.clear();
    rest.sources.clear();
    if !rest.is_empty() {
        let parts = rest.into_parts_from(ctx.config.digest.max_events, next);
        let sent = deliver_in_parts(ctx, w, parts, &base, SentKind::Digest, period, now).await?;
        report.add(w, "digest", sent);
    }
    Ok(())
}

/// The key and period of the digest to send now, if one is due: forced, or the last
/// period that fired and was not sent yet. A period that ended before the daemon first ran
/// (`first_start`) was not missed: nothing is sent for it.
fn digest_key(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
    mode: Mode,
    first_start: Option<DateTime<Utc>>,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    if mode == Mode::Force {
        return Ok(Some((
            format!("{}/manual/{}", w.id, now.to_rfc3339()),
            None,
        )));
    }
    let Some(fire) = w.digest.last_at_or_before(now, ctx.config.timezone) else {
        return Ok(None);
    };
    if first_start.is_some_and(|t| fire < t) {
        return Ok(None);
    }
    let period = schedule::period_key(fire, ctx.config.timezone);
    if ctx.store.delivery(&w.id)?.last_period.as_deref() == Some(period.as_str()) {
        return Ok(None);
    }
    Ok(Some((format!("{}/{}", w.id, period), Some(period))))
}

/// Keep `{dir}/{watchlist}.ics` up to date; rewritten (atomically) only when an event
/// changed, so calendar clients see a stable file.
fn write_calendar(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    dir: &std::path::Path,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ics = calendar(ctx.config, ctx.store, w, now)?;
    let path = dir.join(format!("{}.ics", w.id));
    let without_stamp = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.starts_with("DTSTAMP"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Ok(old) = std::fs::read_to_string(&path) {
        if without_stamp(&old) == without_stamp(&ics) {
            return Ok(());
        }
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.ics.tmp", w.id));
    std::fs::write(&tmp, ics.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    tracing::info!(watchlist = %w.id, file = %path.display(), "calendar updated");
    Ok(())
}

/// Reminders of deadlines whose reminder day came since the last check, each once.
async fn send_reminders(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DeliverError> {
    let state = ctx.store.delivery(&w.id)?;
    // Reminders fall due at midnight (Brussels): looking every quarter of an hour is
    // enough, rather than reading every deadline of the watchlist on each delivery tick.
    if state
        .last_reminder_check
        .is_some_and(|t| now >= t && now - t < chrono::Duration::minutes(15))
    {
        return Ok(Vec::new());
    }
    let last = state
        .last_reminder_check
        .unwrap_or(now - chrono::Duration::days(1));
    let dossiers = dossiers_for(ctx.store, w, &[])?;
    let all = deadlines_of(ctx.store, w, &dossiers)?;
    let policy = &ctx.config.digest.reminders;
    let mut due = deadlines::reminders_due(&all, policy, Some(last), now);
    // Deadlines first seen since the last check catch up on a reminder they missed.
    let fresh: Vec<Deadline> = ctx
        .store
        .deadlines(&w.id)?
        .into_iter()
        .filter(|r| r.recorded_at > last)
        .map(|r| r.deadline)
        .collect();
    for r in deadlines::reminders_due(&fresh, policy, None, now) {
        if !due.iter().any(|d| d.key == r.key) {
            due.push(r);
        }
    }
    let mut outcomes = Vec::new();
    let mut all_sent = true;
    for r in due {
        let key = format!("{}/reminder/{}", w.id, r.key);
        let d = reminder(ctx.config, w, &r, &dossiers, now);
        let o = deliver(ctx, w, &d, key, SentKind::Reminder, None, now).await?;
        if matches!(o, Outcome::Failed { .. }) {
            all_sent = false;
        }
        outcomes.push(o);
    }
    if all_sent {
        let mut st = ctx.store.delivery(&w.id)?;
        st.v = 1;
        st.last_reminder_check = Some(now);
        ctx.store.save_delivery(&w.id, &st)?;
    }
    Ok(outcomes)
}

/// The message of one reminder: a one-step alert saying how soon the deadline is.
fn reminder(
    config: &Config,
    w: &Watchlist,
    r: &deadlines::Reminder,
    dossiers: &[Dossier],
    now: DateTime<Utc>,
) -> Digest {
    let days = deadlines::countdown_days(r.deadline.at, now, config.timezone);
    let when = match days {
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        n => format!("in {n} days"),
    };
    let dossier = dossiers
        .iter()
        .find(|d| Some(d.reference) == r.deadline.dossier);
    let event = DossierEvent {
        id: EventId::derive(&["reminder", &r.key]),
        kind: EventKind::Reminder,
        stage: Some(r.deadline.stage),
        dossier: r.deadline.dossier,
        dossier_title: dossier.and_then(|d| d.titles.best()).map(str::to_string),
        date: r.deadline.local_date(),
        title: format!(
            "{} — {when} ({})",
            r.deadline.title,
            r.deadline.local_date()
        ),
        summary: String::new(),
        url: r.deadline.url.clone(),
        documents: Vec::new(),
        mentions: Vec::new(),
        provenance: vec![Provenance {
            source: "veille".into(),
            url: r.deadline.url.clone().unwrap_or_default(),
            fetched_at: now,
        }],
    };
    let req = DigestRequest {
        horizon_days: 0,
        watchlist_id: &w.id,
        watchlist_name: &w.name,
        language: w.language,
        period_start: None,
        period_end: now,
        tz: config.timezone,
        entries: vec![DigestEntry {
            event,
            reasons: vec![format!("deadline {}", r.deadline.stage)],
            alerted: false,
        }],
        dossiers: dossier.cloned().into_iter().collect(),
        upcoming: Vec::new(),
        sources: Vec::new(),
        now,
    };
    digest::build_alert(req)
}

/// Deliver the parts of a digest (`Digest::into_parts`; one, unnumbered, when it fits in
/// a message): part 1 under `key`, part k under `{key}/part-k`, each its own delivery.
/// Stops at the first part that fails; the outcomes of the parts attempted, in order.
async fn deliver_in_parts(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    parts: Vec<Digest>,
    key: &str,
    kind: SentKind,
    period: Option<String>,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DeliverError> {
    let mut outcomes = Vec::new();
    for part in parts {
        let key = match part.part {
            Some((k, _)) if k > 1 => format!("{key}/part-{k}"),
            _ => key.to_string(),
        };
        let outcome = deliver(ctx, w, &part, key, kind, period.clone(), now).await?;
        let failed = matches!(outcome, Outcome::Failed { .. });
        outcomes.push(outcome);
        if failed {
            break;
        }
    }
    Ok(outcomes)
}

async fn deliver(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    d: &Digest,
    key: String,
    kind: SentKind,
    period: Option<String>,
    now: DateTime<Utc>,
) -> Result<Outcome, DeliverError> {
    if ctx.store.sent(&key)?.is_some() {
        return Ok(Outcome::AlreadySent { key });
    }
    if d.is_empty() && !(kind == SentKind::Digest && ctx.config.digest.send_empty) {
        tracing::info!(watchlist = %w.id, key = %key, "nothing to send");
        if let Some(p) = &period {
            let mut st = ctx.store.delivery(&w.id)?;
            st.v = 1;
            st.last_period = Some(p.clone());
            ctx.store.save_delivery(&w.id, &st)?;
        }
        return Ok(Outcome::NothingToSend { key });
    }
    let mut rendered =
        digest::render_with_links(d, crate::web::mail_links(ctx.config, &key).as_ref())?;
    if let Some(contact) = &w.contact {
        rendered = digest::with_stop_line(rendered, w.language, contact);
    }
    // The page of a sent message shows it as it was mailed.
    let html = rendered.html.clone();
    let message_id = mail::message_id_for(&key, domain_of(&ctx.config.mail.from));
    // Every channel's copy is queued before anything leaves, under the same key.
    ctx.store.enqueue_channels(&channel_copies(
        ctx,
        w,
        d,
        &key,
        kind,
        &rendered.subject,
        now,
    ))?;
    let msg = OutgoingMessage {
        from: ctx.config.mail.from.clone(),
        to: w.recipients.clone(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        message_id: message_id.clone(),
        list_id: w.id.clone(),
        date: now,
        list: mail::ListHeaders {
            bulk: true,
            contact: w.contact.clone(),
        },
    };
    // Pending entries, and what is about to leave, are durable before anything leaves.
    if kind != SentKind::Reminder {
        let mut st = ctx.store.delivery(&w.id)?;
        st.v = 1;
        st.in_flight = Some(InFlight {
            key: key.clone(),
            kind,
            period: period.clone(),
            event_ids: d.event_ids(),
            part: d.part,
        });
        ctx.store.save_delivery(&w.id, &st)?;
    }
    ctx.store.flush().await?;
    // A watchlist that only has channels: its messages count as delivered once queued.
    let sent = if msg.to.is_empty() {
        Ok(())
    } else {
        ctx.mailer.send(&msg).await
    };
    match sent {
        Ok(()) => {
            let event_ids = d.event_ids();
            let n = event_ids.len();
            ctx.store.mark_delivered(&Delivered {
                key: key.clone(),
                kind,
                watchlist: w.id.clone(),
                event_ids,
                message_id,
                sent_at: now,
                period,
                html: Some(html),
            })?;
            ctx.store.flush().await?;
            tracing::info!(watchlist = %w.id, key = %key, events = n, "sent");
            Ok(Outcome::Sent { key, events: n })
        }
        Err(e) => Ok(failed(ctx, w, key, &e, now)?),
    }
}

/// The copies of a message for the watchlist's channels, each body made for its
/// channel, ready to be queued.
fn channel_copies(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    d: &Digest,
    key: &str,
    kind: SentKind,
    subject: &str,
    now: DateTime<Utc>,
) -> Vec<ChannelDeliveryRecord> {
    let pcx = channels::PayloadContext {
        key,
        subject,
        mail_to: &w.recipients,
    };
    w.channels
        .iter()
        .filter_map(|id| ctx.config.channel(id))
        .map(|ch| ChannelDeliveryRecord {
            v: 1,
            watchlist: w.id.clone(),
            channel: ch.id.clone(),
            key: key.to_string(),
            kind,
            body: channels::body_for(ch.kind, d, &pcx),
            events: d.entry_count(),
            created_at: now,
            failures: 0,
            next_attempt_at: None,
            last_attempt_at: None,
            last_error: None,
            sent_at: None,
        })
        .collect()
}

/// Send what each channel of a watchlist has waiting, oldest first, under each
/// delivery's key; a channel stops at its first failure (its next attempt is backed
/// off, no sooner than a `Retry-After`), the others go on. `Force` ignores the backoff.
async fn send_channels(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    now: DateTime<Utc>,
    mode: Mode,
    fetcher: &mut Option<Fetcher>,
    report: &mut DeliveryReport,
) -> Result<(), DeliverError> {
    let waiting = ctx.store.channel_pending(&w.id)?;
    let mut stopped: HashSet<String> = HashSet::new();
    for mut rec in waiting {
        if stopped.contains(&rec.channel) {
            continue;
        }
        let kind = if rec.kind == SentKind::Digest {
            "digest"
        } else {
            "alert"
        };
        let mut push = |outcome| {
            report.deliveries.push(Delivery {
                watchlist: w.id.clone(),
                kind,
                channel: Some(rec.channel.clone()),
                outcome,
            })
        };
        if mode != Mode::Force {
            if let Some(until) = rec.next_attempt_at.filter(|t| *t > now) {
                push(Outcome::Deferred { until });
                stopped.insert(rec.channel.clone());
                continue;
            }
        }
        let Some(ch) = ctx.config.channel(&rec.channel) else {
            // The channel left config.toml: what it had waiting is not sent.
            tracing::warn!(watchlist = %w.id, channel = %rec.channel, key = %rec.key, "the channel is no longer configured; its delivery is dropped");
            rec.sent_at = Some(now);
            rec.body.clear();
            rec.last_error = Some("the channel is no longer configured; not sent".into());
            ctx.store.save_channel_delivery(&rec)?;
            continue;
        };
        if fetcher.is_none() {
            match Fetcher::new(ctx.config.http.clone()) {
                Ok(f) => *fetcher = Some(f),
                Err(e) => {
                    tracing::error!(error = %e.cause(), "cannot set up HTTP for channels");
                    return Ok(());
                }
            }
        }
        let Some(client) = fetcher.as_ref() else {
            return Ok(());
        };
        let idem = channels::idempotency_key(&rec.key, &rec.channel);
        rec.last_attempt_at = Some(now);
        match channels::send(client, ch, &rec.body, &idem).await {
            Ok(()) => {
                rec.sent_at = Some(now);
                rec.body.clear();
                rec.failures = 0;
                rec.next_attempt_at = None;
                rec.last_error = None;
                ctx.store.save_channel_delivery(&rec)?;
                ctx.store.flush().await?;
                tracing::info!(watchlist = %w.id, channel = %rec.channel, key = %rec.key, "sent to the channel");
                push(Outcome::Sent {
                    key: rec.key.clone(),
                    events: rec.events,
                });
            }
            Err(e) => {
                rec.failures += 1;
                let wait = retry_delay(rec.failures, ctx.config.digest.retry_max)
                    .max(e.retry_after.unwrap_or_default());
                rec.next_attempt_at = Some(
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(5)),
                );
                rec.last_error = Some(e.to_string());
                ctx.store.save_channel_delivery(&rec)?;
                ctx.store.flush().await?;
                tracing::warn!(watchlist = %w.id, key = %rec.key, failures = rec.failures, error = %e, "channel delivery failed; kept, retried later");
                stopped.insert(rec.channel.clone());
                push(Outcome::Failed {
                    key: rec.key.clone(),
                    error: e.to_string(),
                    transient: e.transient,
                });
            }
        }
    }
    Ok(())
}

fn failed(
    ctx: DeliverContext<'_>,
    w: &Watchlist,
    key: String,
    e: &MailError,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let mut st: DeliveryRecord = ctx.store.delivery(&w.id)?;
    st.v = 1;
    st.failures += 1;
    let wait = retry_delay(st.failures, ctx.config.digest.retry_max);
    st.next_attempt_at =
        Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(5)));
    st.last_error = Some(e.to_string());
    ctx.store.save_delivery(&w.id, &st)?;
    tracing::warn!(watchlist = %w.id, key = %key, failures = st.failures, error = %e, "send failed; stays pending");
    Ok(Outcome::Failed {
        key,
        error: e.to_string(),
        transient: e.is_transient(),
    })
}

/// One channel of one watchlist, as `status`, `/healthz` and `/metrics` show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelState {
    pub watchlist: String,
    pub channel: String,
    /// Messages queued for it and not sent yet.
    pub waiting: usize,
    /// Failed attempts in a row at the oldest of them.
    pub failures: u32,
    /// The oldest waiting message: its key, kind and events.
    pub key: Option<String>,
    pub kind: Option<&'static str>,
    pub events: usize,
    pub next_attempt: Option<DateTime<Utc>>,
    /// The failure in words (never a secret).
    pub last_error: Option<String>,
    pub last_sent: Option<DateTime<Utc>>,
}

/// The state of every (watchlist, channel) the store has deliveries for.
pub fn channel_states(store: &Store) -> Result<Vec<ChannelState>, StoreError> {
    let mut by: std::collections::BTreeMap<(String, String), ChannelState> = Default::default();
    let mut recs = store.channel_deliveries()?;
    recs.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
    for r in recs {
        let st = by
            .entry((r.watchlist.clone(), r.channel.clone()))
            .or_insert_with(|| ChannelState {
                watchlist: r.watchlist.clone(),
                channel: r.channel.clone(),
                ..ChannelState::default()
            });
        match r.sent_at {
            Some(t) => st.last_sent = st.last_sent.max(Some(t)),
            None => {
                st.waiting += 1;
                if st.key.is_none() {
                    st.key = Some(r.key.clone());
                    st.kind = Some(if r.kind == SentKind::Digest {
                        "digest"
                    } else {
                        "alert"
                    });
                    st.events = r.events;
                    st.failures = r.failures;
                    st.next_attempt = r.next_attempt_at;
                    st.last_error = r.last_error.clone();
                }
            }
        }
    }
    Ok(by.into_values().collect())
}

/// "WATCHLIST → CHANNEL" for each channel whose last attempt failed (`/healthz`).
pub fn failing_channels(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(channel_states(store)?
        .into_iter()
        .filter(|c| c.failures > 0)
        .map(|c| format!("{} → {}", c.watchlist, c.channel))
        .collect())
}

/// One metric: name, help, type, and its value for a channel.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ChannelState) -> i64,
);

/// The channels' series for `/metrics` (Prometheus text).
pub fn channel_metrics(store: &Store) -> Result<String, StoreError> {
    use std::fmt::Write as _;
    let label = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let states = channel_states(store)?;
    let mut m = String::new();
    let series: [Series; 3] = [
        (
            "veille_channel_waiting",
            "Messages queued for a channel and not sent yet.",
            "gauge",
            |c| c.waiting as i64,
        ),
        (
            "veille_channel_failures",
            "Consecutive failed attempts to send to a channel.",
            "gauge",
            |c| i64::from(c.failures),
        ),
        (
            "veille_channel_last_sent_timestamp_seconds",
            "When a channel last took a message.",
            "gauge",
            |c| c.last_sent.map_or(0, |t| t.timestamp()),
        ),
    ];
    for (name, help, kind, value) in series {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for c in &states {
            let _ = writeln!(
                m,
                "{name}{{watchlist=\"{}\",channel=\"{}\"}} {}",
                label(&c.watchlist),
                label(&c.channel),
                value(c)
            );
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_the_maximum() {
        let max = Duration::from_secs(3600);
        assert_eq!(retry_delay(1, max), Duration::from_secs(60));
        assert_eq!(retry_delay(3, max), Duration::from_secs(240));
        assert_eq!(retry_delay(30, max), max);
        assert_eq!(domain_of("Veille <veille@example.org>"), "example.org");
        assert_eq!(domain_of("veille@assoc.eu"), "assoc.eu");
    }
}
