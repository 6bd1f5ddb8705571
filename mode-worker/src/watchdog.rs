//! Blocking detection (`--blocking-timeout`): a thread that notices when a hook, a task or
//! a timer has not yielded for the timeout, and logs what was running, as Python mode's
//! Worker does.
//!
//! The watchdog samples [`mode::blocking`](mode_core::blocking) a few times per timeout. A thread seen
//! inside the same poll for at least the timeout is logged once, as a warning:
//!
//! ```text
//! [^Worker]: Blocking detected: [^--Webserver] in on_start has not yielded for 1.0s (thread main)
//! [^Worker]: Blocking detected: [^--Webserver] in task flush has not yielded for 1.0s (thread tokio-runtime-worker)
//! ```
//!
//! and once it yields, with how long it held its thread (to within a sampling period):
//!
//! ```text
//! [^Worker]: Blocking ended: [^--Webserver] in on_start yielded after 2.3s (thread main)
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{JoinHandle, Thread, ThreadId};
use std::time::{Duration, Instant};

use mode_core::blocking::{self, Busy, Running, Watch};
use mode_core::events::LOG_TARGET;

use crate::serve::PREFIX;

/// The longest time between two samples, whatever the timeout: how late a report may be.
const MAX_PERIOD: Duration = Duration::from_millis(250);

/// The watchdog's thread. Dropping it stops the thread, and waits for it.
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// Dropped to stop the thread (it never sends).
    stop: Option<Sender<Infallible>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a watchdog (a thread named `mode-watchdog`) that logs every poll of a hook,
/// task or timer that has not yielded for `timeout`; see the module docs. Polls that
/// begin once this returns are watched, until the watchdog is dropped.
///
/// If the thread cannot be started, logs a warning and returns a watchdog that watches
/// nothing.
pub(crate) fn start(timeout: Duration) -> Watchdog {
    let watch = blocking::watch();
    let (stop, stopped) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("mode-watchdog".into())
        .spawn(move || run(&watch, timeout, &stopped));
    match thread {
        Ok(thread) => Watchdog {
            stop: Some(stop),
            thread: Some(thread),
        },
        Err(err) => {
            log::warn!(
                target: LOG_TARGET,
                "{PREFIX}: Blocking detection is off: cannot start its thread: {err}"
            );
            Watchdog {
                stop: None,
                thread: None,
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // The thread wakes as soon as the sender is gone.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic of the watchdog's thread has been reported already by its hook.
            let _ = thread.join();
        }
    }
}

/// The time between two samples: a quarter of the timeout, at most [`MAX_PERIOD`].
fn period(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(1), MAX_PERIOD)
}

/// The watchdog's thread: samples every [`period`] until `stopped` disconnects, then once
/// more, to report the polls that ended meanwhile.
fn run(watch: &Watch, timeout: Duration, stopped: &Receiver<Infallible>) {
    let mut polls = Polls::default();
    loop {
        let stopping = match stopped.recv_timeout(period(timeout)) {
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
            Ok(never) => match never {},
        };
        polls.check(watch.sample(), Instant::now(), timeout);
        if stopping {
            return;
        }
    }
}

/// The polls the watchdog has seen and not yet seen end, by thread.
#[derive(Default)]
struct Polls {
    by_thread: HashMap<ThreadId, Seen>,
}

/// A poll seen in a sample.
struct Seen {
    busy: Busy,
    /// The first sample that saw it.
    since: Instant,
    /// What it ran, once it was reported as blocking.
    reported: Option<Running>,
}

impl Polls {
    /// Takes in a sample taken at `now`: reports the polls that have not yielded for
    /// `timeout` (once each) and the end of those reported.
    fn check(&mut self, sample: Vec<Busy>, now: Instant, timeout: Duration) {
        let mut previous = std::mem::take(&mut self.by_thread);
        for busy in sample {
            let thread = busy.thread().id();
            let mut seen = match previous.remove(&thread) {
                Some(seen) if seen.busy.poll_number() == busy.poll_number() => seen,
                other => {
                    if let Some(ended) = other {
                        ended.report_end(now);
                    }
                    Seen {
                        busy,
                        since: now,
                        reported: None,
                    }
                }
            };
            let blocked = now.saturating_duration_since(seen.since);
            if seen.reported.is_none() && blocked >= timeout {
                // `None` if it yielded since the sample: nothing to report.
                if let Some(running) = seen.busy.running() {
                    log::warn!(
                        target: LOG_TARGET,
                        "{PREFIX}: Blocking detected: {running} has not yielded for {blocked:.1?} (thread {})",
                        thread_name(seen.busy.thread())
                    );
                    seen.reported = Some(running);
                }
            }
            self.by_thread.insert(thread, seen);
        }
        for ended in previous.into_values() {
            ended.report_end(now);
        }
    }
}

impl Seen {
    /// The poll was seen to end by the sample taken at `now`: logs it if it was reported.
    fn report_end(self, now: Instant) {
        if let Some(running) = self.reported {
            let blocked = now.saturating_duration_since(self.since);
            log::warn!(
                target: LOG_TARGET,
                "{PREFIX}: Blocking ended: {running} yielded after {blocked:.1?} (thread {})",
                thread_name(self.busy.thread())
            );
        }
    }
}

/// A thread's name, or its id if it has none.
fn thread_name(thread: &Thread) -> String {
    match thread.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", thread.id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mode_core::testing::VirtualRuntime;
    use mode_core::{BoxResult, Context, Service, Tree};
    use std::sync::{Arc, Barrier, Mutex, Once};

    /// Every line logged to `LOG_TARGET` in this process, from any thread.
    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.target() == LOG_TARGET
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let line = format!("{} {}", record.level(), record.args());
                LINES.lock().unwrap().push(line);
            }
        }

        fn flush(&self) {}
    }

    fn capture() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            log::set_logger(&Capture).expect("no other logger in mode-worker's unit tests");
            log::set_max_level(log::LevelFilter::Info);
        });
    }

    /// The captured lines that contain `text`.
    fn lines_with(text: &str) -> Vec<String> {
        let lines = LINES.lock().unwrap();
        lines.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// Holds its thread in `on_start` until the test lets it go, then stops the tree.
    struct Held(Arc<Barrier>);

    impl Service for Held {
        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
            self.0.wait(); // inside the poll
            self.0.wait(); // the test has looked
            cx.handle().request_stop();
            Ok(())
        }
    }

    /// A hook that holds its thread is reported once it has been seen for the timeout,
    /// once only, and again when it yields. The samples are real, their times are given:
    /// nothing depends on how fast the threads run.
    #[test]
    fn a_blocking_hook_is_reported_once_and_again_when_it_yields() {
        capture();
        let watch = blocking::watch();
        let gate = Arc::new(Barrier::new(2));
        let service = Held(gate.clone());
        let driver = std::thread::spawn(move || {
            let rt = VirtualRuntime::new();
            rt.block_on(Tree::new(service, rt.clone(), rt.clone()).run())
                .unwrap()
        });
        gate.wait();

        let (timeout, start) = (Duration::from_secs(1), Instant::now());
        let detected =
            "[^Worker]: Blocking detected: [^-Held] in on_start has not yielded for 1.0s";
        let mut polls = Polls::default();
        polls.check(watch.sample(), start, timeout);
        polls.check(watch.sample(), start + timeout / 2, timeout);
        assert!(lines_with(detected).is_empty());
        polls.check(watch.sample(), start + timeout, timeout);
        polls.check(watch.sample(), start + timeout * 2, timeout);
        let lines = lines_with(detected);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("WARN ") && lines[0].contains(" (thread "));

        gate.wait();
        assert!(driver.join().unwrap().is_clean());
        polls.check(watch.sample(), start + timeout * 3, timeout);
        let ended =
            lines_with("[^Worker]: Blocking ended: [^-Held] in on_start yielded after 3.0s");
        assert_eq!(ended.len(), 1, "{ended:?}");
    }

    #[test]
    fn samples_are_a_quarter_of_the_timeout_within_bounds() {
        assert_eq!(
            period(Duration::from_millis(100)),
            Duration::from_millis(25)
        );
        assert_eq!(period(Duration::from_secs(10)), MAX_PERIOD);
        assert_eq!(period(Duration::ZERO), Duration::from_millis(1));
    }
}
