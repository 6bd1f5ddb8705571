//! A mode service tree on a Cortex-M4 under QEMU (`mps2-an386`), with on-target checks.
//!
//! The tree ([`app`]) runs as one future in one embassy task, its background tasks polled
//! inside it ([`mode_embassy::tree`]). When it has stopped, the firmware checks what
//! happened, prints `N passed, N failed`, and exits QEMU with status 0 only if every check
//! passed (SYS_EXIT_EXTENDED; 101 on a panic).
//!
//! `cargo run --release` (from this directory) builds and runs it; QEMU's command line is
//! in `.cargo/config.toml`. Passing `-semihosting-config …,arg=inject-failure` makes one
//! deliberate check fail, to prove that a failure exits non-zero.
#![no_std]
#![no_main]

extern crate alloc;

mod app;
mod checks;
mod executor;
mod semihosting;
mod time_driver;

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use cortex_m_semihosting::hprintln;
use embedded_alloc::LlffHeap as Heap;

#[global_allocator]
static HEAP: PeakHeap = PeakHeap {
    heap: Heap::empty(),
    peak: AtomicUsize::new(0),
};

/// Heap for the whole program; the tree needs a few KiB.
const HEAP_SIZE: usize = 64 * 1024;

/// The heap, keeping its high-water mark: what sizing a heap for a tree needs.
struct PeakHeap {
    heap: Heap,
    peak: AtomicUsize,
}

impl PeakHeap {
    /// Gives the heap its memory (what `embedded_alloc::init!` calls).
    ///
    /// # Safety
    ///
    /// As [`Heap::init`]: once, before the first allocation, with memory used for
    /// nothing else.
    unsafe fn init(&self, start: usize, size: usize) {
        // SAFETY: the caller's guarantees are `Heap::init`'s.
        unsafe { self.heap.init(start, size) }
    }
}

// SAFETY: every call is forwarded to the heap with the caller's layout and pointer.
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are the heap's.
        let block = unsafe { self.heap.alloc(layout) };
        self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees are the heap's.
        unsafe { self.heap.dealloc(block, layout) }
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: called once, before the first allocation.
    unsafe {
        embedded_alloc::init!(HEAP, HEAP_SIZE);
    }
    let peripherals = cortex_m::Peripherals::take().expect("taken once");
    time_driver::start(peripherals.SYST);
    semihosting::init_logger();
    executor::run(|spawner| spawner.spawn(main_task().expect("one main task")))
}

#[embassy_executor::task]
async fn main_task() {
    let inject_failure = semihosting::command_line().contains("inject-failure");
    let mut checks = checks::Checks::new();
    app::run(&mut checks).await;
    if inject_failure {
        checks.check("deliberate failure (inject-failure)", false);
    }
    hprintln!(
        "heap high-water mark: {} of {} bytes",
        HEAP.peak.load(Ordering::Relaxed),
        HEAP_SIZE
    );
    hprintln!("{} passed, {} failed", checks.passed(), checks.failed());
    semihosting::exit(if checks.failed() == 0 { 0 } else { 1 });
}

/// Heap bytes in use now.
pub fn heap_used() -> usize {
    HEAP.heap.used()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    semihosting::exit(101)
}
