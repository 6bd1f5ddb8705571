//! mode on a microcontroller: a service tree on the stock embassy executor.
//!
//! `Blinky` ticks every 100 ms and hands each tick to a task of its own over a channel;
//! the task stops the tree at the tenth. Then the firmware says how the tree ended and how
//! much heap it used, and exits QEMU with status 0 if the tree stopped cleanly.
#![no_std]
#![no_main]

mod time_driver; // QEMU's clock: on a board, its HAL's `time-driver-*` feature instead

use core::time::Duration;

use cortex_m_semihosting::{debug, hprintln};
use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::Instant;
use embedded_alloc::LlffHeap as Heap;
use mode::{BoxResult, Context, Service};
use panic_semihosting as _; // a panic prints its message and exits QEMU with status 1

#[global_allocator]
static HEAP: Heap = Heap::empty();

/// mode keeps its services, tasks and timers on the heap.
const HEAP_SIZE: usize = 4 * 1024;

/// The ticks, from the timer to the task that reports them.
static TICKS: Channel<CriticalSectionRawMutex, u32, 2> = Channel::new();

struct Blinky;

impl Service for Blinky {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let mut ticks = 0;
        cx.timer(Duration::from_millis(100), move |_me| {
            ticks += 1;
            let tick = ticks;
            async move {
                TICKS.send(tick).await;
                Ok(())
            }
        })?;
        cx.spawn_with(|me| async move {
            loop {
                let tick = TICKS.receive().await;
                hprintln!("tick {} at {} ms", tick, Instant::now().as_millis());
                if tick == 10 {
                    me.request_stop();
                }
            }
        })?;
        Ok(())
    }
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    // SAFETY: called once, before anything allocates.
    unsafe {
        embedded_alloc::init!(HEAP, HEAP_SIZE);
    }
    time_driver::start(cortex_m::Peripherals::take().unwrap().SYST);

    // The whole tree runs in this one task; at most 4 background tasks at once.
    let exit = mode::embassy::tree(Blinky).with_task_limit(4).run().await;

    hprintln!("{}; heap in use: {} B", exit, HEAP.used());
    debug::exit(if exit.is_clean() {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
}
