//! (stub) poll
