/* SPDX-License-Identifier: BSD-3-Clause */

/* Host -> guest: copy mbufs into the guest's Rx buffers.
 *
 * A burst goes in batches of two passes. The first walks the chains of
 * up to RX_BATCH_PKTS packets (the one walker: vhost_walk_chain) and
 * prefetches each packet's first buffer line; the second writes headers
 * and copies data, by then mostly in cache. The guest's cache lines are
 * precious: the receiving core of the guest pays for every line we take
 * from it, so the virtio-net header is written only where it differs
 * from what the buffer already holds (a recycled buffer usually holds
 * the same header). */

#include <string.h>

#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_vhost.h>

#include "desc_chain.h"
#include "dirty_log.h"
#include "enqueue.h"
#include "iotlb_miss.h"
#include "net_hdr.h"
#include "vring.h"
#include "vring_packed.h"
#include "write_trace.h"

/* Packets walked before their data is copied. */
#define RX_BATCH_PKTS 32
/* Room for a whole packet of the largest shape after the batch's
 * others: a batch ends once less than that is left. */
#define RX_BATCH_SEGS (2 * VHOST_MAX_PKT_SEGS)
#define RX_BATCH_CHAINS (2 * VHOST_MAX_MRG_CHAINS)

/* One packet of a batch: its pieces and chains in the batch arrays, and
 * the used element of its first chain (the others follow it). */
struct rx_pkt {
	uint16_t seg_first;
	uint16_t nsegs;
	uint16_t chain_first;
	uint16_t nchains;
	uint16_t used_first;
};

struct rx_batch {
	struct vhost_seg segs[RX_BATCH_SEGS];
	struct vhost_chain chains[RX_BATCH_CHAINS];
	struct rx_pkt pkt[RX_BATCH_PKTS];
	uint16_t nsegs;
	uint16_t nchains;
	uint16_t npkts;
};

/* Where the ring is in this burst: avail entries taken, used elements
 * recorded in vq->shadow_used. */
struct rx_cursor {
	uint16_t avail;		/* split: new avail entries at the start */
	uint16_t consumed;
	uint16_t nused;
	bool missed;		/* an IOTLB miss stopped the burst */
	bool mergeable;		/* VIRTIO_NET_F_MRG_RXBUF, read once */
	struct vhost_ring_pos pos;	/* packed: the next descriptor */
};

/* Dirty logging and the write trace, read once per burst: the control
 * path changes neither while a burst is in the ring. */
struct rx_track {
	bool logging;
	bool any;		/* logging or the write trace */
};

/* One burst on one ring: what its passes share. It points to the
 * burst's locals rather than holding them, and every function taking it
 * is inlined: the compiler sees through it, and the cursor stays in
 * registers as before. */
struct rx_burst {
	struct vhost_device *dev;
	struct vhost_virtqueue *vq;
	struct rx_cursor *rc;
	struct rx_batch *b;
	const struct rx_track *track;
};

/* Ring access, the only part that differs between the layouts: each
 * burst runs one instantiation of the code below, packed a constant. */

/* Is there another chain to take? A packed burst takes at most a ring's
 * worth, whatever the guest keeps flipping. */
static __rte_always_inline bool
ring_more(const struct vhost_virtqueue *vq, const struct rx_cursor *rc,
	  const bool packed)
{
	if (packed)
		return rc->consumed < vq->size &&
		       vhost_packed_desc_avail(vq, rc->pos);
	return rc->consumed < rc->avail;
}

/* Walk the next chain; the cursor moves past it unless the walk missed
 * the IOTLB. *used_id is what its used element carries. */
static __rte_always_inline int
ring_take(const struct rx_burst *x, uint16_t *nsegs, uint16_t max_segs,
	  struct vhost_chain *c, uint32_t *used_id, const bool packed)
{
	struct vhost_device *dev = x->dev;
	struct vhost_virtqueue *vq = x->vq;
	struct rx_cursor *rc = x->rc;
	struct vhost_seg *segs = x->b->segs;
	int ret;

	if (packed) {
		ret = vhost_walk_chain_packed(dev, vq, rc->pos.idx,
					      VHOST_CHAIN_DEVICE_WRITES, segs,
					      nsegs, max_segs, c);
		if (unlikely(ret == -EAGAIN))
			return ret;
		vhost_ring_pos_advance(vq, &rc->pos, c->ndesc);
		*used_id = vhost_packed_used_id(c->id, c->ndesc);
	} else {
		uint16_t head = vhost_avail_head(vq, rc->consumed);

		ret = vhost_walk_chain(dev, vq, head, VHOST_CHAIN_DEVICE_WRITES,
				       segs, nsegs, max_segs, c);
		if (unlikely(ret == -EAGAIN))
			return ret;
		*used_id = head;
	}
	rc->consumed++;
	return ret;
}

/* Ask for a line we are about to write in exclusive state: a read
 * prefetch would fetch it shared, and the store would then need a second
 * transaction to take it from the guest's core. GCC emits PREFETCHW for
 * __builtin_prefetch(p, 1) only with -mprfchw, which the baseline
 * (-march=corei7) lacks; CPUs without it execute it as a no-op. */
static __rte_always_inline void
prefetch_for_write(const void *p)
{
#ifdef RTE_ARCH_X86
	asm volatile("prefetchw %0" : : "m" (*(const volatile char *)p));
#else
	rte_prefetch0_write(p);
#endif
}

static __rte_always_inline bool
batch_full(const struct rx_batch *b)
{
	return b->npkts == RX_BATCH_PKTS ||
	       b->nsegs > RX_BATCH_SEGS - VHOST_MAX_PKT_SEGS ||
	       b->nchains > RX_BATCH_CHAINS - VHOST_MAX_MRG_CHAINS;
}

/* Reserve guest buffers for need bytes at the cursor and add them to
 * the batch as one packet. Chains the walker refuses are returned to the
 * guest unused (length 0). Returns false if the ring has not enough
 * buffers (or an IOTLB miss stopped the walk): the cursor and batch are
 * then as before this packet, but for refused chains met before its
 * first buffer, which stay returned. */
static __rte_always_inline bool
reserve_packet(const struct rx_burst *x, uint32_t need, const bool packed)
{
	struct vhost_device *dev = x->dev;
	struct vhost_virtqueue *vq = x->vq;
	struct rx_cursor *rc = x->rc;
	struct rx_batch *b = x->b;
	const bool mergeable = rc->mergeable;
	struct rx_pkt *p = &b->pkt[b->npkts];
	struct rx_cursor start = *rc;
	uint64_t capacity = 0;
	uint16_t refused_inside = 0;

	p->seg_first = b->nsegs;
	p->chain_first = b->nchains;
	p->nchains = 0;
	while (capacity < need) {
		struct vhost_chain *c = &b->chains[b->nchains + p->nchains];
		uint16_t nsegs = b->nsegs;
		uint32_t id;
		int ret;

		if (!ring_more(vq, rc, packed) ||
		    p->nchains == VHOST_MAX_MRG_CHAINS ||
		    (!mergeable && p->nchains == 1))
			goto no_room;
		ret = ring_take(x, &nsegs, p->seg_first + VHOST_MAX_PKT_SEGS,
				c, &id, packed);
		if (unlikely(ret == -EAGAIN)) {
			rc->missed = true;	/* retry the packet later */
			goto no_room;
		}
		if (unlikely(ret < 0)) {
			/* Refused: back to the guest, empty, ahead of this
			 * packet's chains (which stay together for
			 * num_buffers). */
			struct vhost_used_elem *u = &vq->shadow_used[rc->nused];

			if (p->nchains != 0) {
				u = &vq->shadow_used[p->used_first++];
				memmove(u + 1, u, p->nchains * sizeof(*u));
			}
			*u = (struct vhost_used_elem){ .id = id, .len = 0 };
			rc->nused++;
			/* Refused before any buffer of this packet: it goes
			 * back to the guest even if the packet waits. */
			if (p->nchains == 0)
				start = *rc;
			else
				refused_inside++;
			continue;
		}
		if (p->nchains == 0) {
			p->used_first = rc->nused;
			/* The header line is read (and written only if it
			 * differs) in the second pass. */
			if (nsegs > b->nsegs) {
				const struct vhost_seg *s = &b->segs[b->nsegs];

				rte_prefetch0(s->hva);
				if (s->len > dev->hdr_len)
					prefetch_for_write(s->hva + dev->hdr_len);
			}
		}
		vq->shadow_used[rc->nused++] =
			(struct vhost_used_elem){ .id = id, .len = 0 };
		b->nsegs = nsegs;
		p->nchains++;
		capacity += c->len;
	}
	p->nsegs = b->nsegs - p->seg_first;
	b->nchains += p->nchains;
	b->npkts++;
	return true;
no_room:
	/* Chains refused after this packet's first buffer are walked, and
	 * refused, again with the packet: count them then, not twice. */
	vq->stats.v[VHOST_STAT_BAD_CHAINS] -= refused_inside;
	b->nsegs = p->seg_first;
	start.missed = rc->missed;
	*rc = start;
	return false;
}

/* Store the n-byte value v at dst unless dst holds it already: a store
 * of equal bytes would still take the line from the guest's cache. */
#define STORE_IF_CHANGED(dst, v, type) do { \
	type cur_; \
	memcpy(&cur_, (dst), sizeof(type)); \
	if (cur_ != (v)) \
		memcpy((dst), &(v), sizeof(type)); \
} while (0)

/* The header goes in as two words, each stored only if it differs. The
 * second word is put together in registers: read back from the stack
 * copy of the header, it would span two smaller stores (csum_offset and
 * num_buffers), which the core cannot forward to a load, so the load
 * would wait for every older store of the burst, the copies into guest
 * lines included, to reach the cache. */
static __rte_always_inline void
store_hdr(uint8_t *dst, const struct virtio_net_hdr_mrg_rxbuf *hdr,
	  uint16_t num_buffers, uint16_t hdr_len)
{
	uint64_t head;
	uint16_t csum_offset;

	memcpy(&head, hdr, sizeof(head));
	STORE_IF_CHANGED(dst, head, uint64_t);
	memcpy(&csum_offset, (const uint8_t *)hdr + 8, sizeof(csum_offset));
	if (hdr_len == sizeof(*hdr)) {
		const uint16_t words[2] = { csum_offset, num_buffers };
		uint32_t tail;

		memcpy(&tail, words, sizeof(tail));
		STORE_IF_CHANGED(dst + 8, tail, uint32_t);
	} else {
		STORE_IF_CHANGED(dst + 8, csum_offset, uint16_t);
	}
}

/* Write header and packet into the packet's buffers, and the length of
 * each chain into its used element. */
static __rte_always_inline void
fill_packet(const struct rx_burst *x, struct rte_mbuf *m, const struct rx_pkt *p)
{
	struct vhost_device *dev = x->dev;
	struct vhost_virtqueue *vq = x->vq;
	const struct rx_batch *b = x->b;
	const struct rx_track *t = x->track;
	const struct vhost_seg *segs = &b->segs[p->seg_first];
	const uint16_t hdr_len = dev->hdr_len;
	uint32_t left = hdr_len + rte_pktmbuf_pkt_len(m);
	struct virtio_net_hdr_mrg_rxbuf hdr;

	vhost_net_hdr_build(m, &hdr);
	if (likely(m->next == NULL && segs[0].len >= left)) {
		/* The common shape: one mbuf into one buffer. */
		store_hdr(segs[0].hva, &hdr, p->nchains, hdr_len);
		rte_memcpy(segs[0].hva + hdr_len,
			   rte_pktmbuf_mtod(m, const void *),
			   rte_pktmbuf_data_len(m));
	} else {
		struct vhost_seg_cursor cur;

		hdr.num_buffers = p->nchains;
		vhost_cursor_init(&cur, segs, p->nsegs);
		if (segs[0].len >= hdr_len) {
			store_hdr(segs[0].hva, &hdr, p->nchains, hdr_len);
			cur.off = hdr_len;
			if (cur.off == segs[0].len) {
				cur.seg++;
				cur.off = 0;
			}
		} else {
			vhost_cursor_write(&cur, &hdr, hdr_len);
		}
		for (const struct rte_mbuf *s = m; s != NULL; s = s->next)
			vhost_cursor_write(&cur, rte_pktmbuf_mtod(s, const void *),
					   rte_pktmbuf_data_len(s));
	}

	for (uint16_t i = 0; i < p->nchains; i++) {
		uint32_t len = RTE_MIN(left, b->chains[p->chain_first + i].len);

		vq->shadow_used[p->used_first + i].len = len;
		left -= len;
	}
	if (unlikely(t->any)) {
		left = hdr_len + rte_pktmbuf_pkt_len(m);
		for (uint16_t i = 0; i < p->nsegs && left > 0; i++) {
			uint32_t len = RTE_MIN(left, segs[i].len);

			if (t->logging)
				vhost_log_pages(dev, segs[i].gpa, len);
			vhost_write_trace(vq, segs[i].gpa, len, t->logging,
					  "rx-buffer");
			left -= len;
		}
	}
}

/* Enqueue what fits; *missed tells if an IOTLB miss stopped it. */
static __rte_always_inline uint16_t
enqueue_ring(struct vhost_device *dev, struct vhost_virtqueue *vq,
	     struct rte_mbuf **pkts, uint16_t count, bool *missed,
	     const bool packed)
{
	const bool count_stats = dev->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE;
	struct rx_cursor cursor = {
		.avail = packed ? 0 : vhost_avail_count(dev, vq),
		.mergeable = vhost_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF),
		.pos = { vq->last_avail_idx, vq->avail_wrap },
	};
	const bool logging = vhost_log_enabled(dev);
	const struct rx_track track = {
		.logging = logging,
		.any = logging || vhost_write_trace_on,
	};
	struct rx_batch batch;
	struct rx_cursor *rc = &cursor;
	struct rx_batch *b = &batch;
	const struct rx_burst x = {
		.dev = dev, .vq = vq, .rc = rc, .b = b, .track = &track,
	};
	uint16_t sent = 0;
	bool room = true;

	while (room && sent < count && ring_more(vq, rc, packed)) {
		uint64_t searched = vq->stats.v[VHOST_STAT_IOTLB_HITS];
		uint16_t first = sent;
		/* A packet of the common shape takes one chain. */
		uint16_t ahead = RTE_MIN(count - sent, RX_BATCH_PKTS);

		b->nsegs = 0;
		b->nchains = 0;
		b->npkts = 0;
		if (!packed) {
			ahead = RTE_MIN(rc->avail - rc->consumed, ahead);
			vhost_prefetch_descs(vq, rc->consumed, ahead);
		}
		vhost_prefetch_translations(dev, vq, rc->consumed, rc->pos, ahead,
					    packed);
		/* Pass 1: walk the chains of a batch of packets. */
		while (sent + b->npkts < count && !batch_full(b)) {
			struct rte_mbuf *m = pkts[sent + b->npkts];

			if (!reserve_packet(&x, dev->hdr_len + rte_pktmbuf_pkt_len(m),
					    packed)) {
				/* Not enough room: this packet and the rest
				 * stay with the caller; the buffers are walked
				 * again next time. On a miss, ask for the
				 * buffers after it too. */
				if (rc->missed)
					vhost_walk_ahead_after_miss(dev, vq,
						rc->consumed, rc->avail, rc->pos.idx,
						rc->pos.wrap, VHOST_CHAIN_DEVICE_WRITES,
						packed);
				room = false;
				break;
			}
		}
		vhost_note_iotlb_searches(vq, searched, b->nchains);
		/* Pass 2: headers and data. */
		for (uint16_t i = 0; i < b->npkts; i++) {
			struct rte_mbuf *m = pkts[first + i];

			fill_packet(&x, m, &b->pkt[i]);
			if (count_stats)
				vhost_stats_count_packet(&vq->stats, m);
		}
		sent += b->npkts;
	}
	*missed = rc->missed;
	if (packed) {
		vq->last_avail_idx = rc->pos.idx;
		vq->avail_wrap = rc->pos.wrap;
		vhost_packed_used_publish(dev, vq, vq->shadow_used, rc->nused);
	} else {
		vq->last_avail_idx += rc->consumed;
		vhost_used_publish(dev, vq, vq->shadow_used, rc->nused);
	}
	return sent;
}

uint16_t
vhost_enqueue_split(struct vhost_device *dev, struct vhost_virtqueue *vq,
		    struct rte_mbuf **pkts, uint16_t count, bool *missed)
{
	return enqueue_ring(dev, vq, pkts, count, missed, false);
}

uint16_t
vhost_enqueue_packed(struct vhost_device *dev, struct vhost_virtqueue *vq,
		     struct rte_mbuf **pkts, uint16_t count, bool *missed)
{
	return enqueue_ring(dev, vq, pkts, count, missed, true);
}
