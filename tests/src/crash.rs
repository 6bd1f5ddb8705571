//! Crashes: from a hook, a task, a panic, a handle; without a supervisor they stop the tree
//! with the crash as the root's reason.

use std::string::ToString;

use mode_core::{BoxResult, Context, Dependencies, Error, Service, State, StopReason};

use crate::journal::capture;
use crate::probe::Probe;
use crate::{run_with, Backend};

#[derive(Clone, Copy)]
enum How {
    HookError,
    TaskError,
    TaskPanic,
    Handle,
}

/// A child that crashes once running, in the chosen way.
struct Crasher(How);

impl Service for Crasher {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        match self.0 {
            How::HookError => return Err("on_started failed".into()),
            How::TaskError => drop(cx.spawn(async { Err("task failed".into()) })?),
            How::TaskPanic => drop(cx.spawn(async { panic!("task panicked") })?),
            How::Handle => cx.handle().crash("crashed by hand"),
        }
        Ok(())
    }
}

struct Parent(How);

impl Service for Parent {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Probe::new("Sibling"));
        deps.add(Crasher(self.0));
    }
}

fn crash_stops_the_tree<B: Backend>(backend: B, how: How, message: &str) {
    let tree = backend.tree(Parent(how));
    let root = tree.handle();
    let crasher = root.children()[1].clone();
    let (exit, journal) = capture(|| backend.block_on(tree.run()));
    let StopReason::Crashed(crash) = exit.reason() else {
        panic!("expected a crash, got {exit:?}");
    };
    assert_eq!(crash.service(), "Crasher");
    assert!(crash.error().to_string().contains(message), "{crash}");
    assert!(exit.is_failure());
    // Root, crashed service and siblings are all stopped; the reason is everywhere.
    assert_eq!(root.state(), State::Stopped);
    assert!(root.crash_reason().unwrap().ptr_eq(crash));
    assert!(crasher.crash_reason().unwrap().ptr_eq(crash));
    assert!(matches!(
        crasher.stop_reason(),
        Some(StopReason::Crashed(_))
    ));
    assert!(crasher.should_stop());
    assert!(journal
        .iter()
        .any(|l| l.contains("Sibling.on_stop (parent stopping)")));
    assert!(journal
        .iter()
        .any(|l| l.starts_with("ERROR [^--Crasher]: Crashed reason=")));
}

/// An `Err` from a hook crashes the service and stops the tree.
pub fn hook_error_crashes_the_tree<B: Backend>(backend: B) {
    crash_stops_the_tree(backend, How::HookError, "on_started failed");
}

/// An `Err` from a background task crashes its service and stops the tree.
pub fn task_error_crashes_the_tree<B: Backend>(backend: B) {
    crash_stops_the_tree(backend, How::TaskError, "task failed");
}

/// A panicking task crashes its service, with the panic message as the reason.
pub fn panic_crashes_the_tree<B: Backend>(backend: B) {
    crash_stops_the_tree(backend, How::TaskPanic, "task panicked");
}

/// `crash(reason)` from a handle.
pub fn crash_from_handle<B: Backend>(backend: B) {
    crash_stops_the_tree(backend, How::Handle, "crashed by hand");
}

/// A child whose `on_start` fails: the tree never finishes starting and stops with it.
struct BadStart;

impl Service for BadStart {
    async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        Err("cannot bind".into())
    }
}

struct Holder;

impl Service for Holder {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Probe::new("Before"));
        deps.add(BadStart);
        deps.add(Probe::new("After"));
    }
}

/// A crash during start stops what started and is the root's reason; waiters see it.
pub fn crash_while_starting_child<B: Backend>(backend: B) {
    let tree = backend.tree(Holder);
    let root = tree.handle();
    let after = root.children()[2].clone();
    let (exit, waited) = backend.block_on(run_with(tree, root.wait_until_running()));
    let crash = exit.reason().crash().expect("crashed");
    assert_eq!(crash.service(), "BadStart");
    assert!(matches!(waited, Err(Error::Crashed(_))), "{waited:?}");
    assert_eq!(after.state(), State::Init);
    assert_eq!(root.children()[0].state(), State::Stopped);
}
