//! Cron timers: call a service's function at the times a cron expression gives, in a chosen
//! time zone (mode's `Service.crontab`).
//!
//! What lives here: [`Crontab`] (a parsed expression and its time zone, which computes the
//! next wall-clock time), [`CronError`], [`ServiceHandle::crontab`] (the timer task) and
//! [`ServiceHandle::wall_time`] (the tree's wall clock). What does not: periodic timers on a
//! fixed interval ([`ServiceHandle::timer`]) and the deadline queue that wakes both
//! (`timer_queue.rs`).
//!
//! ```
//! use mode::Crontab;
//! use std::time::{Duration, SystemTime};
//!
//! let daily = Crontab::parse("30 2 * * *", "America/New_York").unwrap();
//! // 2025-03-08T12:00:00Z. The next day is the spring-forward day in New York: 02:30
//! // does not exist, so the job runs at the first instant after the gap, 03:00 EDT.
//! let saturday = SystemTime::UNIX_EPOCH + Duration::from_secs(1_741_435_200);
//! let next = daily.next_after(saturday).unwrap();
//! assert_eq!(next, SystemTime::UNIX_EPOCH + Duration::from_secs(1_741_503_600)); // 07:00Z
//! ```
//!
//! # Expressions
//!
//! Five fields, `minute hour day-of-month month day-of-week`, as in crontab(5), or six with
//! a leading `second` field. Each field takes `*`, numbers, ranges (`1-5`), lists (`1,15`),
//! steps (`*/15`, `0-30/10`) and, for months and weekdays, names (`JAN`, `MON-FRI`); weekday
//! 0 and 7 are Sunday. The nicknames `@yearly` (`@annually`), `@monthly`, `@weekly`,
//! `@daily` and `@hourly` stand for the usual expressions. When both day fields are
//! restricted, a day matches if either does (Vixie cron); a `+` before the weekday field
//! (`0 0 1-7 * +MON`) asks for both. `L`, `W` and `#` work as in Quartz (`0 0 L * *` is the
//! last day of the month). There is no year field. Note for users of Python's croniter: the
//! optional seconds field comes first here, not last.
//!
//! # Daylight saving time
//!
//! Times are wall-clock times in the schedule's time zone. Where the zone's clock jumps,
//! what happens depends on whether the expression names one fixed time of day: it does when
//! its second, minute and hour fields are each a single number (`30 2 * * *`, `@daily`),
//! and does not when any of them is a `*`, a range, a list or a step (`*/30 * * * *`,
//! `@hourly`, `30 1,2 * * *`).
//!
//! | | fixed time of day (`30 2 * * *`) | anything else (`0 * * * *`) |
//! |---|---|---|
//! | the time does not exist (spring forward: 02:00 jumps to 03:00) | runs once, at the first instant after the gap (03:00) | those times are skipped; the schedule resumes on the new wall clock |
//! | the time occurs twice (fall back: 02:00 goes back to 01:00) | runs once, at the first occurrence | runs at both occurrences, so it keeps its pace in real time |
//!
//! So a daily job runs exactly once on either day, and an hourly job runs every real hour:
//! on the spring-forward day in New York `0 * * * *` runs at 01:00 EST and next at 03:00
//! EDT, one hour later; on the fall-back day it runs at 01:00 EDT and again at 01:00 EST.
//! Note that a list in the hour field is not a fixed time: `30 1,2 * * *` skips 02:30 on
//! the spring-forward day.
//!
//! # Wall clock and the tree's clock
//!
//! A tree sleeps on its runtime's monotonic clock, and a cron time is a wall-clock time, so
//! each call is scheduled in two steps: the timer reads the wall clock, asks the
//! [`Crontab`] for the next time, and sleeps on the tree's deadline queue until the
//! monotonic instant that is that far away. Where the wall clock comes from:
//!
//! - by default, the system clock ([`SystemTime::now`]), read afresh for every call, so a
//!   long-running program follows the system clock however far it drifts from the
//!   monotonic one (NTP corrections, a suspended machine, a clock set by hand) — a clock
//!   captured once would carry such an error into every later call;
//! - with [`Tree::with_wall_clock_origin`](crate::Tree::with_wall_clock_origin), a wall
//!   clock that advances with the tree's own clock from a given origin. On a virtual-time
//!   runtime this is what makes cron timers deterministic; use it in every such test (the
//!   system clock does not move with virtual time, so cron timers on a virtual runtime
//!   without an origin run at meaningless instants).
//!
//! A change of the wall clock during a sleep is seen when the sleep ends: if the wall clock
//! then reads earlier than the scheduled time (it was set back or slewed), the timer sleeps
//! once more for the difference, so a call does not run before its time; if it reads later
//! (set forward, or the machine was suspended), the call runs at once, late.
//!
//! # Missed times and overruns
//!
//! After each call the next time is computed afresh from the wall clock, and it is always
//! later than the time just served. So a time is never served twice (not even if the wall
//! clock is set back), and times that passed while a call ran (or while the wall clock
//! jumped forward) are skipped, as [`MissedTickBehavior::Skip`](crate::MissedTickBehavior)
//! does for interval timers. A skip is reported as a
//! [`TimerOverlap`](crate::events::LifecycleEvent::TimerOverlap) event (a warning in the
//! log, at most one every 10 seconds per timer): its `interval` is the span from the time
//! served to the first time skipped, `late_by` how far the wall clock was past that time
//! when the call returned, and `skipped` how many times were skipped.
//!
//! # Why croner and chrono-tz
//!
//! Expressions are parsed and evaluated by [croner](https://docs.rs/croner) 4, on
//! [chrono](https://docs.rs/chrono) date-times in zones from
//! [chrono-tz](https://docs.rs/chrono-tz). The alternatives were weighed on DST correctness
//! and upkeep:
//!
//! - croner states the DST policy above (Vixie cron's, as written down by the Open Cron
//!   Pattern Specification), implements it for gaps and overlaps in both search directions
//!   and tests it; it takes the five-field syntax of crontab(5) and Python's croniter, with
//!   optional seconds. It is actively maintained (4.0.3 fixed a DST-gap regression).
//! - `cron` (0.17) requires a seconds field, so every crontab line would need rewriting, and
//!   it silently drops a fixed time that falls in a spring-forward gap: a daily `30 2 * * *`
//!   job does not run at all on that day.
//! - jiff has no cron parser of its own; through croner's `jiff` backend it would tie this
//!   crate to jiff 0.2 while jiff 1.0 is current, and jiff reads the time zone database of
//!   the host by default, so results would depend on the machine (and fail where
//!   `/usr/share/zoneinfo` is missing, as in many containers).
//!
//! chrono-tz compiles the IANA database into the program, so a zone name means the same on
//! every machine and tests are reproducible; the price is binary size, paid only with the
//! `cron` feature. None of these crates appears in this module's API: zones are IANA names
//! and times are [`SystemTime`]s.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone as _};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::error::{BoxResult, Error};
use crate::handle::ServiceHandle;
use crate::interval::{WarnLimiter, OVERLAP_WARNING_EVERY};
use crate::lifecycle;
use crate::race::{race, Either};
use crate::stop_signal::StopSignal;
use crate::task::{default_name, TaskHandle};
use crate::time::{Duration, Instant};
use crate::timer_queue::{SharedTimerQueue, SleepUntil};

/// Skipped times are counted up to this many (a warning's count, not a limit on skipping).
const MAX_COUNTED_SKIPS: u64 = 10_000;

/// The names of the fields of a six-field expression; a five-field one has no `second`.
const FIELDS: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

// ===== impl Crontab =====

/// A cron expression in a time zone: the schedule of a cron timer
/// ([`ServiceHandle::crontab`]).
///
/// Parse it once with [`parse`](Crontab::parse), which rejects a bad expression or an
/// unknown zone with a [`CronError`] that says what is wrong. The [module
/// docs](crate::cron) give the syntax and what happens on days when the clock changes.
///
/// ```
/// use mode::Crontab;
/// use std::time::{Duration, SystemTime};
///
/// let every_quarter = Crontab::parse("*/15 * * * *", "UTC").unwrap();
/// assert_eq!(every_quarter.expression(), "*/15 * * * *");
/// assert_eq!(every_quarter.time_zone(), "UTC");
///
/// let t = SystemTime::UNIX_EPOCH + Duration::from_secs(60);
/// let next = every_quarter.next_after(t).unwrap();
/// assert_eq!(next.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 15 * 60);
/// ```
#[derive(Clone)]
pub struct Crontab {
    cron: Cron,
    tz: Tz,
    expression: String,
}

impl Crontab {
    /// Parses `expression` (see [Expressions](crate::cron#expressions)) to be evaluated in
    /// `time_zone`, an IANA name such as `"Europe/Berlin"`, `"America/New_York"` or
    /// `"UTC"` (names are case-sensitive).
    ///
    /// # Errors
    ///
    /// A [`CronError`] of kind [`InvalidExpression`](CronErrorKind::InvalidExpression)
    /// naming the field at fault, [`NeverMatches`](CronErrorKind::NeverMatches) for an
    /// expression no date satisfies (`0 0 31 2 *`), or
    /// [`UnknownTimeZone`](CronErrorKind::UnknownTimeZone).
    ///
    /// ```
    /// use mode::{CronErrorKind, Crontab};
    ///
    /// let err = Crontab::parse("61 * * * *", "UTC").unwrap_err();
    /// assert_eq!(err.kind(), CronErrorKind::InvalidExpression);
    /// assert!(err.to_string().contains("minute field `61`"), "{err}");
    ///
    /// let err = Crontab::parse("0 * * * *", "Mars/Olympus_Mons").unwrap_err();
    /// assert_eq!(err.kind(), CronErrorKind::UnknownTimeZone);
    /// ```
    pub fn parse(expression: &str, time_zone: &str) -> core::result::Result<Self, CronError> {
        let expression = expression.trim();
        check_names(expression).map_err(|detail| CronError::invalid(expression, detail))?;
        let cron = parser()
            .parse(expression)
            .map_err(|err| CronError::invalid(expression, explain(expression, &err)))?;
        let tz: Tz = time_zone.parse().map_err(|_| {
            CronError::new(CronErrorKind::UnknownTimeZone, time_zone, String::new())
        })?;
        let crontab = Crontab {
            cron,
            tz,
            expression: expression.to_owned(),
        };
        // Without a year field every schedule repeats within 400 years (the Gregorian
        // cycle), so one that has no time after 1970 has none at all.
        if crontab.next_after(UNIX_EPOCH).is_none() {
            return Err(CronError::new(
                CronErrorKind::NeverMatches,
                expression,
                "no date satisfies it".into(),
            ));
        }
        Ok(crontab)
    }

    /// The expression, as given (without surrounding white space).
    #[must_use]
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA name of the time zone.
    #[must_use]
    pub fn time_zone(&self) -> &str {
        self.tz.name()
    }

    /// The first time strictly after `after` that the expression gives, following the
    /// [DST policy](crate::cron#daylight-saving-time); `None` if there is none before the
    /// year 5000.
    ///
    /// Times are whole seconds: a time with a fraction of a second is followed by the next
    /// scheduled second after it.
    ///
    /// ```
    /// use mode::Crontab;
    /// use std::time::{Duration, SystemTime};
    ///
    /// let every_second = Crontab::parse("* * * * * *", "UTC").unwrap();
    /// let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
    /// assert_eq!(
    ///     every_second.next_after(t),
    ///     Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2)),
    /// );
    /// ```
    #[must_use]
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let start = self.zoned(after)?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        let next = system_time(&next)?;
        // croner searches from the whole second after `after`.
        debug_assert!(next > after, "{next:?} is not after {after:?}");
        Some(next)
    }

    /// `time` in the schedule's zone.
    fn zoned(&self, time: SystemTime) -> Option<DateTime<Tz>> {
        let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
            Ok(since) => (i64::try_from(since.as_secs()).ok()?, since.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                let secs = i64::try_from(before.as_secs()).ok()?;
                match before.subsec_nanos() {
                    0 => (-secs, 0),
                    nanos => (-secs - 1, 1_000_000_000 - nanos),
                }
            }
        };
        let utc = DateTime::from_timestamp(secs, nanos)?;
        Some(self.tz.from_utc_datetime(&utc.naive_utc()))
    }
}

fn system_time(time: &DateTime<Tz>) -> Option<SystemTime> {
    let secs = time.timestamp();
    let nanos = Duration::from_nanos(u64::from(time.timestamp_subsec_nanos()));
    let whole = match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs))?,
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))?,
    };
    whole.checked_add(nanos)
}

/// The parser every expression goes through: 5 or 6 fields (optional leading seconds), no
/// year, Vixie day matching, strict step syntax.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// The names of the fields of `fields`, if it has the number of fields of an expression.
fn field_names(fields: &[&str]) -> Option<&'static [&'static str]> {
    match fields.len() {
        5 => Some(&FIELDS[1..]),
        6 => Some(&FIELDS[..]),
        _ => None,
    }
}

/// Rejects names and letters outside the fields that take them. croner replaces weekday
/// and month names anywhere in an expression, so it would read `0 0 MON * *` as day 1.
fn check_names(expression: &str) -> core::result::Result<(), String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let Some(names) = field_names(&fields) else {
        return Ok(());
    };
    for (field, name) in fields.iter().zip(names) {
        if let Some(problem) = misplaced_name(name, field) {
            return Err(format!("{name} field `{field}`: {problem}"));
        }
    }
    Ok(())
}

/// Says what is wrong with `expression`, naming the field at fault where there is one.
fn explain(expression: &str, err: &croner::errors::CronError) -> String {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() == 1 && fields[0].starts_with('@') {
        return format!(
            "unknown nickname `{}` (expected @yearly, @annually, @monthly, @weekly, @daily or \
             @hourly)",
            fields[0]
        );
    }
    let Some(names) = field_names(&fields) else {
        return match fields.len() {
            0 => "the expression is empty".into(),
            n => format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a \
                 leading second), found {n}"
            ),
        };
    };
    // Parse each field alone (the others `*`): the first that fails is at fault.
    for (index, field) in fields.iter().enumerate() {
        let alone: Vec<&str> = (0..fields.len())
            .map(|other| if other == index { field } else { "*" })
            .collect();
        if let Err(err) = parser().parse(&alone.join(" ")) {
            return format!("{} field `{field}`: {}", names[index], reason(&err));
        }
    }
    reason(err)
}

/// Says what is wrong with the letters in `field` (of the field called `name`), if
/// anything: only the month and weekday fields take names, and `L`, `W` and `#`-style
/// modifiers only go where croner documents them.
fn misplaced_name(name: &str, field: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let words = field
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty());
    for word in words {
        let upper = word.to_ascii_uppercase();
        let allowed = match name {
            "day-of-month" => matches!(upper.as_str(), "L" | "W" | "LW"),
            "month" => MONTHS.contains(&upper.as_str()),
            "day-of-week" => upper == "L" || WEEKDAYS.contains(&upper.as_str()),
            _ => false,
        };
        if !allowed {
            return Some(match name {
                "month" => format!("`{word}` is not a month name (JAN to DEC)"),
                "day-of-week" => format!("`{word}` is not a weekday name (SUN to SAT) or `L`"),
                "day-of-month" => format!("`{word}` is not allowed here (only `L` and `W` are)"),
                _ => format!("`{word}` is not allowed here (only numbers are)"),
            });
        }
    }
    None
}

fn reason(err: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    match err {
        E::EmptyPattern => "the expression is empty".into(),
        E::InvalidPattern(message) | E::IllegalCharacters(message) | E::ComponentError(message) => {
            message.clone()
        }
        other => other.to_string(),
    }
}

impl fmt::Debug for Crontab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crontab")
            .field("expression", &self.expression)
            .field("time_zone", &self.time_zone())
            .finish()
    }
}

/// `30 2 * * * (Europe/Berlin)`.
impl fmt::Display for Crontab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.time_zone())
    }
}

// ===== impl CronError =====

/// Why [`Crontab::parse`] refused an expression or a time zone.
///
/// Its message names the input and what is wrong with it:
///
/// ```
/// use mode::{CronErrorKind, Crontab};
///
/// let err = Crontab::parse("0 25 * * *", "UTC").unwrap_err();
/// assert_eq!(err.kind(), CronErrorKind::InvalidExpression);
/// assert_eq!(err.input(), "0 25 * * *");
/// assert_eq!(
///     err.to_string(),
///     "invalid cron expression `0 25 * * *`: hour field `25`: Number out of bounds."
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    kind: CronErrorKind,
    input: String,
    detail: String,
}

/// What kind of input a [`CronError`] rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CronErrorKind {
    /// The expression is not a cron expression: wrong number of fields, a value out of
    /// range, a bad step or character, an unknown nickname.
    InvalidExpression,
    /// The expression is well formed but no date satisfies it (`0 0 30 2 *`).
    NeverMatches,
    /// The time zone is not a name in the IANA time zone database.
    UnknownTimeZone,
}

impl CronError {
    fn new(kind: CronErrorKind, input: &str, detail: String) -> Self {
        CronError {
            kind,
            input: input.to_owned(),
            detail,
        }
    }

    fn invalid(expression: &str, detail: String) -> Self {
        CronError::new(CronErrorKind::InvalidExpression, expression, detail)
    }

    /// What was rejected.
    #[must_use]
    pub fn kind(&self) -> CronErrorKind {
        self.kind
    }

    /// The rejected expression or time zone name.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CronErrorKind::InvalidExpression => {
                write!(
                    f,
                    "invalid cron expression `{}`: {}",
                    self.input, self.detail
                )
            }
            CronErrorKind::NeverMatches => {
                write!(
                    f,
                    "cron expression `{}` never matches: {}",
                    self.input, self.detail
                )
            }
            CronErrorKind::UnknownTimeZone => write!(
                f,
                "unknown time zone `{}`: expected an IANA name such as `Europe/Berlin` or \
                 `UTC` (names are case-sensitive)",
                self.input
            ),
        }
    }
}

impl core::error::Error for CronError {}

// ===== impl ServiceHandle =====

impl ServiceHandle {
    /// The current time on the tree's wall clock: the system clock, or the clock set with
    /// [`Tree::with_wall_clock_origin`](crate::Tree::with_wall_clock_origin). Cron timers
    /// ([`crontab`](Self::crontab)) run by this clock.
    #[cfg_attr(docsrs, doc(cfg(feature = "cron")))]
    #[must_use]
    pub fn wall_time(&self) -> SystemTime {
        let tree = &self.node().tree;
        tree.wall_clock.now(&tree.timers).0
    }

    /// Calls `callback` at the times `schedule` gives (mode's `Service.crontab`), as a
    /// background task of this service.
    ///
    /// Each time is computed from the tree's wall clock ([`wall_time`](Self::wall_time))
    /// and slept for on the tree's monotonic clock; after each call the next time is
    /// computed afresh, so a time is never served twice and times missed while a call ran
    /// are skipped. See the [module docs](crate::cron) for the DST policy and for how the
    /// wall clock relates to the tree's clock.
    ///
    /// No call starts once the service was asked to stop. A callback that returns `Err`
    /// (or panics, with `std`) crashes the service with that error, like any task; the
    /// timer then stops.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Crontab, Service, Tree};
    /// use std::sync::{Arc, Mutex};
    /// use std::time::{Duration, SystemTime};
    ///
    /// struct Reports {
    ///     ran_at: Arc<Mutex<Vec<SystemTime>>>,
    /// }
    ///
    /// impl Service for Reports {
    ///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let schedule = Crontab::parse("0 6 * * MON-FRI", "Europe/Berlin")?;
    ///         let ran_at = self.ran_at.clone();
    ///         cx.crontab(schedule, move |me| {
    ///             let ran_at = ran_at.clone();
    ///             async move {
    ///                 let mut ran_at = ran_at.lock().unwrap();
    ///                 ran_at.push(me.wall_time());
    ///                 if ran_at.len() == 2 {
    ///                     me.request_stop();
    ///                 }
    ///                 Ok(())
    ///             }
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let utc = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    /// let ran_at = Arc::new(Mutex::new(Vec::new()));
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(Reports { ran_at: ran_at.clone() }, rt.clone(), rt.clone())
    ///     // Friday 2025-01-03T00:00:00Z: runs in virtual time from there.
    ///     .with_wall_clock_origin(utc(1_735_862_400));
    /// rt.block_on(tree.run()).unwrap();
    /// // Friday and Monday at 06:00 in Berlin (05:00Z, winter time).
    /// assert_eq!(
    ///     *ran_at.lock().unwrap(),
    ///     [utc(1_735_862_400 + 5 * 3600), utc(1_736_121_600 + 5 * 3600)]
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn): [`Error::ServiceStopped`] if the service is stopping or
    /// stopped, [`Error::Spawn`] if the executor refused the task.
    #[cfg_attr(docsrs, doc(cfg(feature = "cron")))]
    pub fn crontab<F, Fut>(&self, schedule: Crontab, mut callback: F) -> Result<TaskHandle, Error>
    where
        F: FnMut(ServiceHandle) -> Fut + Send + 'static,
        Fut: Future<Output = BoxResult> + Send + 'static,
    {
        let handle = self.clone();
        let name = default_name::<F>();
        let timer = name.clone();
        self.spawn_task(name, move || async move {
            let node = handle.node();
            let (clock, timers) = (&node.tree.wall_clock, &node.tree.timers);
            let mut sleep = timers.sleep_until(Instant::MAX);
            let mut stop = StopSignal::new(node);
            let mut warnings = WarnLimiter::new(OVERLAP_WARNING_EVERY);
            // The time served last: the next one is always later, whatever the wall clock
            // does meanwhile.
            let mut served: Option<SystemTime> = None;
            loop {
                let (wall, now) = clock.now(timers);
                let after = served.map_or(wall, |served| served.max(wall));
                let Some(due) = schedule.next_after(after) else {
                    crate::warn!(
                        handle,
                        "crontab {schedule} has no later time; it calls no more"
                    );
                    return Ok(());
                };
                sleep.reset(now + until(due, wall));
                if !sleep_or_stop(&mut sleep, &mut stop).await {
                    return Ok(());
                }
                // The wall clock was set back or slewed during the sleep: wait for what it
                // still lacks, once (a second shortfall would be another change of the
                // clock, and a virtual runtime without an origin would never catch up).
                let (wall, now) = clock.now(timers);
                if wall < due {
                    sleep.reset(now + until(due, wall));
                    if !sleep_or_stop(&mut sleep, &mut stop).await {
                        return Ok(());
                    }
                }
                if node.should_stop() {
                    return Ok(());
                }
                callback(handle.clone()).await?;
                served = Some(due);

                let (wall, now) = clock.now(timers);
                if let Some(first_missed) = schedule.next_after(due).filter(|t| *t <= wall) {
                    if warnings.allow(now) {
                        lifecycle::emit_timer_overlap(
                            node,
                            &timer,
                            until(first_missed, due),
                            until(wall, first_missed),
                            count_missed(&schedule, first_missed, wall),
                        );
                    }
                }
            }
        })
    }
}

/// Sleeps until `sleep`'s deadline; `false` if the service was asked to stop first.
async fn sleep_or_stop(sleep: &mut SleepUntil, stop: &mut StopSignal<'_>) -> bool {
    matches!(race(sleep, stop.wait()).await, Either::Left(()))
}

/// How long from `from` until `to`; zero if `to` is not later.
fn until(to: SystemTime, from: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or(Duration::ZERO)
}

/// The scheduled times from `first` (which is at or before `wall`) up to `wall`, counted up
/// to [`MAX_COUNTED_SKIPS`].
fn count_missed(schedule: &Crontab, first: SystemTime, wall: SystemTime) -> u64 {
    let mut count = 1;
    let mut time = first;
    while count < MAX_COUNTED_SKIPS {
        match schedule.next_after(time) {
            Some(next) if next <= wall => {
                count += 1;
                time = next;
            }
            _ => break,
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since the epoch of a UTC date and time, by the civil-from-days algorithm
    /// (independent of chrono, which the code under test uses).
    fn utc(y: i64, m: i64, d: i64, h: i64, min: i64) -> SystemTime {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + h * 3600 + min * 60;
        UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
    }

    fn next_n(crontab: &Crontab, from: SystemTime, n: usize) -> Vec<SystemTime> {
        let mut out = Vec::new();
        let mut t = from;
        for _ in 0..n {
            t = crontab.next_after(t).unwrap();
            out.push(t);
        }
        out
    }

    #[test]
    fn utc_helper_matches_known_timestamps() {
        assert_eq!(utc(1970, 1, 1, 0, 0), UNIX_EPOCH);
        assert_eq!(
            utc(2025, 3, 9, 7, 0),
            UNIX_EPOCH + Duration::from_secs(1_741_503_600)
        );
    }

    #[test]
    fn minute_hour_and_day_schedules() {
        let start = utc(2025, 1, 1, 0, 0) + Duration::from_secs(30);
        let every_minute = Crontab::parse("* * * * *", "UTC").unwrap();
        assert_eq!(
            next_n(&every_minute, start, 3),
            [
                utc(2025, 1, 1, 0, 1),
                utc(2025, 1, 1, 0, 2),
                utc(2025, 1, 1, 0, 3)
            ]
        );
        let hourly = Crontab::parse("@hourly", "UTC").unwrap();
        assert_eq!(
            next_n(&hourly, start, 2),
            [utc(2025, 1, 1, 1, 0), utc(2025, 1, 1, 2, 0)]
        );
        let daily_berlin = Crontab::parse("0 6 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            next_n(&daily_berlin, start, 2),
            [utc(2025, 1, 1, 5, 0), utc(2025, 1, 2, 5, 0)]
        );
    }

    #[test]
    fn strictly_after_with_fractions_and_before_the_epoch() {
        let every_second = Crontab::parse("* * * * * *", "UTC").unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(every_second.next_after(t), Some(t + Duration::from_secs(1)));
        let just_before = t - Duration::from_nanos(1);
        assert_eq!(every_second.next_after(just_before), Some(t));
        let before_epoch = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(
            every_second.next_after(before_epoch),
            Some(UNIX_EPOCH - Duration::from_secs(1))
        );
    }

    /// New York, 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00Z).
    #[test]
    fn spring_forward_new_york() {
        let ny = "America/New_York";
        let eve = utc(2025, 3, 8, 12, 0);
        // A fixed time in the gap runs once, at the first instant after it.
        let fixed = Crontab::parse("30 2 * * *", ny).unwrap();
        assert_eq!(
            next_n(&fixed, eve, 3),
            [
                utc(2025, 3, 9, 7, 0),
                utc(2025, 3, 10, 6, 30),
                utc(2025, 3, 11, 6, 30)
            ]
        );
        // Interval times in the gap are skipped; the pace is one real hour.
        let hourly = Crontab::parse("0 * * * *", ny).unwrap();
        assert_eq!(
            next_n(&hourly, utc(2025, 3, 9, 5, 30), 3),
            [
                utc(2025, 3, 9, 6, 0),
                utc(2025, 3, 9, 7, 0),
                utc(2025, 3, 9, 8, 0)
            ]
        );
        // A list in the hour field is not a fixed time: 02:30 is skipped.
        let list = Crontab::parse("30 1,2 * * *", ny).unwrap();
        assert_eq!(
            next_n(&list, eve, 3),
            [
                utc(2025, 3, 9, 6, 30),
                utc(2025, 3, 10, 5, 30),
                utc(2025, 3, 10, 6, 30)
            ]
        );
    }

    /// New York, 2025-11-02: 02:00 EDT goes back to 01:00 EST (06:00Z).
    #[test]
    fn fall_back_new_york() {
        let ny = "America/New_York";
        // A fixed time that occurs twice runs once, at the first occurrence (EDT).
        let fixed = Crontab::parse("30 1 * * *", ny).unwrap();
        assert_eq!(
            next_n(&fixed, utc(2025, 11, 1, 12, 0), 2),
            [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]
        );
        // Starting inside the overlap, after the first occurrence: no second run.
        assert_eq!(
            fixed.next_after(utc(2025, 11, 2, 5, 45)),
            Some(utc(2025, 11, 3, 6, 30))
        );
        // Interval times run at both occurrences.
        let half_hourly = Crontab::parse("*/30 * * * *", ny).unwrap();
        assert_eq!(
            next_n(&half_hourly, utc(2025, 11, 2, 4, 45), 5),
            [
                utc(2025, 11, 2, 5, 0),  // 01:00 EDT
                utc(2025, 11, 2, 5, 30), // 01:30 EDT
                utc(2025, 11, 2, 6, 0),  // 01:00 EST
                utc(2025, 11, 2, 6, 30), // 01:30 EST
                utc(2025, 11, 2, 7, 0),  // 02:00 EST
            ]
        );
    }

    /// Berlin: 2025-03-30 02:00 CET jumps to 03:00 CEST (01:00Z); 2025-10-26 03:00 CEST
    /// goes back to 02:00 CET (01:00Z).
    #[test]
    fn both_changes_in_berlin() {
        let berlin = "Europe/Berlin";
        let fixed = Crontab::parse("30 2 * * *", berlin).unwrap();
        assert_eq!(
            next_n(&fixed, utc(2025, 3, 29, 12, 0), 2),
            [utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
        );
        assert_eq!(
            next_n(&fixed, utc(2025, 10, 25, 12, 0), 2),
            [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
        );
        let interval = Crontab::parse("*/30 2 * * *", berlin).unwrap();
        assert_eq!(
            next_n(&interval, utc(2025, 10, 25, 12, 0), 5),
            [
                utc(2025, 10, 26, 0, 0),  // 02:00 CEST
                utc(2025, 10, 26, 0, 30), // 02:30 CEST
                utc(2025, 10, 26, 1, 0),  // 02:00 CET
                utc(2025, 10, 26, 1, 30), // 02:30 CET
                utc(2025, 10, 27, 1, 0),  // next day, 02:00 CET
            ]
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("", "invalid cron expression ``: the expression is empty"),
            (
                "* * *",
                "invalid cron expression `* * *`: expected 5 fields (minute hour \
                 day-of-month month day-of-week) or 6 (with a leading second), found 3",
            ),
            (
                "0 0 * * * * 2030",
                "invalid cron expression `0 0 * * * * 2030`: expected 5 fields (minute hour \
                 day-of-month month day-of-week) or 6 (with a leading second), found 7",
            ),
            (
                "*/0 * * * *",
                "invalid cron expression `*/0 * * * *`: minute field `*/0`: Step cannot be zero.",
            ),
            (
                "0 0 32 * *",
                "invalid cron expression `0 0 32 * *`: day-of-month field `32`: Number out of \
                 bounds.",
            ),
            (
                "60 0 0 * * *",
                "invalid cron expression `60 0 0 * * *`: second field `60`: Number out of \
                 bounds.",
            ),
            (
                "@reboot",
                "invalid cron expression `@reboot`: unknown nickname `@reboot` (expected \
                 @yearly, @annually, @monthly, @weekly, @daily or @hourly)",
            ),
        ];
        for (expression, message) in cases {
            let err = Crontab::parse(expression, "UTC").unwrap_err();
            assert_eq!(err.kind(), CronErrorKind::InvalidExpression, "{expression}");
            assert_eq!(err.to_string(), message);
        }
        // Names only where they belong (croner alone would read `mon` as 1 anywhere).
        for (expression, message) in [
            (
                "0 0 mon * *",
                "day-of-month field `mon`: `mon` is not allowed here",
            ),
            (
                "0 0 * MON *",
                "month field `MON`: `MON` is not a month name",
            ),
            (
                "0 0 * * JAN",
                "day-of-week field `JAN`: `JAN` is not a weekday name",
            ),
            (
                "0 0 * * MONDAY",
                "day-of-week field `MONDAY`: `MONDAY` is not a weekday",
            ),
            (
                "0 x * * *",
                "hour field `x`: `x` is not allowed here (only numbers are)",
            ),
        ] {
            let err = Crontab::parse(expression, "UTC").unwrap_err();
            assert_eq!(err.kind(), CronErrorKind::InvalidExpression);
            assert!(err.to_string().contains(message), "{err}");
        }
        for fine in [
            "0 0 L * *",
            "0 0 15W * *",
            "0 0 LW * *",
            "0 0 * jan-Mar mon-FRI",
            "0 0 * * 5L",
        ] {
            assert!(Crontab::parse(fine, "UTC").is_ok(), "{fine}");
        }

        let err = Crontab::parse("0 0 31 2 *", "UTC").unwrap_err();
        assert_eq!(err.kind(), CronErrorKind::NeverMatches);
        assert_eq!(
            err.to_string(),
            "cron expression `0 0 31 2 *` never matches: no date satisfies it"
        );
        // A rare date is not "never".
        assert!(Crontab::parse("0 0 29 2 *", "UTC").is_ok());

        for zone in ["Mars/Olympus_Mons", "europe/berlin", ""] {
            let err = Crontab::parse("0 * * * *", zone).unwrap_err();
            assert_eq!(err.kind(), CronErrorKind::UnknownTimeZone);
            assert_eq!(err.input(), zone);
            assert!(err
                .to_string()
                .starts_with(&format!("unknown time zone `{zone}`")));
        }
    }

    #[test]
    fn display_and_accessors() {
        let crontab = Crontab::parse("  0 6 * * MON-FRI ", "Europe/Berlin").unwrap();
        assert_eq!(crontab.expression(), "0 6 * * MON-FRI");
        assert_eq!(crontab.time_zone(), "Europe/Berlin");
        assert_eq!(crontab.to_string(), "0 6 * * MON-FRI (Europe/Berlin)");
        assert!(format!("{crontab:?}").contains("Europe/Berlin"));
    }

    // ===== the timer against changes of the wall clock =====

    use alloc::sync::Arc;
    use std::sync::Mutex as StdMutex;

    use crate::testing::VirtualRuntime;
    use crate::{Context, Service, StopReason, Tree};

    type Calls = Arc<StdMutex<Vec<(Duration, SystemTime)>>>;

    /// Calls every ten minutes (UTC) and records (virtual time, wall time); stops after
    /// `stop_after` calls. Sets the tree's wall clock as told.
    struct Probe {
        calls: Calls,
        stop_after: usize,
        /// From a task: at this virtual time, set the wall clock to this wall time.
        set_at: Option<(Duration, SystemTime)>,
        /// During the first call, set the wall clock to this wall time.
        set_in_first_call: Option<SystemTime>,
    }

    fn set_wall_clock(handle: &ServiceHandle, wall: SystemTime) {
        handle.node().tree.wall_clock.set_origin(wall, handle.now());
    }

    impl Service for Probe {
        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            if let Some((at, wall)) = self.set_at {
                let handle = cx.handle().clone();
                cx.spawn(async move {
                    handle.sleep_until(Instant::ZERO + at).await?;
                    set_wall_clock(&handle, wall);
                    Ok(())
                })?;
            }
            let calls = self.calls.clone();
            let (stop_after, set_in_first_call) = (self.stop_after, self.set_in_first_call);
            let schedule = Crontab::parse("*/10 * * * *", "UTC")?;
            cx.crontab(schedule, move |handle| {
                let calls = calls.clone();
                async move {
                    let n = {
                        let mut calls = calls.lock().unwrap();
                        calls.push((handle.now().as_duration(), handle.wall_time()));
                        calls.len()
                    };
                    if let (1, Some(wall)) = (n, set_in_first_call) {
                        set_wall_clock(&handle, wall);
                    }
                    if n == stop_after {
                        handle.request_stop();
                    }
                    Ok(())
                }
            })?;
            Ok(())
        }
    }

    fn run_probe(probe: Probe) -> Vec<(Duration, SystemTime)> {
        let calls = probe.calls.clone();
        let rt = VirtualRuntime::new();
        let tree =
            Tree::new(probe, rt.clone(), rt.clone()).with_wall_clock_origin(utc(2025, 1, 1, 0, 0));
        let exit = rt.block_on(tree.run()).unwrap();
        assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
        let calls = calls.lock().unwrap().clone();
        calls
    }

    fn minutes(n: u64) -> Duration {
        Duration::from_secs(60 * n)
    }

    /// The clock goes back 3 minutes while the timer sleeps for 00:10: the call waits
    /// until the wall clock reads 00:10, 13 minutes in.
    #[test]
    fn a_clock_set_back_during_a_sleep_delays_the_call() {
        let calls = run_probe(Probe {
            calls: Calls::default(),
            stop_after: 1,
            set_at: Some((minutes(5), utc(2025, 1, 1, 0, 2))),
            set_in_first_call: None,
        });
        assert_eq!(calls, [(minutes(13), utc(2025, 1, 1, 0, 10))]);
    }

    /// The clock goes back 5 minutes during the call for 00:10: the next call is for
    /// 00:20, not 00:10 again.
    #[test]
    fn a_clock_set_back_during_a_call_serves_no_time_twice() {
        let calls = run_probe(Probe {
            calls: Calls::default(),
            stop_after: 2,
            set_at: None,
            set_in_first_call: Some(utc(2025, 1, 1, 0, 5)),
        });
        assert_eq!(
            calls,
            [
                (minutes(10), utc(2025, 1, 1, 0, 10)),
                (minutes(25), utc(2025, 1, 1, 0, 20)),
            ]
        );
    }

    /// The clock jumps 30 minutes ahead while the timer sleeps for 00:10: the call runs
    /// when the sleep ends (late, at 00:40 by the clock), 00:20 to 00:40 are skipped.
    #[test]
    fn a_clock_set_forward_runs_the_call_late_and_skips() {
        let calls = run_probe(Probe {
            calls: Calls::default(),
            stop_after: 2,
            set_at: Some((minutes(5), utc(2025, 1, 1, 0, 35))),
            set_in_first_call: None,
        });
        assert_eq!(
            calls,
            [
                (minutes(10), utc(2025, 1, 1, 0, 40)),
                (minutes(20), utc(2025, 1, 1, 0, 50)),
            ]
        );
    }

    #[test]
    fn schedule_and_error_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Crontab>();
        assert_send_sync::<CronError>();
    }
}
