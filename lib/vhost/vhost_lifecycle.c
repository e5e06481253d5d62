/* SPDX-License-Identifier: BSD-3-Clause */

/* The device table and device/virtqueue life cycle: vhost_lifecycle.h,
 * and the datapath's lookup (vhost_device.h). */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_malloc.h>

#include "dirty_log.h"
#include "fd_event.h"
#include "held_pkts.h"
#include "vhost_device.h"
#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vring.h"

RTE_LOG_REGISTER(vhost_logtype, lib.vhost, INFO);

static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vhost_device *devices[RTE_MAX_VHOST_DEVICE];

struct vhost_device *
vhost_device_get(int vid)
{
	if (unlikely(vid < 0 || vid >= RTE_MAX_VHOST_DEVICE))
		return NULL;
	return devices[vid];
}

struct vhost_device *
vhost_device_alloc(void)
{
	struct vhost_device *dev = NULL;

	pthread_mutex_lock(&devices_lock);
	for (int i = 0; i < RTE_MAX_VHOST_DEVICE; i++) {
		if (devices[i] != NULL)
			continue;
		dev = rte_zmalloc("vhost_device", sizeof(*dev), RTE_CACHE_LINE_SIZE);
		if (dev == NULL)
			break;
		dev->vid = i;
		dev->backend_req_fd = -1;
		rte_spinlock_init(&dev->backend_req_lock);
		dev->conn_fd = -1;
		pthread_mutex_init(&dev->ctrl_lock, NULL);
		devices[i] = dev;
		break;
	}
	pthread_mutex_unlock(&devices_lock);
	if (dev == NULL)
		VHOST_LOG_ERR("no room for another vhost device (%d at most)",
			RTE_MAX_VHOST_DEVICE);
	return dev;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = VHOST_FD_UNSET;
}

static void
vq_free(struct vhost_virtqueue *vq)
{
	vhost_held_free(vq);
	close_fd(&vq->kickfd);
	close_fd(&vq->callfd);
	close_fd(&vq->errfd);
	free(vq->shadow_used);
	free(vq->indirect_copy);
	rte_free(vq);
}

void
vhost_device_reset(struct vhost_device *dev)
{
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		if (dev->vq[i] != NULL)
			vq_free(dev->vq[i]);
		dev->vq[i] = NULL;
	}
	dev->nr_vring = 0;
	vhost_iotlb_fini(&dev->iotlb);
	vhost_mem_table_free(dev->mem);
	dev->mem = NULL;
	vhost_log_unmap(dev);
	vhost_backend_req_close(dev);
	dev->features = 0;
	dev->protocol_features = 0;
	dev->flags = 0;
	dev->status = 0;
	dev->mtu = 0;
	dev->broadcast_rarp = 0;
}

void
vhost_backend_req_close(struct vhost_device *dev)
{
	if (dev->backend_req_fd < 0)
		return;
	fd_event_del(dev->backend_req_fd);
	rte_spinlock_lock(&dev->backend_req_lock);
	close(dev->backend_req_fd);
	dev->backend_req_fd = -1;
	dev->asked_count = 0;
	dev->backend_req_in_len = 0;
	rte_spinlock_unlock(&dev->backend_req_lock);
}

struct vhost_device *
vhost_device_observe(int vid, bool *busy)
{
	struct vhost_device *dev;

	*busy = false;
	if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)
		return NULL;
	/* Only a try: an observer must never hold up connection set-up
	 * and teardown (devices_lock) behind a request being handled. */
	pthread_mutex_lock(&devices_lock);
	dev = devices[vid];
	if (dev != NULL && pthread_mutex_trylock(&dev->ctrl_lock) != 0) {
		dev = NULL;
		*busy = true;
	}
	pthread_mutex_unlock(&devices_lock);
	return dev;
}

void
vhost_device_unobserve(struct vhost_device *dev)
{
	pthread_mutex_unlock(&dev->ctrl_lock);
}

void
vhost_device_free(struct vhost_device *dev)
{
	if (dev == NULL)
		return;
	/* Out of the table first, then wait for an observer that found it
	 * before: nobody else can reach the device once it is torn down. */
	pthread_mutex_lock(&devices_lock);
	devices[dev->vid] = NULL;
	pthread_mutex_unlock(&devices_lock);
	pthread_mutex_lock(&dev->ctrl_lock);
	pthread_mutex_unlock(&dev->ctrl_lock);
	vhost_device_reset(dev);
	pthread_mutex_destroy(&dev->ctrl_lock);
	rte_free(dev);
}

int
vhost_vq_alloc(struct vhost_device *dev, uint32_t idx)
{
	if (idx >= VHOST_MAX_VRINGS)
		return -EINVAL;
	for (uint32_t i = dev->nr_vring; i <= idx; i++) {
		struct vhost_virtqueue *vq = rte_zmalloc("vhost_vq", sizeof(*vq),
							 RTE_CACHE_LINE_SIZE);

		if (vq == NULL) {
			VHOST_DEV_LOG(ERR, dev, "cannot allocate vring %u", i);
			return -ENOMEM;
		}
		vq->index = i;
		vq->kickfd = VHOST_FD_UNSET;
		vq->callfd = VHOST_FD_UNSET;
		vq->errfd = VHOST_FD_UNSET;
		vhost_gate_init(&vq->gate);
		/* A packed ring's wrap counters start at 1 (virtio 1.1,
		 * 2.7.1); SET_VRING_BASE sets them anyway. */
		vq->avail_wrap = true;
		vq->used_wrap = true;
		rte_rwlock_init(&vq->iotlb_lock);
		dev->vq[i] = vq;
		/* The datapath checks queue_id < nr_vring, then reads vq[]. */
		__atomic_store_n(&dev->nr_vring, i + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

void
vhost_vq_lock(struct vhost_virtqueue *vq)
{
	vhost_gate_close(&vq->gate);
	vhost_gate_sync();
	vhost_gate_wait(&vq->gate);
}

uint32_t
vhost_lock_all_vqs(struct vhost_device *dev)
{
	uint32_t n = dev->nr_vring;

	for (uint32_t i = 0; i < n; i++)
		vhost_gate_close(&dev->vq[i]->gate);
	if (n > 0)
		vhost_gate_sync();
	for (uint32_t i = 0; i < n; i++)
		vhost_gate_wait(&dev->vq[i]->gate);
	return n;
}

void
vhost_wait_bursts(struct vhost_device *dev)
{
	uint32_t n = dev->nr_vring;

	if (n == 0)
		return;
	/* A burst that enters after the barrier on its CPU reads what was
	 * stored before the call; one that entered before is busy. */
	vhost_gate_sync();
	for (uint32_t i = 0; i < n; i++)
		vhost_gate_wait(&dev->vq[i]->gate);
}

void
vhost_unlock_all_vqs(struct vhost_device *dev, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		vhost_vq_unlock(dev->vq[i]);
}

uint32_t
vhost_iotlb_lock_all(struct vhost_device *dev)
{
	uint32_t n = dev->nr_vring;

	if (!vhost_iommu_on(dev))
		n = vhost_lock_all_vqs(dev);
	for (uint32_t i = 0; i < n; i++)
		vhost_vq_iotlb_lock(dev->vq[i]);
	return n;
}

void
vhost_iotlb_unlock_all(struct vhost_device *dev, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		vhost_vq_iotlb_unlock(dev->vq[i]);
	if (!vhost_iommu_on(dev))
		vhost_unlock_all_vqs(dev, n);
}

void
vhost_device_stop(struct vhost_device *dev)
{
	if (!(dev->flags & VHOST_DEV_RUNNING))
		return;
	dev->flags &= ~VHOST_DEV_RUNNING;
	VHOST_DEV_LOG(INFO, dev, "device %d stopped", dev->vid);
	if (dev->ops != NULL && dev->ops->destroy_device != NULL)
		dev->ops->destroy_device(dev->vid);
}

static bool
vq_is_ready(const struct vhost_virtqueue *vq)
{
	return vq != NULL && vq->access_ok && vq->enabled &&
		vq->kickfd != VHOST_FD_UNSET && vq->callfd != VHOST_FD_UNSET;
}

void
vhost_device_update_state(struct vhost_device *dev)
{
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		struct vhost_virtqueue *vq = dev->vq[i];
		bool ready = vq_is_ready(vq);

		if (ready == vq->ready)
			continue;
		vq->ready = ready;
		VHOST_DEV_LOG(INFO, dev, "vring %u %s", i, ready ? "enabled" : "disabled");
		if (dev->ops != NULL && dev->ops->vring_state_changed != NULL)
			dev->ops->vring_state_changed(dev->vid, i, ready);
	}
	if ((dev->flags & VHOST_DEV_RUNNING) ||
	    !(dev->flags & VHOST_DEV_FEATURES_SET) || dev->nr_vring < 2 ||
	    !dev->vq[0]->ready || !dev->vq[1]->ready)
		return;
	/* The first queue pair is ready: the application may start. */
	VHOST_DEV_LOG(INFO, dev, "device %d ready: %u rings", dev->vid, dev->nr_vring);
	if (dev->ops != NULL && dev->ops->new_device != NULL &&
	    dev->ops->new_device(dev->vid) < 0) {
		VHOST_DEV_LOG(ERR, dev, "the application refused the device");
		return;
	}
	dev->flags |= VHOST_DEV_RUNNING;
}
