//! embassy adapter for mode: the same services, on a microcontroller.
//!
//! mode-core owns every piece of service logic (lifecycle order, cancellation,
//! supervision, timer deadlines, the tasks that are not `Send`) and asks an executor only
//! to run `Send` futures and to wake it at a deadline. On embassy:
//!
//! - [`EmbassyTimer`] is mode's clock and deadline sleep on embassy-time.
//! - A whole service tree runs as **one future** inside one embassy task: [`tree`] makes a
//!   [single-task tree](mode_core::Tree::single_task), whose [`Tree::run`] drives every
//!   hook, every timer and every background task of the tree, each task woken on its own.
//! - Optionally, `Send` background tasks become embassy tasks of a fixed [`TaskPool`],
//!   declared by the application with [`task_pool!`], through an [`EmbassySpawner`]
//!   ([`tree_with_spawner`]).
//!
//! To bound the tasks a tree polls itself, give it a
//! [task limit](mode_core::Tree::with_task_limit); like a full pool, a spawn beyond it
//! returns [`SpawnError::Full`](mode_core::runtime::SpawnError::Full), which crashes the
//! service that spawned (a supervisor may restart it).
//!
//! ```no_run
//! use embassy_executor::Spawner;
//! use mode::{BoxResult, Context, Dependencies, Service};
//! use mode::time::Duration;
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
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         cx.timer(Duration::from_millis(500), |_me| async {
//!             // toggle a LED, on a drift-free schedule
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! #[embassy_executor::task]
//! async fn run_app() {
//!     let tree = mode::embassy::tree(App).with_task_limit(8);
//!     let exit = tree.run().await;
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
//! # use mode::Service;
//! # struct App;
//! # impl Service for App {}
//! use mode::embassy::EmbassySpawner;
//!
//! mode::embassy::task_pool!(static POOL: 8);
//!
//! #[embassy_executor::task]
//! async fn run_app(spawner: embassy_executor::SendSpawner) {
//!     let tree = mode::embassy::tree_with_spawner(App, EmbassySpawner::new(spawner, &POOL));
//!     tree.run().await;
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
//! | | [`tree`] | [`tree_with_spawner`] and a [`TaskPool`] |
//! |---|---|---|
//! | sized by | [`with_task_limit`](mode_core::Tree::with_task_limit) at run time (optional) | [`task_pool!`] at compile time |
//! | runs | inside the tree's embassy task | one embassy task per `Send` task |
//! | wake-up cost | a woken task is polled alone, inside the tree's task | each task is woken alone |
//! | futures | `Send` or not | `Send` (the others in the tree's task) |
//! | spawn from | anywhere (handles are `Send + Sync`) | anywhere |
//!
//! # Send
//!
//! Hooks run inside [`Tree::run`], so services need not be `Send`. Background tasks that
//! are not `Send` ([`Context::spawn_local`](mode_core::Context::spawn_local),
//! [`Context::timer_local`](mode_core::Context::timer_local)) are polled by the tree
//! itself: they are created, polled and dropped in the tree's task, and no `unsafe` is
//! needed for it.
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
//! | `defmt` | no | mode's lines (lifecycle, `mode::info!` and its siblings) through defmt as well as `log`, and `defmt::Format` for mode's types (mode-core's `defmt`) |
//! | `portable-atomic` | no | mode-core's `portable-atomic` (implied on targets without atomic compare-and-swap, such as thumbv6m) |
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

mod pool;
mod timer;

pub use pool::{EmbassySpawner, TaskPool};
pub use timer::EmbassyTimer;

use mode_core::runtime::Spawner;
use mode_core::Service;

#[doc(no_inline)]
pub use mode_core::Tree;

/// A tree on embassy-time that runs as one future: every background task, `Send` or not,
/// is polled inside [`Tree::run`] ([`Tree::single_task`]).
pub fn tree(root: impl Service) -> Tree<EmbassyTimer> {
    Tree::single_task(root, EmbassyTimer)
}

/// A tree on embassy-time whose `Send` background tasks go to `spawner` (for example an
/// [`EmbassySpawner`]); the others are polled inside [`Tree::run`].
pub fn tree_with_spawner(root: impl Service, spawner: impl Spawner) -> Tree<EmbassyTimer> {
    Tree::new(root, spawner, EmbassyTimer)
}

/// What [`task_pool!`] expands to. Semver exempt.
#[doc(hidden)]
pub mod __private {
    pub use crate::pool::InUse;
    pub use embassy_executor;
    pub use mode_core::runtime::BoxFuture;
}
