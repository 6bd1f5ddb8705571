#!/usr/bin/env bash
# The types of other crates in mode-core's public API, checked against the list in
# mode-core/external-types.toml (cargo check-external-types): no runtime's type may reach
# the core's surface, and a new dependency type in it shows in review.
#
# Installs cargo-check-external-types (a pinned version, about 1 minute to compile) into the
# target directory when missing; it reads rustdoc's JSON output, so it needs the nightly
# toolchain, as scripts/public-api.sh does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=0.5.0
tools=${CARGO_TARGET_DIR:-$PWD/target}/tools
if ! "$tools/bin/cargo-check-external-types" --version 2>/dev/null | grep -q " $version$"; then
    cargo install cargo-check-external-types --version "$version" --locked --quiet --root "$tools"
fi
export PATH="$tools/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

cd mode-core
cargo +nightly check-external-types --all-features --config external-types.toml
echo "external types: mode-core's public API names only the allowed ones"
