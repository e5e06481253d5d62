/* SPDX-License-Identifier: BSD-3-Clause */
/* vhost-user socket: connection, message framing, request/reply. */
#ifndef VVI_SOCKET_H
#define VVI_SOCKET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Frontend requests used here. */
enum vvi_req {
	VVI_GET_FEATURES = 1,
	VVI_SET_FEATURES = 2,
	VVI_SET_OWNER = 3,
	VVI_SET_MEM_TABLE = 5,
	VVI_SET_VRING_NUM = 8,
	VVI_SET_VRING_ADDR = 9,
	VVI_SET_VRING_BASE = 10,
	VVI_GET_VRING_BASE = 11,
	VVI_SET_VRING_KICK = 12,
	VVI_SET_VRING_CALL = 13,
	VVI_GET_PROTOCOL_FEATURES = 15,
	VVI_SET_PROTOCOL_FEATURES = 16,
	VVI_GET_QUEUE_NUM = 17,
	VVI_SET_VRING_ENABLE = 18,
	VVI_SET_BACKEND_REQ_FD = 21,
	VVI_IOTLB_MSG = 22,
};

/* Backend -> frontend request on the backend request channel. */
#define VVI_BACKEND_IOTLB_MSG 1

#define VVI_FLAG_VERSION 0x1u
#define VVI_FLAG_VERSION_MASK 0x3u
#define VVI_FLAG_REPLY 0x4u
#define VVI_FLAG_NEED_REPLY 0x8u

/* Protocol feature bits. */
#define VVI_PROTO_MQ 0
#define VVI_PROTO_REPLY_ACK 3
#define VVI_PROTO_BACKEND_REQ 5

/* At most 8 fds per message (the memory table's regions). */
#define VVI_MAX_FDS 8
/* Largest payload accepted: the memory table (8 + 8 * 32 bytes). */
#define VVI_MAX_PAYLOAD 264
/* A backend that does not answer within this is considered gone. */
#define VVI_REPLY_TIMEOUT_MS 10000

struct vvi_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

/* The front-end channel. Every request and its reply run under lock. */
struct vvi_chan {
	int fd;
	bool reply_ack;		/* REPLY_ACK negotiated */
	pthread_mutex_t lock;
	uint64_t requests;	/* requests sent (under lock) */
};

/* Connects to (server=false) or accepts one connection on (server=true)
 * the unix socket path, waiting up to timeout_ms. Returns an fd or -errno. */
int vvi_sock_open(const char *path, bool server, int timeout_ms);

/* Sends one message with optional fds. Returns 0 or -errno. */
int vvi_sock_send(int fd, const struct vvi_msg_hdr *hdr, const void *payload,
	const int *fds, int nfds);

/* Receives one message (payload up to max bytes; fds are refused and
 * closed). Returns the payload size or -errno (-ETIMEDOUT, -EPIPE). */
int vvi_sock_recv(int fd, struct vvi_msg_hdr *hdr, void *payload,
	uint32_t max, int timeout_ms);

void vvi_chan_init(struct vvi_chan *c, int fd);
void vvi_chan_close(struct vvi_chan *c);

/*
 * Sends request req. With reply != NULL, waits for the reply and copies
 * reply_size bytes of it (GET_* requests). Otherwise, when REPLY_ACK is
 * negotiated, sets NEED_REPLY and waits for the ack: a non-zero ack
 * gives -EIO. The _locked variant expects c->lock held.
 */
/*
 * The two halves of a call, for pipelining several requests under one
 * hold of c->lock: send returns 1 if a reply or ack must be awaited
 * (want_reply: a GET_* reply), 0 if none will come, or -errno. await
 * reads that reply (reply == NULL: an ack, non-zero gives -EIO).
 */
int vvi_chan_send_locked(struct vvi_chan *c, uint32_t req,
	const void *payload, uint32_t size, const int *fds, int nfds,
	bool want_reply);
int vvi_chan_await_locked(struct vvi_chan *c, uint32_t req, void *reply,
	uint32_t reply_size);

/* Most requests vvi_chan_send_batch_locked sends in one go. */
#define VVI_MAX_BATCH 64

/* Sends n requests req (n <= VVI_MAX_BATCH) whose payloads of size bytes
 * follow each other at payloads, in one write. Returns 1 if each gets an
 * ack to await (REPLY_ACK), 0 if none does, or -errno. */
int vvi_chan_send_batch_locked(struct vvi_chan *c, uint32_t req,
	const void *payloads, uint32_t size, unsigned int n);

/* Reads the acks of n requests req in one go: res[i] is 0 or -EIO (the
 * backend refused request i). Returns 0, or -errno when the acks could
 * not be read (the channel is then unusable). */
int vvi_chan_await_acks_locked(struct vvi_chan *c, uint32_t req,
	unsigned int n, int *res);

int vvi_chan_call(struct vvi_chan *c, uint32_t req, const void *payload,
	uint32_t size, const int *fds, int nfds, void *reply,
	uint32_t reply_size);
int vvi_chan_call_locked(struct vvi_chan *c, uint32_t req,
	const void *payload, uint32_t size, const int *fds, int nfds,
	void *reply, uint32_t reply_size);

#endif /* VVI_SOCKET_H */
