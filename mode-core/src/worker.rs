//! What every adapter's entry point shares: running a tree from `main` until a signal.
//!
//! An adapter supplies its executor and a [`SignalSource`] (how it learns of SIGINT and
//! SIGTERM); [`serve`] does the rest the same way everywhere: the Worker's log lines
//! (`[^Worker]: Starting...`, `Stopping on signal received...`), a graceful stop at the
//! first signal, an immediate exit (status 130) at the second, and the process exit code
//! from why the root stopped ([`exit_code`]).
//!
//! The full Worker (command line, log setup, blocking detection, tree dumps) builds on the
//! same pieces.

use std::process::ExitCode;

use crate::runtime::Timer;
use crate::util::{race, Either};
use crate::{ServiceHandle, StopReason, Tree};

/// The log prefix of the program that runs the tree, one level above the root service.
pub const PREFIX: &str = "[^Worker]";

/// The process exit status after a second signal: the conventional 128 + SIGINT.
pub const FORCED_EXIT_STATUS: i32 = 130;

/// Where an entry point learns that the process was asked to stop.
///
/// Create it (and register the signal handlers) before the tree starts, so that a signal
/// arriving while the tree starts stops the tree instead of killing the process.
#[allow(async_fn_in_trait)] // Awaited by `serve` on the thread that runs the tree.
pub trait SignalSource {
    /// Completes at the next stop signal; never, if none can be watched.
    async fn next(&mut self);
}

/// Runs `tree` until its root stops: the first signal from `signals` stops it gracefully,
/// the second exits the process at once with [`FORCED_EXIT_STATUS`]. Returns why the root
/// stopped.
///
/// Not `Send` (it runs the tree): await it on the thread that runs the tree's driver.
pub async fn serve<T: Timer>(tree: Tree<T>, mut signals: impl SignalSource) -> StopReason {
    log::info!("{PREFIX}: Starting...");
    let handle = tree.handle();
    let reason = match race(tree.run(), stop_on_signals(&mut signals, &handle)).await {
        Either::Left(reason) => reason,
        Either::Right(never) => match never {},
    };
    log::info!("{PREFIX}: Stopped ({reason})");
    reason
}

/// The process exit code for a tree that stopped for `reason`: success after a requested
/// stop, failure after a crash or a stop timeout.
///
/// ```
/// use mode_core::{worker::exit_code, StopReason};
/// use std::process::ExitCode;
///
/// assert_eq!(exit_code(&StopReason::Requested), ExitCode::SUCCESS);
/// ```
#[must_use]
pub fn exit_code(reason: &StopReason) -> ExitCode {
    if reason.is_failure() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn stop_on_signals(
    signals: &mut impl SignalSource,
    root: &ServiceHandle,
) -> core::convert::Infallible {
    signals.next().await;
    log::info!("{PREFIX}: Stopping on signal received...");
    root.request_stop();
    signals.next().await;
    log::warn!("{PREFIX}: Second signal received: exiting without a graceful stop");
    std::process::exit(FORCED_EXIT_STATUS)
}
