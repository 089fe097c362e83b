//! Handing freed heap memory back to the system between instances.
#![allow(unsafe_code)] // one call into glibc; see the SAFETY comment.

/// Hands the heap's free pages back to the system, in every thread's arena (glibc's
/// `malloc_trim`). Each worker thread has its own malloc arena, so memory one check freed
/// (a vocabulary, a tensor read whole) stays resident beside what the next check on another
/// thread allocates unless trimmed; the runner calls this after each instance.
pub fn trim() {
    // SAFETY: malloc_trim takes a padding size and touches only the allocator's own free
    // lists.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
