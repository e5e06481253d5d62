#!/bin/bash
# Ping from a QEMU guest (virtio-net over vhost-user) to Debian's dpdk-testpmd
# in icmpecho mode, with the vhost PMD running on the librte_vhost.so.23
# found in LIBDIR.
#
# Usage: run_ping.sh LIBDIR MODE
#   MODE noiommu       no vIOMMU, iommu_platform=off, testpmd without iommu-support
#        strict        intel-iommu with device-iotlb, NIC behind a PCIe root port
#                      with ATS, guest iommu.strict=1 (unmap = invalidate)
#        lazy          same, guest iommu.strict=0 (batched domain-wide flushes)
#        strict-noats  NIC on the root complex: no ATS capability, so QEMU
#                      turns the guest's IOTLB page invalidations into
#                      backend INVALIDATEs (another QEMU code path)
#        lazy-noats    same in lazy mode. Fails under QEMU 7.2: it forwards no
#                      domain-wide flush to vhost without ATS (fixed in QEMU
#                      8.0); see doc/iotlb.md "Known limits". Not run in CI.
#   MODE-packed        any of these with packed virtqueues (virtio-net-pci
#                      packed=on), e.g. noiommu-packed, strict-packed. Every
#                      run checks that the guest driver and the backend both
#                      negotiated the layout asked for (VIRTIO_F_RING_PACKED,
#                      bit 34: set with -packed, clear without).
# Environment (optional):
#   QG_PINGS=20      pings the guest sends (0.2 s apart)
#   QG_TIMEOUT=90    hard limit in seconds for the guest to report
#   QG_CACHE=DIR     where the initramfs is cached
#   QG_LCORES=0,1    testpmd lcores (main + one forwarding core)
#   QG_KEEP=1        keep the log directory even on PASS
#   QG_EAL_ARGS=...  extra EAL options for testpmd (e.g. --log-level=lib.vhost:debug)
#   QG_QEMU_ARGS=... extra QEMU options (e.g. -trace 'vtd_inv_desc*')
# Prints PASS/FAIL with the counts; exits 0 only if received == transmitted > 0.
set -euo pipefail

die() { echo "run_ping: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: $0 LIBDIR noiommu|strict|lazy|strict-noats|lazy-noats[-packed]"
LIBDIR=$(cd "$1" && pwd) || die "no such LIBDIR: $1"
MODE=$2
# IOMMU_MODE is MODE without its ring suffix; RING the layout asked for.
IOMMU_MODE=${MODE%-packed}
RING="split"
[ "$IOMMU_MODE" = "$MODE" ] || RING=packed
case $IOMMU_MODE in noiommu | strict | lazy | strict-noats | lazy-noats) ;; *) die "bad MODE: $MODE" ;; esac
[ -e "$LIBDIR/librte_vhost.so.23" ] || die "$LIBDIR has no librte_vhost.so.23"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=app/test/integration/qemu_guest/ring_witness.sh
. "$HERE/ring_witness.sh"
PINGS=${QG_PINGS:-20}
TIMEOUT=${QG_TIMEOUT:-90}
CACHE=${QG_CACHE:-/var/tmp/vhost-qemu-guest}
LCORES=${QG_LCORES:-0,1}

# Build first, before anything needs cleaning up.
INITRD=$("$HERE/build_initramfs.sh" "$CACHE")
VMLINUZ=$(cat "$CACHE/vmlinuz")

# Everything this run owns is named after our pid, so concurrent runs and
# other engineers' testpmds (other prefixes/sockets) are never touched.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qemu_guest.$MODE.XXXXXX")
SOCK=$WORK/vhost.sock
PREFIX=qg$$$MODE
TP_LOG=$WORK/testpmd.log
QEMU_LOG=$WORK/qemu.log
SERIAL=$WORK/serial.log
TP_PID=
QEMU_PID=
RESULT=1

# stop PID SIGNAL SECONDS: signal one of our own children, escalate to KILL.
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
	# QEMU first, so testpmd sees a clean vhost-user disconnect.
	stop "$QEMU_PID" TERM 3
	# SIGINT lets testpmd close its ports and free its hugepages.
	stop "$TP_PID" INT 5
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
trap cleanup EXIT
trap 'echo "FAIL mode=$MODE reason: interrupted"; exit 130' INT TERM

T0=$SECONDS
elapsed() { echo "$((SECONDS - T0))s"; }

# finish: stop QEMU and testpmd now, so testpmd prints its final counters.
finish() {
	stop "$QEMU_PID" TERM 3
	QEMU_PID=
	stop "$TP_PID" INT 5
	TP_PID=
	# testpmd's own view: what the vhost port received from / sent to the guest.
	awk '/Accumulated forward statistics/ { blk = 1; next }
		blk && $1 == "RX-packets:" { rx = $2 }
		blk && $1 == "TX-packets:" { tx = $2; blk = 0 }
		END { if (rx != "") print "testpmd forward: rx=" rx " tx=" tx }' "$TP_LOG"
}

# fail REASON: one clear verdict line, then the log tails to see why.
fail() {
	finish
	echo "FAIL mode=$MODE lib=$LIBDIR transmitted=${TX:-0} received=${RX:-0} lost=${LOST:-100}% time=$(elapsed) reason: $*"
	echo "--- testpmd log tail ($TP_LOG)"
	# Without the per-bit device status lines, which say little.
	grep -vE '^VHOST_CONFIG: .*[[:space:]]-[A-Z_]+: [01]$' "$TP_LOG" 2>/dev/null | tail -n 30 || true
	echo "--- qemu log tail ($QEMU_LOG)"
	grep -v '^vtd_inv_desc' "$QEMU_LOG" 2>/dev/null | tail -n 15 || true
	echo "--- guest serial tail ($SERIAL)"
	tail -n 25 "$SERIAL" 2>/dev/null || true
	exit 1
}

# --- testpmd ------------------------------------------------------------
VDEV="net_vhost0,iface=$SOCK,queues=1"
[ "$IOMMU_MODE" = noiommu ] || VDEV+=",iommu-support=1"
# --stats-period keeps testpmd running without a terminal until killed;
# stdbuf makes its log readable while it runs. exec chains keep $! = testpmd.
env LD_LIBRARY_PATH="$LIBDIR" stdbuf -oL -eL dpdk-testpmd \
	-l "$LCORES" --file-prefix "$PREFIX" --no-pci -m 256 ${QG_EAL_ARGS:-} \
	--vdev "$VDEV" -- \
	--forward-mode=icmpecho --total-num-mbufs=4096 --stats-period 10 \
	</dev/null >"$TP_LOG" 2>&1 &
TP_PID=$!

end=$((SECONDS + 30))
until [ -S "$SOCK" ]; do
	kill -0 "$TP_PID" 2>/dev/null || fail "testpmd exited at start"
	[ $SECONDS -lt $end ] || fail "testpmd created no vhost socket in 30 s"
	sleep 0.1
done
# Prove which library the vhost PMD really uses.
MAPPED=$(awk '$6 ~ /librte_vhost\.so\.23/ { print $6 }' "/proc/$TP_PID/maps" | sort -u)
echo "testpmd pid $TP_PID maps: ${MAPPED:-<no librte_vhost.so.23>}"
WANT=$(readlink -f "$LIBDIR/librte_vhost.so.23")
[ "$(readlink -f "$MAPPED" 2>/dev/null)" = "$WANT" ] ||
	fail "testpmd mapped '${MAPPED}', expected $WANT"

# --- QEMU -----------------------------------------------------------------
NIC=virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02,vectors=0,disable-legacy=on,romfile=
# QEMU's default is packed=off: split rings.
[ "$RING" = split ] || NIC+=,packed=on
IOMMU=()
# no_timer_check: under TCG on a busy host the boot-time IO-APIC timer probe
# can miss and panic ("timer doesn't work through Interrupt-remapped
# IO-APIC"), seen 2 times in ~25 boots here without it.
BASE_APPEND="console=ttyS0 panic=-1 no_timer_check"
case $IOMMU_MODE in
noiommu)
	NIC+=,iommu_platform=off
	APPEND="$BASE_APPEND pingcount=$PINGS"
	;;
*)
	# QEMU gives virtio-pci an ATS capability only on a PCIe port; on the
	# root complex "ats=on" is silently ignored and the guest never uses the
	# device IOTLB. The vtd_inv_desc trace shows which invalidations the
	# guest really sent (checked below).
	NIC+=,iommu_platform=on,ats=on
	IOMMU=(-device "intel-iommu,intremap=on,device-iotlb=on" -trace vtd_inv_desc)
	case $IOMMU_MODE in
	*-noats) ;;
	*)
		NIC+=,bus=rp0
		IOMMU+=(-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1)
		;;
	esac
	s=1
	case $IOMMU_MODE in lazy*) s=0 ;; esac
	APPEND="$BASE_APPEND intel_iommu=on iommu.strict=$s pingcount=$PINGS"
	;;
esac
# TCG: nested KVM hangs here. vectors=0: QEMU 7.2 TCG crashes setting up
# MSI-X for vhost-user. memfd share=on: vhost-user maps guest memory.
# -no-reboot + panic=-1: a guest panic ends QEMU instead of looping.
qemu-system-x86_64 \
	-machine q35,accel=tcg -cpu max -smp 1 -m 512M \
	-object memory-backend-memfd,id=mem0,size=512M,share=on -numa node,memdev=mem0 \
	"${IOMMU[@]}" \
	-chardev socket,id=chr0,path="$SOCK" \
	-netdev vhost-user,id=net0,chardev=chr0 \
	-device "$NIC" \
	-kernel "$VMLINUZ" -initrd "$INITRD" -append "$APPEND" \
	-nographic -monitor none -serial file:"$SERIAL" -no-reboot ${QG_QEMU_ARGS:-} \
	</dev/null >"$QEMU_LOG" 2>&1 &
QEMU_PID=$!

end=$((SECONDS + TIMEOUT))
while ! grep -aq '^GUEST-RESULT' "$SERIAL" 2>/dev/null; do
	if ! kill -0 "$QEMU_PID" 2>/dev/null; then
		# The guest may have written the line just before powering off.
		grep -aq '^GUEST-RESULT' "$SERIAL" 2>/dev/null && break
		# QEMU states its reason (e.g. a feature the backend lacks) last.
		why=$(grep -v -e '^[[:space:]]*$' -e '^vtd_inv_desc' "$QEMU_LOG" 2>/dev/null | tail -n 1 || true)
		# A guest panic ends QEMU too (-no-reboot): name it.
		panic=$(grep -a -m1 'Kernel panic' "$SERIAL" 2>/dev/null | tr -cd '[:print:]' || true)
		[ -n "$panic" ] && fail "guest ${panic#*] }"
		fail "QEMU exited before the guest reported${why:+: $why}"
	fi
	kill -0 "$TP_PID" 2>/dev/null || fail "testpmd died while the guest ran"
	[ $SECONDS -lt $end ] || fail "no GUEST-RESULT within ${TIMEOUT} s (last guest line: $(tail -n 1 "$SERIAL" 2>/dev/null | tr -cd '[:print:]'))"
	sleep 0.2
done

line=$(grep -a -m1 '^GUEST-RESULT' "$SERIAL" | tr -d '\r')
TX=$(sed -n 's/.*transmitted=\([0-9]*\).*/\1/p' <<<"$line")
RX=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$line")
TX=${TX:-0} RX=${RX:-0}
LOST=100
[ "$TX" -gt 0 ] && LOST=$(awk -v t="$TX" -v r="$RX" 'BEGIN { printf "%.0f", (t - r) * 100 / t }')
DOMAIN=$(tr -d '\r' <"$SERIAL" | sed -n 's/^GUEST-INFO iommu_domain=\([^[:space:]]*\).*/\1/p' | head -1)
echo "guest: $line (iommu_domain=${DOMAIN:-?})"

case $line in *error=*) fail "guest: ${line##*error=}" ;; esac
# A vIOMMU mode whose guest did not translate the NIC would test nothing.
case $IOMMU_MODE:$DOMAIN in
strict*:DMA | lazy*:DMA-FQ | noiommu:none) ;;
*) fail "guest iommu domain '${DOMAIN}' does not match mode $MODE" ;;
esac
# ... nor would an ATS mode whose guest never invalidated the device IOTLB.
DEVINV=$(grep -c 'invalidate desc type device' "$QEMU_LOG" 2>/dev/null || true)
case $IOMMU_MODE in
strict | lazy) [ "${DEVINV:-0}" -gt 0 ] || fail "guest sent no device-IOTLB invalidation: ATS not in use" ;;
*-noats) [ "${DEVINV:-0}" -eq 0 ] || fail "guest sent $DEVINV device-IOTLB invalidations without ATS" ;;
esac
# ... nor would a packed mode that fell back to split rings (or the reverse).
GUEST_RING=$(ring_of_bit "$(guest_packed_bit "$SERIAL")")
BACKEND_RING=$(ring_of_bit "$(backend_packed_bit "$TP_LOG")")
echo "rings: asked $RING, guest driver negotiated $GUEST_RING, backend negotiated $BACKEND_RING"
[ "$GUEST_RING" = "$RING" ] && [ "$BACKEND_RING" = "$RING" ] ||
	fail "asked for $RING rings, guest negotiated $GUEST_RING, backend $BACKEND_RING"
if [ "$TX" -eq 0 ] || [ "$RX" -ne "$TX" ]; then
	fail "lost $((TX - RX)) of $TX pings"
fi
RESULT=0
finish
echo "PASS mode=$MODE lib=$LIBDIR ring=$RING transmitted=$TX received=$RX lost=$LOST% time=$(elapsed)"
