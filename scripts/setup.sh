#!/usr/bin/env bash
# Installs what the workspace's checks need on a fresh machine (idempotent).
set -euo pipefail

components=$(rustup component list --installed 2>/dev/null || true)
for component in rustfmt clippy; do
    if ! grep -q "^$component" <<<"$components"; then
        rustup component add "$component"
    fi
done

targets=$(rustup target list --installed)
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    if ! grep -qx "$target" <<<"$targets"; then
        rustup target add "$target"
    fi
done
