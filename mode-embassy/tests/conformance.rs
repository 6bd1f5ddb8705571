//! The conformance suite on embassy's std executor (`platform-std`, `executor-thread`) with
//! embassy-time's `std` driver.
//!
//! Two backends: a single-task tree, whose every background task is polled by the tree
//! itself ([`mode_embassy::tree`]), and `Send` tasks as embassy tasks of a [`task_pool!`]
//! (the others polled by the tree).
//!
//! The time driver is the real clock (`embassy-time/std`), so the backends report
//! `is_virtual() == false` and timing assertions are tolerant, as on tokio. The mock driver
//! is one global clock per test binary: parallel tests would advance each other's time.

mod common;

use core::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use common::{block_on_embassy, Counting};
use mode_conformance::Backend;
use mode_core::runtime::{BoxFuture, SpawnError, Spawner};
use mode_core::{Service, Tree};
use mode_embassy::{EmbassySpawner, EmbassyTimer};

mode_embassy::task_pool!(static POOL: 256);

/// Builds trees that `block_on` then runs, on a fresh embassy executor each time.
struct Embassy {
    with_pool: bool,
    executor: ExecutorCell,
    live: Arc<AtomicUsize>,
}

impl Embassy {
    fn single_task() -> Self {
        Embassy {
            with_pool: false,
            executor: ExecutorCell::default(),
            live: Arc::default(),
        }
    }

    fn pool() -> Self {
        Embassy {
            with_pool: true,
            ..Embassy::single_task()
        }
    }
}

impl Backend for Embassy {
    type Timer = EmbassyTimer;

    fn tree<S: Service>(&self, root: S) -> Tree<EmbassyTimer> {
        if !self.with_pool {
            return mode_embassy::tree(root).with_task_limit(64);
        }
        // The executor is made in `block_on`; tasks spawn only once the tree runs.
        let spawner = LateSpawner {
            executor: self.executor.clone(),
        };
        let counting = Counting {
            inner: spawner,
            live: self.live.clone(),
        };
        mode_embassy::tree_with_spawner(root, counting)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let cell = self.executor.clone();
        block_on_embassy(
            &self.live,
            |spawner| {
                *cell.lock().unwrap() = Some(spawner.make_send());
            },
            future,
        )
    }

    fn is_virtual(&self) -> bool {
        false
    }
}

/// The executor of the current `block_on`, once it exists.
type ExecutorCell = Arc<Mutex<Option<embassy_executor::SendSpawner>>>;

/// An [`EmbassySpawner`] on the executor that `block_on` makes later.
struct LateSpawner {
    executor: ExecutorCell,
}

impl Spawner for LateSpawner {
    fn spawn(&self, future: BoxFuture) -> Result<(), SpawnError> {
        let executor = *self.executor.lock().unwrap();
        match executor {
            Some(executor) => EmbassySpawner::new(executor, &POOL).spawn(future),
            None => Err(SpawnError::Shutdown),
        }
    }
}

mod embassy_single_task {
    mode_conformance::conformance_tests!(super::Embassy::single_task());
}

mod embassy_pool {
    mode_conformance::conformance_tests!(super::Embassy::pool());
}
