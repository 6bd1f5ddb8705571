//! The entry points (`run`, `run_until_signal`) in a real process, for every adapter: a
//! signal stops the tree gracefully, a second one exits at once with status 130, and the
//! exit code follows the stop reason. Instantiate with [`entry_tests!`](crate::entry_tests).
//!
//! Each test runs its own test binary again as a child process (an environment variable
//! names the scenario the child plays), reads the child's log lines from its stderr, and
//! sends it signals with `kill`.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mode_core::{BoxResult, Context, Dependencies, Exit, Service};

/// The environment variable that makes this binary a child playing a scenario.
pub const SCENARIO: &str = "MODE_ENTRY_SCENARIO";

/// How long any step of a child may take before the test gives up on it.
const PATIENCE: Duration = Duration::from_secs(30);

// ===== The services the children run =====

/// A root with a child, a task and a timer.
#[derive(Debug)]
pub struct App;
/// `App`'s child.
#[derive(Debug)]
pub struct Child;

impl Service for App {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Child);
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        // A task and a timer that keep running until the signal.
        cx.spawn(core::future::pending())?;
        cx.timer(Duration::from_millis(10), |_| async { Ok(()) })?;
        Ok(())
    }
}

impl Service for Child {}

/// Never finishes stopping (until its stop timeout, far away).
#[derive(Debug)]
pub struct Stubborn;

impl Service for Stubborn {
    fn stop_timeout(&self) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        core::future::pending().await
    }
}

/// Crashes once started.
#[derive(Debug)]
pub struct Crashing;

impl Service for Crashing {
    async fn on_started(&mut self, _cx: &Context<'_>) -> BoxResult {
        Err("out of coffee".into())
    }
}

/// A root whose children fail to stop cleanly: `Bad`'s `on_stop` fails, `Slow`'s stop
/// times out, and `Fragile` crashes while the root stops.
#[derive(Debug)]
pub struct Unclean;
/// Fails in `on_stop`.
#[derive(Debug)]
pub struct Bad;
/// Never finishes `on_stop`; its stop timeout is short.
#[derive(Debug)]
pub struct Slow;
/// Crashed by its parent's `on_stop`.
#[derive(Debug)]
pub struct Fragile;

impl Service for Unclean {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Bad);
        deps.add(Slow);
        deps.add(Fragile);
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.handle().children()[2].crash("lost the connection while stopping");
        Ok(())
    }
}

impl Service for Bad {
    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        Err("could not flush".into())
    }
}

impl Service for Slow {
    fn stop_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(100))
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        core::future::pending().await
    }
}

impl Service for Fragile {}

// ===== Child and parent plumbing =====

/// In the child process that plays `scenario`, runs `main` and exits with its code.
pub fn play(scenario: &str, main: impl FnOnce() -> ExitCode) {
    if std::env::var(SCENARIO).as_deref() != Ok(scenario) {
        return;
    }
    log::set_logger(&StderrLogger).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let code = main();
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// A child process playing a scenario, and the log lines it has written so far.
#[derive(Debug)]
pub struct Player {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Player {
    /// Runs the test `test` of this binary in a child process playing `scenario`.
    #[must_use]
    pub fn start(test: &str, scenario: &str) -> Player {
        Player::start_with(test, scenario, &[])
    }

    /// [`start`](Self::start), with more environment variables for the child.
    #[must_use]
    pub fn start_with(test: &str, scenario: &str, env: &[(&str, &str)]) -> Player {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(SCENARIO, scenario)
            .env("RUST_BACKTRACE", "0")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        });
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Player {
            child,
            lines,
            seen: Vec::new(),
            stdout,
        }
    }

    /// Waits until the child has logged `line`.
    pub fn wait_for(&mut self, line: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.seen.iter().any(|seen| seen == line) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(next) => self.seen.push(next),
                Err(err) => {
                    let _ = self.child.kill();
                    panic!("no {line:?} ({err}); the child wrote {:#?}", self.seen);
                }
            }
        }
    }

    /// Waits until the child has logged a line that `matches`.
    pub fn wait_for_match(&mut self, matches: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !self.seen.iter().any(|seen| matches(seen)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(next) => self.seen.push(next),
                Err(err) => {
                    let _ = self.child.kill();
                    panic!("no such line ({err}); the child wrote {:#?}", self.seen);
                }
            }
        }
    }

    /// Sends the signal `name` (`INT`, `TERM`) to the child.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits for the child to exit; its status and every log line it wrote.
    #[must_use]
    pub fn finish(self) -> (ExitStatus, Vec<String>) {
        let (status, lines, _) = self.finish_all();
        let logs = lines
            .into_iter()
            .filter(|l| l.starts_with("INFO ") || l.starts_with("WARN ") || l.starts_with("ERROR "))
            .collect();
        (status, logs)
    }

    /// Waits for the child to exit; its status, every line it wrote to stderr, and what it
    /// wrote to stdout (the test harness's own lines included).
    #[must_use]
    pub fn finish_all(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(next) => self.seen.push(next),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("the child did not exit; it wrote {:#?}", self.seen);
                }
            }
        }
        let status = self.child.wait().unwrap();
        let stdout = self.stdout.join().unwrap();
        (status, self.seen, stdout)
    }
}

/// The log lines of starting `App`, then of stopping it after `signal` (`SIGINT`).
#[must_use]
pub fn graceful_run(signal: &str) -> Vec<String> {
    [
        "INFO [^Worker]: Starting...",
        "INFO [^-App]: Starting...",
        "INFO [^--Child]: Starting...",
        "INFO [^--Child]: Started",
        "INFO [^-App]: Started",
        &format!("INFO [^Worker]: Stopping on {signal}..."),
        "INFO [^-App]: Stopping...",
        "INFO [^--Child]: Stopping...",
        "INFO [^--Child]: Stopped",
        "INFO [^--Child]: Shutdown complete!",
        "INFO [^-App]: Stopped",
        "INFO [^-App]: Shutdown complete!",
        "INFO [^Worker]: Stopped (asked to stop)",
    ]
    .map(str::to_owned)
    .to_vec()
}

// ===== Scenarios =====

/// SIGINT stops `run` gracefully; exit status 0.
pub fn sigint_stops_run_gracefully(test: &str, run: impl FnOnce(App) -> ExitCode) {
    play("sigint", || run(App));

    let mut player = Player::start(test, "sigint");
    player.wait_for("INFO [^-App]: Started");
    player.signal("INT");
    let (status, logs) = player.finish();
    assert_eq!(logs, graceful_run("SIGINT"));
    assert_eq!(status.code(), Some(0), "{status}");
}

/// SIGTERM stops `run_until_signal` gracefully; exit status 0.
pub fn sigterm_stops_run_until_signal_gracefully(
    test: &str,
    run_until_signal: impl FnOnce(App) -> Exit,
) {
    play("sigterm", || mode_worker::exit_code(&run_until_signal(App)));

    let mut player = Player::start(test, "sigterm");
    player.wait_for("INFO [^-App]: Started");
    player.signal("TERM");
    let (status, logs) = player.finish();
    assert_eq!(logs, graceful_run("SIGTERM"));
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A second signal exits at once with status 130.
pub fn second_signal_exits_with_130(test: &str, run: impl FnOnce(Stubborn) -> ExitCode) {
    play("twice", || run(Stubborn));

    let mut player = Player::start(test, "twice");
    player.wait_for("INFO [^-Stubborn]: Started");
    player.signal("INT");
    player.wait_for("INFO [^-Stubborn]: Stopping...");
    player.signal("TERM");
    let (status, logs) = player.finish();
    assert_eq!(
        logs,
        [
            "INFO [^Worker]: Starting...",
            "INFO [^-Stubborn]: Starting...",
            "INFO [^-Stubborn]: Started",
            "INFO [^Worker]: Stopping on SIGINT...",
            "INFO [^-Stubborn]: Stopping...",
            "WARN [^Worker]: Second signal received (SIGTERM): exiting without a graceful stop",
        ]
    );
    assert_eq!(status.code(), Some(130), "{status}");
}

/// A crash ends the program with a failure status, the crash in the log.
pub fn crash_exits_with_failure(test: &str, run: impl FnOnce(Crashing) -> ExitCode) {
    play("crash", || run(Crashing));

    let player = Player::start(test, "crash");
    let (status, logs) = player.finish();
    assert_eq!(status.code(), Some(1), "{status}");
    assert_eq!(
        logs.first().map(String::as_str),
        Some("INFO [^Worker]: Starting...")
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("ERROR [^-Crashing]: Crashed reason=")
                && l.contains("out of coffee")),
        "{logs:#?}"
    );
    let last = logs.last().unwrap();
    assert!(
        last.starts_with("INFO [^Worker]: Stopped (crashed: "),
        "{logs:#?}"
    );
}

/// A requested stop in which services fail to stop cleanly (a failed `on_stop`, a child's
/// stop timeout, a crash during the parent's stop) exits with status 1, each failure
/// logged where it happens and named again in one line at the end.
pub fn unclean_stop_exits_with_failure(test: &str, run: impl FnOnce(Unclean) -> ExitCode) {
    play("unclean", || run(Unclean));

    let mut player = Player::start(test, "unclean");
    player.wait_for("INFO [^-Unclean]: Started");
    player.signal("INT");
    let (status, logs) = player.finish();
    assert_eq!(status.code(), Some(1), "{status}: {logs:#?}");
    let stop: Vec<&str> = logs
        .iter()
        .map(String::as_str)
        .skip_while(|l| *l != "INFO [^Worker]: Stopping on SIGINT...")
        .collect();
    assert_eq!(
        stop,
        [
            "INFO [^Worker]: Stopping on SIGINT...",
            "INFO [^-Unclean]: Stopping...",
            "ERROR [^--Fragile]: Crashed reason=lost the connection while stopping",
            "INFO [^--Fragile]: Stopping...",
            "INFO [^--Fragile]: Stopped",
            "INFO [^--Fragile]: Shutdown complete!",
            "INFO [^--Slow]: Stopping...",
            "WARN [^--Slow]: Stop timed out after 100ms waiting for on_stop; aborting it",
            "INFO [^--Slow]: Stopped",
            "INFO [^--Slow]: Shutdown complete!",
            "INFO [^--Bad]: Stopping...",
            "ERROR [^--Bad]: on_stop failed: could not flush",
            "INFO [^--Bad]: Stopped",
            "INFO [^--Bad]: Shutdown complete!",
            "INFO [^-Unclean]: Stopped",
            "INFO [^-Unclean]: Shutdown complete!",
            "ERROR [^Worker]: Did not stop cleanly: \
             Fragile: crashed: lost the connection while stopping; \
             Slow: stop timed out after 100ms waiting for on_stop; \
             Bad: on_stop failed: could not flush",
            "INFO [^Worker]: Stopped (asked to stop; \
             3 services did not stop cleanly (Fragile, Slow, Bad))",
        ]
    );
}

/// Generates the entry-point tests at the root of a test file (test names must be the
/// functions' own names: the child process runs the same test by name).
///
/// `run` is the adapter's `run(root) -> ExitCode`; `run_until_signal` blocks on the
/// adapter's `run_until_signal(root)` and returns the reason.
#[macro_export]
macro_rules! entry_tests {
    (run: $run:path, run_until_signal: $until:expr $(,)?) => {
        #[test]
        fn sigint_stops_run_gracefully() {
            $crate::entry::sigint_stops_run_gracefully("sigint_stops_run_gracefully", $run);
        }

        #[test]
        fn sigterm_stops_run_until_signal_gracefully() {
            $crate::entry::sigterm_stops_run_until_signal_gracefully(
                "sigterm_stops_run_until_signal_gracefully",
                $until,
            );
        }

        #[test]
        fn second_signal_exits_with_130() {
            $crate::entry::second_signal_exits_with_130("second_signal_exits_with_130", $run);
        }

        #[test]
        fn crash_exits_with_failure() {
            $crate::entry::crash_exits_with_failure("crash_exits_with_failure", $run);
        }

        #[test]
        fn unclean_stop_exits_with_failure() {
            $crate::entry::unclean_stop_exits_with_failure("unclean_stop_exits_with_failure", $run);
        }
    };
}
