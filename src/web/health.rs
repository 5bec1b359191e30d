//! Health and metrics, as monitoring reads them: `GET /healthz` (200 "ok", or 503 naming
//! the store's problem, the failing sources, or the watchlists whose last send failed;
//! always open) and `GET /metrics` (Prometheus text format; behind the pages' users),
//! both computed from the store on each request.
//!
//! Must not: write to the store or show anything of a watchlist but its id.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::WebContext;
use crate::config::Config;
use crate::store::{SentKind, Store, StoreError};

fn text(status: StatusCode, ctype: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

/// `/healthz`: the store first (when it failed, nothing else can be read), then the
/// sources and the deliveries.
pub(super) async fn healthz(State(ctx): State<WebContext>) -> Response {
    let store = &ctx.store;
    if let Some(problem) = store.problem() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            format!("store: {problem}\n"),
        );
    }
    match (health(&ctx.config, store), failing_deliveries(store)) {
        (Ok(failing), Ok(undelivered)) if failing.is_empty() && undelivered.is_empty() => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".to_string(),
        ),
        (Ok(failing), Ok(undelivered)) => {
            let mut body = String::new();
            if !failing.is_empty() {
                body.push_str(&format!("failing sources: {}\n", failing.join(", ")));
            }
            if !undelivered.is_empty() {
                body.push_str(&format!("failing deliveries: {}\n", undelivered.join(", ")));
            }
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                body,
            )
        }
        (Err(e), _) | (_, Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("{e}\n"),
        ),
    }
}

/// `/metrics`, for Prometheus.
pub(super) async fn metrics_page(State(ctx): State<WebContext>) -> Response {
    let ids: Vec<String> = ctx
        .watchlists
        .borrow()
        .lists()
        .iter()
        .map(|w| w.id.clone())
        .collect();
    match metrics(&ctx.config, &ctx.store, &ids) {
        Ok(m) => text(StatusCode::OK, "text/plain; version=0.0.4", m),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("{e}\n"),
        ),
    }
}

/// The ids of the sources whose last poll failed.
pub fn health(config: &Config, store: &Store) -> Result<Vec<String>, StoreError> {
    let mut failing = Vec::new();
    for s in &config.sources {
        if store.source(&s.id)?.is_some_and(|st| st.failures > 0) {
            failing.push(s.id.clone());
        }
    }
    Ok(failing)
}

/// The watchlists whose last send failed (their digests and alerts stay pending and are
/// retried), read from the delivery states whatever is pending.
pub fn failing_deliveries(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = store
        .deliveries()?
        .into_iter()
        .filter(|(_, d)| d.failures > 0)
        .map(|(id, _)| id)
        .collect();
    // And each channel whose last attempt failed, as "WATCHLIST → CHANNEL".
    out.extend(crate::deliver::failing_channels(store)?);
    Ok(out)
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition of veille's counters and gauges. Every watchlist in
/// `watchlists` has its pending and send-failure series, 0 included, so that alert rules
/// never see a series vanish; pending entries of a watchlist removed since are shown too.
pub fn metrics(
    config: &Config,
    store: &Store,
    watchlists: &[String],
) -> Result<String, StoreError> {
    let mut m = String::new();
    let _ = writeln!(m, "# HELP veille_source_polls_total Polls of a source.\n# TYPE veille_source_polls_total counter");
    let mut rows = Vec::new();
    for s in &config.sources {
        rows.push((
            escape_label(&s.id),
            store.source(&s.id)?.unwrap_or_default(),
        ));
    }
    for (id, st) in &rows {
        let _ = writeln!(
            m,
            "veille_source_polls_total{{source=\"{id}\"}} {}",
            st.polls
        );
    }
    let _ = writeln!(m, "# HELP veille_source_failures Consecutive failed polls of a source.\n# TYPE veille_source_failures gauge");
    for (id, st) in &rows {
        let _ = writeln!(
            m,
            "veille_source_failures{{source=\"{id}\"}} {}",
            st.failures
        );
    }
    let _ = writeln!(m, "# HELP veille_source_last_success_timestamp_seconds Last successful poll.\n# TYPE veille_source_last_success_timestamp_seconds gauge");
    for (id, st) in &rows {
        let t = st.last_success.map(|t| t.timestamp()).unwrap_or(0);
        let _ = writeln!(
            m,
            "veille_source_last_success_timestamp_seconds{{source=\"{id}\"}} {t}"
        );
    }
    let _ = writeln!(m, "# HELP veille_source_events_total New events recorded from a source.\n# TYPE veille_source_events_total counter");
    for (id, st) in &rows {
        let _ = writeln!(
            m,
            "veille_source_events_total{{source=\"{id}\"}} {}",
            st.events
        );
    }
    let _ = writeln!(
        m,
        "# HELP veille_events Events in the store.\n# TYPE veille_events gauge\nveille_events {}",
        store.event_count()
    );
    let _ = writeln!(
        m,
        "# HELP veille_pending Matched events waiting for a digest.\n# TYPE veille_pending gauge"
    );
    let mut pending = store.pending_counts()?;
    for id in watchlists {
        pending.entry(id.clone()).or_insert(0);
    }
    for (wl, n) in &pending {
        let _ = writeln!(
            m,
            "veille_pending{{watchlist=\"{}\"}} {n}",
            escape_label(wl)
        );
    }
    let (mut digests, mut alerts) = (0u64, 0u64);
    for (_, s) in store.sent_log()? {
        match s.kind {
            SentKind::Digest => digests += 1,
            SentKind::Alert | SentKind::Reminder => alerts += 1,
        }
    }
    let _ = writeln!(m, "# HELP veille_sent_total Messages accepted by the mail transport.\n# TYPE veille_sent_total counter");
    let _ = writeln!(m, "veille_sent_total{{kind=\"digest\"}} {digests}\nveille_sent_total{{kind=\"alert\"}} {alerts}");
    let _ = writeln!(m, "# HELP veille_send_failures Consecutive failed sends of a watchlist.\n# TYPE veille_send_failures gauge");
    for wl in pending.keys() {
        let d = store.delivery(wl)?;
        let _ = writeln!(
            m,
            "veille_send_failures{{watchlist=\"{}\"}} {}",
            escape_label(wl),
            d.failures
        );
    }
    m.push_str(&crate::deliver::channel_metrics(store)?);
    Ok(m)
}
