//! Flight recorders: lines kept while a body runs, forgotten if it completes in time,
//! replayed when its timeout passes while it still runs.

use std::borrow::ToOwned;
use std::format;
use std::string::String;
use std::vec::Vec;

use mode_core::time::Duration;
use mode_core::{FlightRecorder, Service, ServiceHandle};

use crate::journal::{capture, record};
use crate::{run_with, Backend};

/// A root with nothing to do: the recorders run in the test's driver future, on the
/// thread whose journal is captured.
struct Recorded;

impl Service for Recorded {}

/// The unit of time of these tests: on a real clock, long enough that a loaded machine's
/// late wake-ups (often 5–15 ms) never reorder a deadline and a sleep one unit apart.
fn unit<B: Backend>(backend: &B) -> Duration {
    if backend.is_virtual() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(100)
    }
}

/// The journal between the `begin` and `end` markers, with the times of recorder lines
/// masked on a real clock (they are exact on virtual time only).
fn between_markers<B: Backend>(backend: &B, journal: &[String]) -> Vec<String> {
    let begin = journal.iter().position(|l| l == "begin").expect("begin");
    let end = journal.iter().position(|l| l == "end").expect("end");
    journal[begin + 1..end]
        .iter()
        .map(|line| {
            if backend.is_virtual() {
                line.clone()
            } else {
                mask_times(line)
            }
        })
        .collect()
}

/// `(+1.250s)` → `(+…)`, `(started 4.012s ago)` → `(started … ago)`.
fn mask_times(line: &str) -> String {
    let mut out = line.to_owned();
    for (open, close) in [("(+", "s)"), ("(started ", "s ago)")] {
        if let Some(at) = out.find(open) {
            let from = at + open.len();
            if let Some(len) = out[from..].find(close) {
                out.replace_range(from..from + len + 1, "…");
            }
        }
    }
    out
}

/// What a recorder's replayed or direct line looks like, time masked on a real clock.
fn line<B: Backend>(backend: &B, recorder: &FlightRecorder, level: &str, rest: &str) -> String {
    let line = format!(
        "{level} [^-Recorded]: [Flight Recorder-{}] {rest}",
        recorder.id()
    );
    if backend.is_virtual() {
        line
    } else {
        mask_times(&line)
    }
}

/// Runs `driver` with the root's handle once the root runs, then stops the tree; returns
/// the driver's output and the whole journal.
fn with_root<B, F, Fut>(backend: &B, driver: F) -> (Fut::Output, Vec<String>)
where
    B: Backend,
    F: FnOnce(ServiceHandle) -> Fut,
    Fut: core::future::Future,
{
    let tree = backend.tree(Recorded);
    let root = tree.handle();
    let driver = driver(root.clone());
    let ((exit, output), journal) = capture(|| {
        backend.block_on(run_with(tree, async {
            root.wait_until_running().await.unwrap();
            let output = driver.await;
            root.stop().await;
            output
        }))
    });
    assert!(!exit.is_failure(), "{exit:?}");
    (output, journal)
}

/// A body that completes before the timeout logs nothing of what it recorded, and its
/// output is the run's.
pub fn a_body_done_in_time_logs_nothing<B: Backend>(backend: B) {
    let unit = unit(&backend);
    let (output, journal) = with_root(&backend, |root| async move {
        let on_timeout = root.flight_recorder(unit * 4);
        record("begin");
        let output = on_timeout
            .run(async {
                on_timeout.info(r#"+get("user")"#);
                root.sleep(unit).await.unwrap();
                on_timeout.warn(r#"-get("user")"#);
                42
            })
            .await;
        record("end");
        // Past the timeout the run is over: nothing is replayed late.
        root.sleep(unit * 4).await.unwrap();
        output
    });
    assert_eq!(output, 42);
    assert_eq!(between_markers(&backend, &journal), Vec::<String>::new());
    assert!(
        !journal
            .iter()
            .any(|l| l.contains("Flight Recorder") || l.contains("timed out")),
        "{journal:#?}"
    );
}

/// A body still running at the timeout: the warning, then the recorded lines in order
/// with their levels and times, then the end of the log, all while the body runs.
pub fn a_body_past_its_timeout_replays_its_lines<B: Backend>(backend: B) {
    let unit = unit(&backend);
    let (recorder, journal) = with_root(&backend, |root| async move {
        let on_timeout = root.flight_recorder(unit * 4);
        record("begin");
        on_timeout
            .run(async {
                on_timeout.info(r#"+get("user")"#);
                root.sleep(unit).await.unwrap();
                on_timeout.info(r#"-get("user")"#);
                on_timeout.debug("filtered out by the logger's level");
                on_timeout.warn(r#"+get("posts")"#);
                root.sleep(unit * 5).await.unwrap();
                record("body: woke up");
            })
            .await;
        record("end");
        on_timeout
    });
    let line = |level, rest| line(&backend, &recorder, level, rest);
    assert_eq!(
        between_markers(&backend, &journal),
        [
            "WARN [^-Recorded]: Warning: Task timed out!".to_owned(),
            "WARN [^-Recorded]: Please make sure it is hanging before restarting.".to_owned(),
            line("INFO", "(started 4.000s ago) Replaying logs..."),
            line("INFO", r#"(+0.000s) +get("user")"#),
            line("INFO", r#"(+1.000s) -get("user")"#),
            line("WARN", r#"(+1.000s) +get("posts")"#),
            line("INFO", "-End of log-"),
            "body: woke up".to_owned(),
        ]
    );
}

/// After the timeout, a recorded line is logged at once; outside a run, as it is; and a
/// recorder runs again, with a fresh log, once a run is over.
pub fn a_line_recorded_after_the_timeout_is_logged_at_once<B: Backend>(backend: B) {
    let unit = unit(&backend);
    let (recorder, journal) = with_root(&backend, |root| async move {
        let on_timeout = root.flight_recorder(unit * 2);
        record("begin");
        on_timeout.info("before the run");
        on_timeout
            .run(async {
                on_timeout.info("+slow()");
                root.sleep(unit * 3).await.unwrap();
                record("body: woke up");
                on_timeout.error("-slow()");
                record("body: recorded");
            })
            .await;
        on_timeout.info("after the run");
        // A second run, in time: its line is forgotten.
        on_timeout
            .run(async {
                on_timeout.info("+fast()");
                root.sleep(unit).await.unwrap();
            })
            .await;
        record("end");
        on_timeout
    });
    let line = |level, rest| line(&backend, &recorder, level, rest);
    assert_eq!(
        between_markers(&backend, &journal),
        [
            "INFO [^-Recorded]: before the run".to_owned(),
            "WARN [^-Recorded]: Warning: Task timed out!".to_owned(),
            "WARN [^-Recorded]: Please make sure it is hanging before restarting.".to_owned(),
            line("INFO", "(started 2.000s ago) Replaying logs..."),
            line("INFO", "(+0.000s) +slow()"),
            line("INFO", "-End of log-"),
            "body: woke up".to_owned(),
            line("ERROR", "(+3.000s) -slow()"),
            "body: recorded".to_owned(),
            "INFO [^-Recorded]: after the run".to_owned(),
        ]
    );
}
