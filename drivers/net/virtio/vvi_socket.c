/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>

#include "vvi_log.h"
#include "vvi_socket.h"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is readable; -ETIMEDOUT after timeout_ms. */
static int
wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

static int
fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* The backend may start after us: retry until the deadline. */
static int
sock_connect(const char *path, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	struct sockaddr_un sa;
	int fd, r;

	r = fill_addr(&sa, path);
	if (r < 0)
		return r;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		r = -errno;
		close(fd);
		if (now_ms() >= end)
			return r;
		usleep(100 * 1000);
	}
}

static int
sock_accept(const char *path, int timeout_ms)
{
	struct sockaddr_un sa;
	int lfd, fd, r;

	r = fill_addr(&sa, path);
	if (r < 0)
		return r;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	unlink(path);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			listen(lfd, 1) < 0) {
		r = -errno;
		close(lfd);
		return r;
	}
	VVI_LOG(INFO, "waiting for the backend on %s", path);
	r = wait_readable(lfd, timeout_ms);
	fd = r < 0 ? r : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0 && r == 0)
		fd = -errno;
	close(lfd);
	unlink(path);
	return fd;
}

int
vvi_sock_open(const char *path, bool server, int timeout_ms)
{
	return server ? sock_accept(path, timeout_ms) :
		sock_connect(path, timeout_ms);
}

int
vvi_sock_send(int fd, const struct vvi_msg_hdr *hdr, const void *payload,
	const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VVI_MAX_FDS)];
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = hdr->size },
	};
	struct msghdr mh = {
		.msg_iov = iov,
		.msg_iovlen = hdr->size ? 2 : 1,
	};
	size_t want = sizeof(*hdr) + hdr->size;
	ssize_t n;

	if (nfds < 0 || nfds > VVI_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Unix stream sockets send a message this small in one piece. */
	return (size_t)n == want ? 0 : -EIO;
}

/* Reads exactly len bytes, each wait bounded by timeout_ms. */
static int
read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	ssize_t n;
	int r;

	while (len > 0) {
		/* Read first: the bytes are usually there already. */
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			r = wait_readable(fd, timeout_ms);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

/* The header comes with recvmsg so that stray fds are seen and closed. */
static int
read_hdr(int fd, struct vvi_msg_hdr *hdr, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VVI_MAX_FDS)];
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(*hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int r;

	for (;;) {
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			break;
		if (errno == EAGAIN) {
			r = wait_readable(fd, timeout_ms);
			if (r < 0)
				return r;
		}
	}
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int nf = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[VVI_MAX_FDS];

		memcpy(fds, CMSG_DATA(cm), sizeof(int) * RTE_MIN(nf, VVI_MAX_FDS));
		for (int i = 0; i < RTE_MIN(nf, VVI_MAX_FDS); i++)
			close(fds[i]);
	}
	if ((size_t)n < sizeof(*hdr))
		return read_full(fd, (char *)hdr + n, sizeof(*hdr) - n,
			timeout_ms);
	return 0;
}

int
vvi_sock_recv(int fd, struct vvi_msg_hdr *hdr, void *payload, uint32_t max,
	int timeout_ms)
{
	int r;

	r = read_hdr(fd, hdr, timeout_ms);
	if (r < 0)
		return r;
	if ((hdr->flags & VVI_FLAG_VERSION_MASK) != VVI_FLAG_VERSION ||
			hdr->size > max) {
		VVI_LOG(ERR, "bad message: request %u flags %#x size %u",
			hdr->request, hdr->flags, hdr->size);
		return -EPROTO;
	}
	r = read_full(fd, payload, hdr->size, timeout_ms);
	return r < 0 ? r : (int)hdr->size;
}

void
vvi_chan_init(struct vvi_chan *c, int fd)
{
	c->fd = fd;
	c->reply_ack = false;
	c->requests = 0;
	pthread_mutex_init(&c->lock, NULL);
}

void
vvi_chan_close(struct vvi_chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	pthread_mutex_destroy(&c->lock);
}

int
vvi_chan_send_locked(struct vvi_chan *c, uint32_t req, const void *payload,
	uint32_t size, const int *fds, int nfds, bool want_reply)
{
	struct vvi_msg_hdr hdr = {
		.request = req, .flags = VVI_FLAG_VERSION, .size = size,
	};
	int r;

	if (c->fd < 0)
		return -ENOTCONN;
	if (!want_reply && c->reply_ack)
		hdr.flags |= VVI_FLAG_NEED_REPLY;
	r = vvi_sock_send(c->fd, &hdr, payload, fds, nfds);
	if (r < 0)
		return r;
	c->requests++;
	return want_reply || c->reply_ack ? 1 : 0;
}

int
vvi_chan_send_batch_locked(struct vvi_chan *c, uint32_t req,
	const void *payloads, uint32_t size, unsigned int n)
{
	struct vvi_msg_hdr hdr = {
		.request = req, .flags = VVI_FLAG_VERSION, .size = size,
	};
	struct iovec iov[2 * VVI_MAX_BATCH];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 * n };
	ssize_t sent;

	if (c->fd < 0)
		return -ENOTCONN;
	if (n == 0 || n > VVI_MAX_BATCH)
		return -EINVAL;
	if (c->reply_ack)
		hdr.flags |= VVI_FLAG_NEED_REPLY;
	for (unsigned int i = 0; i < n; i++) {
		iov[2 * i] = (struct iovec){ .iov_base = &hdr,
			.iov_len = sizeof(hdr) };
		iov[2 * i + 1] = (struct iovec){
			.iov_base = (uint8_t *)(uintptr_t)payloads + (size_t)i * size,
			.iov_len = size };
	}
	do {
		sent = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	} while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	/* A few KiB: a unix stream socket takes them whole or not at all. */
	if ((size_t)sent != n * (sizeof(hdr) + size))
		return -EIO;
	c->requests += n;
	return c->reply_ack ? 1 : 0;
}

int
vvi_chan_await_locked(struct vvi_chan *c, uint32_t req, void *reply,
	uint32_t reply_size)
{
	struct vvi_msg_hdr hdr;
	uint8_t buf[VVI_MAX_PAYLOAD];
	int r;

	r = vvi_sock_recv(c->fd, &hdr, buf, sizeof(buf), VVI_REPLY_TIMEOUT_MS);
	if (r < 0) {
		VVI_LOG(ERR, "no reply to request %u: %s", req, strerror(-r));
		return r;
	}
	if (hdr.request != req || !(hdr.flags & VVI_FLAG_REPLY)) {
		VVI_LOG(ERR, "reply to request %u expected, got request %u flags %#x",
			req, hdr.request, hdr.flags);
		return -EPROTO;
	}
	if (reply == NULL) {
		uint64_t v;

		if (hdr.size != sizeof(v))
			return -EPROTO;
		memcpy(&v, buf, sizeof(v));
		if (v != 0) {
			VVI_LOG(ERR, "backend refused request %u (ack %#" PRIx64 ")",
				req, v);
			return -EIO;
		}
		return 0;
	}
	if (hdr.size != reply_size) {
		VVI_LOG(ERR, "reply to request %u: size %u, expected %u",
			req, hdr.size, reply_size);
		return -EPROTO;
	}
	memcpy(reply, buf, reply_size);
	return 0;
}

int
vvi_chan_await_acks_locked(struct vvi_chan *c, uint32_t req, unsigned int n,
	int *res)
{
	struct {
		struct vvi_msg_hdr hdr;
		uint64_t v;
	} __attribute__((packed)) ack[VVI_MAX_BATCH];
	int r;

	if (n == 0 || n > VVI_MAX_BATCH)
		return -EINVAL;
	/* Acks are all the same size: read them in one go. */
	r = read_full(c->fd, ack, n * sizeof(ack[0]), VVI_REPLY_TIMEOUT_MS);
	if (r < 0) {
		VVI_LOG(ERR, "no acks to %u requests %u: %s", n, req, strerror(-r));
		return r;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (ack[i].hdr.request != req || !(ack[i].hdr.flags & VVI_FLAG_REPLY) ||
				ack[i].hdr.size != sizeof(ack[i].v)) {
			VVI_LOG(ERR, "ack to request %u expected, got request %u flags %#x size %u",
				req, ack[i].hdr.request, ack[i].hdr.flags,
				ack[i].hdr.size);
			return -EPROTO;
		}
		res[i] = ack[i].v == 0 ? 0 : -EIO;
	}
	return 0;
}

int
vvi_chan_call_locked(struct vvi_chan *c, uint32_t req, const void *payload,
	uint32_t size, const int *fds, int nfds, void *reply,
	uint32_t reply_size)
{
	int r = vvi_chan_send_locked(c, req, payload, size, fds, nfds,
		reply != NULL);

	return r <= 0 ? r : vvi_chan_await_locked(c, req, reply, reply_size);
}

int
vvi_chan_call(struct vvi_chan *c, uint32_t req, const void *payload,
	uint32_t size, const int *fds, int nfds, void *reply,
	uint32_t reply_size)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = vvi_chan_call_locked(c, req, payload, size, fds, nfds, reply,
		reply_size);
	pthread_mutex_unlock(&c->lock);
	return r;
}
