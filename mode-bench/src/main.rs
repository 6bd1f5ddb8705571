//! mode's benchmark harness: the workloads of `BENCHMARKS-SPEC` (W1–W7) on each backend,
//! each next to its hand-written floor measured in the same process and run.
//!
//! ```text
//! cargo run -p mode-bench --release               # the full run (several minutes)
//! cargo run -p mode-bench --release -- --quick    # small sizes, 3 repetitions (CI)
//! cargo run -p mode-bench --release -- --only W1,W6 --backend smol --reps 21
//! ```
//!
//! Every (workload, backend) prints one JSON line on stdout: medians, minimums and maximums
//! over the repetitions, ratios to the floors, and whether each target is met. A readable
//! summary goes to stderr. The quick mode only checks that everything runs: it asserts no
//! timing.

use std::process::ExitCode;

mod alloc;
mod backend;
mod report;
mod rusage;
mod w1;
mod w2;
mod w6;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Command-line options.
#[derive(Debug)]
struct Options {
    quick: bool,
    reps: Option<usize>,
    only: Option<Vec<String>>,
    backends: Option<Vec<String>>,
}

const USAGE: &str =
    "usage: mode-bench [--quick] [--reps N] [--only W1,W2,...] [--backend tokio,smol]";

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        reps: None,
        only: None,
        backends: None,
    };
    let mut args = args.peekable();
    let list = |value: Option<String>, flag: &str| {
        value
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--reps" => {
                let value = args.next().ok_or("--reps needs a value")?;
                let reps = value.parse().map_err(|_| format!("bad --reps {value}"))?;
                if reps == 0 {
                    return Err("--reps must be at least 1".into());
                }
                options.reps = Some(reps);
            }
            "--only" => {
                let only: Vec<String> = list(args.next(), "--only")?;
                options.only = Some(only.into_iter().map(|w| w.to_uppercase()).collect());
            }
            "--backend" => options.backends = Some(list(args.next(), "--backend")?),
            "-h" | "--help" => return Err(USAGE.into()),
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(options)
}

impl Options {
    fn wants(&self, workload: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|w| w == workload))
    }

    fn on(&self, backend: &str) -> bool {
        self.backends
            .as_ref()
            .is_none_or(|list| list.iter().any(|b| b == backend))
    }

    fn reps(&self) -> usize {
        self.reps.unwrap_or(if self.quick { 3 } else { 11 })
    }
}

fn emit(line: &report::Json) {
    println!("{line}");
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) && !options.quick {
        eprintln!("warning: a debug build; run with --release for meaningful numbers");
    }
    let reps = options.reps();
    let started = std::time::Instant::now();

    if options.wants("W1") {
        let config = if options.quick {
            w1::Config {
                flat: 1_000,
                groups: 20,
                per_group: 50,
                reps,
            }
        } else {
            w1::Config {
                flat: 10_000,
                groups: 100,
                per_group: 100,
                reps,
            }
        };
        if options.on("tokio") {
            emit(&w1::tokio(config));
        }
        if options.on("smol") {
            emit(&w1::smol(config));
        }
    }

    if options.wants("W2") {
        let config = if options.quick {
            w2::Config {
                timers: 100,
                interval: std::time::Duration::from_millis(10),
                window: std::time::Duration::from_millis(300),
                reps,
            }
        } else {
            w2::Config {
                timers: 1_000,
                interval: std::time::Duration::from_millis(10),
                window: std::time::Duration::from_secs(2),
                reps,
            }
        };
        if options.on("tokio") {
            emit(&w2::tokio(config));
        }
        if options.on("smol") {
            emit(&w2::smol(config));
        }
    }

    if options.wants("W6") {
        let config = if options.quick {
            w6::Config {
                services: 1_000,
                window: std::time::Duration::from_millis(300),
                reps,
            }
        } else {
            w6::Config {
                services: 10_000,
                window: std::time::Duration::from_secs(2),
                reps,
            }
        };
        if options.on("tokio") {
            emit(&w6::tokio(config));
        }
        if options.on("smol") {
            emit(&w6::smol(config));
        }
    }

    eprintln!("mode-bench: done in {:.1?}", started.elapsed());
    ExitCode::SUCCESS
}
