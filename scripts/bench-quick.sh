#!/usr/bin/env bash
# The benchmark harness's quick mode: every workload on every backend at small sizes,
# 3 repetitions. It checks that the harness and the floors run; it asserts no timing
# (timings on a shared CI machine are noise). The full run and its table: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -p mode-bench --release -- --quick
