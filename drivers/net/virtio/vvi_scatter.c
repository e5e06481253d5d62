/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_mempool.h>

#include "vvi_log.h"
#include "vvi_scatter.h"

/* Marks a mempool page in page_cur before its window exists. */
#define POOL_MARK (VVI_SCATTER_NONE - 1)

struct perm {
	uint64_t mask;
	unsigned int rshift;
	uint64_t mul[3], add[3];
};

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A bijection of [0, mask]: each step (odd multiply, xor-shift right,
 * add, all mod 2^bits) is invertible. */
static uint64_t
mix(const struct perm *p, uint64_t x)
{
	for (unsigned int i = 0; i < RTE_DIM(p->mul); i++) {
		x = (x * p->mul[i]) & p->mask;
		x ^= x >> p->rshift;
		x = (x + p->add[i]) & p->mask;
	}
	return x;
}

/* sigma and its inverse over [0, n): mix restricted to [0, n) by
 * walking its cycles until the value falls inside (a permutation again). */
static void
build_perm(uint32_t n, uint64_t seed, uint32_t *fwd, uint32_t *inv)
{
	struct perm p;
	unsigned int bits = 0;

	while ((1ULL << bits) < n)
		bits++;
	p.mask = (1ULL << bits) - 1;
	p.rshift = bits / 2 + 1;
	for (unsigned int i = 0; i < RTE_DIM(p.mul); i++) {
		p.mul[i] = splitmix64(&seed) | 1;
		p.add[i] = splitmix64(&seed);
	}
	for (uint32_t j = 0; j < n; j++) {
		uint64_t y = mix(&p, j);

		while (y >= n)
			y = mix(&p, y);
		fwd[j] = (uint32_t)y;
		inv[y] = j;
	}
}

static bool
compact_page(const struct vvi_scatter *sc, uint64_t va, uint64_t *cp,
	uint64_t *base)
{
	const struct vvi_region *r = vvi_mem_find(sc->mem, va, 1);
	uint64_t off;

	if (r == NULL)
		return false;
	off = RTE_ALIGN_FLOOR(va - r->va, sc->page);
	*cp = (r->coff + off) >> sc->shift;
	*base = r->va + off;
	return true;
}

static void
mark_chunk(struct rte_mempool *mp, void *opaque,
	struct rte_mempool_memhdr *mh, unsigned int idx)
{
	struct vvi_scatter *sc = opaque;
	uint64_t start = (uintptr_t)mh->addr;

	RTE_SET_USED(mp);
	RTE_SET_USED(idx);
	for (uint64_t va = RTE_ALIGN_FLOOR(start, sc->page);
			va < start + mh->len; va += sc->page) {
		uint64_t cp, base;

		if (compact_page(sc, RTE_MAX(va, start), &cp, &base) &&
				sc->page_cur[cp] == VVI_SCATTER_NONE) {
			sc->page_cur[cp] = POOL_MARK;
			sc->npool++;
		}
	}
}

static void
mark_pool(struct rte_mempool *mp, void *opaque)
{
	rte_mempool_mem_iter(mp, mark_chunk, opaque);
}

/* Gives window nalloc to the page at base (compact page cp). */
static uint32_t
alloc_window(struct vvi_scatter *sc, uint64_t cp, uint64_t base)
{
	uint32_t j = sc->nalloc;
	uint32_t cur = __atomic_load_n(&sc->page_cur[cp], __ATOMIC_RELAXED);

	sc->win_va[j] = base;
	if (cur == VVI_SCATTER_NONE || cur == POOL_MARK) {
		sc->win_next[j] = j;
	} else {
		sc->win_next[j] = __atomic_load_n(&sc->win_next[cur],
			__ATOMIC_RELAXED);
		__atomic_store_n(&sc->win_next[cur], j, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sc->page_cur[cp], j, __ATOMIC_RELEASE);
	if (sc->npending < VVI_SCATTER_PENDING) {
		sc->pending[sc->npending] = j;
		__atomic_store_n(&sc->npending, sc->npending + 1,
			__ATOMIC_RELEASE);
	}
	__atomic_store_n(&sc->nalloc, j + 1, __ATOMIC_RELEASE);
	return j;
}

void
vvi_scatter_free(struct vvi_scatter *sc)
{
	free(sc->win_va);
	free(sc->win_slot);
	free(sc->slot_win);
	free(sc->win_next);
	free(sc->page_cur);
	free(sc->ent);
	free(sc->page_ent);
	memset(sc, 0, sizeof(*sc));
}

int
vvi_scatter_setup(struct vvi_scatter *sc, const struct vvi_mem *mem,
	uint64_t page, uint32_t nwin, uint64_t seed)
{
	vvi_scatter_free(sc);
	sc->mem = mem;
	sc->page = page;
	sc->shift = (unsigned int)rte_log2_u64(page);
	sc->npages = mem->total >> sc->shift;
	sc->page_cur = malloc(sizeof(*sc->page_cur) * sc->npages);
	if (sc->page_cur == NULL)
		return -ENOMEM;
	memset(sc->page_cur, 0xff, sizeof(*sc->page_cur) * sc->npages);
	rte_mempool_walk(mark_pool, sc);
	if (nwin == 0)
		nwin = RTE_MAX(sc->npool, 1u);
	if (nwin < sc->npool) {
		VVI_LOG(ERR, "iotlb_working_set=%u is below the %u pages of %" PRIu64
			"K that hold mempools: give at least %u, or make the pools smaller",
			nwin, sc->npool, page >> 10, sc->npool);
		vvi_scatter_free(sc);
		return -EINVAL;
	}
	sc->nwin = nwin;
	sc->win_va = calloc(nwin, sizeof(*sc->win_va));
	sc->win_slot = malloc(sizeof(*sc->win_slot) * nwin);
	sc->slot_win = malloc(sizeof(*sc->slot_win) * nwin);
	sc->win_next = malloc(sizeof(*sc->win_next) * nwin);
	sc->ent = malloc(sizeof(*sc->ent) * nwin);
	sc->page_ent = malloc(sizeof(*sc->page_ent) * sc->npages);
	if (!sc->win_va || !sc->win_slot || !sc->slot_win || !sc->win_next ||
			!sc->ent || !sc->page_ent) {
		vvi_scatter_free(sc);
		return -ENOMEM;
	}
	build_perm(nwin, seed, sc->win_slot, sc->slot_win);
	/* One window per mempool page, announced by the preload. */
	for (uint64_t cp = 0; cp < sc->npages; cp++) {
		const struct vvi_region *r;

		if (sc->page_cur[cp] != POOL_MARK)
			continue;
		r = vvi_mem_find_compact(mem, cp << sc->shift);
		alloc_window(sc, cp, r->va + ((cp << sc->shift) - r->coff));
	}
	sc->npending = 0;
	vvi_scatter_compact(sc);
	VVI_LOG(INFO, "scatter: %u windows of %" PRIu64 "K, %u for the mempool pages",
		nwin, page >> 10, sc->npool);
	return 0;
}

void
vvi_scatter_compact(struct vvi_scatter *sc)
{
	uint32_t k = 0;

	if (sc->ready || sc->nalloc < sc->nwin)
		return;
	for (uint64_t cp = 0; cp < sc->npages; cp++) {
		/* Lcores may turn the cursor meanwhile: any window of the
		 * page is as good a start. */
		uint32_t w0 = __atomic_load_n(&sc->page_cur[cp], __ATOMIC_RELAXED);
		uint32_t w = w0, start = k;

		sc->page_ent[cp] = VVI_SCATTER_NONE;
		if (w0 == VVI_SCATTER_NONE || w0 == POOL_MARK)
			continue;
		do {
			sc->ent[k].slot = sc->win_slot[w];
			sc->ent[k].next = k + 1;
			k++;
			w = __atomic_load_n(&sc->win_next[w], __ATOMIC_RELAXED);
		} while (w != w0 && k < sc->nwin);
		sc->ent[k - 1].next = start;
		sc->page_ent[cp] = start;
	}
	__atomic_store_n(&sc->ready, true, __ATOMIC_RELEASE);
}

uint32_t
vvi_scatter_pick(struct vvi_scatter *sc, uint64_t va, bool alloc, bool *fresh)
{
	uint64_t cp, base;
	uint32_t w;

	*fresh = false;
	if (!compact_page(sc, va, &cp, &base))
		return VVI_SCATTER_NONE;
	if (alloc) {
		*fresh = true;
		return alloc_window(sc, cp, base);
	}
	w = __atomic_load_n(&sc->page_cur[cp], __ATOMIC_ACQUIRE);
	if (w == VVI_SCATTER_NONE)
		return w;
	/* Two lcores racing here may take the same window: harmless. */
	__atomic_store_n(&sc->page_cur[cp],
		__atomic_load_n(&sc->win_next[w], __ATOMIC_ACQUIRE),
		__ATOMIC_RELAXED);
	return w;
}

bool
vvi_scatter_find(const struct vvi_scatter *sc, uint64_t iova, uint32_t *j)
{
	uint64_t pg;

	if (sc->nwin == 0 || iova < VVI_IOVA_SCATTER_BASE ||
			iova - VVI_IOVA_SCATTER_BASE >= vvi_scatter_span(sc))
		return false;
	pg = (iova - VVI_IOVA_SCATTER_BASE) >> sc->shift;
	if (pg & 1)
		return false;		/* the gap after a window */
	*j = sc->slot_win[pg >> 1];
	return *j < __atomic_load_n(&sc->nalloc, __ATOMIC_ACQUIRE);
}
