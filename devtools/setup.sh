#!/bin/bash
# Prepare a Debian 12 machine (as root) to build and test this project:
# packages, hugepages, then a build in ./build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

# The vhost and virtio PMDs and the ring mempool are only Recommends of
# dpdk: name them so the tests never run without them.
packages=(dpdk dpdk-dev libdpdk-dev libnuma-dev libcunit1-dev meson ninja-build
	pkg-config gcc clang libclang-rt-14-dev python3 python3-pyelftools gnuplot-nox
	librte-net-vhost23 librte-net-virtio23 librte-mempool-ring23)

# Only touch apt when something is missing: apt-get update is slow and
# needs the network.
missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	apt-get update -q
	apt-get install -y -q "${missing[@]}"
fi

# Two testpmd processes with bounded -m fit easily in 4 GiB of 2 MB pages.
want_pages=2048
if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want_pages" ]; then
	echo "$want_pages" > /proc/sys/vm/nr_hugepages
fi
got=$(cat /proc/sys/vm/nr_hugepages)
if [ "$got" -lt "$want_pages" ]; then
	echo "setup: warning: only $got hugepages could be reserved" >&2
fi
if ! mountpoint -q /dev/hugepages; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs nodev /dev/hugepages
fi

if [ ! -f build/build.ninja ]; then
	meson setup build
fi
ninja -C build
