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
//! | 1 | a crash stopped the tree, or a service did not stop cleanly (a failed `on_stop` or `on_shutdown`, a stop timeout, a crash while stopping: [`Exit::unclean_stops`]) |
//! | 2 | the command line was wrong (programs that parse one) |
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
//! | `portable-atomic` | no | for targets without atomic compare-and-swap (thumbv6m) |
//! | `test-util` | no | `mode::testing`, a deterministic virtual-time runtime |
//!
//! Features are additive. Without `std` the crate is `#![no_std]` (it needs `alloc`).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

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
