//! What the operator and the policy officers read, rendered from plain structs: `veille
//! status` and `veille dossier show` (text and JSON), short causes of failures, and times
//! as people say them. Pure: no store, no clock (`now` and the time zone are parameters).
//! `app/` gathers the data and prints what this module renders.

pub mod cause;
pub mod when;
