/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_TRANSLATE_H
#define VHOST_TRANSLATE_H

/* The one function through which every guest buffer address passes
 * before the datapath touches it (descriptor buffers and indirect
 * tables). Without VIRTIO_F_IOMMU_PLATFORM the frontend gives guest
 * physical addresses, translated by the memory table. With it, they are
 * IOVAs that go through the device IOTLB first. */

#include <stdint.h>

#include "iotlb_miss.h"
#include "vhost_device_types.h"

/* Access the datapath wants; a translation checks it against the
 * permission of the mapping. */
#define VHOST_PERM_READ  VHOST_ACCESS_RO
#define VHOST_PERM_WRITE VHOST_ACCESS_WO

/* Translate addr for an access of *len bytes. Returns our address and
 * clips *len to the bytes contiguous from there, or returns NULL with
 * vq->xlate_err set (-EAGAIN: IOTLB miss, asked for; other: refused).
 * *gpa receives the guest physical address for dirty logging. Caller
 * is inside the ring (a burst, or vhost_vq_lock), and holds
 * vq->iotlb_lock with an IOMMU. */
static __rte_always_inline uint8_t *
vhost_translate(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		uint64_t addr, uint64_t *len, uint8_t perm, uint64_t *gpa)
{
	const struct vhost_mem_table *mem;
	const struct rte_vhost_mem_region *r;
	uint64_t off;

	if (vhost_iommu_on(dev)) {
		const struct vhost_xlate_cache *c = &vq->xc;

		/* Consecutive buffers mostly fall in the range translated
		 * last: no IOTLB or memory table search then. */
		if (likely(c->gen == dev->iotlb.gen && (c->perm & perm) == perm &&
			   addr - c->iova <= c->last - c->iova)) {
			off = addr - c->iova;
			if (*len != 0 && *len - 1 > c->last - addr)
				*len = c->last - addr + 1;
			*gpa = c->gpa + off;
			return (uint8_t *)(uintptr_t)(c->hva + off);
		}
		return vhost_iova_translate(dev, vq, addr, len, perm, gpa);
	}
	/* ADD_MEM_REG and REM_MEM_REG swap tables beside bursts. */
	mem = __atomic_load_n(&dev->mem, __ATOMIC_ACQUIRE);
	/* Guest physical memory is all read-write for the device. */
	if (unlikely(mem == NULL)) {
		vq->xlate_err = -EFAULT;
		return NULL;
	}
	/* Buffers mostly follow in the region hit last; try it first.
	 * Otherwise a scan (few regions) or a binary search (hot-plugged
	 * memory, up to VHOST_MAX_MEM_SLOTS regions). */
	if (likely(vq->last_region < mem->nregions)) {
		r = &mem->regions[vq->last_region];
		off = addr - r->guest_phys_addr;
		if (likely(off < r->size))
			goto found;
	}
	int32_t i = vhost_mem_lookup(mem, true, addr);

	if (unlikely(i < 0)) {
		vq->xlate_err = -EFAULT;
		return NULL;
	}
	vq->last_region = (uint32_t)i;
	r = &mem->regions[i];
	off = addr - r->guest_phys_addr;
found:
	if (*len > r->size - off)
		*len = r->size - off;
	*gpa = addr;
	return (uint8_t *)(uintptr_t)(r->host_user_addr + off);
}

#endif /* VHOST_TRANSLATE_H */
