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
times=${RELAUNCH_TIMES:-2}
duration=${RELAUNCH_SECONDS:-1}
only=${RELAUNCH_CASES:-.}
budget=${RELAUNCH_BUDGET:-480}
# virtio-user's ring size: the bound on packets lost per queue.
ring=1024

logroot=$(mktemp -d /tmp/vhost-relaunch.XXXXXX)
TP_DIR=$logroot
# shellcheck source=SCRIPTDIR/testpmd_common.sh
. "$here/testpmd_common.sh"
passed=0 failed=0
finish() {
	tp_cleanup
	rm -f "$logroot"/*/*.sock "$logroot"/*/*.in
	if [ "$failed" -eq 0 ] && [ -z "${RELAUNCH_KEEP_LOGS:-}" ]; then
		rm -rf "$logroot"
	else
		echo "relaunch: logs kept in $logroot"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM
echo "relaunch: library $want_lib"

eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)

# Why the current case failed; empty while it goes well.
problem=""
bad() {
	[ -n "$problem" ] || problem=$1
	return 1
}

# why NAME WHAT: the reason a wait for WHAT from testpmd NAME failed.
why() {
	if tp_alive "$1"; then
		echo "timed out waiting for $1 $2"
	else
		echo "$1 testpmd exited before $2"
	fi
}

# fwd_queues NAME RX|TX: per-queue packet counts of the last forward
# statistics NAME printed (at `stop` or `quit`), "q0 q1 ..." for $q
# queues. testpmd prints a block per stream only with several streams,
# and not for streams that moved nothing (0); one queue: the port's.
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

# A vhost testpmd log per launch: vhost.log is the current one.
launch=0
start_vhost() {
	[ -f "$TP_DIR/vhost.log" ] && mv "$TP_DIR/vhost.log" "$TP_DIR/vhost-$launch.log"
	launch=$((launch + 1))
	tp_start vhost "$libdir" "${vhost_args[@]}"
	tp_wait_log vhost 'link state change event' 1 60 || bad "$(why vhost "link up (launch $launch)")" || return 1
	tp_wait_log vhost 'testpmd> ' 1 10 || bad "$(why vhost "its prompt")" || return 1
	local mapped
	mapped=$(tp_mapped_vhost vhost || true)
	[ "$mapped" = "$want_lib" ] ||
		bad "vhost testpmd mapped '${mapped:-no librte_vhost}', not $want_lib" || return 1
	# virtio-user falls back to split rings silently if packed is not
	# offered: the features the device came up with include bit 34.
	if [ "$ringtype" = packed ]; then
		local f
		f=$(grep -o 'negotiated [Vv]irtio features: 0x[0-9a-f]*\|negotiated features 0x[0-9a-f]*' \
			"$TP_DIR/vhost.log" | tail -1 | grep -o '0x[0-9a-f]*$') || f=0
		(( (f >> 34) & 1 )) || bad "launch $launch: VIRTIO_F_RING_PACKED not negotiated"
	fi
}

# set_modes DIR: forwarding modes for v2h (virtio txonly -> vhost rxonly)
# or h2v (vhost txonly -> virtio rxonly).
set_modes() {
	if [ "$1" = v2h ]; then
		sender=virtio receiver=vhost
	else
		sender=vhost receiver=virtio
	fi
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
	tp_stop "$sender" || bad "$(why "$sender" "stop")" || return 1
	local tx
	tx=$(tp_fwd_count "$sender" TX)
	tp_drain "$receiver" "$tx" 30
	tp_stop "$receiver" || bad "$(why "$receiver" "stop")" || return 1
	local sent got
	sent=$(fwd_queues "$sender" TX)
	got=$(fwd_queues "$receiver" RX)
	echo "  launch $launch $1 clean: sent per queue [$sent] received [$got]"
	[ "$tx" -gt 0 ] || bad "launch $launch $1: $sender sent nothing" || return 1
	[ "$sent" = "$got" ] ||
		bad "launch $launch $1: per queue, $receiver got [$got] of [$sent]" || return 1
	local n
	for n in $got; do
		[ "$n" -gt 0 ] || bad "launch $launch $1: a queue moved nothing: [$got]" || return 1
	done
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
	tp_stop "$sender" || bad "$(why "$sender" "stop")" || return 1
	local tx rx per
	if [ "$dir" = v2h ]; then
		tx=$(tp_fwd_count virtio TX)
		tp_drain vhost $((tx - old)) 30
		tp_stop vhost || bad "$(why vhost "stop")" || return 1
		new=$(tp_fwd_count vhost RX)
		rx=$((old + new))
		per=$(fwd_queues vhost RX)
	else
		new=$(tp_fwd_count vhost TX)
		tx=$((old + new))
		tp_drain virtio "$tx" 30
		tp_stop virtio || bad "$(why virtio "stop")" || return 1
		rx=$(tp_fwd_count virtio RX)
		per=$(fwd_queues vhost TX)
	fi
	local lost=$((tx - rx))
	echo "  launch $launch $dir across the relaunch: sent $tx, received $rx (old launch $old, new $new: per queue [$per]), lost $lost"
	[ "$old" -gt 0 ] || bad "launch $((launch - 1)) $dir: nothing moved before the quit" || return 1
	[ "$lost" -ge 0 ] && [ "$lost" -le $((q * ring)) ] ||
		bad "launch $launch $dir: $lost packets lost across the relaunch (bound $((q * ring)))" || return 1
	local n
	for n in $per; do
		[ "$n" -gt 0 ] || bad "launch $launch $dir: traffic did not resume on every queue: [$per]" || return 1
	done
}

# run_case QUEUES MRG [RING]: RING split (default) or packed (virtio-user
# packed_vq=1; it resets its packed rings when a backend reconnects and
# sends base 0 with the wrap counter set).
run_case() {
	q=$1
	local mrg=$2
	ringtype=${3:-split}
	case="relaunch-q$q-mrg$mrg"
	[ "$ringtype" = split ] || case+="-$ringtype"
	[[ $case =~ $only ]] || return 0
	if [ "$SECONDS" -ge "$budget" ]; then
		echo "FAIL $case: not run, time budget of ${budget}s used up"
		failed=$((failed + 1))
		return
	fi
	problem=""
	launch=0
	TP_DIR="$logroot/$case"
	mkdir -p "$TP_DIR"
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
	if tp_wait_sock virtio "$sock" 60 || bad "$(why virtio "its socket")"; then
		if start_vhost && { tp_wait_log virtio 'testpmd> ' 1 10 ||
				bad "$(why virtio "its prompt")"; }; then
			while [ "$i" -lt "$times" ]; do
				clean_phase "${dirs[$((i % 2))]}" || break
				spanning_phase "${dirs[$(((i + 1) % 2))]}" || break
				i=$((i + 1))
			done
			[ -n "$problem" ] || clean_phase "${dirs[$((i % 2))]}" || true
		fi
	fi
	tp_quit virtio
	tp_quit vhost
	# Our library's error for a ring left out of step (none in Debian's).
	if grep -qs 'avail index .* ahead of' "$TP_DIR"/vhost*.log; then
		bad "the library refused an avail index: $(grep -hs 'ahead of' "$TP_DIR"/vhost*.log | head -n 1)" || true
	fi
	if [ -n "$problem" ]; then
		echo "FAIL $case: $problem"
		local f
		for f in "$TP_DIR"/vhost*.log "$TP_DIR/virtio.log"; do
			[ -f "$f" ] || continue
			echo "---- tail of $(basename "$f") ----"
			grep -v '^ *$' "$f" | tail -n 12
		done
		failed=$((failed + 1))
	else
		echo "PASS $case ($times relaunches)"
		passed=$((passed + 1))
	fi
}

for ringtype in split packed; do
	for q in 1 8; do
		for mrg in 0 1; do
			run_case "$q" "$mrg" "$ringtype"
			tp_cleanup
		done
	done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
