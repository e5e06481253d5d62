/* SPDX-License-Identifier: BSD-3-Clause */

/* Split ring set-up and the used-ring side of the datapath. */

#include <errno.h>
#include <stddef.h>
#include <sys/eventfd.h>

#include <rte_atomic.h>
#include <rte_memcpy.h>

#include "iotlb_miss.h"
#include "vring.h"
#include "vring_packed.h"
#include "write_trace.h"

/* Ring parts' sizes for n entries, including the event index words
 * that follow the avail and used rings (virtio 1.1, 2.6). */
static uint64_t desc_bytes(uint16_t n) { return sizeof(struct vring_desc) * (uint64_t)n; }
static uint64_t avail_bytes(uint16_t n) { return 6 + 2 * (uint64_t)n; }
static uint64_t used_bytes(uint16_t n) { return 6 + sizeof(struct vring_used_elem) * (uint64_t)n; }

/* The three parts' sizes in the ring's layout: a packed ring has 16-byte
 * descriptors (as split ones) and two 4-byte event areas (virtio 1.1,
 * 2.7.10.1). */
static void
ring_part_bytes(const struct vhost_virtqueue *vq, bool packed, uint64_t len[3])
{
	_Static_assert(sizeof(struct vring_packed_desc) == sizeof(struct vring_desc),
		       "descriptor sizes differ");
	len[0] = desc_bytes(vq->size);
	len[1] = packed ? sizeof(struct vring_packed_desc_event) : avail_bytes(vq->size);
	len[2] = packed ? sizeof(struct vring_packed_desc_event) : used_bytes(vq->size);
}

/* Ring addresses are IOVAs: translate each part through the IOTLB.
 * Misses for all three parts are asked at once. */
static int
translate_iova_rings(struct vhost_device *dev, struct vhost_virtqueue *vq,
		     void **desc, void **avail, void **used)
{
	const struct vhost_vring_addr *a = &vq->ring_addr;
	const bool packed = vhost_packed(dev);
	uint64_t len[3];
	bool missed = false;

	ring_part_bytes(vq, packed, len);
	/* A packed ring's descriptors are written back by the device. */
	*desc = vhost_iova_range(dev, vq, a->desc_user_addr, len[0],
				 packed ? VHOST_ACCESS_RW : VHOST_ACCESS_RO);
	missed |= *desc == NULL && vq->xlate_err == -EAGAIN;
	*avail = vhost_iova_range(dev, vq, a->avail_user_addr, len[1],
				  VHOST_ACCESS_RO);
	missed |= *avail == NULL && vq->xlate_err == -EAGAIN;
	*used = vhost_iova_range(dev, vq, a->used_user_addr, len[2],
				 VHOST_ACCESS_RW);
	missed |= *used == NULL && vq->xlate_err == -EAGAIN;
	if (missed) {
		vhost_iotlb_send_misses(dev, vq);
		return -EAGAIN;
	}
	if (*desc == NULL || *avail == NULL || *used == NULL)
		return -EFAULT;

	if (packed) {
		/* The parts the device writes are logged by their guest
		 * physical addresses. */
		uint64_t l0 = len[0], l2 = len[2];

		if (vhost_iova_translate(dev, vq, a->desc_user_addr, &l0,
					 VHOST_ACCESS_WO, &vq->desc_log_gpa) == NULL ||
		    vhost_iova_translate(dev, vq, a->used_user_addr, &l2,
					 VHOST_ACCESS_WO, &vq->device_event_log_gpa) == NULL) {
			if (vq->xlate_err != -EAGAIN)
				return -EFAULT;
			vhost_iotlb_send_misses(dev, vq);
			return -EAGAIN;
		}
		return 0;
	}

	/* The used ring's log address is an IOVA too: log by its guest
	 * physical address. */
	vq->used_log_gpa = 0;
	if (a->flags & (1u << VHOST_VRING_F_LOG)) {
		uint64_t used_len = used_bytes(vq->size), gpa;

		if (vhost_iova_translate(dev, vq, a->log_guest_addr, &used_len,
					 VHOST_ACCESS_WO, &gpa) == NULL) {
			if (vq->xlate_err == -EAGAIN) {
				vhost_iotlb_send_misses(dev, vq);
				return -EAGAIN;
			}
			return -EFAULT;
		}
		vq->used_log_gpa = gpa;
	}
	return 0;
}

int
vhost_vring_translate(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	const struct vhost_vring_addr *a = &vq->ring_addr;
	const bool packed = vhost_packed(dev);
	/* Alignment the spec requires, which our atomic accesses need. */
	const uint64_t avail_align = packed ? 3 : 1;
	void *desc, *avail, *used;
	uint64_t len[3];
	int ret;

	vq->access_ok = false;
	if (!vq->ring_addr_set || vq->size == 0 || dev->mem == NULL)
		return -EFAULT;
	/* Split rings index with a mask; packed ones take any size. */
	if (!packed && (vq->size & (vq->size - 1))) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: split ring size %u is not a power of two",
			vq->index, vq->size);
		return -EFAULT;
	}
	/* Packed positions index the ring directly. */
	if (packed && (vq->last_avail_idx >= vq->size || vq->last_used_idx >= vq->size)) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: base %u/%u is outside the packed ring (size %u)",
			vq->index, vq->last_avail_idx, vq->last_used_idx, vq->size);
		return -EFAULT;
	}
	ring_part_bytes(vq, packed, len);

	if ((a->desc_user_addr & 15) || (a->avail_user_addr & avail_align) ||
	    (a->used_user_addr & 3)) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: misaligned ring addresses",
			vq->index);
		return -EFAULT;
	}
	if (vhost_iommu_on(dev)) {
		/* Rings are translated once, from mappings that may arrive
		 * far apart: the optional entry lifetime is for buffers. */
		uint64_t horizon = vq->iotlb_expire_before;

		vq->iotlb_expire_before = 0;
		ret = translate_iova_rings(dev, vq, &desc, &avail, &used);
		vq->iotlb_expire_before = horizon;
		if (ret == -EAGAIN)
			return ret;	/* ready once the IOTLB update arrives */
	} else {
		/* Ring addresses are in the frontend's address space
		 * (uaddr); each part must be wholly inside one region. */
		uint64_t got;

		desc = vhost_mem_uaddr_range(dev->mem, a->desc_user_addr, len[0]);
		avail = vhost_mem_uaddr_range(dev->mem, a->avail_user_addr, len[1]);
		used = vhost_mem_uaddr_range(dev->mem, a->used_user_addr, len[2]);
		vq->used_log_gpa = a->log_guest_addr;
		vq->desc_log_gpa = vhost_mem_uaddr_to_gpa(dev->mem, a->desc_user_addr, &got);
		vq->device_event_log_gpa = vhost_mem_uaddr_to_gpa(dev->mem, a->used_user_addr, &got);
		ret = desc && avail && used ? 0 : -EFAULT;
	}
	if (ret < 0) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: ring addresses desc 0x%llx avail 0x%llx used 0x%llx (size %u) are not in guest memory",
			vq->index, (unsigned long long)a->desc_user_addr,
			(unsigned long long)a->avail_user_addr,
			(unsigned long long)a->used_user_addr, vq->size);
		return -EFAULT;
	}
	/* Our pointers must be aligned too: a region or IOTLB entry may map
	 * an aligned address of the frontend's to an odd one of ours. */
	if (((uintptr_t)desc & 15) || ((uintptr_t)avail & avail_align) ||
	    ((uintptr_t)used & 3)) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: rings map to misaligned memory", vq->index);
		return -EFAULT;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_region = 0;
	vq->access_ok = true;
	vhost_vring_resync(dev, vq);
	vhost_vring_apply_notify(dev, vq);
	return 0;
}

bool
vhost_vring_uses_hva(const struct vhost_device *dev,
		     const struct vhost_virtqueue *vq, uint64_t hva, uint64_t size)
{
	const uintptr_t part[3] = {
		(uintptr_t)vq->desc, (uintptr_t)vq->avail, (uintptr_t)vq->used,
	};
	uint64_t len[3];

	if (!vq->access_ok)
		return false;
	ring_part_bytes(vq, vhost_packed(dev), len);
	for (int i = 0; i < 3; i++)
		if (part[i] < hva + size && hva < part[i] + len[i])
			return true;
	return false;
}

void __rte_cold
vhost_avail_idx_invalid(struct vhost_device *dev, struct vhost_virtqueue *vq,
			uint16_t avail_idx)
{
	/* Shared by every ring: at most four lines a second in all. */
	static uint64_t last_logged;
	uint64_t now = rte_get_timer_cycles();
	uint64_t last = __atomic_load_n(&last_logged, __ATOMIC_RELAXED);

	/* Such a ring stays stopped until the guest fixes its index or the
	 * frontend restarts the ring: say so once, not on every burst. */
	if (__atomic_load_n(&vq->avail_idx_bad, __ATOMIC_RELAXED) ||
	    now - last <= rte_get_timer_hz() / 4)
		return;
	__atomic_store_n(&last_logged, now, __ATOMIC_RELAXED);
	__atomic_store_n(&vq->avail_idx_bad, true, __ATOMIC_RELAXED);
	VHOST_DEV_LOG(ERR, dev, "vring %u: avail index %u is %u ahead of %u (ring size %u): ring stalled (not logged again until it recovers)",
		vq->index, avail_idx, (uint16_t)(avail_idx - vq->last_avail_idx),
		vq->last_avail_idx, vq->size);
}

bool
vhost_vring_uses_iova(const struct vhost_virtqueue *vq, uint64_t iova,
		      uint64_t size)
{
	const struct vhost_vring_addr *a = &vq->ring_addr;
	uint64_t last = iova + (size - 1);
	const uint64_t start[3] = { a->desc_user_addr, a->avail_user_addr,
				    a->used_user_addr };
	uint64_t len[3];

	/* Both layouts' extents: the larger covers the other's. */
	ring_part_bytes(vq, false, len);

	if (!vq->ring_addr_set || size == 0)
		return false;
	if (last < iova)
		last = UINT64_MAX;
	for (int i = 0; i < 3; i++)
		if (start[i] <= last && iova <= start[i] + (len[i] - 1))
			return true;
	return false;
}

void
vhost_vring_invalidate(struct vhost_virtqueue *vq)
{
	vq->access_ok = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
}

/* VHOST_WRITE_TRACE: a write of len bytes at offset of the used ring. */
static void
trace_used(const struct vhost_device *dev, const struct vhost_virtqueue *vq,
	   uint64_t offset, uint64_t len)
{
	bool logged = vhost_log_enabled(dev) &&
		(vq->ring_addr.flags & (1u << VHOST_VRING_F_LOG));

	vhost_write_trace_record(vq, vq->used_log_gpa + offset, len, logged,
				 "used-ring");
}

/* With EVENT_IDX, the word after the avail ring is used_event and the
 * word after the used ring is avail_event. */
static volatile uint16_t *
used_event(const struct vhost_virtqueue *vq)
{
	return (volatile uint16_t *)&vq->avail->ring[vq->size];
}

static volatile uint16_t *
avail_event(const struct vhost_virtqueue *vq)
{
	return (volatile uint16_t *)&vq->used->ring[vq->size];
}

void
vhost_vring_apply_notify(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	if (!vq->access_ok)
		return;
	if (vhost_packed(dev)) {
		vhost_packed_apply_notify(dev, vq);
		return;
	}
	if (vhost_has_feature(dev, VIRTIO_RING_F_EVENT_IDX)) {
		/* Kick when anything past what we have seen arrives; when
		 * disabled, leave the event where it was (the guest kicks at
		 * most once per index wrap). */
		if (vq->guest_notify) {
			uint64_t off = offsetof(struct vring_used, ring) +
				vq->size * sizeof(struct vring_used_elem);

			*avail_event(vq) = vq->last_avail_idx;
			if (vhost_log_enabled(dev))
				vhost_log_used(dev, vq, off, sizeof(uint16_t));
			if (unlikely(vhost_write_trace_on))
				trace_used(dev, vq, off, sizeof(uint16_t));
		}
		return;
	}
	if (vq->guest_notify)
		vq->used->flags &= ~VRING_USED_F_NO_NOTIFY;
	else
		vq->used->flags |= VRING_USED_F_NO_NOTIFY;
	if (vhost_log_enabled(dev))
		vhost_log_used(dev, vq, offsetof(struct vring_used, flags),
			       sizeof(vq->used->flags));
	if (unlikely(vhost_write_trace_on))
		trace_used(dev, vq, offsetof(struct vring_used, flags),
			   sizeof(vq->used->flags));
}

void
vhost_notify_guest(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	uint16_t old = vq->signalled_used;
	uint16_t new = vq->last_used_idx;
	bool notify;

	if (vhost_packed(dev)) {
		vhost_packed_notify_guest(dev, vq);
		return;
	}
	if (vq->callfd < 0)
		return;
	/* Our used index store must be visible before we read the guest's
	 * wish, or the guest could miss the update and sleep forever. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vhost_has_feature(dev, VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t event = *used_event(vq);

		notify = !vq->signalled_used_valid ||
			(uint16_t)(new - event - 1) < (uint16_t)(new - old);
		vq->signalled_used = new;
		vq->signalled_used_valid = true;
	} else {
		notify = !(vq->avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (!notify)
		return;
	eventfd_write(vq->callfd, 1);
	vq->stats.v[VHOST_STAT_GUEST_NOTIFICATIONS]++;
	if (dev->ops != NULL && dev->ops->guest_notified != NULL)
		dev->ops->guest_notified(dev->vid);
}

void
vhost_used_publish(struct vhost_device *dev, struct vhost_virtqueue *vq,
		   const struct vhost_used_elem *elems, uint16_t n)
{
	const uint16_t mask = vq->size - 1;
	uint16_t start = vq->last_used_idx;
	uint16_t first, head_part;

	if (n == 0)
		return;
	/* Whole elements copied at once, the ring's end wrapped. */
	first = start & mask;
	head_part = RTE_MIN(n, (uint16_t)(vq->size - first));
	rte_memcpy(&vq->used->ring[first], elems, head_part * sizeof(*elems));
	if (head_part < n)
		rte_memcpy(&vq->used->ring[0], elems + head_part,
			   (n - head_part) * sizeof(*elems));
	vq->last_used_idx = (uint16_t)(start + n);
	/* Elements before the index that publishes them. */
	__atomic_store_n(&vq->used->idx, vq->last_used_idx, __ATOMIC_RELEASE);

	if (vhost_log_enabled(dev)) {
		vhost_log_used(dev, vq, offsetof(struct vring_used, ring) +
			first * sizeof(struct vring_used_elem),
			head_part * sizeof(struct vring_used_elem));
		if (head_part < n)
			vhost_log_used(dev, vq, offsetof(struct vring_used, ring),
				(n - head_part) * sizeof(struct vring_used_elem));
		vhost_log_used(dev, vq, offsetof(struct vring_used, idx),
			sizeof(vq->used->idx));
	}
	if (unlikely(vhost_write_trace_on)) {
		for (uint16_t i = 0; i < n; i++)
			trace_used(dev, vq, offsetof(struct vring_used, ring) +
				((uint16_t)(start + i) & mask) * sizeof(struct vring_used_elem),
				sizeof(struct vring_used_elem));
		trace_used(dev, vq, offsetof(struct vring_used, idx),
			   sizeof(vq->used->idx));
	}
	vhost_notify_guest(dev, vq);
}

uint32_t
vhost_vring_packed_base(const struct vhost_virtqueue *vq)
{
	return (vq->last_avail_idx | (uint32_t)vq->avail_wrap << 15) |
	       (vq->last_used_idx | (uint32_t)vq->used_wrap << 15) << 16;
}

int
vhost_vring_set_packed_base(struct vhost_device *dev,
			    struct vhost_virtqueue *vq, uint32_t base)
{
	uint16_t avail = base & 0x7fff, used = (base >> 16) & 0x7fff;
	bool used_half = (base >> 16) != 0;

	/* Checked against the size when the ring is used: the size may
	 * come later; the largest ring has 32768 entries. */
	if (vq->size != 0 && (avail >= vq->size || (used_half && used >= vq->size))) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: packed base 0x%x is outside the ring (size %u)",
			vq->index, base, vq->size);
		return -EINVAL;
	}
	vq->last_avail_idx = avail;
	vq->avail_wrap = (base >> 15) & 1;
	vq->last_used_idx = used_half ? used : avail;
	vq->used_wrap = used_half ? (base >> 31) & 1 : vq->avail_wrap;
	vq->walked_ahead = (uint16_t)vhost_packed_linear(vq, avail, vq->avail_wrap);
	vq->signalled_used_valid = false;
	return 0;
}
