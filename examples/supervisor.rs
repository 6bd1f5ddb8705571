//! A supervisor restarting a flaky child, run by the Worker.
//!
//! The root is a one-for-one [`Supervisor`] with two children:
//!
//! - `Uplink` loses its connection 100 ms into its first and second runs (its task returns
//!   `Err`). Each crash reaches the supervisor at once, which restarts `Uplink` after an
//!   exponential backoff (100 ms, then 200 ms). The third run connects, sends three
//!   messages on a timer, and then stops the supervisor, which ends the program.
//! - `Metrics` ticks on a timer through it all: one-for-one restarts only the child that
//!   crashed, so `Metrics` runs undisturbed.
//!
//! At most 5 restarts within 10 s are allowed; a sixth crash in that window would make the
//! supervisor give up and the program exit with status 1.
//!
//! ```text
//! cargo run -p mode-examples --example supervisor
//! ```
//!
//! It exits with status 0 after about a second. Expected output on stderr (the times, and
//! how `Metrics` lines interleave with the others, vary):
//!
//! ```text
//! [2026-12-04 15:06:42,289: INFO]: [^Worker]: Starting...
//! [2026-12-04 15:06:42,290: INFO]: [^-Supervisor]: Starting...
//! [2026-12-04 15:06:42,290: INFO]: [^--Uplink]: Starting...
//! [2026-12-04 15:06:42,290: INFO]: [^--Uplink]: run 1: connecting
//! [2026-12-04 15:06:42,290: INFO]: [^--Uplink]: Started
//! [2026-12-04 15:06:42,290: INFO]: [^--Metrics]: Starting...
//! [2026-12-04 15:06:42,290: INFO]: [^--Metrics]: Started
//! [2026-12-04 15:06:42,290: INFO]: [^-Supervisor]: Started
//! [2026-12-04 15:06:42,392: ERROR]: [^--Uplink]: Crashed reason=connection lost on run 1
//! [2026-12-04 15:06:42,392: INFO]: [^-Supervisor]: Restarting dead Uplink in 100ms! Last crash reason: connection lost on run 1
//! [2026-12-04 15:06:42,392: INFO]: [^--Uplink]: Restarting...
//! [2026-12-04 15:06:42,392: INFO]: [^--Uplink]: Stopping...
//! [2026-12-04 15:06:42,392: INFO]: [^--Uplink]: Stopped
//! [2026-12-04 15:06:42,392: INFO]: [^--Uplink]: Shutdown complete!
//! [2026-12-04 15:06:42,494: INFO]: [^--Uplink]: Starting...
//! [2026-12-04 15:06:42,494: INFO]: [^--Uplink]: run 2: connecting
//! [2026-12-04 15:06:42,494: INFO]: [^--Uplink]: Started
//! [2026-12-04 15:06:42,541: INFO]: [^--Metrics]: tick 1 (Uplink restarts so far: 1)
//! [2026-12-04 15:06:42,596: ERROR]: [^--Uplink]: Crashed reason=connection lost on run 2
//! [2026-12-04 15:06:42,596: INFO]: [^-Supervisor]: Restarting dead Uplink in 200ms! Last crash reason: connection lost on run 2
//! ...
//! [2026-12-04 15:06:42,798: INFO]: [^--Uplink]: run 3: connected after 2 restarts
//! [2026-12-04 15:06:42,798: INFO]: [^--Uplink]: Started
//! [2026-12-04 15:06:42,949: INFO]: [^--Uplink]: sent message 1
//! [2026-12-04 15:06:43,041: INFO]: [^--Metrics]: tick 3 (Uplink restarts so far: 2)
//! [2026-12-04 15:06:43,099: INFO]: [^--Uplink]: sent message 2
//! [2026-12-04 15:06:43,252: INFO]: [^--Uplink]: sent message 3
//! [2026-12-04 15:06:43,252: INFO]: [^--Uplink]: all messages sent; stopping the supervisor
//! [2026-12-04 15:06:43,252: INFO]: [^-Supervisor]: Stopping...
//! [2026-12-04 15:06:43,252: INFO]: [^--Metrics]: Stopping...
//! ...
//! [2026-12-04 15:06:43,253: INFO]: [^-Supervisor]: Shutdown complete!
//! [2026-12-04 15:06:43,253: INFO]: [^Worker]: Stopped (asked to stop)
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mode::{Backoff, BoxResult, Context, Service, Strategy, Supervisor};

/// A connection that drops on its first two runs.
#[derive(Debug, Default)]
struct Uplink {
    /// How many times the service has started; kept across restarts.
    runs: u32,
}

impl Service for Uplink {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        self.runs += 1;
        let run = self.runs;
        if run <= 2 {
            mode::info!(cx, "run {run}: connecting");
            cx.spawn_with(move |me| async move {
                me.sleep(Duration::from_millis(100)).await?;
                Err(format!("connection lost on run {run}").into())
            })?;
            return Ok(());
        }
        mode::info!(
            cx,
            "run {run}: connected after {} restarts",
            cx.handle().restart_count()
        );
        let sent = Arc::new(AtomicU32::new(0));
        cx.timer(Duration::from_millis(150), move |me| {
            let n = sent.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                mode::info!(me, "sent message {n}");
                if n == 3 {
                    mode::info!(me, "all messages sent; stopping the supervisor");
                    // The supervisor is the root: once it has stopped, the Worker exits.
                    if let Some(supervisor) = me.parent() {
                        supervisor.request_stop();
                    }
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// A service that keeps ticking while its sibling crashes and restarts.
#[derive(Debug)]
struct Metrics;

impl Service for Metrics {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let ticks = Arc::new(AtomicU32::new(0));
        cx.timer(Duration::from_millis(250), move |me| {
            let n = ticks.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                mode::info!(
                    me,
                    "tick {n} (Uplink restarts so far: {})",
                    uplink_restarts(&me)
                );
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// How many times the `Uplink` sibling of `me` has been restarted.
fn uplink_restarts(me: &mode::ServiceHandle) -> u32 {
    me.parent()
        .into_iter()
        .flat_map(|supervisor| supervisor.children())
        .find(|child| child.label() == "Uplink")
        .map_or(0, |uplink| uplink.restart_count())
}

fn main() -> ExitCode {
    let supervisor = Supervisor::new(Strategy::OneForOne)
        .with_label("Supervisor")
        .with_max_restarts(5, Duration::from_secs(10))
        .with_backoff(Backoff::exponential(
            Duration::from_millis(100),
            Duration::from_secs(2),
        ))
        .with_child(Uplink::default())
        .with_child(Metrics);
    mode::tokio::Worker::new(supervisor).run()
}
