//! [`Exit`]: how a run of a tree ended — why the root stopped, and which services did not
//! stop cleanly on the way.
//!
//! The root's [`StopReason`] says why the tree stopped; it does not say whether everything
//! below stopped well. A service whose `on_stop` fails, whose stop times out, or that
//! crashes while it stops is logged when it happens and recorded as an [`UncleanStop`] of
//! the run. [`Exit::is_failure`] is true after a crash of the tree or any unclean stop, and
//! that is what the entry points turn into the process's exit status.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{BoxError, Crash, SystemExit};
use crate::platform::sync::Arc;
use crate::state::{StopReason, WaitingOn};
use crate::time::Duration;

/// How [`Tree::run`](crate::Tree::run) ended: why the root stopped, and the services that
/// failed to stop cleanly meanwhile.
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{BoxResult, Context, Service, StopReason, Tree};
///
/// struct Leaky;
///
/// impl Service for Leaky {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         cx.handle().request_stop();
///         Ok(())
///     }
///
///     async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
///         Err("could not flush the cache".into())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// let exit = rt.block_on(Tree::new(Leaky, rt.clone(), rt.clone()).run()).unwrap();
/// // Stopped as asked, but not cleanly: a failure all the same.
/// assert!(matches!(exit.reason(), StopReason::Requested));
/// assert_eq!(exit.unclean_stops().len(), 1);
/// assert_eq!(
///     exit.unclean_stops()[0].to_string(),
///     "Leaky: on_stop failed: could not flush the cache"
/// );
/// assert!(exit.is_failure());
/// ```
#[derive(Debug, Clone)]
pub struct Exit {
    reason: StopReason,
    unclean: Vec<UncleanStop>,
    exit_status: Option<u8>,
}

impl Exit {
    pub(crate) fn new(
        reason: StopReason,
        unclean: Vec<UncleanStop>,
        exit_status: Option<u8>,
    ) -> Self {
        Exit {
            reason,
            unclean,
            exit_status,
        }
    }

    /// Why the root stopped.
    #[must_use]
    pub fn reason(&self) -> &StopReason {
        &self.reason
    }

    /// Why the root stopped, without the rest.
    #[must_use]
    pub fn into_reason(self) -> StopReason {
        self.reason
    }

    /// The services that did not stop cleanly during the run, in the order it happened.
    ///
    /// Stops that are part of a restart are left out: the restart recovers the service
    /// (they are logged all the same).
    #[must_use]
    pub fn unclean_stops(&self) -> &[UncleanStop] {
        &self.unclean
    }

    /// Whether the run failed: the tree stopped because of a crash or a stop timeout, or a
    /// service did not stop cleanly.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        self.reason.is_failure() || !self.unclean.is_empty()
    }

    /// Whether the run ended as asked, with every service stopped cleanly.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        !self.is_failure()
    }

    /// The process exit status a service asked for: with
    /// [`ServiceHandle::request_exit`](crate::ServiceHandle::request_exit) or a task's
    /// [`SystemExit`] (the first one asked wins), or the [`SystemExit`] of the crash that
    /// stopped the tree. The Worker exits with it, whatever else happened in the stop.
    #[must_use]
    pub fn exit_status(&self) -> Option<u8> {
        self.exit_status.or_else(|| {
            let crash = self.reason.crash()?;
            crash
                .error()
                .downcast_ref::<SystemExit>()
                .map(|exit| exit.0)
        })
    }
}

/// The reason, then which services did not stop cleanly, if any:
/// `asked to stop; 2 services did not stop cleanly (Cache, Db)`, or
/// `asked to exit with status 3` after [`SystemExit`].
impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reason, self.exit_status) {
            (StopReason::Requested, Some(status)) => {
                write!(f, "asked to exit with status {status}")?;
            }
            (reason, _) => fmt::Display::fmt(reason, f)?,
        }
        // Each service once, in the order of its first failure.
        let mut services: Vec<&str> = Vec::new();
        for unclean in &self.unclean {
            if !services.contains(&unclean.service()) {
                services.push(unclean.service());
            }
        }
        if let Some((first, rest)) = services.split_first() {
            let count = services.len();
            let noun = if count == 1 { "service" } else { "services" };
            write!(f, "; {count} {noun} did not stop cleanly ({first}")?;
            for service in rest {
                write!(f, ", {service}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A service that did not stop cleanly: which one, and what went wrong.
///
/// Cheap to clone (reference counted). Displays as `Label: what went wrong`.
#[derive(Clone)]
pub struct UncleanStop {
    inner: Arc<UncleanInner>,
}

struct UncleanInner {
    service: Cow<'static, str>,
    failure: StopFailure,
}

impl UncleanStop {
    pub(crate) fn new(service: Cow<'static, str>, failure: StopFailure) -> Self {
        UncleanStop {
            inner: Arc::new(UncleanInner { service, failure }),
        }
    }

    /// The label of the service.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// What went wrong.
    #[must_use]
    pub fn failure(&self) -> &StopFailure {
        &self.inner.failure
    }
}

impl fmt::Debug for UncleanStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UncleanStop")
            .field("service", &self.service())
            .field("failure", self.failure())
            .finish()
    }
}

impl fmt::Display for UncleanStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.service(), self.failure())
    }
}

/// What went wrong in a stop ([`UncleanStop::failure`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum StopFailure {
    /// `on_stop` or `on_shutdown` returned an error or panicked; the stop went on.
    HookFailed {
        /// The hook's name.
        hook: &'static str,
        /// What it returned (a panic is a [`Panicked`](crate::Panicked)).
        error: BoxError,
    },
    /// A step of the stop did not finish within the service's stop timeout and was cut
    /// short.
    TimedOut {
        /// The step that was cut short.
        waiting_on: WaitingOn,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The service crashed while it was stopping, or while its stop was already on the
    /// way, so no supervisor handled the crash.
    Crashed(Crash),
}

impl fmt::Display for StopFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopFailure::HookFailed { hook, error } => write!(f, "{hook} failed: {error}"),
            StopFailure::TimedOut {
                waiting_on,
                timeout,
            } => write!(
                f,
                "stop timed out after {timeout:?} waiting for {waiting_on}"
            ),
            StopFailure::Crashed(crash) => write!(f, "crashed: {}", crash.error()),
        }
    }
}
