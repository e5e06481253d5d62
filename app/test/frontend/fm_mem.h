/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake guest memory: regions of memfd memory, each placed at a chosen
 * guest-physical address. The frontend's own mapping address is what it
 * sends as userspace_addr, as QEMU does; the backend maps the same fd
 * on its side.
 */
#ifndef FM_MEM_H
#define FM_MEM_H

#include <stdint.h>

/* VHOST_MEMORY_MAX_NREGIONS of the vhost-user protocol. */
#define FM_MAX_REGIONS 8

struct fm_region {
	int fd;
	uint64_t gpa;
	uint64_t size;
	/* Where the region starts inside fd (the wire's mmap_offset). */
	uint64_t mmap_offset;
	/* Frontend's mapping of [mmap_offset, mmap_offset + size). */
	uint8_t *base;
	/* Bump allocator: bytes handed out so far. */
	uint64_t used;
};

struct fm_mem {
	int nregions;
	struct fm_region r[FM_MAX_REGIONS];
};

/*
 * Wire layout of one region in SET_MEM_TABLE. It is not in the uapi
 * headers: vhost_memory_region there has flags_padding where vhost-user
 * carries mmap_offset.
 */
struct fm_wire_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

/* Wire layout of SET_MEM_TABLE; the payload holds only nregions entries. */
struct fm_wire_memory {
	uint32_t nregions;
	uint32_t padding;
	struct fm_wire_region regions[FM_MAX_REGIONS];
};

void fm_mem_init(struct fm_mem *mem);

/*
 * Adds a region of size bytes at guest address gpa. The memfd is
 * mmap_offset + size long (mmap_offset must be page aligned).
 * Returns the region index or -errno.
 */
int fm_mem_add_region(struct fm_mem *mem, uint64_t gpa, uint64_t size,
		uint64_t mmap_offset);

/* Unmaps and closes everything. Safe to call twice. */
void fm_mem_free(struct fm_mem *mem);

/*
 * Hands out zeroed bytes of a region (never freed until fm_mem_free).
 * Returns NULL when the region is full.
 */
void *fm_mem_alloc(struct fm_mem *mem, int region, uint64_t size,
		uint64_t align);

/* Frontend pointer for [gpa, gpa + len) if it lies in one region, else NULL. */
void *fm_gpa_ptr(const struct fm_mem *mem, uint64_t gpa, uint64_t len);

/* Guest-physical address of a frontend pointer, or UINT64_MAX. */
uint64_t fm_ptr_gpa(const struct fm_mem *mem, const void *p);

/* The userspace_addr the frontend announces for a pointer. */
static inline uint64_t
fm_ptr_uaddr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/*
 * Fills the SET_MEM_TABLE payload and the fds for it.
 * Returns the payload size (8 + 32 * nregions).
 */
uint32_t fm_mem_wire(const struct fm_mem *mem, struct fm_wire_memory *wire,
		int *fds);

#endif /* FM_MEM_H */
