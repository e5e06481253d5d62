/* SPDX-License-Identifier: BSD-3-Clause */

/* Dirty page bitmap: mapping it and marking pages. */

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirty_log.h"
#include "vhost_log.h"

void
vhost_log_pages(struct vhost_device *dev, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (len == 0)
		return;
	page = gpa / VHOST_LOG_PAGE;
	last = (gpa + len - 1) / VHOST_LOG_PAGE;
	if (gpa + len - 1 < gpa)
		last = UINT64_MAX / VHOST_LOG_PAGE;
	for (; page <= last; page++) {
		if (page / 8 >= dev->log_size)
			return;
		/* The frontend reads the bitmap concurrently (and other
		 * queues' threads write it): set bits atomically. */
		__atomic_fetch_or(&dev->log_base[page / 8],
				  (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
	}
}

void
vhost_log_used(struct vhost_device *dev, struct vhost_virtqueue *vq,
	       uint64_t offset, uint64_t len)
{
	if (!(vq->ring_addr.flags & (1u << VHOST_VRING_F_LOG)))
		return;
	/* Translated from log_guest_addr when the ring was set up. */
	vhost_log_pages(dev, vq->used_log_gpa + offset, len);
}

void
vhost_log_unmap(struct vhost_device *dev)
{
	if (dev->log_map != NULL)
		munmap(dev->log_map, dev->log_map_size);
	dev->log_map = NULL;
	dev->log_map_size = 0;
	dev->log_base = NULL;
	dev->log_size = 0;
}

int
vhost_log_map(struct vhost_device *dev, int fd, uint64_t size, uint64_t offset)
{
	struct stat st;
	void *addr;

	/* size + offset must neither wrap nor exceed the file, or a later
	 * log write would fault (CVE-2020-10722 was the wrap). */
	if (size == 0 || size > VHOST_MAX_LOG_SIZE ||
	    offset > VHOST_MAX_LOG_SIZE || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size < size + offset) {
		VHOST_DEV_LOG(ERR, dev, "invalid dirty log: size 0x%" PRIx64
			" offset 0x%" PRIx64, size, offset);
		close(fd);
		return -EINVAL;
	}
	addr = mmap(NULL, size + offset, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	close(fd);
	if (addr == MAP_FAILED) {
		VHOST_DEV_LOG(ERR, dev, "dirty log mmap failed: %s",
			strerror(errno));
		return -ENOMEM;
	}
	vhost_log_unmap(dev);
	dev->log_map = addr;
	dev->log_map_size = size + offset;
	dev->log_base = (uint8_t *)addr + offset;
	dev->log_size = size;
	VHOST_DEV_LOG(INFO, dev, "dirty log mapped: %" PRIu64 " bytes", size);
	return 0;
}
