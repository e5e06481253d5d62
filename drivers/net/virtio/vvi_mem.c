/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_common.h>
#include <rte_memory.h>

#include "vvi_log.h"
#include "vvi_mem.h"

struct walk_ctx {
	struct vvi_mem *m;
	int err;
};

/* Called with the memory hotplug lock held: only _thread_unsafe here. */
static int
add_seg(const struct rte_memseg_list *msl, const struct rte_memseg *ms,
	void *arg)
{
	struct walk_ctx *w = arg;
	struct vvi_mem *m = w->m;
	struct vvi_region *last;
	size_t off;
	int fd;

	RTE_SET_USED(msl);
	fd = rte_memseg_get_fd_thread_unsafe(ms);
	if (fd < 0 || rte_memseg_get_fd_offset_thread_unsafe(ms, &off) < 0) {
		VVI_LOG(ERR, "memory segment at %p has no fd", ms->addr);
		w->err = -ENOTSUP;
		return -1;
	}
	last = m->nregions ? &m->r[m->nregions - 1] : NULL;
	if (last && last->fd == fd && last->va + last->len == ms->addr_64 &&
			last->fd_off + last->len == off) {
		last->len += ms->len;
		return 0;
	}
	if (m->nregions == VVI_MAX_REGIONS) {
		VVI_LOG(ERR, "more than %d memory regions: run with --single-file-segments",
			VVI_MAX_REGIONS);
		w->err = -E2BIG;
		return -1;
	}
	m->r[m->nregions++] = (struct vvi_region){
		.va = ms->addr_64, .len = ms->len, .fd = fd, .fd_off = off,
	};
	return 0;
}

int
vvi_mem_build(struct vvi_mem *m)
{
	struct walk_ctx w = { .m = m, .err = 0 };
	uint64_t coff = 0;

	memset(m, 0, sizeof(*m));
	if (rte_memseg_walk(add_seg, &w) < 0 || w.err < 0)
		return w.err ? w.err : -EIO;
	for (uint32_t i = 0; i < m->nregions; i++) {
		m->r[i].coff = coff;
		coff = RTE_ALIGN_CEIL(coff + m->r[i].len, VVI_REGION_ALIGN);
	}
	m->total = coff;
	return 0;
}

const struct vvi_region *
vvi_mem_find(const struct vvi_mem *m, uint64_t va, uint64_t len)
{
	for (uint32_t i = 0; i < m->nregions; i++) {
		const struct vvi_region *r = &m->r[i];

		if (va >= r->va && va - r->va < r->len &&
				len <= r->len - (va - r->va))
			return r;
	}
	return NULL;
}

const struct vvi_region *
vvi_mem_find_compact(const struct vvi_mem *m, uint64_t coff)
{
	for (uint32_t i = 0; i < m->nregions; i++)
		if (coff >= m->r[i].coff && coff - m->r[i].coff < m->r[i].len)
			return &m->r[i];
	return NULL;
}

uint32_t
vvi_mem_table_msg(const struct vvi_mem *m, uint64_t gpa_base,
	struct vvi_mem_table_msg *msg, int *fds)
{
	memset(msg, 0, sizeof(*msg));
	msg->nregions = m->nregions;
	for (uint32_t i = 0; i < m->nregions; i++) {
		const struct vvi_region *r = &m->r[i];

		msg->regions[i] = (struct vvi_mem_region_msg){
			.guest_phys_addr = gpa_base ? gpa_base + r->coff : r->va,
			.memory_size = r->len,
			.userspace_addr = r->va,
			.mmap_offset = r->fd_off,
		};
		fds[i] = r->fd;
	}
	/* Exactly the regions in use, as QEMU sends it. */
	return offsetof(struct vvi_mem_table_msg, regions) +
		m->nregions * sizeof(msg->regions[0]);
}
