//! Sleeps and waits that return early, and say so, when the service is asked to stop.

use core::future::pending;

use mode_core::time::Duration;
use mode_core::{BoxResult, Context, Service, Stopped, WaitError};

use crate::probe::Probe;
use crate::{run_with, Backend};

/// `sleep` returns `Err(Stopped)` as soon as the service is asked to stop.
pub fn sleep_returns_early_on_stop<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        assert_eq!(root.sleep(Duration::from_millis(5)).await, Ok(()));
        let start = root.now();
        let sleeper = root.clone();
        let (slept, ()) =
            futures_lite::future::zip(sleeper.sleep(Duration::from_secs(3600)), async {
                root.sleep(Duration::from_millis(10)).await.unwrap();
                root.stop().await;
            })
            .await;
        assert_eq!(slept, Err(Stopped));
        assert!(root.now() - start < Duration::from_secs(60));
        // Once stopped, sleeps return at once.
        assert_eq!(root.sleep(Duration::from_secs(3600)).await, Err(Stopped));
    }));
}

/// `wait_timeout` returns the value, `TimedOut`, `Stopped`, or refuses a zero timeout.
pub fn wait_with_timeout<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let ten = Duration::from_millis(10);
        assert_eq!(root.wait_timeout(async { 7 }, ten).await, Ok(7));
        assert_eq!(
            root.wait_timeout(pending::<()>(), ten).await,
            Err(WaitError::TimedOut(ten))
        );
        assert_eq!(
            root.wait_timeout(async { 1 }, Duration::ZERO).await,
            Err(WaitError::ZeroTimeout)
        );
        let waiter = root.clone();
        let (waited, ()) = futures_lite::future::zip(
            waiter.wait_timeout(pending::<()>(), Duration::from_secs(3600)),
            async {
                root.sleep(ten).await.unwrap();
                root.stop().await;
            },
        )
        .await;
        assert_eq!(waited, Err(WaitError::Stopped));
        assert_eq!(root.wait(pending::<()>()).await, Err(WaitError::Stopped));
        // A future that is ready at once wins over the stop.
        assert_eq!(root.wait(async { 1 }).await, Ok(1));
    }));
}

/// `wait_first` returns the first to finish with its index; `wait_many` returns all.
pub fn wait_first_and_many<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let sleeps = [30u64, 10, 20].map(|ms| {
            let root = root.clone();
            async move {
                root.sleep(Duration::from_millis(ms)).await.unwrap();
                ms
            }
        });
        assert_eq!(root.wait_first(sleeps).await, Ok((1, 10)));
        let sleeps = [30u64, 10, 20].map(|ms| {
            let root = root.clone();
            async move {
                root.sleep(Duration::from_millis(ms)).await.unwrap();
                ms
            }
        });
        assert_eq!(root.wait_many(sleeps).await, Ok(vec![30, 10, 20]));
        let waiter = root.clone();
        let (first, ()) = futures_lite::future::zip(
            waiter.wait_first([pending::<()>(), pending::<()>()]),
            async {
                root.sleep(Duration::from_millis(5)).await.unwrap();
                root.stop().await;
            },
        )
        .await;
        assert_eq!(first, Err(Stopped));
    }));
}

/// `wait_for_stopped(other)` returns when the other service stops, early on own stop.
pub fn wait_for_stopped_other<B: Backend>(backend: B) {
    let tree = backend.tree(
        Probe::new("App")
            .with_child(Probe::new("A"))
            .with_child(Probe::new("B")),
    );
    let root = tree.handle();
    let children = root.children();
    let (a, b) = (children[0].clone(), children[1].clone());
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let (waited, ()) = futures_lite::future::zip(a.wait_for_stopped(&b), async {
            root.sleep(Duration::from_millis(5)).await.unwrap();
            b.stop().await;
        })
        .await;
        assert_eq!(waited, Ok(()));
        let (waited, ()) = futures_lite::future::zip(b.wait_for_stopped(&root), async {
            root.sleep(Duration::from_millis(5)).await.unwrap();
            a.stop().await;
        })
        .await;
        // b is stopped already: its own stop makes the wait return at once.
        assert_eq!(waited, Err(Stopped));
        root.stop().await;
    }));
}

/// Waits for the shutdown flag while stopping.
struct Flagged;

impl Service for Flagged {
    fn wait_for_shutdown(&self) -> bool {
        true
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        crate::journal::record("Flagged.on_shutdown");
        Ok(())
    }
}

/// With `wait_for_shutdown`, the stop waits after `Stopped` until `set_shutdown`.
pub fn wait_for_shutdown_flag<B: Backend>(backend: B) {
    let tree = backend.tree(Flagged);
    let root = tree.handle();
    let ((), journal) = crate::journal::capture(|| {
        backend.block_on(async {
            run_with(tree, async {
                root.wait_until_running().await.unwrap();
                let stopping = root.stop();
                // Let the stop reach its shutdown step.
                let probe = root.clone();
                futures_lite::future::zip(stopping, async move {
                    while probe.state() != mode_core::State::Stopping {
                        futures_lite::future::yield_now().await;
                    }
                    for _ in 0..50 {
                        futures_lite::future::yield_now().await;
                    }
                    crate::journal::record("set_shutdown");
                    probe.set_shutdown();
                })
                .await;
            })
            .await;
        })
    });
    let order: Vec<&str> = journal
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("Stopped") || l.contains("shutdown") || l.contains("complete"))
        .collect();
    assert_eq!(
        order,
        [
            "INFO [^-Flagged]: Stopped",
            "set_shutdown",
            "Flagged.on_shutdown",
            "INFO [^-Flagged]: Shutdown complete!"
        ]
    );
}
