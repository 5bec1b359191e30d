//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod digest;
mod mail;
mod support;
