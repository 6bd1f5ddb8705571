#!/usr/bin/env bash
# mode-core under miri: the primitives (sync::, utils::) with their unit tests and the
# primitives_* / send_sync integration tests. (mode-core has no `unsafe` of its own; miri
# checks what the primitives do with their dependencies' atomics and cells.)
# Run from the repository root.
set -euo pipefail

rustup +nightly component add miri rust-src >/dev/null 2>&1 \
    || rustup +nightly component add miri rust-src

# Strict provenance catches integer-to-pointer casts; a separate target directory keeps
# the miri build from invalidating the normal one.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"

cargo +nightly miri setup
cargo +nightly miri test -p mode-core --lib -- sync:: utils::
cargo +nightly miri test -p mode-core \
    --test primitives_sync --test primitives_utils --test send_sync
