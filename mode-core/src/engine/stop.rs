//! The stop sequence: how the driver stops a service and the subtree below it, each step
//! bounded by the service's stop timeout.
//!
//! mode's order for one service is `Stopping...`, `on_stop`, its children in reverse
//! order, its tasks cancelled, `Stopped`, the shutdown flag, its tasks gone, its resources
//! released in reverse order, `on_shutdown`, `Shutdown complete!`. As for starts (see
//! `start.rs`), a service with children runs `on_stop` in one sequence future and the rest
//! in another, its children stopping in between (one without children runs all of it in
//! one), and the driver keeps the services it is inside of in a list of its own, so a tree
//! of any depth stops on a small, fixed stack. The stop's operation holds each service
//! from `Stopping...` to `Shutdown complete!`, waiting first if another operation holds it
//! (see `operation.rs`): a parent's stop reaches a child that a restart works on once the
//! restart is done (or, seeing the parent stopping, has given up).
//!
//! The stop hooks and log lines belong to a run whose start began `on_start` (logged
//! `Starting...`). A run cut short before that (a stop during `on_first_start` or
//! `on_restart`) stops quietly: its tasks are dropped and its resources released, but
//! `on_stop` and `on_shutdown` do not run, so a service that acquires in `on_start` and
//! releases in `on_stop` never releases twice.
//!
//! With [`Service::wait_for_shutdown`](crate::Service::wait_for_shutdown), a stop whose wait
//! for the shutdown flag timed out does not run `on_shutdown` (as in mode, where the
//! timeout ends the stop there); its tasks and resources still go, and the timeout is
//! logged and recorded.
//!
//! A stop that is not part of a restart and began with a crash (the crash of the service,
//! or one that reached it from below with no supervisor to handle it: the tree stops)
//! records that crash on every service below that it stops, as mode marks the whole tree
//! crashed: each one's [`crash_reason`](crate::ServiceHandle::crash_reason) is the crash,
//! while its [`stop_reason`](crate::ServiceHandle::stop_reason) stays
//! [`ParentStopping`](crate::StopReason::ParentStopping), which says how it stopped. The
//! crash is reported (logged) once, where it happened.
//!
//! A stop that is not part of a restart and fails — a stop hook fails, a step times out,
//! or the service crashed with no supervisor left to handle it — is an unclean stop of the
//! run ([`Exit::unclean_stops`](crate::Exit::unclean_stops)).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;

use crate::engine::operation::Held;
use crate::engine::LocalRef;
use crate::engine::{busy, Driver, Path, Resource};
use crate::error::Crash;
use crate::events::LifecycleEvent;
use crate::exit::StopFailure;
use crate::handle::Watch;
use crate::lifecycle;
use crate::node::Node;
use crate::service::{Hook, ParentHook, SequenceFuture};
use crate::state::{State, StopReason, WaitingOn};
use crate::time::{Duration, Instant};
use crate::timer_queue::{SharedTimerQueue, SleepUntil};

/// A service being stopped, with the children it has left to stop. Kept small and never
/// moved once in the path: the path holds one per level.
struct Stopping<'a> {
    /// The service's stop deadline and what went wrong; holds the service.
    budget: StopBudget<'a>,
    /// How many of its children are left to stop (they stop from the last).
    remaining: usize,
    /// When its children began to stop, if the deadline runs (see
    /// [`StopBudget::running_since`]).
    children_since: Option<Instant>,
    /// Whether it had no children when its stop began: then all its hooks run in one
    /// sequence (see `DynService::stop_sequence`).
    leaf: bool,
    /// Whether its run began `on_start`, and so runs the stop hooks (see the module docs).
    hooks: bool,
    /// The crash this stop records on the services it stops below (see the module docs).
    crash: Option<Crash>,
}

impl Driver {
    /// Stops `top` and its subtree (mode's order: see the module docs). Does nothing if
    /// `top` is not starting or running.
    ///
    /// Boxed here, so that the operations awaiting it (each already on the heap) keep a
    /// pointer in their poll's stack frame rather than copies of the whole sequence, as
    /// they would in a build without optimisations.
    pub(crate) fn stop_node<'a>(
        &'a self,
        top: &'a LocalRef,
        reason: StopReason,
    ) -> SequenceFuture<'a, ()> {
        Box::pin(self.stop_subtree(top, reason))
    }

    /// [`stop_node`](Self::stop_node)'s sequence.
    // A service stays borrowed while its hooks run, on purpose: a nested sequence of the
    // same service finds it borrowed and fails instead.
    #[allow(clippy::await_holding_refcell_ref)]
    async fn stop_subtree(&self, top: &LocalRef, reason: StopReason) {
        // The services being stopped, from `top` down to the deepest.
        let mut path = Path::<Stopping<'_>>::new();
        // A restart's stop (and so the stops of the children below) is not the run's to
        // count: the restart recovers the service.
        let counts = !matches!(reason, StopReason::Restarting);
        let mut entering = Some((top.clone(), reason, None));
        loop {
            if let Some((local, reason, crash)) = entering.take() {
                // Once no other operation works on it.
                let held = self.hold(&local).await;
                if self.begin_stop(&mut path, held, reason, crash, counts) {
                    if let Some(stopping) = path.last_mut().filter(|s| !s.leaf && s.hooks) {
                        // `on_stop` before the children.
                        let local = stopping.budget.local().clone();
                        let stopped = match local.service.try_borrow_mut() {
                            Ok(mut service) => {
                                let on_stop = service.run_hook(ParentHook::Stop, self, &local);
                                stopping.budget.bounded(on_stop, WaitingOn::OnStop).await
                            }
                            Err(_) => Some(Err(busy(Hook::Stop))),
                        };
                        stopping.budget.hook_result(Hook::Stop, stopped);
                        stopping.children_since = stopping.budget.running_since();
                        local.node().set_stop_step(WaitingOn::Children);
                    }
                }
            }
            let Some(current) = path.last_mut() else {
                return;
            };
            if current.remaining > 0 {
                current.remaining -= 1;
                // By index, not over a copy of the list: only the driver changes it, and
                // it is busy here.
                let child = self.child_at(current.budget.local(), current.remaining);
                let crash = current.crash.clone();
                entering = child.map(|child| (child, StopReason::ParentStopping, crash));
                continue;
            }
            // The children have stopped: (`on_stop` for a service without children,) the
            // driver's steps, `on_shutdown`.
            let done = current;
            done.budget.extend_since(done.children_since);
            let local = done.budget.local().clone();
            {
                let budget = &done.budget;
                // The driver's steps, made here and handed to the service's sequence: polled
                // through one function for every service type, not inlined into each type's
                // sequence.
                let steps: Pin<&mut dyn Future<Output = bool>> =
                    core::pin::pin!(self.stop_steps(&local, budget));
                if done.hooks {
                    match local.service.try_borrow_mut() {
                        Ok(mut service) => {
                            (service.stop_sequence(self, &local, budget, steps, done.leaf)).await;
                        }
                        Err(_) => {
                            if done.leaf {
                                budget.hook_result(Hook::Stop, Some(Err(busy(Hook::Stop))));
                            }
                            if steps.await {
                                budget.hook_result(Hook::Shutdown, Some(Err(busy(Hook::Shutdown))));
                            }
                        }
                    }
                } else {
                    steps.await;
                }
            }
            self.end_stop(done);
            // Releases the service.
            path.pop();
        }
    }

    /// A stop begins: its reason settled, the crash of a stop above recorded (`crash`),
    /// the subtree flagged, `Stopping...`; the service joins `path`. `false` if it is not
    /// starting or running.
    fn begin_stop<'a>(
        &'a self,
        path: &mut Path<Stopping<'a>>,
        held: Held<'a>,
        reason: StopReason,
        crash: Option<Crash>,
        counts: bool,
    ) -> bool {
        let local = held.local();
        let node = local.node();
        if matches!(node.state(), State::Init | State::Stopping | State::Stopped) {
            return false;
        }
        let reason = node.begin_stop_with_reason(reason);
        // A crash that stops the tree (not a restart's stop) is recorded on every service
        // the stop reaches, after the reason is settled: it stays "parent stopping".
        let crash = match crash {
            Some(crash) => Some(node.inherit_crash(crash)),
            None if counts => reason.crash().cloned(),
            None => None,
        };
        node.flag_subtree_to_stop();
        node.set_state(State::Stopping);
        let hooks = local.on_start_began.get();
        // A crash the stop began with: reported here, in the order it happened.
        self.settle_crash(node, counts);
        if hooks {
            lifecycle::emit(node, LifecycleEvent::Stopping(&reason));
        }
        let remaining = node.child_count();
        path.push(Stopping {
            budget: StopBudget {
                held,
                counts,
                deadline: Cell::new(None),
                timed_out: Cell::new(None),
            },
            remaining,
            children_since: None,
            leaf: remaining == 0,
            hooks,
            crash,
        });
        true
    }

    /// A stop ends: a crash during it reported, `Shutdown complete!`, `Stopped` state.
    fn end_stop(&self, stopping: &Stopping<'_>) {
        let budget = &stopping.budget;
        let node = budget.local().node();
        // A crash during the stop: no supervisor handles it any more.
        self.settle_crash(node, budget.counts);
        if stopping.hooks {
            lifecycle::emit(node, LifecycleEvent::ShutdownComplete);
        }
        if let Some(waiting_on) = budget.timed_out.get() {
            node.set_stop_reason(StopReason::StopTimeout { waiting_on });
        }
        node.set_state(State::Stopped);
    }

    /// Between the children and `on_shutdown`: runtime children removed, tasks cancelled,
    /// `Stopped`, the shutdown flag, tasks gone, resources released in reverse order.
    /// Returns whether `on_shutdown` runs: not after the wait for the shutdown flag timed
    /// out.
    pub(crate) async fn stop_steps(&self, local: &LocalRef, budget: &StopBudget<'_>) -> bool {
        let node = local.node();
        if let Some(remove_runtime_children) = local.runtime_children_removal() {
            remove_runtime_children(self, local);
        }
        let run = node.tasks();
        run.cancel();
        drop(self.take_deferred(local));
        if local.on_start_began.get() {
            lifecycle::emit(node, LifecycleEvent::Stopped);
        }
        let mut shut_down = true;
        if let Some(wait_for_shutdown) = local.shutdown_wait() {
            shut_down = wait_for_shutdown(local, budget).await;
        }
        if run.live() > 0
            && budget
                .bounded(run.wait_empty(), WaitingOn::Tasks(0))
                .await
                .is_none()
        {
            budget.timed_out.set(Some(WaitingOn::Tasks(run.live())));
        }
        let resources = local.take_resources();
        match local.resource_closing() {
            Some(close_resources) => close_resources(resources, budget).await,
            // Values only: dropped in reverse order.
            None => resources.into_iter().rev().for_each(drop),
        }
        shut_down
    }
}

/// How a stop waits for its service's shutdown flag: `false` if the wait timed out.
/// Boxed, and reached only through [`Extras`](super::driver::Extras), so a program whose
/// services do not wait for the flag does not link it.
pub(crate) type WaitForShutdown =
    for<'a> fn(&'a LocalRef, &'a StopBudget<'_>) -> SequenceFuture<'a, bool>;

/// The [`WaitForShutdown`] of every service that waits (`DynService::shutdown_wait`).
pub(crate) fn wait_for_shutdown<'a>(
    local: &'a LocalRef,
    budget: &'a StopBudget<'_>,
) -> SequenceFuture<'a, bool> {
    let flag = Watch::until(local.node().clone(), |node| {
        node.shutdown_set().then_some(())
    });
    let wait = budget.bounded(flag, WaitingOn::Shutdown);
    Box::pin(async move { wait.await.is_some() })
}

/// How a stop releases resources of which some close asynchronously, as
/// [`Extras`](super::driver::Extras) keeps it once the first such resource is added.
pub(crate) type CloseResources =
    for<'a> fn(Vec<Resource>, &'a StopBudget<'_>) -> SequenceFuture<'a, ()>;

/// The [`CloseResources`]: values dropped and async resources closed, in reverse order,
/// each close bounded by the stop's deadline.
pub(crate) fn close_resources<'a>(
    resources: Vec<Resource>,
    budget: &'a StopBudget<'_>,
) -> SequenceFuture<'a, ()> {
    Box::pin(async move {
        for resource in resources.into_iter().rev() {
            match resource {
                Resource::Value(value) => drop(value),
                Resource::Async(resource) => {
                    budget.bounded(resource.close(), WaitingOn::Resource).await;
                }
            }
        }
    })
}

/// How many rounds of the executor a waiting stop step lets pass before it arms its
/// deadline. Two, for any executor: where the driver is polled after the tasks it woke,
/// one is enough; where it was queued already when it woke them (a FIFO queue), it is
/// polled once before them, and the second round is theirs.
///
/// Arming at the first wait instead was measured: W1 10–80 % slower (a clock read per
/// waiting step, and on smol a wake-up of async-io's reactor per stop); one round instead
/// of two arms a timer on FIFO executors (the virtual-time runtime) for tasks that leave
/// on their next poll.
const ROUNDS_BEFORE_DEADLINE: u8 = 2;

/// The time a service's stop may take: one deadline for its own steps, extended by the
/// time its children took (they have their own). It also records what went wrong.
///
/// The deadline is set when a step still waits after [`ROUNDS_BEFORE_DEADLINE`] rounds of
/// the executor: steps that finish at once (hooks a service does not override, a run
/// without tasks) or as soon as the executor has polled what they wait for (cancelled tasks
/// leave at their next poll) neither read the clock nor register a timer. The steps of one
/// stop after another share the tree's one stop sleep, moved from deadline to deadline.
pub(crate) struct StopBudget<'a> {
    /// The service, held for the stop.
    held: Held<'a>,
    /// Whether this stop's failures are the run's unclean stops (a restart's are not).
    counts: bool,
    // Cells, so that the driver's steps and the service's hooks share the budget.
    deadline: Cell<Option<Instant>>,
    timed_out: Cell<Option<WaitingOn>>,
}

impl<'a> StopBudget<'a> {
    /// The service.
    fn local(&self) -> &LocalRef {
        self.held.local()
    }

    fn driver(&self) -> &'a Driver {
        self.held.driver()
    }

    /// How long the service's stop may take: its own stop timeout, or the tree's.
    fn timeout(&self) -> Duration {
        (self.local().stop_timeout()).unwrap_or_else(|| self.driver().shared.default_stop_timeout())
    }

    /// The current time, if the deadline is running (the time children take must then be
    /// added to it).
    fn running_since(&self) -> Option<Instant> {
        (self.deadline.get()).map(|_| self.driver().shared.timers.now())
    }

    /// Moves the deadline by the time elapsed since `since` (from [`running_since`](Self::running_since)).
    fn extend_since(&self, since: Option<Instant>) {
        if let (Some(since), Some(deadline)) = (since, self.deadline.get()) {
            (self.deadline).set(Some(deadline + (self.driver().shared.timers.now() - since)));
        }
    }

    /// Runs `step` until the deadline; `None` (and a logged stop timeout) if it expired.
    pub(crate) fn bounded<F: Future>(&self, step: F, waiting_on: WaitingOn) -> Bounded<'_, 'a, F> {
        self.local().node().set_stop_step(waiting_on);
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
    fn arm(&self) -> Box<SleepUntil> {
        let deadline = match self.deadline.get() {
            Some(deadline) => deadline,
            None => self.driver().shared.timers.now() + self.timeout(),
        };
        self.deadline.set(Some(deadline));
        match self.driver().stop_sleep.borrow_mut().take() {
            Some(mut sleep) => {
                sleep.reset(deadline);
                sleep
            }
            None => Box::new(self.driver().shared.timers.sleep_until(deadline)),
        }
    }

    /// Hands the sleep back to the tree for the next step.
    fn give_back(&self, sleep: Option<Box<SleepUntil>>) {
        if let Some(sleep) = sleep {
            *self.driver().stop_sleep.borrow_mut() = Some(sleep);
        }
    }

    /// The deadline passed while a step waited on `waiting_on`.
    fn expired(&self, waiting_on: WaitingOn) {
        let node = self.local().node();
        let waiting_on = match waiting_on {
            WaitingOn::Tasks(_) => WaitingOn::Tasks(node.tasks().live()),
            other => other,
        };
        let timeout = self.timeout();
        lifecycle::emit(
            node,
            LifecycleEvent::StopTimeout {
                waiting_on,
                timeout,
            },
        );
        if self.timed_out.get().is_none() {
            self.timed_out.set(Some(waiting_on));
        }
        self.fail(StopFailure::TimedOut {
            waiting_on,
            timeout,
        });
    }

    /// A stop hook's result (`None`: it timed out, which is recorded already): its error
    /// is logged and recorded, and the stop goes on.
    pub(crate) fn hook_result(&self, hook: Hook, result: Option<crate::error::BoxResult>) {
        if let Some(Err(error)) = result {
            hook_failed(self.local().node(), hook, &error);
            self.fail(StopFailure::HookFailed {
                hook: hook.name(),
                error,
            });
        }
    }

    /// Records `failure` as an unclean stop of the run, unless the stop is a restart's.
    fn fail(&self, failure: StopFailure) {
        if self.counts {
            self.driver().record_unclean(self.local().node(), failure);
        }
    }
}

pub(crate) fn hook_failed(node: &Node, hook: Hook, error: &crate::error::BoxError) {
    lifecycle::emit(
        node,
        LifecycleEvent::HookFailed {
            hook: hook.name(),
            error: &**error,
        },
    );
}

pin_project_lite::pin_project! {
    /// A stop step bounded by its service's stop deadline ([`StopBudget::bounded`]).
    ///
    /// The sleep is boxed and taken only once the step still waits after the executor's
    /// rounds, so the future of a step stays as small as the step's own.
    pub(crate) struct Bounded<'b, 'a, F> {
        #[pin]
        step: F,
        budget: &'b StopBudget<'a>,
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
        if *this.rounds < ROUNDS_BEFORE_DEADLINE {
            // Let the executor run first: the tasks a stop waits for usually leave as soon
            // as they are polled, and then no deadline is needed.
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
