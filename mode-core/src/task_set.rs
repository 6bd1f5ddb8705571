//! [`TaskSet`]: the background tasks a tree polls itself, inside
//! [`Tree::run`](crate::Tree::run).
//!
//! Two kinds of task run here rather than on the executor:
//!
//! - futures that are not `Send` ([`Context::spawn_local`](crate::Context::spawn_local),
//!   [`Context::timer_local`](crate::Context::timer_local)), on every executor;
//! - every background task of a single-task tree
//!   ([`Tree::single_task`](crate::Tree::single_task)), for executors that cannot spawn
//!   (embassy without a task pool, a bare-metal loop).
//!
//! The set lives in the tree's driver, which is neither `Send` nor `Sync`, so each future
//! in it is created, polled and dropped on the thread that runs the tree, whatever becomes
//! of the tree's handles (even if the tree's future is leaked). Other threads share only
//! the [`Inbox`]: which tasks were woken, and `Send` futures waiting to join the set.
//!
//! Each task has a waker of its own, so a wake-up of the tree polls only the tasks that
//! were woken, not every task in the set.

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::task::{Context, Waker};

use slab::Slab;

use crate::notify::Notify;
use crate::platform::plain::{Arc, Wake};
use crate::platform::sync::atomic::{AtomicBool, Ordering};
use crate::platform::sync::Mutex;
use crate::runtime::{BoxFuture, LocalBoxFuture, SpawnError, Spawner};

/// The tasks a tree polls itself. Owned by the tree's driver; see the module docs.
pub(crate) struct TaskSet {
    tasks: RefCell<Slab<Task>>,
    inbox: Arc<Inbox>,
    /// The driver's waker, as last registered with the inbox (see `Notify::take`).
    registered: RefCell<Option<Waker>>,
    /// The tasks to poll in one round (kept for its capacity).
    round: RefCell<Vec<Ready>>,
}

struct Task {
    future: LocalBoxFuture,
    wake: Arc<TaskWake>,
    /// A waker made from `wake`, made once.
    waker: Waker,
}

/// What a task set shares with other threads: the woken tasks, and `Send` futures
/// spawned into a single-task tree. It never holds a future that is not `Send`.
///
/// As a [`Spawner`], it is the spawner of a single-task tree.
pub(crate) struct Inbox {
    notify: Notify,
    state: Mutex<InboxState>,
}

struct InboxState {
    /// What to poll in the next round, in the order it happened: so tasks are first
    /// polled in the order they were spawned, from this thread or another.
    ready: Vec<Ready>,
    /// Tasks in the set, incoming ones included.
    len: usize,
    /// The most tasks the set takes ([`SpawnError::Full`] beyond).
    limit: usize,
    /// Set when the set is dropped: later spawns fail with [`SpawnError::Shutdown`].
    closed: bool,
}

/// An entry of the inbox's queue.
enum Ready {
    /// A task in the set was woken (its wake-up queues it once) or spawned here.
    Task(usize),
    /// A `Send` future spawned from any thread, to join the set.
    New(BoxFuture),
}

/// A task's waker: queues the task's index in the inbox and wakes the tree.
struct TaskWake {
    index: usize,
    /// Whether the index is queued already (cleared just before each poll).
    queued: AtomicBool,
    inbox: Arc<Inbox>,
}

impl TaskWake {
    fn queue(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.inbox
                .state
                .with(|state| state.ready.push(Ready::Task(self.index)));
            self.inbox.notify.notify();
        }
    }
}

// `alloc`'s `Wake` takes `self: Arc<Self>`; portable-atomic-util's (thumbv6m), whose `Arc`
// cannot be a receiver, takes `this: Arc<Self>`.
#[cfg(target_has_atomic = "ptr")]
impl Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.queue();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue();
    }
}

#[cfg(not(target_has_atomic = "ptr"))]
impl Wake for TaskWake {
    fn wake(this: Arc<Self>) {
        this.queue();
    }

    fn wake_by_ref(this: &Arc<Self>) {
        this.queue();
    }
}

impl TaskSet {
    /// An empty set that takes any number of tasks.
    pub(crate) fn new() -> Self {
        TaskSet {
            tasks: RefCell::new(Slab::new()),
            inbox: Arc::new(Inbox {
                notify: Notify::default(),
                state: Mutex::new(InboxState {
                    ready: Vec::new(),
                    len: 0,
                    limit: usize::MAX,
                    closed: false,
                }),
            }),
            registered: RefCell::new(None),
            round: RefCell::new(Vec::new()),
        }
    }

    /// The shared half, to spawn `Send` futures into the set from any thread.
    pub(crate) fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// Makes spawns fail with [`SpawnError::Full`] while the set holds `limit` tasks.
    pub(crate) fn set_limit(&self, limit: usize) {
        self.inbox.state.with(|state| state.limit = limit);
    }

    /// The number of tasks in the set.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inbox.state.with(|state| state.len)
    }

    /// Adds a future to poll on this thread; it is first polled at the set's next round.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Full`] at the limit.
    pub(crate) fn spawn_local(&self, future: LocalBoxFuture) -> Result<(), SpawnError> {
        self.inbox.reserve()?;
        // Never borrowed elsewhere while a hook runs: only `poll` borrows it, and no
        // hook runs inside it.
        let mut tasks = self.tasks.borrow_mut();
        let index = self.insert(&mut tasks, future, true);
        drop(tasks);
        self.inbox
            .state
            .with(|state| state.ready.push(Ready::Task(index)));
        self.inbox.notify.notify();
        Ok(())
    }

    fn insert(&self, tasks: &mut Slab<Task>, future: LocalBoxFuture, queued: bool) -> usize {
        let entry = tasks.vacant_entry();
        let index = entry.key();
        let wake = Arc::new(TaskWake {
            index,
            queued: AtomicBool::new(queued),
            inbox: self.inbox.clone(),
        });
        let waker = Waker::from(wake.clone());
        entry.insert(Task {
            future,
            wake,
            waker,
        });
        index
    }

    /// Polls the tasks woken since the last round (and the ones that joined), once each,
    /// and drops those that finished. Registers `cx`'s waker for the next wake-up.
    pub(crate) fn poll(&self, cx: &Context<'_>) {
        if !self
            .inbox
            .notify
            .take(cx, &mut self.registered.borrow_mut())
        {
            return;
        }
        let mut round = self.round.borrow_mut();
        self.inbox
            .state
            .with(|state| core::mem::swap(&mut *round, &mut state.ready));
        let mut tasks = self.tasks.borrow_mut();
        let mut finished = 0;
        for ready in round.drain(..) {
            let index = match ready {
                Ready::Task(index) => index,
                Ready::New(future) => self.insert(&mut tasks, future, false),
            };
            // A stale waker may name a task that finished (or a newer one in its place:
            // polled once more than needed, which is harmless).
            let Some(task) = tasks.get_mut(index) else {
                continue;
            };
            task.wake.queued.store(false, Ordering::Release);
            let mut cx = Context::from_waker(&task.waker);
            if task.future.as_mut().poll(&mut cx).is_ready() {
                drop(tasks.remove(index));
                finished += 1;
            }
        }
        if finished > 0 {
            self.inbox.state.with(|state| state.len -= finished);
        }
    }
}

impl Drop for TaskSet {
    fn drop(&mut self) {
        let incoming = self.inbox.state.with(|state| {
            state.closed = true;
            core::mem::take(&mut state.ready)
        });
        // Dropped outside the lock: a task's drop may touch the tree. The set's own tasks
        // drop with it, here, on the driver's thread.
        drop(incoming);
    }
}

impl Inbox {
    /// Counts one more task, if the set takes it.
    fn reserve(&self) -> Result<(), SpawnError> {
        self.state.with(InboxState::admit)
    }
}

impl InboxState {
    fn admit(&mut self) -> Result<(), SpawnError> {
        if self.closed {
            Err(SpawnError::Shutdown)
        } else if self.len >= self.limit {
            Err(SpawnError::Full)
        } else {
            self.len += 1;
            Ok(())
        }
    }
}

impl Spawner for Inbox {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        let refused = self.state.with(|state| match state.admit() {
            Ok(()) => {
                state.ready.push(Ready::New(future));
                None
            }
            Err(err) => Some((err, future)),
        });
        if let Some((err, future)) = refused {
            // Dropped outside the lock.
            drop(future);
            return Err(err);
        }
        self.notify.notify();
        Ok(())
    }
}

impl fmt::Debug for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet").finish_non_exhaustive()
    }
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use core::cell::Cell;
    use core::future::poll_fn;
    use core::task::Poll;
    use std::sync::Mutex as StdMutex;

    use core::sync::atomic::AtomicUsize;

    /// Counts the wake-ups of the tree's driver.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl CountingWaker {
        fn new() -> (Arc<Self>, Waker) {
            let count = Arc::new(CountingWaker::default());
            (count.clone(), Waker::from(count))
        }

        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task that counts its polls and parks its waker for the test to wake.
    fn parked(polls: &Rc<Cell<usize>>, waker: &Rc<StdMutex<Option<Waker>>>) -> LocalBoxFuture {
        let (polls, slot) = (polls.clone(), waker.clone());
        Box::pin(poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }))
    }

    #[test]
    fn a_wake_up_polls_only_the_woken_task() {
        let (driver, cx_waker) = CountingWaker::new();
        let cx = Context::from_waker(&cx_waker);
        let set = TaskSet::new();
        let polls = [Rc::new(Cell::new(0)), Rc::new(Cell::new(0))];
        let wakers = [Rc::default(), Rc::default()];
        for (polls, waker) in polls.iter().zip(&wakers) {
            set.spawn_local(parked(polls, waker)).unwrap();
        }
        set.poll(&cx);
        assert_eq!((polls[0].get(), polls[1].get()), (1, 1));
        set.poll(&cx);
        assert_eq!(
            (polls[0].get(), polls[1].get()),
            (1, 1),
            "nothing was woken"
        );

        let woken = driver.count();
        let waker = wakers[1].lock().unwrap().take().unwrap();
        // Twice: the task is queued once.
        waker.wake_by_ref();
        waker.wake();
        assert_eq!(driver.count(), woken + 1, "the driver is woken");
        set.poll(&cx);
        assert_eq!((polls[0].get(), polls[1].get()), (1, 2));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn finished_tasks_leave_and_free_their_place() {
        let (_, cx_waker) = CountingWaker::new();
        let cx = Context::from_waker(&cx_waker);
        let set = TaskSet::new();
        set.set_limit(1);
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        set.spawn_local(Box::pin(async move { flag.set(true) }))
            .unwrap();
        assert_eq!(set.spawn_local(Box::pin(async {})), Err(SpawnError::Full));
        set.poll(&cx);
        assert!(ran.get());
        assert_eq!(set.len(), 0);
        set.spawn_local(Box::pin(async {})).unwrap();
    }

    #[test]
    fn send_tasks_join_from_other_threads_until_the_set_is_dropped() {
        let (driver, cx_waker) = CountingWaker::new();
        let cx = Context::from_waker(&cx_waker);
        let set = TaskSet::new();
        set.poll(&cx); // registers the driver's waker
        let inbox = set.inbox().clone();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let spawner = inbox.clone();
        std::thread::spawn(move || {
            spawner
                .spawn(Box::pin(async move { flag.store(true, Ordering::SeqCst) }))
                .unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(driver.count(), 1);
        set.poll(&cx);
        assert!(ran.load(Ordering::SeqCst));
        drop(set);
        assert_eq!(inbox.spawn(Box::pin(async {})), Err(SpawnError::Shutdown));
    }
}

/// The task set inside trees: the order tasks start in, and where values that are not
/// `Send` are dropped.
#[cfg(all(test, feature = "test-util"))]
mod tree_tests {
    use crate::platform::plain::Arc;
    use crate::race::Either;
    use crate::state::StopReason;
    use crate::testing::VirtualRuntime;
    use crate::{BoxResult, Context, Service, Tree};
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    /// Spawns, from `on_start`, a task, a local task and a task through a handle on
    /// another thread; each logs its first poll.
    struct Mixed(Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl Service for Mixed {
        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            let log = self.0.clone();
            let handle = cx.handle().clone();
            std::thread::spawn(move || {
                handle.spawn(async move {
                    log.lock().unwrap().push("from another thread");
                    Ok(())
                })
            })
            .join()
            .unwrap()?;
            let log = self.0.clone();
            cx.spawn(async move {
                log.lock().unwrap().push("first");
                Ok(())
            })?;
            let log = self.0.clone();
            cx.spawn_local(async move {
                log.lock().unwrap().push("second, local");
                Ok(())
            })?;
            Ok(())
        }
    }

    /// In a single-task tree, which polls every task itself, the order is exact; with a
    /// spawner, the tree polls only the local task, whenever the executor polls the tree.
    #[test]
    fn a_hooks_tasks_start_in_the_order_added_before_those_from_other_threads() {
        for single_task in [true, false] {
            let log = Arc::new(std::sync::Mutex::new(Vec::new()));
            let rt = VirtualRuntime::new();
            let tree = if single_task {
                Tree::single_task(Mixed(log.clone()), rt.clone())
            } else {
                Tree::new(Mixed(log.clone()), rt.clone(), rt.clone())
            };
            let root = tree.handle();
            let (exit, ()) = rt
                .block_on(futures_lite::future::zip(tree.run(), async {
                    root.wait_until_running().await.unwrap();
                    root.stop().await;
                }))
                .unwrap();
            assert!(matches!(exit.reason(), StopReason::Requested));
            let mut log = log.lock().unwrap().clone();
            if !single_task {
                log.retain(|&entry| entry != "second, local");
                assert_eq!(log, ["first", "from another thread"]);
                continue;
            }
            assert_eq!(log, ["first", "second, local", "from another thread"]);
        }
    }

    /// Records the thread each of its values is dropped on; holds an `Rc`, so it is not
    /// `Send`.
    struct DropsOn(
        Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>,
        #[allow(dead_code)] alloc::rc::Rc<()>,
    );

    impl Drop for DropsOn {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(std::thread::current().id());
        }
    }

    /// A service that is not `Send`, with a local task that is not `Send` either.
    struct NotSend(DropsOn);

    impl Service for NotSend {
        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            let value = DropsOn(self.0 .0.clone(), alloc::rc::Rc::new(()));
            cx.spawn_local(async move {
                let _value = value;
                core::future::pending::<()>().await;
                Ok(())
            })?;
            Ok(())
        }
    }

    /// Polls `tree.run()` until the root runs, then leaks the run (safe code may), then
    /// uses and drops the tree's last handle on another thread, where a single-task tree
    /// takes its `Send` spawns: no value that is not `Send` is ever dropped there.
    #[test]
    fn no_value_that_is_not_send_drops_off_the_trees_thread() {
        let drops = Arc::new(std::sync::Mutex::new(Vec::new()));
        for leak in [true, false] {
            drops.lock().unwrap().clear();
            let rt = VirtualRuntime::new();
            let service = NotSend(DropsOn(drops.clone(), alloc::rc::Rc::new(())));
            let tree = Tree::single_task(service, rt.clone());
            let root = tree.handle();
            let mut run = Box::pin(tree.run());
            let running = rt
                .block_on(crate::race::race(run.as_mut(), root.wait_until_running()))
                .unwrap();
            assert!(matches!(running, Either::Right(Ok(()))));
            let run = if leak {
                core::mem::forget(run);
                None
            } else {
                Some(run)
            };
            std::thread::spawn(move || {
                root.spawn(async { Ok(()) }).unwrap();
                drop(root);
            })
            .join()
            .unwrap();
            let others = |drops: &[std::thread::ThreadId]| {
                let here = std::thread::current().id();
                drops.iter().filter(|&&id| id != here).count()
            };
            assert_eq!(others(&drops.lock().unwrap()), 0);
            if !leak {
                // Dropped here: the service and its task go, on this thread.
                drop(run);
                assert_eq!(drops.lock().unwrap().len(), 2);
                assert_eq!(others(&drops.lock().unwrap()), 0);
            }
        }
    }
}
