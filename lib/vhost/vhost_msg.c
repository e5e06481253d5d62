/* SPDX-License-Identifier: BSD-3-Clause */

/* Reading and writing vhost-user messages on a unix socket. */

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vhost_log.h"
#include "vhost_msg.h"

static const char *const request_names[VHOST_USER_MAX_REQUEST] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_SEND_RARP] = "SEND_RARP",
	[VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
	[VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
	[VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[VHOST_USER_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VHOST_USER_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VHOST_USER_POSTCOPY_END] = "POSTCOPY_END",
	[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
	[VHOST_USER_SET_STATUS] = "SET_STATUS",
	[VHOST_USER_GET_STATUS] = "GET_STATUS",
};

const char *
vhost_msg_name(uint32_t request)
{
	if (request < VHOST_USER_MAX_REQUEST && request_names[request] != NULL)
		return request_names[request];
	return "UNKNOWN";
}

void
vhost_msg_close_fds(struct vhost_user_msg *msg)
{
	for (int i = 0; i < msg->fd_num; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->fd_num = 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until fd is readable or the deadline passes: a frontend that
 * sends half a message, or trickles it, must not hold the event thread
 * (and every other device) beyond VHOST_MSG_TIMEOUT_MS. */
static int
wait_readable(int fd, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret;

	do {
		uint64_t now = now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&p, 1, (int)(deadline - now));
	} while (ret < 0 && errno == EINTR);
	if (ret == 0)
		return -ETIMEDOUT;
	return ret < 0 ? -errno : 0;
}

static int
read_full(int fd, void *buf, size_t len, uint64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		/* Read first: the bytes are nearly always there already. */
		ssize_t n = recv(fd, (uint8_t *)buf + done, len - done, MSG_DONTWAIT);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			int ret = errno == EAGAIN ? wait_readable(fd, deadline) :
				errno == EINTR ? 0 : -errno;

			if (ret < 0)
				return ret;
			continue;
		}
		done += (size_t)n;
	}
	return 0;
}

int
vhost_msg_recv(int sockfd, struct vhost_user_msg *msg)
{
	char control[CMSG_SPACE(VHOST_MAX_MSG_FDS * sizeof(int))];
	struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	uint64_t deadline;
	ssize_t n;
	int ret;

	msg->fd_num = 0;
	memset(control, 0, sizeof(control));
	n = recvmsg(sockfd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == 0)
		return 0;
	if (n < 0)
		return -errno;	/* -EAGAIN: no message yet */
	deadline = now_ms() + VHOST_MSG_TIMEOUT_MS;

	/* Take the fds first, so every error path below closes them. */
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
			int nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (int i = 0; i < nfd && msg->fd_num < VHOST_MAX_MSG_FDS; i++)
				memcpy(&msg->fds[msg->fd_num++],
				       CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		VHOST_LOG_ERR("message carried more than %d fds", VHOST_MAX_MSG_FDS);
		ret = -EINVAL;
		goto fail;
	}
	if ((size_t)n < sizeof(msg->hdr)) {
		ret = read_full(sockfd, (uint8_t *)&msg->hdr + n, sizeof(msg->hdr) - n,
				deadline);
		if (ret < 0)
			goto fail;
	}
	if (msg->hdr.size > sizeof(msg->payload)) {
		VHOST_LOG_ERR("%s: payload of %u bytes exceeds %zu",
			vhost_msg_name(msg->hdr.request), msg->hdr.size,
			sizeof(msg->payload));
		ret = -EMSGSIZE;
		goto fail;
	}
	ret = read_full(sockfd, &msg->payload, msg->hdr.size, deadline);
	if (ret < 0) {
		VHOST_LOG_ERR("%s: reading %u payload bytes failed: %s",
			vhost_msg_name(msg->hdr.request), msg->hdr.size,
			strerror(-ret));
		goto fail;
	}
	return 1;
fail:
	vhost_msg_close_fds(msg);
	return ret;
}

int
vhost_msg_send(int sockfd, const struct vhost_msg_header *hdr,
	       const void *payload, const int *fds, int fd_num)
{
	char control[CMSG_SPACE(VHOST_MAX_MSG_FDS * sizeof(int))];
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = hdr->size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = hdr->size ? 2 : 1 };
	size_t total = sizeof(*hdr) + hdr->size;
	ssize_t n;

	if (fd_num > 0) {
		struct cmsghdr *cmsg;

		if (fd_num > VHOST_MAX_MSG_FDS)
			return -EINVAL;
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(fd_num * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(fd_num * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, fd_num * sizeof(int));
	}
	do {
		n = sendmsg(sockfd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Messages are small; a short write means the peer is stuck. */
	return (size_t)n == total ? 0 : -EIO;
}

int
vhost_msg_send_raw(int sockfd, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(sockfd, buf, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}
