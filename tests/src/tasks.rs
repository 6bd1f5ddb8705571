//! Background tasks are owned: none outlives its service, none leaks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mode_core::{BoxResult, Context, Error, Service, State};

use crate::{run_with, Backend};

/// Counts live instances; a task holds one so its drop is visible.
#[derive(Debug)]
pub struct DropGuard(Arc<AtomicUsize>);

impl DropGuard {
    /// A guard counted in `live`.
    pub fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        DropGuard(live.clone())
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Spawns `n` tasks that wait forever holding a guard, plus one timer.
struct Worker {
    n: usize,
    live: Arc<AtomicUsize>,
}

impl Service for Worker {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        for _ in 0..self.n {
            let guard = DropGuard::new(&self.live);
            cx.spawn(async move {
                let _guard = guard;
                core::future::pending::<()>().await;
                Ok(())
            })?;
        }
        let guard = DropGuard::new(&self.live);
        cx.timer(core::time::Duration::from_millis(5), move |_| {
            let _ = &guard;
            async { Ok(()) }
        })?;
        let guard = DropGuard::new(&self.live);
        cx.spawn_local(async move {
            let _guard = guard;
            core::future::pending::<()>().await;
            Ok(())
        })?;
        let guard = std::rc::Rc::new(DropGuard::new(&self.live));
        cx.timer_local(core::time::Duration::from_millis(5), move |_| {
            let _ = &guard;
            async { Ok(()) }
        })?;
        Ok(())
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        // Tasks still run while on_stop runs; they are cancelled after the children stop.
        assert!(cx.handle().state() == State::Stopping);
        Ok(())
    }
}

/// When `stop` returns, every task of the service has been dropped.
pub fn tasks_are_gone_after_stop<B: Backend>(backend: B) {
    let live = Arc::new(AtomicUsize::new(0));
    let tree = backend.tree(Worker {
        n: 10,
        live: live.clone(),
    });
    let root = tree.handle();
    backend.block_on(async {
        run_with(tree, async {
            root.wait_until_running().await.unwrap();
            assert!(live.load(Ordering::SeqCst) >= 11);
            root.stop().await;
            assert_eq!(
                live.load(Ordering::SeqCst),
                0,
                "a task outlived its service"
            );
        })
        .await;
    });
}

/// 1,000 restarts of a service with tasks leave no task behind.
pub fn no_task_leaks_over_many_cycles<B: Backend>(backend: B) {
    let live = Arc::new(AtomicUsize::new(0));
    let tree = backend.tree(Worker {
        n: 2,
        live: live.clone(),
    });
    let root = tree.handle();
    let cycles = if backend.is_virtual() { 1000 } else { 200 };
    backend.block_on(async {
        run_with(tree, async {
            root.wait_until_running().await.unwrap();
            for _ in 0..cycles {
                root.restart().await.unwrap();
                assert!(live.load(Ordering::SeqCst) >= 3);
            }
            root.stop().await;
        })
        .await;
    });
    assert_eq!(live.load(Ordering::SeqCst), 0);
    assert_eq!(root.restart_count(), cycles);
}

/// Records, in a log shared across threads, when `on_start` ends and when its tasks run.
struct Ordered {
    log: Arc<std::sync::Mutex<Vec<&'static str>>>,
}

impl Service for Ordered {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        for name in ["task-a", "task-b"] {
            let log = self.log.clone();
            cx.spawn(async move {
                log.lock().unwrap().push(name);
                Ok(())
            })?;
        }
        // Deferred tasks must not have run yet, on any executor.
        self.log.lock().unwrap().push("on_start end");
        Ok(())
    }
}

/// Tasks added in `on_start` start after it returns (spawned in the order added).
///
/// The order in which the two tasks then run is the executor's: it is asserted on the
/// virtual runtime, whose run queue is FIFO.
pub fn tasks_start_after_on_start_in_order<B: Backend>(backend: B) {
    let log: Arc<std::sync::Mutex<Vec<&'static str>>> = Arc::default();
    let tree = backend.tree(Ordered { log: log.clone() });
    let root = tree.handle();
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        while log.lock().unwrap().len() < 3 {
            root.sleep(core::time::Duration::from_millis(1))
                .await
                .unwrap();
        }
        root.stop().await;
    }));
    let log = log.lock().unwrap();
    assert_eq!(log[0], "on_start end", "{log:?}");
    assert!(
        log.contains(&"task-a") && log.contains(&"task-b"),
        "{log:?}"
    );
    if backend.is_virtual() {
        assert_eq!(*log, ["on_start end", "task-a", "task-b"]);
    }
}

/// Spawning on a stopped service, and a zero timer interval, are clear errors.
pub fn spawn_after_stop_is_refused<B: Backend>(backend: B) {
    let tree = backend.tree(crate::probe::Probe::new("App"));
    let root = tree.handle();
    backend.block_on(async {
        run_with(tree, async {
            root.wait_until_running().await.unwrap();
            root.stop().await;
            assert!(matches!(
                root.spawn(async { Ok(()) }),
                Err(Error::ServiceStopped)
            ));
            assert!(matches!(
                root.timer(core::time::Duration::from_secs(1), |_| async { Ok(()) }),
                Err(Error::ServiceStopped)
            ));
        })
        .await;
    });
}

/// Holds an `Rc` across an await in a local task: no `Send` needed.
struct LocalUser {
    done: Arc<AtomicUsize>,
}

impl Service for LocalUser {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let shared = std::rc::Rc::new(std::cell::Cell::new(0));
        let done = self.done.clone();
        let handle = cx.handle().clone();
        cx.spawn_local(async move {
            shared.set(1);
            let _ = handle.sleep(core::time::Duration::from_millis(1)).await;
            done.fetch_add(shared.get(), Ordering::SeqCst);
            Ok(())
        })?;
        // A local timer: its callback and futures hold an `Rc`.
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0_usize));
        let done = self.done.clone();
        cx.timer_local(core::time::Duration::from_millis(2), move |_| {
            let ticks = ticks.clone();
            let done = done.clone();
            async move {
                ticks.set(ticks.get() + 1);
                if ticks.get() == 3 {
                    done.fetch_add(10, Ordering::SeqCst);
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// Futures that are not `Send` run through `spawn_local` (and timers through
/// `timer_local`) on every backend, and are owned like any task.
pub fn local_tasks_are_owned_too<B: Backend>(backend: B) {
    let done = Arc::new(AtomicUsize::new(0));
    let tree = backend.tree(LocalUser { done: done.clone() });
    let root = tree.handle();
    backend.block_on(async {
        run_with(tree, async {
            root.wait_until_running().await.unwrap();
            root.sleep(core::time::Duration::from_millis(20))
                .await
                .unwrap();
            root.stop().await;
        })
        .await;
    });
    // The task added 1, the timer's third tick 10 (and no later tick: only the third).
    assert_eq!(done.load(Ordering::SeqCst), 11);
}

/// Spawns a task on its child before the tree starts.
struct EarlySpawner {
    ran: Arc<AtomicUsize>,
}

impl Service for EarlySpawner {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        let child = deps.add(crate::probe::Probe::new("Child"));
        let ran = self.ran.clone();
        let observed = child.clone();
        child
            .spawn(async move {
                // Deferred until the child's start reaches its task step.
                assert!(observed.state().is_active());
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
    }
}

/// A task spawned on a service before it starts runs once it starts.
pub fn tasks_spawned_before_start_run_at_start<B: Backend>(backend: B) {
    let ran = Arc::new(AtomicUsize::new(0));
    let tree = backend.tree(EarlySpawner { ran: ran.clone() });
    let root = tree.handle();
    backend.block_on(async {
        run_with(tree, async {
            root.wait_until_running().await.unwrap();
            while ran.load(Ordering::SeqCst) == 0 {
                root.sleep(core::time::Duration::from_millis(1))
                    .await
                    .unwrap();
            }
            root.stop().await;
        })
        .await;
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// A parent of two futures run as services: one that ends, one that waits.
struct Futures {
    live: Arc<AtomicUsize>,
    children: Arc<std::sync::Mutex<Vec<mode_core::ServiceHandle>>>,
}

impl Service for Futures {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        let ends = deps.add(mode_core::from_awaitable(async { Ok(()) }).with_label("Ends"));
        let guard = DropGuard::new(&self.live);
        let waits = deps.add(mode_core::from_awaitable(async move {
            let _guard = guard;
            core::future::pending::<()>().await;
            Ok(())
        }));
        self.children.lock().unwrap().extend([ends, waits]);
    }
}

/// A future run as a service (`from_awaitable`) stops its service when it returns, is
/// dropped when its service stops, and runs once: a restart crashes the service.
pub fn a_future_runs_as_a_service<B: Backend>(backend: B) {
    let live = Arc::new(AtomicUsize::new(0));
    let children = Arc::default();
    let tree = backend.tree(Futures {
        live: live.clone(),
        children: Arc::clone(&children),
    });
    let root = tree.handle();
    let (exit, restarted) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let [ends, waits] = <[_; 2]>::try_from(children.lock().unwrap().clone()).unwrap();
        assert_eq!(ends.label(), "Ends");
        assert_eq!(waits.label(), "Futures::on_init_dependencies");
        ends.wait_until_stopped().await;
        assert_eq!(waits.state(), State::Running, "its sibling keeps running");
        assert_eq!(live.load(Ordering::SeqCst), 1);
        waits.stop().await;
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "its stop dropped the future"
        );
        let restarted = ends.restart().await;
        root.stop().await;
        restarted
    }));
    let Err(Error::Crashed(crash)) = restarted else {
        panic!("a second run of the future: {restarted:?}");
    };
    assert!(crash.error().is::<mode_core::AlreadyRan>(), "{crash:?}");
    // Unsupervised, the crash ends the tree.
    assert!(
        matches!(exit.reason(), mode_core::StopReason::Crashed(crash) if crash.service() == "Ends"),
        "{exit:?}"
    );
}
