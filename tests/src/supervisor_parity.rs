//! Supervisors as mode users rely on them: replacement factories, replacing a child, the hook when every child is up again (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! supervisor_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            supervisor_parity::replacement_builds_a_fresh_child,
            supervisor_parity::one_for_all_replaces_every_child_in_order,
            supervisor_parity::child_factory_replaces_only_its_child,
            supervisor_parity::replacements_count_as_restarts,
            supervisor_parity::replace_at_an_index_keeps_the_order,
            supervisor_parity::replace_errors_are_clear,
            supervisor_parity::on_operational_when_every_child_is_up_again,
        );
    };
}

use std::borrow::Cow;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::supervisor::ReplaceError;
use mode_core::time::Duration;
use mode_core::{
    Backoff, BoxResult, Context, Service, ServiceHandle, State, StopReason, Strategy, Supervisor,
    SupervisorError, SupervisorErrorKind, SupervisorHandle,
};

use crate::journal::{between, lines, logs, record};
use crate::probe::Probe;
use crate::Backend;

// ===== helpers =====

/// A [`Probe`] labelled `label`.
fn named(label: impl Into<String>) -> Probe {
    Probe::new(label.into())
}

/// Fails its start.
struct Broken;

impl Service for Broken {
    async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        Err("cannot bind".into())
    }
}

fn labels(service: &ServiceHandle) -> Vec<String> {
    service
        .children()
        .iter()
        .map(|c| c.label().to_string())
        .collect()
}

/// Waits until the child at `index` of `parent` is another service than `old`, and runs.
async fn replaced(parent: &ServiceHandle, index: usize, old: &ServiceHandle) -> ServiceHandle {
    loop {
        let child = parent.children().get(index).cloned();
        if let Some(child) = child.filter(|child| child != old) {
            child.wait_until_running().await.unwrap();
            return child;
        }
        parent.sleep(Duration::from_millis(1)).await.unwrap();
    }
}

// ===== replacement factories =====

/// `with_replacement` (mode's `replacement=`): a crashed child is stopped and a fresh
/// service, built from the crashed child's handle and index, takes its place and starts as
/// a new service (`on_first_start`); the order of the children is kept, the old handle
/// stays readable and leaves the tree, the others are untouched.
pub fn replacement_builds_a_fresh_child<B: Backend>(backend: B) {
    /// What the replacement was given: the crashed child's label, its index, its state and
    /// whether its crash was readable.
    type Call = (String, usize, State, bool);
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_child(named("A"))
        .with_child(named("B"))
        .with_child(named("C"))
        .with_replacement({
            let calls = calls.clone();
            move |crashed: &ServiceHandle, index| {
                calls.lock().unwrap().push((
                    crashed.label().to_string(),
                    index,
                    crashed.state(),
                    crashed.crash_reason().is_some(),
                ));
                named(format!("{}2", crashed.label()))
            }
        });
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let [a, b, c] = <[ServiceHandle; 3]>::try_from(sup.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        record("-- crash --");
        b.crash("boom");
        let b2 = replaced(&sup, 1, &b).await;
        record("-- stop --");
        assert_eq!(labels(&sup), ["A", "B2", "C"]);
        assert_eq!(sup.children(), [a.clone(), b2.clone(), c.clone()]);
        assert_eq!(b2.restart_count(), 0);
        assert_eq!(b2.parent().as_ref(), Some(&sup));
        // The old handle: stopped with its crash, no longer in the tree.
        assert_eq!(b.state(), State::Stopped);
        assert_eq!(b.crash_reason().unwrap().to_string(), "B crashed: boom");
        assert!(matches!(
            b.start().await,
            Err(mode_core::Error::TreeFinished)
        ));
        sup.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(
        *calls.lock().unwrap(),
        [("B".to_string(), 1, State::Stopped, true)]
    );
    assert_eq!(
        between(&journal, "-- crash --", "-- stop --"),
        lines(
            "
            ERROR [^--B]: Crashed reason=boom
            INFO [^-Sup]: Restarting dead B! Last crash reason: boom
            INFO [^--B]: Stopping...
            B.on_stop (crashed: B crashed: boom)
            INFO [^--B]: Stopped
            B.on_shutdown
            INFO [^--B]: Shutdown complete!
            B2.on_first_start
            INFO [^--B2]: Starting...
            B2.on_start
            INFO [^--B2]: Started
            B2.on_started
            "
        )
    );
    assert_eq!([a.restart_count(), c.restart_count()], [0, 0]);
    // The fresh child stops with the supervisor, in its place.
    let stops: Vec<&str> = journal
        .iter()
        .filter(|l| l.contains(".on_stop (parent stopping)"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        stops,
        [
            "C.on_stop (parent stopping)",
            "B2.on_stop (parent stopping)",
            "A.on_stop (parent stopping)",
        ]
    );
}

/// One-for-all with a replacement: every child is stopped (in reverse order) and replaced
/// by a fresh one, started in order, each built with its index.
pub fn one_for_all_replaces_every_child_in_order<B: Backend>(backend: B) {
    let indices: Arc<Mutex<Vec<usize>>> = Arc::default();
    let sup = Supervisor::new(Strategy::OneForAll)
        .with_label("Sup")
        .with_child(named("A"))
        .with_child(named("B"))
        .with_child(named("C"))
        .with_replacement({
            let indices = indices.clone();
            move |crashed: &ServiceHandle, index| {
                indices.lock().unwrap().push(index);
                named(format!("{}2", crashed.label()))
            }
        });
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let children = sup.children();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        record("-- crash --");
        children[1].crash("boom");
        replaced(&sup, 2, &children[2]).await;
        record("-- stop --");
        assert_eq!(labels(&sup), ["A2", "B2", "C2"]);
        sup.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(*indices.lock().unwrap(), [0, 1, 2]);
    let hooks: Vec<&str> = between(&journal, "-- crash --", "-- stop --")
        .into_iter()
        .filter(|l| l.contains(".on_") || l.starts_with("ERROR") || l.contains("dead"))
        .collect();
    assert_eq!(
        hooks,
        lines(
            "
            ERROR [^--B]: Crashed reason=boom
            INFO [^-Sup]: Restarting dead B! Last crash reason: boom
            C.on_stop (restarting)
            C.on_shutdown
            B.on_stop (crashed: B crashed: boom)
            B.on_shutdown
            A.on_stop (restarting)
            A.on_shutdown
            A2.on_first_start
            A2.on_start
            A2.on_started
            B2.on_first_start
            B2.on_start
            B2.on_started
            C2.on_first_start
            C2.on_start
            C2.on_started
            "
        )
    );
    for child in &children {
        assert_eq!(child.state(), State::Stopped);
    }
}

/// `with_child_factory`: the child built by the factory is replaced by a fresh one from the
/// same factory after each crash; a plain child beside it is restarted as before.
pub fn child_factory_replaces_only_its_child<B: Backend>(backend: B) {
    let built = Arc::new(AtomicUsize::new(0));
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_child(named("Plain"))
        .with_child_factory({
            let built = built.clone();
            move || {
                let n = built.fetch_add(1, Ordering::SeqCst) + 1;
                named(format!("Made{n}"))
            }
        });
    assert_eq!(
        built.load(Ordering::SeqCst),
        1,
        "the first child is built at once"
    );
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let [plain, made1] = <[ServiceHandle; 2]>::try_from(sup.children()).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        made1.crash("boom");
        let made2 = replaced(&sup, 1, &made1).await;
        made2.crash("boom");
        let made3 = replaced(&sup, 1, &made2).await;
        assert_eq!(labels(&sup), ["Plain", "Made3"]);
        assert_eq!(made3.restart_count(), 0);

        record("-- plain --");
        plain.crash("boom");
        while plain.restart_count() < 1 || plain.state() != State::Running {
            sup.sleep(Duration::from_millis(1)).await.unwrap();
        }
        record("-- stop --");
        assert_eq!(sup.children(), [plain.clone(), made3.clone()]);
        sup.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(built.load(Ordering::SeqCst), 3);
    let plain_hooks: Vec<&str> = between(&journal, "-- plain --", "-- stop --")
        .into_iter()
        .filter(|l| l.starts_with("Plain.") || l.contains("[^--Plain]: Restarting"))
        .collect();
    assert_eq!(
        plain_hooks,
        [
            "INFO [^--Plain]: Restarting...",
            "Plain.on_stop (crashed: Plain crashed: boom)",
            "Plain.on_shutdown",
            "Plain.on_restart",
            "Plain.on_start",
            "Plain.on_started",
        ]
    );
    for n in 1..=3 {
        let first = format!("Made{n}.on_first_start");
        assert_eq!(journal.iter().filter(|l| **l == first).count(), 1, "{n}");
    }
    assert!(!journal
        .iter()
        .any(|l| l.starts_with("Made") && l.ends_with("on_restart")));
}

/// Replacements are restarts: they count toward the restart intensity, and the backoff
/// streak of a child goes on with the child that replaced it.
pub fn replacements_count_as_restarts<B: Backend>(backend: B) {
    let u = if backend.is_virtual() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(20)
    };
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_max_restarts(2, u * 3600)
        .with_backoff(Backoff::exponential(u, u * 100))
        .with_child_factory(|| named("Conn"));
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let (exit, _) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        let first = sup.children()[0].clone();
        let t0 = sup.now();
        first.crash("boom");
        let second = replaced(&sup, 0, &first).await;
        let t1 = sup.now();
        second.crash("boom");
        let third = replaced(&sup, 0, &second).await;
        let t2 = sup.now();
        if backend.is_virtual() {
            // Delays of u, then 2u: the streak went on with the fresh child.
            assert_eq!(t1 - t0, u);
            assert_eq!(t2 - t1, u * 2);
        } else {
            assert!(t1 - t0 >= u && t2 - t1 >= u * 2);
        }
        // A third crash within the window: the supervisor gives up.
        third.crash("boom");
        sup.wait_until_stopped().await;
    });
    let crash = exit.reason().crash().expect("gave up");
    let error = crash.error().downcast_ref::<SupervisorError>().unwrap();
    assert_eq!(
        error.kind(),
        SupervisorErrorKind::MaxRestarts {
            restarts: 2,
            over: u * 3600
        }
    );
    assert_eq!(error.child(), "Conn");
}

// ===== replacing a child at an index =====

/// `SupervisorHandle::replace`: the child at the index is stopped (asked to) and removed,
/// the new one starts in its place and is supervised; the order of the children is kept.
pub fn replace_at_an_index_keeps_the_order<B: Backend>(backend: B) {
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_child(named("A"))
        .with_child(named("B"))
        .with_child(named("C"));
    let tree = backend.tree(sup);
    let root = tree.handle();
    let sup = SupervisorHandle::try_from(&root).unwrap();
    let b = root.children()[1].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        record("-- replace --");
        let new = sup.replace(1, named("New")).await.unwrap();
        record("-- replaced --");
        assert_eq!(labels(&root), ["A", "New", "C"]);
        assert_eq!(new.state(), State::Running);
        assert_eq!(b.state(), State::Stopped);
        assert!(matches!(b.stop_reason(), Some(StopReason::Requested)));

        // Supervised like any child.
        new.crash("boom");
        while new.restart_count() < 1 || new.state() != State::Running {
            root.sleep(Duration::from_millis(1)).await.unwrap();
        }
        assert_eq!(labels(&root), ["A", "New", "C"]);
        root.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(
        between(&journal, "-- replace --", "-- replaced --"),
        lines(
            "
            INFO [^--B]: Stopping...
            B.on_stop (asked to stop)
            INFO [^--B]: Stopped
            B.on_shutdown
            INFO [^--B]: Shutdown complete!
            New.on_first_start
            INFO [^--New]: Starting...
            New.on_start
            INFO [^--New]: Started
            New.on_started
            "
        )
    );
}

/// Holds a supervisor as its child.
struct Holder(Option<Supervisor>);

impl Service for Holder {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("App")
    }

    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        if let Some(supervisor) = self.0.take() {
            deps.add(supervisor);
        }
    }
}

/// Replacing fails with a clear error: an index out of range and a supervisor that is not
/// running (stopped, or its tree finished) change nothing; a replacement that cannot start
/// is removed again, and the caller gets its crash.
pub fn replace_errors_are_clear<B: Backend>(backend: B) {
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_child(named("A"))
        .with_child(named("B"));
    let tree = backend.tree(Holder(Some(sup)));
    let app = tree.handle();
    let sup = SupervisorHandle::try_from(&app.children()[0]).unwrap();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        app.wait_until_running().await.unwrap();
        let err = sup.replace(2, named("X")).await.unwrap_err();
        assert!(
            matches!(err, ReplaceError::OutOfRange { index: 2, len: 2 }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "no child at index 2: the supervisor has 2 children"
        );
        assert_eq!(labels(sup.service()), ["A", "B"]);

        // The new child fails to start: the caller gets the crash, nothing is kept.
        let err = sup.replace(0, Broken).await.unwrap_err();
        let ReplaceError::Crashed(crash) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(crash.error().to_string(), "cannot bind");
        assert_eq!(labels(sup.service()), ["B"]);
        assert_eq!(sup.service().state(), State::Running);

        // A stopped supervisor replaces nothing.
        sup.service().stop().await;
        let err = sup.replace(0, named("X")).await.unwrap_err();
        assert!(matches!(err, ReplaceError::NotRunning), "{err:?}");
        assert_eq!(labels(sup.service()), ["B"]);
        app.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert!(logs(&journal).contains(&"ERROR [^---Broken]: Crashed reason=cannot bind"));
    assert!(!journal.iter().any(|l| l.starts_with("X.")));
    // After the tree finished, the request says so.
    let err = backend.block_on(sup.replace(0, named("X"))).unwrap_err();
    assert!(matches!(err, ReplaceError::TreeFinished), "{err:?}");
}

// ===== every child up again =====

/// A supervisor over `children` whose `on_operational` hook records `operational` (and
/// whether every child ran then) and counts its calls.
fn operational_sup(strategy: Strategy, children: &[&str]) -> (Supervisor, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut sup = Supervisor::new(strategy).with_label("Sup");
    for child in children {
        sup = sup.with_child(named(*child));
    }
    let sup = sup.on_operational({
        let calls = calls.clone();
        move |sup: &SupervisorHandle| {
            let all_up = sup
                .service()
                .children()
                .iter()
                .all(|child| child.state() == State::Running);
            record(format!("operational (all up: {all_up})"));
            calls.fetch_add(1, Ordering::SeqCst);
        }
    });
    (sup, calls)
}

/// Sleeps on `service`'s clock until `calls` reaches `n`.
async fn calls_reach(service: &ServiceHandle, calls: &AtomicUsize, n: usize) {
    while calls.load(Ordering::SeqCst) < n {
        service.sleep(Duration::from_millis(1)).await.unwrap();
    }
}

/// `on_operational` is called once a restart brought every child back up, right after the
/// last restarted child's `on_started`: not for the supervisor's own start, once per
/// recovery, and with several children waiting for their backoff delay, only once the
/// last of them runs again. A forfeiting supervisor, whose children stay down, never
/// calls it.
pub fn on_operational_when_every_child_is_up_again<B: Backend>(backend: B) {
    // One-for-one: once per recovery.
    let (sup, calls) = operational_sup(Strategy::OneForOne, &["A", "B"]);
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 0, "not for the first start");
        record("-- crash --");
        sup.children()[1].crash("boom");
        calls_reach(&sup, &calls, 1).await;
        record("-- again --");
        sup.children()[0].crash("boom");
        calls_reach(&sup, &calls, 2).await;
        record("-- stop --");
        sup.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let first = between(&journal, "-- crash --", "-- again --");
    assert_eq!(
        first[first.len() - 3..],
        [
            "INFO [^--B]: Started",
            "B.on_started",
            "operational (all up: true)"
        ]
    );
    let second = between(&journal, "-- again --", "-- stop --");
    assert_eq!(
        second[second.len() - 2..],
        ["A.on_started", "operational (all up: true)"]
    );

    // Two children waiting for their backoff delay: called once, after the second.
    let u = Duration::from_millis(if backend.is_virtual() { 1_000 } else { 20 });
    let (sup, calls) = operational_sup(Strategy::OneForOne, &["A", "B"]);
    let tree = backend.tree(sup.with_backoff(Backoff::exponential(u, u)));
    let sup = tree.handle();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        let [a, b] = <[ServiceHandle; 2]>::try_from(sup.children()).unwrap();
        a.crash("boom");
        b.crash("boom");
        calls_reach(&sup, &calls, 1).await;
        assert_eq!([a.state(), b.state()], [State::Running; 2]);
        // Nothing more comes.
        sup.sleep(u * 3).await.unwrap();
        sup.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let tail: Vec<&str> = journal
        .iter()
        .filter(|l| l.ends_with(".on_started") || l.starts_with("operational"))
        .map(String::as_str)
        .collect();
    // Started in order, then restarted (both delays end at the same instant: on real
    // clocks in either order), then told once.
    assert_eq!(tail.len(), 5, "{tail:?}");
    assert_eq!(tail[..2], ["A.on_started", "B.on_started"]);
    let mut restarted = tail[2..4].to_vec();
    restarted.sort_unstable();
    assert_eq!(restarted, ["A.on_started", "B.on_started"]);
    assert_eq!(tail[4], "operational (all up: true)");

    // Forfeit: the child stays down, so never.
    let (sup, calls) = operational_sup(Strategy::ForfeitOneForOne, &["A", "B"]);
    let tree = backend.tree(sup);
    let sup = tree.handle();
    let (exit, _) = crate::run_journaled(&backend, tree, async {
        sup.wait_until_running().await.unwrap();
        let a = sup.children()[0].clone();
        a.crash("boom");
        a.wait_until_stopped().await;
        sup.sleep(Duration::from_millis(10)).await.unwrap();
        sup.stop().await;
    });
    assert!(exit.is_clean(), "{exit:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
