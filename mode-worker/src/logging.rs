//! The Worker's logger: mode's line format, or JSON lines, on `env_logger`.
//!
//! mode's line is
//!
//! ```text
//! [2018-03-27 15:47:12,159: INFO]: [^--Webserver]: Starting...
//! ```
//!
//! that is `[<local time with milliseconds>: <LEVEL>]: <message>`, with the level names
//! Python's logging prints (`ERROR`, `WARNING`, `INFO`, `DEBUG`, plus `TRACE`). The
//! `[^--Webserver]:` prefix is part of the message: services add it when they log. The
//! level name is coloured on a terminal only. The JSON format writes one object per line
//! (`time`, `level`, `target`, `message`) for log shippers.
//!
//! `RUST_LOG` filters as `env_logger` reads it, on top of the Worker's level: mode's own
//! lines (lifecycle and Worker) have the target [`LOG_TARGET`](mode_core::events::LOG_TARGET)
//! (`RUST_LOG=info,mode=warn` quietens them), a service's own lines its module. As
//! `env_logger` matches a directive as a prefix of the target, `mode=warn` applies to crates
//! whose names begin with `mode` too.
//!
//! `env_logger` is `log`'s standard backend, and `log` is what mode-core logs with; a
//! program that wants `tracing` instead installs its subscriber (with `tracing-log`'s
//! bridge) before the Worker runs, and the Worker leaves it alone.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

use env_logger::fmt::Formatter;
use env_logger::{Builder, Env, Target, WriteStyle};
use log::{Level, LevelFilter, Record};

/// How each log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// mode's line: `[2018-03-27 15:47:12,159: INFO]: message`.
    #[default]
    Mode,
    /// One JSON object per line: `{"time":…,"level":"INFO","target":"mode","message":…}`.
    Json,
}

/// Where the Worker's logger writes, what it lets through and how it writes it.
#[derive(Debug, Clone)]
pub(crate) struct Logging {
    pub(crate) level: LevelFilter,
    pub(crate) file: Option<PathBuf>,
    pub(crate) format: LogFormat,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            level: LevelFilter::Info,
            file: None,
            format: LogFormat::Mode,
        }
    }
}

/// What happened when the Worker set up logging.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Installed {
    /// The Worker's logger logs from now on.
    Ours,
    /// The program had installed a logger already: it is left alone.
    Theirs,
}

impl Logging {
    /// Installs the logger, unless the program installed one already.
    ///
    /// # Errors
    ///
    /// The log file cannot be opened.
    pub(crate) fn install(&self) -> io::Result<Installed> {
        let mut builder = self.builder()?;
        Ok(match builder.try_init() {
            Ok(()) => Installed::Ours,
            Err(_) => Installed::Theirs,
        })
    }

    /// The logger's builder: the level, then `RUST_LOG` over it, the sink and the format.
    fn builder(&self) -> io::Result<Builder> {
        let mut builder = Builder::new();
        builder.filter_level(self.level);
        builder.parse_env(Env::default());
        match &self.file {
            Some(path) => {
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                builder.target(Target::Pipe(Box::new(file)));
                builder.write_style(WriteStyle::Never);
            }
            None => {
                builder.target(Target::Stderr);
            }
        }
        match self.format {
            LogFormat::Mode => builder.format(write_mode_line),
            LogFormat::Json => builder.format(write_json_line),
        };
        Ok(builder)
    }
}

/// `[<local time>: <LEVEL>]: <message>`.
fn write_mode_line(out: &mut Formatter, record: &Record<'_>) -> io::Result<()> {
    let style = out.default_level_style(record.level());
    writeln!(
        out,
        "[{}: {style}{}{style:#}]: {}",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f"),
        level_name(record.level()),
        record.args()
    )
}

/// One JSON object per line.
fn write_json_line(out: &mut Formatter, record: &Record<'_>) -> io::Result<()> {
    let line = serde_json::json!({
        "time": chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        "level": level_name(record.level()),
        "target": record.target(),
        "message": record.args().to_string(),
    });
    writeln!(out, "{line}")
}

/// The name Python's logging prints for `level` (`WARNING`, not `WARN`).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// Parses a log level name as a mode command line accepts it, ignoring case and
/// surrounding whitespace.
///
/// | input | level |
/// |---|---|
/// | `critical`, `error` | [`LevelFilter::Error`] (the `log` crate has no level above error) |
/// | `warning`, `warn` | [`LevelFilter::Warn`] |
/// | `info` | [`LevelFilter::Info`] |
/// | `debug` | [`LevelFilter::Debug`] |
/// | `trace` | [`LevelFilter::Trace`] |
/// | `off` | [`LevelFilter::Off`] |
///
/// # Errors
///
/// A [`ParseLevelError`] naming the input and the accepted names, for anything else.
///
/// ```
/// use log::LevelFilter;
/// use mode::worker::parse_level;
///
/// assert_eq!(parse_level("WARNING"), Ok(LevelFilter::Warn));
/// assert!(parse_level("loud").unwrap_err().to_string().contains("loud"));
/// ```
pub fn parse_level(s: &str) -> Result<LevelFilter, ParseLevelError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" | "error" => Ok(LevelFilter::Error),
        "warning" | "warn" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        "trace" => Ok(LevelFilter::Trace),
        "off" => Ok(LevelFilter::Off),
        _ => Err(ParseLevelError {
            input: s.to_owned(),
        }),
    }
}

/// A log level name [`parse_level`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError {
    input: String,
}

impl ParseLevelError {
    /// The rejected input.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log level {:?} (expected critical, error, warning, info, debug, trace \
             or off)",
            self.input
        )
    }
}

impl std::error::Error for ParseLevelError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_are_python_logging_s() {
        assert_eq!(level_name(Level::Warn), "WARNING");
        assert_eq!(level_name(Level::Error), "ERROR");
        assert_eq!(level_name(Level::Trace), "TRACE");
    }

    #[test]
    fn mode_s_level_names_parse() {
        for (input, level) in [
            ("critical", LevelFilter::Error),
            (" Info ", LevelFilter::Info),
            ("warn", LevelFilter::Warn),
            ("DEBUG", LevelFilter::Debug),
            ("off", LevelFilter::Off),
        ] {
            assert_eq!(parse_level(input), Ok(level), "{input}");
        }
        let err = parse_level("verbose").unwrap_err();
        assert_eq!(err.input(), "verbose");
    }
}
