//! W9: Ctrl-C → process exit for a tree of 1,000 services, in a real process with a real
//! SIGINT; and start → ready.
//!
//! The harness runs itself as a child (`mode-bench --w9-child BACKEND KIND GROUPS PER`),
//! reads the line the child prints once everything runs, sends it SIGINT and waits for it
//! to exit. Measured, per child (each a fresh process):
//! - `start`: from spawning the process until its ready line is read;
//! - `exit`: from sending SIGINT until the wait for the child returns, i.e. the process
//!   has exited;
//! - `exit_cpu`: the CPU time of the whole child (every thread) from its ready line until
//!   it exited, and its context switches meanwhile: the child reports its `getrusage` in
//!   the ready line, and `getrusage(RUSAGE_CHILDREN)` grows by its total once it is waited
//!   for. Unlike `exit`, it does not count the time a
//!   thread waited for a core or slept waiting for another.
//!
//! Nothing in either path sleeps: readiness is a line printed by the last of the marks
//! below, the stop is the signal, the end is the kernel's report of the exit. Every child
//! must exit with status 0; the run panics otherwise, or if a child takes more than a
//! minute.
//!
//! **mode:** the backend's `Worker` (`mode_tokio::Worker`: a multi-threaded tokio runtime;
//! `mode_smol::Worker`: an `Executor` run by one thread per core) runs a root with G groups
//! of P leaves, every group and leaf owning one background task parked until stop: G + G·P
//! task-owning services (10 × 99 = 1,000 by default) plus the root. Logging is off
//! (`without_logging`). A second mode child runs the Worker with its default logging (INFO:
//! every service's lifecycle lines) with stderr sent to /dev/null, for reference. Ready:
//! when the root's `on_started` has run (after its children started) and every task has
//! been polled once, whichever comes last.
//!
//! **Floor:** the same program written by hand on the same executor, with G + G·P tasks.
//! tokio: a multi-threaded runtime (the Worker's builder), SIGINT watched with
//! `tokio::signal::unix`, the tasks on a `TaskTracker` parked on a `CancellationToken`,
//! cancelled and joined on the signal, then the runtime dropped. smol: an `Executor` run by
//! one thread per core, SIGINT through `async-signal`, the tasks parked on an
//! `event-listener` stop flag, joined on the signal, then the threads stopped and joined.
//! Ready: every task polled once and the signal watched. The target is against this floor
//! (the spec's "cancels 1,000 tasks and joins them").
//!
//! **Ordered floor**, reported beside it: the same, but the tasks are stopped one at a time
//! in reverse order, each joined before the next is stopped (mode's discipline, W1's
//! ordered floor): a `CancellationToken` and a `JoinHandle` per task (tokio), a stop flag
//! and a `Task` per task (smol). On a multi-threaded executor each step is a round trip
//! between the thread that stops and the thread that runs the task.
//!
//! **On one thread** (tokio only, reported): mode's `run_until_signal` (logging off) and
//! the floor, each on a current-thread runtime, where a task's stop needs no other thread.
//!
//! Unix only; elsewhere the lines say the workload was skipped.

use std::process::ExitCode;

use crate::report::Json;

/// The hidden first argument that makes the harness a W9 child.
pub(crate) const CHILD_FLAG: &str = "--w9-child";

/// Python mode's Ctrl-C → exit, in ms (a small tree), reported beside ours.
const PYTHON_MODE_EXIT_MS: f64 = 1_067.0;

/// Sizes and repetitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) groups: usize,
    pub(crate) per_group: usize,
    pub(crate) reps: usize,
}

impl Config {
    /// Services that own a task (the root owns none): also the floor's task count.
    fn units(self) -> usize {
        self.groups + self.groups * self.per_group
    }
}

/// W9 on tokio.
pub(crate) fn tokio(config: Config) -> Json {
    run_backend("tokio", config)
}

/// W9 on smol.
pub(crate) fn smol(config: Config) -> Json {
    run_backend("smol", config)
}

/// The child's `main`: `args` are the arguments after [`CHILD_FLAG`].
pub(crate) fn child(args: &[String]) -> ExitCode {
    #[cfg(unix)]
    {
        unix::child(args)
    }
    #[cfg(not(unix))]
    {
        let _ = args;
        eprintln!("W9 needs Unix signals");
        ExitCode::FAILURE
    }
}

#[cfg(not(unix))]
fn run_backend(backend: &'static str, _config: Config) -> Json {
    Json::obj()
        .with("workload", "W9")
        .with("backend", backend)
        .with("skipped", "Unix only (a real SIGINT to a child process)")
}

#[cfg(unix)]
fn run_backend(backend: &'static str, config: Config) -> Json {
    unix::run_backend(backend, config)
}

#[cfg(unix)]
mod unix {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::{Command, ExitCode, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::thread;
    use std::time::{Duration, Instant};

    use mode_core::{BoxResult, Context, Dependencies, Service};
    use rustix::process::{kill_process, Pid, Signal};
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use super::{Config, CHILD_FLAG, PYTHON_MODE_EXIT_MS};
    use crate::backend::StopFlag;
    use crate::report::{paired_ratio, Json, Samples};
    use crate::rusage::Usage;

    /// The line a child prints once everything runs, followed by its resource usage so far
    /// (CPU ns, voluntary and involuntary context switches).
    const READY: &str = "w9: ready";

    /// How long a child may take to get ready, or to exit after SIGINT, before it is killed
    /// and the run fails.
    const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

    /// What a child runs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        /// The hand-written program: one stop for every task, then wait for all.
        Floor,
        /// The hand-written program stopping its tasks one at a time in reverse order,
        /// each joined before the next (mode's discipline).
        FloorOrdered,
        /// The Worker, logging off.
        Mode,
        /// The Worker with its default logging, stderr to /dev/null.
        ModeLogged,
        /// tokio only: `run_until_signal` on a current-thread runtime, logging off.
        ModeCurrentThread,
        /// tokio only: [`Floor`](Self::Floor) on a current-thread runtime.
        FloorCurrentThread,
    }

    impl Kind {
        const ALL: [Kind; 6] = [
            Kind::Floor,
            Kind::FloorOrdered,
            Kind::Mode,
            Kind::ModeLogged,
            Kind::FloorCurrentThread,
            Kind::ModeCurrentThread,
        ];

        fn name(self) -> &'static str {
            match self {
                Kind::Floor => "floor",
                Kind::FloorOrdered => "floor-ordered",
                Kind::Mode => "mode",
                Kind::ModeLogged => "mode-logged",
                Kind::ModeCurrentThread => "mode-current-thread",
                Kind::FloorCurrentThread => "floor-current-thread",
            }
        }

        /// Whether `backend` has this kind.
        fn on(self, backend: &str) -> bool {
            backend == "tokio"
                || !matches!(self, Kind::ModeCurrentThread | Kind::FloorCurrentThread)
        }

        /// The key of its figures in the JSON line.
        fn key(self) -> &'static str {
            match self {
                Kind::Floor => "floor",
                Kind::FloorOrdered => "floor_ordered",
                Kind::Mode => "mode",
                Kind::ModeLogged => "mode_logged",
                Kind::ModeCurrentThread => "mode_current_thread",
                Kind::FloorCurrentThread => "floor_current_thread",
            }
        }

        fn parse(name: &str) -> Option<Self> {
            Kind::ALL.into_iter().find(|kind| kind.name() == name)
        }
    }

    // ===== the child =====

    /// Counts marks; the last one prints the ready line.
    #[derive(Debug)]
    struct Ready {
        marks: AtomicUsize,
        expected: usize,
    }

    impl Ready {
        fn new(expected: usize) -> Arc<Self> {
            Arc::new(Ready {
                marks: AtomicUsize::new(0),
                expected,
            })
        }

        fn mark(&self) {
            if self.marks.fetch_add(1, Ordering::AcqRel) + 1 == self.expected {
                let (cpu_ns, voluntary, involuntary) = Usage::now().to_parts();
                let mut out = std::io::stdout().lock();
                // A parent that went away sees nothing either way.
                let _ = writeln!(out, "{READY} {cpu_ns} {voluntary} {involuntary}");
                let _ = out.flush();
            }
        }
    }

    /// A service's background task: marks its first poll, then parks until the stop.
    async fn parked(ready: Arc<Ready>) -> BoxResult {
        ready.mark();
        std::future::pending().await
    }

    /// A leaf: one background task.
    struct Leaf {
        ready: Arc<Ready>,
    }

    impl Service for Leaf {
        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            cx.spawn(parked(Arc::clone(&self.ready)))?;
            Ok(())
        }
    }

    /// A group: its own background task, and `per` leaves.
    struct Group {
        per: usize,
        ready: Arc<Ready>,
    }

    impl Service for Group {
        fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
            for _ in 0..self.per {
                deps.add(Leaf {
                    ready: Arc::clone(&self.ready),
                });
            }
        }

        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            cx.spawn(parked(Arc::clone(&self.ready)))?;
            Ok(())
        }
    }

    /// The root: `groups` groups; marks once they have all started.
    struct Root {
        groups: usize,
        per: usize,
        ready: Arc<Ready>,
    }

    impl Service for Root {
        fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
            for _ in 0..self.groups {
                deps.add(Group {
                    per: self.per,
                    ready: Arc::clone(&self.ready),
                });
            }
        }

        async fn on_started(&mut self, _cx: &Context<'_>) -> BoxResult {
            self.ready.mark();
            Ok(())
        }
    }

    pub(super) fn child(args: &[String]) -> ExitCode {
        let parsed = match args {
            [backend, kind, groups, per] => Kind::parse(kind)
                .zip(groups.parse::<usize>().ok())
                .zip(per.parse::<usize>().ok())
                .map(|((kind, groups), per)| (backend.as_str(), kind, groups, per)),
            _ => None,
        };
        let Some((backend, kind, groups, per)) = parsed else {
            eprintln!(
                "usage: mode-bench {CHILD_FLAG} tokio|smol floor|floor-ordered|mode|mode-logged\
                 |mode-current-thread|floor-current-thread GROUPS PER"
            );
            return ExitCode::from(2);
        };
        let units = groups + groups * per;
        // Every task's first poll, and the root's `on_started` (the floor: its main
        // thread, once the signal is watched).
        let ready = Ready::new(units + 1);
        let root = Root {
            groups,
            per,
            ready: Arc::clone(&ready),
        };
        match (backend, kind) {
            ("tokio", Kind::Mode) => mode_tokio::Worker::new(root).without_logging().run(),
            ("tokio", Kind::ModeLogged) => mode_tokio::Worker::new(root).run(),
            ("tokio", Kind::ModeCurrentThread) => mode_current_thread(root),
            ("tokio", Kind::Floor) => report(tokio_floor(true, units, &ready)),
            ("tokio", Kind::FloorCurrentThread) => report(tokio_floor(false, units, &ready)),
            ("tokio", Kind::FloorOrdered) => report(tokio_floor_ordered(units, &ready)),
            ("smol", Kind::Mode) => mode_smol::Worker::new(root).without_logging().run(),
            ("smol", Kind::ModeLogged) => mode_smol::Worker::new(root).run(),
            ("smol", Kind::Floor) => report(smol_floor(units, &ready)),
            ("smol", Kind::FloorOrdered) => report(smol_floor_ordered(units, &ready)),
            _ => {
                eprintln!("{CHILD_FLAG}: unknown backend {backend}");
                ExitCode::from(2)
            }
        }
    }

    fn report(result: std::io::Result<()>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("W9 floor: {err}");
                ExitCode::FAILURE
            }
        }
    }

    /// mode without the Worker on a current-thread tokio runtime: the tree's driver and its
    /// tasks on one thread.
    fn mode_current_thread(root: Root) -> ExitCode {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => {
                mode_tokio::exit_code(&runtime.block_on(mode_tokio::run_until_signal(root)))
            }
            Err(err) => report(Err(err)),
        }
    }

    /// tokio by hand: the Worker's runtime (or a current-thread one), SIGINT, a
    /// `CancellationToken` and a `TaskTracker`.
    #[inline(never)] // A symbol of its own, for profilers.
    fn tokio_floor(multi_thread: bool, units: usize, ready: &Arc<Ready>) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};

        let runtime = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        }
        .enable_all()
        .build()?;
        runtime.block_on(async {
            let mut interrupt = signal(SignalKind::interrupt())?;
            let token = CancellationToken::new();
            let tracker = TaskTracker::new();
            for _ in 0..units {
                let (token, ready) = (token.clone(), Arc::clone(ready));
                tracker.spawn(async move {
                    ready.mark();
                    token.cancelled().await;
                });
            }
            ready.mark();
            interrupt.recv().await;
            token.cancel();
            tracker.close();
            tracker.wait().await;
            Ok::<(), std::io::Error>(())
        })?;
        drop(runtime);
        Ok(())
    }

    /// tokio by hand, stopping in order: a `CancellationToken` per task, cancelled one at a
    /// time in reverse order, each task's `JoinHandle` awaited before the next.
    #[inline(never)] // A symbol of its own, for profilers.
    fn tokio_floor_ordered(units: usize, ready: &Arc<Ready>) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut interrupt = signal(SignalKind::interrupt())?;
            let tasks: Vec<_> = (0..units)
                .map(|_| {
                    let (token, ready) = (CancellationToken::new(), Arc::clone(ready));
                    let stop = token.clone();
                    let task = tokio::spawn(async move {
                        ready.mark();
                        token.cancelled().await;
                    });
                    (stop, task)
                })
                .collect();
            ready.mark();
            interrupt.recv().await;
            for (stop, task) in tasks.into_iter().rev() {
                stop.cancel();
                task.await?;
            }
            Ok::<(), std::io::Error>(())
        })?;
        drop(runtime);
        Ok(())
    }

    /// smol by hand: an `Executor` on one thread per core, SIGINT through `async-signal`,
    /// a stop flag.
    #[inline(never)] // A symbol of its own, for profilers.
    fn smol_floor(units: usize, ready: &Arc<Ready>) -> std::io::Result<()> {
        use futures_lite::StreamExt as _;

        let threads = SmolThreads::start()?;
        let mut signals = async_signal::Signals::new([async_signal::Signal::Int])?;
        let flag = Arc::new(StopFlag::default());
        let tasks: Vec<_> = (0..units)
            .map(|_| {
                let (flag, ready) = (Arc::clone(&flag), Arc::clone(ready));
                threads.executor.spawn(async move {
                    ready.mark();
                    flag.wait().await;
                })
            })
            .collect();
        ready.mark();
        async_io::block_on(async {
            let _ = signals.next().await;
            flag.stop();
            for task in tasks {
                task.await;
            }
        });
        threads.stop()
    }

    /// smol by hand, stopping in order: a stop flag per task, raised one at a time in
    /// reverse order, each task awaited before the next.
    #[inline(never)] // A symbol of its own, for profilers.
    fn smol_floor_ordered(units: usize, ready: &Arc<Ready>) -> std::io::Result<()> {
        use futures_lite::StreamExt as _;

        let threads = SmolThreads::start()?;
        let mut signals = async_signal::Signals::new([async_signal::Signal::Int])?;
        let tasks: Vec<_> = (0..units)
            .map(|_| {
                let (flag, ready) = (Arc::new(StopFlag::default()), Arc::clone(ready));
                let stop = Arc::clone(&flag);
                let task = threads.executor.spawn(async move {
                    ready.mark();
                    flag.wait().await;
                });
                (stop, task)
            })
            .collect();
        ready.mark();
        async_io::block_on(async {
            let _ = signals.next().await;
            for (stop, task) in tasks.into_iter().rev() {
                stop.stop();
                task.await;
            }
        });
        threads.stop()
    }

    /// An `Executor` run by one thread per core until stopped, as mode-smol's Worker runs
    /// its tasks.
    struct SmolThreads {
        executor: Arc<async_executor::Executor<'static>>,
        /// Dropping it ends every thread's `executor.run`.
        stop: async_channel::Sender<()>,
        threads: Vec<thread::JoinHandle<()>>,
    }

    impl SmolThreads {
        fn start() -> std::io::Result<Self> {
            let executor = Arc::new(async_executor::Executor::new());
            let (stop, stopped) = async_channel::bounded::<()>(1);
            let count = thread::available_parallelism().map_or(1, usize::from);
            let threads = (0..count)
                .map(|index| {
                    let (executor, stopped) = (Arc::clone(&executor), stopped.clone());
                    thread::Builder::new()
                        .name(format!("w9-floor-{index}"))
                        .spawn(move || {
                            // `recv` fails once the sender is dropped: the threads' stop.
                            let _ = async_io::block_on(executor.run(stopped.recv()));
                        })
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            Ok(SmolThreads {
                executor,
                stop,
                threads,
            })
        }

        /// Stops the threads and joins them.
        fn stop(self) -> std::io::Result<()> {
            drop(self.stop);
            for thread in self.threads {
                thread
                    .join()
                    .map_err(|_| std::io::Error::other("an executor thread panicked"))?;
            }
            Ok(())
        }
    }

    // ===== the parent =====

    /// One child's figures.
    #[derive(Debug, Clone, Copy)]
    struct Times {
        start_ms: f64,
        exit_ms: f64,
        /// CPU time of the whole process (all its threads) from its ready line until it
        /// exited, and its context switches meanwhile.
        exit_cpu_ms: f64,
        exit_voluntary: f64,
        exit_involuntary: f64,
    }

    #[derive(Debug, Default)]
    struct Series {
        start: Samples,
        exit: Samples,
        exit_cpu: Samples,
        exit_voluntary: Samples,
        exit_involuntary: Samples,
    }

    impl Series {
        fn push(&mut self, times: Times) {
            self.start.push(times.start_ms);
            self.exit.push(times.exit_ms);
            self.exit_cpu.push(times.exit_cpu_ms);
            self.exit_voluntary.push(times.exit_voluntary);
            self.exit_involuntary.push(times.exit_involuntary);
        }

        fn json(&self) -> Json {
            Json::obj()
                .with("start_ms", self.start.json())
                .with("exit_ms", self.exit.json())
                .with("exit_cpu_ms", self.exit_cpu.json())
                .with("exit_voluntary_cs", self.exit_voluntary.json())
                .with("exit_involuntary_cs", self.exit_involuntary.json())
        }
    }

    /// The usage a ready line reports, if it is one.
    fn parse_ready(line: &str) -> Option<Usage> {
        let mut words = line.strip_prefix(READY)?.split_whitespace();
        let usage = Usage::from_parts(
            words.next()?.parse().ok()?,
            words.next()?.parse().ok()?,
            words.next()?.parse().ok()?,
        );
        words.next().is_none().then_some(usage)
    }

    /// Sends `signal` to the child `pid` (not waited for yet, so not a reused pid).
    fn send(pid: u32, signal: Signal) -> std::io::Result<()> {
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("not a process id"))?;
        Ok(kill_process(pid, signal)?)
    }

    /// Runs one child: spawn, wait for its ready line, SIGINT, wait for its exit.
    fn measure(backend: &str, kind: Kind, config: Config) -> Times {
        let exe = std::env::current_exe().expect("the harness's own path");
        // Kills the child if it hangs, so that the run fails instead of hanging too.
        let (pid_tx, pid_rx) = mpsc::channel::<u32>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let watchdog = thread::spawn(move || {
            let Ok(pid) = pid_rx.recv() else {
                return false;
            };
            match done_rx.recv_timeout(CHILD_TIMEOUT) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Gone already if it exited at the last moment: then nothing to kill.
                    let _ = send(pid, Signal::KILL);
                    true
                }
                _ => false,
            }
        });
        let mut command = Command::new(exe);
        command
            .arg(CHILD_FLAG)
            .args([backend, kind.name()])
            .args([config.groups.to_string(), config.per_group.to_string()])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if kind == Kind::ModeLogged {
                Stdio::null()
            } else {
                Stdio::inherit()
            });

        let t0 = Instant::now();
        let mut child = command.spawn().expect("the W9 child starts");
        pid_tx.send(child.id()).expect("the watchdog waits");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let t1 = Instant::now();
        let Some(ready) = parse_ready(&line) else {
            let _ = child.kill();
            let status = child.wait();
            drop(done_tx);
            let _ = watchdog.join();
            panic!(
                "W9: the {backend} {} child did not report ready (read {line:?}: {read:?}); \
                 it exited with {status:?}",
                kind.name()
            );
        };

        let t2 = Instant::now();
        let waited_before = Usage::children();
        send(child.id(), Signal::INT).expect("SIGINT to the W9 child");
        let status = child.wait().expect("waiting for the W9 child");
        let t3 = Instant::now();
        // What the children waited for used grew by this child's whole life.
        let life = Usage::children().since(waited_before);
        let cpu_ns = u64::try_from(life.cpu.as_nanos()).unwrap_or(u64::MAX);
        let usage = Usage::from_parts(cpu_ns, life.voluntary, life.involuntary);
        drop(done_tx);
        let killed = watchdog.join().expect("the watchdog does not panic");
        assert!(
            !killed,
            "W9: the {backend} {} child did not exit within {CHILD_TIMEOUT:?} of SIGINT",
            kind.name()
        );
        assert!(
            status.success(),
            "W9: the {backend} {} child exited with {status} after SIGINT (0 expected)",
            kind.name()
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let exit = usage.since(ready);
        Times {
            start_ms: ms(t1 - t0),
            exit_ms: ms(t3 - t2),
            exit_cpu_ms: ms(exit.cpu),
            exit_voluntary: exit.voluntary as f64,
            exit_involuntary: exit.involuntary as f64,
        }
    }

    pub(super) fn run_backend(backend: &'static str, config: Config) -> Json {
        let kinds: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|kind| kind.on(backend))
            .collect();
        let mut series: Vec<Series> = kinds.iter().map(|_| Series::default()).collect();
        // Warm-up: the binary and its libraries in the page cache.
        for &kind in &kinds {
            measure(backend, kind, config);
        }
        for _ in 0..config.reps {
            for (&kind, series) in kinds.iter().zip(&mut series) {
                series.push(measure(backend, kind, config));
            }
        }
        let of = |wanted: Kind| {
            let index = kinds.iter().position(|&kind| kind == wanted);
            &series[index.expect("every backend has the Worker and the floors")]
        };
        let (floor, ordered, mode) = (of(Kind::Floor), of(Kind::FloorOrdered), of(Kind::Mode));
        let exit_ratio = mode.exit.median() / floor.exit.median();
        let mut line = Json::obj()
            .with("workload", "W9")
            .with("backend", backend)
            .with("reps", config.reps)
            .with("groups", config.groups)
            .with("per_group", config.per_group)
            .with("services", config.units());
        for (kind, series) in kinds.iter().zip(&series) {
            line = line.with(kind.key(), series.json());
        }
        line = line
            .with("exit_ratio", exit_ratio)
            .with("exit_ratio_paired", paired_ratio(&mode.exit, &floor.exit))
            .with(
                "exit_ratio_ordered",
                mode.exit.median() / ordered.exit.median(),
            )
            .with(
                "exit_cpu_ratio",
                mode.exit_cpu.median() / floor.exit_cpu.median(),
            )
            .with(
                "exit_cpu_ratio_ordered",
                mode.exit_cpu.median() / ordered.exit_cpu.median(),
            )
            .with("start_ratio", mode.start.median() / floor.start.median())
            .with(
                "logged_exit_ratio",
                of(Kind::ModeLogged).exit.median() / floor.exit.median(),
            );
        if kinds.contains(&Kind::ModeCurrentThread) {
            let (mode, floor) = (of(Kind::ModeCurrentThread), of(Kind::FloorCurrentThread));
            line = line.with(
                "current_thread_exit_ratio",
                mode.exit.median() / floor.exit.median(),
            );
        }
        line.with("python_mode_exit_ms", PYTHON_MODE_EXIT_MS)
            .with("target_exit_ratio_le_2", exit_ratio <= 2.0)
    }
}
