//! Task handles: a task's output, aborting one task, names and listings.

use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::time::Duration;
use mode_core::{
    BoxResult, Context, Error, Service, StopReason, TaskError, TaskHandle, TimerOptions,
};

use crate::tasks::DropGuard;
use crate::{run_with, Backend};

/// What [`Handles`] saw, for the test to check.
#[derive(Debug, Default)]
struct Seen {
    output: Option<Result<u32, TaskError>>,
    aborted: Option<Result<(), TaskError>>,
    local: Option<Result<(), TaskError>>,
    finished_before: Option<bool>,
    finished_after: Option<bool>,
    names: Vec<String>,
    after_abort: usize,
}

/// Spawns tasks with handles from `on_started` and keeps a detached one and one whose
/// handle outlives the service.
struct Handles {
    seen: Arc<Mutex<Seen>>,
    live: Arc<AtomicUsize>,
    ticks: Arc<AtomicUsize>,
    kept: Arc<Mutex<Option<TaskHandle>>>,
}

impl Service for Handles {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let me = cx.handle().clone();
        let sleeper = me.clone();
        let stuck = cx.spawn_named("stuck", async move {
            sleeper.sleep(Duration::from_secs(3600)).await?;
            Ok(())
        })?;
        let ticks = self.ticks.clone();
        let timer = cx.timer_with(
            Duration::from_millis(5),
            TimerOptions::new().with_name("flush"),
            move |_| {
                ticks.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            },
        )?;
        // Detached: dropping the handle leaves the task to its service.
        let guard = DropGuard::new(&self.live);
        drop(cx.spawn(async move {
            let _guard = guard;
            core::future::pending::<()>().await;
            Ok(())
        })?);
        // Kept past the stop: awaiting it then says the stop cancelled it.
        *self.kept.lock().unwrap() = Some(cx.spawn(core::future::pending())?);

        // Listed before the tasks that end at once are added.
        let mut names: Vec<String> = me.task_names().into_iter().map(Into::into).collect();
        names.sort();
        let answer = me.spawn_returning(async { Ok(6 * 7) })?;
        let local = cx.spawn_local(async { Ok(()) })?;
        let finished_before = stuck.is_finished();
        stuck.abort();
        let aborted = stuck.await;
        let output = answer.await;
        let local = local.await;
        let finished_after = timer.is_finished();
        timer.abort();
        let at_abort = self.ticks.load(Ordering::SeqCst);
        me.sleep(Duration::from_millis(30)).await?;
        let after_abort = self.ticks.load(Ordering::SeqCst) - at_abort;
        *self.seen.lock().unwrap() = Seen {
            output: Some(output),
            aborted: Some(aborted),
            local: Some(local),
            finished_before: Some(finished_before),
            finished_after: Some(finished_after),
            names,
            after_abort,
        };
        me.request_stop();
        Ok(())
    }
}

/// A handle gives its task's output, ends its one task on `abort` (a timer too) without
/// crashing the service, and tells whether the task has ended; a task is listed under its
/// name, a timer under its own, others under where they were written; a dropped handle
/// detaches its task, which the stop still cancels; a handle kept past the stop says so.
pub fn task_handles_await_abort_and_list<B: Backend>(backend: B) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let live = Arc::new(AtomicUsize::new(0));
    let kept = Arc::new(Mutex::new(None));
    let tree = backend.tree(Handles {
        seen: seen.clone(),
        live: live.clone(),
        ticks: Arc::default(),
        kept: kept.clone(),
    });
    let (exit, ()) = backend.block_on(run_with(tree, async {}));
    assert!(
        matches!(exit.reason(), StopReason::Requested),
        "aborting crashes nothing: {exit:?}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.output, Some(Ok(42)));
    assert_eq!(seen.aborted, Some(Err(TaskError::Aborted)));
    assert_eq!(seen.local, Some(Ok(())));
    assert_eq!(seen.finished_before, Some(false));
    assert_eq!(seen.finished_after, Some(false), "the timer still ran");
    assert_eq!(seen.after_abort, 0, "an aborted timer ticks no more");
    // Named, or by where their future was written, or by its type.
    assert_eq!(
        seen.names,
        ["Handles::on_started", "flush", "pending::Pending", "stuck"]
    );
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "the stop cancelled the detached task"
    );
    let kept = kept.lock().unwrap().take().unwrap();
    assert!(kept.is_finished());
    assert_eq!(backend.block_on(kept), Err(TaskError::Cancelled));
}

/// Spawns a task that fails and keeps its handle.
struct FailingTask(Arc<Mutex<Option<TaskHandle>>>);

impl Service for FailingTask {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        *self.0.lock().unwrap() = Some(cx.spawn(async { Err("disk full".into()) })?);
        Ok(())
    }
}

/// A task that fails crashes its service, and its handle says it failed.
pub fn a_failed_tasks_handle_says_so<B: Backend>(backend: B) {
    let kept = Arc::new(Mutex::new(None));
    let tree = backend.tree(FailingTask(kept.clone()));
    let (exit, ()) = backend.block_on(run_with(tree, async {}));
    let StopReason::Crashed(crash) = exit.reason() else {
        panic!("the task's error crashes the tree: {exit:?}");
    };
    assert_eq!(crash.error().to_string(), "disk full");
    let handle = kept.lock().unwrap().take().unwrap();
    assert_eq!(backend.block_on(handle), Err(TaskError::Failed));
}

/// Spawning through a handle on a stopped service is refused, with no handle.
pub fn no_handle_for_a_stopped_service<B: Backend>(backend: B) {
    struct Idle;
    impl Service for Idle {}
    let tree = backend.tree(Idle);
    let root = tree.handle();
    backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        root.stop().await;
    }));
    assert!(matches!(
        root.spawn(async { Ok(()) }),
        Err(Error::ServiceStopped)
    ));
}
