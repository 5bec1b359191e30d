//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod feed;
mod fetch;
mod support;
