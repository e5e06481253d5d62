/* SPDX-License-Identifier: BSD-3-Clause */
/* Transmit queues: a header descriptor, then one per mbuf segment. */
#include <errno.h>
#include <string.h>

#include <rte_malloc.h>

#include "vvi_dev.h"
#include "vvi_log.h"

int
vvi_txq_create(struct vvi_dev *d, uint16_t qid, int socket,
	struct vvi_txq **out)
{
	uint16_t size = d->args.queue_size;
	struct vvi_txq *q;
	int r;

	q = rte_zmalloc_socket("vvi_txq", sizeof(*q), RTE_CACHE_LINE_SIZE,
		socket);
	if (q == NULL)
		return -ENOMEM;
	q->dev = d;
	q->qid = qid;
	q->sw = rte_zmalloc_socket("vvi_txsw", sizeof(*q->sw) * size,
		RTE_CACHE_LINE_SIZE, socket);
	/* The headers live with the rings: mapped for as long as they are. */
	r = q->sw ? vvi_vring_alloc(&q->vr, 2 * qid + 1, size,
		d->args.packed_vq, sizeof(*q->hdrs) * size, socket) : -ENOMEM;
	if (r < 0) {
		rte_free(q->sw);
		rte_free(q);
		return r;
	}
	q->hdrs = q->vr.extra;
	*out = q;
	return 0;
}

void
vvi_txq_free(struct vvi_txq *q)
{
	if (q == NULL)
		return;
	vvi_txq_drain(q);
	vvi_vring_free(&q->vr);
	rte_free(q->sw);
	rte_free(q);
}

int
vvi_txq_start(struct vvi_txq *q)
{
	vvi_vring_reset(&q->vr);
	q->hdrs_addr = vvi_dev_addr(q->dev, (uintptr_t)q->hdrs,
		sizeof(*q->hdrs) * q->vr.size);
	q->attack_inflight = 0;
	return q->hdrs_addr ? 0 : -EFAULT;
}

/* Dynamic mode: appends the windows of chain head's data descriptors
 * (all but the header) to slot. */
static unsigned int
chain_slots(struct vvi_txq *q, uint16_t head, uint16_t ndesc, uint32_t *slot)
{
	struct vvi_dev *d = q->dev;
	uint16_t id = head;

	for (uint16_t i = 1; i < ndesc; i++) {
		id = q->vr.next[id];
		slot[i - 1] = vvi_slot(d, &q->vr, id);
	}
	return ndesc - 1u;
}

/* Dynamic mode: unmaps the data descriptors of the chain at head. */
static void
unmap_chain(struct vvi_txq *q, uint16_t head, uint16_t ndesc)
{
	uint32_t slot[VVI_IOTLB_BATCH];
	uint16_t id = head;

	while (ndesc > 1) {
		uint16_t n = RTE_MIN(ndesc - 1u, (unsigned int)VVI_IOTLB_BATCH);

		chain_slots(q, id, n + 1, slot);
		vvi_iommu_unmap_bufs(&q->dev->iommu, slot, n);
		/* The last window done is the head of what is left. */
		for (uint16_t i = 0; i < n; i++)
			id = q->vr.next[id];
		ndesc -= n;
	}
}

/* Gives chain head back: its mbuf is freed, its descriptors reused.
 * In dynamic mode its windows must be unmapped already. */
static void
release(struct vvi_txq *q, uint16_t head)
{
	struct vvi_tx_slot s = q->sw[head];

	q->sw[head] = (struct vvi_tx_slot){ 0 };
	if (s.attack) {
		vvi_attack_done(&q->dev->attack, false, 0, 0, NULL, 0);
		q->attack_inflight--;
	} else {
		rte_pktmbuf_free(s.m);
	}
	vvi_vring_put_chain(&q->vr, head, s.ndesc);
}

static void
complete(struct vvi_txq *q, uint16_t head)
{
	/* Strict IOMMU: the device loses access before we free. */
	if (q->dev->args.iommu == VVI_IOMMU_DYNAMIC && !q->sw[head].attack)
		unmap_chain(q, head, q->sw[head].ndesc);
	release(q, head);
}

/* Completes the chains of heads[0 .. n): their windows are unmapped in
 * one batch (slot[0 .. nslots)), then they are released. */
static void
complete_batch(struct vvi_txq *q, const uint16_t *heads, unsigned int n,
	const uint32_t *slot, unsigned int nslots)
{
	if (nslots > 0)
		vvi_iommu_unmap_bufs(&q->dev->iommu, slot, nslots);
	for (unsigned int i = 0; i < n; i++)
		release(q, heads[i]);
}

static void
reclaim(struct vvi_txq *q)
{
	const bool dynamic = q->dev->args.iommu == VVI_IOMMU_DYNAMIC;
	uint16_t nused = vvi_vring_used_count(&q->vr);
	uint16_t heads[VVI_IOTLB_BATCH];
	uint32_t slot[VVI_IOTLB_BATCH];
	unsigned int n = 0, nslots = 0;

	if (nused > q->vr.size) {
		q->st.errors++;
		return;
	}
	while (nused-- > 0) {
		struct vring_used_elem e;
		const struct vvi_tx_slot *s;
		unsigned int ndata;

		if (!vvi_vring_next_used(&q->vr, &e))
			break;		/* packed: no more yet */
		if (e.id >= q->vr.size || q->sw[e.id].ndesc == 0) {
			q->st.errors++;		/* not a chain we posted */
			continue;
		}
		s = &q->sw[e.id];
		ndata = dynamic && !s->attack ? s->ndesc - 1u : 0;
		if (ndata > VVI_IOTLB_BATCH) {
			complete(q, (uint16_t)e.id);	/* too long to batch */
			continue;
		}
		if (n == VVI_IOTLB_BATCH || nslots + ndata > VVI_IOTLB_BATCH) {
			complete_batch(q, heads, n, slot, nslots);
			n = nslots = 0;
		}
		if (ndata > 0)
			nslots += chain_slots(q, (uint16_t)e.id, s->ndesc,
				slot + nslots);
		heads[n++] = (uint16_t)e.id;
	}
	complete_batch(q, heads, n, slot, nslots);
}

/* Frees what the stopped backend never returned. */
void
vvi_txq_drain(struct vvi_txq *q)
{
	if (q->sw == NULL || q->vr.mem == NULL)
		return;
	vvi_vring_cancel_hold(&q->vr);
	reclaim(q);
	for (uint16_t id = 0; id < q->vr.size; id++)
		if (q->sw[id].ndesc)
			complete(q, id);
	vvi_vring_reset(&q->vr);
}

static uint64_t
seg_addr(struct vvi_txq *q, uint16_t id, const struct rte_mbuf *seg)
{
	struct vvi_dev *d = q->dev;
	uint64_t va = rte_pktmbuf_mtod(seg, uintptr_t);

	if (seg->data_len == 0)
		return 0;
	if (d->args.iommu == VVI_IOMMU_DYNAMIC)
		return vvi_iommu_map_buf(&d->iommu, vvi_slot(d, &q->vr, id), va,
			seg->data_len, VHOST_ACCESS_RO);
	return vvi_dev_addr(d, va, seg->data_len);
}

/* Descriptors m takes: the header, then one per segment (scatter mode:
 * one per IOMMU page of each segment). */
static uint32_t
packet_ndesc(const struct vvi_txq *q, const struct rte_mbuf *m)
{
	uint32_t n = 1;

	if (!q->dev->args.scatter)
		return 1u + m->nb_segs;
	for (const struct rte_mbuf *seg = m; seg; seg = seg->next)
		n += vvi_dev_buf_ndesc(q->dev, rte_pktmbuf_mtod(seg, uintptr_t),
			seg->data_len);
	return n;
}

/* Scatter mode: m as header + one descriptor per page of each segment
 * (pages are not IOVA neighbours); false if it could not be mapped. The
 * caller checked that packet_ndesc(m) descriptors are free. */
static bool
post_scattered(struct vvi_txq *q, struct rte_mbuf *m)
{
	struct vvi_vring *vr = &q->vr;
	uint16_t head = vvi_vring_get_desc(vr), prev = head, n = 1;

	vr->desc[head].addr = q->hdrs_addr + (uint64_t)head * sizeof(*q->hdrs);
	vr->desc[head].len = q->dev->hdr_len;
	for (const struct rte_mbuf *seg = m; seg; seg = seg->next) {
		uint64_t va = rte_pktmbuf_mtod(seg, uintptr_t);
		uint32_t left = seg->data_len;

		while (left > 0) {
			uint32_t plen = 0;
			uint64_t addr;
			uint16_t id;

			if (vr->nb_free == 0) {
				vvi_vring_put_chain(vr, head, n);
				return false;
			}
			id = vvi_vring_get_desc(vr);
			vr->desc[prev].flags = VRING_DESC_F_NEXT;
			vvi_vring_link(vr, prev, id);
			prev = id;
			n++;
			addr = vvi_iommu_scatter_map(&q->dev->iommu, va, left, &plen);
			if (addr == 0) {
				vvi_vring_put_chain(vr, head, n);
				return false;
			}
			vr->desc[id].addr = addr;
			vr->desc[id].len = plen;
			va += plen;
			left -= plen;
		}
	}
	vr->desc[prev].flags = 0;
	q->sw[head] = (struct vvi_tx_slot){ .m = m, .ndesc = n };
	vvi_vring_push(vr, head, n);
	return true;
}

/* Posts m as header + segments; false if it could not be mapped. */
static bool
post_packet(struct vvi_txq *q, struct rte_mbuf *m)
{
	struct vvi_vring *vr = &q->vr;
	uint16_t hdr_len = q->dev->hdr_len;
	uint16_t head, prev, n = 1;

	if (q->dev->args.scatter)
		return post_scattered(q, m);
	head = prev = vvi_vring_get_desc(vr);
	vr->desc[head].addr = q->hdrs_addr + (uint64_t)head * sizeof(*q->hdrs);
	vr->desc[head].len = hdr_len;
	for (const struct rte_mbuf *seg = m; seg; seg = seg->next) {
		uint16_t id = vvi_vring_get_desc(vr);
		uint64_t addr = seg_addr(q, id, seg);

		vr->desc[prev].flags = VRING_DESC_F_NEXT;
		vvi_vring_link(vr, prev, id);
		prev = id;
		n++;
		if (addr == 0) {
			if (q->dev->args.iommu == VVI_IOMMU_DYNAMIC)
				unmap_chain(q, head, n - 1);
			vvi_vring_put_chain(vr, head, n);
			return false;
		}
		vr->desc[id].addr = addr;
		vr->desc[id].len = seg->data_len;
	}
	vr->desc[prev].flags = 0;
	q->sw[head] = (struct vvi_tx_slot){ .m = m, .ndesc = n };
	vvi_vring_push(vr, head, n);
	return true;
}

/* Every attack_every-th chain is an attack, within a budget. */
static bool
post_attack(struct vvi_txq *q, const struct rte_mbuf *model)
{
	struct vvi_attack *at = &q->dev->attack;
	uint16_t head, n;

	if (vvi_attack_long_due(at, &q->vr, q->sent)) {
		/* The whole ring: tx_burst posted nothing until it emptied. */
		if (q->vr.nb_free < q->vr.size)
			return false;
	} else if (!vvi_attack_due(at, q->sent) || q->vr.nb_free < 3 ||
			q->attack_inflight >= q->vr.size / 8u ||
			!vvi_attack_can_hold(at, &q->vr)) {
		return false;
	}
	if (at->mode == VVI_ATTACK_WRAP)
		vvi_vring_flush(&q->vr);	/* the held chain goes alone */
	head = vvi_attack_tx_chain(at, &q->vr, q->hdrs_addr, q->dev->hdr_len,
		model, &n);
	q->sw[head] = (struct vvi_tx_slot){ .ndesc = n, .attack = true };
	q->attack_inflight++;
	vvi_vring_push(&q->vr, head, n);
	vvi_attack_pushed(at, &q->vr, true);
	return true;
}

uint16_t
vvi_tx_burst(void *txq, struct rte_mbuf **pkts, uint16_t n)
{
	struct vvi_txq *q = txq;
	uint16_t ntx = 0, pushed = 0;

	vvi_serve_misses(q->dev, vvi_vring_used_count(&q->vr) == 0 &&
		q->vr.nb_free < q->vr.size);
	reclaim(q);
	while (ntx < n) {
		struct rte_mbuf *m = pkts[ntx];
		uint32_t need;

		/* No attack mapped: post_attack() would find none due. */
		if (q->dev->attack.mapped && post_attack(q, m)) {
			pushed++;
			q->sent++;
		}
		/* A ring-long attack chain is due: let the ring empty. */
		if (vvi_attack_long_due(&q->dev->attack, &q->vr, q->sent))
			break;
		need = packet_ndesc(q, m);
		if (need > q->vr.nb_free) {
			if (need > q->vr.size) {
				/* Can never fit: drop it. */
				q->st.errors++;
				rte_pktmbuf_free(m);
				ntx++;
				continue;
			}
			break;
		}
		ntx++;
		if (!post_packet(q, m)) {
			q->st.errors++;
			rte_pktmbuf_free(m);
			continue;
		}
		pushed++;
		q->sent++;
		q->st.packets++;
		q->st.bytes += m->pkt_len;
	}
	if (pushed) {
		vvi_dev_announce(q->dev);
		vvi_vring_flush(&q->vr);
	}
	return ntx;
}
