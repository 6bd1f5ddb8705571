//! The driver: the future inside [`Tree::run`](crate::Tree::run) that creates the tree's
//! services, runs every request as an operation (see `operation.rs`), and keeps the
//! driver's half of each service ([`LocalNode`]).

use crate::platform::plain::Arc;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::cell::{Cell, OnceCell, RefCell};
use core::fmt;
use core::task::Poll;

use super::operation::{Holder, OperationState, Operations};
use super::registry::Registry;
use super::{
    CloseResources, ExecuteRequest, LocalRef, Request, StartError, TakeRequest, WaitForShutdown,
};
use crate::blocking;
use crate::context::Dependencies;
use crate::error::Crash;
use crate::events::LifecycleEvent;
use crate::exit::{Exit, StopFailure, UncleanStop};
use crate::graph::ChildKind;
use crate::handle::ServiceHandle;
use crate::lifecycle;
use crate::node::{Command, LogSettings, Node, TreeShared};
use crate::runtime::{BoxFuture, LocalBoxFuture, Spawner};
use crate::service::{DynAsyncClose, DynService, Hook};
use crate::state::{State, StopReason};
use crate::supervisor::{AsSupervision, Supervised, Supervision, SupervisorState};
use crate::task_run::Few;
use crate::task_set::TaskSet;
use crate::time::Duration;
use crate::timer_queue::{SleepUntil, TimerQueue};

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
/// `Send`, with the handle of its shared [`Node`]. Only the future running the tree touches
/// it, through a [`LocalRef`] (see `local.rs`).
///
/// The service value is inline at its end (`LocalNode<S>` coerces to
/// `LocalNode<dyn DynService>`).
pub(crate) struct LocalNode<S: ?Sized = dyn DynService> {
    pub(crate) handle: ServiceHandle,
    /// Restart intensity, backoff and pending restarts, and the way into supervision's
    /// code, if the service is a supervisor: set when it joins the tree (boxed: most
    /// services are not, and pay one pointer for it). Through [`supervision`](Self::supervision).
    supervision: OnceCell<Box<dyn AsSupervision>>,
    /// What many services never use, allocated at its first use (see [`Extras`]).
    extras: OnceCell<Box<Extras>>,
    /// Whether the start sequence has yet to reach its task step: tasks the hooks add
    /// until then wait in the driver's list (see [`Driver::defer`]).
    pub(crate) deferring: Cell<bool>,
    pub(crate) started_once: Cell<bool>,
    /// Whether the current run's start began `on_start` (logged `Starting...`): only then
    /// does its stop run the stop hooks (see `stop.rs`).
    pub(crate) on_start_began: Cell<bool>,
    /// The operation working on the service, if any (see `operation.rs`).
    pub(crate) holder: Holder,
    /// Borrowed while one of its hooks runs.
    pub(crate) service: RefCell<S>,
}

/// [`Driver::remove_runtime_children`], as [`Extras`] keeps it.
pub(crate) type RemoveRuntimeChildren = fn(&Driver, &LocalRef);

/// The part of a [`LocalNode`] that many services never use: a service that adds no
/// resource and keeps the tree's stop timeout pays one pointer for it.
#[derive(Default)]
pub(crate) struct Extras {
    /// Values and async resources, released in reverse order when the service stops.
    pub(crate) resources: RefCell<Vec<Resource>>,
    /// The service's own stop timeout ([`Service::stop_timeout`](crate::Service::stop_timeout)).
    pub(crate) stop_timeout: Option<Duration>,
    /// [`Driver::remove_runtime_children`], set when the service adds a runtime
    /// dependency: its stop reaches that code only through here, so a program that adds
    /// none does not link it.
    pub(crate) remove_runtime_children: Cell<Option<RemoveRuntimeChildren>>,
    /// How its stop waits for the shutdown flag, for a service that
    /// [waits for it](crate::Service::wait_for_shutdown): a program whose services do not
    /// wait does not link the wait.
    pub(crate) wait_for_shutdown: Option<WaitForShutdown>,
    /// How its stop closes its resources, set when it adds an async one: a program that
    /// adds none links only the dropping of values.
    pub(crate) close_resources: Cell<Option<CloseResources>>,
}

impl<S: ?Sized> LocalNode<S> {
    /// The extras, allocated now if this is their first use.
    pub(crate) fn extras(&self) -> &Extras {
        self.extras.get_or_init(Box::default)
    }

    /// Takes the service's resources, for its stop to release.
    pub(crate) fn take_resources(&self) -> Vec<Resource> {
        match self.extras.get() {
            Some(extras) => extras.resources.take(),
            None => Vec::new(),
        }
    }

    /// The service's own stop timeout, if it has one.
    pub(crate) fn stop_timeout(&self) -> Option<Duration> {
        self.extras.get().and_then(|extras| extras.stop_timeout)
    }

    /// How its stop waits for the shutdown flag, if it does.
    pub(crate) fn shutdown_wait(&self) -> Option<WaitForShutdown> {
        self.extras
            .get()
            .and_then(|extras| extras.wait_for_shutdown)
    }

    /// How its stop closes its resources, if one of them closes asynchronously.
    pub(crate) fn resource_closing(&self) -> Option<CloseResources> {
        (self.extras.get()).and_then(|extras| extras.close_resources.get())
    }

    /// How its stop removes its runtime dependencies, if it added any.
    pub(crate) fn runtime_children_removal(&self) -> Option<RemoveRuntimeChildren> {
        (self.extras.get()).and_then(|extras| extras.remove_runtime_children.get())
    }
}

/// The services a start or stop is inside of, from the top down (see `start.rs` and
/// `stop.rs`).
pub(crate) type Path<T> = Vec<T>;

/// The error of a hook that cannot run because a sequence of its service is already
/// running further up the stack.
pub(crate) fn busy(hook: Hook) -> crate::error::BoxError {
    Box::new(Busy(hook))
}

/// `on_stop called while another hook runs`: written when shown rather than formatted
/// into a `String` up front, which would link `str`'s escaping `Debug` into every firmware.
struct Busy(Hook);

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())?;
        f.write_str(" called while another hook runs")
    }
}

/// Quoted, as the message's `String` was.
impl fmt::Debug for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        fmt::Display::fmt(self, f)?;
        f.write_str("\"")
    }
}

impl core::error::Error for Busy {}

/// Runs the lifecycle sequences. Lives inside [`Tree::run`](crate::Tree::run).
pub(crate) struct Driver {
    pub(crate) shared: Arc<TreeShared>,
    registry: RefCell<Registry>,
    /// The one sleep that bounds stop steps, moved from deadline to deadline. Stop
    /// deadlines of successive steps seldom move earlier, so moving it rarely wakes the
    /// timer queue's driver, where a fresh registration per step would wake it (and so the
    /// tree's own task) once per stopped service.
    pub(crate) stop_sleep: RefCell<Option<Box<SleepUntil>>>,
    /// The id of the next service created (the driver creates them all).
    next_id: Cell<u64>,
    /// The services that did not stop cleanly so far (see [`Exit`]).
    unclean: RefCell<Vec<UncleanStop>>,
    /// Which operation runs, and which was released (see `operation.rs`).
    pub(crate) operations: OperationState,
    /// Tasks the hooks of starting services added before their start sequence's task
    /// step, with their service's id, in the order they were added: one list for the
    /// tree, which services pay nothing for (see [`defer`](Self::defer)).
    deferred: RefCell<Vec<(u64, Deferred)>>,
    /// The tasks the tree polls itself: those that are not `Send`, and in a single-task
    /// tree every task. Declared last: they drop after the services are released.
    pub(crate) tasks: TaskSet,
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
            local.node().notify_changed();
        }
    }
}

impl Driver {
    /// A driver for a tree whose `Send` tasks go to `spawner`, or without one, into the
    /// driver's own task set; `timers` is the tree's timer queue.
    pub(crate) fn new(spawner: Option<Arc<dyn Spawner>>, timers: Arc<TimerQueue>) -> Self {
        let tasks = TaskSet::new();
        let spawner = spawner.unwrap_or_else(|| {
            let inbox = Box::new(tasks.inbox().clone()) as Box<dyn Spawner>;
            Arc::from(inbox)
        });
        Driver {
            shared: Arc::new(TreeShared::new(spawner, timers)),
            tasks,
            registry: RefCell::new(Registry::default()),
            stop_sleep: RefCell::new(None),
            next_id: Cell::new(1),
            unclean: RefCell::new(Vec::new()),
            operations: OperationState::default(),
            deferred: RefCell::new(Vec::new()),
        }
    }

    /// Creates a node for `service` under `parent`, then the children it declares, and
    /// theirs: each service's `on_init_dependencies` runs once, parents before children,
    /// from a list rather than by recursion, so the depth of a tree costs no stack.
    pub(crate) fn create_node<S: DynService>(
        &self,
        service: S,
        parent: Option<&LocalRef>,
        kind: ChildKind,
    ) -> LocalRef {
        let created = self.new_node(service, parent, kind);
        let mut uninitialised = alloc::vec![created.clone()];
        while let Some(local) = uninitialised.pop() {
            let declared_from = uninitialised.len();
            // Nothing else borrows a service that is being created.
            if let Ok(mut service) = local.service.try_borrow_mut() {
                service.init_dependencies(&mut Dependencies {
                    driver: self,
                    parent: &local,
                    declared: &mut uninitialised,
                });
            }
            // The children just declared are initialised next, in declaration order.
            if let Some(declared) = uninitialised.get_mut(declared_from..) {
                declared.reverse();
            }
        }
        created
    }

    /// Creates a node for `service` under `parent`, without its children (see
    /// [`create_node`](Self::create_node)).
    pub(crate) fn new_node<S: DynService>(
        &self,
        mut service: S,
        parent: Option<&LocalRef>,
        kind: ChildKind,
    ) -> LocalRef {
        let parent_node = parent.map(|p| p.node());
        let slot = self.registry.borrow().next_slot();
        let label = service.label();
        let log = LogSettings {
            target: service.log_target(),
            lifecycle_level: service.lifecycle_log_level(),
        };
        let strategy = crate::supervisor::strategy_of(&mut service);
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let node = Node::new(
            self.shared.clone(),
            id,
            slot,
            label,
            log,
            parent_node,
            kind,
            strategy,
        );
        if let Some(parent) = parent_node {
            parent.push_child(node.clone());
        }
        let (stop_timeout, wait_for_shutdown) = (service.stop_timeout(), service.shutdown_wait());
        let extras = if stop_timeout.is_some() || wait_for_shutdown.is_some() {
            OnceCell::from(Box::new(Extras {
                stop_timeout,
                wait_for_shutdown,
                ..Extras::default()
            }))
        } else {
            OnceCell::new()
        };
        let local = LocalRef::new(LocalNode {
            handle: ServiceHandle::new(node),
            extras,
            deferring: Cell::new(false),
            started_once: Cell::new(false),
            on_start_began: Cell::new(false),
            holder: Holder::default(),
            supervision: OnceCell::new(),
            service: RefCell::new(service),
        });
        self.registry.borrow_mut().insert(local.clone());
        local
    }

    /// Queues `task`, added by a hook of `local` while it is
    /// [`deferring`](LocalNode::deferring), until its start sequence's task step.
    /// (Tasks added from other threads meanwhile wait in the task run.)
    pub(crate) fn defer(&self, local: &LocalRef, task: Deferred) {
        self.deferred.borrow_mut().push((local.node().id, task));
    }

    /// Ends deferral for `local` (its start sequence's task step, or its stop) and takes
    /// the tasks its hooks added meanwhile, in order.
    pub(crate) fn take_deferred(&self, local: &LocalRef) -> Few<Deferred> {
        local.deferring.set(false);
        let mut deferred = self.deferred.borrow_mut();
        let mut taken = Few::None;
        if deferred.is_empty() {
            return taken;
        }
        let id = local.node().id;
        let mut i = 0;
        while i < deferred.len() {
            if deferred[i].0 == id {
                taken.push(deferred.remove(i).1);
            } else {
                i += 1;
            }
        }
        taken
    }

    pub(crate) fn find(&self, node: &Node) -> Option<LocalRef> {
        self.registry.borrow().get(node).cloned()
    }

    /// Starts the tree and runs every request as an operation of its own (see
    /// `operation.rs`), until the root has stopped.
    pub(crate) async fn main(&self, root: &LocalRef) -> Exit {
        let mut operations = Operations::new(self);
        operations.begin(|| self.start_tree(root));
        let mut registered = None;
        core::future::poll_fn(|cx| {
            let _probe = blocking::driver(root.node());
            // New requests, if any were queued since the last poll: a request queued from
            // here on wakes the driver again. (Each operation is polled once per wake-up
            // of the driver, so a stop step's grace rounds are rounds of the executor.)
            if self.shared.wake.take(cx, &mut registered) {
                while let Some(command) = self.shared.next_command() {
                    self.begin(&mut operations, command);
                }
            }
            operations.poll(cx);
            self.tasks.poll(cx);
            if root.node().state() == State::Stopped {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        // Operations still running (requests that waited for a service) end unanswered;
        // their waiters learn that the tree finished.
        drop(operations);
        // Crashes still queued happened too late for anyone to handle them; the other
        // requests are answered when the driver drops them.
        while let Some(command) = self.shared.next_command() {
            if let Command::Crashed(node) = command {
                self.settle_crash(&node, true);
            }
        }
        let reason = root.node().stop_reason().unwrap_or(StopReason::Requested);
        let unclean = core::mem::take(&mut *self.unclean.borrow_mut());
        Exit::new(reason, unclean, self.shared.exit_status())
    }

    /// Reports `node`'s crash if nobody did yet, and if no supervisor or stop of the tree
    /// handled it, records it as an unclean stop of the run (when the stop `counts`: see
    /// `StopBudget`).
    pub(crate) fn settle_crash(&self, node: &Node, counts: bool) {
        if !node.has_crash() {
            return;
        }
        if let Some(crash) = node.crash_to_report() {
            lifecycle::emit(node, LifecycleEvent::Crashed(&crash));
        }
        if !counts {
            return;
        }
        if let Some(crash) = node.crash_reason().filter(Crash::take_unhandled) {
            self.record_unclean(node, StopFailure::Crashed(crash));
        }
    }

    /// Records that `node` did not stop cleanly.
    pub(crate) fn record_unclean(&self, node: &Node, failure: StopFailure) {
        let unclean = UncleanStop::new(node.label.clone(), failure);
        self.unclean.borrow_mut().push(unclean);
    }

    /// The tree's first operation: the root's start (and its stop, if the start crashed).
    async fn start_tree(&self, root: &LocalRef) {
        if let Err(StartError::Crashed(crash)) = self.start_node(root).await {
            crash.mark_handled();
            self.stop_node(root, StopReason::Crashed(crash)).await;
        }
    }

    /// Begins the operation that executes `command`: one future per kind of request, so
    /// each operation is only as large as what it does.
    fn begin<'a>(&'a self, operations: &mut Operations<'a>, command: Command) {
        match command {
            Command::Stop(node) => operations.begin(|| self.execute_stop(node)),
            Command::Execute(node, request) => {
                if let Some(execute) = request.into_inner::<ExecuteRequest>() {
                    operations.begin_boxed(execute(self, node));
                }
            }
            Command::Crashed(node) => operations.begin(|| self.execute_crashed(node)),
            Command::Supervisor(node, request) => {
                if let Some((request, take)) = request.into_inner::<(Request, TakeRequest)>() {
                    if let Some(execute) = take(self, node, request) {
                        operations.begin_boxed(execute);
                    }
                }
            }
        }
    }

    async fn execute_stop(&self, node: Arc<Node>) {
        let Some(local) = self.find(&node) else {
            node.stop_request_done(node.take_stop_request());
            return;
        };
        let _held = self.hold(&local).await;
        // Taken only now: while it waits, a restart under way sees it and stops short of
        // starting the service again.
        let number = node.take_stop_request();
        self.stop_node(&local, StopReason::Requested).await;
        node.stop_request_done(number);
    }

    async fn execute_crashed(&self, node: Arc<Node>) {
        if let Some(local) = self.find(&node) {
            if let Some(crash) = node.crash_to_report() {
                lifecycle::emit(&node, LifecycleEvent::Crashed(&crash));
            }
            self.handle_crash(&local).await;
        }
    }

    /// A service crashed: the nearest supervisor above it applies its strategy; without
    /// one, the crash stops the whole tree.
    pub(super) async fn handle_crash(&self, local: &LocalRef) {
        let node = local.node();
        let Some(crash) = node.crash_reason() else {
            return;
        };
        if !node.state().is_active() && node.parent().is_some() {
            // Already stopped, or stopping, by whoever handled it first: that stop reports
            // the crash.
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
                if crashed.node().state().is_active() {
                    // The crash stops the tree: it is the tree's reason, handled.
                    crash.mark_handled();
                    self.stop_node(&crashed, StopReason::Crashed(crash)).await;
                }
                return;
            };
            if let Some(supervision) = parent.supervision() {
                match (supervision.supervise)(self, &parent, &crashed, crash).await {
                    Supervised::Handled => return,
                    Supervised::Escalate(escalated) => crash = escalated,
                }
            } else {
                parent.node().inherit_crash(crash.clone());
            }
            crashed = parent;
        }
    }

    /// Runtime dependencies leave with the run that added them (a supervisor's children
    /// stay until removed).
    pub(crate) fn remove_runtime_children(&self, local: &LocalRef) {
        let is_runtime = |child: &Arc<Node>| child.kind == ChildKind::Runtime;
        if local.supervision().is_some()
            || !local
                .node()
                .with_children(|children| children.iter().any(is_runtime))
        {
            return;
        }
        for child in self.children_of(local) {
            if is_runtime(child.node()) {
                local.node().remove_child(child.node().id);
                self.forget(&child);
            }
        }
    }

    /// Drops a stopped subtree from the registry.
    pub(crate) fn forget(&self, local: &LocalRef) {
        let mut registry = self.registry.borrow_mut();
        let mut gone = alloc::vec![local.clone()];
        while let Some(local) = gone.pop() {
            // Tasks queued by a start that never reached its task step leave with it.
            drop(self.take_deferred(&local));
            registry.remove(local.node());
            local.node().with_children(|children| {
                gone.extend(
                    children
                        .iter()
                        .filter_map(|child| registry.get(child).cloned()),
                );
            });
        }
    }

    /// The driver's half of `parent`'s child at `index`, if there is one. (The driver
    /// changes a node's list of children and the registry together: every child listed
    /// is registered.)
    pub(crate) fn child_at(&self, parent: &LocalRef, index: usize) -> Option<LocalRef> {
        let child = parent.node().child(index)?;
        self.registry.borrow().get(&child).cloned()
    }

    /// The driver's halves of `parent`'s children, in order.
    pub(crate) fn children_of(&self, parent: &LocalRef) -> Vec<LocalRef> {
        let registry = self.registry.borrow();
        parent.node().with_children(|children| {
            (children.iter())
                .filter_map(|child| registry.get(child).cloned())
                .collect()
        })
    }
}

impl<S: ?Sized> LocalNode<S> {
    /// The supervisor's part of this service, if it is one.
    pub(crate) fn supervision(&self) -> Option<&Supervision> {
        self.supervision
            .get()
            .map(|supervision| supervision.supervision())
    }

    /// Makes this service a supervisor (once: a service joins one tree, once).
    pub(crate) fn set_supervision(&self, supervision: Supervision) {
        let _ = self.supervision.set(Box::new(supervision));
    }

    /// The state of the supervisor this service is, if it is one.
    pub(crate) fn supervisor_state(&self) -> Option<&RefCell<SupervisorState>> {
        self.supervision().map(|supervision| &supervision.state)
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
