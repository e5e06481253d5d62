/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>

#include "vvi_iommu.h"
#include "vvi_log.h"

void
vvi_iommu_init(struct vvi_iommu *io, const struct vvi_args *a,
	struct vvi_chan *chan)
{
	memset(io, 0, sizeof(*io));
	io->mode = a->iommu;
	io->page = a->iommu_page;
	io->preload = a->iommu_preload;
	io->chan = chan;
	io->slave_fd = -1;
	io->quit_fd = -1;
	/* A buffer of up to 64K starting anywhere in a page fits a window. */
	io->slot_span = RTE_ALIGN_CEIL(65536, io->page) + io->page;
}

uint64_t
vvi_iommu_static_iova(const struct vvi_iommu *io, uint64_t va, uint64_t len)
{
	const struct vvi_region *r = vvi_mem_find(io->mem, va, len);

	return r ? VVI_IOVA_STATIC_BASE + r->coff + (va - r->va) : 0;
}

static int
send_iotlb(struct vvi_iommu *io, const struct vvi_map *m, uint8_t type)
{
	struct vhost_iotlb_msg msg = {
		.iova = m->iova, .size = m->size, .uaddr = m->uaddr,
		.perm = m->perm, .type = type,
	};
	int r;

	r = vvi_chan_call_locked(io->chan, VVI_IOTLB_MSG, &msg, sizeof(msg),
		NULL, 0, NULL, 0);
	if (r < 0) {
		io->errors++;
		VVI_LOG(ERR, "IOTLB %s iova %#" PRIx64 " size %#" PRIx64 ": %s",
			type == VHOST_IOTLB_UPDATE ? "update" : "invalidate",
			m->iova, m->size, strerror(-r));
		return r;
	}
	if (type == VHOST_IOTLB_UPDATE)
		io->updates++;
	else
		io->invalidates++;
	return 0;
}

static bool
overlaps_hole(const struct vvi_iommu *io, uint64_t va, uint64_t len)
{
	return io->hole_len && va < io->hole_va + io->hole_len &&
		io->hole_va < va + len;
}

/* The static page holding iova, clipped to its region; false if none. */
static bool
static_page(const struct vvi_iommu *io, uint64_t iova, struct vvi_map *m)
{
	const struct vvi_region *r;
	uint64_t coff, pstart;

	if (io->mem == NULL || iova < VVI_IOVA_STATIC_BASE)
		return false;
	coff = iova - VVI_IOVA_STATIC_BASE;
	r = vvi_mem_find_compact(io->mem, coff);
	if (r == NULL)
		return false;
	pstart = r->coff + RTE_ALIGN_FLOOR(coff - r->coff, io->page);
	m->iova = VVI_IOVA_STATIC_BASE + pstart;
	m->size = RTE_MIN(io->page, r->coff + r->len - pstart);
	m->uaddr = r->va + (pstart - r->coff);
	m->perm = VHOST_ACCESS_RW;
	return !overlaps_hole(io, m->uaddr, m->size);
}

static bool
in_map(const struct vvi_map *m, uint64_t iova)
{
	return m->size && iova >= m->iova && iova - m->iova < m->size;
}

/* The page of a mapping that holds iova (what an IOMMU would report). */
static void
page_of(const struct vvi_iommu *io, const struct vvi_map *m, uint64_t iova,
	struct vvi_map *out)
{
	uint64_t off = RTE_ALIGN_FLOOR(iova - m->iova, io->page);

	out->iova = m->iova + off;
	out->size = RTE_MIN(io->page, m->size - off);
	out->uaddr = m->uaddr + off;
	out->perm = m->perm;
}

/* Looks iova up in the emulated page tables (chan->lock held). */
static bool
lookup(const struct vvi_iommu *io, uint64_t iova, struct vvi_map *out)
{
	if (io->slots && iova >= VVI_IOVA_DYN_BASE) {
		uint64_t s = (iova - VVI_IOVA_DYN_BASE) / io->slot_span;

		if (s < io->nslots && in_map(&io->slots[s], iova)) {
			page_of(io, &io->slots[s], iova, out);
			return true;
		}
	}
	for (unsigned int i = 0; i < io->nfixed; i++) {
		if (in_map(&io->fixed[i], iova)) {
			page_of(io, &io->fixed[i], iova, out);
			return true;
		}
	}
	return io->mode == VVI_IOMMU_STATIC && static_page(io, iova, out);
}

/* Static mode: one UPDATE per page of every region, like a guest that
 * maps all of its memory at boot. */
int
vvi_iommu_preload(struct vvi_iommu *io)
{
	const struct vvi_mem *mem = io->mem;
	struct vvi_map m;
	int r = 0;

	if (io->mode != VVI_IOMMU_STATIC || !io->preload)
		return 0;
	pthread_mutex_lock(&io->chan->lock);
	for (uint32_t i = 0; i < mem->nregions && r == 0; i++) {
		const struct vvi_region *reg = &mem->r[i];

		for (uint64_t off = 0; off < reg->len && r == 0; off += io->page) {
			if (static_page(io, VVI_IOVA_STATIC_BASE + reg->coff + off, &m))
				r = send_iotlb(io, &m, VHOST_IOTLB_UPDATE);
		}
	}
	pthread_mutex_unlock(&io->chan->lock);
	return r;
}

int
vvi_iommu_start(struct vvi_iommu *io, const struct vvi_mem *mem,
	uint32_t nslots)
{
	io->mem = mem;
	if (io->mode == VVI_IOMMU_DYNAMIC && io->nslots != nslots) {
		rte_free(io->slots);
		io->nslots = 0;
		io->slots = rte_zmalloc("vvi_slots", sizeof(*io->slots) * nslots, 0);
		if (io->slots == NULL)
			return -ENOMEM;
		io->nslots = nslots;
	}
	return 0;
}

void
vvi_iommu_stop(struct vvi_iommu *io)
{
	pthread_mutex_lock(&io->chan->lock);
	for (unsigned int i = 0; i < io->nfixed; i++)
		send_iotlb(io, &io->fixed[i], VHOST_IOTLB_INVALIDATE);
	io->nfixed = 0;
	pthread_mutex_unlock(&io->chan->lock);
}

void
vvi_iommu_release(struct vvi_iommu *io)
{
	rte_free(io->slots);
	io->slots = NULL;
	io->nslots = 0;
}

int
vvi_iommu_map_fixed(struct vvi_iommu *io, const struct vvi_map *m)
{
	int r = 0;

	pthread_mutex_lock(&io->chan->lock);
	if (io->nfixed == VVI_IOMMU_MAX_FIXED) {
		r = -ENOSPC;
	} else {
		io->fixed[io->nfixed++] = *m;
		/* Lazy static mode announces nothing up front. */
		if (io->mode == VVI_IOMMU_DYNAMIC || io->preload)
			r = send_iotlb(io, m, VHOST_IOTLB_UPDATE);
	}
	pthread_mutex_unlock(&io->chan->lock);
	return r;
}

int
vvi_iommu_pin(struct vvi_iommu *io, uint64_t va, uint64_t len, uint8_t perm)
{
	const struct vvi_region *r = vvi_mem_find(io->mem, va, len);
	uint64_t start, end;
	struct vvi_map m;

	if (r == NULL)
		return -EFAULT;
	if (io->mode != VVI_IOMMU_DYNAMIC)
		return 0;
	/* Whole pages, clipped to the region (pages up to 1G, regions 2M). */
	start = RTE_MAX(r->va + RTE_ALIGN_FLOOR(va - r->va, io->page), r->va);
	end = RTE_MIN(r->va + RTE_ALIGN_CEIL(va + len - r->va, io->page),
		r->va + r->len);
	m = (struct vvi_map){
		.iova = VVI_IOVA_STATIC_BASE + r->coff + (start - r->va),
		.size = end - start, .uaddr = start, .perm = perm,
	};
	return vvi_iommu_map_fixed(io, &m);
}

uint64_t
vvi_iommu_map_buf(struct vvi_iommu *io, uint32_t slot, uint64_t va,
	uint32_t len, uint8_t perm)
{
	const struct vvi_region *r = vvi_mem_find(io->mem, va, len);
	struct vvi_map *m;
	uint64_t start, end, iova = 0;

	if (r == NULL || slot >= io->nslots || len == 0)
		return 0;
	start = r->va + RTE_ALIGN_FLOOR(va - r->va, io->page);
	end = RTE_MIN(r->va + RTE_ALIGN_CEIL(va + len - r->va, io->page),
		r->va + r->len);
	if (end - start > io->slot_span)
		return 0;
	pthread_mutex_lock(&io->chan->lock);
	m = &io->slots[slot];
	*m = (struct vvi_map){
		.iova = VVI_IOVA_DYN_BASE + (uint64_t)slot * io->slot_span,
		.size = end - start, .uaddr = start, .perm = perm,
	};
	if (send_iotlb(io, m, VHOST_IOTLB_UPDATE) == 0)
		iova = m->iova + (va - start);
	else
		m->size = 0;
	pthread_mutex_unlock(&io->chan->lock);
	return iova;
}

int
vvi_iommu_unmap_buf(struct vvi_iommu *io, uint32_t slot)
{
	int r = 0;

	if (slot >= io->nslots)
		return -EINVAL;
	pthread_mutex_lock(&io->chan->lock);
	if (io->slots[slot].size) {
		/* Forget it first: a miss racing with us must be refused. */
		struct vvi_map m = io->slots[slot];

		io->slots[slot].size = 0;
		r = send_iotlb(io, &m, VHOST_IOTLB_INVALIDATE);
	}
	pthread_mutex_unlock(&io->chan->lock);
	return r;
}

int
vvi_iommu_serve_miss(struct vvi_iommu *io, uint64_t iova, uint8_t perm)
{
	struct vvi_map m;
	int r = -ENOENT;

	pthread_mutex_lock(&io->chan->lock);
	io->misses++;
	if (lookup(io, iova, &m) && (m.perm & perm) == perm)
		r = send_iotlb(io, &m, VHOST_IOTLB_UPDATE);
	else
		io->misses_refused++;
	pthread_mutex_unlock(&io->chan->lock);
	return r;
}
