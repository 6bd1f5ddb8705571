//! Testing services deterministically, in virtual time.
//!
//! Services that wait (timers, sleeps, backoff between restarts) are slow and flaky to
//! test on a real executor. [`mode::testing::VirtualRuntime`] (the `mode` feature
//! `test-util`, a dev-dependency only) is an executor with a virtual clock instead: it runs
//! every task on the test's thread, and whenever no task can run it moves its clock
//! straight to the next deadline. A day of hourly timers passes in a few milliseconds, and
//! every run gives the same interleaving and the same instants, so a test can assert exact
//! tick counts and exact times.
//!
//! The recipe:
//!
//! 1. `let rt = VirtualRuntime::new();` — its clock starts at `Instant::ZERO`.
//! 2. `let tree = Tree::new(root, rt.clone(), rt.clone());` — the runtime is both the
//!    tree's spawner and its timer; `tree.handle()` is the root's handle.
//! 3. `rt.block_on(tree.run())` runs the tree until it stops. To act on the tree while it
//!    runs (wait, inspect, stop it), run a test body next to it:
//!    `rt.block_on(futures_lite::future::zip(tree.run(), async { .. }))`, and wait in it
//!    with `root.sleep(..)`, which sleeps on the tree's (virtual) clock.
//! 4. Assert on what the services recorded, on handles (`state()`, `restart_count()`), on
//!    the [`Exit`](mode::Exit) the run returns, and on `rt.now()`: how much virtual time
//!    the run took.
//!
//! `block_on` returns `Err(Stalled)` instead of hanging when the test can never finish
//! (nothing runnable and no timer pending), and `rt.spawned_tasks()` tells whether any
//! task outlived the tree.
//!
//! Run these tests with `cargo test -p mode-examples --test virtual_time`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::zip;
use mode::testing::VirtualRuntime;
use mode::time::Instant;
use mode::{
    Backoff, BoxResult, Context, Dependencies, Service, ServiceHandle, State, StopReason, Strategy,
    Supervisor, Tree,
};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

/// The virtual instant `d` after the start.
fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

/// Instants a service records, shared with the test.
type Log = Arc<Mutex<Vec<Instant>>>;

/// Runs a job every `every`, recording when each run happened.
struct Cleanup {
    every: Duration,
    runs: Log,
}

impl Service for Cleanup {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let runs = self.runs.clone();
        cx.timer(self.every, move |me| {
            runs.lock().unwrap().push(me.now());
            async { Ok(()) }
        })?;
        Ok(())
    }
}

/// A timer every 10 minutes, for a whole day: 144 runs, each exactly on its schedule.
#[test]
fn a_timer_over_a_day() {
    let runs = Log::default();
    let rt = VirtualRuntime::new();
    let tree = Tree::new(
        Cleanup {
            every: 10 * MINUTE,
            runs: runs.clone(),
        },
        rt.clone(),
        rt.clone(),
    );
    let root = tree.handle();

    let (exit, ()) = rt
        .block_on(zip(tree.run(), async {
            root.wait_until_running().await.unwrap();
            // A day and 5 minutes on the tree's clock; no real time passes.
            root.sleep(24 * HOUR + 5 * MINUTE).await.unwrap();
            assert_eq!(runs.lock().unwrap().len(), 144);
            root.stop().await;
        }))
        .expect("the test can finish");

    assert!(matches!(exit.reason(), StopReason::Requested), "{exit}");
    assert!(!exit.is_failure());
    // Deadlines are `start + k × 10 min`: no drift, however long it runs.
    let expected: Vec<Instant> = (1..=144).map(|k| at(k * 10 * MINUTE)).collect();
    assert_eq!(*runs.lock().unwrap(), expected);
    assert_eq!(rt.now(), at(24 * HOUR + 5 * MINUTE));
    // The timer's task ended with its service.
    assert_eq!(rt.spawned_tasks(), 0);
}

/// Polls three times, 30 s apart, then stops itself.
struct Poller {
    polls: Log,
}

impl Service for Poller {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let polls = self.polls.clone();
        cx.spawn_with(|me| async move {
            for _ in 0..3 {
                me.sleep(Duration::from_secs(30)).await?;
                polls.lock().unwrap().push(me.now());
            }
            me.request_stop();
            Ok(())
        })?;
        Ok(())
    }
}

/// A tree that stops itself needs no test body: `block_on(tree.run())` returns when it has.
#[test]
fn a_service_that_stops_itself() {
    let polls = Log::default();
    let rt = VirtualRuntime::new();
    let tree = Tree::new(
        Poller {
            polls: polls.clone(),
        },
        rt.clone(),
        rt.clone(),
    );

    let exit = rt.block_on(tree.run()).expect("the tree stops itself");

    assert!(matches!(exit.reason(), StopReason::Requested), "{exit}");
    assert_eq!(exit.exit_status(), None);
    assert_eq!(
        mode::worker::exit_code(&exit),
        std::process::ExitCode::SUCCESS
    );
    let secs = |s| at(Duration::from_secs(s));
    assert_eq!(*polls.lock().unwrap(), [secs(30), secs(60), secs(90)]);
    assert_eq!(rt.now(), secs(90));
}

/// Loses its connection an hour into each of its first three runs; the fourth run lasts.
struct Flaky {
    started: Log,
}

impl Service for Flaky {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let run = {
            let mut started = self.started.lock().unwrap();
            started.push(cx.handle().now());
            started.len()
        };
        if run <= 3 {
            cx.spawn_with(move |me| async move {
                me.sleep(HOUR).await?;
                Err(format!("connection lost on run {run}").into())
            })?;
        }
        Ok(())
    }
}

/// The root: a supervisor restarting `Flaky` with an exponential backoff.
struct App {
    started: Log,
}

impl Service for App {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(
            Supervisor::new(Strategy::OneForOne)
                .with_max_restarts(5, 24 * HOUR)
                // Delays of 10 min, doubling up to an hour; a run of crashes ends only
                // after two healthy hours (by default, after the maximum delay: one hour,
                // which every run here lasts, so each restart would wait 10 min).
                .with_backoff(Backoff::exponential(10 * MINUTE, HOUR).with_reset_after(2 * HOUR))
                .with_child(Flaky {
                    started: self.started.clone(),
                }),
        );
    }
}

/// Restarts with a backoff of 10, 20, then 40 minutes, checked exactly over six hours of
/// virtual time.
#[test]
fn restarts_with_backoff() {
    let started = Log::default();
    let rt = VirtualRuntime::new();
    let tree = Tree::new(
        App {
            started: started.clone(),
        },
        rt.clone(),
        rt.clone(),
    );
    let root = tree.handle();
    let flaky: ServiceHandle = root.children()[0].children()[0].clone();

    rt.block_on(zip(tree.run(), async {
        root.sleep(6 * HOUR).await.unwrap();
        assert_eq!(flaky.restart_count(), 3);
        assert_eq!(flaky.state(), State::Running);
        root.stop().await;
    }))
    .expect("the test can finish");

    // Each run crashes an hour after it started; each restart waits twice as long as the
    // one before.
    let m = |minutes: u32| at(minutes * MINUTE);
    assert_eq!(
        *started.lock().unwrap(),
        [m(0), m(60 + 10), m(70 + 60 + 20), m(150 + 60 + 40)]
    );
    assert_eq!(rt.now(), at(6 * HOUR));
    assert_eq!(flaky.state(), State::Stopped);
    assert_eq!(rt.spawned_tasks(), 0);
}
