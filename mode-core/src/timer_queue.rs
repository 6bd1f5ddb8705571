//! Core's single deadline queue: every sleep and periodic timer of a service tree, woken
//! through one adapter sleep at a time.
//!
//! A [`TimerQueue`] holds `(deadline, seq) -> Waker` entries, one per pending [`SleepUntil`].
//! One [`drive`] future per queue (spawned by the engine next to the tree) fires every entry
//! whose deadline has passed, then awaits the adapter's [`Timer::sleep_until`] for the
//! earliest remaining deadline, raced against "an earlier deadline was registered". So:
//!
//! - the adapter sees one sleep at a time, whatever the number of timers in the tree;
//! - nothing allocates per sleep (a `SleepUntil` is a plain struct; the map allocates a node
//!   now and then, amortised) and periodic timers reuse one `SleepUntil` with
//!   [`SleepUntil::reset`], computing `next = previous + period` in core;
//! - an empty queue makes the driver wait on the insertion event only: an idle tree never
//!   wakes up.
//!
//! What does not live here: missed-tick policy and overlap warnings (the timer service owns
//! them), and cancellation on stop (the service's tasks own them).
//!
//! # Invariants
//!
//! 1. `entries` holds one entry per registered `SleepUntil`, keyed by its deadline and a seq
//!    unique within the queue, so equal deadlines fire in registration order. A `SleepUntil`
//!    whose `seq` is `Some` may have been fired (removed) by the driver already; removing a
//!    missing key is a no-op and a missing entry is re-inserted on the next pending poll.
//! 2. `wake_at` is never later than the instant at which the driver will next look at the
//!    queue on its own (the deadline it sleeps until, or [`Instant::MAX`] when it waits for
//!    the event only). An insertion earlier than `wake_at` lowers it and notifies the event.
//! 3. The mutex is a leaf: while it is held nothing else is locked, no clock is read, no
//!    waker is woken or dropped (dropping the last reference to a waker may drop a task,
//!    whose futures may touch this queue), and no user code runs. Wakers taken out of the
//!    map are woken or dropped after the closure returns.
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

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;
use core::future::{poll_fn, Future};
use core::mem;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};

use event_listener::{listener, Event};

use crate::loom::plain::Arc;
use crate::loom::sync::Mutex;
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
            seq: None,
        }
    }
}

/// The deadline queue shared by every sleep and periodic timer of one service tree.
///
/// Create it once per tree with the adapter's timer as its clock, hand out
/// [`SleepUntil`]s with [`sleep_until`](TimerQueue::sleep_until), and keep one [`drive`]
/// future running for as long as any of them may be pending.
pub(crate) struct TimerQueue {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Notified when a registration lands before `State::wake_at` (invariant 2).
    earlier: Event,
}

struct State {
    entries: BTreeMap<(Instant, u64), Waker>,
    next_seq: u64,
    /// When the driver will next look at the queue without being notified.
    wake_at: Instant,
}

impl State {
    /// Registers `waker` at `deadline`; returns its seq and whether the driver must be
    /// notified (the entry lands before the driver's next look).
    fn insert(&mut self, deadline: Instant, waker: Waker) -> (u64, bool) {
        let seq = self.next_seq;
        // u64 seqs do not wrap in practice (one per nanosecond lasts 584 years); wrapping
        // keeps the arithmetic panic-free regardless.
        self.next_seq = self.next_seq.wrapping_add(1);
        self.entries.insert((deadline, seq), waker);
        let notify = deadline < self.wake_at;
        if notify {
            self.wake_at = deadline;
        }
        (seq, notify)
    }
}

impl TimerQueue {
    /// An empty queue on `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        TimerQueue {
            clock,
            state: Mutex::new(State {
                entries: BTreeMap::new(),
                next_seq: 0,
                wake_at: Instant::MAX,
            }),
            earlier: Event::new(),
        }
    }

    /// The current time on the queue's clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Tells the driver that a registration landed before its next look.
    fn notify_earlier(&self) {
        self.earlier.notify(usize::MAX);
    }

    /// Number of registered sleeps.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.with(|state| state.entries.len())
    }
}

impl fmt::Debug for TimerQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entries, wake_at) = self
            .state
            .with(|state| (state.entries.len(), state.wake_at));
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
        let next = queue.state.with(|state| {
            while let Some(entry) = state.entries.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            let next = state
                .entries
                .first_key_value()
                .map_or(Instant::MAX, |(&(deadline, _), _)| deadline);
            state.wake_at = next;
            next
        });
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
/// # Cancel safety
///
/// Dropping it before completion only removes its registration; polling it again after a
/// drop-free cancellation (e.g. losing a `select!`) resumes the same wait.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct SleepUntil {
    queue: Arc<TimerQueue>,
    deadline: Instant,
    /// `Some` while an entry `(deadline, seq)` may be in the queue (invariant 1).
    seq: Option<u64>,
}

impl SleepUntil {
    /// The instant at which this future completes.
    #[inline]
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline to `deadline`, so that one `SleepUntil` can serve every tick of a
    /// periodic timer.
    ///
    /// If the future was waiting, it keeps its waker and is woken at the new deadline
    /// without being polled first (immediately if the new deadline has passed). A future
    /// that already completed becomes pending again when `deadline` is in the future.
    pub fn reset(&mut self, deadline: Instant) {
        if deadline == self.deadline {
            return;
        }
        let old = self.seq.take().map(|seq| (self.deadline, seq));
        self.deadline = deadline;
        let Some(old) = old else { return };
        let (seq, notify) = self
            .queue
            .state
            .with(|state| match state.entries.remove(&old) {
                Some(waker) => {
                    let (seq, notify) = state.insert(deadline, waker);
                    (Some(seq), notify)
                }
                // Already fired: its waker was woken, the next poll registers the new deadline.
                None => (None, false),
            });
        self.seq = seq;
        if notify {
            self.queue.notify_earlier();
        }
    }

    /// Removes this future's entry, if any.
    fn deregister(&mut self) {
        if let Some(seq) = self.seq.take() {
            let key = (self.deadline, seq);
            let removed = self.queue.state.with(|state| state.entries.remove(&key));
            drop(removed);
        }
    }
}

impl Future for SleepUntil {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.queue.now() >= this.deadline {
            this.deregister();
            return Poll::Ready(());
        }

        let deadline = this.deadline;
        let seq = this.seq;
        let (seq, replaced, notify) = this.queue.state.with(|state| {
            if let Some(seq) = seq {
                if let Some(registered) = state.entries.get_mut(&(deadline, seq)) {
                    let replaced = if registered.will_wake(cx.waker()) {
                        None
                    } else {
                        Some(mem::replace(registered, cx.waker().clone()))
                    };
                    return (seq, replaced, false);
                }
            }
            // First pending poll, or the entry was fired on a clock reading ahead of ours.
            let (seq, notify) = state.insert(deadline, cx.waker().clone());
            (seq, None, notify)
        });
        this.seq = Some(seq);
        drop(replaced);
        if notify {
            this.queue.notify_earlier();
        }
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
            .field("registered", &self.seq.is_some())
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

        // Completion observed by a poll (the clock passed, driver not running) removes it too.
        let mut completed = queue.sleep_until(at(20));
        assert!(poll(Pin::new(&mut completed), &waker).is_pending());
        assert_eq!(queue.len(), 1);
        timer.advance_to(at(20));
        assert!(poll(Pin::new(&mut completed), &waker).is_ready());
        assert_eq!(queue.len(), 0);
        assert_eq!(count(&wakes), 0);
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
    fn reset_moves_the_registration_and_keeps_the_waker() {
        let (timer, queue) = setup();
        let (wakes, waker) = counting();
        let (driver_wakes, driver_waker) = counting();
        let mut driver = pin!(drive(&queue, &timer));
        let mut sleep = queue.sleep_until(at(10));
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        // Registered before the driver ever listened: the driver finds it by looking.
        assert_eq!(count(&driver_wakes), 0);

        // Later: the driver is not disturbed; it finds nothing due at 10 and re-arms at 30.
        sleep.reset(at(30));
        assert_eq!(sleep.deadline(), at(30));
        assert_eq!(queue.len(), 1);
        assert_eq!(count(&driver_wakes), 0);
        timer.advance_to(at(10));
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(count(&wakes), 0);
        assert_eq!(timer.requested(), vec![at(10), at(30)]);

        // Earlier than the driver's sleep: the driver is woken and re-arms; the sleep is woken
        // with its old waker although it was not polled since the reset.
        sleep.reset(at(15));
        assert_eq!(count(&driver_wakes), 2);
        assert!(poll(driver.as_mut(), &driver_waker).is_pending());
        assert_eq!(timer.requested(), vec![at(10), at(30), at(15)]);
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

        // The fired sleep, still early on its own clock, registers again instead of hanging.
        assert!(poll(Pin::new(&mut sleep), &waker).is_pending());
        assert_eq!(queue.len(), 1);
        lagging.advance_to(at(10));
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
