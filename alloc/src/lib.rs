//! The relay binary's memory allocator and how it gives memory back.
//!
//! A relay carries thousands of short sessions a day; what matters is that its resident
//! memory follows the sessions that are live, not the sum of all it has carried. Measured
//! with `bench-soak` (500 SSH sessions with churn for 20 minutes):
//! - glibc's allocator kept the pages freed by ended sessions in its per-thread arenas:
//!   232 MB remained after every session had ended, from 150 MB before;
//! - mimalloc with its defaults returned them only when the thread that freed them next
//!   allocated, a second later at the earliest, so idle worker threads held them;
//! - mimalloc that purges freed pages at once kept a resident set that rose 2.4–5 MB per
//!   10 minutes under a flat heap, and so did jemalloc with background purging: pages
//!   inside their live spans were touched little by little;
//! - glibc's allocator limited to two arenas ([`configure`]) and trimmed every 10 s
//!   ([`give_back`]) returns the free pages at the top and inside of its heaps.
//!
//! This is the workspace's only `unsafe` code: the allocator's forwarding (which also
//! counts [`heap_bytes`]) and two calls into glibc (`mallopt` before any other thread
//! exists, and `malloc_trim`).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The allocator: the system's (glibc's), counting the bytes it holds for the program
/// ([`heap_bytes`]). `#[global_allocator] static A: vigil_alloc::Allocator = vigil_alloc::ALLOCATOR;`
pub struct Allocator(std::alloc::System);

/// The value for the binary's `#[global_allocator]`.
pub const ALLOCATOR: Allocator = Allocator(std::alloc::System);

/// Bytes the program holds (requested sizes, not the allocator's pages).
static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes the program holds right now: what resident memory would be with no allocator
/// overhead. Beside the process's RSS it tells a leak (both grow) from memory the
/// allocator keeps (only RSS grows). Zero unless [`ALLOCATOR`] is the global allocator.
pub fn heap_bytes() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}

// SAFETY: every method forwards to the system allocator's `GlobalAlloc` with the caller's
// arguments unchanged, so its guarantees are the caller's; the counter is a side effect that
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
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` sets one of glibc's allocator parameters; it is called before any
    // other thread exists (the caller's contract), so no allocation runs concurrently, and
    // `M_ARENA_MAX` takes any positive count.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
    small_pages_only()
}

/// glibc gives each thread that meets contention an arena of its own (up to eight per core),
/// and memory freed into one arena is reused only by the threads that use it. Two arenas
/// keep the relay's few runtime threads sharing their free memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: std::ffi::c_int = 2;

/// Returns the allocator's free memory to the system: the top of every arena and the
/// whole free pages inside it (`malloc_trim`). It holds each arena's lock while it walks
/// it, for well under a millisecond on a relay of 500 sessions. The relay calls it every
/// [`GIVE_BACK_EVERY`].
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases memory the allocator holds free; it takes the
    // arenas' own locks and any pad is valid.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often the relay calls [`give_back`].
pub const GIVE_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

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

    /// Memory freed by the program goes back to the system after `give_back`: a heap grown
    /// by many small blocks and freed shrinks the resident set again.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn give_back_returns_freed_memory() {
        configure().expect("configure");
        let rss = || {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .expect("VmRSS")
        };
        let before = rss();
        // 64 MiB in 4 KiB blocks, each written so that its page is resident.
        let mut blocks: Vec<Vec<u8>> = (0..16_384).map(|_| vec![1u8; 4096]).collect();
        let full = rss();
        // Keep every 64th block: the rest leaves free pages inside the heap, not only at
        // its top.
        let mut i = 0;
        blocks.retain(|_| {
            i += 1;
            i % 64 == 0
        });
        give_back();
        let after = rss();
        assert!(
            full > before + 48 * 1024,
            "the blocks were not resident: {before} → {full} KiB"
        );
        assert!(
            after < before + 16 * 1024,
            "freed pages stayed resident: {before} → {full} → {after} KiB"
        );
        drop(blocks);
    }
}
