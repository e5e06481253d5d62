/* SPDX-License-Identifier: BSD-3-Clause */

/* Waits outside the datapath on a ring's IOTLB lock. An IOTLB message
 * holds it for writing on the event thread, which a busy machine may
 * deschedule meanwhile: an application thread in rte_vhost_vring_call()
 * or rte_vhost_vring_stats_get() must then sleep (the back-off of
 * vq_gate.h), not spin on a CPU the holder may need, and
 * rte_vhost_vring_call_nonblock() must give up at once.
 *
 * A thread that spins is never switched out of its own accord; one that
 * sleeps is, each time: the holder here keeps the lock until the waiting
 * thread's voluntary context switches (/proc/self/task/TID/status) have
 * risen, or a generous deadline has passed, and the test asserts the
 * former. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_vhost.h>

#include "test_clock.h"
#include "test_eal.h"
#include "unit_common.h"
#include "vhost_lifecycle.h"
#include "vring_stats.h"

/* Voluntary switches the waiter must show while the lock is held: the
 * back-off sleeps 20 us, doubling to 1 ms, so dozens within 100 ms. */
#define SLEEPS_WANTED 3
/* How long the holder waits for them (a spinning waiter never shows
 * any; a sleeping one on a starved machine may take a while). */
#define DEADLINE_MS 10000

static struct vhost_device *dev;
static struct vhost_virtqueue *vq;

enum call { CALL_VRING, CALL_STATS, CALL_NONBLOCK };

struct waiter {
	enum call call;
	atomic_int tid;		/* set when the thread is about to call */
	atomic_bool returned;	/* the call returned */
	int ret;
};

/* The voluntary context switches of thread tid of this process. */
static long
voluntary_switches(int tid)
{
	char path[64], line[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct rte_vhost_stat st[VHOST_STAT_NB];

	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	if (w->call == CALL_VRING)
		w->ret = rte_vhost_vring_call(dev->vid, 0);
	else if (w->call == CALL_STATS)
		w->ret = rte_vhost_vring_stats_get(dev->vid, 0, st, RTE_DIM(st));
	else
		w->ret = rte_vhost_vring_call_nonblock(dev->vid, 0);
	atomic_store(&w->returned, true);
	return NULL;
}

static int
setup(void)
{
	dev = vhost_device_alloc();
	if (dev == NULL || vhost_vq_alloc(dev, 1) != 0)
		return -1;
	dev->features = 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	dev->reg_flags = RTE_VHOST_USER_NET_STATS_ENABLE;
	vq = dev->vq[0];
	return 0;
}

static int
teardown(void)
{
	vhost_device_free(dev);
	return 0;
}

/* Hold the IOTLB write lock while a thread makes the call; release it
 * once the thread has slept SLEEPS_WANTED times or returned (or at the
 * deadline). */
static void
held_while_calling(enum call call, int want_ret)
{
	static const char *const names[] = {
		[CALL_VRING] = "vring_call", [CALL_STATS] = "stats_get",
		[CALL_NONBLOCK] = "vring_call_nonblock",
	};
	struct waiter w = { .call = call };
	long base = -1, seen = -1;
	bool returned_early;
	pthread_t t;
	uint64_t end;

	vhost_vq_iotlb_lock(vq);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, waiter_main, &w) == 0);
	end = test_now_ms() + DEADLINE_MS;
	while (atomic_load(&w.tid) == 0 && test_now_ms() < end)
		usleep(1000);
	CU_ASSERT_FATAL(atomic_load(&w.tid) != 0);
	base = voluntary_switches(atomic_load(&w.tid));
	/* Unreadable only once the thread has gone (a call that returned). */
	CU_ASSERT_FATAL(base >= 0 || atomic_load(&w.returned));
	seen = base;
	while (test_now_ms() < end && !atomic_load(&w.returned)) {
		seen = voluntary_switches(atomic_load(&w.tid));
		if (seen - base >= SLEEPS_WANTED)
			break;
		usleep(1000);
	}
	returned_early = atomic_load(&w.returned);
	vhost_vq_iotlb_unlock(vq);
	CU_ASSERT_FATAL(pthread_join(t, NULL) == 0);
	printf("\n  %s: %s, %ld voluntary switches meanwhile\n", names[call],
	       returned_early ? "returned while held" : "waited", seen - base);
	if (call == CALL_NONBLOCK) {
		CU_ASSERT(returned_early);	/* it gave up */
	} else {
		CU_ASSERT(!returned_early);	/* it waited for the lock */
		CU_ASSERT(seen - base >= SLEEPS_WANTED);	/* by sleeping */
	}
	CU_ASSERT_EQUAL(w.ret, want_ret);
}

static void
test_vring_call_sleeps(void)
{
	held_while_calling(CALL_VRING, 0);
}

static void
test_stats_get_sleeps(void)
{
	held_while_calling(CALL_STATS, VHOST_STAT_NB);
}

static void
test_vring_call_nonblock_gives_up(void)
{
	held_while_calling(CALL_NONBLOCK, -EAGAIN);
	CU_ASSERT_EQUAL(rte_vhost_vring_call_nonblock(dev->vid, 0), 0);
	/* Nothing held on the way out: the write lock is free. */
	CU_ASSERT(rte_rwlock_write_trylock(&vq->iotlb_lock) == 0);
	rte_rwlock_write_unlock(&vq->iotlb_lock);
	CU_ASSERT(rte_spinlock_trylock(&vq->gate.ctl));
	rte_spinlock_unlock(&vq->gate.ctl);
}

static CU_TestInfo tests[] = {
	{ "vring_call sleeps while an IOTLB writer holds the ring",
	  test_vring_call_sleeps },
	{ "stats_get sleeps while an IOTLB writer holds the ring",
	  test_stats_get_sleeps },
	{ "vring_call_nonblock gives up while an IOTLB writer holds the ring",
	  test_vring_call_nonblock_gives_up },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "ctl_wait", setup, teardown, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret;

	if (test_eal_init_unit(argv[0], "ut-ctl-wait-") < 0)
		return 1;
	/* argv is CUnit's (suite, test); EAL had its own. */
	ret = ut_main(suites, argc, argv, 0);
	test_eal_cleanup();
	return ret;
}
