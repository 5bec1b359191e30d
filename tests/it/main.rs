//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod cellar;
mod ep_api;
mod support;
