//! A handle's [`start`](ServiceHandle::start), [`maybe_start`](ServiceHandle::maybe_start)
//! and [`restart`](ServiceHandle::restart), with the driver's code that executes them.
//!
//! They live in the engine, not in `handle`, because each request carries the driver's
//! function that executes it ([`Command::Execute`]): the driver names no such function
//! where it takes commands, so a program that never starts or restarts a service through
//! a handle (a firmware whose tree only starts once) does not link that code.

use crate::platform::plain::Arc;
use alloc::boxed::Box;

use super::{Driver, LocalRef, StartError};
use crate::error::Error;
use crate::events::LifecycleEvent;
use crate::handle::{MaybeStart, Restart, ServiceHandle, Start};
use crate::lifecycle;
use crate::node::{Command, EngineRequest, Node};
use crate::service::SequenceFuture;
use crate::state::{State, StopReason};

/// The driver's function that executes a handle's request, as [`Command::Execute`]
/// carries it.
pub(crate) type ExecuteRequest = for<'a> fn(&'a Driver, Arc<Node>) -> SequenceFuture<'a, ()>;

/// The command that has the driver run `execute` for `handle`'s service.
fn execute(handle: &ServiceHandle, execute: ExecuteRequest) -> Command {
    Command::Execute(handle.node().clone(), EngineRequest::new(execute))
}

impl ServiceHandle {
    /// Starts a service that was never started or was stopped, and waits until it runs.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] if it is starting or running; [`Error::ParentNotRunning`]
    /// if its parent is not running; [`Error::Crashed`] if its start failed;
    /// [`Error::TreeFinished`] if the tree no longer runs.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the start goes on.
    pub fn start(&self) -> Start {
        let early = if self.state().is_active() {
            Some(Err(Error::AlreadyStarted))
        } else {
            None
        };
        self.request(execute(self, Driver::start_request), early)
    }

    /// Starts the service unless it is already starting or running; returns whether it
    /// started it.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start), except that a started service is `Ok(false)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the start goes on.
    pub fn maybe_start(&self) -> MaybeStart {
        MaybeStart(self.start())
    }

    /// Restarts the service: stop, `on_restart`, start (with its children). Waits until it
    /// runs again. Restarting a crashed service is how supervisors recover it.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] for a service that was never started, [`Error::Crashed`] if
    /// the new start failed, [`Error::RestartCancelled`] if a stop of the service (or of an
    /// ancestor) was requested before it started again, [`Error::ServiceStopped`] if one
    /// was requested while it started, [`Error::ParentNotRunning`],
    /// [`Error::TreeFinished`]; [`Error::AwaitedFromOwnHook`] at once when awaited from a
    /// hook of the service or of one below it, which the restart waits for (the restart
    /// then runs once the hook has returned).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the restart goes on.
    pub fn restart(&self) -> Restart {
        let early = if self.state() == State::Init {
            Some(Err(Error::NotStarted))
        } else {
            None
        };
        Restart::new(self.request(execute(self, Driver::restart_request), early))
    }
}

impl Driver {
    /// Executes a handle's [`start`](ServiceHandle::start).
    fn start_request(&self, node: Arc<Node>) -> SequenceFuture<'_, ()> {
        Box::pin(self.execute_start(node))
    }

    /// Executes a handle's [`restart`](ServiceHandle::restart).
    fn restart_request(&self, node: Arc<Node>) -> SequenceFuture<'_, ()> {
        Box::pin(self.execute_restart(node))
    }

    async fn execute_start(&self, node: Arc<Node>) {
        let Some(local) = self.find(&node) else {
            node.finish_start(Err(Error::TreeFinished));
            return;
        };
        let _held = self.hold(&local).await;
        if let Err(err) = self.check_startable(&node) {
            node.finish_start(Err(err));
            return;
        }
        self.start_and_handle(&local).await;
    }

    async fn execute_restart(&self, node: Arc<Node>) {
        let Some(local) = self.find(&node) else {
            node.finish_start(Err(Error::TreeFinished));
            return;
        };
        let _held = self.hold(&local).await;
        if node.state() == State::Init {
            node.finish_start(Err(Error::NotStarted));
            return;
        }
        if node.parent().is_some_and(|p| p.state() != State::Running) {
            node.finish_start(Err(Error::ParentNotRunning));
            return;
        }
        // A stop requested before the restart starts the service again wins: the queued
        // stop (or the ancestor's) stops it, and the restart is cancelled.
        let stop_wins =
            |node: &Node| node.stop_queued() || node.parent().is_some_and(|p| p.should_stop());
        if stop_wins(&node) {
            node.finish_start(Err(Error::RestartCancelled));
            return;
        }
        lifecycle::emit(&node, LifecycleEvent::Restarting);
        self.stop_node(&local, StopReason::Restarting).await;
        if stop_wins(&node) {
            node.finish_start(Err(Error::RestartCancelled));
            return;
        }
        self.start_and_handle(&local).await;
    }

    fn check_startable(&self, node: &Node) -> Result<(), Error> {
        if node.state().is_active() {
            return Err(Error::AlreadyStarted);
        }
        if node.parent().is_some_and(|p| p.state() != State::Running) {
            return Err(Error::ParentNotRunning);
        }
        Ok(())
    }

    async fn start_and_handle(&self, local: &LocalRef) {
        if let Err(StartError::Crashed(_)) = self.start_node(local).await {
            self.handle_crash(local).await;
        }
    }
}
