//! W10: the round trip of a closure run on a service's own thread and its result awaited;
//! measured: the mean time per call over C sequential calls, per repetition.
//!
//! mode: a [`ServiceThread`] at the root of the tree (its own
//! thread running `TokioThreadRuntime` or `SmolThreadRuntime`), called with
//! [`call_thread`](mode_worker::ThreadHandle::call_thread) from the test's driver.
//!
//! Floors, in the same run, paired repetition by repetition:
//! - **channel**: a plain dedicated thread that blocks on an `async-channel` of boxed
//!   closures and answers each through a `oneshot`, what one writes by hand;
//! - **pool**: the executor's blocking pool: tokio's `spawn_blocking`, smol's `unblock`.
//!
//! The closure is the same everywhere (a few arithmetic operations), so what is measured
//! is the hand-off: queueing, waking the thread, the reply, waking the caller.

use std::hint::black_box;
use std::time::Instant;

use futures_lite::future::zip;
use mode_core::Service;
use mode_worker::{ServiceThread, ThreadRuntime};

use crate::backend::{Backend, Smol, Tokio};
use crate::report::{paired_ratio, Json, Samples};

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) calls: usize,
    pub(crate) reps: usize,
}

/// Calls made before each measured run, on every path.
const WARM_UP: usize = 100;

/// The closure of every call.
fn work(i: usize) -> usize {
    black_box(i).wrapping_mul(31).rotate_left(7)
}

/// The service on the thread: nothing but its queue.
struct Idle;

impl Service for Idle {}

#[inline(never)] // A symbol of its own, for profilers.
fn mode_rep<B: Backend, R: ThreadRuntime>(backend: &B, config: Config) -> f64 {
    backend.block_on(async {
        let service = ServiceThread::<Idle, R>::new(Idle).with_thread_name("w10-mode");
        let handle = service.handle();
        let tree = backend.tree(service);
        let root = tree.handle();
        let (exit, us) = zip(tree.run(), async {
            root.wait_until_running()
                .await
                .expect("the thread service starts");
            for i in 0..WARM_UP {
                black_box(handle.call_thread(move || work(i)).await.expect("a call"));
            }
            let start = Instant::now();
            for i in 0..config.calls {
                black_box(handle.call_thread(move || work(i)).await.expect("a call"));
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / config.calls as f64;
            root.stop().await;
            us
        })
        .await;
        assert!(exit.is_clean(), "the tree stopped with {exit}");
        us
    })
}

type Job = Box<dyn FnOnce() + Send>;

#[inline(never)] // A symbol of its own, for profilers.
fn channel_rep<B: Backend>(backend: &B, config: Config) -> f64 {
    let (jobs, queue) = async_channel::bounded::<Job>(1_024);
    let thread = std::thread::Builder::new()
        .name("w10-floor".into())
        .spawn(move || {
            while let Ok(job) = queue.recv_blocking() {
                job();
            }
        })
        .expect("a thread");
    let call = |i: usize| {
        let jobs = jobs.clone();
        async move {
            let (reply, result) = oneshot::channel();
            let job: Job = Box::new(move || {
                let _ = reply.send(work(i));
            });
            jobs.send(job).await.expect("the thread runs");
            result.await.expect("a reply")
        }
    };
    let us = backend.block_on(async {
        for i in 0..WARM_UP {
            black_box(call(i).await);
        }
        let start = Instant::now();
        for i in 0..config.calls {
            black_box(call(i).await);
        }
        start.elapsed().as_secs_f64() * 1e6 / config.calls as f64
    });
    drop(jobs);
    thread.join().expect("the floor's thread");
    us
}

#[inline(never)] // A symbol of its own, for profilers.
fn tokio_pool_rep(backend: &Tokio, config: Config) -> f64 {
    backend.block_on(async {
        for i in 0..WARM_UP {
            black_box(
                tokio::task::spawn_blocking(move || work(i))
                    .await
                    .expect("a call"),
            );
        }
        let start = Instant::now();
        for i in 0..config.calls {
            black_box(
                tokio::task::spawn_blocking(move || work(i))
                    .await
                    .expect("a call"),
            );
        }
        start.elapsed().as_secs_f64() * 1e6 / config.calls as f64
    })
}

#[inline(never)] // A symbol of its own, for profilers.
fn smol_pool_rep(backend: &Smol, config: Config) -> f64 {
    backend.block_on(async {
        for i in 0..WARM_UP {
            black_box(smol::unblock(move || work(i)).await);
        }
        let start = Instant::now();
        for i in 0..config.calls {
            black_box(smol::unblock(move || work(i)).await);
        }
        start.elapsed().as_secs_f64() * 1e6 / config.calls as f64
    })
}

fn run_backend<B: Backend, R: ThreadRuntime>(
    backend: &B,
    config: Config,
    pool: impl Fn(&B, Config) -> f64,
    pool_name: &str,
) -> Json {
    let (mut m, mut c, mut p) = (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..config.reps {
        c.push(channel_rep(backend, config));
        p.push(pool(backend, config));
        m.push(mode_rep::<B, R>(backend, config));
    }
    let ratio = m.median() / c.median();
    Json::obj()
        .with("workload", "W10")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("calls", config.calls)
        .with("mode_us", m.json())
        .with("channel_us", c.json())
        .with("pool", pool_name)
        .with("pool_us", p.json())
        .with("ratio", ratio)
        .with("ratio_paired", paired_ratio(&m, &c))
        .with("ratio_to_pool", m.median() / p.median())
        .with("target_ratio_le_1_5", ratio <= 1.5)
}

/// W10 on tokio: `TokioThreadRuntime` on the service's thread, `spawn_blocking` as the pool.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend::<_, mode_tokio::TokioThreadRuntime>(
        &Tokio::new(),
        config,
        tokio_pool_rep,
        "spawn_blocking",
    )
}

/// W10 on smol: `SmolThreadRuntime` on the service's thread, `unblock` as the pool.
pub(crate) fn smol(config: Config) -> Json {
    run_backend::<_, mode_smol::SmolThreadRuntime>(&Smol::new(), config, smol_pool_rep, "unblock")
}
