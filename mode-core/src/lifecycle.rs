//! Emitting a service's [`LifecycleEvent`]s: its log line (mode's format, with the
//! service's depth prefix) and the tree's [`Observer`](crate::events::Observer)s.

use crate::error::ChildCrash;
use crate::events::{LifecycleEvent, LOG_TARGET};
use crate::node::Node;

/// Reports `event` of `node` to the log and to the tree's observers.
// The check whether anyone listens is inlined at every call site, where the event's level is
// a constant: with no logger at that level and no observer, an event costs two loads.
#[inline]
pub(crate) fn emit(node: &Node, event: LifecycleEvent<'_>) {
    let logged = event.level(node) <= log::max_level();
    let observed = node.tree.has_observers();
    if logged || observed {
        deliver(node, &event, logged);
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
            | LifecycleEvent::ForfeitingChild { .. } => Level::Error,
            LifecycleEvent::StopTimeout { .. } | LifecycleEvent::TimerOverlap { .. } => Level::Warn,
            _ => node.log.lifecycle_level,
        }
    }
}

#[inline(never)]
fn deliver(node: &Node, event: &LifecycleEvent<'_>, logged: bool) {
    if logged {
        log_event(node, event);
    }
    if let Some(observers) = node.tree.observers() {
        let info = node.info();
        for observer in &observers {
            observer.observe(&info, event);
        }
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
    }
}
