#!/bin/bash
# The library's telemetry commands (/vhost/*), queried through Debian's
# dpdk-telemetry.py from Debian's dpdk-testpmd running the vhost PMD on
# LIBDIR/librte_vhost.so.23, with a virtio-user testpmd as the guest.
#
# Traffic runs one way then the other (txonly -> rxonly); the per-ring
# counters must equal what the vhost testpmd counted, the device state
# must show what virtio-user negotiated, bad requests must get telemetry's
# null reply, and once the frontend quits the device must be gone.
#
# Usage: testpmd_telemetry.sh LIBDIR
# Env:   TELEMETRY_SECONDS   traffic time each way (default 2)
#        TELEMETRY_KEEP_LOGS set to keep the logs of a passing run
set -euo pipefail

here=$(dirname "$(realpath "$0")")
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
tp_want_lib "$@" || exit 1
duration=${TELEMETRY_SECONDS:-2}
TP_DIR=$(mktemp -d /tmp/vhost-telemetry.XXXXXX)
status=1
finish() {
	tp_cleanup
	rm -f "$TP_DIR"/*.sock "$TP_DIR"/*.in
	tp_logs_done "$TP_DIR" "$status" "${TELEMETRY_KEEP_LOGS:-}" telemetry
}
trap finish EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL telemetry: $1"
	local side
	for side in vhost virtio; do
		if [ -f "$TP_DIR/$side.log" ]; then
			echo "---- tail of $side.log ----"
			tail -n 15 "$TP_DIR/$side.log"
		fi
	done
	exit 1
}

sock=$TP_DIR/vhost.sock
app=(-i --nb-cores=1 --rxq=1 --txq=1 --total-num-mbufs=16384)
# iommu-support=1: the socket offers the IOMMU (shown by /vhost/sockets);
# virtio-user does not take it, so the device runs without.
tp_start vhost "$libdir" -l 0,1 --main-lcore 0 --no-pci -m 256 \
	--vdev "net_vhost0,iface=$sock,queues=1,iommu-support=1" -- "${app[@]}"
tp_wait_sock vhost "$sock" 15 || fail "no vhost socket"
tp_start virtio "" -l 0,1 --main-lcore 1 --no-pci -m 256 --single-file-segments \
	--vdev "net_virtio_user0,path=$sock,queues=1,mrg_rxbuf=1" -- "${app[@]}"
tp_wait_log vhost 'link state change event' 1 20 || fail "vhost link never came up"
tp_wait_log vhost 'testpmd> ' 1 10 || fail "no vhost prompt"
tp_wait_log virtio 'testpmd> ' 1 10 || fail "no virtio prompt"
tp_check_mapped vhost || fail "$TP_PROBLEM"
vhost_prefix=${TP_PREFIXES[0]}
echo "telemetry: library $want_lib, vhost file prefix $vhost_prefix"

# run SENDER RECEIVER: SENDER txonly, RECEIVER rxonly, for $duration s;
# sets $sent to what the sender counted, once the receiver got it all.
run() {
	local sender=$1 receiver=$2
	tp_cmd "$sender" "set fwd txonly"
	tp_cmd "$receiver" "set fwd rxonly"
	# The receiver drops what it flushes at start: send only after that.
	tp_fwd_start "$receiver" || fail "$receiver did not start forwarding"
	tp_cmd "$sender" start
	tp_sleep "$duration"
	tp_stop "$sender" || fail "$sender did not stop"
	sent=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$sent" 5
	tp_stop "$receiver" || fail "$receiver did not stop"
	local got
	got=$(tp_fwd_count "$receiver" RX)
	[ "$sent" -gt 0 ] || fail "$sender sent nothing"
	[ "$got" -eq "$sent" ] || fail "$receiver got $got of $sent packets"
}
run virtio vhost
vhost_rx=$sent
run vhost virtio
vhost_tx=$sent
echo "telemetry: vhost received $vhost_rx, sent $vhost_tx packets"

python3 "$here/telemetry_check.py" connected "$vhost_prefix" "$sock" \
	"$vhost_rx" "$vhost_tx" || fail "telemetry replies while connected"
echo "PASS telemetry: sockets, devices, device state, ring counters, bad requests"

# The frontend leaves: the vhost PMD keeps its socket, the device goes.
tp_quit virtio
end=$((SECONDS + 20))
until python3 "$here/telemetry_check.py" gone "$vhost_prefix" "$sock" >/dev/null; do
	[ "$SECONDS" -lt "$end" ] || {
		python3 "$here/telemetry_check.py" gone "$vhost_prefix" "$sock" || true
		fail "device still listed 20 s after the frontend left"
	}
	tp_alive vhost || fail "vhost testpmd died"
	sleep 0.2
done
echo "PASS telemetry: device gone after the frontend left"
status=0
