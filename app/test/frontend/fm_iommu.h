/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The frontend side of a device IOTLB (VIRTIO_F_IOMMU_PLATFORM): what QEMU
 * does for a vhost-user device behind a vIOMMU.
 *
 *  - negotiation of IOMMU_PLATFORM with BACKEND_REQ and REPLY_ACK, and the
 *    backend request channel (SET_BACKEND_REQ_FD with one end of a
 *    socketpair; the frontend keeps the other end);
 *  - an emulated IOMMU: the guest's own page tables, IOVA ranges mapped
 *    to frontend pointers (which are the user addresses the backend knows)
 *    with a permission. IOVAs are chosen apart from both GPAs and user
 *    addresses, so a backend that skips the translation touches nothing
 *    valid;
 *  - IOTLB_MSG UPDATE/INVALIDATE, always with NEED_REPLY;
 *  - reading the MISS requests the backend sends on the request channel
 *    and answering them from the emulated IOMMU, with bounded waits.
 *
 * Like the rest of the scripted frontend it validates nothing it sends, and it
 * needs no DPDK.
 */
#ifndef FM_IOMMU_H
#define FM_IOMMU_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/vhost_types.h>

#include "fake_frontend.h"

/* VIRTIO_F_IOMMU_PLATFORM (VIRTIO_F_ACCESS_PLATFORM in newer headers). */
#define FM_F_IOMMU_PLATFORM 33

/* Backend -> frontend request carrying a struct vhost_iotlb_msg. */
#define FM_BACKEND_IOTLB_MSG 1

/* The wire size of struct vhost_iotlb_msg (three u64, two u8, padding). */
#define FM_IOTLB_MSG_SIZE 32u

/* The smallest IOMMU page, and the granularity of misses. */
#define FM_IOMMU_PAGE 4096ull
#define FM_PAGE_OF(a) ((a) & ~(FM_IOMMU_PAGE - 1))

/* Where fm_iommu_map_regions puts region r: above every user address
 * (< 2^47) and far from the GPAs, one 4 GiB window per region. */
#define FM_IOVA_REGION(r) (0xd00000000000ull + ((uint64_t)(r) << 32))

/* Mappings the emulated IOMMU holds. */
#define FM_IOMMU_MAX_MAPS 256

/* fm_iommu_answer: the guest has no mapping for the miss (with its perm). */
#define FM_IOMMU_NOMAP 2

/* One guest IOMMU mapping: [iova, iova + size) -> ptr with perm. */
struct fm_iommu_map {
	uint64_t iova;
	uint64_t size;
	uint8_t *ptr;
	uint8_t perm;	/* VHOST_ACCESS_RO / WO / RW */
};

struct fm_iommu {
	/* The frontend's end of the backend request channel, or -1. */
	int backend_req_fd;
	int nmaps;
	struct fm_iommu_map maps[FM_IOMMU_MAX_MAPS];
	/* How a miss is answered: 0 sends the whole guest mapping that
	 * covers it; otherwise the aligned window of this many bytes
	 * around the miss (FM_IOMMU_PAGE is what QEMU sends for 4K pages). */
	uint64_t answer_size;
	/* Totals, for diagnostics. */
	uint64_t misses_received;
	uint64_t misses_answered;
	uint64_t misses_unmapped;
};

/* An empty IOMMU without a request channel. */
void fm_iommu_init(struct fm_iommu *io);
/* Closes the request channel and forgets the mappings. Safe twice. */
void fm_iommu_fini(struct fm_iommu *io);

/*
 * Guest page tables. A later mapping hides an earlier one where they
 * overlap (lookups go from the newest). Returns 0, -EINVAL or -ENOSPC.
 */
int fm_iommu_map(struct fm_iommu *io, uint64_t iova, void *ptr,
		uint64_t size, uint8_t perm);
/* Removes every mapping that overlaps [iova, iova + size). */
void fm_iommu_unmap(struct fm_iommu *io, uint64_t iova, uint64_t size);
/* Maps every region r of mem whole at FM_IOVA_REGION(r). */
int fm_iommu_map_regions(struct fm_iommu *io, const struct fm_mem *mem,
		uint8_t perm);

/* The newest mapping containing iova, or NULL. */
const struct fm_iommu_map *fm_iommu_lookup(const struct fm_iommu *io,
		uint64_t iova);
/* Frontend pointer for [iova, iova + len) if one mapping holds it all. */
void *fm_iommu_ptr(const struct fm_iommu *io, uint64_t iova, uint64_t len);
/* An IOVA of a frontend pointer (newest mapping holding it), or UINT64_MAX. */
uint64_t fm_iommu_iova(const struct fm_iommu *io, const void *p);
/* Copies to/from guest memory through IOVAs, mapping by mapping (the
 * pieces need not be contiguous for the frontend). Returns 0 or -EFAULT. */
int fm_iommu_write(const struct fm_iommu *io, uint64_t iova,
		const void *src, uint64_t len);
int fm_iommu_read(const struct fm_iommu *io, uint64_t iova, void *dst,
		uint64_t len);
int fm_iommu_fill(const struct fm_iommu *io, uint64_t iova, uint8_t byte,
		uint64_t len);

/* What a frontend with an IOMMU always negotiates, as QEMU does: misses
 * need the backend request channel, updates the ack. */
#define FM_IOMMU_FEATURES \
	(FM_BIT(FM_F_IOMMU_PLATFORM) | FM_BIT(FM_F_PROTOCOL_FEATURES))
#define FM_IOMMU_PROTOCOL (FM_BIT(FM_PF_BACKEND_REQ) | FM_BIT(FM_PF_REPLY_ACK))

/*
 * Feature phase of fm_negotiate with FM_IOMMU_FEATURES added to
 * features and FM_IOMMU_PROTOCOL to protocol.
 */
int fm_iommu_negotiate(struct fm_frontend *m, uint64_t features,
		uint64_t protocol);

/*
 * Creates the backend request channel (a socketpair), sends one end with
 * SET_BACKEND_REQ_FD and keeps the other in io->backend_req_fd. Returns an
 * fm_result.
 */
int fm_iommu_set_backend_req_fd(struct fm_frontend *m, struct fm_iommu *io);

/* IOTLB_MSG with NEED_REPLY, whatever was negotiated. Returns an
 * fm_result (FM_NACK: the backend answered with a non-zero u64). */
int fm_iotlb_msg(struct fm_frontend *m, const struct vhost_iotlb_msg *msg);
int fm_iotlb_update(struct fm_frontend *m, uint64_t iova, uint64_t size,
		uint64_t uaddr, uint8_t perm);
int fm_iotlb_invalidate(struct fm_frontend *m, uint64_t iova, uint64_t size);
/* UPDATE for [iova, iova + size) as the guest maps it (one message per
 * mapping piece). Returns an fm_result, FM_IOMMU_NOMAP on a hole. */
int fm_iotlb_update_mapped(struct fm_frontend *m, const struct fm_iommu *io,
		uint64_t iova, uint64_t size);

/*
 * Reads one MISS from the request channel within timeout_ms (0: only if
 * one is there). Returns 1, 0 on timeout, FM_CLOSED, or FM_BADREPLY for
 * anything that is not an IOTLB miss (the message is consumed). A
 * request asking for a reply gets an ack of 0.
 */
int fm_iommu_recv_miss(struct fm_iommu *io, struct vhost_iotlb_msg *miss,
		int timeout_ms);

/*
 * Collects misses into out[0..max) until none came for quiet_ms, or
 * timeout_ms passed. Returns the number read (those beyond max are read
 * and dropped, but counted) or a negative fm_result.
 */
int fm_iommu_collect_misses(struct fm_iommu *io, struct vhost_iotlb_msg *out,
		int max, int quiet_ms, int timeout_ms);
/*
 * The same for misses another thread of the backend sends (the event
 * thread, which may wait long for a CPU): waits up to first_ms for the
 * first, then collects as above for up to timeout_ms more.
 */
int fm_iommu_await_misses(struct fm_iommu *io, struct vhost_iotlb_msg *out,
		int max, int first_ms, int quiet_ms, int timeout_ms);

/*
 * Answers one miss with an UPDATE from the guest page tables (see
 * answer_size). Returns an fm_result, or FM_IOMMU_NOMAP when the guest
 * has no mapping for it with the permission asked (nothing is sent:
 * QEMU's translation would fail too).
 */
int fm_iommu_answer(struct fm_frontend *m, struct fm_iommu *io,
		const struct vhost_iotlb_msg *miss);

/*
 * Waits up to wait_ms for a miss, then answers it and every miss already
 * queued. Returns how many were answered (unmappable ones are skipped)
 * or a negative fm_result.
 */
int fm_iommu_serve(struct fm_frontend *m, struct fm_iommu *io, int wait_ms);

/* The SET_VRING_ADDR payload of m->vr[index], in IOVAs. */
void fm_iommu_vring_addr(const struct fm_frontend *m, const struct fm_iommu *io,
		uint32_t index, struct vhost_vring_addr *a);

/*
 * As fm_setup_vring, with the ring addresses given as IOVAs (the ring
 * memory must be in io's mappings: fm_iommu_map_regions).
 */
int fm_iommu_setup_vring(struct fm_frontend *m, struct fm_iommu *io,
		uint32_t index, uint16_t size, int region);

/*
 * fm_handshake with the IOMMU: negotiation with IOMMU_PLATFORM, the
 * request channel, the memory table, the guest mapping every region
 * (if io has no mapping yet) and rings at IOVAs. Nothing is put in the
 * backend's IOTLB: it misses on the rings, and the device starts only
 * once those misses are answered (fm_iommu_serve).
 */
int fm_iommu_handshake(struct fm_frontend *m, struct fm_iommu *io,
		const struct fm_config *cfg);

/* Copies the first len bytes of a chain whose segments are IOVAs. */
int fm_iommu_read_chain(const struct fm_iommu *io, const struct fm_chain *c,
		uint32_t len, uint8_t *out);

/* fm_net_recv for rings whose buffers are IOVAs. */
int fm_iommu_net_recv(struct fm_vring *vr, const struct fm_iommu *io,
		bool mergeable, struct virtio_net_hdr_mrg_rxbuf *hdr,
		uint8_t *out, uint32_t cap, int *nbufs);

#endif /* FM_IOMMU_H */
