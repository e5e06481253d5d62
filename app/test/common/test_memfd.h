/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory for the tests: memfds, as QEMU's memory backends are, of a
 * given size (sparse: nothing is allocated until touched), and mapped
 * shared as the frontend's view of them. The name shows in
 * /proc/self/maps as "/memfd:<name>", which test_count_maps() can look
 * for. Header-only: the scripted frontend (no DPDK) and the fuzz targets
 * (built outside the test library) use it too.
 */
#ifndef TEST_MEMFD_H
#define TEST_MEMFD_H

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * A memfd of size bytes, close-on-exec, with extra memfd_create() flags
 * (MFD_ALLOW_SEALING). The fd, or -1 with errno set.
 */
static inline int
test_memfd(const char *name, uint64_t size, unsigned int flags)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);
	int err;

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/*
 * A memfd of offset + size bytes whose bytes from offset on are mapped
 * shared, read-write, at *base. The fd, or -1 with errno set (nothing
 * left open nor mapped, *base NULL).
 */
static inline int
test_memfd_map(const char *name, uint64_t size, uint64_t offset, void **base)
{
	int fd = test_memfd(name, offset + size, 0);
	int err;

	*base = NULL;
	if (fd < 0)
		return -1;
	*base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			(off_t)offset);
	if (*base == MAP_FAILED) {
		err = errno;
		*base = NULL;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

#endif /* TEST_MEMFD_H */
