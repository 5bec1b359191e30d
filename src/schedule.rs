//! (stub) schedule
