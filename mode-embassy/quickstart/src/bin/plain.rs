//! The quickstart's work on embassy alone, for W7's size comparison: a task ticks every
//! 100 ms and hands each tick to the main task over a channel; the main task reports them
//! and exits QEMU after the tenth.
#![no_std]
#![no_main]

#[path = "../time_driver.rs"]
mod time_driver;

use cortex_m_semihosting::{debug, hprintln};
use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::{Duration, Instant, Ticker};
use panic_semihosting as _;

static TICKS: Channel<CriticalSectionRawMutex, u32, 2> = Channel::new();

#[embassy_executor::task]
async fn ticker() {
    let mut ticker = Ticker::every(Duration::from_millis(100));
    for tick in 1..=10 {
        ticker.next().await;
        TICKS.send(tick).await;
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    time_driver::start(cortex_m::Peripherals::take().unwrap().SYST);
    spawner.spawn(ticker().unwrap());
    loop {
        let tick = TICKS.receive().await;
        hprintln!("tick {} at {} ms", tick, Instant::now().as_millis());
        if tick == 10 {
            break;
        }
    }
    hprintln!("stopped");
    debug::exit(debug::EXIT_SUCCESS);
}
