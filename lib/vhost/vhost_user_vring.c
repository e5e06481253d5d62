/* SPDX-License-Identifier: BSD-3-Clause */

/* Handlers of per-ring requests. The dispatcher has checked the ring
 * index (< VHOST_MAX_VRINGS) and holds every queue's write lock where
 * the table says so. */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vhost_user.h"
#include "vring.h"

/* The ring a request names, allocated on first use. */
static struct vhost_virtqueue *
vring_of(struct vhost_device *dev, uint32_t index)
{
	if (vhost_vq_alloc(dev, index) < 0)
		return NULL;
	return dev->vq[index];
}

static void
replace_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

int
vhost_on_set_vring_num(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	uint32_t num = msg->payload.state.num;
	struct vhost_virtqueue *vq = vring_of(dev, msg->payload.state.index);
	struct vhost_used_elem *shadow;

	if (vq == NULL)
		return VH_ERR;
	/* Packed rings take any size; split ones index with a mask. */
	if (num == 0 || num > VHOST_MAX_RING_SIZE ||
	    (!vhost_packed(dev) && (num & (num - 1)))) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: invalid size %u", vq->index, num);
		return VH_ERR;
	}
	shadow = realloc(vq->shadow_used, num * sizeof(*shadow));
	if (shadow == NULL)
		return VH_ERR;
	vq->shadow_used = shadow;
	vq->size = (uint16_t)num;
	/* Ring addresses were validated for the old size. */
	if (vq->ring_addr_set)
		vhost_vring_translate(dev, vq);
	return VH_OK;
}

int
vhost_on_set_vring_addr(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_virtqueue *vq = vring_of(dev, msg->payload.addr.index);

	if (vq == NULL)
		return VH_ERR;
	if (vq->size == 0) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: address set before its size", vq->index);
		return VH_ERR;
	}
	vq->ring_addr = msg->payload.addr;
	vq->ring_addr_set = true;
	/* Translatable only once a memory table exists; if one does, the
	 * addresses must be in it. */
	if (dev->mem != NULL && vhost_vring_translate(dev, vq) == -EFAULT) {
		vq->ring_addr_set = false;
		return VH_ERR;
	}
	return VH_OK;
}

int
vhost_on_set_vring_base(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_virtqueue *vq = vring_of(dev, msg->payload.state.index);

	if (vq == NULL)
		return VH_ERR;
	if (vhost_packed(dev)) {
		if (vhost_vring_set_packed_base(dev, vq, msg->payload.state.num) < 0)
			return VH_ERR;
	} else if (msg->payload.state.num > UINT16_MAX) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: base %u does not fit a split ring index",
			vq->index, msg->payload.state.num);
		return VH_ERR;
	} else {
		vq->last_avail_idx = (uint16_t)msg->payload.state.num;
		vq->walked_ahead = vq->last_avail_idx;
		vq->last_used_idx = vq->last_avail_idx;
		vq->signalled_used_valid = false;
	}
	/* The ring (re)starts from this base: check it against the ring
	 * memory now if the ring is translated, else once it is. */
	vq->resync_armed = true;
	if (vq->access_ok) {
		vhost_vring_resync(dev, vq);
		vhost_vring_apply_notify(dev, vq);
	}
	return VH_OK;
}

int
vhost_on_get_vring_base(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_virtqueue *vq = vring_of(dev, msg->payload.state.index);

	if (vq == NULL)
		return VH_ERR;
	/* The ring stops: the frontend resumes it from this index. */
	msg->payload.state.num = vhost_packed(dev) ?
		vhost_vring_packed_base(vq) : vq->last_avail_idx;
	msg->hdr.size = sizeof(msg->payload.state);
	replace_fd(&vq->kickfd, VHOST_FD_UNSET);
	replace_fd(&vq->callfd, VHOST_FD_UNSET);
	vhost_vring_invalidate(vq);
	vq->ring_addr_set = false;
	vq->signalled_used_valid = false;
	return VH_REPLY;
}

/* Index and fd of a SET_VRING_KICK/CALL/ERR message. */
static struct vhost_virtqueue *
vring_file(struct vhost_device *dev, struct vhost_user_msg *msg, int *fd)
{
	uint64_t v = msg->payload.u64;
	struct vhost_virtqueue *vq;

	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		VHOST_DEV_LOG(ERR, dev, "%s: invalid payload 0x%" PRIx64,
			vhost_msg_name(msg->hdr.request), v);
		return NULL;
	}
	vq = vring_of(dev, v & VHOST_USER_VRING_IDX_MASK);
	if (vq == NULL)
		return NULL;
	if (v & VHOST_USER_VRING_NOFD_MASK) {
		*fd = VHOST_FD_NONE;
	} else {
		*fd = msg->fds[0];
		msg->fds[0] = -1;
	}
	return vq;
}

int
vhost_on_set_vring_kick(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	int fd;
	struct vhost_virtqueue *vq = vring_file(dev, msg, &fd);

	if (vq == NULL)
		return VH_ERR;
	replace_fd(&vq->kickfd, fd);
	/* Without protocol features a ring runs as soon as it is kicked. */
	if (!vhost_has_feature(dev, VHOST_USER_F_PROTOCOL_FEATURES))
		vq->enabled = true;
	if (vq->ring_addr_set && !vq->access_ok)
		vhost_vring_translate(dev, vq);
	return VH_OK;
}

int
vhost_on_set_vring_call(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	int fd;
	struct vhost_virtqueue *vq = vring_file(dev, msg, &fd);

	if (vq == NULL)
		return VH_ERR;
	replace_fd(&vq->callfd, fd);
	vq->signalled_used_valid = false;
	return VH_OK;
}

int
vhost_on_set_vring_err(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	int fd;
	struct vhost_virtqueue *vq = vring_file(dev, msg, &fd);

	if (vq == NULL)
		return VH_ERR;
	replace_fd(&vq->errfd, fd);
	return VH_OK;
}

int
vhost_on_set_vring_enable(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_virtqueue *vq = vring_of(dev, msg->payload.state.index);

	if (vq == NULL)
		return VH_ERR;
	if (msg->payload.state.num > 1) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: enable value %u", vq->index,
			msg->payload.state.num);
		return VH_ERR;
	}
	vq->enabled = msg->payload.state.num == 1;
	return VH_OK;
}
