//! Owned background tasks and their [`TaskHandle`]s.
//!
//! Every future a service spawns ([`ServiceHandle::spawn`](crate::ServiceHandle::spawn),
//! [`Context::spawn_local`](crate::Context::spawn_local), its timers) finishes before its
//! service has stopped: it is wrapped in an `OwnedTask` that counts itself in its service's
//! task run while it exists and ends as soon as the run is cancelled (see `task_run.rs`).
//! The wrapper also turns a task's `Err` (or, with `std`, its panic) into a crash of its
//! service, treats [`Stopped`](crate::Stopped) as a clean exit, and hands the task's output
//! to its [`TaskHandle`].
//!
//! A handle awaits the output, aborts the one task, or tells whether it has ended. Dropping
//! it detaches the task, which its service still owns: a stop cancels it all the same.
//!
//! ```
//! use mode::testing::VirtualRuntime;
//! use mode::{BoxResult, Context, Service, TaskError, Tree};
//! use std::time::Duration;
//!
//! struct Fetcher;
//!
//! impl Service for Fetcher {
//!     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
//!         let me = cx.handle().clone();
//!         let answer = cx.handle().spawn_returning(async { Ok(6 * 7) })?;
//!         let stuck = cx.handle().spawn_named("stuck", async move {
//!             me.sleep(Duration::from_secs(3600)).await?;
//!             Ok(())
//!         })?;
//!         assert_eq!(answer.await?, 42);
//!         stuck.abort();
//!         assert_eq!(stuck.await, Err(TaskError::Aborted));
//!         cx.handle().request_stop();
//!         Ok(())
//!     }
//! }
//!
//! let rt = VirtualRuntime::new();
//! rt.block_on(Tree::new(Fetcher, rt.clone(), rt.clone()).run()).unwrap();
//! ```

use crate::platform::plain::Arc;
use alloc::boxed::Box;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::blocking::{self, HookSite};
use crate::error::{is_clean_exit, BoxResult, SystemExit, TaskError};
use crate::node::{Node, SharedNode};
use crate::runtime::BoxFuture;
use crate::task_run::{Outcome, TaskName, TaskRun, WakerId};

pin_project_lite::pin_project! {
    /// A service's future, counted in its [`TaskRun`] until dropped.
    pub(crate) struct OwnedTask<F> {
        #[pin]
        future: Option<F>,
        // The task's run if it is not the node's own (`Node::tasks`).
        run: Option<Arc<TaskRun>>,
        node: Arc<Node>,
        // This task's entry in the run.
        slot: usize,
        // The identity of the waker last stored in the entry, to skip the lock when it has
        // not changed (see `WakerId`).
        registered: Option<WakerId>,
        // The run's abort count when this task last looked at its own entry.
        aborts_seen: usize,
        // How the task ended, for its handle, once it has.
        outcome: Option<Outcome>,
    }

    impl<F> PinnedDrop for OwnedTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Drop the future before the count goes down, so its drop guards have run by
            // the time the stop sequence sees the run empty.
            drop_future(this.future.as_mut());
            run_of(this.run, this.node).leave(*this.slot, this.outcome.take());
        }
    }
}

impl<F, T> OwnedTask<F>
where
    F: Future<Output = BoxResult<T>>,
    T: Send + 'static,
{
    /// A task already counted in its run, in `slot` (see [`TaskRun::enter`] and
    /// [`TaskRun::admit`]).
    pub(crate) fn counted(
        future: F,
        run: Option<Arc<TaskRun>>,
        node: Arc<Node>,
        slot: usize,
    ) -> Self {
        let aborts_seen = run_of(&run, &node).aborts();
        OwnedTask {
            future: Some(future),
            run,
            node,
            slot,
            registered: None,
            aborts_seen,
            outcome: None,
        }
    }
}

impl<F, T> Future for OwnedTask<F>
where
    F: Future<Output = BoxResult<T>>,
    T: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let _probe = blocking::task(this.node, this.run, *this.slot);
        let run = run_of(this.run, this.node);
        if must_end(run, *this.slot, this.aborts_seen) {
            drop_future(this.future.as_mut());
            return Poll::Ready(());
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        if let Poll::Ready(result) = poll_catching_panic(future, cx) {
            drop_future(this.future.as_mut());
            *this.outcome = Some(match result {
                Ok(output) => Outcome::Output(Box::new(output)),
                Err(err) if is_clean_exit(&err) => Outcome::Ended(TaskError::Cancelled),
                Err(err) => match err.downcast_ref() {
                    Some(&SystemExit(status)) => {
                        this.node.request_exit(status);
                        Outcome::Ended(TaskError::Cancelled)
                    }
                    None => {
                        this.node.crash_from_task(err);
                        Outcome::Ended(TaskError::Failed)
                    }
                },
            });
            return Poll::Ready(());
        }
        if *this.registered != Some(WakerId::of(cx.waker())) {
            *this.registered = Some(run.register(*this.slot, cx.waker()));
        }
        // Re-check after registering: a cancel or abort that took the wakers before our
        // registration set its flag first, so it is visible here.
        if must_end(run, *this.slot, this.aborts_seen) {
            drop_future(this.future.as_mut());
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Drops the task's future. A function of its own: the `None` it writes is as large as
/// the future, and in a build without optimisations each write would keep a slot of that
/// size in the frame of [`OwnedTask::poll`], under which the future's own polls run.
fn drop_future<F>(mut future: Pin<&mut Option<F>>) {
    future.set(None);
}

/// A task counted in its run, with its slot: makes the task around its future, then its
/// handle.
pub(crate) struct Counted {
    node: Arc<Node>,
    run: Option<Arc<TaskRun>>,
    slot: usize,
}

impl Counted {
    /// A task counted by `run.enter` or `run.admit` (`run` as [`RunRef::for_task`]
    /// gives it) in `slot`.
    ///
    /// [`RunRef::for_task`]: crate::task_run::RunRef::for_task
    pub(crate) fn new(node: Arc<Node>, run: Option<Arc<TaskRun>>, slot: usize) -> Self {
        Counted { node, run, slot }
    }

    /// The task around `future`.
    pub(crate) fn task<F, T>(&self, future: F) -> OwnedTask<F>
    where
        F: Future<Output = BoxResult<T>>,
        T: Send + 'static,
    {
        OwnedTask::counted(future, self.run.clone(), self.node.clone(), self.slot)
    }

    /// The task around the future `make` returns.
    fn task_from<F, T>(&self, make: impl FnOnce() -> F) -> OwnedTask<F>
    where
        F: Future<Output = BoxResult<T>>,
        T: Send + 'static,
    {
        self.task(make())
    }

    /// The task's handle.
    pub(crate) fn handle<T>(self) -> TaskHandle<T> {
        TaskHandle::of(self.task_ref())
    }

    /// What the task's handle holds.
    pub(crate) fn task_ref(self) -> TaskRef {
        TaskRef {
            node: self.node,
            run: self.run,
            slot: self.slot,
        }
    }
}

/// Whether the task in `slot` must end now: its run is cancelled, or it was aborted (looked
/// up only when the run's abort count moved since `aborts_seen`).
fn must_end(run: &TaskRun, slot: usize, aborts_seen: &mut usize) -> bool {
    if run.is_cancelled() {
        return true;
    }
    let aborts = run.aborts();
    if aborts == *aborts_seen {
        return false;
    }
    *aborts_seen = aborts;
    run.is_aborted(slot)
}

/// The run of a task: its own if it keeps one, else its node's.
fn run_of<'a>(run: &'a Option<Arc<TaskRun>>, node: &'a Node) -> &'a TaskRun {
    run.as_deref().unwrap_or(&node.run)
}

/// A handle to a task of a service: await its output, [`abort`](Self::abort) it, or ask
/// whether it [has ended](Self::is_finished).
///
/// Dropping the handle detaches the task; its service still owns it and cancels it when it
/// stops. Awaiting gives the task's output, or a [`TaskError`] saying why there is none:
/// aborted, cancelled by its service's stop, or failed (the error crashed the service).
///
/// # Cancel safety
///
/// Cancel safe: dropping the future (the handle) only detaches the task.
///
/// # Panics
///
/// Polling the handle again after it returned `Ready` panics, as with any future.
pub struct TaskHandle<T = ()> {
    task: TaskRef,
    output: PhantomData<fn() -> T>,
}

/// What a [`TaskHandle`] holds, whatever its task's output: the task's slot in its run,
/// released when dropped. Spawning makes one in code that is the same for every future
/// type.
pub(crate) struct TaskRef {
    node: Arc<Node>,
    run: Option<Arc<TaskRun>>,
    slot: usize,
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        run_of(&self.run, &self.node).release(self.slot);
    }
}

impl<T> TaskHandle<T> {
    /// The handle of `task`, whose output is a `T`.
    pub(crate) fn of(task: TaskRef) -> Self {
        TaskHandle {
            task,
            output: PhantomData,
        }
    }

    fn run(&self) -> &TaskRun {
        run_of(&self.task.run, &self.task.node)
    }

    /// Ends the task at its next poll (it is woken for it), without crashing its service;
    /// awaiting the handle then gives [`TaskError::Aborted`]. Does nothing if the task has
    /// ended already.
    pub fn abort(&self) {
        self.run().abort(self.task.slot);
    }

    /// Whether the task has ended: finished, failed, aborted or cancelled.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.run().is_finished(self.task.slot)
    }
}

impl<T: 'static> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.run().poll_outcome(self.task.slot, cx.waker()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Outcome::Output(output))) => match output.downcast::<T>() {
                Ok(output) => Poll::Ready(Ok(*output)),
                Err(_) => unreachable!("a task's output has the type of its handle"),
            },
            Poll::Ready(Some(Outcome::Ended(err))) => Poll::Ready(Err(err)),
            Poll::Ready(None) => panic!("`TaskHandle` polled after it returned `Ready`"),
        }
    }
}

impl<T> core::fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskHandle")
            .field("service", &self.task.node.label)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// The name of a task spawned without one: its future's (or callback's) type, read when
/// shown (see [`TaskName::readable`]).
pub(crate) fn default_name<F>() -> TaskName {
    TaskName::OfType(core::any::type_name::<F>())
}

/// Polls `future`, turning a panic into an error (with `std`).
pub(crate) fn poll_catching_panic<F, T>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<BoxResult<T>>
where
    F: Future<Output = BoxResult<T>> + ?Sized,
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
    /// A hook's future with panics turned into errors, its polls marked for blocking
    /// detection (see `blocking.rs`).
    pub(crate) struct CatchPanic<'a, F> {
        #[pin]
        future: F,
        hook: HookSite<'a>,
    }
}

impl<'a, F> CatchPanic<'a, F> {
    /// `future`, the hook named `hook` (`on_start`) of `node`.
    pub(crate) fn new(future: F, node: &'a Arc<Node>, hook: &'static str) -> Self {
        CatchPanic {
            future,
            hook: HookSite::new(node, hook),
        }
    }
}

impl<F: Future<Output = BoxResult>> Future for CatchPanic<'_, F> {
    type Output = BoxResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BoxResult> {
        let this = self.project();
        let _probe = this.hook.enter();
        poll_catching_panic(this.future, cx)
    }
}

/// Boxes the task `counted` around the future `make` returns, for the spawner.
///
/// The future is made here rather than passed in: a future moved by value through the
/// spawn functions takes its size in each of their stack frames in a build without
/// optimisations, where no move is elided. (For the same reason the task is made in a
/// function of its own, which has returned when the allocator runs.)
pub(crate) fn boxed<F, T>(counted: &Counted, make: impl FnOnce() -> F) -> BoxFuture
where
    F: Future<Output = BoxResult<T>> + Send + 'static,
    T: Send + 'static,
{
    Box::pin(counted.task_from(make))
}

/// A task to make once it is admitted, behind `dyn` so that the admission is compiled once
/// (see `ServiceHandle::spawn_boxed`). A trait of its own rather than `dyn FnMut`, whose
/// vtable would also carry a `call_once` shim for every future type spawned.
pub(crate) trait MakeTask {
    /// The boxed task around the future, for `counted`'s slot. Called once.
    fn make(&mut self, counted: &Counted) -> BoxFuture;
}

/// [`MakeTask`] for the future that `.0` returns (taken at the one call).
pub(crate) struct Make<M>(pub(crate) Option<M>);

impl<M, F, T> MakeTask for Make<M>
where
    M: FnOnce() -> F,
    F: Future<Output = BoxResult<T>> + Send + 'static,
    T: Send + 'static,
{
    fn make(&mut self, counted: &Counted) -> BoxFuture {
        boxed(counted, self.0.take().expect("a task is made once"))
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::task_run::Admission;
    use crate::testing::VirtualRuntime;
    use crate::{Service, Tree};
    use alloc::borrow::Cow;

    struct Idle;

    impl Service for Idle {}

    fn node() -> Arc<Node> {
        let rt = VirtualRuntime::new();
        let tree = Tree::new(Idle, rt.clone(), rt);
        tree.handle().node().clone()
    }

    fn task(run: &Arc<TaskRun>, node: &Arc<Node>, slot: usize) -> BoxFuture {
        let counted = Counted::new(node.clone(), Some(run.clone()), slot);
        boxed(&counted, core::future::pending::<BoxResult>)
    }

    fn name() -> TaskName {
        TaskName::Given(Cow::Borrowed("test"))
    }

    #[test]
    fn a_cancelled_run_admits_nothing_and_reopens_only_once_empty() {
        let node = node();
        let run = Arc::new(TaskRun::new());
        let slot = run.enter(name()).unwrap();
        run.release(slot);
        let straggler = task(&run, &node, slot);
        let deferred = run.admit(name(), |slot| task(&run, &node, slot));
        let Admission::Deferred(deferred) = deferred else {
            panic!("a run that has not reached its task step spawned a task");
        };
        run.release(deferred);
        assert_eq!(run.live(), 2);

        run.cancel();
        assert_eq!(run.live(), 1, "cancelling drops the deferred task");
        assert!(run.enter(name()).is_none());
        assert!(matches!(
            run.admit(name(), |slot| task(&run, &node, slot)),
            Admission::Refused
        ));
        assert_eq!(run.live(), 1, "a refused task leaves no count behind");
        assert!(!run.reopen(), "a task of the old start is still there");

        drop(straggler);
        assert_eq!(run.live(), 0);
        assert!(run.reopen());
        assert!(!run.is_cancelled());
        let admitted = run.admit(name(), |slot| task(&run, &node, slot));
        assert!(matches!(admitted, Admission::Deferred(_)));
        assert_eq!(run.take_deferred().count(), 1);
        assert_eq!(run.live(), 0);
    }

    #[test]
    fn a_type_name_reads_as_its_last_two_segments() {
        let name = |full| TaskName::OfType(full).readable();
        assert_eq!(
            name("app::Webserver::on_start::{{closure}}"),
            "Webserver::on_start"
        );
        assert_eq!(name("app::run<u8>::{{closure}}::{{closure}}"), "app::run");
        assert_eq!(
            name("app::web::<impl mode::Service for app::web::Server<u8>>::on_start::{{closure}}"),
            "Server::on_start"
        );
        assert_eq!(
            name("<app::Queue as core::Default>::default"),
            "Queue::default"
        );
        assert_eq!(name("Sleep"), "Sleep");
        assert_eq!(
            TaskName::Given(Cow::Borrowed("a::b::c")).readable(),
            "a::b::c"
        );
    }
}
