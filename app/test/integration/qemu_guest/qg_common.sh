# shellcheck shell=bash disable=SC2034 # the variables set here are the callers'
# What run_ping.sh and run_hotplug.sh share (sourced, not run): the library
# check, the run's own directory, starting and stopping testpmd and QEMU,
# the guest's result line (run_migration.sh takes qg_stop only). The
# caller defines
#   fail REASON   its verdict line, then qg_log_tails, then exit 1
# and sets RESULT=0 once it passed (the logs are removed then).

# qg_die MESSAGE: a usage error (exit 2).
qg_die() {
	echo "$(basename "$0" .sh): $*" >&2
	exit 2
}

# qg_libdir DIR: LIBDIR, DIR's absolute path; it must hold the library.
qg_libdir() {
	LIBDIR=$(cd "$1" && pwd) || qg_die "no such LIBDIR: $1"
	[ -e "$LIBDIR/librte_vhost.so.23" ] || qg_die "$LIBDIR has no librte_vhost.so.23"
}

# qg_setup NAME PREFIX: the guest kernel and initramfs (built first, before
# anything needs cleaning up; QG_CACHE), then WORK, a fresh directory
# /tmp/NAME.*, with the socket and log names in it, and the exit clean-up.
# Everything a run owns is named after PREFIX (the caller's pid in it), so
# concurrent runs and other engineers' testpmds are never touched.
qg_setup() {
	CACHE=${QG_CACHE:-/var/tmp/vhost-qemu-guest}
	LCORES=${QG_LCORES:-0,1}
	INITRD=$("$HERE/build_initramfs.sh" "$CACHE")
	VMLINUZ=$(cat "$CACHE/vmlinuz")
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	PREFIX=$2
	SOCK=$WORK/vhost.sock
	TP_LOG=$WORK/testpmd.log
	QEMU_LOG=$WORK/qemu.log
	SERIAL=$WORK/serial.log
	TP_PID=
	QEMU_PID=
	RESULT=1
	T0=$SECONDS
	trap qg_cleanup EXIT
}

# qg_stop PID SIGNAL SECONDS: signal one of our own children, escalate to KILL.
qg_stop() {
	local pid=$1 sig=$2 t=$(($3 * 10))
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null && [ $t -gt 0 ]; do
		sleep 0.1
		t=$((t - 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# qg_stop_all: QEMU first, so testpmd sees a clean vhost-user disconnect;
# SIGINT lets testpmd close its ports, free its hugepages and print its
# final counters.
qg_stop_all() {
	qg_stop "$QEMU_PID" TERM 3
	QEMU_PID=
	qg_stop "$TP_PID" INT 5
	TP_PID=
}

qg_cleanup() {
	qg_stop_all
	# After a KILL testpmd leaves its hugepage files and runtime dir.
	rm -f /dev/hugepages/"${PREFIX}"map_* 2>/dev/null || true
	rm -rf /var/run/dpdk/"$PREFIX" 2>/dev/null || true
	rm -f "$SOCK"
	if [ "$RESULT" -eq 0 ] && [ -z "${QG_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "logs kept in $WORK"
	fi
}

# qg_start_testpmd VDEV [EAL-ARGS...]: Debian's testpmd, icmpecho, with the
# vhost PMD on LIBDIR's library; waits for its socket and checks that it
# really mapped that library. --stats-period keeps testpmd running without
# a terminal until killed; stdbuf makes its log readable while it runs;
# exec chains keep $! = testpmd.
qg_start_testpmd() {
	local vdev=$1 end
	shift
	env LD_LIBRARY_PATH="$LIBDIR" stdbuf -oL -eL dpdk-testpmd \
		-l "$LCORES" --file-prefix "$PREFIX" --no-pci -m 256 "$@" \
		--vdev "$vdev" -- \
		--forward-mode=icmpecho --total-num-mbufs=4096 --stats-period 10 \
		</dev/null >"$TP_LOG" 2>&1 &
	TP_PID=$!
	end=$((SECONDS + 30))
	until [ -S "$SOCK" ]; do
		kill -0 "$TP_PID" 2>/dev/null || fail "testpmd exited at start"
		[ $SECONDS -lt $end ] || fail "testpmd created no vhost socket in 30 s"
		sleep 0.1
	done
	MAPPED=$(awk '$6 ~ /librte_vhost\.so\.23/ { print $6 }' "/proc/$TP_PID/maps" | sort -u)
	echo "testpmd pid $TP_PID maps: ${MAPPED:-<no librte_vhost.so.23>}"
	local want
	want=$(readlink -f "$LIBDIR/librte_vhost.so.23")
	[ "$(readlink -f "$MAPPED" 2>/dev/null)" = "$want" ] ||
		fail "testpmd mapped '${MAPPED}', expected $want"
}

# qg_start_qemu MEMORY NIC APPEND [QEMU-ARGS...]: the guest, -m MEMORY, its
# virtio-net device NIC (netdev=net0) on testpmd's socket, kernel command
# line APPEND; QEMU-ARGS (devices the NIC needs first: a vIOMMU, a root
# port) and QG_QEMU_ARGS go in too.
# TCG: nested KVM hangs here. memfd share=on: vhost-user maps guest memory.
# -no-reboot + panic=-1 (in APPEND): a guest panic ends QEMU instead of
# looping.
qg_start_qemu() {
	local mem=$1 nic=$2 append=$3
	shift 3
	# shellcheck disable=SC2086 # QG_QEMU_ARGS: several words
	qemu-system-x86_64 \
		-machine q35,accel=tcg -cpu max -smp 1 -m "$mem" \
		-object memory-backend-memfd,id=mem0,size=512M,share=on -numa node,memdev=mem0 \
		"$@" \
		-chardev socket,id=chr0,path="$SOCK" \
		-netdev vhost-user,id=net0,chardev=chr0 \
		-device "$nic" \
		-kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
		-nographic -monitor none -serial file:"$SERIAL" -no-reboot ${QG_QEMU_ARGS:-} \
		</dev/null >"$QEMU_LOG" 2>&1 &
	QEMU_PID=$!
}

# qg_guest_result: LINE, the guest's GUEST-RESULT line, and from it TX and
# RX (pings transmitted and received) and LOST (per cent).
qg_guest_result() {
	LINE=$(grep -a -m1 '^GUEST-RESULT' "$SERIAL" | tr -d '\r')
	TX=$(sed -n 's/.*transmitted=\([0-9]*\).*/\1/p' <<<"$LINE")
	RX=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$LINE")
	TX=${TX:-0} RX=${RX:-0}
	LOST=100
	[ "$TX" -gt 0 ] && LOST=$(awk -v t="$TX" -v r="$RX" 'BEGIN { printf "%.0f", (t - r) * 100 / t }')
	return 0
}

# qg_log_tails: the ends of testpmd's, QEMU's and the guest's logs, to
# see why a run failed.
qg_log_tails() {
	echo "--- testpmd log tail ($TP_LOG)"
	# Without the per-bit device status lines, which say little.
	grep -vE '^VHOST_CONFIG: .*[[:space:]]-[A-Z_]+: [01]$' "$TP_LOG" 2>/dev/null | tail -n 30 || true
	echo "--- qemu log tail ($QEMU_LOG)"
	grep -v '^vtd_inv_desc' "$QEMU_LOG" 2>/dev/null | tail -n 15 || true
	echo "--- guest serial tail ($SERIAL)"
	tail -n 25 "$SERIAL" 2>/dev/null | tr -cd '[:print:]\n' || true
}
