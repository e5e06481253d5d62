/* SPDX-License-Identifier: BSD-3-Clause */

/* Host -> guest: copy mbufs into the guest's Rx buffers. */

#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "datapath.h"
#include "desc_chain.h"
#include "enqueue.h"
#include "dirty_log.h"
#include "net_hdr.h"
#include "vring.h"

/* Buffers reserved for one packet. */
struct rx_reservation {
	struct vhost_seg segs[VHOST_MAX_PKT_SEGS];
	struct vhost_chain chains[VHOST_MAX_MRG_CHAINS];
	uint16_t nsegs;
	uint16_t nchains;
	uint64_t capacity;
};

/* Reserve guest buffers for need bytes, from avail entry *consumed on.
 * Chains the walker refuses are returned to the guest unused (length
 * 0). Returns false if the ring has not enough buffers: the caller
 * rolls *consumed and *nused back to before this packet. */
static bool
reserve_buffers(struct vhost_device *dev, struct vhost_virtqueue *vq,
		uint32_t need, uint16_t avail, uint16_t *consumed,
		uint16_t *nused, struct rx_reservation *r, bool *missed,
		uint16_t *keep_consumed, uint16_t *keep_nused)
{
	const bool mergeable = vhost_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);

	r->nsegs = 0;
	r->nchains = 0;
	r->capacity = 0;
	while (r->capacity < need) {
		struct vhost_chain *c = &r->chains[r->nchains];
		uint16_t head;

		if (*consumed == avail || r->nchains == VHOST_MAX_MRG_CHAINS)
			return false;
		int ret;

		head = vhost_avail_head(vq, *consumed);
		ret = vhost_walk_chain(dev, vq, head, VHOST_CHAIN_DEVICE_WRITES,
				       r->segs, &r->nsegs, VHOST_MAX_PKT_SEGS, c);
		if (unlikely(ret == -EAGAIN)) {
			*missed = true;	/* IOTLB miss: retry the packet later */
			return false;
		}
		(*consumed)++;
		if (unlikely(ret < 0)) {
			vq->shadow_used[(*nused)++] =
				(struct vhost_used_elem){ .id = head, .len = 0 };
			/* Refused before any buffer of this packet: it goes
			 * back to the guest even if the packet waits. */
			if (r->nchains == 0) {
				*keep_consumed = *consumed;
				*keep_nused = *nused;
			}
			continue;
		}
		r->nchains++;
		r->capacity += c->len;
		if (!mergeable)
			return r->capacity >= need;
	}
	return true;
}

/* Copy header and packet into the reserved buffers and record the
 * used element of each chain. */
static void
fill_buffers(struct vhost_device *dev, struct vhost_virtqueue *vq,
	     struct rte_mbuf *m, const struct rx_reservation *r,
	     uint16_t *nused)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vhost_seg_cursor cur;
	uint32_t left = dev->hdr_len + rte_pktmbuf_pkt_len(m);

	vhost_net_hdr_from_mbuf(m, &hdr);
	hdr.num_buffers = r->nchains;
	vhost_cursor_init(&cur, r->segs, r->nsegs);
	vhost_cursor_write(&cur, &hdr, dev->hdr_len);
	for (const struct rte_mbuf *s = m; s != NULL; s = s->next)
		vhost_cursor_write(&cur, rte_pktmbuf_mtod(s, const void *),
				   rte_pktmbuf_data_len(s));

	for (uint16_t i = 0; i < r->nchains; i++) {
		uint32_t len = RTE_MIN(left, r->chains[i].len);

		vq->shadow_used[(*nused)++] = (struct vhost_used_elem){
			.id = r->chains[i].head, .len = len };
		left -= len;
	}
	if (vhost_log_enabled(dev)) {
		left = dev->hdr_len + rte_pktmbuf_pkt_len(m);
		for (uint16_t i = 0; i < r->nsegs && left > 0; i++) {
			uint32_t len = RTE_MIN(left, r->segs[i].len);

			vhost_log_pages(dev, r->segs[i].gpa, len);
			left -= len;
		}
	}
}

/* Enqueue what fits; *missed tells if an IOTLB miss stopped it. */
static uint16_t
enqueue_split(struct vhost_device *dev, struct vhost_virtqueue *vq,
	      struct rte_mbuf **pkts, uint16_t count, bool *missed)
{
	const bool count_stats = dev->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE;
	uint16_t avail = vhost_avail_count(dev, vq);
	uint16_t consumed = 0, nused = 0, sent;
	struct rx_reservation r;

	for (sent = 0; sent < count && consumed < avail; sent++) {
		struct rte_mbuf *m = pkts[sent];
		uint16_t consumed_before = consumed, nused_before = nused;

		if (!reserve_buffers(dev, vq, dev->hdr_len + rte_pktmbuf_pkt_len(m),
				     avail, &consumed, &nused, &r, missed,
				     &consumed_before, &nused_before)) {
			/* Not enough room: this packet and the rest stay with
			 * the caller; the buffers are walked again next time.
			 * On a miss, ask for the buffers after it too. */
			if (*missed)
				vhost_walk_ahead(dev, vq, consumed + 1,
						 avail - consumed - 1,
						 VHOST_CHAIN_DEVICE_WRITES);
			consumed = consumed_before;
			nused = nused_before;
			break;
		}
		fill_buffers(dev, vq, m, &r, &nused);
		if (count_stats)
			vhost_stats_count_packet(&vq->stats, m);
	}
	vq->last_avail_idx += consumed;
	vhost_used_publish(dev, vq, vq->shadow_used, nused);
	return sent;
}

/* Keep up to n packets (a reference to each) until their buffers are
 * mapped. Returns how many were taken. */
static uint16_t
hold_packets(struct vhost_virtqueue *vq, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t room;

	if (vq->held == NULL) {
		vq->held = calloc(VHOST_MAX_HELD_PKTS, sizeof(*vq->held));
		if (vq->held == NULL)
			return 0;
	}
	room = VHOST_MAX_HELD_PKTS - vq->nb_held;
	n = RTE_MIN(n, room);
	if (vq->nb_held == 0 && n > 0)
		vq->held_since = rte_get_timer_cycles();
	for (uint16_t i = 0; i < n; i++) {
		rte_pktmbuf_refcnt_update(pkts[i], 1);
		vq->held[vq->nb_held++] = pkts[i];
	}
	vq->stats.v[VHOST_STAT_IOTLB_HELD] += n;
	return n;
}

void
vhost_enqueue_flush_held(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	uint64_t limit = rte_get_timer_hz() * 2 * VHOST_IOTLB_MISS_TIMEOUT_MS / 1000;
	bool missed = false;
	uint16_t sent;

	if (vq->nb_held == 0 || !vq->access_ok || !vq->enabled)
		return;
	sent = enqueue_split(dev, vq, vq->held, vq->nb_held, &missed);
	if (sent == 0 && rte_get_timer_cycles() - vq->held_since > limit) {
		VHOST_LOG_RATELIMITED(ERR, "(%s) vring %u: dropping %u packets held for unanswered IOTLB misses",
			dev->ifname, vq->index, vq->nb_held);
		vq->stats.v[VHOST_STAT_DROPPED] += vq->nb_held;
		sent = vq->nb_held;
	}
	for (uint16_t i = 0; i < sent; i++)
		rte_pktmbuf_free(vq->held[i]);
	memmove(vq->held, vq->held + sent, (vq->nb_held - sent) * sizeof(*vq->held));
	vq->nb_held -= sent;
	if (sent > 0)
		vq->held_since = rte_get_timer_cycles();
}

uint16_t
rte_vhost_enqueue_burst(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
			uint16_t count)
{
	struct vhost_device *dev;
	struct vhost_virtqueue *vq = vhost_burst_begin(vid, queue_id, false, &dev);
	bool missed = false;
	uint16_t sent = 0;

	if (unlikely(vq == NULL))
		return 0;
	/* Held packets go first, so packets never overtake each other. */
	if (unlikely(vq->nb_held != 0))
		vhost_enqueue_flush_held(dev, vq);
	if (likely(vq->nb_held == 0))
		sent = enqueue_split(dev, vq, pkts, count, &missed);
	else
		/* Still waiting: for the IOTLB (hold more), or for the
		 * guest to post buffers (normal backpressure: send none). */
		missed = vq->nb_pending != 0;
	/* With an IOMMU, a miss must not make the caller drop packets:
	 * keep them until the frontend maps the buffers. Other packets not
	 * sent stay with the caller, who may retry them. */
	if (unlikely(missed && sent < count))
		sent += hold_packets(vq, pkts + sent, count - sent);
	vhost_burst_end(dev, vq);
	return sent;
}
