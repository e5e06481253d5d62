/* SPDX-License-Identifier: BSD-3-Clause */

/* virtio-net header <-> mbuf offloads (net_hdr.c). Packets are real
 * mbufs from a mempool, so EAL runs (without hugepages or PCI). */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "net_hdr.h"
#include "test_eal.h"
#include "unit_common.h"

#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define TCP_LEN 20
#define UDP_LEN 8
#define ICMP_LEN 8
#define TAIL_FILL 0xcd		/* bytes past the packet must keep it */

static struct rte_mempool *pool;
static struct rte_mbuf *m;

enum l4 { L4_TCP, L4_UDP, L4_ICMP, L4_OTHER };

static uint16_t
l4_len(enum l4 l4)
{
	return l4 == L4_TCP ? TCP_LEN : l4 == L4_UDP ? UDP_LEN : ICMP_LEN;
}

/* Ethernet / IPv4 or IPv6 / TCP, UDP, ICMP or protocol 253 / payload,
 * in one segment; the rest of the buffer is filled with TAIL_FILL. */
static struct rte_mbuf *
build(bool v6, enum l4 l4, uint16_t payload)
{
	static const uint8_t proto[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 253 };
	struct rte_mbuf *p = rte_pktmbuf_alloc(pool);
	uint16_t l3 = v6 ? IP6_LEN : IP4_LEN;
	uint16_t len = ETH_LEN + l3 + l4_len(l4) + payload;
	struct rte_ether_hdr *eth;
	uint8_t *l4h;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(rte_pktmbuf_mtod(p, uint8_t *), TAIL_FILL, rte_pktmbuf_tailroom(p));
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(p, len);
	if (eth == NULL) {
		/* Explicit return: the compiler cannot tell that a fatal
		 * assertion does not come back. */
		rte_pktmbuf_free(p);
		CU_FAIL_FATAL("packet does not fit an mbuf");
		return NULL;
	}
	memset(eth, 0, len);
	memset(&eth->dst_addr, 0x02, sizeof(eth->dst_addr));
	memset(&eth->src_addr, 0x04, sizeof(eth->src_addr));
	if (v6) {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16(len - ETH_LEN - IP6_LEN);
		ip->proto = proto[l4];
		ip->hop_limits = 64;
		ip->src_addr[15] = 1;
		ip->dst_addr[15] = 2;
		l4h = (uint8_t *)(ip + 1);
	} else {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16(len - ETH_LEN);
		ip->time_to_live = 64;
		ip->next_proto_id = proto[l4];
		ip->src_addr = rte_cpu_to_be_32(0x0a000001);
		ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
		l4h = (uint8_t *)(ip + 1);
	}
	if (l4 == L4_TCP) {
		struct rte_tcp_hdr *t = (struct rte_tcp_hdr *)l4h;

		t->src_port = rte_cpu_to_be_16(1234);
		t->dst_port = rte_cpu_to_be_16(80);
		t->data_off = (TCP_LEN / 4) << 4;
		t->tcp_flags = RTE_TCP_ACK_FLAG;
	} else if (l4 == L4_UDP) {
		struct rte_udp_hdr *u = (struct rte_udp_hdr *)l4h;

		u->src_port = rte_cpu_to_be_16(1234);
		u->dst_port = rte_cpu_to_be_16(53);
		u->dgram_len = rte_cpu_to_be_16(UDP_LEN + payload);
	} else {
		l4h[0] = 8;	/* ICMP echo request (and filler otherwise) */
	}
	for (uint16_t i = 0; i < payload; i++)
		l4h[l4_len(l4) + i] = (uint8_t)(i * 13 + 7);
	return p;
}

static void
setup(void)
{
	m = NULL;
}

static void
teardown(void)
{
	rte_pktmbuf_free(m);
	m = NULL;
}

/* Nothing was written past the end of the packet. */
static void
check_tail(const struct rte_mbuf *p)
{
	const uint8_t *b = rte_pktmbuf_mtod(p, const uint8_t *);

	for (uint32_t i = rte_pktmbuf_data_len(p);
	     i < (uint32_t)rte_pktmbuf_data_len(p) + rte_pktmbuf_tailroom(p); i++) {
		if (b[i] != TAIL_FILL) {
			CU_FAIL("write past the end of the packet");
			return;
		}
	}
}

/* ---- host -> guest: mbuf Tx offload flags -> virtio-net header ---- */

static void
from_mbuf(uint64_t ol, uint16_t l3, uint16_t tso, struct virtio_net_hdr_mrg_rxbuf *h)
{
	m->ol_flags = ol;
	m->l2_len = ETH_LEN;
	m->l3_len = l3;
	m->l4_len = TCP_LEN;
	m->tso_segsz = tso;
	memset(h, 0xff, sizeof(*h));	/* everything must be written */
	vhost_net_hdr_from_mbuf(m, h);
}

/* h asks for the checksum at start + offset (L4 checksum offload, and
 * with every segmentation offload). */
static void
expect_csum(const struct virtio_net_hdr_mrg_rxbuf *h, uint16_t start,
	    uint16_t offset)
{
	CU_ASSERT_EQUAL(h->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CU_ASSERT_EQUAL(h->hdr.csum_start, start);
	CU_ASSERT_EQUAL(h->hdr.csum_offset, offset);
}

/* h's segmentation fields: GSO type, segment size, headers' length. */
static void
expect_gso(const struct virtio_net_hdr_mrg_rxbuf *h, uint8_t type,
	   uint16_t size, uint16_t hdr_len)
{
	CU_ASSERT_EQUAL(h->hdr.gso_type, type);
	CU_ASSERT_EQUAL(h->hdr.gso_size, size);
	CU_ASSERT_EQUAL(h->hdr.hdr_len, hdr_len);
}

static void
test_from_mbuf_none(void)
{
	struct virtio_net_hdr_mrg_rxbuf h, zero;

	memset(&zero, 0, sizeof(zero));
	m = build(false, L4_TCP, 100);
	from_mbuf(0, IP4_LEN, 0, &h);
	CU_ASSERT_EQUAL(memcmp(&h, &zero, sizeof(h)), 0);
	/* Flags that ask for nothing virtio can carry. */
	from_mbuf(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_VLAN, IP4_LEN, 0, &h);
	CU_ASSERT_EQUAL(memcmp(&h, &zero, sizeof(h)), 0);
}

static void
test_from_mbuf_csum(void)
{
	struct virtio_net_hdr_mrg_rxbuf h;

	m = build(false, L4_TCP, 100);
	from_mbuf(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, IP4_LEN, 0, &h);
	expect_csum(&h, ETH_LEN + IP4_LEN, offsetof(struct rte_tcp_hdr, cksum));
	expect_gso(&h, VIRTIO_NET_HDR_GSO_NONE, 0, 0);
	CU_ASSERT_EQUAL(h.num_buffers, 0);
	rte_pktmbuf_free(m);

	m = build(false, L4_UDP, 100);
	from_mbuf(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM, IP4_LEN, 0, &h);
	expect_csum(&h, ETH_LEN + IP4_LEN,
		    offsetof(struct rte_udp_hdr, dgram_cksum));
	CU_ASSERT_EQUAL(h.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	rte_pktmbuf_free(m);

	m = build(true, L4_TCP, 100);
	from_mbuf(RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM, IP6_LEN, 0, &h);
	expect_csum(&h, ETH_LEN + IP6_LEN, offsetof(struct rte_tcp_hdr, cksum));
	rte_pktmbuf_free(m);

	m = build(true, L4_UDP, 100);
	from_mbuf(RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM, IP6_LEN, 0, &h);
	expect_csum(&h, ETH_LEN + IP6_LEN,
		    offsetof(struct rte_udp_hdr, dgram_cksum));
}

/* IPv4 header checksum has no virtio offload: done in software. */
static void
test_from_mbuf_ip_cksum(void)
{
	struct virtio_net_hdr_mrg_rxbuf h;
	struct rte_ipv4_hdr *ip, copy;

	m = build(false, L4_TCP, 100);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, ETH_LEN);
	ip->hdr_checksum = rte_cpu_to_be_16(0x1234);	/* garbage */
	from_mbuf(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM, IP4_LEN, 0, &h);
	CU_ASSERT_EQUAL(h.hdr.flags, 0);
	CU_ASSERT_EQUAL(h.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	copy = *ip;
	copy.hdr_checksum = 0;
	CU_ASSERT_NOT_EQUAL(ip->hdr_checksum, 0x1234);
	CU_ASSERT_EQUAL(ip->hdr_checksum, rte_ipv4_cksum(&copy));
}

static void
test_from_mbuf_tso(void)
{
	struct virtio_net_hdr_mrg_rxbuf h;

	m = build(false, L4_TCP, 1000);
	from_mbuf(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG |
		  RTE_MBUF_F_TX_TCP_CKSUM, IP4_LEN, 1448, &h);
	expect_csum(&h, ETH_LEN + IP4_LEN, offsetof(struct rte_tcp_hdr, cksum));
	expect_gso(&h, VIRTIO_NET_HDR_GSO_TCPV4, 1448, ETH_LEN + IP4_LEN + TCP_LEN);
	rte_pktmbuf_free(m);

	/* TSO alone implies the TCP checksum. */
	m = build(true, L4_TCP, 1000);
	from_mbuf(RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_SEG, IP6_LEN, 1428, &h);
	expect_csum(&h, ETH_LEN + IP6_LEN, offsetof(struct rte_tcp_hdr, cksum));
	expect_gso(&h, VIRTIO_NET_HDR_GSO_TCPV6, 1428, ETH_LEN + IP6_LEN + TCP_LEN);
	rte_pktmbuf_free(m);

	m = build(false, L4_UDP, 1000);
	from_mbuf(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_SEG, IP4_LEN, 500, &h);
	expect_csum(&h, ETH_LEN + IP4_LEN,
		    offsetof(struct rte_udp_hdr, dgram_cksum));
	expect_gso(&h, VIRTIO_NET_HDR_GSO_UDP, 500,
		   ETH_LEN + IP4_LEN + sizeof(struct rte_udp_hdr));
}

/* ---- guest -> host: virtio-net header -> mbuf ---- */

static struct virtio_net_hdr
csum_hdr(uint16_t start, uint16_t offset)
{
	return (struct virtio_net_hdr){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.csum_start = start, .csum_offset = offset,
	};
}

/* Build a fresh packet and apply hdr; the packet bytes must not change
 * unless the library had to finish a checksum itself. */
static int
to_mbuf(bool v6, enum l4 l4, uint16_t payload, const struct virtio_net_hdr *h,
	bool compliant, bool expect_unchanged)
{
	uint8_t before[2048];
	int ret;

	rte_pktmbuf_free(m);
	m = build(v6, l4, payload);
	memcpy(before, rte_pktmbuf_mtod(m, void *), rte_pktmbuf_data_len(m));
	ret = vhost_net_hdr_to_mbuf(h, m, compliant);
	if (expect_unchanged)
		CU_ASSERT_EQUAL(memcmp(before, rte_pktmbuf_mtod(m, void *),
				       rte_pktmbuf_data_len(m)), 0);
	check_tail(m);
	return ret;
}

#define TX_CSUM_FLAGS (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)

static void
test_to_mbuf_no_offload(void)
{
	struct virtio_net_hdr h = { 0 };

	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 100, &h, true, true), 0);
	CU_ASSERT_EQUAL(m->ol_flags, 0);
	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 100, &h, false, true), 0);
	CU_ASSERT_EQUAL(m->ol_flags, 0);
}

static void
test_to_mbuf_l4_csum(void)
{
	struct virtio_net_hdr h = csum_hdr(ETH_LEN + IP4_LEN, offsetof(struct rte_tcp_hdr, cksum));

	/* Compliant: an Rx packet whose L4 checksum was not computed. */
	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 100, &h, true, true), 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_NONE);
	CU_ASSERT_EQUAL(m->ol_flags & TX_CSUM_FLAGS, 0);
	CU_ASSERT_EQUAL(m->packet_type & RTE_PTYPE_L4_MASK, RTE_PTYPE_L4_TCP);

	/* Legacy: a Tx checksum request, with the header lengths. */
	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 100, &h, false, true), 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_TX_IPV4) != 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0);
	CU_ASSERT_EQUAL(m->l2_len, ETH_LEN);
	CU_ASSERT_EQUAL(m->l3_len, IP4_LEN);
	CU_ASSERT_EQUAL(m->l4_len, TCP_LEN);

	h = csum_hdr(ETH_LEN + IP6_LEN, offsetof(struct rte_udp_hdr, dgram_cksum));
	CU_ASSERT_EQUAL(to_mbuf(true, L4_UDP, 100, &h, true, true), 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_NONE);
	CU_ASSERT_EQUAL(to_mbuf(true, L4_UDP, 100, &h, false, true), 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_UDP_CKSUM);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_TX_IPV6) != 0);
	CU_ASSERT_EQUAL(m->l3_len, IP6_LEN);
}

static void
test_to_mbuf_gso(void)
{
	struct virtio_net_hdr h = csum_hdr(ETH_LEN + IP4_LEN, offsetof(struct rte_tcp_hdr, cksum));

	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = ETH_LEN + IP4_LEN + TCP_LEN;
	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 1500, &h, true, true), 0);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_RX_LRO) != 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_NONE);
	CU_ASSERT_EQUAL(m->tso_segsz, 1448);
	CU_ASSERT_EQUAL(m->ol_flags & TX_CSUM_FLAGS, 0);

	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 1500, &h, false, true), 0);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_LRO, 0);
	CU_ASSERT_EQUAL(m->tso_segsz, 1448);
	CU_ASSERT_EQUAL(m->l4_len, TCP_LEN);

	h = csum_hdr(ETH_LEN + IP6_LEN, offsetof(struct rte_tcp_hdr, cksum));
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN;
	h.gso_size = 1400;
	CU_ASSERT_EQUAL(to_mbuf(true, L4_TCP, 1500, &h, true, true), 0);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_RX_LRO) != 0);
	CU_ASSERT_EQUAL(m->tso_segsz, 1400);
}

/* UFO (HOST_UFO is offered): legacy asks for UDP segmentation; the
 * compliant flags describe it as an LRO packet, as DPDK 22.11 does,
 * so the application knows it is larger than the MTU. */
static void
test_to_mbuf_gso_udp(void)
{
	struct virtio_net_hdr h = csum_hdr(ETH_LEN + IP4_LEN,
					   offsetof(struct rte_udp_hdr, dgram_cksum));

	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	h.gso_size = 1472;
	CU_ASSERT_EQUAL(to_mbuf(false, L4_UDP, 1800, &h, false, true), 0);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_TX_UDP_SEG) != 0);
	CU_ASSERT_EQUAL(m->tso_segsz, 1472);

	CU_ASSERT_EQUAL(to_mbuf(false, L4_UDP, 1800, &h, true, true), 0);
	CU_ASSERT((m->ol_flags & RTE_MBUF_F_RX_LRO) != 0);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_NONE);
	CU_ASSERT_EQUAL(m->tso_segsz, 1472);
}

/* CVE-2024-11614 class: the checksum field the guest points at must be
 * inside the packet; otherwise drop, and write nothing anywhere. */
static void
test_to_mbuf_csum_out_of_packet(void)
{
	const uint16_t pkt = ETH_LEN + IP4_LEN + TCP_LEN + 10;
	struct virtio_net_hdr h;

	for (int compliant = 0; compliant < 2; compliant++) {
		h = csum_hdr(pkt - 1, 0);		/* field's 2nd byte outside */
		CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 10, &h, compliant, true), -EINVAL);
		h = csum_hdr(pkt, 0);
		CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 10, &h, compliant, true), -EINVAL);
		h = csum_hdr(ETH_LEN + IP4_LEN, pkt);	/* offset alone outside */
		CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 10, &h, compliant, true), -EINVAL);
		h = csum_hdr(UINT16_MAX, UINT16_MAX);	/* far beyond, no wrap */
		CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 10, &h, compliant, true), -EINVAL);
		h = csum_hdr(200, 16);	/* past the packet, inside the buffer */
		CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 10, &h, compliant, true), -EINVAL);

		/* The last two bytes of the packet are a valid place. */
		h = csum_hdr(ETH_LEN + IP4_LEN, TCP_LEN + 10 - 2);
		CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 10, &h, compliant, false), 0);
	}
}

/* Sum of the 16-bit words of [off, end): 0xffff iff the checksum in it
 * is right (no pseudo-header for ICMP or unknown protocols). */
static uint16_t
sum_from(const struct rte_mbuf *p, uint16_t off)
{
	return rte_raw_cksum(rte_pktmbuf_mtod_offset(p, const void *, off),
			     rte_pktmbuf_data_len(p) - off);
}

/* A checksum that is not a TCP/UDP one cannot be handed on as an
 * offload flag: the library computes it. */
static void
test_to_mbuf_sw_csum(void)
{
	const uint16_t l4 = ETH_LEN + IP4_LEN;
	struct virtio_net_hdr h = csum_hdr(l4, offsetof(struct rte_icmp_hdr, icmp_cksum));

	for (int compliant = 0; compliant < 2; compliant++) {
		CU_ASSERT_EQUAL(to_mbuf(false, L4_ICMP, 57, &h, compliant, false), 0);
		CU_ASSERT_EQUAL(sum_from(m, l4), 0xffff);
		CU_ASSERT_NOT_EQUAL(*rte_pktmbuf_mtod_offset(m, uint16_t *, l4 + 2), 0);
		CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0);
		CU_ASSERT_EQUAL(m->ol_flags & TX_CSUM_FLAGS, 0);
	}

	/* Unknown protocol, checksum at an arbitrary offset. */
	h = csum_hdr(ETH_LEN + IP6_LEN, 6);
	CU_ASSERT_EQUAL(to_mbuf(true, L4_OTHER, 100, &h, true, false), 0);
	CU_ASSERT_EQUAL(sum_from(m, ETH_LEN + IP6_LEN), 0xffff);

	/* TCP, but not at the TCP checksum: software too, no flag. */
	h = csum_hdr(l4, 4);
	CU_ASSERT_EQUAL(to_mbuf(false, L4_TCP, 100, &h, true, false), 0);
	CU_ASSERT_EQUAL(sum_from(m, l4), 0xffff);
	CU_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0);
}

/* Checksum field in the second segment of a chained mbuf: either done
 * right across the segments or refused, never written at the first
 * segment's address plus the offset (past its data). */
static void
test_to_mbuf_sw_csum_second_segment(void)
{
	const uint16_t l4 = ETH_LEN + IP4_LEN, first = 40;
	struct virtio_net_hdr h = csum_hdr(l4, 20);	/* byte 54 of 102 */
	struct rte_mbuf *m2;
	uint16_t rest;
	uint16_t sum = 0;
	int ret;

	m = build(false, L4_OTHER, 60);
	m2 = rte_pktmbuf_alloc(pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
	memset(rte_pktmbuf_mtod(m2, uint8_t *), TAIL_FILL, rte_pktmbuf_tailroom(m2));
	rest = rte_pktmbuf_data_len(m) - first;
	memcpy(rte_pktmbuf_append(m2, rest),
	       rte_pktmbuf_mtod_offset(m, void *, first), rest);
	/* Cut the first segment back to 40 bytes, refilling its tail. */
	memset(rte_pktmbuf_mtod_offset(m, uint8_t *, first), TAIL_FILL, rest);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_trim(m, rest), 0);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_chain(m, m2), 0);

	ret = vhost_net_hdr_to_mbuf(&h, m, true);
	CU_ASSERT(ret == 0 || ret == -EINVAL);
	check_tail(m);
	check_tail(m2);
	if (ret == 0) {
		CU_ASSERT_EQUAL(rte_raw_cksum_mbuf(m, l4, rte_pktmbuf_pkt_len(m) - l4, &sum), 0);
		CU_ASSERT_EQUAL(sum, 0xffff);
	}
}

static CU_TestInfo tests[] = {
	{ "from mbuf: no offload", test_from_mbuf_none },
	{ "from mbuf: TCP/UDP checksum, IPv4/IPv6", test_from_mbuf_csum },
	{ "from mbuf: IPv4 header checksum", test_from_mbuf_ip_cksum },
	{ "from mbuf: TSO/UFO", test_from_mbuf_tso },
	{ "to mbuf: no offload", test_to_mbuf_no_offload },
	{ "to mbuf: L4 checksum, compliant and legacy", test_to_mbuf_l4_csum },
	{ "to mbuf: GSO", test_to_mbuf_gso },
	{ "to mbuf: GSO UDP", test_to_mbuf_gso_udp },
	{ "to mbuf: checksum outside the packet", test_to_mbuf_csum_out_of_packet },
	{ "to mbuf: software checksum", test_to_mbuf_sw_csum },
	{ "to mbuf: software checksum, 2nd segment", test_to_mbuf_sw_csum_second_segment },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "net_hdr", NULL, NULL, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret;

	if (test_eal_init_unit(argv[0], "ut-net-hdr-") < 0)
		return 1;
	pool = rte_pktmbuf_pool_create("ut_net_hdr", 64, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "mempool: %s\n", rte_strerror(rte_errno));
		test_eal_cleanup();
		return 1;
	}
	/* argv is CUnit's (suite, test); EAL had its own. */
	ret = test_run(suites, argc, argv);
	rte_mempool_free(pool);
	test_eal_cleanup();
	return ret;
}
