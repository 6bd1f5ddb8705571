//! The conformance suite on smol: a multi-threaded executor, a single thread, and smol's
//! global executor.
//!
//! In every setup the tree's driver and the local tasks run on a `LocalExecutor` on the
//! test thread (registered for `spawn_local` while the test blocks on it); the setups
//! differ in where `Send` tasks run.

use core::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use mode_conformance::Backend;
use mode_core::{Service, Tree};
use mode_smol::{LocalScope, SmolSpawner, SmolTimer};
use smol::{Executor, LocalExecutor};

struct Smol {
    spawner: SmolSpawner,
    local: Rc<LocalExecutor<'static>>,
    /// The threads running the multi-threaded executor, and the channel whose closing
    /// stops them.
    threads: Vec<JoinHandle<()>>,
    stop: Option<async_channel::Sender<()>>,
    /// Held by the tests on smol's global executor, see [`Smol::global`].
    _exclusive: Option<MutexGuard<'static, ()>>,
}

impl Smol {
    /// `Send` tasks on an `Executor` run by two threads of its own.
    fn multi_thread() -> Self {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..2)
            .map(|_| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    let _ = async_io::block_on(executor.run(stopped.recv()));
                })
            })
            .collect();
        Smol {
            spawner: SmolSpawner::new(executor),
            local: Rc::new(LocalExecutor::new()),
            threads,
            stop: Some(stop),
            _exclusive: None,
        }
    }

    /// Everything, `Send` tasks included, on the test thread's `LocalExecutor`.
    fn single_thread() -> Self {
        let local = Rc::new(LocalExecutor::new());
        Smol {
            spawner: SmolSpawner::from_local(&local),
            local,
            threads: Vec::new(),
            stop: None,
            _exclusive: None,
        }
    }

    /// `Send` tasks on smol's global executor (its own thread).
    ///
    /// That executor is one per process, so these tests run one at a time: the harness
    /// runs tests in parallel, and one test's load on the shared thread would show up in
    /// another's real-clock timings (a panicking task alone, under `RUST_BACKTRACE=1`,
    /// holds the thread for hundreds of milliseconds while its backtrace is printed).
    fn global() -> Self {
        static GLOBAL: Mutex<()> = Mutex::new(());
        Smol {
            spawner: SmolSpawner::global(),
            local: Rc::new(LocalExecutor::new()),
            threads: Vec::new(),
            stop: None,
            _exclusive: Some(GLOBAL.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }
}

impl Drop for Smol {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            thread.join().unwrap();
        }
    }
}

impl Backend for Smol {
    type Timer = SmolTimer;

    fn tree<S: Service>(&self, root: S) -> Tree<SmolTimer> {
        Tree::new(root, self.spawner.clone(), SmolTimer::new())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(LocalScope::within(&self.local, self.local.run(future)))
    }

    fn is_virtual(&self) -> bool {
        false
    }
}

mod smol_multi_thread {
    mode_conformance::conformance_tests!(super::Smol::multi_thread());
}

mod smol_single_thread {
    mode_conformance::conformance_tests!(super::Smol::single_thread());
}

mod smol_global {
    mode_conformance::conformance_tests!(super::Smol::global());
}
