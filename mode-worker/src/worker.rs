//! [`Worker`]: runs a service tree from `main`.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use log::LevelFilter;
use mode_core::events::LOG_TARGET;
use mode_core::{Exit, Service};

use crate::args::{GraphFormat, WorkerArgs};
use crate::logging::{LogFormat, Logging};
use crate::roots::{AddRoot, Roots};
use crate::runtime::Runtime;
use crate::serve::{exit_code, serve, PREFIX};
use crate::watchdog;

/// Runs a service tree from `main` on the runtime `R`: sets up logging, starts the
/// runtime, runs the tree until it stops (gracefully on SIGINT or SIGTERM, at once on a
/// second signal), and returns the process's exit status.
///
/// The adapters name it for their runtime (`mode::tokio::Worker`, `mode::smol::Worker`), and
/// their `run(root)` is `Worker::new(root).run()`. Everything is set from code with the
/// `with_*` methods, or from the command line with [`with_args`](Self::with_args).
///
/// # Logging
///
/// Unless the program installed a logger first (which the Worker then leaves alone), the
/// Worker logs at INFO to stderr in mode's format, in local time (see
/// [`LogFormat`]); `RUST_LOG` refines the level.
///
/// # Roots, and when the program ends
///
/// The tree's root is the service given to [`new`](Self::new); [`add`](Self::add) adds
/// more roots beside it, which then start in order below a service labelled `Worker` (as
/// mode's Worker is the service above its own; its lifecycle lines are logged at DEBUG,
/// and the roots log as `[^-Web]`, as a single root does).
///
/// The program ends when it is signalled, when a root crashes, when a service asks for
/// it ([`ServiceHandle::request_exit`](mode_core::ServiceHandle::request_exit)), and, unless
/// it is a [daemon](Self::with_daemon), once every root has stopped on its own (a root
/// made with [`from_awaitable`](mode_core::from_awaitable) whose future returned, or one
/// that called `request_stop` on itself).
///
/// # Exit codes
///
/// As [the table](crate#exit-codes): 0 after a requested stop in which every service
/// stopped cleanly, 1 after a crash, an unclean stop, an expired shutdown timeout, or a
/// runtime or log file that could not be set up, 130 after a second signal. A status a
/// service asked for ([`SystemExit`](mode_core::SystemExit)) wins over 0 and 1 once the
/// tree has stopped.
#[must_use = "a Worker does nothing until `run`"]
pub struct Worker<S, R> {
    root: S,
    /// The roots added after the first, in order.
    more_roots: Vec<AddRoot>,
    daemon: bool,
    on_shutdown: Option<ShutdownHook>,
    logging: Option<Logging>,
    shutdown_timeout: Option<Duration>,
    blocking_timeout: Option<Duration>,
    graph: Option<GraphFormat>,
    runtime: PhantomData<fn() -> R>,
}

/// The hook [`Worker::on_worker_shutdown`] sets.
type ShutdownHook = Box<dyn FnOnce(&Exit)>;

impl<S, R> std::fmt::Debug for Worker<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("root", &std::any::type_name::<S>())
            .field("more_roots", &self.more_roots.len())
            .field("daemon", &self.daemon)
            .field("logging", &self.logging)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("blocking_timeout", &self.blocking_timeout)
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

impl<S: Service, R: Runtime> Worker<S, R> {
    /// A Worker for the tree under `root`, with the defaults: logging at INFO to stderr in
    /// mode's format, no shutdown timeout.
    pub fn new(root: S) -> Self {
        Worker {
            root,
            more_roots: Vec::new(),
            daemon: false,
            on_shutdown: None,
            logging: Some(Logging::default()),
            shutdown_timeout: None,
            blocking_timeout: None,
            graph: None,
            runtime: PhantomData,
        }
    }

    /// Adds another root, started after those before it and stopped before them (see
    /// [Roots](Self#roots-and-when-the-program-ends)).
    ///
    /// ```no_run
    /// use mode::{from_awaitable, Service};
    /// use mode::tokio::Worker;
    ///
    /// struct Web;
    /// impl Service for Web {}
    ///
    /// struct Metrics;
    /// impl Service for Metrics {}
    ///
    /// fn main() -> std::process::ExitCode {
    ///     let migrate = from_awaitable(async { Ok(()) }).with_label("Migrate");
    ///     Worker::new(Web).add(Metrics).add(migrate).run()
    /// }
    /// ```
    #[expect(
        clippy::should_implement_trait,
        reason = "mode's spelling (`Worker::new(a).add(b)`); a Worker is not summed"
    )]
    pub fn add(mut self, root: impl Service) -> Self {
        self.more_roots
            .push(Box::new(move |deps: &mut mode_core::Dependencies<'_>| {
                deps.add(root);
            }));
        self
    }

    /// Whether the program keeps running once every root has stopped on its own, until it
    /// is signalled (mode's `daemon`); off by default: a program whose roots have all done
    /// their work ends, with status 0.
    pub fn with_daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Runs `hook` once the tree has stopped, with how it ended, before the runtime shuts
    /// down and the process exits (mode's `on_worker_shutdown`): to flush what the
    /// services left behind, or report the exit. Not run when the process exits at once
    /// (a second signal, an expired shutdown timeout), nor with `--graph`.
    pub fn on_worker_shutdown(mut self, hook: impl FnOnce(&Exit) + 'static) -> Self {
        self.on_shutdown = Some(Box::new(hook));
        self
    }

    /// Applies the options of the command line ([`WorkerArgs`]).
    pub fn with_args(mut self, args: WorkerArgs) -> Self {
        self.logging = Some(Logging {
            level: args.loglevel,
            file: args.logfile,
            format: args.log_format,
        });
        self.shutdown_timeout = args.shutdown_timeout;
        self.blocking_timeout = args.blocking_timeout;
        self.graph = args.graph;
        self
    }

    /// Logs at `level` and above (`RUST_LOG`, when set, refines it).
    pub fn with_log_level(mut self, level: LevelFilter) -> Self {
        self.logging.get_or_insert_with(Logging::default).level = level;
        self
    }

    /// Logs to the file at `path` (appended to) instead of stderr.
    pub fn with_log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.logging.get_or_insert_with(Logging::default).file = Some(path.into());
        self
    }

    /// Logs in `format`.
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.logging.get_or_insert_with(Logging::default).format = format;
        self
    }

    /// Installs no logger: the program sets up logging itself (a logger installed before
    /// `run` is never replaced anyway).
    pub fn without_logging(mut self) -> Self {
        self.logging = None;
        self
    }

    /// Bounds the shutdown: once the root is stopping, if the tree has not stopped within
    /// `timeout`, the services still stopping are logged with what each waits on and the
    /// process exits with status 1.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (the shutdown would time out before it began).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "a shutdown timeout of zero would expire at once"
        );
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Warns when a hook, task or timer (or the tree's driver) holds its thread without
    /// yielding for `timeout`: a watchdog thread logs the service and what runs
    /// (`[^--Webserver] in on_start`), and logs again once it yields. See [`mode::blocking`](mode_core::blocking) for what is seen.
    ///
    /// While on, each poll of a hook or task takes a lock of its thread's: leave it off
    /// where polls are many and short, unless you are looking for a blocking call.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (every poll would be reported).
    pub fn with_blocking_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "a blocking timeout of zero would report every poll"
        );
        self.blocking_timeout = Some(timeout);
        self
    }

    /// Runs the tree until it stops; returns the process's exit status.
    ///
    /// With `--graph` ([`WorkerArgs::graph`]) it prints the service graph to stdout and
    /// returns instead, without starting a service.
    pub fn run(self) -> ExitCode {
        if let Some(logging) = &self.logging {
            if let Err(err) = logging.install() {
                let path = logging.file.as_deref().unwrap_or_else(|| "stderr".as_ref());
                eprintln!("cannot log to {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
        let runtime = match R::start() {
            Ok(runtime) => runtime,
            Err(err) => {
                log::error!(target: LOG_TARGET, "{PREFIX}: cannot start the runtime: {err}");
                return ExitCode::FAILURE;
            }
        };
        let tree = if self.more_roots.is_empty() && !self.daemon {
            runtime.tree(self.root)
        } else {
            let root = self.root;
            let mut roots: Vec<AddRoot> = vec![Box::new(move |deps| {
                deps.add(root);
            })];
            roots.extend(self.more_roots);
            runtime
                .tree(Roots::new(roots, self.daemon))
                .with_log_depth(0)
        };
        if let Some(format) = self.graph {
            let graph = tree.handle().graph();
            match format {
                GraphFormat::Dot => print!("{}", graph.to_dot()),
                GraphFormat::Mermaid => print!("{}", graph.to_mermaid()),
            }
            runtime.shutdown();
            return ExitCode::SUCCESS;
        }
        let _watchdog = self.blocking_timeout.map(watchdog::start);
        let signals = runtime.signals();
        let exit = runtime.block_on(serve(tree, signals, runtime.timer(), self.shutdown_timeout));
        if let Some(hook) = self.on_shutdown {
            hook(&exit);
        }
        runtime.shutdown();
        exit_code(&exit)
    }
}
