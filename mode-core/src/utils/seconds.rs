//! [`Seconds`], [`Rate`] and [`want_seconds`]: spans of time and rates from strings and
//! numbers.
//!
//! mode accepts "seconds" as a number, a `timedelta`, or a string: a decimal number
//! (`"1.203"`) or a *rate*, `count/unit` with unit `s`, `m`, `h` or `d` (`"10/s"`,
//! `"100/m"`, `"10.3/h"`, `"100/d"`). Here:
//!
//! - [`Seconds`] is a span of time with nanosecond precision (a [`Duration`] that parses
//!   and prints as mode's strings). A rate string becomes the interval between events:
//!   `"10/s"` is 0.1 s, `"100/m"` is 0.6 s.
//! - [`Rate`] keeps a rate as a rate: a count per unit, with its
//!   [interval](Rate::interval) and its [events per second](Rate::per_second).
//! - [`want_seconds`] converts anything [`IntoSeconds`] (strings, [`Duration`]s, floats,
//!   integers) into [`Seconds`]; [`rate`] parses a rate string into events per second.
//!
//! mode's `want_seconds("10/s")` returns `10.0`, the *rate*, although its name promises
//! seconds. The two meanings are kept apart here: `want_seconds("10/s")` is the interval
//! (0.1 s) and `rate("10/s")` is mode's number (10.0).
//!
//! # Errors
//!
//! Parsing never panics. Every failure is a [`ParseSecondsError`] naming what is wrong
//! ([`ParseSecondsErrorKind`]) and the byte position where it is:
//!
//! ```
//! use mode::utils::{ParseSecondsErrorKind, Seconds};
//!
//! let error = "10/x".parse::<Seconds>().unwrap_err();
//! assert_eq!(error.kind(), ParseSecondsErrorKind::InvalidUnit);
//! assert_eq!(error.position(), 3);
//! assert_eq!(
//!     error.to_string(),
//!     "invalid duration or rate at byte 3: expected a rate unit (`s`, `m`, `h` or `d`) after `/`"
//! );
//! ```

use core::fmt;
use core::str::FromStr;

use crate::time::Duration;

/// Nanoseconds in one second.
const NANOS_PER_SEC: u128 = 1_000_000_000;
/// The largest [`Duration`], in nanoseconds.
const MAX_NANOS: u128 = u64::MAX as u128 * NANOS_PER_SEC + (NANOS_PER_SEC - 1);

/// A span of time that parses and prints as mode's seconds.
///
/// Parses a decimal number of seconds (`"1.203"`, `"1e3"`, `" 2 "`) exactly, rounding to
/// the nearest nanosecond, or a rate (`"10/s"`) as the interval between two events.
/// Prints as a decimal number of seconds (`"0.1"`), which parses back to the same value.
///
/// ```
/// use mode::time::Duration;
/// use mode::utils::Seconds;
///
/// let s: Seconds = "1.203".parse()?;
/// assert_eq!(s.as_duration(), Duration::from_millis(1203));
/// assert_eq!("10/s".parse::<Seconds>()?, Seconds::from_millis(100));
/// assert_eq!("100/m".parse::<Seconds>()?, Seconds::from_millis(600));
/// assert_eq!("100/d".parse::<Seconds>()?.to_string(), "864");
/// assert_eq!(Seconds::from_millis(1500).to_string(), "1.5");
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Seconds(Duration);

impl Seconds {
    /// No time at all.
    pub const ZERO: Seconds = Seconds(Duration::ZERO);
    /// The longest span, [`Duration::MAX`].
    pub const MAX: Seconds = Seconds(Duration::MAX);

    /// Whole seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Seconds {
        Seconds(Duration::from_secs(secs))
    }

    /// Milliseconds.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Seconds {
        Seconds(Duration::from_millis(millis))
    }

    /// A [`Duration`] as seconds.
    #[must_use]
    pub const fn from_duration(duration: Duration) -> Seconds {
        Seconds(duration)
    }

    /// A float number of seconds, rounded to the nearest nanosecond.
    ///
    /// ```
    /// use mode::utils::{ParseSecondsErrorKind, Seconds};
    ///
    /// assert_eq!(Seconds::try_from_secs_f64(0.25)?, Seconds::from_millis(250));
    /// assert_eq!(
    ///     Seconds::try_from_secs_f64(-1.0).unwrap_err().kind(),
    ///     ParseSecondsErrorKind::Negative
    /// );
    /// # Ok::<(), mode::utils::ParseSecondsError>(())
    /// ```
    pub fn try_from_secs_f64(secs: f64) -> Result<Seconds, ParseSecondsError> {
        if secs.is_nan() || secs.is_infinite() {
            return Err(ParseSecondsError::at(ParseSecondsErrorKind::NotFinite, 0));
        }
        if secs < 0.0 {
            return Err(ParseSecondsError::at(ParseSecondsErrorKind::Negative, 0));
        }
        Duration::try_from_secs_f64(secs)
            .map(Seconds)
            .map_err(|_| ParseSecondsError::at(ParseSecondsErrorKind::OutOfRange, 0))
    }

    /// The span as a [`Duration`].
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// The span as a float number of seconds (mode's `float`).
    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl From<Duration> for Seconds {
    fn from(duration: Duration) -> Self {
        Seconds(duration)
    }
}

impl From<Seconds> for Duration {
    fn from(seconds: Seconds) -> Self {
        seconds.0
    }
}

/// A rate as the interval between two of its events ([`Rate::interval`]): `10/s` is 100 ms.
impl From<Rate> for Seconds {
    fn from(rate: Rate) -> Seconds {
        rate.interval()
    }
}

impl FromStr for Seconds {
    type Err = ParseSecondsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let scanned = scan(s)?;
        match scanned.unit {
            None => decimal_to_seconds(&scanned.decimal).ok_or(ParseSecondsError::at(
                ParseSecondsErrorKind::OutOfRange,
                scanned.start,
            )),
            Some(unit) => scanned.rate(s, unit).map(Rate::interval),
        }
    }
}

impl fmt::Display for Seconds {
    /// Whole seconds, then the nanoseconds without trailing zeros: `5`, `0.1`,
    /// `1.000000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let mut nanos = self.0.subsec_nanos();
        if nanos == 0 {
            return write!(f, "{secs}");
        }
        let mut width = 9;
        while nanos % 10 == 0 {
            nanos /= 10;
            width -= 1;
        }
        write!(f, "{secs}.{nanos:0width$}")
    }
}

/// The unit of a [`Rate`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RateUnit {
    /// `s`
    Second,
    /// `m`
    Minute,
    /// `h`
    Hour,
    /// `d`
    Day,
}

impl RateUnit {
    /// The unit's length.
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.as_secs())
    }

    /// The letter used in rate strings.
    #[must_use]
    pub const fn symbol(self) -> char {
        match self {
            RateUnit::Second => 's',
            RateUnit::Minute => 'm',
            RateUnit::Hour => 'h',
            RateUnit::Day => 'd',
        }
    }

    const fn as_secs(self) -> u64 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3_600,
            RateUnit::Day => 86_400,
        }
    }

    fn from_symbol(symbol: u8) -> Option<RateUnit> {
        match symbol {
            b's' => Some(RateUnit::Second),
            b'm' => Some(RateUnit::Minute),
            b'h' => Some(RateUnit::Hour),
            b'd' => Some(RateUnit::Day),
            _ => None,
        }
    }
}

/// A number of events per [`RateUnit`]: `"10/s"`, `"10.3/h"`.
///
/// The count is positive and finite, and one event per count fits in a [`Duration`].
/// A plain number (`"10"`) parses as events per second, as in mode.
///
/// ```
/// use mode::utils::{Rate, RateUnit, Seconds};
///
/// let rate: Rate = "10.3/h".parse()?;
/// assert_eq!(rate.events(), 10.3);
/// assert_eq!(rate.unit(), RateUnit::Hour);
/// assert_eq!(rate.per_second(), 0.0028611111111111116); // as mode computes it
/// assert_eq!(rate.interval().to_string(), "349.514563107");
/// assert_eq!(rate.to_string(), "10.3/h");
/// assert_eq!("100/m".parse::<Rate>()?.interval(), Seconds::from_millis(600));
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Rate {
    events: f64,
    unit: RateUnit,
}

impl Rate {
    /// `events` per `unit`.
    ///
    /// # Errors
    ///
    /// [`NotFinite`](ParseSecondsErrorKind::NotFinite) for NaN or infinity,
    /// [`Negative`](ParseSecondsErrorKind::Negative),
    /// [`ZeroRate`](ParseSecondsErrorKind::ZeroRate), or
    /// [`OutOfRange`](ParseSecondsErrorKind::OutOfRange) when the interval between events
    /// does not fit in a [`Duration`].
    pub fn new(events: f64, unit: RateUnit) -> Result<Rate, ParseSecondsError> {
        Rate::checked(events, unit, 0)
    }

    /// Events per second.
    ///
    /// ```
    /// use mode::utils::{Rate, RateUnit};
    ///
    /// let rate = Rate::per_second_of(25.0)?;
    /// assert_eq!(rate.unit(), RateUnit::Second);
    /// assert_eq!(rate.interval().as_secs_f64(), 0.04);
    /// # Ok::<(), mode::utils::ParseSecondsError>(())
    /// ```
    pub fn per_second_of(events: f64) -> Result<Rate, ParseSecondsError> {
        Rate::new(events, RateUnit::Second)
    }

    fn checked(events: f64, unit: RateUnit, position: usize) -> Result<Rate, ParseSecondsError> {
        let fail = |kind| Err(ParseSecondsError::at(kind, position));
        if events.is_nan() || events.is_infinite() {
            return fail(ParseSecondsErrorKind::NotFinite);
        }
        if events < 0.0 {
            return fail(ParseSecondsErrorKind::Negative);
        }
        if events == 0.0 {
            return fail(ParseSecondsErrorKind::ZeroRate);
        }
        let rate = Rate { events, unit };
        if rate.interval_nanos() > MAX_NANOS as f64 {
            return fail(ParseSecondsErrorKind::OutOfRange);
        }
        Ok(rate)
    }

    /// The count of events per unit.
    #[must_use]
    pub fn events(self) -> f64 {
        self.events
    }

    /// The unit.
    #[must_use]
    pub fn unit(self) -> RateUnit {
        self.unit
    }

    /// Events per second: the value mode's `rate()` and `want_seconds()` return for a
    /// rate string.
    #[must_use]
    pub fn per_second(self) -> f64 {
        // Divided step by step as mode does, so the floats are identical.
        let n = self.events;
        match self.unit {
            RateUnit::Second => n,
            RateUnit::Minute => n / 60.0,
            RateUnit::Hour => n / 60.0 / 60.0,
            RateUnit::Day => n / 60.0 / 60.0 / 24.0,
        }
    }

    /// The interval between two events at this rate, rounded to the nearest nanosecond.
    #[must_use]
    pub fn interval(self) -> Seconds {
        // `checked` guarantees the value fits; `as` saturates in any case.
        let nanos = (self.interval_nanos() + 0.5) as u128;
        Seconds(duration_from_nanos(nanos.min(MAX_NANOS)))
    }

    fn interval_nanos(self) -> f64 {
        (u128::from(self.unit.as_secs()) * NANOS_PER_SEC) as f64 / self.events
    }
}

impl FromStr for Rate {
    type Err = ParseSecondsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let scanned = scan(s)?;
        // A plain number is a rate per second, as in mode.
        scanned.rate(s, scanned.unit.unwrap_or(RateUnit::Second))
    }
}

impl fmt::Display for Rate {
    /// `events/unit`, e.g. `10.3/h`; parses back to the same rate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.events, self.unit.symbol())
    }
}

/// Values that convert into [`Seconds`]: strings (parsed), [`Duration`]s, [`Rate`]s
/// (their interval), floats (seconds) and integers (whole seconds).
///
/// ```
/// use mode::time::Duration;
/// use mode::utils::{IntoSeconds, Seconds};
///
/// assert_eq!("2.5".into_seconds()?, Seconds::from_millis(2500));
/// assert_eq!(Duration::from_secs(3).into_seconds()?, Seconds::from_secs(3));
/// assert_eq!(4_u32.into_seconds()?, Seconds::from_secs(4));
/// assert!((-4_i32).into_seconds().is_err());
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
pub trait IntoSeconds {
    /// Converts `self`, failing on negative, non-finite, too large or unparsable input.
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError>;
}

impl IntoSeconds for Seconds {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        Ok(self)
    }
}

impl IntoSeconds for Duration {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        Ok(Seconds(self))
    }
}

impl IntoSeconds for Rate {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        Ok(self.interval())
    }
}

impl IntoSeconds for &str {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        self.parse()
    }
}

impl IntoSeconds for &alloc::string::String {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        self.parse()
    }
}

impl IntoSeconds for f64 {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        Seconds::try_from_secs_f64(self)
    }
}

impl IntoSeconds for f32 {
    fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
        Seconds::try_from_secs_f64(f64::from(self))
    }
}

macro_rules! unsigned_into_seconds {
    ($($ty:ty),*) => {$(
        impl IntoSeconds for $ty {
            fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
                // Lossless: no supported target has integers wider than 64 bits here.
                Ok(Seconds::from_secs(self as u64))
            }
        }
    )*};
}

macro_rules! signed_into_seconds {
    ($($ty:ty),*) => {$(
        impl IntoSeconds for $ty {
            fn into_seconds(self) -> Result<Seconds, ParseSecondsError> {
                u64::try_from(self)
                    .map(Seconds::from_secs)
                    .map_err(|_| ParseSecondsError::at(ParseSecondsErrorKind::Negative, 0))
            }
        }
    )*};
}

unsigned_into_seconds!(u8, u16, u32, u64, usize);
signed_into_seconds!(i8, i16, i32, i64, isize);

/// Converts mode's "seconds" (a string, [`Duration`], [`Rate`], float or integer) into
/// [`Seconds`]. A rate string gives the interval between events.
///
/// ```
/// use mode::time::Duration;
/// use mode::utils::{want_seconds, ParseSecondsErrorKind, Seconds};
///
/// assert_eq!(want_seconds("1.203")?.as_secs_f64(), 1.203);
/// assert_eq!(want_seconds("10/s")?, Seconds::from_millis(100));
/// assert_eq!(want_seconds(Duration::from_millis(5))?, Seconds::from_millis(5));
/// assert_eq!(want_seconds(1.5)?, Seconds::from_millis(1500));
/// assert_eq!(want_seconds(2)?, Seconds::from_secs(2));
/// assert_eq!(want_seconds("NaN").unwrap_err().kind(), ParseSecondsErrorKind::NotFinite);
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
pub fn want_seconds(value: impl IntoSeconds) -> Result<Seconds, ParseSecondsError> {
    value.into_seconds()
}

/// Parses a rate string into events per second, exactly as mode's `rate()`: `"10/s"` is
/// `10.0`, `"100/h"` is `100 / 3600`, and a plain number is per second.
///
/// ```
/// use mode::utils::rate;
///
/// assert_eq!(rate("10/s")?, 10.0);
/// assert_eq!(rate("10.3/h")?, 0.0028611111111111116);
/// assert_eq!(rate("100/h")?, 0.02777777777777778);
/// assert_eq!(rate("100/d")?, 0.0011574074074074076);
/// assert_eq!(rate("2.5")?, 2.5);
/// assert!(rate("0/s").is_err());
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
pub fn rate(value: &str) -> Result<f64, ParseSecondsError> {
    value.parse::<Rate>().map(Rate::per_second)
}

/// Why a string (or number) is not a valid span or rate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ParseSecondsError {
    kind: ParseSecondsErrorKind,
    position: usize,
}

/// What is wrong, for [`ParseSecondsError`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ParseSecondsErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// Not a decimal number where one was expected (including an exponent without
    /// digits).
    InvalidNumber,
    /// NaN or infinity.
    NotFinite,
    /// A negative number.
    Negative,
    /// Too large for a [`Duration`] (about 584 billion years), or a rate so slow that its
    /// interval is.
    OutOfRange,
    /// Something other than `s`, `m`, `h` or `d` after the `/` of a rate.
    InvalidUnit,
    /// A rate of zero events, which has no interval.
    ZeroRate,
    /// Characters after a complete value.
    UnexpectedCharacter,
}

impl ParseSecondsError {
    const fn at(kind: ParseSecondsErrorKind, position: usize) -> Self {
        ParseSecondsError { kind, position }
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> ParseSecondsErrorKind {
        self.kind
    }

    /// The byte offset in the input where the problem is (0 for non-string input).
    #[must_use]
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for ParseSecondsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ParseSecondsErrorKind::Empty => {
                "empty input: expected seconds (`1.5`) or a rate (`10/s`)"
            }
            ParseSecondsErrorKind::InvalidNumber => "expected a decimal number",
            ParseSecondsErrorKind::NotFinite => "NaN and infinity are not durations",
            ParseSecondsErrorKind::Negative => "negative values are not allowed",
            ParseSecondsErrorKind::OutOfRange => "value too large for a duration",
            ParseSecondsErrorKind::InvalidUnit => {
                "expected a rate unit (`s`, `m`, `h` or `d`) after `/`"
            }
            ParseSecondsErrorKind::ZeroRate => "a rate of zero events has no interval",
            ParseSecondsErrorKind::UnexpectedCharacter => "unexpected character after the value",
        };
        write!(
            f,
            "invalid duration or rate at byte {}: {what}",
            self.position
        )
    }
}

impl core::error::Error for ParseSecondsError {}

// ===== parser =====

/// A decimal number scanned exactly: `digits × 10^exponent`, with at most 37 significant
/// digits (further digits are below a nanosecond for any value that fits a `Duration`).
struct Decimal {
    digits: u128,
    exponent: i64,
}

/// A syntactically valid input: a number and, for a rate, its unit.
struct Scanned {
    decimal: Decimal,
    /// Where the number starts and ends (after leading whitespace).
    start: usize,
    end: usize,
    unit: Option<RateUnit>,
}

impl Scanned {
    /// The number of `s` as a count of events per `unit`.
    fn rate(&self, s: &str, unit: RateUnit) -> Result<Rate, ParseSecondsError> {
        let out_of_range = ParseSecondsError::at(ParseSecondsErrorKind::OutOfRange, self.start);
        // The scanned text is in the subset of core's float syntax, so this cannot fail.
        let events = s[self.start..self.end]
            .parse::<f64>()
            .map_err(|_| ParseSecondsError::at(ParseSecondsErrorKind::InvalidNumber, self.start))?;
        if events.is_infinite() || (events == 0.0 && self.decimal.digits != 0) {
            // Too many events to count, or so few (below the smallest float) that the
            // interval is far too long.
            return Err(out_of_range);
        }
        Rate::checked(events, unit, self.start)
    }
}

/// Checks the grammar: `ws [+]number [/unit] ws`.
fn scan(s: &str) -> Result<Scanned, ParseSecondsError> {
    let bytes = s.as_bytes();
    let start = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    if start == bytes.len() {
        return Err(ParseSecondsError::at(ParseSecondsErrorKind::Empty, start));
    }
    let (decimal, end) = scan_number(bytes, start)?;
    let mut at = end;
    let unit = if bytes.get(at) == Some(&b'/') {
        let unit = bytes
            .get(at + 1)
            .and_then(|symbol| RateUnit::from_symbol(*symbol))
            .ok_or(ParseSecondsError::at(
                ParseSecondsErrorKind::InvalidUnit,
                at + 1,
            ))?;
        at += 2;
        Some(unit)
    } else {
        None
    };
    let trailing = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    if at + trailing != bytes.len() {
        return Err(ParseSecondsError::at(
            ParseSecondsErrorKind::UnexpectedCharacter,
            at + trailing,
        ));
    }
    Ok(Scanned {
        decimal,
        start,
        end,
        unit,
    })
}

/// Scans `[+]digits[.digits][(e|E)[+|-]digits]` at `start`; returns the value and the
/// end offset.
fn scan_number(bytes: &[u8], start: usize) -> Result<(Decimal, usize), ParseSecondsError> {
    let mut at = start;
    match bytes.get(at) {
        Some(b'+') => at += 1,
        Some(b'-') => return Err(ParseSecondsError::at(ParseSecondsErrorKind::Negative, at)),
        _ => {}
    }
    let mut decimal = Decimal {
        digits: 0,
        exponent: 0,
    };
    let mut any_digit = false;
    let mut fraction = false;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'0'..=b'9' => {
                any_digit = true;
                let digit = u128::from(byte - b'0');
                if decimal.digits <= (u128::MAX - 9) / 10 / 10 {
                    decimal.digits = decimal.digits * 10 + digit;
                    if fraction {
                        decimal.exponent -= 1;
                    }
                } else if !fraction {
                    // Beyond 38 significant digits: keep the magnitude, drop the digit.
                    decimal.exponent += 1;
                }
            }
            b'.' if !fraction => fraction = true,
            _ => break,
        }
        at += 1;
    }
    if !any_digit {
        let word_len = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let word = &bytes[at..at + word_len];
        let kind = if ["nan", "inf", "infinity"]
            .iter()
            .any(|name| word.eq_ignore_ascii_case(name.as_bytes()))
        {
            ParseSecondsErrorKind::NotFinite
        } else {
            ParseSecondsErrorKind::InvalidNumber
        };
        return Err(ParseSecondsError::at(kind, at));
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        let negative = match bytes.get(at) {
            Some(b'-') => {
                at += 1;
                true
            }
            Some(b'+') => {
                at += 1;
                false
            }
            _ => false,
        };
        let mut exponent: i64 = 0;
        let digits_start = at;
        while let Some(byte @ b'0'..=b'9') = bytes.get(at) {
            // Saturate: anything this large is out of range (or zero) anyway.
            exponent = (exponent * 10 + i64::from(byte - b'0')).min(1_000_000);
            at += 1;
        }
        if at == digits_start {
            return Err(ParseSecondsError::at(
                ParseSecondsErrorKind::InvalidNumber,
                at,
            ));
        }
        decimal.exponent += if negative { -exponent } else { exponent };
    }
    Ok((decimal, at))
}

/// `digits × 10^exponent` seconds, rounded to the nearest nanosecond; `None` if too
/// large.
fn decimal_to_seconds(decimal: &Decimal) -> Option<Seconds> {
    if decimal.digits == 0 {
        return Some(Seconds::ZERO);
    }
    let shift = decimal.exponent + 9;
    let nanos = if shift >= 0 {
        let scale = 10_u128.checked_pow(u32::try_from(shift).ok()?)?;
        decimal.digits.checked_mul(scale)?
    } else {
        match u32::try_from(-shift)
            .ok()
            .and_then(|s| 10_u128.checked_pow(s))
        {
            Some(divisor) => {
                let (quotient, remainder) = (decimal.digits / divisor, decimal.digits % divisor);
                // Round half up; `remainder < divisor <= 10^38`, so doubling cannot overflow.
                quotient + u128::from(remainder * 2 >= divisor)
            }
            // Below 10^-38 of a nanosecond per unit of `digits`: rounds to zero.
            None => 0,
        }
    };
    (nanos <= MAX_NANOS).then(|| Seconds(duration_from_nanos(nanos)))
}

/// A duration from nanoseconds; the caller ensures `nanos <= MAX_NANOS`.
fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = (nanos / NANOS_PER_SEC) as u64;
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use alloc::string::ToString;
    use ParseSecondsErrorKind::*;

    fn secs(s: &str) -> Result<Seconds, (ParseSecondsErrorKind, usize)> {
        s.parse::<Seconds>().map_err(|e| (e.kind(), e.position()))
    }

    #[test]
    fn mode_examples() {
        assert_eq!(secs("1.203"), Ok(Seconds(Duration::from_millis(1203))));
        assert_eq!(secs("10/s"), Ok(Seconds::from_millis(100)));
        assert_eq!(secs("100/m"), Ok(Seconds::from_millis(600)));
        assert_eq!(secs("100/h"), Ok(Seconds::from_secs(36)));
        assert_eq!(secs("100/d"), Ok(Seconds::from_secs(864)));
        assert_eq!(secs("10.3/h"), Ok(Seconds(Duration::new(349, 514_563_107))));
        assert_eq!(rate("10/s"), Ok(10.0));
        assert_eq!(rate("10.3/h"), Ok(0.0028611111111111116));
        assert_eq!(rate("100/h"), Ok(0.02777777777777778));
        assert_eq!(rate("100/d"), Ok(0.0011574074074074076));
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(secs("  2 "), Ok(Seconds::from_secs(2)));
        assert_eq!(secs("+2"), Ok(Seconds::from_secs(2)));
        assert_eq!(secs(".5"), Ok(Seconds::from_millis(500)));
        assert_eq!(secs("5."), Ok(Seconds::from_secs(5)));
        assert_eq!(secs("1e3"), Ok(Seconds::from_secs(1000)));
        assert_eq!(secs("1.5E-3"), Ok(Seconds(Duration::from_micros(1500))));
        assert_eq!(secs("0"), Ok(Seconds::ZERO));
        assert_eq!(
            secs("0.0000000005"),
            Ok(Seconds(Duration::from_nanos(1))),
            "rounds half up"
        );
        assert_eq!(secs("0.0000000004"), Ok(Seconds::ZERO));
        assert_eq!(
            secs("0.9999999999"),
            Ok(Seconds::from_secs(1)),
            "carries into seconds"
        );
        assert_eq!(secs("1e-400"), Ok(Seconds::ZERO));
        assert_eq!(secs("18446744073709551615.999999999"), Ok(Seconds::MAX));
        assert_eq!(secs("2.5/s"), Ok(Seconds::from_millis(400)));
        assert_eq!(secs(" 4/m "), Ok(Seconds::from_secs(15)));
    }

    #[test]
    fn rejected_forms_name_the_problem_and_place() {
        assert_eq!(secs(""), Err((Empty, 0)));
        assert_eq!(secs("   "), Err((Empty, 3)));
        assert_eq!(secs("10/x"), Err((InvalidUnit, 3)));
        assert_eq!(secs("10/"), Err((InvalidUnit, 3)));
        assert_eq!(secs("10//s"), Err((InvalidUnit, 3)));
        assert_eq!(secs("10/sec"), Err((UnexpectedCharacter, 4)));
        assert_eq!(secs("-1/s"), Err((Negative, 0)));
        assert_eq!(secs(" -1"), Err((Negative, 1)));
        assert_eq!(secs("NaN"), Err((NotFinite, 0)));
        assert_eq!(secs("inf"), Err((NotFinite, 0)));
        assert_eq!(secs("+Infinity/s"), Err((NotFinite, 1)));
        assert_eq!(secs("1e400"), Err((OutOfRange, 0)));
        assert_eq!(secs("18446744073709551616"), Err((OutOfRange, 0)));
        assert_eq!(secs("1e400/s"), Err((OutOfRange, 0)));
        assert_eq!(secs("1e-400/s"), Err((OutOfRange, 0)));
        assert_eq!(secs("1e-30/s"), Err((OutOfRange, 0)));
        assert_eq!(secs("0/s"), Err((ZeroRate, 0)));
        assert_eq!(secs("0.0/h"), Err((ZeroRate, 0)));
        assert_eq!(secs("1e"), Err((InvalidNumber, 2)));
        assert_eq!(secs("1e+/s"), Err((InvalidNumber, 3)));
        assert_eq!(secs("."), Err((InvalidNumber, 1)));
        assert_eq!(secs("abc"), Err((InvalidNumber, 0)));
        assert_eq!(secs("1.2.3"), Err((UnexpectedCharacter, 3)));
        assert_eq!(secs("1 2"), Err((UnexpectedCharacter, 2)));
        assert_eq!(secs("5s"), Err((UnexpectedCharacter, 1)));
        assert_eq!(secs("1_000"), Err((UnexpectedCharacter, 1)));
        assert_eq!(secs("é"), Err((InvalidNumber, 0)));
    }

    #[test]
    fn error_messages_say_what_and_where() {
        let error = "10/x".parse::<Seconds>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid duration or rate at byte 3: expected a rate unit (`s`, `m`, `h` or `d`) after `/`"
        );
        let error = "".parse::<Seconds>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid duration or rate at byte 0: empty input: expected seconds (`1.5`) or a rate (`10/s`)"
        );
    }

    #[test]
    fn display_is_exact_and_minimal() {
        assert_eq!(Seconds::ZERO.to_string(), "0");
        assert_eq!(Seconds::from_secs(5).to_string(), "5");
        assert_eq!(Seconds::from_millis(100).to_string(), "0.1");
        assert_eq!(Seconds(Duration::new(1, 1)).to_string(), "1.000000001");
        assert_eq!(Seconds::MAX.to_string(), "18446744073709551615.999999999");
    }

    #[test]
    fn rates() {
        let rate: Rate = "10".parse().unwrap();
        assert_eq!((rate.events(), rate.unit()), (10.0, RateUnit::Second));
        assert_eq!(" 3/m".parse::<Rate>().unwrap().to_string(), "3/m");
        assert_eq!(
            Rate::new(f64::NAN, RateUnit::Day).unwrap_err().kind(),
            NotFinite
        );
        assert_eq!(Rate::new(-1.0, RateUnit::Day).unwrap_err().kind(), Negative);
        assert_eq!(Rate::new(0.0, RateUnit::Day).unwrap_err().kind(), ZeroRate);
        assert_eq!(
            Rate::new(1e-300, RateUnit::Day).unwrap_err().kind(),
            OutOfRange
        );
        assert_eq!("0".parse::<Rate>().unwrap_err().kind(), ZeroRate);
        assert_eq!(RateUnit::Hour.as_duration(), Duration::from_secs(3600));
        assert_eq!(
            Rate::new(1e30, RateUnit::Second).unwrap().interval(),
            Seconds::ZERO
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(
            want_seconds(Seconds::from_secs(1)),
            Ok(Seconds::from_secs(1))
        );
        assert_eq!(want_seconds(0.5_f32), Ok(Seconds::from_millis(500)));
        assert_eq!(want_seconds(f64::INFINITY).unwrap_err().kind(), NotFinite);
        assert_eq!(want_seconds(1e30).unwrap_err().kind(), OutOfRange);
        assert_eq!(want_seconds(-3_i64).unwrap_err().kind(), Negative);
        assert_eq!(want_seconds(7_usize), Ok(Seconds::from_secs(7)));
        assert_eq!(want_seconds(&"9".to_string()), Ok(Seconds::from_secs(9)));
        let rate: Rate = "4/s".parse().unwrap();
        assert_eq!(want_seconds(rate), Ok(Seconds::from_millis(250)));
        let duration: Duration = Seconds::from_secs(2).into();
        assert_eq!(duration, Duration::from_secs(2));
        assert_eq!(Seconds::from(duration).as_secs_f64(), 2.0);
    }
}

#[cfg(all(test, not(loom), not(miri)))]
mod proptests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    proptest! {
        /// Every `Seconds` prints as a string that parses back to it, exactly.
        #[test]
        fn seconds_round_trip(secs in any::<u64>(), nanos in 0..1_000_000_000_u32) {
            let value = Seconds(Duration::new(secs, nanos));
            prop_assert_eq!(value.to_string().parse::<Seconds>(), Ok(value));
        }

        /// Every `Rate` prints as a string that parses back to the same rate and interval.
        #[test]
        fn rate_round_trip(events in 1e-6_f64..1e12, unit in 0..4_u8) {
            let unit = [RateUnit::Second, RateUnit::Minute, RateUnit::Hour, RateUnit::Day][usize::from(unit)];
            let rate = Rate::new(events, unit).unwrap();
            let parsed: Rate = rate.to_string().parse().unwrap();
            prop_assert_eq!(parsed, rate);
            prop_assert_eq!(parsed.interval(), rate.interval());
            prop_assert_eq!(rate.to_string().parse::<Seconds>(), Ok(rate.interval()));
        }

        /// Plain decimals agree with core's float parser to within a nanosecond.
        #[test]
        fn decimals_match_float_parsing(int in 0_u64..1_000_000, frac in 0_u64..1_000_000_000_000) {
            let text = std::format!("{int}.{frac:012}");
            let exact = text.parse::<Seconds>().unwrap().as_duration();
            let float = Duration::from_secs_f64(text.parse::<f64>().unwrap());
            let diff = exact.abs_diff(float);
            prop_assert!(diff <= Duration::from_nanos(1), "{text}: {exact:?} vs {float:?}");
        }

        /// Arbitrary input never panics, and an error's position is inside the input.
        #[test]
        fn arbitrary_input_never_panics(text in "\\PC{0,24}") {
            match text.parse::<Seconds>() {
                Ok(value) => prop_assert_eq!(value.to_string().parse::<Seconds>(), Ok(value)),
                Err(error) => prop_assert!(error.position() <= text.len()),
            }
            let _ = text.parse::<Rate>();
        }

        /// Strings built from the grammar's own alphabet never panic either.
        #[test]
        fn grammar_soup_never_panics(text in "[0-9+\\-.eE/smhdx ]{0,16}") {
            if let Err(error) = text.parse::<Seconds>() {
                prop_assert!(error.position() <= text.len());
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }
}
