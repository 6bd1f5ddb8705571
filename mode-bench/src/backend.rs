//! The executors mode runs on in the harness, and what the floors share.
//!
//! Each backend runs everything on the calling thread: mode's tree driver is not `Send`, so
//! it is the future the thread blocks on, with the background tasks on the same
//! single-threaded runtime, exactly where the hand-written floors run.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_executor::Executor;
use event_listener::{listener, Event};
use mode_core::runtime::Timer;
use mode_core::{Service, Tree};
use mode_smol::{SmolSpawner, SmolTimer};
use mode_tokio::TokioTimer;

/// An executor to run mode and the floors on.
pub(crate) trait Backend {
    /// mode's timer for this backend.
    type Timer: Timer;

    /// The name in reports.
    const NAME: &'static str;

    /// A tree for `root` on this backend. Call inside [`block_on`](Self::block_on).
    fn tree<S: Service>(&self, root: S) -> Tree<Self::Timer>;

    /// Runs `future` to completion on the calling thread, with the executor running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Sleeps on the backend's own timer.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// Lets the executor run other tasks.
    fn yield_now(&self) -> impl Future<Output = ()>;

    /// Spawns a `Send` task on the executor that runs mode's background tasks; the
    /// returned future joins it.
    fn spawn_join<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + 'static;
}

/// tokio's current-thread runtime; the tree's driver is the future it blocks on.
pub(crate) struct Tokio {
    runtime: tokio::runtime::Runtime,
}

impl Tokio {
    pub(crate) fn new() -> Self {
        Tokio {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
        }
    }
}

impl Backend for Tokio {
    type Timer = TokioTimer;
    const NAME: &'static str = "tokio";

    fn tree<S: Service>(&self, root: S) -> Tree<TokioTimer> {
        mode_tokio::tree(root)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }

    fn yield_now(&self) -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }

    fn spawn_join<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + 'static {
        let handle = tokio::spawn(future);
        async move { handle.await.expect("a benchmark task panicked") }
    }
}

/// smol: an `Executor` for `Send` tasks, run by `smol::block_on` (async-io's reactor) on
/// the calling thread together with the driver.
pub(crate) struct Smol {
    pub(crate) executor: Arc<Executor<'static>>,
}

impl Smol {
    pub(crate) fn new() -> Self {
        Smol {
            executor: Arc::new(Executor::new()),
        }
    }

    /// Spawns a floor task on the same executor as mode's background tasks.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> async_executor::Task<T> {
        self.executor.spawn(future)
    }
}

impl Backend for Smol {
    type Timer = SmolTimer;
    const NAME: &'static str = "smol";

    fn tree<S: Service>(&self, root: S) -> Tree<SmolTimer> {
        Tree::new(
            root,
            SmolSpawner::new(Arc::clone(&self.executor)),
            SmolTimer::new(),
        )
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(self.executor.run(future))
    }

    async fn sleep(&self, duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    fn yield_now(&self) -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }

    fn spawn_join<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + 'static {
        self.executor.spawn(future)
    }
}

/// A stop flag for smol floors: an `AtomicBool` and an `event-listener` `Event`, waited
/// on with a stack-allocated listener (the cheapest hand-written stop signal).
#[derive(Debug, Default)]
pub(crate) struct StopFlag {
    stopped: AtomicBool,
    event: Event,
}

impl StopFlag {
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) async fn wait(&self) {
        loop {
            if self.is_stopped() {
                return;
            }
            listener!(self.event => listener);
            if self.is_stopped() {
                return;
            }
            listener.await;
        }
    }
}

/// Counts tasks that have been polled at least once, so a phase can end when every task
/// is parked, not merely spawned.
#[derive(Debug, Default)]
pub(crate) struct Polled(AtomicUsize);

impl Polled {
    pub(crate) fn mark(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Yields to the executor until `n` tasks have been polled.
    pub(crate) async fn wait_for<B: Backend>(&self, backend: &B, n: usize) {
        while self.count() < n {
            backend.yield_now().await;
        }
    }
}
