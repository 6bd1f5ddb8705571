#!/usr/bin/env bash
# Loom models of mode-core's primitives (Event, FlowControlEvent, FlowControlQueue) and of
# the timer queue's lock-free poll racing a firing round.
# The models are unit tests inside src/ under cfg(all(test, loom)), named loom_*.
# Run from the repository root.
set -euo pipefail

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom -C debug-assertions"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
# A separate target directory keeps the loom build from invalidating the normal one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"

cargo test -p mode-core --release --lib -- loom "$@"
