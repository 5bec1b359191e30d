//! The officers' window: a read-only web server (axum on hyper and tokio) for the pages of
//! watchlists, dossiers and sent digests, the search, the Atom feeds and calendars, and
//! the health and metrics endpoints (`[server] listen`).
//!
//! Owns: the routes and their HTTP semantics (GET and HEAD only, 405 otherwise; redirects
//! to a dossier's canonical URL), access (`access.rs`: HTTP Basic users, the server secret
//! and the feed and calendar tokens), the pages (`pages.rs`, minijinja templates with HTML
//! autoescape, no script), the timeline picture (`timeline.rs`, SVG), the Atom feed
//! (`atom.rs`), the small search (`search.rs`, meant to be swapped for the archive's), the
//! health and metrics texts (`health.rs`), the security headers (a strict
//! Content-Security-Policy, `nosniff`, `Referrer-Policy`) and the bounds on each
//! request's size and time. axum, hyper, hyper-util, tower and tower-http live here only.
//!
//! Must not: write to the store, send mail, poll, or show recipients' addresses. What a
//! page shows is read from the store, the configuration and the watchlists at each
//! request; `now` comes from the daemon's clock.

pub mod access;
mod atom;
pub mod health;
mod pages;
mod search;
mod timeline;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::store::Store;
use crate::watchlist::WatchlistSet;

pub use access::Access;

/// The Content-Security-Policy of every page: nothing but the stylesheet and pictures
/// from veille itself; no script, no frames, no form sent elsewhere.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// The CSP of a digest as it was mailed: its styles are inline, as mail clients need.
const CSP_MAIL: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";
/// The longest request veille reads: headers (hyper's buffer) and a body alike.
const MAX_REQUEST: usize = 16 * 1024;
/// How long a request may take, from its first byte to the end of its answer.
const REQUEST_TIME: Duration = Duration::from_secs(20);

/// What the web window reads: the daemon's configuration, store, watchlists and clock.
#[derive(Clone)]
pub struct WebContext {
    pub config: Arc<Config>,
    pub store: Store,
    pub watchlists: watch::Receiver<WatchlistSet>,
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    pub access: Arc<Access>,
}

impl std::fmt::Debug for WebContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebContext").finish_non_exhaustive()
    }
}

impl WebContext {
    /// The base of the links veille prints and pages show: `public_url` or the listen
    /// address.
    pub fn base_url(&self) -> String {
        self.config
            .server
            .as_ref()
            .map(|s| s.base_url())
            .unwrap_or_default()
    }
}

/// The routes, with access control and the security headers.
pub fn router(ctx: WebContext) -> Router {
    let pages = Router::new()
        .route("/", get(pages::overview))
        .route("/style.css", get(pages::stylesheet))
        .route("/metrics", get(health::metrics_page))
        .route("/search", get(pages::search_page))
        .route("/watchlists/{id}", get(pages::watchlist_page))
        .route("/watchlists/{id}/preview", get(pages::preview_page))
        .route(
            "/watchlists/{id}/digests/{*key}",
            get(pages::sent_digest_page),
        )
        .route("/dossiers/{*reference}", get(pages::dossier_page))
        .fallback(pages::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            basic_auth,
        ));
    // Open, or opened by their own token.
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/watchlists/{id}/feed.atom", get(pages::feed))
        .route("/watchlists/{id}/calendar.ics", get(pages::calendar));
    open.merge(pages)
        .with_state(ctx)
        .layer(axum::middleware::from_fn(read_only))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIME,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_REQUEST))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// GET and HEAD only: veille's window changes nothing.
async fn read_only(req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, HEAD")],
        "veille's web window is read-only: GET and HEAD only\n",
    )
        .into_response()
}

/// The pages (and /metrics) need a configured user when there are any.
async fn basic_auth(State(ctx): State<WebContext>, req: Request, next: Next) -> Response {
    if !ctx.access.needs_user() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if ctx.access.basic_ok(given) {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"veille\", charset=\"UTF-8\"",
        )],
        "a user name and password are needed ([server.users])\n",
    )
        .into_response()
}

/// Serve on `listener` until `stop` turns true: one request per connection, headers
/// read within 10 s and at most 16 KiB, each answer within 20 s.
pub async fn serve(listener: TcpListener, ctx: WebContext, mut stop: watch::Receiver<bool>) {
    let app = router(ctx);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let sock = match accepted {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "web window: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(MAX_REQUEST)
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service);
            let _ = tokio::time::timeout(REQUEST_TIME + Duration::from_secs(10), conn).await;
        });
    }
}

/// The secret and users of a configuration: the server secret beside the store
/// (created the first time).
pub fn access_for(config: &Config) -> Result<Access, String> {
    let secret = access::load_or_create_secret(&access::secret_path(&config.storage.path))?;
    let users = config
        .server
        .as_ref()
        .map(|s| s.users.clone())
        .unwrap_or_default();
    Ok(Access::new(secret, users))
}

/// `veille links WATCHLIST`: the page, feed and calendar URLs of a watchlist.
pub fn links(config: &Config, watchlist: &str) -> Result<String, String> {
    let Some(server) = &config.server else {
        return Err(
            "there is no [server] table in the configuration: the web window is off; add [server] listen = \"127.0.0.1:9184\"".to_string(),
        );
    };
    let access = access_for(config)?;
    let base = server.base_url();
    let id = pages::path_segment(watchlist);
    Ok(format!(
        "page:     {base}/watchlists/{id}\nfeed:     {base}/watchlists/{id}/feed.atom?token={}\ncalendar: {base}/watchlists/{id}/calendar.ics?token={}\n",
        access.token(access::Purpose::Feed, watchlist),
        access.token(access::Purpose::Calendar, watchlist),
    ))
}

/// The links back to the web window a message under `key` carries, when
/// `[server] public_url` is set: its own page ("View in a browser") and the dossiers'.
pub fn mail_links(config: &Config, key: &str) -> Option<crate::digest::WebLinks> {
    let server = config.server.as_ref()?;
    server.public_url.as_ref()?;
    let base = server.base_url();
    let (watchlist, rest) = key.split_once('/')?;
    Some(crate::digest::WebLinks {
        view: format!(
            "{base}/watchlists/{}/digests/{}",
            pages::path_segment(watchlist),
            pages::key_path(rest)
        ),
        base,
    })
}

/// The canonical path of a dossier's page: `/dossiers/2016-0132-COD`.
pub fn dossier_path(r: &crate::model::ProcedureRef) -> String {
    pages::dossier_url(r)
}

/// The Content-Security-Policy of a digest shown as it was mailed.
pub(crate) fn csp_mail() -> HeaderValue {
    HeaderValue::from_static(CSP_MAIL)
}
