//! [`TaskSlots`]: a fixed number of task slots polled inside the future that runs the tree.
//!
//! # Why futures that are not `Send` are sound here
//!
//! mode's [`Spawner`] must be `Send + Sync`, yet the slots hold futures that are not
//! `Send`. The shared [`Queue`] therefore asserts `Send + Sync` itself, and this is what
//! makes that assertion true:
//!
//! 1. A future that is not `Send` enters the queue only through [`SlotSpawner::spawn_local`].
//!    A `SlotSpawner` exists only inside a [`Tree`] made by [`TaskSlots::tree`]; mode-core
//!    keeps it private and calls `spawn_local` only from the tree's driver, that is while
//!    [`Tree::run`] is being polled.
//! 2. Such futures leave the queue (to be polled or dropped) only in [`TaskSlots::run`].
//! 3. `Tree` and `TaskSlots` are both `!Send` and are created together on one thread (or,
//!    on a microcontroller, in one execution context), so `Tree::run` and
//!    `TaskSlots::run` are polled there, and every non-`Send` future is created, polled and
//!    dropped on that thread.
//! 4. When `TaskSlots::run` ends (or its future is dropped), the queue is closed and
//!    emptied on that thread; later spawns fail, so dropping the last reference to the
//!    queue elsewhere (a handle on another thread) drops no future.
//!
//! `Send` futures may enter from any thread ([`SlotSpawner::spawn`] is reachable through
//! `Send + Sync` service handles); the critical section around the queue orders those
//! pushes, and such futures may be polled on any thread anyway.

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::{poll_fn, Future};
use core::marker::PhantomData;
use core::pin::pin;
use core::task::{Context, Waker};

use critical_section::Mutex;
use mode_core::runtime::{BoxFuture, LocalBoxFuture, SpawnError, Spawner};
use mode_core::{Service, Tree};

use crate::sync::Arc;
use crate::EmbassyTimer;

/// A fixed number of task slots, polled inside the future that runs a service tree.
///
/// A microcontroller has no spare threads, and embassy spawns only tasks declared
/// statically, so mode-embassy runs a service tree as **one future**: [`Tree::run`]
/// (every hook, every timer of the tree) polled together with the tree's background tasks
/// by [`run`](TaskSlots::run), all inside one embassy task.
///
/// - [`tree`](TaskSlots::tree) makes a tree whose background tasks, `Send` or not, all run
///   in these slots. Nothing else is needed: no task pool, no embassy `Spawner`.
/// - [`tree_with_spawner`](TaskSlots::tree_with_spawner) makes a tree whose `Send` tasks go
///   to another [`Spawner`] (an [`EmbassySpawner`](crate::EmbassySpawner) with its own
///   embassy tasks) and only the others to the slots.
///
/// When every slot is taken, a spawn returns [`SpawnError::Full`]; spawning after `run`
/// ended returns [`SpawnError::Shutdown`].
///
/// Every wake-up of the task that runs the tree polls the tree and each occupied slot once,
/// so a slot costs one poll per wake of the tree: cheap for the handful of tasks a service
/// tree on a microcontroller has, and the reason the number of slots is fixed and small.
/// Tasks that should be woken on their own belong in a
/// [`TaskPool`](crate::TaskPool).
///
/// ```no_run
/// use mode_core::Service;
/// use mode_embassy::TaskSlots;
///
/// struct App;
/// impl Service for App {}
///
/// #[embassy_executor::task]
/// async fn app() {
///     let slots = TaskSlots::new(8);
///     let tree = slots.tree(App);
///     let exit = slots.run(tree.run()).await;
///     assert!(!exit.is_failure());
/// }
///
/// #[embassy_executor::main]
/// async fn main(spawner: embassy_executor::Spawner) {
///     spawner.spawn(app().unwrap());
/// }
/// ```
pub struct TaskSlots {
    queue: Arc<Queue>,
    /// The futures being polled; only ever touched here, on the thread that runs the tree.
    running: Vec<LocalBoxFuture>,
    /// `Tree` is `!Send`; so are the slots, so that both stay where they were made.
    _not_send: PhantomData<*const ()>,
}

impl TaskSlots {
    /// `capacity` slots, shared by every task of the trees made from them. The memory for
    /// them (two pointers per slot, twice) is allocated now, not while tasks spawn.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        TaskSlots {
            queue: Arc::new(Queue {
                state: Mutex::new(RefCell::new(State {
                    incoming: Vec::with_capacity(capacity),
                    running: 0,
                    capacity,
                    closed: false,
                    waker: None,
                })),
            }),
            running: Vec::with_capacity(capacity),
            _not_send: PhantomData,
        }
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.queue.with(|state| state.capacity)
    }

    /// The number of slots in use (tasks spawned and not finished).
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue
            .with(|state| state.running + state.incoming.len())
    }

    /// Whether no task occupies a slot.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A tree on embassy-time whose background tasks, `Send` or not, run in these slots.
    pub fn tree(&self, root: impl Service) -> Tree<EmbassyTimer> {
        Tree::new(
            root,
            SlotSpawner::<NoSpawner> {
                queue: self.queue.clone(),
                send: None,
            },
            EmbassyTimer,
        )
    }

    /// A tree on embassy-time whose `Send` background tasks go to `spawner` (for example an
    /// [`EmbassySpawner`](crate::EmbassySpawner)) and whose other tasks run in these slots.
    pub fn tree_with_spawner(
        &self,
        root: impl Service,
        spawner: impl Spawner,
    ) -> Tree<EmbassyTimer> {
        Tree::new(
            root,
            SlotSpawner {
                queue: self.queue.clone(),
                send: Some(spawner),
            },
            EmbassyTimer,
        )
    }

    /// Polls `future` (usually `tree.run()`) and the tasks in the slots until `future`
    /// completes; returns its output.
    ///
    /// When it returns, the slots are closed: tasks still in them are dropped (a tree that
    /// ran to its end has none left: its tasks finish before it stops) and later spawns
    /// return [`SpawnError::Shutdown`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every task in the slots, as when it completes.
    pub async fn run<F: Future>(mut self, future: F) -> F::Output {
        let mut future = pin!(future);
        poll_fn(|cx| {
            let output = future.as_mut().poll(cx);
            self.poll_tasks(cx);
            output
        })
        .await
        // `self` drops here (or with this future): see `Drop`.
    }

    /// Polls every task once (new ones too), with the waker of the task running the tree.
    fn poll_tasks(&mut self, cx: &mut Context<'_>) {
        loop {
            let running = &mut self.running;
            let replaced = self.queue.with(|state| {
                // Capacity was reserved for every slot: appending does not allocate.
                running.append(&mut state.incoming);
                state.running = running.len();
                match &state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => None,
                    _ => state.waker.replace(cx.waker().clone()),
                }
            });
            // A waker is never dropped inside the critical section.
            drop(replaced);
            running.retain_mut(|task| task.as_mut().poll(cx).is_pending());
            let left = running.len();
            let spawned_meanwhile = self.queue.with(|state| {
                state.running = left;
                !state.incoming.is_empty()
            });
            if !spawned_meanwhile {
                break;
            }
        }
    }
}

impl Drop for TaskSlots {
    fn drop(&mut self) {
        let incoming = self.queue.with(|state| {
            state.closed = true;
            state.running = 0;
            (core::mem::take(&mut state.incoming), state.waker.take())
        });
        // Dropped outside the critical section: a task's drop may touch the tree.
        drop(incoming);
        self.running.clear();
    }
}

impl fmt::Debug for TaskSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSlots")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The part of the slots that the tree's spawner shares.
struct Queue {
    state: Mutex<RefCell<State>>,
}

struct State {
    /// Spawned, not yet polled.
    incoming: Vec<LocalBoxFuture>,
    /// Tasks in `TaskSlots::running` after its last round.
    running: usize,
    capacity: usize,
    closed: bool,
    /// The task running the tree, woken when a task is spawned.
    waker: Option<Waker>,
}

// SAFETY: see the module docs: futures that are not `Send` enter (`spawn_local`) and leave
// (`TaskSlots::run` and its drop) only on the thread that polls the tree, and the queue is
// empty whenever that thread is not inside them. Everything else in `State` is `Send`, and
// all access goes through the critical section.
unsafe impl Send for Queue {}
// SAFETY: as for `Send`; shared access only ever locks the critical section.
unsafe impl Sync for Queue {}

impl Queue {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        critical_section::with(|cs| f(&mut self.state.borrow_ref_mut(cs)))
    }

    fn push(&self, task: LocalBoxFuture) -> Result<(), SpawnError> {
        let pushed = self.with(|state| {
            if state.closed {
                return Err(SpawnError::Shutdown);
            }
            if state.running + state.incoming.len() >= state.capacity {
                return Err(SpawnError::Full);
            }
            state.incoming.push(task);
            Ok(state.waker.clone())
        });
        // The task (on failure) and the waker are dropped or woken outside the section.
        let waker = pushed?;
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

/// The tree's spawner: `Send` tasks to `send` if set, everything else to the slots.
struct SlotSpawner<S> {
    queue: Arc<Queue>,
    send: Option<S>,
}

impl<S: Spawner> Spawner for SlotSpawner<S> {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        match &self.send {
            Some(spawner) => spawner.spawn(future),
            None => self.queue.push(future),
        }
    }

    fn spawn_local(&self, future: LocalBoxFuture) -> Result<(), SpawnError> {
        self.queue.push(future)
    }
}

/// The "no other spawner" type of [`TaskSlots::tree`].
enum NoSpawner {}

impl Spawner for NoSpawner {
    fn spawn(&self, _future: BoxFuture) -> Result<(), SpawnError> {
        match *self {}
    }
}

#[allow(dead_code)]
fn _assert_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SlotSpawner<NoSpawner>>();
}

/// Point 3 of the module docs needs `Tree` and `TaskSlots` to be `!Send`: this stops
/// compiling if either became `Send` (the call is ambiguous only for `Send` types).
const _: fn() = || {
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    struct Invalid;
    impl<T: ?Sized + Send> AmbiguousIfSend<Invalid> for T {}
    let _ = <Tree<EmbassyTimer> as AmbiguousIfSend<_>>::some_item;
    let _ = <TaskSlots as AmbiguousIfSend<_>>::some_item;
};

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    #[test]
    fn push_counts_slots_and_refuses_when_full_or_closed() {
        let slots = TaskSlots::new(2);
        let queue = slots.queue.clone();
        assert_eq!((slots.capacity(), slots.len()), (2, 0));
        queue.push(Box::pin(async {})).unwrap();
        queue.push(Box::pin(async {})).unwrap();
        assert_eq!(slots.len(), 2);
        assert_eq!(queue.push(Box::pin(async {})), Err(SpawnError::Full));
        drop(slots);
        assert_eq!(queue.push(Box::pin(async {})), Err(SpawnError::Shutdown));
        assert!(queue.with(|state| state.incoming.is_empty()));
    }
}
