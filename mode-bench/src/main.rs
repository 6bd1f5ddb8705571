//! mode's benchmark harness: the workloads of `BENCHMARKS-SPEC` (W1–W10) on each backend,
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
mod stack;
mod summary;
mod w1;
mod w10;
mod w2;
mod w3;
mod w4;
mod w5;
mod w6;
mod w7;
mod w8;
mod w9;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Command-line options.
#[derive(Debug)]
struct Options {
    quick: bool,
    reps: Option<usize>,
    only: Option<Vec<String>>,
    backends: Option<Vec<String>>,
    /// W1 sizes: flat children, groups, children per group.
    w1_sizes: Option<(usize, usize, usize)>,
    /// W2 sizes: timers, interval and window in ms.
    w2_sizes: Option<(usize, usize, usize)>,
    /// W5: rounds per repetition, and only one crash kind (`err`, `panic`).
    w5_rounds: Option<usize>,
    w5_kind: Option<String>,
    /// W9 sizes: groups, children per group.
    w9_sizes: Option<(usize, usize)>,
}

const USAGE: &str = "usage: mode-bench [--quick] [--reps N] [--only W1,W2,...] \
     [--backend tokio,smol] [--w1 FLAT,GROUPSxPER (W1 sizes; 0 leaves a shape out)] \
     [--w2 TIMERS,INTERVAL_MS,WINDOW_MS] [--w5 ROUNDS[,err|panic]] \
     [--w9 GROUPSxPER (W9 tree: GROUPS + GROUPS*PER services with a task)]";

/// `1000,10,2000` → (1000, 10, 2000).
fn parse_w2(value: &str) -> Option<(usize, usize, usize)> {
    let mut parts = value.split(',').map(str::parse);
    let sizes = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    (parts.next().is_none() && sizes.0 > 0 && sizes.1 > 0 && sizes.2 >= sizes.1).then_some(sizes)
}

/// `10000,100x100` → (10000, 100, 100).
fn parse_w1(value: &str) -> Option<(usize, usize, usize)> {
    let (flat, nested) = value.split_once(',')?;
    let (groups, per) = nested.split_once('x')?;
    Some((flat.parse().ok()?, groups.parse().ok()?, per.parse().ok()?))
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        reps: None,
        only: None,
        backends: None,
        w1_sizes: None,
        w2_sizes: None,
        w5_rounds: None,
        w5_kind: None,
        w9_sizes: None,
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
            "--w1" => {
                let value = args.next().ok_or("--w1 needs a value")?;
                options.w1_sizes = Some(parse_w1(&value).ok_or(format!("bad --w1 {value}"))?);
            }
            "--w5" => {
                let value = args.next().ok_or("--w5 needs a value")?;
                let (rounds, kind) = match value.split_once(',') {
                    Some((rounds, kind)) if kind == "err" || kind == "panic" => {
                        (rounds, Some(kind.to_owned()))
                    }
                    Some(_) => return Err(format!("bad --w5 {value}")),
                    None => (value.as_str(), None),
                };
                let rounds = rounds.parse().map_err(|_| format!("bad --w5 {value}"))?;
                if rounds == 0 {
                    return Err("--w5 needs at least one round".into());
                }
                options.w5_rounds = Some(rounds);
                options.w5_kind = kind;
            }
            "--w9" => {
                let value = args.next().ok_or("--w9 needs a value")?;
                let sizes = value
                    .split_once('x')
                    .and_then(|(g, p)| Some((g.parse().ok()?, p.parse().ok()?)))
                    .filter(|&(groups, _)| groups > 0);
                options.w9_sizes = Some(sizes.ok_or(format!("bad --w9 {value}"))?);
            }
            "--w2" => {
                let value = args.next().ok_or("--w2 needs a value")?;
                options.w2_sizes = Some(parse_w2(&value).ok_or(format!("bad --w2 {value}"))?);
            }
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

/// Prints a result line at once (so a long run shows progress) and keeps it for the table.
fn emit(lines: &mut Vec<report::Json>, line: report::Json) {
    println!("{line}");
    lines.push(line);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|arg| arg == w9::CHILD_FLAG) {
        return w9::child(&args[1..]);
    }
    let options = match parse(args.iter().cloned()) {
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
    println!("{}", summary::meta(&args));
    let mut lines = Vec::new();

    if options.wants("W1") {
        let (flat, groups, per_group) = options.w1_sizes.unwrap_or(if options.quick {
            (1_000, 20, 50)
        } else {
            (10_000, 100, 100)
        });
        let config = w1::Config {
            flat,
            groups,
            per_group,
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w1::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w1::smol(config));
        }
    }

    if options.wants("W2") {
        let (timers, interval, window) = options.w2_sizes.unwrap_or(if options.quick {
            (100, 10, 300)
        } else {
            (1_000, 10, 2_000)
        });
        let config = w2::Config {
            timers,
            interval: std::time::Duration::from_millis(interval as u64),
            window: std::time::Duration::from_millis(window as u64),
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w2::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w2::smol(config));
        }
    }

    if options.wants("W3") {
        let config = w3::Config {
            items: if options.quick { 100_000 } else { 1_000_000 },
            capacity: 1_024,
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w3::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w3::smol(config));
        }
    }

    if options.wants("W4") {
        let config = if options.quick {
            w4::Config {
                receivers: 100,
                sends: 100,
                reps,
            }
        } else {
            w4::Config {
                receivers: 1_000,
                sends: 1_000,
                reps,
            }
        };
        if options.on("tokio") {
            emit(&mut lines, w4::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w4::smol(config));
        }
    }

    if options.wants("W5") {
        let config = w5::Config {
            rounds: options
                .w5_rounds
                .unwrap_or(if options.quick { 100 } else { 1_000 }),
            only: match options.w5_kind.as_deref() {
                Some("err") => Some("err"),
                Some(_) => Some("panic"),
                None => None,
            },
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w5::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w5::smol(config));
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
            emit(&mut lines, w6::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w6::smol(config));
        }
    }

    if options.wants("W7") {
        emit(
            &mut lines,
            if options.quick {
                w7::quick()
            } else {
                w7::run()
            },
        );
        if !options.quick {
            emit(&mut lines, w7::pair());
        }
    }

    if options.wants("W8") {
        let config = w8::Config {
            rounds: if options.quick { 20 } else { 100 },
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w8::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w8::smol(config));
        }
    }

    if options.wants("W9") {
        let (groups, per_group) = options.w9_sizes.unwrap_or((10, 99));
        let config = w9::Config {
            groups,
            per_group,
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w9::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w9::smol(config));
        }
    }

    if options.wants("W10") {
        let config = w10::Config {
            calls: if options.quick { 1_000 } else { 20_000 },
            reps,
        };
        if options.on("tokio") {
            emit(&mut lines, w10::tokio(config));
        }
        if options.on("smol") {
            emit(&mut lines, w10::smol(config));
        }
    }

    eprintln!(
        "\n{}\nmode-bench: done in {:.1?}, load average {} at the end",
        summary::table(&lines),
        started.elapsed(),
        summary::loadavg()
    );
    ExitCode::SUCCESS
}
