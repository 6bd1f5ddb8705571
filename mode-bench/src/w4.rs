//! W4: one send reaching R async receivers, S sends. Measured: the latency of each send,
//! from the send until every receiver has handled it; per repetition its median.
//!
//! mode's `Signal` with R connected async handlers (a send awaits each handler in turn;
//! each handler's future borrows the send's arguments, so it is a real allocation) against
//! the hand-written floor: R tasks waiting on an `event-listener` `Event`, one
//! `notify(R)` per send, the last receiver to handle it notifying the sender back.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use event_listener::{listener, Event};
use mode_core::sync::Signal;

use crate::backend::{Backend, Smol, Tokio};
use crate::report::{paired_ratio, Json, Samples};

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) receivers: usize,
    pub(crate) sends: usize,
    pub(crate) reps: usize,
}

/// The median of one repetition's per-send latencies, in µs.
pub(crate) fn median_us(latencies: Vec<f64>) -> f64 {
    let mut samples = Samples::default();
    latencies.into_iter().for_each(|l| samples.push(l));
    samples.median()
}

#[inline(never)] // A symbol of its own, for profilers.
fn mode_rep<B: Backend>(backend: &B, config: Config) -> f64 {
    let signal: Signal<(), AtomicUsize> = Signal::new();
    for _ in 0..config.receivers {
        signal.connect(|_, handled: &AtomicUsize| {
            Box::pin(async move {
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        });
    }
    let sender = async move {
        let handled = AtomicUsize::new(0);
        let mut latencies = Vec::with_capacity(config.sends);
        for _ in 0..config.sends {
            let start = Instant::now();
            signal.send(&(), &handled).await.expect("no handler fails");
            latencies.push(start.elapsed().as_secs_f64() * 1e6);
        }
        assert_eq!(
            handled.load(Ordering::Relaxed),
            config.receivers * config.sends
        );
        latencies
    };
    let latencies = backend.block_on(async { backend.spawn_join(sender).await });
    median_us(latencies)
}

/// The floor's shared state.
#[derive(Default)]
struct Fanout {
    /// Bumped by each send.
    generation: AtomicU64,
    go: Event,
    /// Receivers that handled the current send.
    acks: AtomicUsize,
    done: Event,
    stop: std::sync::atomic::AtomicBool,
}

/// The floor's per-send medians: until every receiver handled it, and of the `notify`
/// call alone (µs).
#[inline(never)] // A symbol of its own, for profilers.
fn floor_rep<B: Backend>(backend: &B, config: Config) -> (f64, f64) {
    backend.block_on(async {
        let fanout = Arc::new(Fanout::default());
        let receivers: Vec<_> = (0..config.receivers)
            .map(|_| {
                let fanout = Arc::clone(&fanout);
                let receivers = config.receivers;
                backend.spawn_join(async move {
                    let mut seen = 0;
                    loop {
                        let current = fanout.generation.load(Ordering::Acquire);
                        if current != seen {
                            seen = current;
                            if fanout.stop.load(Ordering::Acquire) {
                                return;
                            }
                            if fanout.acks.fetch_add(1, Ordering::AcqRel) + 1 == receivers {
                                fanout.done.notify(1);
                            }
                            continue;
                        }
                        listener!(fanout.go => listener);
                        if fanout.generation.load(Ordering::Acquire) != seen {
                            continue;
                        }
                        listener.await;
                    }
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(config.sends);
        let mut notifies = Vec::with_capacity(config.sends);
        for _ in 0..config.sends {
            let start = Instant::now();
            fanout.acks.store(0, Ordering::Release);
            fanout.generation.fetch_add(1, Ordering::AcqRel);
            fanout.go.notify(usize::MAX);
            notifies.push(start.elapsed().as_secs_f64() * 1e6);
            loop {
                if fanout.acks.load(Ordering::Acquire) == config.receivers {
                    break;
                }
                listener!(fanout.done => listener);
                if fanout.acks.load(Ordering::Acquire) == config.receivers {
                    break;
                }
                listener.await;
            }
            latencies.push(start.elapsed().as_secs_f64() * 1e6);
        }
        fanout.stop.store(true, Ordering::Release);
        fanout.generation.fetch_add(1, Ordering::AcqRel);
        fanout.go.notify(usize::MAX);
        for receiver in receivers {
            receiver.await;
        }
        (median_us(latencies), median_us(notifies))
    })
}

fn run_backend<B: Backend>(backend: &B, config: Config) -> Json {
    let (mut m, mut f, mut n) = (Samples::default(), Samples::default(), Samples::default());
    mode_rep(backend, config);
    floor_rep(backend, config);
    for _ in 0..config.reps {
        let (handled, notify) = floor_rep(backend, config);
        f.push(handled);
        n.push(notify);
        m.push(mode_rep(backend, config));
    }
    let ratio = m.median() / f.median();
    Json::obj()
        .with("workload", "W4")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("receivers", config.receivers)
        .with("sends", config.sends)
        .with("mode_send_us", m.json())
        .with("floor_send_us", f.json())
        .with("floor_notify_only_us", n.json())
        .with("ratio", ratio)
        .with("ratio_paired", paired_ratio(&m, &f))
        .with("ratio_to_notify_only", m.median() / n.median())
        .with("target_ratio_le_1_5", ratio <= 1.5)
}

/// W4 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(&Tokio::new(), config)
}

/// W4 on smol.
pub(crate) fn smol(config: Config) -> Json {
    run_backend(&Smol::new(), config)
}
