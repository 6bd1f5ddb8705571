//! The [`Service`] trait: what a user implements.
//!
//! A service is a value whose async hooks mode calls in a fixed order (see the crate docs
//! for the exact start, stop and restart sequences). Every hook has an empty default, so a
//! service implements only what it needs.
//!
//! # Send
//!
//! Hooks do not have to be `Send`: they run inside the future that drives the service tree
//! ([`Tree::run`](crate::Tree::run)), so a service may hold `Rc`s or `RefCell`s across
//! awaits. What runs elsewhere is what you hand to [`ServiceHandle::spawn`], which must be
//! `Send` on multi-threaded executors ([`Context::spawn_local`] takes the rest).
//!
//! [`ServiceHandle::spawn`]: crate::ServiceHandle::spawn
//! [`Context::spawn_local`]: crate::Context::spawn_local

use alloc::borrow::Cow;
use alloc::boxed::Box;
use core::any::Any;
use core::future::Future;
use core::pin::Pin;

use crate::context::{Context, Dependencies};
use crate::engine::Driver;
use crate::engine::LocalRef;
use crate::engine::StartError;
use crate::engine::{wait_for_shutdown, StopBudget, WaitForShutdown};
use crate::error::BoxResult;
use crate::state::WaitingOn;
use crate::task::CatchPanic;
use crate::time::Duration;

/// A unit of a program that can be started, stopped, restarted and supervised.
///
/// ```
/// use mode::{BoxResult, Context, Service};
///
/// struct Webserver {
///     port: u16,
/// }
///
/// impl Service for Webserver {
///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
///         mode::info!(cx, "Serving on port {}", self.port);
///         Ok(())
///     }
/// }
/// # let _ = Webserver { port: 8000 };
/// ```
#[allow(async_fn_in_trait)] // Hooks are deliberately not required to be `Send`: see the module docs.
pub trait Service: 'static {
    /// The label used in logs (`[^--Webserver]`) and graphs. Defaults to the type's name.
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// Declares the child services, started in declaration order after this service's
    /// background tasks and stopped in reverse order. Called once, when the service joins
    /// a tree (mode's `on_init_dependencies`).
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        let _ = deps;
    }

    /// How long this service's stop may take before its remaining work is aborted.
    /// `None` uses the tree's default ([`Tree::with_stop_timeout`](crate::Tree::with_stop_timeout)).
    ///
    /// The time runs from the first step of the stop that has to wait (a hook still
    /// pending, a task that did not leave once the executor ran it); the time its children
    /// take to stop is added, since they have their own. Steps that finish at once cost no
    /// timer.
    fn stop_timeout(&self) -> Option<Duration> {
        None
    }

    /// The level of this service's lifecycle lines (`Starting...`, `Started`,
    /// `Stopping...`, `Stopped`, `Shutdown complete!`, `Restarting...`, a supervisor's
    /// `Restarting dead …`): info by default. Debug quietens a service whose lifecycle is
    /// noise at info (mode logs some services' lifecycle at debug). A crash, a failed hook
    /// and a stop timeout keep their own levels (error, warn).
    fn lifecycle_log_level(&self) -> log::Level {
        log::Level::Info
    }

    /// Whether stopping waits for [`set_shutdown`](crate::ServiceHandle::set_shutdown)
    /// (mode's `wait_for_shutdown`), after `Stopped` is logged.
    ///
    /// The wait is bounded by the [stop timeout](Self::stop_timeout). If it times out,
    /// `on_shutdown` does not run (as in mode): the timeout is logged, recorded as the
    /// service's stop reason ([`StopReason::StopTimeout`](crate::StopReason::StopTimeout))
    /// and as an unclean stop of the run; the service's tasks and resources still go, and
    /// `Shutdown complete!` still ends the stop.
    fn wait_for_shutdown(&self) -> bool {
        false
    }

    /// Called before the first start only (not on restarts, nor when the service starts
    /// again with a restarted ancestor).
    async fn on_first_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let _ = cx;
        Ok(())
    }

    /// The service is starting: called after `Starting...` is logged, before its background
    /// tasks and children start.
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let _ = cx;
        Ok(())
    }

    /// The service has started: its tasks and children are running.
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let _ = cx;
        Ok(())
    }

    /// The service is stopping: called first, before its children are stopped.
    /// [`ServiceHandle::stop_reason`](crate::ServiceHandle::stop_reason) (through `cx`) says why.
    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let _ = cx;
        Ok(())
    }

    /// The service has stopped: called last, after its children, tasks and resources are
    /// gone.
    async fn on_shutdown(&mut self, cx: &Context<'_>) -> BoxResult {
        let _ = cx;
        Ok(())
    }

    /// The service is restarting: called after it stopped and before it starts again.
    /// Re-initialise per-run state here (mode's `__post_init__` role).
    ///
    /// Only the service that restarts gets it: the services below it stop and start again
    /// with it, as mode resets them, without `on_restart` (nor `on_first_start`, unless
    /// they never started before); their [`restart_count`] still grows.
    ///
    /// [`restart_count`]: crate::ServiceHandle::restart_count
    async fn on_restart(&mut self, cx: &Context<'_>) -> BoxResult {
        let _ = cx;
        Ok(())
    }
}

/// The last path segment of a type's name, without generic arguments.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let path = type_path::<T>();
    split_last_segment(path).map_or(path, |(_, name)| name)
}

/// The log target of a service type: its module path, as mode logs with the module's logger.
pub(crate) fn module_of<T: ?Sized>() -> &'static str {
    let path = type_path::<T>();
    split_last_segment(path).map_or(path, |(module, _)| module)
}

/// A type's name without generic arguments (`a::B<c::D>` is `a::B`).
///
/// Both helpers run for every service a tree creates, so they scan bytes: `str`'s
/// substring search sets up a two-way searcher per call, which costs more than the scan.
/// They slice with `get`, which cannot panic: indexing would link the formatting of
/// `str`'s slicing panic into every firmware.
fn type_path<T: ?Sized>() -> &'static str {
    let full = core::any::type_name::<T>();
    full.bytes()
        .position(|byte| byte == b'<')
        .and_then(|end| full.get(..end))
        .unwrap_or(full)
}

/// `path` split around its last `::`: `a::b::C` is `("a::b", "C")`.
fn split_last_segment(path: &str) -> Option<(&str, &str)> {
    let bytes = path.as_bytes();
    let at = (1..bytes.len())
        .rev()
        .find(|&i| bytes[i] == b':' && bytes[i - 1] == b':')?;
    Some((path.get(..at - 1)?, path.get(at + 1..)?))
}

/// The hooks the driver names in errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    FirstStart,
    Start,
    Started,
    Stop,
    Shutdown,
    Restart,
}

impl Hook {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hook::FirstStart => "on_first_start",
            Hook::Start => "on_start",
            Hook::Started => "on_started",
            Hook::Stop => "on_stop",
            Hook::Shutdown => "on_shutdown",
            Hook::Restart => "on_restart",
        }
    }
}

/// The hook a start runs before `Starting...` (see `start.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BeforeStart {
    /// The service's first start: `on_first_start`.
    FirstStart,
    /// A later start of the service the start or restart was asked for: `on_restart`.
    Restart,
    /// A later start of a service below it, started again with it: no hook (mode resets
    /// the services below a restarted one; it does not restart them).
    Nothing,
}

impl BeforeStart {
    /// The hook, for errors.
    pub(crate) fn hook(self) -> Hook {
        match self {
            BeforeStart::FirstStart => Hook::FirstStart,
            BeforeStart::Restart => Hook::Restart,
            BeforeStart::Nothing => Hook::Start,
        }
    }
}

/// A hook that a service with children runs apart from its sequences, its children
/// starting before `on_started` and stopping after `on_stop` (see `DynService::run_hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentHook {
    Started,
    Stop,
}

impl ParentHook {
    pub(crate) fn hook(self) -> Hook {
        match self {
            ParentHook::Started => Hook::Started,
            ParentHook::Stop => Hook::Stop,
        }
    }
}

/// The future of a hook, or of several with the driver's steps between them.
pub(crate) type SequenceFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// [`Service`] made object safe: one boxed future per run of
/// hooks, holding the hooks' futures inline; the steps between the hooks are the driver's,
/// shared by every service type. A service without children starts in one such future and
/// stops in another; one with children needs a second each, since its children start
/// between `on_start` and `on_started`, and stop between `on_stop` and `on_shutdown` (see
/// `start.rs` and `stop.rs`).
pub(crate) trait DynService: 'static {
    fn label(&self) -> Cow<'static, str>;
    fn log_target(&self) -> &'static str;
    fn lifecycle_log_level(&self) -> log::Level;
    fn init_dependencies(&mut self, deps: &mut Dependencies<'_>);
    fn stop_timeout(&self) -> Option<Duration>;
    /// How its stop waits for the shutdown flag, if it does
    /// ([`Service::wait_for_shutdown`]). Decided in each service type's code, so that a
    /// program whose services never wait does not link the wait.
    fn shutdown_wait(&self) -> Option<WaitForShutdown>;
    /// The start, once the state is `Starting` (see `start.rs`): `on_first_start` (or
    /// `on_restart`, or neither: `before`), `Starting...`, `on_start`, the tasks; then, if
    /// the service has no children to start first, `Started` and `on_started` too.
    /// `Ok(true)` if it did.
    fn start_sequence<'a>(
        &'a mut self,
        driver: &'a Driver,
        local: &'a LocalRef,
        before: BeforeStart,
    ) -> SequenceFuture<'a, Result<bool, StartError>>;
    /// The stop, once the state is `Stopping` and the children have stopped (see
    /// `stop.rs`): `on_stop` first if `with_on_stop` (a service without children), the
    /// driver's `steps`, `on_shutdown` (unless the wait for the shutdown flag timed out:
    /// `steps` gave `false`).
    fn stop_sequence<'a>(
        &'a mut self,
        driver: &'a Driver,
        local: &'a LocalRef,
        budget: &'a StopBudget<'_>,
        steps: Pin<&'a mut dyn Future<Output = bool>>,
        with_on_stop: bool,
    ) -> SequenceFuture<'a, ()>;
    /// `on_started` or `on_stop` of a service with children, a panic caught as an error.
    fn run_hook<'a>(
        &'a mut self,
        hook: ParentHook,
        driver: &'a Driver,
        local: &'a LocalRef,
    ) -> SequenceFuture<'a, BoxResult>;
    /// The service as `Any`, so the engine can recognise its own service types (a
    /// [`Supervisor`](crate::Supervisor)) when they join a tree.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<S: Service> DynService for S {
    fn label(&self) -> Cow<'static, str> {
        Service::label(self)
    }

    fn log_target(&self) -> &'static str {
        module_of::<S>()
    }

    fn lifecycle_log_level(&self) -> log::Level {
        Service::lifecycle_log_level(self)
    }

    fn init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        self.on_init_dependencies(deps);
    }

    fn stop_timeout(&self) -> Option<Duration> {
        Service::stop_timeout(self)
    }

    fn shutdown_wait(&self) -> Option<WaitForShutdown> {
        if Service::wait_for_shutdown(self) {
            Some(wait_for_shutdown)
        } else {
            None
        }
    }

    fn start_sequence<'a>(
        &'a mut self,
        driver: &'a Driver,
        local: &'a LocalRef,
        before: BeforeStart,
    ) -> SequenceFuture<'a, Result<bool, StartError>> {
        Box::pin(async move {
            let cx = Context { driver, local };
            let first = match before {
                BeforeStart::Restart => {
                    CatchPanic::new(self.on_restart(&cx), local.node(), "on_restart").await
                }
                BeforeStart::FirstStart => {
                    let hook = self.on_first_start(&cx);
                    CatchPanic::new(hook, local.node(), "on_first_start").await
                }
                BeforeStart::Nothing => Ok(()),
            };
            driver.before_on_start(local, first)?;
            let start = CatchPanic::new(self.on_start(&cx), local.node(), "on_start").await;
            driver.after_on_start(local, start)?;
            if local.node().child_count() > 0 {
                return Ok(false);
            }
            driver.started(local);
            let started = CatchPanic::new(self.on_started(&cx), local.node(), "on_started").await;
            driver.start_hook_result(local, started)?;
            Ok(true)
        })
    }

    fn stop_sequence<'a>(
        &'a mut self,
        driver: &'a Driver,
        local: &'a LocalRef,
        budget: &'a StopBudget<'_>,
        steps: Pin<&'a mut dyn Future<Output = bool>>,
        with_on_stop: bool,
    ) -> SequenceFuture<'a, ()> {
        Box::pin(async move {
            let cx = Context { driver, local };
            if with_on_stop {
                let stop = budget
                    .bounded(
                        CatchPanic::new(self.on_stop(&cx), local.node(), "on_stop"),
                        WaitingOn::OnStop,
                    )
                    .await;
                budget.hook_result(Hook::Stop, stop);
            }
            if !steps.await {
                // The wait for the shutdown flag timed out: mode's stop ends there.
                return;
            }
            let shutdown = budget
                .bounded(
                    CatchPanic::new(self.on_shutdown(&cx), local.node(), "on_shutdown"),
                    WaitingOn::OnShutdown,
                )
                .await;
            budget.hook_result(Hook::Shutdown, shutdown);
        })
    }

    fn run_hook<'a>(
        &'a mut self,
        hook: ParentHook,
        driver: &'a Driver,
        local: &'a LocalRef,
    ) -> SequenceFuture<'a, BoxResult> {
        Box::pin(async move {
            let cx = Context { driver, local };
            let (node, name) = (local.node(), hook.hook().name());
            match hook {
                ParentHook::Stop => CatchPanic::new(self.on_stop(&cx), node, name).await,
                ParentHook::Started => CatchPanic::new(self.on_started(&cx), node, name).await,
            }
        })
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A boxed service, as a supervisor's children arrive.
impl DynService for Box<dyn DynService> {
    fn label(&self) -> Cow<'static, str> {
        (**self).label()
    }

    fn log_target(&self) -> &'static str {
        (**self).log_target()
    }

    fn lifecycle_log_level(&self) -> log::Level {
        (**self).lifecycle_log_level()
    }

    fn init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        (**self).init_dependencies(deps);
    }

    fn stop_timeout(&self) -> Option<Duration> {
        (**self).stop_timeout()
    }

    fn shutdown_wait(&self) -> Option<WaitForShutdown> {
        (**self).shutdown_wait()
    }

    fn start_sequence<'a>(
        &'a mut self,
        driver: &'a Driver,
        local: &'a LocalRef,
        before: BeforeStart,
    ) -> SequenceFuture<'a, Result<bool, StartError>> {
        (**self).start_sequence(driver, local, before)
    }

    fn stop_sequence<'a>(
        &'a mut self,
        driver: &'a Driver,
        local: &'a LocalRef,
        budget: &'a StopBudget<'_>,
        steps: Pin<&'a mut dyn Future<Output = bool>>,
        with_on_stop: bool,
    ) -> SequenceFuture<'a, ()> {
        (**self).stop_sequence(driver, local, budget, steps, with_on_stop)
    }

    fn run_hook<'a>(
        &'a mut self,
        hook: ParentHook,
        driver: &'a Driver,
        local: &'a LocalRef,
    ) -> SequenceFuture<'a, BoxResult> {
        (**self).run_hook(hook, driver, local)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        (**self).as_any_mut()
    }
}

/// A resource whose close is awaited when its service stops (mode's `add_async_context`).
///
/// Resources close in reverse order of adding, after the service's tasks are gone and
/// before `on_shutdown`.
#[allow(async_fn_in_trait)] // Closed inside the tree's driver, which need not be `Send`.
pub trait AsyncClose: 'static {
    /// Closes the resource.
    async fn close(self);
}

pub(crate) trait DynAsyncClose {
    fn close(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()>>>;
}

impl<T: AsyncClose> DynAsyncClose for T {
    fn close(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(AsyncClose::close(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    struct Generic<T>(T);

    #[test]
    fn labels_are_short_type_names() {
        assert_eq!(short_type_name::<Plain>(), "Plain");
        assert_eq!(short_type_name::<Generic<Plain>>(), "Generic");
        assert_eq!(module_of::<Plain>(), "mode_core::service::tests");
        assert_eq!(module_of::<Generic<Plain>>(), "mode_core::service::tests");
        assert_eq!(short_type_name::<u8>(), "u8");
        assert_eq!(module_of::<u8>(), "u8");
    }
}
