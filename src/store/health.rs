//! What keeps a failing store from hanging veille. sled 0.34 does not recover from an IO
//! error in the process that met it: after a failed write (a full disk, for one) its log
//! keeps the error, a later flush can wait forever for a write that will never happen, and
//! a later read can loop forever retrying a node split it cannot log. So:
//!
//! - the first IO error of any sled call (or a call that does not return in time) marks
//!   the store **failed**, and from then on every call of [`super::Store`] returns that
//!   fault at once, without touching sled; its handles are not even dropped (dropping
//!   flushes, which could hang): the process must exit, and the next start reopens it;
//! - every call into sled is **watched**: a call still running after its deadline (10 s,
//!   longer for the full scans) marks the store failed and runs the handler the command
//!   set ([`super::Store::on_stuck`]), which reports it and ends the process, since the
//!   thread inside sled cannot be taken back;
//! - the free space of the device holding the store is checked before a step writes
//!   ([`super::Store::check_free_space`]): below `storage.min_free` the step is skipped and
//!   reported, and nothing in sled has failed, so the next step resumes once space is back.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::StoreError;

/// How long an ordinary sled call may take before the store counts as stuck.
pub(super) const DEADLINE: Duration = Duration::from_secs(10);
/// How long opening may take (sled replays its log).
pub(super) const OPEN_DEADLINE: Duration = Duration::from_secs(60);
/// How long a full scan may take (pruning, counting the events of a large store).
pub(super) const SCAN_DEADLINE: Duration = Duration::from_secs(300);

type OnStuck = Box<dyn Fn(&StoreError) + Send + Sync>;

/// The store's state of health, shared by its clones and its watchdog.
pub(super) struct Health {
    path: PathBuf,
    fault: Mutex<Option<String>>,
    /// Free space below the floor, when the last check found it so.
    low_space: Mutex<Option<String>>,
    /// The sled call in progress on some thread: since when, what, its deadline; and how
    /// deep (a call may make others).
    busy: Mutex<Busy>,
    on_stuck: Mutex<Option<OnStuck>>,
}

#[derive(Default)]
struct Busy {
    /// Id, start, what, deadline; the oldest first. Calls of one thread nest, but a call
    /// held across an `.await` (a flush) may end after one that began later.
    calls: Vec<(u64, Instant, &'static str, Duration)>,
    next: u64,
    reported: bool,
}

thread_local! {
    /// The store whose call this thread is making, so that an IO error converted from
    /// sled's type on this thread marks it failed.
    static CURRENT: RefCell<Vec<Arc<Health>>> = const { RefCell::new(Vec::new()) };
}

impl Health {
    pub(super) fn new(path: &Path) -> Arc<Health> {
        let h = Arc::new(Health {
            path: path.to_path_buf(),
            fault: Mutex::new(None),
            low_space: Mutex::new(None),
            busy: Mutex::new(Busy::default()),
            on_stuck: Mutex::new(None),
        });
        let weak = Arc::downgrade(&h);
        let spawned = std::thread::Builder::new()
            .name("veille-store-watch".into())
            .spawn(move || watch(weak));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the store's watchdog; a stuck store call would not be noticed");
        }
        h
    }

    pub(super) fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    pub(super) fn failed(&self) -> StoreError {
        StoreError::Failed {
            path: self.path.clone(),
            message: self.fault().unwrap_or_default(),
        }
    }

    /// Mark the store failed (the first fault is kept) and say so in the log.
    pub(super) fn set_fault(&self, message: String) {
        let mut f = lock(&self.fault);
        if f.is_none() {
            tracing::error!(
                store = %self.path.display(),
                error = %message,
                "THE STORE FAILED: nothing more is written or read until veille is restarted"
            );
            *f = Some(message);
        }
    }

    pub(super) fn low_space(&self) -> Option<String> {
        lock(&self.low_space).clone()
    }

    pub(super) fn set_low_space(&self, message: Option<String>) {
        *lock(&self.low_space) = message;
    }

    pub(super) fn set_on_stuck(&self, f: OnStuck) {
        *lock(&self.on_stuck) = Some(f);
    }

    /// The message of an IO error of sled, naming the device's state when it is known.
    pub(super) fn describe(&self, e: &std::io::Error) -> String {
        if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
            format!(
                "no space left on the device holding {}",
                self.path.display()
            )
        } else {
            format!("IO error on {}: {e}", self.path.display())
        }
    }
}

/// A sled call in progress: watched until dropped.
pub(super) struct Call {
    health: Arc<Health>,
    id: u64,
}

impl Call {
    /// Enter a sled call, or the fault if the store has failed.
    pub(super) fn enter(
        health: &Arc<Health>,
        what: &'static str,
        deadline: Duration,
    ) -> Result<Call, StoreError> {
        if health.fault().is_some() {
            return Err(health.failed());
        }
        let id = {
            let mut busy = lock(&health.busy);
            busy.next += 1;
            let id = busy.next;
            busy.calls.push((id, Instant::now(), what, deadline));
            id
        };
        CURRENT.with(|c| c.borrow_mut().push(health.clone()));
        Ok(Call {
            health: health.clone(),
            id,
        })
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(i) = c.iter().rposition(|h| Arc::ptr_eq(h, &self.health)) {
                c.remove(i);
            }
        });
        let mut busy = lock(&self.health.busy);
        busy.calls.retain(|c| c.0 != self.id);
        if busy.calls.is_empty() {
            busy.reported = false;
        }
    }
}

/// An IO-class error of sled on this thread, during a watched call: that store failed.
/// Returns the error to give (naming the store), or `None` outside a watched call.
pub(super) fn note_sled_error(e: &sled::Error) -> Option<StoreError> {
    let health = CURRENT.with(|c| c.borrow().last().cloned())?;
    let message = match e {
        sled::Error::Io(io) => health.describe(io),
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => {
            format!("{} is damaged: {e}", health.path.display())
        }
        _ => return None,
    };
    health.set_fault(message.clone());
    Some(StoreError::Failed {
        path: health.path.clone(),
        message,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn watch(health: Weak<Health>) {
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Some(h) = health.upgrade() else {
            return;
        };
        let overdue = {
            let mut busy = lock(&h.busy);
            let late = busy
                .calls
                .iter()
                .find(|(_, since, _, deadline)| since.elapsed() > *deadline)
                .map(|&(_, _, what, deadline)| (what, deadline));
            match late {
                Some(late) if !busy.reported => {
                    busy.reported = true;
                    Some(late)
                }
                _ => None,
            }
        };
        if let Some((what, deadline)) = overdue {
            let e = StoreError::Stuck {
                path: h.path.clone(),
                what,
                secs: deadline.as_secs(),
            };
            h.set_fault(e.to_string());
            if let Some(f) = lock(&h.on_stuck).as_ref() {
                f(&e);
            }
        }
    }
}
