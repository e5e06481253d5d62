#!/bin/bash
# Run the QEMU guest ping test in each mode of $QEMU_MODES against LIBDIR.
#
# Usage: run_all.sh LIBDIR        (QEMU_MODES="noiommu strict lazy" by default)
# Ends with "N passed, M failed"; exits 0 only if every mode passed.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 LIBDIR" >&2; exit 2; }
LIBDIR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODES=${QEMU_MODES:-noiommu strict lazy}
export QG_CACHE=${QG_CACHE:-/var/tmp/vhost-qemu-guest}

# Build (or install and build) once up front, so the first mode's time
# is the test's own.
"$HERE/build_initramfs.sh" "$QG_CACHE" >/dev/null

passed=0 failed=0
summary=()
start=$SECONDS
for mode in $MODES; do
	echo "=== mode $mode (lib $LIBDIR)"
	# run_ping.sh prints one PASS/FAIL line; keep it for the summary.
	out=$(mktemp)
	if "$HERE/run_ping.sh" "$LIBDIR" "$mode" 2>&1 | tee "$out"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	verdict=$(grep -m1 -E '^(PASS|FAIL) ' "$out" || echo "FAIL mode=$mode reason: run_ping.sh printed no verdict")
	rm -f "$out"
	summary+=("$verdict")
done
echo "=== summary (lib $LIBDIR, $((SECONDS - start))s)"
for s in "${summary[@]}"; do echo "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
