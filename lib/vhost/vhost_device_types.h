/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_DEVICE_TYPES_H
#define VHOST_DEVICE_TYPES_H

/* A vhost-user device (one connection) and its virtqueues: the
 * structures every layer shares, and trivial inlines on them. Types
 * only: no function is declared here (devtools/check-layers.py checks),
 * so including it makes a file depend on no code. The device table is
 * vhost_device.h, the control path's calls vhost_lifecycle.h.
 *
 * Threads: the event thread handles frontend messages; application
 * threads run the datapath, at most one per virtqueue. A burst enters a
 * virtqueue through its gate (vq_gate.h), never waiting on the control
 * path; every message that changes what the datapath may touch (memory
 * table, ring addresses, features, log) holds the virtqueue
 * (vhost_vq_lock). With an IOMMU, bursts hold the IOTLB's read lock too
 * and IOTLB messages its write lock.
 */

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <pthread.h>
#include <linux/virtio_ring.h>
#include <linux/vhost_types.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_rwlock.h>
#include <rte_spinlock.h>
#include <rte_vhost.h>

#include "iotlb.h"
#include "mem_table.h"
#include "vhost_limits.h"
#include "vq_gate.h"
#include "vring_counters.h"

/* Feature bits not in every uapi header version. */
#ifndef VIRTIO_F_IN_ORDER
#define VIRTIO_F_IN_ORDER 35
#endif
#ifndef VIRTIO_F_RING_PACKED
#define VIRTIO_F_RING_PACKED 34
#endif

#define VHOST_FD_UNSET (-2)	/* never set by the frontend */
#define VHOST_FD_NONE (-1)	/* set to "no fd" (polling) */

/* A translated piece of a guest buffer. */
struct vhost_seg {
	uint8_t *hva;		/* our address */
	uint32_t len;
	uint64_t gpa;		/* guest physical, for dirty logging */
};

/* A used element as the ring holds it, so a burst's elements are
 * copied to the ring in one go. */
struct vhost_used_elem {
	uint32_t id;
	uint32_t len;
};
_Static_assert(sizeof(struct vhost_used_elem) == sizeof(struct vring_used_elem),
	       "shadow and ring elements differ");

/* An IOTLB miss waiting for the frontend's update. */
struct vhost_iotlb_pending {
	uint64_t iova;		/* page aligned */
	uint64_t since;		/* timer cycles: creation, then sending */
	uint8_t perm;
	bool sent;
};

/* Most lookups one batch prefetches: two per chain, up to 32 chains. */
#define VHOST_IOTLB_PREFETCH_MAX 64

/* What the last prefetch of translations (vring.h) found: for the
 * IOVAs it looked for, in the order the walk meets them, the id of the
 * entry it started loading (VHOST_IOTLB_NIL if none). The walk's IOTLB
 * lookups take them as hints (vhost_iotlb_lookup_hinted) while the
 * device IOTLB's gen is still gen: the same result, without the hash
 * and the slot that the prefetch read already. */
struct vhost_iotlb_hints {
	uint64_t gen;
	uint16_t n;
	uint16_t next;		/* the first not taken yet */
	uint32_t id[VHOST_IOTLB_PREFETCH_MAX];
	uint64_t iova[VHOST_IOTLB_PREFETCH_MAX];
};

/* The IOVA range of the last IOTLB translation with our and the guest
 * physical address of its start (IOMMU only): a copy of one IOTLB
 * entry. Valid while perm is not 0 and gen equals the device IOTLB's
 * gen (every change of the IOTLB, and vhost_iotlb_mem_table_changed,
 * moves it). */
struct vhost_xlate_cache {
	uint64_t iova;
	uint64_t last;		/* inclusive */
	uint64_t hva;		/* ours, at iova */
	uint64_t gpa;		/* guest physical, at iova */
	uint64_t gen;
	uint8_t perm;
};

struct rte_mbuf;

struct vhost_virtqueue {
	/* Datapath state first: read on every burst. The three ring parts
	 * are a split ring's descriptor table, avail and used rings, or a
	 * packed ring's descriptor ring, driver and device event areas. */
	union {
		struct vring_desc *desc;
		struct vring_packed_desc *desc_packed;
	};
	union {
		struct vring_avail *avail;
		struct vring_packed_desc_event *driver_event;
	};
	union {
		struct vring_used *used;
		struct vring_packed_desc_event *device_event;
	};
	uint16_t size;
	/* Split: free-running indexes. Packed: ring positions (< size),
	 * each with its wrap counter. */
	uint16_t last_avail_idx;
	uint16_t last_used_idx;
	bool avail_wrap;
	bool used_wrap;
	/* Split: used index at the last notification. Packed: that used
	 * position, plus size if its wrap counter was 0. */
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool access_ok;		/* rings translated and usable */
	bool enabled;		/* SET_VRING_ENABLE (or kick, legacy) */
	bool guest_notify;	/* application wants guest kicks */
	/* The avail index error was logged; cleared when the index is sane
	 * again (atomic: rte_vhost_avail_entries may run beside a burst). */
	bool avail_idx_bad;
	int callfd;
	int kickfd;
	uint32_t last_region;	/* translation hint: last region hit */
	struct vhost_xlate_cache xc;	/* IOVA translation hint */
	/* The last batch mostly searched the IOTLB (scattered mappings):
	 * load the next batch's index slots and entries before its walk. */
	bool iotlb_prefetch;
	struct vhost_iotlb_hints xh;	/* from that prefetch */
	struct vhost_used_elem *shadow_used;	/* size entries */
	struct vring_desc *indirect_copy;	/* for split indirect tables */
	uint32_t indirect_copy_len;
	/* Bursts against the control path (vq_gate.h). */
	struct vhost_vq_gate gate;
	/* Control-path threads waiting for iotlb_lock: bursts skip the
	 * ring meanwhile (see vhost_vq_iotlb_lock). */
	uint32_t writers_waiting;
	int xlate_err;		/* why the last translation failed */
	struct vhost_vq_stats stats;

	/* The device IOTLB (dev->iotlb) as this ring sees it: the datapath
	 * holds iotlb_lock for reading during a burst (inside the gate);
	 * updates and invalidations hold every ring's for writing. */
	rte_rwlock_t iotlb_lock;
	/* With entry lifetimes: entries mapped before this are too old for
	 * this ring's bursts (set by vhost_iotlb_age). */
	uint64_t iotlb_expire_before;
	struct vhost_iotlb_pending pending[VHOST_IOTLB_MAX_PENDING];
	uint16_t nb_pending;
	uint16_t nb_unsent;
	/* Where vhost_walk_ahead has asked up to: split, an avail index;
	 * packed, a position in [0, 2 * size) (vhost_packed_linear). */
	uint16_t walked_ahead;
	/* Enqueue only: packets kept while their buffers miss (held_pkts.h). */
	struct vhost_held {
		struct rte_mbuf **pkts;
		uint16_t n;
		uint64_t since;		/* timer cycles: the last progress */
		uint64_t tried;		/* timer cycles: the last attempt */
	} held;

	/* Control path state. */
	uint32_t index;
	int errfd;
	bool ready;		/* as last reported by vring_state_changed */
	struct vhost_vring_addr ring_addr;	/* as the frontend gave it */
	bool ring_addr_set;
	/* SET_VRING_BASE came: check the base against the ring memory once
	 * the ring is translated (vhost_vring_resync). */
	bool resync_armed;
	uint64_t used_log_gpa;	/* guest physical address of the used ring */
	/* Packed: guest physical addresses of the descriptor ring and the
	 * device event area, which the device writes. */
	uint64_t desc_log_gpa;
	uint64_t device_event_log_gpa;
} __rte_cache_aligned;

/* Forget the cached IOVA translation (the memory table changes). */
static inline void
vhost_xlate_cache_clear(struct vhost_virtqueue *vq)
{
	vq->xc.perm = 0;
}

/* Device flags. */
#define VHOST_DEV_RUNNING	(1u << 0)	/* new_device was called */
#define VHOST_DEV_FEATURES_SET	(1u << 1)
#define VHOST_DEV_OWNER_SET	(1u << 2)

struct vhost_socket;

struct vhost_device {
	int vid;
	uint32_t flags;
	uint64_t features;
	uint64_t protocol_features;
	uint16_t hdr_len;	/* virtio-net header: 10 or 12 bytes */
	uint16_t mtu;
	uint8_t status;
	uint32_t nr_vring;
	/* Written by the event thread; bursts load it atomically (ADD_MEM_REG
	 * and REM_MEM_REG swap it beside them). */
	struct vhost_mem_table *mem;
	struct vhost_virtqueue *vq[VHOST_MAX_VRINGS];

	/* Dirty page log for live migration. */
	uint8_t *log_base;
	uint64_t log_size;
	void *log_map;
	uint64_t log_map_size;

	/* Pending SEND_RARP: the datapath injects one RARP frame. */
	struct rte_ether_addr rarp_mac;
	int16_t broadcast_rarp;		/* atomic */

	/* IOTLB entry lifetime in timer cycles (0: until invalidated). */
	uint64_t iotlb_max_age;
	/* The device IOTLB, shared by all rings: allocated at the first
	 * UPDATE with room for iotlb_max_entries. Read under any ring's
	 * iotlb_lock, written under all of them (vhost_iotlb_lock_all). */
	struct vhost_iotlb iotlb;
	uint32_t iotlb_max_entries;

	/* Backend request channel (SET_BACKEND_REQ_FD): IOTLB misses are
	 * sent on it from datapath threads. */
	int backend_req_fd;
	rte_spinlock_t backend_req_lock;
	/* Misses sent with NEED_REPLY, oldest first (under backend_req_lock):
	 * answers come back in order. */
	struct vhost_iotlb_asked {
		uint64_t iova;
		uint32_t vring;
		uint8_t perm;
	} asked[VHOST_IOTLB_MAX_ASKED];
	uint32_t asked_head;	/* next answer */
	uint32_t asked_count;

	/* What the socket was registered with, copied at connection time. */
	uint64_t reg_flags;
	const struct rte_vhost_device_ops *ops;
	struct rte_vhost_user_extern_ops extern_ops;
	void *extern_data;
	struct vhost_socket *vsock;
	int conn_fd;
	/* Replies of one event-thread wake-up, sent together at its end
	 * (vhost_user_flush_replies); they go out in request order. */
	uint8_t replies[VHOST_REPLY_BUF_SIZE];
	uint32_t replies_len;
	/* An IOTLB update came for a ring holding packets (event thread;
	 * held_pkts.h). */
	bool held_waiting;
	/* Non-zero while the event thread reads and handles this device's
	 * messages (__atomic): an answer to a miss may have left the socket
	 * without being applied yet. */
	uint32_t ctl_reading;
	/* Answers read from the backend channel, not yet whole (event
	 * thread; room for 64 answers of 20 bytes). */
	uint8_t backend_req_in[1280];
	uint32_t backend_req_in_len;
	char ifname[PATH_MAX];
	/* Held while a frontend request's handler runs (it may replace the
	 * memory table or free rings), and by observers on other threads
	 * (telemetry) while they read the device: see vhost_device_observe.
	 * Never taken by the datapath. */
	pthread_mutex_t ctrl_lock;
};

static __rte_always_inline bool
vhost_has_feature(const struct vhost_device *dev, unsigned int bit)
{
	return (dev->features >> bit) & 1;
}

static __rte_always_inline bool
vhost_packed(const struct vhost_device *dev)
{
	return vhost_has_feature(dev, VIRTIO_F_RING_PACKED);
}

static __rte_always_inline bool
vhost_iommu_on(const struct vhost_device *dev)
{
	return unlikely(vhost_has_feature(dev, VIRTIO_F_ACCESS_PLATFORM));
}

#endif /* VHOST_DEVICE_TYPES_H */
