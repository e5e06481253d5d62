/* SPDX-License-Identifier: BSD-3-Clause */

/* rte_vhost_vring_stats_*: per-virtqueue counters. */

#include <errno.h>
#include <string.h>

#include <rte_vhost.h>

#include "vhost_device.h"
#include "vhost_lifecycle.h"
#include "vring_stats.h"

const char *const vhost_vq_stat_names[VHOST_STAT_NB] = {
	[VHOST_STAT_GOOD_PACKETS] = "good_packets",
	[VHOST_STAT_GOOD_BYTES] = "good_bytes",
	[VHOST_STAT_MULTICAST] = "multicast_packets",
	[VHOST_STAT_BROADCAST] = "broadcast_packets",
	[VHOST_STAT_UNDERSIZE] = "undersize_packets",
	[VHOST_STAT_SIZE_64] = "size_64_packets",
	[VHOST_STAT_SIZE_65_127] = "size_65_127_packets",
	[VHOST_STAT_SIZE_128_255] = "size_128_255_packets",
	[VHOST_STAT_SIZE_256_511] = "size_256_511_packets",
	[VHOST_STAT_SIZE_512_1023] = "size_512_1023_packets",
	[VHOST_STAT_SIZE_1024_1518] = "size_1024_1518_packets",
	[VHOST_STAT_SIZE_1519_MAX] = "size_1519_max_packets",
	[VHOST_STAT_GUEST_NOTIFICATIONS] = "guest_notifications",
	[VHOST_STAT_IOTLB_HITS] = "iotlb_hits",
	[VHOST_STAT_IOTLB_MISSES] = "iotlb_misses",
	[VHOST_STAT_INFLIGHT_SUBMITTED] = "inflight_submitted",
	[VHOST_STAT_INFLIGHT_COMPLETED] = "inflight_completed",
	[VHOST_STAT_BAD_CHAINS] = "invalid_descriptor_chains",
	[VHOST_STAT_DROPPED] = "dropped_packets",
	[VHOST_STAT_IOTLB_REFUSED] = "iotlb_refused",
	[VHOST_STAT_IOTLB_MISS_TIMEOUTS] = "iotlb_miss_timeouts",
	[VHOST_STAT_IOTLB_HELD] = "iotlb_held_packets",
	[VHOST_STAT_IOTLB_EVICTIONS] = "iotlb_evictions",
	[VHOST_STAT_IOTLB_ENTRIES] = "iotlb_entries",
	[VHOST_STAT_IOTLB_PENDING] = "iotlb_pending",
};

/* The queue, if stats were enabled at registration (as in DPDK). */
static struct vhost_virtqueue *
stats_vq(int vid, uint16_t queue_id)
{
	struct vhost_device *dev = vhost_device_get(vid);

	if (dev == NULL || queue_id >= dev->nr_vring ||
	    !(dev->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE))
		return NULL;
	return dev->vq[queue_id];
}

int
rte_vhost_vring_stats_get_names(int vid, uint16_t queue_id,
				struct rte_vhost_stat_name *name, unsigned int size)
{
	if (stats_vq(vid, queue_id) == NULL)
		return -1;
	if (name == NULL || size < VHOST_STAT_NB)
		return VHOST_STAT_NB;
	for (unsigned int i = 0; i < VHOST_STAT_NB; i++)
		snprintf(name[i].name, sizeof(name[i].name), "%s_q%u_%s",
			 (queue_id & 1) ? "rx" : "tx", queue_id / 2,
			 vhost_vq_stat_names[i]);
	return VHOST_STAT_NB;
}

void
vhost_vq_stats_read(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		    uint64_t v[VHOST_STAT_NB])
{
	/* Written by the queue's datapath thread only; a racy read of a
	 * 64-bit counter is still a value it had. */
	for (unsigned int i = 0; i < VHOST_STAT_NB; i++)
		v[i] = __atomic_load_n(&vq->stats.v[i], __ATOMIC_RELAXED);
	/* IOTLB gauges live in the device IOTLB, shared by the rings; its
	 * writer may be descheduled holding the lock (hence the back-off). */
	vhost_vq_iotlb_read_lock(vq);
	v[VHOST_STAT_IOTLB_EVICTIONS] = dev->iotlb.evictions;
	v[VHOST_STAT_IOTLB_ENTRIES] = dev->iotlb.n;
	v[VHOST_STAT_IOTLB_PENDING] = vq->nb_pending;
	vhost_vq_iotlb_read_unlock(vq);
}

int
rte_vhost_vring_stats_get(int vid, uint16_t queue_id,
			  struct rte_vhost_stat *stats, unsigned int n)
{
	struct vhost_virtqueue *vq = stats_vq(vid, queue_id);
	uint64_t v[VHOST_STAT_NB];

	if (vq == NULL)
		return -1;
	if (stats == NULL || n < VHOST_STAT_NB)
		return VHOST_STAT_NB;
	vhost_vq_stats_read(vhost_device_get(vid), vq, v);
	for (unsigned int i = 0; i < VHOST_STAT_NB; i++) {
		stats[i].id = i;
		stats[i].value = v[i];
	}
	return VHOST_STAT_NB;
}

int
rte_vhost_vring_stats_reset(int vid, uint16_t queue_id)
{
	struct vhost_virtqueue *vq = stats_vq(vid, queue_id);

	if (vq == NULL)
		return -1;
	/* An application thread: keep IOTLB handlers out too. */
	vhost_vq_lock(vq);
	vhost_vq_iotlb_lock(vq);
	memset(&vq->stats, 0, sizeof(vq->stats));
	vhost_vq_iotlb_unlock(vq);
	vhost_vq_unlock(vq);
	return 0;
}
