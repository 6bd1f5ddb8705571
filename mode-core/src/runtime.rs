//! The two seams between mode and an executor: [`Spawner`] and [`Timer`].
//!
//! mode-core owns every piece of lifecycle logic (ordering, cancellation, completion
//! tracking, timer deadlines). An executor adapter only has to
//!
//! - run a boxed `'static` future to completion ([`Spawner::spawn`]), and
//! - tell the time and wake a future at a deadline ([`Timer`]).
//!
//! Cancellation is core's, not the runtime's: a spawned future is wrapped so that stopping
//! its service makes it finish, so an adapter never needs a `JoinHandle` or `abort`.
//!
//! # Send and local futures
//!
//! [`Spawner::spawn`] takes `Send` futures, so multi-threaded executors can run background
//! tasks in parallel. A service's *hooks* never need to be `Send`: they run inside the future
//! that drives the service tree ([`Tree::run`](crate::Tree::run)), which stays on the task
//! that awaits it. Futures that are not `Send` can be run on the same thread through
//! [`Spawner::spawn_local`], which executors without a thread-local spawner leave
//! unsupported.
//!
//! # Writing an adapter
//!
//! ```
//! use mode_core::runtime::{BoxFuture, SpawnError, Spawner};
//!
//! /// A spawner that refuses everything: shows the shape only.
//! #[derive(Debug)]
//! struct Nowhere;
//!
//! impl Spawner for Nowhere {
//!     fn spawn(&self, _future: BoxFuture) -> Result<(), SpawnError> {
//!         Err(SpawnError::Shutdown)
//!     }
//! }
//!
//! assert_eq!(Nowhere.spawn(Box::pin(async {})), Err(SpawnError::Shutdown));
//! ```

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::pin::Pin;

use crate::time::Instant;

/// A boxed `Send` future, as handed to [`Spawner::spawn`].
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A boxed future that may not be `Send`, as handed to [`Spawner::spawn_local`].
pub type LocalBoxFuture = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// Runs futures on an executor.
///
/// Implementations must poll the future until it completes (or the executor shuts down).
/// They never need to cancel it: mode wraps every future it spawns so that it completes on
/// its own when its service stops.
pub trait Spawner: Send + Sync + 'static {
    /// Spawns a `Send` future, to be polled on any of the executor's threads.
    ///
    /// # Errors
    ///
    /// Returns a [`SpawnError`] when the executor cannot take the future (it shut down, or
    /// a fixed pool of task slots is full).
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError>;

    /// Spawns a future that is not `Send`, to be polled on the current thread.
    ///
    /// Only called from the thread that drives the service tree. The default
    /// implementation returns [`SpawnError::LocalUnsupported`].
    ///
    /// # Errors
    ///
    /// As [`spawn`](Spawner::spawn), plus [`SpawnError::LocalUnsupported`] when the executor
    /// has no thread-local spawner.
    fn spawn_local(&self, future: LocalBoxFuture) -> Result<(), SpawnError> {
        drop(future);
        Err(SpawnError::LocalUnsupported)
    }
}

/// The clock and the single deadline-wake primitive mode needs from an executor.
///
/// mode keeps its own queue of deadlines (every sleep and periodic timer of a tree) and
/// drives it with one [`sleep_until`](Timer::sleep_until) at a time, so an adapter never
/// allocates per sleep and periodic deadlines are computed in core, never in an adapter.
///
/// # Contract
///
/// [`now`](Timer::now) MUST be monotonic: it never returns an instant earlier than one it
/// returned before. The future from [`sleep_until`](Timer::sleep_until) MUST complete no
/// earlier than `deadline` (as seen by `now`) and SHOULD complete soon after it.
pub trait Timer: Send + Sync + 'static {
    /// The future returned by [`sleep_until`](Timer::sleep_until).
    type Sleep: Future<Output = ()>;

    /// The current time on this timer's monotonic clock.
    fn now(&self) -> Instant;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
}

/// Why an executor did not take a future.
///
/// ```
/// use mode_core::runtime::SpawnError;
///
/// let err = SpawnError::Full;
/// assert!(err.to_string().contains("full"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// The executor has shut down.
    Shutdown,
    /// A fixed pool of task slots is full; a larger pool is needed.
    Full,
    /// The executor has no spawner for futures that are not `Send`.
    LocalUnsupported,
    /// The service that would own the future is stopping or stopped.
    ServiceStopped,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::Shutdown => "the executor has shut down",
            SpawnError::Full => "the executor's task pool is full; configure a larger pool",
            SpawnError::LocalUnsupported => {
                "the executor cannot run futures that are not Send (no local spawner)"
            }
            SpawnError::ServiceStopped => {
                "the service is stopping or stopped and takes no new tasks"
            }
        })
    }
}

impl core::error::Error for SpawnError {}

impl<S: Spawner + ?Sized> Spawner for crate::platform::plain::Arc<S> {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        (**self).spawn(future)
    }

    fn spawn_local(&self, future: LocalBoxFuture) -> Result<(), SpawnError> {
        (**self).spawn_local(future)
    }
}
