//! Exit statuses: a service asks the program to end with a status of its own
//! ([`SystemExit`] from a task, [`ServiceHandle::request_exit`](mode_core::ServiceHandle::request_exit)).

use std::string::ToString;

use mode_core::{BoxResult, Context, Service, StopReason, SystemExit, TaskError, TaskHandle};

use crate::Backend;

/// A child whose task ends with [`SystemExit`]`(3)`, and hands out that task's handle.
struct Exiting {
    status: u8,
    task: std::sync::Arc<std::sync::Mutex<Option<TaskHandle>>>,
}

impl Service for Exiting {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let status = self.status;
        let task = cx.spawn(async move { Err(SystemExit(status).into()) })?;
        *self.task.lock().unwrap() = Some(task);
        Ok(())
    }
}

/// A root with one child that exits.
struct Parent(Option<Exiting>);

impl Service for Parent {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        if let Some(child) = self.0.take() {
            deps.add(child);
        }
    }
}

/// A task's `SystemExit` stops the whole tree cleanly (no crash), and the run's exit
/// carries its status.
pub fn a_tasks_system_exit_stops_the_tree_with_its_status<B: Backend>(backend: B) {
    let task = std::sync::Arc::default();
    let tree = backend.tree(Parent(Some(Exiting {
        status: 3,
        task: std::sync::Arc::clone(&task),
    })));
    let exit = backend.block_on(tree.run());
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit}");
    assert!(exit.unclean_stops().is_empty(), "{exit}");
    assert_eq!(exit.exit_status(), Some(3));
    assert_eq!(exit.to_string(), "asked to exit with status 3");
    // The task ended cleanly: its handle says it was cancelled, not failed. (Awaited
    // after the run: a task of the tree awaiting it would itself be cancelled by the stop
    // the exit asked for, maybe first.)
    let task = task.lock().unwrap().take().expect("the task was spawned");
    assert_eq!(backend.block_on(task), Err(TaskError::Cancelled));
}

/// The first status asked for wins; a plain run has none.
pub fn the_first_exit_status_asked_wins<B: Backend>(backend: B) {
    struct Twice;
    impl Service for Twice {
        async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
            cx.handle().request_exit(4);
            cx.handle().request_exit(5);
            Ok(())
        }
    }
    let exit = backend.block_on(backend.tree(Twice).run());
    assert_eq!(exit.exit_status(), Some(4));
    assert!(exit.is_clean(), "{exit}");

    struct Plain;
    impl Service for Plain {
        async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
            cx.handle().request_stop();
            Ok(())
        }
    }
    let exit = backend.block_on(backend.tree(Plain).run());
    assert_eq!(exit.exit_status(), None);
}

/// A hook that returns `SystemExit` crashes its service like any error; if the crash
/// stops the tree, the run's exit still carries the status.
pub fn a_hooks_system_exit_is_a_crash_that_keeps_its_status<B: Backend>(backend: B) {
    struct Failing;
    impl Service for Failing {
        async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
            Err(SystemExit(7).into())
        }
    }
    let exit = backend.block_on(backend.tree(Failing).run());
    assert!(exit.reason().crash().is_some(), "{exit}");
    assert!(exit.is_failure());
    assert_eq!(exit.exit_status(), Some(7));
}
