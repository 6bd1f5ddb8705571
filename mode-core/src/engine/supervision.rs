//! The driver's side of supervision: what a supervisor does when a child crashes, and the
//! requests its handle queues.
//!
//! `Driver::propagate_crash` (in `driver.rs`) walks up from a crashed service; at the
//! first supervisor on the way it calls [`Driver::supervise`] for the child of that
//! supervisor the crash came through. The strategy then stops and starts children with the
//! same sequences a stop, start or restart request runs.
//!
//! The driver reaches this module only through a supervisor's [`Supervision`], which the
//! [`Supervisor`] installs as it joins a tree: a program without supervisors does not link
//! it (on a microcontroller, 37 KB of flash).
//!
//! # Invariants
//!
//! - Everything here runs inside the driver, in an operation that holds the supervisor
//!   (see `operation.rs`): one decision at a time per supervisor, while other subtrees go
//!   on. A supervisor's `SupervisorState` is borrowed only between awaits, never across
//!   one.
//! - A restart is counted when the supervisor decides it, before any child stops. A crash
//!   that reaches a supervisor that is stopping (or not running) decides nothing: no
//!   child restarts and nothing is counted; the supervisor's own stop stops the child.
//! - A failed start is never retried at once: only after a non-zero backoff delay, and
//!   without one the supervisor gives up.
//! - A delayed restart is a `(key, ticket)` entry of `pending` plus an owned task of the
//!   supervisor that sleeps, then queues [`Request::Resume`]. A newer decision for the same
//!   key, a new start of the supervisor, or its stop (which cancels the task) makes the
//!   ticket stale, and a stale resume does nothing.

use crate::platform::plain::Arc;
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use crate::engine::Driver;
use crate::engine::LocalRef;
use crate::engine::StartError;
use crate::error::{Crash, Error};
use crate::events::LifecycleEvent;
use crate::graph::ChildKind;
use crate::handle::ServiceHandle;
use crate::lifecycle;
use crate::node::{Command, EngineRequest, Node};
use crate::service::{DynService, SequenceFuture};
use crate::state::{Parked, State, StopReason};
use crate::supervisor::intensity::{Intensity, Streak};
use crate::supervisor::reply::Responder;
use crate::supervisor::{
    Backoff, Factory, OnOperational, PauseError, ReplaceError, Replacement, ResumeError, Strategy,
    Supervisor, SupervisorError, SupervisorHandle,
};
use crate::time::{Duration, Instant};

/// A request for a supervisor, queued by its handle or by its own delayed restarts.
pub(crate) enum Request {
    /// Add a child; start it if the supervisor runs.
    Add {
        service: Box<dyn DynService + Send>,
        reply: Responder<Result<ServiceHandle, Error>>,
    },
    /// Stop a child and remove it; answers whether it was a child.
    Remove {
        child: Arc<Node>,
        reply: Responder<Result<bool, Error>>,
    },
    /// Stop the child at `index` and put `service` in its place.
    Replace {
        index: usize,
        service: Box<dyn DynService + Send>,
        reply: Responder<Result<ServiceHandle, ReplaceError>>,
    },
    /// Stop the child at `index` on purpose and keep it stopped.
    Pause {
        index: usize,
        reply: Responder<Result<ServiceHandle, PauseError>>,
    },
    /// Start the parked child at `index` again.
    Unpause {
        index: usize,
        reply: Responder<Result<ServiceHandle, ResumeError>>,
    },
    /// A backoff delay ended: start what `pending[key]` holds, if `ticket` is current.
    Resume { key: u64, ticket: u64 },
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Add { service, .. } => f
                .debug_struct("Add")
                .field("service", &service.label())
                .finish_non_exhaustive(),
            Request::Remove { child, .. } => f
                .debug_struct("Remove")
                .field("child", child)
                .finish_non_exhaustive(),
            Request::Replace { index, service, .. } => f
                .debug_struct("Replace")
                .field("index", index)
                .field("service", &service.label())
                .finish_non_exhaustive(),
            Request::Pause { index, .. } => f
                .debug_struct("Pause")
                .field("index", index)
                .finish_non_exhaustive(),
            Request::Unpause { index, .. } => f
                .debug_struct("Unpause")
                .field("index", index)
                .finish_non_exhaustive(),
            Request::Resume { key, ticket } => f
                .debug_struct("Resume")
                .field("key", key)
                .field("ticket", ticket)
                .finish(),
        }
    }
}

/// The driver's function that takes a supervisor's request, as [`Command::Supervisor`]
/// carries it (with the request): named where requests are sent, so a program without
/// supervisors does not link it, nor the answers to a request refused.
pub(crate) type TakeRequest =
    for<'a> fn(&'a Driver, Arc<Node>, Request) -> Option<SequenceFuture<'a, ()>>;

impl Request {
    /// The command that queues this request for the supervisor `supervisor`.
    pub(crate) fn command(self, supervisor: Arc<Node>) -> Command {
        let take: TakeRequest = Driver::take_supervisor_request;
        Command::Supervisor(supervisor, EngineRequest::new((self, take)))
    }

    /// Answers a request whose supervisor has left its tree (or never was one).
    fn refuse(self) {
        match self {
            Request::Add { reply, .. } => reply.send(Err(Error::ServiceStopped)),
            Request::Remove { reply, .. } => reply.send(Ok(false)),
            Request::Replace { reply, .. } => reply.send(Err(ReplaceError::NotRunning)),
            Request::Pause { reply, .. } => reply.send(Err(PauseError::NotRunning)),
            Request::Unpause { reply, .. } => reply.send(Err(ResumeError::NotRunning)),
            // A delayed restart of a supervisor that is gone is moot.
            Request::Resume { .. } => {}
        }
    }
}

/// Why there is no child at an index to pause or resume.
enum ChildAt {
    NotRunning,
    OutOfRange { index: usize, len: usize },
}

/// What became of a crash that reached a supervisor.
#[derive(Debug)]
pub(crate) enum Supervised {
    /// The supervisor dealt with it (or its own stop will).
    Handled,
    /// The supervisor gave up and crashed with this crash: go on above it.
    Escalate(Crash),
}

/// One round of a strategy.
enum Step {
    Done(Supervised),
    /// A child the strategy started crashed while starting: apply the strategy again.
    StartFailed(LocalRef, Crash),
}

/// Children waiting for a backoff delay to end.
#[derive(Debug)]
struct Pending {
    ticket: u64,
    children: Vec<u64>,
}

/// A supervisor's configuration and what it remembers between crashes.
pub(crate) struct SupervisorState {
    strategy: Strategy,
    over: Duration,
    backoff: Option<Backoff>,
    intensity: Intensity,
    /// Backoff streaks: per child for one-for-one, one per group (the supervisor's id)
    /// for one-for-all and rest-for-one.
    streaks: BTreeMap<u64, Streak>,
    pending: BTreeMap<u64, Pending>,
    next_ticket: u64,
    /// The factories of the children that have one, by child id: a few at most, so a list
    /// (a map type of its own would cost flash for nothing).
    factories: Vec<(u64, Factory)>,
    /// Builds replacements for the children without a factory of their own.
    replacement: Option<Replacement>,
    /// Told when every child runs again after a restart.
    on_operational: Option<OnOperational>,
    /// Each child's own restart budget (`max`, `over`), if the supervisor quarantines.
    quarantine: Option<(u32, Duration)>,
    /// The restarts each child used of its budget, by child id: a list, as `factories`.
    budgets: Vec<(u64, Intensity)>,
    /// Draws the jittered backoff delays; seeded at each start of the supervisor.
    rng: fastrand::Rng,
}

/// What a supervisor does about a crash it answers with a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Restart after this delay (zero: at once).
    Restart(Duration),
    /// The child used up its own restart budget: park it.
    Quarantine,
}

impl fmt::Debug for SupervisorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorState")
            .field("strategy", &self.strategy)
            .field("intensity", &self.intensity)
            .field("streaks", &self.streaks)
            .field("pending", &self.pending)
            .field("factories", &self.factories.len())
            .field("replacement", &self.replacement.is_some())
            .field("on_operational", &self.on_operational.is_some())
            .field("quarantine", &self.quarantine)
            .field("budgets", &self.budgets)
            .finish_non_exhaustive()
    }
}

/// A supervisor's part of its driver half ([`LocalNode::supervision`]): its state, and the
/// driver's two ways into this module, as function pointers.
///
/// Only a [`Supervisor`] joining a tree makes one ([`Supervision::install`]), and the
/// driver reaches a strategy and a handle's requests only through one. So a program whose
/// trees have no supervisor does not link this module's code: on a microcontroller that
/// is most of the engine's flash.
///
/// [`LocalNode::supervision`]: crate::engine::LocalNode::supervision
pub(crate) struct Supervision {
    pub(crate) state: RefCell<SupervisorState>,
    /// [`Driver::supervise`] once the supervisor is held, boxed.
    pub(crate) supervise:
        for<'a> fn(&'a Driver, &'a LocalRef, &'a LocalRef, Crash) -> SequenceFuture<'a, Supervised>,
    /// [`Driver::supervisor_request`], boxed.
    pub(crate) execute: for<'a> fn(&'a Driver, LocalRef, Request) -> SequenceFuture<'a, ()>,
}

impl Supervision {
    /// Makes `local`, the driver half of `supervisor`, a supervisor's: called once, as the
    /// supervisor joins its tree.
    pub(crate) fn install(local: &LocalRef, supervisor: &mut Supervisor) {
        let supervision = Supervision {
            state: RefCell::new(SupervisorState::new(supervisor)),
            supervise: |driver, supervisor, child, crash| {
                Box::pin(async move {
                    // Once no other operation works on the supervisor.
                    let _held = driver.hold(supervisor).await;
                    driver.supervise(supervisor, child, crash).await
                })
            },
            execute: |driver, supervisor, request| {
                Box::pin(driver.supervisor_request(supervisor, request))
            },
        };
        local.set_supervision(supervision);
    }
}

/// How a service's driver half holds its [`Supervision`]: as a trait object, so that
/// dropping one (a supervisor's state: its children's factories, restart budgets,
/// pending restarts) is code linked, like the rest of this module, only with supervisors.
pub(crate) trait AsSupervision {
    fn supervision(&self) -> &Supervision;
}

impl AsSupervision for Supervision {
    fn supervision(&self) -> &Supervision {
        self
    }
}

impl fmt::Debug for Supervision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervision")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl SupervisorState {
    /// The state of `supervisor`, joining a tree.
    fn new(supervisor: &mut Supervisor) -> Self {
        SupervisorState {
            strategy: supervisor.strategy,
            over: supervisor.over,
            backoff: supervisor.backoff,
            intensity: Intensity::new(supervisor.max_restarts, supervisor.over),
            streaks: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_ticket: 0,
            factories: Vec::new(),
            replacement: supervisor.replacement.take(),
            on_operational: supervisor.on_operational.take(),
            quarantine: supervisor.quarantine,
            budgets: Vec::new(),
            // Seeded again at each start (`reset`), once the supervisor has its id.
            rng: fastrand::Rng::with_seed(0),
        }
    }

    /// `factory` builds the replacements of the child `id`.
    pub(crate) fn set_factory(&mut self, id: u64, factory: Factory) {
        self.remove_factory(id);
        self.factories.push((id, factory));
    }

    /// Whether a restart of the child `id` builds a fresh child instead.
    fn replaces(&self, id: u64) -> bool {
        self.replacement.is_some() || self.factories.iter().any(|(child, _)| *child == id)
    }

    /// Takes out the factory of the child `id`, if it has one.
    fn remove_factory(&mut self, id: u64) -> Option<Factory> {
        let at = self.factories.iter().position(|(child, _)| *child == id)?;
        Some(self.factories.swap_remove(at).1)
    }

    /// Whether a restart of any child may build a fresh child.
    fn replaces_any(&self) -> bool {
        self.replacement.is_some() || !self.factories.is_empty()
    }

    /// A new start of the supervisor `id`: fresh intensity, budgets and backoff, nothing
    /// pending, the jitter generator at its seed.
    pub(crate) fn reset(&mut self, id: u64) {
        self.intensity.reset();
        self.streaks.clear();
        self.pending.clear();
        self.budgets.clear();
        if let Some(backoff) = &self.backoff {
            self.rng = fastrand::Rng::with_seed(backoff.seed_for(id));
        }
    }

    /// Whether the child `id`'s crash at `now` exceeds its own restart budget (and so
    /// quarantines it); otherwise counts the restart against it.
    fn exceeds_budget(&mut self, id: u64, now: Instant) -> bool {
        let Some((max, over)) = self.quarantine else {
            return false;
        };
        let at = match self.budgets.iter().position(|(child, _)| *child == id) {
            Some(at) => at,
            None => {
                self.budgets.push((id, Intensity::new(max, over)));
                self.budgets.len() - 1
            }
        };
        self.budgets[at].1.try_restart(now).is_err()
    }

    /// Forgets the restarts the child `id` used of its budget, and its backoff streak.
    fn forgive(&mut self, id: u64) {
        self.budgets.retain(|(child, _)| *child != id);
        self.streaks.remove(&id);
    }

    /// Drops a pending restart of the child `id` alone (a group's pending restart skips
    /// it when it starts: see `start_children`).
    fn cancel_pending(&mut self, id: u64) {
        self.pending.remove(&id);
    }

    /// Decides whether to restart after `crash` of `child` at `now`: the delay to wait,
    /// whether to quarantine the child, or why the supervisor gives up.
    ///
    /// The child's own budget (with a quarantine) is checked first: a child over it is
    /// parked, and its crash is not counted against the supervisor's intensity.
    fn decide(
        &mut self,
        child: &Node,
        crash: &Crash,
        failed_start: bool,
        key: u64,
        now: Instant,
    ) -> Result<Decision, SupervisorError> {
        let delay = match &self.backoff {
            Some(backoff) => self
                .streaks
                .get(&key)
                .copied()
                .unwrap_or_default()
                .peek_delay(backoff, now),
            None => Duration::ZERO,
        };
        if failed_start && delay.is_zero() {
            return Err(SupervisorError::start_failed(
                child.label.clone(),
                crash.clone(),
            ));
        }
        if self.exceeds_budget(child.id, now) {
            return Ok(Decision::Quarantine);
        }
        if let Err(restarts) = self.intensity.try_restart(now) {
            return Err(SupervisorError::max_restarts(
                child.label.clone(),
                crash.clone(),
                restarts,
                self.over,
            ));
        }
        let Some(backoff) = &self.backoff else {
            return Ok(Decision::Restart(delay));
        };
        self.streaks
            .entry(key)
            .or_default()
            .next_delay(backoff, now);
        Ok(Decision::Restart(backoff.jittered(delay, &mut self.rng)))
    }

    /// Records that `key`'s restart finished at `now` (read only with a backoff, the one
    /// thing that needs it).
    fn started(&mut self, key: u64, now: impl FnOnce() -> Instant) {
        if self.backoff.is_some() {
            self.streaks.entry(key).or_default().started(now());
        }
    }

    /// Records a delayed restart of `children` under `key`, with a new ticket. The
    /// children of an earlier pending restart under the same key stay in it (a rest-for-one
    /// restart of an earlier child while a later one waits): the new ticket starts them all,
    /// in the order of the children.
    fn add_pending(&mut self, key: u64, mut children: Vec<u64>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        if let Some(earlier) = self.pending.remove(&key) {
            for id in earlier.children {
                if !children.contains(&id) {
                    children.push(id);
                }
            }
        }
        self.pending.insert(key, Pending { ticket, children });
        ticket
    }

    fn take_pending(&mut self, key: u64, ticket: u64) -> Option<Vec<u64>> {
        match self.pending.get(&key) {
            Some(pending) if pending.ticket == ticket => {
                self.pending.remove(&key).map(|pending| pending.children)
            }
            _ => None,
        }
    }

    fn forget_child(&mut self, id: u64) {
        self.streaks.remove(&id);
        self.pending.remove(&id);
        self.remove_factory(id);
        self.budgets.retain(|(child, _)| *child != id);
    }

    /// The child `new` replaced the child `old` after a crash: it goes on with its backoff
    /// streak and its factory.
    fn succeed(&mut self, old: u64, new: u64) {
        if let Some(streak) = self.streaks.remove(&old) {
            self.streaks.insert(new, streak);
        }
        self.pending.remove(&old);
        if let Some(factory) = self.remove_factory(old) {
            self.factories.push((new, factory));
        }
        if let Some(budget) = self.budgets.iter_mut().find(|(child, _)| *child == old) {
            budget.0 = new;
        }
    }
}

/// Whether `local` has not finished its start sequence successfully: it crashed while
/// starting (or in `on_started`).
fn failed_start(local: &LocalRef) -> bool {
    let node = local.node();
    node.state() == State::Starting || node.last_start_failed()
}

impl Driver {
    /// Applies the strategy of `supervisor` to `crash`, which reached it through its child
    /// `child` (the crashed service itself, or an ancestor of it).
    pub(crate) async fn supervise(
        &self,
        supervisor: &LocalRef,
        child: &LocalRef,
        crash: Crash,
    ) -> Supervised {
        let mut crash = child.node().inherit_crash(crash);
        let mut child = child.clone();
        loop {
            match self.apply_strategy(supervisor, &child, crash).await {
                Step::Done(outcome) => return outcome,
                Step::StartFailed(failed, failure) => {
                    child = failed;
                    crash = failure;
                }
            }
        }
    }

    async fn apply_strategy(&self, supervisor: &LocalRef, child: &LocalRef, crash: Crash) -> Step {
        let node = supervisor.node();
        if node.state() != State::Running || node.should_stop() {
            // The supervisor's own stop stops the child; the crash is that stop's to
            // report, as a failure of the run.
            return Step::Done(Supervised::Handled);
        }
        if !child.node().state().is_active() {
            // Stopped, or stopping, by another operation meanwhile: that stop reports it.
            return Step::Done(Supervised::Handled);
        }
        crash.mark_handled();
        let Some(strategy) = node.supervisor else {
            return Step::Done(Supervised::Escalate(crash));
        };
        match strategy {
            Strategy::Crashing => Step::Done(self.give_up(supervisor, crash)),
            Strategy::ForfeitOneForOne => {
                self.forfeit(supervisor, child, core::slice::from_ref(child), &crash)
                    .await;
                Step::Done(Supervised::Handled)
            }
            Strategy::ForfeitOneForAll => {
                let all = self.children_of(supervisor);
                self.forfeit(supervisor, child, &all, &crash).await;
                Step::Done(Supervised::Handled)
            }
            Strategy::ForfeitRestForOne => {
                let rest = self.rest_from(supervisor, child);
                self.forfeit(supervisor, child, &rest, &crash).await;
                Step::Done(Supervised::Handled)
            }
            Strategy::OneForOne | Strategy::OneForAll | Strategy::RestForOne => {
                self.restart(supervisor, child, crash, strategy).await
            }
        }
    }

    /// `child` and the children after it, in order (only `child` if it is no longer
    /// among the children).
    fn rest_from(&self, supervisor: &LocalRef, child: &LocalRef) -> Vec<LocalRef> {
        let mut children = self.children_of(supervisor);
        match children.iter().position(|other| other.ptr_eq(child)) {
            Some(at) => children.split_off(at),
            None => alloc::vec![child.clone()],
        }
    }

    /// The supervisor crashes with `crash` (logged once), to be handled above it.
    fn give_up(&self, supervisor: &LocalRef, crash: Crash) -> Supervised {
        let node = supervisor.node();
        let (crash, _) = node.record_crash(crash);
        if let Some(reported) = node.crash_to_report() {
            lifecycle::emit(node, LifecycleEvent::Crashed(&reported));
        }
        Supervised::Escalate(crash)
    }

    /// Logs a crash of `sibling` that its own command has not reported yet: the strategy
    /// is about to stop it, and a restart would clear the crash before the command runs.
    fn report_sibling_crash(sibling: &LocalRef, child: &LocalRef) {
        if sibling.ptr_eq(child) {
            return;
        }
        if let Some(crash) = sibling.node().crash_to_report() {
            lifecycle::emit(sibling.node(), LifecycleEvent::Crashed(&crash));
        }
    }

    /// Stops `targets` (in reverse order) for good.
    async fn forfeit(
        &self,
        supervisor: &LocalRef,
        child: &LocalRef,
        targets: &[LocalRef],
        crash: &Crash,
    ) {
        for target in targets.iter().rev() {
            if !target.node().state().is_active() {
                continue;
            }
            Self::report_sibling_crash(target, child);
            lifecycle::emit(
                supervisor.node(),
                LifecycleEvent::ForfeitingChild {
                    child: target.node().info(),
                    crash,
                },
            );
            self.stop_node(target, StopReason::Requested).await;
        }
    }

    /// Parks `child`, over its own restart budget, with its crash: it stops and stays
    /// stopped until resumed. The other children go on.
    async fn quarantine(&self, supervisor: &LocalRef, child: &LocalRef, crash: &Crash) {
        let Some((restarts, over)) = supervisor
            .supervisor_state()
            .and_then(|state| state.borrow().quarantine)
        else {
            return;
        };
        child.node().set_parked(Some(Parked::Quarantined));
        lifecycle::emit(
            supervisor.node(),
            LifecycleEvent::QuarantiningChild {
                child: child.node().info(),
                crash,
                restarts,
                over,
            },
        );
        self.stop_node(child, StopReason::Requested).await;
    }

    /// One-for-one, one-for-all and rest-for-one: count the restart, stop, then start again now or after
    /// the backoff delay.
    async fn restart(
        &self,
        supervisor: &LocalRef,
        child: &LocalRef,
        crash: Crash,
        strategy: Strategy,
    ) -> Step {
        let node = supervisor.node();
        let now = node.tree.timers.now();
        // One-for-all and rest-for-one restart a group: one backoff streak and one
        // pending restart for the supervisor.
        let group = strategy != Strategy::OneForOne;
        let key = if group { node.id } else { child.node().id };
        let decision = match supervisor.supervisor_state() {
            Some(state) => {
                state
                    .borrow_mut()
                    .decide(child.node(), &crash, failed_start(child), key, now)
            }
            None => Ok(Decision::Restart(Duration::ZERO)),
        };
        let delay = match decision {
            Ok(Decision::Restart(delay)) => delay,
            Ok(Decision::Quarantine) => {
                self.quarantine(supervisor, child, &crash).await;
                return Step::Done(Supervised::Handled);
            }
            Err(error) => {
                let crash = Crash::new(node.label.clone(), Box::new(error));
                return Step::Done(self.give_up(supervisor, crash));
            }
        };
        let group_targets;
        let targets: &[LocalRef] = match strategy {
            Strategy::OneForAll => {
                group_targets = self.children_of(supervisor);
                &group_targets
            }
            Strategy::RestForOne => {
                group_targets = self.rest_from(supervisor, child);
                &group_targets
            }
            _ => core::slice::from_ref(child),
        };

        lifecycle::emit(
            node,
            LifecycleEvent::RestartingChild {
                child: child.node().info(),
                crash: &crash,
                delay,
            },
        );
        for target in targets.iter().rev() {
            if !target.node().state().is_active() {
                continue;
            }
            Self::report_sibling_crash(target, child);
            // A child that a fresh one replaces stops without restarting itself.
            let replaced = supervisor
                .supervisor_state()
                .is_some_and(|state| state.borrow().replaces(target.node().id));
            if !replaced {
                lifecycle::emit(target.node(), LifecycleEvent::Restarting);
            }
            self.stop_node(target, StopReason::Restarting).await;
        }
        let replaced = self.replace_stopped(supervisor, targets);
        let targets = &*replaced;
        // One child's streak goes on with the child that replaced it.
        let key = match targets {
            [only] if !group => only.node().id,
            _ => key,
        };

        if delay.is_zero() {
            return self.start_children(supervisor, key, targets).await;
        }
        let ids = targets.iter().map(|target| target.node().id).collect();
        match self.schedule_resume(supervisor, key, ids, now + delay) {
            Ok(()) => Step::Done(Supervised::Handled),
            Err(error) => {
                let crash = Crash::new(node.label.clone(), Box::new(error));
                Step::Done(self.give_up(supervisor, crash))
            }
        }
    }

    /// Starts the stopped ones among `targets`, in order.
    async fn start_children(&self, supervisor: &LocalRef, key: u64, targets: &[LocalRef]) -> Step {
        let node = supervisor.node();
        for target in targets {
            if node.should_stop() {
                return Step::Done(Supervised::Handled);
            }
            if !matches!(target.node().state(), State::Init | State::Stopped) {
                continue;
            }
            if target.node().parked().is_some() {
                // Paused or quarantined: it stays stopped until resumed.
                continue;
            }
            if target.node().stop_queued() {
                // A stop requested meanwhile wins over the restart: the child stays
                // stopped.
                continue;
            }
            match self.start_node(target).await {
                Ok(()) => {}
                Err(StartError::Crashed(crash)) => {
                    return Step::StartFailed(target.clone(), crash);
                }
                // A stop (of the child or the supervisor), or a crash of the child, is
                // queued and finishes the job.
                Err(StartError::Interrupted) => return Step::Done(Supervised::Handled),
            }
        }
        if let Some(state) = supervisor.supervisor_state() {
            state.borrow_mut().started(key, || node.tree.timers.now());
        }
        Self::notify_operational(supervisor);
        Step::Done(Supervised::Handled)
    }

    /// Tells the supervisor's `on_operational` hook, if every child runs and none waits
    /// for a delayed restart.
    fn notify_operational(supervisor: &LocalRef) {
        let Some(state) = supervisor.supervisor_state() else {
            return;
        };
        if state.borrow().on_operational.is_none() {
            return;
        }
        let up = supervisor.node().with_children(|children| {
            children.iter().all(|node| {
                node.parked().is_some() || (node.state() == State::Running && !node.should_stop())
            })
        });
        if !up || !state.borrow().pending.is_empty() {
            return;
        }
        // Taken out while it runs: the state is not borrowed during user code.
        let Some(mut hook) = state.borrow_mut().on_operational.take() else {
            return;
        };
        if let Ok(handle) = SupervisorHandle::try_from(supervisor.handle()) {
            hook(&handle);
        }
        state.borrow_mut().on_operational.get_or_insert(hook);
    }

    /// Replaces each of `targets` that stopped for a restart and has a factory (its own,
    /// or the supervisor's replacement) with a fresh child built by it, in its place.
    /// Returns the children to start: the fresh ones, and the others as they were.
    fn replace_stopped<'t>(
        &self,
        supervisor: &LocalRef,
        targets: &'t [LocalRef],
    ) -> Cow<'t, [LocalRef]> {
        let Some(state) = supervisor.supervisor_state() else {
            return Cow::Borrowed(targets);
        };
        if !state.borrow().replaces_any() {
            return Cow::Borrowed(targets);
        }
        let mut fresh = Vec::with_capacity(targets.len());
        for target in targets {
            let node = target.node();
            // A child stopped by a request of its own stays stopped (see
            // `start_children`), and is not replaced.
            if node.state() != State::Stopped || node.stop_queued() || node.parked().is_some() {
                fresh.push(target.clone());
                continue;
            }
            let index = supervisor.node().with_children(|children| {
                (children.iter()).position(|child| Arc::ptr_eq(child, target.node()))
            });
            let Some(index) = index else {
                fresh.push(target.clone());
                continue;
            };
            // Taken out while user code runs: the state is not borrowed meanwhile.
            let factory = state.borrow_mut().remove_factory(node.id);
            let service = match factory {
                Some(mut factory) => {
                    let service = factory();
                    state.borrow_mut().factories.push((node.id, factory));
                    Some(service)
                }
                None => {
                    let replacement = state.borrow_mut().replacement.take();
                    replacement.map(|mut replacement| {
                        let service = replacement(target.handle(), index);
                        state.borrow_mut().replacement.get_or_insert(replacement);
                        service
                    })
                }
            };
            match service {
                Some(service) => {
                    let new = self.swap_child(supervisor, target, service);
                    state.borrow_mut().succeed(node.id, new.node().id);
                    fresh.push(new);
                }
                None => fresh.push(target.clone()),
            }
        }
        Cow::Owned(fresh)
    }

    /// Puts a new node for `service` in the place of the stopped child `old`, which leaves
    /// the supervisor and the tree; returns the new child, not started.
    fn swap_child(
        &self,
        supervisor: &LocalRef,
        old: &LocalRef,
        service: Box<dyn DynService>,
    ) -> LocalRef {
        // Created as the last child, then moved into the old one's place.
        let new = self.create_node(service, Some(supervisor), old.node().kind);
        supervisor.node().replace_child(old.node().id, new.node());
        self.forget(old);
        new
    }

    /// Starts `children` at `deadline`, through an owned task of the supervisor, so that
    /// the driver serves other requests meanwhile and a stop of the supervisor cancels it.
    fn schedule_resume(
        &self,
        supervisor: &LocalRef,
        key: u64,
        children: Vec<u64>,
        deadline: Instant,
    ) -> Result<(), Error> {
        let ticket = match supervisor.supervisor_state() {
            Some(state) => state.borrow_mut().add_pending(key, children),
            None => return Ok(()),
        };
        let handle = supervisor.handle().clone();
        supervisor
            .handle()
            .spawn_named("restart backoff", async move {
                // Ends early, and cleanly, when the supervisor is asked to stop.
                handle.sleep_until(deadline).await?;
                let node = handle.node();
                node.tree
                    .send(Request::Resume { key, ticket }.command(node.clone()));
                Ok(())
            })?;
        Ok(())
    }

    /// The operation that executes `request` for the supervisor `node`, if it is still a
    /// supervisor of this tree; the request is refused otherwise.
    fn take_supervisor_request(
        &self,
        node: Arc<Node>,
        request: Request,
    ) -> Option<SequenceFuture<'_, ()>> {
        let supervisor = self.find(&node).and_then(|local| {
            let execute = local.supervision()?.execute;
            Some((local, execute))
        });
        match supervisor {
            Some((supervisor, execute)) => Some(execute(self, supervisor, request)),
            None => {
                request.refuse();
                None
            }
        }
    }

    /// Executes `request` for `supervisor`.
    pub(crate) async fn supervisor_request(&self, supervisor: LocalRef, request: Request) {
        // Once no other operation works on the supervisor.
        let _held = self.hold(&supervisor).await;
        let supervisor = &supervisor;
        match request {
            Request::Add { service, reply } => {
                reply.send(self.add_child(supervisor, service).await);
            }
            Request::Remove { child, reply } => {
                reply.send(Ok(self.remove_child(supervisor, &child).await));
            }
            Request::Replace {
                index,
                service,
                reply,
            } => reply.send(self.replace_child(supervisor, index, service).await),
            Request::Pause { index, reply } => {
                reply.send(self.pause_child(supervisor, index).await);
            }
            Request::Unpause { index, reply } => {
                reply.send(self.resume_child(supervisor, index).await);
            }
            Request::Resume { key, ticket } => self.resume(supervisor, key, ticket).await,
        }
    }

    /// The child at `index` of a running supervisor.
    fn running_child(&self, supervisor: &LocalRef, index: usize) -> Result<LocalRef, ChildAt> {
        let node = supervisor.node();
        if node.state() != State::Running || node.should_stop() {
            return Err(ChildAt::NotRunning);
        }
        match self.child_at(supervisor, index) {
            Some(child) => Ok(child),
            None => Err(ChildAt::OutOfRange {
                index,
                len: node.child_count(),
            }),
        }
    }

    /// Parks the child at `index` as paused and stops it.
    async fn pause_child(
        &self,
        supervisor: &LocalRef,
        index: usize,
    ) -> Result<ServiceHandle, PauseError> {
        let child = self
            .running_child(supervisor, index)
            .map_err(|error| match error {
                ChildAt::NotRunning => PauseError::NotRunning,
                ChildAt::OutOfRange { index, len } => PauseError::OutOfRange { index, len },
            })?;
        let node = child.node();
        if let Some(parked) = node.parked() {
            return Err(PauseError::AlreadyParked(parked));
        }
        // Parked before it stops: from now on nothing restarts it, and a restart it waits
        // for (its backoff delay) is called off.
        node.set_parked(Some(Parked::Paused));
        if let Some(state) = supervisor.supervisor_state() {
            state.borrow_mut().cancel_pending(node.id);
        }
        lifecycle::emit(
            supervisor.node(),
            LifecycleEvent::PausingChild { child: node.info() },
        );
        self.stop_node(&child, StopReason::Requested).await;
        Ok(child.handle().clone())
    }

    /// Unparks the child at `index` and starts it; a quarantined child gets its restart
    /// budget back. A child that fails to start stays parked as it was.
    async fn resume_child(
        &self,
        supervisor: &LocalRef,
        index: usize,
    ) -> Result<ServiceHandle, ResumeError> {
        let child = self
            .running_child(supervisor, index)
            .map_err(|error| match error {
                ChildAt::NotRunning => ResumeError::NotRunning,
                ChildAt::OutOfRange { index, len } => ResumeError::OutOfRange { index, len },
            })?;
        let node = child.node();
        let Some(parked) = node.parked() else {
            return Err(ResumeError::NotParked);
        };
        if let Some(state) = supervisor.supervisor_state() {
            state.borrow_mut().forgive(node.id);
        }
        lifecycle::emit(
            supervisor.node(),
            LifecycleEvent::ResumingChild {
                child: node.info(),
                parked,
            },
        );
        node.set_parked(None);
        let handle = child.handle().clone();
        if node.state().is_active() {
            return Ok(handle);
        }
        let failure = match self.start_node(&child).await {
            Ok(()) => return Ok(handle),
            Err(failure) => failure,
        };
        let error = match (failure, node.crash_reason()) {
            (StartError::Crashed(crash), _) | (StartError::Interrupted, Some(crash)) => {
                // The caller is told: the crash is theirs to handle.
                crash.mark_handled();
                ResumeError::Crashed(crash)
            }
            (StartError::Interrupted, None) => ResumeError::NotRunning,
        };
        if let Some(crash) = node.crash_to_report() {
            lifecycle::emit(node, LifecycleEvent::Crashed(&crash));
        }
        node.set_parked(Some(parked));
        self.stop_node(&child, StopReason::Requested).await;
        Err(error)
    }

    async fn resume(&self, supervisor: &LocalRef, key: u64, ticket: u64) {
        let ids = match supervisor.supervisor_state() {
            Some(state) => state.borrow_mut().take_pending(key, ticket),
            None => None,
        };
        let Some(ids) = ids else { return };
        let node = supervisor.node();
        if node.state() != State::Running || node.should_stop() {
            return;
        }
        let mut targets = self.children_of(supervisor);
        targets.retain(|child| ids.contains(&child.node().id));
        let outcome = match self.start_children(supervisor, key, &targets).await {
            Step::Done(outcome) => outcome,
            Step::StartFailed(child, crash) => self.supervise(supervisor, &child, crash).await,
        };
        if let Supervised::Escalate(crash) = outcome {
            self.propagate_crash(supervisor.clone(), crash).await;
        }
    }

    async fn add_child(
        &self,
        supervisor: &LocalRef,
        service: Box<dyn DynService + Send>,
    ) -> Result<ServiceHandle, Error> {
        let service: Box<dyn DynService> = service;
        let child = self.create_node(service, Some(supervisor), ChildKind::Runtime);
        self.start_new_child(supervisor, &child).await
    }

    /// Stops the child at `index` and starts `service` in its place.
    async fn replace_child(
        &self,
        supervisor: &LocalRef,
        index: usize,
        service: Box<dyn DynService + Send>,
    ) -> Result<ServiceHandle, ReplaceError> {
        let node = supervisor.node();
        if node.state() != State::Running || node.should_stop() {
            return Err(ReplaceError::NotRunning);
        }
        let Some(old) = self.child_at(supervisor, index) else {
            let len = node.child_count();
            return Err(ReplaceError::OutOfRange { index, len });
        };
        self.stop_node(&old, StopReason::Requested).await;
        let new = self.swap_child(supervisor, &old, service);
        // The old child's factory and backoff streak leave with it.
        if let Some(state) = supervisor.supervisor_state() {
            state.borrow_mut().forget_child(old.node().id);
        }
        self.start_new_child(supervisor, &new)
            .await
            .map_err(|error| match error {
                Error::Crashed(crash) => ReplaceError::Crashed(crash),
                Error::TreeFinished => ReplaceError::TreeFinished,
                _ => ReplaceError::NotRunning,
            })
    }

    /// Starts `child`, just added to `supervisor`, if the supervisor runs; a child that
    /// fails to start leaves again, and its caller gets the error.
    async fn start_new_child(
        &self,
        supervisor: &LocalRef,
        child: &LocalRef,
    ) -> Result<ServiceHandle, Error> {
        let handle = child.handle().clone();
        let node = supervisor.node();
        if node.state() != State::Running || node.should_stop() {
            // Starts with the supervisor's next start.
            return Ok(handle);
        }
        let failure = match self.start_node(child).await {
            Ok(()) => return Ok(handle),
            Err(failure) => failure,
        };
        let error = match (failure, child.node().crash_reason()) {
            (StartError::Crashed(crash), _) | (StartError::Interrupted, Some(crash)) => {
                // The caller is told: the crash is theirs to handle.
                crash.mark_handled();
                Error::Crashed(crash)
            }
            (StartError::Interrupted, None) => Error::ServiceStopped,
        };
        // The caller gets the error; the child, which never ran, leaves again.
        if let Some(crash) = child.node().crash_to_report() {
            lifecycle::emit(child.node(), LifecycleEvent::Crashed(&crash));
        }
        self.stop_node(child, StopReason::Requested).await;
        self.detach(supervisor, child);
        Err(error)
    }

    async fn remove_child(&self, supervisor: &LocalRef, child: &Arc<Node>) -> bool {
        let listed = supervisor
            .node()
            .with_children(|children| children.iter().any(|other| Arc::ptr_eq(other, child)));
        let Some(local) = listed.then(|| self.find(child)).flatten() else {
            return false;
        };
        self.stop_node(&local, StopReason::Requested).await;
        self.detach(supervisor, &local);
        true
    }

    /// Removes a stopped child from the supervisor and from the tree.
    fn detach(&self, supervisor: &LocalRef, child: &LocalRef) {
        supervisor.node().remove_child(child.node().id);
        if let Some(state) = supervisor.supervisor_state() {
            state.borrow_mut().forget_child(child.node().id);
        }
        self.forget(child);
    }
}
