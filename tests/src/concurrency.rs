//! Lifecycle operations on disjoint subtrees run concurrently: a slow hook delays only the
//! operations on its own service.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::vec::Vec;

use mode_core::sync::Event;
use mode_core::{
    BoxResult, Context, Dependencies, Service, ServiceHandle, State, Strategy, Supervisor,
};

use crate::{run_with, Backend};

/// How long the slow hooks take.
const SLOW: Duration = Duration::from_secs(1);
/// When the crashing service crashes, after its first start.
const CRASH_AFTER: Duration = Duration::from_millis(100);

/// The tree's clock as seen from a service, when the record was made.
type Times = Arc<Mutex<Vec<Duration>>>;

/// Spends [`SLOW`] in `on_stop`, on a sleep of the root's (which is not stopping), so the
/// stop really takes that long.
struct SlowToStop;

impl Service for SlowToStop {
    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let root = root_of(cx.handle());
        root.sleep(SLOW).await?;
        Ok(())
    }
}

fn root_of(handle: &ServiceHandle) -> ServiceHandle {
    let mut root = handle.clone();
    while let Some(parent) = root.parent() {
        root = parent;
    }
    root
}

/// Crashes [`CRASH_AFTER`] its first start; records when each start's `on_start` ran, and
/// sets `restarted` in the second.
struct CrashesOnce {
    starts: Times,
    restarted: Arc<Event>,
}

impl Service for CrashesOnce {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let now = cx.handle().now().as_duration();
        self.starts.lock().unwrap().push(now);
        if cx.handle().restart_count() > 0 {
            self.restarted.set();
        } else {
            let handle = cx.handle().clone();
            cx.spawn(async move {
                handle.sleep(CRASH_AFTER).await?;
                Err("lost the connection".into())
            })?;
        }
        Ok(())
    }
}

/// A slow sibling and, under a one-for-one supervisor, a service that crashes.
struct SlowAndSupervised {
    starts: Times,
    restarted: Arc<Event>,
}

impl Service for SlowAndSupervised {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(SlowToStop);
        deps.add(
            Supervisor::new(Strategy::OneForOne).with_child(CrashesOnce {
                starts: self.starts.clone(),
                restarted: self.restarted.clone(),
            }),
        );
    }
}

/// A supervised service that crashes while an unrelated sibling sits in a slow `on_stop`
/// is restarted at once, not after the sibling's stop.
pub fn a_crash_is_handled_while_a_sibling_stops_slowly<B: Backend>(backend: B) {
    let starts = Times::default();
    let restarted = Arc::new(Event::new());
    let tree = backend.tree(SlowAndSupervised {
        starts: starts.clone(),
        restarted: restarted.clone(),
    });
    let root = tree.handle();
    let slow = root.children()[0].clone();
    let crashing = root.children()[1].children()[0].clone();
    let (exit, (asked_at, stopped_at)) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        // The sibling sits in `on_stop` from now on.
        let asked_at = root.now().as_duration();
        let slow_stopped = slow.stop();
        restarted.wait().await;
        crashing.wait_until_running().await.unwrap();
        assert_eq!(slow.state(), State::Stopping, "the sibling still stops");
        slow_stopped.await;
        let stopped_at = root.now().as_duration();
        root.stop().await;
        (asked_at, stopped_at)
    }));
    assert!(exit.is_clean(), "{exit:?}");
    let starts = starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 2, "{starts:?}");
    // Real clocks do not start at zero: compare durations.
    let restarted_after = starts[1] - starts[0];
    let stop_took = stopped_at - asked_at;
    if backend.is_virtual() {
        assert_eq!(restarted_after, CRASH_AFTER);
        assert_eq!(stop_took, SLOW);
    } else {
        assert!(
            restarted_after < SLOW,
            "restarted after the slow stop: {starts:?}"
        );
        assert!(stop_took >= SLOW, "{stop_took:?}");
    }
}

/// Spends [`SLOW`] in `on_start` when it is restarted.
struct SlowToRestart;

impl Service for SlowToRestart {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        if cx.handle().restart_count() > 0 {
            cx.handle().sleep(SLOW).await?;
        }
        Ok(())
    }
}

/// Two unrelated children.
struct Two;

impl Service for Two {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(SlowToRestart);
        deps.add(crate::probe::Probe::new("Other"));
    }
}

/// A slow `on_start` in one child does not delay a stop of another subtree; a stop of the
/// same service waits for it.
pub fn a_slow_start_does_not_delay_a_stop_elsewhere<B: Backend>(backend: B) {
    let tree = backend.tree(Two);
    let root = tree.handle();
    let slow = root.children()[0].clone();
    let other = root.children()[1].clone();
    let (exit, (other_stopped_after, restarted_after)) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let asked_at = root.now().as_duration();
        let restart = slow.restart();
        // Until the restart sits in the slow `on_start`.
        while slow.state() != State::Starting {
            futures_lite::future::yield_now().await;
        }
        other.stop().await;
        let other_stopped_after = root.now().as_duration() - asked_at;
        restart.await.unwrap();
        let restarted_after = root.now().as_duration() - asked_at;
        root.stop().await;
        (other_stopped_after, restarted_after)
    }));
    assert!(exit.is_clean(), "{exit:?}");
    if backend.is_virtual() {
        assert_eq!(other_stopped_after, Duration::ZERO);
        assert_eq!(restarted_after, SLOW);
    } else {
        assert!(other_stopped_after < SLOW, "{other_stopped_after:?}");
        assert!(restarted_after >= SLOW, "{restarted_after:?}");
    }
}

/// Stops its sibling from `on_started` and waits for that stop.
struct StopsSibling;

impl Service for StopsSibling {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let parent = cx.handle().parent().ok_or("no parent")?;
        let sibling = parent.children()[0].clone();
        sibling.stop().await;
        crate::journal::record(format!("sibling {}", sibling.state()));
        Ok(())
    }
}

/// A sibling and the service that stops it while the tree starts.
struct SiblingStopper;

impl Service for SiblingStopper {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(crate::probe::Probe::new("Sibling"));
        deps.add(StopsSibling);
    }
}

/// A hook may await the stop of an unrelated service: it runs as an operation of its own
/// while the hook's own operation waits.
pub fn a_hook_may_await_the_stop_of_an_unrelated_service<B: Backend>(backend: B) {
    let tree = backend.tree(SiblingStopper);
    let (exit, journal) = crate::start_and_stop(&backend, tree);
    assert!(exit.is_clean(), "{exit:?}");
    let hooks: Vec<&str> = journal
        .iter()
        .filter(|l| l.starts_with("Sibling.") || l.starts_with("sibling "))
        .map(std::string::String::as_str)
        .collect();
    assert_eq!(
        hooks,
        [
            "Sibling.on_first_start",
            "Sibling.on_start",
            "Sibling.on_started",
            "Sibling.on_stop (asked to stop)",
            "Sibling.on_shutdown",
            "sibling stopped",
        ]
    );
}

/// Awaits its own stop from `on_started` (and, the first time, its own restart): each
/// would wait for the very hook that awaits it.
struct AwaitsItself;

impl Service for AwaitsItself {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let me = cx.handle();
        if me.restart_count() == 0 {
            let restart = me.restart().await;
            crate::journal::record(format!("restart awaited: {restart:?}"));
            return Ok(());
        }
        me.stop().await;
        crate::journal::record(format!("stop awaited, service {}", me.state()));
        Ok(())
    }
}

/// A hook that awaits the restart or the stop of its own service does not hang: the
/// restart answers `AwaitedFromOwnHook` at once and the stop completes at once; each runs
/// once the hook has returned.
pub fn a_hook_awaiting_its_own_stop_or_restart_does_not_hang<B: Backend>(backend: B) {
    let tree = backend.tree(AwaitsItself);
    let root = tree.handle();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_stopped().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    let awaited: Vec<&str> = journal
        .iter()
        .filter(|l| l.contains("awaited"))
        .map(std::string::String::as_str)
        .collect();
    assert_eq!(
        awaited,
        [
            "restart awaited: Err(AwaitedFromOwnHook)",
            "stop awaited, service running",
        ]
    );
    assert_eq!(root.restart_count(), 1);
    assert_eq!(root.state(), State::Stopped);
}
