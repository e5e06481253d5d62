#!/bin/bash
# The main job: set up the machine, then run Debian's dpdk-testpmd on our
# librte_vhost (vhost PMD, LD_LIBRARY_PATH=build/lib/vhost) and push
# traffic through it from a virtio-user testpmd, both ways.
#
# Env: DEMO_SECONDS traffic time per direction (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${DEMO_SECONDS:-10}

devtools/setup.sh

ours=$(realpath -e build/lib/vhost/librte_vhost.so.23)
TP_DIR=$(mktemp -d /tmp/vhost-demo.XXXXXX)
# shellcheck source=app/test/integration/testpmd_common.sh
. app/test/integration/testpmd_common.sh
finish() {
	local rc=$?
	tp_cleanup
	if [ "$rc" -eq 0 ]; then
		rm -rf "$TP_DIR"
	else
		rm -f "$TP_DIR"/*.in "$TP_DIR"/*.sock
		echo "demo: failed, logs in $TP_DIR" >&2
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

die() {
	echo "demo: $*" >&2
	exit 1
}

sock="$TP_DIR/vhost.sock"
app=(-i --nb-cores=1 --total-num-mbufs=16384)
echo
echo "== vhost side: dpdk-testpmd, net_vhost0 on $sock, LD_LIBRARY_PATH=$(dirname "$ours")"
tp_start vhost "$(dirname "$ours")" -l 0,1 --main-lcore 0 --no-pci -m 256 \
	--vdev "net_vhost0,iface=$sock,queues=1" -- "${app[@]}"
tp_wait_sock vhost "$sock" 15 || die "vhost testpmd did not start"

echo "== virtio side: dpdk-testpmd, net_virtio_user0 on the same socket"
tp_start virtio "" -l 0,1 --main-lcore 1 --no-pci -m 256 --single-file-segments \
	--vdev "net_virtio_user0,path=$sock,queues=1" -- "${app[@]}"
tp_wait_log vhost 'link state change event' 1 20 || die "vhost link did not come up"
tp_wait_log virtio 'testpmd> ' 1 10 || die "virtio testpmd did not start"

mapped=$(tp_mapped_vhost vhost || true)
echo
echo "== /proc/${TP_PID[vhost]}/maps of the vhost testpmd:"
grep librte_vhost "/proc/${TP_PID[vhost]}/maps" | awk '{ print "   ", $6 }' | sort -u
[ "$mapped" = "$ours" ] || die "it mapped '$mapped', not our $ours"
echo "   -> our library is the one in use"

# traffic SENDER RECEIVER LABEL: run txonly -> rxonly for $seconds.
traffic() {
	local sender=$1 receiver=$2
	echo
	echo "== $3 for ${seconds}s (64-byte packets, one queue)"
	tp_cmd "$sender" "set fwd txonly"
	tp_cmd "$receiver" "set fwd rxonly"
	tp_fwd_start "$receiver" || die "$receiver did not start forwarding"
	tp_cmd "$sender" start
	tp_port_stats "$receiver" >/dev/null
	local t=0 stats
	while [ "$t" -lt "$seconds" ]; do
		tp_sleep 2
		t=$((t + 2))
		stats=$(tp_port_stats "$receiver") || die "no stats from $receiver"
		awk -v t="$t" '{ printf "   %3ds  %7.2f Mpps received\n", t, $2 / 1e6 }' <<<"$stats"
	done
	# Sender first, so nothing is left in flight when the receiver stops.
	tp_stop "$sender" || die "$sender did not stop"
	local tx rx
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	tp_stop "$receiver" || die "$receiver did not stop"
	rx=$(tp_fwd_count "$receiver" RX)
	echo "   sent $tx, received $rx, average $(awk -v n="$rx" -v s="$seconds" \
		'BEGIN { printf "%.2f", n / s / 1e6 }') Mpps"
	if [ "$tx" -le 0 ] || [ "$rx" -ne "$tx" ]; then
		die "received $rx packets but sent $tx"
	fi
}

traffic virtio vhost "virtio-user txonly -> vhost rxonly (our library receives)"
traffic vhost virtio "vhost txonly -> virtio-user rxonly (our library sends)"

tp_quit virtio
tp_quit vhost
echo
echo "demo: done, both testpmds exited"
