//! The on-disk records, versioned. Each record carries `v`; a reader accepts every version
//! it knows and migrates on read. Events and dossiers are kept as a versioned envelope
//! around the model's serde form, so that a change of the model is a new `v` here, with
//! its migration, never a silent reinterpretation of old bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deadlines::Deadline;
use crate::model::{Dossier, DossierEvent, EventId};

/// The schema version of the whole database (`meta/schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// HTTP validators and content hash of one URL fetched for a source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub v: u16,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// blake3 of the last body that was processed; an identical body is not re-processed.
    pub content_hash: Option<String>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// Why the body with `content_hash` could not be parsed, if it could not.
    #[serde(default)]
    pub parse_error: Option<String>,
    /// When the service last said it has no such resource (404, 410, or a page saying
    /// so): a procedure it does not hold is not asked for at every poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_found_at: Option<DateTime<Utc>>,
}

/// The poll state of one configured source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub v: u16,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// Consecutive failed polls; 0 when the last poll succeeded.
    pub failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// When every tracked dossier was last fetched in full (EU services).
    pub last_refresh: Option<DateTime<Utc>>,
    pub polls: u64,
    pub events: u64,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub v: u16,
    pub recorded_at: DateTime<Utc>,
    pub event: DossierEvent,
}

/// The merged snapshot of one procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DossierRecord {
    pub v: u16,
    pub updated_at: DateTime<Utc>,
    pub dossier: Dossier,
}

/// One matched event waiting for a watchlist's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecord {
    pub v: u16,
    pub event_id: EventId,
    pub reasons: Vec<String>,
    pub enqueued_at: DateTime<Utc>,
    /// The event's stage is in the watchlist's `alert_on`: a same-day alert is due.
    pub alert_due: bool,
    /// The same-day alert went out (key of that alert).
    pub alerted: Option<String>,
}

/// What kind of message a sent-log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SentKind {
    Digest,
    Alert,
    Reminder,
}

/// A message the mail transport accepted, by digest key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub v: u16,
    pub kind: SentKind,
    pub watchlist: String,
    pub event_ids: Vec<EventId>,
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
}

/// Delivery retry state of one watchlist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub v: u16,
    pub failures: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The digest period key last delivered (or skipped as empty).
    pub last_period: Option<String>,
    pub last_digest_at: Option<DateTime<Utc>>,
    /// Reminders are due in (last_reminder_check, now].
    #[serde(default)]
    pub last_reminder_check: Option<DateTime<Utc>>,
    /// A message handed to the mail transport and not yet recorded as sent: after a
    /// crash it is sent again under the same key (so the same Message-ID) with the same
    /// events, before anything else.
    #[serde(default)]
    pub in_flight: Option<InFlight>,
}

/// What is being sent right now for a watchlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub key: String,
    pub kind: SentKind,
    pub period: Option<String>,
    pub event_ids: Vec<EventId>,
}

/// A dated deadline a watchlist follows (a consultation closing, a transposition date),
/// kept for "coming up", reminders and calendars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineRecord {
    pub v: u16,
    pub recorded_at: DateTime<Utc>,
    pub deadline: Deadline,
}
