//! Source parsers, one file per source kind: bytes and provenance in, observations out;
//! and each kind's request plan (`plan`: what to fetch, with which headers, what next).
//! Pure: no HTTP, no clock, no store, no knowledge of watchlists. A parser that cannot
//! find the structure it expects returns `ParseError::Layout`, never an empty list.

pub mod cellar;
pub mod cellar_work;
pub mod ep_api;
pub mod feed;
pub mod feed_shape;
pub mod have_your_say;
pub mod oeil;
pub mod plan;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{Observation, Provenance};

/// The kinds of source veille knows how to read (`kind` in `[[sources]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Any RSS 0.9x/1.0/2.0, Atom or JSON Feed.
    Feed,
    /// The European Parliament Open Data API v2.
    EpApi,
    /// The EP Legislative Observatory procedure files (HTML).
    Oeil,
    /// The Publications Office CELLAR (procedure tree notices).
    Cellar,
    /// The Commission's Better Regulation portal ("Have Your Say").
    HaveYourSay,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Feed,
        SourceKind::EpApi,
        SourceKind::Oeil,
        SourceKind::Cellar,
        SourceKind::HaveYourSay,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Feed => "feed",
            SourceKind::EpApi => "ep-api",
            SourceKind::Oeil => "oeil",
            SourceKind::Cellar => "cellar",
            SourceKind::HaveYourSay => "have-your-say",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown source kind {s:?}; use feed, ep-api, oeil, cellar or have-your-say"
                )
            })
    }
}

/// One fetched body, as a parser sees it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub body: &'a [u8],
    /// The HTTP `Content-Type`, when the server sent one (carries the charset).
    pub content_type: Option<&'a str>,
    pub provenance: &'a Provenance,
}

/// Why a body could not be turned into observations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The structure the parser relies on is missing: the site changed, or this is not
    /// the page we asked for.
    #[error("unexpected layout: {0}")]
    Layout(String),
    /// A bot-challenge page (AWS WAF, JavaScript check) was served instead of content.
    #[error("bot challenge page instead of content")]
    Challenge,
    /// The source answered that the requested record does not exist.
    #[error("not found at the source: {0}")]
    NotFound(String),
    /// The body is not well-formed in its format.
    #[error("malformed {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
}

/// A parser: one body in, observations out.
pub type ParseFn = fn(&Input<'_>) -> Result<Vec<Observation>, ParseError>;

/// True when an HTML body is a bot-challenge page rather than content (AWS WAF, EUR-Lex
/// JavaScript check). Shared by every HTML parser.
pub fn looks_like_challenge(body: &[u8]) -> bool {
    let head = &body[..body.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    [
        "awswafintegration",
        "aws-waf-token",
        "challenge.js",
        "we need to verify that you're not a robot",
        "we need to verify that you are not a robot",
        "verify that you're not a robot",
        "please enable javascript to continue",
        "just a moment...",
        "cf-chl-",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
