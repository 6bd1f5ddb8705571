//! [`FlightRecorder`]: log lines kept while a body of code runs, and logged only if it
//! takes longer than a timeout (mode's `flight_recorder`).
//!
//! # How a run goes
//!
//! A recorder's state is one [`Phase`] and a list of kept lines, under one mutex:
//!
//! - `Idle`: no run. A recorded line is logged at once, as it is.
//! - `Recording`: a run whose timeout has not passed. Lines are kept.
//! - `Replaying`: the run's future is logging the replay. Lines are still kept; the
//!   replay logs them after its `-End of log-` line, so that no line recorded after the
//!   timeout comes before the replay's end.
//! - `Expired`: the replay is over and the body still runs. Lines are logged at once, in
//!   the replay's format.
//!
//! The run's future moves `Idle` → `Recording` when first polled, `Recording` →
//! `Replaying` → `Expired` when the timeout passes, and back to `Idle` when it completes
//! or is dropped. The mutex is a leaf: while it is held no log line is emitted, no clock
//! is read and no `Display` implementation runs.

use crate::platform::plain::atomic::{AtomicUsize, Ordering};
use crate::platform::plain::Arc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::pin;

use crate::handle::ServiceHandle;
use crate::platform::sync::Mutex;
use crate::race::{race, Either};
use crate::time::{Duration, Instant};
use crate::timer_queue::SharedTimerQueue;
use crate::utils::Seconds;

/// The number of the next recorder, for its lines (`[Flight Recorder-1]`). Global, as in
/// mode: numbers are unique within the process.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Log lines kept while a body of code runs, and logged only if it runs longer than a
/// timeout: what was the code waiting for when it hung? (mode's `flight_recorder`.)
///
/// Made with [`ServiceHandle::flight_recorder`]. [`run`](FlightRecorder::run) runs a
/// future (the body) against the timeout; what the body records with
/// [`info`](FlightRecorder::info) and its siblings is kept, not logged. If the body
/// completes in time, the kept lines are forgotten. If the timeout passes first, the
/// recorder logs, with the service's prefix, while the body goes on running:
///
/// ```text
/// WARN  [^-Cache]: Warning: Task timed out!
/// WARN  [^-Cache]: Please make sure it is hanging before restarting.
/// INFO  [^-Cache]: [Flight Recorder-1] (started 10.000s ago) Replaying logs...
/// INFO  [^-Cache]: [Flight Recorder-1] (+0.000s) +redis_client.get("user")
/// INFO  [^-Cache]: [Flight Recorder-1] -End of log-
/// ```
///
/// Each kept line is logged at the level it was recorded with, and shows when it was
/// recorded, as the time since the run began (the core has no wall clock). Lines recorded
/// after the timeout, while the body still runs, are logged at once in the same format.
/// Lines recorded outside a run are logged at once, as they are.
///
/// A recorder is cheap to clone (clones share the recorder), `Send + Sync`, and may be
/// used again for another run once a run is over. Its number (`Flight Recorder-1`) is
/// unique within the process ([`id`](FlightRecorder::id)).
///
/// The timeout runs on the tree's clock and does not end when the service is asked to
/// stop: a body that hangs in `on_stop` is reported too. A hanging body is reported, not
/// cancelled; to give up on it, use [`ServiceHandle::wait_timeout`].
///
/// # Example
///
/// A call that completes within the timeout logs nothing; one that hangs is reported after
/// ten seconds:
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::time::Duration;
/// use mode::{BoxResult, Context, Service, Stopped, Tree};
/// # use std::sync::Mutex;
/// #
/// # /// The lines services log (not mode's lifecycle lines), as `LEVEL message`.
/// # static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// # struct Capture;
/// # impl log::Log for Capture {
/// #     fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
/// #         metadata.target() != mode::events::LOG_TARGET
/// #     }
/// #     fn log(&self, record: &log::Record<'_>) {
/// #         if self.enabled(record.metadata()) {
/// #             let line = format!("{} {}", record.level(), record.args());
/// #             LINES.lock().unwrap().push(line);
/// #         }
/// #     }
/// #     fn flush(&self) {}
/// # }
/// # log::set_logger(&Capture).unwrap();
/// # log::set_max_level(log::LevelFilter::Info);
///
/// struct Cache;
///
/// impl Service for Cache {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         let me = cx.handle().clone();
///         cx.spawn(async move {
///             // The "call" takes 4 s, then 12 s: only the second is reported.
///             for secs in [4, 12] {
///                 let on_timeout = me.flight_recorder(Duration::from_secs(10));
///                 on_timeout
///                     .run(async {
///                         on_timeout.info(format_args!("+get({secs})"));
///                         me.sleep(Duration::from_secs(secs)).await?;
///                         on_timeout.info(format_args!("-get({secs})"));
///                         Ok::<(), Stopped>(())
///                     })
///                     .await?;
///             }
///             me.request_stop();
///             Ok(())
///         })?;
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// rt.block_on(Tree::new(Cache, rt.clone(), rt.clone()).run()).unwrap();
/// // The second recorder of this program is number 2.
/// assert_eq!(
///     *LINES.lock().unwrap(),
///     [
///         "WARN [^-Cache]: Warning: Task timed out!",
///         "WARN [^-Cache]: Please make sure it is hanging before restarting.",
///         "INFO [^-Cache]: [Flight Recorder-2] (started 10.000s ago) Replaying logs...",
///         "INFO [^-Cache]: [Flight Recorder-2] (+0.000s) +get(12)",
///         "INFO [^-Cache]: [Flight Recorder-2] -End of log-",
///         // Recorded after the timeout: logged at once.
///         "INFO [^-Cache]: [Flight Recorder-2] (+12.000s) -get(12)",
///     ]
/// );
/// ```
#[derive(Clone)]
pub struct FlightRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    id: usize,
    service: ServiceHandle,
    timeout: Duration,
    state: Mutex<State>,
}

struct State {
    phase: Phase,
    /// Lines kept in `Recording` (the replay) and in `Replaying` (logged after it).
    lines: Vec<Line>,
}

/// Where a recorder is in a run; see the module docs. `started` is when the run began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Recording { started: Instant },
    Replaying { started: Instant },
    Expired { started: Instant },
}

/// A kept line.
struct Line {
    level: log::Level,
    /// Time from the start of the run to when the line was recorded.
    at: Duration,
    message: String,
}

impl fmt::Debug for FlightRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlightRecorder")
            .field("id", &self.inner.id)
            .field("service", &self.inner.service.label())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl ServiceHandle {
    /// A [`FlightRecorder`] that logs with this service's prefix and reports a run that
    /// takes longer than `timeout`.
    #[must_use]
    pub fn flight_recorder(&self, timeout: impl Into<Seconds>) -> FlightRecorder {
        FlightRecorder {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                service: self.clone(),
                timeout: timeout.into().into(),
                state: Mutex::new(State {
                    phase: Phase::Idle,
                    lines: Vec::new(),
                }),
            }),
        }
    }
}

impl FlightRecorder {
    /// The recorder's number, as its lines show it: `[Flight Recorder-{id}]`.
    #[must_use]
    pub fn id(&self) -> usize {
        self.inner.id
    }

    /// How long a run may take before its lines are logged.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Runs `body` and returns its output. If the recorder's [`timeout`](Self::timeout)
    /// passes first, logs that the task timed out and the lines recorded so far, then goes
    /// on awaiting `body`; lines recorded from then on are logged at once. If `body`
    /// completes first (a body that completes in the poll in which the timeout passes
    /// counts as in time), the lines are forgotten.
    ///
    /// The run begins, and the timeout starts, when the returned future is first polled.
    /// The timeout is on the tree's clock, so it passes only while the tree runs.
    ///
    /// # Panics
    ///
    /// If polled while another run of the same recorder (or of a clone) is under way: one
    /// recorder records one body at a time.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `body`. Dropping the future ends the run: its kept lines are
    /// forgotten.
    pub async fn run<F: Future>(&self, body: F) -> F::Output {
        let inner = &*self.inner;
        let started = inner.service.now();
        let run = inner.begin(started);
        let mut body = pin!(body);
        let timeout = inner
            .service
            .node()
            .tree
            .timers
            .sleep_until(started + inner.timeout);
        let output = match race(body.as_mut(), timeout).await {
            Either::Left(output) => output,
            Either::Right(()) => {
                inner.replay(started);
                body.await
            }
        };
        drop(run);
        output
    }

    /// Records `message` at `level`: kept during a run until its timeout, logged at once
    /// otherwise. A line whose level the logger filters out (`log::max_level()`) is not
    /// even formatted.
    pub fn log(&self, level: log::Level, message: impl fmt::Display) {
        if level > log::max_level() {
            return;
        }
        let inner = &*self.inner;
        if inner.state.with(|state| state.phase) == Phase::Idle {
            inner.service.log(level, format_args!("{message}"));
            return;
        }
        // Format and read the clock outside the lock (`Display` is the caller's code).
        let message = message.to_string();
        let now = inner.service.now();
        let kept = inner.state.with(|state| match state.phase {
            Phase::Recording { started } | Phase::Replaying { started } => {
                state.lines.push(Line {
                    level,
                    at: now - started,
                    message,
                });
                Ok(())
            }
            Phase::Expired { started } => Err((Some(now - started), message)),
            // The run ended in the meantime.
            Phase::Idle => Err((None, message)),
        });
        match kept {
            Ok(()) => {}
            Err((Some(at), message)) => inner.log_line(level, at, &message),
            Err((None, message)) => inner.service.log(level, format_args!("{message}")),
        }
    }

    /// Records `message` at error level; see [`log`](FlightRecorder::log).
    pub fn error(&self, message: impl fmt::Display) {
        self.log(log::Level::Error, message);
    }

    /// Records `message` at warn level; see [`log`](FlightRecorder::log).
    pub fn warn(&self, message: impl fmt::Display) {
        self.log(log::Level::Warn, message);
    }

    /// Records `message` at info level; see [`log`](FlightRecorder::log).
    pub fn info(&self, message: impl fmt::Display) {
        self.log(log::Level::Info, message);
    }

    /// Records `message` at debug level; see [`log`](FlightRecorder::log).
    pub fn debug(&self, message: impl fmt::Display) {
        self.log(log::Level::Debug, message);
    }

    /// Records `message` at trace level; see [`log`](FlightRecorder::log).
    pub fn trace(&self, message: impl fmt::Display) {
        self.log(log::Level::Trace, message);
    }
}

impl Inner {
    /// Begins a run at `started`; the returned guard ends it.
    fn begin(&self, started: Instant) -> Run<'_> {
        let idle = self.state.with(|state| {
            let idle = state.phase == Phase::Idle;
            if idle {
                state.phase = Phase::Recording { started };
            }
            idle
        });
        assert!(
            idle,
            "FlightRecorder::run: Flight Recorder-{} already runs a body",
            self.id
        );
        Run(self)
    }

    /// Logs the replay of a run that began at `started` and timed out, then the lines
    /// recorded meanwhile, and leaves the recorder `Expired`.
    fn replay(&self, started: Instant) {
        let mut lines = self.state.with(|state| {
            state.phase = Phase::Replaying { started };
            mem::take(&mut state.lines)
        });
        let id = self.id;
        let service = &self.service;
        let running = service.now() - started;
        service.log(log::Level::Warn, format_args!("Warning: Task timed out!"));
        service.log(
            log::Level::Warn,
            format_args!("Please make sure it is hanging before restarting."),
        );
        service.log(
            log::Level::Info,
            format_args!(
                "[Flight Recorder-{id}] (started {} ago) Replaying logs...",
                Secs(running)
            ),
        );
        for line in lines.drain(..) {
            self.log_line(line.level, line.at, &line.message);
        }
        service.log(
            log::Level::Info,
            format_args!("[Flight Recorder-{id}] -End of log-"),
        );
        // Lines recorded during the replay, in order; `lines` is empty and keeps its
        // capacity for the next run.
        loop {
            let more = self.state.with(|state| {
                if state.lines.is_empty() {
                    state.phase = Phase::Expired { started };
                    mem::swap(&mut state.lines, &mut lines);
                    false
                } else {
                    mem::swap(&mut state.lines, &mut lines);
                    true
                }
            });
            if !more {
                break;
            }
            for line in lines.drain(..) {
                self.log_line(line.level, line.at, &line.message);
            }
        }
    }

    /// Logs a line of a run: `[Flight Recorder-1] (+1.250s) message`.
    fn log_line(&self, level: log::Level, at: Duration, message: &str) {
        self.service.log(
            level,
            format_args!("[Flight Recorder-{}] (+{}) {message}", self.id, Secs(at)),
        );
    }
}

/// A run under way: dropping it (the run completed or was cancelled) makes the recorder
/// `Idle` and forgets the kept lines.
struct Run<'a>(&'a Inner);

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.0.state.with(|state| {
            state.phase = Phase::Idle;
            state.lines.clear();
        });
    }
}

/// A duration in seconds with millisecond precision: `1.250s`.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0.as_secs(), self.0.subsec_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "test-util")]
    mod runs {
        use super::*;
        use crate::testing::VirtualRuntime;
        use crate::{Service, Tree};
        use core::task::{Context, Poll, Waker};

        struct Idle;

        impl Service for Idle {}

        /// A recorder of a tree that is not run: its timeout never passes.
        fn recorder() -> FlightRecorder {
            let rt = VirtualRuntime::new();
            let tree = Tree::new(Idle, rt.clone(), rt);
            tree.handle().flight_recorder(Duration::from_secs(10))
        }

        fn poll<F: Future>(future: core::pin::Pin<&mut F>) -> Poll<F::Output> {
            future.poll(&mut Context::from_waker(Waker::noop()))
        }

        fn phase(recorder: &FlightRecorder) -> (Phase, usize) {
            recorder
                .inner
                .state
                .with(|state| (state.phase, state.lines.len()))
        }

        #[test]
        fn a_dropped_run_forgets_its_lines() {
            let recorder = recorder();
            {
                let run = core::pin::pin!(recorder.run(core::future::pending::<()>()));
                assert!(poll(run).is_pending());
                // No logger is installed; lines the level lets through are still kept.
                log::set_max_level(log::LevelFilter::Info);
                recorder.error("kept");
                recorder.debug("filtered out");
                let (phase, lines) = phase(&recorder);
                assert!(matches!(phase, Phase::Recording { .. }), "{phase:?}");
                assert_eq!(lines, 1);
            }
            assert_eq!(phase(&recorder), (Phase::Idle, 0));
            // Idle again: another run may begin.
            let run = core::pin::pin!(recorder.run(async { 7 }));
            assert_eq!(poll(run), Poll::Ready(7));
            assert_eq!(phase(&recorder), (Phase::Idle, 0));
        }

        #[test]
        #[should_panic(expected = "Flight Recorder-")]
        fn overlapping_runs_panic() {
            let recorder = recorder();
            let clone = recorder.clone();
            let first = core::pin::pin!(recorder.run(core::future::pending::<()>()));
            assert!(poll(first).is_pending());
            let second = core::pin::pin!(clone.run(core::future::pending::<()>()));
            let _ = poll(second);
        }
    }

    #[test]
    fn seconds_show_milliseconds() {
        assert_eq!(Secs(Duration::ZERO).to_string(), "0.000s");
        assert_eq!(Secs(Duration::from_millis(1250)).to_string(), "1.250s");
        assert_eq!(Secs(Duration::new(61, 999_999_999)).to_string(), "61.999s");
    }
}
