//! mode: services you start, stop, restart and supervise, with timers, signals and
//! flow-controlled queues, on tokio, smol or embassy.
//!
//! A program built with mode is a tree of [`Service`]s. Each service has async hooks that
//! mode calls in a fixed order ([`on_start`](Service::on_start),
//! [`on_stop`](Service::on_stop), ...), may own background tasks, timers and resources, and
//! may have children. mode starts the tree in order, stops it in reverse order, and makes
//! sure that nothing a service started outlives it.
//!
//! This crate is the one to depend on: it re-exports the runtime-independent core
//! ([`mode-core`](mode_core), at the root of this crate) and, behind a feature each, the
//! adapter for your executor. Everything about services, their lifecycle and the
//! primitives is documented on the items re-exported here.
//!
//! # Example
//!
//! A service with a child that ticks on a timer, run on the deterministic virtual-time
//! runtime of `mode::testing` (feature `test-util`), where a second passes at once:
//!
//! ```
//! use mode::testing::VirtualRuntime;
//! use mode::{BoxResult, Context, Dependencies, Service, StopReason, Tree};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! struct App {
//!     ticks: Arc<AtomicUsize>,
//! }
//!
//! struct Ticker {
//!     ticks: Arc<AtomicUsize>,
//! }
//!
//! impl Service for App {
//!     fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
//!         deps.add(Ticker { ticks: self.ticks.clone() });
//!     }
//!
//!     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
//!         // Run for one second, then stop the tree.
//!         let app = cx.handle().clone();
//!         cx.spawn(async move {
//!             app.sleep(Duration::from_secs(1)).await?;
//!             app.request_stop();
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! impl Service for Ticker {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         let ticks = self.ticks.clone();
//!         cx.timer(Duration::from_millis(300), move |_me| {
//!             ticks.fetch_add(1, Ordering::SeqCst);
//!             async { Ok(()) }
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let ticks = Arc::new(AtomicUsize::new(0));
//! let rt = VirtualRuntime::new();
//! let tree = Tree::new(App { ticks: ticks.clone() }, rt.clone(), rt.clone());
//! let exit = rt.block_on(tree.run()).unwrap();
//! assert!(matches!(exit.reason(), StopReason::Requested));
//! assert_eq!(ticks.load(Ordering::SeqCst), 3); // at 300, 600 and 900 ms
//! assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
//! ```
//!
//! # Lifecycle
//!
//! Start ([`Tree::run`], [`ServiceHandle::start`]):
//! 1. `on_first_start` (first start only; `on_restart` on later starts)
//! 2. log `[^-Service]: Starting...`
//! 3. `on_start`
//! 4. background tasks and timers added so far start, in the order added
//! 5. children start in declaration order, each fully started before the next
//! 6. log `Started`
//! 7. `on_started`
//!
//! Stop ([`ServiceHandle::stop`], a crash, the parent stopping):
//! 1. log `Stopping...`
//! 2. `on_stop` ([`ServiceHandle::stop_reason`] says why)
//! 3. children stop, in reverse order
//! 4. the service's tasks are cancelled
//! 5. log `Stopped`
//! 6. if [`Service::wait_for_shutdown`], wait for [`ServiceHandle::set_shutdown`]
//!    (within the stop timeout: if the wait times out, step 9 is skipped and the timeout
//!    is the stop reason)
//! 7. wait until every task is gone
//! 8. resources ([`Context::add_context`]) are released in reverse order
//! 9. `on_shutdown`
//! 10. log `Shutdown complete!`
//!
//! Every step of a stop is bounded by the service's stop timeout
//! ([`Service::stop_timeout`]): a stop never hangs.
//! Restart ([`ServiceHandle::restart`]) is a stop followed by a start (which calls
//! `on_restart`). Only the restarted service gets `on_restart`: the services below it stop
//! and start again with it, without `on_restart` or `on_first_start` (mode resets them; one
//! that never started gets `on_first_start`), and their restart counts grow.
//!
//! Rules that hold under faults:
//! - The stop hooks and lines belong to a run whose start began `on_start` (logged
//!   `Starting...`). A run stopped before that — during `on_first_start` or `on_restart` —
//!   stops without `on_stop` and `on_shutdown`, so a service that acquires in `on_start`
//!   and releases in `on_stop` releases once per acquisition.
//! - Requests are executed in order, and [`ServiceHandle::stop`] completes once its request
//!   ran. A stop requested before a restart starts the service again wins: the service
//!   stays stopped and the restart returns [`Error::RestartCancelled`].
//! - A failed `on_stop` or `on_shutdown`, a stop timeout, or a crash while the service
//!   stops (no supervisor handles it then) is logged and recorded as an unclean stop:
//!   [`Tree::run`] returns an [`Exit`] that names them, and the run is a failure
//!   ([`Exit::is_failure`]), whatever the root's reason. Stops that are part of a restart
//!   are logged but do not count.
//! - A crash that stops services without a supervisor handling it (the whole tree, or a
//!   forfeited child's subtree) leaves that crash readable through
//!   [`ServiceHandle::crash_reason`] on every service the stop stopped; their
//!   [`ServiceHandle::stop_reason`] says how each stopped (`ParentStopping` below the
//!   crashed one).
//! - Building, starting, stopping and dropping a tree use the driver's own lists, never
//!   recursion: its depth is bounded by memory, not by the stack.
//!
//! Each request (a stop, a start, a restart, a crash reaching its supervisor) runs as an
//! operation of its own inside [`Tree::run`], still on the thread that polls it, and
//! operations on disjoint subtrees run concurrently: a slow `on_stop` in one subtree
//! delays no start, stop, restart or crash handling elsewhere. Operations on the same
//! service are ordered (a stop of a parent waits for a restart of its child to finish,
//! then stops the child in its turn), so each service's lifecycle order is the one above.
//!
//! # Crashes and supervision
//!
//! A crash (an `Err` or, with `std`, a panic from a hook, a task or a timer, or
//! [`ServiceHandle::crash`]) marks the service crashed, logs `Crashed reason=...`, and goes
//! up the tree at once, without polling: every ancestor records it, up to the first
//! [`Supervisor`], which applies its [`Strategy`] to its child on that path:
//!
//! - one-for-one / one-for-all: log `Restarting dead Child! Last crash reason: ...`, then
//!   restart the child (or every child: stopped in reverse order, started in order), now or
//!   after the [`Backoff`] delay;
//! - forfeit one-for-one / forfeit one-for-all: stop the child (or every child) for good;
//! - crashing: crash the supervisor too, and go on above it.
//!
//! A supervisor restarts at most `max_restarts` times in any window of `over`; past that it
//! gives up and crashes with a [`SupervisorError`], which goes on up the tree. Without a
//! supervisor on the way, the crash stops the whole tree and is [`Tree::run`]'s reason. A
//! crash that reaches a supervisor while it stops restarts nothing. See the
//! [`supervisor`] module for failed starts, backoff and adding children while running.
//!
//! # Tasks and their handles
//!
//! A service's tasks ([`ServiceHandle::spawn`], [`Context::spawn_local`], timers) belong to
//! it: a stop cancels them and waits until they are gone. Each spawn returns a
//! [`TaskHandle`] to [`abort`](TaskHandle::abort) that one task, ask whether it
//! [has ended](TaskHandle::is_finished), or await how it ended (its value, with
//! [`ServiceHandle::spawn_returning`]); dropping the handle detaches the task. Tasks and
//! timers have names ([`ServiceHandle::spawn_named`], [`TimerOptions::with_name`]; by
//! default where their future or callback was written), shown in timer warnings and by
//! [`ServiceHandle::task_names`]. [`from_awaitable`] runs a future as a service.
//! A [`FlightRecorder`] keeps log lines while a body of code runs, and logs them only if
//! it runs longer than a timeout.
//!
//! # Send, and where things run
//!
//! Hooks run inside [`Tree::run`], so they need not be `Send`; background tasks spawned
//! with [`ServiceHandle::spawn`] run on the executor and must be `Send`. The others
//! ([`Context::spawn_local`], [`Context::timer_local`]) are polled by the tree itself, on
//! every executor, as is every task of a [single-task tree](Tree::single_task). Handles are
//! `Send + Sync` and work from any thread.
//!
//! # Running a tree
//!
//! Each adapter has the same entry points: `run(root)` blocks on the tree until it stops,
//! stops it gracefully on Ctrl-C or SIGTERM (a second signal exits with status 130), and
//! returns the process exit code; `run_until_signal(root)` does the same inside a `main`
//! that already runs the executor; `tree(root)` builds a [`Tree`] on the executor for
//! programs that drive it themselves; `exit_code(&exit)` maps the [`Exit`] a run ends with
//! to an exit code.
//!
//! | status | when |
//! |---|---|
//! | 0 | the tree stopped as asked and every service stopped cleanly |
//! | 1 | a crash stopped the tree, or a service did not stop cleanly (a failed `on_stop` or `on_shutdown`, a stop timeout, a crash while stopping: [`Exit::unclean_stops`]); the Worker's shutdown timeout expired |
//! | 2 | the command line was wrong (programs that parse one) |
//! | n | a service asked for it: a task returned [`SystemExit`]`(n)`, or called [`ServiceHandle::request_exit`]`(n)` ([`Exit::exit_status`]) |
//! | 130 | a second signal forced the exit before the graceful stop finished |
//!
//! With the `tokio` feature:
//!
//! ```no_run
//! use mode::Service;
//!
//! struct App;
//! impl Service for App {}
//!
//! fn main() -> std::process::ExitCode {
//!     mode::tokio::run(App)
//! }
//! ```
//!
//! With the `smol` feature, the same program; both features may be enabled together:
//!
//! ```no_run
//! use mode::Service;
//!
//! struct App;
//! impl Service for App {}
//!
//! fn main() -> std::process::ExitCode {
//!     mode::smol::run(App)
//! }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | panics in hooks and tasks become crashes |
//! | `worker` | no | `mode::worker`, the Worker ([`mode-worker`](https://docs.rs/mode-worker)): logging, command line, signals, exit codes; on with `tokio` or `smol` |
//! | `tokio` | no | `mode::tokio`, the tokio adapter ([`mode-tokio`](https://docs.rs/mode-tokio)) |
//! | `smol` | no | `mode::smol`, the smol adapter ([`mode-smol`](https://docs.rs/mode-smol)) |
//! | `embassy` | no | `mode::embassy`, the embassy adapter ([`mode-embassy`](https://docs.rs/mode-embassy)); no_std |
//! | `portable-atomic` | no | atomics from portable-atomic (implied on targets without atomic compare-and-swap, such as thumbv6m) |
//! | `defmt` | no | mode's lines through [defmt](https://defmt.ferrous-systems.com) as well as `log`, and `defmt::Format` for its types (on a firmware that brings defmt's global logger) |
//! | `test-util` | no | `mode::testing`, a deterministic virtual-time runtime |
//!
//! Features are additive. Without `std` the crate is `#![no_std]` (it needs `alloc`).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

#[cfg(doctest)]
mod doctests;

pub use mode_core::*;

/// The Worker: [`mode-worker`](https://docs.rs/mode-worker). It runs a tree from `main`
/// (`mode::tokio::Worker::new(App).run()`); [`WorkerArgs`](mode_worker::WorkerArgs) is its
/// command line, to flatten into a program's own `clap` parser.
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
#[doc(inline)]
pub use mode_worker as worker;

/// The tokio adapter: [`mode-tokio`](https://docs.rs/mode-tokio).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[doc(inline)]
pub use mode_tokio as tokio;

/// The smol adapter: [`mode-smol`](https://docs.rs/mode-smol).
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
#[doc(inline)]
pub use mode_smol as smol;

/// The embassy adapter: [`mode-embassy`](https://docs.rs/mode-embassy). A service tree
/// runs as one future inside an embassy task; see `docs/embedded.md`.
#[cfg(feature = "embassy")]
#[cfg_attr(docsrs, doc(cfg(feature = "embassy")))]
#[doc(inline)]
pub use mode_embassy as embassy;
