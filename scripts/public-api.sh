#!/usr/bin/env bash
# The public API of every published crate, as `cargo public-api` lists it, compared with
# the snapshot committed in public-api/<crate>.txt: every change to the surface shows in
# review, and CI fails until the snapshot is updated with it.
#
# Installs cargo-public-api (a pinned version, about 2 minutes to compile) into the target
# directory when missing; it reads rustdoc's JSON output, so it needs the nightly
# toolchain, as miri does.
#
# Usage: bash scripts/public-api.sh           (check)
#        bash scripts/public-api.sh --bless   (rewrite the snapshots)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=0.52.0
tools=${CARGO_TARGET_DIR:-$PWD/target}/tools
if ! "$tools/bin/cargo-public-api" --version 2>/dev/null | grep -qx "cargo-public-api $version"; then
    cargo install cargo-public-api --version "$version" --locked --quiet --root "$tools"
fi
export PATH="$tools/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

bless=false
[[ ${1:-} == --bless ]] && bless=true
changed=0
for crate in mode-core mode-worker mode-tokio mode-smol mode-embassy mode; do
    snapshot=public-api/$crate.txt
    # -s: without blanket impls (the same for every type); auto traits stay, since a type
    # that stops being `Send` is a change of its API.
    log=$(mktemp)
    if ! current=$(cargo public-api --package "$crate" --all-features -s 2>"$log"); then
        cat "$log"
        exit 1
    fi
    rm -f "$log"
    if $bless; then
        printf '%s\n' "$current" >"$snapshot"
        echo "$snapshot written"
    elif ! diff -u "$snapshot" <(printf '%s\n' "$current") >"public-api/$crate.diff"; then
        echo "$crate: its public API differs from $snapshot:"
        cat "public-api/$crate.diff"
        changed=1
    fi
    rm -f "public-api/$crate.diff"
done
if ((changed)); then
    echo "Run 'bash scripts/public-api.sh --bless' and commit the snapshots with the change."
    exit 1
fi
$bless || echo "public API: every crate matches its snapshot"
