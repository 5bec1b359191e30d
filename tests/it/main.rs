//! The one integration-test binary: modules by feature, shared helpers in `support`.

mod deadlines;
mod have_your_say;
mod ical;
mod oeil;
mod support;
