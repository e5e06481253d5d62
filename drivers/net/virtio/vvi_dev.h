/* SPDX-License-Identifier: BSD-3-Clause */
/* The device and its queues, shared by every file of the PMD. */
#ifndef VVI_DEV_H
#define VVI_DEV_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_net.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "vvi_args.h"
#include "vvi_attack.h"
#include "vvi_iommu.h"
#include "vvi_mem.h"
#include "vvi_socket.h"
#include "vvi_vring.h"

struct vvi_dev;

struct vvi_qstats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t errors;	/* malformed used entries, failed maps */
	uint64_t nombuf;
};

struct vvi_rx_slot {
	struct rte_mbuf *m;
	uint16_t ndesc;		/* attack chains only */
	bool attack;
};

/* Bytes of the last good rx packet kept to check straddle attacks. */
#define VVI_MODEL_LEN 128

struct vvi_rxq {
	struct vvi_dev *dev;
	struct vvi_vring vr;
	struct rte_mempool *mp;
	uint16_t qid;
	struct vvi_rx_slot *sw;		/* by descriptor id */
	/* A mergeable packet whose buffers are still arriving. */
	struct rte_mbuf *pend;
	struct rte_mbuf *pend_tail;
	uint16_t pend_left;
	uint8_t model[VVI_MODEL_LEN];	/* start of the last good packet */
	uint32_t model_len;
	uint64_t posted;
	uint32_t attack_inflight;
	uint16_t buf_ndesc;		/* most descriptors a buffer takes */
	struct vvi_qstats st;
};

struct vvi_tx_slot {
	struct rte_mbuf *m;
	uint16_t ndesc;
	bool attack;
};

struct vvi_txq {
	struct vvi_dev *dev;
	struct vvi_vring vr;
	uint16_t qid;
	struct vvi_tx_slot *sw;		/* by head descriptor id */
	struct virtio_net_hdr_mrg_rxbuf *hdrs;	/* one per head, zeroed */
	uint64_t hdrs_addr;		/* device address of hdrs[0] */
	uint64_t sent;
	uint32_t attack_inflight;
	struct vvi_qstats st;
};

struct vvi_dev {
	struct vvi_args args;
	char name[RTE_DEV_NAME_MAX_LEN];
	struct vvi_chan chan;
	uint64_t features;		/* negotiated */
	uint64_t protocol_features;	/* negotiated */
	uint16_t max_queue_pairs;	/* backend's */
	uint16_t hdr_len;
	uint16_t port_id;
	bool started;
	struct rte_ether_addr mac;
	struct vvi_mem mem;
	struct vvi_iommu iommu;
	struct vvi_attack attack;
	uint16_t nb_rxq, nb_txq;
	struct vvi_rxq *rxq[VVI_MAX_QUEUE_PAIRS];
	struct vvi_txq *txq[VVI_MAX_QUEUE_PAIRS];
};

/* Device address of [va, va + len) for rings and static buffers: the VA
 * itself (it is the GPA) without IOMMU, else its static IOVA (scatter
 * mode: rings only, in their own mappings). 0 if the range is outside
 * the memory table. */
static inline uint64_t
vvi_dev_addr(struct vvi_dev *d, uint64_t va, uint64_t len)
{
	if (d->args.iommu == VVI_IOMMU_OFF)
		return vvi_mem_find(&d->mem, va, len) ? va : 0;
	if (d->args.scatter)
		return vvi_iommu_fixed_iova(&d->iommu, va, len);
	return vvi_iommu_static_iova(&d->iommu, va, len);
}

/* Scatter mode: most descriptors a buffer of len bytes needs (one per
 * IOMMU page it touches). */
static inline uint32_t
vvi_dev_buf_ndesc(const struct vvi_dev *d, uint64_t va, uint32_t len)
{
	uint64_t pg = d->args.iommu_page;

	if (!d->args.scatter || len == 0)
		return 1;
	/* A power of two: a shift, not a division, per buffer. */
	return (uint32_t)(((va & (pg - 1)) + len + pg - 1) >>
		__builtin_ctzll(pg));
}

/* Scatter mode: announces the windows the buffers just posted took,
 * before the ring publishes them. */
static inline void
vvi_dev_announce(struct vvi_dev *d)
{
	if (d->args.scatter && vvi_iommu_scatter_pending(&d->iommu))
		vvi_iommu_scatter_announce(&d->iommu);
}

/* Serves the backend's IOTLB misses from the datapath: always in
 * dynamic mode (every buffer misses once). In static mode a miss is rare
 * and the control thread serves it; a ring that made no progress looks
 * too, but at most every VVI_STALL_POLL_US (a syscall per burst would
 * slow the datapath down). */
#define VVI_STALL_POLL_US 200
static inline void
vvi_serve_misses(struct vvi_dev *d, bool stalled)
{
	if (d->args.iommu == VVI_IOMMU_DYNAMIC)
		vvi_iommu_chan_poll(&d->iommu);
	else if (d->args.iommu == VVI_IOMMU_STATIC && stalled &&
			rte_get_timer_cycles() - d->iommu.polled_at >
			rte_get_timer_hz() / (1000000 / VVI_STALL_POLL_US))
		vvi_iommu_chan_poll(&d->iommu);
}

/* Dynamic-mode window of descriptor id of vring vr. */
static inline uint32_t
vvi_slot(const struct vvi_dev *d, const struct vvi_vring *vr, uint16_t id)
{
	return (uint32_t)vr->index * d->args.queue_size + id;
}

/* vvi_user.c: the vhost-user sequence. */
int vvi_user_connect(struct vvi_dev *d);
int vvi_user_start(struct vvi_dev *d);
void vvi_user_stop(struct vvi_dev *d);
void vvi_user_disconnect(struct vvi_dev *d);

/* vvi_rx.c, vvi_tx.c */
int vvi_rxq_create(struct vvi_dev *d, uint16_t qid, int socket,
	struct rte_mempool *mp, struct vvi_rxq **out);
void vvi_rxq_free(struct vvi_rxq *q);
int vvi_rxq_fill(struct vvi_rxq *q);
void vvi_rxq_drain(struct vvi_rxq *q);
uint16_t vvi_rx_burst(void *rxq, struct rte_mbuf **pkts, uint16_t n);

int vvi_txq_create(struct vvi_dev *d, uint16_t qid, int socket,
	struct vvi_txq **out);
void vvi_txq_free(struct vvi_txq *q);
int vvi_txq_start(struct vvi_txq *q);
void vvi_txq_drain(struct vvi_txq *q);
uint16_t vvi_tx_burst(void *txq, struct rte_mbuf **pkts, uint16_t n);

#endif /* VVI_DEV_H */
