#!/bin/bash
# Every virtio-user datapath of Debian's DPDK against a librte_vhost.so.23.
#
# One vhost testpmd (LIBDIR's library, vhost PMD as socket server) and one
# virtio-user testpmd (Debian's DPDK) per case; the case is the frontend's
# path: split or packed ring, in_order on/off, mrg_rxbuf on/off,
# vectorized=1 (where Debian's virtio-user has a vector path), and for
# packed rings queue_size=1025. Each case runs, on the same two
# processes:
#   v2h, h2v     64-byte packets each way (txonly -> rxonly);
#   restart      virtio-user's port stopped and started again, then v2h
#                and h2v again;
#   big          (mergeable cases) 9200-byte packets of five mbuf
#                segments (`set txpkts 2000,2000,2000,2000,1200`) each way.
# Every phase: the sender is stopped, the receiver drains, and per queue
# the receiver got exactly what the sender sent; every queue moved.
#
# Compare with Debian's library: testpmd_paths.sh /usr/lib/x86_64-linux-gnu
#
# Usage: testpmd_paths.sh LIBDIR
# Env:   PATHS_SECONDS    traffic time per phase (default 1)
#        PATHS_CASES      regex to select cases by name (default all)
#        PATHS_BUDGET     seconds after which remaining cases fail (300)
#        PATHS_KEEP_LOGS  set to keep the logs of a passing run
set -euo pipefail

here=$(dirname "$(realpath "$0")")
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
tp_suite paths "$@"
duration=${PATHS_SECONDS:-1}
TP_CASES=${PATHS_CASES:-.}
TP_BUDGET=${PATHS_BUDGET:-300}
TP_KEEP_LOGS=${PATHS_KEEP_LOGS:-}

eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)

# phase NAME DIR [TXPKTS]: one exact-accounting run of traffic.
phase() {
	local name=$1 dir=$2 txpkts=${3:-64} sender receiver
	tp_direction "$dir"
	tp_cmd "$sender" "set fwd txonly"
	tp_cmd "$sender" "set txpkts $txpkts"
	tp_cmd "$receiver" "set fwd rxonly"
	tp_cmd "$receiver" "clear port stats all"
	tp_fwd_start "$receiver" || tp_bad "$name: $(tp_why "$receiver" "forwarding start")" || return 1
	tp_cmd "$sender" start
	tp_sleep "$duration"
	tp_stop "$sender" || tp_bad "$name: $(tp_why "$sender" "stop")" || return 1
	local tx sent got n
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	# The last port statistics (tp_drain's): the bytes that arrived.
	local bytes
	bytes=$(awk '$1 == "RX-packets:" { b = $6 } END { printf "%.0f\n", b + 0 }' "$TP_DIR/$receiver.log")
	tp_stop "$receiver" || tp_bad "$name: $(tp_why "$receiver" "stop")" || return 1
	sent=$(tp_fwd_queues "$sender" TX "$q")
	got=$(tp_fwd_queues "$receiver" RX "$q")
	echo "  $name: sent [$sent] received [$got]"
	[ "$tx" -gt 0 ] || tp_bad "$name: $sender sent nothing" || return 1
	[ "$sent" = "$got" ] || tp_bad "$name: per queue, $receiver got [$got] of [$sent]" || return 1
	for n in $got; do
		[ "$n" -gt 0 ] || tp_bad "$name: a queue moved nothing: [$got]" || return 1
	done
	# Whole packets: the receiver's byte count is packets x length.
	local len=$((${txpkts//,/+}))
	[ "$bytes" -eq $((tx * len)) ] ||
		tp_bad "$name: $receiver got $bytes bytes, not $tx x $len" || return 1
}

# run_case NAME QUEUES VIRTIO-USER-ARGS [RING-SIZE]
run_case() {
	local name=$1 vargs=$3 qs=${4:-}
	q=$2
	tp_case "$name-q$q" || return 0
	local sock="$TP_DIR/vhost.sock" mrg=0
	[[ $vargs =~ mrg_rxbuf=1 ]] && mrg=1
	local vvdev="net_virtio_user0,path=$sock,queues=$q,$vargs"
	[ "$q" -gt 1 ] && vvdev+=",cq=1"
	local app=(-i --nb-cores=1 "--rxq=$q" "--txq=$q" --total-num-mbufs=32768)
	local vapp=()
	[ -n "$qs" ] && vapp=("--rxd=$qs" "--txd=$qs")

	tp_start vhost "$libdir" "${eal_vhost[@]}" --vdev "net_vhost0,iface=$sock,queues=$q" \
		-- "${app[@]}"
	if tp_wait_sock vhost "$sock" 60 || tp_bad "$(tp_why vhost "its socket")"; then
		tp_start virtio "" "${eal_virtio[@]}" --vdev "$vvdev" -- "${app[@]}" "${vapp[@]}"
		if { tp_wait_log vhost 'link state change event' 1 60 || tp_bad "$(tp_why vhost "link up")"; } &&
			{ tp_wait_log vhost 'testpmd> ' 1 30 || tp_bad "$(tp_why vhost "its prompt")"; } &&
			{ tp_wait_log virtio 'testpmd> ' 1 30 || tp_bad "$(tp_why virtio "its prompt")"; }; then
			run_phases "$mrg" "$vargs" || true
		fi
	fi
	tp_quit virtio
	tp_quit vhost
	tp_case_end
	tp_cleanup
}

run_phases() {
	local mrg=$1 vargs=$2 n
	tp_check_mapped vhost || return 1
	if [[ $vargs =~ packed_vq=1 ]]; then
		tp_negotiated_packed vhost || tp_bad "VIRTIO_F_RING_PACKED not negotiated" || return 1
	elif tp_negotiated_packed vhost; then
		tp_bad "packed ring negotiated for a split case" || return 1
	fi
	phase v2h v2h || return 1
	phase h2v h2v || return 1
	# A port restart on the frontend's side (what DPDK's multi-paths
	# port restart plans do): the rings are set up again by the driver.
	n=$(grep -c 'Checking link statuses' "$TP_DIR/virtio.log" || true)
	tp_cmd virtio "port stop 0"
	tp_wait_log virtio 'Checking link statuses' $((n + 1)) 30 ||
		tp_bad "$(tp_why virtio "port stop")" || return 1
	tp_cmd virtio "port start 0"
	tp_wait_log virtio 'Checking link statuses' $((n + 2)) 30 ||
		tp_bad "$(tp_why virtio "port start")" || return 1
	phase "restart v2h" v2h || return 1
	phase "restart h2v" h2v || return 1
	if [ "$mrg" = 1 ]; then
		phase "big v2h" v2h 2000,2000,2000,2000,1200 || return 1
		phase "big h2v" h2v 2000,2000,2000,2000,1200 || return 1
	fi
}

# Debian's virtio-user paths (DPDK's loopback test plans): ring x
# in_order x mrg_rxbuf, and the vectorized ones.
paths=(
	"split-io0-mrg0|in_order=0,mrg_rxbuf=0"
	"split-io0-mrg1|in_order=0,mrg_rxbuf=1"
	"split-io1-mrg0|in_order=1,mrg_rxbuf=0"
	"split-io1-mrg1|in_order=1,mrg_rxbuf=1"
	"split-vec|in_order=0,mrg_rxbuf=0,vectorized=1"
	"packed-io0-mrg0|packed_vq=1,in_order=0,mrg_rxbuf=0"
	"packed-io0-mrg1|packed_vq=1,in_order=0,mrg_rxbuf=1"
	"packed-io1-mrg0|packed_vq=1,in_order=1,mrg_rxbuf=0"
	"packed-io1-mrg1|packed_vq=1,in_order=1,mrg_rxbuf=1"
	"packed-vec|packed_vq=1,in_order=1,mrg_rxbuf=0,vectorized=1"
	"packed-vec-qs1025|packed_vq=1,in_order=1,mrg_rxbuf=0,vectorized=1,queue_size=1025|1025"
)
for p in "${paths[@]}"; do
	IFS='|' read -r name vargs qs <<<"$p"
	run_case "$name" 1 "$vargs" "$qs"
done
# Eight queue pairs on the mergeable path of each ring (CI time).
for p in "${paths[@]}"; do
	IFS='|' read -r name vargs qs <<<"$p"
	[[ $name =~ -io0-mrg1$ ]] || continue
	run_case "$name" 8 "$vargs" "$qs"
done

tp_suite_end
