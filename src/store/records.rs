//! The on-disk records, versioned. Each record carries `v`; a reader accepts every version
//! it knows and migrates on read. Events and dossiers are kept as a versioned envelope
//! around the model's serde form, so that a change of the model is a new `v` here, with
//! its migration, never a silent reinterpretation of old bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deadlines::Deadline;
use crate::model::{Candidate, Dossier, DossierEvent, EventId, ProcedureRef};

/// The schema version of the whole database (`meta/schema_version`).
/// 2: events no watchlist wanted may be kept as [`StoredEvent::Seen`] (version 1 only had
/// full records, which version 2 still reads). veille no longer writes them (an item is
/// known by [`ResourceRecord::items`], which older versions ignore) but reads them.
/// 3: a `tracked` value may be a [`TrackedRecord`] (JSON: for which watchlists a new
/// dossier was found), where versions 1 and 2 read only a bare reference (still read);
/// the `candidates` tree is new.
pub const SCHEMA_VERSION: u32 = 3;

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
    /// Since when the service has said so, every time it was asked (cleared by an answer
    /// with a body): a candidate's notice missing for weeks is not asked for any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<DateTime<Utc>>,
    /// The events of the items (feed entries, consultations) in the body last parsed,
    /// sorted. An item this resource still lists at its next parse is not news again,
    /// which is why an item no watchlist wanted needs no record of its own in `events`
    /// (see `Store::record_polls`). Bounded by the resource's size; kept through a failed
    /// parse, so that the items come back as known when the resource parses again.
    /// Stored as one string of their hex digits, 32 per item.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "item_ids")]
    pub items: Vec<EventId>,
}

/// [`ResourceRecord::items`] as one string: the ids' hex digits, concatenated.
mod item_ids {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::EventId;

    pub fn serialize<S: Serializer>(ids: &[EventId], s: S) -> Result<S::Ok, S::Error> {
        let mut digits = Vec::with_capacity(ids.len() * 32);
        for id in ids {
            digits.extend_from_slice(&id.hex_digits());
        }
        s.serialize_str(std::str::from_utf8(&digits).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EventId>, D::Error> {
        let digits = String::deserialize(d)?;
        if digits.len() % 32 != 0 {
            return Err(D::Error::custom(format!(
                "item ids: {} hex digits, not a multiple of 32",
                digits.len()
            )));
        }
        digits
            .as_bytes()
            .chunks_exact(32)
            .map(|c| {
                EventId::from_hex(c).ok_or_else(|| {
                    D::Error::custom(format!(
                        "item ids: {:?} is not hex",
                        String::from_utf8_lossy(c)
                    ))
                })
            })
            .collect()
    }
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
    /// The whole error of the last failed poll (every source of the error, for the log and
    /// `status --format json`).
    pub last_error: Option<String>,
    /// The same failure in a few words, for people ("cannot resolve data.europarl.europa.eu",
    /// "HTTP 503"). Absent in records written before it was kept: read from `last_error`
    /// then (`view::cause::of_record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cause: Option<String>,
    /// Until when the server asked not to be asked again (`Retry-After` on the last
    /// failure): a manual `veille poll` leaves the source alone until then, unless
    /// `--force`. Absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<DateTime<Utc>>,
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

/// How an event is kept in the `events` tree. In full when a watchlist waits for it (a
/// digest will show it); `Seen` is what versions before `ResourceRecord::items` wrote for
/// an event no watchlist wanted (the fact that it was seen, and when: 9 bytes), still read
/// as known and pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredEvent {
    Full(Box<EventRecord>),
    Seen { recorded_at: DateTime<Utc> },
}

/// First byte of a `Seen` record; a full record is JSON and starts with `{`.
const SEEN_TAG: u8 = 0x01;

impl StoredEvent {
    pub fn recorded_at(&self) -> DateTime<Utc> {
        match self {
            StoredEvent::Full(r) => r.recorded_at,
            StoredEvent::Seen { recorded_at } => *recorded_at,
        }
    }

    /// The bytes of a `Seen` record: the tag, then the time in seconds, big-endian. veille
    /// no longer writes them; this is the format `from_bytes` reads (and the tests use to
    /// make a database as earlier versions left it).
    pub fn seen_bytes(recorded_at: DateTime<Utc>) -> [u8; 9] {
        let mut b = [0u8; 9];
        b[0] = SEEN_TAG;
        b[1..].copy_from_slice(&recorded_at.timestamp().to_be_bytes());
        b
    }

    /// Read either form; a full record is decoded by `full` (JSON).
    pub fn from_bytes<E>(
        bytes: &[u8],
        full: impl FnOnce(&[u8]) -> Result<EventRecord, E>,
        malformed: impl FnOnce() -> E,
    ) -> Result<StoredEvent, E> {
        match bytes.split_first() {
            Some((&SEEN_TAG, rest)) => <[u8; 8]>::try_from(rest)
                .ok()
                .and_then(|secs| DateTime::from_timestamp(i64::from_be_bytes(secs), 0))
                .map(|recorded_at| StoredEvent::Seen { recorded_at })
                .ok_or_else(malformed),
            _ => full(bytes).map(|r| StoredEvent::Full(Box::new(r))),
        }
    }
}

/// The merged snapshot of one procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DossierRecord {
    pub v: u16,
    pub updated_at: DateTime<Utc>,
    pub dossier: Dossier,
}

/// A procedure followed from now on, in the `tracked` tree: named by a matched item, or
/// found for some watchlists as a new dossier (`found_for`), whose later steps then reach
/// those watchlists whatever their keywords find. Versions before 2 stored the bare
/// reference as text (`2016/0132(COD)`), still read ([`TrackedRecord::from_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedRecord {
    pub v: u16,
    pub procedure: ProcedureRef,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found_for: Vec<FoundFor>,
}

/// A watchlist a new procedure was found for, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundFor {
    pub watchlist: String,
    /// `keyword "customs duties" in its title`, `subject "plastic waste" (EuroVoc)`.
    pub reasons: Vec<String>,
    pub at: DateTime<Utc>,
}

impl TrackedRecord {
    /// A record of either form: JSON (version 2) or the bare reference (version 1).
    pub fn from_bytes(bytes: &[u8]) -> Result<TrackedRecord, String> {
        if bytes.first() == Some(&b'{') {
            return serde_json::from_slice(bytes).map_err(|e| e.to_string());
        }
        let text = String::from_utf8_lossy(bytes);
        let procedure: ProcedureRef = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
        Ok(TrackedRecord {
            v: 1,
            procedure,
            found_for: Vec::new(),
        })
    }

    /// Whether only the plain form is needed (nothing found for a watchlist).
    pub fn is_plain(&self) -> bool {
        self.found_for.is_empty()
    }
}

/// A procedure a change feed named that no watchlist wanted when it was read: kept (in
/// the `candidates` tree) so that it is not fetched again, and evaluated again when the
/// watchlists change. Pruned `storage.retention` after it was first recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateRecord {
    pub v: u16,
    pub recorded_at: DateTime<Utc>,
    /// The source that read it (a watchlist limited to other sources is not asked).
    pub source: String,
    pub candidate: Candidate,
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
    /// The HTML of the message as it was sent (version 2 on), for the web window; dropped
    /// after `storage.retention` by the prune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
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
    /// `(k, n)` when the message is part `k` of `n` of a digest sent in parts, so that a
    /// resend says so too. Absent in records written before digests had parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<(usize, usize)>,
}

/// One message for one channel of a watchlist (`channels` tree, keyed
/// `{watchlist}\0{channel}\0{message key}`): written, with the body to send, before the
/// message is first sent anywhere; kept with `sent_at` once the channel answered 2xx
/// (the body is then dropped), so that the same message is never queued twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDeliveryRecord {
    pub v: u16,
    pub watchlist: String,
    pub channel: String,
    /// The message's key (the mail's digest key); the channel's idempotency key is
    /// derived from it.
    pub key: String,
    pub kind: SentKind,
    /// The request body, as every attempt sends it.
    #[serde(default)]
    pub body: String,
    /// How many events the message carries.
    #[serde(default)]
    pub events: usize,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last failure, in words (never a secret).
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
}

/// A dated deadline a watchlist follows (a consultation closing, a transposition date),
/// kept for "coming up", reminders and calendars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineRecord {
    pub v: u16,
    pub recorded_at: DateTime<Utc>,
    pub deadline: Deadline,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracked procedure written by an older veille (its bare reference) still reads,
    /// and the new record reads back.
    #[test]
    fn a_tracked_record_reads_the_old_plain_form() {
        let old = TrackedRecord::from_bytes(b"2016/0132(COD)").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.procedure.to_string(), "2016/0132(COD)");
        assert!(old.is_plain());
        let new = TrackedRecord {
            v: 2,
            procedure: old.procedure,
            found_for: vec![FoundFor {
                watchlist: "customs".into(),
                reasons: vec!["keyword \"customs duties\" in its title".into()],
                at: DateTime::<Utc>::default(),
            }],
        };
        let bytes = serde_json::to_vec(&new).unwrap_or_default();
        assert_eq!(TrackedRecord::from_bytes(&bytes), Ok(new));
        assert!(TrackedRecord::from_bytes(b"not a reference").is_err());
    }

    /// A resource's items are one string of hex digits; a record without them (written
    /// before they existed) reads as none, and a damaged list is an error, not a guess.
    #[test]
    fn a_resource_keeps_its_items_as_one_string() {
        let rec = ResourceRecord {
            v: 1,
            items: vec![EventId([0xab; 16]), EventId([0x01; 16])],
            ..ResourceRecord::default()
        };
        let json = serde_json::to_string(&rec).unwrap_or_default();
        assert!(
            json.contains(&format!(
                "\"items\":\"{}{}\"",
                "ab".repeat(16),
                "01".repeat(16)
            )),
            "{json}"
        );
        let back: ResourceRecord = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, rec);

        let empty = serde_json::to_string(&ResourceRecord::default()).unwrap_or_default();
        assert!(!empty.contains("items"), "{empty}");
        let old: ResourceRecord = serde_json::from_str(
            r#"{"v":1,"etag":null,"last_modified":null,"content_hash":null,"fetched_at":null}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(old.items.is_empty());

        for bad in [
            format!("{}0", "ab".repeat(16)),
            format!("{}zz", "ab".repeat(15)),
        ] {
            let json = format!(
                r#"{{"v":1,"etag":null,"last_modified":null,"content_hash":null,"fetched_at":null,"items":"{bad}"}}"#
            );
            let e = serde_json::from_str::<ResourceRecord>(&json)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("item ids"), "{bad}: {e}");
        }
    }
}

/// What the `archive` tree keeps of one event seen that no watchlist matched (key: the
/// event's date as days since 1 January of year 1, 4 bytes big-endian, then its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    pub v: u16,
    #[serde(flatten)]
    pub event: crate::archive::ArchivedEvent,
}

/// The archive's entry of a matched event, under the same key: the event itself is in
/// the `events` tree (kept for `storage.retention`, longer than the archive by default),
/// so only what that record lacks is here, a step's procedure titles and subjects. A
/// feed of 50,000 matching items then costs the archive a few bytes each, not a second
/// copy of every item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRef {
    pub v: u16,
    /// Always true: what tells this shape from [`ArchiveRecord`].
    #[serde(rename = "ref")]
    pub matched: bool,
    #[serde(
        rename = "ti",
        default,
        skip_serializing_if = "crate::archive::titles_empty"
    )]
    pub titles: crate::model::Titles,
    #[serde(rename = "ev", default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<crate::model::EuroVoc>,
}

/// A value of the `archive` tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArchiveValue {
    Matched(ArchiveRef),
    Full(Box<ArchiveRecord>),
}
