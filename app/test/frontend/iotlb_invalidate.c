/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device IOTLB tests (test_frontend_iotlb.c): INVALIDATE and its reply,
 * also of the rings and against a datapath thread frozen in the middle
 * of a burst.
 */
#include "iotlb_dev.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

/* --- INVALIDATE with reply --- */

void
test_invalidate(void)
{
	static uint8_t pkt[500];
	const uint64_t P = IOVA_TEST(9);
	struct vhost_iotlb_msg miss[8];
	struct fm_vring *tx;
	int h, n;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	guest_map(P, 1, VHOST_ACCESS_RO);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_update_mapped(&D.d.m, &D.io, P,
			FM_IOMMU_PAGE), FM_OK);
	fe_packet(pkt, 500, 81);
	h = post_tx(&D, P, pkt, 500);
	CU_ASSERT_FATAL(h >= 0);
	fm_vring_kick(tx);
	expect_tx_one(pkt, 500, (uint32_t)h);
	/* Nothing was missed so far. */
	CU_ASSERT_EQUAL(fm_iommu_collect_misses(&D.io, miss, 8, 0, 0), 0);

	/* The reply arrives (fm_iotlb_msg waits for it). */
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_invalidate(&D.d.m, P, FM_IOMMU_PAGE),
			FM_OK);
	fe_packet(pkt, 500, 82);
	h = post_tx_stalled(P, pkt, 500, 20);
	n = fm_iommu_collect_misses(&D.io, miss, 8, 100, 1000);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_FATAL(n >= 1);
	CU_ASSERT_EQUAL(FM_PAGE_OF(miss[0].iova), P);
	CU_ASSERT_EQUAL_FATAL(fm_iommu_answer(&D.d.m, &D.io, &miss[0]), FM_OK);
	expect_tx_one(pkt, 500, (uint32_t)h);
}

/* INVALIDATE over the rings themselves: the queues stop using them,
 * ask for them again, and resume with nothing lost once answered. */
void
test_invalidate_rings(void)
{
	static uint8_t pkt[400];
	struct vhost_iotlb_msg miss[32];
	struct ring_part parts[6];
	uint64_t iova;
	int h, n, i, ring_misses = 0;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	CU_ASSERT_FATAL(traffic_ok(&D));
	ring_parts(&D, parts);
	/* The buffer is mapped already (region 1), only the rings go. */
	fe_packet(pkt, 400, 85);
	iova = buf_alloc(&D, BUF_REGION, FM_NET_HDR_LEN + 400, 64, NULL);
	CU_ASSERT_FATAL(iova != UINT64_MAX);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_invalidate(&D.d.m, FM_IOVA_REGION(0),
			D.d.m.mem.r[0].size), FM_OK);
	h = post_tx_stalled(iova, pkt, 400, 10);
	n = fm_iommu_collect_misses(&D.io, miss, 32, 100, 1000);
	for (i = 0; i < n && i < 32; i++) {
		if (in_ring_pages(parts, miss[i].iova))
			ring_misses++;
		CU_ASSERT_EQUAL(fm_iommu_answer(&D.d.m, &D.io, &miss[i]), FM_OK);
	}
	CU_ASSERT(ring_misses >= 1);
	expect_tx_one(pkt, 400, (uint32_t)h);
	CU_ASSERT(traffic_ok(&D));
}

/* A datapath thread for the concurrent invalidation tests. It does
 * little besides calling the library, so that it is in a burst most of
 * the time: TX packets are handed over to the frontend to check, RX sends
 * one prebuilt packet again and again. */
#define RACER_STASH 64
struct racer {
	int vid;
	bool tx;		/* dequeue, else enqueue */
	struct rte_mbuf *proto;	/* RX: the packet enqueued */
	cpu_set_t main_set;	/* where the frontend runs */
	atomic_bool stop;
	atomic_bool in_call;	/* inside the library right now */
	atomic_uint delivered;
	atomic_uint overflow;	/* TX packets beyond the stash */
	atomic_uint nstash;
	struct rte_mbuf *stash[RACER_STASH];
};

/* Threads inherit the EAL main thread's pinning (-l 0): move to the
 * other CPUs, or the frontend's busy waits would starve this thread. */
static void
unpin_from_main(const cpu_set_t *main_set)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	long i;

	CPU_ZERO(&set);
	for (i = 0; i < ncpu && i < CPU_SETSIZE; i++)
		if (!CPU_ISSET(i, main_set))
			CPU_SET(i, &set);
	if (CPU_COUNT(&set) == 0)
		for (i = 0; i < ncpu && i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	struct rte_mbuf *mb[32];

	unpin_from_main(&r->main_set);

	while (!atomic_load(&r->stop)) {
		int n, i;

		if (r->tx) {
			atomic_store(&r->in_call, true);
			n = rte_vhost_dequeue_burst(r->vid, FE_TXQ, fe_pool, mb, 32);
			atomic_store(&r->in_call, false);
			for (i = 0; i < n; i++) {
				unsigned int k = atomic_load(&r->nstash);

				if (k < RACER_STASH) {
					r->stash[k] = mb[i];
					atomic_store(&r->nstash, k + 1);
				} else {
					atomic_fetch_add(&r->overflow, 1);
					rte_pktmbuf_free(mb[i]);
				}
			}
		} else {
			/* One reference for the library, ours stays. */
			rte_pktmbuf_refcnt_update(r->proto, 1);
			atomic_store(&r->in_call, true);
			n = rte_vhost_enqueue_burst(r->vid, FE_RXQ, &r->proto, 1);
			atomic_store(&r->in_call, false);
			rte_pktmbuf_free(r->proto);
		}
		atomic_fetch_add(&r->delivered, (unsigned int)n);
		if (n == 0)
			sched_yield();
	}
	return NULL;
}

#define SCRIBBLE 0xee

/* The datapath thread, frozen for a while wherever it is (most often in
 * the middle of a burst): what a preemption does. A backend keeps its
 * promise by answering INVALIDATE after such a burst, not during it. */
static void
on_freeze(int sig)
{
	struct timespec t = { 0, 1000 * 1000 };

	(void)sig;
	nanosleep(&t, NULL);
}

static void
freeze_handler(bool on)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on ? on_freeze : SIG_DFL;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* Busy-waits up to max_us, so that the datapath is caught mid-way. */
static void
spin_us(unsigned int *seed, int max_us)
{
	struct timespec t0, t;
	long wait = rand_r(seed) % (max_us + 1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000L +
			(t.tv_nsec - t0.tv_nsec) / 1000 < wait);
}

/*
 * Freezes the racer while it is in a call that has work (the ring
 * still has chains it has not used): most likely in the middle of a
 * copy. Skipped if the work is done first.
 */
static void
freeze_in_burst(struct racer *r, pthread_t th, const struct fm_vring *vr,
		uint16_t done_idx, unsigned int *seed)
{
	int64_t deadline;

	/* A few microseconds into the work, then at the next call. */
	spin_us(seed, 30);
	deadline = fm_now_ms() + 2;
	while (fm_now_ms() < deadline) {
		if (__atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) == done_idx)
			return;
		if (atomic_load(&r->in_call)) {
			pthread_kill(th, SIGUSR1);
			return;
		}
	}
}

static void
drain_misses(struct iodev *x)
{
	struct vhost_iotlb_msg miss[64];

	fm_iommu_collect_misses(&x->io, miss, 64, 0, 100);
}

/* Starts the racer on D (tx: dequeueing, else enqueueing r->proto, set
 * by the caller) with the freeze handler on. */
static void
race_start(struct racer *r, pthread_t *th, bool tx)
{
	r->vid = D.d.vid;
	r->tx = tx;
	pthread_getaffinity_np(pthread_self(), sizeof(r->main_set),
			&r->main_set);
	freeze_handler(true);
	CU_ASSERT_FATAL(pthread_create(th, NULL, racer_main, r) == 0);
}

static void
race_stop(struct racer *r, pthread_t th)
{
	atomic_store(&r->stop, true);
	pthread_join(th, NULL);
	freeze_handler(false);
}

/* After the reply to an INVALIDATE of vr's buffers (used index at_reply
 * then) and the frontend's reuse of them: whether vr published anything
 * in the next millisecond, misses asked meanwhile answered. */
static bool
published_after(const struct fm_vring *vr, uint16_t at_reply)
{
	usleep(1000);
	drain_misses(&D);
	return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) != at_reply;
}

/*
 * INVALIDATE with NEED_REPLY, watching the socket without sleeping so
 * that the reply is seen as soon as it is sent: the sooner the frontend
 * reuses the memory, the smaller an access after the reply that it can
 * catch. Returns an fm_result.
 */
static int
invalidate_busy(struct iodev *x, uint64_t iova, uint64_t size)
{
	struct vhost_iotlb_msg msg;
	int64_t deadline = fm_now_ms() + FM_REPLY_TIMEOUT_MS;
	struct pollfd pfd = { .fd = x->d.m.sock, .events = POLLIN };
	static struct fm_msg reply;
	uint64_t v;

	memset(&msg, 0, sizeof(msg));
	msg.iova = iova;
	msg.size = size;
	msg.type = VHOST_IOTLB_INVALIDATE;
	if (fm_send(x->d.m.sock, FM_REQ_IOTLB_MSG,
			FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, FM_IOTLB_MSG_SIZE,
			&msg, FM_IOTLB_MSG_SIZE, NULL, 0) < 0)
		return FM_SENDFAIL;
	/* Yield rather than sleep: on two cores the event thread that
	 * sends the reply needs one of them. */
	while (poll(&pfd, 1, 0) == 0) {
		if (fm_now_ms() >= deadline)
			return FM_TIMEOUT;
		sched_yield();
	}
	if (fm_recv(x->d.m.sock, &reply, FM_REPLY_TIMEOUT_MS) != 1)
		return FM_CLOSED;
	fm_msg_close_fds(&reply);
	if (reply.request != FM_REQ_IOTLB_MSG || reply.size != sizeof(v))
		return FM_BADREPLY;
	memcpy(&v, reply.payload, sizeof(v));
	return v == 0 ? FM_OK : FM_NACK;
}

/* Writes byte over [p, p + len): first one byte in 64 everywhere, so
 * that a copy running anywhere in the range meets it at once, then
 * everything. */
static void
scribble(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 64)
		__atomic_store_n(&p[i], SCRIBBLE, __ATOMIC_RELAXED);
	memset(p, SCRIBBLE, len);
}

/*
 * TX: the frontend invalidates the buffers while a thread dequeues (and is
 * frozen mid-burst), and scribbles over them as soon as the reply
 * arrives. A backend that reads them after its reply delivers scribbled
 * bytes, or publishes chains after it.
 */
void
test_invalidate_concurrent_tx(void)
{
	/* Big packets: long copies, so that the freeze lands in one. */
	enum { K = 8, LEN = 60000, STRIDE = 65536 };
	static uint8_t good[LEN];
	static const uint8_t zero[FM_NET_HDR_LEN];
	const uint64_t R = IOVA_TEST(10);
	struct racer r;
	struct vring_used_elem e;
	struct fm_vring *tx;
	pthread_t th;
	unsigned int seed = 12345;
	uint8_t *area;
	int64_t start;
	static uint8_t got[70 * 1024];
	int iterations = 0, progressed = 0, scribbled = 0, wrong = 0;
	int delivered = 0, k;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	area = guest_map(R, K * STRIDE / FM_IOMMU_PAGE, VHOST_ACCESS_RO);
	packet_no_ee(good, LEN, 91);
	memset(&r, 0, sizeof(r));
	race_start(&r, &th, true);

	start = fm_now_ms();
	while (fe_more_rounds(start, 1200, iterations, 10)) {
		uint16_t at_reply;

		for (k = 0; k < K; k++) {
			memcpy(area + k * STRIDE, zero, FM_NET_HDR_LEN);
			memcpy(area + k * STRIDE + FM_NET_HDR_LEN, good, LEN);
		}
		if (fm_iotlb_update_mapped(&D.d.m, &D.io, R, K * STRIDE) != FM_OK)
			break;
		for (k = 0; k < K; k++) {
			struct fm_seg s = { R + (uint64_t)k * STRIDE,
				FM_NET_HDR_LEN + LEN, false };

			if (fm_vring_add_chain(tx, &s, 1) < 0)
				break;
		}
		freeze_in_burst(&r, th, tx, (uint16_t)(tx->last_used + K), &seed);
		if (invalidate_busy(&D, R, K * STRIDE) != FM_OK)
			break;
		/* The reply promises no more access: a burst that still
		 * runs would publish chains after it, or copy what we write
		 * now. */
		at_reply = __atomic_load_n(&tx->used->idx, __ATOMIC_ACQUIRE);
		scribble(area, K * STRIDE);
		if (published_after(tx, at_reply))
			progressed++;
		/* Give the buffers back their packets, then the mapping. */
		for (k = 0; k < K; k++) {
			memcpy(area + k * STRIDE, zero, FM_NET_HDR_LEN);
			memcpy(area + k * STRIDE + FM_NET_HDR_LEN, good, LEN);
		}
		if (fm_iotlb_update_mapped(&D.d.m, &D.io, R, K * STRIDE) != FM_OK)
			break;
		if (!wait_used(&D, FE_TXQ, K, FE_EVENT_MS))
			break;
		while (fm_vring_pop_used(tx, &e, NULL))
			;
		/* The racer hands its packets over right after its burst. */
		for (k = 0; k < 1000 && atomic_load(&r.nstash) < K; k++)
			usleep(100);
		for (k = 0; k < (int)atomic_load(&r.nstash); k++) {
			int l = fe_mbuf_copy_out(r.stash[k], got, sizeof(got));

			if (l > 0 && memchr(got, SCRIBBLE, (size_t)l) != NULL)
				scribbled++;
			else if (l != LEN || memcmp(got, good, LEN) != 0)
				wrong++;
			rte_pktmbuf_free(r.stash[k]);
		}
		delivered += (int)atomic_load(&r.nstash);
		atomic_store(&r.nstash, 0);
		iterations++;
	}
	race_stop(&r, th);
	for (k = 0; k < (int)atomic_load(&r.nstash); k++)
		rte_pktmbuf_free(r.stash[k]);
	printf("    FE: %d rounds, %d packets, %d scribbled, %d other, %d published after the reply\n",
			iterations, delivered, scribbled, wrong, progressed);
	CU_ASSERT(iterations >= 10);
	CU_ASSERT_EQUAL(scribbled, 0);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(progressed, 0);
	CU_ASSERT_EQUAL(atomic_load(&r.overflow), 0);
	CU_ASSERT_EQUAL(delivered, K * iterations);
}

/*
 * RX: the same with a thread enqueueing. After the reply the frontend
 * scribbles over the buffers: nothing may be written there, nor any
 * chain completed, until the next update.
 */
void
test_invalidate_concurrent_rx(void)
{
	enum { K = 8, LEN = 60000, BUF = 65536 };
	static uint8_t good[LEN], got[BUF];
	const uint64_t S = IOVA_TEST(11);
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct racer r;
	struct fm_vring *rx;
	pthread_t th;
	unsigned int seed = 777;
	uint8_t *area;
	int64_t start;
	int iterations = 0, progressed = 0, written = 0, wrong = 0, k;
	uint16_t before;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	rx = &D.d.m.vr[FE_RXQ];
	area = guest_map(S, K * BUF / FM_IOMMU_PAGE, VHOST_ACCESS_RW);
	packet_no_ee(good, LEN, 92);
	memset(&r, 0, sizeof(r));
	r.proto = fe_mbuf_make(good, LEN, 0);
	CU_ASSERT_FATAL(r.proto != NULL);
	race_start(&r, &th, false);

	start = fm_now_ms();
	while (fe_more_rounds(start, 1000, iterations, 10)) {
		uint16_t at_reply;

		if (fm_iotlb_update_mapped(&D.d.m, &D.io, S, K * BUF) != FM_OK)
			break;
		for (k = 0; k < K; k++)
			if (post_rx(&D, S + (uint64_t)BUF * k, BUF) < 0)
				break;
		freeze_in_burst(&r, th, rx, (uint16_t)(rx->last_used + K), &seed);
		if (invalidate_busy(&D, S, K * BUF) != FM_OK)
			break;
		at_reply = __atomic_load_n(&rx->used->idx, __ATOMIC_ACQUIRE);
		memset(area, SCRIBBLE, K * BUF);
		if (published_after(rx, at_reply))
			progressed++;
		if (!fe_all_bytes(area, SCRIBBLE, K * BUF))
			written++;
		if (fm_iotlb_update_mapped(&D.d.m, &D.io, S, K * BUF) != FM_OK)
			break;
		/* The buffers not used before the reply get the packets
		 * held meanwhile, or later ones. */
		if (!wait_used(&D, FE_RXQ, K, FE_EVENT_MS))
			break;
		before = (uint16_t)(at_reply - rx->last_used);
		for (k = 0; k < K; k++) {
			struct vring_used_elem e;
			int nbufs, n;

			/* Scribbled over by us after the reply: skip. */
			if (k < before) {
				fm_vring_pop_used(rx, &e, NULL);
				continue;
			}
			n = fm_iommu_net_recv(rx, &D.io, true, &hdr, got,
					sizeof(got), &nbufs);
			if (n != LEN || memcmp(got, good, LEN) != 0)
				wrong++;
		}
		iterations++;
	}
	race_stop(&r, th);
	rte_pktmbuf_free(r.proto);
	printf("    FE: %d rounds, %u packets, %d published and %d written after the reply, %d wrong\n",
			iterations, atomic_load(&r.delivered), progressed,
			written, wrong);
	CU_ASSERT(iterations >= 10);
	CU_ASSERT_EQUAL(progressed, 0);
	CU_ASSERT_EQUAL(written, 0);
	CU_ASSERT_EQUAL(wrong, 0);
}
