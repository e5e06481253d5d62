/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Emulated vIOMMU: which IOVA ranges are mapped to which of our addresses,
 * and the IOTLB messages (UPDATE, INVALIDATE) that tell the backend.
 *
 * IOVA layout (none of it is a process address or an advertised GPA):
 *   STATIC_BASE + compact offset   every EAL region, each 1G-aligned
 *   RING_BASE + n * RING_SPAN      scatter mode: ring n's block
 *   SCATTER_BASE ...               scatter mode: buffer windows
 *   DYN_BASE + slot * slot_span    dynamic mode: one window per descriptor
 *   ATTACK_BASE ...                attack windows (vvi_attack.c)
 *   UNMAPPED_BASE ...              never mapped
 */
#ifndef VVI_IOMMU_H
#define VVI_IOMMU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/vhost_types.h>

#include "vvi_args.h"
#include "vvi_mem.h"
#include "vvi_scatter.h"
#include "vvi_socket.h"

#define VVI_GPA_BASE		0x200000000000ULL
#define VVI_IOVA_STATIC_BASE	0x400000000000ULL
#define VVI_IOVA_RING_BASE	0x500000000000ULL
#define VVI_IOVA_RING_SPAN	(1ULL << 32)
#define VVI_IOVA_DYN_BASE	0x800000000000ULL
#define VVI_IOVA_ATTACK_BASE	0xa00000000000ULL
#define VVI_IOVA_UNMAPPED_BASE	0xb00000000000ULL

/* The control thread leaves backend requests to the polling lcores if
 * one polled within this many microseconds: long enough that a busy
 * lcore is never displaced (a thread serving meanwhile takes the
 * channel lock the lcore needs), well under the backend's miss timeout
 * (500 ms in our library) for an application that stopped polling. */
#define VVI_CHAN_DEFER_US 20000

/* Most IOTLB messages sent in one write before their acks are read. */
#define VVI_IOTLB_BATCH VVI_MAX_BATCH

/* Fixed mappings: 2 rings per queue pair plus the attack windows. */
#define VVI_IOMMU_MAX_FIXED (4 * VVI_MAX_QUEUE_PAIRS + 16)

/* One IOMMU mapping: [iova, iova + size) -> [uaddr, uaddr + size). */
struct vvi_map {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;		/* VHOST_ACCESS_* */
};

/* A MISS from the backend. */
struct vvi_miss {
	uint64_t iova;
	uint8_t perm;
};

struct vvi_iommu {
	/* Guards the mappings below (fixed, slots, nfixed). Taken after
	 * chan->lock when both are needed, and never held across I/O. */
	pthread_mutex_t lock;
	enum vvi_iommu_mode mode;
	uint64_t page;
	bool preload;
	bool scatter;
	uint32_t working_set;
	uint64_t seed;
	uint32_t nrings;		/* scatter: ring blocks pinned */
	/* Scatter mode: buffer windows (allocation under lock). */
	struct vvi_scatter sc;
	uint64_t windows;		/* given out, for xstats */
	struct vvi_chan *chan;
	const struct vvi_mem *mem;
	/* Mapped while the device runs: rings (dynamic) and attack windows. */
	struct vvi_map fixed[VVI_IOMMU_MAX_FIXED];
	unsigned int nfixed;
	/* Never mapped at its static IOVA: the canary page. */
	uint64_t hole_va, hole_len;
	/* Dynamic mode: a window per (vring, descriptor); size 0 = unmapped. */
	struct vvi_map *slots;
	uint32_t nslots;
	uint64_t slot_span;
	/* Counters, updated under chan->lock, read without it. */
	uint64_t updates;
	uint64_t invalidates;
	uint64_t misses;
	uint64_t misses_refused;
	uint64_t miss_batches;		/* MISS batches served */
	uint64_t thread_misses;		/* of the misses, by the control thread */
	uint64_t invalidate_batches;
	uint64_t errors;
	/* Backend request channel (vvi_iommu_chan.c). backend_lock: one
	 * reader of backend_fd at a time (the thread or a polling lcore). */
	pthread_mutex_t backend_lock;
	bool backend_gone;
	uint64_t polled_at;	/* TSC of the last vvi_iommu_chan_poll */
	/* Bytes read from backend_fd, not yet a whole request (backend_lock). */
	uint8_t rbuf[8192];
	size_t rlen;
	int backend_fd;
	int quit_fd;
	pthread_t thread;
	bool thread_started;
};

void vvi_iommu_init(struct vvi_iommu *io, const struct vvi_args *a,
	struct vvi_chan *chan);

/* Static IOVA of [va, va + len), or 0 if it is outside the memory table. */
uint64_t vvi_iommu_static_iova(const struct vvi_iommu *io, uint64_t va,
	uint64_t len);

/* Starts a device on memory table mem (dynamic mode: allocates nslots
 * windows). */
int vvi_iommu_start(struct vvi_iommu *io, const struct vvi_mem *mem,
	uint32_t nslots);

/* Static mode: sends an UPDATE for every page but the hole, unless lazy. */
int vvi_iommu_preload(struct vvi_iommu *io);

/* Invalidates the fixed mappings and forgets them (device stopped). */
void vvi_iommu_stop(struct vvi_iommu *io);

/* Frees what start allocated. */
void vvi_iommu_release(struct vvi_iommu *io);

/* Keeps [va, va + len) mapped at its static IOVA while the device runs
 * (dynamic mode; a no-op in static mode where everything is). */
int vvi_iommu_pin(struct vvi_iommu *io, uint64_t va, uint64_t len,
	uint8_t perm);

/* Scatter mode: the IOVA of the part of [va, va + len) inside its IOMMU
 * page (its length in *plen), through one of the page's windows; 0 if
 * the page has none. */
uint64_t vvi_iommu_scatter_map_slow(struct vvi_iommu *io, uint64_t va,
	uint32_t len, uint32_t *plen);

static inline uint64_t
vvi_iommu_scatter_map(struct vvi_iommu *io, uint64_t va, uint32_t len,
	uint32_t *plen)
{
	/* Every window given out: no lock, the compact table. */
	if (likely(vvi_scatter_ready(&io->sc)))
		return vvi_scatter_map_ready(&io->sc, va, len, plen);
	return vvi_iommu_scatter_map_slow(io, va, len, plen);
}

/* Scatter mode: sends the UPDATEs of the windows given out since the
 * last call (before the buffers using them are published). */
void vvi_iommu_scatter_announce(struct vvi_iommu *io);

static inline bool
vvi_iommu_scatter_pending(struct vvi_iommu *io)
{
	return __atomic_load_n(&io->sc.npending, __ATOMIC_ACQUIRE) != 0;
}

/* IOVA of [va, va + len) inside a fixed mapping (scatter mode rings), or 0. */
uint64_t vvi_iommu_fixed_iova(struct vvi_iommu *io, uint64_t va,
	uint64_t len);

/* Adds and announces a fixed mapping m (attack windows). */
int vvi_iommu_map_fixed(struct vvi_iommu *io, const struct vvi_map *m);

/* Dynamic mode: maps [va, va + len) through window slot and returns the
 * IOVA (0 on failure). Like a guest's page-table write it sends nothing:
 * the backend learns the mapping when it misses. */
uint64_t vvi_iommu_map_buf(struct vvi_iommu *io, uint32_t slot, uint64_t va,
	uint32_t len, uint8_t perm);

/* Dynamic mode: invalidates the windows slot[0 .. n) (n at most
 * VVI_IOTLB_BATCH) and returns once the backend acked every INVALIDATE:
 * the messages go out together, then the acks are read. */
int vvi_iommu_unmap_bufs(struct vvi_iommu *io, const uint32_t *slot,
	unsigned int n);
int vvi_iommu_unmap_buf(struct vvi_iommu *io, uint32_t slot);

/* Answers n misses (at most VVI_IOTLB_BATCH): sends the UPDATE for the
 * page holding each iova that is mapped with (at least) its perm, all
 * together, then reads the acks. res[i]: 0, -ENOENT when refused, or the
 * UPDATE's error. */
void vvi_iommu_serve_misses(struct vvi_iommu *io, const struct vvi_miss *miss,
	unsigned int n, int *res);

/* Backend request channel: creates the socket pair, returns the end to
 * give the backend (the caller sends and closes it), starts the thread. */
int vvi_iommu_chan_open(struct vvi_iommu *io);
void vvi_iommu_chan_close(struct vvi_iommu *io);

/* Serves the backend's queued requests now, unless another thread is
 * already at it. Called by the datapath; costs one poll() when idle. */
void vvi_iommu_chan_poll(struct vvi_iommu *io);

#endif /* VVI_IOMMU_H */
