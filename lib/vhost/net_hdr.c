/* SPDX-License-Identifier: BSD-3-Clause */

/* virtio-net header <-> mbuf offload flags. */

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_net.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "net_hdr.h"
#include "vhost_log.h"

void
vhost_net_hdr_from_mbuf(const struct rte_mbuf *m,
			struct virtio_net_hdr_mrg_rxbuf *hdr)
{
	uint64_t ol = m->ol_flags;
	struct virtio_net_hdr *h = &hdr->hdr;

	memset(hdr, 0, sizeof(*hdr));
	if (likely(!(ol & VHOST_NET_HDR_TX_OFFLOADS)))
		return;

	/* virtio has no IPv4 header checksum offload: do it here. */
	if ((ol & RTE_MBUF_F_TX_IP_CKSUM) &&
	    rte_pktmbuf_data_len(m) >= m->l2_len + sizeof(struct rte_ipv4_hdr)) {
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m,
			struct rte_ipv4_hdr *, m->l2_len);
		uint32_t ihl = rte_ipv4_hdr_len(ip);

		/* The sum covers the options too: all of it must be there. */
		if (ihl >= sizeof(*ip) && rte_pktmbuf_data_len(m) >= m->l2_len + ihl) {
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
	}

	switch (ol & RTE_MBUF_F_TX_L4_MASK) {
	case RTE_MBUF_F_TX_TCP_CKSUM:
		h->csum_offset = offsetof(struct rte_tcp_hdr, cksum);
		break;
	case RTE_MBUF_F_TX_UDP_CKSUM:
		h->csum_offset = offsetof(struct rte_udp_hdr, dgram_cksum);
		break;
	case RTE_MBUF_F_TX_SCTP_CKSUM:
		h->csum_offset = offsetof(struct rte_sctp_hdr, cksum);
		break;
	default:
		break;
	}
	if (h->csum_offset != 0 || (ol & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG))) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = m->l2_len + m->l3_len;
	}
	if (ol & RTE_MBUF_F_TX_TCP_SEG) {
		h->csum_offset = offsetof(struct rte_tcp_hdr, cksum);
		h->gso_type = (ol & RTE_MBUF_F_TX_IPV6) ?
			VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = m->tso_segsz;
		h->hdr_len = m->l2_len + m->l3_len + m->l4_len;
	} else if (ol & RTE_MBUF_F_TX_UDP_SEG) {
		h->csum_offset = offsetof(struct rte_udp_hdr, dgram_cksum);
		h->gso_type = VIRTIO_NET_HDR_GSO_UDP;
		h->gso_size = m->tso_segsz;
		h->hdr_len = m->l2_len + m->l3_len + sizeof(struct rte_udp_hdr);
	}
}

/* Compute the checksum the guest left to us and store it in place:
 * used when the requested offset is not a TCP/UDP checksum we can hand
 * on as an offload flag. */
static int
fill_checksum(struct rte_mbuf *m, uint16_t start, uint16_t offset)
{
	uint16_t csum = 0;

	if (rte_raw_cksum_mbuf(m, start, rte_pktmbuf_pkt_len(m) - start, &csum) < 0)
		return -EINVAL;
	csum = ~csum;
	if (csum == 0)
		csum = 0xffff;
	/* The checksum field must be in the first segment to write it. */
	if ((uint32_t)start + offset + sizeof(csum) > rte_pktmbuf_data_len(m)) {
		VHOST_LOG_RATELIMITED(ERR, "virtio-net header: checksum field at %u + %u is not in the first %u bytes of the packet: refused",
			start, offset, rte_pktmbuf_data_len(m));
		return -EINVAL;
	}
	/* The guest picks the offset: it may be odd. */
	memcpy(rte_pktmbuf_mtod_offset(m, void *, start + offset), &csum, sizeof(csum));
	return 0;
}

/* A GSO request the packet cannot carry: refused, the caller drops it. */
static int
bad_gso(const struct virtio_net_hdr *hdr)
{
	VHOST_LOG_RATELIMITED(ERR, "virtio-net header: GSO type %u (size %u) does not match the packet: refused",
		hdr->gso_type, hdr->gso_size);
	return -EINVAL;
}

int
vhost_net_hdr_to_mbuf(const struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		      bool compliant)
{
	struct rte_net_hdr_lens hl = { 0 };
	uint32_t ptype, l4;
	bool csum_is_l4;

	if (likely(hdr->flags == 0 && hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE))
		return 0;

	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* The checksum field must lie inside the packet
		 * (CVE-2024-11614 wrote outside it). */
		if ((uint32_t)hdr->csum_start + hdr->csum_offset + 2 >
		    rte_pktmbuf_pkt_len(m)) {
			/* Guest input on the datapath: rate limited. */
			VHOST_LOG_RATELIMITED(ERR, "virtio-net header: checksum field at %u + %u is outside the %u-byte packet: refused",
				hdr->csum_start, hdr->csum_offset,
				rte_pktmbuf_pkt_len(m));
			return -EINVAL;
		}
	}
	ptype = rte_net_get_ptype(m, &hl, RTE_PTYPE_L2_MASK |
				  RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
	m->packet_type = ptype;
	l4 = ptype & RTE_PTYPE_L4_MASK;
	csum_is_l4 = (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		hdr->csum_start == hl.l2_len + hl.l3_len &&
		((l4 == RTE_PTYPE_L4_TCP &&
		  hdr->csum_offset == offsetof(struct rte_tcp_hdr, cksum)) ||
		 (l4 == RTE_PTYPE_L4_UDP &&
		  hdr->csum_offset == offsetof(struct rte_udp_hdr, dgram_cksum)));

	if ((hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !csum_is_l4) {
		/* Nothing to hand on: finish the checksum ourselves. */
		if (fill_checksum(m, hdr->csum_start, hdr->csum_offset) < 0)
			return -EINVAL;
	}

	if (compliant) {
		if (csum_is_l4)
			m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
		else if (hdr->flags & VIRTIO_NET_HDR_F_DATA_VALID)
			m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
		case VIRTIO_NET_HDR_GSO_TCPV4:
		case VIRTIO_NET_HDR_GSO_TCPV6:
			if (l4 != RTE_PTYPE_L4_TCP || hdr->gso_size == 0)
				return bad_gso(hdr);
			m->ol_flags |= RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
			m->tso_segsz = hdr->gso_size;
			break;
		case VIRTIO_NET_HDR_GSO_UDP:
			/* A UFO datagram may exceed the MTU: say so. */
			if (l4 != RTE_PTYPE_L4_UDP || hdr->gso_size == 0)
				return bad_gso(hdr);
			m->ol_flags |= RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
			m->tso_segsz = hdr->gso_size;
			break;
		default:
			break;
		}
		return 0;
	}

	/* Legacy: describe the offloads as Tx requests, the way DPDK's
	 * applications before 21.11 expect them. */
	m->l2_len = hl.l2_len;
	m->l3_len = hl.l3_len;
	m->l4_len = hl.l4_len;
	if (csum_is_l4) {
		m->ol_flags |= (l4 == RTE_PTYPE_L4_TCP) ?
			RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM;
		m->ol_flags |= RTE_ETH_IS_IPV4_HDR(ptype) ?
			RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
	}
	switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (l4 != RTE_PTYPE_L4_TCP || hdr->gso_size == 0)
			return bad_gso(hdr);
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
		m->tso_segsz = hdr->gso_size;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (l4 != RTE_PTYPE_L4_UDP || hdr->gso_size == 0)
			return bad_gso(hdr);
		m->ol_flags |= RTE_MBUF_F_TX_UDP_SEG;
		m->tso_segsz = hdr->gso_size;
		break;
	default:
		break;
	}
	return 0;
}
