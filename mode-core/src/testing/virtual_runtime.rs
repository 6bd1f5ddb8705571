//! The executor and clock behind [`VirtualRuntime`].
//!
//! # Invariants and lock order
//!
//! 1. `Shared::state` is the only lock. It is never held while a future is polled or
//!    dropped, or a waker is woken or dropped: whatever is taken out of the state is used
//!    after the guard is released.
//! 2. A live task's future is in exactly one place: in the state (`Some`), or on
//!    `block_on`'s stack while it is polled (`None`).
//! 3. An id is pushed to `ready` only when its `queued` flag goes from false to true, so a
//!    task is queued at most once; ids of finished tasks and of an earlier `block_on`'s main
//!    future may linger in `ready` and are skipped.
//! 4. Virtual time moves only inside `block_on`, only when `ready` is empty and no
//!    [`ExternalWork`] guard is alive, and only to the earliest sleeper deadline (a
//!    deadline of [`Instant::MAX`] is "never" and does not count).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::task::Wake;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::runtime::{BoxFuture, SpawnError, Spawner, Timer};
use crate::time::{Duration, Instant};

/// A deterministic single-threaded executor with a virtual clock, for tests.
///
/// It implements [`Spawner`] and [`Timer`]. [`block_on`](VirtualRuntime::block_on) polls
/// a main future and every spawned task on the calling thread, one at a time, in the order
/// they were woken (one FIFO queue for all of them). When nothing is runnable, the clock
/// jumps to the earliest pending [`VirtualSleep`] and wakes it. Time therefore advances
/// only while everything is idle, and a run gives the same interleaving and the same
/// instants every time, on any machine.
///
/// The clock starts at [`Instant::ZERO`]. Clones share one runtime: its tasks, its clock
/// and its sleeps.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use mode::runtime::Spawner;
/// use mode::testing::VirtualRuntime;
/// use mode::time::{Duration, Instant};
///
/// let rt = VirtualRuntime::new();
/// let finished = Arc::new(Mutex::new(Vec::new()));
/// for (name, ms) in [("slow", 10), ("fast", 5)] {
///     let (timer, finished) = (rt.clone(), Arc::clone(&finished));
///     rt.spawn(Box::pin(async move {
///         timer.sleep(Duration::from_millis(ms)).await;
///         finished.lock().unwrap().push((name, timer.now()));
///     }))
///     .unwrap();
/// }
/// rt.run_for(Duration::from_millis(10));
///
/// let ms = |ms| Instant::ZERO + Duration::from_millis(ms);
/// assert_eq!(*finished.lock().unwrap(), [("fast", ms(5)), ("slow", ms(10))]);
/// assert_eq!(rt.now(), ms(10));
/// assert_eq!(rt.spawned_tasks(), 0);
/// ```
///
/// # Tasks outlive `block_on`, not the runtime
///
/// Tasks still pending when `block_on` returns stay in the runtime; the next `block_on`
/// (or [`run_for`](VirtualRuntime::run_for)) polls them again. Dropping the last clone of
/// the runtime drops them. A task that holds a clone of the runtime (or a timer queue that
/// does) keeps it alive: end such tests with [`shutdown`](VirtualRuntime::shutdown), which
/// drops every task at once.
///
/// # Other threads
///
/// [`spawn`](Spawner::spawn) and every waker work from any thread; tasks are still polled
/// only by `block_on`'s thread. `block_on` never waits for real time: when nothing is
/// runnable it advances the virtual clock, or gives up with [`Stalled`]. A test whose
/// tasks wait for another OS thread holds an [`ExternalWork`] guard until that thread has
/// delivered its wake-up, so that `block_on` waits for it instead.
#[derive(Clone)]
pub struct VirtualRuntime {
    shared: Arc<Shared>,
}

/// Returned by [`VirtualRuntime::block_on`] when its main future can never complete: no
/// task is runnable, no virtual sleep is pending and no [`ExternalWork`] guard is alive,
/// so nothing can ever wake it.
///
/// ```
/// use mode::testing::{Stalled, VirtualRuntime};
///
/// let rt = VirtualRuntime::new();
/// assert_eq!(rt.block_on(core::future::pending::<()>()), Err(Stalled));
/// assert!(Stalled.to_string().contains("can never complete"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stalled;

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the main future can never complete: no task is runnable, no virtual timer is \
             pending and no external work is announced",
        )
    }
}

impl core::error::Error for Stalled {}

/// The future returned by the [`VirtualRuntime`]'s [`Timer::sleep_until`] and
/// [`VirtualRuntime::sleep`]: completes once virtual time reaches its deadline.
///
/// It registers in its runtime on its first pending poll and leaves when it completes or
/// is dropped. It holds no strong reference to the runtime: once the runtime is dropped,
/// time stands still and the sleep stays pending.
///
/// # Cancel safety
///
/// Dropping it only removes its registration.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct VirtualSleep {
    shared: Weak<Shared>,
    deadline: Instant,
    /// `Some` while an entry `(deadline, seq)` may be in `State::sleepers`.
    seq: Option<u64>,
}

/// While alive, tells [`VirtualRuntime::block_on`] that another OS thread will wake one of
/// its futures: an idle `block_on` then waits for that wake-up (or for the guard to be
/// dropped) instead of advancing virtual time or returning [`Stalled`].
///
/// Created by [`VirtualRuntime::external_work`]. Drop it after the wake-up was delivered.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// use mode::testing::VirtualRuntime;
///
/// let rt = VirtualRuntime::new();
/// let done = Arc::new(AtomicBool::new(false));
/// let mut started = false;
/// let result = rt.block_on(core::future::poll_fn(|cx| {
///     if done.load(Ordering::SeqCst) {
///         return core::task::Poll::Ready("woken from another thread");
///     }
///     if !started {
///         started = true;
///         let (guard, waker, done) = (rt.external_work(), cx.waker().clone(), done.clone());
///         std::thread::spawn(move || {
///             done.store(true, Ordering::SeqCst);
///             waker.wake();
///             drop(guard);
///         });
///     }
///     core::task::Poll::Pending
/// }));
/// assert_eq!(result, Ok("woken from another thread"));
/// ```
#[must_use = "block_on waits for outside work only while the guard is alive"]
pub struct ExternalWork {
    shared: Weak<Shared>,
}

// ===== shared state =====

struct Shared {
    state: Mutex<State>,
    /// Signalled when an id is queued or an [`ExternalWork`] guard ends, for a `block_on`
    /// that waits on external work.
    progress: Condvar,
}

struct State {
    now: Instant,
    tasks: BTreeMap<u64, Task>,
    ready: VecDeque<u64>,
    /// Ids for tasks and for each `block_on`'s main future; never reused.
    next_id: u64,
    /// The main future of the running `block_on`, if one runs.
    main: Option<Main>,
    sleepers: BTreeMap<(Instant, u64), Waker>,
    next_sleeper: u64,
    /// Live [`ExternalWork`] guards.
    external: usize,
    shut_down: bool,
}

struct Main {
    id: u64,
    queued: bool,
}

struct Task {
    /// `None` while `block_on` polls it.
    future: Option<BoxFuture>,
    queued: bool,
    waker: Waker,
}

/// What `block_on` does next.
enum Step {
    Main,
    Task(u64),
    Stalled,
}

/// The waker of one task or one main future.
struct TaskWaker {
    id: u64,
    shared: Weak<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.wake(self.id);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held (invariant 1), so poisoning carries no
        // meaning here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_waker(self: &Arc<Self>, id: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            id,
            shared: Arc::downgrade(self),
        }))
    }

    /// Queues `id` if it is a live task or the running main future and is not queued yet.
    fn wake(&self, id: u64) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let queued = match state.main.as_mut().filter(|main| main.id == id) {
            Some(main) => &mut main.queued,
            None => match state.tasks.get_mut(&id) {
                Some(task) => &mut task.queued,
                None => return,
            },
        };
        if !*queued {
            *queued = true;
            state.ready.push_back(id);
            drop(guard);
            self.progress.notify_all();
        }
    }

    /// Reserves a task id, or `None` after [`VirtualRuntime::shutdown`].
    fn reserve_id(&self) -> Option<u64> {
        let mut state = self.lock();
        if state.shut_down {
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        Some(id)
    }

    /// Adds a runnable task; hands the future back if the runtime shut down meanwhile.
    fn publish(self: &Arc<Self>, id: u64, future: BoxFuture) -> Result<(), BoxFuture> {
        let waker = self.new_waker(id);
        let mut state = self.lock();
        if state.shut_down {
            drop(state);
            return Err(future);
        }
        state.tasks.insert(
            id,
            Task {
                future: Some(future),
                queued: true,
                waker,
            },
        );
        state.ready.push_back(id);
        drop(state);
        self.progress.notify_all();
        Ok(())
    }

    /// Picks the next future to poll, advancing virtual time when everything is idle.
    fn next_step(&self) -> Step {
        loop {
            let due: Vec<Waker> = {
                let mut guard = self.lock();
                loop {
                    let state = &mut *guard;
                    if let Some(id) = state.ready.pop_front() {
                        if let Some(main) = state.main.as_mut().filter(|main| main.id == id) {
                            main.queued = false;
                            return Step::Main;
                        }
                        if let Some(task) = state.tasks.get_mut(&id) {
                            task.queued = false;
                            return Step::Task(id);
                        }
                        continue; // a finished task, or an earlier block_on's main future
                    }
                    if state.external == 0 {
                        break;
                    }
                    guard = self
                        .progress
                        .wait(guard)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                let state = &mut *guard;
                let earliest = state.sleepers.first_key_value().map(|(&(at, _), _)| at);
                // `Instant::MAX` means "never": time does not jump to the end of time.
                let Some(earliest) = earliest.filter(|&at| at != Instant::MAX) else {
                    return Step::Stalled;
                };
                state.now = state.now.max(earliest);
                let now = state.now;
                let mut due = Vec::new();
                while let Some(entry) = state.sleepers.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    due.push(entry.remove());
                }
                due
            };
            // Deadline order, then registration order: the ready queue follows it.
            due.into_iter().for_each(Waker::wake);
        }
    }

    /// Polls task `id` once, outside the lock.
    fn poll_task(&self, id: u64) {
        let taken = {
            let mut state = self.lock();
            state
                .tasks
                .get_mut(&id)
                .and_then(|task| Some((task.future.take()?, task.waker.clone())))
        };
        // `None` only after a panic in an earlier poll of this task: nothing left to poll.
        let Some((mut future, waker)) = taken else {
            return;
        };
        let mut cx = Context::from_waker(&waker);
        if future.as_mut().poll(&mut cx).is_ready() {
            let finished = self.lock().tasks.remove(&id);
            drop(finished);
            drop(future);
        } else {
            let orphan = match self.lock().tasks.get_mut(&id) {
                Some(task) => {
                    task.future = Some(future);
                    None
                }
                // Shut down while it was being polled.
                None => Some(future),
            };
            drop(orphan);
        }
    }
}

/// Ends the running `block_on`, also when it unwinds.
struct DrivingGuard<'a>(&'a Shared);

impl Drop for DrivingGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().main = None;
    }
}

// ===== impl VirtualRuntime =====

impl VirtualRuntime {
    /// A runtime with no tasks, its clock at [`Instant::ZERO`].
    #[must_use]
    pub fn new() -> Self {
        VirtualRuntime {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    now: Instant::ZERO,
                    tasks: BTreeMap::new(),
                    ready: VecDeque::new(),
                    next_id: 0,
                    main: None,
                    sleepers: BTreeMap::new(),
                    next_sleeper: 0,
                    external: 0,
                    shut_down: false,
                }),
                progress: Condvar::new(),
            }),
        }
    }

    /// The current virtual time.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.shared.lock().now
    }

    /// A future that completes `duration` after the current virtual time.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::time::{Duration, Instant};
    ///
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(rt.sleep(Duration::from_millis(250))).unwrap();
    /// assert_eq!(rt.now(), Instant::ZERO + Duration::from_millis(250));
    /// ```
    pub fn sleep(&self, duration: Duration) -> VirtualSleep {
        Timer::sleep_until(self, self.now() + duration)
    }

    /// Runs `future` and every task of the runtime on this thread until `future`
    /// completes, advancing virtual time whenever nothing is runnable.
    ///
    /// Futures are polled in the order they were woken, the main future included; the
    /// main future is queued behind the tasks already runnable. Tasks still pending when
    /// it returns stay in the runtime.
    ///
    /// # Errors
    ///
    /// [`Stalled`] when `future` can never complete: nothing is runnable, no virtual sleep
    /// is pending and no [`ExternalWork`] guard is alive. `future` is dropped; the tasks
    /// stay.
    ///
    /// # Panics
    ///
    /// If another `block_on` of this runtime is running (called from one of its tasks, or
    /// from another thread). Panics of the polled futures propagate.
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output, Stalled> {
        let mut future = pin!(future);
        let main_id = {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            let id = state.main.is_none().then(|| {
                let id = state.next_id;
                state.next_id += 1;
                state.main = Some(Main { id, queued: true });
                state.ready.push_back(id);
                id
            });
            drop(guard);
            id.expect("VirtualRuntime::block_on called while another block_on of this runtime runs")
        };
        let _driving = DrivingGuard(&self.shared);
        let waker = self.shared.new_waker(main_id);
        let mut cx = Context::from_waker(&waker);
        loop {
            match self.shared.next_step() {
                Step::Main => {
                    if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                        return Ok(output);
                    }
                }
                Step::Task(id) => self.shared.poll_task(id),
                Step::Stalled => return Err(Stalled),
            }
        }
    }

    /// Runs the runtime's tasks until virtual time has advanced by `duration`.
    ///
    /// Tasks that become runnable at the final instant may still be queued when it returns;
    /// the next `block_on` or `run_for` runs them.
    ///
    /// # Panics
    ///
    /// As [`block_on`](VirtualRuntime::block_on).
    pub fn run_for(&self, duration: Duration) {
        // The sleep is a pending sleeper until it completes, so this cannot stall.
        let ran = self.block_on(self.sleep(duration));
        debug_assert_eq!(ran, Ok(()));
    }

    /// Number of spawned tasks that have not completed (and were not dropped by
    /// [`shutdown`](VirtualRuntime::shutdown)); useful to prove that nothing leaks.
    #[must_use]
    pub fn spawned_tasks(&self) -> usize {
        self.shared.lock().tasks.len()
    }

    /// Number of registered [`VirtualSleep`]s: pending sleeps that were polled and have
    /// neither completed nor been dropped.
    #[must_use]
    pub fn pending_sleeps(&self) -> usize {
        self.shared.lock().sleepers.len()
    }

    /// Announces work on another OS thread that will wake one of this runtime's futures;
    /// see [`ExternalWork`].
    pub fn external_work(&self) -> ExternalWork {
        self.shared.lock().external += 1;
        ExternalWork {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Drops every task now and refuses new ones with [`SpawnError::Shutdown`].
    ///
    /// The running `block_on`, if any, keeps polling its main future. Use it to end a test
    /// whose tasks keep the runtime alive (a task holding a clone of it).
    ///
    /// ```
    /// use mode::runtime::{SpawnError, Spawner};
    /// use mode::testing::VirtualRuntime;
    ///
    /// let rt = VirtualRuntime::new();
    /// let timer = rt.clone();
    /// rt.spawn(Box::pin(async move { timer.sleep(mode::time::Duration::MAX).await }))
    ///     .unwrap();
    /// assert_eq!(rt.spawned_tasks(), 1);
    /// rt.shutdown();
    /// assert_eq!(rt.spawned_tasks(), 0);
    /// assert_eq!(rt.spawn(Box::pin(async {})), Err(SpawnError::Shutdown));
    /// ```
    pub fn shutdown(&self) {
        let tasks = {
            let mut state = self.shared.lock();
            state.shut_down = true;
            mem::take(&mut state.tasks)
        };
        drop(tasks);
    }
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        VirtualRuntime::new()
    }
}

impl fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("VirtualRuntime")
            .field("now", &state.now)
            .field("tasks", &state.tasks.len())
            .field("sleeps", &state.sleepers.len())
            .finish_non_exhaustive()
    }
}

impl Spawner for VirtualRuntime {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        let Some(id) = self.shared.reserve_id() else {
            return Err(SpawnError::Shutdown);
        };
        self.shared.publish(id, future).map_err(|future| {
            drop(future);
            SpawnError::Shutdown
        })
    }
}

impl Timer for VirtualRuntime {
    type Sleep = VirtualSleep;

    fn now(&self) -> Instant {
        VirtualRuntime::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> VirtualSleep {
        VirtualSleep {
            shared: Arc::downgrade(&self.shared),
            deadline,
            seq: None,
        }
    }
}

// ===== impl VirtualSleep =====

impl VirtualSleep {
    /// The virtual instant at which this future completes.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(shared) = this.shared.upgrade() else {
            return Poll::Pending; // the runtime is gone: time never moves again
        };
        let deadline = this.deadline;
        let (ready, stale) = {
            let mut guard = shared.lock();
            let state = &mut *guard;
            let key = this.seq.map(|seq| (deadline, seq));
            if state.now >= deadline {
                this.seq = None;
                (true, key.and_then(|key| state.sleepers.remove(&key)))
            } else if let Some(registered) = key.and_then(|key| state.sleepers.get_mut(&key)) {
                let replaced = (!registered.will_wake(cx.waker()))
                    .then(|| mem::replace(registered, cx.waker().clone()));
                (false, replaced)
            } else {
                let seq = state.next_sleeper;
                state.next_sleeper += 1;
                state.sleepers.insert((deadline, seq), cx.waker().clone());
                this.seq = Some(seq);
                (false, None)
            }
        };
        drop(stale);
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        if let (Some(seq), Some(shared)) = (self.seq.take(), self.shared.upgrade()) {
            let removed = shared.lock().sleepers.remove(&(self.deadline, seq));
            drop(removed);
        }
    }
}

impl fmt::Debug for VirtualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualSleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.seq.is_some())
            .finish_non_exhaustive()
    }
}

// ===== impl ExternalWork =====

impl Drop for ExternalWork {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().external -= 1;
            shared.progress.notify_all();
        }
    }
}

impl fmt::Debug for ExternalWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalWork").finish_non_exhaustive()
    }
}
