#!/bin/bash
# Live-migration test in each mode of $QM_MODES against LIBDIR: QM_COUNT
# migrations per mode (run_migration.sh), each checked for 0 differing
# guest pages and a guest that lives on.
#
# Usage: run_all.sh LIBDIR     (QM_MODES="plain viommu", QM_COUNT=3)
# A mode may carry its own count, MODE:COUNT (e.g. QM_MODES="plain
# plain-packed:2"); modes are plain, viommu, plain-packed, viommu-packed.
# Ends with "N passed, M failed" (modes); exits 0 only if all passed.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 LIBDIR" >&2; exit 2; }
LIBDIR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODES=${QM_MODES:-plain viommu}
COUNT=${QM_COUNT:-3}
export QM_CACHE=${QM_CACHE:-/var/tmp/vhost-qemu-guest}

# Build (or install and build) the initramfs once up front.
"$HERE/../qemu_guest/build_initramfs.sh" "$QM_CACHE" >/dev/null

passed=0 failed=0
summary=()
start=$SECONDS
for entry in $MODES; do
	mode=${entry%%:*}
	count=$COUNT
	[ "$mode" = "$entry" ] || count=${entry#*:}
	echo "=== mode $mode, $count migrations (lib $LIBDIR)"
	out=$(mktemp)
	if "$HERE/run_migration.sh" "$LIBDIR" "$mode" "$count" 2>&1 | tee "$out"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	summary+=("$(grep -m1 '^SUMMARY ' "$out" || echo "SUMMARY mode=$mode result=FAIL reason: no summary line")")
	rm -f "$out"
done
echo "=== summary (lib $LIBDIR, $((SECONDS - start))s)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
