//! mode-embassy's own behaviour on embassy's std executor: single-task trees, pools, the
//! timer.

mod common;

use std::boxed::Box;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::block_on_embassy;
use mode_core::runtime::{SpawnError, Spawner, Timer};
use mode_core::time::Instant;
use mode_core::{BoxResult, Context, Error, Service};
use mode_embassy::{EmbassySpawner, EmbassyTimer};

mode_embassy::task_pool!(static SMALL: 2);

/// Runs a single-task tree with a task limit.
fn run_single_task<S: Service>(limit: usize, root: S) -> mode_core::Exit {
    let tree = mode_embassy::tree(root).with_task_limit(limit);
    block_on_embassy(&Arc::default(), |_| {}, tree.run())
}

/// Spawns one `Send` task and one task holding an `Rc`; both must run in the tree's task.
struct Both {
    ran: Arc<AtomicUsize>,
}

impl Service for Both {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let ran = self.ran.clone();
        cx.spawn(async move {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })?;
        let local = Rc::new(Cell::new(0));
        let ran = self.ran.clone();
        let handle = cx.handle().clone();
        cx.spawn_local(async move {
            handle.sleep(Duration::from_millis(2)).await?;
            local.set(10);
            ran.fetch_add(local.get(), Ordering::SeqCst);
            handle.request_stop();
            Ok(())
        })?;
        Ok(())
    }
}

#[test]
fn a_single_task_tree_runs_send_and_local_tasks() {
    let ran = Arc::new(AtomicUsize::new(0));
    let exit = run_single_task(4, Both { ran: ran.clone() });
    assert!(!exit.is_failure(), "{exit:?}");
    assert_eq!(ran.load(Ordering::SeqCst), 11);
}

/// Spawns as many tasks as the limit allows, waiting until stopped, then one more.
struct Filler {
    capacity: usize,
    result: Arc<Mutex<Option<core::result::Result<(), Error>>>>,
}

impl Service for Filler {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        for _ in 0..self.capacity {
            cx.spawn(core::future::pending())?;
        }
        let more = cx.spawn_local(core::future::pending()).map(drop);
        *self.result.lock().unwrap() = Some(more);
        cx.handle().request_stop();
        Ok(())
    }
}

#[test]
fn a_task_beyond_the_limit_is_refused_with_full() {
    let result = Arc::default();
    let exit = run_single_task(
        3,
        Filler {
            capacity: 3,
            result: Arc::clone(&result),
        },
    );
    assert!(!exit.is_failure(), "{exit:?}");
    let result = result.lock().unwrap().take().unwrap();
    assert!(
        matches!(result, Err(Error::Spawn(SpawnError::Full))),
        "{result:?}"
    );
}

/// A task spawned from another thread through a handle wakes the tree's task.
struct Remote {
    ran: Arc<AtomicUsize>,
}

impl Service for Remote {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let handle = cx.handle().clone();
        let ran = self.ran.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            let stopper = handle.clone();
            handle
                .spawn(async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    stopper.request_stop();
                    Ok(())
                })
                .unwrap();
        });
        Ok(())
    }
}

#[test]
fn spawn_from_another_thread_wakes_the_tree() {
    let ran = Arc::new(AtomicUsize::new(0));
    let exit = run_single_task(2, Remote { ran: ran.clone() });
    assert!(!exit.is_failure(), "{exit:?}");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn pool_runs_embassy_tasks_and_reports_full() {
    assert_eq!(SMALL.size(), 2);
    let done = Arc::new(AtomicUsize::new(0));
    let executor = Arc::new(Mutex::new(None));
    let cell = executor.clone();
    let seen = block_on_embassy(
        &Arc::default(),
        move |spawner| *cell.lock().unwrap() = Some(spawner.make_send()),
        async {
            let spawner = EmbassySpawner::new(executor.lock().unwrap().unwrap(), &SMALL);
            let timer = EmbassyTimer::new();
            for _ in 0..2 {
                let done = done.clone();
                let sleep = timer.sleep_until(timer.now() + Duration::from_millis(5));
                spawner
                    .spawn(Box::pin(async move {
                        sleep.await;
                        done.fetch_add(1, Ordering::SeqCst);
                    }))
                    .unwrap();
            }
            let busy = SMALL.in_use();
            let third = spawner.spawn(Box::pin(async {}));
            while done.load(Ordering::SeqCst) < 2 {
                timer
                    .sleep_until(timer.now() + Duration::from_millis(1))
                    .await;
            }
            let after = SMALL.in_use();
            let again = spawner.spawn(Box::pin(async {}));
            (busy, third, after, again)
        },
    );
    let (busy, third, after, again) = seen;
    assert_eq!(busy, 2);
    assert_eq!(third, Err(SpawnError::Full));
    assert_eq!(after, 0);
    assert_eq!(again, Ok(()));
}

#[test]
fn handles_are_send_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<EmbassyTimer>();
    send_sync::<EmbassySpawner>();
    send_sync::<mode_embassy::TaskPool>();
}

#[test]
fn timer_rounds_deadlines_up_to_ticks() {
    let hz = embassy_time::TICK_HZ;
    assert_eq!(hz, 1_000_000, "embassy-time's std driver ticks at 1 MHz");
    assert_eq!(EmbassyTimer::ticks_from_instant(Instant::ZERO), 0);
    assert_eq!(EmbassyTimer::ticks_from_instant(Instant::from_nanos(1)), 1);
    assert_eq!(
        EmbassyTimer::ticks_from_instant(Instant::from_nanos(1_000)),
        1
    );
    assert_eq!(
        EmbassyTimer::ticks_from_instant(Instant::from_nanos(1_001)),
        2
    );
    assert_eq!(EmbassyTimer::ticks_from_instant(Instant::MAX), u64::MAX);
    assert_eq!(
        EmbassyTimer::instant_from_ticks(1_500),
        Instant::from_nanos(1_500_000)
    );
    for ticks in [0, 1, 999, 123_456_789] {
        let instant = EmbassyTimer::instant_from_ticks(ticks);
        assert_eq!(EmbassyTimer::ticks_from_instant(instant), ticks);
    }
}

#[test]
fn timer_conversions_agree_with_exact_arithmetic() {
    let hz = u128::from(embassy_time::TICK_HZ);
    let saturate = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
    let edges = [
        0,
        1,
        999,
        1_000_000_000,
        1_999_999_999,
        u64::MAX / 1_000,
        u64::MAX - 1,
    ];
    for n in edges
        .into_iter()
        .chain((0..64).map(|shift| (1u64 << shift) + 7))
    {
        let ticks = EmbassyTimer::ticks_from_instant(Instant::from_nanos(n));
        assert_eq!(
            ticks,
            saturate((u128::from(n) * hz).div_ceil(1_000_000_000))
        );
        let nanos = EmbassyTimer::instant_from_ticks(n).as_nanos();
        assert_eq!(nanos, saturate(u128::from(n) * 1_000_000_000 / hz));
    }
}

#[test]
fn timer_sleeps_until_the_deadline() {
    let timer = EmbassyTimer::new();
    let (before, deadline, after) = block_on_embassy(&Arc::default(), |_| {}, async {
        let before = timer.now();
        let deadline = before + Duration::from_millis(20);
        timer.sleep_until(deadline).await;
        (before, deadline, timer.now())
    });
    assert!(after >= deadline, "woke at {after:?}, before {deadline:?}");
    assert!(after - before < Duration::from_secs(2));
}

/// Records the thread it is dropped on; holds an `Rc`, so it is not `Send`.
struct DropsOn(
    Arc<Mutex<Vec<std::thread::ThreadId>>>,
    #[allow(dead_code)] Rc<()>,
);

impl Drop for DropsOn {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(std::thread::current().id());
    }
}

/// A service that is not `Send`, with a task that is not `Send` either.
struct NotSend(DropsOn);

impl Service for NotSend {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let value = DropsOn(self.0 .0.clone(), Rc::new(()));
        cx.spawn_local(async move {
            let _value = value;
            core::future::pending::<()>().await;
            Ok(())
        })?;
        Ok(())
    }
}

/// Leaking the tree's future (safe code may) and then using and dropping the last handle
/// on another thread drops nothing that is not `Send` there: such values live in the
/// tree's future only, never in what handles share.
#[test]
fn a_leaked_tree_drops_nothing_that_is_not_send_on_another_thread() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let tree = mode_embassy::tree(NotSend(DropsOn(drops.clone(), Rc::new(()))));
    let root = tree.handle();
    let mut run = Box::pin(tree.run());
    let waiter = root.clone();
    block_on_embassy(&Arc::default(), |_| {}, async {
        let running = core::pin::pin!(waiter.wait_until_running());
        futures_lite::future::or(async { drop(run.as_mut().await) }, async {
            running.await.unwrap();
            // One more round, so that the tree polls the task it just started.
            futures_lite::future::yield_now().await;
        })
        .await;
    });
    core::mem::forget(run);
    std::thread::spawn(move || {
        root.spawn(async { Ok(()) }).unwrap();
        drop(root);
    })
    .join()
    .unwrap();
    assert!(
        drops.lock().unwrap().is_empty(),
        "{:?}",
        drops.lock().unwrap()
    );
}
