/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_MEM_TABLE_H
#define VHOST_MEM_TABLE_H

/* Guest memory as the frontend described it: up to 8 regions from
 * SET_MEM_TABLE, or up to VHOST_MAX_MEM_SLOTS added one at a time with
 * ADD_MEM_REG (CONFIGURE_MEM_SLOTS). Each region is an fd mapped into
 * this process, known by three addresses: guest physical (GPA), the
 * frontend's own virtual address (uaddr) and ours (hva). */

#include <stdbool.h>
#include <stdint.h>
#include <rte_vhost.h>

#include "vhost_limits.h"

/* A table is never changed in place: adding or removing a region builds
 * a new one, so the datapath reads a consistent table or none. regions[]
 * keeps the frontend's order (rte_vhost_get_mem_table shows it); lookups
 * of more than VHOST_MEM_LINEAR_MAX regions use the sorted indexes. */
struct vhost_mem_table {
	uint32_t nregions;
	/* Region starts in ascending order, and the region each belongs
	 * to: one array per address space (GPA, frontend uaddr). */
	uint64_t *gpa_key;
	uint16_t *gpa_idx;
	uint64_t *ua_key;
	uint16_t *ua_idx;
	struct rte_vhost_mem_region regions[];
};

/* Up to this many regions, a scan of the regions beats a search. */
#define VHOST_MEM_LINEAR_MAX 8

/* One region as received in SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG. */
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

/* ADD_MEM_REG / REM_MEM_REG payload: one region. */
struct vhost_user_mem_reg {
	uint64_t padding;
	struct vhost_user_mem_region region;
};

/* Validate the regions and map their fds. On success the table owns
 * the fds; on failure nothing is mapped and the caller still owns them.
 * Returns 0 or a negative errno. */
int vhost_mem_table_map(const struct vhost_user_memory *msg, const int *fds,
			struct vhost_mem_table **out, const char *ifname);

/* A new table: old's regions (old may be NULL) plus r, mapped from fd.
 * Refused (-EINVAL, -ENOSPC, -EEXIST) if r is malformed, unaligned,
 * overlaps or repeats a region, or no slot is free. On success the new
 * table owns fd and shares old's mappings: release old with
 * vhost_mem_table_release(). On failure the caller still owns fd. */
int vhost_mem_table_add(const struct vhost_mem_table *old,
			const struct vhost_user_mem_region *r, int fd,
			struct vhost_mem_table **out, const char *ifname);

/* A new table: old's regions without the one with r's GPA, uaddr and
 * size (the mmap offset is not compared, as the protocol says). *gone
 * receives the removed region, still mapped: unmap it with
 * vhost_mem_region_unmap() once no burst can use it. *out is NULL when
 * the last region goes. Returns 0, or -ENOENT if no region matches. */
int vhost_mem_table_remove(const struct vhost_mem_table *old,
			   const struct vhost_user_mem_region *r,
			   struct vhost_mem_table **out,
			   struct rte_vhost_mem_region *gone, const char *ifname);

/* Unmap one region and close its fd. */
void vhost_mem_region_unmap(struct rte_vhost_mem_region *r);

/* Free a table whose mappings another table took over. */
void vhost_mem_table_release(struct vhost_mem_table *mem);

/* Unmap every region, close the fds and free the table (NULL is fine). */
void vhost_mem_table_free(struct vhost_mem_table *mem);

/* Position of the last key <= x in keys[0..n) (n >= 1), or -1 if x is
 * below them all. The loop has no data-dependent branch to mispredict. */
static inline int32_t
vhost_mem_search(const uint64_t *keys, uint32_t n, uint64_t x)
{
	uint32_t lo = 0, len = n;

	if (x < keys[0])
		return -1;
	while (len > 1) {
		uint32_t half = len / 2;

		lo = keys[lo + half] <= x ? lo + half : lo;
		len -= half;
	}
	return (int32_t)lo;
}

/* Index of the region containing addr, a guest physical address or a
 * frontend user address, or -1. */
static inline int32_t
vhost_mem_lookup(const struct vhost_mem_table *mem, bool by_gpa, uint64_t addr)
{
	const struct rte_vhost_mem_region *r;
	int32_t pos, i;

	if (mem->nregions <= VHOST_MEM_LINEAR_MAX) {
		for (uint32_t k = 0; k < mem->nregions; k++) {
			r = &mem->regions[k];
			if (addr - (by_gpa ? r->guest_phys_addr : r->guest_user_addr) < r->size)
				return (int32_t)k;
		}
		return -1;
	}
	pos = vhost_mem_search(by_gpa ? mem->gpa_key : mem->ua_key, mem->nregions, addr);
	if (pos < 0)
		return -1;
	i = by_gpa ? mem->gpa_idx[pos] : mem->ua_idx[pos];
	r = &mem->regions[i];
	return addr - (by_gpa ? r->guest_phys_addr : r->guest_user_addr) < r->size ? i : -1;
}

/* Region containing [addr, ...) in the given address space, or NULL.
 * The length available from addr to the end of the region is returned
 * in *avail. Never wraps: a region is [start, start + size). */
static inline const struct rte_vhost_mem_region *
vhost_mem_find_gpa(const struct vhost_mem_table *mem, uint64_t gpa,
		   uint64_t *avail)
{
	int32_t i = vhost_mem_lookup(mem, true, gpa);

	if (i < 0)
		return NULL;
	*avail = mem->regions[i].size - (gpa - mem->regions[i].guest_phys_addr);
	return &mem->regions[i];
}

static inline const struct rte_vhost_mem_region *
vhost_mem_find_uaddr(const struct vhost_mem_table *mem, uint64_t uaddr,
		     uint64_t *avail)
{
	int32_t i = vhost_mem_lookup(mem, false, uaddr);

	if (i < 0)
		return NULL;
	*avail = mem->regions[i].size - (uaddr - mem->regions[i].guest_user_addr);
	return &mem->regions[i];
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
