#!/bin/bash
# Live-migrate a QEMU guest (virtio-net over vhost-user) between two QEMUs,
# each on its own Debian dpdk-testpmd (icmpecho) whose vhost PMD runs on
# the librte_vhost.so.23 in LIBDIR, COUNT times in a chain (A -> B -> A' ...).
# The guest pings the host side and rewrites 8 MiB of memory throughout.
# After each migration, while the destination is still paused, the source's
# and the destination's guest RAM are compared page by page (both are
# memory-backend-file on /dev/shm); then the destination continues and must
# show the guest alive: a new heartbeat with intact data and new ping replies.
#
# Usage: run_migration.sh LIBDIR MODE [COUNT]
#   MODE plain    no vIOMMU
#        viommu   intel-iommu with device-iotlb, NIC behind a PCIe root port
#                 (ATS), guest iommu.strict=1; the backend logs guest-physical
#                 pages it translated from IOVAs
#        plain-packed, viommu-packed: the same with packed virtqueues
#                 (virtio-net-pci packed=on); the guest driver and every
#                 backend (source and each destination) must have
#                 negotiated VIRTIO_F_RING_PACKED, the split modes must not
#   COUNT         migrations (default 3)
# Environment (optional):
#   QM_NIC=vhost     vhost: vhost-user NIC on testpmd; user: QEMU's own
#                    virtio-net on a user-mode (slirp) netdev; none: no NIC
#                    (the last two are controls without a vhost-user device)
#   QM_TCG_THREAD=   single: -accel tcg,thread=single (default: QEMU's choice,
#                    multi-threaded TCG)
#   QM_TRACE=1       the backend records every guest write (our library only:
#                    VHOST_WRITE_TRACE, lib/vhost/write_trace.h); differing
#                    pages are matched against it, and a migration fails if
#                    the source backend wrote a page unlogged while LOG_ALL
#                    was on, wrote a ring after its GET_VRING_BASE, or the
#                    paused destination's backend wrote anything. 0: off
#   QM_RAM_KIB=524280  guest RAM. The default, 512 MiB - 8 KiB, keeps QEMU
#                    7.2 off its TCG dirty-bitmap bug (doc/live-migration.md);
#                    524288 (512 MiB) shows the bug: pages differ with or
#                    without a vhost-user device
#   QM_TCG_RETRIES=2 migrations that may be repeated because QEMU's TCG lost
#                    guest-CPU writes: every differing page is one the
#                    source backend never wrote (by its trace, which must
#                    be clean) and that holds no frame of the guest's NIC.
#                    Such a migration proves nothing about the backend; it
#                    is reported as result=QEMU_TCG and one more is run.
#                    More than this many in one run fail it. Needs QM_TRACE.
#   QM_CACHE=DIR     initramfs cache (default /var/tmp/vhost-qemu-guest)
#   QM_KEEP=1        keep the work directory even if all passed
#   QM_LCORES=0,1    testpmd lcores
# Output: one "MIGRATION i/COUNT ..." line per migration with the number of
# differing pages, then "SUMMARY ...". Exits 0 only if COUNT migrations
# completed with 0 differing pages and the guest lived on, and no other
# failed (QEMU_TCG ones aside, within QM_TCG_RETRIES).
set -euo pipefail

die() { echo "run_migration: $*" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: $0 LIBDIR plain|viommu[-packed] [COUNT]"
LIBDIR=$(cd "$1" && pwd) || die "no such LIBDIR: $1"
MODE=$2
COUNT=${3:-3}
# IOMMU_MODE is MODE without its ring suffix; RING the layout asked for.
IOMMU_MODE=${MODE%-packed}
RING="split"
[ "$IOMMU_MODE" = "$MODE" ] || RING=packed
case $IOMMU_MODE in plain | viommu) ;; *) die "bad MODE: $MODE" ;; esac
[[ $COUNT =~ ^[0-9]+$ ]] && [ "$COUNT" -gt 0 ] || die "bad COUNT: $COUNT"
TCG_RETRIES=${QM_TCG_RETRIES:-2}
[[ $TCG_RETRIES =~ ^[0-9]+$ ]] || die "bad QM_TCG_RETRIES: $TCG_RETRIES"
[ -e "$LIBDIR/librte_vhost.so.23" ] || die "$LIBDIR has no librte_vhost.so.23"
NIC_KIND=${QM_NIC:-vhost}
case $NIC_KIND in vhost | user | none) ;; *) die "bad QM_NIC: $NIC_KIND" ;; esac
case ${QM_TCG_THREAD:-} in "" | single | multi) ;; *) die "bad QM_TCG_THREAD" ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=app/test/integration/qemu_guest/ring_witness.sh
. "$HERE/../qemu_guest/ring_witness.sh"
# qg_stop: signal one of our own children, escalate to KILL.
# shellcheck source=app/test/integration/qemu_guest/qg_common.sh
. "$HERE/../qemu_guest/qg_common.sh"
CACHE=${QM_CACHE:-/var/tmp/vhost-qemu-guest}
LCORES=${QM_LCORES:-0,1}
# Not a multiple of 256 KiB: see QM_RAM_KIB above.
RAM_KIB=${QM_RAM_KIB:-524280}
QMP=$HERE/qmp.py
INITRD=$("$HERE/../qemu_guest/build_initramfs.sh" "$CACHE")
VMLINUZ=$(cat "$CACHE/vmlinuz")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qemu_migration.$MODE.XXXXXX")
TAG=qm$$
T0=$SECONDS
elapsed() { echo "$((SECONDS - T0))s"; }
log() { echo "[$(elapsed)] $*"; }

# Instances: a QEMU and (with a vhost NIC) its own testpmd. Per instance N:
# QPID[N], TPID[N], and files $WORK/N.* plus the RAM file /dev/shm/$TAG.N.
declare -A QPID=() TPID=()
NEXT=0
ALL_OK=1

stop_instance() { # N: QEMU first (a clean vhost-user disconnect), then testpmd
	local n=$1
	qg_stop "${QPID[$n]:-}" TERM 3
	QPID[$n]=
	qg_stop "${TPID[$n]:-}" INT 5
	TPID[$n]=
	rm -f /dev/hugepages/"$TAG-$n"map_* 2>/dev/null || true
	rm -rf /var/run/dpdk/"$TAG-$n" 2>/dev/null || true
	rm -f "/dev/shm/$TAG.$n" "$WORK/$n.sock" "$WORK/$n.qmp" "$WORK/$n.mig"
}
cleanup() {
	for n in "${!QPID[@]}"; do stop_instance "$n"; done
	if [ "$ALL_OK" -eq 1 ] && [ -z "${QM_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "logs kept in $WORK"
	fi
}
trap cleanup EXIT
trap 'echo "FAIL reason: interrupted"; exit 130' INT TERM

# --- building blocks ---------------------------------------------------------
start_testpmd() { # N
	local n=$1 vdev="net_vhost0,iface=$WORK/$1.sock,queues=1" end
	[ "$IOMMU_MODE" = viommu ] && vdev+=",iommu-support=1"
	local trace=()
	[ "${QM_TRACE:-1}" = 0 ] || trace=(VHOST_WRITE_TRACE="$WORK/$n.trace")
	env LD_LIBRARY_PATH="$LIBDIR" "${trace[@]}" stdbuf -oL -eL dpdk-testpmd \
		-l "$LCORES" --file-prefix "$TAG-$n" --no-pci -m 256 \
		--vdev "$vdev" -- \
		--forward-mode=icmpecho --total-num-mbufs=4096 --stats-period 10 \
		</dev/null >"$WORK/$n.testpmd.log" 2>&1 &
	TPID[$n]=$!
	end=$((SECONDS + 180))
	until [ -S "$WORK/$n.sock" ]; do
		kill -0 "${TPID[$n]}" 2>/dev/null || return 1
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
	# Prove which library the vhost PMD really uses.
	local mapped
	mapped=$(awk '$6 ~ /librte_vhost\.so\.23/ { print $6 }' "/proc/${TPID[$n]}/maps" | sort -u)
	[ "$(readlink -f "$mapped" 2>/dev/null)" = "$(readlink -f "$LIBDIR/librte_vhost.so.23")" ] || {
		echo "testpmd $n mapped '$mapped', not $LIBDIR"
		return 1
	}
}

start_qemu() { # N [incoming]
	local n=$1 incoming=${2:-} nic=() iommu=() accel=() append end
	append="console=ttyS0 panic=-1 no_timer_check workload=migrate"
	local dev=virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02,romfile=,disable-legacy=on
	case $NIC_KIND in
	vhost)
		# vectors=0: QEMU 7.2 TCG crashes setting up MSI-X for vhost-user.
		dev+=,vectors=0
		nic=(-chardev "socket,id=chr0,path=$WORK/$n.sock"
			-netdev vhost-user,id=net0,chardev=chr0)
		;;
	user) nic=(-netdev "user,id=net0,net=10.0.0.0/24,host=10.0.0.1,dhcpstart=10.0.0.9") ;;
	esac
	# QEMU's default is packed=off: split rings.
	[ "$RING" = split ] || dev+=,packed=on
	if [ "$IOMMU_MODE" = viommu ]; then
		dev+=,iommu_platform=on,ats=on,bus=rp0
		iommu=(-device intel-iommu,intremap=on,device-iotlb=on
			-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1)
		append+=" intel_iommu=on iommu.strict=1"
	fi
	[ "$NIC_KIND" = none ] || nic+=(-device "$dev")
	# sata=off: with a vIOMMU the destination fails to load q35's AHCI
	# state (its post-load maps the firmware's FIS buffer, which the
	# guest's IOMMU domain for the unused controller does not map).
	if [ -n "${QM_TCG_THREAD:-}" ]; then
		accel=(-machine q35,sata=off -accel "tcg,thread=$QM_TCG_THREAD")
	else
		accel=(-machine q35,accel=tcg,sata=off)
	fi
	[ -n "$incoming" ] && incoming="-incoming unix:$WORK/$n.mig -S"
	rm -f "/dev/shm/$TAG.$n"
	# shellcheck disable=SC2086 # $incoming is two words or none
	qemu-system-x86_64 "${accel[@]}" -cpu max -smp 1 -m "${RAM_KIB}K" \
		-object "memory-backend-file,id=mem0,size=${RAM_KIB}K,mem-path=/dev/shm/$TAG.$n,share=on" \
		-numa node,memdev=mem0 \
		"${iommu[@]}" "${nic[@]}" \
		-kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
		-nographic -monitor none -serial "file:$WORK/$n.serial" -no-reboot \
		-qmp "unix:$WORK/$n.qmp,server=on,wait=off" $incoming \
		</dev/null >"$WORK/$n.qemu.log" 2>&1 &
	QPID[$n]=$!
	end=$((SECONDS + 180))
	until [ -S "$WORK/$n.qmp" ]; do
		kill -0 "${QPID[$n]}" 2>/dev/null || return 1
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

new_instance() { # [incoming] -> sets INST
	INST=$NEXT
	NEXT=$((NEXT + 1))
	if [ "$NIC_KIND" = vhost ]; then
		start_testpmd "$INST" || { echo "testpmd $INST did not start:"; tail -n 20 "$WORK/$INST.testpmd.log"; return 1; }
	fi
	start_qemu "$INST" "$@" || { echo "QEMU $INST did not start:"; tail -n 20 "$WORK/$INST.qemu.log"; return 1; }
}

hb_count() { grep -ac '^GUEST-HB' "$WORK/$1.serial" 2>/dev/null || true; }
last_replies() {
	grep -a '^GUEST-HB' "$WORK/$1.serial" 2>/dev/null | tail -n 1 |
		sed -n 's/.*replies=\([0-9]*\).*/\1/p'
}
guest_trouble() { # N: kernel trouble or bad data on the guest's console
	grep -a -m1 -E 'BUG:|Oops|Kernel panic|Bad page|general protection|segfault|data=bad' \
		"$WORK/$1.serial" 2>/dev/null | tr -cd '[:print:]' || true
}

# wait_hb N MIN_COUNT MIN_REPLIES SECONDS: a heartbeat number MIN_COUNT
# (counted on this instance's console) with replies >= MIN_REPLIES.
wait_hb() {
	local n=$1 want=$2 replies=$3 end=$((SECONDS + $4)) c r
	while :; do
		c=$(hb_count "$n")
		r=$(last_replies "$n")
		if [ "${c:-0}" -ge "$want" ] && [ "${r:-0}" -ge "$replies" ]; then
			return 0
		fi
		[ -z "$(guest_trouble "$n")" ] || return 1
		kill -0 "${QPID[$n]}" 2>/dev/null || return 1
		[ $SECONDS -lt $end ] || return 1
		sleep 0.5
	done
}

qmp() { "$QMP" "$WORK/$1.qmp" "${@:2}"; }

# ring_mismatch N [guest]: why instance N's backend (and with "guest" the
# guest's virtio driver, which prints its features once at boot) did not
# negotiate the ring layout asked for; nothing if they did. A destination
# negotiates anew when it starts the device after cont.
ring_mismatch() {
	local n=$1 r
	if [ "${2:-}" = guest ] && [ "$NIC_KIND" != none ]; then
		r=$(ring_of_bit "$(guest_packed_bit "$WORK/$n.serial")")
		[ "$r" = "$RING" ] || echo "guest driver negotiated $r rings, not $RING"
	fi
	if [ "$NIC_KIND" = vhost ]; then
		r=$(ring_of_bit "$(backend_packed_bit "$WORK/$n.testpmd.log")")
		[ "$r" = "$RING" ] || echo "backend $n negotiated $r rings, not $RING"
	fi
}

# --- the chain ---------------------------------------------------------------
boot() { # a fresh guest in a new instance: sets CUR
	new_instance || return 1
	CUR=$INST
	log "boot: instance $CUR (pid ${QPID[$CUR]})"
	wait_hb "$CUR" 1 0 900 || { echo "boot: no heartbeat: $(tail -n 3 "$WORK/$CUR.serial" | tr -cd '[:print:]\n')"; return 1; }
	local why
	why=$(ring_mismatch "$CUR" guest)
	[ -z "$why" ] || { echo "boot: $why"; return 1; }
	log "boot: $RING rings negotiated"
}

# migrate_once I: CUR -> a new instance; prints the MIGRATION line.
migrate_once() {
	local i=$1 src=$CUR dst st status="" pages="?" alive=no why="" end c0 r0 want_r tinfo=""
	new_instance incoming || { echo "MIGRATION $i/$COUNT mode=$MODE nic=$NIC_KIND result=FAIL reason: destination did not start"; return 1; }
	dst=$INST
	# Let the guest run a little more on the source: one more heartbeat,
	# and with a NIC pings answered.
	c0=$(hb_count "$src")
	want_r=0
	[ "$NIC_KIND" = none ] || want_r=$(($(last_replies "$src") + 1))
	wait_hb "$src" $((c0 + 1)) "$want_r" 600 ||
		why="source guest not running before migration: $(guest_trouble "$src")"
	if [ -z "$why" ]; then
		qmp "$src" migrate-set-parameters '{"max-bandwidth": 10737418240}' >/dev/null
		qmp "$src" migrate "{\"uri\": \"unix:$WORK/$dst.mig\"}" >/dev/null
		end=$((SECONDS + 600))
		while :; do
			st=$(qmp "$src" query-migrate | jq -r '.status // "none"')
			case $st in completed | failed | cancelled) break ;; esac
			[ $SECONDS -lt $end ] || { st="timeout($st)"; break; }
			sleep 0.5
		done
		[ "$st" = completed ] || why="migration $st: $(qmp "$src" query-migrate | jq -c '."error-desc" // empty')"
	fi
	if [ -z "$why" ]; then
		qmp "$src" query-migrate | jq -c '{"total-time", downtime, "ram-transferred": .ram.transferred, "dirty-sync-count": .ram["dirty-sync-count"]}' \
			>"$WORK/$i.migrate.json"
		end=$((SECONDS + 180))
		while status=$(qmp "$dst" query-status | jq -r .status) && [ "$status" = inmigrate ]; do
			[ $SECONDS -lt $end ] || break
			sleep 0.2
		done
		[ "$status" = paused ] || why="destination status $status after migration"
	fi
	if [ -z "$why" ]; then
		# Both are paused now: the source after completion, the
		# destination by -S. Nothing may write guest RAM on either.
		local tr=()
		[ -e "$WORK/$src.trace" ] && tr=(--trace "$WORK/$src.trace")
		"$HERE/ramcmp.py" "/dev/shm/$TAG.$src" "/dev/shm/$TAG.$dst" "${tr[@]}" >"$WORK/$i.ramcmp" || true
		pages=$(sed -n 's/^differing_pages=//p' "$WORK/$i.ramcmp")
		pages=${pages:-?}
		# With QM_TRACE: what the source backend wrote, and whether the
		# paused destination's backend wrote anything before cont.
		tinfo=$(sed -n 's/^trace: //p' "$WORK/$i.ramcmp")
		[ -e "$WORK/$dst.trace" ] &&
			tinfo+=" dst_writes_before_cont=$(grep -c ' W ' "$WORK/$dst.trace" || true)"
		grep '^page gpa' "$WORK/$i.ramcmp" | head -n 12 | sed "s/^/  migration $i: /"
		r0=$(last_replies "$src")
		qmp "$dst" cont >/dev/null
		want_r=0
		[ "$NIC_KIND" = none ] || want_r=$((${r0:-0} + 2))
		# A heartbeat printed on the destination after cont, with new
		# ping replies: the guest runs and its NIC works there.
		if wait_hb "$dst" 1 "$want_r" 600; then
			alive=yes
			why=$(ring_mismatch "$dst")
		else
			why="guest after cont: $(guest_trouble "$dst") last line: $(tail -n 1 "$WORK/$dst.serial" 2>/dev/null | tr -cd '[:print:]')"
		fi
	fi
	local res=PASS clean=0
	[ "$pages" = 0 ] && [ "$alive" = yes ] && [ -z "$why" ] || res=FAIL
	# The backend's own record must show no write that escaped the log.
	local v
	for v in unlogged_with_log_all writes_after_get_vring_base dst_writes_before_cont; do
		case " $tinfo " in
		*" $v=0 "*) clean=$((clean + 1)) ;;
		*" $v="*)
			res=FAIL
			why+="${why:+; }backend trace: $tinfo"
			break
			;;
		esac
	done
	# Pages lost by QEMU's TCG dirty tracking (doc/live-migration.md):
	# they differ although the backend never wrote them, by a clean
	# trace. The guest may then crash on the destination; that too is
	# QEMU's doing, so the migration says nothing about the backend.
	local not_backend
	not_backend=$(sed -n 's/^pages_not_backend=//p' "$WORK/$i.ramcmp" 2>/dev/null)
	if [ "$res" = FAIL ] && [ "$clean" = 3 ] && [ "$pages" != 0 ] &&
		[ "$pages" = "$not_backend" ] && [[ -z $why || $why == "guest after cont:"* ]]; then
		res=QEMU_TCG
		why="QEMU TCG lost guest-CPU writes to $pages page(s) the backend never wrote${why:+; then $why}"
	fi
	echo "$res" >"$WORK/$i.result"
	echo "MIGRATION $i/$COUNT mode=$MODE nic=$NIC_KIND ring=$RING lib=$LIBDIR result=$res differing_pages=$pages guest_alive=$alive${tinfo:+ $tinfo} $(cat "$WORK/$i.migrate.json" 2>/dev/null) time=$(elapsed)${why:+ reason: $why}"
	stop_instance "$src"
	unset "QPID[$src]"
	CUR=$dst
	if [ "$res" != PASS ]; then
		[ "$res" = QEMU_TCG ] || ALL_OK=0
		# Keep the evidence of this hop; the next one starts from a
		# fresh guest.
		cp "$WORK/$dst.serial" "$WORK/$i.dst.serial" 2>/dev/null || true
		stop_instance "$dst"
		unset "QPID[$dst]"
		CUR=
	fi
}

log "mode=$MODE nic=$NIC_KIND ring=$RING tcg_thread=${QM_TCG_THREAD:-default} lib=$LIBDIR count=$COUNT work=$WORK"
if ! boot; then
	ALL_OK=0
	echo "SUMMARY mode=$MODE nic=$NIC_KIND migrations=0/$COUNT result=FAIL reason: first boot failed"
	exit 1
fi
# COUNT migrations that count (PASS or FAIL); QEMU_TCG ones are repeated.
i=0 counted=0 tcg_lost=0
while [ "$counted" -lt "$COUNT" ]; do
	if [ -z "$CUR" ] && ! boot; then
		ALL_OK=0
		break
	fi
	i=$((i + 1))
	migrate_once "$i" || { ALL_OK=0; break; }
	if [ "$(cat "$WORK/$i.result" 2>/dev/null)" = QEMU_TCG ]; then
		tcg_lost=$((tcg_lost + 1))
		[ "$tcg_lost" -le "$TCG_RETRIES" ] || { ALL_OK=0; break; }
	else
		counted=$((counted + 1))
	fi
done
# Figures over the migrations that count; QEMU_TCG ones on their own.
done_n=0 bad_n=0 total=0 tcg_pages=0
for f in "$WORK"/*.result; do
	[ -e "$f" ] || continue
	p=$(sed -n 's/^differing_pages=//p' "${f%.result}.ramcmp" 2>/dev/null)
	if [ "$(cat "$f")" = QEMU_TCG ]; then
		tcg_pages=$((tcg_pages + ${p:-0}))
		continue
	fi
	[ -n "$p" ] || continue
	done_n=$((done_n + 1))
	[ "$p" = 0 ] || bad_n=$((bad_n + 1))
	total=$((total + p))
done
res=PASS
[ "$ALL_OK" -eq 1 ] || res=FAIL
echo "SUMMARY mode=$MODE nic=$NIC_KIND ring=$RING tcg_thread=${QM_TCG_THREAD:-default} lib=$LIBDIR migrations_compared=$done_n/$COUNT with_differing_pages=$bad_n pages_total=$total qemu_tcg_repeated=$tcg_lost qemu_tcg_pages=$tcg_pages result=$res time=$(elapsed)"
[ "$res" = PASS ]
