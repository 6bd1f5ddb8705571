//! W6: N started services, each with a background task parked until stop, idle for a
//! window. Measured over the window: process CPU time and voluntary/involuntary context
//! switches (`getrusage`).
//!
//! The measuring task sleeps through the window on the backend's timer, so both mode and
//! the floor pay for that one wake-up; anything above the floor is mode waking up.
//!
//! Floor: N tasks parked on a `CancellationToken` (tokio) or an `event-listener` `Event`
//! (smol).

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::zip;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, Polled, Smol, StopFlag, Tokio};
use crate::report::{Json, Samples};
use crate::rusage::Usage;
use crate::w1::Root;

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) services: usize,
    pub(crate) window: Duration,
    pub(crate) reps: usize,
}

#[derive(Debug, Default)]
struct Series {
    cpu_ms: Samples,
    voluntary: Samples,
    involuntary: Samples,
}

impl Series {
    fn json(&self) -> Json {
        Json::obj()
            .with("cpu_ms", self.cpu_ms.json())
            .with("voluntary_cs", self.voluntary.json())
            .with("involuntary_cs", self.involuntary.json())
    }
}

/// Sleeps through the window and records what the process used meanwhile.
async fn idle<B: Backend>(backend: &B, window: Duration, series: &mut Series) {
    let before = Usage::now();
    backend.sleep(window).await;
    let used = Usage::now().since(before);
    series.cpu_ms.push(used.cpu.as_secs_f64() * 1e3);
    series.voluntary.push(used.voluntary as f64);
    series.involuntary.push(used.involuntary as f64);
}

#[inline(never)] // A symbol of its own, for profilers.
fn mode_rep<B: Backend>(backend: &B, config: Config, series: &mut Series) {
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let tree = backend.tree(Root::flat(config.services, Arc::clone(&polled)));
        let root = tree.handle();
        let (exit, ()) = zip(tree.run(), async {
            root.wait_until_running().await.expect("the tree starts");
            polled.wait_for(backend, config.services).await;
            idle(backend, config.window, series).await;
            root.stop().await;
        })
        .await;
        assert!(!exit.is_failure(), "the tree stopped with {exit}");
    });
}

#[inline(never)] // A symbol of its own, for profilers.
fn tokio_floor(backend: &Tokio, config: Config, series: &mut Series) {
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        for _ in 0..config.services {
            let token = token.clone();
            let polled = Arc::clone(&polled);
            tracker.spawn(async move {
                polled.mark();
                token.cancelled().await;
            });
        }
        polled.wait_for(backend, config.services).await;
        idle(backend, config.window, series).await;
        token.cancel();
        tracker.close();
        tracker.wait().await;
    });
}

#[inline(never)] // A symbol of its own, for profilers.
fn smol_floor(backend: &Smol, config: Config, series: &mut Series) {
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let flag = Arc::new(StopFlag::default());
        let tasks: Vec<_> = (0..config.services)
            .map(|_| {
                let stop = Arc::clone(&flag);
                let polled = Arc::clone(&polled);
                backend.spawn(async move {
                    polled.mark();
                    stop.wait().await;
                })
            })
            .collect();
        polled.wait_for(backend, config.services).await;
        idle(backend, config.window, series).await;
        flag.stop();
        for task in tasks {
            task.await;
        }
    });
}

fn run_backend<B: Backend>(
    backend: &B,
    config: Config,
    floor: impl Fn(&B, Config, &mut Series),
) -> Json {
    let (mut m, mut f) = (Series::default(), Series::default());
    for _ in 0..config.reps {
        floor(backend, config, &mut f);
        mode_rep(backend, config, &mut m);
    }
    let cpu = m.cpu_ms.median();
    Json::obj()
        .with("workload", "W6")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("services", config.services)
        .with("window_ms", config.window.as_secs_f64() * 1e3)
        .with("mode", m.json())
        .with("floor", f.json())
        .with("cpu_excess_ms", cpu - f.cpu_ms.median())
        .with("target_cpu_le_0_5ms", cpu <= 0.5)
        .with(
            "target_no_extra_wakeups",
            m.voluntary.median() <= f.voluntary.median(),
        )
}

/// W6 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(&Tokio::new(), config, tokio_floor)
}

/// W6 on smol.
pub(crate) fn smol(config: Config) -> Json {
    run_backend(&Smol::new(), config, smol_floor)
}
