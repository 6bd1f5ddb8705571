//! The primitives between services' tasks, on the backend's own threads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::sync::{
    Event, FlowControlEvent, FlowControlQueue, PutError, Signal, Stampede, ThrowableQueue,
};
use mode_core::time::Duration;
use mode_core::{BoxResult, Context, Dependencies, Service};

use crate::{run_with, Backend};

const ITEMS: u64 = 10_000;

struct Producer(FlowControlQueue<u64>);

impl Service for Producer {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let queue = self.0.clone();
        cx.spawn(async move {
            for item in 0..ITEMS {
                queue.put(item).await.map_err(|err| format!("{err:?}"))?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

struct Consumer {
    queue: FlowControlQueue<u64>,
    received: Arc<AtomicU64>,
}

impl Service for Consumer {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let queue = self.queue.clone();
        let received = self.received.clone();
        let handle = cx.handle().clone();
        cx.spawn(async move {
            for expected in 0..ITEMS {
                let item = handle
                    .wait(queue.get())
                    .await?
                    .map_err(|e| format!("{e:?}"))?;
                assert_eq!(item, expected, "items arrive in order");
                assert!(queue.len() <= queue.capacity());
                received.fetch_add(1, Ordering::SeqCst);
                if expected == ITEMS / 2 {
                    // Suspend the flow for a while: the producer must wait, not drop items.
                    queue.flow_control().suspend();
                    handle.sleep(Duration::from_millis(5)).await?;
                    queue.flow_control().resume();
                }
            }
            handle.parent().expect("under the pipeline").request_stop();
            Ok(())
        })?;
        Ok(())
    }
}

struct Pipeline {
    received: Arc<AtomicU64>,
}

impl Service for Pipeline {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        let queue = FlowControlQueue::new(16, Arc::new(FlowControlEvent::new_resumed()));
        deps.add(Consumer {
            queue: queue.clone(),
            received: self.received.clone(),
        });
        deps.add(Producer(queue));
    }
}

/// A flow-controlled queue carries 10,000 items between two services' tasks, in order,
/// through a suspend and resume, and the consumer then stops the tree.
pub fn flow_control_queue_between_services<B: Backend>(backend: B) {
    let received = Arc::new(AtomicU64::new(0));
    let tree = backend.tree(Pipeline {
        received: received.clone(),
    });
    let exit = backend.block_on(tree.run());
    assert!(!exit.is_failure(), "{exit:?}");
    assert_eq!(received.load(Ordering::SeqCst), ITEMS);
}

/// `clear` drops the contents and fails a put that waits for room, handing its item back.
pub fn queue_clear_wakes_waiting_putters<B: Backend>(backend: B) {
    let tree = backend.tree(crate::probe::Probe::new("App"));
    let root = tree.handle();
    let queue = FlowControlQueue::new(1, Arc::new(FlowControlEvent::new_resumed()));
    let outcome: Arc<Mutex<Option<PutError<u32>>>> = Arc::default();
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        queue.try_put(1).unwrap();
        let (putter_queue, putter_outcome) = (queue.clone(), outcome.clone());
        root.spawn(async move {
            // Waits: the queue is full.
            let result = putter_queue.put(2).await;
            *putter_outcome.lock().unwrap() = result.err();
            Ok(())
        })
        .unwrap();
        root.sleep(Duration::from_millis(5)).await.unwrap();
        queue.clear();
        while outcome.lock().unwrap().is_none() {
            root.sleep(Duration::from_millis(1)).await.unwrap();
        }
        root.stop().await;
    }));
    let outcome = outcome.lock().unwrap().take();
    assert!(matches!(outcome, Some(PutError::Cleared(2))), "{outcome:?}");
    assert!(queue.is_empty());
}

/// An `Event` set in one task wakes waiters in others; a `Signal` sent from a task runs every
/// handler in connection order.
pub fn event_and_signal_across_tasks<B: Backend>(backend: B) {
    let tree = backend.tree(crate::probe::Probe::new("App"));
    let root = tree.handle();
    let event = Arc::new(Event::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let signal: Arc<Signal<&'static str, u32>> = Arc::new(Signal::new());
    let calls: Arc<Mutex<Vec<std::string::String>>> = Arc::default();
    for name in ["first", "second", "third"] {
        let calls = calls.clone();
        signal.connect_labeled(name, move |sender, args| {
            let calls = calls.clone();
            let line = format!("{name} {sender} {args}");
            Box::pin(async move {
                calls.lock().unwrap().push(line);
                Ok(())
            })
        });
    }
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        for _ in 0..3 {
            let (event, woken) = (event.clone(), woken.clone());
            root.spawn(async move {
                event.wait().await;
                woken.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        }
        let (setter, signal) = (event.clone(), signal.clone());
        root.spawn(async move {
            signal.send(&"sender", &7).await?;
            setter.set();
            Ok(())
        })
        .unwrap();
        while woken.load(Ordering::SeqCst) < 3 {
            root.sleep(Duration::from_millis(1)).await.unwrap();
        }
        root.stop().await;
    }));
    assert_eq!(
        *calls.lock().unwrap(),
        ["first sender 7", "second sender 7", "third sender 7"]
    );
}

/// Concurrent callers of a stampede-protected call share one call and its result.
pub fn stampede_shares_one_call<B: Backend>(backend: B) {
    let tree = backend.tree(crate::probe::Probe::new("App"));
    let root = tree.handle();
    let stampede = Stampede::<u64>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let results = backend.block_on(async {
        let (_, results) = run_with(tree, async {
            root.wait_until_running().await.unwrap();
            let callers = (0..8).map(|_| {
                let (calls, sleeper) = (calls.clone(), root.clone());
                stampede.call(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let _ = sleeper.sleep(Duration::from_millis(10)).await;
                    42
                })
            });
            let results = root.wait_many(callers).await.unwrap();
            // The flight is over: the next call runs afresh.
            let again = stampede.call(|| async { 7 }).await;
            root.stop().await;
            (results, again)
        })
        .await;
        results
    });
    assert_eq!(results.0, [42; 8]);
    assert_eq!(results.1, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Errors thrown into a `ThrowableQueue` reach its consumer in the order thrown and, as in
/// mode, ahead of the items already buffered.
pub fn throwable_queue_delivers_errors_in_order<B: Backend>(backend: B) {
    let tree = backend.tree(crate::probe::Probe::new("App"));
    let root = tree.handle();
    let queue: ThrowableQueue<u32, &'static str> =
        ThrowableQueue::new(8, Arc::new(FlowControlEvent::new_resumed()));
    let received = backend.block_on(async {
        let (_, received) = run_with(tree, async {
            root.wait_until_running().await.unwrap();
            let producer = queue.clone();
            let produced = root
                .spawn_returning(async move {
                    producer.put(1).await.map_err(|e| format!("{e:?}"))?;
                    producer.put(2).await.map_err(|e| format!("{e:?}"))?;
                    producer.throw("broken");
                    producer.put(3).await.map_err(|e| format!("{e:?}"))?;
                    producer.throw("still broken");
                    Ok(())
                })
                .unwrap();
            produced.await.unwrap();
            let mut received = Vec::new();
            for _ in 0..5 {
                received.push(queue.get().await);
            }
            root.stop().await;
            received
        })
        .await;
        received
    });
    assert_eq!(
        received,
        [Err("broken"), Err("still broken"), Ok(1), Ok(2), Ok(3)]
    );
}
