/* SPDX-License-Identifier: BSD-3-Clause */

/* Mapping the frontend's memory regions. Everything here comes from the
 * frontend, so each value is checked before it is used to map memory:
 * a bad table is refused whole and the previous one stays in place. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem_table.h"
#include "vhost_log.h"

static bool
ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Reject regions that are empty, wrap around, or overlap each other in
 * guest-physical or user address space (a translation must have exactly
 * one answer). */
static int
check_regions(const struct vhost_user_memory *msg, const char *ifname)
{
	for (uint32_t i = 0; i < msg->nregions; i++) {
		const struct vhost_user_mem_region *r = &msg->regions[i];

		if (r->memory_size == 0 ||
		    r->guest_phys_addr > UINT64_MAX - r->memory_size ||
		    r->userspace_addr > UINT64_MAX - r->memory_size ||
		    r->mmap_offset > UINT64_MAX - r->memory_size ||
		    r->memory_size + r->mmap_offset > (uint64_t)SIZE_MAX / 2) {
			VHOST_LOG_ERR("(%s) memory region %u: invalid size 0x%" PRIx64
				" or offset 0x%" PRIx64, ifname, i, r->memory_size,
				r->mmap_offset);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			const struct vhost_user_mem_region *o = &msg->regions[j];

			if (ranges_overlap(r->guest_phys_addr, r->memory_size,
					   o->guest_phys_addr, o->memory_size) ||
			    ranges_overlap(r->userspace_addr, r->memory_size,
					   o->userspace_addr, o->memory_size)) {
				VHOST_LOG_ERR("(%s) memory regions %u and %u overlap",
					ifname, j, i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* Map one region. The fd must be at least as large as what we map:
 * touching a mapping beyond the end of its file raises SIGBUS. */
static int
map_region(const struct vhost_user_mem_region *r, int fd,
	   struct rte_vhost_mem_region *out, const char *ifname)
{
	struct stat st;
	uint64_t map_size = r->memory_size + r->mmap_offset;
	uint64_t align;
	void *addr;

	if (fstat(fd, &st) < 0) {
		VHOST_LOG_ERR("(%s) memory fd %d: fstat failed: %s", ifname, fd,
			strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < map_size) {
		VHOST_LOG_ERR("(%s) memory fd %d is not a file of at least %" PRIu64
			" bytes", ifname, fd, map_size);
		return -EINVAL;
	}
	/* hugetlbfs needs the length rounded to its page size. */
	align = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	if ((align & (align - 1)) == 0)
		map_size = RTE_ALIGN_CEIL(map_size, align);

	addr = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		VHOST_LOG_ERR("(%s) mmap of %" PRIu64 " bytes failed: %s", ifname,
			map_size, strerror(errno));
		return -ENOMEM;
	}
	out->guest_phys_addr = r->guest_phys_addr;
	out->guest_user_addr = r->userspace_addr;
	out->size = r->memory_size;
	out->mmap_addr = addr;
	out->mmap_size = map_size;
	out->host_user_addr = (uint64_t)(uintptr_t)addr + r->mmap_offset;
	out->fd = fd;
	return 0;
}

int
vhost_mem_table_map(const struct vhost_user_memory *msg, const int *fds,
		    struct vhost_mem_table **out, const char *ifname)
{
	struct vhost_mem_table *mem;
	int ret;

	if (msg->nregions == 0 || msg->nregions > VHOST_MAX_MEM_REGIONS) {
		VHOST_LOG_ERR("(%s) memory table with %u regions (1..%d allowed)",
			ifname, msg->nregions, VHOST_MAX_MEM_REGIONS);
		return -EINVAL;
	}
	ret = check_regions(msg, ifname);
	if (ret < 0)
		return ret;

	mem = calloc(1, sizeof(*mem));
	if (mem == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < msg->nregions; i++) {
		ret = map_region(&msg->regions[i], fds[i], &mem->regions[i],
				 ifname);
		if (ret < 0) {
			/* The caller still owns the fds: unmap only. */
			for (uint32_t j = 0; j < i; j++)
				munmap(mem->regions[j].mmap_addr,
				       mem->regions[j].mmap_size);
			free(mem);
			return ret;
		}
		VHOST_LOG_INFO("(%s) region %u: gpa 0x%" PRIx64 " uaddr 0x%" PRIx64
			" size 0x%" PRIx64 " mapped at %p", ifname, i,
			mem->regions[i].guest_phys_addr,
			mem->regions[i].guest_user_addr, mem->regions[i].size,
			(void *)(uintptr_t)mem->regions[i].host_user_addr);
	}
	mem->nregions = msg->nregions;
	*out = mem;
	return 0;
}

void
vhost_mem_table_free(struct vhost_mem_table *mem)
{
	if (mem == NULL)
		return;
	for (uint32_t i = 0; i < mem->nregions; i++) {
		munmap(mem->regions[i].mmap_addr, mem->regions[i].mmap_size);
		close(mem->regions[i].fd);
	}
	free(mem);
}
