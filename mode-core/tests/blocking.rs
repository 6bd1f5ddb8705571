//! Blocking detection (`mode_core::blocking`): a thread held inside the poll of a hook, a
//! task or a timer is sampled from another thread, which names the service and what runs.
//! Each test blocks its service on a barrier, so nothing depends on timing.

use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use mode_core::blocking::{self, Busy, Watch};
use mode_core::testing::VirtualRuntime;
use mode_core::{BoxResult, Context, Dependencies, Service, TimerOptions, Tree};

/// The count of live `Watch`es is process-wide: tests that watch take turns, so that the
/// test that watches nothing really does.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A point where a service's code waits twice: once to say it is inside its poll, once
/// for the test to let it go on.
#[derive(Clone)]
struct Gate(Arc<Barrier>);

impl Gate {
    fn new() -> Self {
        Gate(Arc::new(Barrier::new(2)))
    }

    /// The service's side: blocks its thread until the test has looked.
    fn hold(&self) {
        self.0.wait();
        self.0.wait();
    }

    /// The test's side: returns once the service's code is blocked inside its poll.
    fn reached(&self) {
        self.0.wait();
    }

    /// The test's side: lets the service's code go on.
    fn release(&self) {
        self.0.wait();
    }
}

/// Runs `service`'s tree on a thread named `name`, on the virtual-time runtime.
fn run_on_thread<S: Service + Send>(name: &str, service: S) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let rt = VirtualRuntime::new();
            let exit = rt.block_on(Tree::new(service, rt.clone(), rt.clone()).run());
            assert!(exit.unwrap().is_clean());
        })
        .unwrap()
}

/// The thread `thread` as `watch` samples it now.
fn busy_thread(watch: &Watch, thread: ThreadId) -> Option<Busy> {
    watch
        .sample()
        .into_iter()
        .find(|busy| busy.thread().id() == thread)
}

/// Spawns a task named `blocker` that blocks at the gate, then stops the tree.
struct SpawnsBlocker(Gate);

impl Service for SpawnsBlocker {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let (gate, me) = (self.0.clone(), cx.handle().clone());
        cx.handle().spawn_named("blocker", async move {
            gate.hold();
            me.request_stop();
            Ok(())
        })?;
        Ok(())
    }
}

#[test]
fn a_task_blocked_in_its_poll_is_named_with_its_service() {
    let _serial = serial();
    let watch = blocking::watch();
    let gate = Gate::new();
    let driver = run_on_thread("blocked-task", SpawnsBlocker(gate.clone()));
    gate.reached();

    let busy = busy_thread(&watch, driver.thread().id()).expect("the thread is inside a poll");
    assert_eq!(busy.thread().name(), Some("blocked-task"));
    let running = busy.running().expect("it has not yielded");
    assert_eq!(running.service(), "SpawnsBlocker");
    assert_eq!(running.task(), Some("blocker"));
    assert_eq!(running.hook(), None);
    assert_eq!(running.to_string(), "[^-SpawnsBlocker] in task blocker");
    // A second sample sees the same poll: the thread has not yielded in between.
    let again = busy_thread(&watch, driver.thread().id()).expect("still inside the poll");
    assert_eq!(again.poll_number(), busy.poll_number());
    assert!(!busy.has_yielded());

    gate.release();
    let thread = driver.thread().id();
    driver.join().unwrap();
    assert!(busy.has_yielded());
    assert!(busy.running().is_none());
    assert!(busy_thread(&watch, thread).is_none());
}

/// A timer named `tick` whose first tick blocks at the gate, then stops the tree.
struct Ticks(Gate);

impl Service for Ticks {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let gate = self.0.clone();
        let options = TimerOptions::new().with_name("tick");
        cx.handle()
            .timer_with(Duration::from_secs(1), options, move |me| {
                let gate = gate.clone();
                async move {
                    gate.hold();
                    me.request_stop();
                    Ok(())
                }
            })?;
        Ok(())
    }
}

#[test]
fn a_timer_blocked_in_its_tick_is_named_with_its_service() {
    let _serial = serial();
    let watch = blocking::watch();
    let gate = Gate::new();
    let driver = run_on_thread("blocked-timer", Ticks(gate.clone()));
    gate.reached();

    let running = busy_thread(&watch, driver.thread().id())
        .and_then(|busy| busy.running())
        .expect("the thread is inside the tick's poll");
    assert_eq!(running.to_string(), "[^-Ticks] in task tick");

    gate.release();
    driver.join().unwrap();
}

/// A parent whose child blocks in `on_stop` at the gate.
struct Parent(Gate);

/// Blocks in `on_stop` at the gate.
struct Child(Gate);

impl Service for Parent {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Child(self.0.clone()));
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.handle().request_stop();
        Ok(())
    }
}

impl Service for Child {
    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.0.hold();
        Ok(())
    }
}

#[test]
fn a_hook_blocked_in_its_poll_is_named_with_its_service() {
    let _serial = serial();
    let watch = blocking::watch();
    let gate = Gate::new();
    let driver = run_on_thread("blocked-hook", Parent(gate.clone()));
    gate.reached();

    let busy = busy_thread(&watch, driver.thread().id()).expect("the driver is inside a poll");
    let running = busy.running().expect("it has not yielded");
    assert_eq!(running.service(), "Child");
    assert_eq!(running.hook(), Some("on_stop"));
    assert_eq!(running.task(), None);
    assert_eq!(running.to_string(), "[^--Child] in on_stop");

    gate.release();
    driver.join().unwrap();
    assert!(busy.has_yielded());
}

/// Blocks in `on_start` at each of its gates in turn.
struct TwoStops(Gate, Gate);

impl Service for TwoStops {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        self.0.hold();
        self.1.hold();
        cx.handle().request_stop();
        Ok(())
    }
}

#[test]
fn nothing_is_recorded_while_no_watch_lives() {
    let _serial = serial();
    let (first, second) = (Gate::new(), Gate::new());
    let driver = run_on_thread("unwatched", TwoStops(first.clone(), second.clone()));
    first.reached();
    // The poll began before anyone watched: it is not seen.
    let watch = blocking::watch();
    assert!(busy_thread(&watch, driver.thread().id()).is_none());
    drop(watch);
    first.release();
    second.reached();
    let watch = blocking::watch();
    assert!(busy_thread(&watch, driver.thread().id()).is_none());
    second.release();
    driver.join().unwrap();
}

/// An observer that blocks at the gate when the tree's root is stopping: code the driver
/// runs outside any hook or task.
struct BlocksOnStopping(Gate);

impl mode_core::events::Observer for BlocksOnStopping {
    fn observe(
        &self,
        _service: &mode_core::events::ServiceInfo<'_>,
        event: &mode_core::events::LifecycleEvent<'_>,
    ) {
        if matches!(event, mode_core::events::LifecycleEvent::Stopping(_)) {
            self.0.hold();
        }
    }
}

/// Stops itself once started.
struct StopsAtOnce;

impl Service for StopsAtOnce {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.handle().request_stop();
        Ok(())
    }
}

#[test]
fn code_the_driver_runs_outside_hooks_is_named_with_the_tree_s_root() {
    let _serial = serial();
    let watch = blocking::watch();
    let gate = Gate::new();
    let observer = BlocksOnStopping(gate.clone());
    let driver = std::thread::spawn(move || {
        let rt = VirtualRuntime::new();
        let tree = Tree::new(StopsAtOnce, rt.clone(), rt.clone()).with_observer(observer);
        assert!(rt.block_on(tree.run()).unwrap().is_clean());
    });
    gate.reached();

    let running = busy_thread(&watch, driver.thread().id())
        .and_then(|busy| busy.running())
        .expect("the driver's thread is inside its poll");
    assert!(running.is_driver());
    assert_eq!((running.hook(), running.task()), (None, None));
    assert_eq!(running.service(), "StopsAtOnce");
    assert_eq!(running.to_string(), "[^-StopsAtOnce] in the driver");

    gate.release();
    driver.join().unwrap();
}
