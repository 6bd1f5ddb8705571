//! The Worker's logger: mode's line format on top of the [`log`] crate.
//!
//! Every record becomes one line,
//!
//! ```text
//! [2018-03-27 15:47:12,159: INFO]: [^--Webserver]: Starting...
//! ```
//!
//! that is `[<UTC timestamp with milliseconds>: <LEVEL>]: <message>`. The `[^--Webserver]:`
//! prefix is part of the message: services add it when they log, one dash per depth. Level
//! names are the ones Python's logging prints (`ERROR`, `WARNING`, `INFO`, `DEBUG`, plus
//! `TRACE` for [`log::Level::Trace`]); the timestamp is always UTC, computed from
//! [`SystemTime`] without a date library.
//!
//! [`ModeLogger`] writes each line with a single `write_all` under a lock and flushes it, to
//! stderr by default or to a file or any writer. [`parse_level`] reads the level names a
//! mode command line accepts.
//!
//! This module needs the `std` feature.
#![cfg_attr(docsrs, doc(cfg(feature = "std")))]

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::{self, Write as _};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// A [`log::Log`] that writes mode's line format, one whole line per record.
///
/// Built with [`new`](ModeLogger::new) (stderr), optionally redirected with
/// [`with_file`](ModeLogger::with_file) or [`with_writer`](ModeLogger::with_writer), then
/// installed with [`init`](ModeLogger::init). Records above the level are dropped before
/// they are formatted. Write errors are ignored: a logger has nowhere to report them.
///
/// ```
/// use std::io::{self, Write};
/// use std::sync::{Arc, Mutex};
/// use log::LevelFilter;
/// use mode_core::log_format::ModeLogger;
///
/// #[derive(Clone, Default)]
/// struct Shared(Arc<Mutex<Vec<u8>>>);
///
/// impl Write for Shared {
///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
///         self.0.lock().unwrap().write(buf)
///     }
///     fn flush(&mut self) -> io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let out = Shared::default();
/// ModeLogger::new(LevelFilter::Info)
///     .with_writer(Box::new(out.clone()))
///     .init()
///     .unwrap();
/// assert_eq!(log::max_level(), LevelFilter::Info);
///
/// log::info!("[^Worker]: Starting...");
/// log::debug!("[^Worker]: not shown at INFO");
///
/// let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
/// assert!(text.ends_with(": INFO]: [^Worker]: Starting...\n"), "{text}");
/// assert_eq!(text.lines().count(), 1);
/// ```
pub struct ModeLogger {
    level: LevelFilter,
    sink: Sink,
}

enum Sink {
    Stderr,
    Writer {
        /// What the writer is, for `Debug`: a file's path or `"writer"`.
        name: String,
        out: Mutex<Box<dyn Write + Send>>,
    },
}

impl ModeLogger {
    /// A logger that writes records at `level` or more severe to stderr.
    ///
    /// ```
    /// use log::{Level, LevelFilter, Log};
    /// use mode_core::log_format::ModeLogger;
    ///
    /// let logger = ModeLogger::new(LevelFilter::Warn);
    /// let meta = |level| log::Metadata::builder().level(level).build();
    /// assert!(logger.enabled(&meta(Level::Error)));
    /// assert!(!logger.enabled(&meta(Level::Info)));
    /// ```
    #[must_use]
    pub fn new(level: LevelFilter) -> Self {
        ModeLogger {
            level,
            sink: Sink::Stderr,
        }
    }

    /// Writes to the file at `path` instead, creating it if needed and appending to it.
    ///
    /// # Errors
    ///
    /// Returns the error from opening the file.
    ///
    /// ```
    /// use log::LevelFilter;
    /// use mode_core::log_format::ModeLogger;
    ///
    /// let dir = std::env::temp_dir().join("mode-core-doc-with-file");
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let logger = ModeLogger::new(LevelFilter::Info).with_file(dir.join("worker.log"));
    /// assert!(logger.is_ok());
    /// assert!(ModeLogger::new(LevelFilter::Info).with_file(&dir).is_err()); // a directory
    /// ```
    pub fn with_file(self, path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ModeLogger {
            level: self.level,
            sink: Sink::Writer {
                name: alloc::format!("{}", path.display()),
                out: Mutex::new(Box::new(file)),
            },
        })
    }

    /// Writes to `writer` instead; it is flushed after every line.
    ///
    /// ```
    /// use log::{Level, LevelFilter, Log, Record};
    /// use mode_core::log_format::ModeLogger;
    ///
    /// let logger = ModeLogger::new(LevelFilter::Info).with_writer(Box::new(std::io::sink()));
    /// logger.log(&Record::builder().level(Level::Info).args(format_args!("dropped")).build());
    /// ```
    #[must_use]
    pub fn with_writer(self, writer: Box<dyn Write + Send>) -> Self {
        ModeLogger {
            level: self.level,
            sink: Sink::Writer {
                name: String::from("writer"),
                out: Mutex::new(writer),
            },
        }
    }

    /// Installs this logger as the global [`log`] logger and sets [`log::max_level`] to its
    /// level. The logger lives for the rest of the program.
    ///
    /// # Errors
    ///
    /// Returns [`log::SetLoggerError`] when a global logger was already installed; the
    /// maximum level is then left unchanged.
    pub fn init(self) -> Result<(), log::SetLoggerError> {
        let level = self.level;
        log::set_logger(Box::leak(Box::new(self)))?;
        log::set_max_level(level);
        Ok(())
    }

    fn write_line(&self, line: &str) {
        // One `write_all` per line under one lock, so concurrent records never interleave.
        // Errors are dropped on purpose: there is nowhere left to log them.
        match &self.sink {
            Sink::Stderr => {
                let mut err = io::stderr().lock();
                let _ = err.write_all(line.as_bytes());
                let _ = err.flush();
            }
            Sink::Writer { out, .. } => {
                let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
        }
    }
}

impl fmt::Debug for ModeLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match &self.sink {
            Sink::Stderr => "stderr",
            Sink::Writer { name, .. } => name,
        };
        f.debug_struct("ModeLogger")
            .field("level", &self.level)
            .field("sink", &sink)
            .finish()
    }
}

impl Log for ModeLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = format_line(SystemTime::now(), record.level(), record.args());
        line.push('\n');
        self.write_line(&line);
    }

    fn flush(&self) {
        match &self.sink {
            Sink::Stderr => {
                let _ = io::stderr().flush();
            }
            Sink::Writer { out, .. } => {
                let _ = out.lock().unwrap_or_else(PoisonError::into_inner).flush();
            }
        }
    }
}

/// Formats one log line, without the trailing newline: `[<UTC time>: <LEVEL>]: <message>`.
///
/// The time is `YYYY-MM-DD HH:MM:SS,mmm` in UTC, milliseconds truncated (as Python's
/// logging does); times before 1970 work too.
#[must_use]
pub(crate) fn format_line(now: SystemTime, level: Level, message: &fmt::Arguments<'_>) -> String {
    let mut line = String::with_capacity(64);
    // Writing into a `String` cannot fail.
    let _ = write!(
        line,
        "[{}: {}]: {}",
        Timestamp::from_system_time(now),
        level_name(level),
        message
    );
    line
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
/// Returns a [`ParseLevelError`] naming the input and the accepted names for anything else.
///
/// ```
/// use log::LevelFilter;
/// use mode_core::log_format::parse_level;
///
/// assert_eq!(parse_level("info"), Ok(LevelFilter::Info));
/// assert_eq!(parse_level("WARNING"), Ok(LevelFilter::Warn));
/// assert_eq!(parse_level("Critical"), Ok(LevelFilter::Error));
/// let err = parse_level("loud").unwrap_err();
/// assert_eq!(err.input(), "loud");
/// assert!(err.to_string().contains("expected one of"));
/// ```
pub fn parse_level(s: &str) -> Result<LevelFilter, ParseLevelError> {
    const NAMES: [(&str, LevelFilter); 8] = [
        ("critical", LevelFilter::Error),
        ("error", LevelFilter::Error),
        ("warning", LevelFilter::Warn),
        ("warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
        ("trace", LevelFilter::Trace),
        ("off", LevelFilter::Off),
    ];
    let name = s.trim();
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|&(_, level)| level)
        .ok_or_else(|| ParseLevelError {
            input: String::from(s),
        })
}

/// The error from [`parse_level`]: the input is not a level name.
///
/// ```
/// use mode_core::log_format::parse_level;
///
/// let err = parse_level("verbose").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "unknown log level \"verbose\": expected one of critical, error, warning, warn, info, debug, trace, off",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError {
    input: String,
}

impl ParseLevelError {
    /// The text that was not a level name, as given.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log level {:?}: expected one of critical, error, warning, warn, info, debug, trace, off",
            self.input
        )
    }
}

impl core::error::Error for ParseLevelError {}

/// A UTC calendar time with millisecond precision, displayed as `YYYY-MM-DD HH:MM:SS,mmm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timestamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
}

impl Timestamp {
    fn from_system_time(time: SystemTime) -> Self {
        let millis: i128 = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i128::try_from(after.as_millis()).unwrap_or(i128::MAX),
            // Before the epoch: round towards the past so the milliseconds stay in 0..1000.
            Err(before) => {
                let before = before.duration();
                let mut millis = -i128::try_from(before.as_millis()).unwrap_or(i128::MAX);
                if before.subsec_nanos() % 1_000_000 != 0 {
                    millis -= 1;
                }
                millis
            }
        };
        Self::from_unix_millis(millis)
    }

    fn from_unix_millis(millis: i128) -> Self {
        let secs = millis.div_euclid(1000);
        let milli = millis.rem_euclid(1000) as u32;
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400) as u32;
        // SystemTime spans far less than i64 days on every platform.
        let (year, month, day) = civil_from_days(days as i64);
        Timestamp {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            milli,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.milli
        )
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01, as (year, month 1-12, day 1-31).
///
/// Howard Hinnant's `civil_from_days`: shift the epoch to 0000-03-01 so the leap day ends
/// each 400-year era's year, then split days into era, year of era and day of year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::time::Duration;

    fn at_millis(millis: i128) -> String {
        Timestamp::from_unix_millis(millis).to_string()
    }

    #[test]
    fn known_timestamps() {
        assert_eq!(at_millis(0), "1970-01-01 00:00:00,000");
        assert_eq!(at_millis(1_522_165_632_159), "2018-03-27 15:47:12,159");
        assert_eq!(at_millis(951_868_799_999), "2000-02-29 23:59:59,999");
        assert_eq!(at_millis(951_868_800_000), "2000-03-01 00:00:00,000");
        assert_eq!(at_millis(946_684_800_000), "2000-01-01 00:00:00,000");
        assert_eq!(at_millis(1_709_164_800_000), "2024-02-29 00:00:00,000");
        assert_eq!(at_millis(4_107_542_400_000), "2100-03-01 00:00:00,000");
        assert_eq!(at_millis(4_107_542_400_000 - 1), "2100-02-28 23:59:59,999");
        assert_eq!(at_millis(-500), "1969-12-31 23:59:59,500");
        assert_eq!(at_millis(-2_203_891_200_000), "1900-03-01 00:00:00,000");
    }

    #[test]
    fn civil_from_days_round_trips_every_day_of_two_eras() {
        // Walk day by day from 1600-03-01 for 800 years, checking calendar continuity.
        let start = -135_080; // 1600-03-01
        assert_eq!(civil_from_days(start), (1600, 3, 1));
        let mut prev = civil_from_days(start);
        for days in start + 1..start + 292_194 {
            let next = civil_from_days(days);
            let (y, m, d) = prev;
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if d < len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!(next, expected, "day {days}");
            prev = next;
        }
        assert_eq!(prev, (2400, 2, 29));
    }

    #[test]
    fn system_time_truncates_milliseconds() {
        let t = UNIX_EPOCH + Duration::new(1_522_165_632, 159_999_999);
        assert_eq!(
            Timestamp::from_system_time(t).to_string(),
            "2018-03-27 15:47:12,159"
        );
        let before = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(
            Timestamp::from_system_time(before).to_string(),
            "1969-12-31 23:59:59,999"
        );
        let before = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(
            Timestamp::from_system_time(before).to_string(),
            "1969-12-31 23:59:59,999"
        );
    }

    #[test]
    fn a_line_is_time_level_and_message() {
        let at = UNIX_EPOCH + Duration::from_millis(1_522_165_632_159);
        let line = format_line(at, Level::Info, &format_args!("[^--Webserver]: {}", "Up"));
        assert_eq!(line, "[2018-03-27 15:47:12,159: INFO]: [^--Webserver]: Up");
        let leap_day = UNIX_EPOCH + Duration::from_millis(951_868_799_999);
        assert_eq!(
            format_line(leap_day, Level::Error, &format_args!("x")),
            "[2000-02-29 23:59:59,999: ERROR]: x",
        );
    }

    #[test]
    fn level_names_match_python_logging() {
        let at = UNIX_EPOCH + Duration::from_millis(1_522_165_632_159);
        let line = |level| format_line(at, level, &format_args!("m"));
        assert_eq!(line(Level::Error), "[2018-03-27 15:47:12,159: ERROR]: m");
        assert_eq!(line(Level::Warn), "[2018-03-27 15:47:12,159: WARNING]: m");
        assert_eq!(line(Level::Info), "[2018-03-27 15:47:12,159: INFO]: m");
        assert_eq!(line(Level::Debug), "[2018-03-27 15:47:12,159: DEBUG]: m");
        assert_eq!(line(Level::Trace), "[2018-03-27 15:47:12,159: TRACE]: m");
    }

    #[test]
    fn parse_level_accepts_mode_names() {
        for (input, level) in [
            ("debug", LevelFilter::Debug),
            ("INFO", LevelFilter::Info),
            ("warn", LevelFilter::Warn),
            ("Warning", LevelFilter::Warn),
            ("error", LevelFilter::Error),
            ("CRITICAL", LevelFilter::Error),
            ("trace", LevelFilter::Trace),
            ("off", LevelFilter::Off),
            (" info\n", LevelFilter::Info),
        ] {
            assert_eq!(parse_level(input), Ok(level), "{input:?}");
        }
        for input in ["", "inf", "information", "5", "notset"] {
            let err = parse_level(input).unwrap_err();
            assert_eq!(err.input(), input);
            assert!(err.to_string().contains("unknown log level"));
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn record(logger: &ModeLogger, level: Level, message: &str) {
        logger.log(
            &Record::builder()
                .level(level)
                .args(format_args!("{message}"))
                .build(),
        );
    }

    #[test]
    fn logger_writes_whole_lines_at_its_level() {
        let out = Shared::default();
        let logger = ModeLogger::new(LevelFilter::Info).with_writer(Box::new(out.clone()));
        record(&logger, Level::Info, "[^Worker]: Starting...");
        record(&logger, Level::Debug, "[^Worker]: hidden");
        record(&logger, Level::Warn, "[^-App]: slow");
        logger.flush();

        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(text.ends_with('\n'));
        for (line, tail) in lines.iter().zip([
            ": INFO]: [^Worker]: Starting...",
            ": WARNING]: [^-App]: slow",
        ]) {
            // `[YYYY-MM-DD HH:MM:SS,mmm` is 24 bytes.
            assert_eq!(&line[24..], tail);
            let stamp = &line[1..24];
            assert_eq!(stamp.as_bytes()[4], b'-');
            assert_eq!(stamp.as_bytes()[10], b' ');
            assert_eq!(stamp.as_bytes()[19], b',');
        }
    }

    #[test]
    fn logger_appends_to_a_file() {
        let path = std::env::temp_dir().join(alloc::format!(
            "mode-core-log-format-{}.log",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        for message in ["one", "two"] {
            let logger = ModeLogger::new(LevelFilter::Trace)
                .with_file(&path)
                .unwrap();
            assert!(alloc::format!("{logger:?}").contains("mode-core-log-format-"));
            record(&logger, Level::Trace, message);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let tails: Vec<&str> = text.lines().map(|line| &line[24..]).collect();
        assert_eq!(tails, [": TRACE]: one", ": TRACE]: two"]);
    }

    #[test]
    fn concurrent_lines_never_interleave() {
        let out = Shared::default();
        let logger =
            Arc::new(ModeLogger::new(LevelFilter::Info).with_writer(Box::new(out.clone())));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let logger = Arc::clone(&logger);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        record(
                            &logger,
                            Level::Info,
                            &alloc::format!("thread {t} line {i} end"),
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = out.text();
        assert_eq!(text.lines().count(), 400);
        assert!(text
            .lines()
            .all(|line| line.ends_with(" end") && line.starts_with('[')));
    }

    #[test]
    fn debug_names_the_sink() {
        assert_eq!(
            alloc::format!("{:?}", ModeLogger::new(LevelFilter::Off)),
            "ModeLogger { level: Off, sink: \"stderr\" }"
        );
    }
}
