//! [`EmbassyTimer`]: mode's clock and deadline sleeps on embassy-time.

use mode_core::runtime::Timer;
use mode_core::time::Instant;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const TICK_HZ: u64 = embassy_time::TICK_HZ;

// The conversions below work in u64 (whole seconds apart from the rest), not u128: u128
// division links hundreds of bytes of arithmetic into a firmware. The rest of a second
// times the other rate fits in u64 for any rate up to this bound (embassy's highest is
// about 5 GHz).
const _: () = assert!(TICK_HZ <= u64::MAX / NANOS_PER_SEC);

/// mode's [`Timer`] on embassy-time's clock: [`now`](Timer::now) reads
/// [`embassy_time::Instant::now`] and [`sleep_until`](Timer::sleep_until) is an
/// [`embassy_time::Timer`] at that deadline, so nothing is allocated per sleep.
///
/// The epoch ([`Instant::ZERO`]) is embassy-time's own epoch (usually boot). Instants are
/// converted between mode's nanoseconds and embassy's ticks (`TICK_HZ`, chosen by the
/// final binary through a `tick-hz-*` feature); a deadline is rounded *up* to the next
/// tick, so a sleep never completes before its deadline. [`Instant::MAX`] (and any deadline
/// past the tick counter's range) means never.
///
/// Which time driver answers (a HAL's, the `std` driver, a mock driver or your own) is the
/// application's choice; this crate enables none.
///
/// ```
/// use mode::runtime::Timer;
/// use mode::time::Duration;
/// use mode::embassy::EmbassyTimer;
///
/// # futures_lite::future::block_on(async {
/// let timer = EmbassyTimer::new();
/// let deadline = timer.now() + Duration::from_millis(10);
/// timer.sleep_until(deadline).await;
/// assert!(timer.now() >= deadline);
/// # });
/// ```
///
/// (This example runs on the host with embassy-time's `std` driver and its
/// `generic-queue-*` feature, which lets any executor await embassy's timers.)
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyTimer;

impl EmbassyTimer {
    /// The timer (a unit value: embassy-time has one global clock).
    #[must_use]
    pub const fn new() -> Self {
        EmbassyTimer
    }

    /// The mode instant at embassy tick `ticks` (rounded down to a nanosecond).
    #[must_use]
    pub fn instant_from_ticks(ticks: u64) -> Instant {
        let (secs, rest) = (ticks / TICK_HZ, ticks % TICK_HZ);
        let nanos = (secs.checked_mul(NANOS_PER_SEC))
            .and_then(|nanos| nanos.checked_add(rest * NANOS_PER_SEC / TICK_HZ));
        Instant::from_nanos(nanos.unwrap_or(u64::MAX))
    }

    /// The first embassy tick at or after `instant`, or [`embassy_time::Instant::MAX`] if
    /// it is past the tick counter's range.
    #[must_use]
    pub fn ticks_from_instant(instant: Instant) -> u64 {
        if instant == Instant::MAX {
            return u64::MAX;
        }
        let nanos = instant.as_nanos();
        let (secs, rest) = (nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC);
        (secs.checked_mul(TICK_HZ))
            .and_then(|ticks| ticks.checked_add((rest * TICK_HZ).div_ceil(NANOS_PER_SEC)))
            .unwrap_or(u64::MAX)
    }
}

impl Timer for EmbassyTimer {
    type Sleep = embassy_time::Timer;

    fn now(&self) -> Instant {
        EmbassyTimer::instant_from_ticks(embassy_time::Instant::now().as_ticks())
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        let ticks = EmbassyTimer::ticks_from_instant(deadline);
        embassy_time::Timer::at(embassy_time::Instant::from_ticks(ticks))
    }
}
