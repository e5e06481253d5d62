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
duration=${PATHS_SECONDS:-1}
only=${PATHS_CASES:-.}
budget=${PATHS_BUDGET:-300}

logroot=$(mktemp -d /tmp/vhost-paths.XXXXXX)
TP_DIR=$logroot
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
passed=0 failed=0
finish() {
	tp_cleanup
	rm -f "$logroot"/*/*.sock "$logroot"/*/*.in
	if [ "$failed" -eq 0 ] && [ -z "${PATHS_KEEP_LOGS:-}" ]; then
		rm -rf "$logroot"
	else
		echo "paths: logs kept in $logroot"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM
echo "paths: library $want_lib"

eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)

problem=""
bad() {
	[ -n "$problem" ] || problem=$1
	return 1
}

why() {
	if tp_alive "$1"; then
		echo "timed out waiting for $1 $2"
	else
		echo "$1 testpmd exited before $2"
	fi
}

# fwd_queues NAME RX|TX: per-queue counts of the last forward statistics
# NAME printed, "q0 q1 ..." for $q queues (testpmd prints a block per
# stream only with several streams; one queue: the port's).
fwd_queues() {
	awk -v want="$2" -v nq="$q" '
		/Telling cores to stop/ {
			for (i = 0; i < nq; i++) c[i] = 0
			streams = 0; port = 0
		}
		/Forward Stats for RX Port=/ {
			line = $0
			sub(/.*RX Port= *[0-9]+\/Queue= */, "", line)
			rxq = line + 0
			sub(/.*TX Port= *[0-9]+\/Queue= */, "", line)
			txq = line + 0
			getline
			for (i = 1; i < NF; i++) {
				if ($i == "RX-packets:") rx = $(i + 1)
				if ($i == "TX-packets:") tx = $(i + 1)
			}
			if (want == "RX") c[rxq] = rx; else c[txq] = tx
			streams++
		}
		/Forward statistics for port/ { inport = 1; next }
		inport && $1 == want "-packets:" { port = $2 }
		inport && $1 == "TX-packets:" { inport = 0 }
		END {
			if (streams == 0 && nq == 1) c[0] = port
			s = ""; for (i = 0; i < nq; i++) s = s c[i] " "; print s
		}
	' "$TP_DIR/$1.log"
}

# phase NAME DIR [TXPKTS]: one exact-accounting run of traffic.
phase() {
	local name=$1 dir=$2 txpkts=${3:-64} sender receiver
	if [ "$dir" = v2h ]; then
		sender=virtio receiver=vhost
	else
		sender=vhost receiver=virtio
	fi
	tp_cmd "$sender" "set fwd txonly"
	tp_cmd "$sender" "set txpkts $txpkts"
	tp_cmd "$receiver" "set fwd rxonly"
	tp_cmd "$receiver" "clear port stats all"
	tp_fwd_start "$receiver" || bad "$name: $(why "$receiver" "forwarding start")" || return 1
	tp_cmd "$sender" start
	tp_sleep "$duration"
	tp_stop "$sender" || bad "$name: $(why "$sender" "stop")" || return 1
	local tx sent got n
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	# The last port statistics (tp_drain's): the bytes that arrived.
	local bytes
	bytes=$(awk '$1 == "RX-packets:" { b = $6 } END { printf "%.0f\n", b + 0 }' "$TP_DIR/$receiver.log")
	tp_stop "$receiver" || bad "$name: $(why "$receiver" "stop")" || return 1
	sent=$(fwd_queues "$sender" TX)
	got=$(fwd_queues "$receiver" RX)
	echo "  $name: sent [$sent] received [$got]"
	[ "$tx" -gt 0 ] || bad "$name: $sender sent nothing" || return 1
	[ "$sent" = "$got" ] || bad "$name: per queue, $receiver got [$got] of [$sent]" || return 1
	for n in $got; do
		[ "$n" -gt 0 ] || bad "$name: a queue moved nothing: [$got]" || return 1
	done
	# Whole packets: the receiver's byte count is packets x length.
	local len=$((${txpkts//,/+}))
	[ "$bytes" -eq $((tx * len)) ] ||
		bad "$name: $receiver got $bytes bytes, not $tx x $len" || return 1
}

# The features the vhost device came up with include bit 34 (packed).
negotiated_packed() {
	local f
	f=$(grep -o 'negotiated [Vv]irtio features: 0x[0-9a-f]*\|negotiated features 0x[0-9a-f]*' \
		"$TP_DIR/vhost.log" | tail -1 | grep -o '0x[0-9a-f]*$') || return 1
	(( (f >> 34) & 1 ))
}

# run_case NAME QUEUES VIRTIO-USER-ARGS [RING-SIZE]
run_case() {
	local name=$1 vargs=$3 qs=${4:-}
	q=$2
	case="$name-q$q"
	[[ $case =~ $only ]] || return 0
	if [ "$SECONDS" -ge "$budget" ]; then
		echo "FAIL $case: not run, time budget of ${budget}s used up"
		failed=$((failed + 1))
		return
	fi
	problem=""
	TP_DIR="$logroot/$case"
	mkdir -p "$TP_DIR"
	local sock="$TP_DIR/vhost.sock" mrg=0
	[[ $vargs =~ mrg_rxbuf=1 ]] && mrg=1
	local vvdev="net_virtio_user0,path=$sock,queues=$q,$vargs"
	[ "$q" -gt 1 ] && vvdev+=",cq=1"
	local app=(-i --nb-cores=1 "--rxq=$q" "--txq=$q" --total-num-mbufs=32768)
	local vapp=()
	[ -n "$qs" ] && vapp=("--rxd=$qs" "--txd=$qs")

	tp_start vhost "$libdir" "${eal_vhost[@]}" --vdev "net_vhost0,iface=$sock,queues=$q" \
		-- "${app[@]}"
	if tp_wait_sock vhost "$sock" 60 || bad "$(why vhost "its socket")"; then
		tp_start virtio "" "${eal_virtio[@]}" --vdev "$vvdev" -- "${app[@]}" "${vapp[@]}"
		if { tp_wait_log vhost 'link state change event' 1 60 || bad "$(why vhost "link up")"; } &&
			{ tp_wait_log vhost 'testpmd> ' 1 30 || bad "$(why vhost "its prompt")"; } &&
			{ tp_wait_log virtio 'testpmd> ' 1 30 || bad "$(why virtio "its prompt")"; }; then
			run_phases "$mrg" "$vargs" || true
		fi
	fi
	tp_quit virtio
	tp_quit vhost
	if [ -n "$problem" ]; then
		echo "FAIL $case: $problem"
		local f
		for f in "$TP_DIR/vhost.log" "$TP_DIR/virtio.log"; do
			[ -f "$f" ] || continue
			echo "---- tail of $(basename "$f") ----"
			grep -v '^ *$' "$f" | tail -n 12
		done
		failed=$((failed + 1))
	else
		echo "PASS $case"
		passed=$((passed + 1))
	fi
	tp_cleanup
}

run_phases() {
	local mrg=$1 vargs=$2 mapped n
	mapped=$(tp_mapped_vhost vhost || true)
	[ "$mapped" = "$want_lib" ] ||
		bad "vhost testpmd mapped '${mapped:-no librte_vhost}', not $want_lib" || return 1
	if [[ $vargs =~ packed_vq=1 ]]; then
		negotiated_packed || bad "VIRTIO_F_RING_PACKED not negotiated" || return 1
	elif negotiated_packed; then
		bad "packed ring negotiated for a split case" || return 1
	fi
	phase v2h v2h || return 1
	phase h2v h2v || return 1
	# A port restart on the frontend's side (what DPDK's multi-paths
	# port restart plans do): the rings are set up again by the driver.
	n=$(grep -c 'Checking link statuses' "$TP_DIR/virtio.log" || true)
	tp_cmd virtio "port stop 0"
	tp_wait_log virtio 'Checking link statuses' $((n + 1)) 30 ||
		bad "$(why virtio "port stop")" || return 1
	tp_cmd virtio "port start 0"
	tp_wait_log virtio 'Checking link statuses' $((n + 2)) 30 ||
		bad "$(why virtio "port start")" || return 1
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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
