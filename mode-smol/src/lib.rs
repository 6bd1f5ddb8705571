//! smol adapter for mode: a [`Spawner`] on [`async_executor`], a [`Timer`] on [`async_io`],
//! and an entry point that runs a service tree until Ctrl-C.
//!
//! mode-core owns every piece of service logic (lifecycle order, cancellation, supervision,
//! timer deadlines, the tasks that are not `Send`); it only asks an executor to run `Send`
//! futures and to wake it at a deadline. This crate answers those two questions with
//! smol's parts:
//!
//! - [`SmolSpawner`] runs `Send` futures on an [`Executor`] you run on one or more threads
//!   ([`SmolSpawner::new`]), or on smol's global executor ([`SmolSpawner::global`]).
//! - [`SmolTimer`] reads [`std::time::Instant`] and sleeps with [`async_io::Timer::at`].
//!
//! and the entry point puts them together: [`run`] blocks on a service tree with an
//! executor on every core, stopping it on the first Ctrl-C or SIGTERM.
//!
//! ```
//! use mode::{BoxResult, Context, Dependencies, Service};
//! use smol::channel::{unbounded, Sender};
//! use std::time::Duration;
//!
//! struct App {
//!     ticks: Sender<()>,
//! }
//! struct Ticker {
//!     ticks: Sender<()>,
//! }
//!
//! impl Service for App {
//!     fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
//!         deps.add(Ticker { ticks: self.ticks.clone() });
//!     }
//! }
//!
//! impl Service for Ticker {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         let ticks = self.ticks.clone();
//!         cx.timer(Duration::from_millis(5), move |_me| {
//!             let ticks = ticks.clone();
//!             async move {
//!                 let _ = ticks.send(()).await;
//!                 Ok(())
//!             }
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let (tx, rx) = unbounded();
//! let tree = mode::smol::tree(App { ticks: tx });
//! let app = tree.handle();
//! let exit = smol::block_on(async {
//!     let (exit, ()) = smol::future::zip(tree.run(), async {
//!         for _ in 0..3 {
//!             rx.recv().await.unwrap();
//!         }
//!         app.stop().await;
//!     })
//!     .await;
//!     exit
//! });
//! assert!(!exit.is_failure());
//! ```
//!
//! # Setups
//!
//! The tree's driver ([`Tree::run`](mode_core::Tree::run), which runs every hook and polls
//! the tasks that are not `Send`) runs on the thread that blocks on it. `Send` background
//! tasks go where the spawner says:
//!
//! | setup | `Send` tasks |
//! |---|---|
//! | [`run`] | an [`Executor`] on one thread per core |
//! | [`run_until_signal`], [`tree`] | smol's global executor |
//! | [`SmolSpawner::new`] | the [`Executor`] you run, on threads you start |
//! | [`Tree::single_task`](mode_core::Tree::single_task) | inside the tree's own future: everything on one thread |
//!
//! A single-threaded program, with no thread but the calling one:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::thread::{self, ThreadId};
//! use std::time::Duration;
//! use mode::{BoxResult, Context, Service, Tree};
//! use mode::smol::SmolTimer;
//!
//! /// Stops the tree from a background task, noting the thread the task ran on.
//! struct App {
//!     ran_on: Arc<Mutex<Option<ThreadId>>>,
//! }
//!
//! impl Service for App {
//!     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
//!         let (handle, ran_on) = (cx.handle().clone(), self.ran_on.clone());
//!         cx.spawn(async move {
//!             *ran_on.lock().unwrap() = Some(thread::current().id());
//!             let _ = handle.sleep(Duration::from_millis(5)).await;
//!             handle.request_stop();
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let ran_on = Arc::new(Mutex::new(None));
//! let tree = Tree::single_task(App { ran_on: ran_on.clone() }, SmolTimer::new());
//! let exit = async_io::block_on(tree.run());
//! assert!(!exit.is_failure());
//! assert_eq!(*ran_on.lock().unwrap(), Some(thread::current().id()));
//! ```
//!
//! [`Executor`]: async_executor::Executor
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_executor::Executor;
use mode_core::runtime::{BoxFuture, SpawnError, Spawner, Timer};
use mode_core::time::Instant;

/// A tree for `root` on smol: `Send` tasks go to smol's global executor, the others run
/// inside the tree's own future.
///
/// For another executor, build the tree with [`Tree::new`](mode_core::Tree::new) and a
/// [`SmolSpawner`].
pub fn tree<S: mode_core::Service>(root: S) -> mode_core::Tree<SmolTimer> {
    mode_core::Tree::new(root, SmolSpawner::global(), SmolTimer::new())
}

#[cfg(feature = "worker")]
mod entry;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use entry::{run, run_until_signal, SmolRuntime, Worker};
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use mode_worker::exit_code;
#[cfg(feature = "worker")]
mod thread;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use thread::{ServiceThread, SmolThreadRuntime};

// ===== SmolSpawner =====

/// Runs mode's `Send` futures on smol executors.
///
/// [`spawn`](Spawner::spawn) detaches a task on the spawner's executor, from any thread:
///
/// - [`new`](SmolSpawner::new): an [`Executor`] that the program runs (`executor.run(..)`
///   on one or more threads) for its tasks to make progress;
/// - [`global`](SmolSpawner::global) (the [`Default`]): smol's global executor, which runs
///   on its own threads.
///
/// mode tracks and cancels its own futures, so the `Task` handle is not kept. (For a
/// program that runs everything on one thread, use a
/// [single-task tree](mode_core::Tree::single_task) and no spawner.)
///
/// ```
/// use mode::runtime::Spawner;
/// use mode::smol::SmolSpawner;
///
/// let spawner = SmolSpawner::global();
/// let (tx, rx) = smol::channel::bounded(1);
/// spawner.spawn(Box::pin(async move { tx.send(42).await.unwrap() })).unwrap();
/// assert_eq!(smol::block_on(rx.recv()), Ok(42));
/// ```
///
/// [`Executor`]: async_executor::Executor
#[derive(Debug, Clone, Default)]
pub struct SmolSpawner {
    /// `None`: smol's global executor.
    executor: Option<Arc<Executor<'static>>>,
}

impl SmolSpawner {
    /// A spawner for `executor`; its tasks run while the program runs the executor.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::runtime::Spawner;
    /// use mode::smol::SmolSpawner;
    ///
    /// let executor = Arc::new(smol::Executor::new());
    /// let spawner = SmolSpawner::new(Arc::clone(&executor));
    /// let (tx, rx) = smol::channel::bounded(1);
    /// spawner.spawn(Box::pin(async move { tx.send(7).await.unwrap() })).unwrap();
    /// assert_eq!(smol::block_on(executor.run(rx.recv())), Ok(7));
    /// ```
    #[must_use]
    pub fn new(executor: Arc<Executor<'static>>) -> Self {
        SmolSpawner {
            executor: Some(executor),
        }
    }

    /// A spawner for smol's global executor ([`smol::spawn`]), which runs on background
    /// threads (`SMOL_THREADS`, one by default) and never needs to be driven. The same as
    /// [`SmolSpawner::default`].
    #[must_use]
    pub fn global() -> Self {
        SmolSpawner { executor: None }
    }

    /// The executor of a spawner made with [`new`](SmolSpawner::new).
    #[must_use]
    pub fn executor(&self) -> Option<&Arc<Executor<'static>>> {
        self.executor.as_ref()
    }
}

impl Spawner for SmolSpawner {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        match &self.executor {
            Some(executor) => executor.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
        Ok(())
    }
}

// ===== SmolTimer =====

/// mode's clock and deadline sleeps on [`std::time::Instant`] and [`async_io::Timer`].
///
/// [`now`](Timer::now) is the time elapsed since the timer was made (its epoch), and
/// [`sleep_until`](Timer::sleep_until) is an [`async_io::Timer::at`] the epoch plus the
/// deadline, with no allocation. async-io's reactor wakes it: the thread blocked in
/// [`async_io::block_on`] (which `smol::block_on` is) runs the reactor, or async-io's own
/// fallback thread when no thread is blocked there. A deadline past what the clock can
/// represent (such as [`Instant::MAX`]) never fires. Instants of two `SmolTimer`s are not
/// comparable; clones share the epoch.
///
/// ```
/// use mode::runtime::Timer;
/// use mode::time::{Duration, Instant};
/// use mode::smol::SmolTimer;
///
/// let timer = SmolTimer::new();
/// let deadline = Instant::ZERO + Duration::from_millis(10);
/// smol::block_on(timer.sleep_until(deadline));
/// assert!(timer.now() >= deadline);
/// ```
#[derive(Debug, Clone)]
pub struct SmolTimer {
    base: std::time::Instant,
}

impl SmolTimer {
    /// A timer whose epoch ([`Instant::ZERO`]) is now.
    #[must_use]
    pub fn new() -> Self {
        SmolTimer {
            base: std::time::Instant::now(),
        }
    }

    /// The epoch of this timer's instants, on the standard clock.
    #[must_use]
    pub fn epoch(&self) -> std::time::Instant {
        self.base
    }
}

impl Default for SmolTimer {
    fn default() -> Self {
        SmolTimer::new()
    }
}

impl Timer for SmolTimer {
    type Sleep = SmolSleep;

    fn now(&self) -> Instant {
        Instant::from_duration(self.base.elapsed())
    }

    fn sleep_until(&self, deadline: Instant) -> SmolSleep {
        let timer = self
            .base
            .checked_add(deadline.as_duration())
            .map_or_else(async_io::Timer::never, async_io::Timer::at);
        SmolSleep { timer }
    }
}

/// The future returned by [`SmolTimer::sleep_until`]: completes at the deadline.
///
/// # Cancel safety
///
/// Dropping it before it completes only forgets the deadline.
#[derive(Debug)]
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct SmolSleep {
    timer: async_io::Timer,
}

impl Future for SmolSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use std::vec::Vec;

    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handles_are_send_sync() {
        assert_send_sync::<SmolSpawner>();
        assert_send_sync::<SmolTimer>();
        fn assert_send<T: Send>() {}
        assert_send::<SmolSleep>();
    }

    #[test]
    fn spawn_runs_on_the_given_executor() {
        let executor = Arc::new(Executor::new());
        let spawner = SmolSpawner::new(Arc::clone(&executor));
        assert!(Arc::ptr_eq(spawner.executor().unwrap(), &executor));
        let (tx, rx) = smol::channel::unbounded();
        for i in 0..5 {
            let tx = tx.clone();
            spawner
                .spawn(Box::pin(async move { tx.send(i).await.unwrap() }))
                .unwrap();
        }
        drop(tx);
        assert!(!executor.is_empty());
        let received = smol::block_on(executor.run(async {
            let mut all = Vec::new();
            while let Ok(i) = rx.recv().await {
                all.push(i);
            }
            all
        }));
        assert_eq!(received, [0, 1, 2, 3, 4]);
        assert!(executor.is_empty());
    }

    #[test]
    fn spawn_works_from_other_threads() {
        let executor = Arc::new(Executor::new());
        let spawner = SmolSpawner::new(Arc::clone(&executor));
        let (tx, rx) = smol::channel::bounded(1);
        std::thread::spawn(move || {
            spawner
                .spawn(Box::pin(
                    async move { tx.send("from a thread").await.unwrap() },
                ))
                .unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(smol::block_on(executor.run(rx.recv())), Ok("from a thread"));
    }

    #[test]
    fn global_spawner_needs_no_driving() {
        let spawner = SmolSpawner::default();
        assert!(spawner.executor().is_none());
        let (tx, rx) = std::sync::mpsc::channel();
        spawner
            .spawn(Box::pin(async move { tx.send(3).unwrap() }))
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(3));
    }

    #[test]
    fn timer_sleeps_until_deadlines() {
        let timer = SmolTimer::new();
        assert!(timer.now() < Instant::ZERO + Duration::from_secs(1));
        for ms in [5, 20, 40] {
            let deadline = Instant::ZERO + Duration::from_millis(ms);
            smol::block_on(timer.sleep_until(deadline));
            assert!(timer.now() >= deadline);
            assert!(timer.epoch().elapsed() >= Duration::from_millis(ms));
        }
        let clone = timer.clone();
        assert_eq!(clone.epoch(), timer.epoch());
    }

    #[test]
    fn spawned_sleeps_wake_in_deadline_order() {
        let executor = Arc::new(Executor::new());
        let spawner = SmolSpawner::new(Arc::clone(&executor));
        let timer = SmolTimer::new();
        let (tx, rx) = smol::channel::unbounded();
        for ms in [60u64, 20, 40] {
            let tx = tx.clone();
            let sleep = timer.sleep_until(Instant::ZERO + Duration::from_millis(ms));
            spawner
                .spawn(Box::pin(async move {
                    sleep.await;
                    tx.send(ms).await.unwrap();
                }))
                .unwrap();
        }
        drop(tx);
        let order = smol::block_on(executor.run(async {
            let mut order = Vec::new();
            while let Ok(ms) = rx.recv().await {
                order.push(ms);
            }
            order
        }));
        assert_eq!(order, [20, 40, 60]);
    }

    #[test]
    fn max_deadline_never_fires() {
        let timer = SmolTimer::new();
        let never = timer.sleep_until(Instant::MAX);
        let soon = async {
            async_io::Timer::after(Duration::from_millis(20)).await;
            "timeout"
        };
        let winner = smol::block_on(smol::future::or(
            async {
                never.await;
                "never"
            },
            soon,
        ));
        assert_eq!(winner, "timeout");
    }
}
