/* SPDX-License-Identifier: BSD-3-Clause */

/* Held packets (held_pkts.h): kept for IOTLB misses, delivered first,
 * dropped once stale. */

#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "enqueue.h"
#include "held_pkts.h"
#include "iotlb_miss.h"
#include "vhost_log.h"

uint16_t
vhost_held_add(struct vhost_virtqueue *vq, struct rte_mbuf **pkts, uint16_t n)
{
	struct vhost_held *h = &vq->held;
	uint16_t room;

	if (h->pkts == NULL) {
		h->pkts = calloc(VHOST_MAX_HELD_PKTS, sizeof(*h->pkts));
		if (h->pkts == NULL)
			return 0;
	}
	room = VHOST_MAX_HELD_PKTS - h->n;
	n = RTE_MIN(n, room);
	if (h->n == 0 && n > 0)
		h->since = h->tried = rte_get_timer_cycles();
	for (uint16_t i = 0; i < n; i++) {
		rte_pktmbuf_refcnt_update(pkts[i], 1);
		h->pkts[h->n++] = pkts[i];
	}
	vq->stats.v[VHOST_STAT_IOTLB_HELD] += n;
	return n;
}

void
vhost_held_flush(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	uint64_t limit = rte_get_timer_hz() * 2 * VHOST_IOTLB_MISS_TIMEOUT_MS / 1000;
	uint64_t max_gap = rte_get_timer_hz() * VHOST_HELD_MAX_GAP_MS / 1000;
	struct vhost_held *h = &vq->held;
	bool missed = false;
	uint64_t now;
	uint16_t sent;

	if (h->n == 0 || !vq->access_ok || !vq->enabled)
		return;
	/* A stretch in which nobody tried counts only up to max_gap: a
	 * thread descheduled for a second must not find its packets stale
	 * at its first attempt, against a miss it has only just sent. */
	now = rte_get_timer_cycles();
	if (now - h->tried > max_gap)
		h->since += now - h->tried - max_gap;
	h->tried = now;
	sent = vhost_enqueue_ring(dev, vq, h->pkts, h->n, &missed);
	/* As a miss (note_miss), held packets wait longer while the
	 * frontend's answers may sit unread by our event thread. */
	if (sent == 0 && now - h->since > limit &&
	    !(vq->nb_pending != 0 && vhost_frontend_unread(dev))) {
		/* Nothing went for that long: the frontend does not answer,
		 * or the guest posts no buffers. Either way the packets are
		 * stale; do not keep the caller's mbufs any longer. */
		if (vq->nb_pending != 0)
			VHOST_LOG_RATELIMITED(ERR, "(%s) vring %u: dropping %u packets held for unanswered IOTLB misses",
				dev->ifname, vq->index, h->n);
		else
			VHOST_LOG_RATELIMITED(WARNING, "(%s) vring %u: dropping %u held packets: the guest posted no buffers for %d ms",
				dev->ifname, vq->index, h->n,
				2 * VHOST_IOTLB_MISS_TIMEOUT_MS);
		vq->stats.v[VHOST_STAT_DROPPED] += h->n;
		sent = h->n;
	}
	for (uint16_t i = 0; i < sent; i++)
		rte_pktmbuf_free(h->pkts[i]);
	memmove(h->pkts, h->pkts + sent, (h->n - sent) * sizeof(*h->pkts));
	h->n -= sent;
	if (sent > 0)
		h->since = now;
}

void
vhost_held_retry(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	vhost_held_flush(dev, vq);
	if (vq->nb_unsent != 0)
		vhost_iotlb_send_misses(dev, vq);
}

void
vhost_held_free(struct vhost_virtqueue *vq)
{
	struct vhost_held *h = &vq->held;

	for (uint16_t i = 0; i < h->n; i++)
		rte_pktmbuf_free(h->pkts[i]);
	free(h->pkts);
	h->pkts = NULL;
	h->n = 0;
}
