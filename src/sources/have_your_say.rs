//! The Commission's Better Regulation portal ("Have Your Say"). Not supported yet: the
//! configuration refuses this source kind until its parser lands, so nothing is ever
//! fetched for it.

use crate::model::Observation;

use super::{Input, ParseError};

/// Whether this source kind can be configured.
pub const SUPPORTED: bool = false;

/// The URLs a poll fetches (none until the source is supported).
pub fn urls(_base: &str) -> Vec<String> {
    Vec::new()
}

/// Always a layout error: there is no parser yet.
pub fn parse(_input: &Input<'_>) -> Result<Vec<Observation>, ParseError> {
    Err(ParseError::Layout(
        "the have-your-say source is not supported yet".into(),
    ))
}
