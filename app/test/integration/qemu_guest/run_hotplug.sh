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
# The guest pings (every 0.2 s) from before the first plug until QG_PINGS
# more were answered after the last unplug, however long the plugs take
# on a busy machine; then QEMU is stopped. Pings sent are counted up to
# the last one answered: those below it without an answer were lost.
#
# Usage: run_hotplug.sh LIBDIR [expect-all|expect-refusal]
#   expect-all      (default) every plug and unplug must succeed, the
#                   backend must hold every DIMM, and no ping may be lost
#   expect-refusal  QEMU must refuse some plug for lack of vhost slots
# Environment: QG_DIMMS=20, QG_UNPLUG=8, QG_PINGS=25, QG_BOOT_TIMEOUT=300,
#   QG_TIMEOUT=240, QG_CACHE (initramfs cache), QG_LCORES=0,1, QG_KEEP=1,
#   QG_QEMU_ARGS.
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
PINGS=${QG_PINGS:-25}
BOOT_TIMEOUT=${QG_BOOT_TIMEOUT:-300}
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
	"console=ttyS0 panic=-1 no_timer_check memhp_default_state=offline workload=hotplug pingcount=1000000" \
	-qmp "unix:$QMP,server=on,wait=off"
wait_for 30 test -S "$QMP" || fail "no QMP socket"

# The pings run: the first heartbeat with a reply. hb FIELD: the value
# of replies= or maxseq= in the last heartbeat.
hb() { { tr -d '\r' <"$SERIAL"; } 2>/dev/null | sed -n "s/^GUEST-HB .*$1=\\([0-9]*\\).*/\\1/p" | tail -n 1; }
hb_replies() { hb replies; }
pinging() { [ "$(hb_replies)" -gt 0 ] 2>/dev/null; }
wait_for "$BOOT_TIMEOUT" pinging || fail "the guest's pings did not start"
BASE_REGIONS=$(backend_regions)
echo "guest pings ($(hb_replies) replies); $BASE_REGIONS regions in the backend before plugging"
# regions_are N: the backend logged that it holds N regions.
regions_are() { [ "$(backend_regions)" = "$1" ]; }

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
if [ "$EXPECT" = expect-all ]; then
	wait_for 30 regions_are $((BASE_REGIONS + PLUGGED)) ||
		fail "backend holds $(backend_regions) regions, expected $((BASE_REGIONS + PLUGGED))"
fi
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
	if [ "$EXPECT" = expect-all ]; then
		wait_for 30 regions_are $((BASE_REGIONS + want)) ||
			fail "backend holds $(backend_regions) regions, expected $((BASE_REGIONS + want))"
	fi
	echo "unplugged $UNPLUG; backend regions: $(backend_regions)"
fi

# --- the pings go on ------------------------------------------------------
# PINGS more answered after the last unplug, then the guest is stopped.
AFTER=$(($(hb_replies) + PINGS))
answered() { [ "$(hb_replies)" -ge "$AFTER" ]; }
wait_for "$TIMEOUT" answered || fail "$(hb_replies) pings answered, not $AFTER, within ${TIMEOUT} s"
RX=$(hb_replies)
TX=$(($(hb maxseq) + 1))
LOST=$(awk -v t="$TX" -v r="$RX" 'BEGIN { printf "%.0f", (t - r) * 100 / t }')
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
