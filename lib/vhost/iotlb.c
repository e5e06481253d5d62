/* SPDX-License-Identifier: BSD-3-Clause */

/* The IOTLB cache: entries indexed by a hash of the aligned blocks that
 * tile them (lookups), ordered by a treap (range operations), retired
 * in FIFO order. See iotlb.h for the structure and its guarantees. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost_types.h>

#include "iotlb.h"

#define NIL VHOST_IOTLB_NIL

/* Any single range fits in an empty table. */
_Static_assert(VHOST_IOTLB_RANGE_MAX_SLOTS < VHOST_IOTLB_MIN_SLOTS,
	       "a range could need more slots than the budget");
/* A slot's hash bits hold its home slot in the largest table, and its
 * level bits the largest level + 1. */
_Static_assert(VHOST_IOTLB_LEVELS + 1 < 8, "levels do not fit a slot");
_Static_assert((UINT64_C(8) * VHOST_IOTLB_MAX_CAPACITY) <=
	       (UINT64_C(1) << VHOST_IOTLB_SLOT_HASH_BITS),
	       "home slots do not fit a slot");
/* A lookup reads one line per entry. */
_Static_assert(sizeof(struct vhost_iotlb_entry) == 64, "an entry is not one line");

/* ---- sizes -------------------------------------------------------------- */

static uint32_t
max_slots_for(uint32_t max)
{
	uint64_t s = 2 * (uint64_t)max;

	return (uint32_t)RTE_MAX(s, (uint64_t)VHOST_IOTLB_MIN_SLOTS);
}

/* Hash slots: a power of two at least twice the slot budget (load
 * factor at most 1/2: probe sequences stay short). */
static uint64_t
table_slots_for(uint32_t max)
{
	return rte_align64pow2(2 * (uint64_t)max_slots_for(max));
}

size_t
vhost_iotlb_mem_bytes(uint32_t max)
{
	return (size_t)max * (sizeof(struct vhost_iotlb_entry) +
			      sizeof(struct vhost_iotlb_node)) +
		table_slots_for(max) * sizeof(uint64_t);
}

static uint64_t
random_seed(void)
{
	uint64_t s;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
}

static void
reset_state(struct vhost_iotlb *t)
{
	t->levels = 0;
	t->n = 0;
	t->nslots = 0;
	memset(t->level_slots, 0, sizeof(t->level_slots));
	t->root = NIL;
	t->oldest = t->newest = NIL;
	t->free_id = NIL;
	t->fresh_id = 0;
}

/* The tables come straight from mmap, not malloc: a few MiB per device
 * that glibc would keep after free() (its mmap threshold grows to the
 * size of the last block freed, so the next device's tables would come
 * from the heap and stay resident after it goes). Anonymous pages are
 * zero and only become resident as they are touched.
 *
 * The two tables lookups read (entries and slots) ask for transparent
 * huge pages once they are VHOST_IOTLB_HUGE_BYTES or more: a scattered
 * working set touches lines all over them, and with 4 KiB pages every
 * lookup then also misses the data TLB (at 300000 entries, 4096 pages
 * of slots and 4700 of entries). Such a table starts on a 2 MiB
 * boundary, and its length stays what it was: a tail short of 2 MiB
 * keeps 4 KiB pages, so the bytes mapped, and with them the most that
 * can become resident, are unchanged. If the kernel has no THP, or
 * gives none, the table simply keeps 4 KiB pages. */
static void *
table_map(size_t bytes, bool lookup)
{
	const size_t align = lookup && bytes >= VHOST_IOTLB_HUGE_BYTES ?
		VHOST_IOTLB_HUGE_BYTES : 0;
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = RTE_ALIGN_CEIL(bytes, pg), span;
	uint8_t *p, *a;

	span = align != 0 ? len + align - pg : len;
	p = mmap(NULL, span, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (align == 0)
		return p;
	/* Keep [a, a + len) of the span, a on a 2 MiB boundary. */
	a = RTE_PTR_ALIGN_CEIL(p, align);
	if (a != p)
		munmap(p, (size_t)(a - p));
	if (p + span != a + len)
		munmap(a + len, (size_t)(p + span - (a + len)));
	(void)madvise(a, len, MADV_HUGEPAGE);	/* a hint: 4 KiB pages without */
	return a;
}

static void
table_unmap(void *p, size_t bytes)
{
	if (p != NULL)
		munmap(p, bytes);
}

static void
tables_unmap(struct vhost_iotlb *t, uint32_t max)
{
	table_unmap(t->e, (size_t)max * sizeof(*t->e));
	table_unmap(t->node, (size_t)max * sizeof(*t->node));
	table_unmap(t->slot, (size_t)table_slots_for(max) * sizeof(*t->slot));
	t->e = NULL;
	t->node = NULL;
	t->slot = NULL;
}

int
vhost_iotlb_init(struct vhost_iotlb *t, uint32_t max)
{
	uint64_t gen = t->gen;

	memset(t, 0, sizeof(*t));
	t->gen = gen + 1;	/* never back to a value seen before */
	reset_state(t);
	if (max == 0)
		return 0;	/* holds nothing */
	if (max > VHOST_IOTLB_MAX_CAPACITY)
		return -EINVAL;
	t->e = table_map((size_t)max * sizeof(*t->e), true);
	t->node = table_map((size_t)max * sizeof(*t->node), false);
	t->slot = table_map((size_t)table_slots_for(max) * sizeof(*t->slot),
			    true);
	if (t->e == NULL || t->node == NULL || t->slot == NULL) {
		tables_unmap(t, max);
		return -ENOMEM;
	}
	t->slot_mask = table_slots_for(max) - 1;
	t->max = max;
	t->max_slots = max_slots_for(max);
	t->seed = random_seed();
	return 0;
}

void
vhost_iotlb_fini(struct vhost_iotlb *t)
{
	uint64_t gen = t->gen;

	tables_unmap(t, t->max);
	memset(t, 0, sizeof(*t));
	reset_state(t);
	t->gen = gen + 1;
}

/* ---- the treap (control path only) ------------------------------------- */

static uint32_t
prio(const struct vhost_iotlb *t, uint32_t id)
{
	uint64_t h = (id + 1) * 0x9e3779b97f4a7c15ULL ^ t->seed;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h >> 32);
}

/* Split the tree at root into entries below key and the rest. */
static void
tree_split(struct vhost_iotlb *t, uint32_t root, uint64_t key, uint32_t *lo,
	   uint32_t *hi)
{
	if (root == NIL) {
		*lo = *hi = NIL;
	} else if (t->e[root].iova < key) {
		tree_split(t, t->node[root].right, key, &t->node[root].right, hi);
		*lo = root;
	} else {
		tree_split(t, t->node[root].left, key, lo, &t->node[root].left);
		*hi = root;
	}
}

/* Join two trees, every entry of lo below every entry of hi. */
static uint32_t
tree_join(struct vhost_iotlb *t, uint32_t lo, uint32_t hi)
{
	if (lo == NIL)
		return hi;
	if (hi == NIL)
		return lo;
	if (prio(t, lo) > prio(t, hi)) {
		t->node[lo].right = tree_join(t, t->node[lo].right, hi);
		return lo;
	}
	t->node[hi].left = tree_join(t, lo, t->node[hi].left);
	return hi;
}

static void
tree_insert(struct vhost_iotlb *t, uint32_t id)
{
	uint32_t lo, hi;

	t->node[id].left = t->node[id].right = NIL;
	tree_split(t, t->root, t->e[id].iova, &lo, &hi);
	t->root = tree_join(t, tree_join(t, lo, id), hi);
}

static uint32_t
tree_erase(struct vhost_iotlb *t, uint32_t root, uint64_t key)
{
	struct vhost_iotlb_node *nd;

	if (root == NIL)
		return NIL;
	nd = &t->node[root];
	if (key < t->e[root].iova)
		nd->left = tree_erase(t, nd->left, key);
	else if (key > t->e[root].iova)
		nd->right = tree_erase(t, nd->right, key);
	else
		return tree_join(t, nd->left, nd->right);
	return root;
}

/* First entry (in IOVA order) ending at or after iova, or NIL. Entries
 * do not overlap, so ends are in the same order as starts. */
static uint32_t
first_ending_after(const struct vhost_iotlb *t, uint64_t iova)
{
	uint32_t cur = t->root, best = NIL;

	while (cur != NIL) {
		if (t->e[cur].last >= iova) {
			best = cur;
			cur = t->node[cur].left;
		} else {
			cur = t->node[cur].right;
		}
	}
	return best;
}

/* ---- retirement order ----------------------------------------------------- */

static void
fifo_unlink(struct vhost_iotlb *t, uint32_t id)
{
	struct vhost_iotlb_node *nd = &t->node[id];

	if (nd->older != NIL)
		t->node[nd->older].newer = nd->newer;
	else
		t->oldest = nd->newer;
	if (nd->newer != NIL)
		t->node[nd->newer].older = nd->older;
	else
		t->newest = nd->older;
}

/* Put id right after prev in age (prev NIL: as the newest). Right
 * after prev, id takes prev's age (the two are as old); as the newest,
 * a new one. */
static void
fifo_insert_after(struct vhost_iotlb *t, uint32_t id, uint32_t prev)
{
	struct vhost_iotlb_node *nd = &t->node[id];

	if (prev == NIL) {
		prev = t->newest;
		t->e[id].age = t->next_age++;
	} else {
		t->e[id].age = t->e[prev].age;
	}
	nd->older = prev;
	nd->newer = prev == NIL ? t->oldest : t->node[prev].newer;
	if (nd->older != NIL)
		t->node[nd->older].newer = id;
	else
		t->oldest = id;
	if (nd->newer != NIL)
		t->node[nd->newer].older = id;
	else
		t->newest = id;
}

/* ---- the lookup index ------------------------------------------------------ */

static void
level_count(struct vhost_iotlb *t, unsigned int level, int delta)
{
	t->level_slots[level] += delta;
	if (t->level_slots[level] != 0)
		t->levels |= 1u << level;
	else
		t->levels &= ~(1u << level);
}

static unsigned int
slot_level(uint64_t w)
{
	return (unsigned int)((w >> VHOST_IOTLB_SLOT_LEVEL_SHIFT) & 7) - 1;
}

static uint32_t
slot_id(uint64_t w)
{
	return (uint32_t)(w >> VHOST_IOTLB_SLOT_ID_SHIFT);
}

/* The slot of block key (of that level) for entry id; *home: where its
 * probe run starts. */
static uint64_t
slot_word(const struct vhost_iotlb *t, unsigned int level, uint64_t key,
	  uint32_t id, uint64_t *home)
{
	uint64_t h = vhost_iotlb_hash(t, key);

	*home = h & t->slot_mask;
	return vhost_iotlb_tag(h, level) | (uint64_t)id << VHOST_IOTLB_SLOT_ID_SHIFT;
}

static void
slot_add(struct vhost_iotlb *t, unsigned int level, uint64_t key, uint32_t id)
{
	uint64_t h, w = slot_word(t, level, key, id, &h);

	while (t->slot[h] != 0)
		h = (h + 1) & t->slot_mask;
	t->slot[h] = w;
	t->nslots++;
	t->node[id].nslots++;
	level_count(t, level, 1);
}

/* Remove slot i, moving later slots of its probe run back into the hole
 * (no tombstones: runs stay as short as the load factor makes them). */
static void
slot_remove_at(struct vhost_iotlb *t, uint64_t i)
{
	uint64_t j = i;

	t->nslots--;
	t->node[slot_id(t->slot[i])].nslots--;
	level_count(t, slot_level(t->slot[i]), -1);
	for (;;) {
		uint64_t home;

		j = (j + 1) & t->slot_mask;
		if (t->slot[j] == 0)
			break;
		home = t->slot[j] & t->slot_mask;
		/* Slot j may move to i unless its home is cyclically in (i, j]. */
		if (((j - home) & t->slot_mask) >= ((j - i) & t->slot_mask)) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	t->slot[i] = 0;
}

/* Two blocks of one entry may have the same slot word (their hashes
 * agree on the low bits): either slot may go, they are the same. */
static void
slot_del(struct vhost_iotlb *t, unsigned int level, uint64_t key, uint32_t id)
{
	uint64_t h, w = slot_word(t, level, key, id, &h);

	for (; t->slot[h] != 0; h = (h + 1) & t->slot_mask) {
		if (t->slot[h] == w) {
			slot_remove_at(t, h);
			return;
		}
	}
}

/* The aligned blocks tiling [cur, last]: the largest block size that
 * starts at cur and fits, or the 4 KiB page holding cur. */
struct blocks {
	uint64_t cur, last;
	bool done;
};

static bool
blocks_next(struct blocks *b, unsigned int *level, uint64_t *key)
{
	unsigned int l = VHOST_IOTLB_LEVELS - 1;
	uint64_t end;

	if (b->done)
		return false;
	for (; l > 0; l--) {
		uint64_t m = (1ULL << VHOST_IOTLB_LEVEL_SHIFT(l)) - 1;

		if ((b->cur & m) == 0 && b->last - b->cur >= m)
			break;
	}
	end = b->cur | ((1ULL << VHOST_IOTLB_LEVEL_SHIFT(l)) - 1);
	*level = l;
	*key = vhost_iotlb_key(l, b->cur);
	if (end >= b->last)
		b->done = true;
	else
		b->cur = end + 1;
	return true;
}

uint32_t
vhost_iotlb_range_blocks(uint64_t iova, uint64_t last, uint32_t limit)
{
	struct blocks b = { iova, last, false };
	unsigned int l;
	uint64_t key;
	uint32_t n = 0;

	while (n <= limit && blocks_next(&b, &l, &key))
		n++;
	return n;
}

static void entry_remove(struct vhost_iotlb *t, uint32_t id);

static void
evict(struct vhost_iotlb *t, uint32_t id)
{
	entry_remove(t, id);
	t->evictions++;
}

/* A partial page is shared with other sub-page entries: keep their
 * number bounded, lookups in the page walk them all. Entry id is about
 * to be indexed under the page (block key). A slot's tag may match
 * another page's: only entries inside the page count. The oldest of
 * them goes: the walk of the page's probe run reads each entry anyway,
 * and its age tells, so the retirement list is not searched. */
static void
limit_page_sharing(struct vhost_iotlb *t, uint64_t key, uint32_t id)
{
	uint64_t page = (key & ((UINT64_C(1) << 58) - 1)) << VHOST_IOTLB_LEVEL_SHIFT(0);
	uint64_t h, tag = slot_word(t, 0, key, 0, &h);
	uint32_t found = 0, oldest = NIL;

	for (; t->slot[h] != 0; h = (h + 1) & t->slot_mask) {
		uint32_t other = slot_id(t->slot[h]);

		if ((t->slot[h] & VHOST_IOTLB_SLOT_TAG_MASK) == tag && other != id &&
		    t->e[other].iova <= page + ((UINT64_C(1) << VHOST_IOTLB_LEVEL_SHIFT(0)) - 1) &&
		    t->e[other].last >= page) {
			if (oldest == NIL || t->e[other].age < t->e[oldest].age)
				oldest = other;
			found++;
		}
	}
	if (found >= VHOST_IOTLB_MAX_PER_PAGE) {
		evict(t, oldest);
		t->page_evictions++;
	}
}

/* Add the blocks of entry id to the index, retiring the oldest entries
 * while the slot budget is short. Returns 0, or -1 (nothing added) if
 * id cannot fit even alone. */
static int
index_entry(struct vhost_iotlb *t, uint32_t id)
{
	const struct vhost_iotlb_entry *e = &t->e[id];
	struct blocks b = { e->iova, e->last, false };
	uint32_t need = vhost_iotlb_range_blocks(e->iova, e->last, t->max_slots);
	unsigned int l;
	uint64_t key;

	while (t->nslots + need > t->max_slots) {
		uint32_t victim = t->oldest == id ? t->node[id].newer : t->oldest;

		if (victim == NIL)
			return -1;
		evict(t, victim);
	}
	while (blocks_next(&b, &l, &key)) {
		if (l == 0)
			limit_page_sharing(t, key, id);
		slot_add(t, l, key, id);
	}
	return 0;
}

static void
unindex_entry(struct vhost_iotlb *t, uint32_t id)
{
	const struct vhost_iotlb_entry *e = &t->e[id];
	struct blocks b = { e->iova, e->last, false };
	unsigned int l;
	uint64_t key;

	while (t->node[id].nslots != 0 && blocks_next(&b, &l, &key))
		slot_del(t, l, key, id);
}

/* ---- entries ---------------------------------------------------------------- */

static void
entry_remove(struct vhost_iotlb *t, uint32_t id)
{
	unindex_entry(t, id);
	t->root = tree_erase(t, t->root, t->e[id].iova);
	fifo_unlink(t, id);
	t->node[id].right = t->free_id;
	t->free_id = id;
	t->n--;
}

/* A new entry, placed after age_prev in retirement order (NIL: newest).
 * Returns its id, or NIL if it cannot be held. */
static uint32_t
entry_new(struct vhost_iotlb *t, const struct vhost_iotlb_entry *ne,
	  uint32_t age_prev)
{
	uint32_t id;

	if (t->n >= t->max) {
		if (t->oldest == age_prev)
			age_prev = NIL;	/* it goes; take the newest place */
		evict(t, t->oldest);
	}
	if (t->free_id != NIL) {
		id = t->free_id;
		t->free_id = t->node[id].right;
	} else {
		id = t->fresh_id++;
	}
	t->e[id] = *ne;
	t->node[id].nslots = 0;
	tree_insert(t, id);
	fifo_insert_after(t, id, age_prev);
	t->n++;
	if (index_entry(t, id) < 0) {
		evict(t, id);
		return NIL;
	}
	return id;
}

/* Change the range of entry id (its neighbours in the tree do not move
 * past it): re-index it. The entry may be retired if it cannot fit. */
static void
entry_reshape(struct vhost_iotlb *t, uint32_t id, uint64_t iova, uint64_t last)
{
	struct vhost_iotlb_entry *e = &t->e[id];
	uint64_t shift = iova - e->iova;	/* modulo 2^64 */

	unindex_entry(t, id);
	e->uaddr += shift;
	e->hva += shift;
	e->gpa += shift;
	e->iova = iova;
	e->last = last;
	if (index_entry(t, id) < 0)
		evict(t, id);
}

void
vhost_iotlb_flush(struct vhost_iotlb *t)
{
	t->gen++;
	if (t->slot == NULL)
		return;
	/* Few slots in a large table: remove them one by one rather than
	 * clear the whole table. */
	if ((uint64_t)t->nslots * 16 < t->slot_mask + 1) {
		while (t->oldest != NIL)
			entry_remove(t, t->oldest);
	} else {
		memset(t->slot, 0, (t->slot_mask + 1) * sizeof(*t->slot));
	}
	reset_state(t);
}

uint32_t
vhost_iotlb_invalidate(struct vhost_iotlb *t, uint64_t iova, uint64_t size)
{
	uint64_t last;
	uint32_t id, changed = 0;

	t->gen++;
	if (size == 0 || t->e == NULL)
		return 0;
	last = iova + (size - 1);
	if (last < iova)
		last = UINT64_MAX;	/* "to the end of the space" */

	while ((id = first_ending_after(t, iova)) != NIL && t->e[id].iova <= last) {
		struct vhost_iotlb_entry e = t->e[id];

		changed++;
		if (e.iova >= iova && e.last <= last) {
			entry_remove(t, id);
		} else if (e.iova < iova && e.last > last) {
			/* A hole in the middle: keep both ends, the same age. */
			struct vhost_iotlb_entry right = e;
			uint64_t off = last + 1 - e.iova;

			right.iova = last + 1;
			right.uaddr += off;
			right.hva += off;
			right.gpa += off;
			entry_reshape(t, id, e.iova, iova - 1);
			entry_new(t, &right, id);
			break;
		} else if (e.iova < iova) {
			entry_reshape(t, id, e.iova, iova - 1);
		} else {
			entry_reshape(t, id, last + 1, e.last);
			break;
		}
	}
	return changed;
}

/* Does [iova...] -> (uaddr, hva, gpa) with perm continue left? Every
 * address range must continue exactly, without wrapping past 2^64. */
static bool
contiguous(const struct vhost_iotlb_entry *left, uint64_t iova, uint64_t uaddr,
	   uint64_t hva, uint64_t gpa, uint8_t perm)
{
	uint64_t len = left->last - left->iova;	/* minus one */

	return left->perm == perm && left->last != UINT64_MAX &&
		left->last + 1 == iova &&
		left->uaddr + len != UINT64_MAX && left->uaddr + len + 1 == uaddr &&
		left->hva + len + 1 == hva && left->gpa + len + 1 == gpa;
}

static uint32_t
find_id(const struct vhost_iotlb *t, uint64_t iova)
{
	const struct vhost_iotlb_entry *e = vhost_iotlb_find(t, iova);

	return e == NULL ? NIL : (uint32_t)(e - t->e);
}

/* Entry id was mapped again (in part): it is the newest now. */
static void
touch(struct vhost_iotlb *t, uint32_t id)
{
	fifo_unlink(t, id);
	fifo_insert_after(t, id, NIL);
}

int
vhost_iotlb_map(struct vhost_iotlb *t, uint64_t iova, uint64_t size,
		uint64_t uaddr, uint64_t hva, uint64_t gpa, uint8_t perm)
{
	struct vhost_iotlb_entry ne;
	uint64_t last;
	uint32_t left = NIL, right = NIL;

	if (size == 0 || perm == 0 || (perm & ~VHOST_ACCESS_RW) != 0)
		return -EINVAL;
	last = iova + (size - 1);
	if (last < iova || uaddr + (size - 1) < uaddr)
		return -EINVAL;
	if (t->slot == NULL)
		return 0;	/* no room at all */

	vhost_iotlb_invalidate(t, iova, size);	/* moves gen too */
	ne = (struct vhost_iotlb_entry){ .iova = iova, .last = last,
		.uaddr = uaddr, .hva = hva, .gpa = gpa, .perm = perm,
		.stamp = t->clock };

	if (iova != 0) {
		left = find_id(t, iova - 1);
		if (left != NIL && !contiguous(&t->e[left], iova, uaddr, hva, gpa, perm))
			left = NIL;
	}
	if (last != UINT64_MAX) {
		right = find_id(t, last + 1);
		if (right != NIL && !contiguous(&ne, t->e[right].iova, t->e[right].uaddr,
						t->e[right].hva, t->e[right].gpa,
						t->e[right].perm))
			right = NIL;
	}
	/* Merge only while the result stays cheap to index: all three if
	 * that fits, else the pair that fits. Two neighbours left apart
	 * thus always need more than VHOST_IOTLB_MERGE_SLOTS together. */
	if (left != NIL && right != NIL &&
	    vhost_iotlb_range_blocks(t->e[left].iova, t->e[right].last,
				     VHOST_IOTLB_MERGE_SLOTS) > VHOST_IOTLB_MERGE_SLOTS) {
		if (vhost_iotlb_range_blocks(t->e[left].iova, last,
					     VHOST_IOTLB_MERGE_SLOTS) <= VHOST_IOTLB_MERGE_SLOTS)
			right = NIL;
		else
			left = NIL;
	}
	if (left != NIL && right == NIL &&
	    vhost_iotlb_range_blocks(t->e[left].iova, last,
				     VHOST_IOTLB_MERGE_SLOTS) > VHOST_IOTLB_MERGE_SLOTS)
		left = NIL;
	if (left == NIL && right != NIL &&
	    vhost_iotlb_range_blocks(iova, t->e[right].last,
				     VHOST_IOTLB_MERGE_SLOTS) > VHOST_IOTLB_MERGE_SLOTS)
		right = NIL;

	if (left != NIL) {
		struct vhost_iotlb_entry *l = &t->e[left];
		uint64_t new_last = last;

		l->stamp = RTE_MIN(l->stamp, ne.stamp);
		if (right != NIL) {
			new_last = t->e[right].last;
			l->stamp = RTE_MIN(l->stamp, t->e[right].stamp);
			entry_remove(t, right);
		}
		touch(t, left);
		entry_reshape(t, left, l->iova, new_last);
		return 0;
	}
	if (right != NIL) {
		struct vhost_iotlb_entry *r = &t->e[right];

		r->stamp = RTE_MIN(r->stamp, ne.stamp);
		touch(t, right);
		entry_reshape(t, right, iova, r->last);
		return 0;
	}
	entry_new(t, &ne, NIL);
	return 0;
}

uint32_t
vhost_iotlb_reresolve(struct vhost_iotlb *t, vhost_iotlb_resolve_t resolve,
		      void *arg)
{
	uint32_t id, dropped = 0;

	t->gen++;
	if (t->e == NULL)
		return 0;
	for (id = t->oldest; id != NIL;) {
		struct vhost_iotlb_entry *e = &t->e[id];
		uint32_t next = t->node[id].newer;
		uint64_t hva, gpa;

		/* An entry of the whole space is in no memory table. */
		if (e->last - e->iova != UINT64_MAX &&
		    resolve(arg, e->uaddr, e->last - e->iova + 1, &hva, &gpa)) {
			e->hva = hva;
			e->gpa = gpa;
		} else {
			entry_remove(t, id);
			dropped++;
		}
		id = next;
	}
	return dropped;
}

uint32_t
vhost_iotlb_find_uaddr(const struct vhost_iotlb *t, uint64_t uaddr,
		       uint64_t size, uint32_t *ids, uint32_t max)
{
	uint64_t last = uaddr + (size - 1);
	uint32_t n = 0;

	if (t->e == NULL || size == 0)
		return 0;
	for (uint32_t id = t->oldest; id != NIL; id = t->node[id].newer) {
		const struct vhost_iotlb_entry *e = &t->e[id];
		uint64_t span = e->last - e->iova;

		/* An entry of the whole space is in no memory table. */
		if (span == UINT64_MAX || (e->uaddr <= last && uaddr <= e->uaddr + span)) {
			if (n < max)
				ids[n] = id;
			n++;
		}
	}
	return n;
}

void
vhost_iotlb_remove(struct vhost_iotlb *t, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		entry_remove(t, ids[i]);
	if (n != 0)
		t->gen++;
}

uint32_t
vhost_iotlb_snapshot(const struct vhost_iotlb *t, struct vhost_iotlb_entry *out,
		     uint32_t max)
{
	uint32_t n = 0;

	if (t->e == NULL)
		return 0;
	for (uint32_t id = first_ending_after(t, 0); id != NIL;) {
		if (n < max)
			out[n] = t->e[id];
		n++;
		if (t->e[id].last == UINT64_MAX)
			break;
		id = first_ending_after(t, t->e[id].last + 1);
	}
	return n;
}

/* ---- self-check (tests) ------------------------------------------------------ */

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		snprintf(why, whylen, __VA_ARGS__); \
		free(seen); \
		free(per_id); \
		return -1; \
	} \
} while (0)

/* In-order walk without recursion limits: the tree depth is O(log n)
 * with high probability, but a test must not trust that. */
static int
check_tree(const struct vhost_iotlb *t, uint32_t root, uint32_t *count,
	   const struct vhost_iotlb_entry **prev, uint32_t depth)
{
	if (root == NIL)
		return 0;
	if (depth > 4096 || root >= t->max)
		return -1;
	if (t->node[root].left != NIL && prio(t, t->node[root].left) > prio(t, root))
		return -1;
	if (t->node[root].right != NIL && prio(t, t->node[root].right) > prio(t, root))
		return -1;
	if (check_tree(t, t->node[root].left, count, prev, depth + 1) < 0)
		return -1;
	if (*prev != NULL && (*prev)->last >= t->e[root].iova)
		return -1;
	if (t->e[root].last < t->e[root].iova)
		return -1;
	*prev = &t->e[root];
	(*count)++;
	return check_tree(t, t->node[root].right, count, prev, depth + 1);
}

int
vhost_iotlb_check(const struct vhost_iotlb *t, char *why, size_t whylen)
{
	const struct vhost_iotlb_entry *prev = NULL;
	uint32_t count = 0, fifo = 0, slots = 0;
	uint32_t per_level[VHOST_IOTLB_LEVELS] = { 0 };
	uint8_t *seen = NULL;
	uint32_t *per_id = NULL;

	if (t->slot == NULL)
		return t->n == 0 ? 0 : -1;
	seen = calloc(t->max, 1);
	per_id = calloc(t->max, sizeof(*per_id));
	CHECK(seen != NULL && per_id != NULL, "out of memory");
	CHECK(t->n <= t->max, "%u entries > max %u", t->n, t->max);
	CHECK(t->nslots <= t->max_slots, "%u slots > budget %u", t->nslots, t->max_slots);
	CHECK(check_tree(t, t->root, &count, &prev, 0) == 0,
	      "tree out of order, overlapping or not a heap");
	CHECK(count == t->n, "tree holds %u entries, n is %u", count, t->n);
	for (uint32_t id = t->oldest, older = NIL; id != NIL; id = t->node[id].newer) {
		CHECK(id < t->max && !seen[id] && fifo < t->n,
		      "retirement list broken at id %u", id);
		CHECK(t->node[id].older == older, "retirement list links of id %u", id);
		CHECK(t->e[id].age < t->next_age &&
		      (older == NIL || t->e[older].age <= t->e[id].age),
		      "id %u: age %" PRIu64 " out of the retirement order", id, t->e[id].age);
		seen[id] = 1;
		older = id;
		fifo++;
	}
	CHECK(fifo == t->n, "retirement list holds %u entries, n is %u", fifo, t->n);
	for (uint64_t h = 0; h <= t->slot_mask; h++) {
		uint64_t w = t->slot[h];
		unsigned int l;
		uint32_t id;

		if (w == 0)
			continue;
		l = slot_level(w);
		id = slot_id(w);
		CHECK(l < VHOST_IOTLB_LEVELS && id < t->max && seen[id],
		      "slot %" PRIu64 " points at no entry", h);
		/* Linear probing: no hole between a slot's home and it. */
		for (uint64_t k = w & t->slot_mask; k != h; k = (k + 1) & t->slot_mask)
			CHECK(t->slot[k] != 0, "slot %" PRIu64 " cut off from its home", h);
		per_level[l]++;
		per_id[id]++;
		slots++;
	}
	CHECK(slots == t->nslots, "%u slots in the table, count says %u", slots, t->nslots);
	for (unsigned int l = 0; l < VHOST_IOTLB_LEVELS; l++) {
		CHECK(per_level[l] == t->level_slots[l], "level %u: %u slots, count says %u",
		      l, per_level[l], t->level_slots[l]);
		CHECK(((t->levels >> l) & 1) == (per_level[l] != 0), "level mask 0x%x", t->levels);
	}
	/* Every entry is found through each block that tiles it. */
	for (uint32_t id = t->oldest; id != NIL; id = t->node[id].newer) {
		const struct vhost_iotlb_entry *e = &t->e[id];
		struct blocks b = { e->iova, e->last, false };
		uint32_t nb = 0;
		unsigned int l;
		uint64_t key;

		while (blocks_next(&b, &l, &key)) {
			uint64_t probe = RTE_MAX(e->iova, b.done ? e->last :
				(b.cur - 1) & ~((1ULL << VHOST_IOTLB_LEVEL_SHIFT(l)) - 1));
			uint64_t h, w = slot_word(t, l, key, id, &h);

			nb++;
			/* The block's own slot, not only some way to the entry. */
			while (t->slot[h] != 0 && t->slot[h] != w)
				h = (h + 1) & t->slot_mask;
			CHECK(t->slot[h] == w, "entry [0x%" PRIx64 ", 0x%" PRIx64
			      "]: no slot for its block at 0x%" PRIx64, e->iova, e->last, probe);
			CHECK(vhost_iotlb_find(t, probe) == e,
			      "entry [0x%" PRIx64 ", 0x%" PRIx64 "] not found at 0x%" PRIx64,
			      e->iova, e->last, probe);
		}
		CHECK(nb == t->node[id].nslots && nb == per_id[id], "entry [0x%" PRIx64
		      ", 0x%" PRIx64 "]: %u blocks, %u slots, %u in the table", e->iova,
		      e->last, nb, t->node[id].nslots, per_id[id]);
	}
	free(seen);
	free(per_id);
	return 0;
}
