#!/bin/bash
# Memory hot-plug through vhost-user: a QEMU guest (-m 512M,slots=32,
# maxmem=8G) pings Debian's dpdk-testpmd (icmpecho) through the vhost PMD
# on the librte_vhost.so.23 in LIBDIR, while QMP plugs DIMMS pc-dimm
# devices (memory-backend-memfd,share=on), then unplugs UNPLUG of them.
# QEMU asks every vhost backend for a free memory slot before a plug: a
# backend with CONFIGURE_MEM_SLOTS (ours: 509 slots) takes each DIMM as
# one ADD_MEM_REG; one without it (Debian's DPDK 22.11) has 8 slots, and
# QEMU refuses the plugs past them.
#
# Usage: run_hotplug.sh LIBDIR [expect-all|expect-refusal]
#   expect-all      (default) every plug and unplug must succeed, the
#                   backend must hold every DIMM, and no ping may be lost
#   expect-refusal  QEMU must refuse some plug for lack of vhost slots
# Environment: QG_DIMMS=20, QG_UNPLUG=8, QG_PINGS=150, QG_TIMEOUT=240,
#   QG_CACHE (initramfs cache), QG_LCORES=0,1, QG_KEEP=1.
# Prints one line: PASS|FAIL lib=... plugged=N/M unplugged=K regions=R
# transmitted=T received=R lost=L%.
set -euo pipefail

die() { echo "run_hotplug: $*" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 LIBDIR [expect-all|expect-refusal]"
LIBDIR=$(cd "$1" && pwd) || die "no such LIBDIR: $1"
EXPECT=${2:-expect-all}
case $EXPECT in expect-all | expect-refusal) ;; *) die "bad expectation: $EXPECT" ;; esac
[ -e "$LIBDIR/librte_vhost.so.23" ] || die "$LIBDIR has no librte_vhost.so.23"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QMP_PY=$HERE/../qemu_migration/qmp.py
DIMMS=${QG_DIMMS:-20}
UNPLUG=${QG_UNPLUG:-8}
PINGS=${QG_PINGS:-150}
TIMEOUT=${QG_TIMEOUT:-240}
CACHE=${QG_CACHE:-/var/tmp/vhost-qemu-guest}
LCORES=${QG_LCORES:-0,1}

INITRD=$("$HERE/build_initramfs.sh" "$CACHE")
VMLINUZ=$(cat "$CACHE/vmlinuz")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qemu_hotplug.XXXXXX")
SOCK=$WORK/vhost.sock
QMP=$WORK/qmp.sock
PREFIX=qh$$
TP_LOG=$WORK/testpmd.log
QEMU_LOG=$WORK/qemu.log
SERIAL=$WORK/serial.log
TP_PID=
QEMU_PID=
RESULT=1
PLUGGED=0
UNPLUGGED=0
REFUSED=
TX=0 RX=0 LOST=100

stop() {
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
cleanup() {
	stop "$QEMU_PID" TERM 3
	stop "$TP_PID" INT 5
	rm -f /dev/hugepages/"${PREFIX}"map_* 2>/dev/null || true
	rm -rf /var/run/dpdk/"$PREFIX" 2>/dev/null || true
	if [ "$RESULT" -eq 0 ] && [ -z "${QG_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "logs kept in $WORK"
	fi
}
trap cleanup EXIT
trap 'echo "FAIL lib=$LIBDIR reason: interrupted"; exit 130' INT TERM

T0=$SECONDS
qmp() { "$QMP_PY" "$QMP" "$@"; }
# Regions the backend holds, from its log: our library logs "(N regions)"
# on each ADD/REM_MEM_REG; both log each region of a SET_MEM_TABLE
# (Debian's: "guest memory region size", ours: "region I: gpa").
backend_regions() {
	local n
	n=$(grep -ao '([0-9]* regions)' "$TP_LOG" | tail -n 1 | tr -dc 0-9)
	[ -n "$n" ] || n=$(awk '/SET_MEM_TABLE/ { n = 0 }
		/guest memory region size|region [0-9]+: gpa/ { n++ }
		END { print n + 0 }' "$TP_LOG")
	echo "${n:-?}"
}
verdict() { # PASS|FAIL [reason]
	echo "$1 lib=$LIBDIR expect=$EXPECT plugged=$PLUGGED/$DIMMS unplugged=$UNPLUGGED/$UNPLUG regions=$(backend_regions) transmitted=$TX received=$RX lost=$LOST% time=$((SECONDS - T0))s${REFUSED:+ refused: $REFUSED}${2:+ reason: $2}"
}
fail() {
	stop "$QEMU_PID" TERM 3
	QEMU_PID=
	stop "$TP_PID" INT 5
	TP_PID=
	verdict FAIL "$*"
	echo "--- testpmd log tail"
	grep -vE '^VHOST_CONFIG: .*[[:space:]]-[A-Z_]+: [01]$' "$TP_LOG" 2>/dev/null | tail -n 20 || true
	echo "--- qemu log tail"
	tail -n 10 "$QEMU_LOG" 2>/dev/null || true
	echo "--- guest serial tail"
	tail -n 15 "$SERIAL" 2>/dev/null | tr -cd '[:print:]\n' || true
	exit 1
}
alive() {
	kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited: $(tail -n 1 "$QEMU_LOG" 2>/dev/null)"
	kill -0 "$TP_PID" 2>/dev/null || fail "testpmd died"
}
# wait_for SECONDS CMD...: until CMD succeeds, checking both processes.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		alive
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

# --- testpmd ------------------------------------------------------------
env LD_LIBRARY_PATH="$LIBDIR" stdbuf -oL -eL dpdk-testpmd \
	-l "$LCORES" --file-prefix "$PREFIX" --no-pci -m 256 --log-level=lib.vhost:info \
	--vdev "net_vhost0,iface=$SOCK,queues=1" -- \
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
[ "$(readlink -f "$MAPPED" 2>/dev/null)" = "$(readlink -f "$LIBDIR/librte_vhost.so.23")" ] ||
	fail "testpmd mapped '${MAPPED}', expected $LIBDIR"
echo "testpmd pid $TP_PID maps: $MAPPED"

# --- QEMU -----------------------------------------------------------------
# memhp_default_state=offline: plugged DIMMs stay offline in the guest, so
# it can eject them at once when they are unplugged.
qemu-system-x86_64 \
	-machine q35,accel=tcg -cpu max -smp 1 -m 512M,slots=32,maxmem=8G \
	-object memory-backend-memfd,id=mem0,size=512M,share=on -numa node,memdev=mem0 \
	-chardev socket,id=chr0,path="$SOCK" \
	-netdev vhost-user,id=net0,chardev=chr0 \
	-device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02,vectors=0,disable-legacy=on,romfile=,iommu_platform=off \
	-kernel "$VMLINUZ" -initrd "$INITRD" \
	-append "console=ttyS0 panic=-1 no_timer_check memhp_default_state=offline workload=hotplug pingcount=$PINGS" \
	-qmp "unix:$QMP,server=on,wait=off" \
	-nographic -monitor none -serial file:"$SERIAL" -no-reboot \
	</dev/null >"$QEMU_LOG" 2>&1 &
QEMU_PID=$!
wait_for 30 test -S "$QMP" || fail "no QMP socket"

# The pings run: the first heartbeat with a reply.
hb_replies() { { tr -d '\r' <"$SERIAL"; } 2>/dev/null | sed -n 's/^GUEST-HB replies=\([0-9]*\).*/\1/p' | tail -n 1; }
pinging() { [ "$(hb_replies)" -gt 0 ] 2>/dev/null; }
wait_for 120 pinging || fail "the guest's pings did not start"
echo "guest pings ($(hb_replies) replies); $(backend_regions) regions in the backend before plugging"

# --- plug ------------------------------------------------------------------
for i in $(seq 1 "$DIMMS"); do
	alive
	qmp object-add "{\"qom-type\": \"memory-backend-memfd\", \"id\": \"dm$i\", \"size\": 134217728, \"share\": true}" >/dev/null ||
		fail "object-add dm$i failed"
	if err=$(qmp device_add "{\"driver\": \"pc-dimm\", \"id\": \"dimm$i\", \"memdev\": \"dm$i\"}" 2>&1 >/dev/null); then
		PLUGGED=$((PLUGGED + 1))
	else
		REFUSED=${REFUSED:-"dimm$i: ${err#qmp.py: }"}
		qmp object-del "{\"id\": \"dm$i\"}" >/dev/null 2>&1 || true
	fi
done
echo "plugged $PLUGGED of $DIMMS DIMMs; backend regions: $(backend_regions); guest replies so far: $(hb_replies)"

# --- unplug ----------------------------------------------------------------
dimms_left() { qmp query-memory-devices | jq length; }
if [ "$PLUGGED" -ge "$UNPLUG" ]; then
	for i in $(seq 1 "$UNPLUG"); do
		qmp device_del "{\"id\": \"dimm$i\"}" >/dev/null || fail "device_del dimm$i refused"
	done
	want=$((PLUGGED - UNPLUG))
	left_ok() { [ "$(dimms_left)" -eq "$want" ]; }
	wait_for 60 left_ok || fail "$(dimms_left) DIMMs left after unplugging $UNPLUG, expected $want"
	UNPLUGGED=$UNPLUG
	echo "unplugged $UNPLUG; backend regions: $(backend_regions)"
fi

# --- the end of the pings ------------------------------------------------------
result() { grep -aq '^GUEST-RESULT' "$SERIAL" 2>/dev/null; }
wait_for "$TIMEOUT" result || fail "no GUEST-RESULT within ${TIMEOUT} s"
line=$(grep -a -m1 '^GUEST-RESULT' "$SERIAL" | tr -d '\r')
TX=$(sed -n 's/.*transmitted=\([0-9]*\).*/\1/p' <<<"$line")
RX=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$line")
TX=${TX:-0} RX=${RX:-0}
[ "$TX" -gt 0 ] && LOST=$(awk -v t="$TX" -v r="$RX" 'BEGIN { printf "%.0f", (t - r) * 100 / t }')
stop "$QEMU_PID" TERM 3
QEMU_PID=
stop "$TP_PID" INT 5
TP_PID=

[ "$TX" -gt 0 ] || fail "the guest sent no ping"
case $EXPECT in
expect-all)
	[ "$PLUGGED" -eq "$DIMMS" ] || fail "QEMU refused a plug"
	[ "$UNPLUGGED" -eq "$UNPLUG" ] || fail "unplug incomplete"
	[ "$RX" -eq "$TX" ] || fail "lost $((TX - RX)) of $TX pings"
	;;
expect-refusal)
	[ "$PLUGGED" -lt "$DIMMS" ] || fail "every plug was accepted"
	case $REFUSED in *"no free memory slots"*) ;; *) fail "refused for another reason" ;; esac
	[ "$RX" -gt 0 ] || fail "no ping answered"
	;;
esac
RESULT=0
verdict PASS
