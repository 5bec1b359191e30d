//! (stub) cellar
