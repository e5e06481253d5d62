# Sourced by the QEMU tests: which virtqueue layout was really negotiated.
# A packed-ring test that silently ran on split rings (a feature dropped by
# QEMU, the backend or the guest driver) would prove nothing, so both ends
# are asked for VIRTIO_F_RING_PACKED (bit 34).

RING_PACKED_BIT=34

# guest_packed_bit SERIAL: bit 34 of the features the guest's virtio driver
# negotiated (its "GUEST-INFO virtio_features=" line, bit 0 first), or "?".
guest_packed_bit() {
	local bits
	bits=$(tr -d '\r' <"$1" 2>/dev/null |
		sed -n 's/^GUEST-INFO virtio_features=\([01]*\).*/\1/p' | tail -n 1 || true)
	echo "${bits:$RING_PACKED_BIT:1}" | sed 's/^$/?/'
}

# backend_packed_bit TESTPMD_LOG: bit 34 of the last feature set the vhost
# library logged as negotiated, or "?". Ours logs "negotiated features
# 0x...", DPDK's "negotiated Virtio features: 0x..." (not its protocol
# features line).
backend_packed_bit() {
	local hex
	hex=$(grep -a -o -E 'negotiated (Virtio )?features:? 0x[0-9a-fA-F]+' "$1" 2>/dev/null |
		tail -n 1 | sed 's/.*0x//' || true)
	if [ -z "$hex" ]; then
		echo "?"
	else
		echo $(((16#$hex >> RING_PACKED_BIT) & 1))
	fi
}

# ring_of_bit 0|1|?: the ring layout a bit value means.
ring_of_bit() {
	case $1 in 1) echo packed ;; 0) echo split ;; *) echo unknown ;; esac
}
