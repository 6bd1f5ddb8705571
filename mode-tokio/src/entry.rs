//! The entry point: the [`Worker`] on tokio, and [`run`] / [`run_until_signal`].

use std::future::Future;
use std::io;
use std::process::ExitCode;

use mode_core::{Exit, Service, Tree};
use mode_worker::{Signal, Signals, PREFIX as WORKER};

use crate::{tree, TokioTimer};

/// The [Worker](mode_worker::Worker) on a new multi-threaded tokio runtime.
///
/// ```no_run
/// use clap::Parser;
/// use mode::Service;
/// use mode::worker::WorkerArgs;
///
/// struct App;
/// impl Service for App {}
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     worker: WorkerArgs,
/// }
///
/// fn main() -> std::process::ExitCode {
///     let cli = Cli::parse();
///     mode::tokio::Worker::new(App).with_args(cli.worker).run()
/// }
/// ```
pub type Worker<S> = mode_worker::Worker<S, TokioRuntime>;

/// Runs `root` with the [`Worker`]'s defaults on a new multi-threaded tokio runtime until
/// it stops: logging at INFO to stderr (unless the program installed a logger), Ctrl-C or
/// SIGTERM stops it gracefully, a second signal exits at once (status 130). Returns the
/// process exit code (the [table of exit codes](mode_worker#exit-codes)).
///
/// ```no_run
/// use mode::Service;
///
/// struct App;
/// impl Service for App {}
///
/// fn main() -> std::process::ExitCode {
///     mode::tokio::run(App)
/// }
/// ```
pub fn run<S: Service>(root: S) -> ExitCode {
    Worker::new(root).run()
}

/// Runs `root` on the current tokio runtime until it stops, stopping it gracefully on the
/// first Ctrl-C or SIGTERM and exiting the process (status 130) on the second. It sets up
/// no logging (the program does, in its own `main`).
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
    let signals = TokioSignals::new();
    mode_worker::serve(tree(root), signals, TokioTimer::new(), None).await
}

/// A new multi-threaded tokio runtime, for the [`Worker`].
#[derive(Debug)]
pub struct TokioRuntime {
    runtime: tokio::runtime::Runtime,
}

impl mode_worker::Runtime for TokioRuntime {
    type Timer = TokioTimer;

    fn start() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(TokioRuntime { runtime })
    }

    fn tree<S: Service>(&self, root: S) -> Tree<TokioTimer> {
        let _inside = self.runtime.enter();
        tree(root)
    }

    fn timer(&self) -> TokioTimer {
        TokioTimer::new()
    }

    fn signals(&self) -> impl Signals {
        let _inside = self.runtime.enter();
        TokioSignals::new()
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn shutdown(self) {}
}

/// SIGINT, SIGTERM and SIGUSR1, registered when created (on other platforms, Ctrl-C from
/// the first wait on).
struct TokioSignals {
    #[cfg(unix)]
    unix: Option<[tokio::signal::unix::Signal; 3]>,
}

impl TokioSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let watched = [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::user_defined1(),
            ]
            .map(signal);
            let unix = match watched {
                [Ok(interrupt), Ok(terminate), Ok(dump)] => Some([interrupt, terminate, dump]),
                [Err(err), ..] | [_, Err(err), _] | [.., Err(err)] => {
                    log::warn!("{WORKER}: cannot watch signals ({err}); Ctrl-C only");
                    None
                }
            };
            TokioSignals { unix }
        }
        #[cfg(not(unix))]
        TokioSignals {}
    }
}

impl Signals for TokioSignals {
    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some([interrupt, terminate, dump]) = self.unix.as_mut() {
            tokio::select! {
                _ = interrupt.recv() => return Signal::Interrupt,
                _ = terminate.recv() => return Signal::Terminate,
                _ = dump.recv() => return Signal::Dump,
            }
        }
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handler could be installed: never stop on a signal.
            std::future::pending::<()>().await;
        }
        Signal::Interrupt
    }
}
