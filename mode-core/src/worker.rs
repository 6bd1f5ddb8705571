//! What every adapter's entry point shares: running a tree from `main` until a signal.
//!
//! An adapter supplies its executor and a [`SignalSource`] (how it learns of SIGINT and
//! SIGTERM); [`serve`] does the rest the same way everywhere: the Worker's log lines
//! (`[^Worker]: Starting...`, `Stopping on signal received...`), a graceful stop at the
//! first signal, an immediate exit (status 130) at the second, and the process exit code
//! from how the run ended ([`exit_code`]).
//!
//! # Exit codes
//!
//! | status | when |
//! |---|---|
//! | 0 | the tree stopped as asked (a signal, [`ServiceHandle::stop`]) and every service stopped cleanly |
//! | 1 | a crash stopped the tree, or a service did not stop cleanly: a failed `on_stop` or `on_shutdown`, a stop timeout, a crash while stopping ([`Exit::is_failure`]); also a runtime that cannot start |
//! | 2 | the command line was wrong (programs that parse one, such as the example app) |
//! | 130 | a second signal forced the exit before the graceful stop finished |
//!
//! The full Worker (command line, log setup, blocking detection, tree dumps) builds on the
//! same pieces.

use std::process::ExitCode;

use crate::exit::{Exit, UncleanStop};
use crate::handle::ServiceHandle;
use crate::race::{race, Either};
use crate::runtime::Timer;
use crate::tree::Tree;

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
/// the second exits the process at once with [`FORCED_EXIT_STATUS`]. Returns how the run
/// ended.
///
/// The last line says why the tree stopped (`[^Worker]: Stopped (asked to stop)`); if
/// services did not stop cleanly, an error line before it names each one and what went
/// wrong.
///
/// Not `Send` (it runs the tree): await it on the thread that runs the tree's driver.
///
/// # Cancel safety
///
/// As [`Tree::run`]: dropping the future abandons the tree's stop sequence (its tasks are
/// cancelled, its stop hooks do not run).
pub async fn serve<T: Timer>(tree: Tree<T>, mut signals: impl SignalSource) -> Exit {
    log::info!("{PREFIX}: Starting...");
    let handle = tree.handle();
    let exit = match race(tree.run(), stop_on_signals(&mut signals, &handle)).await {
        Either::Left(exit) => exit,
        Either::Right(never) => match never {},
    };
    log_unclean_stops(exit.unclean_stops());
    log::info!("{PREFIX}: Stopped ({exit})");
    exit
}

/// One error line naming every service that did not stop cleanly, and why.
fn log_unclean_stops(unclean: &[UncleanStop]) {
    let Some((first, rest)) = unclean.split_first() else {
        return;
    };
    let mut line = std::format!("{PREFIX}: Did not stop cleanly: {first}");
    for unclean in rest {
        line.push_str(&std::format!("; {unclean}"));
    }
    log::error!("{line}");
}

/// The process exit code for a run that ended with `exit`: success after a requested stop
/// in which every service stopped cleanly, failure otherwise (see [the table](self#exit-codes)).
///
/// ```
/// use mode_core::testing::VirtualRuntime;
/// use mode_core::{worker::exit_code, Context, BoxResult, Service, Tree};
/// use std::process::ExitCode;
///
/// struct App;
///
/// impl Service for App {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         cx.handle().request_stop();
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// let exit = rt.block_on(Tree::new(App, rt.clone(), rt.clone()).run()).unwrap();
/// assert_eq!(exit_code(&exit), ExitCode::SUCCESS);
/// ```
#[must_use]
pub fn exit_code(exit: &Exit) -> ExitCode {
    if exit.is_failure() {
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
