//! smol adapter for mode: a [`Spawner`] on [`async_executor`] and a [`Timer`] on
//! [`async_io`].
//!
//! mode-core owns every piece of service logic (lifecycle order, cancellation, supervision,
//! timer deadlines); it only asks an executor to run futures and to wake it at a deadline.
//! This crate answers those two questions with smol's parts:
//!
//! - [`SmolSpawner`] runs `Send` futures on an [`Executor`] you own and run
//!   ([`SmolSpawner::new`]), or on smol's global executor ([`SmolSpawner::global`]).
//!   Futures that are not `Send` go to the [`LocalExecutor`] registered on the calling
//!   thread with a [`LocalScope`].
//! - [`SmolTimer`] reads [`std::time::Instant`] and sleeps with [`async_io::Timer::at`].
//!
//! Both are small handles, cheap to clone and `Send + Sync`.
//!
//! ```
//! use std::sync::Arc;
//! use mode_core::runtime::{Spawner, Timer};
//! use mode_core::time::{Duration, Instant};
//! use mode_smol::{SmolSpawner, SmolTimer};
//! use smol::Executor;
//!
//! let executor = Arc::new(Executor::new());
//! let spawner = SmolSpawner::new(Arc::clone(&executor));
//! let timer = SmolTimer::new();
//!
//! let (tx, rx) = smol::channel::bounded(1);
//! let deadline = Instant::ZERO + Duration::from_millis(20);
//! let sleep = timer.sleep_until(deadline);
//! spawner
//!     .spawn(Box::pin(async move {
//!         sleep.await;
//!         tx.send("woke").await.unwrap();
//!     }))
//!     .unwrap();
//!
//! // Futures spawned on an executor you own run while you run it.
//! let message = smol::block_on(executor.run(rx.recv())).unwrap();
//! assert_eq!(message, "woke");
//! assert!(timer.now() >= deadline);
//! ```
//!
//! [`Executor`]: async_executor::Executor
//! [`LocalExecutor`]: async_executor::LocalExecutor
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use async_executor::{Executor, LocalExecutor};
use mode_core::runtime::{BoxFuture, LocalBoxFuture, SpawnError, Spawner, Timer};
use mode_core::time::Instant;

// ===== SmolSpawner =====

/// Runs mode's futures on smol executors.
///
/// [`spawn`](Spawner::spawn) detaches a task on the spawner's [`Executor`]: one given to
/// [`new`](SmolSpawner::new), which the program must be running (`executor.run(..)` on one
/// or more threads) for the task to make progress, or smol's global executor
/// ([`global`](SmolSpawner::global)), which runs on its own threads. mode tracks and cancels
/// its own futures, so the `Task` handle is not kept.
///
/// [`spawn_local`](Spawner::spawn_local) detaches a task on the [`LocalExecutor`] that the
/// *calling* thread registered with [`LocalScope::enter`], whichever spawner it is called
/// on; without one it returns [`SpawnError::LocalUnsupported`]. A `Send + Sync` spawner
/// cannot hold a `LocalExecutor` (it is neither), so the registration is per thread.
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
    /// `None` for smol's global executor.
    executor: Option<Arc<Executor<'static>>>,
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

    /// The executor futures are spawned on, or `None` for smol's global executor.
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
/// executor registered before it, so drop guards in the reverse order of entering them. The
/// guard is neither `Send` nor `Sync`: it belongs to the thread that entered it.
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
}

impl Drop for LocalScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // During thread-local destruction there is nothing left to restore.
        let _ = LOCAL.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

// ===== SmolTimer =====

/// mode's clock and deadline sleeps on [`std::time::Instant`] and [`async_io::Timer`].
///
/// [`now`](Timer::now) is the time elapsed since the timer was made (its epoch), and
/// [`sleep_until`](Timer::sleep_until) is an [`async_io::Timer::at`] the epoch plus the
/// deadline, driven by async-io's reactor (which `smol::block_on` and the global executor
/// run). A deadline past what the clock can represent (such as [`Instant::MAX`]) never
/// fires. Instants of two `SmolTimer`s are not comparable; clones share the epoch.
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
    use alloc::vec::Vec;
    use core::cell::Cell;
    use core::time::Duration;

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
}

// Entry point: added with the service engine
