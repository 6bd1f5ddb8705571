//! [`humanize_seconds`]: a span of time as people read it, `"1.50 minutes"`, with mode's
//! strings and rounding (mode's `humanize_seconds` and `humanize_seconds_ago`).
//!
//! The span is rounded to hundredths of a second, then shown in the largest unit it
//! reaches (days, hours, minutes, seconds) with two decimals. Less than a second reads as
//! `"now"`, or, with [`with_microseconds`](Humanize::with_microseconds), as
//! `"0.36 seconds"`. The input is a [`Seconds`] (or anything that converts into one: a
//! [`Duration`](crate::time::Duration), a [`Rate`](super::Rate)'s interval), so it is
//! never negative or NaN; a float goes through
//! [`Seconds::try_from_secs_f64`], which says so when it is.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;

use super::seconds::Seconds;

/// The units, largest first: name and length in seconds.
const UNITS: [(&str, f64); 4] = [
    ("day", 86_400.0),
    ("hour", 3_600.0),
    ("minute", 60.0),
    ("second", 1.0),
];

/// `secs` as people read it: `"4.00 days"`, `"1.00 hour"`, `"1.50 minutes"`,
/// `"4.36 seconds"`, or `"now"` under a second (mode's `humanize_seconds` with its
/// defaults; [`Humanize`] sets a prefix, a suffix, the word for "now", or shows fractions
/// of a second).
///
/// ```
/// use mode::time::Duration;
/// use mode::utils::{humanize_seconds, Seconds};
///
/// assert_eq!(humanize_seconds(Duration::from_secs(4 * 86_400)), "4.00 days");
/// assert_eq!(humanize_seconds(Duration::from_secs(3_600)), "1.00 hour");
/// assert_eq!(humanize_seconds(Duration::from_secs(90)), "1.50 minutes");
/// assert_eq!(humanize_seconds(Seconds::try_from_secs_f64(4.3567631221)?), "4.36 seconds");
/// assert_eq!(humanize_seconds(Duration::from_millis(360)), "now");
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
#[must_use]
pub fn humanize_seconds(secs: impl Into<Seconds>) -> String {
    Humanize::new().format(secs)
}

/// `secs` ago: `"3.33 seconds ago"`, or `"just now"` under a second (mode's
/// `humanize_seconds_ago`; [`Humanize::ago`] with its defaults).
///
/// ```
/// use mode::time::Duration;
/// use mode::utils::humanize_seconds_ago;
///
/// assert_eq!(humanize_seconds_ago(Duration::from_secs(120)), "2.00 minutes ago");
/// assert_eq!(humanize_seconds_ago(Duration::from_millis(200)), "just now");
/// ```
#[must_use]
pub fn humanize_seconds_ago(secs: impl Into<Seconds>) -> String {
    Humanize::ago().format(secs)
}

/// How [`humanize_seconds`] words a span: mode's `prefix`, `suffix`, `sep`, `now` and
/// `microseconds` parameters.
///
/// The output is `{prefix}{sep}{number} {unit}{suffix}`, or the word for "now" alone
/// (no prefix, no suffix) for a span under a second (under 0.005 s with
/// [`with_microseconds`](Self::with_microseconds)).
///
/// ```
/// use mode::time::Duration;
/// use mode::utils::Humanize;
///
/// let eta = Humanize::new().with_prefix("in ").with_now("any moment");
/// assert_eq!(eta.format(Duration::from_secs(7_200)), "in 2.00 hours");
/// assert_eq!(eta.format(Duration::ZERO), "any moment");
///
/// let precise = Humanize::new().with_microseconds(true);
/// assert_eq!(precise.format(Duration::from_millis(360)), "0.36 seconds");
/// ```
#[derive(Debug, Clone)]
pub struct Humanize {
    prefix: Cow<'static, str>,
    suffix: Cow<'static, str>,
    sep: Cow<'static, str>,
    now: Cow<'static, str>,
    microseconds: bool,
}

impl Default for Humanize {
    fn default() -> Self {
        Humanize::new()
    }
}

impl Humanize {
    /// mode's defaults: no prefix, suffix or separator, `"now"` under a second.
    #[must_use]
    pub const fn new() -> Self {
        Humanize {
            prefix: Cow::Borrowed(""),
            suffix: Cow::Borrowed(""),
            sep: Cow::Borrowed(""),
            now: Cow::Borrowed("now"),
            microseconds: false,
        }
    }

    /// mode's `humanize_seconds_ago` defaults: the suffix `" ago"`, `"just now"` under a
    /// second.
    #[must_use]
    pub const fn ago() -> Self {
        Humanize {
            prefix: Cow::Borrowed(""),
            suffix: Cow::Borrowed(" ago"),
            sep: Cow::Borrowed(""),
            now: Cow::Borrowed("just now"),
            microseconds: false,
        }
    }

    /// Written before the number, e.g. `"in "` (it brings its own space); not before the
    /// word for "now".
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Written after the unit, e.g. `" ago"`; not after the word for "now".
    #[must_use]
    pub fn with_suffix(mut self, suffix: impl Into<Cow<'static, str>>) -> Self {
        self.suffix = suffix.into();
        self
    }

    /// Written between the prefix and the number.
    #[must_use]
    pub fn with_sep(mut self, sep: impl Into<Cow<'static, str>>) -> Self {
        self.sep = sep.into();
        self
    }

    /// The word for a span under a second (by default `"now"`).
    #[must_use]
    pub fn with_now(mut self, now: impl Into<Cow<'static, str>>) -> Self {
        self.now = now.into();
        self
    }

    /// Shows a span under a second as seconds with two decimals (`"0.36 seconds"`)
    /// instead of the word for "now", down to 0.005 s (which rounds to `"0.01
    /// seconds"`).
    #[must_use]
    pub fn with_microseconds(mut self, microseconds: bool) -> Self {
        self.microseconds = microseconds;
        self
    }

    /// `secs` in words.
    ///
    /// ```
    /// use mode::time::Duration;
    /// use mode::utils::Humanize;
    ///
    /// let words = Humanize::new().with_prefix("about ");
    /// assert_eq!(words.format(Duration::from_secs(4)), "about 4.00 seconds");
    /// assert_eq!(words.format(Duration::from_secs(1)), "about 1.00 second");
    /// ```
    #[must_use]
    pub fn format(&self, secs: impl Into<Seconds>) -> String {
        // Rounded to hundredths first, through the same decimal text as mode
        // (`float(format(secs, ".2f"))`), so that the floats, and the strings, are identical.
        let secs = secs.into().as_secs_f64();
        let secs: f64 = format!("{secs:.2}").parse().unwrap_or(secs);
        let (prefix, sep, suffix) = (&*self.prefix, &*self.sep, &*self.suffix);
        for (unit, length) in UNITS {
            if secs >= length {
                let count = format!("{:.2}", secs / length);
                // Singular only for exactly one: mode writes "1.50 minute".
                let plural = if count == "1.00" { "" } else { "s" };
                return format!("{prefix}{sep}{count} {unit}{plural}{suffix}");
            }
        }
        if self.microseconds && secs > 0.0 {
            return format!("{prefix}{sep}{secs:.2} seconds{suffix}");
        }
        String::from(&*self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn secs(value: f64) -> Seconds {
        Seconds::try_from_secs_f64(value).unwrap()
    }

    /// mode's own test cases (`tests/functional/utils/test_times.py`).
    #[test]
    fn modes_cases() {
        let cases: [(f64, bool, Option<&'static str>, &str); 15] = [
            (4.0 * 86_400.0, false, None, "4.00 days"),
            (86_400.0, false, None, "1.00 day"),
            (4.0 * 3_600.0, false, None, "4.00 hours"),
            (3_600.0, false, None, "1.00 hour"),
            (240.0, false, None, "4.00 minutes"),
            (60.0, false, None, "1.00 minute"),
            (4.0, false, None, "4.00 seconds"),
            (1.0, false, None, "1.00 second"),
            (4.3567631221, false, None, "4.36 seconds"),
            (4.3567631221, true, None, "4.36 seconds"),
            (0.36, false, None, "now"),
            (0.36, false, Some("0 seconds"), "0 seconds"),
            (0.36, true, None, "0.36 seconds"),
            (0.0, false, None, "now"),
            (0.0, false, Some("0 seconds"), "0 seconds"),
        ];
        for (value, microseconds, now, expected) in cases {
            let mut words = Humanize::new().with_microseconds(microseconds);
            if let Some(now) = now {
                words = words.with_now(now);
            }
            assert_eq!(words.format(secs(value)), expected, "{value}");
        }
        assert_eq!(
            Humanize::new().with_prefix("about ").format(secs(4.0)),
            "about 4.00 seconds"
        );
    }

    #[test]
    fn rounding_follows_the_two_decimal_text() {
        // 59.996 s rounds to 60.00 first, so it reads as a minute, as in mode.
        assert_eq!(humanize_seconds(secs(59.996)), "1.00 minute");
        assert_eq!(humanize_seconds(secs(59.994)), "59.99 seconds");
        // 0.996 rounds up to a second; 0.995 is a little under 0.995 as a float, as in
        // mode.
        assert_eq!(humanize_seconds(secs(0.996)), "1.00 second");
        assert_eq!(humanize_seconds(secs(0.995)), "now");
        // A half is rounded as the float it is: 0.125 is exact, and goes to even.
        let precise = Humanize::new().with_microseconds(true);
        assert_eq!(precise.format(secs(0.125)), "0.12 seconds");
        assert_eq!(precise.format(secs(0.004)), "now");
        assert_eq!(precise.format(secs(0.005)), "0.01 seconds");
    }

    #[test]
    fn plural_unless_exactly_one() {
        assert_eq!(humanize_seconds(Duration::from_secs(90)), "1.50 minutes");
        assert_eq!(humanize_seconds(secs(119.9)), "2.00 minutes");
        assert_eq!(humanize_seconds(secs(60.1)), "1.00 minute");
        assert_eq!(
            humanize_seconds(Duration::from_secs(2 * 86_400)),
            "2.00 days"
        );
        // Days are the largest unit.
        assert_eq!(
            humanize_seconds(Duration::from_secs(365 * 86_400)),
            "365.00 days"
        );
    }

    #[test]
    fn prefix_sep_suffix_and_now() {
        let words = Humanize::new()
            .with_prefix("in")
            .with_sep(" ")
            .with_suffix("!")
            .with_now("right now");
        assert_eq!(words.format(Duration::from_secs(30)), "in 30.00 seconds!");
        assert_eq!(words.format(Duration::ZERO), "right now");
        assert_eq!(
            humanize_seconds_ago(Duration::from_secs(10)),
            "10.00 seconds ago"
        );
        assert_eq!(humanize_seconds_ago(Duration::ZERO), "just now");
        assert_eq!(
            Humanize::ago()
                .with_microseconds(true)
                .format(Duration::from_millis(500)),
            "0.50 seconds ago"
        );
    }

    #[test]
    fn extremes() {
        assert_eq!(humanize_seconds(Seconds::MAX), "213503982334601.28 days");
        assert_eq!(humanize_seconds(Duration::from_nanos(1)), "now");
    }
}
