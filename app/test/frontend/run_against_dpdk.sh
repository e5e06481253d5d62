#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds the frontend tests against Debian's own librte_vhost.so.23 (not
# ours) and runs them: the tests are checked against a reference library
# while lib/vhost is being written. Known DPDK 22.11 deviations are listed
# in README.md beside this script.
#
# usage: run_against_dpdk.sh [outdir] [program [suite [test]]]
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/vhost-frontend-dpdk}
[ $# -gt 0 ] && shift
mkdir -p "$out"

cflags="-std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE
	-DALLOW_EXPERIMENTAL_API -Wno-unused-parameter -Wshadow
	-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wcast-align
	-Wformat-security"
lib="fm_conn.c fm_mem.c fm_vring.c fm_net.c fm_iommu.c fake_frontend.c
	fe_harness.c fe_log.c fe_traffic.c fe_victim.c
	../common/test_eal.c ../common/test_run.c ../common/test_recorder.c"
progs="test_vhost_user_socket test_frontend_datapath test_frontend_malformed
	test_frontend_bad_memory test_frontend_bad_desc test_frontend_fuzz
	test_frontend_iotlb test_frontend_cve"

# Programs of several files: the other files (as meson.build lists them).
more_test_vhost_user_socket="fe_connect_spy.c"
more_test_frontend_iotlb="iotlb_dev.c iotlb_paths.c iotlb_access.c
	iotlb_invalidate.c iotlb_hostile.c"

for p in $progs; do
	[ -f "$here/$p.c" ] || continue
	eval "more=\${more_$p:-}"
	(cd "$here" && gcc $cflags -I../common -o "$out/$p" "$p.c" $more $lib \
		$(pkg-config --cflags --libs libdpdk) -lcunit -lpthread) || exit 2
done

if [ $# -gt 0 ]; then
	p=$1; shift
	exec "$out/$p" "$@"
fi
status=0
for p in $progs; do
	[ -x "$out/$p" ] || continue
	echo "=== $p (Debian librte_vhost)"
	"$out/$p" > "$out/$p.out" 2> "$out/$p.log"
	rc=$?
	grep -vE 'passed$|^$' "$out/$p.out" | grep -vE '^(Suite:|     CUnit|     http|Run Summary|Elapsed)' || true
	echo "=== $p: exit $rc (results: $out/$p.out, library log: $out/$p.log)"
	[ $rc -eq 0 ] || status=1
done
exit $status
