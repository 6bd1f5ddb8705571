//! Supervisors: the five strategies, restart intensity, backoff, failed starts, crashes and
//! stops that race with restarts, and children added and removed while running.
//!
//! Times are exact on virtual time. On real clocks the tests use a shorter unit of time and
//! wider margins, and check lower bounds (a sleep never ends early) instead of instants.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::vec::Vec;

use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::time::{Duration, Instant};
use mode_core::{
    Backoff, BoxResult, Context, Dependencies, Error, Service, ServiceHandle, State, StopReason,
    Strategy, Supervisor, SupervisorError, SupervisorErrorKind, SupervisorHandle, Tree,
};

use crate::journal::{between, capture, lines, record};
use crate::probe::Probe;
use crate::{run_with, Backend};

// ===== helpers =====

/// Counts `Started` events per label and wakes whoever waits for a count: restarts are
/// awaited through lifecycle events, never by sleeping.
#[derive(Clone, Default)]
struct Watch(Arc<Mutex<WatchState>>);

#[derive(Default)]
struct WatchState {
    started: BTreeMap<String, usize>,
    waiting: Vec<Waker>,
}

impl Observer for Watch {
    fn observe(&self, service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        if matches!(event, LifecycleEvent::Started) {
            let waiting = {
                let mut state = self.0.lock().unwrap();
                *state.started.entry(service.label.to_string()).or_default() += 1;
                core::mem::take(&mut state.waiting)
            };
            for waker in waiting {
                waker.wake();
            }
        }
    }
}

impl Watch {
    /// How many times `label` finished starting.
    fn starts(&self, label: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .started
            .get(label)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `label` finished starting `n` times in all.
    async fn started(&self, label: &str, n: usize) {
        poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.started.get(label).copied().unwrap_or(0) >= n {
                Poll::Ready(())
            } else {
                state.waiting.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// A tree with `root` on `backend`, observed by a fresh [`Watch`].
fn watched<B: Backend, S: Service>(backend: &B, root: S) -> (Tree<B::Timer>, Watch) {
    let watch = Watch::default();
    (backend.tree(root).with_observer(watch.clone()), watch)
}

/// The unit of time of the timing tests: one second of virtual time, a few tens of
/// milliseconds of real time.
fn unit<B: Backend>(backend: &B) -> Duration {
    if backend.is_virtual() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(50)
    }
}

/// The lines of `journal` that start with `prefix`.
fn starting_with<'a>(journal: &'a [String], prefix: &str) -> Vec<&'a str> {
    journal
        .iter()
        .filter(|l| l.starts_with(prefix))
        .map(String::as_str)
        .collect()
}

/// The [`SupervisorError`] a tree stopped with.
fn gave_up(reason: &StopReason) -> SupervisorError {
    let crash = reason
        .crash()
        .unwrap_or_else(|| panic!("no crash: {reason:?}"));
    crash
        .error()
        .downcast_ref::<SupervisorError>()
        .unwrap_or_else(|| panic!("not a supervisor error: {crash}"))
        .clone()
}

/// How a start of a [`Kid`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    ErrInStart,
    PanicInStart,
    ErrInStarted,
}

/// Shared plan of a [`Kid`]'s next starts: each start takes the next entry (`None`: start
/// normally).
type Plan = Arc<Mutex<VecDeque<Option<Fail>>>>;

/// A child that records its hooks like [`Probe`], fails the starts its plan says, crashes
/// `after` starting in its first `crashing_runs` runs, and records when each start began.
struct Kid {
    label: &'static str,
    plan: Plan,
    crashing_runs: u32,
    after: Duration,
    runs: u32,
    starts: Arc<Mutex<Vec<Instant>>>,
}

impl Kid {
    fn new(label: &'static str) -> Self {
        Kid {
            label,
            plan: Plan::default(),
            crashing_runs: 0,
            after: Duration::ZERO,
            runs: 0,
            starts: Arc::default(),
        }
    }

    fn plan(mut self, plan: &Plan) -> Self {
        self.plan = plan.clone();
        self
    }

    fn crashing(mut self, runs: u32, after: Duration) -> Self {
        self.crashing_runs = runs;
        self.after = after;
        self
    }

    fn starts(mut self, starts: &Arc<Mutex<Vec<Instant>>>) -> Self {
        self.starts = starts.clone();
        self
    }

    fn next_failure(&self) -> Option<Fail> {
        self.plan.lock().unwrap().front().copied().flatten()
    }
}

impl Service for Kid {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.label)
    }

    async fn on_first_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_first_start", self.label));
        Ok(())
    }

    async fn on_restart(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_restart", self.label));
        Ok(())
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_start", self.label));
        self.starts.lock().unwrap().push(cx.handle().now());
        self.runs += 1;
        match self.next_failure() {
            Some(Fail::ErrInStart) => {
                self.plan.lock().unwrap().pop_front();
                return Err("cannot bind".into());
            }
            Some(Fail::PanicInStart) => {
                self.plan.lock().unwrap().pop_front();
                panic!("cannot bind");
            }
            _ => {}
        }
        if self.runs <= self.crashing_runs {
            let me = cx.handle().clone();
            let after = self.after;
            cx.spawn(async move {
                me.sleep(after).await?;
                Err("connection reset".into())
            })?;
        }
        Ok(())
    }

    async fn on_started(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_started", self.label));
        let failure = self.plan.lock().unwrap().pop_front().flatten();
        if failure == Some(Fail::ErrInStarted) {
            return Err("cannot bind".into());
        }
        Ok(())
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let reason = cx
            .handle()
            .stop_reason()
            .map(|r| r.to_string())
            .unwrap_or_default();
        record(format!("{}.on_stop ({reason})", self.label));
        Ok(())
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_shutdown", self.label));
        Ok(())
    }
}

fn abc(strategy: Strategy) -> Supervisor {
    Supervisor::new(strategy)
        .with_label("Sup")
        .with_child(Kid::new("A"))
        .with_child(Kid::new("B"))
        .with_child(Kid::new("C"))
}

/// The stop and start of a child restarted after crashing with "boom".
const RESTART_B: &str = "
    INFO [^--B]: Restarting...
    INFO [^--B]: Stopping...
    B.on_stop (crashed: B crashed: boom)
    INFO [^--B]: Stopped
    B.on_shutdown
    INFO [^--B]: Shutdown complete!
    B.on_restart
    INFO [^--B]: Starting...
    B.on_start
    INFO [^--B]: Started
    B.on_started
";

// ===== the strategies =====

/// One-for-one: only the crashed child restarts, with `on_restart`; the others and the
/// supervisor are untouched.
pub fn one_for_one_restarts_only_the_crashed_child<B: Backend>(backend: B) {
    let (tree, watch) = watched(&backend, abc(Strategy::OneForOne));
    let sup = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        record("-- crash --");
        b.crash("boom");
        watch.started("B", 2).await;
        record("-- stop --");
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let mut expected = lines(
        "
        ERROR [^--B]: Crashed reason=boom
        INFO [^-Sup]: Restarting dead B! Last crash reason: boom
        ",
    );
    expected.extend(lines(RESTART_B));
    assert_eq!(between(&journal, "-- crash --", "-- stop --"), expected);
    assert_eq!(
        [a.restart_count(), b.restart_count(), c.restart_count()],
        [0, 1, 0]
    );
    assert_eq!(sup.restart_count(), 0);
    assert!(b.crash_reason().is_none(), "fresh state after the restart");
}

/// One-for-all: every child restarts, stopped in reverse order and started in order.
pub fn one_for_all_restarts_every_child_in_order<B: Backend>(backend: B) {
    let (tree, watch) = watched(&backend, abc(Strategy::OneForAll));
    let sup = tree.handle();
    let children = sup.children();
    let (_, journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            sup.wait_until_running().await.unwrap();
            record("-- crash --");
            children[1].crash("boom");
            watch.started("C", 2).await;
            record("-- stop --");
            sup.stop().await;
        }))
    });
    let expected = lines(
        "
        ERROR [^--B]: Crashed reason=boom
        INFO [^-Sup]: Restarting dead B! Last crash reason: boom
        INFO [^--C]: Restarting...
        INFO [^--C]: Stopping...
        C.on_stop (restarting)
        INFO [^--C]: Stopped
        C.on_shutdown
        INFO [^--C]: Shutdown complete!
        INFO [^--B]: Restarting...
        INFO [^--B]: Stopping...
        B.on_stop (crashed: B crashed: boom)
        INFO [^--B]: Stopped
        B.on_shutdown
        INFO [^--B]: Shutdown complete!
        INFO [^--A]: Restarting...
        INFO [^--A]: Stopping...
        A.on_stop (restarting)
        INFO [^--A]: Stopped
        A.on_shutdown
        INFO [^--A]: Shutdown complete!
        A.on_restart
        INFO [^--A]: Starting...
        A.on_start
        INFO [^--A]: Started
        A.on_started
        B.on_restart
        INFO [^--B]: Starting...
        B.on_start
        INFO [^--B]: Started
        B.on_started
        C.on_restart
        INFO [^--C]: Starting...
        C.on_start
        INFO [^--C]: Started
        C.on_started
        ",
    );
    assert_eq!(between(&journal, "-- crash --", "-- stop --"), expected);
    for child in &children {
        assert_eq!(child.restart_count(), 1, "{child:?}");
    }
}

/// Forfeit one-for-one: the crashed child is stopped for good; the others go on.
pub fn forfeit_one_for_one_gives_up_on_the_crashed_child<B: Backend>(backend: B) {
    let tree = backend.tree(abc(Strategy::ForfeitOneForOne));
    let sup = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        record("-- crash --");
        b.crash("boom");
        b.wait_until_stopped().await;
        record("-- stop --");
        assert_eq!(sup.state(), State::Running);
        assert_eq!([a.state(), c.state()], [State::Running; 2]);
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(
        between(&journal, "-- crash --", "-- stop --"),
        lines(
            "
            ERROR [^--B]: Crashed reason=boom
            ERROR [^-Sup]: Giving up on B, not restarting it! Last crash reason: boom
            INFO [^--B]: Stopping...
            B.on_stop (crashed: B crashed: boom)
            INFO [^--B]: Stopped
            B.on_shutdown
            INFO [^--B]: Shutdown complete!
            "
        )
    );
    assert_eq!(b.restart_count(), 0);
    assert!(
        b.crash_reason().is_some(),
        "the forfeited child keeps its crash"
    );
    // Stopping the supervisor later does not stop B again.
    assert_eq!(
        journal
            .iter()
            .filter(|l| l.starts_with("B.on_stop"))
            .count(),
        1
    );
}

/// Forfeit one-for-all: every child is stopped for good, in reverse order; the supervisor
/// stays up.
pub fn forfeit_one_for_all_gives_up_on_every_child<B: Backend>(backend: B) {
    let tree = backend.tree(abc(Strategy::ForfeitOneForAll));
    let sup = tree.handle();
    let children = sup.children();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        record("-- crash --");
        children[1].crash("boom");
        children[0].wait_until_stopped().await;
        record("-- stop --");
        assert_eq!(sup.state(), State::Running);
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let segment = between(&journal, "-- crash --", "-- stop --");
    let notable: Vec<&str> = segment
        .iter()
        .copied()
        .filter(|l| l.starts_with("ERROR") || l.contains(".on_stop"))
        .collect();
    assert_eq!(
        notable,
        lines(
            "
            ERROR [^--B]: Crashed reason=boom
            ERROR [^-Sup]: Giving up on C, not restarting it! Last crash reason: B crashed: boom
            C.on_stop (asked to stop)
            ERROR [^-Sup]: Giving up on B, not restarting it! Last crash reason: boom
            B.on_stop (crashed: B crashed: boom)
            ERROR [^-Sup]: Giving up on A, not restarting it! Last crash reason: B crashed: boom
            A.on_stop (asked to stop)
            "
        )
    );
    assert!(!segment.iter().any(|l| l.contains("on_restart")));
    for child in &children {
        assert_eq!(child.state(), State::Stopped);
        assert_eq!(child.restart_count(), 0);
    }
}

/// Holds a child service.
struct Holder(Option<Supervisor>);

impl Service for Holder {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("App")
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        if let Some(supervisor) = self.0.take() {
            deps.add(supervisor);
        }
    }
}

/// Crashing: the child's crash crashes the supervisor and its parent; without a
/// supervisor above, the tree stops with the child's crash. With one above, that one
/// restarts the crashing supervisor, and the child with it.
pub fn crashing_supervisor_crashes_upward<B: Backend>(backend: B) {
    let crashing = || {
        Supervisor::new(Strategy::Crashing)
            .with_label("Crashing")
            .with_child(Kid::new("A"))
    };
    // No supervisor above: the whole program stops.
    let tree = backend.tree(Holder(Some(crashing())));
    let app = tree.handle();
    let sup = app.children()[0].clone();
    let a = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        app.wait_until_running().await.unwrap();
        a.crash("boom");
    });
    let crash = exit
        .reason()
        .crash()
        .expect("the tree stops with the crash");
    assert_eq!(crash.service(), "A");
    assert!(a.crash_reason().unwrap().ptr_eq(crash));
    assert!(sup.crash_reason().unwrap().ptr_eq(crash));
    assert!(app.crash_reason().unwrap().ptr_eq(crash));
    assert!(journal
        .iter()
        .any(|l| l == "ERROR [^--Crashing]: Crashed reason=boom"));
    assert!(!journal.iter().any(|l| l.contains("Restarting")));

    // A one-for-one supervisor above: it restarts the crashing supervisor.
    let (tree, watch) = watched(
        &backend,
        Supervisor::new(Strategy::OneForOne)
            .with_label("Outer")
            .with_child(crashing()),
    );
    let outer = tree.handle();
    let sup = outer.children()[0].clone();
    let a = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        outer.wait_until_running().await.unwrap();
        a.crash("boom");
        watch.started("Crashing", 2).await;
        assert_eq!(a.state(), State::Running);
        outer.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!([sup.restart_count(), a.restart_count()], [1, 1]);
    assert!(journal.iter().any(
        |l| l == "INFO [^-Outer]: Restarting dead Crashing! Last crash reason: A crashed: boom"
    ));
}

// ===== crash sources =====

#[derive(Debug, Clone, Copy)]
enum How {
    TaskError,
    TimerError,
    TaskPanic,
    Handle,
}

/// Crashes once, in the chosen way, on its first run.
struct Crasher {
    how: How,
    runs: u32,
}

impl Service for Crasher {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        self.runs += 1;
        if self.runs > 1 {
            return Ok(());
        }
        match self.how {
            How::TaskError => drop(cx.spawn(async { Err("it failed".into()) })?),
            How::TimerError => {
                cx.timer(Duration::from_millis(5), |_| async {
                    Err("it failed".into())
                })?;
            }
            How::TaskPanic => drop(cx.spawn(async { panic!("it failed") })?),
            How::Handle => cx.handle().crash("it failed"),
        }
        Ok(())
    }
}

/// A crash from a task, a timer, a panic or `crash(reason)` reaches the supervisor at
/// once and is handled the same way.
pub fn crash_sources_are_handled_the_same<B: Backend>(backend: B) {
    let mut journals = Vec::new();
    for how in [How::TaskError, How::TimerError, How::TaskPanic, How::Handle] {
        let sup = Supervisor::new(Strategy::OneForOne)
            .with_label("Sup")
            .with_child(Crasher { how, runs: 0 });
        let (tree, watch) = watched(&backend, sup);
        let sup = tree.handle();
        let crasher = sup.children()[0].clone();
        let (_, journal) = capture(|| {
            backend.block_on(run_with(tree, async {
                watch.started("Crasher", 2).await;
                sup.stop().await;
            }))
        });
        assert_eq!(crasher.restart_count(), 1, "{how:?}");
        let crash: Vec<String> = journal
            .iter()
            .skip_while(|l| !l.starts_with("ERROR"))
            .take_while(|l| !l.contains("[^-Sup]: Stopping"))
            .map(|l| l.replace("panicked: it failed", "it failed"))
            .collect();
        journals.push((how, crash));
    }
    let (_, first) = &journals[0];
    assert_eq!(
        first[..3],
        [
            "ERROR [^--Crasher]: Crashed reason=it failed",
            "INFO [^-Sup]: Restarting dead Crasher! Last crash reason: it failed",
            "INFO [^--Crasher]: Restarting...",
        ]
    );
    for (how, journal) in &journals[1..] {
        assert_eq!(journal, first, "{how:?}");
    }
}

// ===== restart intensity =====

/// Crashes `child` and waits until it has started `n` times in all.
async fn crash_and_wait(child: &ServiceHandle, watch: &Watch, n: usize) {
    child.crash("boom");
    watch.started(child.label(), n).await;
}

/// At most `max_restarts` restarts in any window of `over`: exactly N are allowed, the
/// N+1-th within the window makes the supervisor give up, and it says which child, how
/// many restarts and within what window.
pub fn intensity_allows_exactly_max_restarts<B: Backend>(backend: B) {
    let u = unit(&backend);
    let over = u * 10;
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_max_restarts(3, over)
        .with_child(Kid::new("A"));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, gave_up_at) = backend.block_on(run_with(tree, async {
        sup.wait_until_running().await.unwrap();
        let start = sup.now();
        for k in 0..3u32 {
            sup.sleep_until(start + u * k).await.unwrap();
            crash_and_wait(&a, &watch, k as usize + 2).await;
        }
        // Still inside the window of the first restart (by a unit on real clocks).
        let fourth = if backend.is_virtual() {
            start + (over - Duration::from_millis(1))
        } else {
            start + u * 9
        };
        sup.sleep_until(fourth).await.unwrap();
        a.crash("boom");
        sup.wait_until_stopped().await;
        sup.now() - start
    }));
    assert_eq!(a.restart_count(), 3);
    let error = gave_up(exit.reason());
    assert_eq!(exit.reason().crash().unwrap().service(), "Sup");
    assert_eq!(error.child(), "A");
    assert_eq!(
        error.kind(),
        SupervisorErrorKind::MaxRestarts { restarts: 3, over }
    );
    assert_eq!(error.crash().error().to_string(), "boom");
    assert_eq!(
        error.to_string(),
        format!("max restarts exceeded: 3 restart(s) within {over:?}, then A crashed: boom")
    );
    if backend.is_virtual() {
        assert_eq!(gave_up_at, over - Duration::from_millis(1));
    }
}

/// Restarts older than `over` no longer count: a crash a full window after the first
/// restart is restarted, and the window then slides with the restarts.
pub fn intensity_window_slides<B: Backend>(backend: B) {
    let u = unit(&backend);
    let over = u * 10;
    // On real clocks, keep clear of the window's edges by a quarter unit.
    let margin = if backend.is_virtual() {
        Duration::ZERO
    } else {
        u / 4
    };
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_max_restarts(3, over)
        .with_child(Kid::new("A"));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        sup.wait_until_running().await.unwrap();
        let start = sup.now();
        for (k, at) in [Duration::ZERO, u, u * 2].into_iter().enumerate() {
            sup.sleep_until(start + at).await.unwrap();
            crash_and_wait(&a, &watch, k + 2).await;
        }
        // Exactly a window after the first restart: it no longer counts.
        sup.sleep_until(start + over + margin).await.unwrap();
        crash_and_wait(&a, &watch, 5).await;
        assert_eq!(a.restart_count(), 4);
        // Half a unit later, the window holds the restarts at 1, 2 and 10 units: full.
        sup.sleep_until(start + over + u / 2 + margin)
            .await
            .unwrap();
        a.crash("boom");
        sup.wait_until_stopped().await;
    }));
    assert_eq!(a.restart_count(), 4);
    assert!(matches!(
        gave_up(exit.reason()).kind(),
        SupervisorErrorKind::MaxRestarts { restarts: 3, .. }
    ));
}

// ===== backoff =====

/// Backoff: each restart of a run of crashes waits longer, up to the maximum; a child that
/// ran healthily for `reset_after` starts over at the initial delay.
pub fn backoff_delays_grow_and_reset<B: Backend>(backend: B) {
    let ms = Duration::from_millis;
    let scale = |d: Duration| if backend.is_virtual() { d } else { d / 4 };
    let backoff =
        Backoff::exponential(scale(ms(100)), scale(ms(400))).with_reset_after(scale(ms(1_000)));
    let starts = Arc::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_backoff(backoff)
        .with_child(Kid::new("A").crashing(4, scale(ms(10))).starts(&starts));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (_, journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            // Four crashes 10 ms after each start, then a healthy run.
            watch.started("A", 5).await;
            sup.sleep(scale(ms(1_500))).await.unwrap();
            a.crash("boom");
            watch.started("A", 6).await;
            sup.stop().await;
        }))
    });
    let starts: Vec<Instant> = starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 6, "{starts:?}");
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Crash 10 ms after each start, then wait 100, 200, 400, 400 (capped) ms; after the
    // healthy run, 100 ms again.
    let waits = [100, 200, 400, 400].map(|d| scale(ms(10 + d)));
    if backend.is_virtual() {
        assert_eq!(gaps[..4], waits);
        assert_eq!(starts[5] - starts[4], ms(1_500 + 100));
    } else {
        for (gap, wait) in gaps.iter().zip(waits) {
            assert!(*gap >= wait, "{gaps:?}");
        }
    }
    let delays: Vec<&str> = starting_with(&journal, "INFO [^-Sup]: Restarting dead A");
    assert_eq!(delays.len(), 5, "{journal:?}");
    if backend.is_virtual() {
        assert_eq!(
            delays,
            [
                "INFO [^-Sup]: Restarting dead A in 100ms! Last crash reason: connection reset",
                "INFO [^-Sup]: Restarting dead A in 200ms! Last crash reason: connection reset",
                "INFO [^-Sup]: Restarting dead A in 400ms! Last crash reason: connection reset",
                "INFO [^-Sup]: Restarting dead A in 400ms! Last crash reason: connection reset",
                "INFO [^-Sup]: Restarting dead A in 100ms! Last crash reason: boom",
            ]
        );
    }
    // The crashed child is stopped at once, and restarted (with on_restart) after the
    // delay.
    let first_crash = journal
        .iter()
        .position(|l| l.starts_with("ERROR [^--A]"))
        .unwrap();
    assert_eq!(
        journal[first_crash + 1..first_crash + 4],
        [
            "INFO [^-Sup]: Restarting dead A in 100ms! Last crash reason: connection reset"
                .replace("100ms", &format!("{:?}", scale(ms(100)))),
            "INFO [^--A]: Restarting...".to_string(),
            "INFO [^--A]: Stopping...".to_string(),
        ]
    );
    assert_eq!(a.restart_count(), 5);
}

// ===== failed starts =====

/// A child that fails while a restart starts it is not restarted again at once: without
/// a backoff the supervisor gives up with its reason. The same for an `Err` or a panic in
/// `on_start` and an `Err` in `on_started`.
pub fn failed_restart_without_backoff_gives_up<B: Backend>(backend: B) {
    for fail in [Fail::ErrInStart, Fail::PanicInStart, Fail::ErrInStarted] {
        let plan = Plan::default();
        let sup = Supervisor::new(Strategy::OneForOne)
            .with_label("Sup")
            .with_child(Kid::new("A").plan(&plan));
        let tree = backend.tree(sup);
        let sup = tree.handle();
        let a = sup.children()[0].clone();
        let (exit, journal) = crate::run_journaled(&backend, tree, async {
            sup.wait_until_running().await.unwrap();
            plan.lock().unwrap().push_back(Some(fail));
            a.crash("boom");
            sup.wait_until_stopped().await;
        });
        let error = gave_up(exit.reason());
        assert_eq!(error.kind(), SupervisorErrorKind::StartFailed, "{fail:?}");
        assert_eq!(error.child(), "A");
        assert!(
            error.to_string().starts_with("A failed to start: "),
            "{error}"
        );
        assert!(error.crash().error().to_string().contains("cannot bind"));
        // One restart, one failed start, no loop.
        assert_eq!(a.restart_count(), 1, "{fail:?}");
        assert_eq!(
            journal.iter().filter(|l| *l == "A.on_start").count(),
            2,
            "{fail:?}: {journal:?}"
        );
        assert!(journal
            .iter()
            .any(|l| l.starts_with("ERROR [^-Sup]: Crashed reason=A failed to start")));
    }
}

/// With a backoff, a failed start is retried after each (growing) delay, counted like
/// any restart, until it starts.
pub fn failed_restart_with_backoff_is_retried_later<B: Backend>(backend: B) {
    let ms = Duration::from_millis;
    let scale = |d: Duration| if backend.is_virtual() { d } else { d / 4 };
    let plan = Plan::default();
    let starts = Arc::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_max_restarts(3, Duration::from_secs(60))
        .with_backoff(Backoff::exponential(scale(ms(100)), scale(ms(1_000))))
        .with_child(Kid::new("A").plan(&plan).starts(&starts));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        plan.lock()
            .unwrap()
            .extend([Some(Fail::ErrInStart), Some(Fail::PanicInStart)]);
        crash_and_wait(&a, &watch, 2).await;
        assert_eq!(a.state(), State::Running);
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    // The crash and the two failed starts: three restarts, within max_restarts.
    assert_eq!(a.restart_count(), 3);
    let starts: Vec<Instant> = starts.lock().unwrap().clone();
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let waits = [100, 200, 400].map(|d| scale(ms(d)));
    if backend.is_virtual() {
        assert_eq!(gaps[1..], waits[1..]);
    } else {
        for (gap, wait) in gaps[1..].iter().zip(&waits[1..]) {
            assert!(gap >= wait, "{gaps:?}");
        }
    }
    let errors: Vec<&str> = starting_with(&journal, "ERROR [^--A]");
    assert_eq!(
        errors,
        [
            "ERROR [^--A]: Crashed reason=boom",
            "ERROR [^--A]: Crashed reason=cannot bind",
            "ERROR [^--A]: Crashed reason=panicked: cannot bind",
        ]
    );
}

/// Failed starts retried after a backoff count toward the intensity: a child that never
/// starts again makes the supervisor give up once the window is full, with the start's
/// reason.
pub fn failed_restarts_count_toward_intensity<B: Backend>(backend: B) {
    let ms = Duration::from_millis;
    let scale = |d: Duration| if backend.is_virtual() { d } else { d / 4 };
    let plan = Plan::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_max_restarts(2, Duration::from_secs(3600))
        .with_backoff(Backoff::exponential(scale(ms(100)), scale(ms(1_000))))
        .with_child(Kid::new("A").plan(&plan));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, took) = backend.block_on(run_with(tree, async {
        sup.wait_until_running().await.unwrap();
        plan.lock().unwrap().extend([Some(Fail::ErrInStart); 10]);
        let crashed = sup.now();
        a.crash("boom");
        sup.wait_until_stopped().await;
        sup.now() - crashed
    }));
    // The crash restarts after 100 ms (1), that start fails and is retried after 200 ms
    // (2), that start fails too: a third restart would exceed 2.
    let error = gave_up(exit.reason());
    assert_eq!(
        error.kind(),
        SupervisorErrorKind::MaxRestarts {
            restarts: 2,
            over: Duration::from_secs(3600)
        }
    );
    assert_eq!(error.child(), "A");
    assert_eq!(error.crash().error().to_string(), "cannot bind");
    assert_eq!(a.restart_count(), 2);
    assert_eq!(plan.lock().unwrap().len(), 8, "two failed starts");
    if backend.is_virtual() {
        assert_eq!(took, ms(300));
    } else {
        assert!(took >= scale(ms(300)), "{took:?}");
    }
}

/// A child that fails its first start fails the supervisor's start, with the child's
/// crash: it is not restarted.
pub fn failed_first_start_fails_the_supervisor<B: Backend>(backend: B) {
    let plan = Plan::default();
    plan.lock().unwrap().push_back(Some(Fail::ErrInStart));
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_backoff(Backoff::exponential(
            Duration::from_millis(1),
            Duration::from_millis(1),
        ))
        .with_child(Kid::new("A"))
        .with_child(Kid::new("B").plan(&plan))
        .with_child(Kid::new("C"));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let ((exit, waited), journal) =
        capture(|| backend.block_on(run_with(tree, sup.wait_until_running())));
    let crash = exit.reason().crash().expect("crashed");
    assert_eq!(crash.service(), "B");
    assert_eq!(crash.error().to_string(), "cannot bind");
    assert!(matches!(waited, Err(Error::Crashed(_))), "{waited:?}");
    assert_eq!(b.restart_count(), 0);
    assert_eq!(
        [a.state(), b.state(), c.state()],
        [State::Stopped, State::Stopped, State::Init]
    );
    assert!(!journal.iter().any(|l| l.contains("Restarting")));
}

// ===== races =====

/// Two children crashing at once: one-for-one restarts each once (two restarts counted);
/// one-for-all restarts the group once (one restart counted). Both crashes are logged.
pub fn two_children_crash_at_once<B: Backend>(backend: B) {
    // One-for-one, max 2: the two crashes use both restarts; a third crash escalates.
    let sup = abc(Strategy::OneForOne).with_max_restarts(2, Duration::from_secs(3600));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        a.crash("boom");
        c.crash("boom");
        watch.started("A", 2).await;
        watch.started("C", 2).await;
        assert_eq!([a.state(), c.state()], [State::Running; 2]);
        b.crash("boom");
        sup.wait_until_stopped().await;
    });
    assert_eq!(
        [a.restart_count(), b.restart_count(), c.restart_count()],
        [1, 0, 1]
    );
    assert!(matches!(
        gave_up(exit.reason()).kind(),
        SupervisorErrorKind::MaxRestarts { restarts: 2, .. }
    ));
    for child in ["A", "C"] {
        let crashed = format!("ERROR [^--{child}]: Crashed reason=boom");
        assert_eq!(journal.iter().filter(|l| **l == crashed).count(), 1);
    }

    // One-for-all, max 1: one group restart for both crashes.
    let sup = abc(Strategy::OneForAll).with_max_restarts(1, Duration::from_secs(3600));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let children = sup.children();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        children[0].crash("boom");
        children[2].crash("boom");
        watch.started("C", 2).await;
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    for child in &children {
        assert_eq!(child.restart_count(), 1, "{child:?}");
    }
    assert_eq!(watch.starts("A"), 2);
    let errors: Vec<&str> = starting_with(&journal, "ERROR");
    assert_eq!(
        errors,
        [
            "ERROR [^--A]: Crashed reason=boom",
            "ERROR [^--C]: Crashed reason=boom",
        ]
    );
    assert_eq!(
        journal
            .iter()
            .filter(|l| l.contains("Restarting dead"))
            .count(),
        1
    );
}

/// Stopping the supervisor during a backoff wait stops it at once; nothing restarts.
pub fn stop_during_backoff_stops_at_once<B: Backend>(backend: B) {
    let u = unit(&backend);
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_backoff(Backoff::exponential(u * 100, u * 100))
        .with_child(Kid::new("A"));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        a.crash("boom");
        a.wait_until_stopped().await;
        sup.sleep(u).await.unwrap();
        let asked = sup.now();
        sup.stop().await;
        let took = sup.now() - asked;
        if backend.is_virtual() {
            assert_eq!(took, Duration::ZERO);
        } else {
            assert!(took < u * 50, "{took:?}");
        }
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(a.restart_count(), 0);
    assert_eq!(a.state(), State::Stopped);
    assert!(!journal.iter().any(|l| l == "A.on_restart"));
}

/// Sleeps in `on_start` on its restarts, so a stop can arrive in the middle.
struct SlowRestart {
    runs: u32,
}

impl Service for SlowRestart {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        self.runs += 1;
        record(format!("Slow.on_start {}", self.runs));
        if self.runs > 1 {
            // Returns early, with `Err(Stopped)`, when the stop arrives.
            let slept = cx.handle().sleep(Duration::from_secs(3600)).await;
            record(format!("Slow slept: {slept:?}"));
        }
        Ok(())
    }

    async fn on_started(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("Slow.on_started {}", self.runs));
        Ok(())
    }
}

/// Stopping the supervisor while a child restarts interrupts the restart; the
/// supervisor stops without restarting anything else.
pub fn stop_during_restart<B: Backend>(backend: B) {
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_max_restarts(1, Duration::from_secs(3600))
        .with_child(SlowRestart { runs: 0 });
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let slow = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        slow.crash("boom");
        sup.sleep(Duration::from_millis(20)).await.unwrap();
        assert_eq!(slow.state(), State::Starting);
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(slow.state(), State::Stopped);
    assert_eq!(slow.restart_count(), 1);
    assert!(journal.iter().any(|l| l == "Slow slept: Err(Stopped)"));
    assert!(!journal.iter().any(|l| l == "Slow.on_started 2"));
    assert_eq!(
        journal
            .iter()
            .filter(|l| l.contains("Restarting dead"))
            .count(),
        1
    );
}

/// Crashes a sibling from its `on_stop`, while the supervisor stops.
struct CrashOnStop(Option<ServiceHandle>);

impl Service for CrashOnStop {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        self.0 = cx
            .handle()
            .parent()
            .map(|parent| parent.children()[0].clone());
        Ok(())
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        if let Some(sibling) = &self.0 {
            sibling.crash("crashed while stopping");
        }
        Ok(())
    }
}

/// A crash while the supervisor is stopping (or asked to stop) restarts nothing and is
/// not counted.
pub fn crash_while_supervisor_stops_restarts_nothing<B: Backend>(backend: B) {
    // A sibling crashes A from its on_stop, during the supervisor's stop sequence.
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_child(Kid::new("A"))
        .with_child(CrashOnStop(None));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(a.restart_count(), 0);
    assert!(journal
        .iter()
        .any(|l| l == "A.on_stop (crashed: A crashed: crashed while stopping)"));
    assert!(!journal.iter().any(|l| l.contains("Restarting")));

    // A crash queued just before the stop request: the stop wins, nothing is counted.
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_max_restarts(0, Duration::from_secs(3600))
        .with_child(Kid::new("A"));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let a = sup.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        a.crash("boom");
        sup.stop().await;
    });
    // With max_restarts 0 a counted restart would have made the supervisor give up.
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(a.restart_count(), 0);
    assert!(!journal.iter().any(|l| l.contains("Restarting")));
}

// ===== nesting =====

/// A crash below a child (without a supervisor between) restarts that child, with its
/// subtree; a supervisor that gives up is restarted by the supervisor above it, with
/// fresh restart intensity.
pub fn crashes_reach_the_nearest_supervisor<B: Backend>(backend: B) {
    // Grandchild: Sup -> Cache -> Redis.
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_child(Probe::new("Cache").with_child(Probe::new("Redis")));
    let (tree, watch) = watched(&backend, sup);
    let sup = tree.handle();
    let cache = sup.children()[0].clone();
    let redis = cache.children()[0].clone();
    let (_, journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            sup.wait_until_running().await.unwrap();
            redis.crash("boom");
            watch.started("Cache", 2).await;
            sup.stop().await;
        }))
    });
    assert_eq!([cache.restart_count(), redis.restart_count()], [1, 1]);
    assert!(journal.iter().any(
        |l| l == "INFO [^-Sup]: Restarting dead Cache! Last crash reason: Redis crashed: boom"
    ));
    assert!(journal
        .iter()
        .any(|l| l == "Cache.on_stop (crashed: Redis crashed: boom)"));

    // Outer -> Inner (max 1) -> A: the second crash of A makes Inner give up.
    let inner = Supervisor::new(Strategy::OneForOne)
        .with_label("Inner")
        .with_max_restarts(1, Duration::from_secs(3600))
        .with_child(Kid::new("A"));
    let outer = Supervisor::new(Strategy::OneForOne)
        .with_label("Outer")
        .with_child(inner);
    let (tree, watch) = watched(&backend, outer);
    let outer = tree.handle();
    let inner = outer.children()[0].clone();
    let a = inner.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        outer.wait_until_running().await.unwrap();
        crash_and_wait(&a, &watch, 2).await;
        assert_eq!(inner.restart_count(), 0);
        crash_and_wait(&a, &watch, 3).await;
        watch.started("Inner", 2).await;
        assert_eq!(inner.restart_count(), 1);
        // Fresh intensity: Inner restarts A again.
        crash_and_wait(&a, &watch, 4).await;
        assert_eq!(inner.restart_count(), 1);
        outer.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(a.restart_count(), 3);
    assert!(journal.iter().any(|l| l
        == "ERROR [^--Inner]: Crashed reason=max restarts exceeded: 1 restart(s) within 3600s, \
            then A crashed: boom"));
    assert!(journal.iter().any(|l| l.starts_with(
        "INFO [^-Outer]: Restarting dead Inner! Last crash reason: max restarts exceeded"
    )));
}

// ===== children added and removed =====

/// Breaks on start.
struct Broken;

impl Service for Broken {
    async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        Err("cannot bind".into())
    }
}

/// Children added while the supervisor runs are started and supervised; removed ones are
/// stopped and gone; a child that cannot start is not kept.
pub fn children_added_and_removed_while_running<B: Backend>(backend: B) {
    let (tree, watch) = watched(&backend, abc(Strategy::OneForOne));
    let root = tree.handle();
    assert_eq!(
        SupervisorHandle::try_from(&root.children()[0]),
        Err(mode_core::supervisor::NotASupervisor)
    );
    let sup = SupervisorHandle::try_from(&root).unwrap();
    assert_eq!(sup.strategy(), Strategy::OneForOne);
    // Queued before the tree runs: added once the supervisor runs.
    let early = sup.add(Kid::new("Early"));
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        let early = early.await.unwrap();
        assert_eq!(early.state(), State::Running);
        let late = sup.add(Kid::new("Late")).await.unwrap();
        assert_eq!(late.state(), State::Running);
        let labels: Vec<String> = sup
            .service()
            .children()
            .iter()
            .map(|c| c.label().into())
            .collect();
        assert_eq!(labels, ["A", "B", "C", "Early", "Late"]);

        // Supervised like the others.
        crash_and_wait(&late, &watch, 2).await;
        assert_eq!(late.restart_count(), 1);

        // Removed: stopped, gone from the tree, its handle inert.
        let b = sup.service().children()[1].clone();
        assert!(sup.remove(&b).await.unwrap());
        assert_eq!(b.state(), State::Stopped);
        assert!(!sup.service().children().contains(&b));
        assert!(!sup.remove(&b).await.unwrap());
        assert!(matches!(b.start().await, Err(Error::TreeFinished)));

        // Failing to start: the caller gets the crash; nothing is kept.
        let err = sup.add(Broken).await.unwrap_err();
        let Error::Crashed(crash) = err else {
            panic!("{err:?}")
        };
        assert_eq!(crash.error().to_string(), "cannot bind");
        assert_eq!(sup.service().children().len(), 4);
        assert_eq!(sup.service().state(), State::Running);

        // A supervisor's children stay across its restarts.
        sup.service().restart().await.unwrap();
        let labels: Vec<String> = sup
            .service()
            .children()
            .iter()
            .map(|c| c.label().into())
            .collect();
        assert_eq!(labels, ["A", "C", "Early", "Late"]);
        assert_eq!(late.state(), State::Running);
        sup.service().stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert!(journal
        .iter()
        .any(|l| l == "ERROR [^--Broken]: Crashed reason=cannot bind"));
    assert!(journal.iter().any(|l| l == "B.on_stop (asked to stop)"));
    // After the tree finished, requests say so.
    assert!(matches!(
        backend.block_on(sup.add(Kid::new("TooLate"))),
        Err(Error::TreeFinished)
    ));
}
