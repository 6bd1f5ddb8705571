//! Drift-free periodic schedules.
//!
//! A periodic timer's deadlines are `start + k·interval`, computed here in core, never
//! `now + interval`: however long the run and however late a wake-up, the k-th tick is due
//! at the same instant. What happens when a tick is late is a stated policy,
//! [`MissedTickBehavior`].

use alloc::borrow::Cow;

use crate::time::{Duration, Instant};

/// What a periodic timer does when its callback (or a late wake-up) overran one or more
/// deadlines.
///
/// Timeline for an interval of 10 ms whose tick at 10 ms took 25 ms (callback ends at 35):
///
/// - `Skip` (default): ticks due at 20 and 30 are skipped; the next fires at 40, still on the
///   original grid.
/// - `Burst`: the ticks due at 20 and 30 fire back to back at 35, then 40, 50, …
/// - `Delay`: the next tick fires at 45 (35 + 10); the grid moves.
///
/// An overrun is reported as a [`TimerOverlap`](crate::events::LifecycleEvent::TimerOverlap)
/// event (a rate-limited warning in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MissedTickBehavior {
    /// Skip missed ticks and stay on the original grid.
    #[default]
    Skip,
    /// Fire missed ticks immediately, one after the other.
    Burst,
    /// Restart the grid from the moment the late tick finished.
    Delay,
}

/// How a periodic timer runs ([`ServiceHandle::timer_with`](crate::ServiceHandle::timer_with),
/// [`ServiceHandle::ticks_with`](crate::ServiceHandle::ticks_with)): what it does with missed
/// ticks, whether its first tick comes at once, and its name in log lines and task listings.
///
/// ```
/// use mode::{MissedTickBehavior, TimerOptions};
///
/// let options = TimerOptions::new()
///     .with_missed_ticks(MissedTickBehavior::Burst)
///     .with_first_tick_at_once()
///     .with_name("flush");
/// // A behavior alone converts into options.
/// let _: TimerOptions = MissedTickBehavior::Delay.into();
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TimerOptions {
    pub(crate) missed_ticks: MissedTickBehavior,
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) first_tick_at_once: bool,
}

impl TimerOptions {
    /// Missed ticks skipped, the first tick one interval after the start, named after the
    /// callback's type (a [`Ticks`](crate::Ticks) stream: after where it was made).
    #[must_use]
    pub fn new() -> Self {
        TimerOptions::default()
    }

    /// What the timer does with ticks it missed.
    #[must_use]
    pub fn with_missed_ticks(mut self, behavior: MissedTickBehavior) -> Self {
        self.missed_ticks = behavior;
        self
    }

    /// The timer's name, instead of its callback's type.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The first tick comes at once, when the timer starts, rather than one interval later
    /// (mode's `exec_first`). The later ticks stay on the same grid, `start + k·interval`:
    /// with an interval of 10 s, ticks come at 0, 10, 20, … s instead of 10, 20, … s.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::time::Duration;
    /// use mode::{BoxResult, Context, Service, TimerOptions, Tree};
    ///
    /// struct Refresh;
    ///
    /// impl Service for Refresh {
    ///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let at_once = TimerOptions::new().with_first_tick_at_once();
    ///         cx.timer_with(Duration::from_secs(10), at_once, |me| async move {
    ///             let elapsed = me.now() - me.started_at().unwrap();
    ///             mode::info!(me, "refreshing after {elapsed:?}");
    ///             if elapsed >= Duration::from_secs(20) {
    ///                 me.request_stop(); // the third tick
    ///             }
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(Tree::new(Refresh, rt.clone(), rt.clone()).run()).unwrap();
    /// assert_eq!(rt.now().as_duration(), Duration::from_secs(20));
    /// ```
    #[must_use]
    pub fn with_first_tick_at_once(mut self) -> Self {
        self.first_tick_at_once = true;
        self
    }
}

impl From<MissedTickBehavior> for TimerOptions {
    fn from(behavior: MissedTickBehavior) -> Self {
        TimerOptions::new().with_missed_ticks(behavior)
    }
}

/// The deadlines of one periodic timer.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    deadline: Instant,
    interval: Duration,
    behavior: MissedTickBehavior,
}

/// The outcome of moving a schedule past a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Advance {
    /// When the next tick is due.
    pub(crate) next: Instant,
    /// Ticks that will never fire.
    pub(crate) skipped: u64,
    /// How far `now` was past the next nominal deadline (zero if on time).
    pub(crate) late_by: Option<Duration>,
}

impl Schedule {
    /// A schedule whose first tick is due at `first`. `interval` must not be zero.
    pub(crate) fn new(first: Instant, interval: Duration, behavior: MissedTickBehavior) -> Self {
        debug_assert!(!interval.is_zero());
        Schedule {
            deadline: first,
            interval,
            behavior,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Moves past the tick due at [`deadline`](Self::deadline), given the time `now` after
    /// its callback ran.
    pub(crate) fn advance(&mut self, now: Instant) -> Advance {
        let due = self.deadline + self.interval;
        if now < due {
            self.deadline = due;
            return Advance {
                next: due,
                skipped: 0,
                late_by: None,
            };
        }
        let late_by = now - due;
        let (next, skipped) = match self.behavior {
            MissedTickBehavior::Skip => {
                // In u64 nanoseconds, the clock's own range: a u128 division would link
                // hundreds of bytes of arithmetic into a firmware. `late_by` always fits;
                // an interval that does not is longer than any lateness, one tick missed.
                let late = u64::try_from(late_by.as_nanos()).unwrap_or(u64::MAX);
                let interval = u64::try_from(self.interval.as_nanos()).ok();
                let missed =
                    interval.map_or(1, |interval| (late / interval.max(1)).saturating_add(1));
                let step = interval
                    .and_then(|interval| interval.checked_mul(missed))
                    .unwrap_or(u64::MAX);
                (due + Duration::from_nanos(step), missed)
            }
            MissedTickBehavior::Burst => (due, 0),
            MissedTickBehavior::Delay => (now + self.interval, 0),
        };
        self.deadline = next;
        Advance {
            next,
            skipped,
            late_by: Some(late_by),
        }
    }
}

/// How often a timer may log that it overran its interval (or, for cron, skipped times).
pub(crate) const OVERLAP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Lets one warning through per `every`.
#[derive(Debug, Clone)]
pub(crate) struct WarnLimiter {
    every: Duration,
    last: Option<Instant>,
}

impl WarnLimiter {
    pub(crate) const fn new(every: Duration) -> Self {
        WarnLimiter { every, last: None }
    }

    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        match self.last {
            Some(last) if now - last < self.every => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn at(n: u64) -> Instant {
        Instant::ZERO + ms(n)
    }

    #[test]
    fn on_time_ticks_stay_on_the_grid() {
        let mut s = Schedule::new(at(10), ms(10), MissedTickBehavior::Skip);
        for k in 1..=10_000u64 {
            // Each callback finishes a little after its deadline, as real ticks do.
            let a = s.advance(s.deadline() + Duration::from_micros(300));
            assert_eq!(a.next, at(10 + 10 * k));
            assert_eq!(a.skipped, 0);
        }
    }

    #[test]
    fn skip_jumps_to_the_next_grid_point() {
        let mut s = Schedule::new(at(10), ms(10), MissedTickBehavior::Skip);
        let a = s.advance(at(35));
        assert_eq!(a.next, at(40));
        assert_eq!(a.skipped, 2);
        assert_eq!(a.late_by, Some(ms(15)));
        // Landing exactly on a grid point skips it too: it is already past.
        let a = s.advance(at(50));
        assert_eq!(a.next, at(60));
        assert_eq!(a.skipped, 1);
    }

    #[test]
    fn burst_and_delay() {
        let mut s = Schedule::new(at(10), ms(10), MissedTickBehavior::Burst);
        assert_eq!(s.advance(at(35)).next, at(20));
        assert_eq!(s.advance(at(35)).next, at(30));
        assert_eq!(s.advance(at(35)).next, at(40));
        let mut s = Schedule::new(at(10), ms(10), MissedTickBehavior::Delay);
        assert_eq!(s.advance(at(35)).next, at(45));
        assert_eq!(s.advance(at(46)).next, at(55));
    }

    #[test]
    fn warn_limiter_lets_one_through_per_window() {
        let mut w = WarnLimiter::new(ms(1000));
        assert!(w.allow(at(0)));
        assert!(!w.allow(at(999)));
        assert!(w.allow(at(1000)));
        assert!(!w.allow(at(1500)));
    }
}
