#!/usr/bin/env bash
# The example programs in examples/: builds every one, then runs each that ends by itself
# (supervisor, queue, inside_tokio, smol) and checks its exit status (0) and key lines of
# its output. `app` serves until Ctrl-C, so only its `--help` and `--graph` (which exit at
# once) are run. Each run is bounded by EXAMPLE_TIMEOUT seconds (default 60); a failed
# check prints the program's whole output. The examples' tests (examples/tests/) run with
# `cargo test --workspace`.
#
# Usage: bash scripts/examples.sh        (from anywhere; exits non-zero on any failure)
set -euo pipefail
cd "$(dirname "$0")/.."

run_timeout=${EXAMPLE_TIMEOUT:-60}
started=$SECONDS
runs=0
output=$(mktemp)
trap 'rm -f "$output"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "build"
cargo build -p mode-examples --examples
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin_dir=$target_dir/debug/examples

# run NAME [ARG...] -- LINE...: runs example NAME with the ARGs (RUST_LOG unset, so the
# default log level applies), expects exit status 0 and every LINE somewhere in its
# stdout and stderr.
run() {
    local name=$1 args=() status=0 line missing=0 title
    shift
    while [ "$1" != "--" ]; do
        args+=("$1")
        shift
    done
    shift
    title="$name${args[*]:+ ${args[*]}}"
    step "$title"
    env -u RUST_LOG timeout "$run_timeout" "$bin_dir/$name" "${args[@]}" >"$output" 2>&1 ||
        status=$?
    for line in "$@"; do
        if ! grep -qF -- "$line" "$output"; then
            echo "missing line: $line"
            missing=1
        fi
    done
    if [ "$status" -ne 0 ] || [ "$missing" -ne 0 ]; then
        echo "---- output of $title ----"
        cat "$output"
        echo "----"
        if [ "$status" -eq 124 ]; then
            echo "FAILED: $title timed out after ${run_timeout}s"
        elif [ "$status" -ne 0 ]; then
            echo "FAILED: $title exited with status $status (expected 0)"
        else
            echo "FAILED: $title: lines missing from its output (above)"
        fi
        exit 1
    fi
    echo "ok ($(wc -l <"$output") lines of output, $# checked)"
    runs=$((runs + 1))
}

run app --help -- \
    "Usage: app [OPTIONS]" \
    "--port <PORT>" \
    "--runtime <RUNTIME>"

run app --graph -- \
    'n1 [label="App"];' \
    'n4 [label="Webserver"];' \
    'n1 -> n4;'

run supervisor -- \
    "[^--Uplink]: Crashed reason=connection lost on run 1" \
    "[^-Supervisor]: Restarting dead Uplink in 100ms! Last crash reason: connection lost on run 1" \
    "[^-Supervisor]: Restarting dead Uplink in 200ms! Last crash reason: connection lost on run 2" \
    "[^--Uplink]: run 3: connected after 2 restarts" \
    "[^--Uplink]: sent message 3" \
    "[^-Supervisor]: Shutdown complete!" \
    "[^Worker]: Stopped (asked to stop)"

run queue -- \
    "[^--Consumer]: ready: resuming the producers" \
    "[^--Consumer]: batch 1 complete: suspending the producers while it is written" \
    "[^--Consumer]: wrote batch 4: [" \
    "[^--Producer-1]: produced 8 items" \
    "[^--Producer-2]: produced 8 items" \
    "[^--Consumer]: received all 16 items, each producer's in order: none lost" \
    "[^Worker]: Stopped (asked to stop)"

run inside_tokio -- \
    "main: logger installed; running the tree" \
    "[^-Sampler]: reading 5: 50" \
    "[^-Sampler]: took 5 readings; stopping" \
    "[^-Sampler]: Shutdown complete!" \
    "main: the sampler closed its channel after 5 readings (sum 150)" \
    "main: the tree stopped (asked to stop); exiting"

run smol -- \
    "migrated 3 tables" \
    "[^-Migrate]: Shutdown complete!" \
    "[^-Heartbeat]: 4 beats; stopping" \
    "[^-Heartbeat]: Shutdown complete!" \
    "[^Worker]: Stopped (asked to stop)"

printf '\nexamples: %d runs passed in %ds\n' "$runs" "$((SECONDS - started))"
