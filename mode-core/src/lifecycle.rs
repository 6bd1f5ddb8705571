//! Emitting a service's [`LifecycleEvent`]s: its log line (mode's format, with the
//! service's depth prefix) and the tree's [`Observer`](crate::events::Observer)s.

use crate::error::ChildCrash;
use crate::events::{LifecycleEvent, LOG_TARGET};
use crate::node::Node;
use crate::observers::Emitted;
use crate::task_run::TaskName;
use crate::time::Duration;

/// Reports `event` of `node` to the log and to the tree's observers.
// The check whether anyone listens is inlined at every call site, where the event's level is
// a constant: with no logger at that level and no observer, an event costs two loads.
#[inline]
pub(crate) fn emit(node: &Node, event: LifecycleEvent<'_>) {
    let level = event.level(node);
    if logged(level) || node.tree.observers.any() {
        deliver(node, &Emitted::Event(event), level);
    }
}

/// Reports that a timer of `node` overran its interval
/// ([`LifecycleEvent::TimerOverlap`]); the timer's name is made readable only if the
/// event is logged or observed.
pub(crate) fn emit_timer_overlap(
    node: &Node,
    timer: &TaskName,
    interval: Duration,
    late_by: Duration,
    skipped: u64,
) {
    let level = log::Level::Warn;
    if logged(level) || node.tree.observers.any() {
        let event = Emitted::TimerOverlap {
            timer,
            interval,
            late_by,
            skipped,
        };
        deliver(node, &event, level);
    }
}

impl LifecycleEvent<'_> {
    /// The log level of the event's line for `node`: failures and warnings at their own
    /// level, the lifecycle lines at the service's.
    #[inline]
    fn level(&self, node: &Node) -> log::Level {
        use log::Level;
        match self {
            LifecycleEvent::Crashed(_)
            | LifecycleEvent::HookFailed { .. }
            | LifecycleEvent::ForfeitingChild { .. }
            | LifecycleEvent::QuarantiningChild { .. } => Level::Error,
            LifecycleEvent::StopTimeout { .. } | LifecycleEvent::TimerOverlap { .. } => Level::Warn,
            _ => node.log.lifecycle_level,
        }
    }
}

/// Whether an event at `level` is logged.
#[inline]
fn logged(level: log::Level) -> bool {
    // defmt filters at compile time (`DEFMT_LOG`), so with it every event is delivered.
    cfg!(feature = "defmt") || level <= log::max_level()
}

// Not told whether the event is logged, but the level: `logged` again here is what lets a
// program without a logger (whose level then stays `Off`) link none of the log's side.
#[inline(never)]
fn deliver(node: &Node, event: &Emitted<'_>, level: log::Level) {
    if logged(level) {
        event.with_event(|event| {
            log_event(node, event);
            #[cfg(feature = "defmt")]
            defmt_event(node, event);
        });
    }
    if node.tree.observers.any() {
        node.tree.observers.deliver(&node.info(), event);
    }
}

fn log_event(node: &Node, event: &LifecycleEvent<'_>) {
    let level = event.level(node);
    let target = LOG_TARGET;
    let prefix = node.prefix();
    match event {
        LifecycleEvent::Starting => log::log!(target: target, level, "{prefix}: Starting..."),
        LifecycleEvent::Started => log::log!(target: target, level, "{prefix}: Started"),
        LifecycleEvent::Stopping(_) => log::log!(target: target, level, "{prefix}: Stopping..."),
        LifecycleEvent::Stopped => log::log!(target: target, level, "{prefix}: Stopped"),
        LifecycleEvent::ShutdownComplete => {
            log::log!(target: target, level, "{prefix}: Shutdown complete!");
        }
        LifecycleEvent::Crashed(crash) => {
            log::log!(target: target, level, "{prefix}: Crashed reason={}", crash.error());
        }
        LifecycleEvent::Restarting => log::log!(target: target, level, "{prefix}: Restarting..."),
        LifecycleEvent::StopTimeout {
            waiting_on,
            timeout,
        } => log::log!(
            target: target,
            level,
            "{prefix}: Stop timed out after {timeout:?} waiting for {waiting_on}; aborting it"
        ),
        LifecycleEvent::TimerOverlap {
            timer,
            interval,
            late_by,
            skipped,
        } => log::log!(
            target: target,
            level,
            "{prefix}: Timer {timer} woke up too late (by {late_by:?}, interval {interval:?}); \
             skipped {skipped} tick(s)"
        ),
        LifecycleEvent::HookFailed { hook, error } => {
            log::log!(target: target, level, "{prefix}: {hook} failed: {error}");
        }
        LifecycleEvent::RestartingChild {
            child,
            crash,
            delay,
        } => {
            let (child, reason) = (
                child.label,
                ChildCrash {
                    child: child.label,
                    crash,
                },
            );
            if delay.is_zero() {
                log::log!(
                    target: target,
                    level,
                    "{prefix}: Restarting dead {child}! Last crash reason: {reason}"
                );
            } else {
                log::log!(
                    target: target,
                    level,
                    "{prefix}: Restarting dead {child} in {delay:?}! Last crash reason: {reason}"
                );
            }
        }
        LifecycleEvent::ForfeitingChild { child, crash } => {
            let (child, reason) = (
                child.label,
                ChildCrash {
                    child: child.label,
                    crash,
                },
            );
            log::log!(
                target: target,
                level,
                "{prefix}: Giving up on {child}, not restarting it! Last crash reason: {reason}"
            );
        }
        LifecycleEvent::PausingChild { child } => {
            let child = child.label;
            log::log!(target: target, level, "{prefix}: Pausing {child}...");
        }
        LifecycleEvent::ResumingChild { child, parked } => {
            let child = child.label;
            log::log!(target: target, level, "{prefix}: Resuming {parked} {child}...");
        }
        LifecycleEvent::QuarantiningChild {
            child,
            crash,
            restarts,
            over,
        } => {
            let (child, reason) = (
                child.label,
                ChildCrash {
                    child: child.label,
                    crash,
                },
            );
            log::log!(
                target: target,
                level,
                "{prefix}: Quarantining {child} after {restarts} restart(s) within {over:?}, \
                 not restarting it! Last crash reason: {reason}"
            );
        }
    }
}

/// `$level!` of defmt for a `log::Level` known only at run time.
#[cfg(feature = "defmt")]
macro_rules! defmt_at {
    ($level:expr, $($arg:tt)+) => {
        match $level {
            log::Level::Error => defmt::error!($($arg)+),
            log::Level::Warn => defmt::warn!($($arg)+),
            log::Level::Info => defmt::info!($($arg)+),
            log::Level::Debug => defmt::debug!($($arg)+),
            log::Level::Trace => defmt::trace!($($arg)+),
        }
    };
}
#[cfg(feature = "defmt")]
pub(crate) use defmt_at;

/// The line [`log_event`] logs, through defmt: the same words, with the service's prefix
/// and the values that vary as arguments.
#[cfg(feature = "defmt")]
fn defmt_event(node: &Node, event: &LifecycleEvent<'_>) {
    use defmt::Display2Format;

    let level = event.level(node);
    // Formatted only if defmt keeps the line (its filter is decided at compile time).
    let prefix = node.prefix();
    let prefix = Display2Format(&prefix);
    match event {
        LifecycleEvent::Starting => defmt_at!(level, "{}: Starting...", prefix),
        LifecycleEvent::Started => defmt_at!(level, "{}: Started", prefix),
        LifecycleEvent::Stopping(_) => defmt_at!(level, "{}: Stopping...", prefix),
        LifecycleEvent::Stopped => defmt_at!(level, "{}: Stopped", prefix),
        LifecycleEvent::ShutdownComplete => {
            defmt_at!(level, "{}: Shutdown complete!", prefix);
        }
        LifecycleEvent::Crashed(crash) => {
            defmt_at!(
                level,
                "{}: Crashed reason={}",
                prefix,
                Display2Format(crash.error())
            );
        }
        LifecycleEvent::Restarting => defmt_at!(level, "{}: Restarting...", prefix),
        LifecycleEvent::StopTimeout {
            waiting_on,
            timeout,
        } => defmt_at!(
            level,
            "{}: Stop timed out after {} waiting for {}; aborting it",
            prefix,
            timeout,
            waiting_on
        ),
        LifecycleEvent::TimerOverlap {
            timer,
            interval,
            late_by,
            skipped,
        } => defmt_at!(
            level,
            "{}: Timer {=str} woke up too late (by {}, interval {}); skipped {=u64} tick(s)",
            prefix,
            *timer,
            late_by,
            interval,
            *skipped
        ),
        LifecycleEvent::HookFailed { hook, error } => {
            defmt_at!(
                level,
                "{}: {=str} failed: {}",
                prefix,
                *hook,
                Display2Format(*error)
            );
        }
        LifecycleEvent::RestartingChild {
            child,
            crash,
            delay,
        } => {
            let reason = ChildCrash {
                child: child.label,
                crash,
            };
            if delay.is_zero() {
                defmt_at!(
                    level,
                    "{}: Restarting dead {=str}! Last crash reason: {}",
                    prefix,
                    child.label,
                    Display2Format(&reason)
                );
            } else {
                defmt_at!(
                    level,
                    "{}: Restarting dead {=str} in {}! Last crash reason: {}",
                    prefix,
                    child.label,
                    delay,
                    Display2Format(&reason)
                );
            }
        }
        LifecycleEvent::ForfeitingChild { child, crash } => {
            let reason = ChildCrash {
                child: child.label,
                crash,
            };
            defmt_at!(
                level,
                "{}: Giving up on {=str}, not restarting it! Last crash reason: {}",
                prefix,
                child.label,
                Display2Format(&reason)
            );
        }
        LifecycleEvent::PausingChild { child } => {
            defmt_at!(level, "{}: Pausing {=str}...", prefix, child.label);
        }
        LifecycleEvent::ResumingChild { child, parked } => {
            defmt_at!(
                level,
                "{}: Resuming {} {=str}...",
                prefix,
                Display2Format(parked),
                child.label
            );
        }
        LifecycleEvent::QuarantiningChild {
            child,
            crash,
            restarts,
            over,
        } => {
            let reason = ChildCrash {
                child: child.label,
                crash,
            };
            defmt_at!(
                level,
                "{}: Quarantining {=str} after {=u32} restart(s) within {}, not restarting it! \
                 Last crash reason: {}",
                prefix,
                child.label,
                *restarts,
                over,
                Display2Format(&reason)
            );
        }
    }
}
