/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_NET_HDR_H
#define VHOST_NET_HDR_H

/* The virtio-net header in front of every packet, and its offload
 * fields (checksum, segmentation) to and from mbuf ol_flags. */

#include <stdbool.h>
#include <linux/virtio_net.h>

#include <rte_mbuf.h>

/* Fill hdr for a packet going to the guest (num_buffers excluded). */
void vhost_net_hdr_from_mbuf(const struct rte_mbuf *m,
			     struct virtio_net_hdr_mrg_rxbuf *hdr);

/* Apply the header of a packet from the guest to its mbuf. compliant
 * selects the Rx flags of RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS over
 * DPDK's legacy Tx flags. Returns -EINVAL if the header describes
 * offsets outside the packet: the packet must be dropped. */
int vhost_net_hdr_to_mbuf(const struct virtio_net_hdr *hdr,
			  struct rte_mbuf *m, bool compliant);

#endif /* VHOST_NET_HDR_H */
