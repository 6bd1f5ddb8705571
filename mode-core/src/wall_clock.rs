//! The wall clock of a tree (the `cron` feature): the system clock, or a clock that
//! advances with the tree's monotonic clock from a fixed origin
//! ([`Tree::with_wall_clock_origin`](crate::Tree::with_wall_clock_origin)).

use std::time::SystemTime;

use crate::platform::sync::Mutex;
use crate::time::Instant;
use crate::timer_queue::TimerQueue;

/// The wall clock of one tree (a field of `TreeShared`): the system clock, or a clock that
/// advances with the tree's monotonic clock from a fixed origin.
#[derive(Debug)]
pub(crate) struct WallClock {
    /// `(wall, at)`: the wall time at the tree's instant `at`. `None`: the system clock.
    origin: Mutex<Option<(SystemTime, Instant)>>,
}

impl WallClock {
    pub(crate) fn new() -> Self {
        WallClock {
            origin: Mutex::new(None),
        }
    }

    /// From now on the wall time at the tree's instant `at` is `wall`, and it advances with
    /// the tree's clock.
    pub(crate) fn set_origin(&self, wall: SystemTime, at: Instant) {
        self.origin.with(|origin| *origin = Some((wall, at)));
    }

    /// The wall time and the tree's instant, read together.
    pub(crate) fn now(&self, timers: &TimerQueue) -> (SystemTime, Instant) {
        let now = timers.now();
        let wall = match self.origin.with(|origin| *origin) {
            // `now` is never before `at` (monotonic clock); the subtraction saturates anyway.
            Some((wall, at)) => wall.checked_add(now - at).unwrap_or(wall),
            None => SystemTime::now(),
        };
        (wall, now)
    }
}
