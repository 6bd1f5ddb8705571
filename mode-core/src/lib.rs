//! mode-core: services you start, stop, restart and supervise, on any executor.
//!
//! A program built with mode is a tree of [`Service`]s. Each service has async hooks that
//! mode calls in a fixed order, may own background tasks, timers and resources, and may have
//! children. mode starts the tree in order, stops it in reverse order, and makes sure that
//! nothing a service started outlives it.
//!
//! This crate is the runtime-independent core: `#![no_std]` + `alloc`, no executor. Adapters
//! (`mode-tokio`, `mode-smol`, `mode-embassy`) implement two small traits,
//! [`runtime::Spawner`] and [`runtime::Timer`]; the `mode` crate re-exports everything with
//! the adapter of your choice.
//!
//! # Example
//!
//! ```
//! use mode_core::testing::VirtualRuntime;
//! use mode_core::{BoxResult, Context, Dependencies, Service, Tree};
//! use std::time::Duration;
//!
//! struct App;
//! struct Ticker;
//!
//! impl Service for App {
//!     fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
//!         deps.add(Ticker);
//!     }
//! }
//!
//! impl Service for Ticker {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         cx.timer(Duration::from_millis(100), |_me| async {
//!             // ... periodic work, on a drift-free schedule ...
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let rt = VirtualRuntime::new();
//! let tree = Tree::new(App, rt.clone(), rt.clone());
//! let app = tree.handle();
//! let exit = rt
//!     .block_on(async {
//!         let (exit, ()) = futures_lite::future::zip(tree.run(), async {
//!             app.wait_until_running().await.unwrap();
//!             app.stop().await;
//!         })
//!         .await;
//!         exit
//!     })
//!     .unwrap();
//! assert!(!exit.is_failure());
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
//! 7. wait until every task is gone
//! 8. resources ([`Context::add_context`]) are released in reverse order
//! 9. `on_shutdown`
//! 10. log `Shutdown complete!`
//!
//! Every step of a stop is bounded by the service's stop timeout
//! ([`Service::stop_timeout`]): a stop never hangs.
//! Restart ([`ServiceHandle::restart`]) is a stop followed by a start (which calls
//! `on_restart`).
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
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | panics in hooks and tasks become crashes; awaiting a service's own stop from its hook is noticed; blocking detection (`blocking`: which hook or task each thread is polling, for a watchdog) |
//! | `test-util` | no | `testing::VirtualRuntime`, a deterministic virtual-time runtime |
//! | `critical-section` | no | without `std`: event-listener locks with critical sections instead of a spinlock (recommended on microcontrollers) |
//! | `portable-atomic` | no | targets without atomic compare-and-swap (thumbv6m, Cortex-M0/M0+): atomics from portable-atomic, `Arc` from portable-atomic-util; the final binary picks portable-atomic's backend |
//! | `cron` | no | cron timers (`ServiceHandle::crontab`, mode's `Service.crontab`) in IANA time zones; implies `std` |
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod platform;

mod awaitable;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod blocking;
#[cfg(not(feature = "std"))]
mod blocking;
mod change_notify;
mod context;
#[cfg(feature = "cron")]
#[cfg_attr(docsrs, doc(cfg(feature = "cron")))]
pub mod cron;
mod engine;
mod error;
pub mod events;
mod exit;
mod flight_recorder;
pub mod graph;
pub mod handle;
mod interval;
mod lifecycle;
#[macro_use]
pub mod log_macros;
mod node;
mod notify;
mod own_hook;
mod periodic;
mod race;
pub mod runtime;
mod service;
mod state;
mod stop_signal;
pub mod supervisor;
pub mod sync;
pub mod task;
mod task_run;
mod task_set;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
pub mod time;
mod timer_queue;
mod tree;
pub mod utils;
#[cfg(feature = "cron")]
mod wall_clock;

pub use awaitable::{from_awaitable, AlreadyRan, Awaitable};
pub use context::{Context, Dependencies};
#[cfg(feature = "cron")]
pub use cron::{CronError, CronErrorKind, Crontab};
pub use error::{
    BoxError, BoxResult, Crash, Error, Panicked, Stopped, SystemExit, TaskError, WaitError,
};
pub use exit::{Exit, StopFailure, UncleanStop};
pub use flight_recorder::FlightRecorder;
pub use graph::Graph;
pub use handle::ServiceHandle;
pub use interval::{MissedTickBehavior, TimerOptions};
pub use service::{AsyncClose, Service};
pub use state::{State, StopReason, WaitingOn};
pub use supervisor::{
    Backoff, Strategy, Supervisor, SupervisorError, SupervisorErrorKind, SupervisorHandle,
};
pub use task::TaskHandle;
pub use tree::Tree;

/// What the macros expand to. Semver exempt.
#[doc(hidden)]
pub mod __private {
    pub use log;
}
