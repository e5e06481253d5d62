#!/bin/bash
# Packed rings under kill/reconnect cycles, with Debian's dpdk-testpmd.
#
# The scripted frontend of app/test/frontend has split rings only, so the
# packed-ring fault test drives a real one: a vhost testpmd (net_vhost, on
# LIBDIR's librte_vhost.so.23) runs for the whole case, and a virtio-user
# testpmd (packed_vq=1) is started against it, moves traffic both ways
# (io forwarding on both sides, a burst sent first, so packets circle
# between them) and is SIGKILLed, KILL_CYCLES times. Two cases: the
# frontend connects (vhost server), and the frontend listens (virtio-user
# server=1, vhost client=1: the library reconnects to each new one).
# Kill points: during traffic (most cycles, 0-300 ms after traffic was
# seen), or early (every 4th cycle, 0-1.5 s after the process started:
# in its EAL set-up or in the middle of the handshake).
#
# Checked in the vhost testpmd process, which must outlive every cycle:
#  - VIRTIO_F_RING_PACKED negotiated on every connection that came up;
#  - after each traffic kill: both its RX and TX counters had moved since
#    the restart (traffic resumed, both directions);
#  - after each kill, once the library has seen the death: its fd count
#    and its mappings of guest memory (hugepage files, memfds) return to
#    the baseline taken after a warm-up cycle (bounded wait, polled);
#  - its log has no error line but the expected disconnect messages;
#  - it still answers and quits cleanly at the end.
#
# Usage: testpmd_kill_packed.sh LIBDIR
# Env:   KILL_CYCLES      cycles per case (default 8)
#        KILL_CASES       regex to select cases by name (default all)
#        KILL_KEEP_LOGS   set to keep the logs of a passing run
# It passes on Debian's library too (LIBDIR /usr/lib/x86_64-linux-gnu).
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
cycles=${KILL_CYCLES:-8}
only=${KILL_CASES:-.}

logroot=$(mktemp -d /tmp/vhost-killpacked.XXXXXX)
TP_DIR=$logroot
# shellcheck source=SCRIPTDIR/../integration/testpmd_common.sh
. "$here/../integration/testpmd_common.sh"
passed=0 failed=0
finish() {
	tp_cleanup
	rm -f "$logroot"/*/*.sock "$logroot"/*/*.in
	tp_logs_done "$logroot" "$failed" "${KILL_KEEP_LOGS:-}" kill-packed
}
trap finish EXIT
trap 'exit 130' INT TERM
echo "kill-packed: library $want_lib"

eal_vhost=(-l "0,1" --main-lcore 0 --no-pci -m 256)
eal_virtio=(-l "0,1" --main-lcore 1 --no-pci -m 256 --single-file-segments)
app=(-i --nb-cores=1 --total-num-mbufs=16384)

problem=""
bad() {
	[ -n "$problem" ] || problem=$1
	return 1
}

# The vhost process's open fds, and its mappings of guest memory: the
# virtio testpmd's hugepage files (its file prefix) and memfds.
vh_fds() {
	find "/proc/${TP_PID[vhost]}/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
vh_guest_maps() {
	grep -cE "tp$$virtio|memfd:" "/proc/${TP_PID[vhost]}/maps" 2>/dev/null || true
}

# vh_stats: "RX TX" packets of the vhost port.
vh_stats() {
	tp_port_fields vhost RX-packets TX-packets
}

# Link events (up and down) the vhost testpmd printed so far.
link_events() {
	grep -c 'Port 0: link state change event' "$TP_DIR/vhost.log" || true
}

# wait_back FDS MAPS TIMEOUT_S: the vhost process is back to them.
wait_back() {
	local end=$((SECONDS + $3)) f m
	while :; do
		f=$(vh_fds) m=$(vh_guest_maps)
		[ "$f" -le "$1" ] && [ "$m" -le "$2" ] && return 0
		tp_alive vhost || return 1
		[ "$SECONDS" -ge "$end" ] && break
		sleep 0.05
	done
	echo "fds $f (baseline $1), guest mappings $m (baseline $2)"
	return 1
}

# one_cycle N: start virtio-user, maybe traffic, SIGKILL, wait until the
# library let go of everything.
one_cycle() {
	local n=$1 early=0 before after stats r0 t0 r1 t1 up0 msg
	[ $((n % 4)) -eq 3 ] && early=1
	[ "$mode" = client ] && rm -f "$sock"
	up0=$(link_events)
	tp_start virtio "" "${eal_virtio[@]}" --vdev "$virtio_vdev" -- \
		"${app[@]}" --rxd=1024 --txd=1024
	if [ "$early" = 1 ]; then
		tp_sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
		tp_sleep "$(printf '0.%03d' $((RANDOM % 500)))"
		kill -KILL "${TP_PID[virtio]}"
		early_kills=$((early_kills + 1))
	else
		tp_wait_log virtio 'testpmd> ' 1 60 || bad "cycle $n: $(why virtio "its prompt")" || return 1
		tp_wait_log vhost 'Port 0: link state change event' $((up0 + 1)) 60 ||
			bad "cycle $n: $(why vhost "link up")" || return 1
		stats=$(vh_stats) || bad "cycle $n: $(why vhost "port stats")" || return 1
		read -r r0 t0 <<<"$stats"
		tp_cmd virtio "start tx_first 16"
		# Traffic resumed: both counters move by a few thousand.
		local end=$((SECONDS + 30))
		while :; do
			stats=$(vh_stats) || bad "cycle $n: $(why vhost "port stats")" || return 1
			read -r r1 t1 <<<"$stats"
			[ $((r1 - r0)) -ge 4096 ] && [ $((t1 - t0)) -ge 4096 ] && break
			[ "$SECONDS" -lt "$end" ] ||
				bad "cycle $n: traffic did not resume: vhost RX +$((r1 - r0)), TX +$((t1 - t0)) in 30 s" || return 1
			sleep 0.05
		done
		moved_rx=$((moved_rx + r1 - r0)) moved_tx=$((moved_tx + t1 - t0))
		during=$(vh_guest_maps)
		[ "$during" -gt "$base_maps" ] || [ "$base_maps" -lt 0 ] ||
			bad "cycle $n: the vhost process maps no guest memory while connected ($during)" || return 1
		tp_sleep "$(printf '0.%03d' $((RANDOM % 300)))"
		kill -KILL "${TP_PID[virtio]}"
		traffic_kills=$((traffic_kills + 1))
	fi
	wait "${TP_PID[virtio]}" 2>/dev/null || true
	local fd=${TP_FD[virtio]}
	exec {fd}>&-
	unset "TP_PID[virtio]" "TP_FD[virtio]"
	rm -rf "/var/run/dpdk/tp$$virtio"
	# The virtio testpmd's hugepage files outlive it (SIGKILL): a
	# hypervisor's guest memory goes, so do they.
	rm -f /dev/hugepages/"tp$$virtio"map_* 2>/dev/null || true
	# The library saw the death: every link that came up went down.
	local end=$((SECONDS + 30))
	while [ $(( $(link_events) % 2 )) -ne 0 ]; do
		[ "$SECONDS" -lt "$end" ] || bad "cycle $n: the vhost port never went down" || return 1
		sleep 0.05
	done
	if [ "$base_fds" -ge 0 ]; then
		msg=$(wait_back "$base_fds" "$base_maps" 30) ||
			bad "cycle $n: after the kill, $msg" || return 1
	fi
	return 0
}

run_case() {
	mode=$1
	case="kill-packed-$mode"
	[[ $case =~ $only ]] || return 0
	problem=""
	TP_DIR="$logroot/$case"
	mkdir -p "$TP_DIR"
	sock="$TP_DIR/vhost.sock"
	local vdev="net_vhost0,iface=$sock,queues=1"
	virtio_vdev="net_virtio_user0,path=$sock,queues=1,queue_size=1024,packed_vq=1"
	if [ "$mode" = client ]; then
		vdev+=",client=1"
		virtio_vdev+=",server=1"
	fi
	base_fds=-1 base_maps=-1 early_kills=0 traffic_kills=0 moved_rx=0 moved_tx=0
	local t0=$SECONDS i=0 ups=0 packed=0
	tp_start vhost "$libdir" "${eal_vhost[@]}" --vdev "$vdev" -- "${app[@]}" --no-flush-rx
	if tp_wait_log vhost 'testpmd> ' 1 60 || bad "$(why vhost "its prompt")"; then
		local mapped
		mapped=$(tp_mapped_vhost vhost || true)
		[ "$mapped" = "$want_lib" ] ||
			bad "vhost testpmd mapped '${mapped:-no librte_vhost}', not $want_lib" || true
		tp_cmd vhost "set fwd io"
		tp_fwd_start vhost || bad "$(why vhost "start")" || true
		# Warm-up cycle (lazy allocations), then the baseline.
		if [ -z "$problem" ] && one_cycle 0; then
			base_fds=$(vh_fds) base_maps=$(vh_guest_maps)
			while [ "$i" -lt "$cycles" ] && one_cycle $((i + 1)); do
				i=$((i + 1))
			done
		fi
		if tp_alive vhost; then
			vh_stats >/dev/null || bad "$(why vhost "port stats at the end")" || true
		else
			bad "the vhost testpmd died" || true
		fi
	fi
	tp_quit vhost 20
	# Every connection that came up negotiated packed rings (bit 34).
	local f
	while read -r f; do
		ups=$((ups + 1))
		(( (f >> 34) & 1 )) && packed=$((packed + 1))
	done < <(grep -o 'negotiated [Vv]irtio features: 0x[0-9a-f]*\|negotiated features 0x[0-9a-f]*' \
		"$TP_DIR/vhost.log" | grep -o '0x[0-9a-f]*$')
	[ "$ups" -gt 0 ] && [ "$packed" -eq "$ups" ] ||
		bad "VIRTIO_F_RING_PACKED on $packed of $ups connections" || true
	# Error lines: only the expected ones of a frontend that went away.
	local errs
	errs=$(grep -iE 'error|fail|invalid|refus|abort|segfault|panic|ahead of' \
		"$TP_DIR/vhost.log" | grep -vE -- '-errors:' | grep -vE "$expected_errs" || true)
	[ -z "$errs" ] || bad "unexpected log lines: $(echo "$errs" | sort | uniq -c | head -n 5)" || true
	echo "  $case: $i cycles and a warm-up ($traffic_kills killed in traffic, $early_kills early)," \
		"$ups connections up, all packed: $packed; vhost RX +$moved_rx TX +$moved_tx" \
		"while they ran; fds $base_fds, guest mappings $base_maps after every kill;" \
		"$((SECONDS - t0)) s"
	if [ -z "$problem" ] && [ "$i" -ne "$cycles" ]; then
		bad "$i of $cycles cycles" || true
	fi
	if [ -n "$problem" ]; then
		echo "FAIL $case: $problem"
		local lf
		for lf in "$TP_DIR/vhost.log" "$TP_DIR/virtio.log"; do
			[ -f "$lf" ] || continue
			echo "---- tail of $(basename "$lf") ----"
			grep -v '^ *$' "$lf" | tail -n 12
		done
		failed=$((failed + 1))
	else
		echo "PASS $case"
		passed=$((passed + 1))
	fi
}

# What the library logs when a frontend dies in the middle of a message
# (anything else is a failure); then what Debian's logs for the same, for
# a client-mode reconnection to a frontend not listening yet, and its
# message-size table ("-FAILED: 0"), so the script runs on both.
expected_errs='VHOST: .*(reading a message failed|reading [0-9]+ payload bytes failed): Connection reset by peer$'
expected_errs+='|VHOST_CONFIG: .*(recvmsg failed on fd [0-9]+ \(Connection reset by peer\)|vhost read message failed|failed to connect: (Connection refused|No such file or directory)|	-FAILED: 0)$'

for m in server client; do
	run_case "$m"
	tp_cleanup
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
