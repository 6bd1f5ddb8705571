//! An embassy executor that sleeps in WFI between polls.
//!
//! embassy-executor's `platform-cortex-m` executor idles with WFE, on which QEMU spins at
//! full speed. Waiting for an interrupt (WFI) instead lets `-icount …,sleep=off` jump
//! virtual time straight to the next SysTick, so a run that waits seconds of virtual time
//! takes milliseconds.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{raw, Spawner};

/// Set when a task was woken: the executor must poll before sleeping.
static PENDED: AtomicBool = AtomicBool::new(false);

#[export_name = "__pender"]
fn pender(_context: *mut ()) {
    PENDED.store(true, Ordering::Release);
}

/// Spawns the first tasks with `init`, then polls forever, sleeping when nothing is due.
pub fn run(init: impl FnOnce(Spawner)) -> ! {
    let executor: &'static raw::Executor =
        Box::leak(Box::new(raw::Executor::new(core::ptr::null_mut())));
    init(executor.spawner());
    loop {
        PENDED.store(false, Ordering::Release);
        // SAFETY: `poll` is only called from this loop, never re-entrantly.
        unsafe { executor.poll() };
        // With interrupts masked, a wake between the check and WFI still ends the WFI (a
        // pending interrupt does), and its handler runs once they are unmasked again.
        cortex_m::interrupt::disable();
        if !PENDED.load(Ordering::Acquire) {
            cortex_m::asm::wfi();
        }
        // SAFETY: this is the thread-mode idle loop; no critical section is open here.
        unsafe { cortex_m::interrupt::enable() };
    }
}
