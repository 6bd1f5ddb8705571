//! Thread services on smol: [`SmolThreadRuntime`] and [`ServiceThread`].

use std::future::Future;
use std::io;
use std::sync::Arc;

use async_executor::Executor;
use mode_core::{Service, Tree};

use crate::{SmolSpawner, SmolTimer};

/// A [`ServiceThread`](mode_worker::ServiceThread) whose thread runs an executor of its own
/// ([`SmolThreadRuntime`]).
///
/// ```
/// use mode::smol::ServiceThread;
/// use mode::Service;
///
/// struct Db;
/// impl Service for Db {}
///
/// let db = ServiceThread::new(Db).with_thread_name("db");
/// assert_eq!(db.handle().thread_name(), "db");
/// ```
pub type ServiceThread<S> = mode_worker::ServiceThread<S, SmolThreadRuntime>;

/// The executor of a smol [`ServiceThread`]: an [`Executor`] that only the service's thread
/// runs (in [`async_io::block_on`], which also drives async-io's reactor and timers there).
/// The thread's `Send` tasks are spawned on it, so everything of the service runs on its
/// thread. (An `Executor` rather than a `LocalExecutor`, since mode's spawner hands over
/// `Send` futures from any thread.)
#[derive(Debug)]
pub struct SmolThreadRuntime {
    executor: Arc<Executor<'static>>,
}

impl mode_worker::ThreadRuntime for SmolThreadRuntime {
    type Timer = SmolTimer;

    fn build() -> io::Result<Self> {
        Ok(SmolThreadRuntime {
            executor: Arc::new(Executor::new()),
        })
    }

    fn tree<S: Service>(&self, root: S) -> Tree<SmolTimer> {
        Tree::new(
            root,
            SmolSpawner::new(Arc::clone(&self.executor)),
            SmolTimer::new(),
        )
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(self.executor.run(future))
    }
}
