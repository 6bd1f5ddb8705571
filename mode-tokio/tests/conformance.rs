//! The conformance suite on tokio: the multi-threaded and the current-thread runtime; and
//! thread services on each, their threads running `TokioThreadRuntime`.

use core::future::Future;

use mode_conformance::Backend;
use mode_core::{Service, Tree};
use mode_tokio::{TokioSpawner, TokioTimer};
use tokio::runtime::Runtime;

/// A tokio runtime; the tree's driver runs in `block_on`.
struct Tokio {
    runtime: Runtime,
}

impl Tokio {
    fn multi_thread() -> Self {
        Tokio {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn current_thread() -> Self {
        Tokio {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }
}

impl Backend for Tokio {
    type Timer = TokioTimer;

    fn tree<S: Service>(&self, root: S) -> Tree<TokioTimer> {
        let _runtime = self.runtime.enter();
        Tree::new(root, TokioSpawner::new(), TokioTimer::new())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn is_virtual(&self) -> bool {
        false
    }
}
mod tokio_multi_thread {
    mode_conformance::conformance_tests!(super::Tokio::multi_thread());
    mode_conformance::thread_service_tests!(
        super::Tokio::multi_thread(),
        mode_tokio::TokioThreadRuntime
    );
}

mod tokio_current_thread {
    mode_conformance::conformance_tests!(super::Tokio::current_thread());
    mode_conformance::thread_service_tests!(
        super::Tokio::current_thread(),
        mode_tokio::TokioThreadRuntime
    );
}
