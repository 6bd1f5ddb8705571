//! The Worker in a real process, for every std adapter, with its own logger: the exact log
//! lines (mode's format in local time), `RUST_LOG`, the command line (`--help`, a bad flag,
//! `--graph`, `--log-format json`), named signals, the SIGUSR1 dump and the shutdown
//! timeout. Instantiate with [`worker_tests!`](crate::worker_tests).
//!
//! As in [`entry`](crate::entry), each test runs its own binary again as a child process;
//! the child parses its Worker arguments from `MODE_WORKER_ARGS` (the test harness owns
//! its real command line) with `clap`, as a program's `main` does.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
pub use mode_core::Service;
use mode_core::{BoxResult, Context, Dependencies};
pub use mode_worker::WorkerArgs;

use crate::entry::{Player, SCENARIO};

/// The environment variable with the child's Worker arguments, separated by spaces.
const ARGS: &str = "MODE_WORKER_ARGS";

/// A program's command line: the Worker's arguments, flattened.
#[derive(Debug, Parser)]
#[command(name = "app", about = "A program run by the Worker")]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,
}

// ===== The services the children run =====

/// A root with a child, a task and a named timer; it logs a line of its own once started.
#[derive(Debug)]
pub struct Logged;

/// `Logged`'s child.
#[derive(Debug)]
pub struct Leaf;

impl Service for Logged {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Leaf);
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.spawn_named("poller", core::future::pending())?;
        cx.timer_with(
            Duration::from_millis(10),
            mode_core::TimerOptions::new().with_name("flush"),
            |_| async { Ok(()) },
        )?;
        mode_core::info!(cx, "ready");
        Ok(())
    }
}

impl Service for Leaf {}

// ===== Child plumbing =====

/// In the child process that plays `scenario`, parses the Worker's arguments as a program
/// would (help and errors exit the process, as `clap` does), runs `worker` and exits with
/// its status. No logger is installed here: the Worker installs its own.
pub fn play<S>(scenario: &str, root: S, worker: impl FnOnce(S, WorkerArgs) -> ExitCode) {
    if std::env::var(SCENARIO).as_deref() != Ok(scenario) {
        return;
    }
    let args = std::env::var(ARGS).unwrap_or_default();
    let argv = std::iter::once("app").chain(args.split_whitespace());
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|err| err.exit());
    let code = worker(root, cli.worker);
    // `ExitCode` has no stable way out of the process but `main`'s return: find its value.
    let status = (0..=u8::MAX).find(|&n| ExitCode::from(n) == code);
    std::process::exit(status.map_or(1, i32::from));
}

/// A child playing `scenario` with the Worker arguments `args` and the environment `env`.
fn start(test: &str, scenario: &str, args: &str, env: &[(&str, &str)]) -> Player {
    let mut env = env.to_vec();
    env.push((ARGS, args));
    Player::start_with(test, scenario, &env)
}

/// The log lines of a child, as `LEVEL message`, after checking that each is a mode line
/// (`[YYYY-MM-DD HH:MM:SS,mmm: LEVEL]: message`); other lines (the test harness's) are
/// left out.
fn mode_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.starts_with('['))
        .map(|line| {
            let (stamp, rest) = line.split_at(24);
            let bytes = stamp.as_bytes();
            let digits = [1, 2, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 23];
            assert!(
                digits.iter().all(|&i| bytes[i].is_ascii_digit())
                    && &stamp[5..6] == "-"
                    && &stamp[11..12] == " "
                    && &stamp[20..21] == ","
                    && rest.starts_with(": "),
                "not a mode line: {line:?}"
            );
            let (level, message) = rest[2..].split_once("]: ").expect("a level");
            format!("{level} {message}")
        })
        .collect()
}

// ===== Scenarios =====

/// With no logging set up, the Worker logs every lifecycle line in mode's format at INFO,
/// the service's own line among them, and names the signal that stopped the tree.
pub fn logs_by_default(test: &str, worker: impl FnOnce(Logged, WorkerArgs) -> ExitCode) {
    play("logs", Logged, worker);

    let mut player = start(test, "logs", "", &[]);
    player.wait_for_match(|line| line.ends_with("]: [^-Logged]: Started"));
    player.signal("INT");
    let (status, lines, _) = player.finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    assert_eq!(
        mode_lines(&lines),
        [
            "INFO [^Worker]: Starting...",
            "INFO [^-Logged]: Starting...",
            "INFO [^--Leaf]: Starting...",
            "INFO [^--Leaf]: Started",
            "INFO [^-Logged]: Started",
            "INFO [^-Logged]: ready",
            "INFO [^Worker]: Stopping on SIGINT...",
            "INFO [^-Logged]: Stopping...",
            "INFO [^--Leaf]: Stopping...",
            "INFO [^--Leaf]: Stopped",
            "INFO [^--Leaf]: Shutdown complete!",
            "INFO [^-Logged]: Stopped",
            "INFO [^-Logged]: Shutdown complete!",
            "INFO [^Worker]: Stopped (asked to stop)",
        ]
    );
}

/// `RUST_LOG` filters by target: `warn,mode_conformance=info` keeps the service's own line
/// (its module's target) and drops mode's lifecycle and Worker lines (target `mode`).
pub fn rust_log_filters(test: &str, worker: impl FnOnce(Logged, WorkerArgs) -> ExitCode) {
    play("rust-log", Logged, worker);

    let mut player = start(
        test,
        "rust-log",
        "",
        &[("RUST_LOG", "warn,mode_conformance=info")],
    );
    player.wait_for_match(|line| line.ends_with("]: [^-Logged]: ready"));
    player.signal("TERM");
    let (status, lines, _) = player.finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    assert_eq!(mode_lines(&lines), ["INFO [^-Logged]: ready"]);
}

/// SIGUSR1 logs a dump of the tree: each service's state, uptime and its tasks by name.
pub fn sigusr1_dumps_the_tree(test: &str, worker: impl FnOnce(Logged, WorkerArgs) -> ExitCode) {
    play("dump", Logged, worker);

    let mut player = start(test, "dump", "", &[]);
    player.wait_for_match(|line| line.ends_with("]: [^-Logged]: Started"));
    player.signal("USR1");
    player.wait_for_match(|line| line.contains("]: [^Worker]:     Leaf: running, up "));
    player.signal("INT");
    let (status, lines, _) = player.finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    // The uptimes (", up 0.1s") depend on how fast the child ran: they are checked for
    // their form and left out.
    let dump: Vec<String> = mode_lines(&lines)
        .into_iter()
        .skip_while(|line| !line.contains("Dump of the tree"))
        .take(3)
        .map(|line| match line.split_once(", up ") {
            Some((before, after)) => {
                let (uptime, rest) = after.split_once('s').expect("an uptime in seconds");
                assert!(uptime.parse::<f64>().is_ok(), "{line}");
                format!("{before}{rest}")
            }
            None => line,
        })
        .collect();
    assert_eq!(
        dump,
        [
            "INFO [^Worker]: Dump of the tree (SIGUSR1):",
            "INFO [^Worker]:   Logged: running; tasks: poller, flush",
            "INFO [^Worker]:     Leaf: running",
        ]
    );
}

/// `--help` prints the Worker's options to stdout and exits 0; a bad flag exits 2 with the
/// reason on stderr; `--graph` prints the graph to stdout and starts nothing.
pub fn command_line(test: &str, worker: impl Fn(Logged, WorkerArgs) -> ExitCode) {
    play("help", Logged, &worker);
    play("bad-flag", Logged, &worker);
    play("graph", Logged, &worker);

    let (status, lines, stdout) = start(test, "help", "--help", &[]).finish_all();
    assert_eq!(status.code(), Some(0), "{status}");
    for option in [
        "--loglevel",
        "--logfile",
        "--log-format",
        "--shutdown-timeout",
        "--blocking-timeout",
        "--graph",
    ] {
        assert!(stdout.contains(option), "{option} missing from {stdout}");
    }
    assert!(mode_lines(&lines).is_empty(), "{lines:#?}");

    let (status, lines, stdout) = start(test, "bad-flag", "--bogus", &[]).finish_all();
    assert_eq!(status.code(), Some(2), "{status}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unexpected argument '--bogus'")),
        "{lines:#?}"
    );
    assert!(!stdout.contains("Usage"), "{stdout}");

    let (status, lines, stdout) = start(test, "graph", "--graph", &[]).finish_all();
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        stdout.contains("digraph") && stdout.contains("\"Leaf\""),
        "{stdout}"
    );
    assert!(mode_lines(&lines).is_empty(), "nothing started: {lines:#?}");
}

/// `--log-format json` writes one JSON object per line, with mode's target.
pub fn json_lines(test: &str, worker: impl FnOnce(Logged, WorkerArgs) -> ExitCode) {
    play("json", Logged, worker);

    let mut player = start(test, "json", "--log-format json", &[]);
    player.wait_for_match(|line| line.contains(r#""message":"[^-Logged]: Started""#));
    player.signal("INT");
    let (status, lines, _) = player.finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    let first = lines
        .iter()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    for field in [
        r#""level":"INFO""#,
        r#""target":"mode""#,
        r#""message":"[^Worker]: Starting...""#,
        r#""time":""#,
    ] {
        assert!(first.contains(field), "{field} missing from {first}");
    }
}

/// A root whose `on_stop` never returns (its own stop timeout is an hour).
#[derive(Debug)]
pub struct Hangs;

impl Service for Hangs {
    fn stop_timeout(&self) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        core::future::pending().await
    }
}

/// `--shutdown-timeout` bounds the shutdown: when it expires, the services still stopping
/// are named with what each waits on, and the process exits with status 1.
pub fn shutdown_timeout_names_the_stuck(
    test: &str,
    worker: impl FnOnce(Hangs, WorkerArgs) -> ExitCode,
) {
    play("shutdown-timeout", Hangs, worker);

    let mut player = start(test, "shutdown-timeout", "--shutdown-timeout 0.2", &[]);
    player.wait_for_match(|line| line.ends_with("]: [^-Hangs]: Started"));
    player.signal("TERM");
    let (status, lines, _) = player.finish_all();
    assert_eq!(status.code(), Some(1), "{status}: {lines:#?}");
    let lines = mode_lines(&lines);
    assert_eq!(
        lines[lines.len() - 3..],
        [
            "INFO [^Worker]: Stopping on SIGTERM...",
            "INFO [^-Hangs]: Stopping...",
            "ERROR [^Worker]: Shutdown did not finish within 200ms; still stopping: \
             Hangs (waiting on on_stop)",
        ]
    );
}

/// A root whose `on_started` holds its thread for 600 ms (a blocking call), then stops
/// the tree with exit status 3 (`SystemExit`).
#[derive(Debug)]
pub struct Blocks;

impl Service for Blocks {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        std::thread::sleep(Duration::from_millis(600));
        cx.handle().request_exit(3);
        Ok(())
    }
}

/// `--blocking-timeout` logs a hook that holds its thread, naming the service and the
/// hook, once while it blocks and once when it yields; a service's exit status becomes
/// the process's. (The margins are wide: the watchdog samples every 25 ms and reports a
/// poll it has seen for 100 ms of the 600 ms it lasts.)
pub fn blocking_is_named_and_exit_status_kept(
    test: &str,
    worker: impl FnOnce(Blocks, WorkerArgs) -> ExitCode,
) {
    play("blocking", Blocks, worker);

    let (status, lines, _) = start(test, "blocking", "--blocking-timeout 0.1", &[]).finish_all();
    assert_eq!(status.code(), Some(3), "{status}: {lines:#?}");
    let lines = mode_lines(&lines);
    let blocking: Vec<&str> = lines
        .iter()
        .filter(|line| line.contains("Blocking"))
        .map(|line| {
            line.split(" has not")
                .next()
                .unwrap()
                .split(" yielded")
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        blocking,
        [
            "WARNING [^Worker]: Blocking detected: [^-Blocks] in on_started",
            "WARNING [^Worker]: Blocking ended: [^-Blocks] in on_started",
        ],
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"INFO [^Worker]: Stopped (asked to exit with status 3)".to_owned()),
        "{lines:#?}"
    );
}

/// A root that runs no service code of its own: a future that returns at once, so the
/// service stops itself once started.
pub fn done_at_once(label: &'static str) -> impl Service {
    mode_core::from_awaitable(async { Ok(()) }).with_label(label)
}

/// Several roots start in order beside each other, each logged as a root is; one that
/// stops on its own leaves the others running. (The Worker adds the root as
/// `Worker::new(Logged).add(done_at_once("Once"))`.)
pub fn several_roots(test: &str, worker: impl FnOnce(WorkerArgs) -> ExitCode) {
    play("roots", (), |(), args| worker(args));

    let mut player = start(test, "roots", "", &[]);
    player.wait_for_match(|line| line.ends_with("]: [^-Once]: Shutdown complete!"));
    player.signal("INT");
    let (status, lines, _) = player.finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    assert_eq!(
        mode_lines(&lines),
        [
            "INFO [^Worker]: Starting...",
            "INFO [^-Logged]: Starting...",
            "INFO [^--Leaf]: Starting...",
            "INFO [^--Leaf]: Started",
            "INFO [^-Logged]: Started",
            "INFO [^-Logged]: ready",
            "INFO [^-Once]: Starting...",
            "INFO [^-Once]: Started",
            "INFO [^-Once]: Stopping...",
            "INFO [^-Once]: Stopped",
            "INFO [^-Once]: Shutdown complete!",
            "INFO [^Worker]: Stopping on SIGINT...",
            "INFO [^-Logged]: Stopping...",
            "INFO [^--Leaf]: Stopping...",
            "INFO [^--Leaf]: Stopped",
            "INFO [^--Leaf]: Shutdown complete!",
            "INFO [^-Logged]: Stopped",
            "INFO [^-Logged]: Shutdown complete!",
            "INFO [^Worker]: Stopped (asked to stop)",
        ]
    );
}

/// Once every root has stopped on its own the program ends with status 0, and the
/// `on_worker_shutdown` hook runs with how it ended (it prints `on_worker_shutdown: ` and
/// the exit to stdout); as a daemon, it runs on until signalled. (The Worker adds the
/// roots as `Worker::new(done_at_once("First")).add(done_at_once("Second"))`, with the
/// hook, and `with_daemon(daemon)`.)
pub fn roots_done_end_the_program_unless_daemon(
    test: &str,
    worker: impl Fn(bool, WorkerArgs) -> ExitCode,
) {
    play("roots-done", (), |(), args| worker(false, args));
    play("roots-daemon", (), |(), args| worker(true, args));

    let (status, lines, stdout) = start(test, "roots-done", "", &[]).finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    let lines = mode_lines(&lines);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("INFO [^Worker]: Stopped (asked to stop)"),
        "{lines:#?}"
    );
    assert!(lines.contains(&"INFO [^-Second]: Shutdown complete!".to_owned()));
    assert_eq!(
        stdout
            .matches("on_worker_shutdown: asked to stop\n")
            .count(),
        1,
        "{stdout}"
    );

    let mut player = start(test, "roots-daemon", "", &[]);
    player.wait_for_match(|line| line.ends_with("]: [^-Second]: Shutdown complete!"));
    player.signal("TERM");
    let (status, lines, stdout) = player.finish_all();
    assert_eq!(status.code(), Some(0), "{status}: {lines:#?}");
    let lines = mode_lines(&lines);
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "INFO [^Worker]: Stopping on SIGTERM...",
            "INFO [^Worker]: Stopped (asked to stop)",
        ]
    );
    assert_eq!(
        stdout
            .matches("on_worker_shutdown: asked to stop\n")
            .count(),
        1,
        "{stdout}"
    );
}

/// Generates the Worker tests at the root of a test file for the adapter's `Worker` type
/// (test names must be the functions' own names: the child runs the same test by name).
#[macro_export]
macro_rules! worker_tests {
    (worker: $($worker:ident)::+ $(,)?) => {
        /// The Worker as a program's `main` runs it, with its command line.
        fn run_worker<S: $crate::worker::Service>(
            root: S,
            args: $crate::worker::WorkerArgs,
        ) -> std::process::ExitCode {
            $($worker)::+::new(root).with_args(args).run()
        }

        $crate::worker_tests!(@scenarios
            logs_by_default,
            rust_log_filters,
            sigusr1_dumps_the_tree,
            command_line,
            json_lines,
            blocking_is_named_and_exit_status_kept,
            shutdown_timeout_names_the_stuck,
        );

        #[test]
        fn several_roots() {
            $crate::worker::several_roots("several_roots", |args| {
                $($worker)::+::new($crate::worker::Logged)
                    .add($crate::worker::done_at_once("Once"))
                    .with_args(args)
                    .run()
            });
        }

        #[test]
        fn roots_done_end_the_program_unless_daemon() {
            $crate::worker::roots_done_end_the_program_unless_daemon(
                "roots_done_end_the_program_unless_daemon",
                |daemon, args| {
                    $($worker)::+::new($crate::worker::done_at_once("First"))
                        .add($crate::worker::done_at_once("Second"))
                        .with_daemon(daemon)
                        .on_worker_shutdown(|exit| println!("on_worker_shutdown: {exit}"))
                        .with_args(args)
                        .run()
                },
            );
        }
    };
    (@scenarios $($scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                $crate::worker::$scenario(stringify!($scenario), run_worker);
            }
        )+
    };
}
