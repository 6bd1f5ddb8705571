//! smol adapter for mode: a [`Spawner`] on [`async_executor`], a [`Timer`] on [`async_io`],
//! and an entry point that runs a service tree until Ctrl-C.
//!
//! mode-core owns every piece of service logic (lifecycle order, cancellation, supervision,
//! timer deadlines); it only asks an executor to run futures and to wake it at a deadline.
//! This crate answers those two questions with smol's parts:
//!
//! - [`SmolSpawner`] runs `Send` futures on an [`Executor`] you run on one or more threads
//!   ([`SmolSpawner::new`]), on smol's global executor ([`SmolSpawner::global`]), or on a
//!   [`LocalExecutor`] for a single-threaded program ([`SmolSpawner::from_local`]).
//!   Futures that are not `Send` go to the `LocalExecutor` registered for the calling
//!   thread with a [`LocalScope`].
//! - [`SmolTimer`] reads [`std::time::Instant`] and sleeps with [`async_io::Timer::at`].
//!
//! and the entry point puts them together: [`run`] blocks on a service tree with an
//! executor on every core, stopping it on the first Ctrl-C or SIGTERM.
//!
//! ```
//! use mode_core::{Context, Dependencies, Result, Service};
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
//!     async fn on_start(&mut self, cx: &Context<'_>) -> Result {
//!         let ticks = self.ticks.clone();
//!         cx.timer(Duration::from_millis(5), move || {
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
//! let tree = mode_smol::tree(App { ticks: tx });
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
//! The tree's driver ([`Tree::run`](mode_core::Tree::run), which runs every hook) is not
//! `Send`: it runs on the thread that blocks on it. Background tasks go where the spawner
//! says:
//!
//! | setup | `Send` tasks | local tasks ([`spawn_local`](mode_core::Context::spawn_local)) |
//! |---|---|---|
//! | [`run`] | an [`Executor`] on one thread per core | a `LocalExecutor` on the calling thread |
//! | [`run_until_signal`], [`tree`] | smol's global executor | the `LocalExecutor` of [`run_until_signal`]; for [`tree`], the one registered with [`LocalScope`] |
//! | [`SmolSpawner::new`] | the [`Executor`] you run, on threads you start | the `LocalExecutor` registered with [`LocalScope`] |
//! | [`SmolSpawner::from_local`] | one `LocalExecutor`: everything on one thread | the same `LocalExecutor` |
//!
//! A single-threaded program, with no thread but the calling one:
//!
//! ```
//! use std::rc::Rc;
//! use std::sync::{Arc, Mutex};
//! use std::thread::{self, ThreadId};
//! use std::time::Duration;
//! use mode_core::{Context, Result, Service, Tree};
//! use mode_smol::{LocalScope, SmolSpawner, SmolTimer};
//! use smol::LocalExecutor;
//!
//! /// Stops the tree from a background task, noting the thread the task ran on.
//! struct App {
//!     ran_on: Arc<Mutex<Option<ThreadId>>>,
//! }
//!
//! impl Service for App {
//!     async fn on_started(&mut self, cx: &Context<'_>) -> Result {
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
//! let local = Rc::new(LocalExecutor::new());
//! let tree = Tree::new(
//!     App { ran_on: ran_on.clone() },
//!     SmolSpawner::from_local(&local),
//!     SmolTimer::new(),
//! );
//! let exit = async_io::block_on(LocalScope::within(&local, local.run(tree.run())));
//! assert!(!exit.is_failure());
//! assert_eq!(*ran_on.lock().unwrap(), Some(thread::current().id()));
//! ```
//!
//! [`Executor`]: async_executor::Executor
//! [`LocalExecutor`]: async_executor::LocalExecutor
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_executor::{Executor, LocalExecutor};
use mode_core::runtime::{BoxFuture, LocalBoxFuture, SpawnError, Spawner, Timer};
use mode_core::time::Instant;

mod entry;
pub use entry::{exit_code, run, run_until_signal, tree};

// ===== SmolSpawner =====

/// Runs mode's futures on smol executors.
///
/// [`spawn`](Spawner::spawn) detaches a task on the spawner's executor, from any thread:
///
/// - [`new`](SmolSpawner::new): an [`Executor`] that the program runs (`executor.run(..)`
///   on one or more threads) for its tasks to make progress;
/// - [`global`](SmolSpawner::global) (the [`Default`]): smol's global executor, which runs
///   on its own threads;
/// - [`from_local`](SmolSpawner::from_local): a [`LocalExecutor`], for a program that runs
///   everything on one thread.
///
/// mode tracks and cancels its own futures, so the `Task` handle is not kept.
///
/// [`spawn_local`](Spawner::spawn_local) detaches a task on the [`LocalExecutor`] that the
/// *calling* thread registered with [`LocalScope`], whichever spawner it is called on;
/// without one it returns [`SpawnError::LocalUnsupported`]. A `Send + Sync` spawner cannot
/// hold a `LocalExecutor` (it is neither), so the registration is per thread.
///
/// ```
/// use std::rc::Rc;
/// use mode_core::runtime::{SpawnError, Spawner};
/// use mode_smol::SmolSpawner;
///
/// let spawner = SmolSpawner::global();
/// let (tx, rx) = smol::channel::bounded(1);
/// spawner.spawn(Box::pin(async move { tx.send(42).await.unwrap() })).unwrap();
/// assert_eq!(smol::block_on(rx.recv()), Ok(42));
///
/// let not_send = Rc::new(());
/// let err = spawner.spawn_local(Box::pin(async move { drop(not_send) }));
/// assert_eq!(err, Err(SpawnError::LocalUnsupported));
/// ```
///
/// [`Executor`]: async_executor::Executor
/// [`LocalExecutor`]: async_executor::LocalExecutor
#[derive(Debug, Clone, Default)]
pub struct SmolSpawner {
    target: Target,
}

#[derive(Debug, Clone, Default)]
enum Target {
    #[default]
    Global,
    Executor(Arc<Executor<'static>>),
    /// The inbox of a `LocalExecutor`, emptied by a task running on it.
    Local(async_channel::Sender<BoxFuture>),
}

impl SmolSpawner {
    /// A spawner for `executor`; its tasks run while the program runs the executor.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode_core::runtime::Spawner;
    /// use mode_smol::SmolSpawner;
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
            target: Target::Executor(executor),
        }
    }

    /// A spawner for smol's global executor ([`smol::spawn`]), which runs on background
    /// threads (`SMOL_THREADS`, one by default) and never needs to be driven. The same as
    /// [`SmolSpawner::default`].
    #[must_use]
    pub fn global() -> Self {
        SmolSpawner {
            target: Target::Global,
        }
    }

    /// A spawner that runs `Send` futures on `executor` too: with it and a [`LocalScope`],
    /// a whole tree runs on the one thread that runs the executor.
    ///
    /// The spawner is `Send + Sync` like any other: a future spawned from another thread
    /// (through a [`ServiceHandle`](mode_core::ServiceHandle)) is queued and handed to the
    /// executor by a task running on it, as a current-thread runtime does. That task stays
    /// on the executor while the spawner or a clone of it exists, so
    /// [`is_empty`](LocalExecutor::is_empty) is false until then. Once the executor is
    /// dropped, `spawn` returns [`SpawnError::Shutdown`] and the futures still queued are
    /// dropped.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use mode_core::runtime::{SpawnError, Spawner};
    /// use mode_smol::SmolSpawner;
    /// use smol::LocalExecutor;
    ///
    /// let local = Rc::new(LocalExecutor::new());
    /// let spawner = SmolSpawner::from_local(&local);
    ///
    /// let from_a_thread = spawner.clone();
    /// let (tx, rx) = smol::channel::bounded(1);
    /// std::thread::spawn(move || {
    ///     from_a_thread
    ///         .spawn(Box::pin(async move { tx.send(std::thread::current().id()).await.unwrap() }))
    ///         .unwrap();
    /// })
    /// .join()
    /// .unwrap();
    /// let ran_on = smol::block_on(local.run(rx.recv())).unwrap();
    /// assert_eq!(ran_on, std::thread::current().id());
    ///
    /// drop(local);
    /// assert_eq!(spawner.spawn(Box::pin(async {})), Err(SpawnError::Shutdown));
    /// ```
    ///
    /// [`LocalExecutor`]: async_executor::LocalExecutor
    #[must_use]
    pub fn from_local(executor: &Rc<LocalExecutor<'static>>) -> Self {
        let (sender, receiver) = async_channel::unbounded::<BoxFuture>();
        // Weak: the task lives inside the executor, a strong reference would be a cycle.
        let weak = Rc::downgrade(executor);
        let inbox = Inbox(receiver);
        executor
            .spawn(async move {
                while let Ok(future) = inbox.0.recv().await {
                    match weak.upgrade() {
                        Some(executor) => executor.spawn(future).detach(),
                        None => break,
                    }
                }
            })
            .detach();
        SmolSpawner {
            target: Target::Local(sender),
        }
    }

    /// The [`Executor`] futures are spawned on, if the spawner was made with
    /// [`new`](SmolSpawner::new); `None` for smol's global executor and for a
    /// `LocalExecutor`.
    ///
    /// [`Executor`]: async_executor::Executor
    #[must_use]
    pub fn executor(&self) -> Option<&Arc<Executor<'static>>> {
        match &self.target {
            Target::Executor(executor) => Some(executor),
            Target::Global | Target::Local(_) => None,
        }
    }
}

/// The receiving end of a `from_local` spawner's queue: when the executor drops the task
/// that owns it, no more futures are accepted and the queued ones are dropped.
struct Inbox(async_channel::Receiver<BoxFuture>);

impl Drop for Inbox {
    fn drop(&mut self) {
        // Close first, so that nothing can be queued after the drain.
        self.0.close();
        while self.0.try_recv().is_ok() {}
    }
}

impl Spawner for SmolSpawner {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        match &self.target {
            Target::Global => smol::spawn(future).detach(),
            Target::Executor(executor) => executor.spawn(future).detach(),
            Target::Local(inbox) => {
                // Unbounded: the only error is a closed queue, i.e. the executor is gone.
                inbox
                    .try_send(future)
                    .map_err(|_closed| SpawnError::Shutdown)?;
            }
        }
        Ok(())
    }

    fn spawn_local(&self, future: LocalBoxFuture) -> Result<(), SpawnError> {
        let executor = LOCAL
            .try_with(|slot| slot.borrow().clone())
            .ok()
            .flatten()
            .ok_or(SpawnError::LocalUnsupported)?;
        executor.spawn(future).detach();
        Ok(())
    }
}

// ===== LocalScope =====

thread_local! {
    /// The `LocalExecutor` that `spawn_local` uses on this thread, set by `LocalScope`.
    static LOCAL: RefCell<Option<Rc<LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

/// Registers a [`LocalExecutor`] as this thread's target for
/// [`spawn_local`](Spawner::spawn_local), until the guard is dropped.
///
/// The guard keeps the executor alive; the program must still run it (`local.run(..)`) on
/// this thread for its tasks to make progress. Scopes nest: dropping a guard restores the
/// executor registered before it, so guards must be dropped in the reverse order of
/// entering them, as they are when each lives in a block. In async code, where two futures
/// polled in turn on one thread could each hold a guard across an `.await`, use
/// [`LocalScope::within`] instead, which registers the executor only while its future is
/// being polled. The guard is neither `Send` nor `Sync`: it belongs to the thread that
/// entered it.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use mode_core::runtime::Spawner;
/// use mode_smol::{LocalScope, SmolSpawner};
/// use smol::LocalExecutor;
///
/// let local = Rc::new(LocalExecutor::new());
/// let spawner = SmolSpawner::global();
/// let ran = Rc::new(Cell::new(false));
///
/// {
///     let _scope = LocalScope::enter(&local);
///     let flag = Rc::clone(&ran);
///     spawner.spawn_local(Box::pin(async move { flag.set(true) })).unwrap();
/// }
/// assert!(spawner.spawn_local(Box::pin(async {})).is_err()); // scope left
///
/// while local.try_tick() {}
/// assert!(ran.get());
/// ```
///
/// [`LocalExecutor`]: async_executor::LocalExecutor
#[derive(Debug)]
#[must_use = "the executor is registered only while the guard is alive"]
pub struct LocalScope {
    previous: Option<Rc<LocalExecutor<'static>>>,
}

impl LocalScope {
    /// Registers `executor` for this thread and returns the guard that unregisters it.
    ///
    /// # Panics
    ///
    /// Panics if called while this thread's thread-local storage is being destroyed.
    pub fn enter(executor: &Rc<LocalExecutor<'static>>) -> LocalScope {
        let previous = LOCAL.with(|slot| slot.borrow_mut().replace(Rc::clone(executor)));
        LocalScope { previous }
    }

    /// Wraps `future` so that `executor` is this thread's target for
    /// [`spawn_local`](Spawner::spawn_local) whenever the future is being polled.
    ///
    /// Wrap the future that runs the executor (`local.run(..)`), and both the tree's driver
    /// and the local tasks can spawn local tasks, however the wrapped future is interleaved
    /// with others on the thread.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use mode_core::runtime::Spawner;
    /// use mode_smol::{LocalScope, SmolSpawner};
    /// use smol::LocalExecutor;
    ///
    /// let local = Rc::new(LocalExecutor::new());
    /// let spawner = SmolSpawner::global();
    /// let ran = Rc::new(Cell::new(false));
    /// let flag = Rc::clone(&ran);
    /// let spawned = async move {
    ///     spawner.spawn_local(Box::pin(async move { flag.set(true) })).unwrap();
    ///     smol::future::yield_now().await;
    /// };
    /// smol::block_on(LocalScope::within(&local, local.run(spawned)));
    /// assert!(ran.get());
    /// ```
    ///
    /// # Panics
    ///
    /// Polling the future panics if this thread's thread-local storage is being destroyed.
    pub fn within<F: Future>(executor: &Rc<LocalExecutor<'static>>, future: F) -> Within<F> {
        Within {
            executor: Rc::clone(executor),
            future,
        }
    }
}

impl Drop for LocalScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // During thread-local destruction there is nothing left to restore.
        let _ = LOCAL.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`LocalScope::within`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the wrapped future; the registration only lasts for each poll.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct Within<F> {
        executor: Rc<LocalExecutor<'static>>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _scope = LocalScope::enter(this.executor);
        this.future.poll(cx)
    }
}

impl<F> fmt::Debug for Within<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Within").finish_non_exhaustive()
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
/// use mode_core::runtime::Timer;
/// use mode_core::time::{Duration, Instant};
/// use mode_smol::SmolTimer;
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
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
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
    fn from_local_runs_everything_on_the_executor_thread() {
        let local = Rc::new(LocalExecutor::new());
        let spawner = SmolSpawner::from_local(&local);
        assert!(spawner.executor().is_none());
        let here = std::thread::current().id();
        let (tx, rx) = smol::channel::unbounded();
        // In order, from this thread and from two others.
        for i in 0..3 {
            let tx = tx.clone();
            spawner
                .spawn(Box::pin(async move {
                    tx.send((i, std::thread::current().id())).await.unwrap();
                }))
                .unwrap();
        }
        for i in 3..5 {
            let spawner = spawner.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                spawner
                    .spawn(Box::pin(async move {
                        tx.send((i, std::thread::current().id())).await.unwrap();
                    }))
                    .unwrap();
            })
            .join()
            .unwrap();
        }
        drop(tx);
        let received = smol::block_on(local.run(async {
            let mut all = Vec::new();
            while let Ok(entry) = rx.recv().await {
                all.push(entry);
            }
            all
        }));
        let expected: Vec<_> = (0..5).map(|i| (i, here)).collect();
        assert_eq!(received, expected);
    }

    #[test]
    fn from_local_leaves_the_executor_empty_once_the_spawners_are_gone() {
        let local = Rc::new(LocalExecutor::new());
        let spawner = SmolSpawner::from_local(&local);
        let clone = spawner.clone();
        drop(spawner);
        while local.try_tick() {}
        assert!(!local.is_empty(), "a clone still feeds the executor");
        drop(clone);
        while local.try_tick() {}
        assert!(local.is_empty());
    }

    #[test]
    fn from_local_refuses_and_drops_once_the_executor_is_gone() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        let dropped = Arc::new(AtomicUsize::new(0));
        let local = Rc::new(LocalExecutor::new());
        let spawner = SmolSpawner::from_local(&local);
        // Queued but never handed over: the executor is never run.
        let counted = Counted(dropped.clone());
        spawner
            .spawn(Box::pin(async move {
                let _counted = counted;
                core::future::pending::<()>().await;
            }))
            .unwrap();
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        drop(local);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "queued future dropped");

        let counted = Counted(dropped.clone());
        let refused = spawner.spawn(Box::pin(async move {
            let _counted = counted;
        }));
        assert_eq!(refused, Err(SpawnError::Shutdown));
        assert_eq!(dropped.load(Ordering::SeqCst), 2, "refused future dropped");
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

    #[test]
    fn spawn_local_runs_on_the_registered_executor() {
        let local = Rc::new(LocalExecutor::new());
        let _scope = LocalScope::enter(&local);
        let spawner = SmolSpawner::global();
        let ran = Rc::new(Cell::new(0));
        for _ in 0..3 {
            let ran = Rc::clone(&ran);
            spawner
                .spawn_local(Box::pin(async move { ran.set(ran.get() + 1) }))
                .unwrap();
        }
        let timer = SmolTimer::new();
        let sleep = timer.sleep_until(Instant::ZERO + Duration::from_millis(5));
        smol::block_on(local.run(sleep));
        assert_eq!(ran.get(), 3);
    }

    #[test]
    fn spawn_local_is_unsupported_without_a_scope() {
        let spawner = SmolSpawner::global();
        let not_send = Rc::new(());
        assert_eq!(
            spawner.spawn_local(Box::pin(async move { drop(not_send) })),
            Err(SpawnError::LocalUnsupported)
        );
        // A scope on another thread does not count for this one.
        let local = Rc::new(LocalExecutor::new());
        let _scope = LocalScope::enter(&local);
        let result = std::thread::spawn(move || spawner.spawn_local(Box::pin(async {})))
            .join()
            .unwrap();
        assert_eq!(result, Err(SpawnError::LocalUnsupported));
    }

    #[test]
    fn scopes_nest_and_restore() {
        let outer = Rc::new(LocalExecutor::new());
        let inner = Rc::new(LocalExecutor::new());
        let spawner = SmolSpawner::global();
        let _outer_scope = LocalScope::enter(&outer);
        {
            let _inner_scope = LocalScope::enter(&inner);
            spawner.spawn_local(Box::pin(async {})).unwrap();
            assert!(!inner.is_empty());
            assert!(outer.is_empty());
        }
        spawner.spawn_local(Box::pin(async {})).unwrap();
        assert!(!outer.is_empty());
        // The scope keeps its executor alive; the task is still queued.
        assert_eq!(Rc::strong_count(&outer), 2);
        while outer.try_tick() {}
        while inner.try_tick() {}
        assert!(outer.is_empty() && inner.is_empty());
    }

    /// Two futures polled in turn on one thread, each with its own executor, each spawn on
    /// their own: the registration follows the poll, not the order of creation.
    #[test]
    fn within_registers_only_while_polled() {
        let a = Rc::new(LocalExecutor::new());
        let b = Rc::new(LocalExecutor::new());
        let spawner = SmolSpawner::global();
        let spawn_twice = |spawner: SmolSpawner| async move {
            spawner.spawn_local(Box::pin(async {})).unwrap();
            smol::future::yield_now().await;
            spawner.spawn_local(Box::pin(async {})).unwrap();
        };
        let on_a = LocalScope::within(&a, spawn_twice(spawner.clone()));
        let on_b = LocalScope::within(&b, spawn_twice(spawner.clone()));
        smol::block_on(smol::future::zip(on_a, on_b));
        let count = |ex: &LocalExecutor<'static>| {
            let mut n = 0;
            while ex.try_tick() {
                n += 1;
            }
            n
        };
        assert_eq!((count(&a), count(&b)), (2, 2));
        // Outside any poll, nothing is registered.
        assert_eq!(
            spawner.spawn_local(Box::pin(async {})),
            Err(SpawnError::LocalUnsupported)
        );
    }
}
