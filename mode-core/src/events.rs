//! Lifecycle events: the one place every transition is reported.
//!
//! Each transition (starting, started, stopping, stopped, crashed, restarting, a stop
//! timeout, a timer overlap, a supervisor restarting or giving up on a child) is emitted
//! here once. The first observer is always the `log`
//! crate, with mode's depth prefix (`[^--Webserver]: Starting...`); further [`Observer`]s
//! (tracing, metrics, health) are added with
//! [`Tree::with_observer`](crate::Tree::with_observer). With no extra observer and logging
//! disabled, an event costs two atomic loads.

use core::fmt;

use crate::error::{ChildCrash, Crash};
use crate::node::Node;
use crate::state::{StopReason, WaitingOn};
use crate::time::Duration;

/// A lifecycle transition of one service.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LifecycleEvent<'a> {
    /// The start sequence began (`Starting...`).
    Starting,
    /// Tasks and children are running (`Started`).
    Started,
    /// The stop sequence began (`Stopping...`), for this reason.
    Stopping(&'a StopReason),
    /// Children and tasks are stopped (`Stopped`).
    Stopped,
    /// The stop sequence finished (`Shutdown complete!`).
    ShutdownComplete,
    /// The service crashed.
    Crashed(&'a Crash),
    /// The service is being restarted.
    Restarting,
    /// A step of the stop sequence exceeded the stop timeout and was cut short.
    StopTimeout {
        /// The step that was cut short.
        waiting_on: WaitingOn,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// A periodic timer's callback overran its interval; missed ticks were skipped.
    TimerOverlap {
        /// The timer's interval.
        interval: Duration,
        /// How late the tick was.
        late_by: Duration,
        /// How many ticks were skipped.
        skipped: u64,
    },
    /// A supervisor restarts `child` after `crash`, now or after `delay` (its backoff).
    /// Each service it restarts then reports [`Restarting`](Self::Restarting) itself.
    RestartingChild {
        /// The child whose crash the supervisor handles.
        child: ServiceInfo<'a>,
        /// The crash (of the child, or of a descendant of it without a supervisor between).
        crash: &'a Crash,
        /// How long the supervisor waits before starting it again (zero: at once).
        delay: Duration,
    },
    /// A forfeiting supervisor gives up on `child` after `crash`: it stops it and does not
    /// restart it.
    ForfeitingChild {
        /// The child given up on.
        child: ServiceInfo<'a>,
        /// The crash that made the supervisor give up (for a group, a sibling's).
        crash: &'a Crash,
    },
    /// A hook failed during the stop sequence; the stop went on.
    HookFailed {
        /// The hook's name (`on_stop`, `on_shutdown`).
        hook: &'static str,
        /// The error it returned.
        error: &'a (dyn core::error::Error + Send + Sync + 'static),
    },
}

/// Which service an event is about.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ServiceInfo<'a> {
    /// The service's unique id within its tree.
    pub id: u64,
    /// The service's label.
    pub label: &'a str,
    /// Depth in the tree (the root has the tree's root depth, 1 by default).
    pub depth: usize,
}

/// Receives every lifecycle event of a tree.
///
/// Called synchronously where the transition happens, possibly from several threads at
/// once: keep it short and never block.
///
/// ```
/// use std::sync::Mutex;
/// use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
///
/// #[derive(Default)]
/// struct Count(Mutex<usize>);
///
/// impl Observer for Count {
///     fn observe(&self, _service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
///         if matches!(event, LifecycleEvent::Started) {
///             *self.0.lock().unwrap() += 1;
///         }
///     }
/// }
/// # let _ = Count::default();
/// ```
pub trait Observer: Send + Sync + 'static {
    /// Called for each event.
    fn observe(&self, service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>);
}

/// mode's log prefix: `[^--Webserver]`, one dash per level of depth.
pub(crate) struct Prefix<'a> {
    pub(crate) label: &'a str,
    pub(crate) depth: usize,
}

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[^")?;
        for _ in 0..self.depth {
            f.write_str("-")?;
        }
        write!(f, "{}]", self.label)
    }
}

impl Node {
    pub(crate) fn prefix(&self) -> Prefix<'_> {
        Prefix {
            label: &self.label,
            depth: self.depth + self.tree.base_depth(),
        }
    }

    /// What observers are told about this service.
    pub(crate) fn info(&self) -> ServiceInfo<'_> {
        ServiceInfo {
            id: self.id,
            label: &self.label,
            depth: self.depth + self.tree.base_depth(),
        }
    }
}

/// Reports `event` of `node` to the log and to the tree's observers.
// The check whether anyone listens is inlined at every call site, where the event's level is
// a constant: with no logger at that level and no observer, an event costs two loads.
#[inline]
pub(crate) fn emit(node: &Node, event: LifecycleEvent<'_>) {
    let logged = event.level() <= log::max_level();
    let observed = node.tree.has_observers();
    if logged || observed {
        deliver(node, &event, logged);
    }
}

impl LifecycleEvent<'_> {
    /// The log level of the event's line.
    #[inline]
    fn level(&self) -> log::Level {
        use log::Level;
        match self {
            LifecycleEvent::Crashed(_)
            | LifecycleEvent::HookFailed { .. }
            | LifecycleEvent::ForfeitingChild { .. } => Level::Error,
            LifecycleEvent::StopTimeout { .. } | LifecycleEvent::TimerOverlap { .. } => Level::Warn,
            _ => Level::Info,
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
    let level = event.level();
    let target = node.target;
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
            interval,
            late_by,
            skipped,
        } => log::log!(
            target: target,
            level,
            "{prefix}: Timer woke up too late (by {late_by:?}, interval {interval:?}); \
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
