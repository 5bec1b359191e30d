//! The record of what the store held at its last flush, kept beside it
//! (`{storage.path}.state`, JSON, replaced atomically by a rename after each flush that
//! followed a write): a generation, also kept in the store (`meta/generation`) and bumped
//! before that flush, and the number of records in the trees that never shrink. On open, a
//! store at an older generation, or holding fewer records, or missing altogether, lost what
//! it had (a truncated or deleted file, a lost `blobs/` folder): it is moved aside and
//! rebuilt, as a corrupt one is. sled reads such a store without complaint, so without
//! this record veille would silently start again from nothing and report old items as new.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a flushed store held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    pub v: u32,
    pub generation: u64,
    pub sources: u64,
    pub resources: u64,
    pub dossiers: u64,
    pub tracked: u64,
    pub sent: u64,
}

/// `{store}.state`, beside the store's folder.
pub(super) fn path_of(store: &Path) -> PathBuf {
    let mut name = store
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "veille.sled".into());
    name.push(".state");
    store.with_file_name(name)
}

/// The record, if there is one. An unreadable one is reported and ignored: it only guards.
pub(super) fn read(store: &Path) -> Option<Record> {
    let p = path_of(store);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %p.display(), error = %e, "cannot read the record of what the store held; not checked");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(file = %p.display(), error = %e, "the record of what the store held is unreadable; not checked");
            None
        }
    }
}

/// Replace the record: written to a temporary file, synced, renamed over it.
pub(super) fn write(store: &Path, r: &Record) -> std::io::Result<()> {
    let p = path_of(store);
    let mut tmp = p.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let json = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &p)
}

/// Why a store holding `now` lost what `before` recorded, if it did.
pub(super) fn lost(before: &Record, now: &Record) -> Option<String> {
    if now.generation < before.generation {
        return Some(format!(
            "it is at generation {} but its last flush recorded generation {}",
            now.generation, before.generation
        ));
    }
    let counts = [
        ("sources", now.sources, before.sources),
        ("fetched URLs", now.resources, before.resources),
        ("dossiers", now.dossiers, before.dossiers),
        ("tracked procedures", now.tracked, before.tracked),
        ("sent messages", now.sent, before.sent),
    ];
    counts
        .iter()
        .find(|(_, n, b)| n < b)
        .map(|(what, n, b)| format!("it holds {n} {what} but its last flush recorded {b}"))
}
