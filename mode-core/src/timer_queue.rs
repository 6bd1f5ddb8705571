//! Core's single deadline queue: every sleep and periodic timer of a service tree, woken
//! through one adapter sleep at a time.
//!
//! A [`TimerQueue`] holds one entry per pending [`SleepUntil`]: its deadline, a seq and its
//! waker. One [`drive`] future per queue (spawned by the engine next to the tree) fires
//! every entry whose deadline has passed, then awaits the adapter's [`Timer::sleep_until`]
//! for the earliest remaining deadline, raced against "an earlier deadline was
//! registered". So:
//!
//! - the adapter sees one sleep at a time, whatever the number of timers in the tree;
//! - nothing allocates per sleep (a `SleepUntil` is a plain struct; the queue's vectors
//!   grow now and then, amortised) and periodic timers reuse one `SleepUntil` with
//!   [`SleepUntil::reset`], computing `next = previous + period` in core;
//! - an empty queue makes the driver wait on the insertion event only: an idle tree never
//!   wakes up;
//! - a poll of a sleep whose entry is queued with the polling task's waker takes no lock
//!   and reads no clock, and moving a waiting sleep to a later deadline touches nothing
//!   shared (see "Why a poll may skip the lock").
//!
//! What does not live here: missed-tick policy and overlap warnings (the timer service owns
//! them), and cancellation on stop (the service's tasks own them).
//!
//! # Layout
//!
//! Entries are a binary min-heap of `(deadline, seq, slot)` items over a slab of `(seq,
//! waker)` slots. A heap push or pop costs a few comparisons (a periodic timer's next
//! deadline is usually the latest, so its push stops at once), and a sleep finds its waker
//! by slot index, with no search. Removing an entry early (a drop, a move to an earlier
//! deadline) empties its slot and leaves its heap item behind, stale; stale items are
//! skipped when they reach the top, and the heap is compacted when they outnumber the live
//! ones, so memory stays proportional to the live entries.
//!
//! # Invariants
//!
//! 1. A heap item is live while its slot holds its seq and a waker; seqs are unique within
//!    the queue, so equal deadlines fire in registration order. `stale` counts the other
//!    items.
//! 2. A `SleepUntil` knows at most one entry of its own (`entry`), at or before its
//!    deadline; the driver may have fired it already. Besides, it may have *abandoned*
//!    entries: an entry is abandoned, rather than removed, when its sleep completes after
//!    seeing the deadline pass on the clock without knowing whether the driver fired it.
//!    An abandoned entry is due, so the driver fires it at its next look: a spurious
//!    wake-up at worst, never a leak.
//! 3. `wake_at` is never later than the instant at which the driver will next look at the
//!    queue on its own (the deadline it sleeps until, or [`Instant::MAX`] when it waits for
//!    the event only). An insertion earlier than `wake_at` lowers it and notifies the event.
//! 4. `fired` (the fire epoch) changes only under the lock, in a driver round that takes at
//!    least one waker out of the slab, before that waker is woken. A `SleepUntil` records
//!    the epoch in the critical section that inserts or refreshes its entry.
//! 5. The mutex is a leaf: while it is held nothing else is locked, no clock is read, no
//!    waker is woken or dropped (dropping the last reference to a waker may drop a task,
//!    whose futures may touch this queue), and no user code runs. Wakers taken out of the
//!    slab are woken or dropped after the closure returns.
//!
//! # Why no wake-up is lost
//!
//! The driver follows the check, listen, re-check rule: each round it first starts
//! listening to `earlier`, then, in one critical section, fires what is due, reads the
//! earliest remaining deadline and stores it in `wake_at`. A registration runs its own
//! critical section either before that one (the driver sees the entry) or after it (it
//! compares with the `wake_at` just stored and, if earlier, notifies a listener that already
//! exists, so the driver's race completes). Notifying after releasing the lock changes
//! nothing: the listener is registered before the driver's critical section, so any
//! notification that follows it reaches that listener, even if the driver is still busy
//! firing wakers and has not awaited the listener yet. Entries at or after `wake_at` need no
//! notification: the driver looks at the queue again at `wake_at` at the latest.
//!
//! # Why a poll may skip the lock
//!
//! A poll returns `Pending` at once when the epoch is the one its sleep recorded with its
//! entry and its recorded waker will wake the polling task. Then the entry is still in the
//! slab, and the driver will wake it, or a round has taken it out without this poll seeing
//! that round's bump. In the second case the wake-up has not happened before this poll
//! began: the round bumps the epoch before it wakes, and an executor orders a wake before
//! the poll it causes, so a poll that follows the wake would load the bumped value (or a
//! later one; the epoch has a single modification order). A wake concurrent with or after
//! the start of the poll makes the executor poll the task again. Either way a wake is still
//! to come. `Relaxed` is enough: the load guards no data, and the one edge it relies on,
//! wake before poll, is the executor's.
//!
//! The epoch is a `usize` (no 64-bit atomics on 32-bit microcontrollers), so it wraps. An
//! equal value after a wrap would need the epoch to move by a multiple of `2^BITS`
//! between a registration and a poll; to rule that out for long waits, the round whose
//! bump lands on a multiple of `2^(BITS-1)` fires every entry (each sleep polls, sees the
//! deadline ahead and registers again). What remains is a woken task that is not polled
//! during `2^(BITS-1)` further firing rounds (2^31 on 32-bit targets).
//!
//! Moving a sleep later ([`SleepUntil::reset`]) leaves its entry at the old deadline; when
//! that fires, the poll it causes sees the deadline ahead and registers again. Moving it
//! earlier moves the entry, so a sleep is never woken late.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Ordering as CmpOrdering;
use core::convert::Infallible;
use core::fmt;
use core::future::{poll_fn, Future};
use core::mem;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};

use event_listener::{listener, Event};

use crate::platform::plain::Arc;
// Like the mutex, the epoch is loom's under `cfg(loom)`, so that the model of a poll racing
// a firing round explores it; otherwise this is `crate::platform::plain::atomic`.
use crate::platform::sync::atomic::{AtomicUsize, Ordering};
use crate::platform::sync::Mutex;
use crate::runtime::Timer;
use crate::time::Instant;

/// A monotonic clock, the part of a [`Timer`] a [`TimerQueue`] needs to tell whether a
/// deadline has passed.
///
/// Every [`Timer`] is a clock. The queue's clock must be the clock of the timer passed to
/// [`drive`]; instants from two clocks are not comparable.
pub(crate) trait Clock: Send + Sync + 'static {
    /// The current time; never earlier than a value returned before.
    fn now(&self) -> Instant;
}

impl<T: Timer> Clock for T {
    fn now(&self) -> Instant {
        Timer::now(self)
    }
}

/// Every this many bumps of the fire epoch, a round fires every entry (see "Why a poll may
/// skip the lock").
const FIRE_ALL_EVERY: usize = 1 << (usize::BITS - 1);

/// Compaction leaves the heap alone below this many stale items.
const MIN_STALE_TO_COMPACT: usize = 32;

// ===== impl TimerQueue =====

/// Methods of a shared [`TimerQueue`]. A trait on `Arc<TimerQueue>` rather than
/// `self: &Arc<Self>` methods, which need `Arc` to be the standard one (the
/// `portable-atomic` feature may swap in another).
pub(crate) trait SharedTimerQueue {
    /// A future that completes once the queue's clock reaches `deadline` (at the first poll
    /// if it already has).
    ///
    /// It only completes while a [`drive`] future runs for this queue.
    fn sleep_until(&self, deadline: Instant) -> SleepUntil;
}

impl SharedTimerQueue for Arc<TimerQueue> {
    fn sleep_until(&self, deadline: Instant) -> SleepUntil {
        SleepUntil {
            queue: Arc::clone(self),
            deadline,
            entry: None,
            waker: None,
            now: None,
        }
    }
}

/// The deadline queue shared by every sleep and periodic timer of one service tree.
///
/// Create it once per tree with the adapter's timer as its clock, hand out
/// [`SleepUntil`]s with [`sleep_until`](SharedTimerQueue::sleep_until), and keep one [`drive`]
/// future running for as long as any of them may be pending.
pub(crate) struct TimerQueue {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// The fire epoch (invariant 4): the number of driver rounds that took a waker out of
    /// the slab, wrapping.
    fired: AtomicUsize,
    /// Notified when a registration lands before `State::wake_at` (invariant 3).
    earlier: Event,
    /// How many times the lock was taken.
    #[cfg(test)]
    locks: core::sync::atomic::AtomicUsize,
}

/// A heap item: where to find the waker of the entry due at `deadline`.
#[derive(Clone, Copy)]
struct Item {
    deadline: Instant,
    seq: u64,
    slot: usize,
}

impl Item {
    fn key(&self) -> (Instant, u64) {
        (self.deadline, self.seq)
    }
}

// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest `(deadline, seq)` first.
impl Ord for Item {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.key().cmp(&self.key())
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Item {}

/// A slab slot: the waker of the live item with this seq, if any.
struct Slot {
    seq: u64,
    waker: Option<Waker>,
}

struct State {
    heap: BinaryHeap<Item>,
    slots: Vec<Slot>,
    /// Indices of the slots without a waker.
    free: Vec<usize>,
    /// Heap items that are not live (invariant 1).
    stale: usize,
    next_seq: u64,
    /// When the driver will next look at the queue without being notified.
    wake_at: Instant,
}

/// What a `SleepUntil` knows of its entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The entry's deadline, at or before the sleep's.
    at: Instant,
    slot: usize,
    seq: u64,
    /// The fire epoch when the entry was inserted or last found in place.
    epoch: usize,
}

impl State {
    /// Registers `waker` at `deadline`; returns the entry (epoch left to the caller) and
    /// whether the driver must be notified (the entry lands before the driver's next look).
    fn insert(&mut self, deadline: Instant, waker: Waker) -> (Entry, bool) {
        let seq = self.next_seq;
        // u64 seqs do not wrap in practice (one per nanosecond lasts 584 years); wrapping
        // keeps the arithmetic panic-free regardless.
        self.next_seq = self.next_seq.wrapping_add(1);
        let filled = Slot {
            seq,
            waker: Some(waker),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = filled;
                slot
            }
            None => {
                self.slots.push(filled);
                self.slots.len() - 1
            }
        };
        self.heap.push(Item {
            deadline,
            seq,
            slot,
        });
        let notify = deadline < self.wake_at;
        if notify {
            self.wake_at = deadline;
        }
        let entry = Entry {
            at: deadline,
            slot,
            seq,
            epoch: 0,
        };
        (entry, notify)
    }

    /// The waker slot of a live entry.
    fn live(&mut self, slot: usize, seq: u64) -> Option<&mut Waker> {
        let slot = &mut self.slots[slot];
        if slot.seq == seq {
            slot.waker.as_mut()
        } else {
            None
        }
    }

    /// Takes the waker out of the entry `(slot, seq)` and frees its slot; `None` if the
    /// entry is not live.
    fn take(&mut self, slot: usize, seq: u64) -> Option<Waker> {
        let filled = &mut self.slots[slot];
        if filled.seq != seq {
            return None;
        }
        let waker = filled.waker.take()?;
        self.free.push(slot);
        Some(waker)
    }

    /// Removes the entry `(slot, seq)` if it is still queued, leaving its heap item stale.
    fn cancel(&mut self, slot: usize, seq: u64) -> Option<Waker> {
        let waker = self.take(slot, seq)?;
        self.stale += 1;
        if self.stale >= MIN_STALE_TO_COMPACT && self.stale * 2 > self.heap.len() {
            let slots = &self.slots;
            self.heap.retain(|item| {
                let slot = &slots[item.slot];
                slot.seq == item.seq && slot.waker.is_some()
            });
            self.stale = 0;
        }
        Some(waker)
    }

    /// A driver round at `now`: moves the wakers of every due entry into `due`, bumps the
    /// epoch if it took any, and returns the earliest remaining deadline, now `wake_at`.
    fn fire(&mut self, now: Instant, fired: &AtomicUsize, due: &mut Vec<Waker>) -> Instant {
        let before = due.len();
        while let Some(&item) = self.heap.peek() {
            if item.deadline > now {
                break;
            }
            self.heap.pop();
            match self.take(item.slot, item.seq) {
                Some(waker) => due.push(waker),
                None => self.stale -= 1,
            }
        }
        if due.len() > before {
            // Only rounds write the epoch, all under the lock: no read-modify-write needed.
            let epoch = fired.load(Ordering::Relaxed).wrapping_add(1);
            fired.store(epoch, Ordering::Relaxed);
            if epoch % FIRE_ALL_EVERY == 0 {
                for item in mem::take(&mut self.heap) {
                    due.extend(self.take(item.slot, item.seq));
                }
                self.stale = 0;
            }
        }
        // Stale items on top would make the driver wake for nothing: drop them now.
        let next = loop {
            let Some(&top) = self.heap.peek() else {
                break Instant::MAX;
            };
            if self.live(top.slot, top.seq).is_some() {
                break top.deadline;
            }
            self.heap.pop();
            self.stale -= 1;
        };
        self.wake_at = next;
        next
    }

    /// Live entries.
    fn len(&self) -> usize {
        self.heap.len() - self.stale
    }
}

impl TimerQueue {
    /// An empty queue on `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        TimerQueue {
            clock,
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                slots: Vec::new(),
                free: Vec::new(),
                stale: 0,
                next_seq: 0,
                wake_at: Instant::MAX,
            }),
            fired: AtomicUsize::new(0),
            earlier: Event::new(),
            #[cfg(test)]
            locks: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Runs `f` under the lock (invariant 5).
    fn lock<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        #[cfg(test)]
        self.locks
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        self.state.with(f)
    }

    /// The current time on the queue's clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The fire epoch; see "Why a poll may skip the lock".
    fn epoch(&self) -> usize {
        self.fired.load(Ordering::Relaxed)
    }

    /// Tells the driver that a registration landed before its next look.
    fn notify_earlier(&self) {
        self.earlier.notify(usize::MAX);
    }

    /// Number of registered sleeps.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock(|state| state.len())
    }
}

impl fmt::Debug for TimerQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entries, wake_at) = self.lock(|state| (state.len(), state.wake_at));
        f.debug_struct("TimerQueue")
            .field("entries", &entries)
            .field("wake_at", &wake_at)
            .finish_non_exhaustive()
    }
}

/// Runs the queue on `timer`: wakes every sleep whose deadline has passed, in deadline
/// order (registration order for equal deadlines), and sleeps on `timer` until the next
/// one. Never returns; drop it to stop firing.
///
/// `timer` must be the clock the queue was created with. One driver per queue is enough;
/// a second one would only duplicate wake-ups.
///
/// The returned future is `Send` when `T::Sleep` is.
///
/// # Cancel safety
///
/// Dropping it loses nothing: entries stay registered and the next driver fires them.
pub(crate) async fn drive<T: Timer>(queue: &TimerQueue, timer: &T) -> Infallible {
    // Reused across rounds so that firing does not allocate once warmed up.
    let mut due: Vec<Waker> = Vec::new();
    loop {
        // Listen first, then look (see "Why no wake-up is lost" in the module docs).
        listener!(queue.earlier => earlier);
        let now = timer.now();
        let next = queue.lock(|state| state.fire(now, &queue.fired, &mut due));
        for waker in due.drain(..) {
            waker.wake();
        }

        if next == Instant::MAX {
            // Nothing to sleep for (an `Instant::MAX` deadline is "never"): wait for a
            // registration only, so an idle tree does not wake.
            earlier.await;
        } else {
            let mut sleep = pin!(timer.sleep_until(next));
            poll_fn(|cx| {
                if Pin::new(&mut earlier).poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                sleep.as_mut().poll(cx)
            })
            .await;
        }
    }
}

// ===== impl SleepUntil =====

/// A future that completes when a deadline on the tree's clock has passed.
///
/// It registers in the tree's single deadline queue on its first pending poll and leaves
/// it when it completes or is dropped; it allocates nothing itself. A periodic timer keeps
/// one `SleepUntil` and moves it with [`reset`](SleepUntil::reset), so its deadlines are
/// `start + k·period` and never drift.
///
/// It only completes while the tree runs: the tree's timer queue fires it.
///
/// # Cancel safety
///
/// Dropping it before completion only removes its registration; polling it again after a
/// drop-free cancellation (e.g. losing a `select!`) resumes the same wait.
#[must_use = "futures do nothing unless you .await or poll them"]
pub(crate) struct SleepUntil {
    queue: Arc<TimerQueue>,
    deadline: Instant,
    /// Its entry in the queue, possibly fired already (invariant 2).
    entry: Option<Entry>,
    /// The waker last registered; while `entry` is live, the slot holds a clone of it.
    waker: Option<Waker>,
    /// A reading of the queue's clock the next poll may use instead of reading it.
    now: Option<Instant>,
}

impl SleepUntil {
    /// The instant at which this future completes.
    #[inline]
    #[must_use]
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline to `deadline`, so that one `SleepUntil` can serve every tick of a
    /// periodic timer.
    ///
    /// A waiting future keeps its waker. Moved earlier, it is woken at the new deadline
    /// without being polled first (at once if the new deadline has passed). Moved later, it
    /// may be woken at the old deadline, spuriously: the poll that follows finds the
    /// deadline ahead and waits on. It is never woken late. A future that already completed
    /// becomes pending again when `deadline` is in the future.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.now = None;
        self.move_to(deadline);
    }

    /// [`reset`](Self::reset), given `now`, a reading of the queue's clock taken before
    /// this call: the next poll uses it instead of reading the clock. (If the deadline
    /// passes in between, that poll registers a due entry, which the driver fires at once.)
    pub(crate) fn reset_at(&mut self, deadline: Instant, now: Instant) {
        self.move_to(deadline);
        self.now = Some(now);
    }

    fn move_to(&mut self, deadline: Instant) {
        if deadline == self.deadline {
            return;
        }
        self.deadline = deadline;
        let Some(entry) = self.entry else { return };
        if deadline >= entry.at {
            // Later: the entry stays where it is (invariant 2 allows it), and its firing
            // leads to a poll that registers the new deadline.
            return;
        }
        let queue = &*self.queue;
        let (entry, notify) = queue.lock(|state| {
            match state.cancel(entry.slot, entry.seq) {
                Some(waker) => {
                    let (entry, notify) = state.insert(deadline, waker);
                    let epoch = queue.epoch();
                    (Some(Entry { epoch, ..entry }), notify)
                }
                // Already fired: its waker was woken, the next poll registers the new deadline.
                None => (None, false),
            }
        });
        self.entry = entry;
        if notify {
            queue.notify_earlier();
        }
    }

    /// The slow path of a pending poll: makes sure the entry is queued at the deadline with
    /// `waker`.
    fn register(&mut self, waker: &Waker) {
        let same = self
            .waker
            .as_ref()
            .is_some_and(|registered| registered.will_wake(waker));
        let queue = &*self.queue;
        let (deadline, known) = (self.deadline, self.entry);
        let (entry, unused, notify) = queue.lock(|state| {
            let mut moved = None;
            if let Some(known) = known {
                if known.at == deadline {
                    if let Some(registered) = state.live(known.slot, known.seq) {
                        let replaced = (!same).then(|| mem::replace(registered, waker.clone()));
                        let epoch = queue.epoch();
                        return (Entry { epoch, ..known }, replaced, false);
                    }
                } else {
                    // Moved later since it was registered: move the entry now rather than
                    // be woken early.
                    moved = state.cancel(known.slot, known.seq);
                }
            }
            let (waker, unused) = match moved {
                Some(moved) if same => (moved, None),
                moved => (waker.clone(), moved),
            };
            let (entry, notify) = state.insert(deadline, waker);
            let epoch = queue.epoch();
            (Entry { epoch, ..entry }, unused, notify)
        });
        self.entry = Some(entry);
        drop(unused);
        if !same {
            self.waker = Some(waker.clone());
        }
        if notify {
            queue.notify_earlier();
        }
    }

    /// Removes this future's entry, if it may still be queued.
    fn deregister(&mut self) {
        if let Some(entry) = self.entry.take() {
            let removed = self.queue.lock(|state| state.cancel(entry.slot, entry.seq));
            drop(removed);
        }
    }
}

impl Future for SleepUntil {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let known = this.now.take();
        if let (Some(entry), Some(waker)) = (&this.entry, &this.waker) {
            if known.is_none_or(|now| now < this.deadline)
                && entry.epoch == this.queue.epoch()
                && waker.will_wake(cx.waker())
            {
                // Queued with this task's waker: the driver will wake it (see "Why a poll
                // may skip the lock").
                return Poll::Pending;
            }
        }

        let now = match known {
            Some(now) => now,
            None => this.queue.now(),
        };
        if now >= this.deadline {
            if let Some(entry) = this.entry {
                if entry.epoch == this.queue.epoch() {
                    // Certainly still queued: remove it rather than be woken for nothing.
                    this.deregister();
                } else {
                    // Fired, most likely; if not, it is due and abandoned (invariant 2).
                    this.entry = None;
                }
            }
            return Poll::Ready(());
        }
        this.register(cx.waker());
        Poll::Pending
    }
}

impl Drop for SleepUntil {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for SleepUntil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SleepUntil")
            .field("deadline", &self.deadline)
            .field("registered", &self.entry.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc as StdArc;
    use alloc::task::Wake;
    use alloc::vec;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use core::time::Duration;
    use std::sync::Mutex as StdMutex;

    use super::*;

    // ----- a hand-made timer -----

    #[derive(Default)]
    struct FakeState {
        now: Instant,
        /// Wakers of pending `FakeSleep`s with their deadlines.
        waiting: Vec<(Instant, Waker)>,
        /// Every deadline `sleep_until` was called with, in order.
        requested: Vec<Instant>,
    }

    /// A manually advanced timer that records the sleeps it is asked for.
    #[derive(Clone, Default)]
    struct FakeTimer(StdArc<StdMutex<FakeState>>);

    impl FakeTimer {
        fn advance_to(&self, to: Instant) {
            let due: Vec<Waker> = {
                let mut state = self.0.lock().unwrap();
                state.now = to;
                let (due, keep) = mem::take(&mut state.waiting)
                    .into_iter()
                    .partition(|(at, _)| *at <= to);
                state.waiting = keep;
                due.into_iter().map(|(_, waker)| waker).collect()
            };
            due.into_iter().for_each(Waker::wake);
        }

        fn requested(&self) -> Vec<Instant> {
            self.0.lock().unwrap().requested.clone()
        }
    }

    struct FakeSleep {
        timer: FakeTimer,
        deadline: Instant,
    }

    impl Future for FakeSleep {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut state = self.timer.0.lock().unwrap();
            if state.now >= self.deadline {
                return Poll::Ready(());
            }
            state.waiting.push((self.deadline, cx.waker().clone()));
            Poll::Pending
        }
    }

    impl Timer for FakeTimer {
        type Sleep = FakeSleep;

        fn now(&self) -> Instant {
            self.0.lock().unwrap().now
        }

        fn sleep_until(&self, deadline: Instant) -> FakeSleep {
            self.0.lock().unwrap().requested.push(deadline);
            FakeSleep {
                timer: self.clone(),
                deadline,
            }
        }
    }

    /// The clock of a `FakeTimer`, counting its reads.
    struct CountingClock {
        timer: FakeTimer,
        reads: AtomicUsize,
    }

    impl CountingClock {
        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    impl Clock for CountingClock {
        fn now(&self) -> Instant {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Timer::now(&self.timer)
        }
    }

    impl TimerQueue {
        fn locks(&self) -> usize {
            self.locks.load(Ordering::SeqCst)
        }
    }

    // ----- wakers -----

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: StdArc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &StdArc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (StdArc<CountingWaker>, Waker) {
        let counter = StdArc::new(CountingWaker::default());
        (StdArc::clone(&counter), Waker::from(counter))
    }

    fn count(counter: &CountingWaker) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    /// Appends its name to a shared log when woken.
    struct LogWaker {
        name: &'static str,
        log: StdArc<StdMutex<Vec<&'static str>>>,
    }

    impl Wake for LogWaker {
        fn wake(self: StdArc<Self>) {
            self.log.lock().unwrap().push(self.name);
        }
    }

    fn poll<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(waker))
    }

    fn setup() -> (FakeTimer, Arc<TimerQueue>) {
        let timer = FakeTimer::default();
        let queue = Arc::new(TimerQueue::new(Arc::new(timer.clone())));
        (timer, queue)
    }

    fn at(ms: u64) -> Instant {
        Instant::from_duration(Duration::from_millis(ms))
    }

    // ----- tests -----

    #[test]
    fn fires_in_deadline_order_with_one_adapter_sleep_at_a_time() {
        let (timer, queue) = setup();
        let log = StdArc::new(StdMutex::new(Vec::new()));
        let mut sleeps: Vec<(SleepUntil, Waker)> = [("30", 30), ("10", 10), ("20", 20)]
            .into_iter()
            .map(|(name, ms)| {
                let waker = Waker::from(StdArc::new(LogWaker {
                    name,
                    log: StdArc::clone(&log),
                }));
                (queue.sleep_until(at(ms)), waker)
            })
            .collect();
        for (sleep, waker) in &mut sleeps {
            assert!(poll(Pin::new(sleep), waker).is_pending());
        }
        assert_eq!(queue.len(), 3);

        let (driver_wakes, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(timer.requested(), vec![at(10)]);

        for ms in [10, 20, 30] {
            timer.advance_to(at(ms));
            assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        }
        assert_eq!(*log.lock().unwrap(), vec!["10", "20", "30"]);
        assert_eq!(timer.requested(), vec![at(10), at(20), at(30)]);
        assert_eq!(count(&driver_wakes), 3); // one per adapter sleep, no spurious ones
        assert_eq!(queue.len(), 0);
        for (sleep, waker) in &mut sleeps {
            assert!(poll(Pin::new(sleep), waker).is_ready());
        }
    }

    #[test]
    fn equal_deadlines_fire_in_registration_order() {
        let (timer, queue) = setup();
        let log = StdArc::new(StdMutex::new(Vec::new()));
        let mut sleeps = Vec::new();
        for name in ["b", "a", "c"] {
            let waker = Waker::from(StdArc::new(LogWaker {
                name,
                log: StdArc::clone(&log),
            }));
            let mut sleep = queue.sleep_until(at(5));
            assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
            sleeps.push(sleep);
        }
        let (_, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        timer.advance_to(at(5));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(*log.lock().unwrap(), vec!["b", "a", "c"]);
    }

    #[test]
    fn past_deadline_is_ready_without_registering() {
        let (timer, queue) = setup();
        timer.advance_to(at(10));
        let (wakes, waker) = counting();
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());
        assert_eq!(queue.len(), 0);
        assert_eq!(count(&wakes), 0);
    }

    #[test]
    fn drop_and_completion_remove_the_entry() {
        let (timer, queue) = setup();
        let (wakes, waker) = counting();

        let mut dropped = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut dropped), &waker).is_pending());
        assert_eq!(queue.len(), 1);
        drop(dropped);
        assert_eq!(queue.len(), 0);

        // Completion observed by a poll before the driver fired the entry removes it too
        // (polled by another task: a poll by the registered one would wait for the driver).
        let (other_wakes, other_waker) = counting();
        let mut completed = queue.sleep_until(at(20));
        assert!(poll(Pin::new(&mut completed), &waker).is_pending());
        assert_eq!(queue.len(), 1);
        timer.advance_to(at(20));
        assert!(poll(Pin::new(&mut completed), &other_waker).is_ready());
        assert_eq!(queue.len(), 0);
        assert_eq!((count(&wakes), count(&other_wakes)), (0, 0));
    }

    #[test]
    fn waker_is_updated_in_place() {
        let (timer, queue) = setup();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &first_waker).is_pending());
        assert!(poll(Pin::new(&mut sleep), &first_waker).is_pending());
        assert!(poll(Pin::new(&mut sleep), &second_waker).is_pending());
        assert_eq!(queue.len(), 1);

        let (_, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        timer.advance_to(at(10));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!((count(&first), count(&second)), (0, 1));
    }

    #[test]
    fn reset_earlier_moves_the_registration_and_keeps_the_waker() {
        let (timer, queue) = setup();
        let (wakes, waker) = counting();
        let (driver_wakes, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        let mut sleep = queue.sleep_until(at(30));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        // Registered before the driver ever listened: the driver finds it by looking.
        assert_eq!(count(&driver_wakes), 0);
        assert_eq!(timer.requested(), vec![at(30)]);

        // Earlier than the driver's sleep: the driver is woken and re-arms; the sleep is woken
        // with its old waker although it was not polled since the reset.
        sleep.reset(at(15));
        assert_eq!(sleep.deadline(), at(15));
        assert_eq!(queue.len(), 1);
        assert_eq!(count(&driver_wakes), 1);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(timer.requested(), vec![at(30), at(15)]);
        timer.advance_to(at(15));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 1);
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());

        // A completed sleep is reused for the next period.
        sleep.reset(sleep.deadline() + Duration::from_millis(5));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        timer.advance_to(at(20));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 2);
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn reset_later_touches_nothing_and_wakes_early_at_most_once() {
        let (timer, queue) = setup();
        let (wakes, waker) = counting();
        let (driver_wakes, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());

        // Later, twice: no lock, the entry stays at 10, the driver is not disturbed.
        let locks = queue.locks();
        sleep.reset(at(20));
        sleep.reset(at(30));
        assert_eq!(sleep.deadline(), at(30));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(queue.locks(), locks);
        assert_eq!(queue.len(), 1);
        assert_eq!(count(&driver_wakes), 0);

        // The old deadline fires: a spurious wake-up, and the poll it causes registers at 30.
        timer.advance_to(at(10));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 1);
        assert_eq!(timer.requested(), vec![at(10)]);
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(queue.len(), 1);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(timer.requested(), vec![at(10), at(30)]);

        // Then it waits for the new deadline, and is woken there once.
        timer.advance_to(at(29));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 1);
        timer.advance_to(at(30));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 2);
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn reset_later_then_polled_by_another_task_moves_the_entry() {
        let (timer, queue) = setup();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        let (_, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &first_waker).is_pending());
        sleep.reset(at(30));
        // The slow path moves the entry at once rather than be woken early.
        assert!(poll(Pin::new(&mut sleep), &second_waker).is_pending());
        assert_eq!(queue.len(), 1);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(timer.requested(), vec![at(30)]);
        timer.advance_to(at(30));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!((count(&first), count(&second)), (0, 1));
    }

    #[test]
    fn polling_a_queued_sleep_takes_no_lock_and_reads_no_clock() {
        let timer = FakeTimer::default();
        let clock = StdArc::new(CountingClock {
            timer: timer.clone(),
            reads: AtomicUsize::new(0),
        });
        let queue = Arc::new(TimerQueue::new(clock.clone()));
        let (wakes, waker) = counting();
        let (_, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));

        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        let (locks, reads) = (queue.locks(), clock.reads());
        for _ in 0..3 {
            assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        }
        // Even past the deadline: the driver has not fired the entry yet, it will.
        timer.advance_to(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!((queue.locks(), clock.reads()), (locks, reads));

        // Once fired, a poll reads the clock, and completing takes no lock.
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 1);
        let locks = queue.locks();
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());
        assert_eq!(queue.locks(), locks);
        assert_eq!(clock.reads(), reads + 1);

        // A periodic timer's reset with the reading it just took: the next poll uses it and
        // registers at once.
        let now = queue.now();
        sleep.reset_at(at(20), now);
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(queue.locks(), locks + 1);
        assert_eq!(clock.reads(), reads + 2);
        // A reading past the new deadline completes it without reading the clock.
        sleep.reset_at(at(15), at(15));
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());
        assert_eq!(clock.reads(), reads + 2);
    }

    #[test]
    fn an_entry_its_sleep_saw_pass_is_fired_by_the_driver() {
        let (timer, queue) = setup();
        let (wakes, waker) = counting();
        let (other_wakes, other_waker) = counting();
        let (_, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        let mut other = queue.sleep_until(at(5));
        assert!(poll(Pin::new(&mut other), &other_waker).is_pending());
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        timer.advance_to(at(5));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&other_wakes), 1);

        // The epoch moved (the other entry fired): `sleep` cannot tell whether its own entry
        // went too, completes without the lock and leaves the entry to the driver.
        timer.advance_to(at(10));
        let locks = queue.locks();
        assert!(poll(Pin::new(&mut sleep), &other_waker).is_ready());
        assert_eq!(queue.locks(), locks);
        assert_eq!(queue.len(), 1);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 1); // spurious, harmless
        assert_eq!(queue.len(), 0);
        drop(sleep);
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn dropped_entries_do_not_pile_up() {
        let (_, queue) = setup();
        let (_, waker) = counting();
        let mut live = queue.sleep_until(at(1_000));
        assert!(poll(Pin::new(&mut live), &waker).is_pending());
        for round in 0..1_000 {
            let mut sleep = queue.sleep_until(at(2_000 + round));
            assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        }
        let (heap, slots) = queue.lock(|state| (state.heap.len(), state.slots.len()));
        assert!(heap <= 2 * MIN_STALE_TO_COMPACT, "{heap} heap items");
        assert_eq!(slots, 2);
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn every_entry_fires_when_the_epoch_reaches_half_its_range() {
        let (timer, queue) = setup();
        queue.fired.store(FIRE_ALL_EVERY - 2, Ordering::Relaxed);
        let (far_wakes, far_waker) = counting();
        let (_, near_waker) = counting();
        let (_, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        let mut far = queue.sleep_until(at(1_000));
        assert!(poll(Pin::new(&mut far), &far_waker).is_pending());
        for ms in [10, 20] {
            let mut near = queue.sleep_until(at(ms));
            assert!(poll(Pin::new(&mut near), &near_waker).is_pending());
            assert!(poll(driver.as_mut(), &driver_waker).is_pending());
            timer.advance_to(at(ms));
            assert!(poll(driver.as_mut(), &driver_waker).is_pending());
            assert!(poll(Pin::new(&mut near), &near_waker).is_ready());
        }
        // The second bump landed on `FIRE_ALL_EVERY`: the far sleep was woken, and
        // registers again with the new epoch.
        assert_eq!(queue.fired.load(Ordering::Relaxed), FIRE_ALL_EVERY);
        assert_eq!(count(&far_wakes), 1);
        assert_eq!(queue.len(), 0);
        assert!(poll(Pin::new(&mut far), &far_waker).is_pending());
        assert_eq!(queue.len(), 1);
        timer.advance_to(at(1_000));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&far_wakes), 2);
        assert!(poll(Pin::new(&mut far), &far_waker).is_ready());
    }

    #[test]
    fn earlier_insertion_wakes_the_driver_later_one_does_not() {
        let (timer, queue) = setup();
        let (_, waker) = counting();
        let (driver_wakes, driver_waker) = counting();
        let mut far = queue.sleep_until(at(100));
        assert!(poll(Pin::new(&mut far), &waker).is_pending());
        let mut driver = pin!(drive(&queue, &timer));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        let before = count(&driver_wakes);
        assert_eq!(timer.requested(), vec![at(100)]);

        let mut later = queue.sleep_until(at(200));
        assert!(poll(Pin::new(&mut later), &waker).is_pending());
        assert_eq!(count(&driver_wakes), before);

        let mut near = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut near), &waker).is_pending());
        assert_eq!(count(&driver_wakes), before + 1);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(timer.requested(), vec![at(100), at(10)]);
    }

    #[test]
    fn idle_queue_never_wakes_the_driver() {
        let (timer, queue) = setup();
        let (driver_wakes, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        timer.advance_to(at(3_600_000));
        assert_eq!(count(&driver_wakes), 0);
        assert!(timer.requested().is_empty());

        // A sleep that is dropped before the driver runs leaves it idle as well.
        let (_, waker) = counting();
        let mut sleep = queue.sleep_until(at(3_600_010));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(count(&driver_wakes), 1);
        drop(sleep);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert!(timer.requested().is_empty());
        assert_eq!(count(&driver_wakes), 1);
    }

    #[test]
    fn registration_after_the_driver_looked_is_not_lost() {
        // The queue's clock lags the driver's timer: a sleep sees "not yet" and registers
        // after the driver has already fired everything due and gone idle.
        let timer = FakeTimer::default();
        let lagging = FakeTimer::default();
        let queue = Arc::new(TimerQueue::new(Arc::new(lagging.clone())));
        timer.advance_to(at(10));
        lagging.advance_to(at(9));

        let (driver_wakes, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());

        let (wakes, waker) = counting();
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(count(&driver_wakes), 1);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 1);
        assert_eq!(queue.len(), 0);

        // The fired sleep, still early on its own clock, registers again instead of hanging,
        // and the driver fires it again.
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(queue.len(), 1);
        assert_eq!(count(&driver_wakes), 2);
        lagging.advance_to(at(10));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 2);
        assert!(poll(Pin::new(&mut sleep), &waker).is_ready());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn auto_traits() {
        fn send_sync_unpin_static<T: Send + Sync + Unpin + 'static>() {}
        fn send<T: Send>(_: &T) {}
        send_sync_unpin_static::<SleepUntil>();
        send_sync_unpin_static::<TimerQueue>();
        let (timer, queue) = setup();
        send(&drive(&queue, &timer));
    }

    #[test]
    fn debug_output() {
        let (_, queue) = setup();
        let sleep = queue.sleep_until(at(1));
        assert!(alloc::format!("{sleep:?}").contains("registered: false"));
        assert!(alloc::format!("{queue:?}").contains("entries: 0"));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use alloc::sync::Arc as StdArc;
    use alloc::task::Wake;
    use core::future::Pending;

    use loom::future::block_on;
    use loom::sync::atomic::AtomicU64;
    use loom::thread;

    use super::*;
    use crate::race::race;
    use crate::sync::Event as Done;

    /// A clock the driver's thread moves to 10 before its first round, shared with the
    /// queue, so the sleep sees either side of that move.
    #[derive(Clone)]
    struct LoomTimer(Arc<AtomicU64>);

    impl Timer for LoomTimer {
        // Never awaited: the driver's clock reads 10 from its first round on, so every
        // entry (all at 10) is due whenever it looks and it only ever waits for `earlier`.
        type Sleep = Pending<()>;

        fn now(&self) -> Instant {
            Instant::from_nanos(self.0.load(Ordering::SeqCst))
        }

        fn sleep_until(&self, _: Instant) -> Pending<()> {
            core::future::pending()
        }
    }

    /// Wakes the polling thread. `loom::future::block_on`'s waker will not do here: its
    /// clones do not `will_wake` it, so the lock-free path would never be taken.
    #[derive(Default)]
    struct Notify {
        woken: loom::sync::Mutex<bool>,
        cond: loom::sync::Condvar,
    }

    impl Wake for Notify {
        fn wake(self: StdArc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &StdArc<Self>) {
            *self.woken.lock().unwrap() = true;
            self.cond.notify_one();
        }
    }

    /// Polls `sleep` until it completes, twice per wake-up so that the second poll takes
    /// the lock-free path.
    fn wait(sleep: &mut SleepUntil) {
        let notify = StdArc::new(Notify::default());
        let waker = Waker::from(StdArc::clone(&notify));
        let mut cx = Context::from_waker(&waker);
        loop {
            for _ in 0..2 {
                if Pin::new(&mut *sleep).poll(&mut cx).is_ready() {
                    return;
                }
            }
            let mut woken = notify.woken.lock().unwrap();
            while !*woken {
                woken = notify.cond.wait(woken).unwrap();
            }
            *woken = false;
        }
    }

    /// One sleep polled on the main thread against the driver on another: the sleep may
    /// read the clock before or after it moves, register before or after the driver's
    /// round, and look at the epoch before or after the bump of the round that fires it.
    /// Two threads are enough for every one of these races; a lost wake-up would leave the
    /// main thread parked, which loom reports as a deadlock.
    #[test]
    fn loom_timer_queue_poll_races_firing() {
        loom::model(|| {
            let timer = LoomTimer(Arc::new(AtomicU64::new(0)));
            let queue = Arc::new(TimerQueue::new(Arc::new(timer.clone())));
            let done = Arc::new(Done::new());
            let driver = thread::spawn({
                let (queue, done) = (Arc::clone(&queue), Arc::clone(&done));
                move || {
                    timer.0.store(10, Ordering::SeqCst);
                    block_on(race(drive(&queue, &timer), done.wait()));
                }
            });

            let mut sleep = queue.sleep_until(Instant::from_nanos(10));
            wait(&mut sleep);
            done.set();
            driver.join().unwrap();
            drop(sleep);
            assert_eq!(queue.len(), 0);
        });
    }
}
