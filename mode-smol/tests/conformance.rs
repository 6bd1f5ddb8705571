//! The conformance suite on smol: a multi-threaded executor, a single thread, and smol's
//! global executor; and thread services on each, their threads running
//! `SmolThreadRuntime`.
//!
//! In every setup the tree's driver (and the tasks that are not `Send`, which it polls)
//! runs on the test thread, in `async_io::block_on`; the setups differ in where `Send`
//! tasks run.

use core::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use mode_conformance::Backend;
use mode_core::{Service, Tree};
use mode_smol::{SmolSpawner, SmolTimer};
use smol::Executor;

struct Smol {
    /// `None`: a single-task tree, every task polled by the tree itself.
    spawner: Option<SmolSpawner>,
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
            spawner: Some(SmolSpawner::new(executor)),
            threads,
            stop: Some(stop),
            _exclusive: None,
        }
    }

    /// Everything, `Send` tasks included, on the test thread: a single-task tree.
    fn single_thread() -> Self {
        Smol {
            spawner: None,
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
            spawner: Some(SmolSpawner::global()),
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
        match &self.spawner {
            Some(spawner) => Tree::new(root, spawner.clone(), SmolTimer::new()),
            None => Tree::single_task(root, SmolTimer::new()),
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(future)
    }

    fn is_virtual(&self) -> bool {
        false
    }
}

mod smol_multi_thread {
    mode_conformance::conformance_tests!(super::Smol::multi_thread());
    mode_conformance::thread_service_tests!(
        super::Smol::multi_thread(),
        mode_smol::SmolThreadRuntime
    );
}

mod smol_single_thread {
    mode_conformance::conformance_tests!(super::Smol::single_thread());
    mode_conformance::thread_service_tests!(
        super::Smol::single_thread(),
        mode_smol::SmolThreadRuntime
    );
}

mod smol_global {
    mode_conformance::conformance_tests!(super::Smol::global());
    mode_conformance::thread_service_tests!(super::Smol::global(), mode_smol::SmolThreadRuntime);
}
