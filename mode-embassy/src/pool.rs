//! [`TaskPool`] and [`EmbassySpawner`]: `Send` background tasks as embassy tasks, from a
//! fixed pool the application declares with [`task_pool!`](crate::task_pool).

use core::cell::Cell;
use core::fmt;

use critical_section::Mutex;
use embassy_executor::SendSpawner;
use mode_core::runtime::{BoxFuture, SpawnError, Spawner};

/// The spawn function a [`task_pool!`](crate::task_pool) generates: calls the pool's
/// embassy task function and spawns the token.
#[doc(hidden)]
pub(crate) type SpawnFn =
    fn(SendSpawner, InUse, BoxFuture) -> Result<(), embassy_executor::SpawnError>;

/// A fixed pool of embassy tasks, each running one boxed `Send` future; declared with
/// [`task_pool!`](crate::task_pool), used through an [`EmbassySpawner`].
///
/// embassy tasks are `static`s of a non-generic `#[embassy_executor::task]` function, so
/// the pool's size is fixed when the application is compiled: `task_pool!` expands to such
/// a task, `pool_size = N`, that awaits the boxed future it is given. Each background task
/// of the service tree then is a real embassy task, woken and polled on its own.
///
/// ```
/// mode::embassy::task_pool!(static POOL: 8);
///
/// assert_eq!(POOL.size(), 8);
/// assert_eq!(POOL.in_use(), 0);
/// ```
pub struct TaskPool {
    spawn: SpawnFn,
    size: usize,
    in_use: Mutex<Cell<usize>>,
}

impl TaskPool {
    /// Used by [`task_pool!`](crate::task_pool).
    #[doc(hidden)]
    pub const fn __new(spawn: SpawnFn, size: usize) -> Self {
        TaskPool {
            spawn,
            size,
            in_use: Mutex::new(Cell::new(0)),
        }
    }

    /// The number of tasks the pool can run at once.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.size
    }

    /// The number of the pool's tasks that are running now.
    #[must_use]
    pub fn in_use(&self) -> usize {
        critical_section::with(|cs| self.in_use.borrow(cs).get())
    }

    fn enter(&'static self) -> InUse {
        critical_section::with(|cs| {
            let count = self.in_use.borrow(cs);
            count.set(count.get() + 1);
        });
        InUse { pool: self }
    }
}

impl fmt::Debug for TaskPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskPool")
            .field("size", &self.size)
            .field("in_use", &self.in_use())
            .finish_non_exhaustive()
    }
}

/// Counts one task of a [`TaskPool`] while it exists (held by the pool's task).
#[doc(hidden)]
pub struct InUse {
    pool: &'static TaskPool,
}

impl Drop for InUse {
    fn drop(&mut self) {
        critical_section::with(|cs| {
            let count = self.pool.in_use.borrow(cs);
            count.set(count.get().saturating_sub(1));
        });
    }
}

impl fmt::Debug for InUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InUse").finish_non_exhaustive()
    }
}

/// Declares a [`TaskPool`] of `N` embassy tasks for mode's `Send` background tasks.
///
/// ```
/// const TASKS: usize = 4;
/// mode::embassy::task_pool!(
///     /// Background tasks of the service tree.
///     pub static POOL: TASKS * 2
/// );
/// assert_eq!(POOL.size(), 8);
/// ```
///
/// It expands to a `static` [`TaskPool`] and, inside its initialiser, a non-generic
/// `#[embassy_executor::task(pool_size = N)]` function taking the boxed future. The
/// application depends on `embassy-executor` anyway (it picks the executor's platform);
/// the macro reaches the crate through mode-embassy, so no extra import is needed.
#[macro_export]
macro_rules! task_pool {
    ($(#[$attr:meta])* $vis:vis static $name:ident : $size:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::TaskPool = {
            #[$crate::__private::embassy_executor::task(
                pool_size = $size,
                embassy_executor = $crate::__private::embassy_executor
            )]
            async fn mode_pool_task(
                in_use: $crate::__private::InUse,
                future: $crate::__private::BoxFuture,
            ) {
                let _in_use = in_use;
                future.await
            }

            fn spawn(
                executor: $crate::__private::embassy_executor::SendSpawner,
                in_use: $crate::__private::InUse,
                future: $crate::__private::BoxFuture,
            ) -> ::core::result::Result<(), $crate::__private::embassy_executor::SpawnError> {
                executor.spawn(mode_pool_task(in_use, future)?);
                ::core::result::Result::Ok(())
            }

            $crate::TaskPool::__new(spawn, $size)
        };
    };
}

/// mode's [`Spawner`] on an embassy executor: `Send` background tasks become tasks of a
/// [`TaskPool`].
///
/// It is `Copy`, `Send` and `Sync` (it holds an embassy [`SendSpawner`]), so services'
/// handles can spawn from any task, thread or interrupt priority. When every task of the
/// pool is busy, [`spawn`](Spawner::spawn) returns [`SpawnError::Full`] and drops the
/// future; the service that spawned it crashes with that error (a supervisor may restart
/// it), so size the pool for the most tasks the tree runs at once.
///
/// Futures that are not `Send` never reach it: the tree polls them itself.
#[derive(Clone, Copy)]
pub struct EmbassySpawner {
    executor: SendSpawner,
    pool: &'static TaskPool,
}

impl EmbassySpawner {
    /// A spawner for the executor behind `executor` (`spawner.make_send()` of the embassy
    /// `Spawner` a task receives) and the tasks of `pool`.
    #[must_use]
    pub const fn new(executor: SendSpawner, pool: &'static TaskPool) -> Self {
        EmbassySpawner { executor, pool }
    }

    /// The pool this spawner runs tasks on.
    #[must_use]
    pub const fn pool(&self) -> &'static TaskPool {
        self.pool
    }
}

impl Spawner for EmbassySpawner {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        let in_use = self.pool.enter();
        (self.pool.spawn)(self.executor, in_use, future).map_err(|busy| match busy {
            embassy_executor::SpawnError::Busy => SpawnError::Full,
        })
    }
}

impl fmt::Debug for EmbassySpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbassySpawner")
            .field("pool", self.pool)
            .finish_non_exhaustive()
    }
}
