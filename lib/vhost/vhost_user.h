/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_USER_H
#define VHOST_USER_H

/* Handling frontend requests: one handler per request, a table that
 * says what each request may carry, and one dispatcher that checks it
 * before any handler runs. */

#include "vhost_device_types.h"
#include "vhost_msg.h"

/* Handler results. */
#define VH_OK 0		/* done; ack if the frontend asked */
#define VH_REPLY 1	/* done; msg holds the reply */
#define VH_ERR (-1)	/* refused; error ack, or close without REPLY_ACK */

typedef int (*vhost_handler_fn)(struct vhost_device *dev, struct vhost_user_msg *msg);

/* Which fds a request may carry. */
enum vhost_fd_rule {
	VHOST_FDS_NONE,		/* none */
	VHOST_FDS_ONE,		/* exactly one */
	VHOST_FDS_VRING,	/* one, or none with the NOFD bit */
	VHOST_FDS_REGIONS,	/* one per memory region */
	VHOST_FDS_ANY_ONE,	/* none or one (closed unused) */
};

/* What the dispatcher checks before calling fn. */
#define VHOST_SIZE_VARIABLE UINT32_MAX

struct vhost_handler {
	vhost_handler_fn fn;
	uint32_t size;		/* exact payload size, or VHOST_SIZE_VARIABLE */
	enum vhost_fd_rule fds;
	bool has_vring_index;	/* payload starts with a u32 ring index */
	bool lock_all;		/* changes what the datapath may touch */
	bool stops_device;	/* tell the application first */
};

/* Handlers, by request id (NULL: not supported). */
extern const struct vhost_handler vhost_handlers[VHOST_USER_MAX_REQUEST];

/* Device-wide and vring handlers (vhost_user_dev.c, vhost_user_vring.c). */
int vhost_on_get_features(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_features(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_owner(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_reset_owner(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_mem_table(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_get_max_mem_slots(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_add_mem_reg(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_rem_mem_reg(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_log_base(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_log_fd(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_get_protocol_features(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_protocol_features(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_get_queue_num(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_send_rarp(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_net_set_mtu(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_status(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_get_status(struct vhost_device *dev, struct vhost_user_msg *msg);

int vhost_on_set_vring_num(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_vring_addr(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_vring_base(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_get_vring_base(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_vring_kick(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_vring_call(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_vring_err(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_set_vring_enable(struct vhost_device *dev, struct vhost_user_msg *msg);

int vhost_on_set_backend_req_fd(struct vhost_device *dev, struct vhost_user_msg *msg);
int vhost_on_iotlb_msg(struct vhost_device *dev, struct vhost_user_msg *msg);

/* After the messages of one wake-up: deliver the packets the rings
 * held for IOTLB updates that came meanwhile. Runs on the event thread. */
void vhost_iotlb_after_messages(struct vhost_device *dev);

/* Try again to deliver what every ring of dev holds. Held packets wait
 * for IOTLB answers or for the guest to post buffers; once the caller's
 * traffic stops no burst comes to retry them, so the event thread's tick
 * does. Runs on the event thread. */
void vhost_iotlb_retry_held(struct vhost_device *dev);

/* The memory table changed (SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG):
 * work out our and the guest physical address of every device IOTLB
 * entry again from its uaddr, dropping entries no longer in one region.
 * Call with the new table in dev->mem, before the old table is
 * unmapped: with every ring held, or (REM_MEM_REG) beside bursts, which
 * the rings' IOTLB locks taken here keep out while entries change. */
void vhost_iotlb_mem_table_changed(struct vhost_device *dev);

/* Region gone left the memory table (REM_MEM_REG), the others stayed
 * where they were: drop the device IOTLB entries into gone, found
 * before the rings' IOTLB locks are taken, so that bursts with an IOMMU
 * are kept out only while those go. Call before gone is unmapped. */
void vhost_iotlb_region_removed(struct vhost_device *dev,
				const struct rte_vhost_mem_region *gone);

/* Read and handle one message from the device's connection. Returns 0,
 * 1 if no message was waiting, or a negative value when the connection
 * must be closed. Runs on the event thread. */
int vhost_user_handle_msg(struct vhost_device *dev);

/* Send the replies vhost_user_handle_msg kept back, in one write.
 * Returns 0 or a negative errno (the connection must then be closed). */
int vhost_user_flush_replies(struct vhost_device *dev);

/* Helpers for handlers: a u64 reply. */
static inline int
vhost_reply_u64(struct vhost_user_msg *msg, uint64_t v)
{
	msg->payload.u64 = v;
	msg->hdr.size = sizeof(v);
	return VH_REPLY;
}

#endif /* VHOST_USER_H */
