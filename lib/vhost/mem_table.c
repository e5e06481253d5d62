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

/* A region must be non-empty and must not wrap around in any address
 * space, nor be too large to map. */
static int
check_region(const struct vhost_user_mem_region *r, const char *what,
	     uint32_t i, const char *ifname)
{
	if (r->memory_size == 0 ||
	    r->guest_phys_addr > UINT64_MAX - r->memory_size ||
	    r->userspace_addr > UINT64_MAX - r->memory_size ||
	    r->mmap_offset > UINT64_MAX - r->memory_size ||
	    r->memory_size + r->mmap_offset > (uint64_t)SIZE_MAX / 2) {
		VHOST_LOG_ERR("(%s) %s region %u: invalid size 0x%" PRIx64
			" or offset 0x%" PRIx64, ifname, what, i, r->memory_size,
			r->mmap_offset);
		return -EINVAL;
	}
	return 0;
}

static bool
regions_overlap(const struct vhost_user_mem_region *r, uint64_t gpa,
		uint64_t uaddr, uint64_t size)
{
	return ranges_overlap(r->guest_phys_addr, r->memory_size, gpa, size) ||
		ranges_overlap(r->userspace_addr, r->memory_size, uaddr, size);
}

/* Reject regions that are invalid or overlap each other in
 * guest-physical or user address space (a translation must have exactly
 * one answer). */
static int
check_regions(const struct vhost_user_memory *msg, const char *ifname)
{
	for (uint32_t i = 0; i < msg->nregions; i++) {
		const struct vhost_user_mem_region *r = &msg->regions[i];

		if (check_region(r, "memory", i, ifname) < 0)
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++) {
			const struct vhost_user_mem_region *o = &msg->regions[j];

			if (regions_overlap(o, r->guest_phys_addr, r->userspace_addr,
					    r->memory_size)) {
				VHOST_LOG_ERR("(%s) memory regions %u and %u overlap",
					ifname, j, i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* A table with room for n regions and their lookup indexes, in one
 * allocation. */
static struct vhost_mem_table *
table_alloc(uint32_t n)
{
	size_t cap = n > 0 ? n : 1;
	struct vhost_mem_table *mem;
	uint8_t *p;

	mem = calloc(1, sizeof(*mem) + cap * (sizeof(mem->regions[0]) +
		2 * sizeof(uint64_t) + 2 * sizeof(uint16_t)));
	if (mem == NULL)
		return NULL;
	p = (uint8_t *)&mem->regions[cap];
	mem->gpa_key = (uint64_t *)p;
	mem->ua_key = mem->gpa_key + cap;
	mem->gpa_idx = (uint16_t *)(mem->ua_key + cap);
	mem->ua_idx = mem->gpa_idx + cap;
	return mem;
}

struct key_idx {
	uint64_t key;
	uint16_t idx;
};

static int
cmp_key(const void *a, const void *b)
{
	const struct key_idx *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* Fill one sorted index from the regions (nregions set). */
static void
build_index(struct vhost_mem_table *mem, bool by_gpa, struct key_idx *tmp)
{
	uint64_t *key = by_gpa ? mem->gpa_key : mem->ua_key;
	uint16_t *idx = by_gpa ? mem->gpa_idx : mem->ua_idx;

	for (uint32_t i = 0; i < mem->nregions; i++) {
		tmp[i].key = by_gpa ? mem->regions[i].guest_phys_addr :
			mem->regions[i].guest_user_addr;
		tmp[i].idx = (uint16_t)i;
	}
	qsort(tmp, mem->nregions, sizeof(tmp[0]), cmp_key);
	for (uint32_t i = 0; i < mem->nregions; i++) {
		key[i] = tmp[i].key;
		idx[i] = tmp[i].idx;
	}
}

static int
table_index(struct vhost_mem_table *mem)
{
	struct key_idx *tmp;

	if (mem->nregions <= VHOST_MEM_LINEAR_MAX)
		return 0;	/* the lookups scan */
	tmp = malloc(mem->nregions * sizeof(*tmp));
	if (tmp == NULL)
		return -ENOMEM;
	build_index(mem, true, tmp);
	build_index(mem, false, tmp);
	free(tmp);
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

	mem = table_alloc(msg->nregions);
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
	table_index(mem);	/* 8 regions at most: scanned, nothing to fail */
	*out = mem;
	return 0;
}

/* The region as the frontend described it, for the checks. */
static struct vhost_user_mem_region
as_msg(const struct rte_vhost_mem_region *r)
{
	return (struct vhost_user_mem_region){
		.guest_phys_addr = r->guest_phys_addr,
		.memory_size = r->size,
		.userspace_addr = r->guest_user_addr,
	};
}

int
vhost_mem_table_add(const struct vhost_mem_table *old,
		    const struct vhost_user_mem_region *r, int fd,
		    struct vhost_mem_table **out, const char *ifname)
{
	uint32_t n = old != NULL ? old->nregions : 0;
	struct vhost_mem_table *mem;
	int ret;

	if (n >= VHOST_MAX_MEM_SLOTS) {
		VHOST_LOG_ERR("(%s) ADD_MEM_REG: all %d memory slots are in use",
			ifname, VHOST_MAX_MEM_SLOTS);
		return -ENOSPC;
	}
	if (check_region(r, "added", n, ifname) < 0)
		return -EINVAL;
	/* Frontends add whole pages; anything else is a confused or
	 * hostile frontend, and odd offsets would misalign the rings. */
	if ((r->guest_phys_addr | r->userspace_addr | r->memory_size |
	     r->mmap_offset) & (VHOST_MEM_REG_ALIGN - 1)) {
		VHOST_LOG_ERR("(%s) ADD_MEM_REG: gpa 0x%" PRIx64 " uaddr 0x%" PRIx64
			" size 0x%" PRIx64 " offset 0x%" PRIx64 " not %u-byte aligned",
			ifname, r->guest_phys_addr, r->userspace_addr, r->memory_size,
			r->mmap_offset, VHOST_MEM_REG_ALIGN);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct vhost_user_mem_region o = as_msg(&old->regions[i]);

		if (o.guest_phys_addr == r->guest_phys_addr &&
		    o.userspace_addr == r->userspace_addr &&
		    o.memory_size == r->memory_size) {
			VHOST_LOG_ERR("(%s) ADD_MEM_REG: region gpa 0x%" PRIx64
				" size 0x%" PRIx64 " is already present", ifname,
				r->guest_phys_addr, r->memory_size);
			return -EEXIST;
		}
		if (regions_overlap(&o, r->guest_phys_addr, r->userspace_addr,
				    r->memory_size)) {
			VHOST_LOG_ERR("(%s) ADD_MEM_REG: region gpa 0x%" PRIx64
				" uaddr 0x%" PRIx64 " size 0x%" PRIx64 " overlaps region gpa 0x%"
				PRIx64 " uaddr 0x%" PRIx64 " size 0x%" PRIx64, ifname,
				r->guest_phys_addr, r->userspace_addr, r->memory_size,
				o.guest_phys_addr, o.userspace_addr, o.memory_size);
			return -EINVAL;
		}
	}
	mem = table_alloc(n + 1);
	if (mem == NULL)
		return -ENOMEM;
	ret = map_region(r, fd, &mem->regions[n], ifname);
	if (ret < 0) {
		free(mem);
		return ret;
	}
	if (n > 0)
		memcpy(mem->regions, old->regions, n * sizeof(mem->regions[0]));
	mem->nregions = n + 1;
	if (table_index(mem) < 0) {
		munmap(mem->regions[n].mmap_addr, mem->regions[n].mmap_size);
		free(mem);
		return -ENOMEM;
	}
	VHOST_LOG_INFO("(%s) region added: gpa 0x%" PRIx64 " uaddr 0x%" PRIx64
		" size 0x%" PRIx64 " mapped at %p (%u regions)", ifname,
		r->guest_phys_addr, r->userspace_addr, r->memory_size,
		(void *)(uintptr_t)mem->regions[n].host_user_addr, n + 1);
	*out = mem;
	return 0;
}

int
vhost_mem_table_remove(const struct vhost_mem_table *old,
		       const struct vhost_user_mem_region *r,
		       struct vhost_mem_table **out,
		       struct rte_vhost_mem_region *gone, const char *ifname)
{
	uint32_t n = old != NULL ? old->nregions : 0;
	struct vhost_mem_table *mem = NULL;
	uint32_t i, k;

	for (i = 0; i < n; i++) {
		const struct rte_vhost_mem_region *o = &old->regions[i];

		if (o->guest_phys_addr == r->guest_phys_addr &&
		    o->guest_user_addr == r->userspace_addr &&
		    o->size == r->memory_size)
			break;
	}
	if (i == n) {
		VHOST_LOG_ERR("(%s) REM_MEM_REG: no region gpa 0x%" PRIx64 " uaddr 0x%"
			PRIx64 " size 0x%" PRIx64 " (%u regions)", ifname,
			r->guest_phys_addr, r->userspace_addr, r->memory_size, n);
		return -ENOENT;
	}
	if (n > 1) {
		mem = table_alloc(n - 1);
		if (mem == NULL)
			return -ENOMEM;
		for (k = 0; k < n; k++)
			if (k != i)
				mem->regions[mem->nregions++] = old->regions[k];
		if (table_index(mem) < 0) {
			free(mem);
			return -ENOMEM;
		}
	}
	*gone = old->regions[i];
	VHOST_LOG_INFO("(%s) region removed: gpa 0x%" PRIx64 " uaddr 0x%" PRIx64
		" size 0x%" PRIx64 " (%u regions)", ifname, r->guest_phys_addr,
		r->userspace_addr, r->memory_size, n - 1);
	*out = mem;
	return 0;
}

void
vhost_mem_region_unmap(struct rte_vhost_mem_region *r)
{
	munmap(r->mmap_addr, r->mmap_size);
	close(r->fd);
	r->fd = -1;
}

void
vhost_mem_table_release(struct vhost_mem_table *mem)
{
	free(mem);
}

void
vhost_mem_table_free(struct vhost_mem_table *mem)
{
	if (mem == NULL)
		return;
	for (uint32_t i = 0; i < mem->nregions; i++)
		vhost_mem_region_unmap(&mem->regions[i]);
	free(mem);
}
