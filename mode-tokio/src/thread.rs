//! Thread services on tokio: [`TokioThreadRuntime`] and [`ServiceThread`].

use std::future::Future;
use std::io;

use mode_core::{Service, Tree};

use crate::{TokioSpawner, TokioTimer};

/// A [`ServiceThread`](mode_worker::ServiceThread) whose thread runs a current-thread tokio
/// runtime ([`TokioThreadRuntime`]).
///
/// ```
/// use mode::tokio::ServiceThread;
/// use mode::Service;
///
/// struct Db;
/// impl Service for Db {}
///
/// let db = ServiceThread::new(Db).with_thread_name("db");
/// assert_eq!(db.handle().thread_name(), "db");
/// ```
pub type ServiceThread<S> = mode_worker::ServiceThread<S, TokioThreadRuntime>;

/// The executor of a tokio [`ServiceThread`]: a current-thread tokio runtime with I/O and
/// time, built on the service's thread and run by it alone. The thread's `Send` tasks
/// are spawned on it too, so everything of the service runs on its thread.
#[derive(Debug)]
pub struct TokioThreadRuntime {
    runtime: tokio::runtime::Runtime,
}

impl mode_worker::ThreadRuntime for TokioThreadRuntime {
    type Timer = TokioTimer;

    fn build() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(TokioThreadRuntime { runtime })
    }

    fn tree<S: Service>(&self, root: S) -> Tree<TokioTimer> {
        let _inside = self.runtime.enter();
        Tree::new(root, TokioSpawner::new(), TokioTimer::new())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}
