//! [`Worker`]: runs a service tree from `main`.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use log::LevelFilter;
use mode_core::events::LOG_TARGET;
use mode_core::Service;

use crate::args::{GraphFormat, WorkerArgs};
use crate::logging::{LogFormat, Logging};
use crate::runtime::Runtime;
use crate::serve::{exit_code, serve, PREFIX};

/// Runs a service tree from `main` on the runtime `R`: sets up logging, starts the
/// runtime, runs the tree until it stops (gracefully on SIGINT or SIGTERM, at once on a
/// second signal), and returns the process's exit status.
///
/// The adapters name it for their runtime (`mode_tokio::Worker`, `mode_smol::Worker`), and
/// their `run(root)` is `Worker::new(root).run()`. Everything is set from code with the
/// `with_*` methods, or from the command line with [`with_args`](Self::with_args).
///
/// # Logging
///
/// Unless the program installed a logger first (which the Worker then leaves alone), the
/// Worker logs at INFO to stderr in mode's format, in local time (see
/// [`LogFormat`]); `RUST_LOG` refines the level.
///
/// # Exit codes
///
/// As [the table](crate#exit-codes): 0 after a requested stop in which every service
/// stopped cleanly, 1 after a crash, an unclean stop, an expired shutdown timeout, or a
/// runtime or log file that could not be set up, 130 after a second signal.
#[must_use = "a Worker does nothing until `run`"]
pub struct Worker<S, R> {
    root: S,
    logging: Option<Logging>,
    shutdown_timeout: Option<Duration>,
    graph: Option<GraphFormat>,
    runtime: PhantomData<fn() -> R>,
}

impl<S, R> std::fmt::Debug for Worker<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("root", &std::any::type_name::<S>())
            .field("logging", &self.logging)
            .field("shutdown_timeout", &self.shutdown_timeout)
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
            logging: Some(Logging::default()),
            shutdown_timeout: None,
            graph: None,
            runtime: PhantomData,
        }
    }

    /// Applies the options of the command line ([`WorkerArgs`]).
    pub fn with_args(mut self, args: WorkerArgs) -> Self {
        self.logging = Some(Logging {
            level: args.loglevel,
            file: args.logfile,
            format: args.log_format,
        });
        self.shutdown_timeout = args.shutdown_timeout;
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
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
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
        let tree = runtime.tree(self.root);
        if let Some(format) = self.graph {
            let graph = tree.handle().graph();
            match format {
                GraphFormat::Dot => print!("{}", graph.to_dot()),
                GraphFormat::Mermaid => print!("{}", graph.to_mermaid()),
            }
            runtime.shutdown();
            return ExitCode::SUCCESS;
        }
        let signals = runtime.signals();
        let exit = runtime.block_on(serve(tree, signals, runtime.timer(), self.shutdown_timeout));
        runtime.shutdown();
        exit_code(&exit)
    }
}
