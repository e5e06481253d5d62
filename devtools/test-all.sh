#!/bin/bash
# Every test of the project: set up and build, then run each step below.
# A failing step does not stop the others; the exit status is non-zero if
# any failed. The last line is "test-all: N passed, M failed" (steps).
set -euo pipefail
cd "$(dirname "$0")/.."

devtools/setup.sh

# What exists before the steps, so the last step can tell what they left.
leftover_snap=$(mktemp)
step_logs=$(mktemp -d)
trap 'rm -rf "$leftover_snap" "$step_logs"' EXIT
devtools/leftovers.sh snapshot "$leftover_snap"

# ---- Test steps: "name|command", run in order from the repo root. ----
steps=(
	"lib/vhost include layering (doc/design.md)|devtools/check-layers.py"
	# meson-failures.py repeats what the failed tests said, which their
	# log lines can push out of meson's own report.
	"meson tests (unit, vhost-user socket)|meson test -C build --print-errorlogs || { devtools/meson-failures.py build; exit 1; }"
	"ASan+UBSan build: unit and socket tests|devtools/test-sanitizers.sh"
	"IOTLB readers vs writer under TSan|app/test/iotlb/run_tsan.sh"
	"libFuzzer: messages, descriptor chains, IOTLB (30 s each) + regressions|app/test/fuzz/run_fuzz.sh 30"
	"testpmd loopback on build/lib/vhost|app/test/integration/testpmd_loopback.sh build/lib/vhost"
	"testpmd backend relaunch, frontend server=1|app/test/integration/testpmd_relaunch.sh build/lib/vhost"
	"testpmd packed rings: virtio-user SIGKILLed under traffic, both socket modes|app/test/fault/testpmd_kill_packed.sh build/lib/vhost"
	"testpmd: every virtio-user path, port restart, 9200-byte chains|app/test/integration/testpmd_paths.sh build/lib/vhost"
	"testpmd vm2vm: 8000-byte chains into a full or ample Rx ring|app/test/integration/testpmd_vm2vm.sh build/lib/vhost"
	"telemetry /vhost/* via dpdk-telemetry.py on testpmd|app/test/integration/testpmd_telemetry.sh build/lib/vhost"
	"OVS-DPDK: vhost-user ports, restarts, vIOMMU|app/test/integration/ovs/test_ovs.sh build/lib/vhost"
	"virtio-viommu frontend: iommu off/static/dynamic, both libraries; scatter on ours|drivers/net/virtio/test_viommu.sh -s 2 -l both"
	"virtio-viommu attack modes on our library|drivers/net/virtio/test_viommu.sh -s 2 -l ours --only-attacks"
	# lazy-noats is not run: without ATS, QEMU 7.2 does not forward a lazy
	# guest's flushes (doc/iotlb.md, "Invalidations from QEMU 7.2").
	# Packed rings (packed=on): without and with the vIOMMU; each mode
	# checks that guest and backend negotiated them.
	"QEMU guest ping: no IOMMU, vIOMMU strict/lazy (ATS), strict without ATS; packed: no IOMMU, strict|QEMU_MODES='noiommu strict lazy strict-noats noiommu-packed strict-packed' app/test/integration/qemu_guest/run_all.sh build/lib/vhost"
	"QEMU memory hot-plug: 20 DIMMs with our library, refused past 8 slots with Debian's|app/test/integration/qemu_guest/run_hotplug.sh build/lib/vhost expect-all && app/test/integration/qemu_guest/run_hotplug.sh /usr/lib/x86_64-linux-gnu expect-refusal"
	# Guest RAM of 512 MiB - 8 KiB keeps QEMU 7.2 off its TCG dirty
	# bitmap bug (doc/live-migration.md).
	"QEMU live migration: plain and vIOMMU, 3 each, packed 2 each, RAM compared|QM_COUNT=3 QM_MODES='plain viommu plain-packed:2 viommu-packed:2' app/test/integration/qemu_migration/run_all.sh build/lib/vhost"
	# Last: EAL runtime directories and hugepage files nobody maps.
	"nothing left in /var/run/dpdk or /dev/hugepages|devtools/leftovers.sh check $leftover_snap"
)
# ---- end of test steps ----

passed=0 failed=0 n=0
summary=() failed_logs=()
for step in "${steps[@]}"; do
	name=${step%%|*}
	cmd=${step#*|}
	n=$((n + 1))
	log=$step_logs/$n.log
	echo
	echo "==== $name: $cmd"
	start=$SECONDS
	if bash -c "$cmd" 2>&1 | tee "$log"; then
		result=ok
		passed=$((passed + 1))
	else
		result="FAILED (exit ${PIPESTATUS[0]})"
		failed=$((failed + 1))
		failed_logs+=("$name|$log")
	fi
	summary+=("$(printf '%-45s %-16s %4ds' "$name" "$result" $((SECONDS - start)))")
done

# Often only the end of a CI log is kept: repeat, just before the summary,
# the lines of each failed step that say what failed.
for f in "${failed_logs[@]}"; do
	echo
	echo "==== why it failed: ${f%%|*}"
	grep -a -n -i -E 'fail|error|assert|sanitizer|timeout|timed out|abort|^ +FE: ' \
		"${f#*|}" | tail -n 40 || true
	echo "---- its last lines:"
	tail -n 15 "${f#*|}"
done

echo
echo "==== summary"
printf '%s\n' "${summary[@]}"
echo "test-all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
