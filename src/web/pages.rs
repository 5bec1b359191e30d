//! The pages: overview, watchlist, sent digest, dossier, search, and the feed and
//! calendar of a watchlist. Each handler reads what it shows from the store, the
//! configuration and the watchlists, builds a plain view (strings only, cleaned of control
//! characters, links only for `http(s)` URLs) and renders it with an autoescaped
//! template (`templates/`). The next digest is built as `digest preview` builds it.
//!
//! Must not: write to the store, or show a recipient's address.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use minijinja::{AutoEscape, Environment};
use serde::{Deserialize, Serialize};

use super::access::Purpose;
use super::WebContext;
use crate::digest::{safe_link, DigestEntry};
use crate::model::{Dossier, DossierRef, Language, ProcedureRef};
use crate::store::SentKind;
use crate::view::when;
use crate::watchlist::Watchlist;

const STYLE: &str = include_str!("static/veille.css");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_formatter(crate::digest::html_formatter);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("watchlist.html", include_str!("templates/watchlist.html")),
            ("dossier.html", include_str!("templates/dossier.html")),
            ("search.html", include_str!("templates/search.html")),
            ("message.html", include_str!("templates/message.html")),
        ] {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a web template does not compile");
            }
        }
        env
    })
}

/// A page rendered, or a plain-text 500 naming what failed.
fn page<S: Serialize>(name: &str, view: S) -> Response {
    match env().get_template(name).and_then(|t| t.render(view)) {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a web page failed");
            failure(format!("rendering {name}: {e}"))
        }
    }
}

fn failure(what: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("veille could not answer: {what}\n"),
    )
        .into_response()
}

/// A page that only says something (not found, nothing kept), with its status.
fn message(status: StatusCode, title: &str, text: String) -> Response {
    let mut r = page(
        "message.html",
        minijinja::context! { title => title, text => text },
    );
    *r.status_mut() = status;
    r
}

pub(super) async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page at this address.".to_string(),
    )
}

pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

// --- small helpers ---------------------------------------------------------------------

/// A string for a URL path segment: unreserved characters kept, the rest percent-encoded.
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A sent message's key under its watchlist, for its URL: each part encoded, `/` kept.
pub(crate) fn key_path(rest: &str) -> String {
    rest.split('/')
        .map(path_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The canonical URL path of a dossier: `/dossiers/2016-0132-COD`.
pub(crate) fn dossier_url(r: &ProcedureRef) -> String {
    format!("/dossiers/{}", dossier_slug(r))
}

fn dossier_slug(r: &ProcedureRef) -> String {
    r.to_string().replace(['/', '('], "-").replace(')', "")
}

/// `12 Sep 2016`.
pub(crate) fn fmt_date(d: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// "today", "in 25 days", "3 days ago".
fn countdown(d: NaiveDate, today: NaiveDate) -> String {
    match (d - today).num_days() {
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        -1 => "yesterday".to_string(),
        n if n > 0 => format!("in {n} days"),
        n => format!("{} days ago", -n),
    }
}

fn clean(s: &str) -> String {
    crate::text::one_line(s)
}

struct Now {
    at: DateTime<Utc>,
    tz: crate::tz::Tz,
}

impl Now {
    fn of(ctx: &WebContext) -> Now {
        Now {
            at: (ctx.now)(),
            tz: ctx.config.timezone,
        }
    }
    fn today(&self) -> NaiveDate {
        self.at.with_timezone(&self.tz).date_naive()
    }
    /// "Mon 30 Nov 08:00 CET (in 2 days)".
    fn when(&self, t: DateTime<Utc>) -> String {
        format!(
            "{} ({})",
            when::local(t, self.at, self.tz),
            when::relative(t, self.at)
        )
    }
}

fn watchlist_of(ctx: &WebContext, id: &str) -> Option<Watchlist> {
    ctx.watchlists.borrow().get(id).cloned()
}

fn no_watchlist(id: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "No such watchlist",
        format!("There is no watchlist \u{201c}{}\u{201d}.", clean(id)),
    )
}

// --- the overview ----------------------------------------------------------------------

#[derive(Serialize)]
struct VWatchlistRow {
    name: String,
    url: String,
    next_digest: String,
    pending: usize,
    last_sent: String,
    trouble: Option<String>,
}

#[derive(Serialize)]
struct VSourceRow {
    id: String,
    kind: String,
    ok: bool,
    words: String,
}

pub(super) async fn overview(State(ctx): State<WebContext>) -> Response {
    match overview_view(&ctx) {
        Ok(v) => page("overview.html", v),
        Err(e) => failure(e),
    }
}

fn overview_view(ctx: &WebContext) -> anyhow::Result<minijinja::Value> {
    let now = Now::of(ctx);
    let lists: Vec<Watchlist> = ctx.watchlists.borrow().lists().to_vec();
    let pending = ctx.store.pending_counts()?;
    let mut rows = Vec::new();
    for w in &lists {
        let d = ctx.store.delivery(&w.id)?;
        rows.push(VWatchlistRow {
            name: clean(&w.name),
            url: format!("/watchlists/{}", path_segment(&w.id)),
            next_digest: w
                .digest
                .next_after(now.at, now.tz)
                .map(|t| now.when(t))
                .unwrap_or_else(|| "none scheduled".to_string()),
            pending: pending.get(&w.id).copied().unwrap_or(0),
            last_sent: d
                .last_digest_at
                .map(|t| now.when(t))
                .unwrap_or_else(|| "never".to_string()),
            trouble: (d.failures > 0).then(|| {
                format!(
                    "the last {} sending(s) failed: {}",
                    d.failures,
                    d.last_error
                        .as_deref()
                        .map(crate::view::cause::of_mail_error)
                        .unwrap_or_default()
                )
            }),
        });
    }
    let mut sources = Vec::new();
    for s in &ctx.config.sources {
        let st = ctx.store.source(&s.id)?.unwrap_or_default();
        let words = if st.failures > 0 {
            let cause = crate::view::cause::of_record(
                s.kind,
                st.last_cause.as_deref(),
                st.last_error.as_deref(),
            )
            .unwrap_or_else(|| "it did not answer as expected".to_string());
            let since = st
                .failing_since
                .map(|t| format!(" since {}", now.when(t)))
                .unwrap_or_default();
            format!(
                "not working{since}: {cause} ({} failed reads in a row)",
                st.failures
            )
        } else if let Some(t) = st.last_success {
            format!("working; last read {}", when::relative(t, now.at))
        } else {
            "not read yet".to_string()
        };
        sources.push(VSourceRow {
            id: clean(&s.id),
            kind: s.kind.as_str().to_string(),
            ok: st.failures == 0,
            words,
        });
    }
    let troubled = sources.iter().filter(|s| !s.ok).count();
    let health = match troubled {
        0 => format!("All {} sources are working.", sources.len()),
        1 => format!("1 of {} sources is not working.", sources.len()),
        n => format!("{n} of {} sources are not working.", sources.len()),
    };
    Ok(minijinja::context! {
        title => "veille",
        watchlists => rows,
        sources => sources,
        health => health,
        all_working => troubled == 0,
        store_problem => ctx.store.problem(),
    })
}

// --- a watchlist ---------------------------------------------------------------------

#[derive(Serialize)]
struct VEntry {
    date: String,
    what: String,
    link: Option<String>,
    dossier: Option<String>,
    dossier_url: Option<String>,
    why: String,
    alerted: bool,
}

fn entry_view(e: &DigestEntry) -> VEntry {
    let ev = &e.event;
    VEntry {
        date: fmt_date(ev.date),
        what: clean(&ev.title),
        link: ev.url.as_deref().and_then(safe_link),
        dossier: ev.dossier.map(|r| r.to_string()),
        dossier_url: ev.dossier.as_ref().map(dossier_url),
        why: clean(&e.reasons.join("; ")),
        alerted: e.alerted,
    }
}

#[derive(Serialize)]
struct VBlock {
    title: String,
    reference: String,
    url: String,
    entries: Vec<VEntry>,
}

#[derive(Serialize)]
struct VUpcoming {
    date: String,
    countdown: String,
    what: String,
    link: Option<String>,
    dossier_url: Option<String>,
}

#[derive(Serialize)]
struct VFollowed {
    reference: String,
    url: String,
    title: String,
    stage: String,
}

#[derive(Serialize)]
struct VSent {
    when: String,
    kind: &'static str,
    events: usize,
    url: Option<String>,
}

pub(super) async fn watchlist_page(
    State(ctx): State<WebContext>,
    Path(id): Path<String>,
) -> Response {
    let Some(w) = watchlist_of(&ctx, &id) else {
        return no_watchlist(&id);
    };
    match watchlist_view(&ctx, &w) {
        Ok(v) => page("watchlist.html", v),
        Err(e) => failure(e),
    }
}

fn watchlist_view(ctx: &WebContext, w: &Watchlist) -> anyhow::Result<minijinja::Value> {
    let now = Now::of(ctx);
    let today = now.today();
    let d = crate::deliver::build_digest(&ctx.config, &ctx.store, w, now.at, false)?;
    let blocks: Vec<VBlock> = d
        .dossiers
        .iter()
        .map(|b| VBlock {
            title: clean(&b.title),
            reference: b.reference.to_string(),
            url: dossier_url(&b.reference),
            entries: b.entries.iter().map(entry_view).collect(),
        })
        .collect();
    let upcoming: Vec<VUpcoming> = d
        .upcoming
        .iter()
        .map(|u| VUpcoming {
            date: fmt_date(u.date),
            countdown: countdown(u.date, today),
            what: clean(&u.label),
            link: u.url.as_deref().and_then(safe_link),
            dossier_url: u.dossier.as_ref().map(dossier_url),
        })
        .collect();
    let followed = followed_dossiers(ctx, w, &d)?
        .into_iter()
        .map(|(r, dossier)| VFollowed {
            reference: r.to_string(),
            url: dossier_url(&r),
            title: dossier
                .as_ref()
                .and_then(|x| x.titles.best())
                .map(clean)
                .unwrap_or_default(),
            stage: match dossier.as_ref() {
                None => "not fetched yet".to_string(),
                Some(x) => match x.current_stage() {
                    Some(s) => format!(
                        "{}{}",
                        s.label(Language::En),
                        x.first_date(s)
                            .map(|t| format!(", {}", fmt_date(t)))
                            .unwrap_or_default()
                    ),
                    None => "no step yet".to_string(),
                },
            },
        })
        .collect::<Vec<_>>();
    let mut sent: Vec<(String, crate::store::SentRecord)> = ctx
        .store
        .sent_log()?
        .into_iter()
        .filter(|(_, s)| s.watchlist == w.id)
        .collect();
    sent.sort_by_key(|s| std::cmp::Reverse(s.1.sent_at));
    let prefix = format!("{}/", w.id);
    let sent: Vec<VSent> = sent
        .iter()
        .take(100)
        .map(|(key, s)| VSent {
            when: now.when(s.sent_at),
            kind: match s.kind {
                SentKind::Digest => "digest",
                SentKind::Alert => "same-day alert",
                SentKind::Reminder => "reminder",
            },
            events: s.event_ids.len(),
            url: key.strip_prefix(&prefix).map(|rest| {
                format!(
                    "/watchlists/{}/digests/{}",
                    path_segment(&w.id),
                    key_path(rest)
                )
            }),
        })
        .collect();
    let base = format!("/watchlists/{}", path_segment(&w.id));
    Ok(minijinja::context! {
        title => clean(&w.name),
        name => clean(&w.name),
        id => clean(&w.id),
        schedule => w.digest.as_str(),
        next_digest => w.digest.next_after(now.at, now.tz).map(|t| now.when(t)),
        count => d.entry_count(),
        discovered => d.discovered.iter().map(entry_view).collect::<Vec<_>>(),
        blocks => blocks,
        items => d.items.iter().map(entry_view).collect::<Vec<_>>(),
        upcoming => upcoming,
        followed => followed,
        sent => sent,
        preview_url => format!("{base}/preview"),
        feed_url => format!("{base}/feed.atom?token={}", ctx.access.token(Purpose::Feed, &w.id)),
        calendar_url => format!("{base}/calendar.ics?token={}", ctx.access.token(Purpose::Calendar, &w.id)),
    })
}

/// The dossiers a watchlist follows: those it lists (by any reference), those found for
/// it, and those of its pending events; each with its stored timeline when fetched.
fn followed_dossiers(
    ctx: &WebContext,
    w: &Watchlist,
    d: &crate::digest::Digest,
) -> anyhow::Result<Vec<(ProcedureRef, Option<Dossier>)>> {
    let mut refs: BTreeSet<ProcedureRef> = BTreeSet::new();
    let mut aliases = Vec::new();
    for r in &w.dossiers {
        match r {
            DossierRef::Procedure(p) => {
                refs.insert(*p);
            }
            other => aliases.push(other.clone()),
        }
    }
    for t in ctx.store.tracked_records()? {
        if t.found_for.iter().any(|f| f.watchlist == w.id) {
            refs.insert(t.procedure);
        }
    }
    refs.extend(d.dossiers.iter().map(|b| b.reference));
    let mut out: Vec<(ProcedureRef, Option<Dossier>)> = Vec::new();
    if !aliases.is_empty() {
        for x in ctx.store.dossiers()? {
            if x.aliases().iter().any(|a| aliases.contains(a)) {
                refs.insert(x.reference);
            }
        }
    }
    for r in refs {
        if out.iter().any(|(o, _)| o.key() == r.key()) {
            continue;
        }
        let stored = ctx.store.dossier(&r)?;
        out.push((stored.as_ref().map_or(r, |x| x.reference), stored));
    }
    Ok(out)
}

/// The next digest as it would be mailed now (`digest preview --format html`).
pub(super) async fn preview_page(
    State(ctx): State<WebContext>,
    Path(id): Path<String>,
) -> Response {
    let Some(w) = watchlist_of(&ctx, &id) else {
        return no_watchlist(&id);
    };
    let now = (ctx.now)();
    let rendered = crate::deliver::build_digest(&ctx.config, &ctx.store, &w, now, false)
        .map_err(anyhow::Error::from)
        .and_then(|d| crate::digest::render(&d).map_err(anyhow::Error::from));
    match rendered {
        Ok(r) => mail_html(r.html),
        Err(e) => failure(e),
    }
}

/// A digest's HTML as mail clients get it: its styles inline, so its own CSP.
fn mail_html(html: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    r.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, super::csp_mail());
    r
}

/// A sent digest or alert, as it was sent.
pub(super) async fn sent_digest_page(
    State(ctx): State<WebContext>,
    Path((id, key)): Path<(String, String)>,
) -> Response {
    if watchlist_of(&ctx, &id).is_none() {
        return no_watchlist(&id);
    }
    let full = format!("{id}/{key}");
    match ctx.store.sent(&full) {
        Ok(Some(s)) if s.watchlist == id => match s.html {
            Some(html) => mail_html(html),
            None => message(
                StatusCode::NOT_FOUND,
                "Not kept",
                format!(
                    "This message was sent on {}, but its text was not kept: veille keeps what it sends from this version on, for storage.retention.",
                    fmt_date(s.sent_at.with_timezone(&ctx.config.timezone).date_naive())
                ),
            ),
        },
        Ok(_) => message(
            StatusCode::NOT_FOUND,
            "No such digest",
            "No digest was sent under this address.".to_string(),
        ),
        Err(e) => failure(e),
    }
}

// --- a dossier -------------------------------------------------------------------------

#[derive(Serialize)]
struct VLink {
    text: String,
    href: Option<String>,
}

#[derive(Serialize)]
struct VStep {
    date: String,
    stage: String,
    label: String,
    sources: Vec<VLink>,
    documents: Vec<VLink>,
}

#[derive(Serialize)]
struct VDeadline {
    date: String,
    countdown: String,
    what: String,
    link: Option<String>,
}

pub(super) async fn dossier_page(
    State(ctx): State<WebContext>,
    Path(spelling): Path<String>,
) -> Response {
    let r = match resolve(&ctx, &spelling) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                "Dossier not known",
                format!(
                    "veille holds no dossier {}; it is known once a watchlist follows it and its procedure has been fetched.",
                    clean(&spelling)
                ),
            )
        }
        Err(e) => return failure(e),
    };
    let canonical = dossier_url(&r);
    if format!("/dossiers/{spelling}") != canonical {
        return Redirect::permanent(&canonical).into_response();
    }
    let kept = match ctx.store.deadlines_of_dossier(&r) {
        Ok(kept) => kept,
        Err(e) => return failure(e),
    };
    match ctx.store.dossier(&r) {
        Ok(Some(d)) => page("dossier.html", dossier_view(&ctx, &d, kept)),
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            "Dossier not known",
            format!("veille holds no dossier {r}."),
        ),
        Err(e) => failure(e),
    }
}

/// The stored procedure a spelling names: a procedure reference in any spelling (the
/// canonical URL's `2016-0132-COD` too), or a COM or CELEX number of a stored dossier.
fn resolve(ctx: &WebContext, spelling: &str) -> anyhow::Result<Option<ProcedureRef>> {
    let parsed = spelling.parse::<DossierRef>().ok().or_else(|| {
        // The canonical URL's `2016-0132-COD` → `2016/0132(COD)`.
        let (head, kind) = spelling.rsplit_once('-')?;
        format!("{}({kind})", head.replacen('-', "/", 1))
            .parse::<DossierRef>()
            .ok()
    });
    let Some(parsed) = parsed else {
        return Ok(None);
    };
    if let DossierRef::Procedure(p) = parsed {
        return Ok(ctx.store.dossier(&p)?.map(|d| d.reference));
    }
    Ok(ctx
        .store
        .dossiers()?
        .into_iter()
        .find(|d| {
            d.aliases().contains(&parsed)
                || matches!(&parsed, DossierRef::Celex(c) if c.to_com().is_some_and(|com| d.com.contains(&com)))
        })
        .map(|d| d.reference))
}

/// `kept`: the deadlines kept for watchlists that name the dossier.
fn dossier_view(
    ctx: &WebContext,
    d: &Dossier,
    kept: Vec<crate::deadlines::Deadline>,
) -> minijinja::Value {
    let now = Now::of(ctx);
    let today = now.today();
    let svg = super::timeline::svg(d, today, |date| countdown(date, today));
    let steps: Vec<VStep> = d
        .timeline
        .iter()
        .rev()
        .map(|s| VStep {
            date: fmt_date(s.date),
            stage: s.stage.label(Language::En).to_string(),
            label: clean(&s.label),
            sources: s
                .sources
                .iter()
                .map(|p| VLink {
                    text: clean(&p.source),
                    href: safe_link(&p.url),
                })
                .collect(),
            documents: s
                .documents
                .iter()
                .map(|doc| VLink {
                    text: clean(&doc.reference),
                    href: doc.url.as_deref().and_then(safe_link),
                })
                .collect(),
        })
        .collect();
    let next = d
        .forecasts
        .iter()
        .filter(|f| f.date >= today)
        .min_by_key(|f| f.date)
        .map(|f| VDeadline {
            date: fmt_date(f.date),
            countdown: countdown(f.date, today),
            what: format!("{}: {}", f.stage.label(Language::En), clean(&f.label)),
            link: None,
        });
    let deadlines: Vec<VDeadline> = crate::deadlines::on_dossier_page(d, kept)
        .into_iter()
        .map(|x| VDeadline {
            date: fmt_date(x.local_date()),
            countdown: countdown(x.local_date(), today),
            what: clean(&x.title),
            link: x.url.as_deref().and_then(safe_link),
        })
        .collect();
    let following: Vec<VLink> = ctx
        .watchlists
        .borrow()
        .lists()
        .iter()
        .filter(|w| follows(ctx, w, d))
        .map(|w| VLink {
            text: clean(&w.name),
            href: Some(format!("/watchlists/{}", path_segment(&w.id))),
        })
        .collect();
    let mut refs: Vec<String> = d.com.iter().map(|c| c.to_string()).collect();
    refs.extend(d.final_act.iter().map(|c| c.to_string()));
    let title = d.titles.best().map(clean).unwrap_or_default();
    minijinja::context! {
        title => format!("{} {}", d.reference, title),
        reference => d.reference.to_string(),
        name => title,
        other_refs => refs,
        status => d.status.as_deref().map(clean),
        stage => d.current_stage().map(|s| s.label(Language::En)),
        timeline => minijinja::Value::from_safe_string(svg),
        steps => steps,
        next => next,
        deadlines => deadlines,
        following => following,
    }
}

/// Whether a watchlist follows a dossier: it lists it by one of its references, or the
/// dossier was found for it.
fn follows(ctx: &WebContext, w: &Watchlist, d: &Dossier) -> bool {
    let aliases = d.aliases();
    if w.dossiers.iter().any(|r| match r {
        DossierRef::Procedure(p) => p.key() == d.reference.key(),
        other => aliases.contains(other),
    }) {
        return true;
    }
    ctx.store.tracked_records().is_ok_and(|ts| {
        ts.iter().any(|t| {
            t.procedure.key() == d.reference.key()
                && t.found_for.iter().any(|f| f.watchlist == w.id)
        })
    })
}

// --- search ----------------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub(super) async fn search_page(
    State(ctx): State<WebContext>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = clean(&query.q);
    match super::search::search(&ctx.store, &q) {
        Ok(found) => {
            let dossiers: Vec<VFollowed> = found
                .dossiers
                .iter()
                .map(|d| VFollowed {
                    reference: d.reference.to_string(),
                    url: dossier_url(&d.reference),
                    title: d.titles.best().map(clean).unwrap_or_default(),
                    stage: d
                        .current_stage()
                        .map(|s| s.label(Language::En).to_string())
                        .unwrap_or_default(),
                })
                .collect();
            let events: Vec<VEntry> = found
                .events
                .iter()
                .map(|e| {
                    entry_view(&DigestEntry {
                        event: e.clone(),
                        reasons: Vec::new(),
                        alerted: false,
                    })
                })
                .collect();
            page(
                "search.html",
                minijinja::context! {
                    title => if q.is_empty() { "Search".to_string() } else { format!("Search: {q}") },
                    q => q,
                    asked => !query.q.trim().is_empty(),
                    dossiers => dossiers,
                    events => events,
                },
            )
        }
        Err(e) => failure(e),
    }
}

// --- feed and calendar -----------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The watchlist when the token opens its `purpose`; 404 for a wrong or missing token
/// (whether the watchlist exists is not told).
fn by_token(
    ctx: &WebContext,
    id: &str,
    purpose: Purpose,
    token: &str,
) -> Result<Watchlist, Box<Response>> {
    let ok = ctx.access.token_ok(purpose, id, token);
    match watchlist_of(ctx, id) {
        Some(w) if ok => Ok(w),
        _ => Err(Box::new(
            (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found: the link's token is wrong or missing; `veille links WATCHLIST` prints the right one\n",
        )
            .into_response(),
        )),
    }
}

pub(super) async fn feed(
    State(ctx): State<WebContext>,
    Path(id): Path<String>,
    Query(t): Query<TokenQuery>,
) -> Response {
    let w = match by_token(&ctx, &id, Purpose::Feed, &t.token) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let now = (ctx.now)();
    match super::atom::feed(&ctx, &w, now) {
        Ok(xml) => {
            let mut r = xml.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/atom+xml; charset=utf-8"),
            );
            r
        }
        Err(e) => failure(e),
    }
}

pub(super) async fn calendar(
    State(ctx): State<WebContext>,
    Path(id): Path<String>,
    Query(t): Query<TokenQuery>,
) -> Response {
    let w = match by_token(&ctx, &id, Purpose::Calendar, &t.token) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let now = (ctx.now)();
    match crate::deliver::calendar(&ctx.config, &ctx.store, &w, now) {
        Ok(ics) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "inline; filename=\"veille.ics\"",
                ),
            ],
            ics,
        )
            .into_response(),
        Err(e) => failure(e),
    }
}
