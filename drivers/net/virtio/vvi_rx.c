/* SPDX-License-Identifier: BSD-3-Clause */
/* Receive queues: mbufs posted as device-writable buffers. */
#include <errno.h>
#include <string.h>

#include <rte_malloc.h>

#include "vvi_dev.h"
#include "vvi_log.h"

/* Largest frame a buffer must hold without mergeable buffers. */
#define VVI_MAX_FRAME (RTE_ETHER_MAX_LEN + 4)

int
vvi_rxq_create(struct vvi_dev *d, uint16_t qid, int socket,
	struct rte_mempool *mp, struct vvi_rxq **out)
{
	uint32_t room = rte_pktmbuf_data_room_size(mp);
	struct vvi_rxq *q;
	int r;

	/* The header goes in the headroom, right before the data. */
	if (RTE_PKTMBUF_HEADROOM < d->hdr_len ||
			(!d->args.mrg_rxbuf &&
			 room < RTE_PKTMBUF_HEADROOM + VVI_MAX_FRAME)) {
		VVI_LOG(ERR, "rx queue %u: mbuf data room %u too small", qid, room);
		return -EINVAL;
	}
	q = rte_zmalloc_socket("vvi_rxq", sizeof(*q), RTE_CACHE_LINE_SIZE,
		socket);
	if (q == NULL)
		return -ENOMEM;
	q->dev = d;
	q->qid = qid;
	q->mp = mp;
	/* Scatter mode: a buffer anywhere in a page (the worst offset). */
	q->buf_ndesc = (uint16_t)vvi_dev_buf_ndesc(d, d->args.iommu_page - 1,
		room - RTE_PKTMBUF_HEADROOM +
		sizeof(struct virtio_net_hdr_mrg_rxbuf));
	q->sw = rte_zmalloc_socket("vvi_rxsw",
		sizeof(*q->sw) * d->args.queue_size, RTE_CACHE_LINE_SIZE, socket);
	r = q->sw ? vvi_vring_alloc(&q->vr, 2 * qid, d->args.queue_size,
		d->args.packed_vq, 0, socket) : -ENOMEM;
	if (r < 0) {
		rte_free(q->sw);
		rte_free(q);
		return r;
	}
	*out = q;
	return 0;
}

void
vvi_rxq_free(struct vvi_rxq *q)
{
	if (q == NULL)
		return;
	vvi_rxq_drain(q);
	vvi_vring_free(&q->vr);
	rte_free(q->sw);
	rte_free(q);
}

static uint64_t
buf_va(const struct vvi_rxq *q, const struct rte_mbuf *m)
{
	return (uintptr_t)m->buf_addr + RTE_PKTMBUF_HEADROOM - q->dev->hdr_len;
}

static uint32_t
buf_len(const struct vvi_rxq *q, const struct rte_mbuf *m)
{
	return m->buf_len - RTE_PKTMBUF_HEADROOM + q->dev->hdr_len;
}

/* Scatter mode: the buffer as a chain, one descriptor per IOMMU page
 * (its pages are not IOVA neighbours). -ENOSPC: not enough descriptors. */
static int
post_scattered(struct vvi_rxq *q, struct rte_mbuf *m)
{
	struct vvi_dev *d = q->dev;
	uint64_t va = buf_va(q, m);
	uint32_t left = buf_len(q, m);
	uint16_t head, id, n = 0;

	if (q->vr.nb_free < vvi_dev_buf_ndesc(d, va, left))
		return -ENOSPC;
	head = id = vvi_vring_get_desc(&q->vr);
	for (;;) {
		uint32_t plen = 0;
		uint64_t addr = vvi_iommu_scatter_map(&d->iommu, va, left, &plen);

		n++;
		if (addr == 0 || (plen < left && q->vr.nb_free == 0)) {
			vvi_vring_put_chain(&q->vr, head, n);
			q->st.errors++;
			return -EFAULT;
		}
		q->vr.desc[id].addr = addr;
		q->vr.desc[id].len = plen;
		q->vr.desc[id].flags = VRING_DESC_F_WRITE;
		va += plen;
		left -= plen;
		if (left == 0)
			break;
		uint16_t nid = vvi_vring_get_desc(&q->vr);

		q->vr.desc[id].flags |= VRING_DESC_F_NEXT;
		vvi_vring_link(&q->vr, id, nid);
		id = nid;
	}
	q->sw[head] = (struct vvi_rx_slot){ .m = m, .ndesc = n };
	vvi_vring_push(&q->vr, head, n);
	return 0;
}

static int
post_mbuf(struct vvi_rxq *q, struct rte_mbuf *m)
{
	struct vvi_dev *d = q->dev;
	uint64_t va = buf_va(q, m), addr;
	uint32_t len = buf_len(q, m);
	uint16_t id;

	if (d->args.scatter)
		return post_scattered(q, m);
	id = vvi_vring_get_desc(&q->vr);
	if (d->args.iommu == VVI_IOMMU_DYNAMIC)
		addr = vvi_iommu_map_buf(&d->iommu, vvi_slot(d, &q->vr, id), va,
			len, d->args.strict_perm ? VHOST_ACCESS_WO : VHOST_ACCESS_RW);
	else
		addr = vvi_dev_addr(d, va, len);
	if (addr == 0) {
		vvi_vring_put_chain(&q->vr, id, 1);
		q->st.errors++;
		return -EFAULT;
	}
	q->vr.desc[id].addr = addr;
	q->vr.desc[id].len = len;
	q->vr.desc[id].flags = VRING_DESC_F_WRITE;
	q->sw[id] = (struct vvi_rx_slot){ .m = m, .ndesc = 1 };
	vvi_vring_push(&q->vr, id, 1);
	return 0;
}

/* Posts an attack chain instead of a buffer, within a budget so that a
 * backend that never returns them cannot starve the ring. */
static bool
post_attack(struct vvi_rxq *q)
{
	struct vvi_attack *at = &q->dev->attack;
	uint16_t head, n;

	if (vvi_attack_long_due(at, &q->vr, q->posted)) {
		/* The whole ring: rxq_fill posted nothing until it emptied. */
		if (q->vr.nb_free < q->vr.size)
			return false;
	} else if (!vvi_attack_due(at, q->posted) || q->vr.nb_free < 2 ||
			q->attack_inflight >= q->vr.size / 8u ||
			!vvi_attack_can_hold(at, &q->vr)) {
		return false;
	}
	if (at->mode == VVI_ATTACK_WRAP)
		vvi_vring_flush(&q->vr);	/* the held chain goes alone */
	head = vvi_attack_rx_chain(at, &q->vr, &n);
	q->sw[head] = (struct vvi_rx_slot){ .ndesc = n, .attack = true };
	q->attack_inflight++;
	vvi_vring_push(&q->vr, head, n);
	vvi_attack_pushed(at, &q->vr, false);
	return true;
}

int
vvi_rxq_fill(struct vvi_rxq *q)
{
	struct rte_mbuf *bufs[64];
	unsigned int pushed = 0;
	bool full = false;

	while (q->vr.nb_free > 0 && !full) {
		/* As many mbufs as surely fit: none allocated to be freed
		 * again (scatter mode: up to buf_ndesc descriptors each). */
		unsigned int n = RTE_MIN((unsigned int)(q->vr.nb_free / q->buf_ndesc),
			RTE_DIM(bufs));

		/* A ring-long attack chain is due: let the ring empty. */
		if (vvi_attack_long_due(&q->dev->attack, &q->vr, q->posted)) {
			if (post_attack(q)) {
				pushed++;
				q->posted++;
			}
			break;
		}
		if (n == 0)
			break;
		if (rte_pktmbuf_alloc_bulk(q->mp, bufs, n) != 0) {
			q->st.nombuf++;
			break;
		}
		for (unsigned int i = 0; i < n; i++) {
			if (q->vr.nb_free == 0 ||
					vvi_attack_long_due(&q->dev->attack, &q->vr,
						q->posted) ||
					post_mbuf(q, bufs[i]) < 0) {
				rte_pktmbuf_free_bulk(&bufs[i], n - i);
				full = true;
				break;
			}
			pushed++;
			q->posted++;
			/* No attack mapped: post_attack() would find none due. */
			if (q->dev->attack.mapped && post_attack(q)) {
				pushed++;
				q->posted++;
			}
		}
	}
	if (pushed) {
		vvi_dev_announce(q->dev);
		vvi_vring_flush(&q->vr);
	}
	return 0;
}

/* Frees every buffer still posted (the ring is stopped). */
void
vvi_rxq_drain(struct vvi_rxq *q)
{
	struct vvi_dev *d = q->dev;

	vvi_vring_cancel_hold(&q->vr);
	for (uint16_t id = 0; id < q->vr.size && q->sw; id++) {
		if (q->sw[id].m) {
			if (d->args.iommu == VVI_IOMMU_DYNAMIC)
				vvi_iommu_unmap_buf(&d->iommu,
					vvi_slot(d, &q->vr, id));
			rte_pktmbuf_free(q->sw[id].m);
		}
		q->sw[id] = (struct vvi_rx_slot){ 0 };
	}
	rte_pktmbuf_free(q->pend);
	q->pend = NULL;
	q->attack_inflight = 0;
	if (q->vr.mem)
		vvi_vring_reset(&q->vr);
}

static void
keep_model(struct vvi_rxq *q, const struct rte_mbuf *m)
{
	q->model_len = RTE_MIN(rte_pktmbuf_data_len(m), VVI_MODEL_LEN);
	memcpy(q->model, rte_pktmbuf_mtod(m, void *), q->model_len);
}

/* First buffer of a packet: returns the number of buffers it spans
 * (0 = malformed). */
static uint16_t
start_packet(struct vvi_rxq *q, struct rte_mbuf *m, uint32_t len)
{
	const struct virtio_net_hdr_mrg_rxbuf *h;
	uint16_t hdr_len = q->dev->hdr_len, nbuf = 1;

	if (len < hdr_len || len > buf_len(q, m))
		return 0;
	h = (const void *)(uintptr_t)buf_va(q, m);
	if (q->dev->args.mrg_rxbuf)
		nbuf = h->num_buffers;
	m->data_off = RTE_PKTMBUF_HEADROOM;
	m->data_len = len - hdr_len;
	m->pkt_len = m->data_len;
	m->port = q->dev->port_id;
	return nbuf;
}

/* Handles one used buffer; returns a complete packet or NULL. */
static struct rte_mbuf *
take_buffer(struct vvi_rxq *q, struct rte_mbuf *m, uint32_t len)
{
	struct rte_mbuf *p;

	if (q->pend == NULL) {
		uint16_t nbuf = start_packet(q, m, len);

		if (nbuf == 0 || nbuf > q->vr.size) {
			q->st.errors++;
			rte_pktmbuf_free(m);
			return NULL;
		}
		if (nbuf == 1)
			return m;
		q->pend = q->pend_tail = m;
		q->pend_left = nbuf - 1;
		return NULL;
	}
	/* Later buffers have no header: data starts at the buffer start. */
	if (len > buf_len(q, m)) {
		q->st.errors++;
		rte_pktmbuf_free(m);
		rte_pktmbuf_free(q->pend);
		q->pend = NULL;
		return NULL;
	}
	m->data_off = RTE_PKTMBUF_HEADROOM - q->dev->hdr_len;
	m->data_len = len;
	q->pend_tail->next = m;
	q->pend_tail = m;
	q->pend->nb_segs++;
	q->pend->pkt_len += len;
	if (--q->pend_left > 0)
		return NULL;
	p = q->pend;
	q->pend = NULL;
	return p;
}

/* Handles used buffer e (already unmapped in dynamic mode); returns a
 * complete packet or NULL. */
static struct rte_mbuf *
take_used(struct vvi_rxq *q, struct vring_used_elem e)
{
	struct vvi_dev *d = q->dev;
	struct vvi_rx_slot s = q->sw[e.id];
	struct rte_mbuf *p;

	q->sw[e.id] = (struct vvi_rx_slot){ 0 };
	if (s.attack) {
		vvi_attack_done(&d->attack, true, e.len, d->hdr_len,
			q->model, q->model_len);
		vvi_vring_put_chain(&q->vr, e.id, s.ndesc);
		q->attack_inflight--;
		return NULL;
	}
	vvi_vring_put_chain(&q->vr, e.id, s.ndesc);
	p = take_buffer(q, s.m, e.len);
	if (p == NULL)
		return NULL;
	if (d->args.attack == VVI_ATTACK_STRADDLE)
		keep_model(q, p);
	q->st.packets++;
	q->st.bytes += p->pkt_len;
	return p;
}

uint16_t
vvi_rx_burst(void *rxq, struct rte_mbuf **pkts, uint16_t n)
{
	struct vvi_rxq *q = rxq;
	struct vvi_dev *d = q->dev;
	uint16_t nused = vvi_vring_used_count(&q->vr), nrx = 0;

	if (nused > q->vr.size) {	/* a used index we cannot believe */
		q->st.errors++;
		nused = 0;
	}
	vvi_serve_misses(d, nused == 0);
	while (nrx < n && nused > 0) {
		struct vring_used_elem e[VVI_IOTLB_BATCH];
		uint32_t slot[VVI_IOTLB_BATCH];
		unsigned int ne = 0, nslots = 0;

		/* Each used buffer ends at most one packet: take no more
		 * than fit in pkts, and unmap them in one batch. */
		while (ne < VVI_IOTLB_BATCH && ne < (unsigned int)(n - nrx) &&
				nused > 0) {
			struct vring_used_elem u;

			if (!vvi_vring_next_used(&q->vr, &u)) {
				nused = 0;	/* packed: no more yet */
				break;
			}
			nused--;
			if (u.id >= q->vr.size ||
					(q->sw[u.id].m == NULL && !q->sw[u.id].attack)) {
				q->st.errors++;		/* not a buffer we posted */
				continue;
			}
			if (d->args.iommu == VVI_IOMMU_DYNAMIC && !q->sw[u.id].attack)
				slot[nslots++] = vvi_slot(d, &q->vr, u.id);
			e[ne++] = u;
		}
		/* Strict IOMMU: the device loses access before we read. */
		if (nslots > 0)
			vvi_iommu_unmap_bufs(&d->iommu, slot, nslots);
		for (unsigned int i = 0; i < ne; i++) {
			struct rte_mbuf *p = take_used(q, e[i]);

			if (p != NULL)
				pkts[nrx++] = p;
		}
	}
	vvi_rxq_fill(q);
	return nrx;
}
