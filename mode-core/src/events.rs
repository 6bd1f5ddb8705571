//! Lifecycle events: the one place every transition is reported.
//!
//! Each transition (starting, started, stopping, stopped, crashed, restarting, a stop
//! timeout, a timer overlap, a supervisor restarting, giving up on, pausing, resuming or
//! quarantining a child) is emitted
//! once, as a [`LifecycleEvent`]. The first observer is always the `log`
//! crate, with mode's depth prefix (`[^--Webserver]: Starting...`); further [`Observer`]s
//! (tracing, metrics, health) are added with
//! [`Tree::with_observer`](crate::Tree::with_observer). With no extra observer and logging
//! disabled, an event costs two atomic loads.

use core::fmt;

use crate::error::Crash;
use crate::state::{Parked, StopReason, WaitingOn};
use crate::time::Duration;

/// The `log` target of mode's own lines: every service's lifecycle lines (`Starting...`,
/// `Crashed reason=...`) and the Worker's, whatever the service's module, so that one
/// filter (`RUST_LOG=mode=warn`) quietens them all. What a service logs itself with
/// [`mode::info!`](crate::info) and its siblings keeps its module as target.
pub const LOG_TARGET: &str = "mode";

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
        /// The timer's name ([`TimerOptions::with_name`](crate::TimerOptions::with_name)).
        timer: &'a str,
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
    /// A supervisor pauses `child` ([`SupervisorHandle::pause`](crate::SupervisorHandle::pause)):
    /// it stops it on purpose and does not restart it until it is resumed.
    PausingChild {
        /// The child paused.
        child: ServiceInfo<'a>,
    },
    /// A supervisor starts a paused or quarantined `child` again
    /// ([`SupervisorHandle::resume`](crate::SupervisorHandle::resume)).
    ResumingChild {
        /// The child resumed.
        child: ServiceInfo<'a>,
        /// Why it was parked.
        parked: Parked,
    },
    /// A supervisor quarantines `child`, which crashed more than `restarts` times within
    /// `over` ([`Supervisor::with_quarantine`](crate::Supervisor::with_quarantine)): it
    /// stops it and does not restart it until it is resumed.
    QuarantiningChild {
        /// The child quarantined.
        child: ServiceInfo<'a>,
        /// Its last crash (of the child, or of a descendant of it).
        crash: &'a Crash,
        /// The child's own budget: restarts...
        restarts: u32,
        /// ...within this window.
        over: Duration,
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
/// use mode::events::{LifecycleEvent, Observer, ServiceInfo};
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
