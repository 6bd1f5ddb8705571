//! The entry point: run a service tree on tokio until Ctrl-C (or SIGTERM), then stop it
//! gracefully.
//!
//! This is deliberately small; the full Worker (command line, logging setup, blocking
//! detection, tree dumps) builds on the same pieces.

use std::process::ExitCode;

use mode_core::worker::{self, SignalSource, PREFIX as WORKER};
use mode_core::{Exit, Service, Tree};

use crate::{TokioSpawner, TokioTimer};

/// A tree for `root` on the current tokio runtime: `Send` tasks go to the runtime, the
/// others run inside the tree's own future.
///
/// # Panics
///
/// Outside a tokio runtime (it captures the current runtime's handle).
pub fn tree<S: Service>(root: S) -> Tree<TokioTimer> {
    Tree::new(root, TokioSpawner::new(), TokioTimer::new())
}

/// Runs `root` on a new multi-threaded tokio runtime until it stops; Ctrl-C or SIGTERM
/// stops it gracefully, a second signal exits at once (status 130). Returns the process
/// exit code: success after a requested stop in which every service stopped cleanly,
/// failure after a crash or an unclean stop (the
/// [table of exit codes](mode_core::worker#exit-codes)).
///
/// ```no_run
/// use mode_core::Service;
///
/// struct App;
/// impl Service for App {}
///
/// fn main() -> std::process::ExitCode {
///     mode_tokio::run(App)
/// }
/// ```
pub fn run<S: Service>(root: S) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            log::error!("{WORKER}: cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let exit = runtime.block_on(run_until_signal(root));
    exit_code(&exit)
}

/// Runs `root` on the current tokio runtime until it stops, stopping it gracefully on the
/// first Ctrl-C or SIGTERM and exiting the process (status 130) on the second.
///
/// The tree runs on the calling task (its hooks need not be `Send`), so await this from
/// `main` (`#[tokio::main]`) or another task that may block briefly in hooks.
///
/// # Panics
///
/// Outside a tokio runtime.
///
/// # Cancel safety
///
/// As [`Tree::run`](mode_core::Tree::run): dropping the future abandons the stop sequence;
/// every task of the tree is cancelled, but hooks such as `on_stop` do not run.
pub async fn run_until_signal<S: Service>(root: S) -> Exit {
    // Listen before the tree starts, so that no signal in between kills the process.
    let signals = Signals::new();
    worker::serve(tree(root), signals).await
}

pub use mode_core::worker::exit_code;

/// SIGINT and SIGTERM, registered when created (on other platforms, Ctrl-C from the first
/// wait on).
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let unix = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
                (Err(err), _) | (_, Err(err)) => {
                    log::warn!("{WORKER}: cannot watch SIGINT/SIGTERM ({err}); Ctrl-C only");
                    None
                }
            };
            Signals { unix }
        }
        #[cfg(not(unix))]
        Signals {}
    }
}

impl SignalSource for Signals {
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = self.unix.as_mut() {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handler could be installed: never stop on a signal.
            core::future::pending::<()>().await;
        }
    }
}
