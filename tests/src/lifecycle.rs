//! Start, stop and restart order; runtime dependencies; requests and their errors.

use std::string::String;
use std::vec::Vec;

use mode_core::{BoxResult, Context, Error, Service, ServiceHandle, State, StopReason};

use crate::journal::{capture, record};
use crate::probe::Probe;
use crate::{run_with, Backend};

fn app() -> Probe {
    Probe::new("App")
        .with_child(Probe::new("Websockets"))
        .with_child(Probe::new("UserCache").with_child(Probe::new("Redis")))
        .with_child(Probe::new("Webserver"))
}

fn lines(expected: &str) -> Vec<String> {
    expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The exact start and stop sequence of hooks and log lines for a 3-level tree.
pub fn lifecycle_order<B: Backend>(backend: B) {
    let tree = backend.tree(app());
    let root = tree.handle();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        record("-- stop --");
        root.stop().await;
    });
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let expected = lines(
        "
        App.on_first_start
        INFO [^-App]: Starting...
        App.on_start
        Websockets.on_first_start
        INFO [^--Websockets]: Starting...
        Websockets.on_start
        INFO [^--Websockets]: Started
        Websockets.on_started
        UserCache.on_first_start
        INFO [^--UserCache]: Starting...
        UserCache.on_start
        Redis.on_first_start
        INFO [^---Redis]: Starting...
        Redis.on_start
        INFO [^---Redis]: Started
        Redis.on_started
        INFO [^--UserCache]: Started
        UserCache.on_started
        Webserver.on_first_start
        INFO [^--Webserver]: Starting...
        Webserver.on_start
        INFO [^--Webserver]: Started
        Webserver.on_started
        INFO [^-App]: Started
        App.on_started
        -- stop --
        INFO [^-App]: Stopping...
        App.on_stop (asked to stop)
        INFO [^--Webserver]: Stopping...
        Webserver.on_stop (parent stopping)
        INFO [^--Webserver]: Stopped
        Webserver.on_shutdown
        INFO [^--Webserver]: Shutdown complete!
        INFO [^--UserCache]: Stopping...
        UserCache.on_stop (parent stopping)
        INFO [^---Redis]: Stopping...
        Redis.on_stop (parent stopping)
        INFO [^---Redis]: Stopped
        Redis.on_shutdown
        INFO [^---Redis]: Shutdown complete!
        INFO [^--UserCache]: Stopped
        UserCache.on_shutdown
        INFO [^--UserCache]: Shutdown complete!
        INFO [^--Websockets]: Stopping...
        Websockets.on_stop (parent stopping)
        INFO [^--Websockets]: Stopped
        Websockets.on_shutdown
        INFO [^--Websockets]: Shutdown complete!
        INFO [^-App]: Stopped
        App.on_shutdown
        INFO [^-App]: Shutdown complete!
        ",
    );
    assert_eq!(journal, expected);
    for child in root.children() {
        assert_eq!(child.state(), State::Stopped);
    }
}

/// Restart runs stop, `on_restart`, start; the handle stays valid with fresh state.
pub fn restart_runs_on_restart_and_keeps_the_handle<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App").with_child(Probe::new("Child")));
    let root = tree.handle();
    let child = root.children()[0].clone();
    let ((), journal) = capture(|| {
        backend.block_on(async {
            run_with(tree, async {
                child.wait_until_running().await.unwrap();
                record("-- restart --");
                child.restart().await.unwrap();
                assert_eq!(child.state(), State::Running);
                assert_eq!(child.restart_count(), 1);
                assert!(child.stop_reason().is_none(), "fresh state after restart");
                assert!(!child.should_stop());
                record("-- stop --");
                root.stop().await;
            })
            .await;
        })
    });
    let after_restart: Vec<&str> = journal
        .iter()
        .skip_while(|l| *l != "-- restart --")
        .take_while(|l| *l != "-- stop --")
        .map(String::as_str)
        .collect();
    assert_eq!(
        after_restart,
        [
            "-- restart --",
            "INFO [^--Child]: Restarting...",
            "INFO [^--Child]: Stopping...",
            "Child.on_stop (restarting)",
            "INFO [^--Child]: Stopped",
            "Child.on_shutdown",
            "INFO [^--Child]: Shutdown complete!",
            "Child.on_restart",
            "INFO [^--Child]: Starting...",
            "Child.on_start",
            "INFO [^--Child]: Started",
            "Child.on_started",
        ]
    );
}

/// A service that adds runtime dependencies from `on_start` and from `on_started`.
struct Adder;

impl Service for Adder {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        record("Adder.on_start");
        let early = cx.add_runtime_dependency(Probe::new("Early")).await?;
        // Added while starting: starts with the children, after the declared ones.
        assert_eq!(early.state(), State::Init);
        Ok(())
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let late = cx.add_runtime_dependency(Probe::new("Late")).await?;
        // Added while running: started at once.
        assert_eq!(late.state(), State::Running);
        record("Adder.on_started done");
        Ok(())
    }

    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        deps.add(Probe::new("Declared"));
    }
}

/// Runtime dependencies start when added (or with the children), stop with the parent, and
/// are added afresh after a restart.
pub fn runtime_dependencies<B: Backend>(backend: B) {
    let tree = backend.tree(Adder);
    let root = tree.handle();
    let ((), journal) = capture(|| {
        backend.block_on(async {
            run_with(tree, async {
                root.wait_until_running().await.unwrap();
                let labels: Vec<String> =
                    root.children().iter().map(|c| c.label().into()).collect();
                assert_eq!(labels, ["Declared", "Early", "Late"]);
                let first_run = root.children();
                root.restart().await.unwrap();
                let second_run = root.children();
                let labels: Vec<String> = second_run.iter().map(|c| c.label().into()).collect();
                assert_eq!(
                    labels,
                    ["Declared", "Early", "Late"],
                    "re-added, not doubled"
                );
                // The handles of the removed children reach nothing, although their
                // successors took their places in the tree.
                for (old, new) in first_run.iter().zip(&second_run).skip(1) {
                    assert_eq!(old.state(), State::Stopped);
                    assert!(old.start().await.is_err());
                    assert!(old.restart().await.is_err());
                    old.stop().await;
                    assert_eq!(new.state(), State::Running);
                    assert_eq!(new.restart_count(), 0);
                }
                root.stop().await;
            })
            .await;
        })
    });
    let starts: Vec<&str> = journal
        .iter()
        .filter(|l| l.ends_with(".on_start") || l.ends_with("done"))
        .map(String::as_str)
        .take(5)
        .collect();
    assert_eq!(
        starts,
        [
            "Adder.on_start",
            "Declared.on_start",
            "Early.on_start",
            "Late.on_start",
            "Adder.on_started done"
        ]
    );
    let stops: Vec<&str> = journal
        .iter()
        .filter(|l| l.contains(".on_stop"))
        .map(String::as_str)
        .take(3)
        .collect();
    assert_eq!(
        stops,
        [
            "Late.on_stop (parent stopping)",
            "Early.on_stop (parent stopping)",
            "Declared.on_stop (parent stopping)"
        ]
    );
}

/// Stop is idempotent and safe from several tasks at once: it stops once.
pub fn stop_is_idempotent_and_concurrent<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    let ((), journal) = capture(|| {
        backend.block_on(async {
            run_with(tree, async {
                root.wait_until_running().await.unwrap();
                let (a, b) = (root.clone(), root.clone());
                futures_lite::future::zip(a.stop(), b.stop()).await;
                root.stop().await;
                assert_eq!(root.state(), State::Stopped);
            })
            .await;
        })
    });
    let stops = journal.iter().filter(|l| l.contains("on_stop")).count();
    assert_eq!(stops, 1, "{journal:?}");
}

/// Bad requests return clear errors and never panic.
pub fn bad_requests_get_clear_errors<B: Backend>(backend: B) {
    let tree = backend.tree(Probe::new("App").with_child(Probe::new("Child")));
    let root = tree.handle();
    let child = root.children()[0].clone();
    // Restarting a service that was never started.
    let err = backend.block_on(child.restart()).unwrap_err();
    assert!(matches!(err, Error::NotStarted), "{err:?}");
    backend.block_on(async {
        run_with(tree, async {
            root.wait_until_running().await.unwrap();
            // Starting a running service.
            assert!(matches!(root.start().await, Err(Error::AlreadyStarted)));
            assert!(!root.maybe_start().await.unwrap());
            // Stopping a child, then starting it again while the parent runs.
            child.stop().await;
            assert_eq!(child.state(), State::Stopped);
            child.stop().await; // stopping twice does nothing
            assert!(child.maybe_start().await.unwrap());
            assert_eq!(child.state(), State::Running);
            root.stop().await;
        })
        .await;
    });
    // After the tree finished: requests report it.
    assert!(matches!(
        backend.block_on(root.start()),
        Err(Error::TreeFinished)
    ));
    assert!(matches!(
        backend.block_on(child.restart()),
        Err(Error::TreeFinished)
    ));
    assert!(matches!(
        root.spawn(async { Ok(()) }),
        Err(Error::ServiceStopped)
    ));
}

/// Records the stop reason each hook sees.
struct ReasonProbe(&'static str);

impl Service for ReasonProbe {
    fn label(&self) -> std::borrow::Cow<'static, str> {
        self.0.into()
    }

    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        if self.0 == "Parent" {
            deps.add(ReasonProbe("Kid"));
        }
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let reason = cx.handle().stop_reason().unwrap();
        record(format!("{} {}", self.0, kind(&reason)));
        Ok(())
    }
}

fn kind(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::Requested => "Requested",
        StopReason::ParentStopping => "ParentStopping",
        StopReason::Crashed(_) => "Crashed",
        StopReason::Restarting => "Restarting",
        StopReason::StopTimeout { .. } => "StopTimeout",
        _ => "other",
    }
}

/// Why a service stopped is a typed value visible in `on_stop` and to waiters.
pub fn stop_reasons_are_typed<B: Backend>(backend: B) {
    let tree = backend.tree(ReasonProbe("Parent"));
    let root = tree.handle();
    let kid = root.children()[0].clone();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        kid.restart().await.unwrap();
        root.stop().await;
        assert!(matches!(
            kid.stop_reason(),
            Some(StopReason::ParentStopping)
        ));
    });
    assert!(matches!(exit.reason(), StopReason::Requested));
    let lines: Vec<&str> = journal
        .iter()
        .filter(|l| !l.starts_with("INFO"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        lines,
        ["Kid Restarting", "Parent Requested", "Kid ParentStopping"]
    );
}

/// Stops itself from `on_start` (through a task), so its start is cut short.
struct SlowStarter;

impl Service for SlowStarter {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        deps.add(Probe::new("First"));
        deps.add(StopsRootOnStart);
        deps.add(Probe::new("Never"));
    }
}

struct StopsRootOnStart;

impl Service for StopsRootOnStart {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let root: ServiceHandle = cx.handle().parent().unwrap();
        // Ctrl-C while the tree is still starting.
        root.request_stop();
        Ok(())
    }
}

/// A stop requested while the tree starts cuts the start short and stops what started.
pub fn stop_during_start_stops_what_started<B: Backend>(backend: B) {
    let tree = backend.tree(SlowStarter);
    let root = tree.handle();
    let never = root.children()[2].clone();
    let (exit, journal) = capture(|| backend.block_on(tree.run()));
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(never.state(), State::Init, "never started");
    assert!(journal
        .iter()
        .any(|l| l == "First.on_stop (parent stopping)"));
    assert!(!journal.iter().any(|l| l.starts_with("Never.")));
    assert_eq!(root.state(), State::Stopped);
}

/// Tries to add a child while stopping.
struct LateAdder;

impl Service for LateAdder {
    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let err = cx
            .add_runtime_dependency(Probe::new("TooLate"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ServiceStopped), "{err:?}");
        record(format!("refused: {err}"));
        Ok(())
    }
}

/// Adding a child to a stopping (or stopped) service is refused with a clear error.
pub fn adding_children_to_a_stopping_service_fails<B: Backend>(backend: B) {
    let tree = backend.tree(LateAdder);
    let root = tree.handle();
    let (_, journal) = crate::start_and_stop(&backend, tree);
    assert!(journal
        .iter()
        .any(|l| l == "refused: the service is stopping or stopped"));
    assert!(root.children().is_empty());
}

/// A service whose lifecycle lines are debug: only what it logs itself shows at info.
struct Quiet;

impl Service for Quiet {
    fn lifecycle_log_level(&self) -> log::Level {
        log::Level::Debug
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        mode_core::info!(cx, "listening on {}", 8000);
        let me = cx.handle().clone();
        cx.spawn(async move {
            mode_core::warn!(me, "from a task");
            Ok(())
        })?;
        Ok(())
    }
}

/// A parent of [`Quiet`], logged at info.
struct Loud;

impl Service for Loud {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        deps.add(Quiet);
    }
}

/// Lifecycle lines take the service's level; a service logs with mode's macros and gets
/// its prefix.
pub fn lifecycle_lines_take_the_services_level<B: Backend>(backend: B) {
    let tree = backend.tree(Loud);
    let (exit, journal) = crate::start_and_stop(&backend, tree);
    assert!(exit.is_clean(), "{exit:?}");
    let logs = crate::journal::logs(&journal);
    assert!(
        logs.contains(&"INFO [^--Quiet]: listening on 8000"),
        "{logs:?}"
    );
    assert!(logs.contains(&"INFO [^-Loud]: Started"), "{logs:?}");
    assert!(
        !logs.iter().any(|l| l.starts_with("INFO [^--Quiet]: Start")),
        "{logs:?}"
    );
    // The task's line may come before or after the stop began, never without the prefix.
    if let Some(line) = logs.iter().find(|l| l.contains("from a task")) {
        assert_eq!(*line, "WARN [^--Quiet]: from a task");
    }
}

/// A parent whose one child stops only once `gate` is set.
struct WaitsForChild {
    gate: std::sync::Arc<mode_core::sync::Event>,
}

/// Its child: `on_stop` waits for the gate.
struct GatedStop {
    gate: std::sync::Arc<mode_core::sync::Event>,
}

impl Service for WaitsForChild {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        deps.add(GatedStop {
            gate: self.gate.clone(),
        });
    }
}

impl Service for GatedStop {
    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.gate.wait().await;
        Ok(())
    }
}

/// While a service stops, its handle says what it waits on: the child its `on_stop`, the
/// parent its children; nothing before the stop or after it.
pub fn a_stopping_service_says_what_it_waits_on<B: Backend>(backend: B) {
    use mode_core::WaitingOn;

    let gate = std::sync::Arc::new(mode_core::sync::Event::new());
    let tree = backend.tree(WaitsForChild { gate: gate.clone() });
    let root = tree.handle();
    let (exit, seen) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let child = root.children().remove(0);
        let before = (root.waiting_on(), child.waiting_on());
        let watch = async {
            while child.state() != State::Stopping {
                futures_lite::future::yield_now().await;
            }
            let during = (root.waiting_on(), child.waiting_on());
            gate.set();
            during
        };
        let ((), during) = futures_lite::future::zip(root.stop(), watch).await;
        (before, during, (root.waiting_on(), child.waiting_on()))
    }));
    assert!(!exit.is_failure(), "{exit:?}");
    let (before, during, after) = seen;
    assert_eq!(before, (None, None));
    assert_eq!(during, (Some(WaitingOn::Children), Some(WaitingOn::OnStop)));
    assert_eq!(after, (None, None));
}
