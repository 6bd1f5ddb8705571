//! The start sequence: how the driver starts a service and the subtree below it.
//!
//! mode's order for one service is `on_first_start` (or `on_restart`), `Starting...`,
//! `on_start`, its background tasks, its children one by one, `Started`, `on_started`.
//! `on_restart` is for the service the start (or restart) was asked for, if it ran before;
//! a service below it that ran before starts again without either hook, as mode's
//! `restart` resets the services below (their restart count grows) and starts them. The
//! hooks of a service with children run in two sequence futures (see `DynService`): the
//! *head*, up to its tasks, and the *tail*, `on_started`; between the two, the driver
//! starts the children, each the same way. (A service without children runs all of it in
//! one.) The driver keeps the services it is inside of in a list of its own rather than
//! nesting one future per level, so a tree of any depth starts on a small, fixed stack.
//! The start's operation holds each service from its head to its tail, waiting first if
//! another operation holds it (see `operation.rs`).

use alloc::boxed::Box;

use crate::engine::operation::Held;
use crate::engine::LocalRef;
use crate::engine::{busy, Deferred, Driver, Path};
use crate::error::{Crash, Error};
use crate::events::LifecycleEvent;
use crate::lifecycle;
use crate::node::Node;
use crate::platform::plain::Arc;
use crate::service::{BeforeStart, Hook, ParentHook, SequenceFuture};
use crate::state::State;

/// Why a start sequence did not finish.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The service (or a child it started) crashed.
    Crashed(Crash),
    /// The service was asked to stop; the queued stop finishes the job.
    Interrupted,
}

impl StartError {
    /// What the waiters of the start are told.
    fn to_error(&self) -> Error {
        match self {
            StartError::Crashed(crash) => Error::Crashed(crash.clone()),
            StartError::Interrupted => Error::ServiceStopped,
        }
    }
}

/// A service whose start is past its head, starting its children.
struct Starting<'a> {
    held: Held<'a>,
    /// The index of the next child to look at.
    next_child: usize,
}

impl Starting<'_> {
    /// The next child that is not started yet; the list may grow meanwhile.
    fn next_child(&mut self, driver: &Driver) -> Option<LocalRef> {
        loop {
            let child = driver.child_at(self.held.local(), self.next_child)?;
            self.next_child += 1;
            // A child its supervisor parked stays stopped until resumed.
            if matches!(child.node().state(), State::Init | State::Stopped)
                && child.node().parked().is_none()
            {
                return Some(child);
            }
        }
    }
}

impl Driver {
    /// Starts `top` and its subtree (mode's order: see the module docs), and records the
    /// result of each service's start for its waiters.
    ///
    /// A child whose start is interrupted by a stop request of its own does not stop its
    /// parent's start: the parent goes on with its next child, and the child's queued stop
    /// finishes the job.
    ///
    /// Boxed here, so that the operations awaiting it (each already on the heap) keep a
    /// pointer in their poll's stack frame rather than copies of the whole sequence, as
    /// they would in a build without optimisations.
    pub(crate) fn start_node<'a>(
        &'a self,
        top: &'a LocalRef,
    ) -> SequenceFuture<'a, Result<(), StartError>> {
        Box::pin(self.start_subtree(top))
    }

    /// [`start_node`](Self::start_node)'s sequence.
    // A service stays borrowed while its hooks run, on purpose: a nested sequence of the
    // same service finds it borrowed and fails instead.
    #[allow(clippy::await_holding_refcell_ref)]
    async fn start_subtree(&self, top: &LocalRef) -> Result<(), StartError> {
        // The services being started, from `top` down to the deepest.
        let mut path = Path::<Starting<'_>>::new();
        let mut entering = Some(top.clone());
        loop {
            if let Some(local) = entering.take() {
                // Once no other operation works on it.
                let held = self.hold(&local).await;
                // The head: `on_first_start` (or `on_restart`), `Starting...`, `on_start`,
                // the tasks; and for a service without children, the rest too.
                let before = self.begin_start(&local, path.is_empty());
                let head = match local.service.try_borrow_mut() {
                    Ok(mut service) => service.start_sequence(self, &local, before).await,
                    Err(_) => Err(self.crashed(local.node(), busy(before.hook()))),
                };
                match head {
                    // Started already: it had no children.
                    Ok(true) => local.node().finish_start(Ok(())),
                    Ok(false) => path.push(Starting {
                        held,
                        next_child: 0,
                    }),
                    Err(error) => {
                        local.node().finish_start(Err(error.to_error()));
                        match unwind(&mut path, error) {
                            Some(result) => return result,
                            None => continue,
                        }
                    }
                }
            }
            let Some(current) = path.last_mut() else {
                return Ok(());
            };
            let interrupted = current.held.local().node().should_stop();
            if !interrupted {
                if let Some(child) = current.next_child(self) {
                    entering = Some(child);
                    continue;
                }
            }
            // Done with its children, or asked to stop: the service's start ends here.
            let Some(Starting { held, .. }) = path.pop() else {
                return Ok(());
            };
            let local = held.local();
            let result = if interrupted {
                Err(StartError::Interrupted)
            } else {
                // The tail: `Started`, `on_started`.
                self.started(local);
                let started = match local.service.try_borrow_mut() {
                    Ok(mut service) => service.run_hook(ParentHook::Started, self, local).await,
                    Err(_) => Err(busy(Hook::Started)),
                };
                self.start_hook_result(local, started)
            };
            let node = local.node();
            node.finish_start(result.as_ref().map_err(StartError::to_error).copied());
            match result {
                Ok(()) if path.is_empty() => return Ok(()),
                Ok(()) => {}
                Err(error) => {
                    if let Some(result) = unwind(&mut path, error) {
                        return result;
                    }
                }
            }
        }
    }

    /// A start begins: a fresh run, `Starting` state. Returns the hook that comes before
    /// `on_start`: `on_first_start` for a first start, `on_restart` for a later start of
    /// the start's `top`, none for a later start of a service below it.
    fn begin_start(&self, local: &LocalRef, top: bool) -> BeforeStart {
        let node = local.node();
        let ran_before = local.started_once.replace(true);
        if node.parked().is_some() {
            // Started by a request of its own (`handle.start()`): no longer parked.
            node.set_parked(None);
        }
        local.on_start_began.set(false);
        node.begin_run(ran_before, node.tree.timers.now());
        drop(self.take_deferred(local));
        local.deferring.set(true);
        node.set_starting();
        match (ran_before, top) {
            (false, _) => BeforeStart::FirstStart,
            (true, true) => BeforeStart::Restart,
            (true, false) => BeforeStart::Nothing,
        }
    }

    /// Once the tasks and children run: `Started`.
    pub(crate) fn started(&self, local: &LocalRef) {
        let node = local.node();
        lifecycle::emit(node, LifecycleEvent::Started);
        node.set_state(State::Running);
    }

    /// After `on_first_start` (or `on_restart`): `Starting...`; from here on, the run's
    /// stop runs the stop hooks.
    pub(crate) fn before_on_start(
        &self,
        local: &LocalRef,
        hook: crate::error::BoxResult,
    ) -> Result<(), StartError> {
        self.hook_done(local, hook)?;
        local.on_start_began.set(true);
        lifecycle::emit(local.node(), LifecycleEvent::Starting);
        Ok(())
    }

    /// After `on_start`: the background tasks, the hooks' in the order they were added,
    /// then those added from other threads meanwhile.
    pub(crate) fn after_on_start(
        &self,
        local: &LocalRef,
        hook: crate::error::BoxResult,
    ) -> Result<(), StartError> {
        self.hook_done(local, hook)?;
        let node = local.node();
        let from_hooks = self.take_deferred(local);
        for task in from_hooks {
            let spawned = match task {
                Deferred::Send(task) => node.tree.spawner.spawn(task),
                Deferred::Local(task) => self.tasks.spawn_local(task),
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
        Ok(())
    }

    /// A start hook returned: the start goes on unless the hook failed (which crashes the
    /// service) or the service was asked to stop meanwhile.
    fn hook_done(&self, local: &LocalRef, hook: crate::error::BoxResult) -> Result<(), StartError> {
        self.start_hook_result(local, hook)?;
        check_stop(local.node())
    }

    /// A start hook's result: its error crashes the service.
    pub(crate) fn start_hook_result(
        &self,
        local: &LocalRef,
        hook: crate::error::BoxResult,
    ) -> Result<(), StartError> {
        hook.map_err(|error| self.crashed(local.node(), error))
    }

    /// `node` crashed with `error` while starting: records and reports the crash.
    pub(crate) fn crashed(&self, node: &Arc<Node>, error: crate::error::BoxError) -> StartError {
        let (crash, _) = node.record_crash(Crash::new(node.label.clone(), error));
        if let Some(reported) = node.crash_to_report() {
            lifecycle::emit(node, LifecycleEvent::Crashed(&reported));
        }
        StartError::Crashed(crash)
    }
}

/// The start of the child of `path`'s last service failed with `error`: each service
/// above whose start fails with it records its result, up to the first that goes on.
/// Returns the result of the whole start if the failure reached its top.
fn unwind(path: &mut Path<Starting<'_>>, error: StartError) -> Option<Result<(), StartError>> {
    while let Some(parent) = path.last() {
        let parent = parent.held.local().node().clone();
        match &error {
            // A child that crashed while starting crashes its parent's start too.
            StartError::Crashed(crash) => {
                parent.inherit_crash(crash.clone());
            }
            // A child asked to stop: the parent goes on, unless it was asked too.
            StartError::Interrupted if !parent.should_stop() => return None,
            StartError::Interrupted => {}
        }
        path.pop();
        parent.finish_start(Err(error.to_error()));
    }
    Some(Err(error))
}

fn check_stop(node: &Node) -> Result<(), StartError> {
    if node.should_stop() {
        Err(StartError::Interrupted)
    } else {
        Ok(())
    }
}
