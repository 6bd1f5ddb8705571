//! [`ServiceHandle`]: a cheap, clonable, `Send + Sync` reference to a running service, and
//! the futures its requests and waits return.
//!
//! Everything that may happen from another task or thread goes through a handle: asking a
//! service to stop, restart or start, crashing it, reading its state, sleeping and waiting
//! with early return on stop, spawning owned tasks and timers, logging with its prefix.
//! Requests are queued for the future that drives the tree, so a handle never runs a hook
//! itself; the futures it returns wait for the outcome.
//!
//! Those futures are named types ([`Stop`], [`Start`], [`Restart`], [`MaybeStart`],
//! [`UntilRunning`], [`UntilStopped`], [`Sleep`]), `Send + Sync + Unpin + 'static`, so a
//! struct can keep one:
//!
//! ```
//! use mode::handle::{ServiceHandle, Sleep};
//! use mode::time::Duration;
//!
//! /// Polls a device every second until its service stops.
//! struct Poller {
//!     service: ServiceHandle,
//!     next: Sleep,
//! }
//!
//! impl Poller {
//!     fn new(service: ServiceHandle) -> Self {
//!         let next = service.sleep(Duration::from_secs(1));
//!         Poller { service, next }
//!     }
//!
//!     async fn tick(&mut self) -> Result<(), mode::Stopped> {
//!         (&mut self.next).await?;
//!         self.next = self.service.sleep(Duration::from_secs(1));
//!         Ok(())
//!     }
//! }
//!
//! # use mode::testing::VirtualRuntime;
//! # use mode::{BoxResult, Context, Service, Tree};
//! struct App;
//!
//! impl Service for App {
//!     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
//!         let mut poller = Poller::new(cx.handle().clone());
//!         cx.spawn(async move {
//!             for _ in 0..3 {
//!                 poller.tick().await?;
//!             }
//!             poller.service.request_stop();
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let rt = VirtualRuntime::new();
//! rt.block_on(Tree::new(App, rt.clone(), rt.clone()).run()).unwrap();
//! assert_eq!(rt.now().as_duration(), Duration::from_secs(3));
//! ```

use crate::platform::plain::Arc;
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;

use crate::error::{BoxError, BoxResult, Crash, Error, Stopped, WaitError};
use crate::graph::{Graph, GraphNode};
use crate::interval::TimerOptions;
use crate::node::{Command, Node, SharedNode};
use crate::periodic::Periodic;
use crate::race::{race, Either};
use crate::state::{State, StopReason, WaitingOn};
use crate::stop_signal::StopSignal;
use crate::task::{default_name, Counted, Make, MakeTask, TaskHandle, TaskRef};
use crate::task_run::{Admission, TaskName};
use crate::ticks::Ticks;
use crate::time::{Duration, Instant};
use crate::timer_queue::SharedTimerQueue;
use crate::utils::Seconds;

mod futures;

pub(crate) use futures::Watch;
pub use futures::{MaybeStart, Restart, Sleep, Start, Stop, UntilRunning, UntilStopped};

/// A reference to a service in a running tree.
///
/// Cheap to clone, `Send + Sync`, and valid across restarts (same handle, fresh state).
/// Equality is identity: two handles are equal when they refer to the same service.
#[derive(Clone)]
pub struct ServiceHandle {
    node: Arc<Node>,
}

impl PartialEq for ServiceHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }
}

impl Eq for ServiceHandle {}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("id", &self.node.id)
            .field("label", &self.node.label)
            .field("state", &self.node.state())
            .finish()
    }
}

impl ServiceHandle {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        ServiceHandle { node }
    }

    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    // ===== identity and state =====

    /// The service's id, unique within its tree.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.node.id
    }

    /// The service's label, as in logs and graphs.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.node.label
    }

    /// The service's lifecycle state.
    #[must_use]
    pub fn state(&self) -> State {
        self.node.state()
    }

    /// Whether the service was asked to stop (or crashed, or an ancestor is stopping).
    /// Loops in background tasks check it, or better, use [`sleep`](Self::sleep).
    #[must_use]
    pub fn should_stop(&self) -> bool {
        self.node.should_stop()
    }

    /// The crash of the current (or last) run, if it crashed.
    #[must_use]
    pub fn crash_reason(&self) -> Option<Crash> {
        self.node.crash_reason()
    }

    /// Why the service's supervisor keeps it stopped on purpose, if it does: it was
    /// [paused](crate::SupervisorHandle::pause), or
    /// [quarantined](crate::Supervisor::with_quarantine) (then
    /// [`crash_reason`](Self::crash_reason) keeps its last crash). `None` for a service
    /// that is not parked, and for every service that is not a supervisor's child.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{Parked, Service, State, Strategy, Supervisor, SupervisorHandle, Tree};
    ///
    /// struct Worker;
    /// impl Service for Worker {}
    ///
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(
    ///     Supervisor::new(Strategy::OneForOne).with_child(Worker),
    ///     rt.clone(),
    ///     rt.clone(),
    /// );
    /// let root = tree.handle();
    /// let supervisor = SupervisorHandle::try_from(&root).unwrap();
    /// let worker = root.children()[0].clone();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     root.wait_until_running().await.unwrap();
    ///     assert_eq!(worker.parked(), None);
    ///     supervisor.pause(0).await.unwrap();
    ///     assert_eq!((worker.state(), worker.parked()), (State::Stopped, Some(Parked::Paused)));
    ///     root.stop().await;
    /// }))
    /// .unwrap();
    /// ```
    #[must_use]
    pub fn parked(&self) -> Option<crate::state::Parked> {
        self.node.parked()
    }

    /// Whether the current (or last) run crashed.
    #[must_use]
    pub fn is_crashed(&self) -> bool {
        self.node.crash_reason().is_some()
    }

    /// Why the service is stopping or stopped; `None` while it runs.
    #[must_use]
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.node.stop_reason()
    }

    /// What the service waits on while it stops (its `on_stop`, its children, its tasks,
    /// …); `None` unless it is stopping. Tree dumps and the Worker's shutdown timeout name
    /// it.
    #[must_use]
    pub fn waiting_on(&self) -> Option<WaitingOn> {
        self.node.waiting_on()
    }

    /// How many times the service was restarted.
    #[must_use]
    pub fn restart_count(&self) -> u32 {
        self.node.restart_count()
    }

    /// The service's children, declared and runtime, in start order.
    #[must_use]
    pub fn children(&self) -> Vec<ServiceHandle> {
        self.node
            .children()
            .into_iter()
            .map(ServiceHandle::new)
            .collect()
    }

    /// The root of a tree this service runs of its own, on another executor, if it
    /// [set one](crate::Context::set_nested_tree): a thread service's tree (mode-worker's
    /// `ServiceThread`). That tree is not among the service's [`children`](Self::children); the Worker's
    /// dump shows it below the service.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Tree};
    ///
    /// struct Engine;
    ///
    /// impl Service for Engine {}
    ///
    /// struct Host;
    ///
    /// impl Service for Host {
    ///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         // A tree of its own (here built only to be shown; a thread service runs
    ///         // one on its thread).
    ///         let rt = VirtualRuntime::new();
    ///         let engine = Tree::new(Engine, rt.clone(), rt);
    ///         cx.set_nested_tree(Some(&engine.handle()));
    ///         assert_eq!(cx.handle().nested_tree().unwrap().label(), "Engine");
    ///         assert!(cx.handle().children().is_empty());
    ///         cx.set_nested_tree(None);
    ///         assert!(cx.handle().nested_tree().is_none());
    ///         // Shown while that tree exists.
    ///         cx.set_nested_tree(Some(&engine.handle()));
    ///         drop(engine);
    ///         assert!(cx.handle().nested_tree().is_none());
    ///         cx.handle().request_stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// let exit = rt.block_on(Tree::new(Host, rt.clone(), rt.clone()).run()).unwrap();
    /// assert!(exit.is_clean());
    /// ```
    #[must_use]
    pub fn nested_tree(&self) -> Option<ServiceHandle> {
        self.node.nested_tree().map(ServiceHandle::new)
    }

    /// The service's parent, if it is not the root.
    #[must_use]
    pub fn parent(&self) -> Option<ServiceHandle> {
        self.node.parent().map(ServiceHandle::new)
    }

    /// The service and its descendants as a graph (export with
    /// [`Graph::to_dot`] or [`Graph::to_mermaid`]).
    #[must_use]
    pub fn graph(&self) -> Graph {
        let mut nodes = Vec::new();
        let mut stack = alloc::vec![(self.node.clone(), None)];
        while let Some((node, parent)) = stack.pop() {
            nodes.push(GraphNode::new(
                node.id,
                node.label.clone().into_owned(),
                parent,
                node.kind,
            ));
            for child in node.children().into_iter().rev() {
                stack.push((child, Some(node.id)));
            }
        }
        Graph::new(nodes)
    }

    /// The current time on the tree's clock.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.node.tree.timers.now()
    }

    /// When the service's last start (or restart) began, on the tree's clock
    /// ([`now`](Self::now)); `None` before its first start. While it runs,
    /// `now() - started_at` is its uptime.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Tree};
    /// use std::time::Duration;
    ///
    /// struct App;
    ///
    /// impl Service for App {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let me = cx.handle();
    ///         let began = me.started_at().expect("started");
    ///         me.sleep(Duration::from_secs(5)).await?;
    ///         assert_eq!(me.now() - began, Duration::from_secs(5));
    ///         me.request_stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(Tree::new(App, rt.clone(), rt.clone()).run()).unwrap();
    /// ```
    #[must_use]
    pub fn started_at(&self) -> Option<Instant> {
        self.node.started_at()
    }

    // ===== lifecycle requests =====

    /// Asks the service to stop and returns a future that completes once it has stopped.
    ///
    /// The request is made at once, whether or not the future is awaited, and is executed
    /// in order with the other requests for the tree: the future completes once the
    /// request has been executed, and the service is then stopped. Stopping a service that
    /// never started, or that has stopped, does nothing; concurrent calls stop it once.
    ///
    /// A stop requested while a restart of the service is pending or under way wins: the
    /// restart does not start the service again, and returns
    /// [`Error::RestartCancelled`].
    ///
    /// The stop runs in the future that drives the tree, concurrently with operations on
    /// other subtrees, so a hook may await the stop of an unrelated service. The stop of its
    /// own service, or of an ancestor, waits for the hook: awaited from the hook, the
    /// future completes at once instead (with the `std` feature; without it, it would wait
    /// forever), and the stop runs once the hook has returned. [`request_stop`](Self::request_stop)
    /// says so plainly.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the stop goes on.
    pub fn stop(&self) -> Stop {
        let request = self.queue_stop();
        Stop::new(self.node.clone(), request)
    }

    /// Asks the service to stop, without waiting: [`stop`](Self::stop) for callers that do
    /// not await, such as a hook stopping its own service or a signal handler.
    pub fn request_stop(&self) {
        self.queue_stop();
    }

    /// Asks the whole tree to stop and the program to exit with `status` once it has: the
    /// root is asked to stop, and [`Exit::exit_status`](crate::Exit::exit_status) carries
    /// `status` (the first one asked, if several services ask), which the Worker makes the
    /// process's exit status. What a task's [`SystemExit`](crate::SystemExit) error does.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Tree};
    ///
    /// struct Check;
    ///
    /// impl Service for Check {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let healthy = false;
    ///         cx.handle().request_exit(if healthy { 0 } else { 2 });
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// let exit = rt.block_on(Tree::new(Check, rt.clone(), rt.clone()).run()).unwrap();
    /// assert_eq!(exit.exit_status(), Some(2));
    /// ```
    pub fn request_exit(&self, status: u8) {
        self.node.request_exit(status);
    }

    /// Queues a stop request; its number, or `None` if the tree no longer runs.
    fn queue_stop(&self) -> Option<u64> {
        if self.node.tree.is_finished() {
            return None;
        }
        if self.state().is_active() {
            self.node.set_stop_reason_if_unset(StopReason::Requested);
        }
        Some(self.node.queue_stop_request())
    }

    /// Sends `command` unless `early` (or the tree's end) already decides the outcome.
    pub(crate) fn request(&self, command: Command, early: Option<Result<(), Error>>) -> Start {
        let node = self.node.clone();
        let early = early.or_else(|| {
            if node.tree.is_finished() {
                Some(Err(Error::TreeFinished))
            } else {
                None
            }
        });
        let starts = node.starts();
        if early.is_none() {
            node.tree.send(command);
        }
        Start::new(node, early, starts)
    }

    /// Crashes the service with `reason`: it is marked crashed, asked to stop, and its
    /// parent is told at once (a supervisor restarts it; without one the tree stops with
    /// this crash). Crashing a service that is not running does nothing.
    pub fn crash(&self, reason: impl Into<BoxError>) {
        if matches!(self.state(), State::Init | State::Stopped) {
            return;
        }
        self.node.crash_from_task(reason.into());
    }

    /// Waits until the service has stopped (its stop sequence finished).
    ///
    /// A service that never started counts as stopped once the tree has finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn wait_until_stopped(&self) -> UntilStopped {
        UntilStopped(Watch::new(self.node.clone()))
    }

    /// Waits until the service runs (its start sequence finished).
    ///
    /// # Errors
    ///
    /// [`Error::Crashed`] if its start failed; [`Error::ServiceStopped`] if it stopped
    /// first; [`Error::TreeFinished`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn wait_until_running(&self) -> UntilRunning {
        UntilRunning(Watch::new(self.node.clone()))
    }

    /// Sets the shutdown flag that a service with
    /// [`wait_for_shutdown`](crate::Service::wait_for_shutdown) waits for while stopping.
    pub fn set_shutdown(&self) {
        self.node.set_shutdown();
    }

    // ===== waiting, with early return on stop =====

    /// Sleeps for `duration` (a [`Duration`], a [`Seconds`] or a
    /// [`Rate`](crate::utils::Rate)'s interval), or until the service is asked to stop.
    ///
    /// # Errors
    ///
    /// [`Stopped`] if the service was asked to stop first (`?` in a task makes that a
    /// clean exit).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn sleep(&self, duration: impl Into<Seconds>) -> Sleep {
        let deadline = self.now() + Duration::from(duration.into());
        self.sleep_until(deadline)
    }

    /// Sleeps until `deadline`, or until the service is asked to stop.
    ///
    /// # Errors
    ///
    /// [`Stopped`] if the service was asked to stop first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::new(self.node.clone(), deadline)
    }

    /// Runs `future` until it completes or the service is asked to stop. A future that is
    /// ready when polled wins over a stop.
    ///
    /// # Errors
    ///
    /// [`WaitError::Stopped`] if the service was asked to stop first.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`.
    pub async fn wait<F: Future>(&self, future: F) -> Result<F::Output, WaitError> {
        let mut stop = StopSignal::new(&self.node);
        match race(future, stop.wait()).await {
            Either::Left(value) => Ok(value),
            Either::Right(()) => Err(WaitError::Stopped),
        }
    }

    /// Runs `future` until it completes, `timeout` elapses, or the service is asked to stop.
    ///
    /// # Errors
    ///
    /// [`WaitError::Stopped`], [`WaitError::TimedOut`], or [`WaitError::ZeroTimeout`] for a
    /// zero `timeout` (the future is not polled).
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`.
    pub async fn wait_timeout<F: Future>(
        &self,
        future: F,
        timeout: Duration,
    ) -> Result<F::Output, WaitError> {
        if timeout.is_zero() {
            return Err(WaitError::ZeroTimeout);
        }
        let sleep = self.node.tree.timers.sleep_until(self.now() + timeout);
        match self.wait(race(future, sleep)).await? {
            Either::Left(value) => Ok(value),
            Either::Right(()) => Err(WaitError::TimedOut(timeout)),
        }
    }

    /// Waits for the first of `futures` to complete; returns its index and output.
    ///
    /// # Errors
    ///
    /// [`Stopped`] if the service was asked to stop first, or `futures` is empty and the
    /// service is then asked to stop.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as the futures; the others are dropped when one completes.
    pub async fn wait_first<F, I>(&self, futures: I) -> Result<(usize, F::Output), Stopped>
    where
        I: IntoIterator<Item = F>,
        F: Future,
    {
        let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
        let first = core::future::poll_fn(|cx| {
            for (index, future) in futures.iter_mut().enumerate() {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    return Poll::Ready((index, value));
                }
            }
            Poll::Pending
        });
        self.wait(first).await.map_err(|_| Stopped)
    }

    /// Waits for all of `futures`; returns their outputs in order.
    ///
    /// # Errors
    ///
    /// [`Stopped`] if the service was asked to stop before all completed.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as the futures; outputs of completed ones are lost if dropped.
    pub async fn wait_many<F, I>(&self, futures: I) -> Result<Vec<F::Output>, Stopped>
    where
        I: IntoIterator<Item = F>,
        F: Future,
    {
        type Slot<F> = (Option<Pin<Box<F>>>, Option<<F as Future>::Output>);
        let mut slots: Vec<Slot<F>> = futures
            .into_iter()
            .map(|future| (Some(Box::pin(future)), None))
            .collect();
        let all = core::future::poll_fn(|cx| {
            let mut pending = false;
            for (future, output) in &mut slots {
                if let Some(running) = future {
                    match running.as_mut().poll(cx) {
                        Poll::Ready(value) => {
                            *output = Some(value);
                            *future = None;
                        }
                        Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        self.wait(all).await.map_err(|_| Stopped)?;
        Ok(slots.into_iter().filter_map(|(_, output)| output).collect())
    }

    /// Waits until `other` has stopped, returning early if this service is asked to stop.
    ///
    /// # Errors
    ///
    /// [`Stopped`] if this service was asked to stop first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait_for_stopped(&self, other: &ServiceHandle) -> Result<(), Stopped> {
        self.wait(other.wait_until_stopped())
            .await
            .map_err(|_| Stopped)
    }

    // ===== owned tasks and timers =====

    /// Spawns a background task owned by this service (mode's `@Service.task` and
    /// `add_future`).
    ///
    /// A task added while the service is starting (from `on_first_start` or `on_start`)
    /// starts after `on_start`, in the order added, before the children; later ones start
    /// at once. Stopping the service cancels the task (drops it at its next poll) and waits
    /// until it is gone. A task that returns `Err` (or panics, with `std`) crashes the
    /// service; returning [`Stopped`] is a clean exit.
    ///
    /// # Errors
    ///
    /// [`Error::ServiceStopped`] if the service is stopping or stopped, [`Error::Spawn`] if
    /// the executor refused the task.
    pub fn spawn<F>(&self, future: F) -> Result<TaskHandle, Error>
    where
        F: Future<Output = BoxResult> + Send + 'static,
    {
        self.spawn_task(default_name::<F>(), || future)
    }

    /// [`spawn`](Self::spawn) for the task `task` makes from a clone of this handle: the
    /// task owns its service's handle without a clone written out first.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Tree};
    /// use std::time::Duration;
    ///
    /// struct Poller;
    ///
    /// impl Service for Poller {
    ///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         cx.spawn_with(|me| async move {
    ///             for _ in 0..3 {
    ///                 me.sleep(Duration::from_secs(1)).await?; // early on stop
    ///                 mode::info!(me, "polled");
    ///             }
    ///             me.request_stop();
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(Tree::new(Poller, rt.clone(), rt.clone()).run()).unwrap();
    /// assert_eq!(rt.now().as_duration(), Duration::from_secs(3));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with<F, Fut>(&self, task: F) -> Result<TaskHandle, Error>
    where
        F: FnOnce(ServiceHandle) -> Fut,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        self.spawn_task(default_name::<Fut>(), || task(self.clone()))
    }

    /// [`spawn`](Self::spawn) for a task that returns a value, which awaiting its handle
    /// gives.
    ///
    /// `spawn` takes only tasks that return `BoxResult<()>`, so that the usual loop
    /// (`loop { me.sleep(..).await?; .. }`, which never returns `Ok`) needs no type
    /// annotation.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_returning<F, T>(&self, future: F) -> Result<TaskHandle<T>, Error>
    where
        F: Future<Output = BoxResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_task(default_name::<F>(), || future)
    }

    /// [`spawn`](Self::spawn) with a name for logs and [`task_names`](Self::task_names)
    /// (a task spawned without one is named after its future's type).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> Result<TaskHandle, Error>
    where
        F: Future<Output = BoxResult> + Send + 'static,
    {
        self.spawn_task(TaskName::Given(name.into()), || future)
    }

    /// Spawns `future` as a task named `name` (see [`spawn`](Self::spawn)).
    pub(crate) fn spawn_task<F, T>(
        &self,
        name: TaskName,
        make: impl FnOnce() -> F,
    ) -> Result<TaskHandle<T>, Error>
    where
        F: Future<Output = BoxResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        // `make` behind `dyn`: the rest of a spawn is compiled once, not for every future
        // type spawned.
        let task = self.spawn_boxed(name, &mut Make(Some(make)))?;
        Ok(TaskHandle::of(task))
    }

    /// [`spawn_task`](Self::spawn_task) for the boxed task `make` returns.
    pub(crate) fn spawn_boxed(
        &self,
        name: TaskName,
        make: &mut dyn MakeTask,
    ) -> Result<TaskRef, Error> {
        if matches!(self.state(), State::Stopping | State::Stopped) {
            return Err(Error::ServiceStopped);
        }
        let run = self.node.tasks();
        if run.is_cancelled() {
            return Err(Error::ServiceStopped);
        }
        let counted = |slot| Counted::new(self.node.clone(), run.for_task(), slot);
        let admitted = run.admit(name, |slot| make.make(&counted(slot)));
        match admitted {
            Admission::Deferred(slot) => Ok(counted(slot).task_ref()),
            Admission::Spawn(slot, task) => {
                // Made first, so that a refused task's handle is released with it.
                let handle = counted(slot).task_ref();
                self.node.tree.spawner.spawn(task)?;
                Ok(handle)
            }
            Admission::Refused => Err(Error::ServiceStopped),
        }
    }

    /// The names of this service's tasks that are still there, timers included, in no
    /// particular order.
    #[must_use]
    pub fn task_names(&self) -> Vec<Cow<'static, str>> {
        self.node.tasks().task_names()
    }

    /// Calls `callback` every `interval`, on deadlines `start + k·interval` (no drift), as a
    /// background task of this service. Missed ticks are skipped; see
    /// [`timer_with`](Self::timer_with).
    ///
    /// Each call gets a clone of this handle, as mode's timers get `self`: the future it
    /// returns owns it (`move |me| async move { .. me.sleep(..) .. }`).
    ///
    /// No tick fires once the service was asked to stop. A callback that returns `Err`
    /// crashes the service, like any task.
    ///
    /// `interval` is a [`Duration`], a [`Seconds`], or a [`Rate`](crate::utils::Rate),
    /// which reads as a rate (mode's `timer("10/s")`): its interval, here 100 ms. A string
    /// is parsed where the user can see it fail, not here.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::utils::Rate;
    /// use mode::{BoxResult, Context, Service, Tree};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// struct Sampler(Arc<AtomicU32>);
    ///
    /// impl Service for Sampler {
    ///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let count = self.0.clone();
    ///         let rate: Rate = "10/s".parse()?;
    ///         cx.timer(rate, move |me| {
    ///             let count = count.clone();
    ///             async move {
    ///                 if count.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
    ///                     me.request_stop();
    ///                 }
    ///                 Ok(())
    ///             }
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let (rt, count) = (VirtualRuntime::new(), Arc::new(AtomicU32::new(0)));
    /// rt.block_on(Tree::new(Sampler(count.clone()), rt.clone(), rt.clone()).run()).unwrap();
    /// assert_eq!(count.load(Ordering::SeqCst), 10);
    /// assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] for a zero interval, and as [`spawn`](Self::spawn).
    pub fn timer<F, Fut>(
        &self,
        interval: impl Into<Seconds>,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + Send + 'static,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        self.timer_with(interval, TimerOptions::new(), callback)
    }

    /// [`timer`](Self::timer) with [`TimerOptions`]: what to do with missed ticks (a
    /// [`MissedTickBehavior`](crate::MissedTickBehavior) converts into options), and the timer's name in its log
    /// lines and in [`task_names`](Self::task_names) (by default, its callback's type:
    /// `Webserver::on_start` for a closure written in `Webserver::on_start`).
    ///
    /// # Errors
    ///
    /// As [`timer`](Self::timer).
    pub fn timer_with<F, Fut>(
        &self,
        interval: impl Into<Seconds>,
        options: impl Into<TimerOptions>,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + Send + 'static,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        let timer = Periodic::new::<F>(interval.into().into(), options.into())?;
        let name = timer.name.clone();
        let node = self.node.clone();
        self.spawn_task(name, || timer.task(node, with_handle(self, callback)))
    }

    /// The ticks of a periodic timer every `interval`, as a [`Stream`](futures_core::Stream)
    /// (mode's `itertimer`): [`Ticks`]. Each item is the instant the tick was due, on
    /// deadlines `start + k·interval` from now (no drift); missed ticks are skipped; the
    /// stream ends once the service is asked to stop. Named, in its overlap warnings,
    /// after where it was made (`ticks at src/app.rs:42`); see
    /// [`ticks_with`](Self::ticks_with).
    ///
    /// Where [`timer`](Self::timer) calls a callback, the stream suits a loop that keeps
    /// state between ticks, or waits on a tick and something else at once.
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use mode::testing::VirtualRuntime;
    /// use mode::time::Duration;
    /// use mode::{BoxResult, Context, Service, Tree};
    ///
    /// struct Averager;
    ///
    /// impl Service for Averager {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         cx.spawn_with(|me| async move {
    ///             let (mut sum, mut count) = (0_u64, 0_u64);
    ///             let mut ticks = me.ticks(Duration::from_millis(100))?;
    ///             while ticks.next().await.is_some() {
    ///                 sum += 7; // a reading
    ///                 count += 1;
    ///                 if count == 10 {
    ///                     me.request_stop();
    ///                 }
    ///             }
    ///             mode::info!(me, "average {}", sum / count);
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(Tree::new(Averager, rt.clone(), rt.clone()).run()).unwrap();
    /// assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] for a zero interval.
    #[track_caller]
    pub fn ticks(&self, interval: impl Into<Seconds>) -> Result<Ticks, Error> {
        self.ticks_with(interval, TimerOptions::new())
    }

    /// [`ticks`](Self::ticks) with [`TimerOptions`]: what to do with missed ticks, a first
    /// tick at once, the name in its log lines.
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use mode::testing::VirtualRuntime;
    /// use mode::time::Duration;
    /// use mode::{BoxResult, Context, Service, TimerOptions, Tree};
    ///
    /// struct Heartbeat;
    ///
    /// impl Service for Heartbeat {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let options = TimerOptions::new().with_first_tick_at_once().with_name("heartbeat");
    ///         let mut ticks = cx.handle().ticks_with(Duration::from_secs(5), options)?;
    ///         assert_eq!(ticks.name(), "heartbeat");
    ///         let start = cx.handle().now();
    ///         assert_eq!(ticks.next().await, Some(start)); // at once
    ///         assert_eq!(ticks.next().await, Some(start + Duration::from_secs(5)));
    ///         cx.handle().request_stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(Tree::new(Heartbeat, rt.clone(), rt.clone()).run()).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ticks`](Self::ticks).
    #[track_caller]
    pub fn ticks_with(
        &self,
        interval: impl Into<Seconds>,
        options: impl Into<TimerOptions>,
    ) -> Result<Ticks, Error> {
        Ticks::new(
            self.node.clone(),
            interval.into().into(),
            options.into(),
            core::panic::Location::caller(),
        )
    }

    // ===== logging with the service's prefix =====

    /// Logs `message` at `level` with the service's prefix (`[^--Webserver]: …`) and its
    /// module as the target: what the logging macros call
    /// ([`mode::info!`](crate::info) and its siblings, which take the format string
    /// directly).
    pub fn log(&self, level: log::Level, message: fmt::Arguments<'_>) {
        if level <= log::max_level() {
            log::log!(target: self.node.log.target, level, "{}: {}", self.node.prefix(), message);
        }
        #[cfg(feature = "defmt")]
        crate::lifecycle::defmt_at!(
            level,
            "{}: {}",
            defmt::Display2Format(&self.node.prefix()),
            defmt::Display2Format(&message)
        );
    }
}

/// `callback`, called with a clone of `handle` each time: a timer's callback as
/// [`ServiceHandle::timer`] takes it, as the timer loop calls it.
pub(crate) fn with_handle<F, Fut>(handle: &ServiceHandle, mut callback: F) -> impl FnMut() -> Fut
where
    F: FnMut(ServiceHandle) -> Fut,
{
    let handle = handle.clone();
    move || callback(handle.clone())
}

impl crate::utils::rate_limit::sealed::Sealed for ServiceHandle {}

/// The tree's clock, for [`RateLimit::acquire`](crate::utils::RateLimit::acquire): a wait
/// ends early when the service is asked to stop.
impl crate::utils::RateClock for ServiceHandle {
    type Error = Stopped;
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        ServiceHandle::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        ServiceHandle::sleep_until(self, deadline)
    }
}

impl AsRef<ServiceHandle> for ServiceHandle {
    fn as_ref(&self) -> &ServiceHandle {
        self
    }
}
