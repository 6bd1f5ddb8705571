//! W3: N `u64`s through a bounded queue of capacity C, one producer task and one consumer
//! task on the backend's executor. Measured: items per second, from the first put to the
//! last get.
//!
//! mode's `FlowControlQueue` (flow resumed) against `tokio::sync::mpsc` and
//! `async-channel`, both on each backend; the target compares with the backend's own
//! channel (tokio: mpsc, smol: async-channel).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_lite::future::zip;
use mode_core::sync::{FlowControlEvent, FlowControlQueue};

use crate::backend::{Backend, Smol, Tokio};
use crate::report::{paired_ratio, Json, Samples};

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) items: u64,
    pub(crate) capacity: usize,
    pub(crate) reps: usize,
}

/// A producer or consumer, boxed so that one `match` can build either kind.
type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Which queue a repetition runs.
#[derive(Debug, Clone, Copy)]
enum Queue {
    Mode,
    TokioMpsc,
    AsyncChannel,
}

/// Runs producer and consumer; returns millions of items per second.
#[inline(never)] // A symbol of its own, for profilers.
fn rep<B: Backend>(backend: &B, queue: Queue, config: Config) -> f64 {
    let n = config.items;
    let expected = n * (n - 1) / 2;
    let (producer, consumer): (Task<()>, Task<u64>) = match queue {
        Queue::Mode => {
            let flow = Arc::new(FlowControlEvent::new_resumed());
            let tx = FlowControlQueue::new(config.capacity, flow);
            let rx = tx.clone();
            (
                Box::pin(async move {
                    for i in 0..n {
                        tx.put(i).await.expect("the queue is open");
                    }
                }),
                Box::pin(async move {
                    let mut sum = 0;
                    for _ in 0..n {
                        sum += rx.get().await.expect("the queue is open");
                    }
                    sum
                }),
            )
        }
        Queue::TokioMpsc => {
            let (tx, mut rx) = tokio::sync::mpsc::channel(config.capacity);
            (
                Box::pin(async move {
                    for i in 0..n {
                        tx.send(i).await.expect("the receiver is alive");
                    }
                }),
                Box::pin(async move {
                    let mut sum = 0;
                    for _ in 0..n {
                        sum += rx.recv().await.expect("the sender is alive");
                    }
                    sum
                }),
            )
        }
        Queue::AsyncChannel => {
            let (tx, rx) = async_channel::bounded(config.capacity);
            (
                Box::pin(async move {
                    for i in 0..n {
                        tx.send(i).await.expect("the receiver is alive");
                    }
                }),
                Box::pin(async move {
                    let mut sum = 0;
                    for _ in 0..n {
                        sum += rx.recv().await.expect("the sender is alive");
                    }
                    sum
                }),
            )
        }
    };
    backend.block_on(async {
        let start = Instant::now();
        let ((), sum) = zip(backend.spawn_join(producer), backend.spawn_join(consumer)).await;
        let elapsed = start.elapsed();
        assert_eq!(sum, expected, "every item arrives once");
        n as f64 / elapsed.as_secs_f64() / 1e6
    })
}

fn run_backend<B: Backend>(backend: &B, config: Config, native: Queue) -> Json {
    let (mut m, mut t, mut a) = (Samples::default(), Samples::default(), Samples::default());
    for queue in [Queue::Mode, Queue::TokioMpsc, Queue::AsyncChannel] {
        rep(backend, queue, config);
    }
    for _ in 0..config.reps {
        t.push(rep(backend, Queue::TokioMpsc, config));
        m.push(rep(backend, Queue::Mode, config));
        a.push(rep(backend, Queue::AsyncChannel, config));
    }
    let floor = match native {
        Queue::AsyncChannel => &a,
        _ => &t,
    };
    let ratio = m.median() / floor.median();
    Json::obj()
        .with("workload", "W3")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("items", config.items)
        .with("capacity", config.capacity)
        .with("mode_mitems_per_s", m.json())
        .with("tokio_mpsc_mitems_per_s", t.json())
        .with("async_channel_mitems_per_s", a.json())
        .with(
            "floor",
            match native {
                Queue::AsyncChannel => "async-channel",
                _ => "tokio mpsc",
            },
        )
        .with("ratio", ratio)
        .with("ratio_paired", paired_ratio(&m, floor))
        .with("target_ratio_ge_0_8", ratio >= 0.8)
}

/// W3 on tokio (floor: tokio mpsc).
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(&Tokio::new(), config, Queue::TokioMpsc)
}

/// W3 on smol (floor: async-channel).
pub(crate) fn smol(config: Config) -> Json {
    run_backend(&Smol::new(), config, Queue::AsyncChannel)
}
