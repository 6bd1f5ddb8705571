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
//! use mode::testing::VirtualRuntime;
//! use mode::{BoxResult, Context, Dependencies, Service, Tree};
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
//! # The lifecycle, crashes, tasks
//!
//! The lifecycle's exact order, what a crash does and how supervisors handle it, what a
//! service's tasks are and where everything runs are described on the page of the
//! [`mode`](https://docs.rs/mode) crate, which re-exports this one and is the crate to
//! depend on.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | panics in hooks and tasks become crashes; awaiting a service's own stop from its hook is noticed; blocking detection (`blocking`: which hook or task each thread is polling, for a watchdog) |
//! | `test-util` | no | `testing::VirtualRuntime`, a deterministic virtual-time runtime |
//! | `critical-section` | no | without `std`: event-listener locks with critical sections instead of a spinlock (recommended on microcontrollers) |
//! | `portable-atomic` | no | atomics from portable-atomic; implied on targets without atomic compare-and-swap (thumbv6m, Cortex-M0/M0+), where `Arc` comes from portable-atomic-util and the final binary picks portable-atomic's backend (its `critical-section` feature) |
//! | `defmt` | no | lifecycle lines and `mode::info!`-style lines through [defmt](https://defmt.ferrous-systems.com) as well as `log`, and `defmt::Format` for the public types (the firmware brings defmt's global logger) |
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
#[cfg(feature = "defmt")]
mod defmt_format;
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
mod observers;
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
mod ticks;
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
pub use state::{Parked, State, StopReason, WaitingOn};
pub use supervisor::{
    Backoff, Strategy, Supervisor, SupervisorError, SupervisorErrorKind, SupervisorHandle,
};
pub use task::TaskHandle;
pub use ticks::Ticks;
pub use tree::Tree;

/// What the macros expand to. Semver exempt.
#[doc(hidden)]
pub mod __private {
    pub use log;
}
