//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod matching;
mod schedule;
mod support;
mod watchlist;
