/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_MSG_H
#define VHOST_MSG_H

/* vhost-user messages on the wire: a 12-byte header, a payload, and up
 * to 8 file descriptors as SCM_RIGHTS. */

#include <stdint.h>
#include <linux/vhost_types.h>

#include "mem_table.h"
#include "vhost_limits.h"

/* Frontend -> backend requests. */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_MAX_REQUEST = 41
};

/* Protocol feature bits (VHOST_USER_PROTOCOL_F_*) come from the
 * installed <rte_vhost.h>. */
#include <rte_vhost.h>

/* Not in DPDK 22.11's header. */
#ifndef VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#endif

#define VHOST_USER_VERSION 0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY (1u << 3)

/* Vring file messages: queue index in the low byte, bit 8 = no fd. */
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

struct vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

struct vhost_msg_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vhost_user_msg {
	struct vhost_msg_header hdr;
	union {
		uint64_t u64;
		struct vhost_vring_state state;
		struct vhost_vring_addr addr;
		struct vhost_user_memory memory;
		struct vhost_user_mem_reg mem_reg;
		struct vhost_user_log log;
		struct vhost_iotlb_msg iotlb;
		uint8_t raw[VHOST_MAX_MSG_PAYLOAD];
	} payload;
	int fds[VHOST_MAX_MSG_FDS];
	int fd_num;
};

/* Receive one message. Returns 1 on success, 0 if the peer closed the
 * connection, -EAGAIN if no message has started to arrive (it does not
 * wait for one), or another negative errno (truncated, oversized, timed
 * out). Received fds are in msg->fds; on failure none is left open. */
int vhost_msg_recv(int sockfd, struct vhost_user_msg *msg);

/* Send len bytes of already framed messages (no fds) in one write.
 * Returns 0 or a negative errno. */
int vhost_msg_send_raw(int sockfd, const void *buf, size_t len);

/* Send a message with optional fds. Returns 0 or a negative errno. */
int vhost_msg_send(int sockfd, const struct vhost_msg_header *hdr,
		   const void *payload, const int *fds, int fd_num);

/* Close every fd of msg not yet taken (set to -1 when taken). */
void vhost_msg_close_fds(struct vhost_user_msg *msg);

const char *vhost_msg_name(uint32_t request);

#endif /* VHOST_MSG_H */
