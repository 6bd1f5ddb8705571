#!/usr/bin/env bash
# mode on microcontrollers: builds mode-core and mode-embassy for Cortex-M (thumbv7em and
# thumbv6m), builds the firmware example, runs it in QEMU (mps2-an386, Cortex-M4) and
# checks its output and exit status; prints its flash/RAM sizes and heap per service.
#
# Installs what it needs when missing: qemu-system-arm and binutils-arm-none-eabi (apt),
# the rustup targets thumbv7em-none-eabihf and thumbv6m-none-eabi.
#
# Usage: bash scripts/embedded.sh        (from anywhere; exits non-zero on any failure)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
firmware_dir=$root/mode-embassy/firmware
host_target=${CARGO_TARGET_DIR:-$root/target}
qemu_timeout=${QEMU_TIMEOUT:-120}

step() { printf '\n== %s\n' "$*"; }

step "tools"
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v arm-none-eabi-size >/dev/null || missing+=(binutils-arm-none-eabi)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
installed=$(rustup target list --installed)
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    grep -qx "$target" <<<"$installed" || rustup target add "$target"
done
qemu-system-arm --version | head -n 1

step "mode-core and mode-embassy for Cortex-M4F (thumbv7em-none-eabihf)"
CARGO_TARGET_DIR=$host_target cargo build -q -p mode-core --no-default-features \
    --target thumbv7em-none-eabihf
CARGO_TARGET_DIR=$host_target cargo build -q -p mode-embassy --target thumbv7em-none-eabihf
echo ok

step "mode-core and mode-embassy for Cortex-M0 (thumbv6m-none-eabi, portable-atomic)"
# No atomic compare-and-swap: the `portable-atomic` features, and, as a single-core
# Cortex-M0 firmware would, portable-atomic's single-core backend (the final binary's
# choice, never the libraries').
export CARGO_TARGET_THUMBV6M_NONE_EABI_RUSTFLAGS="--cfg portable_atomic_unsafe_assume_single_core"
CARGO_TARGET_DIR=$host_target cargo build -q -p mode-core --no-default-features \
    --features portable-atomic --target thumbv6m-none-eabi
CARGO_TARGET_DIR=$host_target cargo build -q -p mode-embassy --features portable-atomic \
    --target thumbv6m-none-eabi
echo ok

step "firmware (release)"
# The firmware is its own workspace with its own target directory, whatever the caller's
# CARGO_TARGET_DIR says.
(cd "$firmware_dir" && CARGO_TARGET_DIR="$firmware_dir/target" cargo build -q --release)
elf=$firmware_dir/target/thumbv7em-none-eabihf/release/mode-firmware
qemu=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none
    -serial none -icount shift=4,sleep=off -kernel "$elf")

# Runs the firmware with the semihosting command line "$1"; sets $output and $status.
run_firmware() {
    local log
    log=$(mktemp)
    status=0
    timeout "$qemu_timeout" "${qemu[@]}" \
        -semihosting-config "enable=on,target=native,arg=$1" >"$log" 2>&1 || status=$?
    output=$(cat "$log")
    rm -f "$log"
}

expect_line() {
    if ! grep -qF -- "$1" <<<"$output"; then
        echo "missing from the firmware's output: $1" >&2
        failed=1
    fi
}

step "firmware in QEMU (mps2-an386, -icount shift=4,sleep=off, ${qemu_timeout}s limit)"
started=$(date +%s%N)
run_firmware mode-firmware
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
printf '%s\n' "$output"
printf '(exit status %s, %s ms wall)\n' "$status" "$elapsed_ms"
failed=0
for line in \
    '[^-App]: Starting...' \
    '[^--Ticker]: Started' \
    '[^---Flaky]: Crashed reason=simulated fault' \
    '[^---Flaky]: Restarting...' \
    'check Flaky crashed once and the supervisor restarted it ... ok' \
    '[^--Consumer]: Stopping...' \
    '[^-App]: Shutdown complete!' \
    'check every tick within 1 ms of start + k * 100 ms ... ok' \
    "check every tree's memory was freed ... ok" \
    ' 0 failed'; do
    expect_line "$line"
done
if [[ $status -ne 0 ]]; then
    echo "the firmware exited with status $status, expected 0" >&2
    failed=1
fi
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' <<<"$output" || true)
[[ -n $summary ]] || { echo "no 'N passed, N failed' line" >&2; failed=1; }
((failed == 0)) || exit 1

step "a failing on-target check exits non-zero (inject-failure)"
run_firmware inject-failure
# Indented, so that the deliberate failure's summary is not read as this run's result.
tail -n 2 <<<"$output" | sed 's/^/    injected: /'
if [[ $status -ne 1 ]] || ! grep -qE '^[0-9]+ passed, 1 failed$' <<<"$output"; then
    echo "expected exit status 1 and '1 failed', got status $status" >&2
    exit 1
fi
echo "ok: exit status $status"

step "firmware size (W7)"
arm-none-eabi-size -A "$elf" | grep -E '^(section|\.vector_table|\.text|\.rodata|\.data|\.bss|\.uninit) '
arm-none-eabi-size -B "$elf"
read -r text data bss _ < <(arm-none-eabi-size -B "$elf" | tail -n 1)
echo "flash (text+data): $((text + data)) bytes; static RAM (data+bss): $((data + bss)) bytes, of which the heap arena is 65536"
grep -F 'heap per service' <<<"$output" || true

step "embedded: all checks passed"
echo "$summary"
