/* SPDX-License-Identifier: BSD-3-Clause */
/* vhost-user framing for the scripted frontend: see fm_conn.h. */
#include "fm_conn.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "../common/test_sock.h"

int64_t
fm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fill_addr(struct sockaddr_un *un, const char *path)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	strcpy(un->sun_path, path);
	return 0;
}

int
fm_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un un;
	int64_t deadline = fm_now_ms() + timeout_ms;
	int ret = fill_addr(&un, path);

	if (ret < 0)
		return ret;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0)
			return fd;
		ret = -errno;
		close(fd);
		/* Not listening yet: retry until the deadline. */
		if ((ret != -ENOENT && ret != -ECONNREFUSED) ||
				fm_now_ms() >= deadline)
			return ret;
		usleep(10 * 1000);
	}
}

int
fm_listen(const char *path)
{
	struct sockaddr_un un;
	int ret = fill_addr(&un, path);
	int fd;

	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
			listen(fd, 4) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Waits until fd is readable. Returns 1, 0 on timeout or -errno. */
static int
wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - fm_now_ms();
		int ret;

		if (left < 0)
			left = 0;
		ret = poll(&pfd, 1, (int)left);
		if (ret > 0)
			return 1;
		if (ret == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int
fm_accept(int listen_fd, int timeout_ms)
{
	int ret = wait_readable(listen_fd, fm_now_ms() + timeout_ms);
	int fd;

	if (ret <= 0)
		return ret == 0 ? -ETIMEDOUT : ret;
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int
fm_send_bytes(int sock, const void *buf, size_t len, const int *fds,
		int nfds)
{
	const uint8_t *p = buf;
	size_t sent = 0;

	if (nfds < 0 || nfds > FM_MAX_FDS)
		return -EINVAL;
	/* fds need at least one byte to travel on a stream socket. */
	if (len == 0)
		return nfds > 0 ? -EINVAL : 0;
	while (sent < len) {
		/* The fds go with the first piece only. */
		ssize_t n = test_send_fds(sock, p + sent, len - sent,
				sent == 0 ? fds : NULL, sent == 0 ? nfds : 0);

		if (n < 0)
			return -errno;
		sent += (size_t)n;
	}
	return 0;
}

int
fm_send(int sock, uint32_t request, uint32_t flags, uint32_t size,
		const void *payload, size_t payload_len, const int *fds,
		int nfds)
{
	uint8_t buf[FM_HDR_SIZE + FM_MAX_PAYLOAD];
	uint32_t hdr[3] = { request, flags, size };

	if (payload_len > FM_MAX_PAYLOAD)
		return -EINVAL;
	memcpy(buf, hdr, FM_HDR_SIZE);
	if (payload_len > 0)
		memcpy(buf + FM_HDR_SIZE, payload, payload_len);
	return fm_send_bytes(sock, buf, FM_HDR_SIZE + payload_len, fds, nfds);
}

/* Keeps fds from SCM_RIGHTS; closes those beyond FM_MAX_FDS. */
static void
collect_fds(struct msghdr *mh, struct fm_msg *msg)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n, i;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (msg->nfds < FM_MAX_FDS)
				msg->fds[msg->nfds++] = fd;
			else
				close(fd);
		}
	}
}

/* Reads exactly len bytes. Returns 1, 0 on EOF, -ETIMEDOUT or -errno. */
static int
read_full(int sock, void *buf, size_t len, int64_t deadline,
		struct fm_msg *msg)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FM_MAX_FDS)];
		struct cmsghdr align;
	} control;
	size_t got = 0;

	while (got < len) {
		struct iovec iov = {
			.iov_base = (uint8_t *)buf + got,
			.iov_len = len - got,
		};
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		int ret = wait_readable(sock, deadline);
		ssize_t n;

		if (ret == 0)
			return -ETIMEDOUT;
		if (ret < 0)
			return ret;
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* A reset is a close as far as a test is concerned. */
			return errno == ECONNRESET ? 0 : -errno;
		}
		collect_fds(&mh, msg);
		if (n == 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

int
fm_recv(int sock, struct fm_msg *msg, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;
	uint32_t hdr[3];
	int ret;

	msg->nfds = 0;
	ret = read_full(sock, hdr, FM_HDR_SIZE, deadline, msg);
	if (ret <= 0)
		goto fail;
	msg->request = hdr[0];
	msg->flags = hdr[1];
	msg->size = hdr[2];
	if (msg->size > FM_MAX_PAYLOAD) {
		ret = -EPROTO;
		goto fail;
	}
	ret = read_full(sock, msg->payload, msg->size, deadline, msg);
	if (ret <= 0)
		goto fail;
	return 1;
fail:
	fm_msg_close_fds(msg);
	return ret;
}

void
fm_msg_close_fds(struct fm_msg *msg)
{
	int i;

	for (i = 0; i < msg->nfds; i++)
		close(msg->fds[i]);
	msg->nfds = 0;
}

bool
fm_wait_closed(int sock, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	for (;;) {
		uint8_t buf[256];
		int ret = wait_readable(sock, deadline);
		ssize_t n;

		if (ret <= 0)
			return false;
		/* Plain recv drops any fds: the kernel closes them for us. */
		n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
	}
}

bool
fm_wait_peer_read(int sock, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	for (;;) {
		int queued;

		if (ioctl(sock, SIOCOUTQ, &queued) < 0)
			return false;
		if (queued == 0)
			return true;
		if (fm_now_ms() >= deadline)
			return false;
		usleep(1000);
	}
}
