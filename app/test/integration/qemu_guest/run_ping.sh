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

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=app/test/integration/qemu_guest/qg_common.sh
. "$HERE/qg_common.sh"
# shellcheck source=app/test/integration/qemu_guest/ring_witness.sh
. "$HERE/ring_witness.sh"
[ $# -eq 2 ] || qg_die "usage: $0 LIBDIR noiommu|strict|lazy|strict-noats|lazy-noats[-packed]"
qg_libdir "$1"
MODE=$2
# IOMMU_MODE is MODE without its ring suffix; RING the layout asked for.
IOMMU_MODE=${MODE%-packed}
RING="split"
[ "$IOMMU_MODE" = "$MODE" ] || RING=packed
case $IOMMU_MODE in noiommu | strict | lazy | strict-noats | lazy-noats) ;; *) qg_die "bad MODE: $MODE" ;; esac

PINGS=${QG_PINGS:-20}
TIMEOUT=${QG_TIMEOUT:-90}
qg_setup "qemu_guest.$MODE" "qg$$$MODE"
trap 'echo "FAIL mode=$MODE reason: interrupted"; exit 130' INT TERM

elapsed() { echo "$((SECONDS - T0))s"; }

# finish: stop QEMU and testpmd now, so testpmd prints its final counters.
finish() {
	qg_stop_all
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
	qg_log_tails
	exit 1
}

# --- testpmd ------------------------------------------------------------
VDEV="net_vhost0,iface=$SOCK,queues=1"
[ "$IOMMU_MODE" = noiommu ] || VDEV+=",iommu-support=1"
# shellcheck disable=SC2086 # QG_EAL_ARGS: several words
qg_start_testpmd "$VDEV" ${QG_EAL_ARGS:-}

# --- QEMU -----------------------------------------------------------------
# vectors=0: QEMU 7.2 TCG crashes setting up MSI-X for vhost-user.
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
qg_start_qemu 512M "$NIC" "$APPEND" "${IOMMU[@]}"

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

qg_guest_result
DOMAIN=$(tr -d '\r' <"$SERIAL" | sed -n 's/^GUEST-INFO iommu_domain=\([^[:space:]]*\).*/\1/p' | head -1)
echo "guest: $LINE (iommu_domain=${DOMAIN:-?})"

case $LINE in *error=*) fail "guest: ${LINE##*error=}" ;; esac
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
