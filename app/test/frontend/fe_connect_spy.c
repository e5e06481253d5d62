/* SPDX-License-Identifier: BSD-3-Clause */
/* connect() attempts on one path, counted: see fe_connect_spy.h. */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fe_connect_spy.h"
#include "fe_harness.h"

typedef int (*connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);

/* The watched path, in one of two buffers in turn: connect() takes no
 * lock, so a child forked while another thread was in it can still
 * call it. (A reader slow enough to see a buffer rewritten two watches
 * later is not a concern of a test.) */
static char spy_paths[2][sizeof(((struct sockaddr_un *)0)->sun_path)];
static _Atomic(const char *) spy_path;
static atomic_int spy_failed;

void
fe_connect_spy_watch(const char *path)
{
	static int next;
	char *buf = spy_paths[next];

	next ^= 1;
	atomic_store(&spy_path, NULL);
	snprintf(buf, sizeof(spy_paths[0]), "%s", path);
	atomic_store(&spy_failed, 0);
	atomic_store(&spy_path, buf[0] != '\0' ? buf : NULL);
}

int
fe_connect_spy_failed(void)
{
	return atomic_load(&spy_failed);
}

bool
fe_connect_spy_wait_failed(int n, int timeout_ms)
{
	return fe_wait_at_least(&spy_failed, n, timeout_ms);
}

/* The C library's connect(), found once. */
static connect_fn
real_connect(void)
{
	static connect_fn real;
	connect_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);

	if (f == NULL) {
		void *sym = dlsym(RTLD_NEXT, "connect");

		memcpy(&f, &sym, sizeof(f));
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	return f;
}

/* Found before main(): a child forked later never calls dlsym(). */
__attribute__((constructor)) static void
spy_init(void)
{
	real_connect();
}

int
connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	connect_fn real = real_connect();
	const struct sockaddr *sa;
	int ret, err;

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	ret = real(fd, addr, len);
	err = errno;
	/* With _GNU_SOURCE the argument is a union of pointers; copying
	 * its bytes works for that and for a plain pointer. */
	memcpy(&sa, &addr, sizeof(sa));
	if (ret < 0 && sa != NULL && sa->sa_family == AF_UNIX &&
	    len > offsetof(struct sockaddr_un, sun_path)) {
		const struct sockaddr_un *un = (const void *)sa;
		const char *path = atomic_load(&spy_path);

		if (path != NULL &&
		    strncmp(un->sun_path, path, sizeof(un->sun_path)) == 0)
			atomic_fetch_add(&spy_failed, 1);
	}
	errno = err;
	return ret;
}
