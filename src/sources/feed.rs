//! (stub) feed
