//! Thread services ([`ServiceThread`]): a service on a dedicated OS thread with its own
//! executor, started, stopped, restarted and supervised from the parent's tree, with work
//! sent to it by [`ThreadHandle`]. Instantiated per backend and thread runtime with
//! [`thread_service_tests!`](crate::thread_service_tests).
//!
//! The parent tree runs on the backend; the thread service's own tree runs on the thread
//! runtime `R`. Live threads are counted by name (`/proc/self/task/*/comm` on Linux), each
//! test naming its threads uniquely, since the harness runs tests side by side.

use std::format;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;
use std::vec::Vec;

use futures_lite::future::{poll_once, yield_now};
use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::supervisor::Strategy;
use mode_core::sync::Event;
use mode_core::{
    BoxResult, Context, Crash, Dependencies, Service, State, StopFailure, StopReason, Supervisor,
};
use mode_worker::{
    ServiceThread, ThreadCallError, ThreadError, ThreadErrorKind, ThreadHandle, ThreadRuntime,
};

use crate::journal::capture;
use crate::{run_with, Backend};

/// A thread name unique to this process: `tag` (at most 9 bytes) and a number, so that it
/// fits the 15 bytes Linux keeps.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The number of live threads of this process named `name`; `None` where it cannot be
/// read.
#[must_use]
pub fn live_threads(name: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .filter(|comm| comm.trim_end() == name)
            .count(),
    )
}

/// Asserts that `expected` threads named `name` are live. A joined thread may still be
/// listed for a moment: its joiner wakes when the exiting thread releases its memory, a
/// little before the kernel takes it out of `/proc`. So more threads than expected are
/// counted again, for up to five seconds, before the assertion fails.
fn assert_live_threads(name: &str, expected: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while let Some(live) = live_threads(name) {
        if live <= expected || std::time::Instant::now() >= deadline {
            assert_eq!(live, expected, "live threads named {name}");
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Yields to the tree until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        yield_now().await;
    }
}

fn thread_name() -> Option<String> {
    std::thread::current().name().map(ToString::to_string)
}

/// A hook, and the name and id of the thread it ran on.
type HookRun = (&'static str, Option<String>, ThreadId);

/// Adds a child.
type AddChild = Box<dyn FnOnce(&mut Dependencies<'_>)>;

/// Records the thread each hook ran on, and fails where told.
#[derive(Clone, Default)]
struct Hooks {
    ran: Arc<Mutex<Vec<HookRun>>>,
}

impl Hooks {
    fn record(&self, hook: &'static str) {
        self.ran
            .lock()
            .unwrap()
            .push((hook, thread_name(), std::thread::current().id()));
    }

    fn names(&self) -> Vec<&'static str> {
        self.ran
            .lock()
            .unwrap()
            .iter()
            .map(|(hook, ..)| *hook)
            .collect()
    }
}

/// The service put on a thread: records its hooks.
struct Worker {
    hooks: Hooks,
    /// Fails `on_start` with this message.
    fail_start: Option<&'static str>,
    /// Holds `on_stop` until this receives (or its sender is gone).
    hold_stop: Option<mpsc::Receiver<()>>,
    /// Set by `on_restart`.
    restarted: Option<Arc<Event>>,
}

impl Worker {
    fn new(hooks: &Hooks) -> Self {
        Worker {
            hooks: hooks.clone(),
            fail_start: None,
            hold_stop: None,
            restarted: None,
        }
    }
}

impl Service for Worker {
    async fn on_first_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hooks.record("on_first_start");
        Ok(())
    }

    async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hooks.record("on_start");
        match self.fail_start {
            Some(message) => Err(message.into()),
            None => Ok(()),
        }
    }

    async fn on_started(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hooks.record("on_started");
        Ok(())
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hooks.record("on_stop");
        if let Some(hold) = &self.hold_stop {
            let _ = hold.recv(); // blocks the thread: what a thread service may do
        }
        Ok(())
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hooks.record("on_shutdown");
        Ok(())
    }

    async fn on_restart(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.hooks.record("on_restart");
        if let Some(restarted) = &self.restarted {
            restarted.set();
        }
        Ok(())
    }
}

/// The parent: records the thread its own hook ran on, and holds the children it is given.
struct App {
    children: Vec<AddChild>,
    start_thread: Arc<Mutex<Option<ThreadId>>>,
    /// Holds `on_start` until the app is asked to stop.
    slow_start: bool,
}

impl App {
    fn new() -> Self {
        App {
            children: Vec::new(),
            start_thread: Arc::default(),
            slow_start: false,
        }
    }

    fn with(mut self, child: impl Service) -> Self {
        self.children.push(Box::new(move |deps| {
            deps.add(child);
        }));
        self
    }
}

impl Service for App {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for add in self.children.drain(..) {
            add(deps);
        }
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        *self.start_thread.lock().unwrap() = Some(std::thread::current().id());
        if self.slow_start {
            let _ = cx.handle().sleep(Duration::from_secs(3600)).await;
        }
        Ok(())
    }
}

fn thread_service<R: ThreadRuntime>(worker: Worker, name: &str) -> ServiceThread<Worker, R> {
    ServiceThread::new(worker).with_thread_name(name)
}

/// Every hook of the service runs on its named thread, not on the parent's; closures sent
/// with `call_thread` run there too.
pub fn hooks_run_on_the_named_thread<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("hooks");
    let hooks = Hooks::default();
    let service = thread_service::<R>(Worker::new(&hooks), &name);
    let handle = service.handle();
    assert_eq!(handle.thread_name(), name);
    let app = App::new().with(service);
    let app_thread = app.start_thread.clone();
    let tree = backend.tree(app);
    let root = tree.handle();
    let (exit, call_thread) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let ran_on = handle.call_thread(thread_name).await.unwrap();
        root.stop().await;
        ran_on
    }));
    assert!(exit.is_clean(), "{exit}");
    assert_eq!(call_thread, Some(name.clone()));
    let ran = hooks.ran.lock().unwrap().clone();
    assert_eq!(
        hooks.names(),
        [
            "on_first_start",
            "on_start",
            "on_started",
            "on_stop",
            "on_shutdown"
        ]
    );
    let parent_thread = app_thread.lock().unwrap().unwrap();
    for (hook, thread, id) in ran {
        assert_eq!(thread.as_deref(), Some(name.as_str()), "{hook}");
        assert_ne!(id, parent_thread, "{hook} ran on the parent's thread");
    }
    assert_live_threads(&name, 0);
}

/// Results, errors returned as values and panics cross back to the caller; casts run in
/// order with calls.
pub fn results_and_errors_cross_back<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("results");
    let service = thread_service::<R>(Worker::new(&Hooks::default()), &name);
    let handle = service.handle();
    let tree = backend.tree(App::new().with(service));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        assert_eq!(handle.call_thread(|| 6 * 7).await, Ok(42));
        let parsed = handle.call_thread(|| "x".parse::<u8>()).await.unwrap();
        assert!(parsed.is_err());
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let count = count.clone();
            handle
                .cast_thread(move || {
                    count.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
        }
        // Calls run in queue order: the casts ran first.
        let seen = count.clone();
        assert_eq!(
            handle
                .call_thread(move || seen.load(Ordering::SeqCst))
                .await,
            Ok(10)
        );
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
}

/// A stop lets the work queued before it run, rejects work offered after it, and ends the
/// thread.
pub fn stop_runs_queued_work_and_rejects_new_work<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("drain");
    let service = thread_service::<R>(Worker::new(&Hooks::default()), &name);
    let handle = service.handle();
    let tree = backend.tree(App::new().with(service));
    let root = tree.handle();
    let ran = Arc::new(AtomicUsize::new(0));
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let thread_service = root.children()[0].clone();
        // Hold the thread in a call, and queue work behind it.
        let (open, gate) = mpsc::channel::<()>();
        let (entered, in_call) = mpsc::channel::<()>();
        handle
            .cast_thread(move || {
                entered.send(()).unwrap();
                let _ = gate.recv();
            })
            .unwrap();
        in_call.recv().unwrap();
        for _ in 0..5 {
            let ran = ran.clone();
            handle
                .cast_thread(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
        }
        assert_eq!(handle.queued(), 5);
        thread_service.request_stop();
        until(|| thread_service.state() == State::Stopping).await;
        until(|| !handle.is_running()).await;
        assert_eq!(handle.cast_thread(|| ()), Err(ThreadCallError::Stopping));
        assert_eq!(
            handle.call_thread(|| ()).await,
            Err(ThreadCallError::Stopping)
        );
        open.send(()).unwrap();
        thread_service.wait_until_stopped().await;
        assert_eq!(
            ran.load(Ordering::SeqCst),
            5,
            "queued work ran before the stop"
        );
        assert_eq!(handle.cast_thread(|| ()), Err(ThreadCallError::NotRunning));
        assert_live_threads(&name, 0);
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
}

/// A thread service stopped before it started spawns no thread and waits for none.
pub fn stop_before_start_waits_for_no_thread<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("never");
    let hooks = Hooks::default();
    let service = thread_service::<R>(Worker::new(&hooks), &name);
    let handle = service.handle();
    let mut app = App::new().with(service);
    app.slow_start = true;
    let tree = backend.tree(app);
    let root = tree.handle();
    let thread_service = root.children()[0].clone();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        until(|| root.state() == State::Starting).await;
        assert_eq!(
            handle.call_thread(|| ()).await,
            Err(ThreadCallError::NotRunning)
        );
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
    assert_ne!(thread_service.state(), State::Running);
    assert!(hooks.names().is_empty(), "{:?}", hooks.names());
    assert_live_threads(&name, 0);
}

/// A restart stops the thread and starts the same service on a new one, where its
/// `on_restart` runs; handles follow it.
pub fn restart_runs_on_a_new_thread<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("restart");
    let hooks = Hooks::default();
    let service = thread_service::<R>(Worker::new(&hooks), &name);
    let handle = service.handle();
    let tree = backend.tree(App::new().with(service));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let thread_service = root.children()[0].clone();
        let first = handle
            .call_thread(|| std::thread::current().id())
            .await
            .unwrap();
        thread_service.restart().await.unwrap();
        let (second, second_name) = handle
            .call_thread(|| (std::thread::current().id(), thread_name()))
            .await
            .unwrap();
        assert_ne!(first, second, "a restart runs on a new thread");
        assert_eq!(second_name.as_deref(), Some(name.as_str()));
        assert_live_threads(&name, 1);
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
    assert_eq!(
        hooks.names(),
        [
            "on_first_start",
            "on_start",
            "on_started",
            "on_stop",
            "on_shutdown",
            "on_restart",
            "on_start",
            "on_started",
            "on_stop",
            "on_shutdown",
        ]
    );
    let ran = hooks.ran.lock().unwrap().clone();
    assert!(ran
        .iter()
        .all(|(_, thread, _)| thread.as_deref() == Some(name.as_str())));
    assert_ne!(ran[0].2, ran[5].2, "on_restart ran on the new thread");
    assert_live_threads(&name, 0);
}

/// Every crash the tree reports.
#[derive(Clone, Default)]
struct Crashes(Arc<Mutex<Vec<Crash>>>);

impl Observer for Crashes {
    fn observe(&self, _service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        if let LifecycleEvent::Crashed(crash) = event {
            self.0.lock().unwrap().push((*crash).clone());
        }
    }
}

/// A panic on the thread crashes the thread service with the reason; the supervisor above
/// restarts it on a new thread.
pub fn a_panic_crashes_it_and_a_supervisor_restarts_it<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("panic");
    let restarted = Arc::new(Event::new());
    let mut worker = Worker::new(&Hooks::default());
    worker.restarted = Some(restarted.clone());
    let service = thread_service::<R>(worker, &name);
    let handle = service.handle();
    let supervisor = Supervisor::new(Strategy::OneForOne).with_child(service);
    let crashes = Crashes::default();
    let tree = backend
        .tree(App::new().with(supervisor))
        .with_observer(crashes.clone());
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let thread_service = root.children()[0].children()[0].clone();
        let first = handle.call_thread(|| std::thread::current().id()).await.unwrap();
        let panicked = handle.call_thread(|| -> u8 { panic!("boom") }).await;
        assert_eq!(panicked, Err(ThreadCallError::Panicked("boom".into())));
        restarted.wait().await;
        thread_service.wait_until_running().await.unwrap();
        let crash = crashes.0.lock().unwrap().first().cloned().expect("a crash");
        assert_eq!(crash.service(), "Worker");
        let error = crash.error().downcast_ref::<ThreadError>().expect("a ThreadError");
        assert_eq!(error.thread(), name);
        assert!(
            matches!(error.kind(), ThreadErrorKind::Crashed(inner) if inner.to_string().contains("boom")),
            "{error}"
        );
        let second = handle.call_thread(|| std::thread::current().id()).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(thread_service.restart_count(), 1);
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
    assert_live_threads(&name, 0);
}

/// Without a supervisor, an error on the thread reaches the root: a failed start of the
/// thread's tree fails the thread service's start, with the thread's name and the reason.
pub fn errors_on_the_thread_crash_the_tree<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("fails");
    let mut worker = Worker::new(&Hooks::default());
    worker.fail_start = Some("cannot connect");
    let service = thread_service::<R>(worker, &name);
    let tree = backend.tree(App::new().with(service));
    let exit = backend.block_on(tree.run());
    let StopReason::Crashed(crash) = exit.reason() else {
        panic!("expected a crash, got {exit}");
    };
    assert_eq!(crash.service(), "Worker");
    let error = crash
        .error()
        .downcast_ref::<ThreadError>()
        .expect("a ThreadError");
    assert_eq!(error.thread(), name);
    assert!(error.to_string().contains("cannot connect"), "{error}");
    assert_live_threads(&name, 0);
}

/// A full queue makes `call_thread` wait and `cast_thread` fail; once stopped, work is
/// rejected.
pub fn a_full_queue_pushes_back<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("full");
    let service = thread_service::<R>(Worker::new(&Hooks::default()), &name).with_queue_capacity(1);
    let handle = service.handle();
    assert_eq!(handle.capacity(), 1);
    let tree = backend.tree(App::new().with(service));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let (open, gate) = mpsc::channel::<()>();
        let (entered, in_call) = mpsc::channel::<()>();
        handle
            .cast_thread(move || {
                entered.send(()).unwrap();
                let _ = gate.recv();
            })
            .unwrap();
        in_call.recv().unwrap();
        handle.cast_thread(|| ()).unwrap(); // fills the queue
        assert_eq!(handle.cast_thread(|| ()), Err(ThreadCallError::Full));
        let mut waiting = Box::pin(handle.call_thread(|| "made room"));
        assert!(poll_once(&mut waiting).await.is_none(), "waits for room");
        open.send(()).unwrap();
        assert_eq!(waiting.await, Ok("made room"));
        root.children()[0].stop().await;
        assert_eq!(
            handle.call_thread(|| ()).await,
            Err(ThreadCallError::NotRunning)
        );
        assert_eq!(handle.cast_thread(|| ()), Err(ThreadCallError::NotRunning));
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
}

/// Several thread services: each has its own thread while the tree runs, and none is left
/// once the tree has stopped. An idle thread service stays up (no keepalive needed).
pub fn no_thread_outlives_the_tree<B: Backend, R: ThreadRuntime>(backend: B) {
    let names: Vec<String> = (0..3).map(|_| unique("live")).collect();
    let mut app = App::new();
    let mut handles: Vec<ThreadHandle> = Vec::new();
    for name in &names {
        let service = thread_service::<R>(Worker::new(&Hooks::default()), name);
        handles.push(service.handle());
        app = app.with(service);
    }
    let tree = backend.tree(app);
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        for _ in 0..100 {
            yield_now().await;
        }
        for (name, handle) in names.iter().zip(&handles) {
            assert!(handle.is_running());
            assert_eq!(
                handle.call_thread(thread_name).await.unwrap().as_ref(),
                Some(name)
            );
            assert_live_threads(name, 1);
        }
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
    for name in &names {
        assert_live_threads(name, 0);
    }
}

/// A thread that does not end within the stop timeout is named in the log, left running,
/// and counted as an unclean stop.
pub fn a_thread_that_overruns_its_stop_is_an_unclean_stop<B: Backend, R: ThreadRuntime>(
    backend: B,
) {
    let name = unique("stuck");
    let (release, hold) = mpsc::channel();
    let mut worker = Worker::new(&Hooks::default());
    worker.hold_stop = Some(hold);
    let service = thread_service::<R>(worker, &name).with_stop_timeout(Duration::from_millis(100));
    let handle = service.handle();
    let tree = backend.tree(App::new().with(service));
    let root = tree.handle();
    let (exit, journal) = capture(|| {
        backend.block_on(async {
            run_with(tree, async {
                root.wait_until_running().await.unwrap();
                root.stop().await;
            })
            .await
            .0
        })
    });
    assert!(exit.is_failure(), "{exit}");
    let unclean = exit.unclean_stops();
    assert_eq!(unclean.len(), 1, "{exit}");
    assert_eq!(unclean[0].service(), "Worker");
    assert!(
        matches!(unclean[0].failure(), StopFailure::TimedOut { .. }),
        "{:?}",
        unclean[0]
    );
    let expected = format!("Thread `{name}` did not finish within the stop timeout");
    assert!(
        journal.iter().any(|line| line.contains(&expected)),
        "{journal:#?}"
    );
    assert!(!handle.is_running());
    // Let the thread go, and see it end.
    release.send(()).unwrap();
    for _ in 0..1000 {
        if live_threads(&name).is_none_or(|live| live == 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_live_threads(&name, 0);
}

/// A service with one child, to run on a thread.
struct Outer;

impl Service for Outer {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Inner);
    }
}

struct Inner;

impl Service for Inner {}

/// The Worker's dump shows the tree a thread service runs on its thread below it, for as
/// long as it runs.
pub fn the_dump_shows_the_thread_tree<B: Backend, R: ThreadRuntime>(backend: B) {
    let name = unique("dump");
    let service = ServiceThread::<Outer, R>::new(Outer).with_thread_name(&name);
    let tree = backend.tree(App::new().with(service));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let thread_service = root.children()[0].clone();
        let inner = thread_service.nested_tree().expect("the thread's tree");
        assert_eq!(inner.label(), "Outer");
        assert_eq!(inner.children()[0].label(), "Inner");
        let dump = mode_worker::dump(&root);
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 4, "{dump}");
        assert!(lines[1].starts_with("  Outer: running"), "{dump}");
        assert!(
            lines[2].starts_with("    [own tree] Outer: running"),
            "{dump}"
        );
        assert!(lines[3].starts_with("      Inner: running"), "{dump}");
        thread_service.stop().await;
        assert!(thread_service.nested_tree().is_none(), "{dump}");
        let dump = mode_worker::dump(&root);
        assert_eq!(dump.lines().count(), 2, "{dump}");
        root.stop().await;
    }));
    assert!(exit.is_clean(), "{exit}");
    assert_live_threads(&name, 0);
}

/// Generates one `#[test]` per thread-service test, for the backend built by `$backend`
/// and the thread runtime `$runtime`.
#[macro_export]
macro_rules! thread_service_tests {
    ($backend:expr, $runtime:ty) => {
        $crate::thread_service_tests!(@tests $backend, $runtime;
            hooks_run_on_the_named_thread,
            results_and_errors_cross_back,
            stop_runs_queued_work_and_rejects_new_work,
            stop_before_start_waits_for_no_thread,
            restart_runs_on_a_new_thread,
            a_panic_crashes_it_and_a_supervisor_restarts_it,
            errors_on_the_thread_crash_the_tree,
            a_full_queue_pushes_back,
            no_thread_outlives_the_tree,
            a_thread_that_overruns_its_stop_is_an_unclean_stop,
            the_dump_shows_the_thread_tree,
        );
    };
    (@tests $backend:expr, $runtime:ty; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::threads::$test::<_, $runtime>($backend);
            }
        )*
    };
}
