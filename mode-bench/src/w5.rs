//! W5: a child crashes right after it starts; measured: the time from the crash until the
//! restarted child reports started, over R rounds; per repetition the median round. Once
//! with an `Err` returned by the child's task, once with a panic in it.
//!
//! mode: a one-for-one [`Supervisor`] with the child; the child's `on_started` marks
//! "started" and spawns a task that marks "crashed" and fails at its first poll.
//!
//! Floor: the same task spawned by hand (tokio `spawn`; smol `Task` with the panic caught,
//! since async-task propagates it otherwise), respawned as soon as its `JoinHandle` (its
//! `Task`) yields the error or the panic; "started" is the respawned task's first poll.
//!
//! The default panic hook prints every panic; it is silenced while this workload runs, for
//! mode and floors alike.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future::zip;
use futures_lite::FutureExt as _;
use mode_core::{BoxResult, Context, Service, Strategy, Supervisor};

use crate::backend::{Backend, Smol, Tokio};
use crate::report::{paired_ratio, Json, Samples};
use crate::w4::median_us;

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) rounds: usize,
    /// Only this crash kind (`err` or `panic`), for profiling.
    pub(crate) only: Option<&'static str>,
    pub(crate) reps: usize,
}

/// How the child crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Err,
    Panic,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Err => "err",
            Kind::Panic => "panic",
        }
    }
}

/// The crash of a round: an `Err`, or a panic.
fn crash(kind: Kind) -> BoxResult {
    match kind {
        Kind::Err => Err("simulated crash".into()),
        Kind::Panic => panic!("simulated crash"),
    }
}

/// Crash and start instants of every round.
pub(crate) struct Rounds {
    crashed: Mutex<Vec<Instant>>,
    started: Mutex<Vec<Instant>>,
    done: event_listener::Event,
    rounds: usize,
}

impl Rounds {
    pub(crate) fn new(rounds: usize) -> Arc<Self> {
        Arc::new(Rounds {
            crashed: Mutex::new(Vec::with_capacity(rounds)),
            started: Mutex::new(Vec::with_capacity(rounds + 1)),
            done: event_listener::Event::new(),
            rounds,
        })
    }

    /// Marks a start; returns whether another crash is due.
    pub(crate) fn started(&self) -> bool {
        let mut started = self.started.lock().expect("not poisoned");
        started.push(Instant::now());
        let more = started.len() <= self.rounds;
        if !more {
            self.done.notify(usize::MAX);
        }
        more
    }

    pub(crate) fn crashed(&self) {
        self.crashed
            .lock()
            .expect("not poisoned")
            .push(Instant::now());
    }

    fn is_done(&self) -> bool {
        self.started.lock().expect("not poisoned").len() > self.rounds
    }

    pub(crate) async fn wait_done(&self) {
        loop {
            if self.is_done() {
                return;
            }
            let listener = self.done.listen();
            if self.is_done() {
                return;
            }
            listener.await;
        }
    }

    /// Median of crash → next start, in µs.
    pub(crate) fn median_us(&self) -> f64 {
        let crashed = self.crashed.lock().expect("not poisoned");
        let started = self.started.lock().expect("not poisoned");
        assert_eq!(crashed.len(), self.rounds, "one crash per round");
        let latencies = crashed
            .iter()
            .zip(&started[1..])
            .map(|(crash, start)| start.duration_since(*crash).as_secs_f64() * 1e6)
            .collect();
        median_us(latencies)
    }
}

// ===== mode =====

/// The child: crashes right after each start, until the last round.
struct Crasher {
    kind: Kind,
    rounds: Arc<Rounds>,
}

impl Service for Crasher {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        if self.rounds.started() {
            let (kind, rounds) = (self.kind, Arc::clone(&self.rounds));
            cx.spawn(async move {
                rounds.crashed();
                crash(kind)
            })?;
        }
        Ok(())
    }
}

#[inline(never)] // A symbol of its own, for profilers.
pub(crate) fn mode_rep<B: Backend>(backend: &B, kind: Kind, config: Config) -> f64 {
    let rounds = Rounds::new(config.rounds);
    backend.block_on(async {
        let supervisor = Supervisor::new(Strategy::OneForOne)
            // Every round is a restart: allow them all.
            .with_max_restarts(u32::MAX, Duration::from_secs(1))
            .with_child(Crasher {
                kind,
                rounds: Arc::clone(&rounds),
            });
        let tree = backend.tree(supervisor);
        let root = tree.handle();
        let (exit, ()) = zip(tree.run(), async {
            rounds.wait_done().await;
            root.stop().await;
        })
        .await;
        assert!(!exit.is_failure(), "the tree stopped with {exit}");
    });
    rounds.median_us()
}

// ===== floors =====

/// One incarnation of the floor's child.
async fn floor_child(kind: Kind, rounds: Arc<Rounds>) -> BoxResult {
    if rounds.started() {
        rounds.crashed();
        crash(kind)
    } else {
        Ok(())
    }
}

#[inline(never)] // A symbol of its own, for profilers.
pub(crate) fn tokio_floor(backend: &Tokio, kind: Kind, config: Config) -> f64 {
    let rounds = Rounds::new(config.rounds);
    backend.block_on(async {
        loop {
            let outcome = tokio::spawn(floor_child(kind, Arc::clone(&rounds))).await;
            if let Ok(Ok(())) = outcome {
                break;
            }
        }
    });
    rounds.median_us()
}

#[inline(never)] // A symbol of its own, for profilers.
pub(crate) fn smol_floor(backend: &Smol, kind: Kind, config: Config) -> f64 {
    let rounds = Rounds::new(config.rounds);
    backend.block_on(async {
        loop {
            let child = std::panic::AssertUnwindSafe(floor_child(kind, Arc::clone(&rounds)));
            let outcome = backend.spawn(child.catch_unwind()).await;
            if let Ok(Ok(())) = outcome {
                break;
            }
        }
    });
    rounds.median_us()
}

// ===== driver =====

/// The panic hook in force before [`QuietPanics`].
type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Silences the panic hook while alive (the workload panics on purpose), then restores it.
pub(crate) struct QuietPanics {
    previous: Option<PanicHook>,
}

impl QuietPanics {
    pub(crate) fn new() -> Self {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        QuietPanics {
            previous: Some(previous),
        }
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            std::panic::set_hook(previous);
        }
    }
}

fn run_backend<B: Backend>(
    backend: &B,
    config: Config,
    floor: impl Fn(&B, Kind, Config) -> f64,
) -> Json {
    let _quiet = QuietPanics::new();
    let mut line = Json::obj()
        .with("workload", "W5")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("rounds", config.rounds);
    for kind in [Kind::Err, Kind::Panic] {
        if config.only.is_some_and(|only| only != kind.name()) {
            continue;
        }
        let (mut m, mut f) = (Samples::default(), Samples::default());
        mode_rep(backend, kind, config);
        floor(backend, kind, config);
        for _ in 0..config.reps {
            f.push(floor(backend, kind, config));
            m.push(mode_rep(backend, kind, config));
        }
        let ratio = m.median() / f.median();
        line = line.with(
            kind.name(),
            Json::obj()
                .with("mode_us", m.json())
                .with("floor_us", f.json())
                .with("ratio", ratio)
                .with("ratio_paired", paired_ratio(&m, &f))
                .with("target_ratio_le_2", ratio <= 2.0),
        );
    }
    line
}

/// W5 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(&Tokio::new(), config, tokio_floor)
}

/// W5 on smol.
pub(crate) fn smol(config: Config) -> Json {
    run_backend(&Smol::new(), config, smol_floor)
}
