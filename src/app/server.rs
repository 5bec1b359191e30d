//! Starting the web window (`[server] listen`): binds the address, reads the server
//! secret, and hands the daemon's configuration, store, watchlists and clock to
//! `crate::web`, which owns everything the server does.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::Config;
use crate::store::Store;
use crate::watchlist::WatchlistSet;

/// Bind `[server] listen` and serve until `stop` turns true; nothing when there is no
/// `[server]` table.
pub(super) async fn start(
    config: Arc<Config>,
    store: Store,
    watchlists: watch::Receiver<WatchlistSet>,
    now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(server) = &config.server else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(server.listen)
        .await
        .with_context(|| format!("listening on {} ([server] listen)", server.listen))?;
    let access = crate::web::access_for(&config).map_err(anyhow::Error::msg)?;
    tracing::info!(listen = %server.listen, base = %server.base_url(), users = server.users.len(), "web window, health and metrics listening");
    let ctx = crate::web::WebContext {
        config: config.clone(),
        store,
        watchlists,
        now: Arc::new(now),
        access: Arc::new(access),
    };
    tokio::spawn(crate::web::serve(listener, ctx, stop));
    Ok(())
}
