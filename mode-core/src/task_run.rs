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
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use core::future::Future;
use core::task::{Poll, Waker};

use crate::error::TaskError;
use crate::platform::sync::Mutex;
use crate::runtime::BoxFuture;

/// A task's name, for logs and listings.
#[derive(Clone)]
pub(crate) enum TaskName {
    /// The type of the task's future (or of a timer's callback), shortened when shown: the
    /// name costs nothing to record for a task spawned without one.
    OfType(&'static str),
    /// The name the task was spawned with.
    Given(Cow<'static, str>),
}

impl TaskName {
    /// The name as logs and listings show it. A type's name keeps its last two path
    /// segments, without generic arguments or the `{{closure}}` segments of async blocks
    /// and closures, and a trait impl reads as its type: a closure written in
    /// `<impl Service for app::Webserver>::on_start` is `Webserver::on_start`.
    pub(crate) fn readable(&self) -> Cow<'static, str> {
        match self {
            TaskName::Given(name) => name.clone(),
            TaskName::OfType(full) => Cow::Owned(short_path(full)),
        }
    }
}

/// The last two segments of a type's path, read as [`TaskName::readable`] says.
///
/// It scans bytes rather than searching substrings with `str`'s patterns, whose searcher
/// costs more flash than the rest of this (it matters on a microcontroller), and slices
/// with `get`, which cannot panic: indexing would link the formatting of `str`'s slicing
/// panic.
fn short_path(full: &str) -> String {
    let segments = split_path(full)
        .into_iter()
        .map(|segment| match segment.strip_prefix('<') {
            // `<impl Trait for a::Type>` or `<a::Type as Trait>`: the type's last segment.
            Some(inner) => {
                let inner = inner.strip_suffix('>').unwrap_or(inner);
                let ty = match (inner.starts_with("impl "), find(inner, " as ")) {
                    (true, _) => rfind(inner, " for ").and_then(|at| inner.get(at + 5..)),
                    (false, Some(at)) => inner.get(..at),
                    (false, None) => None,
                }
                .unwrap_or(inner);
                split_path(ty).last().copied().unwrap_or(ty)
            }
            None => segment,
        })
        .map(|segment| segment.split('<').next().unwrap_or(segment))
        .filter(|segment| !segment.starts_with("{{"));
    // The last two, kept as they go by: no list of them, no `join`.
    let (mut before_last, mut last) = (None, None);
    for segment in segments {
        before_last = last.replace(segment);
    }
    let mut name = String::new();
    if let Some(segment) = before_last {
        name.push_str(segment);
        name.push_str("::");
    }
    name.push_str(last.unwrap_or_default());
    name
}

/// Where `needle` first occurs in `text`.
fn find(text: &str, needle: &str) -> Option<usize> {
    text.as_bytes()
        .windows(needle.len())
        .position(|window| window == needle.as_bytes())
}

/// Where `needle` last occurs in `text`.
fn rfind(text: &str, needle: &str) -> Option<usize> {
    text.as_bytes()
        .windows(needle.len())
        .rposition(|window| window == needle.as_bytes())
}

/// The `::`-separated segments of a path, not splitting inside `<…>`.
fn split_path(path: &str) -> Vec<&str> {
    let (mut segments, mut depth, mut start) = (Vec::new(), 0usize, 0);
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                segments.push(path.get(start..i).unwrap_or_default());
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.push(path.get(start..).unwrap_or_default());
    segments
}

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
    /// Queued until the start sequence's task step; the task's slot.
    Deferred(usize),
    /// To be spawned now; the task's slot.
    Spawn(usize, BoxFuture),
    /// The run is cancelled: no task was made.
    Refused,
}

/// The tasks of one start of a service.
///
/// The run keeps an entry per task (its name, its waker, what its handle sees) rather than
/// an event per run and a listener per task: cancelling wakes every task, and the last
/// task to go wakes the one stop sequence waiting for the run to empty.
pub(crate) struct TaskRun {
    cancelled: AtomicBool,
    live: AtomicUsize,
    /// Counts the aborts asked of this run's tasks: a task polls it beside `cancelled`, and
    /// takes the lock to look at its own entry only when it changed.
    aborts: AtomicUsize,
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
    /// spawned there in the order they were added. Rare, so boxed: 4 B per service while
    /// there are none, where a list inline would take 12.
    #[allow(clippy::box_collection)] // the box is what keeps the field one pointer wide
    deferred: Option<Box<Vec<BoxFuture>>>,
    /// Each task (and each handle that outlives its task), by slot.
    tasks: Slots,
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

/// The entries of a run's tasks, by slot: slot 0 inline (the common single task), the
/// others in a vector with a free list, allocated with the second task. A slot is taken
/// when its task is admitted and freed once both the task and its
/// [`TaskHandle`](crate::task::TaskHandle) are gone.
#[derive(Default)]
struct Slots {
    first: Option<Entry>,
    more: Option<Box<MoreSlots>>,
}

/// The slots after the first.
#[derive(Default)]
struct MoreSlots {
    entries: Vec<Option<Entry>>,
    /// Free indices of `entries`.
    free: Vec<usize>,
}

/// One task of a run, as its handle and the run see it.
struct Entry {
    name: TaskName,
    /// The task's waker while it is pending, `None` until its first pending poll.
    waker: Option<Waker>,
    /// The task still exists (it is counted in `live`).
    running: bool,
    /// Its handle still exists.
    handle: bool,
    /// Its handle asked it to end.
    aborted: bool,
    /// How the task ended, and the handle waiting for it: only for a handle that waits or
    /// outlives its task, so a detached task allocates nothing here.
    join: Option<Box<Join>>,
}

#[derive(Default)]
struct Join {
    outcome: Option<Outcome>,
    waiter: Option<Waker>,
}

/// How a task ended, for its handle.
pub(crate) enum Outcome {
    /// Its output, boxed (a zero-sized output allocates nothing).
    Output(Box<dyn Any + Send>),
    Ended(TaskError),
}

impl Slots {
    /// Takes a free slot for a new task with a handle.
    fn take(&mut self, name: TaskName) -> usize {
        let entry = Some(Entry {
            name,
            waker: None,
            running: true,
            handle: true,
            aborted: false,
            join: None,
        });
        if self.first.is_none() {
            self.first = entry;
            return 0;
        }
        let more = self.more.get_or_insert_with(Box::default);
        let index = match more.free.pop() {
            Some(index) => {
                more.entries[index] = entry;
                index
            }
            None => {
                more.entries.push(entry);
                more.entries.len() - 1
            }
        };
        index + 1
    }

    /// The entry in a slot that [`take`](Self::take) handed out and that is not free.
    fn get(&mut self, slot: usize) -> &mut Entry {
        match self.find(slot) {
            Some(entry) => entry,
            None => unreachable!("slot {slot} is free"),
        }
    }

    /// The entry in `slot`, if it is in use.
    fn find(&mut self, slot: usize) -> Option<&mut Entry> {
        match (slot, &mut self.more) {
            (0, _) => self.first.as_mut(),
            (_, Some(more)) => more.entries.get_mut(slot - 1)?.as_mut(),
            (_, None) => None,
        }
    }

    /// Frees `slot` once neither its task nor its handle is left, returning what it held
    /// for the caller to drop outside the lock.
    fn free_if_unused(&mut self, slot: usize) -> Option<Entry> {
        let entry = self.get(slot);
        if entry.running || entry.handle {
            return None;
        }
        match (slot, &mut self.more) {
            (0, _) => self.first.take(),
            (_, Some(more)) => {
                more.free.push(slot - 1);
                more.entries[slot - 1].take()
            }
            (_, None) => None,
        }
    }

    /// Every entry in use.
    fn entries(&mut self) -> impl Iterator<Item = &mut Entry> {
        let more = self.more.as_deref_mut().map(|more| more.entries.iter_mut());
        self.first
            .iter_mut()
            .chain(more.into_iter().flatten().filter_map(Option::as_mut))
    }

    /// Takes every stored task waker.
    fn drain_wakers(&mut self) -> Few<Waker> {
        self.entries()
            .filter_map(|entry| entry.waker.take())
            .collect()
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
            aborts: AtomicUsize::new(0),
            deferral: AtomicU8::new(DEFERRING),
            state: Mutex::new(RunState {
                deferred: None,
                tasks: Slots::default(),
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
            let deferred = state.deferred.take();
            (deferred, state.tasks.drain_wakers())
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
            state.deferred = None;
            state.stopper = None;
            true
        })
    }

    /// Counts a task named `name` in the run unless it is cancelled, and gives it a slot:
    /// create the task with [`OwnedTask::counted`](crate::task::OwnedTask::counted) and its
    /// handle with that slot.
    pub(crate) fn enter(&self, name: TaskName) -> Option<usize> {
        self.state.with(|state| {
            if self.is_cancelled() {
                return None;
            }
            self.live.fetch_add(1, Ordering::AcqRel);
            Some(state.tasks.take(name))
        })
    }

    /// [`enter`](Self::enter) for a task that `make` creates from its slot, then queued if
    /// the run has not reached its task step yet, or handed back to be spawned. The task
    /// is made under the run's lock, so a cancellation sees it either queued or counted.
    pub(crate) fn admit(&self, name: TaskName, make: impl FnOnce(usize) -> BoxFuture) -> Admission {
        self.state.with(|state| {
            if self.is_cancelled() {
                return Admission::Refused;
            }
            self.live.fetch_add(1, Ordering::AcqRel);
            let slot = state.tasks.take(name);
            let task = make(slot);
            // Only here (under the lock) does deferral move to `DEFERRED`, and only the
            // driver's `take_deferred` moves it on to `OPEN`.
            let deferring = self.deferral.load(Ordering::Acquire) == DEFERRED
                || self
                    .deferral
                    .compare_exchange(DEFERRING, DEFERRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if deferring {
                state.deferred.get_or_insert_default().push(task);
                Admission::Deferred(slot)
            } else {
                Admission::Spawn(slot, task)
            }
        })
    }

    /// Ends deferral and returns the queued tasks in the order they were added. Driver
    /// only.
    ///
    /// Takes the lock only if a task was queued: one that is queued concurrently either
    /// marks the run `DEFERRED` before the swap below (then this waits for its section to
    /// end, and takes it), or finds it `OPEN` and is spawned by its caller.
    pub(crate) fn take_deferred(&self) -> alloc::vec::IntoIter<BoxFuture> {
        if self.deferral.swap(OPEN, Ordering::AcqRel) != DEFERRED {
            return Vec::new().into_iter();
        }
        let deferred = self.state.with(|state| state.deferred.take());
        deferred
            .map_or_else(Vec::new, |deferred| *deferred)
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

    /// Stores `waker` for the task in `slot`; returns the identity of the stored clone.
    pub(crate) fn register(&self, slot: usize, waker: &Waker) -> WakerId {
        self.state.with(|state| {
            let stored = state.tasks.get(slot).waker.insert(waker.clone());
            WakerId::of(stored)
        })
    }

    /// How many aborts were asked of this run's tasks so far: a task whose count changed
    /// looks at its own entry ([`is_aborted`](Self::is_aborted)).
    pub(crate) fn aborts(&self) -> usize {
        self.aborts.load(Ordering::Acquire)
    }

    /// Whether the task in `slot` was aborted.
    pub(crate) fn is_aborted(&self, slot: usize) -> bool {
        self.state.with(|state| state.tasks.get(slot).aborted)
    }

    /// Forgets the task in `slot`, which ended with `outcome` (`None`: dropped before it
    /// finished). Hands the outcome to its handle, or frees the slot if the handle is gone;
    /// if the task was the last, wakes the stop sequence.
    pub(crate) fn leave(&self, slot: usize, outcome: Option<Outcome>) {
        let (stale, waiter, freed, stopper) = self.state.with(|state| {
            let entry = state.tasks.get(slot);
            entry.running = false;
            let stale = entry.waker.take();
            let mut waiter = None;
            let mut unclaimed = outcome;
            if entry.handle {
                let ended = match unclaimed.take() {
                    Some(outcome) => outcome,
                    None if entry.aborted => Outcome::Ended(TaskError::Aborted),
                    None => Outcome::Ended(TaskError::Cancelled),
                };
                let join = entry.join.get_or_insert_with(Box::default);
                join.outcome = Some(ended);
                waiter = join.waiter.take();
            }
            let freed = (state.tasks.free_if_unused(slot), unclaimed);
            let last = self.live.fetch_sub(1, Ordering::AcqRel) == 1;
            (
                stale,
                waiter,
                freed,
                if last { state.stopper.take() } else { None },
            )
        });
        drop((stale, freed));
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        if let Some(stopper) = stopper {
            stopper.wake();
        }
    }

    // ===== a task's handle =====

    /// Asks the task in `slot` to end at its next poll, and wakes it.
    pub(crate) fn abort(&self, slot: usize) {
        let waker = self.state.with(|state| {
            let entry = state.tasks.get(slot);
            if !entry.running || entry.aborted {
                return None;
            }
            entry.aborted = true;
            self.aborts.fetch_add(1, Ordering::AcqRel);
            entry.waker.take()
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the task in `slot` has ended.
    pub(crate) fn is_finished(&self, slot: usize) -> bool {
        self.state.with(|state| !state.tasks.get(slot).running)
    }

    /// The outcome of the task in `slot` once it has ended (taken: `None` afterwards);
    /// until then, stores `waker` to be woken when it does.
    pub(crate) fn poll_outcome(&self, slot: usize, waker: &Waker) -> Poll<Option<Outcome>> {
        self.state.with(|state| {
            let entry = state.tasks.get(slot);
            let running = entry.running;
            let join = entry.join.get_or_insert_with(Box::default);
            if let Some(outcome) = join.outcome.take() {
                return Poll::Ready(Some(outcome));
            }
            if !running {
                return Poll::Ready(None);
            }
            match &mut join.waiter {
                Some(waiter) if waiter.will_wake(waker) => {}
                waiter => *waiter = Some(waker.clone()),
            }
            Poll::Pending
        })
    }

    /// The handle of the task in `slot` is gone: frees the slot if the task is too.
    pub(crate) fn release(&self, slot: usize) {
        let freed = self.state.with(|state| {
            state.tasks.get(slot).handle = false;
            state.tasks.free_if_unused(slot)
        });
        drop(freed);
    }

    /// The name of the task in `slot`, if a task that still exists holds it (for
    /// `blocking.rs`, which may ask about a slot its task has left).
    #[cfg(feature = "std")]
    pub(crate) fn task_name(&self, slot: usize) -> Option<TaskName> {
        self.state.with(|state| {
            let entry = state.tasks.find(slot)?;
            entry.running.then(|| entry.name.clone())
        })
    }

    /// The names of the tasks of this run that still exist.
    pub(crate) fn task_names(&self) -> Vec<Cow<'static, str>> {
        self.state.with(|state| {
            state
                .tasks
                .entries()
                .filter(|entry| entry.running)
                .map(|entry| entry.name.readable())
                .collect()
        })
    }
}

/// What `Waker::will_wake` compares (the data pointer and the vtable), kept as addresses:
/// a task compares the waker it is polled with against the clone it stored in its run's
/// slot without holding a clone of its own. The stored clone stays in the slot, alive,
/// until the task leaves or the run is cancelled or the task aborted (after which the
/// task never registers again), so its addresses cannot be reused meanwhile by another waker.
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
                move || {
                    let made = run.admit(TaskName::Given(Cow::Borrowed("task")), |_| {
                        Box::pin(async {})
                    });
                    matches!(made, Admission::Spawn(..))
                }
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
            let slot = run.enter(TaskName::Given(Cow::Borrowed("task"))).unwrap();
            run.release(slot);
            let task = thread::spawn({
                let run = run.clone();
                move || run.leave(slot, None)
            });
            run.cancel();
            block_on(run.wait_empty());
            assert_eq!(run.live(), 0);
            task.join().unwrap();
        });
    }

    /// An abort racing a task that registers its waker: the task is woken (or sees the
    /// abort when it re-checks), ends, and its handle reads that it was aborted.
    #[test]
    fn loom_task_run_abort_reaches_a_registering_task() {
        loom::model(|| {
            let run = Shared::new(TaskRun::new());
            let slot = run.enter(TaskName::Given(Cow::Borrowed("task"))).unwrap();
            let mut seen = run.aborts();
            let aborter = thread::spawn({
                let run = run.clone();
                move || run.abort(slot)
            });
            // As `OwnedTask::poll` looks for an abort: only when the count moved.
            let mut aborted = move |run: &TaskRun| {
                let aborts = run.aborts();
                let moved = aborts != seen;
                seen = aborts;
                moved && run.is_aborted(slot)
            };
            block_on(core::future::poll_fn(|cx| {
                if aborted(&run) {
                    return Poll::Ready(());
                }
                run.register(slot, cx.waker());
                if aborted(&run) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }));
            run.leave(slot, None);
            aborter.join().unwrap();
            let outcome = run.poll_outcome(slot, core::task::Waker::noop());
            assert!(matches!(
                outcome,
                Poll::Ready(Some(Outcome::Ended(TaskError::Aborted)))
            ));
            run.release(slot);
        });
    }

    /// A cancellation racing a task that registers its waker: the task is woken (or sees
    /// the flag when it re-checks), so it can leave.
    #[test]
    fn loom_task_run_cancel_reaches_a_registering_task() {
        loom::model(|| {
            let run = Shared::new(TaskRun::new());
            let slot = run.enter(TaskName::Given(Cow::Borrowed("task"))).unwrap();
            run.release(slot);
            let canceller = thread::spawn({
                let run = run.clone();
                move || run.cancel()
            });
            block_on(core::future::poll_fn(|cx| {
                if run.is_cancelled() {
                    return Poll::Ready(());
                }
                run.register(slot, cx.waker());
                // The re-check after registering, as `OwnedTask::poll` does.
                if run.is_cancelled() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }));
            run.leave(slot, None);
            canceller.join().unwrap();
        });
    }
}
