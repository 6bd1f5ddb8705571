//! The loop of a periodic timer ([`ServiceHandle::timer_with`](crate::ServiceHandle::timer_with),
//! [`Context::timer_local`](crate::Context::timer_local)): drift-free deadlines from
//! `interval.rs`, the stop signal, and the overlap warning.

use crate::platform::plain::Arc;
use core::future::Future;

use crate::error::{BoxResult, Error};
use crate::events::LifecycleEvent;
use crate::interval::{MissedTickBehavior, Schedule, WarnLimiter, OVERLAP_WARNING_EVERY};
use crate::lifecycle;
use crate::node::Node;
use crate::race::{race, Either};
use crate::stop_signal::StopSignal;
use crate::time::Duration;
use crate::timer_queue::SharedTimerQueue;

/// The task of a periodic timer of `node`'s service ([`ServiceHandle::timer_with`],
/// [`Context::timer_with`](crate::Context::timer_with),
/// [`Context::timer_local`](crate::Context::timer_local)), for its caller to spawn: `Send`
/// when the callback is.
///
/// # Errors
///
/// [`Error::ZeroInterval`] for a zero `interval`.
pub(crate) fn timer_task<F, Fut>(
    node: Arc<Node>,
    interval: Duration,
    behavior: MissedTickBehavior,
    callback: F,
) -> core::result::Result<impl Future<Output = BoxResult>, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = BoxResult>,
{
    if interval.is_zero() {
        return Err(Error::ZeroInterval);
    }
    Ok(periodic(node, interval, behavior, callback))
}

/// The loop of a periodic timer (see [`timer_task`]).
async fn periodic<F, Fut>(
    node: Arc<Node>,
    interval: Duration,
    behavior: MissedTickBehavior,
    mut callback: F,
) -> BoxResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = BoxResult>,
{
    let timers = node.tree.timers.clone();
    let mut schedule = Schedule::new(timers.now() + interval, interval, behavior);
    let mut sleep = timers.sleep_until(schedule.deadline());
    let mut stop = StopSignal::new(&node);
    let mut warnings = WarnLimiter::new(OVERLAP_WARNING_EVERY);
    loop {
        if let Either::Right(()) = race(&mut sleep, stop.wait()).await {
            return Ok(());
        }
        if node.should_stop() {
            return Ok(());
        }
        callback().await?;
        let now = timers.now();
        let advance = schedule.advance(now);
        if let Some(late_by) = advance.late_by {
            if warnings.allow(now) {
                lifecycle::emit(
                    &node,
                    LifecycleEvent::TimerOverlap {
                        interval: schedule.interval(),
                        late_by,
                        skipped: advance.skipped,
                    },
                );
            }
        }
        sleep.reset_at(advance.next, now);
    }
}
