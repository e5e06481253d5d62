/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_MEM_TABLE_H
#define VHOST_MEM_TABLE_H

/* Guest memory as the frontend described it in SET_MEM_TABLE: up to 8
 * regions, each an fd mapped into this process. A region is known by
 * three addresses: guest physical (GPA), the frontend's own virtual
 * address (uaddr) and ours (hva). */

#include <stdint.h>
#include <rte_vhost.h>

#include "vhost_limits.h"

/* Layout-compatible with struct rte_vhost_memory, so the public
 * rte_vhost_get_mem_table() can hand out a copy. */
struct vhost_mem_table {
	uint32_t nregions;
	struct rte_vhost_mem_region regions[VHOST_MAX_MEM_REGIONS];
};

/* One region as received in the SET_MEM_TABLE payload. */
struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_MAX_MEM_REGIONS];
};

/* Validate the regions and map their fds. On success the table owns
 * the fds; on failure nothing is mapped and the caller still owns them.
 * Returns 0 or a negative errno. */
int vhost_mem_table_map(const struct vhost_user_memory *msg, const int *fds,
			struct vhost_mem_table **out, const char *ifname);

/* Unmap every region, close the fds and free the table (NULL is fine). */
void vhost_mem_table_free(struct vhost_mem_table *mem);

/* Region containing [addr, ...) in the given address space, or NULL.
 * The length available from addr to the end of the region is returned
 * in *avail. Never wraps: a region is [start, start + size). */
static inline const struct rte_vhost_mem_region *
vhost_mem_find_gpa(const struct vhost_mem_table *mem, uint64_t gpa,
		   uint64_t *avail)
{
	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];

		if (gpa - r->guest_phys_addr < r->size) {
			*avail = r->size - (gpa - r->guest_phys_addr);
			return r;
		}
	}
	return NULL;
}

static inline const struct rte_vhost_mem_region *
vhost_mem_find_uaddr(const struct vhost_mem_table *mem, uint64_t uaddr,
		     uint64_t *avail)
{
	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];

		if (uaddr - r->guest_user_addr < r->size) {
			*avail = r->size - (uaddr - r->guest_user_addr);
			return r;
		}
	}
	return NULL;
}

/* Result of a translation in region r (NULL: not found): clips *len to
 * the avail bytes left in the region. */
static inline uint64_t
vhost_mem_clip(const struct rte_vhost_mem_region *r, uint64_t avail,
	       uint64_t *len, uint64_t result)
{
	if (r == NULL) {
		*len = 0;
		return 0;
	}
	if (*len > avail)
		*len = avail;
	return result;
}

/* Guest physical address -> our address. *len is clipped to what is
 * contiguous in one region. Returns 0 (and *len = 0) if unmapped. */
static inline uint64_t
vhost_mem_gpa_to_hva(const struct vhost_mem_table *mem, uint64_t gpa,
		     uint64_t *len)
{
	uint64_t avail = 0;
	const struct rte_vhost_mem_region *r = vhost_mem_find_gpa(mem, gpa, &avail);

	return vhost_mem_clip(r, avail, len,
		r ? r->host_user_addr + (gpa - r->guest_phys_addr) : 0);
}

/* Frontend user address -> our address, same contract. */
static inline uint64_t
vhost_mem_uaddr_to_hva(const struct vhost_mem_table *mem, uint64_t uaddr,
		       uint64_t *len)
{
	uint64_t avail = 0;
	const struct rte_vhost_mem_region *r = vhost_mem_find_uaddr(mem, uaddr, &avail);

	return vhost_mem_clip(r, avail, len,
		r ? r->host_user_addr + (uaddr - r->guest_user_addr) : 0);
}

/* Frontend user address -> guest physical (for dirty logging of IOVA
 * accesses). Returns 0 with *len = 0 if unmapped. */
static inline uint64_t
vhost_mem_uaddr_to_gpa(const struct vhost_mem_table *mem, uint64_t uaddr,
		       uint64_t *len)
{
	uint64_t avail = 0;
	const struct rte_vhost_mem_region *r = vhost_mem_find_uaddr(mem, uaddr, &avail);

	return vhost_mem_clip(r, avail, len,
		r ? r->guest_phys_addr + (uaddr - r->guest_user_addr) : 0);
}

/* Map the whole range [uaddr, uaddr + len) or fail: used for rings,
 * which must be contiguous in our address space. */
static inline void *
vhost_mem_uaddr_range(const struct vhost_mem_table *mem, uint64_t uaddr,
		      uint64_t len)
{
	uint64_t got = len;
	uint64_t hva = vhost_mem_uaddr_to_hva(mem, uaddr, &got);

	if (hva == 0 || got != len)
		return NULL;
	return (void *)(uintptr_t)hva;
}

#endif /* VHOST_MEM_TABLE_H */
