/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scattered static mappings (iommu_map=scatter): the IOVA windows that
 * mbuf buffers are given to the backend through.
 *
 * A window is one IOMMU page of IOVA mapping one page of our memory. The
 * window count is the working set: every page holding a mempool gets one
 * window at start, the rest go, as buffers are posted, to the pages in
 * use, so a page in use has several windows (aliases) and a buffer on it
 * takes them in turn. Window j sits at SCATTER_BASE + 2 * sigma(j) pages:
 * sigma is a seeded pseudo-random permutation, and the odd pages between
 * windows are never mapped, so no two windows are IOVA neighbours and no
 * backend can merge them.
 *
 * Window allocation is serialised by the caller's lock; the steady state
 * (every window given out) reads and turns the per-page cursors with
 * relaxed atomics and takes no lock.
 *
 * Once every window is given out, the windows of each page are copied
 * into one run of a compact table (ent: the window's slot and the next
 * entry of the same page, in the order the page takes them), so that a
 * buffer's IOVA costs two loads of lines its page keeps hot instead of
 * two random ones into tables of the whole working set (win_next and
 * win_va: at 256K windows, 3 MB). The windows and the order each page
 * takes them in stay the same.
 */
#ifndef VVI_SCATTER_H
#define VVI_SCATTER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "vvi_mem.h"

#define VVI_IOVA_SCATTER_BASE	0x600000000000ULL
/* Most windows: 1M (4 GiB of 4K pages; 2M pages alias a smaller pool). */
#define VVI_SCATTER_MAX_WINDOWS (1u << 20)
/* Windows given out and not announced yet; beyond this the backend
 * learns them by a miss. */
#define VVI_SCATTER_PENDING 1024
#define VVI_SCATTER_NONE UINT32_MAX

/* One window in the compact table: sigma(j), and the entry of the next
 * window of the same page. */
struct vvi_scatter_ent {
	uint32_t slot;
	uint32_t next;
};

struct vvi_scatter {
	const struct vvi_mem *mem;
	uint64_t page;
	unsigned int shift;	/* log2(page) */
	uint32_t nwin;		/* the working set */
	uint32_t nalloc;	/* windows given a page (atomic) */
	uint32_t npool;		/* pages holding mempools */
	uint64_t npages;	/* compact pages of the memory table */
	uint64_t *win_va;	/* page of our memory behind window j */
	uint32_t *win_slot;	/* sigma(j) */
	uint32_t *slot_win;	/* sigma^-1 */
	uint32_t *win_next;	/* next window of the same page (a ring) */
	uint32_t *page_cur;	/* per compact page: its next window */
	/* Built once nalloc == nwin; then ready is set (release). */
	struct vvi_scatter_ent *ent;	/* nwin, the windows page by page */
	uint32_t *page_ent;	/* per compact page: its next entry in ent */
	bool ready;
	uint32_t pending[VVI_SCATTER_PENDING];
	uint32_t npending;	/* atomic reads outside the lock */
};

/* Builds the windows of memory table mem for pages of size page: nwin of
 * them (0: one per mempool page), placed by seed. Fails with -EINVAL
 * (logged) if nwin is below the number of mempool pages. */
int vvi_scatter_setup(struct vvi_scatter *sc, const struct vvi_mem *mem,
	uint64_t page, uint32_t nwin, uint64_t seed);
void vvi_scatter_free(struct vvi_scatter *sc);

static inline uint64_t
vvi_scatter_win_iova(const struct vvi_scatter *sc, uint32_t j)
{
	return VVI_IOVA_SCATTER_BASE + ((uint64_t)sc->win_slot[j] << (sc->shift + 1));
}

/* IOVA range holding every window (for one INVALIDATE). */
static inline uint64_t
vvi_scatter_span(const struct vvi_scatter *sc)
{
	return (uint64_t)sc->nwin << (sc->shift + 1);
}

/* Builds the compact table once every window is given out (under the
 * allocation lock; a no-op before, and after the first time). */
void vvi_scatter_compact(struct vvi_scatter *sc);

static inline bool
vvi_scatter_ready(const struct vvi_scatter *sc)
{
	return __atomic_load_n(&sc->ready, __ATOMIC_ACQUIRE);
}

/* The compact page of va and the start of its page in our memory. */
static inline bool
vvi_scatter_page(const struct vvi_scatter *sc, uint64_t va, uint64_t *cp,
	uint64_t *base)
{
	const struct vvi_mem *m = sc->mem;

	for (uint32_t i = 0; i < m->nregions; i++) {
		const struct vvi_region *r = &m->r[i];

		if (va - r->va < r->len) {
			uint64_t off = (va - r->va) & ~(sc->page - 1);

			*cp = (r->coff + off) >> sc->shift;
			*base = r->va + off;
			return true;
		}
	}
	return false;
}

/* Steady state (vvi_scatter_ready): the IOVA of the part of
 * [va, va + len) inside its page (its length in *plen), through the
 * page's next window; 0 if the page has none. Two lcores racing on one
 * page may take the same window: harmless. */
static inline uint64_t
vvi_scatter_map_ready(struct vvi_scatter *sc, uint64_t va, uint32_t len,
	uint32_t *plen)
{
	uint64_t cp, base;
	uint32_t k;

	if (!vvi_scatter_page(sc, va, &cp, &base))
		return 0;
	k = __atomic_load_n(&sc->page_ent[cp], __ATOMIC_RELAXED);
	if (k == VVI_SCATTER_NONE)
		return 0;
	__atomic_store_n(&sc->page_ent[cp], sc->ent[k].next, __ATOMIC_RELAXED);
	*plen = (uint32_t)RTE_MIN((uint64_t)len, base + sc->page - va);
	return VVI_IOVA_SCATTER_BASE +
		((uint64_t)sc->ent[k].slot << (sc->shift + 1)) + (va - base);
}

/* The window to use for va: a new one while some are left (then *fresh
 * is set and the caller holds the allocation lock), else the page's
 * next one. VVI_SCATTER_NONE if va's page has none. */
uint32_t vvi_scatter_pick(struct vvi_scatter *sc, uint64_t va, bool alloc,
	bool *fresh);

/* Window j at iova, if iova is inside a mapped window. */
bool vvi_scatter_find(const struct vvi_scatter *sc, uint64_t iova,
	uint32_t *j);

#endif /* VVI_SCATTER_H */
