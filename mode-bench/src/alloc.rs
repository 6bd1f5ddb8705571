//! A counting global allocator: live heap bytes and allocation counts, for "bytes per
//! service" figures that do not depend on the allocator's page reuse (unlike RSS).
//!
//! The counters are process-wide relaxed atomics, so they cost the floors and mode the same;
//! read them only at points where the work being measured is quiescent.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// The system allocator, counting.
pub(crate) struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters have no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` come from this allocator; `new_size` is the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        new
    }
}

/// A reading of the counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    live: isize,
    allocs: usize,
}

impl Snapshot {
    pub(crate) fn now() -> Self {
        Snapshot {
            live: LIVE.load(Ordering::Relaxed),
            allocs: ALLOCS.load(Ordering::Relaxed),
        }
    }

    /// Live bytes gained since `earlier`.
    pub(crate) fn live_since(self, earlier: Snapshot) -> isize {
        self.live - earlier.live
    }

    /// Allocations (and reallocations) made since `earlier`.
    pub(crate) fn allocs_since(self, earlier: Snapshot) -> usize {
        self.allocs - earlier.allocs
    }
}
