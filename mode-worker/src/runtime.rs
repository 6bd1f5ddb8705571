//! What the Worker needs of an executor: [`Runtime`], implemented by each std adapter
//! (`mode-tokio`, `mode-smol`), and the process's [`Signal`]s.

use std::fmt;
use std::future::Future;
use std::io;

use mode_core::runtime::Timer;
use mode_core::{Service, Tree};

/// An executor the Worker runs a tree on, from `main`: started by the Worker, blocked on
/// by the calling thread (which runs the tree's driver) until the tree has stopped, then
/// shut down.
///
/// `mode-tokio` and `mode-smol` implement it; their `Worker` type is
/// [`Worker`](crate::Worker) with their runtime.
pub trait Runtime: Sized {
    /// The timer of the trees it runs.
    type Timer: Timer + Clone;

    /// Starts the executor (its threads, if any).
    ///
    /// # Errors
    ///
    /// When the executor cannot start (no thread could be spawned, say).
    fn start() -> io::Result<Self>;

    /// A tree for `root` whose tasks run on this executor.
    fn tree<S: Service>(&self, root: S) -> Tree<Self::Timer>;

    /// The timer of the trees, for the Worker's own deadlines.
    fn timer(&self) -> Self::Timer;

    /// The process's signals, watched from now on (before the tree starts, so that a
    /// signal during the start stops the tree instead of killing the process).
    fn signals(&self) -> impl Signals;

    /// Runs `future` (the tree's driver: it need not be `Send`) on the calling thread until
    /// it completes, with the executor running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Stops the executor once the tree has stopped.
    fn shutdown(self);
}

/// A signal the Worker acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (Ctrl-C): stop gracefully; a second stop signal exits at once.
    Interrupt,
    /// SIGTERM: as SIGINT.
    Terminate,
    /// SIGUSR1: log a dump of the tree (mode's "cry").
    Dump,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Dump => "SIGUSR1",
        })
    }
}

/// Where the Worker learns of the process's [`Signal`]s.
#[allow(async_fn_in_trait)] // Awaited on the thread that runs the tree.
pub trait Signals {
    /// The next signal; never completes if none can be watched.
    async fn next(&mut self) -> Signal;
}
