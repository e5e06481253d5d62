/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A scripted vhost-user frontend: one connection to a backend,
 * its guest memory and its virtqueues, plus one helper per request and a
 * full handshake. Every helper sends exactly what it is given, so tests
 * build malformed requests from the same pieces (or go down to fm_send).
 */
#ifndef FAKE_FRONTEND_H
#define FAKE_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "fm_conn.h"
#include "fm_mem.h"
#include "fm_net.h"
#include "fm_vring.h"

/* Frontend -> backend request ids (the vhost-user spec; not in uapi). */
enum fm_request {
	FM_REQ_NONE = 0,
	FM_REQ_GET_FEATURES = 1,
	FM_REQ_SET_FEATURES = 2,
	FM_REQ_SET_OWNER = 3,
	FM_REQ_RESET_OWNER = 4,
	FM_REQ_SET_MEM_TABLE = 5,
	FM_REQ_SET_LOG_BASE = 6,
	FM_REQ_SET_LOG_FD = 7,
	FM_REQ_SET_VRING_NUM = 8,
	FM_REQ_SET_VRING_ADDR = 9,
	FM_REQ_SET_VRING_BASE = 10,
	FM_REQ_GET_VRING_BASE = 11,
	FM_REQ_SET_VRING_KICK = 12,
	FM_REQ_SET_VRING_CALL = 13,
	FM_REQ_SET_VRING_ERR = 14,
	FM_REQ_GET_PROTOCOL_FEATURES = 15,
	FM_REQ_SET_PROTOCOL_FEATURES = 16,
	FM_REQ_GET_QUEUE_NUM = 17,
	FM_REQ_SET_VRING_ENABLE = 18,
	FM_REQ_SEND_RARP = 19,
	FM_REQ_NET_SET_MTU = 20,
	FM_REQ_SET_BACKEND_REQ_FD = 21,
	FM_REQ_IOTLB_MSG = 22,
	FM_REQ_GET_CONFIG = 24,
	FM_REQ_GET_INFLIGHT_FD = 31,
	FM_REQ_GET_MAX_MEM_SLOTS = 36,
	FM_REQ_ADD_MEM_REG = 37,
	FM_REQ_REM_MEM_REG = 38,
	FM_REQ_SET_STATUS = 39,
	FM_REQ_GET_STATUS = 40,
};

/* VHOST_USER_F_PROTOCOL_FEATURES: a device feature bit of vhost-user. */
#define FM_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
enum fm_protocol_feature {
	FM_PF_MQ = 0,
	FM_PF_LOG_SHMFD = 1,
	FM_PF_RARP = 2,
	FM_PF_REPLY_ACK = 3,
	FM_PF_MTU = 4,
	FM_PF_BACKEND_REQ = 5,
	FM_PF_CONFIG = 9,
	FM_PF_STATUS = 16,
};

/* SET_VRING_KICK/CALL/ERR payload: bits 0-7 ring index, bit 8 no fd. */
#define FM_VRING_IDX_MASK 0xffull
#define FM_VRING_NOFD (1ull << 8)

#define FM_BIT(n) (1ull << (n))

/* Results of a request. */
enum fm_result {
	FM_OK = 0,         /* done; acknowledged with 0 when an ack was asked */
	FM_NACK = 1,       /* the backend replied with a non-zero u64 */
	FM_CLOSED = -1,    /* the backend closed the connection */
	FM_TIMEOUT = -2,   /* no reply in time */
	FM_BADREPLY = -3,  /* a reply that does not fit the request */
	FM_SENDFAIL = -4,  /* could not even send */
};

/* A short name for an fm_result, for diagnostics. */
const char *fm_result_name(int result);

/* Most vrings a test drives on one connection (two queue pairs). */
#define FM_MAX_VRINGS 4
/*
 * How long a reply (or the peer's connection) may take before the
 * frontend gives up. The backend is another thread: the library's event
 * thread, in this process or, for the fault tests' forked frontends, in
 * the parent. On a loaded machine that thread may wait seconds for a
 * CPU (2.6 s seen at load 34, where a fork of the parent also held it),
 * so this only catches a peer that never answers. Tests that assert the
 * absence of a reply watch for it over a short window of their own.
 * Below the fault tests' CYCLE_TIMEOUT_MS, so that a frontend that gets
 * no reply says so itself.
 */
#define FM_REPLY_TIMEOUT_MS 15000

struct fm_frontend {
	int sock;
	uint64_t offered_features;
	uint64_t features;            /* what SET_FEATURES sent */
	uint64_t offered_protocol;
	uint64_t protocol;            /* what SET_PROTOCOL_FEATURES sent */
	uint64_t queue_num;
	struct fm_mem mem;
	struct fm_vring vr[FM_MAX_VRINGS];
	int nvrings;                  /* vr[0..nvrings) are initialised */
};

/* A whole handshake's choices. */
struct fm_config {
	uint64_t features;          /* wanted; each must be offered */
	uint64_t protocol;          /* wanted protocol features */
	uint16_t queue_size;
	int nvrings;
	uint16_t mtu;               /* 0: no NET_SET_MTU */
	int nregions;
	struct {
		uint64_t gpa;
		uint64_t size;
		uint64_t mmap_offset;
	} regions[FM_MAX_REGIONS];
	int ring_region;            /* where rings are laid out */
	bool leave_disabled;        /* no SET_VRING_ENABLE */
};

/*
 * Defaults: VERSION_1, MRG_RXBUF, INDIRECT_DESC, MTU, PROTOCOL_FEATURES;
 * protocol REPLY_ACK, MQ, MTU; one queue pair of 256 entries; two 4 MiB
 * regions at GPA 0 and 1 GiB, the second at mmap_offset 4 KiB.
 */
void fm_config_default(struct fm_config *cfg);

/* Starts a frontend on an already connected socket. */
void fm_frontend_attach(struct fm_frontend *m, int sock);

/* Connects to a backend listening at path. Returns 0 or -errno. */
int fm_frontend_connect(struct fm_frontend *m, const char *path);

/*
 * Takes a new connection for the same guest: memory and rings stay as
 * they are (a frontend that outlived its backend), nothing is negotiated.
 * Closes the old socket.
 */
void fm_frontend_reattach(struct fm_frontend *m, int sock);

/* Closes the connection, the rings and the memory. Safe to call twice. */
void fm_frontend_close(struct fm_frontend *m);

/* True if REPLY_ACK was negotiated. */
bool fm_ack(const struct fm_frontend *m);

/* True for requests that always have a reply of their own. */
bool fm_has_reply(uint32_t request, uint64_t protocol);

/*
 * Sends a request with explicit flags and waits for what it implies:
 * its own reply (into *reply, may be NULL) or, when NEED_REPLY is set,
 * the u64 ack. Returns an fm_result.
 */
int fm_request_flags(struct fm_frontend *m, uint32_t request, uint32_t flags,
		const void *payload, uint32_t size, const int *fds, int nfds,
		struct fm_msg *reply);

/* As fm_request_flags, asking for an ack whenever REPLY_ACK is on. */
int fm_request(struct fm_frontend *m, uint32_t request, const void *payload,
		uint32_t size, const int *fds, int nfds, struct fm_msg *reply);

/*
 * Sends a request that must be refused and reports what happened:
 * FM_NACK or FM_CLOSED mean refused. NEED_REPLY is always set, and a
 * request with its own reply counts as refused if that reply is a
 * non-zero u64 (an ack-style error) or the connection closes.
 * size is the header's size field; payload_len bytes are sent.
 */
int fm_expect_refused(struct fm_frontend *m, uint32_t request,
		const void *payload, uint32_t size, uint32_t payload_len,
		const int *fds, int nfds);

/* u64 requests. */
int fm_get_u64(struct fm_frontend *m, uint32_t request, uint64_t *val);
int fm_set_u64(struct fm_frontend *m, uint32_t request, uint64_t val);
/* SET_OWNER and other requests without payload. */
int fm_send_noarg(struct fm_frontend *m, uint32_t request);
/* vring state requests: SET_VRING_NUM/BASE/ENABLE. */
int fm_set_state(struct fm_frontend *m, uint32_t request, uint32_t index,
		uint32_t num);
int fm_get_vring_base(struct fm_frontend *m, uint32_t index, uint32_t *num);
int fm_set_vring_addr(struct fm_frontend *m, const struct vhost_vring_addr *a);
/* KICK/CALL/ERR; fd < 0 sends the no-fd bit. */
int fm_set_vring_fd(struct fm_frontend *m, uint32_t request, uint32_t index,
		int fd);
/* SET_MEM_TABLE describing mem (which may differ from m->mem). */
int fm_set_mem_table(struct fm_frontend *m, const struct fm_mem *mem);

/* The vring address payload for m->vr[index], in frontend user addresses. */
void fm_vring_addr_of(const struct fm_frontend *m, uint32_t index,
		struct vhost_vring_addr *a);

/*
 * Feature phase: GET_FEATURES, SET_OWNER, GET/SET_PROTOCOL_FEATURES,
 * GET_QUEUE_NUM (with MQ), SET_FEATURES. Fails with FM_BADREPLY if a
 * wanted feature is not offered.
 */
int fm_negotiate(struct fm_frontend *m, uint64_t features, uint64_t protocol);

/*
 * Starts the ring already laid out in m->vr[index] at addresses a:
 * NUM, ADDR, BASE (or NUM, BASE, ADDR with base_first, virtio-user's
 * order), CALL, KICK.
 */
int fm_start_vring(struct fm_frontend *m, uint32_t index,
		const struct vhost_vring_addr *a, uint32_t base, bool base_first);

/* Lays out m->vr[index] (size entries) in `region`, replacing a ring
 * laid out there before, packed if VIRTIO_F_RING_PACKED was negotiated;
 * sends nothing. Returns 0 or -1. */
int fm_layout_vring(struct fm_frontend *m, uint32_t index, uint16_t size,
		int region);

/* Lays out m->vr[index] in `region` and sends NUM, ADDR, BASE, CALL, KICK. */
int fm_setup_vring(struct fm_frontend *m, uint32_t index, uint16_t size,
		int region);

/* The whole handshake of cfg. Returns an fm_result. */
int fm_handshake(struct fm_frontend *m, const struct fm_config *cfg);

/*
 * What a frontend with an IOMMU (fm_iommu.c) adds to the handshake:
 * feature bits it always negotiates, and steps called with ctx, each
 * returning an fm_result.
 */
struct fm_handshake_ext {
	uint64_t features, protocol;	/* ORed into cfg's */
	void *ctx;
	/* After negotiation. */
	int (*negotiated)(struct fm_frontend *m, void *ctx);
	/* After cfg's regions are added, before SET_MEM_TABLE. */
	int (*regions_added)(struct fm_frontend *m, void *ctx);
	/* Lays out and starts ring index, in place of fm_setup_vring(). */
	int (*setup_vring)(struct fm_frontend *m, void *ctx, uint32_t index,
			uint16_t size, int region);
};

/* fm_handshake with the steps of x. Returns an fm_result. */
int fm_handshake_ext(struct fm_frontend *m, const struct fm_config *cfg,
		const struct fm_handshake_ext *x);

#endif /* FAKE_FRONTEND_H */
