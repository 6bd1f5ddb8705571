//! Owned background tasks: every future a service spawns finishes before its service has
//! stopped.
//!
//! A task spawned through a service is wrapped in an [`OwnedTask`] that counts itself in
//! its service's [`TaskRun`] while it exists and finishes as soon as the run is cancelled
//! (see `task_run.rs`). The wrapper also turns a task's `Err` (or, with `std`, its panic)
//! into a crash of its service, and treats [`Stopped`](crate::Stopped) as a clean exit.

use crate::platform::plain::Arc;
use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::{is_clean_exit, BoxResult};
use crate::node::{Node, SharedNode};
use crate::runtime::BoxFuture;
use crate::task_run::{TaskRun, WakerId};

pin_project_lite::pin_project! {
    /// A service's future, counted in its [`TaskRun`] until dropped.
    pub(crate) struct OwnedTask<F> {
        #[pin]
        future: Option<F>,
        // The task's run if it is not the node's own (`Node::tasks`).
        run: Option<Arc<TaskRun>>,
        node: Arc<Node>,
        // This task's waker slot in the run, once it has been pending.
        slot: Option<usize>,
        // The identity of the waker last stored in that slot, to skip the lock when it has
        // not changed (see `WakerId`).
        registered: Option<WakerId>,
    }

    impl<F> PinnedDrop for OwnedTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Drop the future before the count goes down, so its drop guards have run by
            // the time the stop sequence sees the run empty.
            this.future.set(None);
            run_of(this.run, this.node).leave(*this.slot);
        }
    }
}

impl<F> OwnedTask<F>
where
    F: Future<Output = BoxResult>,
{
    /// A task already counted in `run`, by [`TaskRun::enter`] or (once boxed) by
    /// [`TaskRun::admit`].
    pub(crate) fn counted(future: F, run: Option<Arc<TaskRun>>, node: Arc<Node>) -> Self {
        OwnedTask {
            future: Some(future),
            run,
            node,
            slot: None,
            registered: None,
        }
    }
}

impl<F> Future for OwnedTask<F>
where
    F: Future<Output = BoxResult>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let run = run_of(this.run, this.node);
        if run.is_cancelled() {
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
        if *this.registered != Some(WakerId::of(cx.waker())) {
            *this.registered = Some(run.register(this.slot, cx.waker()));
        }
        // Re-check after registering: a cancel that took the wakers before our registration
        // set the flag first, so it is visible here.
        if run.is_cancelled() {
            this.future.set(None);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// The run of a task: its own if it keeps one, else its node's.
fn run_of<'a>(run: &'a Option<Arc<TaskRun>>, node: &'a Node) -> &'a TaskRun {
    run.as_deref().unwrap_or(&node.run)
}

/// Polls `future`, turning a panic into an error (with `std`).
pub(crate) fn poll_catching_panic<F>(future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<BoxResult>
where
    F: Future<Output = BoxResult> + ?Sized,
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

impl<F: Future<Output = BoxResult>> Future for CatchPanic<F> {
    type Output = BoxResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BoxResult> {
        poll_catching_panic(self.project().future, cx)
    }
}

/// Boxes a task for the spawner.
pub(crate) fn boxed<F>(task: OwnedTask<F>) -> BoxFuture
where
    F: Future<Output = BoxResult> + Send + 'static,
{
    Box::pin(task)
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::task_run::Admission;
    use crate::testing::VirtualRuntime;
    use crate::{Service, Tree};

    struct Idle;

    impl Service for Idle {}

    fn node() -> Arc<Node> {
        let rt = VirtualRuntime::new();
        let tree = Tree::new(Idle, rt.clone(), rt);
        tree.handle().node().clone()
    }

    fn task(run: &Arc<TaskRun>, node: &Arc<Node>) -> BoxFuture {
        boxed(OwnedTask::counted(
            core::future::pending::<BoxResult>(),
            Some(run.clone()),
            node.clone(),
        ))
    }

    #[test]
    fn a_cancelled_run_admits_nothing_and_reopens_only_once_empty() {
        let node = node();
        let run = Arc::new(TaskRun::new());
        assert!(run.enter());
        let straggler = task(&run, &node);
        assert!(matches!(run.admit(task(&run, &node)), Admission::Deferred));
        assert_eq!(run.live(), 2);

        run.cancel();
        assert_eq!(run.live(), 1, "cancelling drops the deferred task");
        assert!(!run.enter());
        match run.admit(task(&run, &node)) {
            Admission::Refused(refused) => drop(refused),
            _ => panic!("a cancelled run admitted a task"),
        }
        assert_eq!(run.live(), 1, "a refused task leaves no count behind");
        assert!(!run.reopen(), "a task of the old start is still there");

        drop(straggler);
        assert_eq!(run.live(), 0);
        assert!(run.reopen());
        assert!(!run.is_cancelled());
        assert!(matches!(run.admit(task(&run, &node)), Admission::Deferred));
        assert_eq!(run.take_deferred().count(), 1);
        assert_eq!(run.live(), 0);
    }
}
