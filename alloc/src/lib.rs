//! The relay binary's memory allocator and how it gives memory back.
//!
//! A relay carries thousands of short sessions a day; what matters is that its resident
//! memory follows the sessions that are live, not the sum of all it has carried. Measured
//! with `bench-soak` (500 SSH sessions with churn for 20 minutes):
//! - glibc's allocator kept the pages freed by ended sessions in its per-thread arenas:
//!   232 MB remained after every session had ended, from 150 MB before;
//! - mimalloc with its defaults returned them only when the thread that freed them next
//!   allocated, a second later at the earliest, so idle worker threads held them;
//! - mimalloc that purges freed pages at once ([`configure`]) follows the live sessions.
//!
//! This is the workspace's only `unsafe` code: the allocator's forwarding (which also
//! counts [`heap_bytes`]) and one call into mimalloc's C API, made before any other thread
//! exists.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The allocator: mimalloc, counting the bytes it holds for the program
/// ([`heap_bytes`]). `#[global_allocator] static A: vigil_alloc::Allocator = vigil_alloc::ALLOCATOR;`
pub struct Allocator(mimalloc::MiMalloc);

/// The value for the binary's `#[global_allocator]`.
pub const ALLOCATOR: Allocator = Allocator(mimalloc::MiMalloc);

/// Bytes the program holds (requested sizes, not the allocator's pages).
static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes the program holds right now: what resident memory would be with no allocator
/// overhead. Beside the process's RSS it tells a leak (both grow) from memory the
/// allocator keeps (only RSS grows). Zero unless [`ALLOCATOR`] is the global allocator.
pub fn heap_bytes() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}

// SAFETY: every method forwards to mimalloc's own `GlobalAlloc` with the caller's arguments
// unchanged, so mimalloc's guarantees are the caller's; the counter is a side effect that
// cannot fail or allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            HEAP_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            HEAP_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is (see the impl).
        unsafe { self.0.dealloc(ptr, layout) };
        HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HEAP_BYTES.fetch_add(new_size, Ordering::Relaxed);
            HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Sets how the allocator returns memory. Call it first thing in `main`, before any thread
/// (the async runtime's included) starts. An error means transparent huge pages stay on
/// (the relay works, with more memory); log it once logging is set up.
pub fn configure() -> std::io::Result<()> {
    // SAFETY: `mi_option_set` writes one process-wide option value. It is called before any
    // other thread exists (the caller's contract), so nothing reads the value concurrently;
    // the option id is one of mimalloc's own constants and any `c_long` is a valid value.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
    small_pages_only()
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (its `mimalloc.h`); the Rust binding
/// does not name it. The test below checks that this id holds the purge delay's default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages go back to the system at once, not after mimalloc's default second: the
/// delayed purge runs only when the same thread allocates again, and a relay's threads go
/// quiet between bursts of sessions.
const PURGE_DELAY_MS: std::ffi::c_long = 0;

/// Turns transparent huge pages off for this process. Where the kernel's setting is
/// `always` (Debian's default), every 2 MiB-aligned stretch of heap the relay touches becomes
/// one resident 2 MiB page, so many small per-session buffers cost far more than they hold.
/// A relay moves small messages for many sessions and gains nothing from huge pages.
fn small_pages_only() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_thp_disable(true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id is the purge delay's: before `configure`, it holds mimalloc's default for it
    /// (1000 ms), which no neighbouring option has.
    #[test]
    #[allow(unsafe_code)]
    fn the_option_id_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one option value; no test in this crate writes it concurrently
        // (this is the only test).
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(before, 1000);
        configure().expect("configure");
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, PURGE_DELAY_MS);
    }
}
