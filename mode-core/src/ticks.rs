//! [`Ticks`]: a service's periodic timer as a [`Stream`] (mode's `itertimer`), for loops
//! that keep their state between ticks.
//!
//! The stream shares the callback timer's machinery: deadlines `start + k·interval` from
//! `interval.rs` (no drift), the [`MissedTickBehavior`](crate::MissedTickBehavior) of its
//! [`TimerOptions`], the rate-limited overlap warning under the timer's name, and the end
//! when the service is asked to stop. What the callback timer does after a callback
//! returns, the stream does when it is polled for the next tick.

use crate::platform::plain::Arc;
use alloc::borrow::Cow;
use alloc::format;
use core::fmt;
use core::future::Future;
use core::panic::Location;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};

use crate::error::Error;
use crate::events::LifecycleEvent;
use crate::interval::{Schedule, TimerOptions, WarnLimiter, OVERLAP_WARNING_EVERY};
use crate::lifecycle;
use crate::node::{Node, OwnedChangeListener, SharedNode};
use crate::time::{Duration, Instant};
use crate::timer_queue::{SharedTimerQueue, SleepUntil};

/// A periodic timer of a service as a [`Stream`] of its ticks (mode's `itertimer`), from
/// [`ServiceHandle::ticks`](crate::ServiceHandle::ticks) and
/// [`ServiceHandle::ticks_with`](crate::ServiceHandle::ticks_with).
///
/// Each item is the instant the tick was due, `start + k·interval` on the tree's clock
/// (`start` is when the stream was made): the work done between two polls does not move
/// the grid. A tick found late when the stream is polled again (the work overran the
/// interval) is handled by the timer's [`MissedTickBehavior`](crate::MissedTickBehavior)
/// (skipped by default) and reported as a rate-limited
/// [`TimerOverlap`](crate::events::LifecycleEvent::TimerOverlap) warning naming the timer.
///
/// The stream ends (`None`, and `None` again after that) once the service is asked to
/// stop, without waiting for the next tick; it yields no tick after that. It allocates
/// nothing per tick. `Send + Sync + Unpin + 'static`: move it into a task, or keep it in a
/// struct.
///
/// # Cancel safety
///
/// Cancel safe: a tick is taken only when [`poll_next`](Stream::poll_next) returns it, so
/// dropping a `next()` future (losing a `select!`) loses no tick, and the next poll waits
/// for the same deadline.
///
/// ```
/// use futures_lite::StreamExt;
/// use mode::testing::VirtualRuntime;
/// use mode::time::Duration;
/// use mode::{BoxResult, Context, Service, Tree};
///
/// struct Poller;
///
/// impl Service for Poller {
///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
///         let mut ticks = cx.handle().ticks(Duration::from_secs(1))?;
///         cx.spawn_with(|me| async move {
///             let mut seen = 0;
///             while let Some(due) = ticks.next().await {
///                 seen += 1;
///                 mode::info!(me, "tick {seen}, due at {due:?}");
///                 if seen == 3 {
///                     me.request_stop();
///                 }
///             }
///             // The stream ended: the service is stopping.
///             assert_eq!(seen, 3);
///             Ok(())
///         })?;
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// rt.block_on(Tree::new(Poller, rt.clone(), rt.clone()).run()).unwrap();
/// assert_eq!(rt.now().as_duration(), Duration::from_secs(3));
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Ticks {
    node: Arc<Node>,
    schedule: Schedule,
    /// Sleeps until the schedule's deadline; one for every tick.
    sleep: SleepUntil,
    /// Listens for the service's stop; kept across ticks, renewed when the service changes.
    stop: Option<OwnedChangeListener>,
    warnings: WarnLimiter,
    name: TicksName,
    /// A tick was returned: the schedule moves past it at the next poll.
    returned: bool,
    /// The stream ended.
    done: bool,
}

/// The name of a [`Ticks`] stream.
enum TicksName {
    Given(Cow<'static, str>),
    /// Where the stream was made, the default.
    At(&'static Location<'static>),
}

impl TicksName {
    fn readable(&self) -> Cow<'static, str> {
        match self {
            TicksName::Given(name) => name.clone(),
            TicksName::At(location) => {
                Cow::Owned(format!("ticks at {}:{}", location.file(), location.line()))
            }
        }
    }
}

impl Ticks {
    /// The ticks of `node`'s service every `interval` from now, named after `location`
    /// unless `options` name them.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] for a zero `interval`.
    pub(crate) fn new(
        node: Arc<Node>,
        interval: Duration,
        options: TimerOptions,
        location: &'static Location<'static>,
    ) -> Result<Ticks, Error> {
        if interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        let start = node.tree.timers.now();
        let first = if options.first_tick_at_once {
            start
        } else {
            start + interval
        };
        let schedule = Schedule::new(first, interval, options.missed_ticks);
        let sleep = node.tree.timers.sleep_until(first);
        Ok(Ticks {
            node,
            schedule,
            sleep,
            stop: None,
            warnings: WarnLimiter::new(OVERLAP_WARNING_EVERY),
            name: options
                .name
                .map_or(TicksName::At(location), TicksName::Given),
            returned: false,
            done: false,
        })
    }

    /// The timer's name in its log lines: the one given in its [`TimerOptions`], or where
    /// the stream was made (`ticks at src/app.rs:42`).
    #[must_use]
    pub fn name(&self) -> Cow<'static, str> {
        self.name.readable()
    }

    /// The time between two ticks.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.schedule.interval()
    }

    /// When the next tick is due, on the tree's clock: the deadline the stream waits for,
    /// or, right after a tick was returned, that tick's (the next poll moves past it).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.schedule.deadline()
    }

    /// Moves the schedule past the tick last returned, as the callback timer does once
    /// its callback returned, and warns if that tick's work overran the interval.
    fn advance(&mut self) {
        let now = self.node.tree.timers.now();
        let advance = self.schedule.advance(now);
        if let Some(late_by) = advance.late_by {
            if self.warnings.allow(now) {
                lifecycle::emit(
                    &self.node,
                    LifecycleEvent::TimerOverlap {
                        timer: &self.name.readable(),
                        interval: self.schedule.interval(),
                        late_by,
                        skipped: advance.skipped,
                    },
                );
            }
        }
        self.sleep.reset_at(advance.next, now);
    }

    fn end(&mut self) -> Poll<Option<Instant>> {
        self.done = true;
        self.stop = None;
        Poll::Ready(None)
    }
}

impl Stream for Ticks {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.returned {
            this.returned = false;
            this.advance();
        }
        if this.node.should_stop() {
            return this.end();
        }
        if Pin::new(&mut this.sleep).poll(cx).is_ready() {
            // A stop flagged while the deadline passed wins: no tick once it is asked.
            if this.node.should_stop() {
                return this.end();
            }
            this.returned = true;
            return Poll::Ready(Some(this.schedule.deadline()));
        }
        loop {
            if this.node.should_stop() {
                return this.end();
            }
            match &mut this.stop {
                // Listen, then loop to check again: a stop flagged before the listener
                // existed would otherwise be missed.
                None => this.stop = Some(this.node.listen_changes_owned()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => this.stop = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, None)
        }
    }
}

impl FusedStream for Ticks {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl fmt::Debug for Ticks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticks")
            .field("name", &self.name.readable())
            .field("interval", &self.schedule.interval())
            .field("deadline", &self.schedule.deadline())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_send_sync_unpin() {
        fn is<T: Send + Sync + Unpin + 'static>() {}
        is::<Ticks>();
    }
}
