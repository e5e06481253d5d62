/* SPDX-License-Identifier: BSD-3-Clause */
/* A strict-mode vIOMMU guest with revocations: see fault_iommu.h. */
#include "fault_iommu.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fault_env.h"
#include "fault_ring.h"
#include "fm_conn.h"

/* Buffer IOVAs: a fresh page per use, never reused in a run. Noise goes
 * to a window of its own. Both are above every user address and apart
 * from the region windows (FM_IOVA_REGION). */
#define IOVA_BUFS 0xa00000000000ull
#define IOVA_NOISE 0xb00000000000ull
#define NOISE_PAGES 1024u
#define PAGE FM_IOMMU_PAGE

static void
check(struct fault_iommu *x, int r)
{
	if (r != FM_OK)
		x->failures++;
}

static uint64_t
map_cb(void *ctx, uint8_t *p, uint32_t len, bool dev_writes)
{
	struct fault_iommu *x = ctx;
	uint8_t *page = (uint8_t *)((uintptr_t)p & ~(uintptr_t)(PAGE - 1));
	uint8_t perm = dev_writes ? VHOST_ACCESS_WO : VHOST_ACCESS_RO;
	uint64_t iova = x->next_iova;

	/* Buffers are page aligned and smaller than a page. */
	if (p + len > page + PAGE ||
			fm_iommu_map(&x->io, iova, page, PAGE, perm) < 0) {
		x->failures++;
		return UINT64_MAX;
	}
	x->next_iova += PAGE;
	/* Half announced at once, half left for the device to miss. */
	if (fault_rand(&x->rng) & 1) {
		check(x, fm_iotlb_update(x->m, iova, PAGE,
				fm_ptr_uaddr(page), perm));
		x->updates++;
	}
	return iova + (uint64_t)(p - page);
}

static void
unmap_cb(void *ctx, uint64_t addr, uint32_t len)
{
	struct fault_iommu *x = ctx;
	uint64_t iova = addr & ~(PAGE - 1);

	(void)len;
	if (fm_iommu_lookup(&x->io, iova) == NULL)
		return;		/* revoked already */
	fm_iommu_unmap(&x->io, iova, PAGE);
	check(x, fm_iotlb_invalidate(x->m, iova, PAGE));
	x->invalidates++;
}

int
fault_iommu_serve(struct fault_iommu *x)
{
	static struct fm_msg msg;
	int n = 0;

	for (;;) {
		struct vhost_iotlb_msg miss;
		const struct fm_iommu_map *mp;
		uint64_t result;
		int r = fm_recv(x->io.backend_req_fd, &msg, 0);

		if (r == -ETIMEDOUT)
			return n;
		if (r <= 0) {
			x->failures++;
			return n;
		}
		fm_msg_close_fds(&msg);
		memcpy(&miss, msg.payload, sizeof(miss));
		if (msg.request != FM_BACKEND_IOTLB_MSG ||
				msg.size != FM_IOTLB_MSG_SIZE ||
				miss.type != VHOST_IOTLB_MISS) {
			x->failures++;
			continue;
		}
		mp = fm_iommu_lookup(&x->io, miss.iova);
		if (mp != NULL && (mp->perm & miss.perm) == miss.perm) {
			check(x, fm_iommu_answer(x->m, &x->io, &miss));
			x->misses_mapped++;
			result = 0;
		} else {
			x->misses_refused++;
			result = 1;
		}
		if (msg.flags & FM_FLAG_NEED_REPLY)
			fm_send(x->io.backend_req_fd, msg.request,
					FM_FLAG_VERSION | FM_FLAG_REPLY,
					sizeof(result), &result, sizeof(result),
					NULL, 0);
		n++;
	}
}

void
fault_iommu_serve_cb(void *x)
{
	fault_iommu_serve(x);
}

void
fault_iommu_init(struct fault_iommu *x, struct fm_frontend *m,
		struct fault_guest *g, uint32_t seed)
{
	memset(x, 0, sizeof(*x));
	x->m = m;
	x->g = g;
	x->rng = seed;
	x->next_iova = IOVA_BUFS;
	fm_iommu_init(&x->io);
	x->map = (struct fault_guest_map){ map_cb, unmap_cb, x };
	g->map = &x->map;
}

void
fault_iommu_fini(struct fault_iommu *x)
{
	fm_iommu_fini(&x->io);
	if (x->g != NULL)
		x->g->map = NULL;
}

int
fault_iommu_negotiate(struct fault_iommu *x, uint64_t features)
{
	int r = fm_iommu_negotiate(x->m, features, 0);

	if (r == FM_OK)
		r = fm_iommu_set_backend_req_fd(x->m, &x->io);
	if (r == FM_OK && fm_iommu_map_regions(&x->io, &x->m->mem,
			VHOST_ACCESS_RW) < 0)
		r = FM_SENDFAIL;
	x->g->mergeable =
		(x->m->features & FM_BIT(VIRTIO_NET_F_MRG_RXBUF)) != 0;
	return r;
}

int
fault_iommu_ring_start(struct fault_iommu *x, uint32_t q)
{
	struct vhost_vring_addr a;

	/* With the IOMMU, ring addresses are IOVAs too. */
	fm_iommu_vring_addr(x->m, &x->io, q, &a);
	return fault_ring_start(x->m, q, fault_ring_base0(&x->m->vr[q]), &a);
}

/*
 * A random buffer the guest has not taken back yet, or -1. Half the
 * time only one the device has not given back either (it may be in a
 * burst right now, or waiting for a miss); otherwise any, which the
 * device has most often used already (the revocation comes too late).
 */
static int
pick_held(struct fault_iommu *x, bool tx)
{
	const struct fault_guest *g = x->g;
	const struct fm_vring *vr = &x->m->vr[tx ? 1 : 0];
	uint32_t start = fault_rand(&x->rng) % FAULT_RING_SIZE;
	bool unused_only = fault_rand(&x->rng) & 1;
	uint32_t i;

	for (i = 0; i < FAULT_RING_SIZE; i++) {
		uint16_t h = (uint16_t)((start + i) % FAULT_RING_SIZE);
		uint64_t addr;

		if ((tx ? g->tx_of[h] : g->rx_of[h]) < 0)
			continue;
		addr = tx ? g->tx_addr[h] : g->rx_addr[h];
		if (fm_iommu_lookup(&x->io, addr & ~(PAGE - 1)) == NULL)
			continue;	/* revoked already */
		if (unused_only && fault_ring_used_pending_has(vr, h))
			continue;
		return h;
	}
	return -1;
}

void
fault_iommu_revoke(struct fault_iommu *x, bool tx)
{
	struct fault_guest *g = x->g;
	struct fm_vring *vr = &x->m->vr[tx ? 1 : 0];
	int h = pick_held(x, tx);
	uint64_t iova;

	if (h < 0)
		return;
	iova = (tx ? g->tx_addr[h] : g->rx_addr[h]) & ~(PAGE - 1);
	fm_iommu_unmap(&x->io, iova, PAGE);
	check(x, fm_iotlb_invalidate(x->m, iova, PAGE));
	/* The reply is the device's promise: from now on it does not touch
	 * the page. What it used before is already in the used ring. */
	if (fault_ring_used_pending_has(vr, (uint16_t)h)) {
		x->revoked_late[tx]++;
		return;
	}
	if (tx)
		fault_guest_revoke_tx(g, (uint16_t)h);
	else
		fault_guest_revoke_rx(g, (uint16_t)h);
	x->revoked[tx]++;
}

void
fault_iommu_noise(struct fault_iommu *x)
{
	const struct fm_region *r = &x->m->mem.r[1];
	uint32_t kind = fault_rand(&x->rng) % 8;
	uint64_t iova = IOVA_NOISE +
		(fault_rand(&x->rng) % NOISE_PAGES) * PAGE;
	uint64_t size = (1 + fault_rand(&x->rng) % 16) * PAGE;
	uint64_t off = (fault_rand(&x->rng) % (r->size / PAGE - 16)) * PAGE;

	x->noise++;
	if (kind < 4)		/* overlapping updates merge and split */
		check(x, fm_iotlb_update(x->m, iova, size,
				fm_ptr_uaddr(r->base + off),
				(uint8_t)(1 + fault_rand(&x->rng) % 3)));
	else if (kind < 7)
		check(x, fm_iotlb_invalidate(x->m, iova, size));
	else			/* the whole noise window */
		check(x, fm_iotlb_invalidate(x->m, IOVA_NOISE,
				(uint64_t)(NOISE_PAGES + 16) * PAGE));
}

void
fault_iommu_flush(struct fault_iommu *x)
{
	/* Size 0: to the end of the space (QEMU's global flush). */
	check(x, fm_iotlb_invalidate(x->m, 0, 0));
	x->flushes++;
}
