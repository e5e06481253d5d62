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

here=$(dirname "$(realpath "$0")")
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
tp_suite loopback "$@"
duration=${LOOPBACK_SECONDS:-2}
TP_CASES=${LOOPBACK_CASES:-.}
TP_BUDGET=${LOOPBACK_BUDGET:-600}
TP_KEEP_LOGS=${LOOPBACK_KEEP_LOGS:-}

# Each side: main lcore on one CPU, forwarding lcore on the other, so the
# two forwarding loops never share a CPU. Interactive main lcores sleep.
eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)

# fail WHY: the current case failed for WHY (the first reason counts).
fail() {
	tp_bad "$1" || true
	tp_case_end
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
	local name="$dir-q$q-$mode-mrg$mrg"
	[ "$ring" = split ] || name+="-$ring"
	tp_case "$name" || return 0

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
		tp_wait_sock vhost "$sock" 15 || { fail "$(tp_why vhost "its socket")"; return; }
		tp_start virtio "" "${virtio_args[@]}"
	else
		tp_start virtio "" "${virtio_args[@]}"
		tp_wait_sock virtio "$sock" 15 || { fail "$(tp_why virtio "its socket")"; return; }
		tp_start vhost "$libdir" "${vhost_args[@]}"
	fi

	# The vhost PMD raises a link state change when the device is ready;
	# both prompts mean both ports are configured and started.
	tp_wait_log vhost 'link state change event' 1 20 ||
		{ fail "$(tp_why vhost "link up")"; return; }
	tp_wait_log vhost 'testpmd> ' 1 10 || { fail "$(tp_why vhost "its prompt")"; return; }
	tp_wait_log virtio 'testpmd> ' 1 10 || { fail "$(tp_why virtio "its prompt")"; return; }

	tp_check_mapped vhost || { tp_case_end; return; }
	# A packed case must really run packed (tp_negotiated_packed).
	if [ "$ring" != split ] && ! tp_negotiated_packed vhost; then
		fail "the vhost device did not negotiate VIRTIO_F_RING_PACKED"
		return
	fi

	tp_fwd_start "$receiver" || { fail "$(tp_why "$receiver" "forwarding start")"; return; }
	tp_cmd "$sender" start
	tp_sleep "$duration"
	# Sender first; then let the receiver drain the rings (its port counter
	# reaches what was sent; the wait ends as soon as it does, the limit
	# is for a starved machine) before stopping it too.
	tp_stop "$sender" || { fail "$(tp_why "$sender" "stop")"; return; }
	local tx rx
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	tp_stop "$receiver" || { fail "$(tp_why "$receiver" "stop")"; return; }
	rx=$(tp_fwd_count "$receiver" RX)
	tp_quit virtio
	tp_quit vhost
	if [ "$tx" -le 0 ]; then
		fail "$sender sent nothing (TX-packets $tx)"
	elif [ "$rx" -ne "$tx" ]; then
		fail "$receiver RX-packets $rx != $sender TX-packets $tx"
	else
		tp_case_end "$tx packets"
	fi
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

tp_suite_end
