//! The entry point: the [`Worker`] on smol, and [`run`] / [`run_until_signal`].

use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use async_executor::Executor;
use mode_core::{Exit, Service, Tree};
use mode_worker::{Signal, Signals, PREFIX as WORKER};

use crate::{SmolSpawner, SmolTimer};

/// How long the [`Worker`] waits for its executor threads once the tree has stopped. They
/// exit at once unless a task blocks one of them (a stop that timed out); such a thread is
/// left to the end of the process rather than hanging the exit.
const THREADS_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The [Worker] on smol: `Send` tasks run on an
/// [`Executor`] driven by one thread per available core; the
/// tree's driver and the local tasks run on the calling thread, which blocks until the
/// tree has stopped. The executor threads then exit and are joined (a thread still blocked
/// in a task after a few seconds is left to the end of the process).
pub type Worker<S> = mode_worker::Worker<S, SmolRuntime>;

/// Runs `root` with the [`Worker`]'s defaults until it stops: logging at INFO to stderr
/// (unless the program installed a logger), Ctrl-C or SIGTERM stops it gracefully, a second
/// signal exits at once (status 130). Returns the process exit code (the
/// [table of exit codes](mode_worker#exit-codes)).
///
/// ```no_run
/// use mode::Service;
///
/// struct App;
/// impl Service for App {}
///
/// fn main() -> std::process::ExitCode {
///     mode::smol::run(App)
/// }
/// ```
pub fn run<S: Service>(root: S) -> ExitCode {
    Worker::new(root).run()
}

/// Runs `root` until it stops, stopping it gracefully on the first Ctrl-C or SIGTERM and
/// exiting the process (status 130) on the second. It sets up no logging (the program
/// does, in its own `main`).
///
/// `Send` tasks run on smol's global executor; the tree's driver and the local tasks run in
/// this future, so await it from `main` (`smol::block_on`), not from a spawned task: it is
/// not `Send`.
///
/// Once watched, the signals stay caught after this returns (as with tokio): a later
/// Ctrl-C does nothing unless the program watches it again. On platforms other than Unix
/// and Windows the tree never stops on a signal; on Windows only Ctrl-C stops it.
///
/// ```no_run
/// use mode::Service;
///
/// struct App;
/// impl Service for App {}
///
/// fn main() -> std::process::ExitCode {
///     let exit = smol::block_on(mode::smol::run_until_signal(App));
///     mode::smol::exit_code(&exit)
/// }
/// ```
///
/// # Cancel safety
///
/// As [`Tree::run`](mode_core::Tree::run): dropping the future abandons the stop sequence;
/// every task of the tree is cancelled, but hooks such as `on_stop` do not run.
pub async fn run_until_signal<S: Service>(root: S) -> Exit {
    let signals = SmolSignals::new();
    let tree = Tree::new(root, SmolSpawner::global(), SmolTimer::new());
    mode_worker::serve(tree, signals, SmolTimer::new(), None).await
}

/// A multi-threaded smol executor, for the [`Worker`].
#[derive(Debug)]
pub struct SmolRuntime {
    executor: Arc<Executor<'static>>,
    threads: ExecutorThreads,
}

impl mode_worker::Runtime for SmolRuntime {
    type Timer = SmolTimer;

    fn start() -> io::Result<Self> {
        let executor = Arc::new(Executor::new());
        let count = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let threads = ExecutorThreads::start(&executor, count, "mode-smol")?;
        Ok(SmolRuntime { executor, threads })
    }

    fn tree<S: Service>(&self, root: S) -> Tree<SmolTimer> {
        Tree::new(
            root,
            SmolSpawner::new(self.executor.clone()),
            SmolTimer::new(),
        )
    }

    fn timer(&self) -> SmolTimer {
        SmolTimer::new()
    }

    fn signals(&self) -> impl Signals {
        SmolSignals::new()
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(future)
    }

    fn shutdown(self) {
        self.threads.stop(THREADS_EXIT_TIMEOUT);
    }
}

/// SIGINT, SIGTERM and SIGUSR1 (Ctrl-C only on Windows), registered when created.
struct SmolSignals {
    #[cfg(any(unix, windows))]
    watched: Option<async_signal::Signals>,
}

impl SmolSignals {
    #[cfg(any(unix, windows))]
    fn new() -> Self {
        use async_signal::Signal;

        #[cfg(unix)]
        const WATCHED: &[Signal] = &[Signal::Int, Signal::Term, Signal::Usr1];
        #[cfg(windows)]
        const WATCHED: &[Signal] = &[Signal::Int];

        let watched = async_signal::Signals::new(WATCHED)
            .inspect_err(|err| {
                log::warn!("{WORKER}: cannot watch signals ({err}): only a stop ends the tree");
            })
            .ok();
        SmolSignals { watched }
    }

    #[cfg(not(any(unix, windows)))]
    fn new() -> Self {
        SmolSignals {}
    }
}

impl Signals for SmolSignals {
    async fn next(&mut self) -> Signal {
        #[cfg(any(unix, windows))]
        while let Some(watched) = self.watched.as_mut() {
            use futures_lite::StreamExt;

            match watched.next().await {
                Some(Ok(async_signal::Signal::Term)) => return Signal::Terminate,
                #[cfg(unix)]
                Some(Ok(async_signal::Signal::Usr1)) => return Signal::Dump,
                Some(Ok(_)) => return Signal::Interrupt,
                Some(Err(err)) => {
                    log::warn!("{WORKER}: cannot watch signals ({err}): only a stop ends the tree");
                    self.watched = None;
                }
                None => self.watched = None,
            }
        }
        std::future::pending().await
    }
}

/// The threads that run [`run`]'s executor until told to stop.
#[derive(Debug)]
struct ExecutorThreads {
    /// Dropping it closes the channel, which ends every thread's `executor.run`.
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    /// One message per thread, sent as the thread ends (even by a panic).
    exited: mpsc::Receiver<()>,
}

impl ExecutorThreads {
    /// Starts `count` threads named `{name}-{index}`.
    fn start(executor: &Arc<Executor<'static>>, count: usize, name: &str) -> std::io::Result<Self> {
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let (exit, exited) = mpsc::channel();
        let mut threads = ExecutorThreads {
            stop: Some(stop),
            threads: Vec::with_capacity(count),
            exited,
        };
        for index in 0..count {
            let executor = Arc::clone(executor);
            let stopped = stopped.clone();
            let exit = ExitNotice(exit.clone());
            let thread = thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    let _exit = exit;
                    // `recv` fails once the sender is dropped: that is the stop signal.
                    let _ = async_io::block_on(executor.run(stopped.recv()));
                })?;
            // On an error above, dropping `threads` stops the ones already started.
            threads.threads.push(thread);
        }
        Ok(threads)
    }

    /// Tells every thread to stop and joins those that end within `timeout`.
    fn stop(mut self, timeout: Duration) {
        drop(self.stop.take());
        let deadline = Instant::now() + timeout;
        let mut ended = 0;
        while ended < self.threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.exited.recv_timeout(left) {
                Ok(()) => ended += 1,
                Err(_) => break,
            }
        }
        if ended < self.threads.len() {
            log::warn!(
                "{WORKER}: {} executor thread(s) still busy in a task after {timeout:?}; \
                 not waiting for them",
                self.threads.len() - ended
            );
            return;
        }
        for thread in self.threads.drain(..) {
            // Ended already (its notice was sent on its way out); a panic was reported.
            let _ = thread.join();
        }
    }
}

impl Drop for ExecutorThreads {
    fn drop(&mut self) {
        // Without blocking: the threads see the closed channel and end on their own.
        drop(self.stop.take());
    }
}

/// Sent when dropped, i.e. when the thread that owns it ends, normally or by a panic.
#[derive(Debug)]
struct ExitNotice(mpsc::Sender<()>);

impl Drop for ExitNotice {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn live_threads_named(prefix: &str) -> usize {
        // Linux only: the kernel's view of this process's threads.
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                    .filter(|name| name.starts_with(prefix))
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn executor_threads_run_tasks_and_exit_when_stopped() {
        let executor = Arc::new(Executor::new());
        let threads = ExecutorThreads::start(&executor, 3, "test-exit").unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let tx = tx.clone();
            executor
                .spawn(async move { tx.send((i, thread::current().id())).unwrap() })
                .detach();
        }
        let mut seen: Vec<_> = (0..10).map(|_| rx.recv().unwrap()).collect();
        assert!(seen.iter().all(|(_, id)| *id != thread::current().id()));
        seen.sort_by_key(|(i, _)| *i);
        assert_eq!(
            seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );

        let handles: Vec<_> = threads.threads.iter().map(|t| t.thread().id()).collect();
        assert_eq!(handles.len(), 3);
        let start = Instant::now();
        threads.stop(Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "threads did not stop promptly"
        );
        // Idle threads block in the reactor or on the executor; both were woken.
        assert_eq!(
            Arc::strong_count(&executor),
            1,
            "a thread still holds the executor"
        );
    }

    #[test]
    fn a_blocked_thread_does_not_hang_the_stop() {
        let executor = Arc::new(Executor::new());
        let threads = ExecutorThreads::start(&executor, 1, "test-blocked").unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let (started_tx, started) = mpsc::channel();
        let flag = Arc::clone(&release);
        executor
            .spawn(async move {
                started_tx.send(()).unwrap();
                while !flag.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
            })
            .detach();
        started.recv().unwrap();
        let start = Instant::now();
        threads.stop(Duration::from_millis(50));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(50) && waited < Duration::from_secs(5));
        release.store(true, Ordering::SeqCst);
    }

    #[test]
    fn run_joins_its_threads() {
        struct StopsAtOnce;
        impl Service for StopsAtOnce {
            async fn on_started(&mut self, cx: &mode_core::Context<'_>) -> mode_core::BoxResult {
                cx.handle().request_stop();
                Ok(())
            }
        }
        assert_eq!(run(StopsAtOnce), ExitCode::SUCCESS);
        if cfg!(target_os = "linux") {
            // A joined thread may still be listed for a moment: its joiner wakes a little
            // before the kernel takes it out of `/proc`.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while live_threads_named("mode-smol-") > 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert_eq!(
                live_threads_named("mode-smol-"),
                0,
                "an executor thread leaked"
            );
        }
    }
}
