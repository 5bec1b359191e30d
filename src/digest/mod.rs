//! (stub) digest
