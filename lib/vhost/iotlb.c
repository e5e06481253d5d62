/* SPDX-License-Identifier: BSD-3-Clause */

/* The IOTLB cache: a sorted array of non-overlapping ranges. See
 * iotlb.h for the structure and its guarantees. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vhost_types.h>

#include <rte_common.h>

#include "iotlb.h"

int
vhost_iotlb_init(struct vhost_iotlb *t, uint32_t max)
{
	uint64_t gen = t->gen;

	memset(t, 0, sizeof(*t));
	t->gen = gen + 1;	/* never back to a value seen before */
	/* One spare slot: splitting an entry adds one before eviction. */
	t->e = calloc((size_t)max + 1, sizeof(*t->e));
	if (t->e == NULL)
		return -ENOMEM;
	t->max = max;
	return 0;
}

void
vhost_iotlb_fini(struct vhost_iotlb *t)
{
	uint64_t gen = t->gen;

	free(t->e);
	memset(t, 0, sizeof(*t));
	t->gen = gen + 1;
}

void
vhost_iotlb_flush(struct vhost_iotlb *t)
{
	t->n = 0;
	t->hint = 0;
	t->gen++;
}

static void
remove_at(struct vhost_iotlb *t, uint32_t i)
{
	memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof(*t->e));
	t->n--;
}

static void
insert_at(struct vhost_iotlb *t, uint32_t i, const struct vhost_iotlb_entry *e)
{
	memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(*t->e));
	t->e[i] = *e;
	t->n++;
}

/* Drop the entry inserted longest ago; returns its index. */
static uint32_t
evict_oldest(struct vhost_iotlb *t)
{
	uint32_t oldest = 0;

	for (uint32_t i = 1; i < t->n; i++)
		if (t->e[i].seq < t->e[oldest].seq)
			oldest = i;
	remove_at(t, oldest);
	t->evictions++;
	return oldest;
}

/* First index whose range ends at or after iova. */
static uint32_t
first_ending_after(const struct vhost_iotlb *t, uint64_t iova)
{
	uint32_t lo = 0, hi = t->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->e[mid].last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
vhost_iotlb_invalidate(struct vhost_iotlb *t, uint64_t iova, uint64_t size)
{
	uint64_t last;
	uint32_t i, changed = 0;

	if (size == 0)
		return 0;
	t->gen++;
	last = iova + (size - 1);
	if (last < iova)
		last = UINT64_MAX;	/* "to the end of the space" */

	i = first_ending_after(t, iova);
	while (i < t->n && t->e[i].iova <= last) {
		struct vhost_iotlb_entry *e = &t->e[i];

		changed++;
		if (e->iova >= iova && e->last <= last) {
			remove_at(t, i);
		} else if (e->iova < iova && e->last > last) {
			/* A hole in the middle: keep both ends. */
			struct vhost_iotlb_entry right = *e;

			right.uaddr += last + 1 - e->iova;
			right.iova = last + 1;
			e->last = iova - 1;
			insert_at(t, i + 1, &right);
			if (t->n > t->max)
				evict_oldest(t);
			break;
		} else if (e->iova < iova) {
			e->last = iova - 1;
			i++;
		} else {
			e->uaddr += last + 1 - e->iova;
			e->iova = last + 1;
			i++;
		}
	}
	t->hint = 0;
	return changed;
}

/* Can [iova...] -> uaddr with perm extend left? Both address ranges
 * must continue exactly, without wrapping past 2^64. */
static bool
contiguous(const struct vhost_iotlb_entry *left, uint64_t iova, uint64_t uaddr,
	   uint8_t perm)
{
	uint64_t uend = left->uaddr + (left->last - left->iova);

	return left->perm == perm && left->last != UINT64_MAX &&
		left->last + 1 == iova && uend != UINT64_MAX && uend + 1 == uaddr;
}

int
vhost_iotlb_update(struct vhost_iotlb *t, uint64_t iova, uint64_t size,
		   uint64_t uaddr, uint8_t perm)
{
	struct vhost_iotlb_entry ne;
	uint64_t last;
	uint32_t pos;

	if (size == 0 || perm == 0 || (perm & ~VHOST_ACCESS_RW) != 0)
		return -EINVAL;
	last = iova + (size - 1);
	if (last < iova || uaddr + (size - 1) < uaddr)
		return -EINVAL;

	vhost_iotlb_invalidate(t, iova, size);	/* moves gen too */
	pos = first_ending_after(t, iova);
	ne = (struct vhost_iotlb_entry){ .iova = iova, .last = last,
		.uaddr = uaddr, .perm = perm, .seq = t->next_seq++,
		.stamp = t->clock };

	/* Extend the left neighbour, then absorb the right one. */
	if (pos > 0 && contiguous(&t->e[pos - 1], iova, uaddr, perm)) {
		struct vhost_iotlb_entry *left = &t->e[pos - 1];

		left->last = last;
		left->seq = ne.seq;
		left->stamp = RTE_MIN(left->stamp, ne.stamp);
		if (pos < t->n && contiguous(left, t->e[pos].iova,
					     t->e[pos].uaddr, t->e[pos].perm)) {
			left->last = t->e[pos].last;
			left->stamp = RTE_MIN(left->stamp, t->e[pos].stamp);
			remove_at(t, pos);
		}
		return 0;
	}
	if (pos < t->n && contiguous(&ne, t->e[pos].iova, t->e[pos].uaddr,
				     t->e[pos].perm)) {
		t->e[pos].iova = iova;
		t->e[pos].uaddr = uaddr;
		t->e[pos].seq = ne.seq;
		t->e[pos].stamp = RTE_MIN(t->e[pos].stamp, ne.stamp);
		return 0;
	}
	if (t->n >= t->max && t->max > 0) {
		if (evict_oldest(t) < pos)
			pos--;
	}
	if (t->max == 0)
		return 0;
	insert_at(t, pos, &ne);
	return 0;
}
