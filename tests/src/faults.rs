//! The lifecycle under faults: stop requests racing restarts, crashes and failures while
//! services stop (and how they reach [`Exit`]), and trees deeper than any stack.
//!
//! The races are swept deterministically: the racing request is made after a growing
//! number of yields, while the hooks it races against yield too, so that every backend
//! sees the request land in each phase of the other operation.

use std::borrow::Cow;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use futures_lite::future::{yield_now, zip};
use mode_core::{
    BoxResult, Context, Dependencies, Error, Exit, Service, State, StopFailure, StopReason,
    Strategy, Supervisor, WaitingOn,
};

use crate::journal::{capture, logs, record};
use crate::{run_with, Backend};

/// How many positions the racing request is swept over: more yields than the hooks and
/// the driver's steps between them take, so the last requests land after the race.
const SWEEP: usize = 40;

/// Records its hooks as `"{label}.{hook}"`, yielding inside each, so that requests from
/// other tasks can land while a hook runs.
struct Yielding {
    label: &'static str,
}

async fn yield_times(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

impl Service for Yielding {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.label)
    }

    async fn on_first_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hook("on_first_start").await
    }

    async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hook("on_start").await
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hook("on_stop").await
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hook("on_shutdown").await
    }

    async fn on_restart(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hook("on_restart").await
    }
}

impl Yielding {
    /// Records the hook, then lets other tasks run a few times.
    async fn hook(&self, name: &str) -> BoxResult {
        record(format!("{}.{name}", self.label));
        yield_times(3).await;
        Ok(())
    }
}

/// A root with one [`Yielding`] child.
struct OneChild;

impl Service for OneChild {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Yielding { label: "Child" });
    }
}

/// Checks that `label`'s hooks pair up: `on_stop` and `on_shutdown` only for a run whose
/// `on_start` ran, once each, and no start hook while a run is up.
fn assert_hooks_pair_up(journal: &[String], label: &str) {
    let prefix = format!("{label}.");
    let mut up = false;
    let mut stopped = false;
    for hook in journal.iter().filter_map(|l| l.strip_prefix(&prefix)) {
        match hook {
            "on_first_start" | "on_restart" => assert!(!up, "{hook} while up: {journal:#?}"),
            "on_start" => {
                assert!(!up, "on_start twice: {journal:#?}");
                up = true;
                stopped = false;
            }
            "on_stop" => {
                assert!(up && !stopped, "on_stop without on_start: {journal:#?}");
                stopped = true;
            }
            "on_shutdown" => {
                assert!(up && stopped, "on_shutdown without on_stop: {journal:#?}");
                up = false;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(!up, "{label} was left running: {journal:#?}");
}

/// A `stop()` issued while a restart is stopping the service wins: the restart returns
/// [`Error::RestartCancelled`], the stop completes, and the service stays stopped.
pub fn stop_during_a_restart_wins<B: Backend>(backend: B) {
    let tree = backend.tree(OneChild);
    let root = tree.handle();
    let child = root.children()[0].clone();
    let ((exit, ()), journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            root.wait_until_running().await.unwrap();
            let restart = child.restart();
            let stop = async {
                // Until the restart's stop is under way.
                while child.state() != State::Stopping {
                    yield_now().await;
                }
                child.stop().await;
            };
            let (restarted, ()) = zip(restart, stop).await;
            assert!(
                matches!(restarted, Err(Error::RestartCancelled)),
                "{restarted:?}"
            );
            assert_eq!(child.state(), State::Stopped);
            assert_eq!(child.restart_count(), 0, "never started again");
            root.stop().await;
        }))
    });
    assert!(exit.is_clean(), "{exit:?}");
    let hooks: Vec<&str> = journal
        .iter()
        .filter(|l| l.starts_with("Child."))
        .map(String::as_str)
        .collect();
    assert_eq!(
        hooks,
        [
            "Child.on_first_start",
            "Child.on_start",
            "Child.on_stop",
            "Child.on_shutdown"
        ]
    );
    assert_eq!(
        Error::RestartCancelled.to_string(),
        "the restart was cancelled by a stop"
    );
}

/// What one round of a restart-and-stop race left.
struct Race {
    exit: Exit,
    restarted: core::result::Result<(), Error>,
    /// The child's state right after both requests completed.
    child_state: State,
    journal: Vec<String>,
}

/// Restarts the child of a [`OneChild`] tree and, `delay` yields later, stops the child
/// (or the root, with `stop_root`).
fn restart_then_stop<B: Backend>(backend: &B, delay: usize, stop_root: bool) -> Race {
    let tree = backend.tree(OneChild);
    let root = tree.handle();
    let child = root.children()[0].clone();
    let target = if stop_root {
        root.clone()
    } else {
        child.clone()
    };
    let ((exit, (restarted, child_state)), journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            root.wait_until_running().await.unwrap();
            let restart = child.restart();
            let stop = async {
                yield_times(delay).await;
                target.stop().await;
            };
            let (restarted, ()) = zip(restart, stop).await;
            let child_state = child.state();
            root.stop().await;
            (restarted, child_state)
        }))
    });
    Race {
        exit,
        restarted,
        child_state,
        journal,
    }
}

/// `restart()` racing `stop()` of the same child, the stop landing anywhere from before
/// the restart runs to after it: both complete, and the child always ends stopped.
pub fn restart_racing_stop_always_ends_stopped<B: Backend>(backend: B) {
    for delay in 0..SWEEP {
        let race = restart_then_stop(&backend, delay, false);
        assert!(
            matches!(
                race.restarted,
                Ok(()) | Err(Error::RestartCancelled | Error::ServiceStopped)
            ),
            "after {delay} yields: {:?}",
            race.restarted
        );
        assert_eq!(race.child_state, State::Stopped, "after {delay} yields");
        assert!(
            race.exit.is_clean(),
            "after {delay} yields: {:?}",
            race.exit
        );
        assert_hooks_pair_up(&race.journal, "Child");
    }
}

/// `restart()` of a child racing the root's `stop()`: a restart cut short after
/// `on_restart` runs no stop hooks for a run that never began `on_start`.
pub fn stop_hooks_run_only_for_a_run_that_began_on_start<B: Backend>(backend: B) {
    let mut cut_short = 0;
    for delay in 0..SWEEP {
        let race = restart_then_stop(&backend, delay, true);
        assert!(
            race.exit.is_clean(),
            "after {delay} yields: {:?}",
            race.exit
        );
        assert_eq!(race.child_state, State::Stopped);
        assert_hooks_pair_up(&race.journal, "Child");
        let last_hook = race.journal.iter().rev().find(|l| l.starts_with("Child."));
        if last_hook.map(String::as_str) == Some("Child.on_restart") {
            cut_short += 1;
        }
    }
    // The sweep did hit the window between `on_restart` and `on_start`.
    assert!(cut_short > 0, "no restart was cut short after on_restart");
}

/// Crashes itself from its parent's `on_stop` (through its handle): a crash while the
/// parent stops, which no supervisor can handle any more.
struct StopsAndCrashesChild;

impl Service for StopsAndCrashesChild {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Yielding { label: "Child" });
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.handle().children()[0].crash("lost the connection while stopping");
        Ok(())
    }
}

/// A crash during the parent's stop is logged with the service's name and makes the run
/// a failure; with a supervisor as the parent, too.
pub fn a_crash_during_the_parents_stop_is_reported<B: Backend>(backend: B) {
    fn check(exit: &Exit, journal: &[String]) {
        assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
        assert!(exit.is_failure());
        let [unclean] = exit.unclean_stops() else {
            panic!("{exit:?}");
        };
        assert_eq!(unclean.service(), "Child");
        assert!(matches!(unclean.failure(), StopFailure::Crashed(_)));
        assert_eq!(
            unclean.to_string(),
            "Child: crashed: lost the connection while stopping"
        );
        let logs = logs(journal);
        let crashed = logs
            .iter()
            .position(|l| {
                *l == "ERROR [^--Child]: Crashed reason=lost the connection while stopping"
            })
            .unwrap_or_else(|| panic!("{logs:#?}"));
        // Logged before the child's stop, in the order it happened.
        assert_eq!(logs[crashed + 1], "INFO [^--Child]: Stopping...");
    }

    let tree = backend.tree(StopsAndCrashesChild);
    let (exit, journal) = crate::start_and_stop(&backend, tree);
    check(&exit, &journal);

    /// The same under a supervisor that would restart it, were it not stopping.
    struct Supervised;

    impl Service for Supervised {
        fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
            deps.add(Supervisor::new(Strategy::OneForOne).with_child(Yielding { label: "Child" }));
        }

        async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
            let supervisor = cx.handle().children()[0].clone();
            supervisor.children()[0].crash("lost the connection while stopping");
            Ok(())
        }
    }
    let tree = backend.tree(Supervised);
    let (exit, journal) = crate::start_and_stop(&backend, tree);
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let [unclean] = exit.unclean_stops() else {
        panic!("{exit:?}");
    };
    assert_eq!(unclean.service(), "Child");
    assert!(
        logs(&journal)
            .iter()
            .any(|l| l.starts_with("ERROR [^---Child]: Crashed reason=")),
        "{journal:#?}"
    );
    assert!(
        !journal.iter().any(|l| l.contains("Restarting")),
        "{journal:#?}"
    );
}

/// What a [`Failing`] service does wrong while it stops.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    OnStopError,
    OnShutdownPanic,
    StopTimeout,
    CrashDuringStopTimeout,
}

/// A child that fails to stop cleanly in the chosen way.
struct Failing(Fault);

impl Service for Failing {
    fn stop_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        match self.0 {
            Fault::OnStopError => Err("could not flush".into()),
            Fault::OnShutdownPanic => Ok(()),
            Fault::StopTimeout => core::future::pending().await,
            Fault::CrashDuringStopTimeout => {
                cx.handle().crash("gave up while stopping");
                core::future::pending().await
            }
        }
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        if self.0 == Fault::OnShutdownPanic {
            panic!("double free");
        }
        Ok(())
    }
}

struct ParentOf(Fault);

impl Service for ParentOf {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Failing(self.0));
    }
}

/// A failed `on_stop` or `on_shutdown` (error or panic), a stop timeout of a child, and a
/// crash during a child's stop timeout each make a requested stop a failure, named in
/// [`Exit::unclean_stops`].
pub fn failures_while_stopping_fail_the_run<B: Backend>(backend: B) {
    for fault in [
        Fault::OnStopError,
        Fault::OnShutdownPanic,
        Fault::StopTimeout,
        Fault::CrashDuringStopTimeout,
    ] {
        let tree = backend.tree(ParentOf(fault));
        let (exit, _) = crate::start_and_stop(&backend, tree);
        assert!(
            matches!(exit.reason(), StopReason::Requested),
            "{fault:?}: {exit:?}"
        );
        assert!(exit.is_failure(), "{fault:?}");
        let failures: Vec<String> = exit.unclean_stops().iter().map(|u| u.to_string()).collect();
        let expected: Vec<&str> = match fault {
            Fault::OnStopError => vec!["Failing: on_stop failed: could not flush"],
            Fault::OnShutdownPanic => vec!["Failing: on_shutdown failed: panicked: double free"],
            Fault::StopTimeout => {
                vec!["Failing: stop timed out after 50ms waiting for on_stop"]
            }
            Fault::CrashDuringStopTimeout => vec![
                "Failing: stop timed out after 50ms waiting for on_stop",
                "Failing: crashed: gave up while stopping",
            ],
        };
        assert_eq!(failures, expected, "{fault:?}");
        if fault == Fault::StopTimeout {
            assert!(matches!(
                exit.unclean_stops()[0].failure(),
                StopFailure::TimedOut {
                    waiting_on: WaitingOn::OnStop,
                    ..
                }
            ));
        }
        // One service, however many things went wrong in its stop.
        assert_eq!(
            exit.to_string(),
            "asked to stop; 1 service did not stop cleanly (Failing)"
        );
    }
}

/// A failed stop hook in a restart is logged, but the restart recovers the service: the
/// run stays clean.
pub fn failures_in_a_restart_do_not_fail_the_run<B: Backend>(backend: B) {
    let tree = backend.tree(ParentOf(Fault::OnStopError));
    let root = tree.handle();
    let child = root.children()[0].clone();
    let ((exit, ()), journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            root.wait_until_running().await.unwrap();
            child.restart().await.unwrap();
            root.stop().await;
        }))
    });
    assert!(
        logs(&journal)
            .iter()
            .filter(|l| l.starts_with("ERROR [^--Failing]: on_stop failed"))
            .count()
            == 2,
        "{journal:#?}"
    );
    // The failure of the final stop counts, the restart's does not.
    assert_eq!(exit.unclean_stops().len(), 1, "{exit:?}");
}

/// A chain of services, `depth` deep below this one.
struct Link(usize);

impl Service for Link {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("Link")
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        if self.0 > 0 {
            deps.add(Link(self.0 - 1));
        }
    }
}

/// How deep [`deep_trees_need_no_stack_per_level`] goes.
pub const DEEP: usize = 100_000;

/// The stack the deep-tree test runs on (see [`conformance_tests!`](crate::conformance_tests)).
pub const SMALL_STACK: usize = 256 * 1024;

/// A chain [`DEEP`] services deep is built, started, stopped and dropped on a thread with
/// a [`SMALL_STACK`]: nothing recurses per level.
pub fn deep_trees_need_no_stack_per_level<B: Backend>(backend: B) {
    let tree = backend.tree(Link(DEEP - 1));
    let root = tree.handle();
    let mut deepest = root.clone();
    while let Some(child) = deepest.children().pop() {
        deepest = child;
    }
    assert_eq!(
        deepest.parent().map(|p| p.label().to_string()).as_deref(),
        Some("Link")
    );
    let (exit, ()) = backend.block_on(run_with(tree, async {
        deepest.wait_until_running().await.unwrap();
        assert_eq!(root.state(), State::Running);
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(deepest.state(), State::Stopped);
    // The last handle to the root goes first: the chain below it is dropped from a list.
    drop(root);
    drop(deepest);
}
