//! veille: polls official EU sources and RSS/Atom feeds, turns what it finds into dossier
//! events, matches them against officers' TOML watchlists, keeps its state in sled and
//! mails digests to each focus group. See docs/architecture.md.

pub mod app;
pub mod archive;
pub mod channels;
pub mod config;
pub mod deadlines;
pub mod deliver;
pub mod digest;
pub mod dossier;
pub mod fetch;
pub mod ical;
pub mod mail;
pub mod model;
pub mod poll;
pub mod schedule;
pub mod sources;
pub mod store;
pub mod text;
pub mod tls;
pub mod tz;
pub mod view;
pub mod watchlist;
pub mod web;
