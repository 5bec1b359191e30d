//! Returning the heap memory a daemon step freed to the system.
//!
//! glibc's malloc keeps freed memory for reuse and gives back only a free top of the heap
//! above a threshold that grows with the largest freed block; the buffers of a poll
//! (response bodies up to megabytes, parse trees, store pages) end up as free holes that
//! it never returns. Measured on the idle daemon (50 sources, after its first poll): 2 to
//! 3 MB of free heap stayed resident until a `malloc_trim`, which costs well under a
//! millisecond on a heap of this size.

/// Give the free heap memory back to the system (glibc only; elsewhere does nothing).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: `malloc_trim` takes no pointers; it works on glibc's own free lists, under
    // the allocator's locks, and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Give the free heap memory back to the system (glibc only; elsewhere does nothing).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
