//! (stub) watchlist
