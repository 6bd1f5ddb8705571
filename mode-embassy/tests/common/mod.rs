//! Running a test's futures on embassy's std executor (`platform-std`, `executor-thread`).

#![allow(dead_code, unreachable_pub)]

use core::future::Future;
use core::pin::Pin;
use std::boxed::Box;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use embassy_executor::raw::TaskStorage;
use embassy_executor::{Executor, SendSpawner, Spawner};
use mode_core::runtime::{BoxFuture, SpawnError, Spawner as ModeSpawner};

type ErasedFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Runs `future` as a task of a fresh embassy `Executor` on this thread, until it and every
/// task counted in `live` have finished; returns its output.
///
/// `init` gets the executor's spawner first (to make an `EmbassySpawner`, say).
pub fn block_on_embassy<F: Future>(
    live: &Arc<AtomicUsize>,
    init: impl FnOnce(Spawner),
    future: F,
) -> F::Output {
    // One test at a time: the real-clock timing assertions need the executor's thread and
    // embassy-time's single alarm thread (`std` driver) to get a core when a deadline
    // passes, and parallel tests (some CPU-bound) on a small machine delay wake-ups by
    // milliseconds.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    // The std driver starts its alarm thread on first use; start it before timing anything.
    let _ = embassy_time::Instant::now();
    let output: Rc<RefCell<Option<F::Output>>> = Rc::new(RefCell::new(None));
    let slot = output.clone();
    let done: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let task = async move {
        let value = future.await;
        *slot.borrow_mut() = Some(value);
        done.store(true, Ordering::SeqCst);
    };
    let task: Pin<Box<dyn Future<Output = ()> + '_>> = Box::pin(task);
    // SAFETY: only the lifetime is changed. The task is polled only inside `run_until`
    // below, which returns only after the task completed, and embassy drops a task's
    // future as soon as it completes; so nothing the future borrows is used after this
    // function returns. If a poll panics, the panic leaves `run_until` and this function,
    // and the leaked executor is never polled again, so the future is never touched again.
    let task: ErasedFuture = unsafe { core::mem::transmute(task) };
    // One storage per call, leaked: a task storage must be `'static`, and embassy frees
    // nothing. A test binary leaks one small allocation per test.
    let storage: &'static TaskStorage<ErasedFuture> = Box::leak(Box::new(TaskStorage::new()));
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    let live = live.clone();
    executor.run_until(
        |spawner| {
            init(spawner);
            spawner.spawn(
                storage
                    .spawn(|| task)
                    .expect("a fresh task storage is free"),
            );
        },
        || done.load(Ordering::SeqCst) && live.load(Ordering::SeqCst) == 0,
    );
    let value = output.borrow_mut().take();
    value.expect("the task completed")
}

/// Counts the futures a spawner runs until they are dropped, so that a test's executor
/// is only left once the tasks it ran are gone (and their pool slots free).
#[derive(Debug)]
pub struct Counting<S> {
    pub inner: S,
    pub live: Arc<AtomicUsize>,
}

struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<S: ModeSpawner> ModeSpawner for Counting<S> {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        self.live.fetch_add(1, Ordering::SeqCst);
        let live = Live(self.live.clone());
        self.inner.spawn(Box::pin(async move {
            let _live = live;
            future.await;
        }))
    }
}

/// The `SendSpawner` of an embassy `Spawner`, kept for `init`.
pub fn send(spawner: Spawner) -> SendSpawner {
    spawner.make_send()
}
