//! The run's header line (date, machine, command) and the Markdown table of BENCHMARKS.md,
//! rendered from the JSON lines.

use std::fmt::Write as _;

use crate::report::Json;

/// Date, machine and command of this run.
pub(crate) fn meta(args: &[String]) -> Json {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let mut command = String::from("cargo run -p mode-bench --release");
    if !args.is_empty() {
        command.push_str(" --");
        for arg in args {
            command.push(' ');
            command.push_str(arg);
        }
    }
    Json::obj()
        .with("meta", "mode-bench")
        .with("date_utc", utc_now())
        .with("command", command)
        .with("nproc", nproc)
        .with("cpu", cpu)
        .with("loadavg", loadavg())
        .with("debug_build", cfg!(debug_assertions))
}

/// The 1-minute load average, as `/proc/loadavg` has it.
pub(crate) fn loadavg() -> Json {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|x| x.parse::<f64>().ok())
        })
        .into()
}

/// `YYYY-MM-DD HH:MM` in UTC.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

fn met(line: &Json, key: &str) -> &'static str {
    match line.flag(key) {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

fn met_if(met: bool) -> String {
    if met { "yes" } else { "**no**" }.into()
}

/// `x` with a few significant digits.
fn n(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The Markdown table: one row per measure with a target.
pub(crate) fn table(lines: &[Json]) -> String {
    let mut out = String::new();
    out.push_str("| workload | backend | measure | mode | floor | ratio | target | met |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut row = |cells: [String; 8]| {
        out.push('|');
        for cell in cells {
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    };
    for line in lines {
        let backend = line.text("backend").to_owned();
        match line.text("workload") {
            "W1" => {
                for shape in ["flat", "nested"] {
                    if line.get(shape).is_none() {
                        continue;
                    }
                    let s = |k: &str| line.num(&format!("{shape}.{k}"));
                    let units = s("services");
                    row([
                        format!("W1 {shape} ({units})"),
                        backend.clone(),
                        "start+stop, ns/service (ordered floor)".into(),
                        n(s("mode.start_stop_ns.median")),
                        n(s("floor_ordered.start_stop_ns.median")),
                        n(s("ratio_ordered")),
                        "≤ 1.5".into(),
                        met(line, &format!("{shape}.target_ratio_ordered_le_1_5")).into(),
                    ]);
                    row([
                        format!("W1 {shape}"),
                        backend.clone(),
                        "start+stop, thread CPU ns/service (ordered floor)".into(),
                        n(s("mode.start_stop_cpu_ns.median")),
                        n(s("floor_ordered.start_stop_cpu_ns.median")),
                        n(s("cpu_ratio_ordered")),
                        "≤ 1.5".into(),
                        met(line, &format!("{shape}.target_cpu_ratio_ordered_le_1_5")).into(),
                    ]);
                    row([
                        format!("W1 {shape}"),
                        backend.clone(),
                        "start+stop, ns/service (concurrent floor)".into(),
                        n(s("mode.start_stop_ns.median")),
                        n(s("floor_concurrent.start_stop_ns.median")),
                        n(s("ratio_concurrent")),
                        "report".into(),
                        "–".into(),
                    ]);
                    row([
                        format!("W1 {shape}"),
                        backend.clone(),
                        "start / stop, ns/service (ordered floor)".into(),
                        format!(
                            "{} / {}",
                            n(s("mode.start_ns.median")),
                            n(s("mode.stop_ns.median"))
                        ),
                        format!(
                            "{} / {}",
                            n(s("floor_ordered.start_ns.median")),
                            n(s("floor_ordered.stop_ns.median"))
                        ),
                        "".into(),
                        "".into(),
                        "".into(),
                    ]);
                    row([
                        format!("W1 {shape}"),
                        backend.clone(),
                        "live heap, B/service (ordered / concurrent floor)".into(),
                        n(s("mode.heap_bytes")),
                        format!(
                            "{} / {}",
                            n(s("floor_ordered.heap_bytes")),
                            n(s("floor_concurrent.heap_bytes"))
                        ),
                        "".into(),
                        "≤ 1024".into(),
                        met(line, &format!("{shape}.target_heap_le_1024")).into(),
                    ]);
                }
            }
            "W2" => {
                let timers = line.num("timers");
                let skip_floor = if line.get("floor_skip").is_some() {
                    "floor_skip"
                } else {
                    "floor_burst"
                };
                let cpu_floor = if line.text("cpu_floor") == "skip" {
                    "floor_skip"
                } else {
                    "floor_burst"
                };
                row([
                    format!("W2 ({timers} timers)"),
                    backend.clone(),
                    "ticks lost, burst policy (skip policy)".into(),
                    format!(
                        "{} ({})",
                        n(line.num("mode_burst.ticks_lost.median")),
                        n(line.num("mode_skip.ticks_lost.median"))
                    ),
                    format!(
                        "{} ({})",
                        n(line.num("floor_burst.ticks_lost.median")),
                        n(line.num(&format!("{skip_floor}.ticks_lost.median")))
                    ),
                    "".into(),
                    "0".into(),
                    met(line, "target_no_tick_lost").into(),
                ]);
                row([
                    "W2".into(),
                    backend.clone(),
                    "drift of the last tick, ms, burst (skip)".into(),
                    format!(
                        "{} ({})",
                        n(line.num("mode_burst.drift_ms.median")),
                        n(line.num("mode_skip.drift_ms.median"))
                    ),
                    format!(
                        "{} ({})",
                        n(line.num("floor_burst.drift_ms.median")),
                        n(line.num(&format!("{skip_floor}.drift_ms.median")))
                    ),
                    "".into(),
                    "< 2".into(),
                    met(line, "target_drift_lt_2ms").into(),
                ]);
                row([
                    "W2".into(),
                    backend.clone(),
                    "largest gap between two ticks, ms (starvation)".into(),
                    n(line.num("mode_burst.max_gap_ms.median")),
                    n(line.num("floor_burst.max_gap_ms.median")),
                    "".into(),
                    "".into(),
                    "".into(),
                ]);
                row([
                    "W2".into(),
                    backend.clone(),
                    format!(
                        "process CPU over the window, ms (mode skip vs floor {})",
                        line.text("cpu_floor")
                    ),
                    n(line.num("mode_skip.cpu_ms.median")),
                    n(line.num(&format!("{cpu_floor}.cpu_ms.median"))),
                    n(line.num("cpu_ratio")),
                    "≤ 1.2".into(),
                    met(line, "target_cpu_le_1_2").into(),
                ]);
            }
            "W3" => {
                let floor = if line.text("floor") == "async-channel" {
                    "async_channel_mitems_per_s.median"
                } else {
                    "tokio_mpsc_mitems_per_s.median"
                };
                row([
                    "W3".into(),
                    backend.clone(),
                    format!("throughput, M items/s (floor: {})", line.text("floor")),
                    n(line.num("mode_mitems_per_s.median")),
                    n(line.num(floor)),
                    n(line.num("ratio")),
                    "≥ 0.8".into(),
                    met(line, "target_ratio_ge_0_8").into(),
                ]);
            }
            "W4" => {
                row([
                    "W4".into(),
                    backend.clone(),
                    "µs per send, all receivers done (notify alone)".into(),
                    n(line.num("mode_send_us.median")),
                    format!(
                        "{} ({})",
                        n(line.num("floor_send_us.median")),
                        n(line.num("floor_notify_only_us.median"))
                    ),
                    n(line.num("ratio")),
                    "≤ 1.5".into(),
                    met(line, "target_ratio_le_1_5").into(),
                ]);
            }
            "W5" => {
                for kind in ["err", "panic"] {
                    row([
                        format!("W5 {kind}"),
                        backend.clone(),
                        "crash → restarted, µs (median)".into(),
                        n(line.num(&format!("{kind}.mode_us.median"))),
                        n(line.num(&format!("{kind}.floor_us.median"))),
                        n(line.num(&format!("{kind}.ratio"))),
                        "≤ 2".into(),
                        met(line, &format!("{kind}.target_ratio_le_2")).into(),
                    ]);
                }
            }
            "W10" => {
                row([
                    format!("W10 ({} calls)", line.num("calls")),
                    backend.clone(),
                    format!(
                        "call_thread round trip, µs (floor: a channel to a thread; {} {})",
                        line.text("pool"),
                        n(line.num("pool_us.median"))
                    ),
                    n(line.num("mode_us.median")),
                    n(line.num("channel_us.median")),
                    n(line.num("ratio")),
                    "≤ 1.5".into(),
                    met(line, "target_ratio_le_1_5").into(),
                ]);
            }
            "W8" => {
                row([
                    format!("W8 ({} rounds)", line.num("rounds")),
                    backend.clone(),
                    "crash → restarted while a sibling sits in on_stop, µs (median; floor: plain W5 of the run)"
                        .into(),
                    n(line.num("mode_us.median")),
                    n(line.num("w5_mode_us.median")),
                    n(line.num("ratio_to_w5")),
                    "≤ 2".into(),
                    met(line, "target_ratio_to_w5_le_2").into(),
                ]);
            }
            "W6" => {
                row([
                    format!("W6 ({} services)", line.num("services")),
                    backend.clone(),
                    "CPU over the idle window, ms".into(),
                    n(line.num("mode.cpu_ms.median")),
                    n(line.num("floor.cpu_ms.median")),
                    "".into(),
                    "≤ 0.5".into(),
                    met(line, "target_cpu_le_0_5ms").into(),
                ]);
                row([
                    "W6".into(),
                    backend.clone(),
                    "context switches, voluntary / involuntary".into(),
                    format!(
                        "{} / {}",
                        n(line.num("mode.voluntary_cs.median")),
                        n(line.num("mode.involuntary_cs.median"))
                    ),
                    format!(
                        "{} / {}",
                        n(line.num("floor.voluntary_cs.median")),
                        n(line.num("floor.involuntary_cs.median"))
                    ),
                    "".into(),
                    "≤ floor".into(),
                    met(line, "target_no_extra_wakeups").into(),
                ]);
            }
            "W9" => {
                if line.get("skipped").is_some() {
                    row([
                        "W9".into(),
                        backend.clone(),
                        format!("skipped: {}", line.text("skipped")),
                        "".into(),
                        "".into(),
                        "".into(),
                        "".into(),
                        "–".into(),
                    ]);
                    continue;
                }
                row([
                    format!("W9 ({} services)", line.num("services")),
                    backend.clone(),
                    format!(
                        "SIGINT → process exited, ms, Worker without logging (Python mode: {} for a small tree)",
                        n(line.num("python_mode_exit_ms"))
                    ),
                    n(line.num("mode.exit_ms.median")),
                    n(line.num("floor.exit_ms.median")),
                    n(line.num("exit_ratio")),
                    "≤ 2".into(),
                    met(line, "target_exit_ratio_le_2").into(),
                ]);
                row([
                    "W9".into(),
                    backend.clone(),
                    "SIGINT → process exited, ms, Worker without logging (ordered floor)".into(),
                    n(line.num("mode.exit_ms.median")),
                    n(line.num("floor_ordered.exit_ms.median")),
                    n(line.num("exit_ratio_ordered")),
                    "report".into(),
                    "–".into(),
                ]);
                row([
                    "W9".into(),
                    backend.clone(),
                    "SIGINT → exited, process CPU ms (ordered floor), voluntary context switches"
                        .into(),
                    format!(
                        "{}, {}",
                        n(line.num("mode.exit_cpu_ms.median")),
                        n(line.num("mode.exit_voluntary_cs.median"))
                    ),
                    format!(
                        "{} ({}), {} ({})",
                        n(line.num("floor.exit_cpu_ms.median")),
                        n(line.num("floor_ordered.exit_cpu_ms.median")),
                        n(line.num("floor.exit_voluntary_cs.median")),
                        n(line.num("floor_ordered.exit_voluntary_cs.median"))
                    ),
                    n(line.num("exit_cpu_ratio")),
                    "report".into(),
                    "–".into(),
                ]);
                if line.get("mode_current_thread").is_some() {
                    row([
                        "W9".into(),
                        backend.clone(),
                        "SIGINT → process exited, ms, run_until_signal on a current-thread runtime (floor too)"
                            .into(),
                        n(line.num("mode_current_thread.exit_ms.median")),
                        n(line.num("floor_current_thread.exit_ms.median")),
                        n(line.num("current_thread_exit_ratio")),
                        "report".into(),
                        "–".into(),
                    ]);
                }
                row([
                    "W9".into(),
                    backend.clone(),
                    "SIGINT → process exited, ms, Worker logging at INFO to /dev/null".into(),
                    n(line.num("mode_logged.exit_ms.median")),
                    n(line.num("floor.exit_ms.median")),
                    n(line.num("logged_exit_ratio")),
                    "report".into(),
                    "–".into(),
                ]);
                row([
                    "W9".into(),
                    backend.clone(),
                    "process spawned → every service started, ms (without logging / logging)"
                        .into(),
                    format!(
                        "{} / {}",
                        n(line.num("mode.start_ms.median")),
                        n(line.num("mode_logged.start_ms.median"))
                    ),
                    n(line.num("floor.start_ms.median")),
                    n(line.num("start_ratio")),
                    "report".into(),
                    "–".into(),
                ]);
            }
            "W7" if line.get("shape").is_some() => {
                if line.get("skipped").is_some() {
                    row([
                        "W7 pair".into(),
                        "embassy".into(),
                        format!("skipped: {}", line.text("skipped")),
                        "".into(),
                        "".into(),
                        "".into(),
                        "report".into(),
                        "–".into(),
                    ]);
                } else {
                    for (profile, build) in [("release", "opt s + LTO"), ("dev", "opt s, debug")] {
                        let flash = |side: &str| line.num(&format!("{profile}_{side}_flash_bytes"));
                        let ram =
                            |side: &str| line.num(&format!("{profile}_{side}_static_ram_bytes"));
                        let arena = line.num(&format!("{profile}_mode_heap_arena_bytes"));
                        let flash_cost = flash("mode") - flash("plain");
                        let ram_cost = ram("mode") - arena - ram("plain");
                        row([
                            "W7 pair".into(),
                            "embassy".into(),
                            format!("quickstart ({build}): flash, bytes (floor: embassy alone)"),
                            n(flash("mode")),
                            n(flash("plain")),
                            format!("+{}", n(flash_cost)),
                            if profile == "release" {
                                "≤ +32768".into()
                            } else {
                                "report".into()
                            },
                            if profile == "release" {
                                met_if(flash_cost <= 32768.0)
                            } else {
                                "–".into()
                            },
                        ]);
                        row([
                            "W7 pair".into(),
                            "embassy".into(),
                            format!(
                                "quickstart ({build}): static RAM without the {} B heap arena, bytes",
                                n(arena)
                            ),
                            n(ram("mode") - arena),
                            n(ram("plain")),
                            format!("+{}", n(ram_cost)),
                            if profile == "release" { "≤ +1024".into() } else { "report".into() },
                            if profile == "release" { met_if(ram_cost <= 1024.0) } else { "–".into() },
                        ]);
                    }
                    for (profile, build) in [("release", "opt s + LTO"), ("debug", "opt 0, debug")]
                    {
                        let stack = |side: &str| line.num(&format!("{profile}_{side}_stack_bytes"));
                        let debug = profile == "debug";
                        row([
                            "W7 pair".into(),
                            "embassy".into(),
                            format!(
                                "quickstart ({build}): peak stack, bytes (floor: embassy alone)"
                            ),
                            n(stack("mode")),
                            n(stack("plain")),
                            format!("+{}", n(stack("mode") - stack("plain"))),
                            if debug {
                                "≤ 8192".into()
                            } else {
                                "report".into()
                            },
                            if debug {
                                met_if(stack("mode") <= 8192.0)
                            } else {
                                "–".into()
                            },
                        ]);
                    }
                }
            }
            "W7" => {
                if line.get("skipped").is_some() {
                    row([
                        "W7".into(),
                        "embassy".into(),
                        format!("skipped: {}", line.text("skipped")),
                        "".into(),
                        "".into(),
                        "".into(),
                        "report".into(),
                        "–".into(),
                    ]);
                } else {
                    row([
                        "W7".into(),
                        "embassy".into(),
                        "flash (text+data) / static RAM (data+bss), bytes".into(),
                        format!(
                            "{} / {}",
                            line.num("flash_bytes"),
                            line.num("static_ram_bytes")
                        ),
                        "".into(),
                        "".into(),
                        "report".into(),
                        "–".into(),
                    ]);
                    row([
                        "W7".into(),
                        "embassy".into(),
                        "heap per service, bytes: created / running".into(),
                        format!(
                            "{} / {}",
                            line.num("heap_per_service_created_bytes"),
                            line.num("heap_per_service_running_bytes")
                        ),
                        "".into(),
                        "".into(),
                        "report".into(),
                        "–".into(),
                    ]);
                }
            }
            _ => {}
        }
    }
    out
}
