//! Requests racing from other OS threads: `restart()` against `stop()` of the same child,
//! each from a thread of its own, round after round, the stop requested right after the
//! restart. Every request completes and the child always ends stopped: the stop either
//! cancels the restart or stops the restarted service. (The conformance suite sweeps the same race deterministically on
//! every backend; this runs it with real threads.)

use std::time::Duration;

use futures_lite::future::{block_on, zip};
use mode_core::{Dependencies, Error, Service, State, Tree};
use mode_tokio::{TokioSpawner, TokioTimer};
use tokio::task::spawn_blocking;

struct App;
struct Child;

impl Service for App {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Child);
    }
}

impl Service for Child {}

/// How many rounds the race runs.
const ROUNDS: usize = 200;

/// How long a round may take before the test calls it a hang (a guard, not a measurement).
const HANG: Duration = Duration::from_secs(30);

#[test]
fn restart_racing_stop_from_two_threads_always_ends_stopped() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tree = {
        let _runtime = runtime.enter();
        Tree::new(App, TokioSpawner::new(), TokioTimer::new())
    };
    let root = tree.handle();
    let child = root.children()[0].clone();
    let (exit, ()) = runtime.block_on(zip(tree.run(), async {
        root.wait_until_running().await.unwrap();
        for round in 0..ROUNDS {
            child.maybe_start().await.unwrap();
            let (restarter, stopper) = (child.clone(), child.clone());
            // The restart is requested first (the call queues it); the stop races what
            // the restart does next.
            let (requested, restart_requested) = std::sync::mpsc::channel();
            let restart = spawn_blocking(move || {
                let restart = restarter.restart();
                let _ = requested.send(());
                block_on(restart)
            });
            let stop = spawn_blocking(move || {
                let _ = restart_requested.recv();
                block_on(stopper.stop())
            });
            let both = async { (restart.await.unwrap(), stop.await.unwrap()) };
            let (restarted, ()) = tokio::time::timeout(HANG, both)
                .await
                .unwrap_or_else(|_| panic!("round {round} hung"));
            assert!(
                matches!(
                    restarted,
                    Ok(()) | Err(Error::RestartCancelled | Error::ServiceStopped)
                ),
                "round {round}: {restarted:?}"
            );
            assert_eq!(child.state(), State::Stopped, "round {round}");
        }
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit:?}");
}
