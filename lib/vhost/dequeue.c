/* SPDX-License-Identifier: BSD-3-Clause */

/* Guest -> host: copy the guest's Tx chains into mbufs. */

#include <rte_arp.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "datapath.h"
#include "desc_chain.h"
#include "net_hdr.h"
#include "vring.h"
#include "vring_packed.h"

static void
free_ext_buf(void *addr, void *opaque)
{
	RTE_SET_USED(opaque);
	rte_free(addr);
}

/* Give m an external buffer big enough for len bytes (EXTBUF_SUPPORT):
 * one linear buffer instead of a segment chain. */
static int
attach_ext_buf(struct rte_mbuf *m, uint32_t len)
{
	struct rte_mbuf_ext_shared_info *shinfo;
	uint16_t buf_len;
	uint32_t total = RTE_PKTMBUF_HEADROOM + len + sizeof(*shinfo) + 8;
	void *buf;

	if (total > UINT16_MAX)
		return -1;
	buf = rte_malloc_socket(NULL, total, RTE_CACHE_LINE_SIZE, rte_socket_id());
	if (buf == NULL)
		return -1;
	buf_len = (uint16_t)total;
	shinfo = rte_pktmbuf_ext_shinfo_init_helper(buf, &buf_len, free_ext_buf, NULL);
	if (shinfo == NULL) {
		rte_free(buf);
		return -1;
	}
	rte_pktmbuf_attach_extbuf(m, buf, rte_malloc_virt2iova(buf), buf_len, shinfo);
	rte_pktmbuf_reset_headroom(m);
	return 0;
}

/* Copy len bytes at the cursor into m, growing it as the registration
 * flags allow: chained segments by default, one external buffer with
 * EXTBUF, nothing beyond one mbuf with LINEARBUF alone. */
static int
copy_to_mbuf(struct vhost_device *dev, struct rte_mempool *pool,
	     struct vhost_seg_cursor *cur, uint32_t len, struct rte_mbuf *m)
{
	struct rte_mbuf *last = m;

	if (len > rte_pktmbuf_tailroom(m)) {
		if (dev->reg_flags & RTE_VHOST_USER_EXTBUF_SUPPORT) {
			if (attach_ext_buf(m, len) < 0)
				return -1;
		} else if (dev->reg_flags & RTE_VHOST_USER_LINEARBUF_SUPPORT) {
			return -1;
		}
	}
	while (len > 0) {
		uint32_t room = rte_pktmbuf_tailroom(last);
		uint32_t n;

		if (room == 0) {
			struct rte_mbuf *next = rte_pktmbuf_alloc(pool);

			if (next == NULL)
				return -1;
			last->next = next;
			last = next;
			m->nb_segs++;
			continue;
		}
		n = RTE_MIN(room, len);
		vhost_cursor_read(cur, rte_pktmbuf_mtod_offset(last, void *,
				  last->data_len), n);
		last->data_len += n;
		m->pkt_len += n;
		len -= n;
	}
	return 0;
}

/* Build one packet from a walked chain. Returns 0, -ENOMEM (no mbuf:
 * leave the chain for later) or -EINVAL (bad packet: drop it). */
static int
build_packet(struct vhost_device *dev, struct rte_mempool *pool,
	     const struct vhost_seg *segs, const struct vhost_chain *c,
	     struct rte_mbuf *m)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vhost_seg_cursor cur;

	if (unlikely(c->len <= dev->hdr_len)) {
		VHOST_LOG_RATELIMITED(ERR, "(%s) chain at head %u (%u bytes) is too short for the %u-byte virtio-net header: dropped",
			dev->ifname, c->head, c->len, dev->hdr_len);
		return -EINVAL;
	}
	if (unlikely(c->len - dev->hdr_len > VHOST_MAX_PKT_LEN)) {
		VHOST_LOG_RATELIMITED(ERR, "(%s) chain at head %u carries a %u-byte packet, more than %u: dropped",
			dev->ifname, c->head, c->len - dev->hdr_len, VHOST_MAX_PKT_LEN);
		return -EINVAL;
	}
	if (likely(c->nsegs == 1 &&
		   c->len - dev->hdr_len <= rte_pktmbuf_tailroom(m))) {
		/* The common shape: header and packet in one buffer, the
		 * packet fits one mbuf. */
		const uint8_t *src = segs[0].hva;
		uint32_t len = c->len - dev->hdr_len;

		memcpy(&hdr, src, dev->hdr_len);
		rte_memcpy(rte_pktmbuf_mtod(m, void *), src + dev->hdr_len, len);
		m->data_len = (uint16_t)len;
		m->pkt_len = len;
	} else {
		vhost_cursor_init(&cur, segs, c->nsegs);
		/* The header may be split over several descriptors
		 * (CVE-2022-2132): read it through the cursor like any
		 * data. */
		vhost_cursor_read(&cur, &hdr, dev->hdr_len);
		if (copy_to_mbuf(dev, pool, &cur, c->len - dev->hdr_len, m) < 0)
			return -ENOMEM;
	}
	return vhost_net_hdr_apply(&hdr.hdr, m,
		dev->reg_flags & RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS);
}

/* A RARP announcing the guest's MAC, so switches learn its new place
 * after a live migration (SEND_RARP). */
static struct rte_mbuf *
make_rarp(struct vhost_device *dev, struct rte_mempool *pool)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	const uint32_t len = RTE_MAX(sizeof(*eth) + sizeof(*arp), (size_t)RTE_ETHER_MIN_LEN - 4);

	if (m == NULL)
		return NULL;
	eth = (struct rte_ether_hdr *)(void *)rte_pktmbuf_append(m, len);
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(eth, 0, len);
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	rte_ether_addr_copy(&dev->rarp_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_RARP);
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REVREQUEST);
	rte_ether_addr_copy(&dev->rarp_mac, &arp->arp_data.arp_sha);
	rte_ether_addr_copy(&dev->rarp_mac, &arp->arp_data.arp_tha);
	return m;
}

/* One instantiation per ring layout (packed a constant): only ring
 * access differs. */
static __rte_always_inline uint16_t
dequeue_ring(struct vhost_device *dev, struct vhost_virtqueue *vq,
	     struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count,
	     const bool packed)
{
	const bool count_stats = dev->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE;
	/* A packed ring says what is available one chain at a time; a
	 * burst takes at most a ring's worth. */
	uint16_t avail = packed ? vq->size : vhost_avail_count(dev, vq);
	uint16_t n = RTE_MIN(count, avail);
	uint16_t consumed = 0, nused = 0, received = 0;
	struct vhost_ring_pos pos = { vq->last_avail_idx, vq->avail_wrap };
	struct vhost_seg segs[VHOST_MAX_PKT_SEGS];

	if (n == 0 || (packed && !vhost_packed_desc_avail(vq, pos)))
		return 0;
	if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0)
		return 0;	/* pool empty: the chains wait in the ring */

	while (consumed < n) {
		uint16_t head;
		struct rte_mbuf *m = pkts[received];
		struct vhost_chain c;
		uint16_t nsegs = 0;
		int ret;

		if (packed) {
			if (consumed != 0 && !vhost_packed_desc_avail(vq, pos))
				break;
			head = pos.idx;
			ret = vhost_walk_chain_packed(dev, vq, head,
					VHOST_CHAIN_DEVICE_READS, segs, &nsegs,
					VHOST_MAX_PKT_SEGS, &c);
		} else {
			head = vhost_avail_head(vq, consumed);
			ret = vhost_walk_chain(dev, vq, head,
					VHOST_CHAIN_DEVICE_READS, segs, &nsegs,
					VHOST_MAX_PKT_SEGS, &c);
		}
		if (likely(ret == 0))
			ret = build_packet(dev, pool, segs, &c, m);
		if (unlikely(ret == -ENOMEM || ret == -EAGAIN)) {
			/* No mbuf, or an IOTLB miss: keep the chain (and
			 * those after it, for order) in the ring for a later
			 * burst. Nothing is lost. */
			rte_pktmbuf_free(m);
			pkts[received] = NULL;
			if (ret == -EAGAIN && !packed)
				vhost_walk_ahead(dev, vq, consumed + 1,
						 avail - consumed - 1,
						 VHOST_CHAIN_DEVICE_READS);
			break;
		}
		consumed++;
		if (packed) {
			vhost_ring_pos_advance(vq, &pos, c.ndesc);
			vq->shadow_used[nused++] = (struct vhost_used_elem){
				.id = vhost_packed_used_id(c.id, c.ndesc), .len = 0 };
		} else {
			vq->shadow_used[nused++] = (struct vhost_used_elem){
				.id = head, .len = 0 };
		}
		if (unlikely(ret < 0)) {
			/* Refused: the guest gets its buffer back, we drop. */
			vq->stats.v[VHOST_STAT_DROPPED]++;
			rte_pktmbuf_free(m);
			pkts[received] = rte_pktmbuf_alloc(pool);
			if (pkts[received] == NULL)
				break;
			continue;
		}
		if (count_stats)
			vhost_stats_count_packet(&vq->stats, m);
		received++;
	}
	/* Free what was allocated and not used. */
	for (uint16_t i = received; i < n; i++)
		rte_pktmbuf_free(pkts[i]);	/* NULL is fine */
	if (packed) {
		vq->last_avail_idx = pos.idx;
		vq->avail_wrap = pos.wrap;
		vhost_packed_used_publish(dev, vq, vq->shadow_used, nused);
	} else {
		vq->last_avail_idx += consumed;
		vhost_used_publish(dev, vq, vq->shadow_used, nused);
	}
	return received;
}

static __rte_noinline uint16_t
dequeue_split(struct vhost_device *dev, struct vhost_virtqueue *vq,
	      struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	return dequeue_ring(dev, vq, pool, pkts, count, false);
}

static __rte_noinline uint16_t
dequeue_packed(struct vhost_device *dev, struct vhost_virtqueue *vq,
	       struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	return dequeue_ring(dev, vq, pool, pkts, count, true);
}

uint16_t
rte_vhost_dequeue_burst(int vid, uint16_t queue_id,
			struct rte_mempool *mbuf_pool, struct rte_mbuf **pkts,
			uint16_t count)
{
	struct vhost_device *dev;
	struct vhost_virtqueue *vq = vhost_burst_begin(vid, queue_id, true, &dev);
	uint16_t rx = 0;

	if (unlikely(vq == NULL || count == 0 || mbuf_pool == NULL)) {
		if (vq != NULL)
			vhost_burst_end(dev, vq);
		return 0;
	}
	/* A pending RARP goes first, once. */
	if (unlikely(__atomic_load_n(&dev->broadcast_rarp, __ATOMIC_ACQUIRE))) {
		int16_t one = 1;

		if (__atomic_compare_exchange_n(&dev->broadcast_rarp, &one, 0,
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			pkts[0] = make_rarp(dev, mbuf_pool);
			if (pkts[0] != NULL)
				rx = 1;
		}
	}
	/* The one branch on the ring layout, per burst. */
	if (vhost_packed(dev))
		rx += dequeue_packed(dev, vq, mbuf_pool, pkts + rx, count - rx);
	else
		rx += dequeue_split(dev, vq, mbuf_pool, pkts + rx, count - rx);
	vhost_burst_end(dev, vq);
	return rx;
}
