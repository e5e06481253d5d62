/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user framing as a frontend sees it: unix stream sockets,
 * a 12-byte header, a payload and up to 8 fds as SCM_RIGHTS.
 *
 * Nothing here validates what it sends: the header fields, the payload
 * length and the fds are given separately so that tests can lie in any of
 * them on purpose.
 */
#ifndef FM_CONN_H
#define FM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FM_HDR_SIZE 12u
/* The protocol's limit on fds per message. */
#define FM_MAX_FDS 8
/* Larger than any legal payload so that oversized requests can be forged. */
#define FM_MAX_PAYLOAD 4096u

#define FM_FLAG_VERSION 0x1u
#define FM_FLAG_VERSION_MASK 0x3u
#define FM_FLAG_REPLY (1u << 2)
#define FM_FLAG_NEED_REPLY (1u << 3)

/* One message as received. Received fds belong to the caller. */
struct fm_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint8_t payload[FM_MAX_PAYLOAD];
	int fds[FM_MAX_FDS];
	int nfds;
};

/*
 * Connects to a listening unix socket, retrying until timeout_ms passes
 * (the backend may not be listening yet). Returns the fd or -errno.
 */
int fm_connect(const char *path, int timeout_ms);

/* Listens on path (removing a stale file first). Returns the fd or -errno. */
int fm_listen(const char *path);

/* Accepts one connection within timeout_ms. Returns the fd or -errno. */
int fm_accept(int listen_fd, int timeout_ms);

/*
 * Sends len raw bytes; fds (nfds <= FM_MAX_FDS) ride on the first byte.
 * Returns 0 or -errno (-EPIPE when the peer has gone). Never raises SIGPIPE.
 */
int fm_send_bytes(int sock, const void *buf, size_t len, const int *fds,
		int nfds);

/*
 * Sends a header {request, flags, size} followed by payload_len bytes of
 * payload. size need not equal payload_len. Returns 0 or -errno.
 */
int fm_send(int sock, uint32_t request, uint32_t flags, uint32_t size,
		const void *payload, size_t payload_len, const int *fds,
		int nfds);

/*
 * Receives one whole message within timeout_ms.
 * Returns 1 with *msg filled, 0 if the peer closed the connection,
 * -ETIMEDOUT, -EPROTO (size larger than FM_MAX_PAYLOAD) or -errno.
 */
int fm_recv(int sock, struct fm_msg *msg, int timeout_ms);

/* Closes the fds a received message carried. */
void fm_msg_close_fds(struct fm_msg *msg);

/*
 * True if the peer closes the connection within timeout_ms. Anything it
 * sends meanwhile is read and dropped.
 */
bool fm_wait_closed(int sock, int timeout_ms);

/*
 * True once the peer has read everything sent on sock (a unix stream
 * socket: SIOCOUTQ counts what the receiver has not consumed yet), or
 * false after timeout_ms. Shows that the backend has taken a partial
 * message in, instead of sleeping for it.
 */
bool fm_wait_peer_read(int sock, int timeout_ms);

/* Milliseconds on CLOCK_MONOTONIC, for deadlines. */
int64_t fm_now_ms(void);

#endif /* FM_CONN_H */
