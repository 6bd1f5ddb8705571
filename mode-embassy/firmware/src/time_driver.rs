//! An embassy-time driver on the Cortex-M SysTick: one tick per millisecond.
//!
//! embassy-time has no generic SysTick driver (HALs bring their own), and no HAL covers
//! QEMU's mps2 boards, so this is one: SysTick counts milliseconds, and an
//! `embassy_time_queue_utils::Queue` keeps the wakers. A tick that reaches the earliest
//! deadline wakes what is due; waking pends the executor, which leaves WFI.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_semihosting::hprintln;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The core clock of mps2-an385/an386 in QEMU.
const SYSCLK_HZ: u32 = 25_000_000;

/// The firmware's time limit, in ticks: a run takes about 1 s of its own time, so a hang
/// (a future never woken, or a loop that never yields) fails at 10 s, which QEMU reaches
/// in well under a second of wall time, not at the script's timeout.
const DEADLINE: u64 = 10_000;

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    /// The tick at which `queue` next has something due (`u64::MAX`: nothing).
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.ticks.borrow(cs).get();
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

#[cortex_m_rt::exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs).get() + 1;
        DRIVER.ticks.borrow(cs).set(ticks);
        if ticks == DEADLINE {
            hprintln!(
                "deadline: the firmware did not finish within {} ms",
                DEADLINE
            );
            crate::semihosting::exit(2);
        }
        if ticks >= DRIVER.alarm.borrow(cs).get() {
            let next = DRIVER.queue.borrow_ref_mut(cs).next_expiration(ticks);
            DRIVER.alarm.borrow(cs).set(next);
        }
    });
}

/// Starts the millisecond tick.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / 1_000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}
