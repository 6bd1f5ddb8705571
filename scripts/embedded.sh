#!/usr/bin/env bash
# mode on microcontrollers: builds mode-core and mode-embassy for Cortex-M (thumbv7em and
# thumbv6m, where a build without an atomics backend must stop at one clear error); checks
# that docs/embedded.md shows the quickstart's files as they are, and runs the quickstart
# (stock embassy executor) and its embassy-only twin in QEMU on a Cortex-M4F (mps2-an386)
# and a Cortex-M0 (microbit); runs a firmware that logs through defmt and decodes its
# lines (installs defmt-print when missing); builds the example firmware, runs it in QEMU (mps2-an386)
# and checks its output and exit status; prints its flash/RAM sizes and heap per service.
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

# Fails the current step (sets $failed) unless the line "$1" is in $output.
expect_line() {
    if ! grep -qF -- "$1" <<<"$output"; then
        echo "missing from the firmware's output: $1" >&2
        failed=1
    fi
}

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

step "mode-core and mode-embassy for Cortex-M0 (thumbv6m-none-eabi: no compare-and-swap)"
# mode-core takes portable-atomic on such a target by itself (no feature needed); the final
# binary chooses portable-atomic's backend. Without a choice, the build stops at one error,
# portable-atomic's, naming the choices.
m0_log=$(mktemp)
if CARGO_TARGET_DIR=$host_target cargo build -q -p mode-embassy --target thumbv6m-none-eabi \
    >"$m0_log" 2>&1; then
    echo "mode-embassy built for thumbv6m without an atomics backend: expected one clear error" >&2
    exit 1
fi
errors=$(grep -c '^error' "$m0_log" || true)
if ! grep -q 'dependents require atomic CAS' "$m0_log" || ((errors != 2)); then
    cat "$m0_log" >&2
    echo "expected portable-atomic's one error (and cargo's 'could not compile'), got $errors errors" >&2
    exit 1
fi
rm -f "$m0_log"
echo "ok: without a backend, one error: dependents require atomic CAS ..."
# With a backend (as a single-core Cortex-M0 firmware would choose one; the quickstart below
# uses portable-atomic's `critical-section` feature instead).
CARGO_TARGET_THUMBV6M_NONE_EABI_RUSTFLAGS="--cfg portable_atomic_unsafe_assume_single_core" \
    CARGO_TARGET_DIR=$host_target cargo build -q -p mode-embassy --target thumbv6m-none-eabi
echo "ok: with --cfg portable_atomic_unsafe_assume_single_core"

step "docs/embedded.md shows the quickstart's files as they are"
# Each `<!-- file: PATH -->` line in the page is followed by a fenced block whose text must
# be the file's, byte for byte: users copy the page, CI builds the files.
shown=$(mktemp -d)
awk -v out="$shown" '
    /^<!-- file: .* -->$/ { path = $3; expect_fence = 1; next }
    expect_fence && /^```/ { expect_fence = 0; in_block = 1; file = out "/" path
        dir = file; sub(/\/[^\/]*$/, "", dir); system("mkdir -p \"" dir "\""); printf "" > file; next }
    in_block && /^```$/ { in_block = 0; close(file); next }
    in_block { print >> file }
' docs/embedded.md
shown_files=$(cd "$shown" && find . -type f | sort)
[[ -n $shown_files ]] || { echo "docs/embedded.md shows no file" >&2; exit 1; }
while read -r file; do
    diff -u "$root/$file" "$shown/$file" || {
        echo "docs/embedded.md and $file differ" >&2
        exit 1
    }
    echo "same: ${file#./}"
done <<<"$shown_files"
rm -rf "$shown"

step "the quickstart on the stock executor, in QEMU: Cortex-M4F (mps2-an386) and Cortex-M0 (microbit)"
quickstart_dir=$root/mode-embassy/quickstart
(cd "$quickstart_dir" && CARGO_TARGET_DIR="$quickstart_dir/target" cargo build -q --release --bins \
    && CARGO_TARGET_DIR="$quickstart_dir/target" cargo build -q --release --bins --target thumbv6m-none-eabi)
for board in "thumbv7em-none-eabihf mps2-an386" "thumbv6m-none-eabi microbit"; do
    read -r target machine <<<"$board"
    cpu=()
    [[ $machine == microbit ]] || cpu=(-cpu cortex-m4)
    for binary in mode-quickstart plain; do
        log=$(mktemp)
        status=0
        # -icount shift=4 (no sleep=off: the stock executor idles with WFE, which QEMU
        # spins on): 1 s of the firmware's time takes a few seconds.
        timeout "$qemu_timeout" qemu-system-arm -machine "$machine" "${cpu[@]}" -nographic \
            -monitor none -serial none -icount shift=4 \
            -semihosting-config enable=on,target=native \
            -kernel "$quickstart_dir/target/$target/release/$binary" >"$log" 2>&1 || status=$?
        output=$(cat "$log")
        rm -f "$log"
        failed=0
        for tick in 1 2 3 4 5 6 7 8 9 10; do
            expect_line "tick $tick at $((tick * 100)) ms"
        done
        [[ $binary == plain ]] || expect_line "asked to stop; heap in use:"
        if [[ $status -ne 0 || $failed -ne 0 ]]; then
            printf '%s\n' "$output"
            echo "$binary on $machine: exit status $status" >&2
            exit 1
        fi
        echo "ok: $binary on $machine ($(tail -n 1 <<<"$output"))"
    done
done

step "mode's lines through defmt (mode-embassy/firmware-defmt), decoded by defmt-print"
# defmt-print decodes the frames on the host; `cargo install` builds it from source (about
# 2 minutes on 2 cores), once per machine.
if ! command -v defmt-print >/dev/null; then
    cargo install -q --locked defmt-print --version 1.2.0
fi
defmt_dir=$root/mode-embassy/firmware-defmt
(cd "$defmt_dir" && CARGO_TARGET_DIR="$defmt_dir/target" cargo build -q --release)
status=0
output=$(cd "$defmt_dir" && timeout "$qemu_timeout" sh qemu-defmt.sh \
    "$defmt_dir/target/thumbv7em-none-eabihf/release/mode-firmware-defmt" 2>&1) || status=$?
failed=0
for line in \
    'INFO  [^-App]: Starting...' \
    'INFO  [^--Blinky]: Started' \
    'INFO  [^--Blinky]: tick 3' \
    'INFO  [^--Blinky]: Shutdown complete!' \
    'INFO  [^-App]: Shutdown complete!' \
    'INFO  exit: asked to stop; root: Stopped'; do
    expect_line "$line"
done
if [[ $status -ne 0 || $failed -ne 0 ]]; then
    printf '%s\n' "$output"
    echo "firmware-defmt: exit status $status" >&2
    exit 1
fi
echo "ok: $(grep -c . <<<"$output") lines decoded, the lifecycle's and the service's"

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
