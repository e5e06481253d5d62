/* SPDX-License-Identifier: BSD-3-Clause */
/* The vhost-user memory table, built from the EAL memory segments. */
#ifndef VVI_MEM_H
#define VVI_MEM_H

#include <stdint.h>

/* The vhost-user memory table holds at most 8 regions. */
#define VVI_MAX_REGIONS 8
/* Each region's compact offset is aligned to this, so IOMMU pages of any
 * supported size (up to 1G) never span two regions. */
#define VVI_REGION_ALIGN (1ULL << 30)

struct vvi_region {
	uint64_t va;		/* start in this process (userspace_addr) */
	uint64_t len;
	int fd;			/* EAL's fd, not ours: never closed here */
	uint64_t fd_off;	/* mmap_offset */
	uint64_t coff;		/* compact offset: IOVA/GPA = base + coff */
};

struct vvi_mem {
	uint32_t nregions;
	struct vvi_region r[VVI_MAX_REGIONS];
	uint64_t total;		/* end of the compact space */
};

/* vhost-user wire format of the memory table. */
struct vvi_mem_region_msg {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vvi_mem_table_msg {
	uint32_t nregions;
	uint32_t padding;
	struct vvi_mem_region_msg regions[VVI_MAX_REGIONS];
};

/* Fills m from the allocated EAL segments, merging neighbours that are
 * contiguous both in VA and in the same file. Returns 0 or -E2BIG. */
int vvi_mem_build(struct vvi_mem *m);

/* Region holding [va, va + len), or NULL. */
const struct vvi_region *vvi_mem_find(const struct vvi_mem *m, uint64_t va,
	uint64_t len);

/* Region holding compact offset coff, or NULL. */
const struct vvi_region *vvi_mem_find_compact(const struct vvi_mem *m,
	uint64_t coff);

/* Builds the SET_MEM_TABLE payload and fds; GPAs are gpa_base + coff, or
 * the VAs themselves when gpa_base is 0. Returns the payload size. */
uint32_t vvi_mem_table_msg(const struct vvi_mem *m, uint64_t gpa_base,
	struct vvi_mem_table_msg *msg, int *fds);

#endif /* VVI_MEM_H */
