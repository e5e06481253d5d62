#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Build test_iotlb_concurrency with ThreadSanitizer and run it; prints
# PASS or FAIL on the last line and exits 0 or 1.
#
# The build is standalone on purpose: only the test and lib/vhost/iotlb.c
# are compiled, against DPDK's headers alone (rte_rwlock is header-only;
# no EAL, no DPDK library, none of which is instrumented), so the result
# does not depend on the rest of the project building with clang.
#
# Usage: app/test/iotlb/run_tsan.sh [test options]   (default: -r 2 -t 2)
# Environment: CC (default clang), TSAN_OPTIONS (appended).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
cc=${CC:-clang}
out=$(mktemp -d "${TMPDIR:-/tmp}/iotlb-tsan.XXXXXX") || exit 1
exe="$out/test_iotlb_concurrency"
log="$out/log"

[ $# -gt 0 ] || set -- -r 2 -t 2

if ! dpdk_cflags=$(pkg-config --cflags libdpdk); then
	echo "FAIL: pkg-config cannot find libdpdk"
	exit 1
fi

# shellcheck disable=SC2086 # dpdk_cflags is a list of flags
if ! "$cc" -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=thread \
	-D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes $dpdk_cflags -I"$top/lib/vhost" \
	"$here/test_iotlb_concurrency.c" "$top/lib/vhost/iotlb.c" \
	-o "$exe" -pthread; then
	echo "FAIL: TSan build of test_iotlb_concurrency (log dir $out)"
	exit 1
fi

run() {
	TSAN_OPTIONS="halt_on_error=0 exitcode=66 ${TSAN_OPTIONS:-}" \
		"$@" >"$log" 2>&1
}

run "$exe" "$@"
rc=$?
# Older TSan runtimes cannot cope with the high mmap randomisation of
# recent kernels; without ASLR they can.
if grep -q "unexpected memory mapping" "$log"; then
	echo "(TSan runtime refused the memory layout: retrying without ASLR)"
	run setarch "$(uname -m)" -R "$exe" "$@"
	rc=$?
fi
cat "$log"

races=$(grep -c "WARNING: ThreadSanitizer" "$log")
if [ "$rc" -eq 0 ] && [ "$races" -eq 0 ]; then
	echo "PASS: iotlb concurrency under TSan (exit 0, no reports)"
	rm -rf "$out"
	exit 0
fi
echo "FAIL: iotlb concurrency under TSan: exit $rc, $races report(s); log in $log"
exit 1
