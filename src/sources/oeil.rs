//! (stub) oeil
