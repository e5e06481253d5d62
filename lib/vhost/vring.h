/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_VRING_H
#define VHOST_VRING_H

/* Split ring access shared by enqueue and dequeue: the avail index,
 * used ring updates (one index store per burst), guest notification. */

#include <stdint.h>

#include <rte_prefetch.h>

#include "dirty_log.h"
#include "vhost_device_types.h"
#include "vhost_log.h"
#include "vring_packed.h"

/* Translate the three ring addresses of vq into our address space and
 * mark the ring usable. Returns 0, -EAGAIN (IOTLB misses were sent: the
 * ring becomes usable when the updates arrive) or -EFAULT (unusable).
 * Caller holds the write locks. */
int vhost_vring_translate(struct vhost_device *dev, struct vhost_virtqueue *vq);

/* True if any part of the ring lies in [iova, iova + size). */
bool vhost_vring_uses_iova(const struct vhost_virtqueue *vq, uint64_t iova,
			   uint64_t size);

/* True if the ring is translated and a part of it lies in our
 * addresses [hva, hva + size). */
bool vhost_vring_uses_hva(const struct vhost_device *dev,
			  const struct vhost_virtqueue *vq, uint64_t hva,
			  uint64_t size);

/* Forget the ring addresses (memory is going away). */
void vhost_vring_invalidate(struct vhost_virtqueue *vq);

/* A packed ring's base as GET_VRING_BASE returns it: bits 0-14 the
 * driver's next position, bit 15 its wrap counter; bits 16-31 the same
 * for the device's next used position (as QEMU reads it). */
uint32_t vhost_vring_packed_base(const struct vhost_virtqueue *vq);

/* Set a packed ring's positions from a base of that form; a base with
 * no used half (DPDK's virtio-user sends 16 bits) puts the used
 * position at the avail one: nothing is in flight when a ring starts.
 * Returns -EINVAL for a position outside the ring. */
int vhost_vring_set_packed_base(struct vhost_device *dev,
				struct vhost_virtqueue *vq, uint32_t base);

/* Apply the application's choice of guest kicks to the ring. */
void vhost_vring_apply_notify(struct vhost_device *dev,
			      struct vhost_virtqueue *vq);

/* If SET_VRING_BASE armed it and the ring is translated: compare the
 * base with the ring memory and resume from the used index if they
 * disagree (vring_resync.c). Caller holds the write locks. */
void vhost_vring_resync(struct vhost_device *dev, struct vhost_virtqueue *vq);

/* Logs an impossible avail index once per episode (vring.c). */
void vhost_avail_idx_invalid(struct vhost_device *dev,
			     struct vhost_virtqueue *vq, uint16_t avail_idx);

/* Number of new avail entries, or 0 if the guest's index is impossible
 * (more entries than the ring holds). Pairs with the guest's write
 * barrier before it publishes avail->idx. */
static __rte_always_inline uint16_t
vhost_avail_count(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(avail_idx - vq->last_avail_idx);

	if (unlikely(n > vq->size)) {
		vhost_avail_idx_invalid(dev, vq, avail_idx);
		return 0;
	}
	if (unlikely(__atomic_load_n(&vq->avail_idx_bad, __ATOMIC_RELAXED)))
		__atomic_store_n(&vq->avail_idx_bad, false, __ATOMIC_RELAXED);
	return n;
}

/* Head of the i-th new avail entry. */
static __rte_always_inline uint16_t
vhost_avail_head(const struct vhost_virtqueue *vq, uint16_t i)
{
	return ((volatile uint16_t *)vq->avail->ring)
		[(uint16_t)(vq->last_avail_idx + i) & (vq->size - 1)];
}

/* Start loading the descriptors of the n avail entries from the i-th
 * new one on. The guest has just written them, so each line is a miss;
 * met one chain at a time, a batch's misses would come one after the
 * other. A head out of range is left to the walker to refuse. */
static __rte_always_inline void
vhost_prefetch_descs(const struct vhost_virtqueue *vq, uint16_t i, uint16_t n)
{
	for (uint16_t k = 0; k < n; k++) {
		uint16_t head = vhost_avail_head(vq, (uint16_t)(i + k));

		if (likely(head < vq->size))
			rte_prefetch0(&vq->desc[head]);
	}
}

/* Note iova for vhost_prefetch_translations(): start loading its index
 * slot unless the ring's range cache (vq->xc) has it. */
static __rte_always_inline void
vhost_prefetch_slot_of(const struct vhost_iotlb *t,
		       struct vhost_virtqueue *vq, uint64_t iova,
		       uint64_t *hash, uint16_t *m)
{
	if (iova - vq->xc.iova > vq->xc.last - vq->xc.iova) {
		vq->xh.iova[*m] = iova;
		hash[(*m)++] = vhost_iotlb_prefetch_slot(t, iova);
	}
}

/* With scattered IOTLB mappings the ring's range cache (vq->xc) misses
 * and every lookup goes to memory twice: the index slot, then the
 * entry. While the last batch searched the IOTLB for most of its chains
 * (vq->iotlb_prefetch), load the slots of the buffers of the next n
 * chains (their first two descriptors), then their entries, before the
 * walk, so that a batch's misses overlap. The chains start at the i-th
 * new avail entry (split) or at ring position p (packed: only chains
 * already available, their head's flags read with acquire as the walker
 * does).
 * The entries found are kept (vq->xh) as hints for the walk's lookups.
 * A hint only: the walk translates and checks every address as ever.
 * Split descriptors should be on their way already
 * (vhost_prefetch_descs); packed ones are read in order. */
static __rte_always_inline void
vhost_prefetch_translations(const struct vhost_device *dev,
			    struct vhost_virtqueue *vq, uint16_t i,
			    struct vhost_ring_pos p, uint16_t n,
			    const bool packed)
{
	const struct vhost_iotlb *t = &dev->iotlb;
	uint64_t hash[VHOST_IOTLB_PREFETCH_MAX];
	uint16_t m = 0;

	if (likely(!vq->iotlb_prefetch) || !vhost_iommu_on(dev) || t->levels == 0)
		return;
	n = RTE_MIN(n, (uint16_t)(VHOST_IOTLB_PREFETCH_MAX / 2));
	for (uint16_t k = 0; k < n; k++) {
		if (packed) {
			uint16_t left = vq->size, j = 0, flags;

			if (!vhost_packed_desc_avail(vq, p))
				break;
			/* The head and the descriptor after it, then on to
			 * the next chain. */
			do {
				const struct vring_packed_desc *desc =
					&vq->desc_packed[p.idx];

				if (j++ < 2)
					vhost_prefetch_slot_of(t, vq, desc->addr,
							       hash, &m);
				flags = desc->flags;
				vhost_ring_pos_advance(vq, &p, 1);
			} while (flags & VRING_DESC_F_NEXT && --left != 0);
		} else {
			uint16_t d = vhost_avail_head(vq, (uint16_t)(i + k));

			/* The head and the descriptor after it: a header
			 * and its data often come in two, in different
			 * mappings. */
			for (int j = 0; j < 2 && likely(d < vq->size); j++) {
				const struct vring_desc *desc = &vq->desc[d];

				vhost_prefetch_slot_of(t, vq, desc->addr, hash, &m);
				if (!(desc->flags & VRING_DESC_F_NEXT))
					break;
				d = desc->next;
			}
		}
	}
	for (uint16_t k = 0; k < m; k++)
		vq->xh.id[k] = vhost_iotlb_prefetch_entry(t, hash[k]);
	vq->xh.n = m;
	vq->xh.next = 0;
	vq->xh.gen = t->gen;
}

/* After a batch's walk: prefetch the next batch's translations if more
 * than half of its chains searched the IOTLB (iotlb_hits moved; the
 * range cache's translations are not counted). */
static __rte_always_inline void
vhost_note_iotlb_searches(struct vhost_virtqueue *vq, uint64_t hits_before,
			  uint16_t chains)
{
	vq->iotlb_prefetch =
		(vq->stats.v[VHOST_STAT_IOTLB_HITS] - hits_before) * 2 > chains;
}

/* Publish n used elements and notify the guest if it wants it. */
void vhost_used_publish(struct vhost_device *dev, struct vhost_virtqueue *vq,
			const struct vhost_used_elem *elems, uint16_t n);

/* Signal the call fd if the guest asked for it (EVENT_IDX aware). */
void vhost_notify_guest(struct vhost_device *dev, struct vhost_virtqueue *vq);

#endif /* VHOST_VRING_H */
