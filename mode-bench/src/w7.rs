//! W7: mode on a microcontroller (thumbv7em-none-eabihf), two measurements:
//!
//! - the example firmware (`mode-embassy/firmware`, release): flash and static RAM from
//!   `arm-none-eabi-size`, and heap bytes per service and the heap's high-water mark as the
//!   firmware measures them on target (in QEMU, mps2-an386);
//! - mode's cost ([`pair`]): the docs' quickstart (`mode-embassy/quickstart`: a service
//!   with a 100 ms timer and a task, ten ticks) against the same work on embassy alone
//!   (its `plain` binary), both at `opt-level = "s"` with LTO (release) and at
//!   `opt-level = "s"` without (dev); and the peak stack of both, release and at
//!   `opt-level = 0`, read through QEMU's GDB stub ([`crate::stack`]).
//!
//! The same builds as `scripts/embedded.sh` (which also runs them and checks their output);
//! it needs `arm-none-eabi-size`, `qemu-system-arm` and the rustup target. When one is
//! missing, the line says so instead of a number.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::Json;
use crate::stack;

const TARGET: &str = "thumbv7em-none-eabihf";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mode-bench lives in the workspace")
        .to_path_buf()
}

fn skipped(reason: impl Into<String>) -> Json {
    Json::obj()
        .with("workload", "W7")
        .with("backend", "embassy")
        .with("skipped", reason.into())
}

/// Runs `command`, returning its stdout, or why it failed.
pub(crate) fn output(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|err| format!("{command:?}: {err}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds the firmware in `dir` (its own workspace with its own target directory: a
/// target directory inherited from the caller would put the ELF elsewhere).
fn build(dir: &Path, release: bool) -> Result<(), String> {
    build_with(dir, release, &[])
}

/// [`build`] with more arguments for cargo.
fn build_with(dir: &Path, release: bool, args: &[&str]) -> Result<(), String> {
    let mut cargo = Command::new("cargo");
    cargo.args(["build", "-q", "--bins"]).args(args);
    if release {
        cargo.arg("--release");
    }
    output(
        cargo
            .current_dir(dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR"),
    )
    .map(drop)
}

/// `text`, `data` and `bss` of an ELF, from `arm-none-eabi-size`.
fn sizes(elf: &Path) -> Result<[u64; 3], String> {
    let sizes = output(Command::new("arm-none-eabi-size").arg("-B").arg(elf))?;
    sizes
        .lines()
        .nth(1)
        .and_then(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u64>);
            Some([
                fields.next()?.ok()?,
                fields.next()?.ok()?,
                fields.next()?.ok()?,
            ])
        })
        .ok_or_else(|| format!("unexpected `size` output: {sizes}"))
}

/// The size of the heap arena `embedded_alloc::init!` reserves (its `HEAP_MEM` static),
/// part of the static RAM `size` reports.
fn heap_arena(elf: &Path) -> Result<u64, String> {
    let symbols = output(Command::new("arm-none-eabi-nm").args(["-S", "-C"]).arg(elf))?;
    symbols
        .lines()
        .find(|line| line.ends_with("HEAP_MEM"))
        .and_then(|line| u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok())
        .ok_or_else(|| "no HEAP_MEM symbol in the quickstart".to_string())
}

/// What a tool this workload needs and does not find, if any.
fn missing_tool() -> Option<String> {
    ["arm-none-eabi-size", "qemu-system-arm"]
        .into_iter()
        .find(|tool| Command::new(tool).arg("--version").output().is_err())
        .map(|tool| format!("{tool} is not installed (scripts/embedded.sh installs it)"))
}

/// The firmware's own line: `heap per service: N bytes created, M bytes running ...`.
fn heap_per_service(log: &str) -> Option<(u64, u64)> {
    let line = log.lines().find(|l| l.contains("heap per service:"))?;
    let rest = line.split("heap per service:").nth(1)?;
    let mut numbers = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(str::parse::<u64>);
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
}

/// W7: builds and measures the firmware.
pub(crate) fn run() -> Json {
    let firmware = workspace().join("mode-embassy").join("firmware");
    if !firmware.join("Cargo.toml").exists() {
        return skipped("no firmware at mode-embassy/firmware");
    }
    if let Some(missing) = missing_tool() {
        return skipped(missing);
    }
    if let Err(err) = build(&firmware, true) {
        return skipped(format!("the firmware did not build: {err}"));
    }
    let elf = firmware
        .join("target")
        .join(TARGET)
        .join("release")
        .join("mode-firmware");
    let [text, data, bss] = match sizes(&elf) {
        Ok(sizes) => sizes,
        Err(err) => return skipped(err),
    };
    let run = output(
        Command::new("timeout")
            .arg("120")
            .arg("qemu-system-arm")
            .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
            .args(["-monitor", "none", "-serial", "none"])
            .args(["-icount", "shift=4,sleep=off"])
            .arg("-kernel")
            .arg(&elf)
            .args([
                "-semihosting-config",
                "enable=on,target=native,arg=mode-firmware",
            ]),
    );
    let heap = run.as_deref().ok().and_then(heap_per_service);
    Json::obj()
        .with("workload", "W7")
        .with("backend", "embassy")
        .with("target", TARGET)
        .with("text_bytes", text)
        .with("data_bytes", data)
        .with("bss_bytes", bss)
        .with("flash_bytes", text + data)
        .with("static_ram_bytes", data + bss)
        .with("heap_per_service_created_bytes", heap.map(|h| h.0))
        .with("heap_per_service_running_bytes", heap.map(|h| h.1))
        .with("qemu_ok", run.is_ok())
}

/// W7's pair: flash and static RAM of the quickstart with mode and of the same work on
/// embassy alone, release and dev builds, and the difference (mode's cost).
pub(crate) fn pair() -> Json {
    let skipped = |reason: String| skipped(reason).with("shape", "pair");
    let quickstart = workspace().join("mode-embassy").join("quickstart");
    if let Some(missing) = missing_tool() {
        return skipped(missing);
    }
    let mut line = Json::obj()
        .with("workload", "W7")
        .with("backend", "embassy")
        .with("shape", "pair")
        .with("target", TARGET);
    for (profile, release) in [("release", true), ("dev", false)] {
        if let Err(err) = build(&quickstart, release) {
            return skipped(format!("the quickstart did not build ({profile}): {err}"));
        }
        let dir =
            quickstart
                .join("target")
                .join(TARGET)
                .join(if release { "release" } else { "debug" });
        for (side, binary) in [("mode", "mode-quickstart"), ("plain", "plain")] {
            let [text, data, bss] = match sizes(&dir.join(binary)) {
                Ok(sizes) => sizes,
                Err(err) => return skipped(err),
            };
            line = line
                .with(&format!("{profile}_{side}_flash_bytes"), text + data)
                .with(&format!("{profile}_{side}_static_ram_bytes"), data + bss);
        }
        match heap_arena(&dir.join("mode-quickstart")) {
            Ok(arena) => line = line.with(&format!("{profile}_mode_heap_arena_bytes"), arena),
            Err(err) => return skipped(err),
        }
    }
    // The peak stack, of the same binaries with cortex-m-rt's stack paint (built apart, so
    // the sizes above are those of the build users make): release, and a debug build at
    // `opt-level = 0`, as a project without the quickstart's `[profile.dev]` gets.
    let painted = [
        "--features",
        "cortex-m-rt/paint-stack",
        "--target-dir",
        "target/stack",
    ];
    let debug = ["--config", "profile.dev.opt-level=0"];
    for (profile, release, extra) in [("release", true, &[][..]), ("debug", false, &debug[..])] {
        if let Err(err) = build_with(&quickstart, release, &[&painted[..], extra].concat()) {
            return skipped(format!(
                "the painted quickstart did not build ({profile}): {err}"
            ));
        }
        let dir = quickstart
            .join("target")
            .join("stack")
            .join(TARGET)
            .join(profile);
        for (side, binary) in [("mode", "mode-quickstart"), ("plain", "plain")] {
            match stack::peak_stack(&dir.join(binary)) {
                Ok(bytes) => line = line.with(&format!("{profile}_{side}_stack_bytes"), bytes),
                Err(err) => return skipped(format!("the peak stack of {binary}: {err}")),
            }
        }
    }
    line
}

/// The quick mode does not build the firmware (a cold build takes about a minute; CI
/// builds, runs and checks it in `scripts/embedded.sh`).
pub(crate) fn quick() -> Json {
    skipped("quick mode (scripts/embedded.sh builds, runs and measures the firmware)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_firmware_heap_line() {
        let log = "[  1.008: INFO]: [^Firmware]: heap per service: 459 bytes created, \
                   495 bytes running (trees of 2 and 18 services)";
        assert_eq!(heap_per_service(log), Some((459, 495)));
        assert_eq!(heap_per_service("nothing"), None);
    }
}
