//! W1: start then stop a tree (flat N children; nested G × P), every service owning one
//! background task that waits for stop.
//!
//! Phases, per service (the same for mode and the floors):
//! - `start`: from `Tree::new` (the floor: its first spawn) until every service reports
//!   started and every task has been polled once (is parked);
//! - `stop`: from the stop request until every service stopped and every task is gone
//!   (`Tree::run` returned; the floor: the last join);
//! - `heap`: live heap bytes per service while idle (after `start`), counted by the global
//!   allocator, including the runtime's share (task cells, queues).
//!
//! Floors: **ordered** (mode's discipline: each child spawned in turn; stopped one at a
//! time in reverse order, its task joined before the next) and **concurrent** (one stop for
//! all, then wait for all), on the same runtime, in the same process, interleaved with mode
//! repetition by repetition.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::zip;
use mode_core::{BoxResult, Context, Dependencies, Service};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alloc::Snapshot;
use crate::backend::{Backend, Polled, Smol, StopFlag, Tokio};
use crate::report::{paired_ratio, Json, Samples};
use crate::rusage::thread_cpu;

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) flat: usize,
    pub(crate) groups: usize,
    pub(crate) per_group: usize,
    pub(crate) reps: usize,
}

/// The shape of the tree.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Flat(usize),
    Nested(usize, usize),
}

impl Shape {
    /// Services that own a task (the root of the mode tree owns none and is not counted).
    fn units(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Nested(g, p) => g + g * p,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Flat(_) => "flat",
            Shape::Nested(..) => "nested",
        }
    }
}

/// A point in time: wall clock and the thread's CPU time.
#[derive(Debug, Clone, Copy)]
struct Mark {
    wall: Instant,
    cpu: Duration,
}

impl Mark {
    fn now() -> Self {
        Mark {
            wall: Instant::now(),
            cpu: thread_cpu(),
        }
    }
}

/// One repetition of one implementation, per service.
#[derive(Debug, Clone, Copy)]
struct Rep {
    start_ns: f64,
    stop_ns: f64,
    /// Start plus stop in CPU time of the (only) thread.
    cpu_ns: f64,
    heap_bytes: f64,
    allocs: f64,
    /// Live bytes left after everything stopped (should be ~0: nothing leaked).
    residue_bytes: isize,
}

#[derive(Debug, Default)]
struct Series {
    start: Samples,
    stop: Samples,
    total: Samples,
    cpu: Samples,
    heap: Samples,
    allocs: Samples,
    residue: Samples,
}

impl Series {
    fn push(&mut self, rep: Rep) {
        self.start.push(rep.start_ns);
        self.stop.push(rep.stop_ns);
        self.total.push(rep.start_ns + rep.stop_ns);
        self.cpu.push(rep.cpu_ns);
        self.heap.push(rep.heap_bytes);
        self.allocs.push(rep.allocs);
        self.residue.push(rep.residue_bytes as f64);
    }

    fn json(&self) -> Json {
        Json::obj()
            .with("start_ns", self.start.json())
            .with("stop_ns", self.stop.json())
            .with("start_stop_ns", self.total.json())
            .with("start_stop_cpu_ns", self.cpu.json())
            .with("heap_bytes", self.heap.median())
            .with("allocs", self.allocs.median())
            .with("residue_bytes", self.residue.max())
    }
}

// ===== mode's services =====

/// A leaf: one background task that parks until the service stops.
struct Leaf {
    polled: Arc<Polled>,
}

impl Service for Leaf {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let polled = Arc::clone(&self.polled);
        cx.spawn(async move {
            polled.mark();
            std::future::pending::<BoxResult>().await
        })?;
        Ok(())
    }
}

/// A group of the nested tree: its own task, and `per` leaves.
struct Group {
    per: usize,
    polled: Arc<Polled>,
}

impl Service for Group {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for _ in 0..self.per {
            deps.add(Leaf {
                polled: Arc::clone(&self.polled),
            });
        }
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let polled = Arc::clone(&self.polled);
        cx.spawn(async move {
            polled.mark();
            std::future::pending::<BoxResult>().await
        })?;
        Ok(())
    }
}

/// The root: no task of its own, the children of the shape.
pub(crate) struct Root {
    shape: Shape,
    polled: Arc<Polled>,
}

impl Root {
    /// A root with `n` leaf children, each marking `polled` when its task first runs.
    pub(crate) fn flat(n: usize, polled: Arc<Polled>) -> Self {
        Root {
            shape: Shape::Flat(n),
            polled,
        }
    }
}

impl Service for Root {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        match self.shape {
            Shape::Flat(n) => {
                for _ in 0..n {
                    deps.add(Leaf {
                        polled: Arc::clone(&self.polled),
                    });
                }
            }
            Shape::Nested(groups, per) => {
                for _ in 0..groups {
                    deps.add(Group {
                        per,
                        polled: Arc::clone(&self.polled),
                    });
                }
            }
        }
    }
}

#[inline(never)] // A symbol of its own, for profilers.
fn mode_rep<B: Backend>(backend: &B, shape: Shape) -> Rep {
    let units = shape.units();
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let base = Snapshot::now();
        let t0 = Mark::now();
        let tree = backend.tree(Root {
            shape,
            polled: Arc::clone(&polled),
        });
        let root = tree.handle();
        let (exit, (t1, idle, t2)) = zip(tree.run(), async {
            root.wait_until_running().await.expect("the tree starts");
            polled.wait_for(backend, units).await;
            let t1 = Mark::now();
            let idle = Snapshot::now();
            let t2 = Mark::now();
            root.stop().await;
            (t1, idle, t2)
        })
        .await;
        let t3 = Mark::now();
        // A handle keeps its service's node (and so the whole subtree's nodes) alive.
        drop(root);
        assert!(!exit.is_failure(), "the tree stopped with {exit}");
        finish(base, t0, t1, idle, t2, t3, units)
    })
}

fn finish(
    base: Snapshot,
    t0: Mark,
    t1: Mark,
    idle: Snapshot,
    t2: Mark,
    t3: Mark,
    units: usize,
) -> Rep {
    let per = |d: Duration| d.as_nanos() as f64 / units as f64;
    Rep {
        start_ns: per(t1.wall - t0.wall),
        stop_ns: per(t3.wall - t2.wall),
        cpu_ns: per((t1.cpu - t0.cpu) + (t3.cpu - t2.cpu)),
        heap_bytes: idle.live_since(base) as f64 / units as f64,
        allocs: idle.allocs_since(base) as f64 / units as f64,
        residue_bytes: Snapshot::now().live_since(base),
    }
}

// ===== tokio floors =====

#[inline(never)] // A symbol of its own, for profilers.
fn tokio_ordered(backend: &Tokio, shape: Shape) -> Rep {
    let units = shape.units();
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let base = Snapshot::now();
        let t0 = Mark::now();
        let spawn = |token: CancellationToken| {
            let waiter = token.clone();
            let polled = Arc::clone(&polled);
            let handle = tokio::spawn(async move {
                polled.mark();
                waiter.cancelled().await;
            });
            (token, handle)
        };
        // Groups in start order, each with its own task first, then its children in order.
        let mut groups = Vec::new();
        match shape {
            Shape::Flat(n) => {
                let children: Vec<_> = (0..n).map(|_| spawn(CancellationToken::new())).collect();
                groups.push((None, children));
            }
            Shape::Nested(g, p) => {
                for _ in 0..g {
                    let own = spawn(CancellationToken::new());
                    let children: Vec<_> = (0..p).map(|_| spawn(own.0.child_token())).collect();
                    groups.push((Some(own), children));
                }
            }
        }
        polled.wait_for(backend, units).await;
        let t1 = Mark::now();
        let idle = Snapshot::now();
        let t2 = Mark::now();
        for (own, children) in groups.into_iter().rev() {
            for (token, handle) in children.into_iter().rev() {
                token.cancel();
                handle.await.expect("floor task");
            }
            if let Some((token, handle)) = own {
                token.cancel();
                handle.await.expect("floor task");
            }
        }
        let t3 = Mark::now();
        finish(base, t0, t1, idle, t2, t3, units)
    })
}

#[inline(never)] // A symbol of its own, for profilers.
fn tokio_concurrent(backend: &Tokio, shape: Shape) -> Rep {
    let units = shape.units();
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let base = Snapshot::now();
        let t0 = Mark::now();
        let tracker = TaskTracker::new();
        let root = CancellationToken::new();
        let spawn = |token: CancellationToken| {
            let polled = Arc::clone(&polled);
            tracker.spawn(async move {
                polled.mark();
                token.cancelled().await;
            });
        };
        match shape {
            Shape::Flat(n) => (0..n).for_each(|_| spawn(root.clone())),
            Shape::Nested(g, p) => {
                for _ in 0..g {
                    let group = root.child_token();
                    spawn(group.clone());
                    (0..p).for_each(|_| spawn(group.clone()));
                }
            }
        }
        polled.wait_for(backend, units).await;
        let t1 = Mark::now();
        let idle = Snapshot::now();
        let t2 = Mark::now();
        root.cancel();
        tracker.close();
        tracker.wait().await;
        let t3 = Mark::now();
        finish(base, t0, t1, idle, t2, t3, units)
    })
}

// ===== smol floors =====

#[inline(never)] // A symbol of its own, for profilers.
fn smol_ordered(backend: &Smol, shape: Shape) -> Rep {
    let units = shape.units();
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let base = Snapshot::now();
        let t0 = Mark::now();
        let spawn = || {
            let flag = Arc::new(StopFlag::default());
            let stop = Arc::clone(&flag);
            let polled = Arc::clone(&polled);
            let task = backend.spawn(async move {
                polled.mark();
                stop.wait().await;
            });
            (flag, task)
        };
        let mut groups = Vec::new();
        match shape {
            Shape::Flat(n) => groups.push((None, (0..n).map(|_| spawn()).collect::<Vec<_>>())),
            Shape::Nested(g, p) => {
                for _ in 0..g {
                    let own = spawn();
                    groups.push((Some(own), (0..p).map(|_| spawn()).collect()));
                }
            }
        }
        polled.wait_for(backend, units).await;
        let t1 = Mark::now();
        let idle = Snapshot::now();
        let t2 = Mark::now();
        for (own, children) in groups.into_iter().rev() {
            for (flag, task) in children.into_iter().rev() {
                flag.stop();
                task.await;
            }
            if let Some((flag, task)) = own {
                flag.stop();
                task.await;
            }
        }
        let t3 = Mark::now();
        finish(base, t0, t1, idle, t2, t3, units)
    })
}

#[inline(never)] // A symbol of its own, for profilers.
fn smol_concurrent(backend: &Smol, shape: Shape) -> Rep {
    let units = shape.units();
    backend.block_on(async {
        let polled = Arc::new(Polled::default());
        let base = Snapshot::now();
        let t0 = Mark::now();
        let flag = Arc::new(StopFlag::default());
        let tasks: Vec<_> = (0..units)
            .map(|_| {
                let stop = Arc::clone(&flag);
                let polled = Arc::clone(&polled);
                backend.spawn(async move {
                    polled.mark();
                    stop.wait().await;
                })
            })
            .collect();
        polled.wait_for(backend, units).await;
        let t1 = Mark::now();
        let idle = Snapshot::now();
        let t2 = Mark::now();
        flag.stop();
        for task in tasks {
            task.await;
        }
        let t3 = Mark::now();
        finish(base, t0, t1, idle, t2, t3, units)
    })
}

// ===== driver =====

/// Runs one shape on one backend: a warm-up, then `reps` interleaved repetitions.
fn run_shape<B: Backend>(
    backend: &B,
    shape: Shape,
    reps: usize,
    ordered: impl Fn(&B, Shape) -> Rep,
    concurrent: impl Fn(&B, Shape) -> Rep,
) -> Json {
    let (mut m, mut o, mut c) = (Series::default(), Series::default(), Series::default());
    mode_rep(backend, shape);
    ordered(backend, shape);
    concurrent(backend, shape);
    for _ in 0..reps {
        o.push(ordered(backend, shape));
        m.push(mode_rep(backend, shape));
        c.push(concurrent(backend, shape));
    }
    let ratio_ordered = m.total.median() / o.total.median();
    let ratio_concurrent = m.total.median() / c.total.median();
    let cpu_ratio_ordered = m.cpu.median() / o.cpu.median();
    let heap = m.heap.median();
    Json::obj()
        .with("services", shape.units())
        .with("mode", m.json())
        .with("floor_ordered", o.json())
        .with("floor_concurrent", c.json())
        .with("ratio_ordered", ratio_ordered)
        .with("ratio_ordered_paired", paired_ratio(&m.total, &o.total))
        .with("cpu_ratio_ordered", cpu_ratio_ordered)
        .with("cpu_ratio_concurrent", m.cpu.median() / c.cpu.median())
        .with("ratio_concurrent", ratio_concurrent)
        .with("ratio_concurrent_paired", paired_ratio(&m.total, &c.total))
        .with("target_ratio_ordered_le_1_5", ratio_ordered <= 1.5)
        .with("target_cpu_ratio_ordered_le_1_5", cpu_ratio_ordered <= 1.5)
        .with("target_heap_le_1024", heap <= 1024.0)
}

fn run_backend<B: Backend>(
    backend: &B,
    config: Config,
    ordered: impl Fn(&B, Shape) -> Rep + Copy,
    concurrent: impl Fn(&B, Shape) -> Rep + Copy,
) -> Json {
    let mut line = Json::obj()
        .with("workload", "W1")
        .with("backend", B::NAME)
        .with("reps", config.reps);
    // A size of zero leaves a shape out (for profiling one of them).
    for shape in [
        Shape::Flat(config.flat),
        Shape::Nested(config.groups, config.per_group),
    ] {
        if shape.units() > 0 {
            line = line.with(
                shape.name(),
                run_shape(backend, shape, config.reps, ordered, concurrent),
            );
        }
    }
    line
}

/// W1 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(&Tokio::new(), config, tokio_ordered, tokio_concurrent)
}

/// W1 on smol.
pub(crate) fn smol(config: Config) -> Json {
    run_backend(&Smol::new(), config, smol_ordered, smol_concurrent)
}
