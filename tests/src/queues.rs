//! FlowControlQueue and ThrowableQueue as mode users rely on them (mode parity).
//!
//! Producers and consumers are tasks of a running service, on the backend's own threads.
//! Assertions made while a producer waits are safety properties (nothing is delivered
//! while the flow is suspended), so they hold however the backend schedules the tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::sync::{
    FlowControlEvent, FlowControlQueue, ThrowableQueue, TryGetError, TryPutError,
};
use mode_core::time::Duration;
use mode_core::ServiceHandle;

use crate::{with_running_tree, Backend};

/// The longest a test waits for a task that should finish at once (a failure, not a hang).
const PATIENCE: Duration = Duration::from_secs(60);

/// Awaits a task's output, failing the test if it does not come within [`PATIENCE`].
async fn output<T: Send + 'static>(root: &ServiceHandle, task: mode_core::TaskHandle<T>) -> T {
    root.wait_timeout(task, PATIENCE)
        .await
        .expect("the task finishes")
        .expect("the task succeeds")
}

/// Suspending the flow stops producers only: a consumer task drains what is buffered and
/// waits on the empty queue, while a producer task's `put` waits until `resume`.
pub fn suspended_flow_stops_producers_not_consumers<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let flow = Arc::new(FlowControlEvent::new_resumed());
        let queue = FlowControlQueue::new(4, flow.clone());
        for item in 1..=3 {
            queue.put(item).await.unwrap();
        }
        flow.suspend();

        let consumer = queue.clone();
        let drained = root
            .spawn_returning(async move {
                let mut got = Vec::new();
                for _ in 0..3 {
                    got.push(consumer.get().await?);
                }
                Ok(got)
            })
            .unwrap();
        assert_eq!(output(&root, drained).await, [1, 2, 3]);

        let delivered = Arc::new(AtomicBool::new(false));
        let (producer, flag) = (queue.clone(), delivered.clone());
        let put = root
            .spawn_returning(async move {
                producer.put(4).await?;
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        let consumer = queue.clone();
        let fourth = root
            .spawn_returning(async move { Ok(consumer.get().await?) })
            .unwrap();
        root.sleep(Duration::from_millis(5)).await.unwrap();
        assert!(!delivered.load(Ordering::SeqCst), "no put while suspended");
        assert_eq!(queue.try_put(5), Err(TryPutError::Suspended(5)));

        flow.resume();
        output(&root, put).await;
        assert_eq!(output(&root, fourth).await, 4);
        assert!(queue.is_empty());
    });
}

/// With `clear_on_resume`, `resume` drops what was buffered before it, and a producer
/// whose `put` was blocked by the suspension then delivers its item.
pub fn resume_drops_stale_items_and_delivers_the_blocked_put<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let flow = Arc::new(FlowControlEvent::new_resumed());
        let queue = FlowControlQueue::with_clear_on_resume(2, flow.clone());
        queue.try_put("stale 1").unwrap();
        queue.try_put("stale 2").unwrap();
        flow.suspend();

        let producer = queue.clone();
        let put = root
            .spawn_returning(async move { Ok(producer.put("fresh").await?) })
            .unwrap();
        root.sleep(Duration::from_millis(5)).await.unwrap();
        assert_eq!(queue.len(), 2, "the blocked put has not delivered");

        flow.resume();
        output(&root, put).await;
        let consumer = queue.clone();
        let got = root
            .spawn_returning(async move { Ok(consumer.get().await?) })
            .unwrap();
        assert_eq!(output(&root, got).await, "fresh");
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    });
}

/// The non-waiting puts that skip checks on purpose: bypassing the flow control (mode's
/// `put_nowait`) still respects the capacity; forcing (mode's `force_put_nowait`) ignores
/// both, and ordinary puts then wait until the queue is below capacity.
pub fn non_waiting_puts_bypass_flow_control<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let flow = Arc::new(FlowControlEvent::new()); // suspended
        let queue = FlowControlQueue::new(2, flow.clone());
        assert_eq!(queue.try_put(1), Err(TryPutError::Suspended(1)));
        queue.try_put_bypassing_flow_control(1).unwrap();
        queue.try_put_bypassing_flow_control(2).unwrap();
        assert_eq!(
            queue.try_put_bypassing_flow_control(3),
            Err(TryPutError::Full(3))
        );
        queue.force_put(3).unwrap();
        assert_eq!(queue.len(), 3);

        flow.resume();
        let producer = queue.clone();
        let put = root
            .spawn_returning(async move { Ok(producer.put(4).await?) })
            .unwrap();
        let consumer = queue.clone();
        let got = root
            .spawn_returning(async move {
                let mut got = Vec::new();
                for _ in 0..4 {
                    got.push(consumer.get().await?);
                }
                Ok(got)
            })
            .unwrap();
        output(&root, put).await;
        assert_eq!(output(&root, got).await, [1, 2, 3, 4]);
        queue.close();
        assert_eq!(queue.force_put(5), Err(TryPutError::Closed(5)));
    });
}

/// Takes `n` items from `queue` in a task of `root`'s service, and waits for it.
async fn take<T: Send + 'static>(root: &ServiceHandle, queue: &FlowControlQueue<T>, n: usize) {
    let consumer = queue.clone();
    let task = root
        .spawn_returning(async move {
            for _ in 0..n {
                consumer.get().await?;
            }
            Ok(())
        })
        .unwrap();
    output(root, task).await;
}

/// Pressure callbacks at mode's fill ratios: with a capacity of 10, the high callback
/// runs when a put finds 8 items (`floor(10 / 1.25)`), once per crossing, and the drop
/// callback when a get finds 4 (`floor(10 * 0.4)`); then a new crossing calls both again.
pub fn pressure_callbacks_fire_at_modes_ratios<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let queue = FlowControlQueue::new(10, Arc::new(FlowControlEvent::new_resumed()));
        assert_eq!(queue.pressure_high_mark(), 8);
        assert_eq!(queue.pressure_drop_mark(), 4);
        // Each callback records the queue's length when it runs: the callbacks may use
        // the queue.
        let log: Arc<Mutex<Vec<(&str, usize)>>> = Arc::default();
        let (high, drop) = (log.clone(), log.clone());
        let (high_queue, drop_queue) = (queue.clone(), queue.clone());
        queue.set_pressure_callbacks(
            move || high.lock().unwrap().push(("high", high_queue.len())),
            move || drop.lock().unwrap().push(("drop", drop_queue.len())),
        );

        let producer = queue.clone();
        let put = root
            .spawn_returning(async move {
                for item in 0..10 {
                    producer.put(item).await?;
                }
                Ok(())
            })
            .unwrap();
        output(&root, put).await;
        // The 9th put found 8 items; the 10th did not call it again.
        assert_eq!(*log.lock().unwrap(), [("high", 9)]);
        assert!(queue.is_pressure_high());

        take(&root, &queue, 6).await; // found 10..=5 items
        assert_eq!(log.lock().unwrap().len(), 1);
        take(&root, &queue, 1).await; // found 4
        assert_eq!(*log.lock().unwrap(), [("high", 9), ("drop", 3)]);
        assert!(!queue.is_pressure_high());

        // A second crossing, by forced puts from another task.
        let producer = queue.clone();
        let force = root
            .spawn_returning(async move {
                for item in 0..7 {
                    producer.force_put(item)?;
                }
                Ok(())
            })
            .unwrap();
        output(&root, force).await;
        assert_eq!(log.lock().unwrap()[2], ("high", 9));
        take(&root, &queue, 10).await; // the last get finds 1 item: at most 4
        assert_eq!(log.lock().unwrap().len(), 4);
        assert_eq!(log.lock().unwrap()[3].0, "drop");
        assert!(queue.is_empty());
        // The callbacks hold clones of the queue: break the cycle.
        queue.remove_pressure_callbacks();
        assert_eq!(Arc::strong_count(&log), 1);
    });
}

/// A thrown error reaches a consumer task already waiting on the empty queue.
pub fn thrown_error_reaches_a_waiting_getter<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let queue: ThrowableQueue<u32, &'static str> =
            ThrowableQueue::new(4, Arc::new(FlowControlEvent::new_resumed()));
        let consumer = queue.clone();
        let got = root
            .spawn_returning(async move { Ok(consumer.get().await) })
            .unwrap();
        root.sleep(Duration::from_millis(5)).await.unwrap();
        queue.throw("producer crashed");
        assert_eq!(output(&root, got).await, Err("producer crashed"));
        assert!(queue.is_empty());
    });
}

/// With no getter waiting, thrown errors are delivered by the next gets before any
/// buffered item, in the order thrown, and the queue is not empty while one is pending.
pub fn thrown_errors_overtake_buffered_items<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let flow = Arc::new(FlowControlEvent::new_resumed());
        let queue: ThrowableQueue<u32, &'static str> = ThrowableQueue::new(4, flow.clone());
        let producer = queue.clone();
        let produced = root
            .spawn_returning(async move {
                producer.put(1).await?;
                producer.put(2).await?;
                producer.throw("first");
                producer.throw("second");
                Ok(())
            })
            .unwrap();
        output(&root, produced).await;
        assert_eq!(queue.len(), 4);

        // A suspended flow does not hold back the consumer.
        flow.suspend();
        let consumer = queue.clone();
        let got = root
            .spawn_returning(async move {
                let mut got = Vec::new();
                for _ in 0..4 {
                    got.push(consumer.get().await);
                }
                Ok(got)
            })
            .unwrap();
        assert_eq!(
            output(&root, got).await,
            [Err("first"), Err("second"), Ok(1), Ok(2)]
        );

        // An error alone makes the queue non-empty, and `try_get` takes it first.
        queue.try_put_bypassing_flow_control(3).unwrap();
        queue.throw("third");
        assert!(!queue.is_empty());
        assert_eq!(queue.try_get(), Ok(Err("third")));
        assert_eq!(queue.try_get(), Ok(Ok(3)));
        assert!(queue.is_empty());
        queue.throw("alone");
        assert!(!queue.is_empty());
        assert_eq!(queue.try_get(), Ok(Err("alone")));
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    });
}

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! queue_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            queues::suspended_flow_stops_producers_not_consumers,
            queues::resume_drops_stale_items_and_delivers_the_blocked_put,
            queues::non_waiting_puts_bypass_flow_control,
            queues::pressure_callbacks_fire_at_modes_ratios,
            queues::thrown_error_reaches_a_waiting_getter,
            queues::thrown_errors_overtake_buffered_items,
        );
    };
}
