//! W8: W5 under a slow neighbour. A supervised child crashes right after it starts while an
//! unrelated sibling sits in its `on_stop`; measured: the time from the crash until the
//! restarted child reports started, over R rounds (an `Err` each time); per repetition
//! the median round. The target compares it with the plain W5 figure measured in the same
//! run: the slow sibling must not matter.
//!
//! mode: the root has two children, `Slow` and a one-for-one [`Supervisor`] of W5's
//! crashing child. The driver asks `Slow` to stop; its `on_stop` lets the rounds begin,
//! then waits until the last one is done (the spec's "1 s `on_stop`": it lasts as long as
//! the rounds, which take far less than a second).
//!
//! Floor: W5's respawn floor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::zip;
use mode_core::{BoxResult, Context, Dependencies, Service, Strategy, Supervisor};

use crate::backend::{Backend, Smol, Tokio};
use crate::report::{paired_ratio, Json, Samples};
use crate::w5::{self, Kind, QuietPanics, Rounds};

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) rounds: usize,
    pub(crate) reps: usize,
}

/// Opens once the slow sibling sits in its `on_stop`.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    opened: event_listener::Event,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.opened.notify(usize::MAX);
    }

    async fn wait(&self) {
        loop {
            if self.open.load(Ordering::SeqCst) {
                return;
            }
            let listener = self.opened.listen();
            if self.open.load(Ordering::SeqCst) {
                return;
            }
            listener.await;
        }
    }
}

/// The unrelated sibling: stops slowly, for as long as the rounds last.
struct Slow {
    rounds: Arc<Rounds>,
    gate: Arc<Gate>,
}

impl Service for Slow {
    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.gate.open();
        self.rounds.wait_done().await;
        Ok(())
    }
}

/// W5's child, whose crashes begin once the gate opens.
struct Crasher {
    rounds: Arc<Rounds>,
    gate: Arc<Gate>,
}

impl Service for Crasher {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        if self.rounds.started() {
            let (rounds, gate) = (Arc::clone(&self.rounds), Arc::clone(&self.gate));
            cx.spawn(async move {
                gate.wait().await;
                rounds.crashed();
                Err("simulated crash".into())
            })?;
        }
        Ok(())
    }
}

/// The slow sibling and the supervised crasher.
struct Root {
    rounds: Arc<Rounds>,
    gate: Arc<Gate>,
}

impl Service for Root {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Slow {
            rounds: Arc::clone(&self.rounds),
            gate: Arc::clone(&self.gate),
        });
        deps.add(
            Supervisor::new(Strategy::OneForOne)
                // Every round is a restart: allow them all.
                .with_max_restarts(u32::MAX, Duration::from_secs(1))
                .with_child(Crasher {
                    rounds: Arc::clone(&self.rounds),
                    gate: Arc::clone(&self.gate),
                }),
        );
    }
}

#[inline(never)] // A symbol of its own, for profilers.
fn mode_rep<B: Backend>(backend: &B, config: Config) -> f64 {
    let rounds = Rounds::new(config.rounds);
    let gate = Arc::new(Gate::default());
    backend.block_on(async {
        let tree = backend.tree(Root {
            rounds: Arc::clone(&rounds),
            gate: Arc::clone(&gate),
        });
        let root = tree.handle();
        let slow = root.children()[0].clone();
        let (exit, ()) = zip(tree.run(), async {
            root.wait_until_running().await.expect("the tree starts");
            slow.request_stop();
            rounds.wait_done().await;
            root.stop().await;
        })
        .await;
        assert!(!exit.is_failure(), "the tree stopped with {exit}");
    });
    rounds.median_us()
}

fn run_backend<B: Backend>(
    backend: &B,
    config: Config,
    floor: impl Fn(&B, Kind, w5::Config) -> f64,
) -> Json {
    let _quiet = QuietPanics::new();
    let plain = w5::Config {
        rounds: config.rounds,
        only: Some("err"),
        reps: config.reps,
    };
    let (mut m, mut w, mut f) = (Samples::default(), Samples::default(), Samples::default());
    mode_rep(backend, config);
    w5::mode_rep(backend, Kind::Err, plain);
    floor(backend, Kind::Err, plain);
    for _ in 0..config.reps {
        f.push(floor(backend, Kind::Err, plain));
        w.push(w5::mode_rep(backend, Kind::Err, plain));
        m.push(mode_rep(backend, config));
    }
    let to_w5 = m.median() / w.median();
    Json::obj()
        .with("workload", "W8")
        .with("backend", B::NAME)
        .with("reps", config.reps)
        .with("rounds", config.rounds)
        .with("mode_us", m.json())
        .with("w5_mode_us", w.json())
        .with("floor_us", f.json())
        .with("ratio_to_w5", to_w5)
        .with("ratio_to_w5_paired", paired_ratio(&m, &w))
        .with("ratio_to_floor", m.median() / f.median())
        .with("target_ratio_to_w5_le_2", to_w5 <= 2.0)
}

/// W8 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend(&Tokio::new(), config, w5::tokio_floor)
}

/// W8 on smol.
pub(crate) fn smol(config: Config) -> Json {
    run_backend(&Smol::new(), config, w5::smol_floor)
}
