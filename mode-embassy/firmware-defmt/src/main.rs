//! mode's lines through defmt: a tree (`App` with a child `Blinky` that logs three ticks
//! with `mode::info!`) whose lifecycle lines, service lines and final `Exit` go out as
//! defmt frames on semihosting's stdout. `scripts/embedded.sh` decodes them with
//! `defmt-print` and checks the lines.
#![no_std]
#![no_main]

#[path = "../../quickstart/src/time_driver.rs"]
mod time_driver;

use core::time::Duration;

use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use embassy_executor::Spawner;
use embedded_alloc::LlffHeap as Heap;
use mode::{BoxResult, Context, Dependencies, Service};

#[global_allocator]
static HEAP: Heap = Heap::empty();

struct App;

impl Service for App {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Blinky);
    }
}

struct Blinky;

impl Service for Blinky {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let mut ticks = 0;
        cx.timer(Duration::from_millis(100), move |me| {
            ticks += 1;
            let tick = ticks;
            async move {
                mode::info!(me, "tick {}", tick);
                if tick == 3 {
                    me.parent().expect("App").request_stop();
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    // SAFETY: called once, before anything allocates.
    unsafe {
        embedded_alloc::init!(HEAP, 4 * 1024);
    }
    time_driver::start(cortex_m::Peripherals::take().unwrap().SYST);
    let tree = mode::embassy::tree(App).with_task_limit(4);
    let root = tree.handle();
    let exit = tree.run().await;
    defmt::info!("exit: {}; root: {}", exit, root.state());
    debug::exit(if exit.is_clean() {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
