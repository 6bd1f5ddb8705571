//! The primitives of `mode_core::sync` together, through their public API, on real
//! threads and on a single-threaded executor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use futures_lite::future::{block_on, zip};
use mode_core::sync::{
    Event, FlowControlEvent, FlowControlQueue, SendError, Signal, Stampede, SyncSignal,
    ThrowableQueue, TryGetError,
};

/// Thread-heavy tests use fewer items under miri, which is slow.
const ITEMS: usize = if cfg!(miri) { 20 } else { 5_000 };

/// A pipeline stage: producers are paused by the flow control, resumed, and every item
/// arrives exactly once and in order per producer.
#[test]
fn flow_controlled_pipeline_across_threads() {
    let flow = Arc::new(FlowControlEvent::new());
    let queue = FlowControlQueue::new(4, flow.clone());
    let producer = thread::spawn({
        let queue = queue.clone();
        move || {
            block_on(async {
                for i in 0..ITEMS {
                    queue.put(i).await.unwrap();
                }
            })
        }
    });
    let consumer = thread::spawn({
        let queue = queue.clone();
        move || {
            block_on(async {
                let mut received = Vec::new();
                while let Ok(item) = queue.get().await {
                    received.push(item);
                }
                received
            })
        }
    });
    // Nothing moves until the flow is resumed.
    thread::yield_now();
    assert!(queue.is_empty());
    flow.resume();
    for _ in 0..3 {
        flow.suspend();
        thread::yield_now();
        flow.resume();
    }
    producer.join().unwrap();
    queue.close();
    assert_eq!(consumer.join().unwrap(), (0..ITEMS).collect::<Vec<_>>());
}

/// A rebalance in Faust's style: the flow is suspended and resumed, the stale buffer must
/// go, and the producer blocked on the full queue then delivers its item.
#[test]
fn rebalance_clears_buffers_and_blocked_producers() {
    let flow = Arc::new(FlowControlEvent::new_resumed());
    let queue = FlowControlQueue::with_clear_on_resume(2, flow.clone());
    queue.try_put("old 1").unwrap();
    queue.try_put("old 2").unwrap();
    let generation = flow.generation();
    let blocked = thread::spawn({
        let queue = queue.clone();
        move || block_on(queue.put("old 3"))
    });
    while !queue.is_full() {
        thread::yield_now();
    }
    flow.suspend();
    // Give the producer time to block (the outcome is the same if it has not yet).
    thread::yield_now();
    flow.resume();
    assert_eq!(blocked.join().unwrap(), Ok(()));
    assert_eq!(queue.try_get(), Ok("old 3"));
    assert_ne!(flow.generation(), generation);
    assert!(queue.is_empty());
    queue.try_put("new").unwrap();
    assert_eq!(queue.try_get(), Ok("new"));
    assert_eq!(queue.try_get(), Err(TryGetError::Empty));
}

/// A crashed producer hands its error to the consumer through the queue. As in mode, the
/// error overtakes what is still buffered: the consumer learns of the crash first, and
/// the items come after it.
#[test]
fn throwable_queue_carries_a_producer_crash() {
    let flow = Arc::new(FlowControlEvent::new_resumed());
    let queue: ThrowableQueue<u32, String> = ThrowableQueue::new(2, flow);
    let producer = thread::spawn({
        let queue = queue.clone();
        move || {
            block_on(async {
                for i in 0..10 {
                    queue.put(i).await.unwrap();
                }
            });
            queue.throw("producer crashed".to_string());
        }
    });
    let (mut items, error) = block_on(async {
        let mut items = Vec::new();
        loop {
            match queue.get().await {
                Ok(item) => items.push(item),
                Err(error) => break (items, error),
            }
        }
    });
    producer.join().unwrap();
    assert_eq!(error, "producer crashed");
    // What was still buffered when the error was thrown comes after it.
    while let Ok(Ok(item)) = queue.try_get() {
        items.push(item);
    }
    assert_eq!(items, (0..10).collect::<Vec<_>>());
}

/// One `set` releases many tasks waiting in other threads.
#[test]
fn event_releases_every_thread() {
    let event = Arc::new(Event::new());
    let released = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let event = event.clone();
            let released = released.clone();
            thread::spawn(move || {
                block_on(event.wait());
                released.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    event.set();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(released.load(Ordering::SeqCst), 4);
}

/// A signal sent from several threads at once: every handler sees every send.
#[test]
fn signal_sent_concurrently() {
    let signal: Arc<Signal<usize, usize>> = Arc::new(Signal::new());
    let total = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let total = total.clone();
        signal.connect(move |sender, args| {
            total.fetch_add(sender * args, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
    }
    let threads: Vec<_> = (1..=4)
        .map(|sender| {
            let signal = signal.clone();
            thread::spawn(move || block_on(signal.send(&sender, &2)).unwrap())
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // 10 handlers × 2 × (1 + 2 + 3 + 4)
    assert_eq!(total.load(Ordering::SeqCst), 200);
}

/// The failure policy through the public API: all handlers run, failures are listed
/// with their labels, and the error message names them.
#[test]
fn signal_failure_report() {
    let signal: SyncSignal<&str, ()> = SyncSignal::new();
    let calls = Arc::new(Mutex::new(Vec::new()));
    for name in ["first", "second", "third"] {
        let calls = calls.clone();
        signal.connect_labeled(name, move |_, _| {
            calls.lock().unwrap().push(name);
            if name == "third" {
                Ok(())
            } else {
                Err(format!("{name} is broken").into())
            }
        });
    }
    let error = signal
        .with_default_sender("app")
        .send_default(&())
        .unwrap_err();
    assert_eq!(*calls.lock().unwrap(), ["first", "second", "third"]);
    let SendError::HandlersFailed(failures) = &error else {
        panic!("expected handler failures, got {error:?}");
    };
    let labels: Vec<_> = failures.iter().map(|f| f.label()).collect();
    assert_eq!(labels, [Some("first"), Some("second")]);
    assert_eq!(
        error.to_string(),
        "2 signal handlers failed: handler `first` (#1) failed: first is broken; \
         handler `second` (#2) failed: second is broken"
    );
}

/// Many threads hammering one stampede: every caller gets a result, the function never
/// runs twice at the same time, and nothing stays in flight.
#[test]
fn stampede_never_overlaps_calls() {
    let stampede = Arc::new(Stampede::new());
    let running = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let rounds = if cfg!(miri) { 5 } else { 200 };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (stampede, running, calls) = (stampede.clone(), running.clone(), calls.clone());
            thread::spawn(move || {
                for _ in 0..rounds {
                    let (running, calls) = (running.clone(), calls.clone());
                    block_on(stampede.call(move || async move {
                        assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "calls overlap");
                        futures_lite::future::yield_now().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        calls.fetch_add(1, Ordering::SeqCst)
                    }));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(calls.load(Ordering::SeqCst) <= 4 * rounds);
    assert!(!stampede.is_in_flight());
}

/// The changelog bug: callers started in the same iteration ran the function four times.
#[test]
fn stampede_same_iteration_calls_once() {
    let stampede = Stampede::new();
    let calls = AtomicUsize::new(0);
    let call = || {
        calls.fetch_add(1, Ordering::SeqCst);
        async {
            futures_lite::future::yield_now().await;
            "fresh"
        }
    };
    let results = block_on(zip(
        zip(stampede.call(call), stampede.call(call)),
        zip(stampede.call(call), stampede.call(call)),
    ));
    assert_eq!(results, (("fresh", "fresh"), ("fresh", "fresh")));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The flag was cleared: the next call runs the function again.
    assert_eq!(block_on(stampede.call(call)), "fresh");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
