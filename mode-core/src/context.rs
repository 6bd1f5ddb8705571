//! What a hook receives: [`Context`], and [`Dependencies`] for declaring children.
//!
//! A `Context` gives a hook its service's [`ServiceHandle`] ([`Context::handle`]) and what
//! only makes sense inside the tree's driver: starting a runtime dependency and waiting for
//! it, spawning tasks and timers in order with the start sequence (futures that are not
//! `Send` included), and owning resources that close when the service stops.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::future::Future;

use crate::engine::LocalRef;
use crate::engine::StartError;
use crate::engine::{close_resources, Deferred, Driver, Resource};
use crate::error::{BoxResult, Error};
use crate::graph::ChildKind;
use crate::handle::{with_handle, ServiceHandle};
use crate::interval::TimerOptions;
use crate::periodic::Periodic;
use crate::runtime::LocalBoxFuture;
use crate::service::{AsyncClose, Service};
use crate::state::State;
use crate::task::{default_name, Counted, Make, MakeTask, TaskHandle, TaskRef};
use crate::task_run::TaskName;
use crate::utils::Seconds;

/// The service's view of itself inside a hook.
///
/// It holds what only a hook can do: start a runtime dependency and wait for it, own
/// resources, spawn tasks and timers in order with the start sequence (and tasks that are
/// not `Send`). Everything else is the service's [`handle`](Self::handle), which works
/// from any task or thread too: `cx.handle().sleep(..)`, `cx.handle().should_stop()`,
/// `cx.handle().request_stop()`.
pub struct Context<'a> {
    pub(crate) driver: &'a Driver,
    pub(crate) local: &'a LocalRef,
}

impl core::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("service", self.local.handle())
            .finish()
    }
}

impl AsRef<ServiceHandle> for Context<'_> {
    fn as_ref(&self) -> &ServiceHandle {
        self.handle()
    }
}

impl Context<'_> {
    /// This service's handle, to keep or send to tasks.
    #[must_use]
    pub fn handle(&self) -> &ServiceHandle {
        self.local.handle()
    }

    /// Adds a child service at runtime (mode's `add_runtime_dependency`).
    ///
    /// If this service is running, the child is started now and this returns once it runs;
    /// while this service is starting, the child starts with the declared children, after
    /// them. Either way it is stopped with this service (in reverse order), and removed
    /// when this service stops, so that a restart's `on_start` adds it afresh.
    ///
    /// # Errors
    ///
    /// [`Error::ServiceStopped`] if this service is stopping or stopped;
    /// [`Error::Crashed`] if the child's start failed (return it with `?` to crash this
    /// service too).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future part-way through the child's start leaves the
    /// child starting; it is stopped with this service.
    pub async fn add_runtime_dependency(
        &self,
        service: impl Service,
    ) -> Result<ServiceHandle, Error> {
        let state = self.handle().state();
        if !state.is_active() || self.handle().should_stop() {
            return Err(Error::ServiceStopped);
        }
        let removal = &self.local.extras().remove_runtime_children;
        removal.set(Some(Driver::remove_runtime_children));
        let child = self
            .driver
            .create_node(service, Some(self.local), ChildKind::Runtime);
        let handle = child.handle().clone();
        if state == State::Running {
            match self.driver.start_node(&child).await {
                Ok(()) => {}
                Err(StartError::Crashed(crash)) => {
                    // The caller is told: the crash is theirs to handle.
                    crash.mark_handled();
                    return Err(Error::Crashed(crash));
                }
                Err(StartError::Interrupted) => return Err(Error::ServiceStopped),
            }
        }
        Ok(handle)
    }

    /// Spawns a future that need not be `Send`, owned by this service like
    /// [`spawn`](ServiceHandle::spawn)'s tasks, on every executor.
    ///
    /// The tree polls it itself, inside [`Tree::run`](crate::Tree::run) on the thread that
    /// runs the tree, woken on its own; the executor never sees it.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Tree};
    ///
    /// struct Counter(Rc<Cell<u32>>); // not `Send`
    ///
    /// impl Service for Counter {
    ///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let (count, me) = (self.0.clone(), cx.handle().clone());
    ///         cx.spawn_local(async move {
    ///             while me.sleep(std::time::Duration::from_secs(1)).await.is_ok() {
    ///                 count.set(count.get() + 1);
    ///                 if count.get() == 3 {
    ///                     me.request_stop();
    ///                 }
    ///             }
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let (rt, count) = (VirtualRuntime::new(), Rc::new(Cell::new(0)));
    /// let tree = Tree::new(Counter(count.clone()), rt.clone(), rt.clone());
    /// rt.block_on(tree.run()).unwrap();
    /// assert_eq!(count.get(), 3);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ServiceStopped`] if the service is stopping or stopped, [`Error::Spawn`]
    /// with [`SpawnError::Full`](crate::runtime::SpawnError::Full) at the tree's
    /// [task limit](crate::Tree::with_task_limit).
    pub fn spawn_local<F>(&self, future: F) -> Result<TaskHandle, Error>
    where
        F: Future<Output = BoxResult> + 'static,
    {
        self.spawn_local_task(default_name::<F>(), future)
    }

    /// [`spawn_local`](Self::spawn_local) with a name, as
    /// [`ServiceHandle::spawn_named`].
    ///
    /// # Errors
    ///
    /// As [`spawn_local`](Self::spawn_local).
    pub fn spawn_local_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> Result<TaskHandle, Error>
    where
        F: Future<Output = BoxResult> + 'static,
    {
        self.spawn_local_task(TaskName::Given(name.into()), future)
    }

    fn spawn_local_task<F, T>(&self, name: TaskName, future: F) -> Result<TaskHandle<T>, Error>
    where
        F: Future<Output = BoxResult<T>> + 'static,
        T: Send + 'static,
    {
        let counted = self.enter(name)?;
        let task: LocalBoxFuture = Box::pin(counted.task(future));
        // Made first, so that a refused task's handle is released with it.
        let handle = counted.handle();
        if self.local.deferring.get() {
            // While the service starts, the task waits in the driver's list (see `spawn`).
            self.driver.defer(self.local, Deferred::Local(task));
        } else {
            self.driver.tasks.spawn_local(task)?;
        }
        Ok(handle)
    }

    /// Counts a task named `name` in this service's run.
    fn enter(&self, name: TaskName) -> Result<Counted, Error> {
        let node = self.local.node();
        if matches!(self.handle().state(), State::Stopping | State::Stopped) {
            return Err(Error::ServiceStopped);
        }
        let run = node.tasks();
        let slot = run.enter(name).ok_or(Error::ServiceStopped)?;
        Ok(Counted::new(node.clone(), run.for_task(), slot))
    }

    /// Calls `callback` every `interval`, on deadlines `start + k·interval` (no drift), as a
    /// background task of this service: [`ServiceHandle::timer`], started in order with
    /// the tasks of [`spawn`](Self::spawn).
    ///
    /// # Errors
    ///
    /// As [`ServiceHandle::timer`].
    pub fn timer<F, Fut>(
        &self,
        interval: impl Into<Seconds>,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + Send + 'static,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        self.timer_with(interval, TimerOptions::new(), callback)
    }

    /// [`timer`](Self::timer) with [`TimerOptions`], as [`ServiceHandle::timer_with`].
    ///
    /// # Errors
    ///
    /// As [`timer`](Self::timer).
    pub fn timer_with<F, Fut>(
        &self,
        interval: impl Into<Seconds>,
        options: impl Into<TimerOptions>,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + Send + 'static,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        let timer = Periodic::new::<F>(interval.into().into(), options.into())?;
        let name = timer.name.clone();
        let (node, handle) = (self.local.node().clone(), self.handle());
        self.spawn_task(name, || timer.task(node, with_handle(handle, callback)))
    }

    /// Calls `callback` at the times `schedule` gives: [`ServiceHandle::crontab`], from a
    /// hook.
    ///
    /// # Errors
    ///
    /// As [`ServiceHandle::crontab`].
    #[cfg(feature = "cron")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cron")))]
    pub fn crontab<F, Fut>(
        &self,
        schedule: crate::cron::Crontab,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + Send + 'static,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        self.handle().crontab(schedule, callback)
    }

    /// Calls `callback` every `interval`, as [`timer`](Self::timer) does, with a
    /// callback and futures that need not be `Send` (a task of
    /// [`spawn_local`](Self::spawn_local)).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] for a zero interval, and as [`spawn_local`](Self::spawn_local).
    pub fn timer_local<F, Fut>(
        &self,
        interval: impl Into<Seconds>,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + 'static,
        Fut: Future<Output = BoxResult> + 'static,
    {
        self.timer_local_with(interval, TimerOptions::new(), callback)
    }

    /// [`timer_local`](Self::timer_local) with [`TimerOptions`].
    ///
    /// # Errors
    ///
    /// As [`timer_local`](Self::timer_local).
    pub fn timer_local_with<F, Fut>(
        &self,
        interval: impl Into<Seconds>,
        options: impl Into<TimerOptions>,
        callback: F,
    ) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + 'static,
        Fut: Future<Output = BoxResult> + 'static,
    {
        let timer = Periodic::new::<F>(interval.into().into(), options.into())?;
        let name = timer.name.clone();
        let task = timer.task(
            self.local.node().clone(),
            with_handle(self.handle(), callback),
        );
        self.spawn_local_task(name, task)
    }

    /// Spawns a background task owned by this service: [`ServiceHandle::spawn`], from a
    /// hook.
    ///
    /// Tasks a hook adds while its service starts wait in the driver's own list for the
    /// start sequence's task step (no lock taken), and start there in the order added,
    /// together with those of [`spawn_local`](Self::spawn_local); tasks added meanwhile
    /// from other threads through a handle start after them.
    ///
    /// # Errors
    ///
    /// As [`ServiceHandle::spawn`].
    pub fn spawn<F>(&self, future: F) -> Result<TaskHandle, Error>
    where
        F: Future<Output = BoxResult> + Send + 'static,
    {
        self.spawn_task(default_name::<F>(), || future)
    }

    /// [`spawn`](Self::spawn) for the task `task` makes from a clone of this service's
    /// handle (`cx.spawn_with(|me| async move { .. me.sleep(..) .. })`), as
    /// [`ServiceHandle::spawn_with`]. A task cannot use `cx` itself: it lives on after the
    /// hook returns, and `cx` is not `Send`.
    ///
    /// # Errors
    ///
    /// As [`ServiceHandle::spawn`].
    pub fn spawn_with<F, Fut>(&self, task: F) -> Result<TaskHandle, Error>
    where
        F: FnOnce(ServiceHandle) -> Fut,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        self.spawn_task(default_name::<Fut>(), || task(self.handle().clone()))
    }

    /// [`spawn`](Self::spawn) with a name, as [`ServiceHandle::spawn_named`].
    ///
    /// # Errors
    ///
    /// As [`ServiceHandle::spawn`].
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> Result<TaskHandle, Error>
    where
        F: Future<Output = BoxResult> + Send + 'static,
    {
        self.spawn_task(TaskName::Given(name.into()), || future)
    }

    /// Spawns the task around the future `make` returns, made only once the task is
    /// admitted (see [`crate::task::boxed`]).
    fn spawn_task<F, T>(
        &self,
        name: TaskName,
        make: impl FnOnce() -> F,
    ) -> Result<TaskHandle<T>, Error>
    where
        F: Future<Output = BoxResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        // As `ServiceHandle::spawn_task`: the rest is compiled once.
        let task = self.spawn_boxed(name, &mut Make(Some(make)))?;
        Ok(TaskHandle::of(task))
    }

    /// [`spawn_task`](Self::spawn_task) for the boxed task `make` returns.
    fn spawn_boxed(&self, name: TaskName, make: &mut dyn MakeTask) -> Result<TaskRef, Error> {
        if !self.local.deferring.get() {
            return self.handle().spawn_boxed(name, make);
        }
        let counted = self.enter(name)?;
        let task = make.make(&counted);
        self.driver.defer(self.local, Deferred::Send(task));
        Ok(counted.task_ref())
    }

    /// Shows `root`, the root of a tree this service runs of its own on another executor
    /// (a thread service's tree), below the service: [`ServiceHandle::nested_tree`]
    /// returns it while that tree exists, and the Worker's dump lists that tree under the
    /// service; `None` unsets it. The tree is not a child: its services start, stop and
    /// crash in their own tree.
    pub fn set_nested_tree(&self, root: Option<&ServiceHandle>) {
        self.local
            .node()
            .set_nested_tree(root.map(ServiceHandle::node));
    }

    /// Keeps `value` until this service stops, then drops it (mode's `add_context`).
    /// Values and async resources are released in reverse order of adding, after the
    /// service's tasks are gone and before `on_shutdown`.
    ///
    /// # Errors
    ///
    /// [`Error::ServiceStopped`] if the service is stopping or stopped (`value` is dropped
    /// at once).
    pub fn add_context<T: 'static>(&self, value: T) -> Result<(), Error> {
        self.add_resource(Resource::Value(Box::new(value) as Box<dyn Any>))
    }

    /// Keeps `resource` until this service stops, then awaits its
    /// [`close`](AsyncClose::close) (mode's `add_async_context`); ordered as
    /// [`add_context`](Self::add_context).
    ///
    /// # Errors
    ///
    /// [`Error::ServiceStopped`] if the service is stopping or stopped (`resource` is
    /// dropped without closing).
    pub fn add_async_context(&self, resource: impl AsyncClose) -> Result<(), Error> {
        self.add_resource(Resource::Async(Box::new(resource)))?;
        let closing = &self.local.extras().close_resources;
        closing.set(Some(close_resources));
        Ok(())
    }

    fn add_resource(&self, resource: Resource) -> Result<(), Error> {
        if matches!(self.handle().state(), State::Stopping | State::Stopped) {
            return Err(Error::ServiceStopped);
        }
        self.local.extras().resources.borrow_mut().push(resource);
        Ok(())
    }
}

/// Declares a service's children in [`Service::on_init_dependencies`].
pub struct Dependencies<'a> {
    pub(crate) driver: &'a Driver,
    pub(crate) parent: &'a LocalRef,
    /// Where the children declared here wait for their own `on_init_dependencies`.
    pub(crate) declared: &'a mut Vec<LocalRef>,
}

impl core::fmt::Debug for Dependencies<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dependencies")
            .field("parent", self.parent.handle())
            .finish()
    }
}

impl Dependencies<'_> {
    /// Declares `service` as a child; children start in the order declared. Returns its
    /// handle, valid for the life of the tree.
    ///
    /// The child's own `on_init_dependencies` runs once this one has returned (the tree is
    /// built from a list, not by recursion, so its depth costs no stack): until then the
    /// handle lists no children of the child.
    pub fn add(&mut self, service: impl Service) -> ServiceHandle {
        let child = self
            .driver
            .new_node(service, Some(self.parent), ChildKind::Declared);
        let handle = child.handle().clone();
        self.declared.push(child);
        handle
    }

    /// The parent's handle.
    #[must_use]
    pub fn parent(&self) -> &ServiceHandle {
        self.parent.handle()
    }
}
