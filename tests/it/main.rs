//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod config;
mod feed;
mod fetch;
mod oeil;
mod schedule;
mod store;
mod support;
