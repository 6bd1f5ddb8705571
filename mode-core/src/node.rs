//! The shared half of a service: state, flags and children that handles on any thread read.
//!
//! A service lives in two halves. The [`Node`] (this module) is `Send + Sync`, reference
//! counted and reachable from every [`ServiceHandle`](crate::ServiceHandle): it holds the
//! state, the stop flag, the reasons and the list of children. The service value itself and
//! everything that need not be `Send` form the driver's `LocalNode` (see `engine/driver.rs`),
//! which only the future driving the tree touches, through a `LocalRef` (an `Rc`, see
//! `engine/local.rs`). The two are separate allocations: the driver's half holds the node.
//!
//! # Invariants
//!
//! - Only the driver changes [`State`]; handles and tasks only set flags and queue
//!   [`Command`]s, then notify the driver ([`TreeShared::wake`]).
//! - Every change a waiter may care about (state, stop flag, crash, shutdown flag, a
//!   finished start, children) is followed by [`Node::notify_changed`], after the change
//!   is visible, so waiters that check, listen ([`Node::listen_changes`]) and check again
//!   never miss it (see `change_notify.rs`). Entering `Starting` notifies nobody: no waiter
//!   waits for it. Most changes have no waiter: the node counts its listeners so that
//!   those changes skip the event (whose notification takes a lock) altogether.
//! - Lock order: a node's `inner` lock is never held while another node's is taken, nor
//!   while waking, logging or running user code.

use crate::platform::plain::{Arc, Weak};
use crate::platform::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::any::Any;

use crate::change_notify::ChangeNotify;
use crate::error::{BoxError, Crash, Error};
use crate::events::{Prefix, ServiceInfo};
use crate::graph::ChildKind;
use crate::notify::Notify;
use crate::observers::Observers;
use crate::platform::sync::Mutex;
use crate::runtime::Spawner;
use crate::state::{Parked, State, StopReason, WaitingOn};
use crate::supervisor::strategy::Strategy;
use crate::task_run::{RunRef, TaskRun};
use crate::time::{Duration, Instant};
use crate::timer_queue::TimerQueue;

/// Default stop timeout of a tree.
pub(crate) const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// `Node::crash_state`: no crash in the current run.
const NO_CRASH: u8 = 0;
/// `Node::crash_state`: a crash nobody reported (logged) yet.
const UNREPORTED: u8 = 1;
/// `Node::crash_state`: a crash reported already.
const REPORTED: u8 = 2;

/// What handles ask the driver to do.
#[derive(Debug)]
pub(crate) enum Command {
    Stop(Arc<Node>),
    Crashed(Arc<Node>),
    /// A handle's start or restart of `Arc<Node>`: the request is the engine's function
    /// that executes it. Named where the request is made, not where the driver takes
    /// commands, that code is left out of a program that never makes such a request.
    Execute(Arc<Node>, EngineRequest),
    /// A request for the supervisor `Arc<Node>` (add or remove a child, or a delayed
    /// restart that is due), with the engine's function that takes it: as for `Execute`,
    /// a program without supervisors links none of it.
    Supervisor(Arc<Node>, EngineRequest),
}

/// A request only the engine opens (a supervisor's `Request`, which carries a service to
/// add, or the function that executes a handle's request: engine types), so that the
/// shared node does not depend on the engine.
pub(crate) struct EngineRequest(Box<dyn Any + Send>);

impl EngineRequest {
    pub(crate) fn new<R: Any + Send>(request: R) -> Self {
        EngineRequest(Box::new(request))
    }

    /// The request, if it is an `R` (the engine's requests always are).
    pub(crate) fn into_inner<R: Any>(self) -> Option<R> {
        self.0.downcast().ok().map(|request| *request)
    }
}

impl core::fmt::Debug for EngineRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EngineRequest").finish_non_exhaustive()
    }
}

/// State shared by every node of one tree.
pub(crate) struct TreeShared {
    pub(crate) spawner: Arc<dyn Spawner>,
    pub(crate) timers: Arc<TimerQueue>,
    commands: Mutex<VecDeque<Command>>,
    /// Wakes the driver when a command is queued.
    pub(crate) wake: Notify,
    finished: AtomicBool,
    stop_timeout: Mutex<Duration>,
    base_depth: AtomicUsize,
    pub(crate) observers: Observers,
    /// The process exit status a service asked for (`ServiceHandle::request_exit`): the
    /// first one asked.
    exit_status: Mutex<Option<u8>>,
    #[cfg(feature = "cron")]
    pub(crate) wall_clock: crate::wall_clock::WallClock,
}

impl core::fmt::Debug for TreeShared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TreeShared")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl TreeShared {
    pub(crate) fn new(spawner: Arc<dyn Spawner>, timers: Arc<TimerQueue>) -> Self {
        TreeShared {
            spawner,
            timers,
            commands: Mutex::new(VecDeque::new()),
            wake: Notify::default(),
            finished: AtomicBool::new(false),
            stop_timeout: Mutex::new(DEFAULT_STOP_TIMEOUT),
            base_depth: AtomicUsize::new(1),
            observers: Observers::new(),
            exit_status: Mutex::new(None),
            #[cfg(feature = "cron")]
            wall_clock: crate::wall_clock::WallClock::new(),
        }
    }

    pub(crate) fn send(&self, command: Command) {
        self.commands.with(|queue| queue.push_back(command));
        self.wake.notify();
    }

    pub(crate) fn next_command(&self) -> Option<Command> {
        self.commands.with(VecDeque::pop_front)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Marks the tree finished; the driver then releases each node's waiters with
    /// `notify_changed` (their conditions read the flag).
    pub(crate) fn set_finished(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// The exit status asked for, if any.
    pub(crate) fn exit_status(&self) -> Option<u8> {
        self.exit_status.with(|status| *status)
    }

    pub(crate) fn default_stop_timeout(&self) -> Duration {
        self.stop_timeout.with(|timeout| *timeout)
    }

    pub(crate) fn set_default_stop_timeout(&self, timeout: Duration) {
        self.stop_timeout.with(|current| *current = timeout);
    }

    /// The log depth of the root (1 by default: `[^-App]`, below the Worker's `[^Worker]`).
    pub(crate) fn base_depth(&self) -> usize {
        self.base_depth.load(Ordering::Relaxed)
    }

    pub(crate) fn set_base_depth(&self, depth: usize) {
        self.base_depth.store(depth, Ordering::Relaxed);
    }
}

/// A listener of a node's changes that borrows the node ([`Node::listen_changes`]).
pub(crate) type ChangeListener<'a> = crate::change_notify::ChangeListener<&'a ChangeNotify>;

/// A listener of a node's changes that owns the node, for futures that cannot borrow it
/// ([`SharedNode::listen_changes_owned`]).
pub(crate) type OwnedChangeListener = crate::change_notify::ChangeListener<NodeChanges>;

/// The change notifier of a node, through an owner of the node.
#[derive(Debug)]
pub(crate) struct NodeChanges(Arc<Node>);

impl AsRef<ChangeNotify> for NodeChanges {
    fn as_ref(&self) -> &ChangeNotify {
        &self.0.changes
    }
}

/// The steps of a stop sequence, as `Node::stop_step` records them.
const STEP_NONE: u8 = 0;
const STEP_ON_STOP: u8 = 1;
const STEP_CHILDREN: u8 = 2;
const STEP_TASKS: u8 = 3;
const STEP_SHUTDOWN: u8 = 4;
const STEP_RESOURCE: u8 = 5;
const STEP_ON_SHUTDOWN: u8 = 6;

/// How a service's lines are logged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogSettings {
    /// The `log` target: the module of the service's type.
    pub(crate) target: &'static str,
    /// The level of its lifecycle lines (`Starting...` and the like;
    /// [`Service::lifecycle_log_level`](crate::Service::lifecycle_log_level)).
    pub(crate) lifecycle_level: log::Level,
}

/// The shared half of one service: what handles reach from any thread. The driver's half
/// (the service value and what need not be `Send`) is a [`LocalNode`](crate::engine::LocalNode)
/// of its own, which holds this node (see `local.rs`).
pub(crate) struct Node {
    pub(crate) id: u64,
    /// Where the driver keeps this node's other half (see `registry.rs`).
    pub(crate) slot: usize,
    pub(crate) label: Cow<'static, str>,
    /// The `log` target (the module of the service's type) and the level of its lifecycle
    /// lines.
    pub(crate) log: LogSettings,
    /// Depth below the root (the root is 0); logs add the tree's base depth.
    pub(crate) depth: usize,
    pub(crate) kind: ChildKind,
    pub(crate) parent: Option<Weak<Node>>,
    pub(crate) tree: Arc<TreeShared>,
    /// The strategy, if this service is a [`Supervisor`](crate::Supervisor).
    pub(crate) supervisor: Option<Strategy>,
    state: AtomicU8,
    stop_flag: AtomicBool,
    shutdown_flag: AtomicBool,
    /// The operation that holds the node (0: none), as the driver's half records it; read
    /// by `own_hook.rs`, which needs `std` (without it, nothing reads it, and nothing is
    /// kept).
    #[cfg(feature = "std")]
    held_by: AtomicUsize,
    /// The step of its stop sequence the service is in (`STEP_*`), for
    /// [`ServiceHandle::waiting_on`](crate::ServiceHandle::waiting_on).
    stop_step: AtomicU8,
    /// Whether `flag_subtree_to_stop` walked the subtree since the last `clear_stop_flag`.
    subtree_flagged: AtomicBool,
    /// Whether a child was ever added (children may have left since): a node that never
    /// had one has nothing below it to drop.
    had_children: AtomicBool,
    /// Whether the current run recorded a crash (`Rare::crash`), and whether it was
    /// reported ([`NO_CRASH`], [`UNREPORTED`], [`REPORTED`]): changed under the `inner`
    /// lock, read without it, so that the driver's checks take no lock when there is
    /// nothing to do.
    crash_state: AtomicU8,
    /// Why its supervisor keeps it stopped on purpose (`Parked as u8`, 0: it does not).
    /// Written by the driver only.
    parked: AtomicU8,
    /// Whether a [`Command::Stop`] for the node waits in the queue (the driver clears it
    /// when it takes the command). Changed only under the `inner` lock, together with
    /// `Rare::stops_requested`; read without it.
    stop_queued: AtomicBool,
    /// Wakes the waiters of a change of state or flags.
    changes: ChangeNotify,
    /// The run of the node's tasks, reopened at every restart (see `task_run.rs`), unless
    /// tasks of a timed-out stop are still in it: then `Rare::tasks` takes over.
    pub(crate) run: TaskRun,
    /// Whether `Rare::tasks` has taken over from `run`.
    run_replaced: AtomicBool,
    /// Completed start attempts (wrapping), for start and restart waiters; each one's
    /// result is in `Rare::start_error` before the count moves.
    starts: AtomicUsize,
    /// Whether `Rare::start_error` holds an error (only the driver reads or writes
    /// it), so that a successful start after a successful one takes no lock.
    start_failed: AtomicBool,
    /// Whether a start began, and so `NodeInner::started_at` holds a time. Changed and
    /// read only under the `inner` lock.
    began_a_run: AtomicBool,
    inner: Mutex<NodeInner>,
}

#[derive(Debug)]
struct NodeInner {
    children: Vec<Arc<Node>>,
    stop_reason: Option<StopReason>,
    /// When the last start began, on the tree's clock (meaningless until
    /// `Node::began_a_run`: not an `Option`, which would take another 8 B per service).
    started_at: Instant,
    /// Allocated at the first change of one of its fields, and kept (see [`Rare`]).
    rare: Option<Box<Rare>>,
}

/// What a node records only once it crashed, was stopped through a request, restarted,
/// or failed to start: a service that never is pays one pointer for it. Each field's
/// default is its value before that.
#[derive(Debug, Default)]
struct Rare {
    /// The crash of the current run, if it crashed.
    crash: Option<Crash>,
    /// The task run that replaced `Node::run`, once a restart found tasks of a timed-out
    /// stop still in it; `None` while the node's own run serves.
    tasks: Option<Arc<TaskRun>>,
    restart_count: u32,
    /// Why the last start failed; `None` if it succeeded (or none finished yet).
    start_error: Option<Error>,
    /// Stop requests queued so far: each [`Command::Stop`] carries the next number, and a
    /// `stop()` waits until the driver has executed the one it joined.
    stops_requested: u64,
    /// The number of the last [`Command::Stop`] the driver executed.
    stops_done: u64,
    /// The root of a tree the service runs of its own, shown below it (a thread
    /// service's tree; see `Context::set_nested_tree`). Weak: gone with that tree, and
    /// never a cycle.
    nested_tree: Option<Weak<Node>>,
}

impl NodeInner {
    /// The rarely changed fields, allocated now if this is their first change.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The crash of the current run, if it crashed.
    fn crash(&self) -> Option<&Crash> {
        self.rare.as_deref()?.crash.as_ref()
    }

    /// A rarely changed field's value, its default if it never changed.
    fn read<T: Default>(&self, field: impl FnOnce(&Rare) -> T) -> T {
        self.rare.as_deref().map(field).unwrap_or_default()
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node, for the driver to pair with its driver's half.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tree: Arc<TreeShared>,
        id: u64,
        slot: usize,
        label: Cow<'static, str>,
        log: LogSettings,
        parent: Option<&Arc<Node>>,
        kind: ChildKind,
        supervisor: Option<Strategy>,
    ) -> Arc<Node> {
        Arc::new(Node {
            id,
            slot,
            label,
            log,
            depth: parent.map_or(0, |parent| parent.depth + 1),
            kind,
            parent: parent.map(Arc::downgrade),
            tree,
            supervisor,
            state: AtomicU8::new(State::Init as u8),
            stop_flag: AtomicBool::new(false),
            #[cfg(feature = "std")]
            held_by: AtomicUsize::new(0),
            stop_step: AtomicU8::new(STEP_NONE),
            shutdown_flag: AtomicBool::new(false),
            subtree_flagged: AtomicBool::new(false),
            had_children: AtomicBool::new(false),
            crash_state: AtomicU8::new(NO_CRASH),
            stop_queued: AtomicBool::new(false),
            parked: AtomicU8::new(0),
            changes: ChangeNotify::new(),
            run: TaskRun::new(),
            run_replaced: AtomicBool::new(false),
            starts: AtomicUsize::new(0),
            start_failed: AtomicBool::new(false),
            began_a_run: AtomicBool::new(false),
            inner: Mutex::new(NodeInner {
                children: Vec::new(),
                stop_reason: None,
                started_at: Instant::ZERO,
                rare: None,
            }),
        })
    }
}

impl Node {
    /// Wakes every [`ChangeListener`]; call it after a change is visible.
    pub(crate) fn notify_changed(&self) {
        self.changes.notify();
    }

    /// Listens to the node's changes. Check the condition waited for again after this
    /// call: a change made before it may not wake the listener.
    pub(crate) fn listen_changes(&self) -> ChangeListener<'_> {
        self.changes.listen()
    }

    pub(crate) fn parent(&self) -> Option<Arc<Node>> {
        self.parent.as_ref().and_then(Weak::upgrade)
    }

    pub(crate) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Release);
        self.notify_changed();
    }

    /// Enters [`State::Starting`], waking nobody: no waiter waits for it (they wait for
    /// `Running`, `Stopping`, `Stopped`, a finished start or a flag), and the transitions
    /// that follow notify.
    pub(crate) fn set_starting(&self) {
        self.state.store(State::Starting as u8, Ordering::Release);
    }

    pub(crate) fn should_stop(&self) -> bool {
        self.stop_flag.load(Ordering::Acquire)
    }

    /// Sets the stop flag of this node and its whole subtree, waking their waiters.
    ///
    /// The subtree is walked once per start: a stop flags the tree from its top, and the
    /// stop of each node below then finds its subtree flagged already (a restart clears
    /// the mark, and a crash sets the flag without it). The walk keeps its own list, so
    /// the depth of the tree costs no stack; it goes depth first, each level by index,
    /// so a wide service's list of children is not copied.
    pub(crate) fn flag_subtree_to_stop(&self) {
        if !self.set_stop_flag() {
            return;
        }
        // The nodes whose children are being walked, below this one, each with the index
        // of its successor in its own parent's list; `next` is the index of the next child
        // at the level being walked.
        let mut above: Vec<(Arc<Node>, usize)> = Vec::new();
        let mut next = 0;
        loop {
            let child = match above.last() {
                Some((parent, _)) => parent.child(next),
                None => self.child(next),
            };
            match child {
                Some(child) => {
                    next += 1;
                    if child.set_stop_flag() && child.had_children.load(Ordering::Relaxed) {
                        above.push((child, next));
                        next = 0;
                    }
                }
                None => match above.pop() {
                    Some((_, successor)) => next = successor,
                    None => return,
                },
            }
        }
    }

    /// Sets the stop flag, waking its waiters; `true` if the subtree below still has to be
    /// flagged (the first call since the last `clear_stop_flag`).
    pub(crate) fn set_stop_flag(&self) -> bool {
        if !self.stop_flag.swap(true, Ordering::AcqRel) {
            self.notify_changed();
        }
        !self.subtree_flagged.swap(true, Ordering::AcqRel)
    }

    /// Clears the stop flag for a new start, unless an ancestor is stopping.
    pub(crate) fn clear_stop_flag(&self) {
        self.subtree_flagged.store(false, Ordering::Release);
        self.stop_flag.store(false, Ordering::Release);
        // Re-check after clearing: a stop of an ancestor that walked this subtree before the
        // store would otherwise be lost.
        if self.parent().is_some_and(|parent| parent.should_stop()) {
            self.stop_flag.store(true, Ordering::Release);
        }
    }

    pub(crate) fn shutdown_set(&self) -> bool {
        self.shutdown_flag.load(Ordering::Acquire)
    }

    pub(crate) fn set_shutdown(&self) {
        self.shutdown_flag.store(true, Ordering::Release);
        self.notify_changed();
    }

    /// The operation that holds the node (0: none; see `own_hook.rs`).
    #[cfg(feature = "std")]
    pub(crate) fn held_by(&self) -> usize {
        self.held_by.load(Ordering::Relaxed)
    }

    /// Records the operation that holds the node (the driver's half's `Holder` decides);
    /// without `std`, nothing reads it.
    #[cfg_attr(not(feature = "std"), allow(unused_variables))]
    pub(crate) fn set_held_by(&self, operation: usize) {
        #[cfg(feature = "std")]
        self.held_by.store(operation, Ordering::Relaxed);
    }

    /// Records the step of its stop sequence the service has reached (driver only).
    pub(crate) fn set_stop_step(&self, step: WaitingOn) {
        let step = match step {
            WaitingOn::OnStop => STEP_ON_STOP,
            WaitingOn::Children => STEP_CHILDREN,
            WaitingOn::Tasks(_) => STEP_TASKS,
            WaitingOn::Shutdown => STEP_SHUTDOWN,
            WaitingOn::Resource => STEP_RESOURCE,
            WaitingOn::OnShutdown => STEP_ON_SHUTDOWN,
        };
        self.stop_step.store(step, Ordering::Relaxed);
    }

    /// The step of its stop sequence the service waits on, while it stops.
    pub(crate) fn waiting_on(&self) -> Option<WaitingOn> {
        if self.state() != State::Stopping {
            return None;
        }
        match self.stop_step.load(Ordering::Relaxed) {
            STEP_ON_STOP => Some(WaitingOn::OnStop),
            STEP_CHILDREN => Some(WaitingOn::Children),
            STEP_TASKS => Some(WaitingOn::Tasks(self.tasks().live())),
            STEP_SHUTDOWN => Some(WaitingOn::Shutdown),
            STEP_RESOURCE => Some(WaitingOn::Resource),
            STEP_ON_SHUTDOWN => Some(WaitingOn::OnShutdown),
            _ => None,
        }
    }

    pub(crate) fn children(&self) -> Vec<Arc<Node>> {
        self.inner.with(|inner| inner.children.clone())
    }

    /// The child at `index`, if there is one.
    pub(crate) fn child(&self, index: usize) -> Option<Arc<Node>> {
        self.inner.with(|inner| inner.children.get(index).cloned())
    }

    /// How many children the node has.
    pub(crate) fn child_count(&self) -> usize {
        self.inner.with(|inner| inner.children.len())
    }

    /// `f` of the list of children, under the node's lock: no copy of a wide service's
    /// list.
    pub(crate) fn with_children<R>(&self, f: impl FnOnce(&[Arc<Node>]) -> R) -> R {
        self.inner.with(|inner| f(&inner.children))
    }

    pub(crate) fn push_child(&self, child: Arc<Node>) {
        self.inner.with(|inner| inner.children.push(child));
        self.had_children.store(true, Ordering::Relaxed);
    }

    /// Puts `new`, pushed as the last child, in the place of the child `old`.
    pub(crate) fn replace_child(&self, old: u64, new: &Arc<Node>) {
        self.inner.with(|inner| {
            inner.children.retain(|child| child.id != new.id);
            match inner.children.iter_mut().find(|child| child.id == old) {
                Some(slot) => *slot = new.clone(),
                None => inner.children.push(new.clone()),
            }
        });
    }

    pub(crate) fn remove_child(&self, id: u64) {
        self.inner
            .with(|inner| inner.children.retain(|child| child.id != id));
    }

    /// The run of the service's current start (or of its last one, once stopped).
    pub(crate) fn tasks(&self) -> RunRef<'_> {
        if !self.run_replaced.load(Ordering::Acquire) {
            return RunRef::Own(&self.run);
        }
        match self
            .inner
            .with(|inner| inner.read(|rare| rare.tasks.clone()))
        {
            Some(run) => RunRef::Replaced(run),
            None => RunRef::Own(&self.run),
        }
    }

    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.inner.with(|inner| inner.stop_reason.clone())
    }

    pub(crate) fn set_stop_reason(&self, reason: StopReason) {
        self.inner.with(|inner| inner.stop_reason = Some(reason));
    }

    /// Records why the node stops, as a stop sequence begins, and returns it: its crash if
    /// it crashed; else a restart's own reason; else the reason given when the stop was
    /// requested, if any, or `requested`.
    pub(crate) fn begin_stop_with_reason(&self, requested: StopReason) -> StopReason {
        self.inner.with(|inner| {
            let reason = match (inner.crash(), requested) {
                (Some(crash), _) => StopReason::Crashed(crash.clone()),
                (None, StopReason::Restarting) => StopReason::Restarting,
                (None, requested) => inner.stop_reason.clone().unwrap_or(requested),
            };
            inner.stop_reason = Some(reason.clone());
            reason
        })
    }

    pub(crate) fn set_stop_reason_if_unset(&self, reason: StopReason) {
        self.inner
            .with(|inner| inner.stop_reason.get_or_insert(reason).clone());
    }

    pub(crate) fn crash_reason(&self) -> Option<Crash> {
        self.inner.with(|inner| inner.crash().cloned())
    }

    /// Whether the current run recorded a crash; without a lock.
    pub(crate) fn has_crash(&self) -> bool {
        self.crash_state.load(Ordering::Acquire) != NO_CRASH
    }

    pub(crate) fn restart_count(&self) -> u32 {
        self.inner
            .with(|inner| inner.read(|rare| rare.restart_count))
    }

    /// The root of the tree the service runs of its own, if it set one and that tree
    /// still exists.
    pub(crate) fn nested_tree(&self) -> Option<Arc<Node>> {
        let root = self
            .inner
            .with(|inner| inner.read(|rare| rare.nested_tree.clone()));
        root?.upgrade()
    }

    pub(crate) fn set_nested_tree(&self, root: Option<&Arc<Node>>) {
        let root = root.map(Arc::downgrade);
        self.inner.with(|inner| match root {
            Some(root) => inner.rare().nested_tree = Some(root),
            None => {
                if let Some(rare) = inner.rare.as_deref_mut() {
                    rare.nested_tree = None;
                }
            }
        });
    }

    /// Completed start attempts, wrapping: compare for a change, not for order.
    pub(crate) fn starts(&self) -> usize {
        self.starts.load(Ordering::Acquire)
    }

    /// The result of the last start that finished (`Ok` if none did).
    pub(crate) fn last_start(&self) -> Result<(), Error> {
        self.inner
            .with(|inner| inner.read(|rare| rare.start_error.clone()))
            .map_or(Ok(()), Err)
    }

    /// When the last start began (`None` before the first).
    pub(crate) fn started_at(&self) -> Option<Instant> {
        self.inner.with(|inner| {
            let began = self.began_a_run.load(Ordering::Relaxed);
            began.then_some(inner.started_at)
        })
    }

    /// Why its supervisor keeps the node stopped on purpose, if it does.
    pub(crate) fn parked(&self) -> Option<Parked> {
        Parked::from_u8(self.parked.load(Ordering::Acquire))
    }

    /// Parks (or, with `None`, unparks) the node, and wakes the waiters of a change.
    /// Driver only.
    pub(crate) fn set_parked(&self, parked: Option<Parked>) {
        self.parked
            .store(parked.map_or(0, |parked| parked as u8), Ordering::Release);
        self.notify_changed();
    }

    /// Whether the last start that finished failed. Driver only.
    pub(crate) fn last_start_failed(&self) -> bool {
        self.start_failed.load(Ordering::Relaxed)
    }

    /// Resets per-run state for a new start that begins at `now` and opens a fresh task
    /// run.
    pub(crate) fn begin_run(&self, restarting: bool, now: Instant) {
        self.inner.with(|inner| {
            inner.started_at = now;
            self.began_a_run.store(true, Ordering::Relaxed);
            inner.stop_reason = None;
            if let Some(rare) = inner.rare.as_deref_mut() {
                rare.crash = None;
            }
            self.crash_state.store(NO_CRASH, Ordering::Relaxed);
            // The first start keeps the run opened at creation, with any task spawned
            // before it; a restart reopens the run its stop cancelled, or opens a fresh
            // one if tasks of the old run are still there (the stop timed out).
            let replaced = inner.rare.as_deref().and_then(|rare| rare.tasks.as_deref());
            let current = replaced.unwrap_or(&self.run);
            if current.is_cancelled() && !current.reopen() {
                inner.rare().tasks = Some(Arc::new(TaskRun::new()));
                self.run_replaced.store(true, Ordering::Release);
            }
            if restarting {
                inner.rare().restart_count += 1;
            }
        });
        self.shutdown_flag.store(false, Ordering::Release);
        self.clear_stop_flag();
    }

    /// Records the result of a start attempt and wakes its waiters. Driver only.
    pub(crate) fn finish_start(&self, result: Result<(), Error>) {
        let failed = result.is_err();
        if failed || self.start_failed.load(Ordering::Relaxed) {
            self.inner.with(|inner| match result {
                Err(err) => inner.rare().start_error = Some(err),
                Ok(()) => {
                    if let Some(rare) = inner.rare.as_deref_mut() {
                        rare.start_error = None;
                    }
                }
            });
            self.start_failed.store(failed, Ordering::Relaxed);
        }
        // Publishes the result too: a waiter that sees the new count reads it after.
        self.starts.fetch_add(1, Ordering::AcqRel);
        self.notify_changed();
    }

    /// Records a crash (the first one wins), sets the stop flag and wakes waiters.
    /// Returns the crash now recorded, and whether it is new.
    pub(crate) fn record_crash(&self, crash: Crash) -> (Crash, bool) {
        self.record_crash_as(crash, UNREPORTED)
    }

    /// [`record_crash`](Self::record_crash), the crash [`UNREPORTED`] or [`REPORTED`].
    fn record_crash_as(&self, crash: Crash, state: u8) -> (Crash, bool) {
        let (crash, new) = self.inner.with(|inner| match inner.crash() {
            Some(existing) => (existing.clone(), false),
            None => {
                inner.rare().crash = Some(crash.clone());
                self.crash_state.store(state, Ordering::Release);
                (crash, true)
            }
        });
        if new {
            self.stop_flag.store(true, Ordering::Release);
            self.notify_changed();
        }
        (crash, new)
    }

    /// Records `crash`, which comes from a descendant and was reported there, as this
    /// node's crash (unless it has one): it stops the node, and is not reported again.
    pub(crate) fn inherit_crash(&self, crash: Crash) -> Crash {
        self.record_crash_as(crash, REPORTED).0
    }

    /// Whether a stop request waits in the command queue.
    pub(crate) fn stop_queued(&self) -> bool {
        self.stop_queued.load(Ordering::Acquire)
    }

    /// The driver takes the queued [`Command::Stop`]: returns its number, for
    /// [`stop_request_done`](Self::stop_request_done).
    pub(crate) fn take_stop_request(&self) -> u64 {
        self.inner.with(|inner| {
            self.stop_queued.store(false, Ordering::Release);
            inner.read(|rare| rare.stops_requested)
        })
    }

    /// The driver executed the stop request `number`: wakes the `stop()`s waiting for it.
    pub(crate) fn stop_request_done(&self, number: u64) {
        self.inner.with(|inner| {
            // Number 0 (no request was queued) is done from the start.
            if number > inner.read(|rare| rare.stops_done) {
                inner.rare().stops_done = number;
            }
        });
        self.notify_changed();
    }

    /// Whether the driver has executed the stop request `number`.
    pub(crate) fn stop_request_is_done(&self, number: u64) -> bool {
        self.inner
            .with(|inner| inner.read(|rare| rare.stops_done) >= number)
    }

    /// The recorded crash, if it was not reported yet; marks it reported. Whoever reports
    /// a crash (emits [`Crashed`](crate::events::LifecycleEvent::Crashed)) takes it here,
    /// so that each crash is logged once, whichever path sees it first.
    pub(crate) fn crash_to_report(&self) -> Option<Crash> {
        if self.crash_state.load(Ordering::Acquire) != UNREPORTED {
            return None;
        }
        self.inner.with(|inner| match inner.crash() {
            Some(crash) if self.crash_state.load(Ordering::Relaxed) == UNREPORTED => {
                self.crash_state.store(REPORTED, Ordering::Release);
                Some(crash.clone())
            }
            _ => None,
        })
    }
}

/// Methods of a shared [`Node`]. A trait on `Arc<Node>` rather than `self: &Arc<Self>`
/// methods, which need `Arc` to be the standard one (the `portable-atomic` feature may
/// swap in another).
pub(crate) trait SharedNode {
    /// A crash reported from outside the driver: a task, a timer or a handle. The driver
    /// logs it when it takes the command, so crash lines keep their order in the log.
    fn crash_from_task(&self, error: BoxError);

    /// Queues a stop of the node, unless one is queued already, and flags the subtree if
    /// it runs. Returns the number of the queued request, which the driver passes to
    /// [`Node::stop_request_done`] once it executed it.
    fn queue_stop_request(&self) -> u64;

    /// [`Node::listen_changes`], keeping the node instead of borrowing it.
    fn listen_changes_owned(&self) -> OwnedChangeListener;

    /// Records `status` as the tree's exit status (unless one was asked for first) and
    /// asks the root to stop.
    fn request_exit(&self, status: u8);
}

impl SharedNode for Arc<Node> {
    fn crash_from_task(&self, error: BoxError) {
        let (_, new) = self.record_crash(Crash::new(self.label.clone(), error));
        if new {
            self.tree.send(Command::Crashed(self.clone()));
        }
    }

    fn listen_changes_owned(&self) -> OwnedChangeListener {
        ChangeNotify::listen_through(NodeChanges(self.clone()))
    }

    fn request_exit(&self, status: u8) {
        if self.tree.is_finished() {
            return;
        }
        self.tree
            .exit_status
            .with(|asked| _ = asked.get_or_insert(status));
        let mut root = self.clone();
        while let Some(parent) = root.parent() {
            root = parent;
        }
        if root.state().is_active() {
            root.set_stop_reason_if_unset(StopReason::Requested);
        }
        root.queue_stop_request();
    }

    fn queue_stop_request(&self) -> u64 {
        let (number, first) = self.inner.with(|inner| {
            let first = !self.stop_queued.swap(true, Ordering::AcqRel);
            if first {
                inner.rare().stops_requested += 1;
            }
            (inner.read(|rare| rare.stops_requested), first)
        });
        if matches!(
            self.state(),
            State::Starting | State::Running | State::Stopping
        ) {
            self.flag_subtree_to_stop();
        }
        if first {
            self.tree.send(Command::Stop(self.clone()));
        }
        number
    }
}

impl Drop for Node {
    /// Takes the children down one level at a time: a node whose last owner is this one
    /// gives up its own children first, so dropping a deep tree costs no stack per level.
    fn drop(&mut self) {
        if !self.had_children.load(Ordering::Relaxed) {
            return;
        }
        let mut orphans = self
            .inner
            .with_mut(|inner| core::mem::take(&mut inner.children));
        while let Some(mut child) = orphans.pop() {
            if !child.had_children.load(Ordering::Relaxed) {
                // Dropped here, with nothing below it.
                continue;
            }
            // A node nobody else holds (nor its children, through a weak reference) needs
            // no lock; one with children of its own does.
            let grandchildren = if let Some(only) = Arc::get_mut(&mut child) {
                only.inner
                    .with_mut(|inner| core::mem::take(&mut inner.children))
            } else if Arc::strong_count(&child) == 1 {
                child
                    .inner
                    .with(|inner| core::mem::take(&mut inner.children))
            } else {
                continue;
            };
            orphans.extend(grandchildren);
        }
    }
}

impl Node {
    pub(crate) fn prefix(&self) -> Prefix<'_> {
        Prefix {
            label: &self.label,
            depth: self.depth + self.tree.base_depth(),
        }
    }

    /// What observers are told about this service.
    pub(crate) fn info(&self) -> ServiceInfo<'_> {
        ServiceInfo {
            id: self.id,
            label: &self.label,
            depth: self.depth + self.tree.base_depth(),
        }
    }
}
