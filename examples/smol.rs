//! Two root services on smol, run by smol's Worker; the program ends once both are done.
//!
//! - `Heartbeat` beats on a timer every 150 ms and stops itself after 4 beats.
//! - `Migrate` is a plain future made a service with [`mode::from_awaitable`]: it waits on
//!   `async-io` timers (smol's own, which run under any executor) to migrate three tables,
//!   and the service stops itself when the future returns.
//!
//! `mode::smol::Worker::new(a).add(b).run()` starts both roots in order on a smol executor
//! and, as neither is a daemon, exits once every root has stopped on its own, with status
//! 0. (`mode::smol::run(root)` is the same for a single root.)
//!
//! ```text
//! cargo run -p mode-examples --example smol
//! ```
//!
//! It exits with status 0 after about 600 ms. Expected output on stderr (the times, and
//! how the two roots' lines interleave, vary; `Migrate`'s own lines come from plain `log`
//! calls, so they have no service prefix):
//!
//! ```text
//! [2026-12-04 15:08:29,601: INFO]: [^Worker]: Starting...
//! [2026-12-04 15:08:29,601: INFO]: [^-Heartbeat]: Starting...
//! [2026-12-04 15:08:29,601: INFO]: [^-Heartbeat]: Started
//! [2026-12-04 15:08:29,601: INFO]: [^-Migrate]: Starting...
//! [2026-12-04 15:08:29,601: INFO]: [^-Migrate]: Started
//! [2026-12-04 15:08:29,601: INFO]: migrating table users
//! [2026-12-04 15:08:29,701: INFO]: migrating table orders
//! [2026-12-04 15:08:29,751: INFO]: [^-Heartbeat]: beat 1
//! [2026-12-04 15:08:29,802: INFO]: migrating table invoices
//! [2026-12-04 15:08:29,901: INFO]: [^-Heartbeat]: beat 2
//! [2026-12-04 15:08:29,902: INFO]: migrated 3 tables
//! [2026-12-04 15:08:29,902: INFO]: [^-Migrate]: Stopping...
//! [2026-12-04 15:08:29,902: INFO]: [^-Migrate]: Stopped
//! [2026-12-04 15:08:29,902: INFO]: [^-Migrate]: Shutdown complete!
//! [2026-12-04 15:08:30,052: INFO]: [^-Heartbeat]: beat 3
//! [2026-12-04 15:08:30,201: INFO]: [^-Heartbeat]: beat 4
//! [2026-12-04 15:08:30,201: INFO]: [^-Heartbeat]: 4 beats; stopping
//! [2026-12-04 15:08:30,201: INFO]: [^-Heartbeat]: Stopping...
//! [2026-12-04 15:08:30,202: INFO]: [^-Heartbeat]: Stopped
//! [2026-12-04 15:08:30,202: INFO]: [^-Heartbeat]: Shutdown complete!
//! [2026-12-04 15:08:30,202: INFO]: [^Worker]: Stopped (asked to stop)
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mode::{BoxResult, Context, Service};

/// Beats `beats` times, one every `every`, then stops itself.
#[derive(Debug)]
struct Heartbeat {
    every: Duration,
    beats: u32,
}

impl Service for Heartbeat {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let (beats, count) = (self.beats, Arc::new(AtomicU32::new(0)));
        cx.timer(self.every, move |me| {
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                mode::info!(me, "beat {n}");
                if n == beats {
                    mode::info!(me, "{beats} beats; stopping");
                    me.request_stop();
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// Migrates `tables`, 100 ms each, on `async-io` timers.
async fn migrate(tables: &[&str]) -> BoxResult {
    for table in tables {
        log::info!("migrating table {table}");
        async_io::Timer::after(Duration::from_millis(100)).await;
    }
    log::info!("migrated {} tables", tables.len());
    Ok(())
}

fn main() -> ExitCode {
    let heartbeat = Heartbeat {
        every: Duration::from_millis(150),
        beats: 4,
    };
    let migrate =
        mode::from_awaitable(migrate(&["users", "orders", "invoices"])).with_label("Migrate");
    mode::smol::Worker::new(heartbeat).add(migrate).run()
}
