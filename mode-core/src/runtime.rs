//! The two seams between mode and an executor: [`Spawner`] and [`Timer`].
//!
//! mode-core owns every piece of lifecycle logic (ordering, cancellation, completion
//! tracking, timer deadlines, the tasks that are not `Send`). An executor adapter only has
//! to
//!
//! - run a boxed `Send + 'static` future to completion ([`Spawner::spawn`]), and
//! - tell the time and wake a future at a deadline ([`Timer`]).
//!
//! # The contract, once for every adapter
//!
//! | call | from which thread | what it must do |
//! |---|---|---|
//! | [`Spawner::spawn`] | any (handles are `Send + Sync`; without `std`, also an interrupt handler) | poll the future to completion on any of the executor's threads, or return a [`SpawnError`] at once |
//! | [`Timer::now`] | any | read a monotonic clock: never earlier than a value it returned before |
//! | [`Timer::sleep_until`] | the thread that runs the tree | return a future that completes no earlier than the deadline (as `now` sees it) and soon after it |
//! | polling that future | the thread that runs the tree | so it need not be `Send` |
//!
//! - **Cancellation is core's.** A spawned future is wrapped so that stopping its service
//!   makes it finish, so an adapter never needs a `JoinHandle` or `abort`, and never
//!   cancels anything.
//! - **"Never" is core's too.** mode never asks for a sleep until [`Instant::MAX`]: when
//!   nothing is due, the tree waits without a timer. A deadline past the range of the
//!   executor's clock may be clamped to the latest instant it can represent.
//! - **Futures that are not `Send`** never reach an adapter: the tree polls them itself,
//!   inside [`Tree::run`](crate::Tree::run) ([`Context::spawn_local`](crate::Context::spawn_local)).
//!   An executor that cannot spawn at all runs a [single-task tree](crate::Tree::single_task),
//!   which needs a [`Timer`] only.
//!
//! # Writing an adapter
//!
//! An adapter is these two impls. This one runs background tasks on threads of their own
//! and tells time with `std`'s clock; a real adapter would use its executor's spawner and
//! timer:
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//! use std::task::{Context, Poll};
//! use std::time::Instant as StdInstant;
//!
//! use mode::runtime::{BoxFuture, SpawnError, Spawner, Timer};
//! use mode::time::Instant;
//!
//! /// Each background task on a thread of its own.
//! struct ThreadSpawner;
//!
//! impl Spawner for ThreadSpawner {
//!     fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
//!         std::thread::Builder::new()
//!             .spawn(move || futures_lite::future::block_on(future))
//!             .map(drop)
//!             .map_err(|_| SpawnError::Shutdown)
//!     }
//! }
//!
//! /// `std`'s monotonic clock; sleeps poll until the deadline has passed (a real timer
//! /// registers a wake-up with its reactor instead).
//! struct StdTimer(StdInstant);
//!
//! struct Sleep(StdInstant);
//!
//! impl Future for Sleep {
//!     type Output = ();
//!
//!     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
//!         if StdInstant::now() >= self.0 {
//!             return Poll::Ready(());
//!         }
//!         cx.waker().wake_by_ref();
//!         Poll::Pending
//!     }
//! }
//!
//! impl Timer for StdTimer {
//!     type Sleep = Sleep;
//!
//!     fn now(&self) -> Instant {
//!         Instant::from_duration(self.0.elapsed())
//!     }
//!
//!     fn sleep_until(&self, deadline: Instant) -> Sleep {
//!         Sleep(self.0 + deadline.as_duration())
//!     }
//! }
//!
//! // The adapter at work: a service whose task sleeps, then stops the tree.
//! use mode::{Context as ServiceContext, BoxResult, Service, Tree};
//! use std::time::Duration;
//!
//! struct App;
//!
//! impl Service for App {
//!     async fn on_started(&mut self, cx: &ServiceContext<'_>) -> BoxResult {
//!         let me = cx.handle().clone();
//!         cx.spawn(async move {
//!             me.sleep(Duration::from_millis(5)).await?;
//!             me.request_stop();
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let tree = Tree::new(App, ThreadSpawner, StdTimer(StdInstant::now()));
//! let exit = futures_lite::future::block_on(tree.run());
//! assert!(exit.is_clean());
//! ```

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::pin::Pin;

use crate::time::Instant;

/// A boxed `Send` future, as handed to [`Spawner::spawn`].
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A boxed future that need not be `Send`, polled by the tree itself.
pub(crate) type LocalBoxFuture = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// Runs `Send` futures on an executor. See [the contract](self#the-contract-once-for-every-adapter).
pub trait Spawner: Send + Sync + 'static {
    /// Spawns a `Send` future, to be polled to completion on any of the executor's
    /// threads. Called from any thread.
    ///
    /// # Errors
    ///
    /// Returns a [`SpawnError`] when the executor cannot take the future (it shut down, or
    /// a fixed pool of task slots is full); the future is dropped.
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError>;
}

/// The clock and the single deadline-wake primitive mode needs from an executor. See
/// [the contract](self#the-contract-once-for-every-adapter).
///
/// mode keeps its own queue of deadlines (every sleep and periodic timer of a tree) and
/// drives it with one [`sleep_until`](Timer::sleep_until) at a time, so an adapter never
/// allocates per sleep and periodic deadlines are computed in core, never in an adapter.
pub trait Timer: Send + Sync + 'static {
    /// The future returned by [`sleep_until`](Timer::sleep_until); polled only on the
    /// thread that runs the tree, so it need not be `Send`.
    type Sleep: Future<Output = ()>;

    /// The current time on this timer's monotonic clock; never earlier than a value it
    /// returned before. Called from any thread.
    fn now(&self) -> Instant;

    /// A future that completes no earlier than `deadline` (as [`now`](Timer::now) sees
    /// it), and soon after it. `deadline` is never [`Instant::MAX`].
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
}

/// Why an executor did not take a future.
///
/// ```
/// use mode::runtime::SpawnError;
///
/// let err = SpawnError::Full;
/// assert!(err.to_string().contains("full"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SpawnError {
    /// The executor has shut down.
    Shutdown,
    /// A fixed pool of task slots is full (or a tree's
    /// [task limit](crate::Tree::with_task_limit) is reached); a larger pool is needed.
    Full,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::Shutdown => "the executor has shut down",
            SpawnError::Full => "the executor's task pool is full; configure a larger pool",
        })
    }
}

impl core::error::Error for SpawnError {}

impl<S: Spawner + ?Sized> Spawner for crate::platform::plain::Arc<S> {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        (**self).spawn(future)
    }
}
