//! [`TaskRun`]: the tasks of one start of a service, counted and cancelled together.
//!
//! Each start of a service opens a run. A task spawned through the service counts itself
//! in the run while it exists (see `task.rs`) and finishes as soon as the run is cancelled.
//! Stopping cancels the run and waits until the count is zero, so no task outlives its
//! service and nothing depends on the executor's own cancellation. Admission and
//! cancellation share the run's lock, so an empty cancelled run stays empty: a restart
//! reopens it, or opens a fresh run when tasks of the previous start are left (a stop that
//! timed out), which a restart can therefore never revive.

use crate::platform::plain::Arc;
use crate::platform::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::task::{Poll, Waker};

use crate::platform::sync::Mutex;
use crate::runtime::BoxFuture;

/// The task run of a node: its own, or the one that replaced it (see `Node::tasks`).
pub(crate) enum RunRef<'a> {
    Own(&'a TaskRun),
    Replaced(Arc<TaskRun>),
}

impl RunRef<'_> {
    /// What a task of this run keeps to find it again: nothing for the node's own run
    /// (the task keeps the node).
    pub(crate) fn for_task(&self) -> Option<Arc<TaskRun>> {
        match self {
            RunRef::Own(_) => None,
            RunRef::Replaced(run) => Some(run.clone()),
        }
    }
}

impl core::ops::Deref for RunRef<'_> {
    type Target = TaskRun;

    fn deref(&self) -> &TaskRun {
        match self {
            RunRef::Own(run) => run,
            RunRef::Replaced(run) => run,
        }
    }
}

/// What [`TaskRun::admit`] did with a task.
pub(crate) enum Admission {
    /// Queued until the start sequence's task step.
    Deferred,
    /// To be spawned now.
    Spawn(BoxFuture),
    /// The run is cancelled: drop the task.
    Refused(BoxFuture),
}

/// The tasks of one start of a service.
///
/// The run keeps its tasks' wakers itself (one slot per task that has been pending) rather
/// than an event per run and a listener per task: cancelling wakes every slot, and the last
/// task to go wakes the one stop sequence waiting for the run to empty.
pub(crate) struct TaskRun {
    cancelled: AtomicBool,
    live: AtomicUsize,
    /// Whether tasks are deferred ([`DEFERRING`], [`DEFERRED`]: some are) or spawned at
    /// once ([`OPEN`]). Moves to `DEFERRED` under the lock, with the task queued; the
    /// driver ends deferral with one swap, and takes the lock only if a task is queued.
    deferral: AtomicU8,
    state: Mutex<RunState>,
}

/// Tasks are deferred until the start sequence's task step; none is queued yet.
const DEFERRING: u8 = 0;
/// Tasks are deferred, and some are queued in `RunState::deferred`.
const DEFERRED: u8 = 1;
/// The task step has passed: tasks are spawned at once.
const OPEN: u8 = 2;

struct RunState {
    /// Tasks admitted from other threads before the start sequence reached its task step,
    /// spawned there in the order they were added.
    deferred: Few<BoxFuture>,
    /// The waker of each task that has been pending, by slot.
    wakers: Slots,
    /// The stop sequence waiting for the run to empty.
    stopper: Option<Waker>,
}

/// A list that holds one element without allocating: most services spawn one task.
#[derive(Default)]
pub(crate) enum Few<T> {
    #[default]
    None,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    pub(crate) fn push(&mut self, item: T) {
        *self = match core::mem::take(self) {
            Few::None => Few::One(item),
            Few::One(first) => Few::Many(alloc::vec![first, item]),
            Few::Many(mut list) => {
                list.push(item);
                Few::Many(list)
            }
        };
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut few = Few::None;
        for item in items {
            few.push(item);
        }
        few
    }
}

impl<T> IntoIterator for Few<T> {
    type Item = T;
    type IntoIter = FewIter<T>;

    fn into_iter(self) -> FewIter<T> {
        match self {
            Few::None => FewIter::One(None),
            Few::One(item) => FewIter::One(Some(item)),
            Few::Many(list) => FewIter::Many(list.into_iter()),
        }
    }
}

/// The items of a [`Few`], in order.
pub(crate) enum FewIter<T> {
    One(Option<T>),
    Many(alloc::vec::IntoIter<T>),
}

impl<T> Iterator for FewIter<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        match self {
            FewIter::One(item) => item.take(),
            FewIter::Many(items) => items.next(),
        }
    }
}

/// Waker slots of a run's tasks: slot 0 inline (the common single task), the others in a
/// vector with a free list, allocated with the second task. A slot holds `None` until its
/// task is pending again.
#[derive(Default)]
struct Slots {
    first: Option<Waker>,
    first_taken: bool,
    more: Option<Box<MoreSlots>>,
}

/// The slots after the first.
#[derive(Default)]
struct MoreSlots {
    wakers: Vec<Option<Waker>>,
    /// Free indices of `wakers`.
    free: Vec<usize>,
}

impl Slots {
    /// Takes a free slot.
    fn take(&mut self) -> usize {
        if !self.first_taken {
            self.first_taken = true;
            return 0;
        }
        let more = self.more.get_or_insert_with(Box::default);
        let index = more.free.pop().unwrap_or_else(|| {
            more.wakers.push(None);
            more.wakers.len() - 1
        });
        index + 1
    }

    /// The waker in a slot that [`take`](Self::take) handed out.
    fn get(&mut self, slot: usize) -> &mut Option<Waker> {
        match (slot, &mut self.more) {
            (0, _) => &mut self.first,
            (_, Some(more)) => &mut more.wakers[slot - 1],
            (_, None) => unreachable!("slot {slot} was never taken"),
        }
    }

    /// Frees `slot`, returning the waker it held.
    fn free(&mut self, slot: usize) -> Option<Waker> {
        let waker = self.get(slot).take();
        match (slot, &mut self.more) {
            (0, _) => self.first_taken = false,
            (_, Some(more)) => more.free.push(slot - 1),
            (_, None) => {}
        }
        waker
    }

    /// Takes every stored waker.
    fn drain(&mut self) -> Few<Waker> {
        let first = self.first.take();
        match &mut self.more {
            None => first.map_or(Few::None, Few::One),
            Some(more) => first
                .into_iter()
                .chain(more.wakers.iter_mut().filter_map(Option::take))
                .collect(),
        }
    }
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
            deferral: AtomicU8::new(DEFERRING),
            state: Mutex::new(RunState {
                deferred: Few::None,
                wakers: Slots::default(),
                stopper: None,
            }),
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
        // Only the driver cancels and reopens, so this check cannot race either. A second
        // cancellation would find nothing to do: every task that was pending then has been
        // woken, and one that registers later sees the flag.
        if self.is_cancelled() {
            return;
        }
        // The flag changes under the lock, so that admission (`admit`, `enter`) and
        // `reopen` see it consistently with `live`. A task that registers its waker after
        // this section re-checks the flag once its own section is over (see
        // `OwnedTask::poll`).
        let (deferred, wakers) = self.state.with(|state| {
            self.cancelled.store(true, Ordering::Release);
            let deferred = core::mem::take(&mut state.deferred);
            (deferred, state.wakers.drain())
        });
        drop(deferred);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Opens the run again for a new start of its service, if no task of its previous
    /// start is left (a stop that timed out leaves some); `false` if one is.
    ///
    /// Admission and cancellation happen under the same lock, so once a cancelled run is
    /// empty no task can join it until it reopens: a restart never revives a straggler.
    pub(crate) fn reopen(&self) -> bool {
        self.state.with(|state| {
            if self.live.load(Ordering::Acquire) != 0 {
                return false;
            }
            self.cancelled.store(false, Ordering::Release);
            self.deferral.store(DEFERRING, Ordering::Release);
            state.deferred = Few::None;
            state.stopper = None;
            true
        })
    }

    /// Counts a task in the run unless it is cancelled; on `true`, create the task with
    /// [`OwnedTask::counted`].
    pub(crate) fn enter(&self) -> bool {
        self.state.with(|_| {
            let open = !self.is_cancelled();
            if open {
                self.live.fetch_add(1, Ordering::AcqRel);
            }
            open
        })
    }

    /// Counts a task in the run unless it is cancelled, without the lock, for the driver
    /// while the start sequence defers the tasks its hooks add (in the driver's own list,
    /// see `Context::spawn`); on `true`, create the task with [`OwnedTask::counted`].
    ///
    /// The lock orders admission against cancellation and reopening, which only the driver
    /// does, so they cannot run meanwhile; and while the run defers tasks none of them
    /// runs, so no task leaves it either.
    pub(crate) fn enter_from_driver(&self) -> bool {
        let open = !self.is_cancelled();
        if open {
            self.live.fetch_add(1, Ordering::AcqRel);
        }
        open
    }

    /// Admits a task made with [`OwnedTask::counted`] without [`enter`](Self::enter):
    /// queues it if the run has not reached its task step yet, or hands it back to be
    /// spawned; refuses it if the run is cancelled (dropping it then is all it takes).
    pub(crate) fn admit(&self, task: BoxFuture) -> Admission {
        self.state.with(|state| {
            // Counted even when refused: the caller drops the task, which uncounts it.
            self.live.fetch_add(1, Ordering::AcqRel);
            if self.is_cancelled() {
                return Admission::Refused(task);
            }
            // Only here (under the lock) does deferral move to `DEFERRED`, and only the
            // driver's `take_deferred` moves it on to `OPEN`.
            let deferring = self.deferral.load(Ordering::Acquire) == DEFERRED
                || self
                    .deferral
                    .compare_exchange(DEFERRING, DEFERRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if deferring {
                state.deferred.push(task);
                Admission::Deferred
            } else {
                Admission::Spawn(task)
            }
        })
    }

    /// Ends deferral and returns the queued tasks in the order they were added. Driver
    /// only.
    ///
    /// Takes the lock only if a task was queued: one that is queued concurrently either
    /// marks the run `DEFERRED` before the swap below (then this waits for its section to
    /// end, and takes it), or finds it `OPEN` and is spawned by its caller.
    pub(crate) fn take_deferred(&self) -> FewIter<BoxFuture> {
        if self.deferral.swap(OPEN, Ordering::AcqRel) != DEFERRED {
            return Few::None.into_iter();
        }
        self.state
            .with(|state| core::mem::take(&mut state.deferred))
            .into_iter()
    }

    /// Waits until every task of this run is gone. One waiter at a time: the stop sequence.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting.
    pub(crate) fn wait_empty(&self) -> impl Future<Output = ()> + '_ {
        core::future::poll_fn(move |cx| {
            // Seen empty, the run needs no waker: the last task to leave took the one stored
            // (if any), and a cancelled run only ever holds tasks on their way out.
            if self.live.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            // `live` only goes down under the lock (in `OwnedTask::drop`), so checking it
            // and storing the waker in one section cannot miss the last task leaving.
            self.state.with(|state| {
                if self.live.load(Ordering::Acquire) == 0 {
                    state.stopper = None;
                    Poll::Ready(())
                } else {
                    match &mut state.stopper {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        stopper => *stopper = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            })
        })
    }

    /// Stores `waker` for the task in `slot` (taking a free slot the first time); returns
    /// the identity of the stored clone.
    pub(crate) fn register(&self, slot: &mut Option<usize>, waker: &Waker) -> WakerId {
        self.state.with(|state| {
            let index = *slot.get_or_insert_with(|| state.wakers.take());
            let stored = state.wakers.get(index).insert(waker.clone());
            WakerId::of(stored)
        })
    }

    /// Forgets a task: frees its slot and, if it was the last, wakes the stop sequence.
    pub(crate) fn leave(&self, slot: Option<usize>) {
        let (stale, stopper) = self.state.with(|state| {
            let stale = slot.and_then(|index| state.wakers.free(index));
            let last = self.live.fetch_sub(1, Ordering::AcqRel) == 1;
            (stale, if last { state.stopper.take() } else { None })
        });
        drop(stale);
        if let Some(stopper) = stopper {
            stopper.wake();
        }
    }
}

/// What `Waker::will_wake` compares (the data pointer and the vtable), kept as addresses:
/// a task compares the waker it is polled with against the clone it stored in its run's
/// slot without holding a clone of its own. The stored clone stays in the slot, alive,
/// until the task leaves or the run is cancelled (after which the task never registers
/// again), so its addresses cannot be reused meanwhile by another waker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakerId {
    data: usize,
    vtable: usize,
}

impl WakerId {
    pub(crate) fn of(waker: &Waker) -> Self {
        WakerId {
            data: waker.data().addr(),
            vtable: core::ptr::from_ref(waker.vtable()).addr(),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use alloc::boxed::Box;
    use loom::future::block_on;
    use loom::thread;

    type Shared = crate::platform::sync::Arc<TaskRun>;

    /// A task admitted from another thread while the driver ends deferral at the start
    /// sequence's task step is either deferred and taken by the driver, or handed back to
    /// be spawned: exactly one of the two, never lost and never both.
    #[test]
    fn loom_task_run_admission_races_the_end_of_deferral() {
        loom::model(|| {
            let run = Shared::new(TaskRun::new());
            let admitter = thread::spawn({
                let run = run.clone();
                move || matches!(run.admit(Box::pin(async {})), Admission::Spawn(_))
            });
            let taken = run.take_deferred().count();
            let spawned = usize::from(admitter.join().unwrap());
            assert_eq!(taken + spawned, 1);
        });
    }

    /// The last task leaving while the stop sequence cancels the run and starts waiting
    /// wakes it: the wait never misses the run becoming empty.
    #[test]
    fn loom_task_run_last_task_leaving_ends_the_wait() {
        loom::model(|| {
            let run = Shared::new(TaskRun::new());
            assert!(run.enter());
            let task = thread::spawn({
                let run = run.clone();
                move || run.leave(None)
            });
            run.cancel();
            block_on(run.wait_empty());
            assert_eq!(run.live(), 0);
            task.join().unwrap();
        });
    }

    /// A cancellation racing a task that registers its waker: the task is woken (or sees
    /// the flag when it re-checks), so it can leave.
    #[test]
    fn loom_task_run_cancel_reaches_a_registering_task() {
        loom::model(|| {
            let run = Shared::new(TaskRun::new());
            assert!(run.enter());
            let canceller = thread::spawn({
                let run = run.clone();
                move || run.cancel()
            });
            let mut slot = None;
            block_on(core::future::poll_fn(|cx| {
                if run.is_cancelled() {
                    return Poll::Ready(());
                }
                run.register(&mut slot, cx.waker());
                // The re-check after registering, as `OwnedTask::poll` does.
                if run.is_cancelled() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }));
            run.leave(slot);
            canceller.join().unwrap();
        });
    }
}
