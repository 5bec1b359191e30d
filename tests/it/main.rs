//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod captured;
mod cellar;
mod config;
mod crash;
mod daemon;
mod deadlines;
mod deliver;
mod digest;
mod dossier;
mod e2e;
mod ep_api;
mod feed;
mod fetch;
mod have_your_say;
mod ical;
mod mail;
mod matching;
mod oeil;
mod poll;
mod schedule;
mod status;
mod store;
mod support;
mod tz;
mod watchlist;
mod watchlist_faults;
