#!/bin/bash
# Build (or reuse) the busybox initramfs for the QEMU vhost-user guest test.
#
# Usage: build_initramfs.sh OUTDIR
#
# Writes into OUTDIR:
#   initramfs.cpio.gz  busybox + the virtio-net modules of the host's kernel
#                      + an /init that pings 10.0.0.1 and prints GUEST-RESULT
#   vmlinuz            path of the matching kernel (one line), for run_ping.sh
#   stamp              what the cached image was built from
# and prints the initramfs path on stdout (everything else goes to stderr).
set -euo pipefail

die() { echo "build_initramfs: $*" >&2; exit 1; }
log() { echo "build_initramfs: $*" >&2; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUTDIR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# --- packages -----------------------------------------------------------
# Install only what is missing, and refresh the apt lists only if an install
# from the current lists fails (a fresh machine may have none or stale ones).
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# The dynamic "busybox" package would need its libraries in the image.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
	need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v gzip >/dev/null || need+=(gzip)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
if [ ${#need[@]} -gt 0 ]; then
	log "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# --no-install-recommends: no GUI/firmware extras; busybox-static
	# satisfies initramfs-tools' busybox need.
	if ! apt-get install -y -q --no-install-recommends "${need[@]}" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "${need[@]}" >&2
	fi
fi

# --- kernel -------------------------------------------------------------
# Newest /boot kernel that has its modules installed.
KVER=
for k in $(printf '%s\n' /boot/vmlinuz-* | sort -V -r); do
	v=${k#/boot/vmlinuz-}
	if [ -f "/lib/modules/$v/modules.dep" ]; then KVER=$v; break; fi
done
[ -n "$KVER" ] || die "no /boot/vmlinuz-* with /lib/modules/<ver>/modules.dep"
VMLINUZ=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
BUSYBOX=/bin/busybox
# ldd prints "=>" lines only for a dynamic binary.
if ldd "$BUSYBOX" 2>/dev/null | grep -q '=>'; then die "$BUSYBOX is not static"; fi

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
IMG=$OUTDIR/initramfs.cpio.gz
# The stamp covers the kernel, busybox and this script (which holds /init),
# so any of them changing rebuilds the image.
STAMP="kver=$KVER vmlinuz=$(stat -c %Y-%s "$VMLINUZ")"
STAMP+=" busybox=$(stat -c %Y-%s "$BUSYBOX") script=$(md5sum <"$HERE/build_initramfs.sh" | cut -c1-32)"
if [ -f "$IMG" ] && [ -f "$OUTDIR/stamp" ] && [ "$(cat "$OUTDIR/stamp")" = "$STAMP" ]; then
	log "cached $IMG ($KVER)"
	echo "$VMLINUZ" >"$OUTDIR/vmlinuz"
	echo "$IMG"
	exit 0
fi

# --- modules ------------------------------------------------------------
# Resolve virtio_pci and virtio_net with their dependencies from
# modules.dep, dependencies first (the order insmod needs). With the Debian
# 6.1 kernel this gives virtio_ring, virtio, virtio_pci_legacy_dev,
# virtio_pci_modern_dev, virtio_pci, failover, net_failover, virtio_net.
declare -A DEPS=() SEEN=()
ORDER=()
while IFS= read -r line; do
	mod=${line%%:*}
	DEPS[$mod]=${line#*:}
done <"$MODDIR/modules.dep"

modpath() { # NAME -> relative path in modules.dep, empty if built in
	local n
	for n in "${!DEPS[@]}"; do
		case ${n##*/} in
		"$1".ko | "$1".ko.xz | "$1".ko.zst | "$1".ko.gz) echo "$n"; return ;;
		esac
	done
}
visit() {
	local m=$1 d
	[ -n "${SEEN[$m]:-}" ] && return
	SEEN[$m]=1
	# modules.dep lists a module's full dependency closure; recursing
	# still puts every dependency before its users.
	for d in ${DEPS[$m]}; do visit "$d"; done
	ORDER+=("$m")
}
for want in virtio_pci virtio_net; do
	p=$(modpath "$want")
	if [ -z "$p" ]; then
		grep -qE "/$want\.ko$" "$MODDIR/modules.builtin" ||
			die "module $want not found for $KVER"
		log "$want is built into $KVER"
		continue
	fi
	visit "$p"
done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/qg-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,etc,proc,sys,dev,tmp,lib/modules}
cp "$BUSYBOX" "$STAGE/bin/busybox"
# Applet links made here, so /init does not depend on --install.
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$STAGE/bin/$a"
done
: >"$STAGE/etc/modules.order"
for m in "${ORDER[@]}"; do
	name=$(basename "$m")
	base=${name%%.ko*}
	# insmod (busybox) takes plain ELF: decompress what Debian compressed.
	case $name in
	*.ko.xz) xz -dc "$MODDIR/$m" >"$STAGE/lib/modules/$base.ko" ;;
	*.ko.zst) zstd -q -dc "$MODDIR/$m" >"$STAGE/lib/modules/$base.ko" ;;
	*.ko.gz) gzip -dc "$MODDIR/$m" >"$STAGE/lib/modules/$base.ko" ;;
	*.ko) cp "$MODDIR/$m" "$STAGE/lib/modules/$base.ko" ;;
	esac
	echo "$base" >>"$STAGE/etc/modules.order"
done
log "modules ($KVER): $(tr '\n' ' ' <"$STAGE/etc/modules.order")"

cat >"$STAGE/init" <<'EOF'
#!/bin/sh
# Guest side of the vhost-user ping test: bring up the virtio NIC, ping
# testpmd's icmpecho at 10.0.0.1, print one GUEST-RESULT line, power off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "GUEST-INFO kernel $(uname -r) cmdline: $(cat /proc/cmdline)"

count=20
workload=ping
for arg in $(cat /proc/cmdline); do
	case $arg in
	pingcount=*) count=${arg#pingcount=} ;;
	workload=*) workload=${arg#workload=} ;;
	esac
done

finish() { # TX RX [REASON]: the one line the host side parses
	echo "GUEST-RESULT transmitted=$1 received=$2${3:+ error=$3}"
	sync
	poweroff -f
}

for m in $(cat /etc/modules.order); do
	insmod /lib/modules/$m.ko || echo "GUEST-INFO insmod $m failed"
done

# The feature bits the virtio driver negotiated with the device, bit 0
# first ("1" or "0" each): the host side reads VIRTIO_F_RING_PACKED (34)
# from it to prove which ring layout the guest really uses.
print_features() {
	echo "GUEST-INFO virtio_features=$(cat /sys/class/net/eth0/device/features 2>/dev/null)"
}

# workload=migrate: the live-migration test's guest. Ping the host side
# and rewrite memory until QEMU is killed; one GUEST-HB line per round
# tells the host that the guest runs, its pings are answered and the
# data it rewrites is still intact (md5 of the sources and the copy).
migrate_workload() {
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	ip link set lo up
	if [ -e /sys/class/net/eth0 ]; then
		print_features
		ip link set eth0 up
		ip addr add 10.0.0.2/24 dev eth0
		ping -i 0.2 10.0.0.1 >/tmp/ping.out 2>&1 &
	else
		echo "GUEST-INFO no eth0: no pings"
	fi
	grep -i -e kernel -e 'System RAM' /proc/iomem | sed 's/^/GUEST-INFO iomem /'
	# Two 8 MiB random patterns, copied in turn over one 8 MiB file.
	head -c 8388608 /dev/urandom >/tmp/a
	head -c 8388608 /dev/urandom >/tmp/b
	suma=$(md5sum </tmp/a)
	sumb=$(md5sum </tmp/b)
	cp /tmp/a /tmp/x
	echo "GUEST-READY"
	n=0
	while :; do
		n=$((n + 1))
		data=ok
		for s in a b; do
			dd if=/tmp/$s of=/tmp/x bs=65536 conv=notrunc 2>/dev/null
			eval want=\$sum$s
			[ "$(md5sum </tmp/x)" = "$want" ] || data=bad-copy-$s
		done
		[ "$(md5sum </tmp/a)" = "$suma" ] || data=bad-a
		[ "$(md5sum </tmp/b)" = "$sumb" ] || data=bad-b
		replies=$(grep -c 'bytes from' /tmp/ping.out 2>/dev/null)
		echo "GUEST-HB n=$n replies=${replies:-0} data=$data"
	done
}
[ "$workload" = migrate ] && migrate_workload

# The NIC appears once virtio_net probed it (asynchronously).
i=0
while [ ! -e /sys/class/net/eth0 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && finish 0 0 no-eth0
	sleep 0.1
done
# Record how the NIC is translated: "DMA" = strict, "DMA-FQ" = lazy,
# no group = no vIOMMU.
grp=/sys/class/net/eth0/device/iommu_group
[ -e /sys/class/net/eth0/device/iommu_group ] ||
	grp=/sys/class/net/eth0/device/../iommu_group
if [ -e $grp/type ]; then
	echo "GUEST-INFO iommu_domain=$(cat $grp/type)"
else
	echo "GUEST-INFO iommu_domain=none"
fi
print_features

ip link set lo up
ip link set eth0 up || finish 0 0 link-up-failed
ip addr add 10.0.0.2/24 dev eth0
# workload=hotplug: the memory hot-plug test plugs DIMMs while the pings
# run, for as long as that takes: it boots the guest with a count it
# never reaches and stops QEMU itself. GUEST-HB lines say how many pings
# were answered (distinct sequence numbers) and the highest one answered:
# the pings below it that got no answer were lost.
if [ "$workload" = hotplug ]; then
	(
		while :; do
			sleep 2
			seqs=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' /tmp/ping.out 2>/dev/null | sort -un)
			echo "GUEST-HB replies=$(echo "$seqs" | grep -c .) maxseq=$(echo "$seqs" | tail -n 1)"
		done
	) &
fi
# ARP is left dynamic on purpose: icmpecho answers it, so the first
# exchange goes through the same vhost path as the pings.
ping -c "$count" -i 0.2 -W 1 10.0.0.1 >/tmp/ping.out 2>&1
cat /tmp/ping.out
ip neigh show dev eth0 | sed 's/^/GUEST-INFO neigh /'
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping.out)
rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.out)
finish "${tx:-0}" "${rx:-0}" $([ -n "$tx" ] || echo no-ping-summary)
EOF
chmod 755 "$STAGE/init"

(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) >"$IMG.tmp"
mv "$IMG.tmp" "$IMG"
echo "$STAMP" >"$OUTDIR/stamp"
echo "$VMLINUZ" >"$OUTDIR/vmlinuz"
log "built $IMG ($(du -k "$IMG" | cut -f1) KiB, kernel $KVER)"
echo "$IMG"
