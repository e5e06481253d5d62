/* SPDX-License-Identifier: BSD-3-Clause */

/* The dispatcher: reads a request, checks its size, ring index and fds
 * against the handler table, runs the handler under the right locks
 * and answers. */

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vhost_user.h"
#include "write_trace.h"

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhost_vring_state)
#define ADDR sizeof(struct vhost_vring_addr)
#define MEM_REG sizeof(struct vhost_user_mem_reg)

/* Named fields, so each rule reads as what it is; a field left out is
 * 0: no payload, no fds, no ring index, no locks, device left running. */
const struct vhost_handler vhost_handlers[VHOST_USER_MAX_REQUEST] = {
	[VHOST_USER_GET_FEATURES] = { .fn = vhost_on_get_features },
	[VHOST_USER_SET_FEATURES] = {
		.fn = vhost_on_set_features, .size = U64, .lock_all = true },
	[VHOST_USER_SET_OWNER] = { .fn = vhost_on_set_owner },
	[VHOST_USER_RESET_OWNER] = {
		.fn = vhost_on_reset_owner, .stops_device = true },
	[VHOST_USER_SET_MEM_TABLE] = {
		.fn = vhost_on_set_mem_table, .size = VHOST_SIZE_VARIABLE,
		.fds = VHOST_FDS_REGIONS, .lock_all = true },
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { .fn = vhost_on_get_max_mem_slots },
	/* Lock the rings themselves, only to switch tables. */
	[VHOST_USER_ADD_MEM_REG] = {
		.fn = vhost_on_add_mem_reg, .size = MEM_REG,
		.fds = VHOST_FDS_ONE },
	[VHOST_USER_REM_MEM_REG] = {
		.fn = vhost_on_rem_mem_reg, .size = MEM_REG,
		.fds = VHOST_FDS_ANY_ONE },
	[VHOST_USER_SET_LOG_BASE] = {
		.fn = vhost_on_set_log_base,
		.size = sizeof(struct vhost_user_log), .fds = VHOST_FDS_ONE,
		.lock_all = true },
	[VHOST_USER_SET_LOG_FD] = {
		.fn = vhost_on_set_log_fd, .fds = VHOST_FDS_ONE },
	[VHOST_USER_SET_VRING_NUM] = {
		.fn = vhost_on_set_vring_num, .size = STATE,
		.has_vring_index = true, .lock_all = true },
	[VHOST_USER_SET_VRING_ADDR] = {
		.fn = vhost_on_set_vring_addr, .size = ADDR,
		.has_vring_index = true, .lock_all = true },
	[VHOST_USER_SET_VRING_BASE] = {
		.fn = vhost_on_set_vring_base, .size = STATE,
		.has_vring_index = true, .lock_all = true },
	[VHOST_USER_GET_VRING_BASE] = {
		.fn = vhost_on_get_vring_base, .size = STATE,
		.has_vring_index = true, .lock_all = true,
		.stops_device = true },
	[VHOST_USER_SET_VRING_KICK] = {
		.fn = vhost_on_set_vring_kick, .size = U64,
		.fds = VHOST_FDS_VRING, .lock_all = true },
	[VHOST_USER_SET_VRING_CALL] = {
		.fn = vhost_on_set_vring_call, .size = U64,
		.fds = VHOST_FDS_VRING, .lock_all = true },
	[VHOST_USER_SET_VRING_ERR] = {
		.fn = vhost_on_set_vring_err, .size = U64,
		.fds = VHOST_FDS_VRING },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = {
		.fn = vhost_on_get_protocol_features },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = {
		.fn = vhost_on_set_protocol_features, .size = U64 },
	[VHOST_USER_GET_QUEUE_NUM] = { .fn = vhost_on_get_queue_num },
	[VHOST_USER_SET_VRING_ENABLE] = {
		.fn = vhost_on_set_vring_enable, .size = STATE,
		.has_vring_index = true, .lock_all = true },
	[VHOST_USER_SEND_RARP] = { .fn = vhost_on_send_rarp, .size = U64 },
	[VHOST_USER_NET_SET_MTU] = { .fn = vhost_on_net_set_mtu, .size = U64 },
	[VHOST_USER_SET_BACKEND_REQ_FD] = {
		.fn = vhost_on_set_backend_req_fd, .fds = VHOST_FDS_ONE,
		.lock_all = true },
	/* Takes each ring's locks itself, one ring at a time. */
	[VHOST_USER_IOTLB_MSG] = {
		.fn = vhost_on_iotlb_msg, .size = sizeof(struct vhost_iotlb_msg) },
	[VHOST_USER_SET_STATUS] = { .fn = vhost_on_set_status, .size = U64 },
	[VHOST_USER_GET_STATUS] = { .fn = vhost_on_get_status },
};

/* Payload checks common to all requests. Returns 0 or -EINVAL. */
static int
validate_msg(struct vhost_device *dev, const struct vhost_handler *h,
	     const struct vhost_user_msg *msg)
{
	const char *name = vhost_msg_name(msg->hdr.request);
	int want_fds = 0;

	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		VHOST_DEV_LOG(ERR, dev, "%s: unsupported protocol version %u",
			name, msg->hdr.flags & VHOST_USER_VERSION_MASK);
		return -EINVAL;
	}
	if (h->size != VHOST_SIZE_VARIABLE && msg->hdr.size != h->size) {
		VHOST_DEV_LOG(ERR, dev, "%s: payload of %u bytes, expected %u",
			name, msg->hdr.size, h->size);
		return -EINVAL;
	}
	/* The whole u32 index is checked: truncating it to 16 bits
	 * picked the wrong ring (CVE-2020-10723). */
	if (h->has_vring_index && msg->payload.state.index >= VHOST_MAX_VRINGS) {
		VHOST_DEV_LOG(ERR, dev, "%s: vring index %u out of range",
			name, msg->payload.state.index);
		return -EINVAL;
	}
	switch (h->fds) {
	case VHOST_FDS_NONE:
		want_fds = 0;
		break;
	case VHOST_FDS_ONE:
		want_fds = 1;
		break;
	case VHOST_FDS_VRING:
		want_fds = (msg->payload.u64 & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VHOST_FDS_REGIONS:
		/* Exactly the header and the regions it announces (QEMU),
		 * or the whole fixed-size table (some frontends pad it). */
		if (msg->hdr.size < offsetof(struct vhost_user_memory, regions) ||
		    msg->payload.memory.nregions > VHOST_MAX_MEM_REGIONS ||
		    (msg->hdr.size != offsetof(struct vhost_user_memory, regions) +
		     msg->payload.memory.nregions * sizeof(struct vhost_user_mem_region) &&
		     msg->hdr.size != sizeof(struct vhost_user_memory))) {
			VHOST_DEV_LOG(ERR, dev, "%s: payload of %u bytes does not hold its regions",
				name, msg->hdr.size);
			return -EINVAL;
		}
		want_fds = (int)msg->payload.memory.nregions;
		break;
	case VHOST_FDS_ANY_ONE:
		want_fds = msg->fd_num <= 1 ? msg->fd_num : 1;
		break;
	}
	if (msg->fd_num != want_fds) {
		VHOST_DEV_LOG(ERR, dev, "%s: carried %d fds, expected %d", name,
			msg->fd_num, want_fds);
		return -EINVAL;
	}
	return 0;
}

int
vhost_user_flush_replies(struct vhost_device *dev)
{
	int ret = 0;

	if (dev->replies_len > 0)
		ret = vhost_msg_send_raw(dev->conn_fd, dev->replies,
					 dev->replies_len);
	if (ret < 0)
		VHOST_DEV_LOG(ERR, dev, "sending %u bytes of replies failed: %s",
			dev->replies_len, strerror(-ret));
	dev->replies_len = 0;
	return ret;
}

/* Replies wait in dev->replies for the end of the wake-up: a frontend
 * that pipelines requests (IOTLB batches) gets its acks in one read. */
static int
send_reply(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_msg_header hdr = {
		.request = msg->hdr.request,
		.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
		.size = msg->hdr.size,
	};
	size_t len = sizeof(hdr) + hdr.size;
	int ret;

	if (dev->replies_len + len > sizeof(dev->replies) &&
	    vhost_user_flush_replies(dev) < 0)
		return -1;
	if (len <= sizeof(dev->replies)) {
		memcpy(dev->replies + dev->replies_len, &hdr, sizeof(hdr));
		memcpy(dev->replies + dev->replies_len + sizeof(hdr),
		       &msg->payload, hdr.size);
		dev->replies_len += len;
		return 0;
	}
	ret = vhost_msg_send(dev->conn_fd, &hdr, &msg->payload, NULL, 0);
	if (ret < 0)
		VHOST_DEV_LOG(ERR, dev, "%s: sending the reply failed: %s",
			vhost_msg_name(msg->hdr.request), strerror(-ret));
	return ret;
}

/* VHOST_WRITE_TRACE: the message, after its handler ran (the rings it
 * stopped are stopped by now). The argument is the ring index, with the
 * address flags in the high half for SET_VRING_ADDR, or the u64. */
static void
trace_msg(const struct vhost_handler *h, const struct vhost_user_msg *msg)
{
	uint64_t arg = msg->payload.u64;

	if (msg->hdr.request == VHOST_USER_SET_VRING_ADDR)
		arg = msg->payload.addr.index |
			((uint64_t)msg->payload.addr.flags << 32);
	else if (h->has_vring_index)
		arg = msg->payload.state.index;
	vhost_write_trace_msg(vhost_msg_name(msg->hdr.request), arg);
}

static int
run_handler(struct vhost_device *dev, const struct vhost_handler *h,
	    struct vhost_user_msg *msg)
{
	uint64_t features_before = dev->features;
	uint32_t nlocked = 0;
	int ret;

	if (h->stops_device)
		vhost_device_stop(dev);
	pthread_mutex_lock(&dev->ctrl_lock);
	if (h->lock_all)
		nlocked = vhost_lock_all_vqs(dev);
	ret = h->fn(dev, msg);
	vhost_unlock_all_vqs(dev, nlocked);
	pthread_mutex_unlock(&dev->ctrl_lock);

	/* Callbacks run without our locks held. */
	if (ret != VH_ERR && dev->features != features_before &&
	    (dev->flags & VHOST_DEV_RUNNING) && dev->ops != NULL &&
	    dev->ops->features_changed != NULL)
		dev->ops->features_changed(dev->vid, dev->features);
	return ret;
}

int
vhost_user_handle_msg(struct vhost_device *dev)
{
	struct vhost_user_msg msg;
	const struct vhost_handler *h = NULL;
	bool need_reply;
	int ret;

	ret = vhost_msg_recv(dev->conn_fd, &msg);
	if (ret == -EAGAIN)
		return 1;
	if (ret <= 0) {
		if (ret < 0)
			VHOST_DEV_LOG(ERR, dev, "reading a message failed: %s",
				strerror(-ret));
		return -1;
	}
	need_reply = (msg.hdr.flags & VHOST_USER_NEED_REPLY) &&
		(dev->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	if (msg.hdr.request < VHOST_USER_MAX_REQUEST)
		h = &vhost_handlers[msg.hdr.request];
	if (h == NULL || h->fn == NULL) {
		VHOST_DEV_LOG(ERR, dev, "unsupported request %u (%s)",
			msg.hdr.request, vhost_msg_name(msg.hdr.request));
		ret = VH_ERR;
	} else if (validate_msg(dev, h, &msg) < 0) {
		ret = VH_ERR;
	} else {
		VHOST_DEV_LOG(DEBUG, dev, "%s", vhost_msg_name(msg.hdr.request));
		ret = run_handler(dev, h, &msg);
		if (unlikely(vhost_write_trace_on))
			trace_msg(h, &msg);
	}
	vhost_msg_close_fds(&msg);	/* those no handler took */

	if (ret == VH_REPLY) {
		if (send_reply(dev, &msg) < 0)
			return -1;
	} else if (need_reply) {
		msg.hdr.size = sizeof(uint64_t);
		msg.payload.u64 = ret == VH_ERR;
		if (send_reply(dev, &msg) < 0)
			return -1;
	} else if (ret == VH_ERR) {
		VHOST_DEV_LOG(ERR, dev, "%s failed and no reply was requested: closing the connection",
			vhost_msg_name(msg.hdr.request));
		return -1;
	}
	vhost_device_update_state(dev);
	return 0;
}
