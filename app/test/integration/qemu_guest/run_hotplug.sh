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
#   QG_CACHE (initramfs cache), QG_LCORES=0,1, QG_KEEP=1, QG_QEMU_ARGS.
# Prints one line: PASS|FAIL lib=... plugged=N/M unplugged=K regions=R
# transmitted=T received=R lost=L%.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=app/test/integration/qemu_guest/qg_common.sh
. "$HERE/qg_common.sh"
[ $# -ge 1 ] && [ $# -le 2 ] || qg_die "usage: $0 LIBDIR [expect-all|expect-refusal]"
qg_libdir "$1"
EXPECT=${2:-expect-all}
case $EXPECT in expect-all | expect-refusal) ;; *) qg_die "bad expectation: $EXPECT" ;; esac

QMP_PY=$HERE/../qemu_migration/qmp.py
DIMMS=${QG_DIMMS:-20}
UNPLUG=${QG_UNPLUG:-8}
PINGS=${QG_PINGS:-150}
TIMEOUT=${QG_TIMEOUT:-240}
qg_setup qemu_hotplug "qh$$"
QMP=$WORK/qmp.sock
PLUGGED=0
UNPLUGGED=0
REFUSED=
TX=0 RX=0 LOST=100

trap 'echo "FAIL lib=$LIBDIR reason: interrupted"; exit 130' INT TERM

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
	qg_stop_all
	verdict FAIL "$*"
	qg_log_tails
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
qg_start_testpmd "net_vhost0,iface=$SOCK,queues=1" --log-level=lib.vhost:info

# --- QEMU -----------------------------------------------------------------
# memhp_default_state=offline: plugged DIMMs stay offline in the guest, so
# it can eject them at once when they are unplugged.
qg_start_qemu 512M,slots=32,maxmem=8G \
	virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02,vectors=0,disable-legacy=on,romfile=,iommu_platform=off \
	"console=ttyS0 panic=-1 no_timer_check memhp_default_state=offline workload=hotplug pingcount=$PINGS" \
	-qmp "unix:$QMP,server=on,wait=off"
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
qg_guest_result
qg_stop_all

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
