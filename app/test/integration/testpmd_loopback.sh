#!/bin/bash
# Loopback integration test of a librte_vhost.so.23.
#
# Debian's dpdk-testpmd runs the vhost PMD with LD_LIBRARY_PATH=LIBDIR, so
# it uses the library under test; a second testpmd (plain Debian DPDK)
# drives it through virtio-user. Every case checks that the receiver got
# exactly the packets the sender sent, and that the vhost process really
# mapped LIBDIR/librte_vhost.so.23.
#
# Usage: testpmd_loopback.sh LIBDIR
# Env:   LOOPBACK_SECONDS    traffic time per case (default 2)
#        LOOPBACK_CASES      regex to select cases by name (default all)
#        LOOPBACK_BUDGET     seconds after which remaining cases fail (600)
#        LOOPBACK_KEEP_LOGS  set to keep the logs of a passing run
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 LIBDIR" >&2
	exit 2
fi
here=$(dirname "$(realpath "$0")")
want_lib=$(realpath -e "$1/librte_vhost.so.23") || {
	echo "FAIL setup: no librte_vhost.so.23 in $1"
	echo "0 passed, 1 failed"
	exit 1
}
libdir=$(dirname "$want_lib")
duration=${LOOPBACK_SECONDS:-2}
only=${LOOPBACK_CASES:-.}
budget=${LOOPBACK_BUDGET:-600}

# One log directory per case under $logroot, kept when anything failed.
logroot=$(mktemp -d /tmp/vhost-loopback.XXXXXX)
TP_DIR=$logroot
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
passed=0 failed=0
finish() {
	tp_cleanup
	rm -f "$logroot"/*/*.sock "$logroot"/*/*.in
	if [ "$failed" -eq 0 ] && [ -z "${LOOPBACK_KEEP_LOGS:-}" ]; then
		rm -rf "$logroot"
	else
		echo "loopback: logs kept in $logroot"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM
echo "loopback: library $want_lib"

# Each side: main lcore on one CPU, forwarding lcore on the other, so the
# two forwarding loops never share a CPU. Interactive main lcores sleep.
eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)

fail() {
	echo "FAIL $case: $1"
	local side
	for side in vhost virtio; do
		if [ -f "$TP_DIR/$side.log" ]; then
			echo "---- tail of $side.log ----"
			tail -n 15 "$TP_DIR/$side.log"
			echo
		fi
	done
	failed=$((failed + 1))
}

# why NAME WHAT: the reason a wait for WHAT from testpmd NAME failed.
why() {
	if tp_alive "$1"; then
		echo "timed out waiting for $1 $2"
	else
		echo "$1 testpmd exited before $2"
	fi
}

# run_case DIR QUEUES MODE MRG [RING]
#   DIR   v2h: virtio txonly -> vhost rxonly; h2v: vhost txonly -> virtio rxonly
#   MODE  server: vhost listens; client: vhost connects, virtio-user listens
#   MRG   virtio-user mrg_rxbuf (mergeable receive buffers) 0 or 1
#   RING  split (default); packed (virtio-user packed_vq=1), packed-io (and
#         in_order=1), packed-qs1025 (and queue_size=1025, a ring size
#         only packed rings allow)
run_case() {
	local dir=$1 q=$2 mode=$3 mrg=$4 ring=${5:-split}
	case="$dir-q$q-$mode-mrg$mrg"
	[ "$ring" = split ] || case+="-$ring"
	[[ $case =~ $only ]] || return 0
	# A hanging library must not hold CI forever: later cases just fail.
	if [ "$SECONDS" -ge "$budget" ]; then
		echo "FAIL $case: not run, time budget of ${budget}s used up"
		failed=$((failed + 1))
		return
	fi

	TP_DIR="$logroot/$case"
	mkdir -p "$TP_DIR"
	local sock="$TP_DIR/vhost.sock"
	local vhost_vdev="net_vhost0,iface=$sock,queues=$q"
	local virtio_vdev="net_virtio_user0,path=$sock,queues=$q,mrg_rxbuf=$mrg"
	# virtio-user refuses more than one queue pair without a control queue.
	if [ "$q" -gt 1 ]; then
		virtio_vdev+=",cq=1"
	fi
	if [ "$mode" = client ]; then
		vhost_vdev+=",client=1"
		virtio_vdev+=",server=1"
	fi
	local vhost_mode=rxonly virtio_mode=txonly sender=virtio receiver=vhost
	if [ "$dir" = h2v ]; then
		vhost_mode=txonly virtio_mode=rxonly sender=vhost receiver=virtio
	fi
	local app=(-i --nb-cores=1 "--rxq=$q" "--txq=$q" --total-num-mbufs=16384)
	local virtio_app=()
	case $ring in
	packed) virtio_vdev+=",packed_vq=1,in_order=0" ;;
	packed-io) virtio_vdev+=",packed_vq=1,in_order=1" ;;
	packed-qs1025)
		virtio_vdev+=",packed_vq=1,queue_size=1025"
		virtio_app=(--rxd=1025 --txd=1025) ;;
	esac
	local vhost_args=("${eal_vhost[@]}" --vdev "$vhost_vdev" -- "${app[@]}" \
		"--forward-mode=$vhost_mode")
	local virtio_args=("${eal_virtio[@]}" --vdev "$virtio_vdev" -- "${app[@]}" \
		"${virtio_app[@]}" "--forward-mode=$virtio_mode")

	# The listening side must be up first: virtio-user in server mode even
	# blocks in its init until the vhost client connects.
	if [ "$mode" = server ]; then
		tp_start vhost "$libdir" "${vhost_args[@]}"
		tp_wait_sock vhost "$sock" 15 || { fail "$(why vhost "its socket")"; return; }
		tp_start virtio "" "${virtio_args[@]}"
	else
		tp_start virtio "" "${virtio_args[@]}"
		tp_wait_sock virtio "$sock" 15 || { fail "$(why virtio "its socket")"; return; }
		tp_start vhost "$libdir" "${vhost_args[@]}"
	fi

	# The vhost PMD raises a link state change when the device is ready;
	# both prompts mean both ports are configured and started.
	tp_wait_log vhost 'link state change event' 1 20 ||
		{ fail "$(why vhost "link up")"; return; }
	tp_wait_log vhost 'testpmd> ' 1 10 || { fail "$(why vhost "its prompt")"; return; }
	tp_wait_log virtio 'testpmd> ' 1 10 || { fail "$(why virtio "its prompt")"; return; }

	local mapped
	mapped=$(tp_mapped_vhost vhost || true)
	if [ "$mapped" != "$want_lib" ]; then
		fail "vhost testpmd mapped '${mapped:-no librte_vhost}', not $want_lib"
		return
	fi
	# A packed case must really run packed: virtio-user falls back to
	# split rings silently when the backend does not offer them.
	if [ "$ring" != split ] && ! vhost_has_packed; then
		fail "the vhost device did not negotiate VIRTIO_F_RING_PACKED"
		return
	fi

	tp_fwd_start "$receiver" || { fail "$(why "$receiver" "forwarding start")"; return; }
	tp_cmd "$sender" start
	tp_sleep "$duration"
	# Sender first; then let the receiver drain the rings (its port counter
	# reaches what was sent; the wait ends as soon as it does, the limit
	# is for a starved machine) before stopping it too.
	tp_stop "$sender" || { fail "$(why "$sender" "stop")"; return; }
	local tx rx
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	tp_stop "$receiver" || { fail "$(why "$receiver" "stop")"; return; }
	rx=$(tp_fwd_count "$receiver" RX)
	tp_quit virtio
	tp_quit vhost
	if [ "$tx" -le 0 ]; then
		fail "$sender sent nothing (TX-packets $tx)"
	elif [ "$rx" -ne "$tx" ]; then
		fail "$receiver RX-packets $rx != $sender TX-packets $tx"
	else
		echo "PASS $case ($tx packets)"
		passed=$((passed + 1))
	fi
}

# The features the vhost PMD logged when the device came up include bit 34.
vhost_has_packed() {
	local f
	f=$(grep -o 'negotiated [Vv]irtio features: 0x[0-9a-f]*\|negotiated features 0x[0-9a-f]*' \
		"$TP_DIR/vhost.log" | tail -1 | grep -o '0x[0-9a-f]*$') || return 1
	(( (f >> 34) & 1 ))
}

for mode in server client; do
	for q in 1 2; do
		for mrg in 0 1; do
			for dir in v2h h2v; do
				run_case "$dir" "$q" "$mode" "$mrg"
				tp_cleanup
			done
		done
	done
done

# Packed rings: every virtio-user path the split cases cover, in-order
# on and off, a ring size that is not a power of two, and client mode.
for q in 1 2; do
	for mrg in 0 1; do
		for dir in v2h h2v; do
			run_case "$dir" "$q" server "$mrg" packed
			tp_cleanup
		done
	done
done
for mrg in 0 1; do
	for dir in v2h h2v; do
		run_case "$dir" 1 server "$mrg" packed-io
		tp_cleanup
	done
done
for dir in v2h h2v; do
	run_case "$dir" 1 server 1 packed-qs1025
	tp_cleanup
	run_case "$dir" 2 client 1 packed
	tp_cleanup
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
