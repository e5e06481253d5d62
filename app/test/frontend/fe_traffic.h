/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device as a test holds it: one scripted frontend connected to one backend,
 * handshaken, plus round-trip traffic checks that every test program uses
 * to prove that a device (still) works.
 */
#ifndef FE_TRAFFIC_H
#define FE_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_frontend.h"
#include "fe_harness.h"

/* Virtqueue ids of queue pair 0 as rte_vhost numbers them. */
#define FE_RXQ 0 /* guest receives: rte_vhost_enqueue_burst */
#define FE_TXQ 1 /* guest transmits: rte_vhost_dequeue_burst */

struct fe_dev {
	struct fm_frontend m;
	struct fe_backend *b;
	int vid;
	int buf_region; /* where the checks below put packet buffers */
};

/* Queue pair 0's rings of d as the frontend sees them. */
static inline struct fm_vring *
fe_rxq(struct fe_dev *d)
{
	return &d->m.vr[FE_RXQ];
}

static inline struct fm_vring *
fe_txq(struct fe_dev *d)
{
	return &d->m.vr[FE_TXQ];
}

/* A device not connected yet (no socket, no vid): each test starts so. */
void fe_dev_init(struct fe_dev *d);

/*
 * Connects to b, runs the handshake of cfg (defaults if NULL) and waits
 * for new_device. Returns 0, or -1 after printing why.
 */
int fe_dev_open(struct fe_dev *d, struct fe_backend *b,
		const struct fm_config *cfg);

/* As fe_dev_open on an already connected socket (client mode). */
int fe_dev_open_sock(struct fe_dev *d, struct fe_backend *b, int sock,
		const struct fm_config *cfg);

/*
 * Closes the frontend. With wait, also waits for destroy_device and
 * returns false if it did not come.
 */
bool fe_dev_close(struct fe_dev *d, bool wait);

/*
 * The device of suites that test one device at a time (bad_desc,
 * datapath, packed; their files call it D): every test starts with it
 * not connected (fe_test_dev_setup) and ends with it closed, waiting for
 * destroy_device (fe_test_dev_teardown). FE_DEV_SUITE(name, tests) is a
 * CU_SuiteInfo row of such a suite.
 */
extern struct fe_dev fe_test_dev;
void fe_test_dev_setup(void);
void fe_test_dev_teardown(void);
#define FE_DEV_SUITE(name, tests) \
	{ name, NULL, NULL, fe_test_dev_setup, fe_test_dev_teardown, tests }

/* True if the device negotiated mergeable RX buffers. */
bool fe_dev_mergeable(const struct fe_dev *d);

/*
 * Calls rte_vhost_dequeue_burst until want packets came or timeout_ms
 * passed. Returns how many came (never more than max).
 */
int fe_dequeue_wait(int vid, struct rte_mbuf **pkts, int want, int max,
		int timeout_ms);
/* The same on any virtqueue id. */
int fe_dequeue_wait_q(int vid, uint16_t qid, struct rte_mbuf **pkts,
		int want, int max, int timeout_ms);
/*
 * Polls the guest's TX queue for ms milliseconds, freeing what comes,
 * without answering anything (a ring that must stay quiet). Returns how
 * many packets came.
 */
int fe_dequeue_for(int vid, int ms);

/*
 * Enqueues one packet of len bytes made from seed (fe_packet) on d's
 * RX queue, in mbuf segments of at most seg_len bytes (0: as big as the
 * pool allows). Returns what rte_vhost_enqueue_burst did: 1 or 0.
 */
uint16_t fe_enqueue_one(struct fe_dev *d, uint32_t len, uint32_t seed,
		uint32_t seg_len);

/* True if got[0..n) (n < 0: nothing came) is exactly want[0..len);
 * else prints "<who> got ..." and returns false. */
bool fe_same_bytes(const char *who, const uint8_t *got, int n,
		const uint8_t *want, uint32_t len);

/*
 * Host -> guest: posts enough RX buffers, enqueues one packet of len
 * bytes and checks the guest got exactly it. Prints why on failure.
 */
bool fe_rx_check(struct fe_dev *d, uint32_t len, uint32_t seed);
/* The same on queue pair qp (virtqueue 2 * qp). */
bool fe_rx_check_q(struct fe_dev *d, int qp, uint32_t len, uint32_t seed);

/* Guest -> host: posts one packet in layout and dequeues exactly it. */
bool fe_tx_check(struct fe_dev *d, uint32_t len, uint32_t seed,
		enum fm_tx_layout layout, uint32_t seg_len);
/* The same on queue pair qp (virtqueue 2 * qp + 1). */
bool fe_tx_check_q(struct fe_dev *d, int qp, uint32_t len, uint32_t seed,
		enum fm_tx_layout layout, uint32_t seg_len);

/* A few packets each way: the device works. */
bool fe_traffic_ok(struct fe_dev *d);

/* Guest bytes a refused chain must leave alone (filled with FM_NET_POISON). */
struct fe_canary {
	const uint8_t *p;
	uint32_t len;
};

/* True if the n bytes at p all hold v. */
bool fe_all_bytes(const uint8_t *p, uint8_t v, size_t n);

/* True if every canary byte still holds FM_NET_POISON. */
bool fe_canaries_intact(const struct fe_canary *c, int n);

/*
 * After a refused chain (bad_head) and a good one were posted on vr and
 * the device ran: pops both used elements, in either order, within
 * 500 ms. The refused one must come back with length 0; *good and
 * *good_chain (may be NULL) receive the good one's. A head beyond the
 * ring cannot be handed back, so for one its used element is optional.
 */
bool fe_pop_refused_and_good(struct fm_vring *vr, int bad_head,
		int good_head, struct vring_used_elem *good,
		struct fm_chain *good_chain, const char *what);

/*
 * Live migration starts, as QEMU starts it: a dirty log of log_size
 * bytes (a memfd, mapped here) sent with SET_LOG_BASE, then the
 * features with VHOST_F_LOG_ALL added. The log, for munmap(log,
 * log_size); the features before, in *f0, to end the migration with.
 * Asserted (fatal for the log itself).
 */
uint8_t *fe_log_start(struct fm_frontend *m, uint64_t log_size, uint64_t *f0);

/* Prints a diagnostic (on stdout, beside CUnit's lines) and returns false. */
bool fe_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* FE_TRAFFIC_H */
