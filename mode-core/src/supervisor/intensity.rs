//! The arithmetic of supervision: restart intensity as a sliding window, and backoff
//! streaks. Pure functions of the instants they are given, so they are tested against a
//! fake clock.
//!
//! # The window
//!
//! A supervisor allows at most `max` restarts in any window of length `over`. Windows are
//! half-open: a restart at `t` shares a window with an earlier one at `s` exactly when
//! `t - s < over`. So a restart is allowed at `now` when fewer than `max` restarts happened
//! in `(now - over, now]`, and the restarts it allowed never number more than `max` in any
//! `[a, a + over)`: were there `max + 1`, the last of them would have seen the other `max`
//! inside its own window and been refused. A restart exactly `over` after another no
//! longer counts it. With `over` zero, no two restarts share a window: there is no limit.
//! With `max` zero, every restart is refused.
//!
//! Only allowed restarts are recorded, and only the last `max` of them can matter, so the
//! record never holds more than `max` instants.

use alloc::collections::VecDeque;

use super::Backoff;
use crate::time::{Duration, Instant};

/// Restarts inside the window, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Intensity {
    max: u32,
    over: Duration,
    recent: VecDeque<Instant>,
}

impl Intensity {
    pub(crate) fn new(max: u32, over: Duration) -> Self {
        Intensity {
            max,
            over,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now` if the window allows one; otherwise returns how many
    /// restarts the window holds (always `max`) and records nothing.
    pub(crate) fn try_restart(&mut self, now: Instant) -> Result<(), u32> {
        while let Some(&oldest) = self.recent.front() {
            if now - oldest < self.over {
                break;
            }
            self.recent.pop_front();
        }
        if self.recent.len() < self.max as usize {
            self.recent.push_back(now);
            Ok(())
        } else {
            Err(u32::try_from(self.recent.len()).unwrap_or(u32::MAX))
        }
    }

    /// Forgets every restart (a new start of the supervisor).
    pub(crate) fn reset(&mut self) {
        self.recent.clear();
    }
}

/// One child's (or one group's) run of consecutive failures, for backoff.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Streak {
    /// Failures since the child last ran healthily.
    failures: u32,
    /// When its last successful (re)start finished; `None` once it failed again.
    running_since: Option<Instant>,
}

impl Streak {
    /// The failure count that applies to a crash at `now`: zero if the child had been
    /// running for at least `backoff.reset_after`.
    fn current(&self, backoff: &Backoff, now: Instant) -> u32 {
        match self.running_since {
            Some(since) if now - since >= backoff.reset_after => 0,
            _ => self.failures,
        }
    }

    /// The delay before restarting after a crash at `now`, without recording it.
    pub(crate) fn peek_delay(&self, backoff: &Backoff, now: Instant) -> Duration {
        backoff.delay(self.current(backoff, now))
    }

    /// The delay before restarting after a crash at `now`; counts the failure.
    pub(crate) fn next_delay(&mut self, backoff: &Backoff, now: Instant) -> Duration {
        let failures = self.current(backoff, now);
        self.failures = failures.saturating_add(1);
        self.running_since = None;
        backoff.delay(failures)
    }

    /// The child (or group) started again at `now`.
    pub(crate) fn started(&mut self, now: Instant) {
        self.running_since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn exactly_max_restarts_fit_in_the_window() {
        let mut window = Intensity::new(3, Duration::from_secs(10));
        for t in [0, 1, 2] {
            assert_eq!(window.try_restart(at(t)), Ok(()));
        }
        assert_eq!(window.try_restart(at(9_999)), Err(3));
        // A refused restart is not recorded: the window is unchanged.
        assert_eq!(window.try_restart(at(9_999)), Err(3));
        // At 10 s the restart at 0 is a full window away and no longer counts.
        assert_eq!(window.try_restart(at(10_000)), Ok(()));
        assert_eq!(window.try_restart(at(10_000)), Err(3));
        assert_eq!(window.try_restart(at(10_002)), Ok(()));
    }

    #[test]
    fn mode_token_bucket_burst_is_refused() {
        // mode's `rate_limit(3, 10)` is a token bucket holding `over` = 10 tokens that
        // refills at 3 tokens per second: it lets 10 restarts through at once and an 11th a
        // third of a second later. The window lets exactly 3 through.
        let mut window = Intensity::new(3, Duration::from_secs(10));
        let times = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 334];
        let allowed = times
            .iter()
            .filter(|&&t| window.try_restart(at(t)).is_ok())
            .count();
        assert_eq!(allowed, 3);
    }

    #[test]
    fn zero_max_refuses_and_zero_window_does_not_limit() {
        let mut never = Intensity::new(0, Duration::from_secs(1));
        assert_eq!(never.try_restart(at(0)), Err(0));
        let mut unlimited = Intensity::new(1, Duration::ZERO);
        for _ in 0..1_000 {
            assert_eq!(unlimited.try_restart(at(5)), Ok(()));
        }
    }

    #[test]
    fn reset_forgets_restarts() {
        let mut window = Intensity::new(1, Duration::from_secs(1));
        assert_eq!(window.try_restart(at(0)), Ok(()));
        assert_eq!(window.try_restart(at(1)), Err(1));
        window.reset();
        assert_eq!(window.try_restart(at(1)), Ok(()));
    }

    #[test]
    fn backoff_grows_caps_and_resets_after_a_healthy_run() {
        let ms = Duration::from_millis;
        let backoff = Backoff::exponential(ms(100), ms(1_000)).with_reset_after(ms(500));
        let mut streak = Streak::default();
        let mut delays = Vec::new();
        for t in [0, 110, 320, 730, 1_540, 2_550] {
            delays.push(streak.next_delay(&backoff, at(t)));
            // Restarted after the delay, and crashed again 10 ms later.
            streak.started(at(t) + *delays.last().unwrap());
        }
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
        );
        // Crashing 499 ms after a restart continues the streak; 500 ms resets it.
        streak.started(at(10_000));
        assert_eq!(streak.peek_delay(&backoff, at(10_499)), ms(1_000));
        assert_eq!(streak.next_delay(&backoff, at(10_500)), ms(100));
        // A failed start never ran: the streak goes on.
        assert_eq!(streak.next_delay(&backoff, at(20_000)), ms(200));
    }
}

#[cfg(test)]
mod jitter_tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let base = Backoff::exponential(Duration::from_millis(1), Duration::from_millis(2));
        assert_eq!(base.jitter(), 0.0);
        assert_eq!(base.with_jitter(f64::NAN).jitter(), 0.0);
        assert_eq!(base.with_jitter(-0.5).jitter(), 0.0);
        assert_eq!(base.with_jitter(1.5).jitter(), 1.0);
        assert_eq!(base.with_jitter(f64::INFINITY).jitter(), 1.0);
        assert_eq!(base.with_jitter(0.3).jitter(), 0.3);
    }

    #[test]
    fn no_jitter_keeps_the_delay() {
        let backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1));
        let mut rng = fastrand::Rng::with_seed(1);
        for k in 0..8 {
            let delay = backoff.delay(k);
            assert_eq!(backoff.jittered(delay, &mut rng), delay);
        }
        let full = backoff.with_jitter(1.0);
        assert_eq!(full.jittered(Duration::ZERO, &mut rng), Duration::ZERO);
        // A delay too short for its jitter share to be a whole nanosecond stays as it is.
        let tenth = backoff.with_jitter(0.1);
        assert_eq!(
            tenth.jittered(Duration::from_nanos(5), &mut rng),
            Duration::from_nanos(5)
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
            .with_jitter(0.5)
            .with_jitter_seed(42);
        let draw = |seed: u64| -> Vec<Duration> {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..16)
                .map(|k| backoff.jittered(backoff.delay(k % 6), &mut rng))
                .collect()
        };
        assert_eq!(backoff.jitter_seed(), Some(42));
        assert_eq!(backoff.seed_for(3), 42);
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        // Without a seed, each supervisor (by id) draws from a seed of its own.
        let unseeded = Backoff::exponential(Duration::from_millis(1), Duration::from_secs(1));
        assert_ne!(unseeded.seed_for(1), unseeded.seed_for(2));
        assert_eq!(unseeded.seed_for(1), unseeded.seed_for(1));
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        // 10,000 draws of a 1 s delay with jitter 1: in (0, 1 s], each tenth of the range
        // hit between 800 and 1,200 times (uniform: 1,000 expected, sigma 30).
        let backoff =
            Backoff::exponential(Duration::from_secs(1), Duration::from_secs(1)).with_jitter(1.0);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut tenths = [0u32; 10];
        for _ in 0..10_000 {
            let delay = backoff.jittered(Duration::from_secs(1), &mut rng);
            assert!(delay > Duration::ZERO && delay <= Duration::from_secs(1));
            let tenth = (delay.as_nanos() - 1) / 100_000_000;
            tenths[usize::try_from(tenth).unwrap()] += 1;
        }
        for count in tenths {
            assert!((800..=1_200).contains(&count), "{tenths:?}");
        }
    }
}

#[cfg(all(test, not(loom)))]
mod proptests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A jittered delay lies in `(d × (1 − jitter), d]`: never longer than the delay
        /// without jitter (so `max` still caps it), never shorter than its share.
        #[test]
        fn jittered_delays_stay_in_bounds(
            nanos in 0u64..=u64::MAX / 2,
            jitter in 0.0f64..=1.0,
            seed in proptest::num::u64::ANY,
        ) {
            let delay = Duration::from_nanos(nanos);
            let backoff = Backoff::exponential(delay, delay).with_jitter(jitter);
            let mut rng = fastrand::Rng::with_seed(seed);
            let jittered = backoff.jittered(delay, &mut rng);
            prop_assert!(jittered <= delay);
            let ppm = u128::from(nanos) * ((backoff.jitter() * 1_000_000.0).round() as u128)
                / 1_000_000;
            // The 64-bit split computes the same share, exactly.
            let floor = u128::from(nanos) - ppm;
            if ppm == 0 {
                prop_assert_eq!(jittered, delay);
            } else {
                prop_assert!(jittered.as_nanos() > floor);
            }
        }

        /// Against a fake clock: the allowed restarts never number more than `max` in any
        /// half-open window of length `over`, and a restart is refused only when `max`
        /// allowed ones lie within `over` before it.
        #[test]
        fn never_more_than_max_in_any_window(
            max in 0u32..6,
            over_ms in 0u64..50,
            gaps in proptest::collection::vec(0u64..20, 1..80),
        ) {
            let over = Duration::from_millis(over_ms);
            let mut window = Intensity::new(max, over);
            let mut now = Instant::ZERO;
            let mut allowed: Vec<Instant> = Vec::new();
            for gap in gaps {
                now += Duration::from_millis(gap);
                let in_window = allowed.iter().filter(|&&s| now - s < over).count();
                let result = window.try_restart(now);
                prop_assert_eq!(result.is_ok(), in_window < max as usize);
                if result.is_ok() {
                    allowed.push(now);
                }
            }
            for (i, &start) in allowed.iter().enumerate() {
                let within = allowed[i..].iter().filter(|&&t| t - start < over).count();
                prop_assert!(within <= max as usize);
            }
        }
    }
}
