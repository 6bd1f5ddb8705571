//! A service's lifecycle state and the reason it stopped.

use core::fmt;

use crate::error::Crash;

/// Where a service is in its lifecycle.
///
/// `Init → Starting → Running → Stopping → Stopped`; a restart goes from `Stopped` back to
/// `Starting`. A crash is not a state of its own: the crashed service is stopped, and
/// [`ServiceHandle::crash_reason`](crate::ServiceHandle::crash_reason) keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum State {
    /// Created, never started.
    Init = 0,
    /// Running its start sequence.
    Starting = 1,
    /// Started and running.
    Running = 2,
    /// Running its stop sequence.
    Stopping = 3,
    /// Stopped (may be started again by a restart).
    Stopped = 4,
}

impl State {
    pub(crate) fn from_u8(value: u8) -> State {
        match value {
            0 => State::Init,
            1 => State::Starting,
            2 => State::Running,
            3 => State::Stopping,
            _ => State::Stopped,
        }
    }

    /// Whether the service is starting or running.
    #[must_use]
    pub fn is_active(self) -> bool {
        matches!(self, State::Starting | State::Running)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Init => "init",
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
        })
    }
}

/// Why a supervised child stays stopped on purpose: its supervisor neither restarts it
/// nor counts it as a crash until [`SupervisorHandle::resume`](crate::SupervisorHandle::resume)
/// starts it again ([`ServiceHandle::parked`](crate::ServiceHandle::parked)).
///
/// ```
/// use mode::Parked;
///
/// assert_eq!(Parked::Paused.to_string(), "paused");
/// assert_eq!(Parked::Quarantined.to_string(), "quarantined");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Parked {
    /// Stopped by [`SupervisorHandle::pause`](crate::SupervisorHandle::pause).
    Paused = 1,
    /// Crashed more often than its own restart budget allows
    /// ([`Supervisor::with_quarantine`](crate::Supervisor::with_quarantine)); its last
    /// crash stays readable with
    /// [`ServiceHandle::crash_reason`](crate::ServiceHandle::crash_reason).
    Quarantined = 2,
}

impl Parked {
    pub(crate) fn from_u8(value: u8) -> Option<Parked> {
        match value {
            1 => Some(Parked::Paused),
            2 => Some(Parked::Quarantined),
            _ => None,
        }
    }
}

impl fmt::Display for Parked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Parked::Paused => "paused",
            Parked::Quarantined => "quarantined",
        })
    }
}

/// Why a service stopped (or is stopping).
///
/// `on_stop`, the log and every waiter can read it; the root's reason is the
/// [`Exit::reason`](crate::Exit::reason) of the tree's run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StopReason {
    /// Somebody asked it to stop ([`ServiceHandle::stop`](crate::ServiceHandle::stop), a
    /// signal).
    Requested,
    /// Its parent is stopping.
    ParentStopping,
    /// It (or, for an ancestor, a descendant without a supervisor) crashed.
    Crashed(Crash),
    /// It is being restarted.
    Restarting,
    /// Its stop did not finish within its stop timeout; the rest was cut short.
    StopTimeout {
        /// The step the stop was still waiting on.
        waiting_on: WaitingOn,
    },
}

impl StopReason {
    /// The crash, if the service stopped because of one.
    #[must_use]
    pub fn crash(&self) -> Option<&Crash> {
        match self {
            StopReason::Crashed(crash) => Some(crash),
            _ => None,
        }
    }

    /// Whether this reason means failure (a crash or a stop timeout).
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StopReason::Crashed(_) | StopReason::StopTimeout { .. }
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Requested => f.write_str("asked to stop"),
            StopReason::ParentStopping => f.write_str("parent stopping"),
            StopReason::Crashed(crash) => write!(f, "crashed: {crash}"),
            StopReason::Restarting => f.write_str("restarting"),
            StopReason::StopTimeout { waiting_on } => {
                write!(f, "stop timed out waiting for {waiting_on}")
            }
        }
    }
}

/// The step of a stop sequence that a timed-out stop was waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WaitingOn {
    /// The `on_stop` hook.
    OnStop,
    /// Its children, stopping one by one in reverse order.
    Children,
    /// The service's background tasks and futures (how many were left).
    Tasks(usize),
    /// The shutdown flag (`wait_for_shutdown`), never set.
    Shutdown,
    /// An async resource's close.
    Resource,
    /// The `on_shutdown` hook.
    OnShutdown,
}

impl fmt::Display for WaitingOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitingOn::OnStop => f.write_str("on_stop"),
            WaitingOn::Children => f.write_str("its children"),
            WaitingOn::Tasks(n) => write!(f, "{n} task(s)"),
            WaitingOn::Shutdown => f.write_str("the shutdown flag (set_shutdown)"),
            WaitingOn::Resource => f.write_str("a resource to close"),
            WaitingOn::OnShutdown => f.write_str("on_shutdown"),
        }
    }
}
