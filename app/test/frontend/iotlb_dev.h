/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef IOTLB_DEV_H
#define IOTLB_DEV_H

/*
 * The device IOTLB tests (test_frontend_iotlb.c, iotlb_*.c): a device
 * whose frontend plays QEMU with a vIOMMU, its backends and the traffic
 * helpers every concern uses (iotlb_dev.c).
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_iommu.h"

#define IOMMU_FLAGS (RTE_VHOST_USER_IOMMU_SUPPORT | \
		RTE_VHOST_USER_NET_STATS_ENABLE)

/* The library's documented constants (doc/iotlb.md), as a guest sees them.
 * The IOTLB size is set through VHOST_IOTLB_MAX_ENTRIES (main()), so that
 * the storm fills it many times over. */
#define IOTLB_MAX_ENTRIES 4096
#define IOTLB_MAX_ENTRIES_STR "4096"
#define IOTLB_MISS_TIMEOUT_MS 500

/* IOVA windows for a test's own mappings, apart from the region windows
 * (FM_IOVA_REGION) and from GPAs and user addresses. */
#define IOVA_TEST(n) (0xe00000000000ull + ((uint64_t)(n) << 24))
/* Never mapped by the guest. */
#define IOVA_NEVER 0xf00000000000ull
#define IOVA_STORM 0xc00000000000ull

/* Where buffers go unless a test says otherwise: region 1 is not touched
 * by the ring set-up, so its pages miss on first use. */
#define BUF_REGION 1

/* A device with its emulated IOMMU. */
struct iodev {
	struct fe_dev d;
	struct fm_iommu io;
};

/* The backends (main()) and the devices of a test (D, and W where a test
 * needs a second one), reset before and closed after each test. */
extern struct fe_backend *BI;	/* IOMMU + stats */
extern struct fe_backend *BW;	/* IOMMU + stats: a second socket */
extern struct fe_backend *BP;	/* stats, no IOMMU */
extern struct iodev D, W;

void iodev_reset(struct iodev *x);
void iodev_close(struct iodev *x);
/* Connects to b and starts with the IOMMU; the rings' misses are
 * answered. Returns 0 or -1. */
int iodev_open(struct iodev *x, struct fe_backend *b);

/* Guest memory: zeroed bytes of region at its IOVA (UINT64_MAX if
 * full), pages of region, and pages of BUF_REGION the guest maps at
 * iova (the backend is not told). */
uint64_t buf_alloc(struct iodev *x, int region, uint64_t size, uint64_t align,
		uint8_t **ptr);
uint8_t *page_alloc(struct iodev *x, int region, int npages);
uint8_t *guest_map(uint64_t iova, int npages, uint8_t perm);
/* A packet without 0xee bytes: 0xee is what tests scribble. */
void packet_no_ee(uint8_t *buf, uint32_t len, uint32_t seed);

/* Traffic through buffers at IOVAs, misses answered where it says so. */
int post_tx(struct iodev *x, uint64_t iova, const uint8_t *pkt, uint32_t len);
int post_rx(struct iodev *x, uint64_t iova, uint32_t len);
int dequeue_serving(struct iodev *x, struct rte_mbuf **pkts, int want, int max,
		int timeout_ms);
bool mbuf_is(struct rte_mbuf *m, const uint8_t *want, uint32_t len);
void expect_tx_one(const uint8_t *pkt, uint32_t len, uint32_t head);
int post_tx_stalled(uint64_t iova, const uint8_t *pkt, uint32_t len, int ms);
bool tx_check(struct iodev *x, uint32_t len, uint32_t seed);
bool wait_used(struct iodev *x, uint16_t q, uint16_t n, int timeout_ms);
bool enqueue_until_used(struct iodev *x, struct rte_mbuf *mb, int timeout_ms);
bool rx_check(struct iodev *x, uint32_t len, uint32_t seed);
/* Both directions, two sizes each. */
bool traffic_ok(struct iodev *x);

/* The six ring parts of queue pair 0, as IOVAs, and whether iova is in
 * one of their pages. */
struct ring_part {
	uint64_t iova;
	uint64_t len;
	uint8_t need;	/* the access the device needs */
};
void ring_parts(const struct iodev *x, struct ring_part p[6]);
bool in_ring_pages(const struct ring_part p[6], uint64_t iova);

/* The tests, by concern. */

/* iotlb_paths.c */
void test_negotiation(void);
void test_rings_at_iovas(void);
void test_tx_miss_update(void);
void test_rx_miss_held(void);
void test_rx_held_over_stall(void);
void test_mem_slots(void);

/* iotlb_access.c */
void test_permission_rx_read_only(void);
void test_permission_rx_read_only_alone(void);
void test_permission_tx_write_only(void);
void test_permission_least_needed(void);
void test_straddle(void);

/* iotlb_invalidate.c */
void test_invalidate(void);
void test_invalidate_rings(void);
void test_invalidate_concurrent_tx(void);
void test_invalidate_concurrent_rx(void);

/* iotlb_hostile.c */
void test_unanswered_miss(void);
void test_answer_unread(void);
void test_update_storm(void);
void test_malformed(void);

#endif /* IOTLB_DEV_H */
