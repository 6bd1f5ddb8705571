//! tokio adapter for mode: a [`Spawner`] and a [`Timer`] on tokio.
//!
//! mode-core owns every piece of service logic (lifecycle order, cancellation, supervision,
//! timer deadlines); it only asks an executor to run futures and to wake it at a deadline.
//! This crate answers those two questions with tokio:
//!
//! - [`TokioSpawner`] runs `Send` futures on a runtime through its [`Handle`], from any
//!   thread. (Futures that are not `Send` never reach it: the tree polls them itself.)
//! - [`TokioTimer`] reads tokio's clock and sleeps with [`tokio::time::sleep_until`], so
//!   tokio's paused test time (`#[tokio::test(start_paused = true)]`,
//!   `tokio::time::advance`) drives mode's timers too.
//!
//! Both are small handles, cheap to clone and `Send + Sync`.
//!
//! ```
//! use mode::runtime::{Spawner, Timer};
//! use mode::time::{Duration, Instant};
//! use mode::tokio::{TokioSpawner, TokioTimer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let spawner = TokioSpawner::new();
//! let timer = TokioTimer::new();
//!
//! let (tx, rx) = tokio::sync::oneshot::channel();
//! let deadline = Instant::ZERO + Duration::from_secs(3);
//! let sleep = timer.sleep_until(deadline);
//! spawner
//!     .spawn(Box::pin(async move {
//!         sleep.await;
//!         tx.send("woke").unwrap();
//!     }))
//!     .unwrap();
//!
//! assert_eq!(rx.await.unwrap(), "woke");
//! assert_eq!(timer.now(), deadline); // paused time jumps straight to the deadline
//! # }
//! ```
//!
//! [`Handle`]: tokio::runtime::Handle
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

use mode_core::runtime::{BoxFuture, SpawnError, Spawner, Timer};
use mode_core::time::{Duration, Instant};
use tokio::runtime::Handle;

/// A tree for `root` on the current tokio runtime: `Send` tasks go to the runtime, the
/// others run inside the tree's own future.
///
/// # Panics
///
/// Outside a tokio runtime (it captures the current runtime's handle).
pub fn tree<S: mode_core::Service>(root: S) -> mode_core::Tree<TokioTimer> {
    mode_core::Tree::new(root, TokioSpawner::new(), TokioTimer::new())
}

#[cfg(feature = "worker")]
mod entry;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use entry::{run, run_until_signal, TokioRuntime, Worker};
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use mode_worker::exit_code;
#[cfg(feature = "worker")]
mod thread;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub use thread::{ServiceThread, TokioThreadRuntime};

// ===== TokioSpawner =====

/// Runs mode's futures on a tokio runtime.
///
/// [`spawn`](Spawner::spawn) hands `Send` futures to the runtime captured when the spawner
/// was made, so it works from any thread, inside the runtime or not. The task is detached:
/// mode tracks and cancels its own futures and never needs the `JoinHandle`. If the runtime
/// has shut down, tokio drops the future without running it.
///
/// ```
/// use mode::runtime::Spawner;
/// use mode::tokio::TokioSpawner;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let spawner = TokioSpawner::new();
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// spawner.spawn(Box::pin(async move { tx.send(42).unwrap() })).unwrap();
/// assert_eq!(rx.await.unwrap(), 42);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokioSpawner {
    handle: Handle,
}

impl TokioSpawner {
    /// A spawner for the runtime this is called from.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, as [`Handle::current`] does; use
    /// [`try_current`](TokioSpawner::try_current) or
    /// [`from_handle`](TokioSpawner::from_handle) there.
    #[must_use]
    #[track_caller]
    pub fn new() -> Self {
        TokioSpawner::from_handle(Handle::current())
    }

    /// A spawner for the runtime this is called from, or `None` outside a tokio runtime.
    ///
    /// ```
    /// use mode::tokio::TokioSpawner;
    ///
    /// assert!(TokioSpawner::try_current().is_none());
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert!(runtime.block_on(async { TokioSpawner::try_current() }).is_some());
    /// ```
    #[must_use]
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(TokioSpawner::from_handle)
    }

    /// A spawner for the runtime behind `handle`; it can be made and used anywhere.
    ///
    /// ```
    /// use mode::runtime::Spawner;
    /// use mode::tokio::TokioSpawner;
    ///
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let spawner = TokioSpawner::from_handle(runtime.handle().clone());
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// spawner.spawn(Box::pin(async move { tx.send(7).unwrap() })).unwrap();
    /// assert_eq!(rx.recv().unwrap(), 7);
    /// ```
    #[must_use]
    pub fn from_handle(handle: Handle) -> Self {
        TokioSpawner { handle }
    }

    /// The runtime handle futures are spawned on.
    #[must_use]
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Default for TokioSpawner {
    /// As [`TokioSpawner::new`]; panics outside a tokio runtime.
    #[track_caller]
    fn default() -> Self {
        TokioSpawner::new()
    }
}

impl Spawner for TokioSpawner {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        drop(self.handle.spawn(future));
        Ok(())
    }
}

// ===== TokioTimer =====

/// mode's clock and deadline sleeps on tokio's time driver.
///
/// [`now`](Timer::now) is the time elapsed on [`tokio::time::Instant`] since the timer was
/// made (its epoch), and [`sleep_until`](Timer::sleep_until) is
/// [`tokio::time::sleep_until`] at that epoch plus the deadline, with no allocation. Since
/// tokio's clock is used throughout, paused and advanced test time applies to mode's
/// timers. Instants of two `TokioTimer`s are not comparable; clones share the epoch.
///
/// Sleeping needs a runtime with the time driver enabled (`enable_time`); tokio panics when
/// the sleep is first polled without one.
///
/// ```
/// use mode::runtime::Timer;
/// use mode::time::{Duration, Instant};
/// use mode::tokio::TokioTimer;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let timer = TokioTimer::new();
/// assert_eq!(timer.now(), Instant::ZERO);
/// tokio::time::advance(std::time::Duration::from_millis(250)).await;
/// assert_eq!(timer.now(), Instant::ZERO + Duration::from_millis(250));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokioTimer {
    base: tokio::time::Instant,
}

impl TokioTimer {
    /// A timer whose epoch ([`Instant::ZERO`]) is now on tokio's clock.
    ///
    /// Works outside a runtime too; under paused time, make it inside the runtime so that
    /// the epoch is read from the paused clock.
    #[must_use]
    pub fn new() -> Self {
        TokioTimer {
            base: tokio::time::Instant::now(),
        }
    }

    /// The epoch of this timer's instants, on tokio's clock.
    #[must_use]
    pub fn epoch(&self) -> tokio::time::Instant {
        self.base
    }

    fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        // About 30 years, tokio's own "far future": a deadline past what the clock can
        // represent (such as `Instant::MAX`) means never.
        const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);
        self.base
            .checked_add(at.as_duration())
            .unwrap_or_else(|| self.base + FAR_FUTURE)
    }
}

impl Default for TokioTimer {
    fn default() -> Self {
        TokioTimer::new()
    }
}

impl Timer for TokioTimer {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        Instant::from_duration(self.base.elapsed())
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(self.to_tokio(deadline))
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;

    use super::*;
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::oneshot;

    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handles_are_send_sync() {
        assert_send_sync::<TokioSpawner>();
        assert_send_sync::<TokioTimer>();
    }

    #[tokio::test(start_paused = true)]
    async fn spawn_runs_the_future() {
        let spawner = TokioSpawner::new();
        let (tx, rx) = oneshot::channel();
        spawner
            .spawn(Box::pin(async move { tx.send(1).unwrap() }))
            .unwrap();
        assert_eq!(rx.await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawn_works_from_other_threads() {
        let spawner = TokioSpawner::new();
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let counted = Arc::clone(&count);
        std::thread::spawn(move || {
            let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
            for _ in 0..10 {
                let counted = Arc::clone(&counted);
                let tx = Arc::clone(&tx);
                spawner
                    .spawn(Box::pin(async move {
                        if counted.fetch_add(1, Ordering::SeqCst) == 9 {
                            tx.lock().unwrap().take().unwrap().send(()).unwrap();
                        }
                    }))
                    .unwrap();
            }
        })
        .join()
        .unwrap();
        rx.await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 10);
    }

    #[test]
    fn spawner_from_handle_works_outside_the_runtime() {
        assert!(TokioSpawner::try_current().is_none());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let spawner = TokioSpawner::from_handle(runtime.handle().clone());
        let (tx, rx) = std::sync::mpsc::channel();
        spawner
            .spawn(Box::pin(async move { tx.send(5).unwrap() }))
            .unwrap();
        assert_eq!(rx.recv().unwrap(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn timer_sleeps_exactly_to_deadlines() {
        let timer = TokioTimer::new();
        let start = tokio::time::Instant::now();
        assert_eq!(timer.now(), Instant::ZERO);

        for secs in [1, 5, 60, 3600] {
            let deadline = Instant::ZERO + Duration::from_secs(secs);
            timer.sleep_until(deadline).await;
            assert_eq!(timer.now(), deadline);
            assert_eq!(start.elapsed(), Duration::from_secs(secs));
        }

        // A deadline in the past completes at once, without moving the clock.
        let before = timer.now();
        timer.sleep_until(Instant::ZERO).await;
        assert_eq!(timer.now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn timer_clones_share_the_epoch_and_never_is_pending() {
        let timer = TokioTimer::new();
        tokio::time::advance(Duration::from_millis(1500)).await;
        let clone = timer.clone();
        assert_eq!(clone.now(), timer.now());
        assert_eq!(clone.epoch(), timer.epoch());
        assert_eq!(clone.now(), Instant::ZERO + Duration::from_millis(1500));

        let never = timer.sleep_until(Instant::MAX);
        let woke = tokio::time::timeout(Duration::from_secs(86_400 * 365), never).await;
        assert!(woke.is_err(), "Instant::MAX must not fire");
    }

    #[tokio::test(start_paused = true)]
    async fn spawned_sleeps_wake_in_deadline_order() {
        let spawner = TokioSpawner::new();
        let timer = TokioTimer::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for ms in [300u64, 100, 200] {
            let tx = tx.clone();
            let timer2 = timer.clone();
            let sleep = timer.sleep_until(Instant::ZERO + Duration::from_millis(ms));
            spawner
                .spawn(Box::pin(async move {
                    sleep.await;
                    tx.send((ms, timer2.now())).unwrap();
                }))
                .unwrap();
        }
        drop(tx);
        let mut woke = alloc::vec::Vec::new();
        while let Some(entry) = rx.recv().await {
            woke.push(entry);
        }
        let expected: alloc::vec::Vec<_> = [100, 200, 300]
            .into_iter()
            .map(|ms| (ms, Instant::ZERO + Duration::from_millis(ms)))
            .collect();
        assert_eq!(woke, expected);
    }
}
