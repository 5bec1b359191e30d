//! The process's CPU time, for the daemon's log line after each poll step ("what does a
//! poll cost me?" is an operator's question, and the benchmark reads the answer there).
//! It only reads a clock; it must not be used to decide anything.

use std::time::Duration;

/// CPU time used by the whole process so far (every thread, those that have exited
/// included), to the nanosecond; `None` where the clock is not available.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn process_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through the pointer, which points to a
    // live, writable, properly aligned local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// CPU time used by the whole process so far; not available here.
#[cfg(not(unix))]
pub fn process_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_clock_advances_with_work() {
        let Some(before) = process_time() else {
            return;
        };
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let after = process_time().expect("the clock worked a moment ago");
        assert!(after > before, "{before:?} -> {after:?} ({x})");
    }
}
