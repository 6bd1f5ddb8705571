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

use cortex_m_semihosting::hprintln;
use embedded_alloc::LlffHeap as Heap;

#[global_allocator]
static HEAP: Heap = Heap::empty();

/// Heap for the whole program; the tree needs a few KiB.
const HEAP_SIZE: usize = 64 * 1024;

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
    hprintln!("{} passed, {} failed", checks.passed(), checks.failed());
    semihosting::exit(if checks.failed() == 0 { 0 } else { 1 });
}

/// Heap bytes in use now.
pub fn heap_used() -> usize {
    HEAP.used()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    semihosting::exit(101)
}
