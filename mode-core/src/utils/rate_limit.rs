//! [`RateLimit`]: a token bucket that needs no clock.
//!
//! The caller passes the current [`Instant`] (from its runtime's
//! [`Timer`]) to every check, so the limiter works on any runtime,
//! in virtual time, and without `std`.
//!
//! The bucket is kept as one number, the *theoretical arrival time* of the next event
//! (the generic cell rate algorithm, equivalent to a token bucket): it holds `burst`
//! tokens and gains one every [`interval`](RateLimit::interval). `"100/s"` with the
//! default burst allows 100 events at once, then one every 10 ms; with a burst of 1,
//! events are at least 10 ms apart.
//!
//! Compared with mode's `rate_limit(rate, over)`, whose bucket holds `over` tokens
//! (one, by default), the default burst here is the rate's own count: "100 per second"
//! admits 100 events in a second.
//!
//! To wait for a token rather than be refused, [`RateLimit::acquire`] takes a clock to
//! read and sleep on ([`RateClock`]): a service's [`ServiceHandle`](crate::ServiceHandle),
//! whose clock is its tree's (so the wait works on every executor and in virtual time, and
//! ends early when the service is asked to stop), or a [`Timer`] outside a tree.

use core::convert::Infallible;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::seconds::{ParseSecondsError, Rate, Seconds};
use crate::platform::sync::Mutex;
use crate::runtime::Timer;
use crate::time::{Duration, Instant};

/// A token-bucket rate limiter driven by caller-supplied instants.
///
/// `Send + Sync`: share it between tasks by reference or in an `Arc`.
///
/// ```
/// use mode::time::{Duration, Instant};
/// use mode::utils::RateLimit;
///
/// let limit = RateLimit::new("2/s")?; // a burst of 2, then one every 500 ms
/// let t0 = Instant::from_nanos(0);
/// assert!(limit.check(t0));
/// assert!(limit.check(t0));
/// assert!(!limit.check(t0));
/// assert_eq!(limit.time_until_ready(t0), Duration::from_millis(500));
/// assert!(limit.check(t0 + Duration::from_millis(500)));
/// # Ok::<(), mode::utils::ParseSecondsError>(())
/// ```
pub struct RateLimit {
    /// Time between tokens, in nanoseconds.
    interval: u64,
    /// How far ahead of `now` the arrival time may run: `(burst - 1) × interval`.
    tolerance: u64,
    burst: u32,
    /// The theoretical arrival time of the next event, in nanoseconds on the caller's
    /// clock. A mutex rather than an atomic: many targets lack 64-bit atomics.
    arrival: Mutex<u64>,
}

impl RateLimit {
    /// A limiter for `rate` (a [`Rate`] or a rate string such as `"100/s"`), with a
    /// burst of the rate's count (at least 1).
    ///
    /// # Errors
    ///
    /// If `rate` is a string that is not a valid rate.
    ///
    /// ```
    /// use mode::utils::{ParseSecondsErrorKind, RateLimit};
    ///
    /// assert_eq!(RateLimit::new("100/m")?.burst(), 100);
    /// assert_eq!(RateLimit::new("10/x").unwrap_err().kind(), ParseSecondsErrorKind::InvalidUnit);
    /// # Ok::<(), mode::utils::ParseSecondsError>(())
    /// ```
    pub fn new<R>(rate: R) -> Result<RateLimit, ParseSecondsError>
    where
        R: TryInto<Rate>,
        R::Error: Into<ParseSecondsError>,
    {
        rate.try_into()
            .map(RateLimit::from_rate)
            .map_err(Into::into)
    }

    /// A limiter for `rate`, with a burst of the rate's count (at least 1).
    #[must_use]
    pub fn from_rate(rate: Rate) -> RateLimit {
        // `as` saturates: a count beyond u32::MAX is an unlimited burst in practice.
        let burst = (rate.events() as u32).max(1);
        RateLimit::with_interval(rate.interval(), burst)
    }

    /// A limiter admitting `burst` events at once, then one per `interval`.
    ///
    /// A `burst` of 0 is taken as 1. A zero interval admits everything.
    ///
    /// ```
    /// use mode::time::{Duration, Instant};
    /// use mode::utils::{RateLimit, Seconds};
    ///
    /// let limit = RateLimit::with_interval(Seconds::from_secs(1), 1);
    /// let t0 = Instant::from_nanos(0);
    /// assert!(limit.check(t0));
    /// assert!(!limit.check(t0 + Duration::from_millis(999)));
    /// assert!(limit.check(t0 + Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn with_interval(interval: Seconds, burst: u32) -> RateLimit {
        let burst = burst.max(1);
        let interval = u64::try_from(interval.as_duration().as_nanos()).unwrap_or(u64::MAX);
        RateLimit {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst - 1)),
            burst,
            arrival: Mutex::new(0),
        }
    }

    /// The same limiter with another burst size (0 is taken as 1).
    ///
    /// ```
    /// use mode::time::Instant;
    /// use mode::utils::RateLimit;
    ///
    /// let limit = RateLimit::new("100/s")?.with_burst(1);
    /// assert!(limit.check(Instant::ZERO));
    /// assert!(!limit.check(Instant::ZERO));
    /// # Ok::<(), mode::utils::ParseSecondsError>(())
    /// ```
    #[must_use]
    pub fn with_burst(self, burst: u32) -> RateLimit {
        RateLimit::with_interval(self.interval(), burst)
    }

    /// Takes a token if one is available at `now`; returns whether the event may happen.
    pub fn check(&self, now: Instant) -> bool {
        self.try_acquire(now).is_ok()
    }

    /// Takes a token if one is available at `now`; otherwise returns how long until one
    /// is (and takes nothing).
    ///
    /// ```
    /// use mode::time::{Duration, Instant};
    /// use mode::utils::RateLimit;
    ///
    /// let limit = RateLimit::new("1/m")?;
    /// assert_eq!(limit.try_acquire(Instant::ZERO), Ok(()));
    /// assert_eq!(limit.try_acquire(Instant::ZERO), Err(Duration::from_secs(60)));
    /// # Ok::<(), mode::utils::ParseSecondsError>(())
    /// ```
    pub fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        let now = now.as_nanos();
        self.arrival.with(|arrival| {
            let wait = self.wait(*arrival, now);
            if wait == 0 {
                *arrival = (*arrival).max(now).saturating_add(self.interval);
                Ok(())
            } else {
                Err(Duration::from_nanos(wait))
            }
        })
    }

    /// How long from `now` until a token is available (zero if one is), without taking
    /// it.
    #[must_use]
    pub fn time_until_ready(&self, now: Instant) -> Duration {
        let now = now.as_nanos();
        Duration::from_nanos(self.arrival.with(|arrival| self.wait(*arrival, now)))
    }

    /// Waits until a token is available on `clock`, then takes it (mode's
    /// `async with rate_limit(..)`).
    ///
    /// `clock` is a [`RateClock`]: in a service, its [`ServiceHandle`](crate::ServiceHandle)
    /// (the tree's clock; the wait ends early with [`Stopped`](crate::Stopped) when the
    /// service is asked to stop, so `?` in a task makes that a clean exit), or a
    /// [`Timer`] (an adapter's, or the virtual-time runtime of `mode::testing`), which never
    /// fails. Waiters are
    /// not queued: when several wait, whichever polls first once a token is free takes it.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::time::Duration;
    /// use mode::utils::RateLimit;
    /// use mode::{BoxResult, Context, Service, Tree};
    /// use std::sync::Arc;
    ///
    /// struct Sender(Arc<RateLimit>);
    ///
    /// impl Service for Sender {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         let limit = self.0.clone();
    ///         cx.spawn_with(|me| async move {
    ///             for n in 0..5 {
    ///                 limit.acquire(&me).await?; // returns early if `me` is asked to stop
    ///                 mode::info!(me, "sending message {n}");
    ///             }
    ///             me.request_stop();
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// // Two at once, then one every 500 ms: the fifth goes out at 1.5 s.
    /// let limit = Arc::new(RateLimit::new("2/s")?);
    /// let rt = VirtualRuntime::new();
    /// rt.block_on(Tree::new(Sender(limit), rt.clone(), rt.clone()).run())?;
    /// assert_eq!(rt.now().as_duration(), Duration::from_millis(1500));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `clock`'s error if the wait ended early: [`Stopped`](crate::Stopped) for a service's
    /// handle, none ([`Infallible`]) for a [`Timer`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a token is taken only when the future completes.
    pub fn acquire<'a, C: RateClock>(&'a self, clock: &'a C) -> Acquire<'a, C> {
        Acquire {
            limit: self,
            clock,
            sleep: None,
        }
    }

    /// Refills the bucket.
    pub fn reset(&self) {
        self.arrival.with(|arrival| *arrival = 0);
    }

    /// The time between tokens.
    #[must_use]
    pub fn interval(&self) -> Seconds {
        Seconds::from_duration(Duration::from_nanos(self.interval))
    }

    /// The most events admitted at once.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Nanoseconds from `now` until the next event may happen.
    fn wait(&self, arrival: u64, now: u64) -> u64 {
        let earliest = arrival.max(now).saturating_sub(self.tolerance);
        earliest.saturating_sub(now)
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("interval", &self.interval())
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A clock [`RateLimit::acquire`] reads and sleeps on: a service's
/// [`ServiceHandle`](crate::ServiceHandle) (the tree's clock; a sleep ends early with
/// [`Stopped`](crate::Stopped) when the service is asked to stop), or any [`Timer`].
///
/// Sealed: these are the clocks a limiter can wait on.
///
/// A [`Timer`] waits outside any tree, e.g. in a test on the virtual-time runtime:
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::time::Duration;
/// use mode::utils::RateLimit;
///
/// let (rt, limit) = (VirtualRuntime::new(), RateLimit::new("4/s")?.with_burst(1));
/// rt.block_on(async {
///     for _ in 0..3 {
///         let Ok(()) = limit.acquire(&rt).await; // a `Timer` never fails
///     }
/// })?;
/// assert_eq!(rt.now().as_duration(), Duration::from_millis(500));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait RateClock: sealed::Sealed {
    /// Why a sleep ended before its deadline.
    type Error;

    /// The future of [`sleep_until`](Self::sleep_until).
    type Sleep: Future<Output = Result<(), Self::Error>>;

    /// The current time on this clock.
    fn now(&self) -> Instant;

    /// A future that completes once the clock reaches `deadline`, or fails early.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
}

impl<T: Timer> sealed::Sealed for T {}

impl<T: Timer> RateClock for T {
    type Error = Infallible;
    type Sleep = TimerSleep<T::Sleep>;

    fn now(&self) -> Instant {
        Timer::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        // A `Timer` is never asked to sleep until `Instant::MAX`.
        let deadline = deadline.min(Instant::from_nanos(u64::MAX - 1));
        TimerSleep {
            sleep: Timer::sleep_until(self, deadline),
        }
    }
}

pin_project! {
    /// A [`Timer`]'s sleep as a [`RateClock`]'s: it never fails.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct TimerSleep<S> {
        #[pin]
        sleep: S,
    }
}

impl<S: Future<Output = ()>> Future for TimerSleep<S> {
    type Output = Result<(), Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().sleep.poll(cx).map(Ok)
    }
}

impl<S> fmt::Debug for TimerSleep<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerSleep").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`RateLimit::acquire`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a token is taken only when it completes.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct Acquire<'a, C: RateClock> {
        limit: &'a RateLimit,
        clock: &'a C,
        #[pin]
        sleep: Option<C::Sleep>,
    }
}

impl<C: RateClock> Future for Acquire<'_, C> {
    type Output = Result<(), C::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                let slept = core::task::ready!(sleep.poll(cx));
                this.sleep.set(None);
                slept?;
            }
            let now = this.clock.now();
            match this.limit.try_acquire(now) {
                Ok(()) => return Poll::Ready(Ok(())),
                // Another waiter may take the token first; then this one waits again.
                Err(wait) => this.sleep.set(Some(this.clock.sleep_until(now + wait))),
            }
        }
    }
}

impl<C: RateClock> fmt::Debug for Acquire<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("limit", self.limit)
            .field("waiting", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}

impl TryFrom<&str> for Rate {
    type Error = ParseSecondsError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Infallible> for ParseSecondsError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn at_ms(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn burst_then_steady_rate() {
        let limit = RateLimit::new("100/s").unwrap();
        assert_eq!(limit.burst(), 100);
        assert_eq!(limit.interval(), Seconds::from_millis(10));
        let start = at_ms(1_000);
        assert_eq!((0..150).filter(|_| limit.check(start)).count(), 100);
        assert_eq!(limit.time_until_ready(start), Duration::from_millis(10));
        assert!(!limit.check(at_ms(1_009)));
        assert!(limit.check(at_ms(1_010)));
        assert!(!limit.check(at_ms(1_010)));
        // Over one more second at most 100 more events pass.
        let passed = (0..=1_000)
            .filter(|ms| limit.check(at_ms(1_010 + ms)))
            .count();
        assert_eq!(passed, 100);
    }

    #[test]
    fn idle_time_refills_up_to_burst_only() {
        let limit = RateLimit::with_interval(Seconds::from_millis(100), 3);
        for _ in 0..3 {
            assert!(limit.check(at_ms(0)));
        }
        assert!(!limit.check(at_ms(0)));
        let later = at_ms(10_000);
        assert_eq!((0..10).filter(|_| limit.check(later)).count(), 3);
    }

    #[test]
    fn denial_takes_nothing_and_reports_the_wait() {
        let limit = RateLimit::with_interval(Seconds::from_secs(2), 1);
        assert_eq!(limit.try_acquire(at_ms(0)), Ok(()));
        assert_eq!(
            limit.try_acquire(at_ms(500)),
            Err(Duration::from_millis(1500))
        );
        assert_eq!(
            limit.try_acquire(at_ms(500)),
            Err(Duration::from_millis(1500))
        );
        assert_eq!(limit.try_acquire(at_ms(2_000)), Ok(()));
        limit.reset();
        assert_eq!(limit.try_acquire(at_ms(2_000)), Ok(()));
    }

    #[test]
    fn clock_going_backwards_is_harmless() {
        let limit = RateLimit::with_interval(Seconds::from_secs(1), 1);
        assert!(limit.check(at_ms(5_000)));
        assert!(!limit.check(at_ms(1_000)));
        assert_eq!(limit.time_until_ready(at_ms(1_000)), Duration::from_secs(5));
    }

    #[test]
    fn extremes() {
        let unlimited = RateLimit::with_interval(Seconds::ZERO, 0);
        assert_eq!(unlimited.burst(), 1);
        assert!((0..1000).all(|_| unlimited.check(at_ms(0))));
        let slow = RateLimit::with_interval(Seconds::MAX, 1);
        assert!(slow.check(Instant::ZERO));
        assert!(
            !slow.check(Instant::from_nanos(u64::MAX - 1)),
            "saturates, never wraps"
        );
        let fractional = RateLimit::new("0.5/s").unwrap();
        assert_eq!(fractional.burst(), 1);
        assert_eq!(fractional.interval(), Seconds::from_secs(2));
        let from_rate = RateLimit::new(Rate::per_second_of(4.0).unwrap()).unwrap();
        assert_eq!(from_rate.interval(), Seconds::from_millis(250));
    }
}
