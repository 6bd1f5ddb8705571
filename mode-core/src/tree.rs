//! [`Tree`]: runs a root service and its descendants, and the sequences that start, stop
//! and restart them.
//!
//! One future, [`Tree::run`], drives the whole tree: it runs every hook, in the exact
//! order of mode's lifecycle, and executes the requests that handles queue (stop, start,
//! restart, crash). It also drives the tree's timer queue, so every sleep and periodic
//! timer of the tree shares a single adapter sleep. Background tasks run on the executor
//! through the [`Spawner`].
//!
//! Because hooks run inside this future, they need not be `Send`, and so `run` is not
//! `Send` either: await it from `main` (`block_on`), from a `LocalSet`, or from one task
//! of an embedded executor.

use crate::loom::plain::Arc;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;

use crate::context::Dependencies;
use crate::error::{Crash, Error};
use crate::events::{self, Emit, Observer};
use crate::graph::ChildKind;
use crate::handle::{wait_for, ServiceHandle};
use crate::local::LocalRef;
use crate::node::{Command, Node, TreeShared};
use crate::registry::Registry;
use crate::runtime::{BoxFuture, LocalBoxFuture, Spawner, Timer};
use crate::sequence::SequenceBlocks;
use crate::service::{DynAsyncClose, DynService, Hook, Service};
use crate::state::{State, StopReason, WaitingOn};
use crate::supervisor::{Supervised, SupervisorState};
use crate::task::Few;
use crate::time::{Duration, Instant};
use crate::timer_queue::{self, Clock, SharedTimerQueue, SleepUntil, TimerQueue};
use crate::util::{race, Either};

/// A service tree, ready to run.
///
/// ```
/// use mode_core::testing::VirtualRuntime;
/// use mode_core::{Context, Result, Service, StopReason, Tree};
/// use std::time::Duration;
///
/// struct App;
///
/// impl Service for App {
///     async fn on_started(&mut self, cx: &Context<'_>) -> Result {
///         // Stop after one second of (virtual) time.
///         let handle = cx.handle().clone();
///         cx.spawn(async move {
///             handle.sleep(Duration::from_secs(1)).await?;
///             handle.request_stop();
///             Ok(())
///         })?;
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// let tree = Tree::new(App, rt.clone(), rt.clone());
/// let reason = rt.block_on(tree.run()).unwrap();
/// assert!(matches!(reason, StopReason::Requested));
/// assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
/// ```
pub struct Tree<T: Timer> {
    driver: Driver,
    root: LocalRef,
    timer: Arc<T>,
}

impl<T: Timer> fmt::Debug for Tree<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree")
            .field("root", self.root.handle())
            .finish_non_exhaustive()
    }
}

impl<T: Timer> Tree<T> {
    /// A tree with `root` at the top; background tasks go to `spawner`, time comes from
    /// `timer`. Children declared in `on_init_dependencies` are created now (so the graph
    /// is complete before the tree starts); nothing starts until [`run`](Self::run).
    pub fn new(root: impl Service, spawner: impl Spawner, timer: T) -> Self {
        let timer = Arc::new(timer);
        let clock: Arc<dyn Clock> =
            Arc::from(Box::new(SharedClock(timer.clone())) as Box<dyn Clock>);
        let timers = Arc::new(TimerQueue::new(clock));
        let spawner: Arc<dyn Spawner> = Arc::from(Box::new(spawner) as Box<dyn Spawner>);
        let driver = Driver {
            shared: Arc::new(TreeShared::new(spawner, timers)),
            registry: RefCell::new(Registry::default()),
            stop_sleep: RefCell::new(None),
            sequences: SequenceBlocks::default(),
            next_id: Cell::new(1),
        };
        let root = driver.create_node(root, None, ChildKind::Root);
        Tree {
            driver,
            root,
            timer,
        }
    }

    /// The default stop timeout of every service that does not set its own
    /// ([`Service::stop_timeout`]); 10 seconds unless changed.
    #[must_use]
    pub fn with_stop_timeout(self, timeout: Duration) -> Self {
        self.driver.shared.set_default_stop_timeout(timeout);
        self
    }

    /// Adds an observer of every lifecycle event (after the log).
    #[must_use]
    pub fn with_observer(self, observer: impl Observer) -> Self {
        let observer: Box<dyn Observer> = Box::new(observer);
        self.driver.shared.add_observer(Arc::from(observer));
        self
    }

    /// The number of dashes in the root's log prefix: 1 by default (`[^-App]`), leaving
    /// depth 0 (`[^Worker]`) to the program that runs the tree.
    #[must_use]
    pub fn with_log_depth(self, depth: usize) -> Self {
        self.driver.shared.set_base_depth(depth);
        self
    }

    /// Runs the tree's wall clock from `now`, the wall time at the tree's current instant:
    /// from then on it advances with the tree's monotonic clock, instead of being read from
    /// the system clock (the default). Cron timers ([`ServiceHandle::crontab`]) run by it.
    ///
    /// On a virtual-time runtime this makes cron timers deterministic: the calls land on
    /// exact virtual instants. See [the wall clock](crate::cron#wall-clock-and-the-trees-clock).
    #[cfg(feature = "cron")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cron")))]
    #[must_use]
    pub fn with_wall_clock_origin(self, now: std::time::SystemTime) -> Self {
        let shared = &self.driver.shared;
        shared.wall_clock.set_origin(now, shared.timers.now());
        self
    }

    /// The root service's handle.
    #[must_use]
    pub fn handle(&self) -> ServiceHandle {
        self.root.handle().clone()
    }

    /// Starts the tree, serves requests until the root has stopped, and returns why it
    /// stopped.
    ///
    /// The root stops when asked to ([`ServiceHandle::stop`]), or when a service crashes
    /// with no supervisor above it; the reason is then
    /// [`StopReason::Crashed`] with that crash. When `run` returns, every service has
    /// stopped and every task it spawned is gone (unless a stop timed out).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the stop sequence: every task of the tree is cancelled
    /// (dropped at its next poll), but hooks such as `on_stop` do not run.
    pub async fn run(self) -> StopReason {
        let Tree {
            driver,
            root,
            timer,
        } = self;
        let timers = driver.shared.timers.clone();
        let main = driver.main(&root);
        let drive = timer_queue::drive(&timers, &*timer);
        match race(main, drive).await {
            Either::Left(reason) => reason,
            Either::Right(never) => match never {},
        }
    }
}

/// The tree's timer as the clock of its timer queue.
struct SharedClock<T>(Arc<T>);

impl<T: Timer> Clock for SharedClock<T> {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// Why a start sequence did not finish.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The service (or a child it started) crashed.
    Crashed(Crash),
    /// The service was asked to stop; the queued stop finishes the job.
    Interrupted,
}

/// A task a hook added while its service starts, for the start sequence's task step.
pub(crate) enum Deferred {
    Send(BoxFuture),
    Local(LocalBoxFuture),
}

/// A value or async resource owned by a service until it stops.
pub(crate) enum Resource {
    Value(#[allow(dead_code)] Box<dyn Any>),
    Async(Box<dyn DynAsyncClose>),
}

/// The driver's half of a service: the service value and everything that need not be
/// `Send`. Only the future running the tree touches it, through a [`LocalRef`].
///
/// It lives in the last field of its shared [`Node`], the service value inline at its end
/// (`Node<S>` coerces to `Node<dyn DynService>`), so a service is one allocation.
pub(crate) struct LocalNode<S: ?Sized = dyn DynService> {
    pub(crate) children: RefCell<Vec<LocalRef>>,
    /// Restart intensity, backoff and pending restarts, if the service is a supervisor
    /// (boxed: most services are not, and pay one pointer for it).
    pub(crate) supervisor: Option<Box<RefCell<SupervisorState>>>,
    pub(crate) resources: RefCell<Vec<Resource>>,
    /// Tasks the service's hooks added before the start sequence's task step, in order;
    /// `None` after it. (Tasks added from other threads wait in the task run.)
    pub(crate) deferred: RefCell<Option<Few<Deferred>>>,
    started_once: Cell<bool>,
    stop_timeout: Option<Duration>,
    wait_for_shutdown: bool,
    /// Borrowed while its start or stop sequence runs.
    service: RefCell<S>,
}

/// The error of a hook that cannot run because a sequence of its service is already
/// running further up the stack.
fn busy(hook: Hook) -> crate::BoxError {
    alloc::format!("{} called while another hook runs", hook.name()).into()
}

/// Runs the lifecycle sequences. Lives inside [`Tree::run`].
pub(crate) struct Driver {
    shared: Arc<TreeShared>,
    registry: RefCell<Registry>,
    /// The one sleep that bounds stop steps, moved from deadline to deadline. Stop
    /// deadlines of successive steps seldom move earlier, so moving it rarely wakes the
    /// timer queue's driver, where a fresh registration per step would wake it (and so the
    /// tree's own task) once per stopped service.
    stop_sleep: RefCell<Option<Box<SleepUntil>>>,
    /// Where the start and stop sequences' futures live.
    pub(crate) sequences: SequenceBlocks,
    /// The id of the next service created (the driver creates them all).
    next_id: Cell<u64>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The tree is gone, finished or abandoned: make every task that may still exist
        // finish at its next poll, and release every waiter. Nothing here blocks.
        self.shared.set_finished();
        // Requests nobody will execute: dropping them answers their waiters.
        while let Some(command) = self.shared.next_command() {
            drop(command);
        }
        // One service at a time, without collecting them first: a list that long would be
        // a large allocation, for which the allocator first tidies up every small block
        // the stop just freed.
        let registry = core::mem::take(&mut *self.registry.borrow_mut());
        for local in registry {
            local.node().tasks().cancel();
            // After `set_finished` above: waiters' conditions see the tree finished.
            local.node().notify_after_seq_cst_change();
            local.children.borrow_mut().clear();
        }
    }
}

impl Driver {
    /// Creates a node for `service` under `parent`, then its declared children.
    pub(crate) fn create_node<S: DynService>(
        &self,
        mut service: S,
        parent: Option<&LocalRef>,
        kind: ChildKind,
    ) -> LocalRef {
        let parent_node = parent.map(|p| p.node());
        let supervisor = SupervisorState::of(&mut service);
        let slot = self.registry.borrow().next_slot();
        let label = service.label();
        let target = service.log_target();
        let strategy = supervisor.as_ref().map(SupervisorState::strategy);
        let local = LocalNode {
            children: RefCell::new(Vec::new()),
            resources: RefCell::new(Vec::new()),
            deferred: RefCell::new(Some(Few::None)),
            started_once: Cell::new(false),
            stop_timeout: service.stop_timeout(),
            wait_for_shutdown: service.wait_for_shutdown(),
            supervisor: supervisor.map(|state| Box::new(RefCell::new(state))),
            service: RefCell::new(service),
        };
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let node = Node::new(
            self.shared.clone(),
            id,
            slot,
            label,
            target,
            parent_node,
            kind,
            strategy,
            local,
        );
        if let Some(parent) = parent_node {
            parent.push_child(node.clone());
        }
        let local = LocalRef::adopt(node);
        self.registry.borrow_mut().insert(local.clone());
        if let Some(parent) = parent {
            parent.children.borrow_mut().push(local.clone());
        }
        // Nothing else borrows a service that is being created.
        if let Ok(mut service) = local.service.try_borrow_mut() {
            service.init_dependencies(&mut Dependencies {
                driver: self,
                parent: &local,
            });
        }
        local
    }

    pub(crate) fn find(&self, node: &Node) -> Option<LocalRef> {
        self.registry.borrow().get(node).cloned()
    }

    async fn main(&self, root: &LocalRef) -> StopReason {
        if let Err(StartError::Crashed(crash)) = self.start_node(root).await {
            self.stop_node(root, StopReason::Crashed(crash)).await;
        }
        while root.node().state() != State::Stopped {
            let command = self.next_command().await;
            self.execute(command).await;
        }
        root.node().stop_reason().unwrap_or(StopReason::Requested)
    }

    async fn next_command(&self) -> Command {
        loop {
            if let Some(command) = self.shared.next_command() {
                return command;
            }
            // A command queued after the check above notifies after queueing, so this
            // wait completes at once.
            self.shared.wake.notified().await;
        }
    }

    async fn execute(&self, command: Command) {
        match command {
            Command::Stop(node) => {
                if let Some(local) = self.find(&node) {
                    self.stop_node(&local, StopReason::Requested).await;
                }
            }
            Command::Start(node) => {
                let Some(local) = self.find(&node) else {
                    node.finish_start(Err(Error::TreeFinished));
                    return;
                };
                if let Err(err) = self.check_startable(&node) {
                    node.finish_start(Err(err));
                    return;
                }
                self.start_and_handle(&local).await;
            }
            Command::Restart(node) => {
                let Some(local) = self.find(&node) else {
                    node.finish_start(Err(Error::TreeFinished));
                    return;
                };
                if node.state() == State::Init {
                    node.finish_start(Err(Error::NotStarted));
                    return;
                }
                if node.parent().is_some_and(|p| p.state() != State::Running) {
                    node.finish_start(Err(Error::ParentNotRunning));
                    return;
                }
                events::emit(&node, Emit::Restarting);
                self.stop_node(&local, StopReason::Restarting).await;
                self.start_and_handle(&local).await;
            }
            Command::Crashed(node) => {
                if let Some(local) = self.find(&node) {
                    if let Some(crash) = node.crash_to_report() {
                        events::emit(&node, Emit::Crashed(&crash));
                    }
                    self.handle_crash(&local).await;
                }
            }
            Command::Supervisor(node, request) => self.supervisor_request(&node, request).await,
        }
    }

    fn check_startable(&self, node: &Node) -> Result<(), Error> {
        if node.state().is_active() {
            return Err(Error::AlreadyStarted);
        }
        if node.parent().is_some_and(|p| p.state() != State::Running) {
            return Err(Error::ParentNotRunning);
        }
        Ok(())
    }

    async fn start_and_handle(&self, local: &LocalRef) {
        if let Err(StartError::Crashed(_)) = self.start_node(local).await {
            self.handle_crash(local).await;
        }
    }

    /// A service crashed: the nearest supervisor above it applies its strategy; without
    /// one, the crash stops the whole tree.
    async fn handle_crash(&self, local: &LocalRef) {
        let node = local.node();
        let Some(crash) = node.crash_reason() else {
            return;
        };
        if matches!(node.state(), State::Init | State::Stopped) && node.parent().is_some() {
            // Already stopped by whoever handled it first.
            return;
        }
        self.propagate_crash(local.clone(), crash).await;
    }

    /// Takes `crash` of `crashed` up the tree: each ancestor records it, until a supervisor
    /// handles it for its child on the way (or gives up, and the walk goes on from the
    /// supervisor with its own crash). Reaching the top stops the tree.
    pub(crate) async fn propagate_crash(&self, mut crashed: LocalRef, mut crash: Crash) {
        loop {
            let parent = crashed.node().parent().and_then(|p| self.find(&p));
            let Some(parent) = parent else {
                self.stop_node(&crashed, StopReason::Crashed(crash)).await;
                return;
            };
            if parent.supervisor.is_some() {
                match self.supervise(&parent, &crashed, crash).await {
                    Supervised::Handled => return,
                    Supervised::Escalate(escalated) => crash = escalated,
                }
            } else {
                parent.node().record_crash(crash.clone());
            }
            crashed = parent;
        }
    }

    /// The start sequence (mode's order): `on_first_start` (or `on_restart`), `Starting...`,
    /// `on_start`, background tasks, children one by one, `Started`, `on_started`.
    ///
    /// The hooks run inside the service's own sequence future
    /// ([`DynService::start_sequence`]); the steps between them are below.
    // The service stays borrowed for the whole sequence on purpose: a nested sequence of
    // the same service (a hook awaiting its own restart) finds it borrowed and fails.
    #[allow(clippy::await_holding_refcell_ref)]
    pub(crate) async fn start_node(&self, local: &LocalRef) -> Result<(), StartError> {
        let node = local.node();
        let restarting = local.started_once.get();
        local.started_once.set(true);
        node.begin_run(restarting);
        *local.deferred.borrow_mut() = Some(Few::None);
        node.set_starting();
        let result = match local.service.try_borrow_mut() {
            Ok(mut service) => service.start_sequence(self, local, restarting).await,
            Err(_) => {
                let hook = if restarting {
                    Hook::Restart
                } else {
                    Hook::FirstStart
                };
                Err(self.crashed(node, busy(hook)))
            }
        };
        node.finish_start(match &result {
            Ok(()) => Ok(()),
            Err(StartError::Crashed(crash)) => Err(Error::Crashed(crash.clone())),
            Err(StartError::Interrupted) => Err(Error::ServiceStopped),
        });
        result
    }

    /// After `on_first_start` (or `on_restart`): `Starting...`.
    pub(crate) fn before_on_start(
        &self,
        local: &LocalRef,
        hook: crate::Result,
    ) -> Result<(), StartError> {
        let node = local.node();
        self.start_hook_result(local, hook)?;
        check_stop(node)?;
        events::emit(node, Emit::Starting);
        Ok(())
    }

    /// After `on_start`: background tasks, children one by one, `Started`.
    pub(crate) async fn after_on_start(
        &self,
        local: &LocalRef,
        hook: crate::Result,
    ) -> Result<(), StartError> {
        let node = local.node();
        self.start_hook_result(local, hook)?;
        check_stop(node)?;

        // Background tasks: the hooks' in the order they were added, then those added from
        // other threads meanwhile.
        let from_hooks = local.deferred.borrow_mut().take().unwrap_or(Few::None);
        for task in from_hooks {
            let spawned = match task {
                Deferred::Send(task) => node.tree.spawner.spawn(task),
                Deferred::Local(task) => node.tree.spawner.spawn_local(task),
            };
            if let Err(err) = spawned {
                return Err(self.crashed(node, Box::new(err)));
            }
        }
        for task in node.tasks().take_deferred() {
            if let Err(err) = node.tree.spawner.spawn(task) {
                return Err(self.crashed(node, Box::new(err)));
            }
        }

        // Children, each fully started before the next; the list may grow meanwhile.
        let mut index = 0;
        loop {
            let child = local.children.borrow().get(index).cloned();
            let Some(child) = child else { break };
            index += 1;
            if matches!(child.node().state(), State::Init | State::Stopped) {
                match self.start_node(&child).await {
                    Ok(()) => {}
                    Err(StartError::Crashed(crash)) => {
                        node.record_crash(crash.clone());
                        return Err(StartError::Crashed(crash));
                    }
                    Err(StartError::Interrupted) => return Err(StartError::Interrupted),
                }
            }
            check_stop(node)?;
        }

        events::emit(node, Emit::Started);
        node.set_state(State::Running);
        Ok(())
    }

    /// A start hook's result: its error crashes the service.
    pub(crate) fn start_hook_result(
        &self,
        local: &LocalRef,
        hook: crate::Result,
    ) -> Result<(), StartError> {
        hook.map_err(|error| self.crashed(local.node(), error))
    }

    fn crashed(&self, node: &Arc<Node>, error: crate::BoxError) -> StartError {
        let (crash, _) = node.record_crash(Crash::new(node.label.clone(), error));
        if let Some(reported) = node.crash_to_report() {
            events::emit(node, Emit::Crashed(&reported));
        }
        StartError::Crashed(crash)
    }

    /// The stop sequence (mode's order): `Stopping...`, `on_stop`, children in reverse
    /// order, tasks cancelled, `Stopped`, the shutdown flag if the service waits for it,
    /// tasks gone, resources released in reverse order, `on_shutdown`,
    /// `Shutdown complete!`.
    // Borrows the service for the whole sequence, as `start_node` does.
    #[allow(clippy::await_holding_refcell_ref)]
    pub(crate) async fn stop_node(&self, local: &LocalRef, reason: StopReason) {
        let node = local.node();
        if matches!(node.state(), State::Init | State::Stopping | State::Stopped) {
            return;
        }
        let reason = node.settle_stop_reason(reason);
        flag_stop(local);
        node.set_state(State::Stopping);
        events::emit(node, Emit::Stopping(&reason));

        let timeout = local
            .stop_timeout
            .unwrap_or_else(|| self.shared.default_stop_timeout());
        let mut budget = StopBudget {
            timers: &self.shared.timers,
            sleep: &self.stop_sleep,
            node,
            timeout,
            deadline: None,
            timed_out: None,
        };

        match local.service.try_borrow_mut() {
            Ok(mut service) => service.stop_sequence(self, local, &mut budget).await,
            Err(_) => {
                hook_failed(node, Hook::Stop, &busy(Hook::Stop));
                // Boxed: `stop_steps` stops the children with this very function.
                Box::pin(self.stop_steps(local, &mut budget)).await;
                hook_failed(node, Hook::Shutdown, &busy(Hook::Shutdown));
            }
        }
        events::emit(node, Emit::ShutdownComplete);
        if let Some(waiting_on) = budget.timed_out {
            node.set_stop_reason(StopReason::StopTimeout { waiting_on });
        }
        node.set_state(State::Stopped);
    }

    /// A stop hook's result (`None`: it timed out): its error is logged, and the stop
    /// goes on.
    pub(crate) fn stop_hook_result(
        &self,
        local: &LocalRef,
        hook: Hook,
        result: Option<crate::Result>,
    ) {
        if let Some(Err(error)) = result {
            hook_failed(local.node(), hook, &error);
        }
    }

    /// Between `on_stop` and `on_shutdown`: children in reverse order, tasks cancelled,
    /// `Stopped`, the shutdown flag, tasks gone, resources released in reverse order.
    pub(crate) async fn stop_steps(&self, local: &LocalRef, budget: &mut StopBudget<'_>) {
        let node = local.node();
        // By index, not over a copy of the list (a large allocation for a wide tree): the
        // list does not change while its children stop, since only the driver changes it
        // and it is busy here.
        let mut remaining = local.children.borrow().len();
        if remaining > 0 {
            let children_started = budget.running_since();
            while remaining > 0 {
                remaining -= 1;
                let child = local.children.borrow().get(remaining).cloned();
                if let Some(child) = child {
                    self.stop_node(&child, StopReason::ParentStopping).await;
                }
            }
            budget.extend_since(children_started);
        }
        self.remove_runtime_children(local);

        let run = node.tasks();
        run.cancel();
        local.deferred.borrow_mut().take();
        events::emit(node, Emit::Stopped);

        if local.wait_for_shutdown {
            let flag = wait_for(node, || node.shutdown_set().then_some(()));
            budget.bounded(flag, WaitingOn::Shutdown).await;
        }
        if run.live() > 0
            && budget
                .bounded(run.wait_empty(), WaitingOn::Tasks(0))
                .await
                .is_none()
        {
            budget.timed_out = Some(WaitingOn::Tasks(run.live()));
        }

        let resources = core::mem::take(&mut *local.resources.borrow_mut());
        for resource in resources.into_iter().rev() {
            match resource {
                Resource::Value(value) => drop(value),
                Resource::Async(resource) => {
                    budget.bounded(resource.close(), WaitingOn::Resource).await;
                }
            }
        }
    }

    /// Runtime dependencies leave with the run that added them (a supervisor's children
    /// stay until removed).
    fn remove_runtime_children(&self, local: &LocalRef) {
        let is_runtime = |child: &LocalRef| child.node().kind == ChildKind::Runtime;
        if local.supervisor.is_some() || !local.children.borrow().iter().any(is_runtime) {
            return;
        }
        let removed: Vec<LocalRef> = {
            let mut children = local.children.borrow_mut();
            let (runtime, declared) = core::mem::take(&mut *children)
                .into_iter()
                .partition(is_runtime);
            *children = declared;
            runtime
        };
        for child in removed {
            local.node().remove_child(child.node().id);
            self.forget(&child);
        }
    }

    /// Drops a stopped subtree from the registry.
    pub(crate) fn forget(&self, local: &LocalRef) {
        self.registry.borrow_mut().remove(local.node());
        let children = core::mem::take(&mut *local.children.borrow_mut());
        for child in &children {
            self.forget(child);
        }
    }
}

/// [`Node::flag_stop`] from the driver: the same walk over the driver's lists of children,
/// which take no lock.
fn flag_stop(local: &LocalRef) {
    if local.node().raise_stop_flag() {
        for child in local.children.borrow().iter() {
            flag_stop(child);
        }
    }
}

fn check_stop(node: &Node) -> Result<(), StartError> {
    if node.should_stop() {
        Err(StartError::Interrupted)
    } else {
        Ok(())
    }
}

fn hook_failed(node: &Node, hook: Hook, error: &crate::BoxError) {
    events::emit(
        node,
        Emit::HookFailed {
            hook: hook.name(),
            error: &**error,
        },
    );
}

/// How many times a waiting stop step lets the executor run before its deadline is armed.
/// One is enough where the driver's task is polled after the tasks it woke (tokio, smol);
/// the second covers a driver that was already queued when it woke them (a FIFO executor
/// whose driver was woken by a waiter of its own).
const GRACE_ROUNDS: u8 = 2;

/// The time a service's stop may take: one deadline for its own steps, extended by the
/// time its children took (they have their own).
///
/// The deadline is set when a step is still waiting after [`GRACE_ROUNDS`] rounds of the
/// executor: steps that finish at once (hooks a service does not override, a run without
/// tasks) and steps that finish as soon as the executor has run (a task leaving on
/// cancellation) neither read the clock nor register a timer. Registering one is not
/// free: besides the timer queue's work, on smol it wakes async-io's reactor thread, after
/// which every self-wake of the thread blocked in `smol::block_on` polls the reactor.
pub(crate) struct StopBudget<'a> {
    timers: &'a Arc<TimerQueue>,
    sleep: &'a RefCell<Option<Box<SleepUntil>>>,
    node: &'a Node,
    timeout: Duration,
    deadline: Option<Instant>,
    timed_out: Option<WaitingOn>,
}

impl<'a> StopBudget<'a> {
    /// The current time, if the deadline is running (the time children take must then be
    /// added to it).
    fn running_since(&self) -> Option<Instant> {
        self.deadline.map(|_| self.timers.now())
    }

    /// Moves the deadline by the time elapsed since `since` (from [`running_since`]).
    fn extend_since(&mut self, since: Option<Instant>) {
        if let (Some(since), Some(deadline)) = (since, self.deadline.as_mut()) {
            *deadline += self.timers.now() - since;
        }
    }

    /// Runs `step` until the deadline; `None` (and a logged stop timeout) if it expired.
    pub(crate) fn bounded<F: Future>(
        &mut self,
        step: F,
        waiting_on: WaitingOn,
    ) -> Bounded<'_, 'a, F> {
        Bounded {
            step,
            budget: self,
            waiting_on,
            sleep: None,
            rounds: 0,
        }
    }

    /// The sleep until the deadline, which starts to run now if it does not yet. Steps
    /// never nest, so the tree's one stop sleep is normally there to take; if not, a fresh
    /// one does the same job.
    fn arm(&mut self) -> Box<SleepUntil> {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| self.timers.now() + self.timeout);
        match self.sleep.borrow_mut().take() {
            Some(mut sleep) => {
                sleep.reset(deadline);
                sleep
            }
            None => Box::new(self.timers.sleep_until(deadline)),
        }
    }

    /// Hands the sleep back to the tree for the next step.
    fn give_back(&self, sleep: Option<Box<SleepUntil>>) {
        if let Some(sleep) = sleep {
            *self.sleep.borrow_mut() = Some(sleep);
        }
    }

    /// The deadline passed while a step waited on `waiting_on`.
    fn expired(&mut self, waiting_on: WaitingOn) {
        let waiting_on = match waiting_on {
            WaitingOn::Tasks(_) => WaitingOn::Tasks(self.node.tasks().live()),
            other => other,
        };
        events::emit(
            self.node,
            Emit::StopTimeout {
                waiting_on,
                timeout: self.timeout,
            },
        );
        self.timed_out.get_or_insert(waiting_on);
    }
}

pin_project_lite::pin_project! {
    /// A stop step bounded by its service's stop deadline ([`StopBudget::bounded`]).
    ///
    /// The sleep is boxed and taken only once the step still waits after the grace rounds,
    /// so the future of a step stays as small as the step's own.
    pub(crate) struct Bounded<'b, 'a, F> {
        #[pin]
        step: F,
        budget: &'b mut StopBudget<'a>,
        waiting_on: WaitingOn,
        sleep: Option<Box<SleepUntil>>,
        rounds: u8,
    }
}

impl<F: Future> Future for Bounded<'_, '_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(value) = this.step.poll(cx) {
            this.budget.give_back(this.sleep.take());
            return Poll::Ready(Some(value));
        }
        if *this.rounds < GRACE_ROUNDS {
            // Let the executor run first: the tasks a stop waits for usually leave as soon
            // as they are polled.
            *this.rounds += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let sleep = match this.sleep {
            Some(sleep) => sleep,
            None => this.sleep.insert(this.budget.arm()),
        };
        if Pin::new(&mut **sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.budget.give_back(this.sleep.take());
        this.budget.expired(*this.waiting_on);
        Poll::Ready(None)
    }
}

impl fmt::Debug for LocalNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalNode")
            .field("label", &self.service.try_borrow().map(|s| s.label()).ok())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::testing::VirtualRuntime;
    use crate::{Context, Dependencies, Result};

    struct Parent;

    impl Service for Parent {
        fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
            deps.add(Worker);
        }
    }

    /// One task that waits forever, so its stop waits for the task to leave.
    struct Worker;

    impl Service for Worker {
        async fn on_start(&mut self, cx: &Context<'_>) -> Result {
            cx.spawn(core::future::pending())?;
            Ok(())
        }
    }

    /// Holds back the first task it is given (never polled, as if its thread were
    /// stuck); runs the others on the virtual runtime.
    #[derive(Clone)]
    struct StuckFirst {
        rt: VirtualRuntime,
        held: Arc<std::sync::Mutex<Vec<crate::runtime::BoxFuture>>>,
        spawned: Arc<core::sync::atomic::AtomicUsize>,
    }

    impl crate::runtime::Spawner for StuckFirst {
        fn spawn(
            &self,
            future: crate::runtime::BoxFuture,
        ) -> core::result::Result<(), crate::runtime::SpawnError> {
            use core::sync::atomic::Ordering;
            if self.spawned.fetch_add(1, Ordering::SeqCst) == 0 {
                self.held.lock().unwrap().push(future);
                Ok(())
            } else {
                self.rt.spawn(future)
            }
        }
    }

    /// A task of a stop that timed out is not revived by the restart: the restart runs
    /// its tasks in a fresh run, which the straggler never joins.
    #[test]
    fn a_restart_after_a_timed_out_stop_leaves_the_straggler_behind() {
        let rt = VirtualRuntime::new();
        let spawner = StuckFirst {
            rt: rt.clone(),
            held: Default::default(),
            spawned: Default::default(),
        };
        let tree = Tree::new(Worker, spawner.clone(), rt.clone())
            .with_stop_timeout(Duration::from_millis(10));
        let root = tree.handle();
        let node = root.node().clone();
        let (reason, ()) = rt
            .block_on(futures_lite::future::zip(tree.run(), async {
                root.wait_until_running().await.unwrap();
                root.restart().await.unwrap();
                assert_eq!(rt.now(), Instant::ZERO + Duration::from_millis(10));
                // The straggler counts in the old run only.
                assert_eq!(node.tasks().live(), 1);
                assert!(!node.tasks().is_cancelled());
                spawner.held.lock().unwrap().clear();
                assert_eq!(node.tasks().live(), 1, "the new run's task is still there");
                root.stop().await;
                assert_eq!(node.tasks().live(), 0);
            }))
            .unwrap();
        assert!(matches!(reason, StopReason::Requested), "{reason:?}");
        assert_eq!(node.restart_count(), 1);
    }

    /// Spawns, from `on_start`, a task, a local task and a task through a handle on
    /// another thread; each logs its first poll.
    struct Mixed(Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl Service for Mixed {
        async fn on_start(&mut self, cx: &Context<'_>) -> Result {
            let log = self.0.clone();
            let handle = cx.handle().clone();
            std::thread::spawn(move || {
                handle.spawn(async move {
                    log.lock().unwrap().push("from another thread");
                    Ok(())
                })
            })
            .join()
            .unwrap()?;
            let log = self.0.clone();
            cx.spawn(async move {
                log.lock().unwrap().push("first");
                Ok(())
            })?;
            let log = self.0.clone();
            cx.spawn_local(async move {
                log.lock().unwrap().push("second, local");
                Ok(())
            })?;
            Ok(())
        }
    }

    #[test]
    fn a_hooks_tasks_start_in_the_order_added_before_those_from_other_threads() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let rt = VirtualRuntime::new();
        let tree = Tree::new(Mixed(log.clone()), rt.clone(), rt.clone());
        let root = tree.handle();
        let (reason, ()) = rt
            .block_on(futures_lite::future::zip(tree.run(), async {
                root.wait_until_running().await.unwrap();
                root.stop().await;
            }))
            .unwrap();
        assert!(matches!(reason, StopReason::Requested));
        assert_eq!(
            *log.lock().unwrap(),
            ["first", "second, local", "from another thread"]
        );
    }

    #[test]
    fn a_stop_whose_tasks_leave_on_cancellation_arms_no_timer() {
        let rt = VirtualRuntime::new();
        let tree = Tree::new(Parent, rt.clone(), rt.clone());
        let root = tree.handle();
        let (reason, ()) = rt
            .block_on(futures_lite::future::zip(tree.run(), async {
                root.wait_until_running().await.unwrap();
                let worker = root.children()[0].clone();
                worker.stop().await;
                assert_eq!(worker.state(), State::Stopped);
                // No stop deadline was registered, so the timer queue sleeps on nothing.
                assert_eq!(rt.pending_sleeps(), 0);
                root.stop().await;
            }))
            .unwrap();
        assert!(matches!(reason, StopReason::Requested));
        assert_eq!(rt.now(), Instant::ZERO);
    }
}
