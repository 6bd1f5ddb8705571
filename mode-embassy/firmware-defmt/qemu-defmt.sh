#!/bin/sh
# Runs the firmware $1 in QEMU (mps2-an386) and decodes its defmt frames with defmt-print
# (`cargo install defmt-print`); exits with QEMU's status, the firmware's.
set -u
frames=$(mktemp)
qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none \
    -icount shift=4 -semihosting-config enable=on,target=native -kernel "$1" >"$frames"
status=$?
defmt-print -e "$1" <"$frames"
rm -f "$frames"
exit $status
