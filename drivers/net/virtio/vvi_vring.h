/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueue, driver side: memory, free descriptors, avail and used, for
 * split and packed rings (virtio 1.1, 2.6 and 2.7).
 *
 * Chains are built the same way for both layouts: descriptor ids come
 * from a free list and are linked by desc[id].next, mirrored in the
 * private next[id] (vvi_vring_link). The free list and every walk of a
 * chain by the driver use next[] only: a split ring's table is shared
 * with the device, and reading or writing its lines back costs a
 * transfer between the CPUs for every descriptor. A split ring's table
 * is desc itself; a packed ring keeps desc private and copies a chain
 * into consecutive ring positions when it is pushed, with the head id as
 * buffer id. The id space (and so the dynamic IOMMU windows, one per id)
 * is the same for both.
 */
#ifndef VVI_VRING_H
#define VVI_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#include <rte_atomic.h>

/* The used ring starts on its own page, as in the legacy layout. */
#define VVI_VRING_ALIGN 4096

/* Packed descriptor flags marking "available" (AVAIL = wrap, USED =
 * !wrap) and "used" (both = wrap) for wrap counter w. */
#define VVI_PACKED_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define VVI_PACKED_USED (1u << VRING_PACKED_DESC_F_USED)

struct vvi_vring {
	uint16_t index;		/* vhost-user ring index: 2q rx, 2q+1 tx */
	uint16_t size;
	bool packed;
	struct vring_desc *desc;	/* split: the ring; packed: private */
	struct vring_avail *avail;	/* split only */
	struct vring_used *used;	/* split only */
	/* Packed only: the ring, the event areas (driver's: ours to
	 * write; device's: the backend's), and the length of the chain
	 * pushed with each head id (0: none in flight). */
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_event;
	struct vring_packed_desc_event *device_event;
	uint16_t *chain_len;
	uint16_t *buf_id;	/* id written for each head: itself, or an
				 * alias out of range (attack=badid) */
	void *extra;		/* per-queue area after the rings (tx headers) */
	void *mem;		/* one DPDK allocation holding all of it */
	size_t mem_len;
	void *priv;		/* packed: private table and chain lengths */
	/* Split: free-running indexes. Packed: ring positions with their
	 * wrap counters. */
	uint16_t avail_idx;	/* next avail index (position) to publish */
	uint16_t last_used;	/* next used entry (position) to consume */
	bool avail_wrap;
	bool used_wrap;
	/* Packed: the first head pushed since the last flush; its flags
	 * are stored last, making the whole batch visible at once. */
	bool batch_open;
	uint16_t batch_pos;
	uint16_t batch_flags;
	/* Packed: a head published with flags that do not make it
	 * available (attack=wrap); never read back as used while held.
	 * The queue's lcore sets held; an EAL alarm (hold_expire, argument
	 * the ring, context hold_owner) makes the head available and
	 * clears it, with release: a hold ends on time even if the
	 * application stops calling the burst function. A reset or free
	 * of the ring cancels the alarm. */
	bool held;
	uint16_t held_pos;
	uint16_t held_flags;	/* the flags that make it available */
	uint16_t held_bogus;	/* the flags it was published with */
	uint32_t held_len;
	void (*hold_expire)(void *vr);
	void *hold_owner;
	bool hold_tx;
	uint16_t *next;		/* private: chain links and the free list */
	/* Free descriptors, linked by next[], taken from the head and
	 * given back at the tail: a device that uses buffers in order gets
	 * them on consecutive descriptors, a line of the table after the
	 * other, chains included. */
	uint16_t free_head;
	uint16_t free_tail;
	uint16_t nb_free;
	int kickfd;
	int callfd;
};

/* Allocates rings of size entries plus extra_len bytes on socket,
 * packed or split. Returns 0 or -errno. */
int vvi_vring_alloc(struct vvi_vring *vr, uint16_t index, uint16_t size,
	bool packed, size_t extra_len, int socket);
void vvi_vring_free(struct vvi_vring *vr);

/* Cancels the alarm of a held head (waits for one that is running);
 * the head stays held. Reset and free do it first. */
void vvi_vring_cancel_hold(struct vvi_vring *vr);

/* Empties the rings and links every descriptor into the free list. */
void vvi_vring_reset(struct vvi_vring *vr);

/* Pops one free descriptor id; the caller checked nb_free. */
static inline uint16_t
vvi_vring_get_desc(struct vvi_vring *vr)
{
	uint16_t id = vr->free_head;

	vr->free_head = vr->next[id];
	vr->nb_free--;
	return id;
}

/* Links descriptor id after prev in a chain (desc for the device, next[]
 * for the driver). */
static inline void
vvi_vring_link(struct vvi_vring *vr, uint16_t prev, uint16_t id)
{
	vr->desc[prev].next = id;
	vr->next[prev] = id;
}

/* Returns the chain starting at head (n descriptors) to the tail of the
 * free list. */
void vvi_vring_put_chain(struct vvi_vring *vr, uint16_t head, uint16_t n);

/* vvi_vring_packed.c: the packed forms of push, flush and used. */
void vvi_vring_packed_push(struct vvi_vring *vr, uint16_t head, uint16_t n);
void vvi_vring_packed_flush(struct vvi_vring *vr);
bool vvi_vring_packed_next_used(struct vvi_vring *vr,
	struct vring_used_elem *e);
void vvi_vring_packed_reset(struct vvi_vring *vr);

/* Publishes the pushed batch (one chain) now, its head not available:
 * variant 0 marks it as used, 1 as available in the next lap, 2 as
 * available in the previous one. Returns false without a batch. */
bool vvi_vring_packed_hold(struct vvi_vring *vr, unsigned int variant);
/* Makes the held head available (and kicks). Returns false if the
 * device wrote the descriptor meanwhile. Called by the hold's alarm
 * only, the one writer of held = false while the queue runs. */
bool vvi_vring_packed_release(struct vvi_vring *vr);

/* Whether a head is held now (acquire: once false, the head's
 * available flags are visible). */
static inline bool
vvi_vring_held(const struct vvi_vring *vr)
{
	return __atomic_load_n(&vr->held, __ATOMIC_ACQUIRE);
}

/* Whether the descriptor at packed position pos is used for wrap w. */
static inline bool
vvi_packed_is_used(const struct vvi_vring *vr, uint16_t pos, bool w)
{
	uint16_t f = __atomic_load_n(&vr->pdesc[pos].flags, __ATOMIC_ACQUIRE);

	return !!(f & VVI_PACKED_AVAIL) == w && !!(f & VVI_PACKED_USED) == w;
}

/* Queues chain head of n descriptors in the avail ring (visible after
 * vvi_vring_flush). */
static inline void
vvi_vring_push(struct vvi_vring *vr, uint16_t head, uint16_t n)
{
	if (vr->packed) {
		vvi_vring_packed_push(vr, head, n);
		return;
	}
	vr->avail->ring[vr->avail_idx & (vr->size - 1)] = head;
	vr->avail_idx++;
}

/* Publishes the pushed heads and kicks the backend if it asked for it. */
void vvi_vring_flush(struct vvi_vring *vr);

/* Split: number of used entries not consumed yet (acquire: entries are
 * read after the index). Packed: 0 if the next is not used yet, else
 * the descriptors in flight (a bound on the used entries). */
static inline uint16_t
vvi_vring_used_count(const struct vvi_vring *vr)
{
	if (vr->packed) {
		if (vvi_vring_held(vr) && vr->last_used == vr->held_pos)
			return 0;
		return vvi_packed_is_used(vr, vr->last_used, vr->used_wrap) ?
			(uint16_t)(vr->size - vr->nb_free) : 0;
	}
	uint16_t idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - vr->last_used);
}

/* Takes the next used entry; the caller stays within used_count. False
 * only for a packed ring whose next entry is not used (yet). A packed
 * entry's id is its head id; len as the device wrote it. */
static inline bool
vvi_vring_next_used(struct vvi_vring *vr, struct vring_used_elem *e)
{
	if (vr->packed)
		return vvi_vring_packed_next_used(vr, e);
	*e = vr->used->ring[vr->last_used++ & (vr->size - 1)];
	return true;
}

#endif /* VVI_VRING_H */
