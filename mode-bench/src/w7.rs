//! W7: the embedded example firmware (`mode-embassy/firmware`, thumbv7em-none-eabihf,
//! release): flash and static RAM from `arm-none-eabi-size`, and heap bytes per service as
//! the firmware measures them on target (in QEMU, mps2-an386).
//!
//! The same build and run as `scripts/embedded.sh` (which also checks the firmware's
//! output); it needs `arm-none-eabi-size`, `qemu-system-arm` and the rustup target. When
//! one is missing, the line says so instead of a number.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::Json;

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
fn output(command: &mut Command) -> Result<String, String> {
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
    for tool in ["arm-none-eabi-size", "qemu-system-arm"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return skipped(format!(
                "{tool} is not installed (scripts/embedded.sh installs it)"
            ));
        }
    }
    // The firmware is its own workspace with its own target directory; a target
    // directory inherited from the caller would put the ELF elsewhere.
    let build = output(
        Command::new("cargo")
            .args(["build", "--release", "-q"])
            .current_dir(&firmware)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR"),
    );
    if let Err(err) = build {
        return skipped(format!("the firmware did not build: {err}"));
    }
    let elf = firmware
        .join("target")
        .join(TARGET)
        .join("release")
        .join("mode-firmware");
    let sizes = match output(Command::new("arm-none-eabi-size").arg("-B").arg(&elf)) {
        Ok(sizes) => sizes,
        Err(err) => return skipped(err),
    };
    let Some([text, data, bss]) = sizes.lines().nth(1).and_then(|line| {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        Some([
            fields.next()?.ok()?,
            fields.next()?.ok()?,
            fields.next()?.ok()?,
        ])
    }) else {
        return skipped(format!("unexpected `size` output: {sizes}"));
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
