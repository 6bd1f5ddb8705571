//! [`Tree`]: runs a root service and its descendants, and the sequences that start, stop
//! and restart them.
//!
//! One future, [`Tree::run`], drives the whole tree: it runs every hook, in the exact
//! order of mode's lifecycle, and executes the requests that handles queue (stop, start,
//! restart, crash), each as an operation of its own, so that operations on disjoint
//! subtrees run concurrently (see `operation.rs`). It also drives the tree's timer queue,
//! so every sleep and periodic timer of the tree shares a single adapter sleep, and it polls
//! the tree's tasks that are not `Send` (see `task_set.rs`). `Send` background tasks run on
//! the executor through the [`Spawner`], or in a single-task tree inside `run` too.
//!
//! Because hooks run inside this future, they need not be `Send`, and so `run` is not
//! `Send` either: await it from `main` (`block_on`), or from one task
//! of an embedded executor.

use crate::platform::plain::Arc;
use alloc::boxed::Box;
use core::fmt;
use core::pin::pin;

use crate::engine::{Driver, LocalRef};
use crate::events::Observer;
use crate::exit::Exit;
use crate::graph::ChildKind;
use crate::handle::ServiceHandle;
use crate::race::{race, Either};
use crate::runtime::{Spawner, Timer};
use crate::service::Service;
use crate::time::{Duration, Instant};
use crate::timer_queue::{self, Clock, TimerQueue};

/// A service tree, ready to run.
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{BoxResult, Context, Service, StopReason, Tree};
/// use std::time::Duration;
///
/// struct App;
///
/// impl Service for App {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         // Stop after one second of (virtual) time.
///         let handle = cx.handle().clone();
///         cx.spawn(async move {
///             handle.sleep(Duration::from_secs(1)).await?;
///             handle.request_stop();
///             Ok(())
///         })?;
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// let tree = Tree::new(App, rt.clone(), rt.clone());
/// let exit = rt.block_on(tree.run()).unwrap();
/// assert!(matches!(exit.reason(), StopReason::Requested));
/// assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
/// ```
pub struct Tree<T: Timer> {
    /// Declared before the driver, so that it drops first (as the driver's own list of
    /// services does, before the driver's local tasks).
    root: LocalRef,
    driver: Driver,
    timer: Arc<T>,
}

impl<T: Timer> fmt::Debug for Tree<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree")
            .field("root", self.root.handle())
            .finish_non_exhaustive()
    }
}

impl<T: Timer> Tree<T> {
    /// A tree with `root` at the top; background tasks go to `spawner`, time comes from
    /// `timer`. Children declared in `on_init_dependencies` are created now (so the graph
    /// is complete before the tree starts); nothing starts until [`run`](Self::run).
    pub fn new(root: impl Service, spawner: impl Spawner, timer: T) -> Self {
        let spawner: Arc<dyn Spawner> = Arc::from(Box::new(spawner) as Box<dyn Spawner>);
        Tree::build(root, Some(spawner), timer)
    }

    /// A tree that runs as a single task: its background tasks, `Send` or not, are polled
    /// inside [`run`](Self::run), each woken on its own, so no [`Spawner`] is needed.
    ///
    /// For executors that cannot spawn (embassy without a task pool, a bare-metal loop),
    /// and wherever one task for the whole tree is wanted. [`with_task_limit`](Self::with_task_limit)
    /// bounds the number of tasks.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Tree};
    /// use std::time::Duration;
    ///
    /// struct App;
    ///
    /// impl Service for App {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let me = cx.handle().clone();
    ///         cx.spawn(async move {
    ///             me.sleep(Duration::from_secs(1)).await?;
    ///             me.request_stop();
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// // The runtime is only the timer here: the task runs inside the tree's own future.
    /// let rt = VirtualRuntime::new();
    /// let exit = rt.block_on(Tree::single_task(App, rt.clone()).run()).unwrap();
    /// assert!(exit.is_clean());
    /// assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
    /// ```
    pub fn single_task(root: impl Service, timer: T) -> Self {
        Tree::build(root, None, timer)
    }

    fn build(root: impl Service, spawner: Option<Arc<dyn Spawner>>, timer: T) -> Self {
        let timer = Arc::new(timer);
        let clock: Arc<dyn Clock> =
            Arc::from(Box::new(SharedClock(timer.clone())) as Box<dyn Clock>);
        let timers = Arc::new(TimerQueue::new(clock));
        let driver = Driver::new(spawner, timers);
        let root = driver.create_node(root, None, ChildKind::Root);
        Tree {
            driver,
            root,
            timer,
        }
    }

    /// The most background tasks the tree polls itself at once: its tasks that are not
    /// `Send` ([`Context::spawn_local`](crate::Context::spawn_local)), and in a
    /// [single-task](Self::single_task) tree every task. Beyond it, a spawn fails with
    /// [`SpawnError::Full`](crate::runtime::SpawnError::Full) (from a hook, that crashes
    /// the service). Unlimited by default; a bound on memory for a microcontroller.
    #[must_use]
    pub fn with_task_limit(self, limit: usize) -> Self {
        self.driver.tasks.set_limit(limit);
        self
    }

    /// The default stop timeout of every service that does not set its own
    /// ([`Service::stop_timeout`]); 10 seconds unless changed.
    #[must_use]
    pub fn with_stop_timeout(self, timeout: Duration) -> Self {
        self.driver.shared.set_default_stop_timeout(timeout);
        self
    }

    /// Adds an observer of every lifecycle event (after the log).
    #[must_use]
    pub fn with_observer(self, observer: impl Observer) -> Self {
        let observer: Box<dyn Observer> = Box::new(observer);
        self.driver.shared.observers.add(Arc::from(observer));
        self
    }

    /// The number of dashes in the root's log prefix: 1 by default (`[^-App]`), leaving
    /// depth 0 (`[^Worker]`) to the program that runs the tree.
    #[must_use]
    pub fn with_log_depth(self, depth: usize) -> Self {
        self.driver.shared.set_base_depth(depth);
        self
    }

    /// Runs the tree's wall clock from `now`, the wall time at the tree's current instant:
    /// from then on it advances with the tree's monotonic clock, instead of being read from
    /// the system clock (the default). Cron timers ([`ServiceHandle::crontab`]) run by it.
    ///
    /// On a virtual-time runtime this makes cron timers deterministic: the calls land on
    /// exact virtual instants. See [the wall clock](crate::cron#wall-clock-and-the-trees-clock).
    #[cfg(feature = "cron")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cron")))]
    #[must_use]
    pub fn with_wall_clock_origin(self, now: std::time::SystemTime) -> Self {
        let shared = &self.driver.shared;
        shared.wall_clock.set_origin(now, shared.timers.now());
        self
    }

    /// The root service's handle.
    #[must_use]
    pub fn handle(&self) -> ServiceHandle {
        self.root.handle().clone()
    }

    /// Starts the tree, serves requests until the root has stopped, and returns how it
    /// ended: why the root stopped, and which services did not stop cleanly ([`Exit`]).
    ///
    /// The root stops when asked to ([`ServiceHandle::stop`]), or when a service crashes
    /// with no supervisor above it; the reason is then
    /// [`StopReason::Crashed`](crate::StopReason::Crashed) with that crash. When `run` returns, every service has
    /// stopped and every task it spawned is gone (unless a stop timed out).
    ///
    /// The run is a failure ([`Exit::is_failure`]) after such a crash, and after any
    /// unclean stop: a stop hook that failed, a stop that timed out, a crash that happened
    /// while the service stopped (so no supervisor could handle it).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the stop sequence: every task of the tree is cancelled
    /// (dropped at its next poll), but hooks such as `on_stop` do not run.
    pub async fn run(self) -> Exit {
        // The two futures are pinned where they are made and raced by reference: this
        // future's poll, which every hook and task runs under, then keeps no moved copies
        // of them on the stack in a build without optimisations.
        let main = pin!(self.driver.main(&self.root));
        let drive = pin!(timer_queue::drive(&self.driver.shared.timers, &*self.timer));
        match race(main, drive).await {
            Either::Left(exit) => exit,
            Either::Right(never) => match never {},
        }
    }
}

/// The tree's timer as the clock of its timer queue.
struct SharedClock<T>(Arc<T>);

impl<T: Timer> Clock for SharedClock<T> {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::state::{State, StopReason};
    use crate::testing::VirtualRuntime;
    use crate::{BoxResult, Context, Dependencies};
    use alloc::vec::Vec;

    struct Parent;

    impl Service for Parent {
        fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
            deps.add(Worker);
        }
    }

    /// One task that waits forever, so its stop waits for the task to leave.
    struct Worker;

    impl Service for Worker {
        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            cx.spawn(core::future::pending())?;
            Ok(())
        }
    }

    /// Holds back the first task it is given (never polled, as if its thread were
    /// stuck); runs the others on the virtual runtime.
    #[derive(Clone)]
    struct StuckFirst {
        rt: VirtualRuntime,
        held: Arc<std::sync::Mutex<Vec<crate::runtime::BoxFuture>>>,
        spawned: Arc<core::sync::atomic::AtomicUsize>,
    }

    impl crate::runtime::Spawner for StuckFirst {
        fn spawn(
            &self,
            future: crate::runtime::BoxFuture,
        ) -> core::result::Result<(), crate::runtime::SpawnError> {
            use core::sync::atomic::Ordering;
            if self.spawned.fetch_add(1, Ordering::SeqCst) == 0 {
                self.held.lock().unwrap().push(future);
                Ok(())
            } else {
                self.rt.spawn(future)
            }
        }
    }

    /// A task of a stop that timed out is not revived by the restart: the restart runs
    /// its tasks in a fresh run, which the straggler never joins.
    #[test]
    fn a_restart_after_a_timed_out_stop_leaves_the_straggler_behind() {
        let rt = VirtualRuntime::new();
        let spawner = StuckFirst {
            rt: rt.clone(),
            held: Default::default(),
            spawned: Default::default(),
        };
        let tree = Tree::new(Worker, spawner.clone(), rt.clone())
            .with_stop_timeout(Duration::from_millis(10));
        let root = tree.handle();
        let node = root.node().clone();
        let (exit, ()) = rt
            .block_on(futures_lite::future::zip(tree.run(), async {
                root.wait_until_running().await.unwrap();
                root.restart().await.unwrap();
                assert_eq!(rt.now(), Instant::ZERO + Duration::from_millis(10));
                // The straggler counts in the old run only.
                assert_eq!(node.tasks().live(), 1);
                assert!(!node.tasks().is_cancelled());
                spawner.held.lock().unwrap().clear();
                assert_eq!(node.tasks().live(), 1, "the new run's task is still there");
                root.stop().await;
                assert_eq!(node.tasks().live(), 0);
            }))
            .unwrap();
        assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
        assert_eq!(node.restart_count(), 1);
    }

    #[test]
    fn a_stop_whose_tasks_leave_on_cancellation_arms_no_timer() {
        let rt = VirtualRuntime::new();
        let tree = Tree::new(Parent, rt.clone(), rt.clone());
        let root = tree.handle();
        let (exit, ()) = rt
            .block_on(futures_lite::future::zip(tree.run(), async {
                root.wait_until_running().await.unwrap();
                let worker = root.children()[0].clone();
                worker.stop().await;
                assert_eq!(worker.state(), State::Stopped);
                // No stop deadline was registered, so the timer queue sleeps on nothing.
                assert_eq!(rt.pending_sleeps(), 0);
                root.stop().await;
            }))
            .unwrap();
        assert!(matches!(exit.reason(), StopReason::Requested));
        assert_eq!(rt.now(), Instant::ZERO);
    }
}
