#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Loopback matrix for net_virtio_viommu (vhost-user frontend with an emulated
# vIOMMU) against Debian's dpdk-testpmd vhost PMD, on Debian's librte_vhost
# ("dpdk") and on ours ("ours", build/lib/vhost):
#
#   library ours|dpdk x iommu off|static 2M|static 4K|dynamic 4K
#           x direction tx (virtio txonly -> vhost rxonly)
#                       rx (vhost txonly -> virtio rxonly)
#
# plus, on ours, static scattered mappings (iommu_map=scatter, 4K both
# directions and 2M tx, a working set of 1024 windows: the frontend's pool is made small
# enough for 4K), and the same matrix on packed rings (packed_vq=1): ours
# with iommu off, static 4K and dynamic 4K, Debian's with off. Each case
# runs a few seconds; the receiver must count
# exactly what the sender sent; scatter cases must also give out the
# whole working set, get no refused miss, and leave our library holding
# at least that many IOTLB entries (none of them merged), and bad scatter
# devargs must be refused with their error. --attacks adds attack= cases (tx and rx, static 4K): the
# canary and guard pages must stay untouched, straddled buffers must arrive
# intact and well-formed traffic must keep flowing. Packed-ring attacks
# (indirect, loop, wrap, badid) also run a witness device beside the
# attacked one (a second port pair, no attack): it must deliver exactly
# what it sent; chains the library must refuse must show its log line.
#
# Usage: test_viommu.sh [-s SECONDS] [-l ours|dpdk|both] [-b BUILD_DIR]
#                       [--attacks] [--only-attacks] [--only-scatter]
#                       [--no-packed] [--only-packed] [-k] (keep logs)
# Prints a PASS/FAIL line per case, then "N passed, M failed"; exits 1 on
# any failure.
set -u

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=$ROOT/build
SECS=3
LIBS=both
ATTACKS=0
MATRIX=1
SCATTER=1
SPLIT=1
PACKED=1
KEEP=0
# Frontend pool size (mbufs); scatter cases shrink it.
VU_MBUFS=16384
SCATTER_WS=1024
TESTPMD=${TESTPMD:-dpdk-testpmd}
# Attack cases: the receiver must count, in the second half of the run,
# at least this many packets per second of the forwarding lcores' CPU
# (and FLOW_MIN, SECS * 1000, in all).
FLOW_PER_CPU_S=1000

while [ $# -gt 0 ]; do
	case $1 in
	-s) SECS=$2; shift ;;
	-l) LIBS=$2; shift ;;
	-b) BUILD=$2; shift ;;
	--attacks) ATTACKS=1 ;;
	--only-attacks) ATTACKS=1; MATRIX=0; SCATTER=0 ;;
	--only-scatter) MATRIX=0 ;;
	--no-packed) PACKED=0 ;;
	--only-packed) SPLIT=0; SCATTER=0 ;;
	-k) KEEP=1 ;;
	*) echo "usage: $0 [-s SECONDS] [-l ours|dpdk|both] [-b BUILD_DIR] [--attacks] [--only-attacks] [--only-scatter] [--no-packed] [--only-packed] [-k]" >&2
	   exit 2 ;;
	esac
	shift
done

FLOW_MIN=$((SECS * 1000))
PMD=$BUILD/drivers/net/virtio/librte_net_virtio_viommu.so
OURLIB=$BUILD/lib/vhost
for f in "$PMD" "$OURLIB/librte_vhost.so.23"; do
	[ -e "$f" ] || { echo "missing $f: build first (ninja -C $BUILD)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/vvi-test.XXXXXX)
# EAL refuses a -d plugin with a world-writable directory on its path
# (such as /tmp, where a CI clone may live): load a private copy.
PLUGDIR=$(mktemp -d /run/vvi-plugin.XXXXXX)
cp "$PMD" "$PLUGDIR/" && PMD=$PLUGDIR/$(basename "$PMD")
PASS=0
FAIL=0
CASE=0
declare -A PID=() FD=()
# A write to the fifo of a testpmd that died must fail, not kill us.
trap '' PIPE

# start NAME LIBDIR ARGS...: testpmd NAME with its stdin on a fifo; only
# the vhost side gets LIBDIR (empty: Debian's library).
start() {
	local name=$1 libdir=$2 fifo=$WORK/$1.in fd
	shift 2
	rm -f "$fifo"
	mkfifo "$fifo"
	(
		for f in "${FD[@]}"; do exec {f}>&-; done
		# exec: $! is testpmd itself; it exits when the fifo closes.
		set -- stdbuf -oL -eL "$TESTPMD" "$@"
		if [ -n "$libdir" ]; then
			exec env LD_LIBRARY_PATH="$libdir" "$@"
		fi
		exec env -u LD_LIBRARY_PATH "$@"
	) <"$fifo" >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	exec {fd}>"$fifo"
	FD[$name]=$fd
}

# cmd NAME LINE: fails if NAME was never started (a case whose set-up
# failed still tears down).
cmd() {
	[ -n "${FD[$1]:-}" ] || return 1
	echo "$2" >&"${FD[$1]}"
}

alive() { kill -0 "${PID[$1]:-}" 2>/dev/null; }

# wait_log NAME REGEX COUNT TIMEOUT: REGEX matches COUNT lines of the log.
wait_log() {
	local end=$((SECONDS + $4)) n
	while :; do
		n=$(grep -cE -- "$2" "$WORK/$1.log" 2>/dev/null)
		[ "${n:-0}" -ge "$3" ] && return 0
		alive "$1" || return 1
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# Last accumulated forward count (RX or TX) printed by NAME.
fwd_count() {
	awk -v key="$2-packets:" '
		/Accumulated forward statistics/ { blk = 1; next }
		blk && $1 == key { v = $2; blk = ($1 == "RX-packets:") }
		END { print (v == "" ? -1 : v) }' "$WORK/$1.log"
}

# port_count NAME PORT RX|TX: that port's count in the last forward
# statistics NAME printed (testpmd prints one block per port on stop).
port_count() {
	awk -v port="$2" -v key="$3-packets:" '
		/Forward statistics for port/ { blk = ($NF == port || $(NF-1) == port); next }
		/Accumulated forward statistics/ { blk = 0 }
		blk && $1 == key { v = $2 }
		END { print (v == "" ? -1 : v) }' "$WORK/$1.log"
}

# start_fwd NAME: start forwarding and wait until NAME counts what it
# receives. testpmd's start empties the receive queues without counting
# what it throws away, then prints its burst set-up ("... packet
# forwarding packets/burst=") and takes the base of its forward
# statistics: a sender started before that line can lose packets to the
# flush (its TX count has them, the receiver's forward RX count not,
# though its port counter has).
start_fwd() {
	local re='packet forwarding packets/burst=' n
	n=$(grep -cE -- "$re" "$WORK/$1.log")
	cmd "$1" start
	wait_log "$1" "$re" $((n + 1)) 60
}

stop_fwd() {
	local n
	n=$(grep -c 'Accumulated forward statistics' "$WORK/$1.log")
	cmd "$1" stop
	wait_log "$1" 'Accumulated forward statistics' $((n + 1)) 15
}

# CPU time (ns) the forwarding lcores of both testpmds have had so far:
# their rte-worker-N threads' run time (/proc/PID/task/TID/schedstat).
fwd_cpu_ns() {
	local sum=0 t comm ns
	for t in /proc/"${PID[vh]}"/task/* /proc/"${PID[vu]}"/task/*; do
		read -r comm <"$t/comm" 2>/dev/null || continue
		[[ $comm == rte-worker-* ]] || continue
		read -r ns _ <"$t/schedstat" 2>/dev/null && sum=$((sum + ns))
	done
	echo "$sum"
}

# RX-packets of port PORT (default 0) of NAME, asked now.
rx_now() {
	local n
	n=$(grep -c 'Rx-pps:' "$WORK/$1.log")
	cmd "$1" "show port stats ${2:-0}"
	wait_log "$1" 'Rx-pps:' $((n + 1)) 10 || { echo -1; return; }
	awk '$1 == "RX-packets:" { v = $2 } END { print v }' "$WORK/$1.log"
}

# xstat NAME KEY: last value of an xstat printed by "show port xstats".
xstat() {
	awk -v key="$2:" '$1 == key { v = $2 } END { print (v == "" ? 0 : v) }' \
		"$WORK/$1.log"
}

show_xstats() {
	local n
	n=$(grep -c 'NIC extended statistics' "$WORK/$1.log")
	cmd "$1" "show port xstats 0"
	wait_log "$1" 'NIC extended statistics' $((n + 1)) 10
	wait_log "$1" 'attack_canary_bad:' $((n + 1)) 10
}

quit() {
	local name=$1 pid=${PID[$1]:-} fd end
	[ -n "$pid" ] || return 0
	if [ -n "${FD[$name]:-}" ]; then
		cmd "$name" quit 2>/dev/null
		fd=${FD[$name]}
		exec {fd}>&-
		unset "FD[$name]"
	fi
	end=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "PID[$name]"
}

cleanup() {
	for n in "${!PID[@]}"; do quit "$n"; done
	if [ "$KEEP" = 1 ]; then
		echo "logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	rm -rf "$PLUGDIR"
	# EAL's runtime directories and any hugepage files of killed testpmds.
	rm -rf /var/run/dpdk/vvivh$$c* /var/run/dpdk/vvivu$$c* /var/run/dpdk/vvibad$$c*
	rm -f /dev/hugepages/vvivh$$c* /dev/hugepages/vvivu$$c* /dev/hugepages/vvibad$$c* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

result() {
	if [ "$1" = PASS ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); fi
	echo "$1: $2"
}

# Brings up vhost (NAME vh) and virtio (NAME vu) testpmds for one case.
# setup LIB DEVARGS VH_MODE VU_MODE [WITNESS_DEVARGS]: with the fifth
# argument, a second port pair (port 1 on both sides, no attack) is the
# witness device (WIT=1).
setup() {
	local lib=$1 devargs=$2 vhmode=$3 vumode=$4 libdir=
	local sock=$WORK/c$CASE.sock wsock=$WORK/c$CASE.w.sock
	local vhw=() vuw=()
	WIT=0
	if [ $# -ge 5 ]; then
		WIT=1
		vhw=(--vdev "net_vhost1,iface=$wsock,queues=1,iommu-support=1")
		vuw=(--vdev "net_virtio_viommu1,path=$wsock$5")
	fi
	[ "$lib" = ours ] && libdir=$OURLIB
	start vh "$libdir" -l 0,1 --main-lcore 0 --no-pci \
		--file-prefix "vvivh$$c$CASE" -m 256 \
		--vdev "net_vhost0,iface=$sock,queues=1,iommu-support=1" "${vhw[@]}" \
		-- -i --total-num-mbufs=16384 --forward-mode="$vhmode"
	local end=$((SECONDS + 30))
	until [ -S "$sock" ] && { [ "$WIT" = 0 ] || [ -S "$wsock" ]; }; do
		alive vh && [ "$SECONDS" -lt "$end" ] || { echo "vhost testpmd did not start"; return 1; }
		sleep 0.1
	done
	start vu "" -l 0,1 --main-lcore 1 --no-pci \
		--file-prefix "vvivu$$c$CASE" -m 256 --single-file-segments \
		-d "$PMD" --vdev "net_virtio_viommu0,path=$sock$devargs" "${vuw[@]}" \
		-- -i --total-num-mbufs="$VU_MBUFS" --forward-mode="$vumode"
	# Port started: testpmd prints its MAC address, then its prompt.
	wait_log vu '^Port 0: ' 1 120 || { echo "virtio testpmd did not start"; return 1; }
	wait_log vh 'link state change event|new device|virtio is now ready' 1 30
	# Proof of which librte_vhost the vhost side runs.
	local mapped
	mapped=$(awk '$6 ~ /librte_vhost\.so/ { print $6; exit }' "/proc/${PID[vh]}/maps" 2>/dev/null)
	mapped=$(realpath "$mapped" 2>/dev/null)
	case $lib in
	ours) [[ "$mapped" == "$(realpath "$OURLIB")"/* ]] || { echo "vhost side mapped $mapped, not ours"; return 1; } ;;
	dpdk) [[ "$mapped" == /usr/lib/* ]] || { echo "vhost side mapped $mapped, not Debian's"; return 1; } ;;
	esac
	sleep 1
}

# drain_want SND PORT KIND: what the receiver of port PORT must have
# counted once everything the stopped sender SND sent has arrived: the
# sender's TX count for that port, and for an attack from the frontend
# (KIND attack-tx, port 0) the well-formed attack chains the test adds
# to it, as counted now (asked again at each look: a wrap hold ends on
# an alarm 500 us after it began, and its chain counts then); -1 if it
# cannot be asked, -2 if the test reconciles nothing on that port (KIND
# attack-rx, port 0: refused chains are counted nowhere).
drain_want() {
	local snd=$1 port=$2 kind=$3 tx
	if [ "$port" = 0 ] && [ "$kind" = attack-rx ]; then
		echo -2
		return
	fi
	tx=$(port_count "$snd" "$port" TX)
	[ "$tx" -ge 0 ] || tx=$(fwd_count "$snd" TX)
	if [ "$port" = 0 ] && [ "$kind" = attack-tx ]; then
		show_xstats vu >/dev/null || { echo -1; return; }
		tx=$((tx + $(xstat vu attack_wellformed_tx)))
	fi
	echo "$tx"
}

# run_traffic DIR [KIND]: starts receiver then sender, runs SECS, stops
# the sender, waits until the receiver has counted what the test
# reconciles (drain_want; KIND exact by default, attack-tx or attack-rx),
# stops it. Sets SENT, RECV, MID and LATE (receiver counts in the middle
# of the run and at its end), MID_T/LATE_T and MID_CPU/LATE_CPU (the
# time and the forwarding lcores' CPU time then), T0 and T1 (sender start
# and stop times).
run_traffic() {
	local snd rcv cur want end kind=${2:-exact}
	if [ "$1" = tx ]; then snd=vu; rcv=vh; else snd=vh; rcv=vu; fi
	start_fwd $rcv || return 1
	T0=$EPOCHREALTIME
	cmd $snd start
	sleep $((SECS / 2)).5
	MID=$(rx_now $rcv)
	MID_CPU=$(fwd_cpu_ns)
	MID_T=$EPOCHREALTIME
	sleep $((SECS - SECS / 2))
	# The second half of the run lasts until the receiver has counted
	# FLOW_MIN packets since MID (60 s at most): what run_attack judges
	# the flow by, however slowly a loaded machine moves it.
	end=$((SECONDS + 60))
	while LATE=$(rx_now $rcv) && [ "$LATE" -ge 0 ] && [ "$MID" -ge 0 ] &&
			[ $((LATE - MID)) -lt "$FLOW_MIN" ] && [ "$SECONDS" -lt "$end" ] &&
			alive $rcv && alive $snd; do
		sleep 0.2
	done
	LATE_CPU=$(fwd_cpu_ns)
	LATE_T=$EPOCHREALTIME
	stop_fwd $snd || return 1
	T1=$EPOCHREALTIME
	SENT=$(fwd_count $snd TX)
	# Drain: wait until the receiver's count adds up to what the sender
	# sent (a count standing still for a while is no proof: a loaded
	# machine can pause the receiver longer). A packed ring in dynamic
	# mode moves one miss round trip at a time: on a loaded machine that
	# can take tens of seconds for a ring, hence the generous deadline;
	# past it the run goes on and the counts the case checks tell.
	for port in 0 $([ "$WIT" = 1 ] && echo 1); do
		end=$((SECONDS + 120))
		while [ "$SECONDS" -lt "$end" ]; do
			want=$(drain_want $snd "$port" "$kind")
			[ "$want" = -2 ] && break
			cur=$(rx_now $rcv "$port")
			[ "$want" -ge 0 ] && [ "$cur" -ge "$want" ] && break
			alive $rcv && alive $snd || break
			sleep 0.2
		done
	done
	stop_fwd $rcv || return 1
	RECV=$(fwd_count $rcv RX)
	if [ "$WIT" = 1 ]; then
		# Per port: 0 is attacked, 1 the witness.
		SENT=$(port_count $snd 0 TX)
		RECV=$(port_count $rcv 0 RX)
		WSENT=$(port_count $snd 1 TX)
		WRECV=$(port_count $rcv 1 RX)
	fi
}

teardown() {
	show_xstats vu
	quit vu
	quit vh
}

# Rate over the sender's run (start to stop, as seen from here).
mpps() { awk -v n="$1" -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", n / (b - a) / 1e6 }'; }

run_case() {
	local lib=$1 label=$2 devargs=$3 dir=$4 name
	local vhmode=rxonly vumode=txonly
	[ "$dir" = rx ] && { vhmode=txonly; vumode=rxonly; }
	CASE=$((CASE + 1))
	name="$lib iommu=$label $dir"
	if ! setup "$lib" "$devargs" $vhmode $vumode || ! run_traffic "$dir"; then
		teardown
		result FAIL "$name: did not run (logs: $WORK, case $CASE)"
		KEEP=1
		cp "$WORK/vh.log" "$WORK/c$CASE-vh.log"; cp "$WORK/vu.log" "$WORK/c$CASE-vu.log"
		return
	fi
	teardown
	local info="sent $SENT received $RECV ($(mpps "$SENT") Mpps) updates $(xstat vu iommu_updates) invalidates $(xstat vu iommu_invalidates) misses $(xstat vu iommu_misses)"
	if [ "$SENT" -gt 0 ] && [ "$SENT" = "$RECV" ]; then
		result PASS "$name: $info"
	else
		result FAIL "$name: $info"
		KEEP=1
		cp "$WORK/vh.log" "$WORK/c$CASE-vh.log"; cp "$WORK/vu.log" "$WORK/c$CASE-vu.log"
	fi
}

# Attack case: a fraction of the chains are malformed; the rest must flow.
# run_attack LIB MODE DIR [packed]
run_attack() {
	local lib=$1 mode=$2 dir=$3 ring=${4:-split} name vhmode=rxonly vumode=txonly ok=1 why=
	local extra=() pk= pinfo= flow_info=
	[ "$dir" = rx ] && { vhmode=txonly; vumode=rxonly; }
	[ "$ring" = packed ] && { pk=,packed_vq=1; extra=("$pk"); }
	CASE=$((CASE + 1))
	name="$lib attack=$mode $dir${pk:+ packed}"
	if ! setup "$lib" ",iommu=static,iommu_page=4K,attack=$mode$pk" $vhmode $vumode "${extra[@]}" ||
			! run_traffic "$dir" "attack-$dir"; then
		teardown
		result FAIL "$name: did not run (logs: $WORK, case $CASE)"
		KEEP=1
		cp "$WORK/vh.log" "$WORK/c$CASE-vh.log"; cp "$WORK/vu.log" "$WORK/c$CASE-vu.log"
		return
	fi
	teardown
	local sent=$(xstat vu attack_sent) done=$(xstat vu attack_completed)
	local written=$(xstat vu attack_written) wf=$(xstat vu attack_wellformed_tx)
	local canary=$(xstat vu attack_canary_bad) guard=$(xstat vu attack_guard_bad)
	local sbad=$(xstat vu attack_straddle_bad) sok=$(xstat vu attack_straddle_ok)
	[ "$canary" = 0 ] || { ok=0; why="$why canary written;"; }
	[ "$guard" = 0 ] || { ok=0; why="$why guard page written;"; }
	[ "$sbad" = 0 ] || { ok=0; why="$why straddled rx corrupted;"; }
	[ "$sent" -gt 0 ] || { ok=0; why="$why no attack sent;"; }
	# Well-formed traffic must still flow at the end of the run. A
	# stalled ring (each bad chain waiting out a 500 ms miss timeout)
	# trickles 15-100 packets/s while its lcores poll all along: under
	# 100 per second of their CPU on an idle machine, a few hundred if
	# they get a tenth of a CPU each. By the clock a healthy ring on a
	# busy machine can be as slow: a packed loop attack empties the
	# ring before each bad chain, so every 15 packets wait for two
	# round trips between the testpmds, each for a CPU (870 packets/s
	# at load 11). So the second half must bring FLOW_MIN packets
	# within its 60 s, and FLOW_PER_CPU_S or more per second of CPU the
	# two forwarding lcores had meanwhile (healthy: 9800 and up at
	# load 17-28).
	local flow=$((LATE - MID)) cpu_ms=$(((LATE_CPU - MID_CPU) / 1000000))
	local secs=$(awk -v a="$MID_T" -v b="$LATE_T" 'BEGIN { printf "%.1f", b - a }')
	flow_info="second half $flow packets in $secs s, $cpu_ms ms of lcore CPU; "
	[ "$flow" -ge "$FLOW_MIN" ] && [ $((flow * 1000)) -ge $((FLOW_PER_CPU_S * cpu_ms)) ] ||
		{ ok=0; why="$why traffic stalled ($flow packets in the second half, $secs s, $cpu_ms ms of lcore CPU);"; }
	if [ "$dir" = tx ]; then
		# Refused chains never reach the receiver; straddled ones must.
		[ "$RECV" = $((SENT + wf)) ] ||
			{ ok=0; why="$why received $RECV != sent $SENT + well-formed $wf;"; }
	fi
	if [ "$ring" = packed ]; then
		local held=$(xstat vu attack_held) taken=$(xstat vu attack_held_taken)
		local refused=$(grep -c 'invalid descriptor chain' "$WORK/vh.log")
		local rxerr=$(xstat vu rx_errors) txerr=$(xstat vu tx_errors)
		# The witness: another device of the same processes, no attack.
		[ "$WSENT" -gt 0 ] && [ "$WSENT" = "$WRECV" ] ||
			{ ok=0; why="$why witness sent $WSENT received $WRECV;"; }
		[ "$rxerr" = 0 ] && [ "$txerr" = 0 ] ||
			{ ok=0; why="$why frontend saw bad used entries (rx $rxerr tx $txerr);"; }
		case $mode in
		indirect|loop)	# must be refused, with the library's log line
			[ "$refused" -gt 0 ] || { ok=0; why="$why no refusal logged;"; }
			[ "$done" -gt 0 ] || { ok=0; why="$why no attack chain came back;"; } ;;
		wrap)	# never taken while not available
			[ "$held" -gt 0 ] || { ok=0; why="$why nothing held;"; }
			[ "$taken" = 0 ] || { ok=0; why="$why $taken held descriptors taken;"; } ;;
		badid)	# legal for the device: returned with the id given
			[ "$done" -gt 0 ] || { ok=0; why="$why no badid chain came back;"; }
			[ "$refused" = 0 ] || { ok=0; why="$why well-formed chains refused;"; } ;;
		esac
		pinfo="witness $WSENT/$WRECV, refusals logged $refused, held $held taken $taken; "
	fi
	local info="${pinfo}${flow_info}sent $SENT received $RECV; attacks sent $sent completed $done written $written straddle ok/bad $sok/$sbad canary $canary guard $guard"
	if [ $ok = 1 ]; then
		result PASS "$name: $info"
	else
		result FAIL "$name:$why $info"
		KEEP=1
		cp "$WORK/vh.log" "$WORK/c$CASE-vh.log"; cp "$WORK/vu.log" "$WORK/c$CASE-vu.log"
	fi
}

# Largest iotlb_entries over the vhost side's rings (our library).
iotlb_entries() {
	local vid=0
	printf '/vhost/vring_stats,%s\n' "$vid" |
		python3 /usr/bin/dpdk-telemetry.py -f "vvivh$$c$CASE" 2>/dev/null |
		python3 -c '
import json, sys
best = -1
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    def walk(o):
        global best
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "iotlb_entries" and isinstance(v, int):
                    best = max(best, v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.loads(line))
print(best)'
}

# Scattered static mappings (ours): exact accounting, the whole working
# set given out, no refused miss, entries held >= working set.
run_scatter() {
	local page=$1 dir=$2 name vhmode=rxonly vumode=txonly ok=1 why= entries
	[ "$dir" = rx ] && { vhmode=txonly; vumode=rxonly; }
	CASE=$((CASE + 1))
	name="ours iommu=scatter-$page ws=$SCATTER_WS $dir"
	VU_MBUFS=1280
	if ! setup ours ",iommu=static,iommu_page=$page,iommu_map=scatter,iommu_seed=7,iotlb_working_set=$SCATTER_WS" \
			$vhmode $vumode || ! run_traffic "$dir"; then
		VU_MBUFS=16384
		teardown
		result FAIL "$name: did not run (logs: $WORK, case $CASE)"
		KEEP=1
		cp "$WORK/vh.log" "$WORK/c$CASE-vh.log"; cp "$WORK/vu.log" "$WORK/c$CASE-vu.log"
		return
	fi
	VU_MBUFS=16384
	entries=$(iotlb_entries)
	teardown
	local win=$(xstat vu iommu_scatter_windows) refused=$(xstat vu iommu_misses_refused)
	local errs=$(xstat vu iommu_errors)
	[ "$SENT" -gt 0 ] && [ "$SENT" = "$RECV" ] || { ok=0; why="$why lost packets;"; }
	[ "$win" = "$SCATTER_WS" ] || { ok=0; why="$why $win windows given out;"; }
	[ "$refused" = 0 ] && [ "$errs" = 0 ] || { ok=0; why="$why refused misses or IOTLB errors;"; }
	[ "$entries" -ge "$SCATTER_WS" ] || { ok=0; why="$why backend holds $entries entries;"; }
	local info="sent $SENT received $RECV ($(mpps "$SENT") Mpps) windows $win entries $entries updates $(xstat vu iommu_updates) misses $(xstat vu iommu_misses) refused $refused"
	if [ $ok = 1 ]; then
		result PASS "$name: $info"
	else
		result FAIL "$name:$why $info"
		KEEP=1
		cp "$WORK/vh.log" "$WORK/c$CASE-vh.log"; cp "$WORK/vu.log" "$WORK/c$CASE-vu.log"
	fi
}

# Bad scatter devargs: the frontend testpmd must refuse them, saying why.
run_bad_devargs() {
	local devargs=$1 want=$2 name="devargs $1" log=$WORK/bad.log
	CASE=$((CASE + 1))
	env -u LD_LIBRARY_PATH timeout 60 "$TESTPMD" -l 0 --no-pci \
		--file-prefix "vvibad$$c$CASE" -m 64 --single-file-segments -d "$PMD" \
		--vdev "net_virtio_viommu0,path=$WORK/none.sock$devargs" -- \
		--total-num-mbufs=2048 </dev/null >"$log" 2>&1
	if grep -qF -- "$want" "$log"; then
		result PASS "$name: refused ($want)"
	else
		result FAIL "$name: no '$want' in the log"
		cp "$log" "$WORK/c$CASE-bad.log"
		KEEP=1
	fi
}

case $LIBS in
both) LIBLIST="ours dpdk" ;;
ours|dpdk) LIBLIST=$LIBS ;;
*) echo "-l: ours, dpdk or both" >&2; exit 2 ;;
esac

if [ "$MATRIX" = 1 ]; then
	for lib in $LIBLIST; do
		[ "$SPLIT" = 1 ] || continue
		for cfg in "off|" "static-2M|,iommu=static,iommu_page=2M" \
			"static-4K|,iommu=static,iommu_page=4K" \
			"dynamic-4K|,iommu=dynamic,iommu_page=4K"; do
			for dir in tx rx; do
				run_case "$lib" "${cfg%%|*}" "${cfg#*|}" "$dir"
			done
		done
	done
	for lib in $LIBLIST; do
		[ "$PACKED" = 1 ] || continue
		# Debian's library drops tx packets on a packed ring in
		# dynamic mode (doc/virtio-viommu.md, Findings): not run.
		cfgs=("off|")
		[ "$lib" = ours ] && cfgs+=("dynamic-4K|,iommu=dynamic,iommu_page=4K" \
			"static-4K|,iommu=static,iommu_page=4K")
		for cfg in "${cfgs[@]}"; do
			for dir in tx rx; do
				run_case "$lib" "${cfg%%|*} packed" "${cfg#*|},packed_vq=1" "$dir"
			done
		done
	done
fi
if [ "$SCATTER" = 1 ] && [[ " $LIBLIST " == *" ours "* ]]; then
	# 4K both ways (rx buffers cross pages: chains), 2M one way.
	run_scatter 4K tx
	run_scatter 4K rx
	run_scatter 2M tx
	run_bad_devargs ",iommu=dynamic,iommu_map=scatter" "iommu_map=scatter needs iommu=static"
	run_bad_devargs ",iommu=static,iommu_page=1G,iommu_map=scatter" "iommu_map=scatter needs iommu_page=4K or 2M"
	run_bad_devargs ",iommu=static,iotlb_working_set=64" "iotlb_working_set= needs iommu_map=scatter"
	run_bad_devargs ",iommu=static,iommu_map=scatter,iotlb_working_set=0" "bad value '0' for iotlb_working_set"
	run_bad_devargs ",iommu=static,iommu_map=scatter,iotlb_working_set=1048577" "bad value '1048577' for iotlb_working_set"
fi
if [ "$ATTACKS" = 1 ]; then
	for lib in $LIBLIST; do
		[ "$SPLIT" = 1 ] || continue
		for mode in unmapped perm straddle overflow indirect loop canary; do
			for dir in tx rx; do
				run_attack "$lib" "$mode" "$dir"
			done
		done
	done
	for lib in $LIBLIST; do
		[ "$PACKED" = 1 ] || continue
		for mode in indirect loop wrap badid; do
			for dir in tx rx; do
				run_attack "$lib" "$mode" "$dir" packed
			done
		done
	done
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
