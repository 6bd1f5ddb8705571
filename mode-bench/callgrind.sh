#!/usr/bin/env bash
# Instruction counts per unit of work (valgrind --tool=callgrind), for mode and its floors:
# unlike timings they do not move with the load of a shared machine, so they show what a
# change to the core saves. Each count covers one function of the harness (its warm-up
# and one repetition), divided by the units of work it did.
#
# Usage: bash mode-bench/callgrind.sh [W1|W2|W5 ...]   (default: all three; ~5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cargo build -q -p mode-bench --release
bin=${CARGO_TARGET_DIR:-target}/release/mode-bench

# count WORKLOAD BACKEND FUNCTION UNITS UNIT-NAME [harness options...]
count() {
    local workload=$1 backend=$2 function=$3 units=$4 unit=$5 out total
    shift 5
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect="mode_bench::${workload,,}::${function}" \
        "$bin" --only "$workload" --backend "$backend" --reps 1 "$@" >/dev/null 2>&1
    total=$(awk '/^totals:/ {print $2}' "$out")
    rm -f "$out"
    printf '%-3s %-6s %-18s %8d instructions per %s\n' \
        "$workload" "$backend" "$function" $((total / units)) "$unit"
}

workloads=("$@")
[[ ${#workloads[@]} -gt 0 ]] || workloads=(W1 W2 W5)
for workload in "${workloads[@]}"; do
    for backend in tokio smol; do
        case $workload in
        W1) # 10,000 flat children; warm-up + 1 repetition.
            for function in mode_rep "${backend}_ordered" "${backend}_concurrent"; do
                count W1 "$backend" "$function" 20000 service --w1 10000,0x0
            done ;;
        W2) # 100 timers at 50 ms for 2 s (+3 intervals), skip and burst: ~8,600 ticks.
            for function in mode_rep "${backend}_floor"; do
                count W2 "$backend" "$function" 8600 "tick (approx.)" --w2 100,50,2000
            done ;;
        W5) # 1,000 rounds; warm-up + 1 repetition; each crash kind on its own.
            for kind in err panic; do
                for function in mode_rep "${backend}_floor"; do
                    count W5 "$backend" "$function" 2000 "crash and restart ($kind)" \
                        --w5 "1000,$kind"
                done
            done ;;
        *) echo "no instruction count for $workload" >&2; exit 2 ;;
        esac
    done
done
