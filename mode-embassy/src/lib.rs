//! embassy adapter for mode: the same services, on a microcontroller.
//!
//! mode-core owns every piece of service logic (lifecycle order, cancellation,
//! supervision, timer deadlines) and asks an executor only to run futures and to wake it at
//! a deadline. On embassy:
//!
//! - [`EmbassyTimer`] is mode's clock and deadline sleep on embassy-time.
//! - A whole service tree runs as **one future** inside one embassy task: [`Tree::run`]
//!   drives every hook and every timer of the tree, and [`TaskSlots::run`] polls it
//!   together with the tree's background tasks, kept in a fixed number of slots.
//! - Optionally, `Send` background tasks become embassy tasks of a fixed [`TaskPool`],
//!   declared by the application with [`task_pool!`], through an [`EmbassySpawner`].
//!
//! Either way the number of tasks is fixed up front and a spawn beyond it returns
//! [`SpawnError::Full`](mode_core::runtime::SpawnError::Full), which crashes the service
//! that spawned (a supervisor may restart it).
//!
//! ```no_run
//! use embassy_executor::Spawner;
//! use mode_core::{Context, Dependencies, Result, Service};
//! use mode_core::time::Duration;
//! use mode_embassy::TaskSlots;
//!
//! struct App;
//! struct Blinky;
//!
//! impl Service for App {
//!     fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
//!         deps.add(Blinky);
//!     }
//! }
//!
//! impl Service for Blinky {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> Result {
//!         cx.timer(Duration::from_millis(500), || async {
//!             // toggle a LED, on a drift-free schedule
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! #[embassy_executor::task]
//! async fn run_app() {
//!     let slots = TaskSlots::new(8);
//!     let tree = slots.tree(App);
//!     let exit = slots.run(tree.run()).await;
//!     log::info!("tree stopped: {exit}");
//! }
//!
//! #[embassy_executor::main]
//! async fn main(spawner: Spawner) {
//!     spawner.spawn(run_app().unwrap());
//! }
//! ```
//!
//! With a task pool for `Send` tasks:
//!
//! ```no_run
//! # use mode_core::Service;
//! # struct App;
//! # impl Service for App {}
//! use mode_embassy::{EmbassySpawner, TaskSlots};
//!
//! mode_embassy::task_pool!(static POOL: 8);
//!
//! #[embassy_executor::task]
//! async fn run_app(spawner: embassy_executor::SendSpawner) {
//!     let slots = TaskSlots::new(4); // for `spawn_local` tasks only
//!     let tree = slots.tree_with_spawner(App, EmbassySpawner::new(spawner, &POOL));
//!     slots.run(tree.run()).await;
//! }
//!
//! #[embassy_executor::main]
//! async fn main(spawner: embassy_executor::Spawner) {
//!     spawner.spawn(run_app(spawner.make_send()).unwrap());
//! }
//! ```
//!
//! # Which to use
//!
//! | | [`TaskSlots`] only | plus a [`TaskPool`] |
//! |---|---|---|
//! | declared by | `TaskSlots::new(n)` at run time | [`task_pool!`] at compile time |
//! | runs | inside the tree's embassy task | one embassy task per background task |
//! | wake-up cost | each wake of the tree polls every slot | each task is woken alone |
//! | futures | `Send` or not | `Send` (others still go to the slots) |
//! | spawn from | anywhere (handles are `Send + Sync`) | anywhere |
//!
//! # Send
//!
//! Hooks run inside [`Tree::run`], so services need not be `Send`. Background tasks that
//! are not `Send` use [`Context::spawn_local`](mode_core::Context::spawn_local) and run in
//! the slots. mode's [`Spawner`](mode_core::runtime::Spawner) must be `Send + Sync`; see
//! the `slots` module source for why keeping futures that are not `Send` in the slots is
//! sound (they are created, polled and dropped only on the thread that runs the tree).
//!
//! # What the application provides
//!
//! This library enables no embassy-executor `platform-*` feature, no time driver and no
//! `tick-hz-*`: the final binary picks them, as well as the global allocator (for example
//! embedded-alloc) and the `critical-section` implementation (for example
//! `cortex-m/critical-section-single-core`).
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `portable-atomic` | no | for targets without atomic compare-and-swap (thumbv6m): `Arc` from portable-atomic-util, and mode-core's `portable-atomic` feature |
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

extern crate alloc;

mod pool;
mod slots;
mod timer;

pub use pool::{EmbassySpawner, TaskPool};
pub use slots::TaskSlots;
pub use timer::EmbassyTimer;

#[doc(no_inline)]
pub use mode_core::Tree;

/// `Arc` is `alloc`'s wherever the target has it (so the feature changes no type there),
/// portable-atomic-util's where `alloc::sync` does not exist (thumbv6m).
mod sync {
    #[cfg(any(not(feature = "portable-atomic"), target_has_atomic = "ptr"))]
    pub(crate) use alloc::sync::Arc;
    #[cfg(all(feature = "portable-atomic", not(target_has_atomic = "ptr")))]
    pub(crate) use portable_atomic_util::Arc;
}

/// What [`task_pool!`] expands to. Semver exempt.
#[doc(hidden)]
pub mod __private {
    pub use crate::pool::InUse;
    pub use embassy_executor;
    pub use mode_core::runtime::BoxFuture;
}
