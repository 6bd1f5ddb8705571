//! Stop details as mode users rely on them: on_shutdown after a timed-out shutdown wait, children of a restarted parent, the crash reason on every service a crash stopped (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! stop_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            stop_parity::a_timed_out_shutdown_wait_skips_on_shutdown,
            stop_parity::children_of_a_restarted_parent_get_no_restart_hooks,
            stop_parity::a_supervisors_restart_resets_the_grandchildren,
            stop_parity::a_crash_leaves_its_reason_on_every_service_it_stopped,
            stop_parity::a_handled_crash_stays_with_the_crashed_subtree,
        );
    };
}

use std::borrow::Cow;
use std::string::{String, ToString};
use std::vec::Vec;

use mode_core::time::Duration;
use mode_core::Service;
use mode_core::{
    BoxResult, Context, Dependencies, ServiceHandle, State, StopFailure, StopReason, Strategy,
    Supervisor, SupervisorHandle, WaitingOn,
};

use crate::journal::{between, lines, logs, record};
use crate::probe::Probe;
use crate::{run_with, Backend};

// ===== wait_for_shutdown =====

/// Drops a value when its service releases its resources: records it.
struct Resource;

impl Drop for Resource {
    fn drop(&mut self) {
        record("resource released");
    }
}

/// Waits for the shutdown flag when it stops, within 50 ms; holds a resource and a task.
struct Gate;

impl Service for Gate {
    fn wait_for_shutdown(&self) -> bool {
        true
    }

    fn stop_timeout(&self) -> Option<core::time::Duration> {
        Some(core::time::Duration::from_millis(50))
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.add_context(Resource)?;
        let me = cx.handle().clone();
        cx.spawn(async move {
            me.sleep(Duration::from_secs(3600)).await?;
            Ok(())
        })?;
        Ok(())
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        record("Gate.on_shutdown");
        Ok(())
    }
}

/// With `wait_for_shutdown`, a stop whose wait for the shutdown flag times out does not
/// run `on_shutdown` (mode's stop ends at the timeout); the timeout is the stop reason and
/// an unclean stop, and the service's tasks and resources still go. With the flag set in
/// time, `on_shutdown` runs as usual.
pub fn a_timed_out_shutdown_wait_skips_on_shutdown<B: Backend>(backend: B) {
    // Never set: the wait times out.
    let tree = backend.tree(Gate);
    let gate = tree.handle();
    let (exit, journal) = crate::start_and_stop(&backend, tree);
    assert!(
        matches!(exit.reason(), StopReason::StopTimeout { .. }),
        "{exit:?}"
    );
    let [unclean] = exit.unclean_stops() else {
        panic!("{exit:?}")
    };
    assert!(matches!(
        unclean.failure(),
        StopFailure::TimedOut {
            waiting_on: WaitingOn::Shutdown,
            ..
        }
    ));
    assert!(matches!(
        gate.stop_reason(),
        Some(StopReason::StopTimeout {
            waiting_on: WaitingOn::Shutdown
        })
    ));
    let stop: Vec<&str> = journal
        .iter()
        .skip_while(|l| !l.ends_with("Stopping..."))
        .filter(|l| !l.starts_with("WARN"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        stop,
        lines(
            "
            INFO [^-Gate]: Stopping...
            INFO [^-Gate]: Stopped
            resource released
            INFO [^-Gate]: Shutdown complete!
            "
        )
    );
    let warnings: Vec<&str> = logs(&journal)
        .into_iter()
        .filter(|l| l.starts_with("WARN"))
        .collect();
    assert_eq!(warnings.len(), 1, "{journal:#?}");
    assert!(warnings[0].contains("shutdown"), "{warnings:?}");
    assert_eq!(gate.state(), State::Stopped);

    // Set in time: `on_shutdown` runs.
    let tree = backend.tree(Gate);
    let gate = tree.handle();
    let ((exit, ()), journal) = crate::journal::capture(|| {
        backend.block_on(run_with(tree, async {
            gate.wait_until_running().await.unwrap();
            gate.set_shutdown();
            gate.stop().await;
        }))
    });
    assert!(exit.is_clean(), "{exit:?}");
    let tail: Vec<&str> = journal
        .iter()
        .skip_while(|l| !l.ends_with("Stopped"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        lines(
            "
            INFO [^-Gate]: Stopped
            resource released
            Gate.on_shutdown
            INFO [^-Gate]: Shutdown complete!
            "
        )
    );
}

// ===== children of a restarted parent =====

/// Restarting a service restarts it with `on_restart`; the services below stop and start
/// again with it without `on_restart` or `on_first_start` (mode's `restart` resets them and
/// starts them; only the restarted service's `restart` calls `on_restart`), and their
/// restart counts grow as mode's `service_reset` counts them.
pub fn children_of_a_restarted_parent_get_no_restart_hooks<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App").with_child(
        Probe::new("Parent").with_child(Probe::new("Child").with_child(Probe::new("Grandchild"))),
    ));
    let app = tree.handle();
    let parent = app.children()[0].clone();
    let child = parent.children()[0].clone();
    let grandchild = child.children()[0].clone();
    let ((exit, ()), journal) = crate::journal::capture(|| {
        backend.block_on(run_with(tree, async {
            app.wait_until_running().await.unwrap();
            record("-- restart --");
            parent.restart().await.unwrap();
            record("-- stop --");
            app.stop().await;
        }))
    });
    assert!(exit.is_clean(), "{exit:?}");
    let hooks: Vec<&str> = between(&journal, "-- restart --", "-- stop --")
        .into_iter()
        .filter(|l| !l.starts_with("INFO") || l.contains("Restarting") || l.contains("Starting"))
        .collect();
    assert_eq!(
        hooks,
        lines(
            "
            INFO [^--Parent]: Restarting...
            Parent.on_stop (restarting)
            Child.on_stop (parent stopping)
            Grandchild.on_stop (parent stopping)
            Grandchild.on_shutdown
            Child.on_shutdown
            Parent.on_shutdown
            Parent.on_restart
            INFO [^--Parent]: Starting...
            Parent.on_start
            INFO [^---Child]: Starting...
            Child.on_start
            INFO [^----Grandchild]: Starting...
            Grandchild.on_start
            Grandchild.on_started
            Child.on_started
            Parent.on_started
            "
        )
    );
    assert_eq!(
        [
            app.restart_count(),
            parent.restart_count(),
            child.restart_count(),
            grandchild.restart_count()
        ],
        [0, 1, 1, 1]
    );
}

/// Declares a supervisor as its child.
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

/// A supervisor's restart of a crashed child gives the child `on_restart` and its own
/// children no hook before `on_start`; a restart of the supervisor itself starts its
/// children again the same way, except a child that never started, which gets
/// `on_first_start`.
pub fn a_supervisors_restart_resets_the_grandchildren<B: Backend>(backend: B) {
    let sup = Supervisor::new(Strategy::OneForOne)
        .with_label("Sup")
        .with_child(Probe::new("Cache").with_child(Probe::new("Redis")));
    let tree = backend.tree(Holder(Some(sup)));
    let app = tree.handle();
    let sup = app.children()[0].clone();
    let cache = sup.children()[0].clone();
    let redis = cache.children()[0].clone();
    let ((exit, ()), journal) = crate::journal::capture(|| {
        backend.block_on(run_with(tree, async {
            app.wait_until_running().await.unwrap();
            record("-- crash --");
            redis.crash("boom");
            while cache.restart_count() < 1 || cache.state() != State::Running {
                app.sleep(Duration::from_millis(1)).await.unwrap();
            }
            record("-- sup stopped --");
            sup.stop().await;
            // Added while the supervisor is stopped: it starts with the next start.
            let handle = SupervisorHandle::try_from(&sup).unwrap();
            let late = handle.add(Probe::new("Late")).await.unwrap();
            assert_eq!(late.state(), State::Init);
            record("-- sup restart --");
            sup.restart().await.unwrap();
            assert_eq!(late.state(), State::Running);
            record("-- stop --");
            app.stop().await;
        }))
    });
    assert!(exit.is_clean(), "{exit:?}");
    let hooks = |from: &str, to: &str| -> Vec<String> {
        between(&journal, from, to)
            .into_iter()
            .filter(|l| {
                l.ends_with(".on_first_start")
                    || l.ends_with(".on_restart")
                    || l.ends_with(".on_start")
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        hooks("-- crash --", "-- sup stopped --"),
        ["Cache.on_restart", "Cache.on_start", "Redis.on_start"]
    );
    assert_eq!(
        hooks("-- sup restart --", "-- stop --"),
        [
            "Cache.on_start",
            "Redis.on_start",
            "Late.on_first_start",
            "Late.on_start"
        ]
    );
    assert_eq!([cache.restart_count(), redis.restart_count()], [2, 2]);
}

// ===== the crash reason everywhere =====

/// A root with a sibling subtree (with a supervisor in it), the crashing child with a
/// child of its own, and a child stopped before the crash.
struct Family;

impl Service for Family {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("App")
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Probe::new("Sibling").with_child(Probe::new("Nephew")));
        deps.add(
            Supervisor::new(Strategy::OneForOne)
                .with_label("Sup")
                .with_child(Probe::new("Ward")),
        );
        deps.add(Probe::new("Crasher").with_child(Probe::new("Below")));
        deps.add(Probe::new("Gone"));
    }
}

/// Every service in a tree, top down.
fn all(root: &ServiceHandle) -> Vec<ServiceHandle> {
    let mut all = vec![root.clone()];
    let mut i = 0;
    while i < all.len() {
        let children = all[i].children();
        all.extend(children);
        i += 1;
    }
    all
}

/// A crash that stops a tree without a supervisor on its way leaves the same crash readable
/// on every service that the stop stopped (mode marks the whole tree crashed), below a
/// supervisor too; their stop reasons say how each stopped; the crash is logged once, and
/// only the root's reason makes the run a failure. A service stopped before keeps no crash.
pub fn a_crash_leaves_its_reason_on_every_service_it_stopped<B: Backend>(backend: B) {
    let tree = backend.tree(Family);
    let app = tree.handle();
    let crasher = app.children()[2].clone();
    let gone = app.children()[3].clone();
    let services = all(&app);
    let ((exit, ()), journal) = crate::journal::capture(|| {
        backend.block_on(run_with(tree, async {
            app.wait_until_running().await.unwrap();
            gone.stop().await;
            crasher.crash("boom");
            app.wait_until_stopped().await;
        }))
    });
    let crash = exit
        .reason()
        .crash()
        .expect("the tree stopped with the crash");
    assert_eq!(crash.service(), "Crasher");
    assert!(exit.unclean_stops().is_empty(), "{exit:?}");
    for service in &services {
        assert_eq!(service.state(), State::Stopped, "{service:?}");
        if *service == gone {
            assert!(service.crash_reason().is_none());
            assert!(matches!(service.stop_reason(), Some(StopReason::Requested)));
            continue;
        }
        let reason = service
            .crash_reason()
            .unwrap_or_else(|| panic!("no crash reason on {service:?}"));
        assert!(reason.ptr_eq(crash), "{service:?}: {reason}");
        assert!(service.is_crashed(), "{service:?}");
    }
    let reasons: Vec<(String, String)> = services
        .iter()
        .map(|s| {
            let reason = s.stop_reason().map(|r| r.to_string()).unwrap_or_default();
            (s.label().to_string(), reason)
        })
        .collect();
    let crashed = "crashed: Crasher crashed: boom".to_string();
    let parent = "parent stopping".to_string();
    assert_eq!(
        reasons,
        [
            ("App".into(), crashed.clone()),
            ("Sibling".into(), parent.clone()),
            ("Sup".into(), parent.clone()),
            ("Crasher".into(), crashed.clone()),
            ("Gone".into(), "asked to stop".into()),
            ("Nephew".into(), parent.clone()),
            ("Ward".into(), parent.clone()),
            ("Below".into(), parent.clone()),
        ]
    );
    let crash_lines: Vec<&str> = logs(&journal)
        .into_iter()
        .filter(|l| l.contains("Crashed reason="))
        .collect();
    assert_eq!(crash_lines, ["ERROR [^--Crasher]: Crashed reason=boom"]);
    assert!(!journal.iter().any(|l| l.contains("Restarting")));
}

/// A crash that a supervisor handles by a restart stays with the restarted child's run: its
/// siblings and the supervisor keep none, and after the restart the child and the services
/// below it have a fresh state. A forfeited child's subtree keeps the crash.
pub fn a_handled_crash_stays_with_the_crashed_subtree<B: Backend>(backend: B) {
    for strategy in [Strategy::OneForOne, Strategy::ForfeitOneForOne] {
        let sup = Supervisor::new(strategy)
            .with_label("Sup")
            .with_child(Probe::new("A"))
            .with_child(Probe::new("B").with_child(Probe::new("Below")));
        let tree = backend.tree(sup);
        let sup = tree.handle();
        let [a, b] = <[ServiceHandle; 2]>::try_from(sup.children()).unwrap();
        let below = b.children()[0].clone();
        let (exit, ()) = backend.block_on(run_with(tree, async {
            sup.wait_until_running().await.unwrap();
            b.crash("boom");
            match strategy {
                Strategy::OneForOne => {
                    while b.restart_count() < 1 || b.state() != State::Running {
                        sup.sleep(Duration::from_millis(1)).await.unwrap();
                    }
                    assert!(b.crash_reason().is_none());
                    assert!(below.crash_reason().is_none());
                }
                _ => {
                    b.wait_until_stopped().await;
                    let crash = b.crash_reason().unwrap();
                    assert!(below.crash_reason().unwrap().ptr_eq(&crash), "{strategy:?}");
                    assert_eq!(below.state(), State::Stopped);
                }
            }
            assert!(a.crash_reason().is_none(), "{strategy:?}");
            assert!(sup.crash_reason().is_none(), "{strategy:?}");
            sup.stop().await;
        }));
        assert!(exit.is_clean(), "{strategy:?}: {exit:?}");
        assert!(a.crash_reason().is_none(), "{strategy:?}");
    }
}
