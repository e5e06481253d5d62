/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_NET_HDR_H
#define VHOST_NET_HDR_H

/* The virtio-net header in front of every packet, and its offload
 * fields (checksum, segmentation) to and from mbuf ol_flags. */

#include <stdbool.h>
#include <string.h>
#include <linux/virtio_net.h>

#include <rte_mbuf.h>

/* Fill hdr for a packet going to the guest (num_buffers excluded). */
void vhost_net_hdr_from_mbuf(const struct rte_mbuf *m,
			     struct virtio_net_hdr_mrg_rxbuf *hdr);

/* Offloads a packet to the guest may ask for in its header. */
#define VHOST_NET_HDR_TX_OFFLOADS (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | \
	RTE_MBUF_F_TX_UDP_SEG | RTE_MBUF_F_TX_IP_CKSUM)

/* vhost_net_hdr_from_mbuf() with the common case, no offload, inline. */
static __rte_always_inline void
vhost_net_hdr_build(const struct rte_mbuf *m,
		    struct virtio_net_hdr_mrg_rxbuf *hdr)
{
	if (likely(!(m->ol_flags & VHOST_NET_HDR_TX_OFFLOADS)))
		memset(hdr, 0, sizeof(*hdr));
	else
		vhost_net_hdr_from_mbuf(m, hdr);
}

/* Apply the header of a packet from the guest to its mbuf. compliant
 * selects the Rx flags of RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS over
 * DPDK's legacy Tx flags. Returns -EINVAL if the header describes
 * offsets outside the packet: the packet must be dropped. */
int vhost_net_hdr_to_mbuf(const struct virtio_net_hdr *hdr,
			  struct rte_mbuf *m, bool compliant);

/* vhost_net_hdr_to_mbuf() with the common case, a header asking
 * nothing, inline. */
static __rte_always_inline int
vhost_net_hdr_apply(const struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		    bool compliant)
{
	if (likely(hdr->flags == 0 && hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE))
		return 0;
	return vhost_net_hdr_to_mbuf(hdr, m, compliant);
}

#endif /* VHOST_NET_HDR_H */
