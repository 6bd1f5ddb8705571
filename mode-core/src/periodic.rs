//! A periodic timer ([`ServiceHandle::timer_with`](crate::ServiceHandle::timer_with),
//! [`Context::timer_local`](crate::Context::timer_local)): drift-free deadlines from
//! `interval.rs`, the stop signal, and the overlap warning.

use crate::platform::plain::Arc;
use core::future::Future;

use crate::error::{BoxResult, Error};
use crate::interval::{
    MissedTickBehavior, Schedule, TimerOptions, WarnLimiter, OVERLAP_WARNING_EVERY,
};
use crate::lifecycle;
use crate::node::Node;
use crate::race::{race, Either};
use crate::stop_signal::StopSignal;
use crate::task::default_name;
use crate::task_run::TaskName;
use crate::time::Duration;
use crate::timer_queue::{SharedTimerQueue, SleepUntil, TimerQueue};

/// A periodic timer of a service ([`ServiceHandle::timer_with`](crate::ServiceHandle::timer_with),
/// [`Context::timer_with`](crate::Context::timer_with),
/// [`Context::timer_local`](crate::Context::timer_local)), checked, before its task is made.
pub(crate) struct Periodic {
    interval: Duration,
    behavior: MissedTickBehavior,
    first_tick_at_once: bool,
    pub(crate) name: TaskName,
}

impl Periodic {
    /// A timer calling a callback of type `F`, which names it unless `options` do.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] for a zero `interval`.
    pub(crate) fn new<F>(interval: Duration, options: TimerOptions) -> Result<Self, Error> {
        if interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        Ok(Periodic {
            interval,
            behavior: options.missed_ticks,
            first_tick_at_once: options.first_tick_at_once,
            name: options.name.map_or_else(default_name::<F>, TaskName::Given),
        })
    }

    /// The timer's task for `node`'s service, for its caller to spawn: `Send` when the
    /// callback is.
    pub(crate) fn task<F, Fut>(
        self,
        node: Arc<Node>,
        callback: F,
    ) -> impl Future<Output = BoxResult>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = BoxResult>,
    {
        periodic(node, self, callback)
    }
}

/// The loop of a periodic timer (see [`Periodic`]). Only the loop is compiled for each
/// callback type; the [`Ticker`] it drives is the same code for every timer.
async fn periodic<F, Fut>(node: Arc<Node>, timer: Periodic, mut callback: F) -> BoxResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = BoxResult>,
{
    let mut ticker = Ticker::new(&node, timer);
    while ticker.tick().await {
        callback().await?;
        ticker.ticked();
    }
    Ok(())
}

/// A periodic timer's deadlines, its sleep, its service's stop signal, and its overlap
/// warning.
struct Ticker<'a> {
    node: &'a Node,
    timers: Arc<TimerQueue>,
    schedule: Schedule,
    sleep: SleepUntil,
    stop: StopSignal<'a>,
    warnings: WarnLimiter,
    name: TaskName,
}

impl<'a> Ticker<'a> {
    fn new(node: &'a Node, timer: Periodic) -> Self {
        let Periodic {
            interval,
            behavior,
            first_tick_at_once,
            name,
        } = timer;
        let timers = node.tree.timers.clone();
        let start = timers.now();
        let first = if first_tick_at_once {
            start
        } else {
            start + interval
        };
        let schedule = Schedule::new(first, interval, behavior);
        let sleep = timers.sleep_until(schedule.deadline());
        Ticker {
            node,
            timers,
            schedule,
            sleep,
            stop: StopSignal::new(node),
            warnings: WarnLimiter::new(OVERLAP_WARNING_EVERY),
            name,
        }
    }

    /// Waits for the next tick: `false` once the service is asked to stop.
    async fn tick(&mut self) -> bool {
        if let Either::Right(()) = race(&mut self.sleep, self.stop.wait()).await {
            return false;
        }
        !self.node.should_stop()
    }

    /// The tick's callback returned: warns if it overran, and sleeps until the next one.
    fn ticked(&mut self) {
        let now = self.timers.now();
        let advance = self.schedule.advance(now);
        if let Some(late_by) = advance.late_by {
            if self.warnings.allow(now) {
                let interval = self.schedule.interval();
                let skipped = advance.skipped;
                lifecycle::emit_timer_overlap(self.node, &self.name, interval, late_by, skipped);
            }
        }
        self.sleep.reset_at(advance.next, now);
    }
}
