//! Owned background tasks: every future a service spawns finishes before its service has
//! stopped.
//!
//! Each start of a service opens a [`TaskRun`]. A task spawned through the service is
//! wrapped in an [`OwnedTask`] that counts itself in the run while it exists and finishes
//! as soon as the run is cancelled. Stopping cancels the run and waits until the count is
//! zero, so no task outlives its service and nothing depends on the executor's own
//! cancellation. A fresh run per start means a straggler from a previous run (one whose
//! stop timed out) can never be revived by a restart.
//!
//! The wrapper also turns a task's `Err` (or, with `std`, its panic) into a crash of its
//! service, and treats [`Stopped`](crate::Stopped) as a clean exit.

use crate::loom::plain::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::plain::Arc;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::{listener, Event, EventListener};

use crate::error::{is_clean_exit, Result};
use crate::loom::sync::Mutex;
use crate::node::{Node, SharedNode};
use crate::runtime::BoxFuture;

/// The tasks of one start of a service.
pub(crate) struct TaskRun {
    cancelled: AtomicBool,
    live: AtomicUsize,
    cancel_event: Event,
    done_event: Event,
    /// Tasks spawned before the start sequence reached its "start background tasks" step,
    /// spawned there in the order they were added. `None` once that step has passed.
    deferred: Mutex<Option<Vec<BoxFuture>>>,
}

impl core::fmt::Debug for TaskRun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskRun")
            .field("cancelled", &self.is_cancelled())
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

impl TaskRun {
    pub(crate) fn new() -> Self {
        TaskRun {
            cancelled: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            cancel_event: Event::new(),
            done_event: Event::new(),
            deferred: Mutex::new(Some(Vec::new())),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Tasks of this run that still exist.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Makes every task of this run finish at its next poll, and drops deferred ones.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let deferred = self.deferred.with(Option::take);
        drop(deferred);
        self.cancel_event.notify(usize::MAX);
    }

    /// Queues `task` if the run has not reached its task step yet; gives it back otherwise.
    pub(crate) fn defer(&self, task: BoxFuture) -> Option<BoxFuture> {
        self.deferred.with(|deferred| match deferred {
            Some(list) => {
                list.push(task);
                None
            }
            None => Some(task),
        })
    }

    /// Ends deferral and returns the queued tasks in the order they were added.
    pub(crate) fn take_deferred(&self) -> Vec<BoxFuture> {
        self.deferred.with(Option::take).unwrap_or_default()
    }

    /// Waits until every task of this run is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting.
    pub(crate) async fn wait_empty(&self) {
        loop {
            if self.live() == 0 {
                return;
            }
            listener!(self.done_event => listener);
            // Re-check after listening: a task that finished in between notified before
            // the listener existed, and its notification would otherwise be lost.
            if self.live() == 0 {
                return;
            }
            listener.await;
        }
    }
}

pin_project_lite::pin_project! {
    /// A service's future, counted in its [`TaskRun`] until dropped.
    pub(crate) struct OwnedTask<F> {
        #[pin]
        future: Option<F>,
        run: Arc<TaskRun>,
        node: Arc<Node>,
        cancel: Option<EventListener>,
    }

    impl<F> PinnedDrop for OwnedTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Drop the future before the count goes down, so its drop guards have run by
            // the time the stop sequence sees the run empty.
            this.future.set(None);
            if this.run.live.fetch_sub(1, Ordering::AcqRel) == 1 {
                this.run.done_event.notify(usize::MAX);
            }
        }
    }
}

impl<F> OwnedTask<F>
where
    F: Future<Output = Result>,
{
    pub(crate) fn new(future: F, run: Arc<TaskRun>, node: Arc<Node>) -> Self {
        run.live.fetch_add(1, Ordering::AcqRel);
        OwnedTask {
            future: Some(future),
            run,
            node,
            cancel: None,
        }
    }
}

impl<F> Future for OwnedTask<F>
where
    F: Future<Output = Result>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        loop {
            if this.run.is_cancelled() {
                this.future.set(None);
                return Poll::Ready(());
            }
            let Some(future) = this.future.as_mut().as_pin_mut() else {
                return Poll::Ready(());
            };
            if let Poll::Ready(result) = poll_catching_panic(future, cx) {
                this.future.set(None);
                if let Err(err) = result {
                    if !is_clean_exit(&err) {
                        this.node.crash_from_task(err);
                    }
                }
                return Poll::Ready(());
            }
            match this.cancel {
                None => {
                    *this.cancel = Some(this.run.cancel_event.listen());
                    // Loop to re-check the flag now that the listener exists.
                }
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => *this.cancel = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

/// Polls `future`, turning a panic into an error (with `std`).
pub(crate) fn poll_catching_panic<F>(future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Result>
where
    F: Future<Output = Result> + ?Sized,
{
    #[cfg(feature = "std")]
    {
        match std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| future.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(Box::new(crate::error::Panicked::from_payload(
                &*payload,
            )) as crate::error::BoxError)),
        }
    }
    #[cfg(not(feature = "std"))]
    {
        future.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// A hook's future with panics turned into errors.
    pub(crate) struct CatchPanic<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchPanic<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchPanic { future }
    }
}

impl<F: Future<Output = Result>> Future for CatchPanic<F> {
    type Output = Result;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result> {
        poll_catching_panic(self.project().future, cx)
    }
}

/// Boxes a task for the spawner.
pub(crate) fn boxed<F>(task: OwnedTask<F>) -> BoxFuture
where
    F: Future<Output = Result> + Send + 'static,
{
    Box::pin(task)
}
