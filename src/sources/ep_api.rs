//! (stub) ep_api
