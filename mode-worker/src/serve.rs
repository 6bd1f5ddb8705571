//! Running a tree until it stops: the Worker's log lines, signals, the shutdown timeout and
//! the process's exit status.

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use futures_lite::future::or;
use futures_lite::FutureExt as _;
use mode_core::events::LOG_TARGET;
use mode_core::runtime::Timer;
use mode_core::{Exit, ServiceHandle, State, Tree, UncleanStop};

use crate::dump;
use crate::runtime::{Signal, Signals};

/// The log prefix of the program that runs the tree, one level above the root service.
pub const PREFIX: &str = "[^Worker]";

/// The process exit status after a second stop signal: the conventional 128 + SIGINT.
pub const FORCED_EXIT_STATUS: i32 = 130;

/// The process exit status when the shutdown timeout expired.
pub const SHUTDOWN_TIMEOUT_STATUS: i32 = 1;

/// Longer than any program runs: the root's sleep that ends when the root is asked to stop.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Runs `tree` until its root stops. The first stop signal (SIGINT, SIGTERM) stops it
/// gracefully, a second one exits the process at once with [`FORCED_EXIT_STATUS`];
/// SIGUSR1 logs a [`dump`](fn@crate::dump) of the tree. Once the root is stopping (a signal,
/// a crash, a request), `shutdown_timeout` bounds the rest: when it expires, the services
/// still stopping are logged with what each waits on, and the process exits with
/// [`SHUTDOWN_TIMEOUT_STATUS`]. Returns how the run ended.
///
/// The Worker's lines: `[^Worker]: Starting...`, `[^Worker]: Stopping on SIGTERM...`, and
/// last `[^Worker]: Stopped (asked to stop)`; if services did not stop cleanly, an error
/// line before it names each one and what went wrong. `timer` is the tree's.
///
/// Not `Send` (it runs the tree): await it on the thread that runs the tree's driver.
///
/// # Cancel safety
///
/// As [`Tree::run`]: dropping the future abandons the tree's stop sequence (its tasks are
/// cancelled, its stop hooks do not run).
pub async fn serve<T: Timer>(
    tree: Tree<T>,
    mut signals: impl Signals,
    timer: T,
    shutdown_timeout: Option<Duration>,
) -> Exit {
    log::info!(target: LOG_TARGET, "{PREFIX}: Starting...");
    let root = tree.handle();
    let watch = watch(&mut signals, &root, &timer, shutdown_timeout);
    let exit = tree.run().or(async { match watch.await {} });
    let exit = exit.await;
    log_unclean_stops(exit.unclean_stops());
    log::info!(target: LOG_TARGET, "{PREFIX}: Stopped ({exit})");
    exit
}

/// Acts on signals while the tree runs, and on the shutdown timeout once it stops.
async fn watch<T: Timer>(
    signals: &mut impl Signals,
    root: &ServiceHandle,
    timer: &T,
    shutdown_timeout: Option<Duration>,
) -> Infallible {
    // Until the root is asked to stop: by a stop signal, or otherwise (a crash, a request).
    loop {
        let asked = async {
            let _ = root.sleep(FOREVER).await;
            None
        };
        match or(async { Some(signals.next().await) }, asked).await {
            Some(Signal::Dump) => log_dump(root),
            Some(signal) => {
                log::info!(target: LOG_TARGET, "{PREFIX}: Stopping on {signal}...");
                root.request_stop();
                break;
            }
            None => break,
        }
    }
    let deadline = shutdown_timeout.map(|timeout| (timeout, timer.now() + timeout));
    loop {
        let expired = async {
            match deadline {
                Some((timeout, at)) => {
                    timer.sleep_until(at).await;
                    timeout
                }
                None => std::future::pending::<Duration>().await,
            }
        };
        match or(async { Err(signals.next().await) }, async {
            Ok(expired.await)
        })
        .await
        {
            Err(Signal::Dump) => log_dump(root),
            Err(signal) => {
                log::warn!(
                    target: LOG_TARGET,
                    "{PREFIX}: Second signal received ({signal}): exiting without a graceful stop"
                );
                std::process::exit(FORCED_EXIT_STATUS);
            }
            Ok(timeout) => {
                log::error!(
                    target: LOG_TARGET,
                    "{PREFIX}: Shutdown did not finish within {timeout:?}; still stopping: {}",
                    still_stopping(root)
                );
                std::process::exit(SHUTDOWN_TIMEOUT_STATUS);
            }
        }
    }
}

/// Every service below `root` (included) that is still stopping, with what it waits on.
fn still_stopping(root: &ServiceHandle) -> String {
    let mut stopping = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(service) = stack.pop() {
        if service.state() == State::Stopping {
            match service.waiting_on() {
                Some(waiting_on) => {
                    stopping.push(format!("{} (waiting on {waiting_on})", service.label()));
                }
                None => stopping.push(service.label().to_owned()),
            }
        }
        stack.extend(service.children().into_iter().rev());
    }
    stopping.join(", ")
}

/// The tree's dump, one line per service.
fn log_dump(root: &ServiceHandle) {
    log::info!(target: LOG_TARGET, "{PREFIX}: Dump of the tree (SIGUSR1):");
    for line in dump::lines(root) {
        log::info!(target: LOG_TARGET, "{PREFIX}:   {line}");
    }
}

/// One error line naming every service that did not stop cleanly, and why.
fn log_unclean_stops(unclean: &[UncleanStop]) {
    let Some((first, rest)) = unclean.split_first() else {
        return;
    };
    let mut line = format!("{PREFIX}: Did not stop cleanly: {first}");
    for unclean in rest {
        line.push_str(&format!("; {unclean}"));
    }
    log::error!(target: LOG_TARGET, "{line}");
}

/// The process exit code for a run that ended with `exit`: the status a service asked for
/// ([`Exit::exit_status`]) if any, else success after a requested stop in which every
/// service stopped cleanly, failure otherwise (see [the table](crate#exit-codes)).
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{BoxResult, Context, Service, Tree};
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
/// assert_eq!(mode::worker::exit_code(&exit), ExitCode::SUCCESS);
/// ```
#[must_use]
pub fn exit_code(exit: &Exit) -> ExitCode {
    if let Some(status) = exit.exit_status() {
        ExitCode::from(status)
    } else if exit.is_failure() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
