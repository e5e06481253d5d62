/* SPDX-License-Identifier: BSD-3-Clause */
/* Fake guest memory for the scripted frontend: see fm_mem.h. */
#include "fm_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_memfd.h"

void
fm_mem_init(struct fm_mem *mem)
{
	int i;

	memset(mem, 0, sizeof(*mem));
	for (i = 0; i < FM_MAX_REGIONS; i++)
		mem->r[i].fd = -1;
}

int
fm_mem_add_region(struct fm_mem *mem, uint64_t gpa, uint64_t size,
		uint64_t mmap_offset)
{
	struct fm_region *r;
	void *p;
	int fd;

	if (mem->nregions >= FM_MAX_REGIONS || size == 0)
		return -EINVAL;
	fd = test_memfd_map("fm-guest", size, mmap_offset, &p);
	if (fd < 0)
		return -errno;
	r = &mem->r[mem->nregions];
	r->fd = fd;
	r->gpa = gpa;
	r->size = size;
	r->mmap_offset = mmap_offset;
	r->base = p;
	r->used = 0;
	return mem->nregions++;
}

void
fm_mem_free(struct fm_mem *mem)
{
	int i;

	for (i = 0; i < mem->nregions; i++) {
		munmap(mem->r[i].base, mem->r[i].size);
		close(mem->r[i].fd);
	}
	fm_mem_init(mem);
}

void *
fm_mem_alloc(struct fm_mem *mem, int region, uint64_t size, uint64_t align)
{
	struct fm_region *r;
	uint64_t off;

	if (region < 0 || region >= mem->nregions || align == 0)
		return NULL;
	r = &mem->r[region];
	off = (r->used + align - 1) & ~(align - 1);
	if (off > r->size || size > r->size - off)
		return NULL;
	r->used = off + size;
	memset(r->base + off, 0, size);
	return r->base + off;
}

void *
fm_gpa_ptr(const struct fm_mem *mem, uint64_t gpa, uint64_t len)
{
	int i;

	for (i = 0; i < mem->nregions; i++) {
		const struct fm_region *r = &mem->r[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
				len <= r->size - (gpa - r->gpa))
			return r->base + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t
fm_ptr_gpa(const struct fm_mem *mem, const void *p)
{
	const uint8_t *b = p;
	int i;

	for (i = 0; i < mem->nregions; i++) {
		const struct fm_region *r = &mem->r[i];

		if (b >= r->base && b < r->base + r->size)
			return r->gpa + (uint64_t)(b - r->base);
	}
	return UINT64_MAX;
}

uint32_t
fm_mem_wire(const struct fm_mem *mem, struct fm_wire_memory *wire, int *fds)
{
	int i;

	memset(wire, 0, sizeof(*wire));
	wire->nregions = (uint32_t)mem->nregions;
	for (i = 0; i < mem->nregions; i++) {
		const struct fm_region *r = &mem->r[i];

		wire->regions[i].guest_phys_addr = r->gpa;
		wire->regions[i].memory_size = r->size;
		wire->regions[i].userspace_addr = fm_ptr_uaddr(r->base);
		wire->regions[i].mmap_offset = r->mmap_offset;
		fds[i] = r->fd;
	}
	return 8 + (uint32_t)sizeof(wire->regions[0]) * wire->nregions;
}
