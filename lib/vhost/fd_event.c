/* SPDX-License-Identifier: BSD-3-Clause */

/* The event thread. Entries live in a fixed table; epoll carries the
 * slot and a generation number, so an event for an fd removed (and its
 * slot reused) meanwhile is recognised and ignored. */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_vhost.h>

#include "fd_event.h"
#include "vhost_limits.h"
#include "vhost_log.h"

/* Listening sockets plus connections: RTE_MAX_VHOST_DEVICE devices and
 * as many sockets. */
#define FD_EVENT_SLOTS (2 * RTE_MAX_VHOST_DEVICE)

struct fd_entry {
	int fd;			/* -1: free */
	uint32_t gen;
	fd_event_cb cb;
	void *arg;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int epfd;
	bool started;
	pthread_t thread;
	int busy_slot;		/* slot whose callback is running, or -1 */
	void (*tick)(void);
	struct fd_entry e[FD_EVENT_SLOTS];
} ev = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.epfd = -1,
	.busy_slot = -1,
};

int
fd_event_in_thread(void)
{
	return ev.started && pthread_equal(pthread_self(), ev.thread);
}

static void
dispatch(uint64_t data)
{
	uint32_t slot = (uint32_t)data, gen = (uint32_t)(data >> 32);
	fd_event_cb cb;
	void *arg;
	int fd;

	pthread_mutex_lock(&ev.lock);
	if (slot >= FD_EVENT_SLOTS || ev.e[slot].fd < 0 || ev.e[slot].gen != gen) {
		pthread_mutex_unlock(&ev.lock);
		return;
	}
	fd = ev.e[slot].fd;
	cb = ev.e[slot].cb;
	arg = ev.e[slot].arg;
	ev.busy_slot = (int)slot;
	pthread_mutex_unlock(&ev.lock);

	cb(fd, arg);

	pthread_mutex_lock(&ev.lock);
	ev.busy_slot = -1;
	pthread_cond_broadcast(&ev.idle);
	pthread_mutex_unlock(&ev.lock);
}

static void *
event_loop(void *arg)
{
	struct epoll_event events[64];

	RTE_SET_USED(arg);
	for (;;) {
		int n = epoll_wait(ev.epfd, events, RTE_DIM(events), VHOST_EVENT_TICK_MS);
		void (*tick)(void);

		if (n < 0 && errno != EINTR) {
			VHOST_LOG_ERR("epoll_wait failed: %s", strerror(errno));
			continue;
		}
		for (int i = 0; i < n; i++)
			dispatch(events[i].data.u64);

		pthread_mutex_lock(&ev.lock);
		tick = ev.tick;
		pthread_mutex_unlock(&ev.lock);
		if (tick != NULL)
			tick();
	}
	return NULL;
}

/* Called with ev.lock held. */
static int
start_thread(void)
{
	int ret;

	if (ev.started)
		return 0;
	ev.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev.epfd < 0)
		return -errno;
	for (int i = 0; i < FD_EVENT_SLOTS; i++)
		ev.e[i].fd = -1;
	ret = rte_ctrl_thread_create(&ev.thread, "vhost-events", NULL,
				     event_loop, NULL);
	if (ret != 0) {
		VHOST_LOG_ERR("cannot create the vhost event thread: %s",
			strerror(ret));
		close(ev.epfd);
		ev.epfd = -1;
		return -ret;
	}
	ev.started = true;
	return 0;
}

int
fd_event_start(void)
{
	int ret;

	pthread_mutex_lock(&ev.lock);
	ret = start_thread();
	pthread_mutex_unlock(&ev.lock);
	return ret;
}

int
fd_event_add(int fd, fd_event_cb cb, void *arg)
{
	struct epoll_event e = { .events = EPOLLIN };
	int ret, slot = -1;

	pthread_mutex_lock(&ev.lock);
	ret = start_thread();
	if (ret < 0)
		goto out;
	for (int i = 0; i < FD_EVENT_SLOTS; i++) {
		if (ev.e[i].fd < 0) {
			slot = i;
			break;
		}
	}
	if (slot < 0) {
		VHOST_LOG_ERR("too many vhost sockets and connections (%d)",
			FD_EVENT_SLOTS);
		ret = -ENOSPC;
		goto out;
	}
	ev.e[slot].gen++;
	e.data.u64 = (uint64_t)ev.e[slot].gen << 32 | (uint32_t)slot;
	if (epoll_ctl(ev.epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		ret = -errno;
		VHOST_LOG_ERR("epoll_ctl add fd %d: %s", fd, strerror(errno));
		goto out;
	}
	ev.e[slot].fd = fd;
	ev.e[slot].cb = cb;
	ev.e[slot].arg = arg;
out:
	pthread_mutex_unlock(&ev.lock);
	return ret;
}

void
fd_event_del(int fd)
{
	pthread_mutex_lock(&ev.lock);
	for (int i = 0; i < FD_EVENT_SLOTS && ev.started; i++) {
		if (ev.e[i].fd != fd)
			continue;
		epoll_ctl(ev.epfd, EPOLL_CTL_DEL, fd, NULL);
		ev.e[i].fd = -1;
		ev.e[i].cb = NULL;
		ev.e[i].arg = NULL;
		if (!fd_event_in_thread()) {
			while (ev.busy_slot == i)
				pthread_cond_wait(&ev.idle, &ev.lock);
		}
		break;
	}
	pthread_mutex_unlock(&ev.lock);
}

void
fd_event_set_tick(void (*tick)(void))
{
	pthread_mutex_lock(&ev.lock);
	ev.tick = tick;
	pthread_mutex_unlock(&ev.lock);
}
