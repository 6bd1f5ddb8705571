//! Errors: what a hook or task returns ([`BoxResult`], [`BoxError`]), why a service
//! crashed ([`Crash`]), and what mode's own operations fail with ([`Error`]).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::{self, Write as _};

use crate::platform::sync::atomic::{AtomicBool, Ordering};
use crate::platform::sync::Arc;
use crate::runtime::SpawnError;
use crate::time::Duration;

/// The error a hook, background task or timer callback may return.
///
/// Any error type converts into it with `?`, and so do strings:
///
/// ```
/// use mode::BoxError;
///
/// fn parse(port: &str) -> Result<u16, BoxError> {
///     let port: u16 = port.parse()?;
///     if port == 0 {
///         return Err("port 0 is not a listening port".into());
///     }
///     Ok(port)
/// }
/// assert_eq!(parse("8000").unwrap(), 8000);
/// assert!(parse("x").is_err());
/// ```
pub type BoxError = Box<dyn core::error::Error + Send + Sync + 'static>;

/// What a service hook, background task or timer callback returns: `Ok`, or any error
/// boxed ([`BoxError`]). mode's own operations return `Result<T, `[`Error`]`>` instead.
///
/// ```
/// use mode::{BoxResult, Context, Service};
///
/// struct Webserver;
///
/// impl Service for Webserver {
///     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
///         let port: u16 = "8000".parse()?; // any error converts with `?`
///         mode::info!(cx, "port {port}");
///         Ok(())
///     }
/// }
/// # let _ = Webserver;
/// ```
pub type BoxResult<T = ()> = core::result::Result<T, BoxError>;

/// Why a service crashed: the service that failed first and the error it failed with.
///
/// Cheap to clone (reference counted), so every waiter, the parent and the root can hold
/// the same reason.
///
/// ```
/// use mode::Crash;
///
/// let crash = Crash::new("Webserver", "address in use".into());
/// assert_eq!(crash.service(), "Webserver");
/// assert_eq!(crash.to_string(), "Webserver crashed: address in use");
/// ```
#[derive(Clone)]
pub struct Crash {
    inner: Arc<CrashInner>,
}

struct CrashInner {
    service: Cow<'static, str>,
    error: BoxError,
    /// Whether a supervisor, or the stop of the tree, acted on the crash (shared by every
    /// service that records it on its way up).
    handled: AtomicBool,
}

impl Crash {
    /// A crash of the service labelled `service` with `error`.
    pub fn new(service: impl Into<Cow<'static, str>>, error: BoxError) -> Self {
        Crash {
            inner: Arc::new(CrashInner {
                service: service.into(),
                error,
                handled: AtomicBool::new(false),
            }),
        }
    }

    /// Marks the crash handled: a supervisor or the stop of the tree acted on it.
    pub(crate) fn mark_handled(&self) {
        self.inner.handled.store(true, Ordering::Release);
    }

    /// Marks the crash handled; whether it was not before.
    pub(crate) fn take_unhandled(&self) -> bool {
        !self.inner.handled.swap(true, Ordering::AcqRel)
    }

    /// The label of the service that crashed.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The error the service crashed with.
    #[must_use]
    pub fn error(&self) -> &(dyn core::error::Error + Send + Sync + 'static) {
        &*self.inner.error
    }

    /// Whether two values are the same crash (not merely equal text).
    #[must_use]
    pub fn ptr_eq(&self, other: &Crash) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Crash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crash")
            .field("service", &Quoted(self.service()))
            .field("error", &self.inner.error)
            .finish()
    }
}

/// A label in quotes, as `str`'s `Debug` writes it, escaping only quotes and backslashes:
/// `str`'s own escapes every character that does not print, and the Unicode tables it needs
/// for that would be linked into every firmware, whose users can `{:?}` a crash.
struct Quoted<'a>(&'a str);

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            if matches!(c, '"' | '\\') {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

impl fmt::Display for Crash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} crashed: {}", self.service(), self.inner.error)
    }
}

impl core::error::Error for Crash {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&*self.inner.error)
    }
}

/// The crash's error alone when `child` itself crashed; the whole crash when a service
/// below it did.
pub(crate) struct ChildCrash<'a> {
    pub(crate) child: &'a str,
    pub(crate) crash: &'a Crash,
}

impl fmt::Display for ChildCrash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.crash.service() == self.child {
            fmt::Display::fmt(self.crash.error(), f)
        } else {
            fmt::Display::fmt(self.crash, f)
        }
    }
}

/// A panic caught in a hook or task (with `std`), as the reason of a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    message: String,
}

impl Panicked {
    /// A panic with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Panicked {
            message: message.into(),
        }
    }

    /// The panic message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    #[cfg(feature = "std")]
    pub(crate) fn from_payload(payload: &(dyn core::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            String::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            String::from("Box<dyn Any>")
        };
        Panicked { message }
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl core::error::Error for Panicked {}

/// Returned by waits that ended early because the service was asked to stop.
///
/// A background task may propagate it with `?`: a task that ends with `Stopped` is a clean
/// exit, not a crash.
///
/// ```
/// use mode::Stopped;
/// assert_eq!(Stopped.to_string(), "the service is stopping");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the service is stopping")
    }
}

impl core::error::Error for Stopped {}

/// A task's request to end the program with an exit status (Python mode's `SystemExit`).
///
/// A background task that returns `Err(SystemExit(n).into())` ends cleanly and asks the
/// tree to stop, as [`ServiceHandle::request_exit`](crate::ServiceHandle::request_exit)`(n)`
/// does; the Worker then exits the process with status `n` once the tree has stopped. A
/// hook that returns it crashes its service as any error does, and the Worker still exits
/// with `n` if that crash stops the tree. See [`Exit::exit_status`](crate::Exit::exit_status).
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{BoxResult, Context, Service, SystemExit, Tree};
///
/// struct Migrate;
///
/// impl Service for Migrate {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         cx.handle().spawn(async {
///             // Nothing to migrate: tell the shell so.
///             Err(SystemExit(3).into())
///         })?;
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// let exit = rt.block_on(Tree::new(Migrate, rt.clone(), rt.clone()).run()).unwrap();
/// assert_eq!(exit.exit_status(), Some(3));
/// assert_eq!(exit.to_string(), "asked to exit with status 3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SystemExit(pub u8);

impl fmt::Display for SystemExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit with status {}", self.0)
    }
}

impl core::error::Error for SystemExit {}

/// Why a [`wait`](crate::ServiceHandle::wait) did not return the future's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WaitError {
    /// The service was asked to stop first.
    Stopped,
    /// The timeout elapsed first.
    TimedOut(Duration),
    /// The timeout was zero; the future was not polled.
    ZeroTimeout,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Stopped => f.write_str("the service is stopping"),
            WaitError::TimedOut(after) => write!(f, "timed out after {after:?}"),
            WaitError::ZeroTimeout => f.write_str("a timeout must be greater than zero"),
        }
    }
}

impl core::error::Error for WaitError {}

impl From<Stopped> for WaitError {
    fn from(_: Stopped) -> Self {
        WaitError::Stopped
    }
}

/// Why awaiting a [`TaskHandle`](crate::task::TaskHandle) gave no output.
///
/// ```
/// use mode::TaskError;
/// assert_eq!(TaskError::Aborted.to_string(), "the task was aborted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TaskError {
    /// [`TaskHandle::abort`](crate::task::TaskHandle::abort) ended it.
    Aborted,
    /// Its service stopped first (or it returned [`Stopped`], a clean exit, or
    /// [`SystemExit`], which asks the tree to stop).
    Cancelled,
    /// It returned an error or panicked, which crashed its service: the error is in the
    /// service's [`crash_reason`](crate::ServiceHandle::crash_reason).
    Failed,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskError::Aborted => "the task was aborted",
            TaskError::Cancelled => "the task was cancelled: its service stopped",
            TaskError::Failed => "the task failed and crashed its service",
        })
    }
}

impl core::error::Error for TaskError {}

/// Misuse of the service API, or an operation the service's state does not allow.
///
/// ```
/// use mode::Error;
/// assert_eq!(
///     Error::NotStarted.to_string(),
///     "the service was never started"
/// );
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// `start` on a service that is starting or running.
    AlreadyStarted,
    /// `restart` on a service that was never started.
    NotStarted,
    /// The service is stopping or stopped and takes no new children, tasks or timers.
    ServiceStopped,
    /// The parent of the service is not running, so the service cannot be started.
    ParentNotRunning,
    /// A timer interval of zero.
    ZeroInterval,
    /// The executor refused a task.
    Spawn(SpawnError),
    /// The service crashed (while starting, or instead of restarting).
    Crashed(Crash),
    /// The tree that runs the service has finished; nothing drives it any more.
    TreeFinished,
    /// A stop of the service (or of an ancestor) was requested before the restart started
    /// it again: the stop wins, and the service stays stopped.
    RestartCancelled,
    /// The request was awaited from a hook of the service (or of a service below it),
    /// which the request has to wait for: it was not waited for, and runs once the hook
    /// has returned. (Noticed with the `std` feature.)
    AwaitedFromOwnHook,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyStarted => f.write_str("the service is already started"),
            Error::NotStarted => f.write_str("the service was never started"),
            Error::ServiceStopped => f.write_str("the service is stopping or stopped"),
            Error::ParentNotRunning => f.write_str("the parent service is not running"),
            Error::ZeroInterval => f.write_str("a timer interval must be greater than zero"),
            Error::Spawn(err) => write!(f, "spawn failed: {err}"),
            Error::Crashed(crash) => fmt::Display::fmt(crash, f),
            Error::TreeFinished => f.write_str("the service tree is no longer running"),
            Error::RestartCancelled => f.write_str("the restart was cancelled by a stop"),
            Error::AwaitedFromOwnHook => f.write_str(
                "awaited from a hook of the service (or of one below it), which the request \
                 waits for; it runs once the hook has returned",
            ),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Spawn(err) => Some(err),
            Error::Crashed(crash) => Some(crash),
            _ => None,
        }
    }
}

impl From<SpawnError> for Error {
    fn from(err: SpawnError) -> Self {
        Error::Spawn(err)
    }
}

/// Whether an error ends a task cleanly: the service was stopping.
pub(crate) fn is_clean_exit(err: &BoxError) -> bool {
    err.downcast_ref::<Stopped>().is_some()
        || matches!(err.downcast_ref::<WaitError>(), Some(WaitError::Stopped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn a_crash_debugs_its_label_as_str_does() {
        for label in ["Webserver", "say \"hi\"", "C:\\svc", "ünï"] {
            let crash = Crash::new(label, "down".into());
            assert_eq!(
                format!("{crash:?}"),
                format!("Crash {{ service: {label:?}, error: \"down\" }}")
            );
        }
    }
}
