/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef UT_DEVICE_H
#define UT_DEVICE_H

/* A device and one virtqueue built by hand over memfd guest memory, for
 * the tests of ring access, descriptor chains and the dirty log. Each
 * test file that includes this has its own dev and vq; the suite's init
 * and clean are ut_dev_suite_init/clean, each test's set-up starts with
 * ut_dev_reset(). */

#include <stdlib.h>
#include <sys/eventfd.h>

#include "dirty_log.h"
#include "unit_common.h"
#include "vring.h"

static struct vhost_device *dev;
static struct vhost_virtqueue vq;

/* struct vhost_device is large: allocated once per suite. */
static inline int
ut_dev_suite_init(void)
{
	dev = calloc(1, sizeof(*dev));
	return dev == NULL ? -1 : 0;
}

static inline int
ut_dev_suite_clean(void)
{
	free(dev);
	return 0;
}

/* dev and vq cleared, the device named ifname with these features. */
static inline void
ut_dev_reset(const char *ifname, uint64_t features)
{
	memset(dev, 0, sizeof(*dev));
	memset(&vq, 0, sizeof(vq));
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ifname);
	dev->features = features;
}

/* Guest memory of one region of size bytes at guest address 0, at
 * uaddr in the frontend's address space (asserted). */
static inline void
ut_dev_map_one(const char *name, uint64_t size, uint64_t uaddr)
{
	struct vhost_user_memory m = { .nregions = 1 };
	int fd = ut_memfd(name, size);

	CU_ASSERT_FATAL(fd >= 0);
	m.regions[0] = (struct vhost_user_mem_region){
		.guest_phys_addr = 0, .userspace_addr = uaddr, .memory_size = size,
	};
	CU_ASSERT_EQUAL_FATAL(vhost_mem_table_map(&m, &fd, &dev->mem,
						  dev->ifname), 0);
}

static inline void
ut_dev_unmap(void)
{
	vhost_mem_table_free(dev->mem);
	dev->mem = NULL;
}

/* vq's rings translate; the test stops here if they do not. */
static inline void
ut_translate_ok(void)
{
	CU_ASSERT_EQUAL_FATAL(vhost_vring_translate(dev, &vq), 0);
	CU_ASSERT_FATAL(vq.access_ok);
}

/* Our address of guest address gpa (NULL if unmapped). */
static inline void *
g2h(uint64_t gpa)
{
	uint64_t len = 1;

	return (void *)(uintptr_t)vhost_mem_gpa_to_hva(dev->mem, gpa, &len);
}

/* How many times the ring signalled its call eventfd since last asked
 * (vq.callfd must be non-blocking). */
static inline uint64_t
ut_calls(void)
{
	eventfd_t v = 0;

	if (eventfd_read(vq.callfd, &v) < 0)
		return 0;	/* EAGAIN: not signalled */
	return v;
}

/* The dirty log the ring tests map: a file of UT_LOG_FILE bytes whose
 * bitmap is UT_LOG_SIZE bytes at UT_LOG_OFF (pages 0..63); everything
 * else in the file must stay zero. */
#define UT_LOG_FILE 4096
#define UT_LOG_OFF 16
#define UT_LOG_SIZE 8

/* Maps the dirty log through the library (which takes the fd) and
 * returns our own view of the whole file (asserted). */
static inline uint8_t *
ut_log_map(void)
{
	int fd = ut_memfd("ut_log", UT_LOG_FILE);
	uint8_t *view;

	CU_ASSERT_FATAL(fd >= 0);
	view = mmap(NULL, UT_LOG_FILE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(view != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(vhost_log_map(dev, fd, UT_LOG_SIZE, UT_LOG_OFF), 0);
	CU_ASSERT_FALSE(ut_fd_is_open(fd));
	return view;
}

/* The bitmap as one number: bit n = page n dirty. */
static inline uint64_t
ut_log_bits(const uint8_t *view)
{
	uint64_t v = 0;

	for (int i = UT_LOG_SIZE - 1; i >= 0; i--)
		v = (v << 8) | view[UT_LOG_OFF + i];
	return v;
}

#endif /* UT_DEVICE_H */
