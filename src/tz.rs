//! Time zones: the IANA zone a configuration names, as a chrono [`TimeZone`].
//!
//! Owns the zone data and its conversion to chrono's offsets, so that the rest of veille
//! (cron included) speaks chrono. The data is jiff's embedded copy of the IANA database:
//! TZif bytes, of which only the zones asked for are read, once per process. It must not
//! read the system's zoneinfo or `TZ`: a zone means the same on every machine, as it did
//! with chrono-tz.
//!
//! Why not chrono-tz: its tables of every zone's transitions are made of pointers, which
//! the loader relocates at every start, so that all of them (1 MB) stayed resident in the
//! idle daemon, a fifteenth of its budget (docs/performance.md). This module gives the
//! answers chrono-tz gave (`tests/it/tz.rs` compares them zone by zone).

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use jiff::tz::AmbiguousOffset;

/// One IANA time zone. Copied freely: each zone is loaded once per process and kept.
#[derive(Clone, Copy)]
pub struct Tz(&'static Zone);

struct Zone {
    /// The name as the database spells it (`Europe/Brussels`, whatever case was asked for).
    name: String,
    tz: jiff::tz::TimeZone,
}

/// A name that is not an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?} (an IANA name such as \"Europe/Brussels\")")]
pub struct UnknownZone(pub String);

impl Tz {
    /// The zone `name` names (ASCII case ignored), if the database has it.
    pub fn get(name: &str) -> Option<Tz> {
        // At most one entry per zone name asked for: a few in a process.
        static LOADED: Mutex<Vec<&'static Zone>> = Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        let known = |loaded: &[&'static Zone], n: &str| {
            loaded
                .iter()
                .find(|z| z.name.eq_ignore_ascii_case(n))
                .copied()
        };
        if let Some(z) = known(&loaded, name) {
            return Some(Tz(z));
        }
        // jiff's sentinel for a zone it could not determine is not a zone to configure.
        if name.eq_ignore_ascii_case("Etc/Unknown") {
            return None;
        }
        let tz = jiff::tz::db().get(name).ok()?;
        let name = tz.iana_name().unwrap_or(name).to_string();
        if let Some(z) = known(&loaded, &name) {
            return Some(Tz(z));
        }
        let zone: &'static Zone = Box::leak(Box::new(Zone { name, tz }));
        loaded.push(zone);
        Some(Tz(zone))
    }

    /// Europe/Brussels: the EU institutions' time, in which their sources give dates.
    pub fn brussels() -> Tz {
        static ZONE: OnceLock<Tz> = OnceLock::new();
        *ZONE.get_or_init(|| {
            Tz::get("Europe/Brussels").expect("the embedded database has Europe/Brussels")
        })
    }

    /// UTC.
    pub fn utc() -> Tz {
        static ZONE: OnceLock<Tz> = OnceLock::new();
        *ZONE.get_or_init(|| Tz::get("UTC").expect("the embedded database has UTC"))
    }

    /// The IANA name (`Europe/Brussels`).
    pub fn name(&self) -> &'static str {
        &self.0.name
    }

    /// The offset in effect at `instant`, with its abbreviation.
    fn offset_at(&self, instant: jiff::Timestamp) -> TzOffset {
        let info = self.0.tz.to_offset_info(instant);
        TzOffset {
            tz: *self,
            fixed: fixed(info.offset()),
            abbreviation: Abbreviation::new(info.abbreviation()),
        }
    }

    /// The offset in effect at the instant that `local` names under `offset`.
    fn offset_of_local(&self, local: &NaiveDateTime, offset: jiff::tz::Offset) -> TzOffset {
        let utc = local.and_utc().timestamp() - i64::from(offset.seconds());
        self.offset_at(timestamp(utc))
    }
}

/// A time zone's offset at some instant: what chrono calls a [`chrono::Offset`].
#[derive(Clone, Copy)]
pub struct TzOffset {
    tz: Tz,
    fixed: FixedOffset,
    abbreviation: Abbreviation,
}

impl TzOffset {
    /// The zone's abbreviation for this offset (`CET`, `CEST`), or `None` where the
    /// database has only a number (`+03`), as chrono-tz answered.
    pub fn abbreviation(&self) -> Option<&str> {
        let a = self.abbreviation.as_str();
        (!a.is_empty() && !a.starts_with(['+', '-'])).then_some(a)
    }
}

impl chrono::Offset for TzOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

/// The abbreviation, or the number the database gives instead (`CET`, `+03`): what `%Z`
/// prints.
impl fmt::Display for TzOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbreviation.as_str())
    }
}

impl fmt::Debug for TzOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl TimeZone for Tz {
    type Offset = TzOffset;

    fn from_offset(offset: &TzOffset) -> Tz {
        offset.tz
    }

    /// One offset for a whole local day, as chrono-tz gives it: the one at its start,
    /// else at its end (a day with a change of offset is not ambiguous as a day).
    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<TzOffset> {
        let earliest = self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN));
        let latest =
            self.offset_from_local_datetime(&local.and_hms_opt(23, 59, 59).unwrap_or_default());
        match (earliest, latest) {
            (r @ MappedLocalTime::Single(_), _) | (_, r @ MappedLocalTime::Single(_)) => r,
            (MappedLocalTime::Ambiguous(o, _), _) | (_, MappedLocalTime::Ambiguous(o, _)) => {
                MappedLocalTime::Single(o)
            }
            (MappedLocalTime::None, MappedLocalTime::None) => MappedLocalTime::None,
        }
    }

    /// A wall time in a gap (spring forward) has no offset; one in a fold (fall back)
    /// has two, the earlier instant's first.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<TzOffset> {
        let Some(civil) = civil(local) else {
            return MappedLocalTime::None;
        };
        match self.0.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => {
                MappedLocalTime::Single(self.offset_of_local(local, offset))
            }
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            AmbiguousOffset::Fold { before, after } => MappedLocalTime::Ambiguous(
                self.offset_of_local(local, before),
                self.offset_of_local(local, after),
            ),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> TzOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> TzOffset {
        self.offset_at(timestamp(utc.and_utc().timestamp()))
    }
}

impl FromStr for Tz {
    type Err = UnknownZone;
    fn from_str(s: &str) -> Result<Tz, UnknownZone> {
        Tz::get(s).ok_or_else(|| UnknownZone(s.to_string()))
    }
}

impl PartialEq for Tz {
    fn eq(&self, other: &Tz) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Tz {}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An abbreviation kept inline, so that an offset stays `Copy` (the database's are at
/// most six bytes; a longer one is cut at a character boundary).
#[derive(Clone, Copy)]
struct Abbreviation {
    bytes: [u8; 15],
    len: u8,
}

impl Abbreviation {
    fn new(s: &str) -> Abbreviation {
        let mut len = s.len().min(15);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; 15];
        bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
        Abbreviation {
            bytes,
            len: len as u8,
        }
    }

    fn as_str(&self) -> &str {
        // Built from a `&str` cut at a character boundary.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Seconds since the epoch as jiff's instant, clamped to its range (years −9999 to 9999;
/// chrono's is wider).
fn timestamp(secs: i64) -> jiff::Timestamp {
    let secs = secs.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// chrono's wall time as jiff's, to the second (a leap second counts as :59); `None`
/// beyond jiff's years.
fn civil(local: &NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    jiff::civil::DateTime::new(
        i16::try_from(local.year()).ok()?,
        local.month() as i8,
        local.day() as i8,
        local.hour() as i8,
        local.minute() as i8,
        local.second().min(59) as i8,
        0,
    )
    .ok()
}

fn fixed(offset: jiff::tz::Offset) -> FixedOffset {
    // jiff's offsets are within ±25:59:59, chrono's within ±23:59:59; the database's
    // within ±15 hours.
    FixedOffset::east_opt(offset.seconds()).unwrap_or_else(|| chrono::Offset::fix(&chrono::Utc))
}
