//! The Worker: runs a mode service tree from `main`, as Python mode's Worker does.
//!
//! ```no_run
//! use mode::Service;
//!
//! struct App;
//! impl Service for App {}
//!
//! fn main() -> std::process::ExitCode {
//!     // What `mode::tokio::run(App)` does.
//!     mode::tokio::Worker::new(App).run()
//! }
//! ```
//!
//! It sets up logging (mode's line format in local time, at INFO, to stderr, unless the
//! program installed a logger first; `RUST_LOG` filters), starts the runtime, runs the tree
//! until it stops, and turns how it ended into the process's exit status. SIGINT and
//! SIGTERM stop the tree gracefully (`[^Worker]: Stopping on SIGTERM...`), a second one
//! exits at once; SIGUSR1 logs a [`dump`](fn@dump) of the tree. With a blocking timeout, a watchdog
//! thread names a hook, task or timer that holds its thread without yielding
//! ([`Worker::with_blocking_timeout`]).
//!
//! A Worker may run several roots ([`Worker::add`]); the program ends once every root has
//! stopped on its own, unless it is a daemon ([`Worker::with_daemon`]), and
//! [`Worker::on_worker_shutdown`] runs a hook once the tree has stopped.
//!
//! The command line is [`WorkerArgs`] (`clap`), which a program flattens into its own
//! parser and hands to [`Worker::with_args`]: `--loglevel/-l`, `--logfile`,
//! `--log-format mode|json`, `--blocking-timeout`, `--shutdown-timeout`,
//! `--graph[=dot|mermaid]`.
//!
//! [`ServiceThread`] runs a service on a dedicated OS thread with an executor of its own
//! (for blocking clients and CPU-bound loops), and [`ThreadHandle::call_thread`] runs
//! closures there; see [`thread`].
//!
//! The Worker is generic over the executor ([`Runtime`]); `mode-tokio` and `mode-smol`
//! implement it and name the Worker for their runtime.
//!
//! # Exit codes
//!
//! | status | when |
//! |---|---|
//! | 0 | the tree stopped as asked (a signal, [`ServiceHandle::stop`](mode_core::ServiceHandle::stop)) and every service stopped cleanly; `--graph` printed the graph |
//! | 1 | a crash stopped the tree, or a service did not stop cleanly: a failed `on_stop` or `on_shutdown`, a stop timeout, a crash while stopping ([`Exit::is_failure`](mode_core::Exit::is_failure)); the shutdown timeout expired; the runtime or the log file could not be set up |
//! | 2 | the command line was wrong (`clap` prints why) |
//! | n | a service asked for it: a task returned [`SystemExit`](mode_core::SystemExit)`(n)` or called [`ServiceHandle::request_exit`](mode_core::ServiceHandle::request_exit)`(n)`; it wins over the rows above, once the tree has stopped |
//! | 130 | a second signal forced the exit before the graceful stop finished |

mod args;
mod dump;
mod logging;
mod roots;
mod runtime;
mod serve;
pub mod thread;
mod watchdog;
mod worker;

pub use args::{GraphFormat, WorkerArgs};
pub use dump::dump;
pub use logging::{parse_level, LogFormat, ParseLevelError};
pub use runtime::{Runtime, Signal, Signals};
pub use serve::{exit_code, serve, FORCED_EXIT_STATUS, PREFIX, SHUTDOWN_TIMEOUT_STATUS};
pub use thread::{
    ServiceThread, ThreadCallError, ThreadError, ThreadErrorKind, ThreadHandle, ThreadRuntime,
    DEFAULT_QUEUE_CAPACITY,
};
pub use worker::Worker;
