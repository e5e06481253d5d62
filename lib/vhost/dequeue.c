/* SPDX-License-Identifier: BSD-3-Clause */

/* Guest -> host: copy the guest's Tx chains into mbufs. */

#include <rte_arp.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
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

/* Chains walked before their data is copied. */
#define TX_BATCH_PKTS 32

/* A chain of the common shape (one direct descriptor holding header and
 * packet, the packet fits one mbuf) walked in the first pass. */
struct tx_walked {
	struct vhost_seg seg;
	uint32_t used_id;
	int ret;		/* 0, or the walker's refusal */
};

/* Why the first pass ended before its limit. */
enum tx_stop {
	TX_STOP_NONE,
	TX_STOP_SLOW,		/* a chain of another shape: the general path */
	TX_STOP_MISS,		/* an IOTLB miss: the burst ends there */
};

/* Walk the chain at idx (split: head; packed: ring position) if it has
 * the common shape. Returns 0 (walked, or refused by the walker and so
 * counted: w->ret says which), 1 (another shape: nothing done, nothing
 * counted; the general path takes it) or -EAGAIN (IOTLB miss, asked for).
 * A chain the walker refused goes back to the guest in the second pass,
 * whatever happens: it is never walked, or counted, twice. */
static __rte_always_inline int
tx_walk_fast(struct vhost_device *dev, struct vhost_virtqueue *vq,
	     uint16_t idx, uint32_t room, struct tx_walked *w,
	     const bool packed)
{
	const uint16_t ring_bits = VHOST_PACKED_AVAIL | VHOST_PACKED_USED;
	const uint32_t hdr_len = dev->hdr_len;
	struct vhost_chain c;
	uint16_t nsegs = 0, flags, id;
	uint64_t addr;
	uint32_t len;
	int ret;

	if (unlikely(idx >= vq->size))
		return 1;
	/* One snapshot of each field: the guest may rewrite them. */
	if (packed) {
		const volatile struct vring_packed_desc *d = &vq->desc_packed[idx];

		id = d->id;
		flags = d->flags & ~ring_bits;
		addr = d->addr;
		len = d->len;
	} else {
		const volatile struct vring_desc *d = &vq->desc[idx];

		id = idx;
		flags = d->flags;
		addr = d->addr;
		len = d->len;
	}
	/* Too short for the header, or not one mbuf's worth: the general
	 * path logs, drops or chains it. */
	if (flags != 0 || len <= hdr_len || len - hdr_len > room)
		return 1;
	c.id = id;
	c.ndesc = 1;
	ret = vhost_walk_one(dev, vq, idx, addr, len, false, &w->seg, &nsegs, &c);
	if (ret > 0)
		return 1;
	if (ret == -EAGAIN)
		return ret;
	w->used_id = packed ? vhost_packed_used_id(id, 1) : idx;
	w->ret = ret;
	if (likely(ret == 0))
		rte_prefetch0(w->seg.hva);
	return 0;
}

/* The second pass for a walked chain: copy it into m. Returns 0, or
 * -EINVAL if its header is refused (m is then reset, free for the next
 * chain). */
static __rte_always_inline int
tx_copy_fast(const struct vhost_device *dev, const struct tx_walked *w,
	     struct rte_mbuf *m, bool compliant)
{
	const uint8_t *src = w->seg.hva;
	const uint32_t len = w->seg.len - dev->hdr_len;
	struct virtio_net_hdr hdr;

	/* Only the first 10 bytes carry offload requests; num_buffers of a
	 * mergeable header means nothing on Tx. */
	memcpy(&hdr, src, sizeof(hdr));
	rte_memcpy(rte_pktmbuf_mtod(m, void *), src + dev->hdr_len, len);
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	if (unlikely(vhost_net_hdr_apply(&hdr, m, compliant) < 0)) {
		rte_pktmbuf_reset(m);
		return -EINVAL;
	}
	return 0;
}

/* One instantiation per ring layout (packed a constant): only ring
 * access differs.
 *
 * A burst goes in batches of two passes: the first walks up to
 * TX_BATCH_PKTS chains of the common shape and prefetches their data,
 * the second copies them, by then mostly in cache, so the misses on the
 * guest's lines overlap instead of coming one per packet. The second
 * pass cannot fail part-way (the mbufs are allocated, one per chain of
 * that shape, and a refused chain keeps its mbuf for the next one), so
 * every chain the first pass walked is used in this burst. A chain of
 * another shape ends the batch and goes alone through the general
 * walker and build_packet(). */
static __rte_always_inline uint16_t
dequeue_ring(struct vhost_device *dev, struct vhost_virtqueue *vq,
	     struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count,
	     const bool packed)
{
	const bool count_stats = dev->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE;
	const bool compliant = dev->reg_flags & RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS;
	struct vhost_ring_pos pos = { vq->last_avail_idx, vq->avail_wrap };
	/* A packed ring says what is available descriptor by descriptor:
	 * the run of available ones from our position, up to one per mbuf
	 * asked for. A chain takes at least one, so n mbufs hold every
	 * chain available now; chains of several descriptors use up the
	 * run sooner, and the rest is checked again as the burst goes. */
	uint16_t avail = packed ? vhost_packed_avail_run(vq, pos,
					RTE_MIN(count, vq->size)) :
				  vhost_avail_count(dev, vq);
	uint16_t n = RTE_MIN(count, avail);
	/* Packed: descriptors from pos on known available. */
	uint16_t ready = avail;
	uint16_t consumed = 0, nused = 0, received = 0;
	struct vhost_seg segs[VHOST_MAX_PKT_SEGS];
	struct tx_walked w[TX_BATCH_PKTS];
	uint64_t searched = 0;	/* IOTLB hits before the window */
	uint16_t pf_start = 0, pf_end = 0;	/* the chains of the window */
	uint32_t room;

	if (n == 0)
		return 0;
	if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0)
		return 0;	/* pool empty: the chains wait in the ring */
	/* Fresh mbufs of one pool all have this room. */
	room = RTE_MIN(rte_pktmbuf_tailroom(pkts[0]), (uint32_t)VHOST_MAX_PKT_LEN);

	while (consumed < n) {
		uint16_t max = RTE_MIN(n - consumed, TX_BATCH_PKTS);
		struct vhost_ring_pos p = pos;
		enum tx_stop stop = TX_STOP_NONE;
		uint16_t nw = 0;
		uint16_t head;
		struct rte_mbuf *m;
		struct vhost_chain c;
		uint16_t nsegs = 0;
		int ret;

		if (packed) {
			if (ready == 0) {
				ready = vhost_packed_avail_run(vq, pos, n - consumed);
				if (ready == 0)
					break;
			}
			/* A chain of the common shape takes one
			 * descriptor: pass 1 stays in the run. */
			max = RTE_MIN(max, ready);
		} else {
			vhost_prefetch_descs(vq, consumed, max);
		}
		/* Translations: a window of max chains at a time, whichever
		 * pass takes them (a chain of another shape makes a batch
		 * of its own). */
		if (consumed >= pf_end) {
			if (consumed != pf_start)
				vhost_note_iotlb_searches(vq, searched,
							  consumed - pf_start);
			searched = vq->stats.v[VHOST_STAT_IOTLB_HITS];
			pf_start = consumed;
			pf_end = consumed + max;
			vhost_prefetch_translations(dev, vq, consumed, pos, max,
						    packed);
		}
		/* Pass 1: walk chains of the common shape. */
		while (nw < max) {
			ret = tx_walk_fast(dev, vq, packed ? p.idx :
					   vhost_avail_head(vq, consumed + nw),
					   room, &w[nw], packed);
			if (ret != 0) {
				stop = ret > 0 ? TX_STOP_SLOW : TX_STOP_MISS;
				break;
			}
			nw++;
			if (packed)
				vhost_ring_pos_advance(vq, &p, 1);
		}
		if (packed)
			ready -= nw;
		/* Pass 2: copy them; every one is used. */
		for (uint16_t i = 0; i < nw; i++) {
			m = pkts[received];
			consumed++;
			if (packed)
				vhost_ring_pos_advance(vq, &pos, 1);
			vq->shadow_used[nused++] = (struct vhost_used_elem){
				.id = w[i].used_id, .len = 0 };
			if (unlikely(w[i].ret < 0 ||
				     tx_copy_fast(dev, &w[i], m, compliant) < 0)) {
				/* Refused: the guest gets its buffer back, we
				 * drop; m stays for the next chain. */
				vq->stats.v[VHOST_STAT_DROPPED]++;
				continue;
			}
			if (count_stats)
				vhost_stats_count_packet(&vq->stats, m);
			received++;
		}
		if (stop == TX_STOP_MISS) {
			/* Keep the chain (and those after it, for order) in
			 * the ring for a later burst; ask for the buffers
			 * after it too. */
			vhost_walk_ahead_after_miss(dev, vq, consumed, avail,
						    pos.idx, pos.wrap,
						    VHOST_CHAIN_DEVICE_READS, packed);
			break;
		}
		if (stop != TX_STOP_SLOW)
			continue;

		/* Another shape: this one chain through the general walker. */
		m = pkts[received];
		if (packed) {
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
			if (ret == -EAGAIN)
				vhost_walk_ahead_after_miss(dev, vq, consumed, avail,
							    pos.idx, pos.wrap,
							    VHOST_CHAIN_DEVICE_READS,
							    packed);
			break;
		}
		consumed++;
		if (packed) {
			/* The list's other descriptors were made available
			 * before its head, which is in the run. */
			ready -= RTE_MIN(ready, c.ndesc);
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
	if (consumed != pf_start)
		vhost_note_iotlb_searches(vq, searched, consumed - pf_start);
	/* Free what was allocated and not used. */
	for (uint16_t i = received; i < n; i++)
		rte_pktmbuf_free(pkts[i]);	/* NULL is fine */
	if (packed) {
		vq->last_avail_idx = pos.idx;
		vq->avail_wrap = pos.wrap;
		vhost_packed_used_publish_tx(dev, vq, vq->shadow_used, nused);
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
