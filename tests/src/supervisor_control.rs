//! Supervisors on par with OTP and its newer peers: rest-for-one (and its forfeit twin),
//! pausing and resuming a child, quarantining a child over its own restart budget, and
//! backoff with jitter.
//!
//! Times are exact on virtual time; on real clocks the jitter test checks lower bounds
//! only (a sleep never ends early).

use std::borrow::Cow;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::supervisor::{PauseError, ResumeError};
use mode_core::time::{Duration, Instant};
use mode_core::{
    Backoff, BoxResult, Context, Dependencies, Parked, Service, ServiceHandle, State, StopReason,
    Strategy, Supervisor, SupervisorError, SupervisorErrorKind, SupervisorHandle,
};

use crate::journal::{between, lines, record};
use crate::probe::Probe;
use crate::Backend;

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! supervisor_control_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            supervisor_control::rest_for_one_restarts_the_crashed_child_and_those_after_it,
            supervisor_control::rest_for_one_counts_one_restart,
            supervisor_control::rest_for_one_replaces_the_rest_and_reports_operational,
            supervisor_control::forfeit_rest_for_one_stops_the_crashed_child_and_those_after_it,
            supervisor_control::pause_stops_a_child_on_purpose_until_resumed,
            supervisor_control::pause_and_resume_errors_are_clear,
            supervisor_control::a_one_for_all_restart_leaves_a_paused_child_stopped,
            supervisor_control::a_rest_for_one_restart_leaves_a_paused_child_stopped,
            supervisor_control::a_crash_while_a_child_pauses_restarts_the_group_without_it,
            supervisor_control::pausing_a_child_waiting_for_its_restart_calls_it_off,
            supervisor_control::quarantine_parks_a_child_over_its_budget,
            supervisor_control::quarantine_leaves_a_one_for_all_group_running,
            supervisor_control::jitter_draws_from_the_seed_below_the_delay,
            supervisor_control::the_dump_shows_parked_children,
        );
    };
}

// ===== helpers =====

/// Waits (on `clock`'s timers, a millisecond at a time) until `done` holds.
async fn until(clock: &ServiceHandle, mut done: impl FnMut() -> bool) {
    while !done() {
        clock.sleep(Duration::from_millis(1)).await.unwrap();
    }
}

/// A supervisor labelled `Sup` with three probes, `A`, `B` and `C`.
fn abc(strategy: Strategy) -> Supervisor {
    Supervisor::new(strategy)
        .with_label("Sup")
        .with_child(Probe::new("A"))
        .with_child(Probe::new("B"))
        .with_child(Probe::new("C"))
}

/// Holds services as declared children.
struct Group(Vec<Supervisor>);

impl Service for Group {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("App")
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for supervisor in self.0.drain(..) {
            deps.add(supervisor);
        }
    }
}

/// Crashes ("boom") as soon as it started, in its first `crashes` runs (shared, so that
/// replacements and resumes see the count); records when each start began.
struct Flaky {
    label: &'static str,
    crashes: Arc<AtomicU32>,
    starts: Arc<Mutex<Vec<Instant>>>,
}

impl Flaky {
    fn new(label: &'static str, crashes: u32) -> Self {
        Flaky {
            label,
            crashes: Arc::new(AtomicU32::new(crashes)),
            starts: Arc::default(),
        }
    }
}

impl Service for Flaky {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.label)
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        self.starts.lock().unwrap().push(cx.handle().now());
        Ok(())
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let left = self.crashes.load(Ordering::SeqCst);
        if left > 0 {
            self.crashes.store(left - 1, Ordering::SeqCst);
            cx.handle().crash("boom");
        }
        Ok(())
    }
}

/// The stop and start of `X` restarted by a group restart that `B`'s crash caused.
fn restart_lines(label: &str, reason: &str) -> String {
    format!(
        "
        INFO [^--{label}]: Restarting...
        INFO [^--{label}]: Stopping...
        {label}.on_stop ({reason})
        INFO [^--{label}]: Stopped
        {label}.on_shutdown
        INFO [^--{label}]: Shutdown complete!
        "
    )
}

fn start_lines(label: &str) -> String {
    format!(
        "
        {label}.on_restart
        INFO [^--{label}]: Starting...
        {label}.on_start
        INFO [^--{label}]: Started
        {label}.on_started
        "
    )
}

// ===== rest-for-one =====

/// Rest-for-one: the crashed child and those after it stop in reverse order and start
/// again in order; the ones before it keep running, untouched.
pub fn rest_for_one_restarts_the_crashed_child_and_those_after_it<B: Backend>(backend: B) {
    let sup = abc(Strategy::RestForOne).with_child(Probe::new("D"));
    assert_eq!(Strategy::RestForOne.label(), "RestForOneSupervisor");
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let [a, b, c, d] = <[ServiceHandle; 4]>::try_from(sup.children()).unwrap();
    let mut a_started = None;
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        a_started = a.started_at();
        record("-- crash --");
        b.crash("boom");
        until(&sup, || {
            d.restart_count() == 1 && d.state() == State::Running
        })
        .await;
        record("-- stop --");
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let expected = [
        "
        ERROR [^--B]: Crashed reason=boom
        INFO [^-Sup]: Restarting dead B! Last crash reason: boom
        "
        .to_string(),
        restart_lines("D", "restarting"),
        restart_lines("C", "restarting"),
        restart_lines("B", "crashed: B crashed: boom"),
        start_lines("B"),
        start_lines("C"),
        start_lines("D"),
    ]
    .concat();
    assert_eq!(
        between(&journal, "-- crash --", "-- stop --"),
        lines(&expected)
    );
    assert_eq!(
        [a.restart_count(), b.restart_count(), c.restart_count()],
        [0, 1, 1]
    );
    assert_eq!(a.started_at(), a_started, "A was not started again");
    assert!(!between(&journal, "-- crash --", "-- stop --")
        .iter()
        .any(|l| l.contains("[^--A]") || l.starts_with("A.")));
}

/// Rest-for-one counts one restart per crash, however many children it restarts: with
/// `max_restarts` 1, the first crash restarts the group and the second gives up.
pub fn rest_for_one_counts_one_restart<B: Backend>(backend: B) {
    let sup = abc(Strategy::RestForOne).with_max_restarts(1, Duration::from_secs(3_600));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let [_, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        sup.wait_until_running().await.unwrap();
        b.crash("boom");
        until(&sup, || {
            c.restart_count() == 1 && c.state() == State::Running
        })
        .await;
        assert_eq!(sup.state(), State::Running);
        c.crash("again");
    }));
    let crash = exit.reason().crash().expect("the supervisor gave up");
    let error = crash.error().downcast_ref::<SupervisorError>().unwrap();
    assert_eq!(error.child(), "C");
    assert_eq!(
        error.kind(),
        SupervisorErrorKind::MaxRestarts {
            restarts: 1,
            over: Duration::from_secs(3_600)
        }
    );
}

/// Rest-for-one with a replacement: the crashed child and those after it are replaced by
/// fresh services, in order and in place; the ones before keep their service; the hook
/// runs once every child is up again.
pub fn rest_for_one_replaces_the_rest_and_reports_operational<B: Backend>(backend: B) {
    let built: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let operational = Arc::new(AtomicU32::new(0));
    let sup = abc(Strategy::RestForOne)
        .with_replacement({
            let built = built.clone();
            move |crashed: &ServiceHandle, index| {
                let label = format!("{}2", crashed.label());
                built.lock().unwrap().push((label.clone(), index));
                Probe::new(label)
            }
        })
        .on_operational({
            let operational = operational.clone();
            move |_| {
                operational.fetch_add(1, Ordering::SeqCst);
            }
        });
    let tree = backend.tree(sup);
    let root = tree.handle();
    let [a, b, _] = <[ServiceHandle; 3]>::try_from(root.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        record("-- crash --");
        b.crash("boom");
        until(&root, || operational.load(Ordering::SeqCst) == 1).await;
        record("-- stop --");
        let labels: Vec<String> = root
            .children()
            .iter()
            .map(|c| c.label().to_string())
            .collect();
        assert_eq!(labels, ["A", "B2", "C2"]);
        assert_eq!(root.children()[0], a);
        assert!(root.children().iter().all(|c| c.state() == State::Running));
        root.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(
        *built.lock().unwrap(),
        [("B2".to_string(), 1), ("C2".to_string(), 2)]
    );
    let first_starts: Vec<&str> = between(&journal, "-- crash --", "-- stop --")
        .into_iter()
        .filter(|l| l.ends_with(".on_first_start"))
        .collect();
    assert_eq!(first_starts, ["B2.on_first_start", "C2.on_first_start"]);
    assert_eq!(a.restart_count(), 0);
    assert_eq!(operational.load(Ordering::SeqCst), 1);
}

/// Forfeit rest-for-one: the crashed child and those after it stop for good, in reverse
/// order; the ones before it go on, and the supervisor stays up.
pub fn forfeit_rest_for_one_stops_the_crashed_child_and_those_after_it<B: Backend>(backend: B) {
    let tree = backend.tree(abc(Strategy::ForfeitRestForOne));
    let sup = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        record("-- crash --");
        b.crash("boom");
        b.wait_until_stopped().await;
        record("-- stop --");
        assert_eq!(sup.state(), State::Running);
        assert_eq!(a.state(), State::Running);
        assert_eq!(c.state(), State::Stopped);
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(
        between(&journal, "-- crash --", "-- stop --"),
        lines(
            "
            ERROR [^--B]: Crashed reason=boom
            ERROR [^-Sup]: Giving up on C, not restarting it! Last crash reason: B crashed: boom
            INFO [^--C]: Stopping...
            C.on_stop (asked to stop)
            INFO [^--C]: Stopped
            C.on_shutdown
            INFO [^--C]: Shutdown complete!
            ERROR [^-Sup]: Giving up on B, not restarting it! Last crash reason: boom
            INFO [^--B]: Stopping...
            B.on_stop (crashed: B crashed: boom)
            INFO [^--B]: Stopped
            B.on_shutdown
            INFO [^--B]: Shutdown complete!
            "
        )
    );
    assert_eq!(
        [a.restart_count(), b.restart_count(), c.restart_count()],
        [0; 3]
    );
    assert_eq!(
        Strategy::ForfeitRestForOne.label(),
        "ForfeitRestForOneSupervisor"
    );
}

// ===== pause and resume =====

/// A paused child is stopped on purpose: not restarted, no crash counted (the supervisor
/// allows no restart at all here), visible as `Stopped` and parked; resume starts it again,
/// and so does a start by hand.
pub fn pause_stops_a_child_on_purpose_until_resumed<B: Backend>(backend: B) {
    let sup = abc(Strategy::OneForOne).with_max_restarts(0, Duration::from_secs(3_600));
    let tree = backend.tree(sup);
    let root = tree.handle();
    let handle = SupervisorHandle::try_from(&root).unwrap();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(root.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        record("-- pause --");
        let paused = handle.pause(1).await.unwrap();
        record("-- paused --");
        assert_eq!(paused, b);
        assert_eq!(b.state(), State::Stopped);
        assert_eq!(b.parked(), Some(Parked::Paused));
        assert!(b.crash_reason().is_none());
        assert_eq!([a.state(), c.state()], [State::Running; 2]);
        assert_eq!([a.parked(), c.parked()], [None, None]);
        assert_eq!(root.children(), [a.clone(), b.clone(), c.clone()]);
        // Some time later it is still stopped: nothing restarts it.
        root.sleep(Duration::from_millis(50)).await.unwrap();
        assert_eq!((b.state(), b.restart_count()), (State::Stopped, 0));
        record("-- resume --");
        let resumed = handle.resume(1).await.unwrap();
        record("-- resumed --");
        assert_eq!(resumed, b);
        assert_eq!((b.state(), b.parked()), (State::Running, None));
        assert_eq!(root.state(), State::Running);
        // A paused child started by hand is no longer parked.
        handle.pause(1).await.unwrap();
        b.start().await.unwrap();
        assert_eq!((b.state(), b.parked()), (State::Running, None));
        root.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(
        between(&journal, "-- pause --", "-- paused --"),
        lines(
            "
            INFO [^-Sup]: Pausing B...
            INFO [^--B]: Stopping...
            B.on_stop (asked to stop)
            INFO [^--B]: Stopped
            B.on_shutdown
            INFO [^--B]: Shutdown complete!
            "
        )
    );
    assert_eq!(
        between(&journal, "-- resume --", "-- resumed --"),
        lines(&format!(
            "INFO [^-Sup]: Resuming paused B...\n{}",
            start_lines("B")
        ))
    );
}

/// The errors of pause and resume: no child at the index, a child parked already or not
/// parked, a supervisor that does not run, a tree that finished.
pub fn pause_and_resume_errors_are_clear<B: Backend>(backend: B) {
    let tree = backend.tree(Group(std::vec![abc(Strategy::OneForOne)]));
    let app = tree.handle();
    let sup = app.children()[0].clone();
    let handle = SupervisorHandle::try_from(&sup).unwrap();
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        app.wait_until_running().await.unwrap();
        let err = handle.pause(3).await.unwrap_err();
        assert_eq!(err, PauseError::OutOfRange { index: 3, len: 3 });
        assert_eq!(
            err.to_string(),
            "no child at index 3: the supervisor has 3 children"
        );
        let err = handle.resume(0).await.unwrap_err();
        assert!(matches!(err, ResumeError::NotParked), "{err:?}");
        assert!(matches!(
            handle.resume(7).await,
            Err(ResumeError::OutOfRange { index: 7, len: 3 })
        ));
        handle.pause(0).await.unwrap();
        let err = handle.pause(0).await.unwrap_err();
        assert_eq!(err, PauseError::AlreadyParked(Parked::Paused));
        assert_eq!(err.to_string(), "the child is paused already");
        // A stopped supervisor pauses and resumes nothing; its paused child stays so.
        sup.stop().await;
        assert_eq!(handle.pause(1).await, Err(PauseError::NotRunning));
        assert!(matches!(
            handle.resume(0).await,
            Err(ResumeError::NotRunning)
        ));
        assert_eq!(sup.children()[0].parked(), Some(Parked::Paused));
        app.stop().await;
        assert_eq!(handle.pause(1).await, Err(PauseError::TreeFinished));
        assert!(matches!(
            handle.resume(0).await,
            Err(ResumeError::TreeFinished)
        ));
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

/// Pauses `C` (rest-for-one) or `B` (one-for-all), then crashes `A`: the group restart
/// stops and starts the others, never the paused child; resume starts it later.
fn a_group_restart_leaves_a_paused_child_stopped<B: Backend>(
    backend: B,
    strategy: Strategy,
    paused: usize,
) {
    let tree = backend.tree(abc(strategy));
    let root = tree.handle();
    let handle = SupervisorHandle::try_from(&root).unwrap();
    let children = root.children();
    let label = children[paused].label().to_string();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        handle.pause(paused).await.unwrap();
        record("-- crash --");
        children[0].crash("boom");
        until(&root, || {
            children.iter().enumerate().all(|(i, c)| {
                i == paused || (c.restart_count() == 1 && c.state() == State::Running)
            })
        })
        .await;
        record("-- restarted --");
        let child = &children[paused];
        assert_eq!(
            (child.state(), child.parked()),
            (State::Stopped, Some(Parked::Paused))
        );
        assert_eq!(child.restart_count(), 0);
        handle.resume(paused).await.unwrap();
        assert_eq!((child.state(), child.restart_count()), (State::Running, 1));
        root.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let segment = between(&journal, "-- crash --", "-- restarted --");
    assert!(
        !segment
            .iter()
            .any(|l| l.contains(&format!("[^--{label}]")) || l.starts_with(&format!("{label}."))),
        "{segment:#?}"
    );
    let restarted: Vec<&str> = segment
        .iter()
        .copied()
        .filter(|l| l.ends_with("Restarting...") || l.ends_with(".on_restart"))
        .collect();
    let others: Vec<String> = ["A", "B", "C"]
        .into_iter()
        .filter(|l| *l != label)
        .map(String::from)
        .collect();
    let mut expected: Vec<String> = others
        .iter()
        .rev()
        .map(|l| format!("INFO [^--{l}]: Restarting..."))
        .collect();
    expected.extend(others.iter().map(|l| format!("{l}.on_restart")));
    assert_eq!(restarted, expected);
}

/// One-for-all, `B` paused, `A` crashes: `C` and `A` restart, `B` stays stopped.
pub fn a_one_for_all_restart_leaves_a_paused_child_stopped<B: Backend>(backend: B) {
    a_group_restart_leaves_a_paused_child_stopped(backend, Strategy::OneForAll, 1);
}

/// Rest-for-one, `C` paused, `A` crashes: `B` and `A` restart, `C` stays stopped.
pub fn a_rest_for_one_restart_leaves_a_paused_child_stopped<B: Backend>(backend: B) {
    a_group_restart_leaves_a_paused_child_stopped(backend, Strategy::RestForOne, 2);
}

/// Sits in `on_stop` for `slow`, on a sleep of the tree's root (which is not stopping).
struct SlowToStop {
    slow: Duration,
}

impl Service for SlowToStop {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("B")
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let mut root = cx.handle().clone();
        while let Some(parent) = root.parent() {
            root = parent;
        }
        root.sleep(self.slow).await?;
        Ok(())
    }
}

/// One-for-all: `A` crashes while `B` is being paused (it sits in a slow `on_stop`). The
/// pause finishes first, then the group restart stops and starts `C` and `A`, never `B`.
pub fn a_crash_while_a_child_pauses_restarts_the_group_without_it<B: Backend>(backend: B) {
    let slow = if backend.is_virtual() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(50)
    };
    let sup = Supervisor::new(Strategy::OneForAll)
        .with_label("Sup")
        .with_child(Probe::new("A"))
        .with_child(SlowToStop { slow })
        .with_child(Probe::new("C"));
    let tree = backend.tree(Group(std::vec![sup]));
    let app = tree.handle();
    let sup = app.children()[0].clone();
    let handle = SupervisorHandle::try_from(&sup).unwrap();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        app.wait_until_running().await.unwrap();
        let paused = handle.pause(1);
        until(&app, || b.state() == State::Stopping).await;
        a.crash("boom");
        assert_eq!(paused.await.unwrap(), b);
        until(&app, || {
            [&a, &c]
                .iter()
                .all(|x| x.restart_count() == 1 && x.state() == State::Running)
        })
        .await;
        assert_eq!(
            (b.state(), b.parked()),
            (State::Stopped, Some(Parked::Paused))
        );
        assert_eq!(b.restart_count(), 0);
        assert!(b.crash_reason().is_none());
        assert_eq!(sup.state(), State::Running);
        app.stop().await;
    }));
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
}

/// A child paused while it waits for its backoff delay is not started when the delay
/// ends.
pub fn pausing_a_child_waiting_for_its_restart_calls_it_off<B: Backend>(backend: B) {
    let delay = if backend.is_virtual() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(50)
    };
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_backoff(Backoff::exponential(delay, delay))
        .with_child(Flaky::new("F", 1));
    let tree = backend.tree(sup);
    let root = tree.handle();
    let handle = SupervisorHandle::try_from(&root).unwrap();
    let flaky = root.children()[0].clone();
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        root.wait_until_running().await.unwrap();
        until(&root, || flaky.crash_reason().is_some()).await;
        flaky.wait_until_stopped().await;
        handle.pause(0).await.unwrap();
        root.sleep(delay * 3).await.unwrap();
        assert_eq!((flaky.state(), flaky.restart_count()), (State::Stopped, 0));
        assert_eq!(flaky.parked(), Some(Parked::Paused));
        // Paused, the crash of its last run stays readable.
        assert_eq!(flaky.crash_reason().unwrap().to_string(), "F crashed: boom");
        handle.resume(0).await.unwrap();
        assert_eq!((flaky.state(), flaky.restart_count()), (State::Running, 1));
        assert!(flaky.crash_reason().is_none());
        root.stop().await;
    }));
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
}

// ===== quarantine =====

/// A child that crashes once more after its own budget of restarts is parked with its
/// last crash instead of restarted, and the supervisor (whose own intensity would give up
/// at that crash) stays up; the others go on. Resume starts it with a fresh budget.
pub fn quarantine_parks_a_child_over_its_budget<B: Backend>(backend: B) {
    let over = Duration::from_secs(3_600);
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_max_restarts(2, over)
        .with_quarantine(2, over)
        .with_child(Probe::new("A"))
        .with_child(Flaky::new("B", 3));
    let tree = backend.tree(sup);
    let root = tree.handle();
    let handle = SupervisorHandle::try_from(&root).unwrap();
    let [a, b] = <[ServiceHandle; 2]>::try_from(root.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        until(&root, || b.parked().is_some()).await;
        b.wait_until_stopped().await;
        assert_eq!(b.parked(), Some(Parked::Quarantined));
        assert_eq!(b.restart_count(), 2);
        assert_eq!(b.crash_reason().unwrap().to_string(), "B crashed: boom");
        assert_eq!((root.state(), a.state()), (State::Running, State::Running));
        let err = handle.pause(1).await.unwrap_err();
        assert_eq!(err, PauseError::AlreadyParked(Parked::Quarantined));
        record("-- resume --");
        handle.resume(1).await.unwrap();
        assert_eq!((b.state(), b.parked()), (State::Running, None));
        assert_eq!(b.restart_count(), 3);
        root.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let quarantined: Vec<&str> = journal
        .iter()
        .filter(|l| l.contains("Quarantining"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        quarantined,
        [
            "ERROR [^-Sup]: Quarantining B after 2 restart(s) within 3600s, not restarting it! \
             Last crash reason: boom"
        ]
    );
    assert_eq!(
        journal
            .iter()
            .filter(|l| l.starts_with("INFO [^-Sup]: Restarting dead B"))
            .count(),
        2
    );
    assert!(journal.contains(&"INFO [^-Sup]: Resuming quarantined B...".to_string()));
    assert_eq!(a.restart_count(), 0);
}

/// Under one-for-all, a crash that quarantines its child restarts nothing: the others keep
/// running.
pub fn quarantine_leaves_a_one_for_all_group_running<B: Backend>(backend: B) {
    let sup = Supervisor::new(Strategy::OneForAll)
        .with_label("Sup")
        .with_quarantine(1, Duration::from_secs(3_600))
        .with_child(Probe::new("A"))
        .with_child(Flaky::new("B", 2))
        .with_child(Probe::new("C"));
    let tree = backend.tree(sup);
    let root = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(root.children()).unwrap();
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        root.wait_until_running().await.unwrap();
        until(&root, || b.parked().is_some()).await;
        b.wait_until_stopped().await;
        assert_eq!(b.parked(), Some(Parked::Quarantined));
        // The first crash restarted the group, the second parked B alone.
        assert_eq!(
            [a.restart_count(), b.restart_count(), c.restart_count()],
            [1; 3]
        );
        assert_eq!([a.state(), c.state()], [State::Running; 2]);
        root.stop().await;
    }));
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
}

// ===== jitter =====

/// Restart delays with jitter: drawn below the delay without jitter and above its
/// `1 - jitter` share; two supervisors with the same seed wait the same delays (exactly, on
/// virtual time), one with another seed does not.
pub fn jitter_draws_from_the_seed_below_the_delay<B: Backend>(backend: B) {
    let unit = if backend.is_virtual() {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(20)
    };
    let backoff = Backoff::exponential(unit, unit * 8).with_jitter(0.5);
    let crashes = 4;
    let make = |label: &'static str, seed: u64| {
        let flaky = Flaky::new("F", crashes);
        let starts = flaky.starts.clone();
        let sup = Supervisor::new(Strategy::OneForOne)
            .with_label(label)
            .with_backoff(backoff.with_jitter_seed(seed))
            .with_child(flaky);
        (sup, starts)
    };
    let (one, one_starts) = make("One", 7);
    let (two, two_starts) = make("Two", 7);
    let (other, other_starts) = make("Other", 8);
    let tree = backend.tree(Group(std::vec![one, two, other]));
    let app = tree.handle();
    let all_started = {
        let starts = [&one_starts, &two_starts, &other_starts];
        move || {
            starts
                .iter()
                .all(|s| s.lock().unwrap().len() == crashes as usize + 1)
        }
    };
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        app.wait_until_running().await.unwrap();
        until(&app, &all_started).await;
        app.stop().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
    let delays = |starts: &Arc<Mutex<Vec<Instant>>>| -> Vec<Duration> {
        let starts = starts.lock().unwrap();
        starts.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let (one, two, other) = (
        delays(&one_starts),
        delays(&two_starts),
        delays(&other_starts),
    );
    for sequence in [&one, &two, &other] {
        assert_eq!(sequence.len(), crashes as usize);
        for (k, delay) in sequence.iter().enumerate() {
            let full = backoff.delay(u32::try_from(k).unwrap());
            assert!(*delay > full / 2, "{k}: {delay:?} within {full:?}");
            if backend.is_virtual() {
                assert!(*delay <= full, "{k}: {delay:?} within {full:?}");
            }
        }
    }
    if backend.is_virtual() {
        assert_eq!(one, two);
        assert_ne!(one, other);
        let plain: Vec<Duration> = (0..crashes).map(|k| backoff.delay(k)).collect();
        assert_ne!(one, plain, "jitter shortened no delay");
    }
}

// ===== the dump =====

/// The Worker's dump says which children are paused or quarantined.
pub fn the_dump_shows_parked_children<B: Backend>(backend: B) {
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_quarantine(0, Duration::from_secs(60))
        .with_child(Probe::new("A"))
        .with_child(Flaky::new("B", 1))
        .with_child(Probe::new("C"));
    let tree = backend.tree(sup);
    let root = tree.handle();
    let handle = SupervisorHandle::try_from(&root).unwrap();
    let b = root.children()[1].clone();
    let (exit, ()) = backend.block_on(crate::run_with(tree, async {
        root.wait_until_running().await.unwrap();
        until(&root, || b.parked().is_some()).await;
        b.wait_until_stopped().await;
        handle.pause(2).await.unwrap();
        let dump = mode_worker::dump(&root);
        let dump: Vec<&str> = dump.lines().skip(1).collect();
        assert_eq!(dump[0].split(',').next(), Some("  A: running"));
        assert_eq!(dump[1], "  B: stopped (quarantined), last crash: boom");
        assert_eq!(dump[2], "  C: stopped (paused)");
        root.stop().await;
    }));
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
}
