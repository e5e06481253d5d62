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
	io->scatter = a->scatter;
	io->working_set = a->working_set;
	io->seed = a->iommu_seed;
	io->chan = chan;
	io->backend_fd = -1;
	io->quit_fd = -1;
	pthread_mutex_init(&io->lock, NULL);
	/* A buffer of up to 64K starting anywhere in a page fits a window. */
	io->slot_span = RTE_ALIGN_CEIL(65536, io->page) + io->page;
}

uint64_t
vvi_iommu_static_iova(const struct vvi_iommu *io, uint64_t va, uint64_t len)
{
	const struct vvi_region *r = vvi_mem_find(io->mem, va, len);

	return r ? VVI_IOVA_STATIC_BASE + r->coff + (va - r->va) : 0;
}

static void
count_result(struct vvi_iommu *io, const struct vvi_map *m, uint8_t type,
	int r)
{
	if (r < 0) {
		io->errors++;
		VVI_LOG(ERR, "IOTLB %s iova %#" PRIx64 " size %#" PRIx64 ": %s",
			type == VHOST_IOTLB_UPDATE ? "update" : "invalidate",
			m->iova, m->size, strerror(-r));
	} else if (type == VHOST_IOTLB_UPDATE) {
		io->updates++;
	} else {
		io->invalidates++;
	}
}

/*
 * Sends n IOTLB messages of one type back to back, then collects their
 * acks in order: one round trip for the lot instead of one per message.
 * res[i] (if res) gets message i's result. chan->lock held. Returns 0
 * or the first error.
 */
static int
send_iotlb_batch(struct vvi_iommu *io, const struct vvi_map *m,
	unsigned int n, uint8_t type, int *res)
{
	struct vhost_iotlb_msg msg[VVI_IOTLB_BATCH] = { { 0 } };
	int ack[VVI_IOTLB_BATCH];
	bool ack_read;
	int first = 0, st;

	RTE_ASSERT(n <= VVI_IOTLB_BATCH);
	if (n == 0)
		return 0;
	for (unsigned int i = 0; i < n; i++)
		msg[i] = (struct vhost_iotlb_msg){
			.iova = m[i].iova, .size = m[i].size,
			.uaddr = m[i].uaddr, .perm = m[i].perm, .type = type,
		};
	st = vvi_chan_send_batch_locked(io->chan, VVI_IOTLB_MSG, msg,
		sizeof(msg[0]), n);
	ack_read = st == 1;
	if (ack_read)
		st = vvi_chan_await_acks_locked(io->chan, VVI_IOTLB_MSG, n, ack);
	for (unsigned int i = 0; i < n; i++) {
		int r = st < 0 ? st : st == 0 && ack_read ? ack[i] : 0;

		count_result(io, &m[i], type, r);
		if (res != NULL)
			res[i] = r;
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

static int
send_iotlb(struct vvi_iommu *io, const struct vvi_map *m, uint8_t type)
{
	return send_iotlb_batch(io, m, 1, type, NULL);
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

	if (io->mem == NULL || io->scatter || iova < VVI_IOVA_STATIC_BASE)
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

/* Scatter window j as a mapping (clipped to its region). */
static void
window_map(const struct vvi_iommu *io, uint32_t j, struct vvi_map *m)
{
	const struct vvi_scatter *sc = &io->sc;
	const struct vvi_region *r = vvi_mem_find(io->mem, sc->win_va[j], 1);

	m->iova = vvi_scatter_win_iova(sc, j);
	m->uaddr = sc->win_va[j];
	m->size = RTE_MIN(sc->page, r->va + r->len - sc->win_va[j]);
	m->perm = VHOST_ACCESS_RW;
}

/* Looks iova up in the emulated page tables (io->lock held). */
static bool
lookup(const struct vvi_iommu *io, uint64_t iova, struct vvi_map *out)
{
	uint32_t j;

	if (io->scatter && vvi_scatter_find(&io->sc, iova, &j)) {
		window_map(io, j, out);
		return true;
	}
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
	struct vvi_map m[VVI_IOTLB_BATCH];
	unsigned int n = 0;
	int r = 0;

	if (io->mode != VVI_IOMMU_STATIC || !io->preload)
		return 0;
	pthread_mutex_lock(&io->chan->lock);
	/* Scatter: the windows given out so far, not the regions. */
	for (uint32_t j = 0; io->scatter && j < io->sc.nalloc && r == 0; j++) {
		window_map(io, j, &m[n++]);
		if (n == VVI_IOTLB_BATCH) {
			r = send_iotlb_batch(io, m, n, VHOST_IOTLB_UPDATE, NULL);
			n = 0;
		}
	}
	for (uint32_t i = 0; !io->scatter && i < mem->nregions && r == 0; i++) {
		const struct vvi_region *reg = &mem->r[i];

		for (uint64_t off = 0; off < reg->len && r == 0; off += io->page) {
			if (static_page(io, VVI_IOVA_STATIC_BASE + reg->coff + off,
					&m[n]))
				n++;
			if (n == VVI_IOTLB_BATCH) {
				r = send_iotlb_batch(io, m, n, VHOST_IOTLB_UPDATE, NULL);
				n = 0;
			}
		}
	}
	if (r == 0 && n > 0)
		r = send_iotlb_batch(io, m, n, VHOST_IOTLB_UPDATE, NULL);
	pthread_mutex_unlock(&io->chan->lock);
	return r;
}

int
vvi_iommu_start(struct vvi_iommu *io, const struct vvi_mem *mem,
	uint32_t nslots)
{
	io->mem = mem;
	if (io->scatter) {
		int r = vvi_scatter_setup(&io->sc, mem, io->page,
			io->working_set, io->seed);

		if (r < 0)
			return r;
		io->nrings = 0;
		io->windows = io->sc.nalloc;
	}
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
	unsigned int nfixed;

	pthread_mutex_lock(&io->chan->lock);
	pthread_mutex_lock(&io->lock);
	nfixed = io->nfixed;
	io->nfixed = 0;
	pthread_mutex_unlock(&io->lock);
	for (unsigned int i = 0; i < nfixed; i++)
		send_iotlb(io, &io->fixed[i], VHOST_IOTLB_INVALIDATE);
	/* Scatter: every window in one message; they are rebuilt at start
	 * (the memory table may differ). */
	if (io->scatter && io->sc.nwin > 0) {
		struct vvi_map all = {
			.iova = VVI_IOVA_SCATTER_BASE,
			.size = vvi_scatter_span(&io->sc),
		};

		send_iotlb(io, &all, VHOST_IOTLB_INVALIDATE);
		pthread_mutex_lock(&io->lock);
		vvi_scatter_free(&io->sc);
		pthread_mutex_unlock(&io->lock);
	}
	pthread_mutex_unlock(&io->chan->lock);
}

void
vvi_iommu_release(struct vvi_iommu *io)
{
	rte_free(io->slots);
	io->slots = NULL;
	io->nslots = 0;
	vvi_scatter_free(&io->sc);
}

uint64_t
vvi_iommu_fixed_iova(struct vvi_iommu *io, uint64_t va, uint64_t len)
{
	uint64_t iova = 0;

	pthread_mutex_lock(&io->lock);
	for (unsigned int i = 0; i < io->nfixed && iova == 0; i++) {
		const struct vvi_map *m = &io->fixed[i];

		if (va >= m->uaddr && va - m->uaddr < m->size &&
				len <= m->size - (va - m->uaddr))
			iova = m->iova + (va - m->uaddr);
	}
	pthread_mutex_unlock(&io->lock);
	return iova;
}

uint64_t
vvi_iommu_scatter_map_slow(struct vvi_iommu *io, uint64_t va, uint32_t len,
	uint32_t *plen)
{
	struct vvi_scatter *sc = &io->sc;
	bool fresh;
	uint32_t j;

	if (__atomic_load_n(&sc->nalloc, __ATOMIC_ACQUIRE) < sc->nwin) {
		/* Warm-up: every buffer takes a new window until none is left. */
		pthread_mutex_lock(&io->lock);
		j = vvi_scatter_pick(sc, va, sc->nalloc < sc->nwin, &fresh);
		if (fresh)
			io->windows++;
		/* The last window: from now on the compact table. */
		vvi_scatter_compact(sc);
		pthread_mutex_unlock(&io->lock);
	} else {
		j = vvi_scatter_pick(sc, va, false, &fresh);
	}
	if (j == VVI_SCATTER_NONE)
		return 0;
	*plen = (uint32_t)RTE_MIN((uint64_t)len, sc->win_va[j] + sc->page - va);
	return vvi_scatter_win_iova(sc, j) + (va - sc->win_va[j]);
}

void
vvi_iommu_scatter_announce(struct vvi_iommu *io)
{
	struct vvi_map m[VVI_IOTLB_BATCH];
	unsigned int n;

	pthread_mutex_lock(&io->chan->lock);
	do {
		pthread_mutex_lock(&io->lock);
		n = RTE_MIN(io->sc.npending, (uint32_t)VVI_IOTLB_BATCH);
		for (unsigned int i = 0; i < n; i++)
			window_map(io, io->sc.pending[io->sc.npending - 1 - i], &m[i]);
		__atomic_store_n(&io->sc.npending, io->sc.npending - n,
			__ATOMIC_RELEASE);
		pthread_mutex_unlock(&io->lock);
		/* Lazy static mode leaves them to misses. */
		if (io->preload)
			send_iotlb_batch(io, m, n, VHOST_IOTLB_UPDATE, NULL);
	} while (n > 0);
	pthread_mutex_unlock(&io->chan->lock);
}

int
vvi_iommu_map_fixed(struct vvi_iommu *io, const struct vvi_map *m)
{
	int r = 0;

	pthread_mutex_lock(&io->chan->lock);
	pthread_mutex_lock(&io->lock);
	if (io->nfixed == VVI_IOMMU_MAX_FIXED)
		r = -ENOSPC;
	else
		io->fixed[io->nfixed++] = *m;
	pthread_mutex_unlock(&io->lock);
	/* Lazy static mode announces nothing up front. */
	if (r == 0 && (io->mode == VVI_IOMMU_DYNAMIC || io->preload))
		r = send_iotlb(io, m, VHOST_IOTLB_UPDATE);
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
	if (io->mode != VVI_IOMMU_DYNAMIC && !io->scatter)
		return 0;
	/* Whole pages, clipped to the region (pages up to 1G, regions 2M). */
	start = RTE_MAX(r->va + RTE_ALIGN_FLOOR(va - r->va, io->page), r->va);
	end = RTE_MIN(r->va + RTE_ALIGN_CEIL(va + len - r->va, io->page),
		r->va + r->len);
	m = (struct vvi_map){
		.iova = VVI_IOVA_STATIC_BASE + r->coff + (start - r->va),
		.size = end - start, .uaddr = start, .perm = perm,
	};
	/* Scatter: each ring block on its own, far from everything else. */
	if (io->scatter)
		m.iova = VVI_IOVA_RING_BASE + io->nrings++ * VVI_IOVA_RING_SPAN;
	return vvi_iommu_map_fixed(io, &m);
}

uint64_t
vvi_iommu_map_buf(struct vvi_iommu *io, uint32_t slot, uint64_t va,
	uint32_t len, uint8_t perm)
{
	const struct vvi_region *r = vvi_mem_find(io->mem, va, len);
	uint64_t start, end, iova;

	if (r == NULL || slot >= io->nslots || len == 0)
		return 0;
	start = r->va + RTE_ALIGN_FLOOR(va - r->va, io->page);
	end = RTE_MIN(r->va + RTE_ALIGN_CEIL(va + len - r->va, io->page),
		r->va + r->len);
	if (end - start > io->slot_span)
		return 0;
	/* Like a guest writing its page table: nothing is sent. The backend
	 * asks (MISS) when it first uses the buffer. */
	iova = VVI_IOVA_DYN_BASE + (uint64_t)slot * io->slot_span;
	pthread_mutex_lock(&io->lock);
	io->slots[slot] = (struct vvi_map){
		.iova = iova, .size = end - start, .uaddr = start, .perm = perm,
	};
	pthread_mutex_unlock(&io->lock);
	return iova + (va - start);
}

int
vvi_iommu_unmap_bufs(struct vvi_iommu *io, const uint32_t *slot,
	unsigned int n)
{
	struct vvi_map m[VVI_IOTLB_BATCH];
	unsigned int nm = 0;
	int r;

	if (n > VVI_IOTLB_BATCH)
		return -EINVAL;
	/* Forget them first: a miss served after this is refused, and one
	 * served before has its UPDATE sent before our INVALIDATEs (both
	 * go out under chan->lock). */
	pthread_mutex_lock(&io->chan->lock);
	pthread_mutex_lock(&io->lock);
	for (unsigned int i = 0; i < n; i++) {
		if (slot[i] < io->nslots && io->slots[slot[i]].size) {
			m[nm++] = io->slots[slot[i]];
			io->slots[slot[i]].size = 0;
		}
	}
	pthread_mutex_unlock(&io->lock);
	if (nm > 0)
		io->invalidate_batches++;
	r = send_iotlb_batch(io, m, nm, VHOST_IOTLB_INVALIDATE, NULL);
	pthread_mutex_unlock(&io->chan->lock);
	return r;
}

int
vvi_iommu_unmap_buf(struct vvi_iommu *io, uint32_t slot)
{
	if (slot >= io->nslots)
		return -EINVAL;
	return vvi_iommu_unmap_bufs(io, &slot, 1);
}

void
vvi_iommu_serve_misses(struct vvi_iommu *io, const struct vvi_miss *miss,
	unsigned int n, int *res)
{
	struct vvi_map m[VVI_IOTLB_BATCH] = { { 0 } };
	int mres[VVI_IOTLB_BATCH];
	unsigned int which[VVI_IOTLB_BATCH];
	unsigned int nm = 0;

	RTE_ASSERT(n <= VVI_IOTLB_BATCH);
	pthread_mutex_lock(&io->chan->lock);
	io->miss_batches++;
	pthread_mutex_lock(&io->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct vvi_map p;
		unsigned int j;

		io->misses++;
		if (!lookup(io, miss[i].iova, &p) ||
				(p.perm & miss[i].perm) != miss[i].perm) {
			io->misses_refused++;
			res[i] = -ENOENT;
			continue;
		}
		/* Two rings asking for one page get one UPDATE. */
		for (j = 0; j < nm && m[j].iova != p.iova; j++)
			;
		if (j == nm)
			m[nm++] = p;
		which[i] = j;
		res[i] = 0;
	}
	pthread_mutex_unlock(&io->lock);
	send_iotlb_batch(io, m, nm, VHOST_IOTLB_UPDATE, mres);
	pthread_mutex_unlock(&io->chan->lock);
	for (unsigned int i = 0; i < n; i++)
		if (res[i] == 0 && mres[which[i]] < 0)
			res[i] = mres[which[i]];
}
