#!/bin/bash
# Large chained packets between two virtio-users through a librte_vhost.so.23
# (the vm2vm topology of DPDK's virtio-user test plans), mergeable paths.
#
#   virtio-user0 (sender) -> vhost0 | testpmd io | vhost1 -> virtio-user1
#
# One vhost testpmd (LIBDIR's library) with two vhost ports, forwarding
# stopped at first; the sender queues 251 x 64 B (27 bursts of 1, 7 of 32)
# then one burst of 32 x 8000 B made of four 2000-byte segments, which
# stay in its 256-entry Tx ring (as many as fit: N) until the vhost
# testpmd starts forwarding. Then 32 x 2000 B. testpmd's io forwarding
# drops what the vhost port does not take, so the receiver's count says
# exactly which packets the library placed in its Rx ring. Modes:
#   starved  the receiver (256 buffers of 2060 bytes posted) does not
#            poll while the backlog arrives: 251 small packets leave 5
#            buffers, one 8000-byte packet needs 4 (8012 bytes with the
#            header), so exactly one large packet must get in, never
#            zero (a mergeable chain refused though the buffers are
#            there) and never a part of one;
#   ample    the receiver has 1024 buffers: all N large packets must get
#            in (none dropped while the guest posted enough);
#   dts      (not run by default) DPDK's plan as it is: the receiver polls
#            with 256 buffers, so how many of the N it gets depends on
#            whether it refills its ring while the backlog arrives;
#            printed, and at least the starved count is required.
# Every mode: 251 small and all 32 x 2000 B arrive, the receiver's byte
# count is exactly packets x their lengths, the vhost testpmd dequeued
# all 251 + N and its port 1 sent what the receiver got.
#
# Compare with Debian's library: testpmd_vm2vm.sh /usr/lib/x86_64-linux-gnu
#
# Usage: testpmd_vm2vm.sh LIBDIR
# Env:   VM2VM_CASES      regex to select cases by name (default all)
#        VM2VM_MODES      modes to run (default "starved ample")
#        VM2VM_BUDGET     seconds after which remaining cases fail (300)
#        VM2VM_KEEP_LOGS  set to keep the logs of a passing run
set -euo pipefail

here=$(dirname "$(realpath "$0")")
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
tp_suite vm2vm "$@"
TP_CASES=${VM2VM_CASES:-.}
TP_BUDGET=${VM2VM_BUDGET:-300}
TP_KEEP_LOGS=${VM2VM_KEEP_LOGS:-}
modes=${VM2VM_MODES:-starved ample}

eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)
# Buffers of virtio's Rx ring: a 2176-byte mbuf less its 128-byte
# headroom, plus the 12-byte header it shares with the headroom.
rx_buf=2060
hdr=12
small=251
big_len=8000
mid_len=2000

# send NAME BURST BURSTS TXPKTS: the sender queues BURSTS bursts of BURST
# packets of TXPKTS; sets queued to how many its port took.
send() {
	local n
	tp_cmd sender "set burst $2"
	tp_cmd sender "set txpkts $4"
	n=$(grep -c 'packet forwarding packets/burst=' "$TP_DIR/sender.log" || true)
	tp_cmd sender "start tx_first $3"
	tp_wait_log sender 'packet forwarding packets/burst=' $((n + 1)) 30 ||
		tp_bad "$1: $(tp_why sender "tx_first")" || return 1
	tp_stop sender || tp_bad "$1: $(tp_why sender "stop")" || return 1
	queued=$(tp_fwd_count sender TX)
}

# wait_fields NAME PORT FIELD WANT TIMEOUT_S: until FIELD of NAME's port
# PORT reaches WANT; prints the last value.
wait_fields() {
	local v end=$((SECONDS + $5))
	while v=$(tp_portn_fields "$1" "$2" "$3") && [ "${v:-0}" -lt "$4" ] &&
		[ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	echo "${v:-0}"
}

# run_case NAME VIRTIO-USER-ARGS MODE
run_case() {
	local name=$1 vargs=$2 mode=$3
	tp_case "$name-$mode" || return 0
	local s0="$TP_DIR/vhost0.sock" s1="$TP_DIR/vhost1.sock" rxd=256
	[ "$mode" = ample ] && rxd=1024
	local app=(-i --nb-cores=1 --no-flush-rx)

	tp_start vhost "$libdir" "${eal_vhost[@]}" \
		--vdev "net_vhost0,iface=$s0,queues=1" \
		--vdev "net_vhost1,iface=$s1,queues=1" -- "${app[@]}"
	if { tp_wait_sock vhost "$s0" 60 && tp_wait_sock vhost "$s1" 60; } ||
		tp_bad "$(tp_why vhost "its sockets")"; then
		tp_start receiver "" "${eal_virtio[@]}" \
			--vdev "net_virtio_user1,path=$s1,queues=1,queue_size=$rxd,$vargs" \
			-- "${app[@]}" "--rxd=$rxd" "--txd=$rxd"
		tp_start sender "" "${eal_virtio[@]}" \
			--vdev "net_virtio_user0,path=$s0,queues=1,queue_size=256,$vargs" \
			-- "${app[@]}" --rxd=256 --txd=256
		if { tp_wait_log vhost 'link state change event' 2 60 || tp_bad "$(tp_why vhost "link up")"; } &&
			{ tp_wait_log vhost 'testpmd> ' 1 30 || tp_bad "$(tp_why vhost "its prompt")"; } &&
			{ tp_wait_log receiver 'testpmd> ' 1 30 || tp_bad "$(tp_why receiver "its prompt")"; } &&
			{ tp_wait_log sender 'testpmd> ' 1 30 || tp_bad "$(tp_why sender "its prompt")"; }; then
			run_traffic "$mode" "$rxd" "$vargs" || true
		fi
	fi
	tp_quit sender
	tp_quit receiver
	tp_quit vhost
	tp_case_end "${detail:-}"
	tp_cleanup
}

run_traffic() {
	local mode=$1 rxd=$2 vargs=$3 a b n_big mid want_big got rx bytes
	detail=""
	tp_check_mapped vhost || return 1
	if [[ $vargs =~ packed_vq=1 ]]; then
		tp_negotiated_packed vhost || tp_bad "VIRTIO_F_RING_PACKED not negotiated" || return 1
	elif tp_negotiated_packed vhost; then
		tp_bad "packed ring negotiated for a split case" || return 1
	fi
	tp_cmd receiver "set fwd rxonly"
	if [ "$mode" = dts ]; then
		tp_fwd_start receiver || tp_bad "$(tp_why receiver "forwarding start")" || return 1
	fi
	send small 1 27 64 || return 1
	a=$queued
	send small 32 7 64 || return 1
	b=$queued
	[ $((a + b)) -eq "$small" ] ||
		tp_bad "the sender queued $((a + b)) small packets, not $small" || return 1
	send big 32 1 "$mid_len,$mid_len,$mid_len,$mid_len" || return 1
	n_big=$queued
	[ "$n_big" -gt 0 ] || tp_bad "the sender queued no large packet" || return 1

	# The backlog goes through at once; the forwarding never stops.
	tp_cmd vhost start
	got=$(wait_fields vhost 0 RX-packets $((small + n_big)) 30)
	[ "$got" -eq $((small + n_big)) ] ||
		tp_bad "vhost port 0 dequeued $got of $((small + n_big))" || return 1

	# What fits: the small packets take one buffer each, a large one
	# ceil((8000 + 12) / 2060) = 4.
	local per_big=$(((big_len + hdr + rx_buf - 1) / rx_buf))
	want_big=$(((rxd - small) / per_big))
	[ "$want_big" -gt "$n_big" ] && want_big=$n_big
	if [ "$mode" = dts ]; then
		# The receiver polled meanwhile: what the vhost port sent
		# once it dequeued the backlog is what it gets.
		b=$(tp_portn_fields vhost 1 TX-packets)
		want_big=$((b - small))
		[ "$want_big" -ge 1 ] ||
			tp_bad "vhost port 1 sent $b packets, not even $((small + 1))" || return 1
	else
		tp_fwd_start receiver || tp_bad "$(tp_why receiver "forwarding start")" || return 1
	fi
	got=$(wait_fields receiver 0 RX-packets $((small + want_big)) 30)
	send mid 32 1 "$mid_len" || return 1
	mid=$queued
	[ "$mid" -eq 32 ] || tp_bad "the sender queued $mid of 32 x $mid_len B" || return 1
	rx=$((small + want_big + mid))
	got=$(wait_fields receiver 0 RX-packets "$rx" 30)
	# Anything more would show now, not later: the vhost port is idle.
	b=$(tp_portn_fields vhost 1 TX-packets)
	bytes=$(tp_portn_fields receiver 0 RX-bytes)
	echo "  $TP_CASE: sender queued $small + $n_big x $big_len B + $mid x $mid_len B;" \
		"receiver got $got packets ($((got - small - mid)) large), vhost port 1 sent $b"
	detail="$small/$((got - small - mid))/$mid of $small/$n_big/$mid"
	[ "$got" -eq "$rx" ] ||
		tp_bad "the receiver got $got packets, not $small + $want_big + $mid" || return 1
	[ "$b" -eq "$rx" ] || tp_bad "vhost port 1 sent $b packets, not $rx" || return 1
	local want_bytes=$((small * 64 + want_big * big_len + mid * mid_len))
	[ "$bytes" -eq "$want_bytes" ] ||
		tp_bad "the receiver got $bytes bytes, not $want_bytes" || return 1
}

# DPDK's vm2vm plans: the mergeable paths of both rings.
paths=(
	"split-io0-mrg1|in_order=0,mrg_rxbuf=1"
	"split-io1-mrg1|in_order=1,mrg_rxbuf=1"
	"packed-io0-mrg1|packed_vq=1,in_order=0,mrg_rxbuf=1"
	"packed-io1-mrg1|packed_vq=1,in_order=1,mrg_rxbuf=1"
)
for p in "${paths[@]}"; do
	IFS='|' read -r name vargs <<<"$p"
	for mode in $modes; do
		run_case "$name" "$vargs" "$mode"
	done
done

tp_suite_end
