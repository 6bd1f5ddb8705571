//! W2: N periodic timers at a fixed interval for a wall-clock window.
//!
//! Measured per timer, from its first tick to its last (the timers run on for a few
//! intervals after the window, so a tick due just before the end is not mistaken for lost):
//! - ticks lost: schedule slots (`first + k·interval`) up to the last tick that got no
//!   tick, i.e. ticks skipped because they came too late;
//! - drift of the last tick: `last − (first + (count − 1)·interval)`, the cumulative drift
//!   if every tick is counted as a step of the schedule (a lost tick adds a whole
//!   interval); the largest absolute value over the timers;
//! - process CPU time (`getrusage`) over the window, which begins once the tree runs (so it
//!   includes every timer's first tick).
//!
//! Floors: one task per timer running a `tokio::time::interval` loop or an
//! `async_io::Timer::interval` stream, each racing a stop signal.
//!
//! Two missed-tick policies, because on a loaded machine the process is regularly kept off
//! the CPU for longer than an interval, and what happens then is the policy's choice: with
//! **skip** (mode's default; tokio's `Skip`) such ticks are dropped, with **burst**
//! (`async-io`'s only behaviour; tokio's default) they fire late, back to back. Lost ticks
//! and drift are judged with burst on both sides (they then measure the timer, not the
//! machine); CPU time with each backend's own default pair (tokio: skip against skip; smol:
//! mode's skip against async-io's burst).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::{or, zip};
use futures_lite::StreamExt;
use mode_core::{BoxResult, Context, MissedTickBehavior, Service};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, Smol, StopFlag, Tokio};
use crate::report::{paired_ratio, Json, Samples};
use crate::rusage::Usage;

/// How many intervals the timers run on after the window before they are evaluated.
const SETTLE_INTERVALS: u32 = 3;

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) timers: usize,
    pub(crate) interval: Duration,
    pub(crate) window: Duration,
    pub(crate) reps: usize,
}

/// Per-timer tick records, written by the ticks, read at the end of the window.
struct Ticks {
    epoch: Instant,
    timers: Vec<TickRecord>,
}

#[derive(Default)]
struct TickRecord {
    count: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    max_gap_ns: AtomicU64,
}

impl Ticks {
    fn new(timers: usize) -> Arc<Self> {
        Arc::new(Ticks {
            epoch: Instant::now(),
            timers: (0..timers).map(|_| TickRecord::default()).collect(),
        })
    }

    fn tick(&self, timer: usize) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let record = &self.timers[timer];
        if record.count.fetch_add(1, Ordering::Relaxed) == 0 {
            record.first_ns.store(now, Ordering::Relaxed);
        } else {
            let gap = now.saturating_sub(record.last_ns.load(Ordering::Relaxed));
            record.max_gap_ns.fetch_max(gap, Ordering::Relaxed);
        }
        record.last_ns.store(now, Ordering::Relaxed);
    }

    /// Lost ticks (total), the largest absolute drift of a last tick and the largest gap
    /// between two ticks of a timer, in ms.
    fn evaluate(&self, interval: Duration) -> (u64, f64, f64) {
        let interval_ns = interval.as_nanos() as f64;
        let mut lost = 0;
        let mut drift_max = 0.0_f64;
        let mut gap_max = 0;
        for record in &self.timers {
            gap_max = gap_max.max(record.max_gap_ns.load(Ordering::Relaxed));
            let count = record.count.load(Ordering::Relaxed);
            let first = record.first_ns.load(Ordering::Relaxed) as f64;
            let last = record.last_ns.load(Ordering::Relaxed) as f64;
            if count == 0 {
                // Cannot happen within a window of at least one interval; counted as lost.
                lost += 1;
                continue;
            }
            let slots = ((last - first) / interval_ns).round() as u64 + 1;
            lost += slots.saturating_sub(count);
            let drift = last - (first + (count - 1) as f64 * interval_ns);
            drift_max = drift_max.max(drift.abs() / 1e6);
        }
        (lost, drift_max, gap_max as f64 / 1e6)
    }
}

/// One window of one implementation.
#[derive(Debug, Clone, Copy)]
struct Rep {
    lost: u64,
    drift_ms: f64,
    gap_ms: f64,
    cpu_ms: f64,
}

#[derive(Debug, Default)]
struct Series {
    lost: Samples,
    drift: Samples,
    gap: Samples,
    cpu: Samples,
}

impl Series {
    fn push(&mut self, rep: Rep) {
        self.lost.push(rep.lost as f64);
        self.drift.push(rep.drift_ms);
        self.gap.push(rep.gap_ms);
        self.cpu.push(rep.cpu_ms);
    }

    fn json(&self) -> Json {
        Json::obj()
            .with("ticks_lost", self.lost.json())
            .with("drift_ms", self.drift.json())
            .with("max_gap_ms", self.gap.json())
            .with("cpu_ms", self.cpu.json())
    }
}

/// Measures the window: CPU from when the timers exist until `window` later.
async fn window<B: Backend>(backend: &B, ticks: &Ticks, config: Config) -> Rep {
    let before = Usage::now();
    backend.sleep(config.window).await;
    let cpu = Usage::now().since(before).cpu;
    backend.sleep(config.interval * SETTLE_INTERVALS).await;
    let (lost, drift_ms, gap_ms) = ticks.evaluate(config.interval);
    Rep {
        lost,
        drift_ms,
        gap_ms,
        cpu_ms: cpu.as_secs_f64() * 1e3,
    }
}

// ===== mode =====

/// A service owning all the timers.
struct Timers {
    interval: Duration,
    behavior: MissedTickBehavior,
    ticks: Arc<Ticks>,
}

impl Service for Timers {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        for timer in 0..self.ticks.timers.len() {
            let ticks = Arc::clone(&self.ticks);
            cx.timer_with(self.interval, self.behavior, move |_| {
                ticks.tick(timer);
                async { Ok(()) }
            })?;
        }
        Ok(())
    }
}

#[inline(never)] // A symbol of its own, for profilers.
fn mode_rep<B: Backend>(backend: &B, config: Config, behavior: MissedTickBehavior) -> Rep {
    backend.block_on(async {
        let ticks = Ticks::new(config.timers);
        let tree = backend.tree(Timers {
            interval: config.interval,
            behavior,
            ticks: Arc::clone(&ticks),
        });
        let root = tree.handle();
        let (exit, rep) = zip(tree.run(), async {
            root.wait_until_running().await.expect("the tree starts");
            let rep = window(backend, &ticks, config).await;
            root.stop().await;
            rep
        })
        .await;
        assert!(!exit.is_failure(), "the tree stopped with {exit}");
        rep
    })
}

// ===== floors =====

#[inline(never)] // A symbol of its own, for profilers.
fn tokio_floor(backend: &Tokio, config: Config, skip: bool) -> Rep {
    backend.block_on(async {
        let ticks = Ticks::new(config.timers);
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        for timer in 0..config.timers {
            let ticks = Arc::clone(&ticks);
            let token = token.clone();
            tracker.spawn(async move {
                let mut interval = tokio::time::interval(config.interval);
                if skip {
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                }
                interval.tick().await; // The first tick completes at once.
                let cancelled = token.cancelled();
                tokio::pin!(cancelled);
                loop {
                    tokio::select! {
                        biased;
                        () = &mut cancelled => break,
                        _ = interval.tick() => ticks.tick(timer),
                    }
                }
            });
        }
        let rep = window(backend, &ticks, config).await;
        token.cancel();
        tracker.close();
        tracker.wait().await;
        rep
    })
}

#[inline(never)] // A symbol of its own, for profilers.
fn smol_floor(backend: &Smol, config: Config) -> Rep {
    backend.block_on(async {
        let ticks = Ticks::new(config.timers);
        let flag = Arc::new(StopFlag::default());
        let tasks: Vec<_> = (0..config.timers)
            .map(|timer| {
                let ticks = Arc::clone(&ticks);
                let stop = Arc::clone(&flag);
                backend.spawn(async move {
                    let mut interval = async_io::Timer::interval(config.interval);
                    loop {
                        let ticked = or(async { interval.next().await.is_some() }, async {
                            stop.wait().await;
                            false
                        })
                        .await;
                        if !ticked {
                            break;
                        }
                        ticks.tick(timer);
                    }
                })
            })
            .collect();
        let rep = window(backend, &ticks, config).await;
        flag.stop();
        for task in tasks {
            task.await;
        }
        rep
    })
}

// ===== driver =====

/// One repetition of a floor.
type Floor<'a, B> = &'a dyn Fn(&B, Config) -> Rep;

/// The floors of one backend: with skip (if it has it) and with burst.
struct Floors<'a, B> {
    skip: Option<Floor<'a, B>>,
    burst: Floor<'a, B>,
}

fn run_backend<B: Backend>(backend: &B, config: Config, floors: Floors<'_, B>) -> Json {
    let mut mode_skip = Series::default();
    let mut mode_burst = Series::default();
    let mut floor_skip = Series::default();
    let mut floor_burst = Series::default();
    for _ in 0..config.reps {
        if let Some(floor) = floors.skip {
            floor_skip.push(floor(backend, config));
        }
        mode_skip.push(mode_rep(backend, config, MissedTickBehavior::Skip));
        floor_burst.push((floors.burst)(backend, config));
        mode_burst.push(mode_rep(backend, config, MissedTickBehavior::Burst));
    }
    let expected =
        config.timers as u64 * (config.window.as_nanos() / config.interval.as_nanos()) as u64;
    // CPU: each backend's default policies against each other.
    let cpu_floor = if floors.skip.is_some() {
        &floor_skip
    } else {
        &floor_burst
    };
    let cpu_ratio = mode_skip.cpu.median() / cpu_floor.cpu.median();
    let mut line = Json::obj()
        .with("workload", "W2")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("timers", config.timers)
        .with("interval_ms", config.interval.as_secs_f64() * 1e3)
        .with("window_ms", config.window.as_secs_f64() * 1e3)
        .with("ticks_expected", expected)
        .with("mode_skip", mode_skip.json())
        .with("mode_burst", mode_burst.json());
    if floors.skip.is_some() {
        line = line.with("floor_skip", floor_skip.json());
    }
    line.with("floor_burst", floor_burst.json())
        .with(
            "cpu_floor",
            if floors.skip.is_some() {
                "skip"
            } else {
                "burst"
            },
        )
        .with("cpu_ratio", cpu_ratio)
        .with(
            "cpu_ratio_paired",
            paired_ratio(&mode_skip.cpu, &cpu_floor.cpu),
        )
        .with(
            "cpu_ratio_burst",
            mode_burst.cpu.median() / floor_burst.cpu.median(),
        )
        .with("target_no_tick_lost", mode_burst.lost.median() == 0.0)
        .with("target_drift_lt_2ms", mode_burst.drift.median() < 2.0)
        .with("target_cpu_le_1_2", cpu_ratio <= 1.2)
}

/// W2 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(
        &Tokio::new(),
        config,
        Floors {
            skip: Some(&|b, c| tokio_floor(b, c, true)),
            burst: &|b, c| tokio_floor(b, c, false),
        },
    )
}

/// W2 on smol (async-io's interval only bursts).
pub(crate) fn smol(config: Config) -> Json {
    run_backend(
        &Smol::new(),
        config,
        Floors {
            skip: None,
            burst: &smol_floor,
        },
    )
}
