use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use alloc::{format, vec};
use core::convert::Infallible;
use core::future::{pending, poll_fn, Future};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Poll, Waker};
use std::sync::Mutex;
use std::thread;

use futures_lite::future::{or, yield_now};

use super::{ExternalWork, Stalled, VirtualRuntime, VirtualSleep};
use crate::runtime::{SpawnError, Spawner, Timer};
use crate::time::{Duration, Instant};
use crate::timer_queue::{drive, SharedTimerQueue, TimerQueue};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn at(millis: u64) -> Instant {
    Instant::ZERO + ms(millis)
}

type Log = Arc<Mutex<Vec<(&'static str, Instant)>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<(&'static str, Instant)> {
    log.lock().unwrap().clone()
}

/// Increments a counter when dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn ten_thousand_sequential_sleeps_end_at_exactly_ten_seconds() {
    let rt = VirtualRuntime::new();
    rt.block_on(async {
        for _ in 0..10_000 {
            rt.sleep(ms(1)).await;
        }
    })
    .unwrap();
    assert_eq!(rt.now(), Instant::ZERO + Duration::from_secs(10));
    assert_eq!(rt.pending_sleeps(), 0);
}

#[test]
fn sleeps_complete_in_deadline_then_registration_order() {
    let rt = VirtualRuntime::new();
    let log = log();
    for (name, millis) in [("a10", 10), ("b5", 5), ("c10", 10), ("d0", 0), ("e5", 5)] {
        let (timer, log) = (rt.clone(), Arc::clone(&log));
        rt.spawn(Box::pin(async move {
            timer.sleep(ms(millis)).await;
            log.lock().unwrap().push((name, timer.now()));
        }))
        .unwrap();
    }
    rt.run_for(ms(20));
    assert_eq!(
        entries(&log),
        [
            ("d0", at(0)),
            ("b5", at(5)),
            ("e5", at(5)),
            ("a10", at(10)),
            ("c10", at(10))
        ]
    );
    assert_eq!(rt.now(), at(20));
}

#[test]
fn time_advances_only_when_everything_is_idle() {
    let rt = VirtualRuntime::new();
    let log = log();
    {
        let (timer, log) = (rt.clone(), Arc::clone(&log));
        rt.spawn(Box::pin(async move {
            for _ in 0..100 {
                yield_now().await;
            }
            log.lock().unwrap().push(("busy done", timer.now()));
        }))
        .unwrap();
    }
    rt.block_on(async {
        rt.sleep(ms(1)).await;
        log.lock().unwrap().push(("slept", rt.now()));
    })
    .unwrap();
    assert_eq!(entries(&log), [("busy done", at(0)), ("slept", at(1))]);
}

#[test]
fn wake_order_is_deterministic_and_fifo() {
    fn run() -> Vec<(&'static str, Instant)> {
        let rt = VirtualRuntime::new();
        let log = log();
        for name in ["a", "b", "c"] {
            let (timer, log) = (rt.clone(), Arc::clone(&log));
            rt.spawn(Box::pin(async move {
                for round in 0..3_u64 {
                    log.lock().unwrap().push((name, timer.now()));
                    if round == 1 {
                        timer.sleep(ms(1)).await;
                    } else {
                        yield_now().await;
                    }
                }
            }))
            .unwrap();
        }
        rt.run_for(ms(5));
        assert_eq!(rt.spawned_tasks(), 0);
        entries(&log)
    }
    let first = run();
    assert_eq!(
        first,
        [
            ("a", at(0)),
            ("b", at(0)),
            ("c", at(0)),
            ("a", at(0)),
            ("b", at(0)),
            ("c", at(0)),
            ("a", at(1)),
            ("b", at(1)),
            ("c", at(1)),
        ]
    );
    for _ in 0..10 {
        assert_eq!(run(), first);
    }
}

#[test]
fn a_task_can_spawn_while_it_is_polled() {
    let rt = VirtualRuntime::new();
    let log = log();
    {
        let (spawner, log) = (rt.clone(), Arc::clone(&log));
        rt.spawn(Box::pin(async move {
            let (timer, inner_log) = (spawner.clone(), Arc::clone(&log));
            spawner
                .spawn(Box::pin(async move {
                    timer.sleep(ms(2)).await;
                    inner_log.lock().unwrap().push(("inner", timer.now()));
                }))
                .unwrap();
            log.lock().unwrap().push(("outer", spawner.now()));
        }))
        .unwrap();
    }
    rt.run_for(ms(3));
    assert_eq!(entries(&log), [("outer", at(0)), ("inner", at(2))]);
    assert_eq!(rt.spawned_tasks(), 0);
}

/// A main future that completes once `done` is set, parking its waker in `slot`.
fn wait_for<'a>(
    done: &'a AtomicBool,
    slot: &'a Mutex<Option<Waker>>,
) -> impl Future<Output = ()> + 'a {
    poll_fn(move |cx| {
        *slot.lock().unwrap() = Some(cx.waker().clone());
        if done.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

fn wake_slot(slot: &Mutex<Option<Waker>>) {
    let waker = slot.lock().unwrap().take();
    if let Some(waker) = waker {
        waker.wake();
    }
}

#[test]
fn a_wake_from_another_thread_is_delivered() {
    let rt = VirtualRuntime::new();
    let (released, task_slot) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None)));
    let (finished, main_slot) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None)));
    {
        let (released, task_slot) = (Arc::clone(&released), Arc::clone(&task_slot));
        let (finished, main_slot) = (Arc::clone(&finished), Arc::clone(&main_slot));
        rt.spawn(Box::pin(async move {
            wait_for(&released, &task_slot).await;
            finished.store(true, Ordering::SeqCst);
            wake_slot(&main_slot);
        }))
        .unwrap();
    }
    // Nobody announced outside work: the wait cannot end.
    assert_eq!(rt.block_on(wait_for(&finished, &main_slot)), Err(Stalled));
    assert_eq!(rt.spawned_tasks(), 1);

    // Announced: block_on waits (for real) for the other thread's wake-up.
    let guard = rt.external_work();
    let worker = {
        let (released, task_slot) = (Arc::clone(&released), Arc::clone(&task_slot));
        thread::spawn(move || {
            thread::sleep(ms(20));
            released.store(true, Ordering::SeqCst);
            wake_slot(&task_slot);
            drop(guard);
        })
    };
    assert_eq!(rt.block_on(wait_for(&finished, &main_slot)), Ok(()));
    worker.join().unwrap();
    assert_eq!(rt.spawned_tasks(), 0);
    assert_eq!(rt.now(), Instant::ZERO); // no virtual time passed
}

#[test]
fn spawn_from_another_thread_is_polled_by_block_on() {
    let rt = VirtualRuntime::new();
    let (done, main_slot) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None)));
    let guard = rt.external_work();
    let worker = {
        let (remote, done, main_slot) = (rt.clone(), Arc::clone(&done), Arc::clone(&main_slot));
        thread::spawn(move || {
            remote
                .spawn(Box::pin(async move {
                    done.store(true, Ordering::SeqCst);
                    wake_slot(&main_slot);
                }))
                .unwrap();
            drop(guard);
        })
    };
    assert_eq!(rt.block_on(wait_for(&done, &main_slot)), Ok(()));
    worker.join().unwrap();
    assert_eq!(rt.spawned_tasks(), 0);
}

#[test]
fn stalled_when_nothing_can_wake_the_main_future() {
    let rt = VirtualRuntime::new();
    assert_eq!(rt.block_on(pending::<()>()), Err(Stalled));

    // A task waiting forever does not count as progress either, and it survives the stall.
    rt.spawn(Box::pin(pending())).unwrap();
    assert_eq!(
        rt.block_on(async {
            rt.sleep(ms(5)).await;
            pending::<()>().await;
        }),
        Err(Stalled)
    );
    assert_eq!(rt.now(), at(5));
    assert_eq!(rt.spawned_tasks(), 1);
    assert!(format!("{Stalled}").contains("can never complete"));
}

#[test]
fn pending_tasks_stay_between_block_ons_and_drop_with_the_runtime() {
    let rt = VirtualRuntime::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let (counter, polls) = (DropCounter(Arc::clone(&drops)), Arc::clone(&polls));
        let timer = rt.clone();
        let sleep = Timer::sleep_until(&timer, at(100));
        drop(timer);
        rt.spawn(Box::pin(async move {
            let _counter = counter;
            polls.fetch_add(1, Ordering::SeqCst);
            sleep.await;
            polls.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    }
    rt.run_for(ms(10));
    assert_eq!((rt.spawned_tasks(), polls.load(Ordering::SeqCst)), (3, 3));
    rt.run_for(ms(10));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(rt.pending_sleeps(), 3);

    let clone = rt.clone();
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a clone keeps the tasks");
    drop(clone);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn shutdown_drops_every_task_and_refuses_new_ones() {
    let rt = VirtualRuntime::new();
    let drops = Arc::new(AtomicUsize::new(0));
    {
        // Holds a clone of the runtime: only shutdown can drop it.
        let (timer, counter) = (rt.clone(), DropCounter(Arc::clone(&drops)));
        rt.spawn(Box::pin(async move {
            let _counter = counter;
            timer.sleep(Duration::MAX).await;
        }))
        .unwrap();
        let counter = DropCounter(Arc::clone(&drops));
        rt.spawn(Box::pin(async move {
            let _counter = counter;
            pending::<()>().await;
        }))
        .unwrap();
    }
    rt.run_for(ms(1));
    assert_eq!(rt.spawned_tasks(), 2);
    rt.shutdown();
    assert_eq!(rt.spawned_tasks(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(rt.pending_sleeps(), 0);
    assert_eq!(rt.spawn(Box::pin(async {})), Err(SpawnError::Shutdown));
    // The clock and block_on still work.
    rt.run_for(ms(1));
    assert_eq!(rt.now(), at(2));
}

#[test]
#[should_panic(expected = "another block_on")]
fn block_on_inside_a_task_panics() {
    let rt = VirtualRuntime::new();
    let inner = rt.clone();
    rt.block_on(async move {
        let _ = inner.block_on(async {});
    })
    .unwrap();
}

#[test]
fn a_dropped_sleep_leaves_no_registration() {
    let rt = VirtualRuntime::new();
    let result = rt.block_on(or(
        async {
            rt.sleep(ms(50)).await;
            "long"
        },
        async {
            rt.sleep(ms(10)).await;
            "short"
        },
    ));
    assert_eq!(result, Ok("short"));
    assert_eq!(rt.now(), at(10));
    assert_eq!(rt.pending_sleeps(), 0);
    // No leftover deadline: nothing can wake a pending main future now.
    assert_eq!(rt.block_on(pending::<()>()), Err(Stalled));
    assert_eq!(rt.now(), at(10));
}

#[test]
fn auto_traits_and_debug() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<VirtualRuntime>();
    send_sync::<VirtualSleep>();
    send_sync::<ExternalWork>();
    send_sync::<Stalled>();
    unpin::<VirtualSleep>();

    let rt = VirtualRuntime::default();
    let sleep = rt.sleep(ms(3));
    assert_eq!(sleep.deadline(), at(3));
    assert!(format!("{rt:?}").contains("VirtualRuntime"));
    assert!(format!("{sleep:?}").contains("registered: false"));
    assert!(format!("{:?}", rt.external_work()).contains("ExternalWork"));
}

// ----- the timer queue driven by the virtual runtime -----

/// Never completes; for racing `drive` against the code it serves.
async fn run_driver<T>(queue: &TimerQueue, rt: &VirtualRuntime) -> T {
    let never: Infallible = drive(queue, rt).await;
    match never {}
}

#[test]
fn periodic_timer_on_the_queue_does_not_drift() {
    let rt = VirtualRuntime::new();
    let queue = Arc::new(TimerQueue::new(Arc::new(rt.clone())));
    rt.run_for(ms(3)); // start off the epoch
    let start = rt.now();
    let period = ms(7);

    let ticks = async {
        let mut ticks = 0_u32;
        let mut sleep = queue.sleep_until(start + period);
        for _ in 0..1000 {
            (&mut sleep).await;
            ticks += 1;
            assert_eq!(rt.now(), sleep.deadline(), "tick {ticks} is late");
            // The tick's own work takes virtual time; the deadlines stay on the grid.
            queue.sleep_until(rt.now() + ms(2)).await;
            // The tree's timers share one adapter sleep.
            assert!(rt.pending_sleeps() <= 1);
            let previous = sleep.deadline();
            sleep.reset(previous + period);
        }
        ticks
    };
    let ticks = rt.block_on(or(run_driver(&queue, &rt), ticks)).unwrap();
    assert_eq!(ticks, 1000);
    // The last tick fired at start + 1000·period, and its 2 ms of work followed.
    assert_eq!(rt.now(), start + period * 1000 + ms(2));
    assert_eq!(rt.pending_sleeps(), 0);
}

#[test]
fn one_driver_task_serves_many_timers() {
    let rt = VirtualRuntime::new();
    let queue = Arc::new(TimerQueue::new(Arc::new(rt.clone())));
    {
        let (queue, timer) = (Arc::clone(&queue), rt.clone());
        rt.spawn(Box::pin(
            async move { run_driver::<()>(&queue, &timer).await },
        ))
        .unwrap();
    }
    let log = log();
    for (name, period, count) in [("p3", 3, 10_u64), ("p5", 5, 6), ("p10", 10, 3)] {
        let (queue, timer, log) = (Arc::clone(&queue), rt.clone(), Arc::clone(&log));
        rt.spawn(Box::pin(async move {
            let mut sleep = queue.sleep_until(timer.now() + ms(period));
            for _ in 0..count {
                (&mut sleep).await;
                assert!(timer.pending_sleeps() <= 1);
                log.lock().unwrap().push((name, timer.now()));
                sleep.reset(sleep.deadline() + ms(period));
            }
        }))
        .unwrap();
    }
    // The main future sleeps on the queue too, so the driver's is the only adapter sleep.
    rt.block_on(queue.sleep_until(at(40))).unwrap();
    assert_eq!(rt.now(), at(40));
    let entries = entries(&log);
    assert_eq!(entries.len(), 19);
    assert_eq!(entries.iter().filter(|(name, _)| *name == "p3").count(), 10);
    assert!(entries.windows(2).all(|pair| pair[0].1 <= pair[1].1));
    assert_eq!(entries.last(), Some(&("p3", at(30))));
    // Equal deadlines fire in registration order (reset at 20, 25 and 27 respectively).
    let at_30: Vec<_> = entries
        .iter()
        .filter(|(_, t)| *t == at(30))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(at_30, vec!["p10", "p5", "p3"]);

    // Only the driver is left, idle: no adapter sleep is pending.
    assert_eq!(rt.spawned_tasks(), 1);
    assert_eq!(rt.pending_sleeps(), 0);
    // The driver task holds the runtime (through the queue's clock): shutdown ends it.
    rt.shutdown();
    assert_eq!(rt.spawned_tasks(), 0);
}
