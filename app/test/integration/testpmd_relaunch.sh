#!/bin/bash
# Backend relaunch against a live frontend, with Debian's dpdk-testpmd.
#
# virtio-user listens (server=1) and keeps its rings for the whole case;
# the vhost testpmd (net_vhost client=1, on LIBDIR's librte_vhost.so.23)
# is quit and started again RELAUNCH_TIMES times. virtio-user then sends
# SET_VRING_BASE 0 while its used rings stand at some other index: the
# library must resume from the rings (log a warning) and traffic must go
# on, on every queue.
#
# Each launch of the vhost testpmd runs two phases:
#  - a clean phase (the sender is stopped and the rings drained before the
#    counts are read): per queue, the receiver got exactly what the
#    sender sent;
#  - a phase that spans the relaunch: the vhost testpmd is quit while the
#    traffic runs, started again, and the traffic goes on. What the
#    receiver got from both launches is what the sender sent, less at
#    most one ring per queue (the packets in flight when the process went
#    away), and every queue of the new launch moved packets.
# The direction alternates, so both directions are clean and spanning.
#
# Cases: split and packed rings, 1 and 8 queue pairs, mergeable receive
# buffers off and on.
# It passes on Debian's library too (LIBDIR /usr/lib/x86_64-linux-gnu).
#
# Usage: testpmd_relaunch.sh LIBDIR
# Env:   RELAUNCH_TIMES     relaunches per case (default 2)
#        RELAUNCH_SECONDS   traffic time per phase (default 1)
#        RELAUNCH_CASES     regex to select cases by name (default all)
#        RELAUNCH_BUDGET    seconds after which remaining cases fail (480)
#        RELAUNCH_KEEP_LOGS set to keep the logs of a passing run
set -euo pipefail

here=$(dirname "$(realpath "$0")")
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
tp_suite relaunch "$@"
times=${RELAUNCH_TIMES:-2}
duration=${RELAUNCH_SECONDS:-1}
TP_CASES=${RELAUNCH_CASES:-.}
TP_BUDGET=${RELAUNCH_BUDGET:-480}
TP_KEEP_LOGS=${RELAUNCH_KEEP_LOGS:-}
# virtio-user's ring size: the bound on packets lost per queue.
ring=1024

eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)

# A vhost testpmd log per launch: vhost.log is the current one.
launch=0
start_vhost() {
	[ -f "$TP_DIR/vhost.log" ] && mv "$TP_DIR/vhost.log" "$TP_DIR/vhost-$launch.log"
	launch=$((launch + 1))
	tp_start vhost "$libdir" "${vhost_args[@]}"
	tp_wait_log vhost 'link state change event' 1 60 || tp_bad "$(tp_why vhost "link up (launch $launch)")" || return 1
	tp_wait_log vhost 'testpmd> ' 1 10 || tp_bad "$(tp_why vhost "its prompt")" || return 1
	tp_check_mapped vhost || return 1
	if [ "$ringtype" = packed ]; then
		tp_negotiated_packed vhost ||
			tp_bad "launch $launch: VIRTIO_F_RING_PACKED not negotiated"
	fi
}

# every_queue_moved COUNTS WHY: each per-queue count in COUNTS is above
# 0; else the case fails for WHY (returns 1).
every_queue_moved() {
	local n
	for n in $1; do
		[ "$n" -gt 0 ] || tp_bad "$2" || return 1
	done
}

# set_modes DIR: forwarding modes for v2h (virtio txonly -> vhost rxonly)
# or h2v (vhost txonly -> virtio rxonly).
set_modes() {
	tp_direction "$1"
	tp_cmd "$sender" "set fwd txonly"
	tp_cmd "$receiver" "set fwd rxonly"
}

# clean_phase DIR: traffic, sender stopped, rings drained, then exact
# per-queue accounting.
clean_phase() {
	set_modes "$1"
	tp_cmd "$receiver" "clear port stats all"
	tp_cmd "$receiver" start
	tp_cmd "$sender" start
	tp_sleep "$duration"
	tp_stop "$sender" || tp_bad "$(tp_why "$sender" "stop")" || return 1
	local tx
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	tp_stop "$receiver" || tp_bad "$(tp_why "$receiver" "stop")" || return 1
	local sent got
	sent=$(tp_fwd_queues "$sender" TX "$q")
	got=$(tp_fwd_queues "$receiver" RX "$q")
	echo "  launch $launch $1 clean: sent per queue [$sent] received [$got]"
	[ "$tx" -gt 0 ] || tp_bad "launch $launch $1: $sender sent nothing" || return 1
	[ "$sent" = "$got" ] ||
		tp_bad "launch $launch $1: per queue, $receiver got [$got] of [$sent]" || return 1
	every_queue_moved "$got" "launch $launch $1: a queue moved nothing: [$got]"
}

# spanning_phase DIR: traffic; the vhost testpmd is quit while it runs and
# started again; traffic goes on; then the counts of both launches.
spanning_phase() {
	local dir=$1
	set_modes "$dir"
	tp_cmd "$receiver" "clear port stats all"
	tp_cmd "$receiver" start
	tp_cmd "$sender" start
	tp_sleep "$duration"
	# The vhost testpmd prints its counters as it quits.
	tp_quit vhost 20
	local old new
	if [ "$dir" = v2h ]; then
		old=$(tp_fwd_count vhost RX)
	else
		old=$(tp_fwd_count vhost TX)
	fi
	start_vhost || return 1
	if [ "$dir" = v2h ]; then
		tp_cmd vhost "set fwd rxonly"
	else
		tp_cmd vhost "set fwd txonly"
	fi
	tp_cmd vhost start
	tp_sleep "$duration"
	tp_stop "$sender" || tp_bad "$(tp_why "$sender" "stop")" || return 1
	local tx rx per
	if [ "$dir" = v2h ]; then
		tx=$(tp_fwd_count virtio TX)
		tp_drain vhost $((tx - old)) 30
		tp_stop vhost || tp_bad "$(tp_why vhost "stop")" || return 1
		new=$(tp_fwd_count vhost RX)
		rx=$((old + new))
		per=$(tp_fwd_queues vhost RX "$q")
	else
		new=$(tp_fwd_count vhost TX)
		tx=$((old + new))
		tp_drain virtio "$tx" 30
		tp_stop virtio || tp_bad "$(tp_why virtio "stop")" || return 1
		rx=$(tp_fwd_count virtio RX)
		per=$(tp_fwd_queues vhost TX "$q")
	fi
	local lost=$((tx - rx))
	echo "  launch $launch $dir across the relaunch: sent $tx, received $rx (old launch $old, new $new: per queue [$per]), lost $lost"
	[ "$old" -gt 0 ] || tp_bad "launch $((launch - 1)) $dir: nothing moved before the quit" || return 1
	[ "$lost" -ge 0 ] && [ "$lost" -le $((q * ring)) ] ||
		tp_bad "launch $launch $dir: $lost packets lost across the relaunch (bound $((q * ring)))" || return 1
	every_queue_moved "$per" \
		"launch $launch $dir: traffic did not resume on every queue: [$per]"
}

# run_case QUEUES MRG [RING]: RING split (default) or packed (virtio-user
# packed_vq=1; it resets its packed rings when a backend reconnects and
# sends base 0 with the wrap counter set).
run_case() {
	q=$1
	local mrg=$2
	ringtype=${3:-split}
	local name="relaunch-q$q-mrg$mrg"
	[ "$ringtype" = split ] || name+="-$ringtype"
	tp_case "$name" || return 0
	launch=0
	local sock="$TP_DIR/vhost.sock"
	# --no-flush-rx: testpmd's start otherwise drains the receive queues
	# without counting what it drops, and a relaunched receiver finds the
	# packets that waited in the rings.
	local app=(-i --nb-cores=1 "--rxq=$q" "--txq=$q" --total-num-mbufs=32768 --no-flush-rx)
	vhost_args=("${eal_vhost[@]}" --vdev "net_vhost0,iface=$sock,queues=$q,client=1" \
		-- "${app[@]}")
	local virtio_vdev="net_virtio_user0,path=$sock,queues=$q,queue_size=$ring,mrg_rxbuf=$mrg,server=1"
	# virtio-user refuses more than one queue pair without a control queue.
	[ "$q" -gt 1 ] && virtio_vdev+=",cq=1"
	[ "$ringtype" = packed ] && virtio_vdev+=",packed_vq=1"
	tp_start virtio "" "${eal_virtio[@]}" --vdev "$virtio_vdev" -- "${app[@]}" \
		"--rxd=$ring" "--txd=$ring"

	local dirs=(v2h h2v) i=0
	if tp_wait_sock virtio "$sock" 60 || tp_bad "$(tp_why virtio "its socket")"; then
		if start_vhost && { tp_wait_log virtio 'testpmd> ' 1 10 ||
				tp_bad "$(tp_why virtio "its prompt")"; }; then
			while [ "$i" -lt "$times" ]; do
				clean_phase "${dirs[$((i % 2))]}" || break
				spanning_phase "${dirs[$(((i + 1) % 2))]}" || break
				i=$((i + 1))
			done
			[ -n "$TP_PROBLEM" ] || clean_phase "${dirs[$((i % 2))]}" || true
		fi
	fi
	tp_quit virtio
	tp_quit vhost
	# Our library's error for a ring left out of step (none in Debian's).
	if grep -qs 'avail index .* ahead of' "$TP_DIR"/vhost*.log; then
		tp_bad "the library refused an avail index: $(grep -hs 'ahead of' "$TP_DIR"/vhost*.log | head -n 1)" || true
	fi
	tp_case_end "$times relaunches"
}

for ringtype in split packed; do
	for q in 1 8; do
		for mrg in 0 1; do
			run_case "$q" "$mrg" "$ringtype"
			tp_cleanup
		done
	done
done

tp_suite_end
