/* SPDX-License-Identifier: BSD-3-Clause */
/* Split virtqueue, driver side: memory, free descriptors, avail and used. */
#ifndef VVI_VRING_H
#define VVI_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#include <rte_atomic.h>

/* The used ring starts on its own page, as in the legacy layout. */
#define VVI_VRING_ALIGN 4096

struct vvi_vring {
	uint16_t index;		/* vhost-user ring index: 2q rx, 2q+1 tx */
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	void *extra;		/* per-queue area after the rings (tx headers) */
	void *mem;		/* one DPDK allocation holding all of it */
	size_t mem_len;
	uint16_t avail_idx;	/* next avail index to publish */
	uint16_t last_used;	/* next used entry to consume */
	uint16_t free_head;	/* free descriptors, linked by desc.next */
	uint16_t nb_free;
	int kickfd;
	int callfd;
};

/* Allocates rings of size entries plus extra_len bytes on socket.
 * Returns 0 or -errno. */
int vvi_vring_alloc(struct vvi_vring *vr, uint16_t index, uint16_t size,
	size_t extra_len, int socket);
void vvi_vring_free(struct vvi_vring *vr);

/* Empties the rings and links every descriptor into the free list. */
void vvi_vring_reset(struct vvi_vring *vr);

/* Pops one free descriptor id; the caller checked nb_free. */
static inline uint16_t
vvi_vring_get_desc(struct vvi_vring *vr)
{
	uint16_t id = vr->free_head;

	vr->free_head = vr->desc[id].next;
	vr->nb_free--;
	return id;
}

/* Returns the chain starting at head (n descriptors) to the free list. */
void vvi_vring_put_chain(struct vvi_vring *vr, uint16_t head, uint16_t n);

/* Queues head in the avail ring (visible after vvi_vring_flush). */
static inline void
vvi_vring_push(struct vvi_vring *vr, uint16_t head)
{
	vr->avail->ring[vr->avail_idx & (vr->size - 1)] = head;
	vr->avail_idx++;
}

/* Publishes the pushed heads and kicks the backend if it asked for it. */
void vvi_vring_flush(struct vvi_vring *vr);

/* Number of used entries not consumed yet (acquire: entries are read
 * after the index). */
static inline uint16_t
vvi_vring_used_count(const struct vvi_vring *vr)
{
	uint16_t idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - vr->last_used);
}

static inline struct vring_used_elem
vvi_vring_next_used(struct vvi_vring *vr)
{
	return vr->used->ring[vr->last_used++ & (vr->size - 1)];
}

#endif /* VVI_VRING_H */
