/* SPDX-License-Identifier: BSD-3-Clause */

/* Public per-device queries and controls of <rte_vhost.h>. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <numaif.h>

#include <rte_vhost.h>

#include "dirty_log.h"
#include "fd_event.h"
#include "vhost_device.h"
#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vring.h"
#include "vring_packed.h"

static struct vhost_virtqueue *
get_vq(struct vhost_device *dev, uint16_t idx)
{
	if (dev == NULL || idx >= dev->nr_vring)
		return NULL;
	return dev->vq[idx];
}

int
rte_vhost_get_numa_node(int vid)
{
	struct vhost_device *dev = vhost_device_get(vid);
	int node = -1;

	if (dev == NULL)
		return -1;
	/* The node holding the device structure: where the application
	 * should poll it from. */
	if (get_mempolicy(&node, NULL, 0, dev, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -1;
	return node;
}

uint16_t
rte_vhost_get_vring_num(int vid)
{
	struct vhost_device *dev = vhost_device_get(vid);

	return dev == NULL ? 0 : (uint16_t)dev->nr_vring;
}

int
rte_vhost_get_ifname(int vid, char *buf, size_t len)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev == NULL || buf == NULL || len == 0)
		return -1;
	snprintf(buf, len, "%s", dev->ifname);
	return 0;
}

int
rte_vhost_get_negotiated_features(int vid, uint64_t *features)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev == NULL || features == NULL)
		return -1;
	*features = dev->features;
	return 0;
}

int
rte_vhost_get_negotiated_protocol_features(int vid, uint64_t *protocol_features)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev == NULL || protocol_features == NULL)
		return -1;
	*protocol_features = dev->protocol_features;
	return 0;
}

int
rte_vhost_get_mtu(int vid, uint16_t *mtu)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev == NULL || mtu == NULL)
		return -ENODEV;
	if (!(dev->flags & VHOST_DEV_RUNNING))
		return -EAGAIN;
	if (!vhost_has_feature(dev, VIRTIO_NET_F_MTU))
		return -ENOTSUP;
	*mtu = dev->mtu;
	return 0;
}

int
rte_vhost_get_mem_table(int vid, struct rte_vhost_memory **mem)
{
	struct vhost_device *dev = vhost_device_get(vid);
	/* Handlers replace the table on the event thread under ctrl_lock:
	 * callbacks run on that thread between requests, any other caller
	 * takes the lock so the table is not freed while it is copied. */
	bool lock = dev != NULL && !fd_event_in_thread();
	struct rte_vhost_memory *copy = NULL;
	const struct vhost_mem_table *table;
	size_t size;

	if (dev == NULL || mem == NULL)
		return -1;
	if (lock)
		pthread_mutex_lock(&dev->ctrl_lock);
	table = dev->mem;
	if (table != NULL) {
		size = table->nregions * sizeof(copy->regions[0]);
		copy = malloc(sizeof(*copy) + size);
		if (copy != NULL) {
			copy->nregions = table->nregions;
			memcpy(copy->regions, table->regions, size);
		}
	}
	if (lock)
		pthread_mutex_unlock(&dev->ctrl_lock);
	if (copy == NULL)
		return -1;
	*mem = copy;	/* the caller frees it */
	return 0;
}

int
rte_vhost_get_vhost_vring(int vid, uint16_t vring_idx, struct rte_vhost_vring *vring)
{
	struct vhost_virtqueue *vq = get_vq(vhost_device_get(vid), vring_idx);

	if (vq == NULL || vring == NULL)
		return -1;
	vring->desc = vq->desc;
	vring->avail = vq->avail;
	vring->used = vq->used;
	vring->log_guest_addr = vq->ring_addr.log_guest_addr;
	vring->callfd = vq->callfd;
	vring->kickfd = vq->kickfd;
	vring->size = vq->size;
	return 0;
}

int
rte_vhost_get_vring_base(int vid, uint16_t queue_id, uint16_t *last_avail_idx,
			 uint16_t *last_used_idx)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, queue_id);

	if (vq == NULL || last_avail_idx == NULL || last_used_idx == NULL)
		return -1;
	if (vhost_packed(dev)) {
		/* Position and wrap counter in bit 15, as DPDK gives them. */
		uint32_t base = vhost_vring_packed_base(vq);

		*last_avail_idx = (uint16_t)base;
		*last_used_idx = (uint16_t)(base >> 16);
		return 0;
	}
	*last_avail_idx = vq->last_avail_idx;
	*last_used_idx = vq->last_used_idx;
	return 0;
}

int
rte_vhost_set_vring_base(int vid, uint16_t queue_id, uint16_t last_avail_idx,
			 uint16_t last_used_idx)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, queue_id);

	if (vq == NULL)
		return -1;
	if (vhost_packed(dev)) {
		uint32_t base = last_avail_idx | (uint32_t)last_used_idx << 16;
		int ret;

		/* The used half is always given here: wrap counter 0 at
		 * position 0 is a valid used position. */
		if ((last_avail_idx & 0x7fff) >= vq->size ||
		    (last_used_idx & 0x7fff) >= vq->size)
			return -1;
		ret = vhost_vring_set_packed_base(dev, vq, base);
		vq->last_used_idx = last_used_idx & 0x7fff;
		vq->used_wrap = last_used_idx >> 15;
		return ret < 0 ? -1 : 0;
	}
	vq->last_avail_idx = last_avail_idx;
	vq->walked_ahead = last_avail_idx;
	vq->last_used_idx = last_used_idx;
	return 0;
}

int
rte_vhost_get_log_base(int vid, uint64_t *log_base, uint64_t *log_size)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev == NULL || log_base == NULL || log_size == NULL)
		return -1;
	*log_base = (uint64_t)(uintptr_t)dev->log_base;
	*log_size = dev->log_size;
	return 0;
}

void
rte_vhost_log_write(int vid, uint64_t addr, uint64_t len)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev != NULL && vhost_log_enabled(dev))
		vhost_log_pages(dev, addr, len);
}

void
rte_vhost_log_used_vring(int vid, uint16_t vring_idx, uint64_t offset,
			 uint64_t len)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, vring_idx);

	if (vq != NULL && vhost_log_enabled(dev))
		vhost_log_used(dev, vq, offset, len);
}

/* Entries the guest made available that the backend has not taken. */
static uint16_t
pending_entries(int vid, uint16_t queue_id)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, queue_id);
	uint16_t n = 0;

	/* The control path's lock keeps the ring's addresses in place
	 * (and the IOTLB's, which re-translates them); the datapath may move
	 * last_avail_idx meanwhile: the count is a snapshot, as in DPDK. */
	if (vq == NULL || !rte_spinlock_trylock(&vq->gate.ctl))
		return 0;
	if (vhost_iommu_on(dev) && rte_rwlock_read_trylock(&vq->iotlb_lock) != 0) {
		rte_spinlock_unlock(&vq->gate.ctl);
		return 0;
	}
	if (vq->access_ok && vq->enabled)
		n = vhost_packed(dev) ? vhost_packed_avail_count(vq) :
			vhost_avail_count(dev, vq);
	if (vhost_iommu_on(dev))
		rte_rwlock_read_unlock(&vq->iotlb_lock);
	rte_spinlock_unlock(&vq->gate.ctl);
	return n;
}

uint16_t
rte_vhost_avail_entries(int vid, uint16_t queue_id)
{
	return pending_entries(vid, queue_id);
}

uint32_t
rte_vhost_rx_queue_count(int vid, uint16_t qid)
{
	/* qid names a guest Tx queue, which the host receives from. */
	return (qid & 1) ? pending_entries(vid, qid) : 0;
}

int
rte_vhost_enable_guest_notification(int vid, uint16_t queue_id, int enable)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, queue_id);

	if (vq == NULL)
		return -1;
	/* An application thread: IOTLB handlers, which may re-translate
	 * the rings, are kept out too. */
	vhost_vq_lock(vq);
	vhost_vq_iotlb_lock(vq);
	vq->guest_notify = enable != 0;
	vhost_vring_apply_notify(dev, vq);
	vhost_vq_iotlb_unlock(vq);
	vhost_vq_unlock(vq);
	return 0;
}

static int
call_guest(int vid, uint16_t vring_idx, bool wait)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, vring_idx);

	if (vq == NULL)
		return -1;
	/* As pending_entries(): the ring's addresses and fds stay put.
	 * Both locks may be held by a thread that is not running: the
	 * waiting call backs off (vq_gate.h), the other one gives up. */
	if (wait)
		vhost_gate_ctl_lock(&vq->gate);
	else if (!rte_spinlock_trylock(&vq->gate.ctl))
		return -EAGAIN;
	if (vhost_iommu_on(dev)) {
		if (wait) {
			vhost_vq_iotlb_read_lock(vq);
		} else if (!vhost_vq_iotlb_read_trylock(vq)) {
			rte_spinlock_unlock(&vq->gate.ctl);
			return -EAGAIN;
		}
	}
	if (vq->access_ok)
		vhost_notify_guest(dev, vq);
	if (vhost_iommu_on(dev))
		vhost_vq_iotlb_read_unlock(vq);
	rte_spinlock_unlock(&vq->gate.ctl);
	return 0;
}

int
rte_vhost_vring_call(int vid, uint16_t vring_idx)
{
	return call_guest(vid, vring_idx, true);
}

int
rte_vhost_vring_call_nonblock(int vid, uint16_t vring_idx)
{
	return call_guest(vid, vring_idx, false);
}

int
rte_vhost_get_monitor_addr(int vid, uint16_t queue_id,
			   struct rte_vhost_power_monitor_cond *pmc)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq = get_vq(dev, queue_id);

	if (vq == NULL || pmc == NULL || !vq->access_ok)
		return -1;
	if (vhost_packed(dev)) {
		/* Wake when the next descriptor's flags turn available. */
		pmc->addr = &vq->desc_packed[vq->last_avail_idx].flags;
		pmc->val = vq->avail_wrap ? VHOST_PACKED_AVAIL : VHOST_PACKED_USED;
		pmc->mask = VHOST_PACKED_AVAIL | VHOST_PACKED_USED;
		pmc->size = sizeof(uint16_t);
		pmc->match = 1;
		return 0;
	}
	/* Wake when the guest moves avail->idx past what we consumed. */
	pmc->addr = &vq->avail->idx;
	pmc->val = vq->last_avail_idx;
	pmc->mask = UINT16_MAX;
	pmc->size = sizeof(vq->avail->idx);
	pmc->match = 0;
	return 0;
}

int
rte_vhost_extern_callback_register(int vid,
		struct rte_vhost_user_extern_ops const *const ops, void *ctx)
{
	RTE_SET_USED(ops);
	RTE_SET_USED(ctx);
	VHOST_LOG_ERR("external message handlers are not supported by this vhost library (vid %d)",
		vid);
	return -ENOTSUP;
}
