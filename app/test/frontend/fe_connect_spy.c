/* SPDX-License-Identifier: BSD-3-Clause */
/* connect() attempts on one path, counted: see fe_connect_spy.h. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_frontend.h"
#include "fe_connect_spy.h"

typedef int (*connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);

static pthread_mutex_t spy_lock = PTHREAD_MUTEX_INITIALIZER;
static char spy_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static atomic_int spy_failed;

void
fe_connect_spy_watch(const char *path)
{
	pthread_mutex_lock(&spy_lock);
	snprintf(spy_path, sizeof(spy_path), "%s", path);
	atomic_store(&spy_failed, 0);
	pthread_mutex_unlock(&spy_lock);
}

int
fe_connect_spy_failed(void)
{
	return atomic_load(&spy_failed);
}

bool
fe_connect_spy_wait_failed(int n, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	while (atomic_load(&spy_failed) < n) {
		if (fm_now_ms() >= deadline)
			return false;
		usleep(1000);
	}
	return true;
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

		pthread_mutex_lock(&spy_lock);
		if (spy_path[0] != '\0' &&
		    strncmp(un->sun_path, spy_path, sizeof(un->sun_path)) == 0)
			atomic_fetch_add(&spy_failed, 1);
		pthread_mutex_unlock(&spy_lock);
	}
	errno = err;
	return ret;
}
