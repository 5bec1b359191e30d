//! (stub) mail
