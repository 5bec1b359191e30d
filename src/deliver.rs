//! The delivery step: which digests and same-day alerts are due, build them from the
//! store's pending entries, send them, and record the outcome. `send_due(now)` is the
//! step the daemon's loop and `veille digest send` call. Must not fetch or match.
//!
//! Nothing lost, nothing twice: pending entries are durable before a send; the sent log
//! and the clearing of pending are one transaction after the transport accepted the
//! message; a digest is keyed by (watchlist, period), so a repeated send is a no-op. The
//! one duplicate window — a crash after the SMTP server accepted, before the commit — is
//! covered by a Message-ID derived from the key, which mail clients fold.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::digest::{self, Digest, DigestEntry, DigestRequest, SourceHealth, Upcoming};
use crate::mail::{self, MailError, Mailer, OutgoingMessage};
use crate::model::{Dossier, DossierRef, ProcedureRef};
use crate::schedule;
use crate::store::{Delivered, DeliveryRecord, SentKind, Store, StoreError};
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
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryReport {
    pub deliveries: Vec<Delivery>,
}

impl DeliveryReport {
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
            last_error: st.last_error.clone(),
        });
    }
    Ok(out)
}

/// The dossiers a watchlist follows (listed, or concerned by pending entries), merged.
fn dossiers_for(
    store: &Store,
    w: &Watchlist,
    entries: &[DigestEntry],
) -> Result<Vec<Dossier>, StoreError> {
    let mut refs: BTreeSet<ProcedureRef> = entries.iter().filter_map(|e| e.event.dossier).collect();
    for d in &w.dossiers {
        if let DossierRef::Procedure(p) = d {
            refs.insert(*p);
        }
    }
    let mut out = Vec::new();
    for r in refs {
        if let Some(d) = store.dossier(&r)? {
            out.push(d);
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

/// Build (without sending) the digest of what is pending for a watchlist.
pub fn build_digest(
    config: &Config,
    store: &Store,
    w: &Watchlist,
    now: DateTime<Utc>,
    alerts_only: bool,
) -> Result<Digest, StoreError> {
    let pending = store.pending(&w.id)?;
    let entries: Vec<DigestEntry> = pending
        .into_iter()
        .filter(|p| !alerts_only || (p.record.alert_due && p.record.alerted.is_none()))
        .map(|p| DigestEntry {
            alerted: p.record.alerted.is_some(),
            reasons: p.record.reasons,
            event: p.event,
        })
        .collect();
    let dossiers = dossiers_for(store, w, &entries)?;
    let today = now.with_timezone(&config.timezone).date_naive();
    let horizon = today
        + chrono::Duration::from_std(config.digest.upcoming).unwrap_or(chrono::Duration::weeks(8));
    let mut upcoming: Vec<Upcoming> = dossiers
        .iter()
        .flat_map(|d| {
            d.forecasts
                .iter()
                .filter(|f| f.date >= today && f.date <= horizon)
                .map(|f| Upcoming {
                    date: f.date,
                    stage: f.stage,
                    label: f.label.clone(),
                    dossier: Some(d.reference),
                    dossier_title: d.titles.best().map(str::to_string),
                    url: Some(crate::dossier::dossier_page(&d.reference)),
                })
        })
        .collect();
    upcoming.sort_by_key(|a| (a.date, a.stage));
    let delivery = store.delivery(&w.id)?;
    let req = DigestRequest {
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
    Ok(if alerts_only {
        digest::build_alert(req)
    } else {
        digest::build(req)
    })
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
    let mut report = DeliveryReport::default();
    for w in ctx.watchlists.lists() {
        if only.is_some_and(|id| id != w.id) {
            continue;
        }
        let state = ctx.store.delivery(&w.id)?;
        if mode != Mode::Force {
            if let Some(until) = state.next_attempt_at.filter(|t| *t > now) {
                report.deliveries.push(Delivery {
                    watchlist: w.id.clone(),
                    kind: "digest",
                    outcome: Outcome::Deferred { until },
                });
                continue;
            }
        }
        // Same-day alerts first: they are the urgent part.
        let alert = build_digest(ctx.config, ctx.store, w, now, true)?;
        if !alert.is_empty() {
            let ids: Vec<String> = alert.event_ids().iter().map(|i| i.to_hex()).collect();
            let key = format!(
                "{}/alert/{}",
                w.id,
                blake3::hash(ids.join(",").as_bytes()).to_hex()
            );
            let outcome = deliver(ctx, w, &alert, key, SentKind::Alert, None, now).await?;
            let failed = matches!(outcome, Outcome::Failed { .. });
            report.deliveries.push(Delivery {
                watchlist: w.id.clone(),
                kind: "alert",
                outcome,
            });
            if failed {
                continue;
            }
        }
        if mode == Mode::AlertsOnly {
            continue;
        }
        let (key, period) = match mode {
            Mode::Force => (format!("{}/manual/{}", w.id, now.to_rfc3339()), None),
            _ => {
                let Some(fire) = w.digest.last_at_or_before(now, ctx.config.timezone) else {
                    report.deliveries.push(Delivery {
                        watchlist: w.id.clone(),
                        kind: "digest",
                        outcome: Outcome::NotDue,
                    });
                    continue;
                };
                let period = schedule::period_key(fire, ctx.config.timezone);
                if state.last_period.as_deref() == Some(period.as_str()) {
                    report.deliveries.push(Delivery {
                        watchlist: w.id.clone(),
                        kind: "digest",
                        outcome: Outcome::NotDue,
                    });
                    continue;
                }
                (format!("{}/{}", w.id, period), Some(period))
            }
        };
        let d = build_digest(ctx.config, ctx.store, w, now, false)?;
        let outcome = deliver(ctx, w, &d, key, SentKind::Digest, period, now).await?;
        report.deliveries.push(Delivery {
            watchlist: w.id.clone(),
            kind: "digest",
            outcome,
        });
    }
    ctx.store.flush().await?;
    Ok(report)
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
    let rendered = digest::render(d)?;
    let message_id = mail::message_id_for(&key, domain_of(&ctx.config.mail.from));
    let msg = OutgoingMessage {
        from: ctx.config.mail.from.clone(),
        to: w.recipients.clone(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        message_id: message_id.clone(),
        list_id: w.id.clone(),
        date: now,
    };
    // Pending entries are durable before anything leaves.
    ctx.store.flush().await?;
    match ctx.mailer.send(&msg).await {
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
            })?;
            ctx.store.flush().await?;
            tracing::info!(watchlist = %w.id, key = %key, events = n, "sent");
            Ok(Outcome::Sent { key, events: n })
        }
        Err(e) => Ok(failed(ctx, w, key, &e, now)?),
    }
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
