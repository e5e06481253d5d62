/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_SOCK_H
#define TEST_SOCK_H

/*
 * One sendmsg() of bytes with fds attached (SCM_RIGHTS), as a
 * vhost-user frontend sends them. Header-only, so that the fuzz targets
 * (built by run_fuzz.sh, not meson) use the same code.
 */

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The most fds one call attaches. */
#define TEST_SOCK_MAX_FDS 16

/*
 * Sends buf[0..len) in one sendmsg() (retried on EINTR) with nfds fds
 * (0 to TEST_SOCK_MAX_FDS) riding on its first byte. MSG_NOSIGNAL: a
 * peer that hung up must not kill the test. Returns what sendmsg()
 * returns (-1 with errno set, also for too many fds).
 */
static inline ssize_t
test_send_fds(int sock, const void *buf, size_t len, const int *fds,
		int nfds)
{
	union {
		char buf[CMSG_SPACE(TEST_SOCK_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds < 0 || nfds > TEST_SOCK_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n;
}

#endif /* TEST_SOCK_H */
