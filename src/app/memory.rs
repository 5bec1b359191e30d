//! Returning the heap memory a daemon step freed to the system.
//!
//! glibc's malloc keeps freed memory for reuse and gives back only a free top of the heap
//! above a threshold that grows with the largest freed block; the buffers of a poll
//! (response bodies up to megabytes, parse trees, store pages) end up as free holes that
//! it never returns. Measured on the idle daemon (50 sources, after its first poll): 2 to
//! 3 MB of free heap stayed resident until a `malloc_trim`, which costs well under a
//! millisecond on a heap of this size.

/// Large blocks (a response body, a parse tree's arrays) get pages of their own, given
/// back when freed, at any size above 128 KiB: glibc otherwise raises that threshold to
/// the largest block freed, so that a poll's bodies end up in the heap among live data.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn keep_large_blocks_apart() {
    // SAFETY: `mallopt` takes two integers and only changes the allocator's parameters,
    // under its lock; a refused value leaves them as they were.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Large blocks get pages of their own (glibc only; elsewhere does nothing).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_large_blocks_apart() {}

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
