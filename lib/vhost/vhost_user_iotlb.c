/* SPDX-License-Identifier: BSD-3-Clause */

/* Handlers of the device IOTLB requests: the backend request channel
 * (SET_BACKEND_REQ_FD) and IOTLB_MSG updates and invalidations. */

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fd_event.h"
#include "held_pkts.h"
#include "iotlb_miss.h"
#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vhost_user.h"
#include "vring.h"

/* Hold a ring for an IOTLB change: no burst is inside it meanwhile.
 * With the IOMMU on, bursts hold the IOTLB's read lock, and its write lock
 * is enough (no membarrier() per IOTLB message); without it (IOTLB
 * messages a frontend sends anyway) the whole ring is held. */
static void
lock_ring(const struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	if (!vhost_iommu_on(dev))
		vhost_vq_lock(vq);
	vhost_vq_iotlb_lock(vq);
}

static void
unlock_ring(const struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	vhost_vq_iotlb_unlock(vq);
	if (!vhost_iommu_on(dev))
		vhost_vq_unlock(vq);
}

/* The frontend's answer to a miss sent with NEED_REPLY. */
struct backend_reply {
	struct vhost_msg_header hdr;
	uint64_t result;
} __attribute__((packed));

/* One answer: non-zero means the IOVA is not mapped. Returns 0, or -1
 * if it is not an answer (the channel is out of step). */
static int
backend_reply_handle(struct vhost_device *dev, const struct backend_reply *reply)
{
	struct vhost_iotlb_asked asked;

	if (!(reply->hdr.flags & VHOST_USER_REPLY_MASK) ||
	    reply->hdr.size != sizeof(reply->result)) {
		VHOST_DEV_LOG(ERR, dev, "backend channel: unexpected request %u (flags 0x%x, size %u)",
			reply->hdr.request, reply->hdr.flags, reply->hdr.size);
		return -1;
	}
	rte_spinlock_lock(&dev->backend_req_lock);
	if (dev->asked_count == 0) {
		rte_spinlock_unlock(&dev->backend_req_lock);
		return 0;
	}
	asked = dev->asked[dev->asked_head];
	dev->asked_head = (dev->asked_head + 1) % VHOST_IOTLB_MAX_ASKED;
	dev->asked_count--;
	rte_spinlock_unlock(&dev->backend_req_lock);

	if (reply->result == 0 || asked.vring >= dev->nr_vring)
		return 0;
	VHOST_DEV_LOG(ERR, dev, "vring %u: the frontend has no mapping for iova 0x%" PRIx64
		" (perm %u)", asked.vring, asked.iova, asked.perm);
	lock_ring(dev, dev->vq[asked.vring]);
	vhost_iotlb_refuse_pending(dev->vq[asked.vring], asked.iova, asked.perm);
	/* Held packets go on past the refused buffers. */
	vhost_held_flush(dev, dev->vq[asked.vring]);
	unlock_ring(dev, dev->vq[asked.vring]);
	return 0;
}

/* The answers come as a batch when the misses went as one: read what is
 * there in one go (a partial answer waits in dev->backend_req_in for its end). */
static void
backend_req_read(int fd, void *arg)
{
	struct vhost_device *dev = arg;
	struct backend_reply r;
	size_t done = 0;
	ssize_t n;

	n = recv(fd, dev->backend_req_in + dev->backend_req_in_len,
		 sizeof(dev->backend_req_in) - dev->backend_req_in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			VHOST_DEV_LOG(ERR, dev, "backend channel: %s", strerror(errno));
		fd_event_del(fd);	/* closed: stop reading */
		return;
	}
	dev->backend_req_in_len += n;
	for (; dev->backend_req_in_len - done >= sizeof(r); done += sizeof(r)) {
		memcpy(&r, dev->backend_req_in + done, sizeof(r));
		if (backend_reply_handle(dev, &r) < 0) {
			fd_event_del(fd);	/* out of step: stop reading */
			dev->backend_req_in_len = 0;
			return;
		}
	}
	memmove(dev->backend_req_in, dev->backend_req_in + done, dev->backend_req_in_len - done);
	dev->backend_req_in_len -= done;
}

int
vhost_on_set_backend_req_fd(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	int fd = msg->fds[0];

	msg->fds[0] = -1;
	vhost_backend_req_close(dev);
	rte_spinlock_lock(&dev->backend_req_lock);
	dev->backend_req_fd = fd;
	rte_spinlock_unlock(&dev->backend_req_lock);
	if (fd_event_add(fd, backend_req_read, dev) < 0)
		VHOST_DEV_LOG(WARNING, dev, "backend channel answers will not be read");
	return VH_OK;
}

void
vhost_iotlb_mem_table_changed(struct vhost_device *dev)
{
	uint32_t dropped;

	if (dev->iotlb.e == NULL)
		return;
	/* The IOTLB locks keep out bursts with an IOMMU, and the API calls
	 * that read rings without entering them. */
	for (uint32_t i = 0; i < dev->nr_vring; i++)
		vhost_vq_iotlb_lock(dev->vq[i]);
	dropped = vhost_iotlb_reresolve(&dev->iotlb, vhost_iotlb_resolve_uaddr, dev);
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		vhost_xlate_cache_clear(dev->vq[i]);
		vhost_vq_iotlb_unlock(dev->vq[i]);
	}
	if (dropped != 0)
		VHOST_DEV_LOG(INFO, dev, "memory table changed: %u IOTLB entries dropped, %u kept",
			dropped, dev->iotlb.n);
}

void
vhost_iotlb_region_removed(struct vhost_device *dev,
			   const struct rte_vhost_mem_region *gone)
{
	uint32_t *ids, n;

	if (dev->iotlb.e == NULL || dev->iotlb.n == 0)
		return;
	/* Room for every entry, so that one walk of the table finds them
	 * all (4 bytes per entry, freed below). */
	ids = malloc(dev->iotlb.n * sizeof(*ids));
	if (ids == NULL) {
		vhost_iotlb_mem_table_changed(dev);
		return;
	}
	/* The event thread is the IOTLB's only writer: what it finds now
	 * holds until it removes it. */
	n = vhost_iotlb_find_uaddr(&dev->iotlb, gone->guest_user_addr, gone->size,
				   ids, dev->iotlb.n);
	if (n == 0) {
		free(ids);
		return;		/* every entry stays valid, caches too */
	}
	for (uint32_t i = 0; i < dev->nr_vring; i++)
		vhost_vq_iotlb_lock(dev->vq[i]);
	vhost_iotlb_remove(&dev->iotlb, ids, n);
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		vhost_xlate_cache_clear(dev->vq[i]);
		vhost_vq_iotlb_unlock(dev->vq[i]);
	}
	free(ids);
	VHOST_DEV_LOG(INFO, dev, "region removed: %u IOTLB entries dropped, %u kept",
		n, dev->iotlb.n);
}

static int
iotlb_update(struct vhost_device *dev, const struct vhost_iotlb_msg *m)
{
	uint32_t nlocked;

	if (m->size == 0 || m->perm == 0 || (m->perm & ~VHOST_ACCESS_RW) ||
	    m->iova > UINT64_MAX - (m->size - 1) ||
	    m->uaddr > UINT64_MAX - (m->size - 1) ||
	    !vhost_uaddr_range_mapped(dev, m->uaddr, m->size)) {
		VHOST_DEV_LOG(ERR, dev, "IOTLB update refused: iova 0x%llx size 0x%llx uaddr 0x%llx perm %u",
			(unsigned long long)m->iova, (unsigned long long)m->size,
			(unsigned long long)m->uaddr, m->perm);
		return VH_ERR;
	}
	VHOST_DEV_LOG(DEBUG, dev, "IOTLB update iova 0x%llx size 0x%llx uaddr 0x%llx perm %u",
		(unsigned long long)m->iova, (unsigned long long)m->size,
		(unsigned long long)m->uaddr, m->perm);
	/* One IOTLB per device, whether its rings exist yet or not: an
	 * update that comes before them is kept. */
	nlocked = vhost_iotlb_lock_all(dev);
	if (dev->iotlb.e == NULL &&
	    vhost_iotlb_init(&dev->iotlb, dev->iotlb_max_entries) < 0) {
		vhost_iotlb_unlock_all(dev, nlocked);
		VHOST_DEV_LOG(ERR, dev, "cannot allocate the IOTLB (%u entries, %zu bytes)",
			dev->iotlb_max_entries,
			vhost_iotlb_mem_bytes(dev->iotlb_max_entries));
		return VH_ERR;
	}
	if (dev->iotlb_max_age != 0)
		dev->iotlb.clock = rte_get_timer_cycles();
	vhost_iotlb_map_mem(dev, m->iova, m->size, m->uaddr, m->perm);
	for (uint32_t i = 0; i < nlocked; i++) {
		struct vhost_virtqueue *vq = dev->vq[i];

		if (dev->iotlb_max_age != 0)
			vhost_iotlb_age(dev, vq);
		vhost_iotlb_resolve_pending(vq, m->iova, m->size, m->perm);
		/* What waited for this mapping may go on now. */
		/* Rings not yet usable, or whose mapping this replaces. */
		if (vq->ring_addr_set && (!vq->access_ok ||
		    vhost_vring_uses_iova(vq, m->iova, m->size)))
			vhost_vring_translate(dev, vq);
		/* Held packets go on once the wake-up's updates are all in
		 * (vhost_iotlb_after_messages), not one update at a time. */
		vhost_held_note_update(dev, vq);
		if (vq->nb_unsent != 0)
			vhost_iotlb_send_misses(dev, vq);
	}
	vhost_iotlb_unlock_all(dev, nlocked);
	return VH_OK;
}

void
vhost_iotlb_retry_held(struct vhost_device *dev)
{
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		struct vhost_virtqueue *vq = dev->vq[i];

		if (vq == NULL || !vhost_held_any(vq))
			continue;
		lock_ring(dev, vq);
		vhost_held_retry(dev, vq);
		unlock_ring(dev, vq);
	}
}

void
vhost_iotlb_after_messages(struct vhost_device *dev)
{
	if (vhost_held_take_waiting(dev))
		vhost_iotlb_retry_held(dev);
}

static int
iotlb_invalidate(struct vhost_device *dev, const struct vhost_iotlb_msg *m)
{
	/* QEMU sends a global device-IOTLB flush (the Linux guest's lazy
	 * mode) as iova 0 with a size of 2^64, which wraps to 0 in the
	 * message: size 0 means "to the end of the space". Invalidating
	 * too much is always safe; too little is not. */
	bool to_end = m->size == 0;
	uint64_t size = to_end ? UINT64_MAX - m->iova + (m->iova != 0) : m->size;
	uint32_t nlocked;

	VHOST_DEV_LOG(DEBUG, dev, "IOTLB invalidate iova 0x%llx size 0x%llx",
		(unsigned long long)m->iova, (unsigned long long)m->size);

	/* Holding every ring's write lock means no burst is using the
	 * range: after the unlock, none can find it. The reply that follows
	 * is the promise the frontend waits for. */
	nlocked = vhost_iotlb_lock_all(dev);
	if (to_end && m->iova == 0)
		vhost_iotlb_flush(&dev->iotlb);
	else
		vhost_iotlb_invalidate(&dev->iotlb, m->iova, size);
	for (uint32_t i = 0; i < nlocked; i++) {
		struct vhost_virtqueue *vq = dev->vq[i];

		if (vhost_vring_uses_iova(vq, m->iova, size)) {
			vhost_vring_invalidate(vq);
			vhost_vring_translate(dev, vq);	/* asks for it again */
		}
	}
	vhost_iotlb_unlock_all(dev, nlocked);
	return VH_OK;
}

int
vhost_on_iotlb_msg(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	const struct vhost_iotlb_msg *m = &msg->payload.iotlb;

	if (!vhost_iommu_on(dev)) {
		VHOST_DEV_LOG(ERR, dev, "IOTLB message without VIRTIO_F_IOMMU_PLATFORM");
		return VH_ERR;
	}
	switch (m->type) {
	case VHOST_IOTLB_UPDATE:
		return iotlb_update(dev, m);
	case VHOST_IOTLB_INVALIDATE:
		return iotlb_invalidate(dev, m);
	default:
		VHOST_DEV_LOG(ERR, dev, "IOTLB message of type %u not handled", m->type);
		return VH_ERR;
	}
}
