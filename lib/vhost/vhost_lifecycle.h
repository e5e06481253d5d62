/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_LIFECYCLE_H
#define VHOST_LIFECYCLE_H

/* A device's life as the control path drives it: allocation, observers,
 * reset, readiness, stopping, and holding its rings (one, or all at once).
 * Defined in vhost_lifecycle.c; the datapath never includes this (it
 * only looks a device up and enters one ring: vhost_device.h,
 * datapath.h), which devtools/check-layers.py enforces. */

#include <stdbool.h>
#include <stdint.h>

#include "vhost_device_types.h"

struct vhost_device *vhost_device_alloc(void);
void vhost_device_free(struct vhost_device *dev);

/* For observers on threads that are neither the event thread nor the
 * datapath (telemetry): the device vid with its ctrl_lock held, so its
 * rings and memory table stay in place and it cannot be freed until
 * vhost_device_unobserve(). Never waits for the lock: returns NULL with
 * *busy set if a request is being handled (try again), or with *busy
 * clear if there is no such device. */
struct vhost_device *vhost_device_observe(int vid, bool *busy);
void vhost_device_unobserve(struct vhost_device *dev);

/* Tear down everything the frontend set up (mappings, fds, rings) and
 * return the device to its freshly connected state. The caller has
 * already told the application (destroy_device). */
void vhost_device_reset(struct vhost_device *dev);

/* Stop watching and close the backend request channel (a reset, or
 * SET_BACKEND_REQ_FD replacing it). */
void vhost_backend_req_close(struct vhost_device *dev);

/* Allocate virtqueue idx (and every lower one) if needed. */
int vhost_vq_alloc(struct vhost_device *dev, uint32_t idx);

/* The control path's hold on a ring: no burst is inside it until the
 * unlock. The first costs one membarrier() (vq_gate.h). */
void vhost_vq_lock(struct vhost_virtqueue *vq);

static inline void
vhost_vq_unlock(struct vhost_virtqueue *vq)
{
	vhost_gate_open(&vq->gate);
}

/* The IOTLB's write lock alone. With an IOMMU every burst holds
 * iotlb_lock for reading, so this keeps bursts out too, without a
 * membarrier() per IOTLB message. DPDK 22.11's rwlock prefers readers: a
 * datapath thread polling the ring back to back holds the read lock nearly
 * all the time and could keep a writer spinning for long (seen:
 * milliseconds per IOTLB message); bursts therefore skip the ring while
 * writers_waiting is set. */
static inline void
vhost_vq_iotlb_lock(struct vhost_virtqueue *vq)
{
	struct vhost_backoff b;

	__atomic_fetch_add(&vq->writers_waiting, 1, __ATOMIC_SEQ_CST);
	vhost_backoff_init(&b);
	/* rte_rwlock_write_lock() spins as long as a reader holds the
	 * lock, which may be a burst whose thread is not running: try, and
	 * back off as the gate does (vq_gate.h). */
	while (rte_rwlock_write_trylock(&vq->iotlb_lock) != 0)
		vhost_backoff_pause(&b);
	__atomic_fetch_sub(&vq->writers_waiting, 1, __ATOMIC_RELAXED);
}

static inline void
vhost_vq_iotlb_unlock(struct vhost_virtqueue *vq)
{
	rte_rwlock_write_unlock(&vq->iotlb_lock);
}

/* The IOTLB's read lock for a reader outside the datapath (application
 * threads: rte_vhost_vring_call, the ring statistics). The writer, the
 * event thread handling an IOTLB message, may be descheduled holding it:
 * try, and back off as the writer does (vq_gate.h). Waiting writers go
 * first, as they do before bursts, so that a reader called back to back
 * cannot keep them out. */
static inline bool
vhost_vq_iotlb_read_trylock(struct vhost_virtqueue *vq)
{
	return __atomic_load_n(&vq->writers_waiting, __ATOMIC_RELAXED) == 0 &&
	       rte_rwlock_read_trylock(&vq->iotlb_lock) == 0;
}

static inline void
vhost_vq_iotlb_read_lock(struct vhost_virtqueue *vq)
{
	struct vhost_backoff b;

	if (likely(vhost_vq_iotlb_read_trylock(vq)))
		return;
	vhost_backoff_init(&b);
	while (!vhost_vq_iotlb_read_trylock(vq))
		vhost_backoff_pause(&b);
}

static inline void
vhost_vq_iotlb_read_unlock(struct vhost_virtqueue *vq)
{
	rte_rwlock_read_unlock(&vq->iotlb_lock);
}

/* Hold every ring's IOTLB write lock (in ring order; bursts only try
 * their one read lock, so nothing waits in a cycle): the device IOTLB
 * may change. Without an IOMMU (IOTLB messages a frontend sends anyway)
 * the rings are held whole too. Returns the count for the unlock. */
uint32_t vhost_iotlb_lock_all(struct vhost_device *dev);
void vhost_iotlb_unlock_all(struct vhost_device *dev, uint32_t nlocked);

/* Hold every virtqueue (one membarrier() for all): the datapath is out of
 * all of them until the unlock. Returns how many were locked, for the
 * unlock (a handler may add rings meanwhile: new rings are not usable
 * until set up). */
uint32_t vhost_lock_all_vqs(struct vhost_device *dev);
void vhost_unlock_all_vqs(struct vhost_device *dev, uint32_t nlocked);

/* Wait until every burst that may have read what the control path
 * changed before the call has left its ring (one membarrier() for all
 * rings). Bursts are not held out: they go on meanwhile. */
void vhost_wait_bursts(struct vhost_device *dev);

/* If the device is running, tell the application it stops. */
void vhost_device_stop(struct vhost_device *dev);

/* Recompute readiness after a message: vring_state_changed for each ring
 * whose state changed, new_device once the first queue pair is ready. */
void vhost_device_update_state(struct vhost_device *dev);

#endif /* VHOST_LIFECYCLE_H */
