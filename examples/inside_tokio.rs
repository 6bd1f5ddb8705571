//! A service tree inside a program that already runs tokio and sets up its own logging.
//!
//! The program's `main` is `#[tokio::main]`: it installs its own logger (`env_logger`,
//! whose line format is not mode's), then runs the tree with
//! `mode::tokio::run_until_signal(root).await` next to its own work, in one
//! `tokio::join!`. The tree runs on the program's runtime and logs through the program's
//! logger; Ctrl-C or SIGTERM still stops it gracefully (its `[^Worker]` lines say so), and
//! `main` turns the [`Exit`](mode::Exit) it returns into the process's exit status with
//! `mode::tokio::exit_code`. (To drive a tree without watching signals, build it with
//! `mode::tokio::tree(root)` and await `tree.run()`.)
//!
//! The tree is one `Sampler` service with a timer that takes a reading every 200 ms and
//! sends it over a tokio channel to `main`; after 5 readings it stops itself, which ends
//! the tree. The channel closes when the tree drops the service, and `main`'s own loop ends
//! with it.
//!
//! ```text
//! cargo run -p mode-examples --example inside_tokio
//! RUST_LOG=debug cargo run -p mode-examples --example inside_tokio   # env_logger's filter
//! ```
//!
//! It exits with status 0 after about a second. Expected output on stderr (env_logger's
//! format; the order of `main`'s lines and the sampler's may vary):
//!
//! ```text
//! [INFO  inside_tokio] main: logger installed; running the tree
//! [INFO  mode] [^Worker]: Starting...
//! [INFO  mode] [^-Sampler]: Starting...
//! [INFO  mode] [^-Sampler]: Started
//! [INFO  inside_tokio] [^-Sampler]: reading 1: 10
//! [INFO  inside_tokio] main: received reading 1 = 10
//! ...
//! [INFO  inside_tokio] [^-Sampler]: reading 5: 50
//! [INFO  inside_tokio] [^-Sampler]: took 5 readings; stopping
//! [INFO  mode] [^-Sampler]: Stopping...
//! [INFO  mode] [^-Sampler]: Stopped
//! [INFO  mode] [^-Sampler]: Shutdown complete!
//! [INFO  mode] [^Worker]: Stopped (asked to stop)
//! [INFO  inside_tokio] main: received reading 5 = 50
//! [INFO  inside_tokio] main: the sampler closed its channel after 5 readings (sum 150)
//! [INFO  inside_tokio] main: the tree stopped (asked to stop); exiting
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mode::{BoxResult, Context, Service};
use tokio::sync::mpsc;

/// One reading: its number and its value.
#[derive(Debug, Clone, Copy)]
struct Reading {
    n: u32,
    value: u64,
}

/// Takes `count` readings, one every `every`, sends them to `main`, then stops itself.
#[derive(Debug)]
struct Sampler {
    readings: mpsc::Sender<Reading>,
    every: Duration,
    count: u32,
}

impl Service for Sampler {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let (readings, count) = (self.readings.clone(), self.count);
        let taken = Arc::new(AtomicU32::new(0));
        cx.timer(self.every, move |me| {
            let (readings, n) = (readings.clone(), taken.fetch_add(1, Ordering::Relaxed) + 1);
            async move {
                let reading = Reading {
                    n,
                    value: u64::from(n) * 10,
                };
                mode::info!(me, "reading {n}: {}", reading.value);
                // Waits while main's inbox is full; fails only once main has gone.
                readings.send(reading).await?;
                if n == count {
                    mode::info!(me, "took {count} readings; stopping");
                    me.request_stop();
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // The program's own setup, before any service runs: mode logs through the `log`
    // facade, so its lines go to this logger.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    log::info!("main: logger installed; running the tree");

    let (readings, mut inbox) = mpsc::channel(8);
    let sampler = Sampler {
        readings,
        every: Duration::from_millis(200),
        count: 5,
    };

    // The program's own work, next to the tree: here, a consumer of the readings.
    let program = async move {
        let (mut received, mut sum) = (0, 0);
        while let Some(reading) = inbox.recv().await {
            log::info!("main: received reading {} = {}", reading.n, reading.value);
            received += 1;
            sum += reading.value;
        }
        log::info!("main: the sampler closed its channel after {received} readings (sum {sum})");
    };

    let (exit, ()) = tokio::join!(mode::tokio::run_until_signal(sampler), program);
    log::info!("main: the tree stopped ({exit}); exiting");
    mode::tokio::exit_code(&exit)
}
