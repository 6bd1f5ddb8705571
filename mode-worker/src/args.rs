//! The Worker's command line: [`WorkerArgs`], to flatten into a program's own `clap`
//! parser.

use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;
use mode_core::utils::Seconds;

use crate::logging::{parse_level, LogFormat};

/// The Worker's options on the command line, for a program's own `clap` parser
/// (`#[command(flatten)]`); [`Worker::with_args`](crate::Worker::with_args) applies them.
///
/// ```
/// use clap::Parser;
/// use mode::worker::{GraphFormat, WorkerArgs};
///
/// /// A program with an option of its own.
/// #[derive(Parser)]
/// struct Cli {
///     /// The port to serve on.
///     #[arg(long, default_value_t = 8000)]
///     port: u16,
///     #[command(flatten)]
///     worker: WorkerArgs,
/// }
///
/// let cli = Cli::parse_from(["app", "--port", "9000", "-l", "debug", "--graph"]);
/// assert_eq!(cli.port, 9000);
/// assert_eq!(cli.worker.loglevel, log::LevelFilter::Debug);
/// assert_eq!(cli.worker.graph, Some(GraphFormat::Dot));
/// ```
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct WorkerArgs {
    /// Logging level: critical, error, warning, info, debug, trace or off (RUST_LOG, when
    /// set, refines it).
    #[arg(short = 'l', long = "loglevel", value_name = "LEVEL", default_value = "info", value_parser = parse_level)]
    pub loglevel: LevelFilter,

    /// Log to this file (appended to) instead of stderr.
    #[arg(long, value_name = "PATH")]
    pub logfile: Option<PathBuf>,

    /// Log line format: mode's line, or JSON lines for log shippers.
    #[arg(
        long = "log-format",
        value_name = "FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,

    /// Warn when a hook, task or timer holds its thread without yielding for this long
    /// (seconds, as "10" or "0.5"), naming the service and what runs; off when not given.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub blocking_timeout: Option<Duration>,

    /// Bound the whole shutdown (seconds, as "30" or "1.5"): when it expires, name every
    /// service still stopping and exit with status 1.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub shutdown_timeout: Option<Duration>,

    /// Print the service graph to stdout (Graphviz DOT, or Mermaid) and exit.
    #[arg(long, value_name = "FORMAT", value_enum, num_args = 0..=1, default_missing_value = "dot")]
    pub graph: Option<GraphFormat>,
}

/// How `--graph` prints the service graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// Seconds as mode reads them (`30`, `1.5`), as a [`Duration`] that is not zero.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let seconds: Seconds = s.parse().map_err(|err| format!("{err}"))?;
    let timeout = Duration::from(seconds);
    if timeout.is_zero() {
        return Err("a timeout of zero would expire at once".into());
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerArgs,
    }

    #[test]
    fn defaults_are_info_on_stderr_in_mode_s_format() {
        let cli = Cli::parse_from(["app"]);
        assert_eq!(cli.worker.loglevel, LevelFilter::Info);
        assert_eq!(cli.worker.logfile, None);
        assert_eq!(cli.worker.log_format, LogFormat::Mode);
        assert_eq!(cli.worker.shutdown_timeout, None);
        assert_eq!(cli.worker.blocking_timeout, None);
        assert_eq!(cli.worker.graph, None);
    }

    #[test]
    fn every_option_parses() {
        let cli = Cli::parse_from([
            "app",
            "--loglevel",
            "WARNING",
            "--logfile",
            "/tmp/app.log",
            "--log-format",
            "json",
            "--shutdown-timeout",
            "1.5",
            "--blocking-timeout",
            "0.25",
            "--graph=mermaid",
        ]);
        let args = cli.worker;
        assert_eq!(args.loglevel, LevelFilter::Warn);
        assert_eq!(args.logfile, Some(PathBuf::from("/tmp/app.log")));
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(args.shutdown_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(args.blocking_timeout, Some(Duration::from_millis(250)));
        assert_eq!(args.graph, Some(GraphFormat::Mermaid));
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let err = Cli::try_parse_from(["app", "-l", "loud"]).err().unwrap();
        assert!(
            err.to_string().contains("unknown log level \"loud\""),
            "{err}"
        );
        let err = Cli::try_parse_from(["app", "--shutdown-timeout", "soon"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("--shutdown-timeout"), "{err}");
        let err = Cli::try_parse_from(["app", "--blocking-timeout", "0"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("zero"), "{err}");
    }
}
