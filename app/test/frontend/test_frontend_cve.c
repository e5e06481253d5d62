/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One regression test per CVE class of DPDK's vhost library, driven
 * through a real vhost-user socket. Each test sends the kind of input the
 * CVE was about and asserts:
 *  1. the input is refused the way this library refuses it (an error
 *     reply, a closed connection, or a chain returned unused and its
 *     packet dropped), or, where the input is legal, handled correctly;
 *  2. the library logged a line naming the problem (its log is captured
 *     here while the suite runs);
 *  3. no fd, mapping, heap memory or mbuf was leaked;
 *  4. the offending device still works (or was cleanly closed) and a
 *     second device on another socket (the witness, fe_victim.h) keeps
 *     passing traffic.
 * doc/threat-model.md lists the CVEs, the defences and these tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_ip.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "fe_log.h"
#include "fe_victim.h"
#include "fm_iommu.h"
#include "test_memfd.h"

/* Requests and protocol features the scripted frontend has no name for. */
#define REQ_SET_INFLIGHT_FD 32u
#define PF_INFLIGHT_SHMFD 12

/* How often a message is repeated to expose a per-message leak. */
#define REPEAT 200
/* Heap growth tolerated over a whole repetition (5 KiB seen): below what
 * one leaked memory table (464 bytes) per message costs over 100. */
#define HEAP_SLACK (16u * 1024)
/* Datapath errors are logged at most every 250 ms per call site. */
#define RATELIMIT_GAP_US (300 * 1000)

/* Registered with IOMMU support, which offers BACKEND_REQ. */
static struct fe_backend *iommu_backend;

/* Lets the datapath's log rate limit expire before the next error. */
static void
ratelimit_gap(void)
{
	usleep(RATELIMIT_GAP_US);
}

/* --- resources the process holds --- */

struct res {
	int fds;
	int maps;
	size_t heap;
	size_t rte_heap;
};

static size_t
rte_heap_bytes(void)
{
	struct rte_malloc_socket_stats st;
	size_t total = 0;
	int s;

	for (s = 0; s < RTE_MAX_NUMA_NODES; s++)
		if (rte_malloc_get_socket_stats(s, &st) == 0)
			total += st.heap_allocsz_bytes;
	return total;
}

static void
res_take(struct res *r)
{
	r->fds = test_count_fds();
	r->maps = test_count_maps(NULL);
	r->heap = mallinfo2().uordblks;
	r->rte_heap = rte_heap_bytes();
}

/* Nothing grew since a (a few transient mappings tolerated). */
static bool
res_steady(const struct res *a, const char *what)
{
	struct res now, *b = &now;
	bool ok = true;

	res_take(b);

	if (b->fds != a->fds)
		ok = fe_fail("%s: %d fds before, %d after", what, a->fds,
				b->fds);
	if (b->maps > a->maps + 2)
		ok = fe_fail("%s: %d mappings before, %d after", what,
				a->maps, b->maps);
	if (b->heap > a->heap + HEAP_SLACK)
		ok = fe_fail("%s: heap grew by %zu bytes", what,
				b->heap - a->heap);
	if (b->rte_heap > a->rte_heap + HEAP_SLACK)
		ok = fe_fail("%s: rte_malloc heap grew by %zu bytes", what,
				b->rte_heap - a->rte_heap);
	return ok;
}

/* The victim's RX queue takes pkt[0..len) at once. */
static void
enqueue_one(const uint8_t *pkt, uint32_t len)
{
	struct rte_mbuf *m = fe_mbuf_make(pkt, len, 0);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(fe_victim.vid, FE_RXQ, &m, 1),
			1);
	rte_pktmbuf_free(m);
}

/* A memfd that can be sealed: see memfd_unmapped(). */
static int
sealable_memfd(uint64_t size)
{
	return test_memfd("cve", size, MFD_ALLOW_SEALING);
}

/* F_SEAL_WRITE fails while anyone holds a writable shared mapping of
 * the file: true if the backend kept none. Seals fd for good. */
static bool
memfd_unmapped(int fd, const char *what)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0)
		return true;
	return fe_fail("%s: the backend still maps the file (%s)", what,
			strerror(errno));
}

/* --- requests --- */

/* Replies that carried fds in the current case. */
static int replies_with_fds;

/*
 * Sends a request with NEED_REPLY and reads the answer: FM_NACK (an
 * error reply), FM_OK (an ack of 0 or a reply of its own), FM_CLOSED,
 * FM_TIMEOUT or FM_BADREPLY. Fds in the reply are closed and reported.
 */
static int
send_request(const char *what, uint32_t req, const void *payload,
		uint32_t size, const int *fds, int nfds)
{
	static struct fm_msg msg;
	uint64_t v = 0;
	int r;

	r = fm_send(VM->sock, req, FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, size,
			payload, size, fds, nfds);
	if (r < 0)
		return FM_CLOSED;
	r = fm_recv(VM->sock, &msg, FM_REPLY_TIMEOUT_MS);
	if (r == 0)
		return FM_CLOSED;
	if (r < 0)
		return r == -ETIMEDOUT ? FM_TIMEOUT : FM_BADREPLY;
	if (msg.nfds > 0) {
		/* Once per case is enough to tell. */
		if (replies_with_fds++ == 0)
			fe_fail("%s: the reply carried %d fds", what,
					msg.nfds);
		fm_msg_close_fds(&msg);
	}
	if (msg.request != req || !(msg.flags & FM_FLAG_REPLY))
		return FM_BADREPLY;
	if (msg.size == sizeof(v))
		memcpy(&v, msg.payload, sizeof(v));
	return msg.size == sizeof(v) && v != 0 ? FM_NACK : FM_OK;
}

/* This library answers every refused request that asked for it with an
 * error reply (REPLY_ACK is negotiated) and keeps the connection. */
static bool
expect_nack(const char *what, uint32_t req, const void *payload,
		uint32_t size, const int *fds, int nfds)
{
	int r = send_request(what, req, payload, size, fds, nfds);

	if (r != FM_NACK)
		return fe_fail("%s: %s, want an error reply", what,
				fm_result_name(r));
	return true;
}

/*
 * The same request without NEED_REPLY: a refusal nobody asked an answer
 * for closes the connection (and stops the device).
 */
static bool
expect_closed(const char *what, uint32_t req, const void *payload,
		uint32_t size, const int *fds, int nfds)
{
	int destroyed = atomic_load(&fe_target->ev.destroy_device);

	if (fm_send(VM->sock, req, FM_FLAG_VERSION, size, payload, size, fds,
			nfds) < 0)
		return fe_fail("%s: cannot send", what);
	if (!fm_wait_closed(VM->sock, FE_EVENT_MS))
		return fe_fail("%s: the connection stays open", what);
	if (fe_victim.vid >= 0 && !fe_wait_at_least(
			&fe_target->ev.destroy_device, destroyed + 1, FE_EVENT_MS))
		return fe_fail("%s: no destroy_device", what);
	/* Already destroyed: closing must not wait for it again. */
	fe_victim.vid = -1;
	return true;
}

/* The victim still answers and passes traffic. */
static bool
victim_works(const char *what)
{
	uint64_t f;
	int r = fm_get_u64(VM, FM_REQ_GET_FEATURES, &f);

	if (r != FM_OK)
		return fe_fail("%s: victim control plane: %s", what,
				fm_result_name(r));
	if (fe_victim.vid >= 0 && !fe_traffic_ok(&fe_victim))
		return fe_fail("%s: victim traffic failed", what);
	return true;
}

/* --- one case: a victim connection, then the checks of fe_victim.h --- */

static unsigned int case_mbufs;

static bool
case_open(enum fe_level lvl)
{
	replies_with_fds = 0;
	case_mbufs = rte_mempool_avail_count(fe_pool);
	return fe_victim_open(lvl);
}

/* As case_open, on any backend and with any configuration. */
static bool
case_open_cfg(struct fe_backend *b, const struct fm_config *cfg)
{
	replies_with_fds = 0;
	case_mbufs = rte_mempool_avail_count(fe_pool);
	fe_case_begin();
	memset(&fe_victim, 0, sizeof(fe_victim));
	return fe_dev_open(&fe_victim, b, cfg) == 0;
}

/* A running victim that negotiated VIRTIO_NET_F_CSUM: only then may a
 * guest leave a checksum to the device. */
static bool
case_open_csum(void)
{
	struct fm_config cfg;

	fm_config_default(&cfg);
	cfg.features |= FM_BIT(VIRTIO_NET_F_CSUM);
	return case_open_cfg(fe_target, &cfg);
}

/* Closes the victim: no fd or mbuf stays, the witness still works. */
static void
case_close(const char *name)
{
	unsigned int mbufs;

	fe_dev_close(&fe_victim, true);
	fe_check_case_fds(name);
	CU_ASSERT(fe_witness_ok(name));
	mbufs = rte_mempool_avail_count(fe_pool);
	if (mbufs != case_mbufs)
		fe_fail("%s: %u mbufs in the pool, %u before", name, mbufs,
				case_mbufs);
	CU_ASSERT_EQUAL(mbufs, case_mbufs);
}

/* --- guest-side helpers --- */

static struct fm_vring *
rxq(void)
{
	return &VM->vr[FE_RXQ];
}

static struct fm_vring *
txq(void)
{
	return &VM->vr[FE_TXQ];
}

/* Copies between frontend memory and [gpa, gpa + len), which may span
 * regions that are contiguous in guest-physical space. */
static bool
gpa_copy(const struct fm_mem *mem, uint64_t gpa, void *buf, uint32_t len,
		bool to_guest)
{
	uint32_t done = 0;

	while (done < len) {
		uint64_t a = gpa + done;
		uint32_t n = 0;
		uint8_t *p = NULL;
		int i;

		for (i = 0; i < mem->nregions && p == NULL; i++) {
			const struct fm_region *r = &mem->r[i];

			if (a >= r->gpa && a - r->gpa < r->size) {
				p = r->base + (a - r->gpa);
				n = (uint32_t)RTE_MIN((uint64_t)(len - done),
						r->size - (a - r->gpa));
			}
		}
		if (p == NULL)
			return false;
		if (to_guest)
			memcpy(p, (uint8_t *)buf + done, n);
		else
			memcpy((uint8_t *)buf + done, p, n);
		done += n;
	}
	return true;
}

/* An IPv4/UDP frame of len bytes (at least 42) with a pattern payload. */
static void
udp_frame(uint8_t *p, uint32_t len, uint32_t seed)
{
	static const uint8_t ip_udp[] = {
		0x08, 0x00,                         /* ethertype IPv4 */
		0x45, 0x00, 0x00, 0x00,             /* v4, ihl 5, total len */
		0x00, 0x00, 0x00, 0x00,             /* id, no fragment */
		0x40, 0x11, 0x00, 0x00,             /* ttl 64, UDP, csum */
		10, 0, 0, 1, 10, 0, 0, 2,           /* addresses */
		0x04, 0xd2, 0x16, 0x2e,             /* ports 1234 -> 5678 */
		0x00, 0x00, 0x00, 0x00,             /* length, checksum */
	};

	fe_packet(p, len, seed);
	memcpy(p + 12, ip_udp, sizeof(ip_udp));
	p[16] = (uint8_t)((len - 14) >> 8);
	p[17] = (uint8_t)(len - 14);
	p[38] = (uint8_t)((len - 34) >> 8);
	p[39] = (uint8_t)(len - 34);
}

/*
 * Posts bytes[0..len) as one device-readable chain cut into pieces of
 * cuts[0], cuts[1]... bytes (the last takes what is left). Each piece is
 * a separate allocation followed by 64 bytes of 0xee: a backend reading
 * past a piece takes those bytes. Returns the head or -errno.
 */
static int
post_tx_pieces(const uint8_t *bytes, uint32_t len, const uint32_t *cuts,
		int ncuts)
{
	struct fm_seg segs[FM_MAX_CHAIN];
	uint32_t off = 0;
	int n = 0;

	while (off < len && n < FM_MAX_CHAIN) {
		uint32_t l = n < ncuts ? RTE_MIN(cuts[n], len - off) :
			len - off;
		uint8_t *p = fm_mem_alloc(&VM->mem, 0, l + 64, 64);

		if (p == NULL)
			return -ENOSPC;
		memcpy(p, bytes + off, l);
		memset(p + l, 0xee, 64);
		segs[n++] = (struct fm_seg){ fm_ptr_gpa(&VM->mem, p), l, false };
		off += l;
	}
	return fm_vring_add_chain(txq(), segs, n);
}

/* Header then frame, as the guest lays them out. */
static uint32_t
with_header(uint8_t *out, const struct virtio_net_hdr *h, const uint8_t *pkt,
		uint32_t len)
{
	struct virtio_net_hdr_mrg_rxbuf full;

	memset(&full, 0, sizeof(full));
	full.hdr = *h;
	memcpy(out, &full, FM_NET_HDR_LEN);
	memcpy(out + FM_NET_HDR_LEN, pkt, len);
	return FM_NET_HDR_LEN + len;
}

/*
 * Dequeues exactly one packet equal to want[0..len) (it may stay in
 * *out for the caller to look at, else it is freed).
 */
static bool
dequeue_one(const char *what, const uint8_t *want, uint32_t len,
		struct rte_mbuf **out)
{
	static uint8_t got[8192];
	struct rte_mbuf *mb[4];
	bool ok = true;
	int n, i;

	fm_vring_kick(txq());
	n = fe_dequeue_wait(fe_victim.vid, mb, 1, 4, 1000);
	/* Whatever else is in the ring would come now. */
	if (n == 1)
		n += fe_dequeue_wait(fe_victim.vid, mb + 1, 1, 3, 50);
	if (n != 1)
		ok = fe_fail("%s: dequeued %d packets, want 1", what, n);
	else if (fe_mbuf_copy_out(mb[0], got, sizeof(got)) != (int)len ||
			memcmp(got, want, len) != 0)
		ok = fe_fail("%s: the packet dequeued (%u bytes) is not the "
				"one sent (%u bytes)", what,
				rte_pktmbuf_pkt_len(mb[0]), len);
	for (i = 0; i < n; i++) {
		if (i == 0 && ok && out != NULL)
			*out = mb[0];
		else
			rte_pktmbuf_free(mb[i]);
	}
	return ok;
}

/*
 * Guest -> host: the chain at bad_head (already posted) must be returned
 * unused and yield no packet, while a good packet posted after it
 * passes; a log line matching pattern must name the problem.
 */
static void
tx_refused(const char *what, int bad_head, size_t mark, const char *pattern)
{
	static uint8_t good[200];
	struct vring_used_elem e;
	int head;

	fe_packet(good, sizeof(good), 99);
	head = fm_net_post_tx(txq(), &VM->mem, 0, good, sizeof(good),
			FM_TX_ONE_DESC, 0);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT(dequeue_one(what, good, sizeof(good), NULL));
	CU_ASSERT(fe_pop_refused_and_good(txq(), bad_head, head, &e, NULL,
			what));
	CU_ASSERT(fe_log_expect(mark, what, pattern));
}

/* The pattern of the walker's log line for a refused chain. */
static const char *
bad_chain_pattern(char *buf, size_t len, int vring, int head)
{
	snprintf(buf, len, "vring %d: invalid descriptor chain at head %d",
			vring, head);
	return buf;
}

/* --- CVE-2018-1059: unchecked lengths in address translation --- */

/*
 * DPDK translated a guest address without checking that the whole
 * buffer was mapped and contiguous: a descriptor running past the end
 * of a region exposed whatever the backend had mapped after it.
 * Here: vhost_translate() clips each piece at the region end and the
 * walker (desc_chain.c) refuses a chain whose rest is in no region;
 * regions contiguous in guest memory but not in ours are copied piece
 * by piece; and an IOTLB entry may not point past guest memory
 * (vhost_user_iotlb.c, iotlb_update()).
 */
static void
test_cve_2018_1059(void)
{
	static const char *const name = "CVE-2018-1059";
	static uint8_t pkt[1500], got[FM_NET_HDR_LEN + 1500];
	char pat[128];
	struct fm_config cfg;
	struct vring_used_elem e;
	struct fm_chain c;
	struct fe_canary can[1];
	const struct fm_region *hi;
	regex_t re;
	uint64_t end0, at;
	size_t mark;
	uint8_t *tail, *page;
	int bad, good, i, r;

	/* Guest -> host: a buffer from region 0's last 64 bytes into the
	 * hole after it. */
	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	end0 = VM->mem.r[0].gpa + VM->mem.r[0].size;
	ratelimit_gap();
	mark = fe_log_mark();
	bad = fm_vring_add_chain(txq(), &(struct fm_seg){ end0 - 64, 4096,
			false }, 1);
	CU_ASSERT_FATAL(bad >= 0);
	tx_refused("TX buffer past the region end", bad, mark,
			bad_chain_pattern(pat, sizeof(pat), FE_TXQ, bad));

	/* Host -> guest: the same buffer offered for receiving. Not even
	 * its part inside the region may be written. */
	ratelimit_gap();
	mark = fe_log_mark();
	tail = fm_gpa_ptr(&VM->mem, end0 - 64, 64);
	CU_ASSERT_FATAL(tail != NULL);
	memset(tail, FM_NET_POISON, 64);
	can[0] = (struct fe_canary){ tail, 64 };
	bad = fm_vring_add_chain(rxq(), &(struct fm_seg){ end0 - 64, 4096,
			true }, 1);
	good = fm_net_post_rx(rxq(), &VM->mem, 0, 2048, 1, false);
	CU_ASSERT_FATAL(bad >= 0 && good >= 0);
	fe_packet(pkt, 200, 5);
	enqueue_one(pkt, 200);
	CU_ASSERT(fe_canaries_intact(can, 1));
	if (fe_pop_refused_and_good(rxq(), bad, good, &e, &c,
			"RX buffer past the region end")) {
		CU_ASSERT_EQUAL(e.len, FM_NET_HDR_LEN + 200);
		CU_ASSERT(fm_net_read_chain(&VM->mem, &c, FM_NET_HDR_LEN + 200,
				got) == (int)(FM_NET_HDR_LEN + 200) &&
				memcmp(got + FM_NET_HDR_LEN, pkt, 200) == 0);
	} else {
		CU_FAIL("RX buffer past the region end");
	}
	CU_ASSERT(fe_log_expect(mark, "RX buffer past the region end",
			bad_chain_pattern(pat, sizeof(pat), FE_RXQ, bad)));
	CU_ASSERT(victim_works(name));
	case_close(name);

	/* Two regions back to back in guest memory, apart in ours: a
	 * buffer across the boundary is legal and must be read and
	 * written piece by piece, each from its own mapping. */
	fm_config_default(&cfg);
	cfg.regions[1].gpa = cfg.regions[0].gpa + cfg.regions[0].size;
	CU_ASSERT_FATAL(case_open_cfg(fe_target, &cfg));
	end0 = VM->mem.r[0].gpa + VM->mem.r[0].size;
	mark = fe_log_mark();
	at = end0 - 700;
	memset(got, 0, FM_NET_HDR_LEN);
	fe_packet(pkt, sizeof(pkt), 6);
	memcpy(got + FM_NET_HDR_LEN, pkt, sizeof(pkt));
	CU_ASSERT_FATAL(gpa_copy(&VM->mem, at, got, sizeof(got), true));
	good = fm_vring_add_chain(txq(), &(struct fm_seg){ at,
			(uint32_t)sizeof(got), false }, 1);
	CU_ASSERT_FATAL(good >= 0);
	CU_ASSERT(dequeue_one("TX buffer across contiguous regions", pkt,
			sizeof(pkt), NULL));
	CU_ASSERT(fm_vring_pop_used(txq(), &e, NULL) &&
			e.id == (uint32_t)good);

	at = end0 - 500;
	memset(got, FM_NET_POISON, sizeof(got));
	CU_ASSERT_FATAL(gpa_copy(&VM->mem, at, got, sizeof(got), true));
	good = fm_vring_add_chain(rxq(), &(struct fm_seg){ at,
			(uint32_t)sizeof(got), true }, 1);
	CU_ASSERT_FATAL(good >= 0);
	fe_packet(pkt, sizeof(pkt), 7);
	enqueue_one(pkt, sizeof(pkt));
	CU_ASSERT(fm_vring_pop_used(rxq(), &e, NULL) &&
			e.id == (uint32_t)good && e.len == sizeof(got));
	CU_ASSERT(gpa_copy(&VM->mem, at, got, sizeof(got), false) &&
			memcmp(got + FM_NET_HDR_LEN, pkt, sizeof(pkt)) == 0);
	/* Nothing about these two was worth a complaint. */
	CU_ASSERT_FATAL(regcomp(&re, "invalid descriptor chain",
			REG_EXTENDED | REG_NOSUB) == 0);
	CU_ASSERT(!fe_log_has(mark, &re));
	regfree(&re);
	CU_ASSERT(victim_works(name));
	case_close(name);

	/* With a vIOMMU: an IOTLB entry whose user address range runs past
	 * the end of guest memory is refused when it arrives. */
	fm_config_default(&cfg);
	fe_case_begin();
	case_mbufs = rte_mempool_avail_count(fe_pool);
	memset(&fe_victim, 0, sizeof(fe_victim));
	fe_victim.b = NULL; /* no device is made: nothing to wait for */
	fe_victim.vid = -1;
	CU_ASSERT_FATAL(fm_frontend_connect(VM, iommu_backend->path) == 0);
	CU_ASSERT_FATAL(fm_iommu_negotiate(VM, cfg.features, cfg.protocol) ==
			FM_OK);
	for (i = 0; i < cfg.nregions; i++)
		CU_ASSERT_FATAL(fm_mem_add_region(&VM->mem, cfg.regions[i].gpa,
				cfg.regions[i].size,
				cfg.regions[i].mmap_offset) >= 0);
	CU_ASSERT_FATAL(fm_set_mem_table(VM, &VM->mem) == FM_OK);
	/* The region highest in our address space: nothing of the guest's
	 * follows it. */
	hi = &VM->mem.r[0];
	for (i = 1; i < VM->mem.nregions; i++)
		if (VM->mem.r[i].base > hi->base)
			hi = &VM->mem.r[i];
	page = hi->base + hi->size - FM_IOMMU_PAGE;
	mark = fe_log_mark();
	r = fm_iotlb_update(VM, 0xd0000000ull, 2 * FM_IOMMU_PAGE,
			fm_ptr_uaddr(page), VHOST_ACCESS_RO);
	if (r != FM_NACK)
		fe_fail("IOTLB entry past guest memory: %s", fm_result_name(r));
	CU_ASSERT_EQUAL(r, FM_NACK);
	snprintf(pat, sizeof(pat), "IOTLB update refused: iova 0xd0000000 "
			"size 0x2000");
	CU_ASSERT(fe_log_expect(mark, "IOTLB entry past guest memory", pat));
	/* The same page alone is fine. */
	CU_ASSERT_EQUAL(fm_iotlb_update(VM, 0xd0000000ull, FM_IOMMU_PAGE,
			fm_ptr_uaddr(page), VHOST_ACCESS_RO), FM_OK);
	CU_ASSERT(victim_works(name));
	case_close(name);
}

/* --- CVE-2019-14818: fds and memory of repeated or refused messages --- */

/* A memory table of the victim's first region only, for fd cases. */
static uint32_t
one_region_table(struct fm_wire_memory *w)
{
	int fds[FM_MAX_REGIONS];

	fm_mem_wire(&VM->mem, w, fds);
	w->nregions = 1;
	return 8 + (uint32_t)sizeof(w->regions[0]);
}

/* Refused requests that carry fds they must not: each must be closed. */
struct fd_case {
	const char *name;
	uint32_t req;
	int nfds;
	const char *log;
};

/* Log patterns: this library's wording, then DPDK 22.11's, so that a
 * run against Debian's library compares behaviour, not wording. */
static const struct fd_case fd_cases[] = {
	{ "GET_FEATURES with an fd", FM_REQ_GET_FEATURES, 1,
		"GET_FEATURES: carried 1 fds, expected 0|"
		"expect 0 FDs for request VHOST_USER_GET_FEATURES, received 1" },
	{ "SET_OWNER with 8 fds", FM_REQ_SET_OWNER, 8,
		"SET_OWNER: carried 8 fds, expected 0|"
		"expect 0 FDs for request VHOST_USER_SET_OWNER, received 8" },
	{ "SET_VRING_NUM with an fd", FM_REQ_SET_VRING_NUM, 1,
		"SET_VRING_NUM: carried 1 fds, expected 0|"
		"expect 0 FDs for request VHOST_USER_SET_VRING_NUM, received 1" },
	{ "SET_VRING_CALL with 2 fds", FM_REQ_SET_VRING_CALL, 2,
		"SET_VRING_CALL: carried 2 fds, expected 1|"
		"expect 1 FDs for request VHOST_USER_SET_VRING_CALL, received 2" },
	{ "SET_VRING_KICK with NOFD and an fd", FM_REQ_SET_VRING_KICK, 1,
		"SET_VRING_KICK: carried 1 fds, expected 0|"
		"expect 0 FDs for request VHOST_USER_SET_VRING_KICK, received 1" },
	{ "SET_MEM_TABLE with 3 fds for 1 region", FM_REQ_SET_MEM_TABLE, 3,
		"SET_MEM_TABLE: carried 3 fds, expected 1|"
		"expect 1 FDs for request VHOST_USER_SET_MEM_TABLE, received 3" },
	{ "SET_LOG_BASE with 2 fds", FM_REQ_SET_LOG_BASE, 2,
		"SET_LOG_BASE: carried 2 fds, expected 1|"
		"expect 1 FDs for request VHOST_USER_SET_LOG_BASE, received 2" },
	{ "unknown request 99 with an fd", 99, 1,
		"unsupported request 99|vhost message \\(req: 99\\) was not "
		"handled" },
};

static int
send_fd_case(const struct fd_case *fc)
{
	struct vhost_vring_state st = { 0, 256 };
	uint64_t u64 = 0, log[2] = { 4096, 0 };
	struct fm_wire_memory w;
	const void *p = &u64;
	uint32_t size = 8;
	int fds[FM_MAX_FDS], k, r;

	switch (fc->req) {
	case FM_REQ_GET_FEATURES:
	case FM_REQ_SET_OWNER:
		p = NULL;
		size = 0;
		break;
	case FM_REQ_SET_VRING_NUM:
		p = &st;
		size = sizeof(st);
		break;
	case FM_REQ_SET_VRING_KICK:
		u64 = FM_VRING_NOFD;
		break;
	case FM_REQ_SET_MEM_TABLE:
		size = one_region_table(&w);
		p = &w;
		break;
	case FM_REQ_SET_LOG_BASE:
		p = log;
		size = sizeof(log);
		break;
	default:
		break;
	}
	for (k = 0; k < fc->nfds; k++)
		fds[k] = fc->req == FM_REQ_SET_MEM_TABLE ||
			fc->req == FM_REQ_SET_LOG_BASE ?
			fe_make_fd(FE_FD_MEM) : fe_make_fd(FE_FD_EVENT);
	r = send_request(fc->name, fc->req, p, size, fds, fc->nfds);
	for (k = 0; k < fc->nfds; k++)
		close(fds[k]);
	if (r != FM_NACK)
		fe_fail("%s: %s, want an error reply", fc->name,
				fm_result_name(r));
	return r;
}

/* Valid requests that replace what an earlier one set up. */
static bool
send_replacements(void)
{
	uint64_t log[2] = { 4096, 0 };
	int q, fd, r = FM_OK;

	r = fm_set_mem_table(VM, &VM->mem);
	for (q = 0; q < 2 && r == FM_OK; q++) {
		r = fm_set_vring_fd(VM, FM_REQ_SET_VRING_CALL, (uint32_t)q,
				VM->vr[q].call_fd);
		if (r == FM_OK)
			r = fm_set_vring_fd(VM, FM_REQ_SET_VRING_KICK,
					(uint32_t)q, VM->vr[q].kick_fd);
	}
	if (r == FM_OK) {
		fd = eventfd(0, EFD_CLOEXEC);
		r = fm_set_vring_fd(VM, FM_REQ_SET_VRING_ERR, 0, fd);
		close(fd);
	}
	if (r == FM_OK) {
		fd = fe_make_fd(FE_FD_MEM);
		/* With LOG_SHMFD the reply is a message of its own. */
		r = fm_request(VM, FM_REQ_SET_LOG_BASE, log, sizeof(log), &fd, 1,
				NULL);
		close(fd);
	}
	if (r == FM_OK) {
		fd = eventfd(0, EFD_CLOEXEC);
		r = fm_request(VM, FM_REQ_SET_LOG_FD, NULL, 0, &fd, 1, NULL);
		close(fd);
	}
	if (r != FM_OK)
		return fe_fail("replacing requests: %s", fm_result_name(r));
	return true;
}

/*
 * DPDK leaked memory on repeated SET_VRING_NUM and left open the fds of
 * messages it refused, so a frontend could exhaust the backend's memory
 * or fd table. Here the dispatcher (vhost_user.c) closes every fd no
 * handler took, handlers replace (and close or unmap) what they had,
 * and SET_VRING_NUM reallocates its one array.
 */
static void
test_cve_2019_14818(void)
{
	static const char *const name = "CVE-2019-14818";
	static const uint32_t sizes[] = { 256, 1024, 32768, 64 };
	struct fm_config cfg;
	struct res a;
	size_t mark;
	int q, round, sv[2], old = -1, destroyed, bad, r = FM_OK;
	size_t k;
	bool ok;

	/* SET_VRING_NUM again and again, with every ring size. */
	CU_ASSERT_FATAL(case_open(FE_MEMORY));
	res_take(&a); /* in case the first round fails */
	for (round = 0; round <= REPEAT; round++) {
		ok = true;
		for (q = 0; q < 2; q++)
			for (k = 0; k < RTE_DIM(sizes); k++)
				ok &= fm_set_state(VM, FM_REQ_SET_VRING_NUM,
						(uint32_t)q, sizes[k]) == FM_OK;
		if (!ok) {
			CU_FAIL("SET_VRING_NUM refused");
			break;
		}
		if (round == 0)
			res_take(&a); /* after one round: steady state */
	}
	CU_ASSERT(res_steady(&a, "repeated SET_VRING_NUM"));
	CU_ASSERT(fe_victim_recovers("after repeated SET_VRING_NUM", false));
	case_close(name);

	/* Requests carrying fds they do not take, on a running device:
	 * counted while the connection is still open. */
	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	mark = fe_log_mark();
	res_take(&a);
	for (round = 0, bad = 0; round <= REPEAT / 2 && r != FM_CLOSED;
			round++) {
		for (k = 0; k < RTE_DIM(fd_cases) && r != FM_CLOSED; k++) {
			r = send_fd_case(&fd_cases[k]);
			bad += r != FM_NACK;
		}
		if (round == 0) {
			for (k = 0; k < RTE_DIM(fd_cases); k++)
				CU_ASSERT(fe_log_expect(mark, fd_cases[k].name,
						fd_cases[k].log));
			res_take(&a);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(res_steady(&a, "refused requests with fds"));
	CU_ASSERT(victim_works(name));
	case_close(name);

	/* Valid requests replacing tables, eventfds and the log area. */
	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	destroyed = atomic_load(&fe_target->ev.destroy_device);
	res_take(&a);
	for (round = 0; round <= REPEAT / 2; round++) {
		if (!send_replacements()) {
			CU_FAIL("a replacing request was refused");
			break;
		}
		if (round == 0)
			res_take(&a);
	}
	CU_ASSERT(res_steady(&a, "replacing requests"));
	CU_ASSERT_EQUAL(atomic_load(&fe_target->ev.destroy_device), destroyed);
	CU_ASSERT(victim_works(name));
	case_close(name);

	/* The backend request channel, replaced again and again. */
	fm_config_default(&cfg);
	cfg.protocol |= FM_BIT(FM_PF_BACKEND_REQ);
	CU_ASSERT_FATAL(case_open_cfg(iommu_backend, &cfg));
	res_take(&a);
	for (round = 0; round <= REPEAT; round++) {
		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
				0, sv) == 0);
		r = fm_request(VM, FM_REQ_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1,
				NULL);
		close(sv[1]);
		if (old >= 0)
			close(old);
		old = sv[0];
		if (r != FM_OK) {
			fe_fail("SET_BACKEND_REQ_FD: %s", fm_result_name(r));
			CU_FAIL("SET_BACKEND_REQ_FD refused");
			break;
		}
		if (round == 0)
			res_take(&a);
	}
	CU_ASSERT(res_steady(&a, "repeated SET_BACKEND_REQ_FD"));
	CU_ASSERT(victim_works(name));
	if (old >= 0)
		close(old);
	case_close(name);
}

/* --- CVE-2020-10722: SET_LOG_BASE size + offset overflow --- */

/*
 * DPDK added the log area's size and offset without checking for
 * wrap-around: a small mapping was then used as a large bitmap. Here
 * vhost_log_map() (dirty_log.c) bounds both, and checks the file holds
 * size + offset, before mapping anything.
 */
static void
test_cve_2020_10722(void)
{
	static const char *const name = "CVE-2020-10722";
	static const struct { uint64_t size, offset; } cases[] = {
		{ 0x1000, ~0ull - 0x7ff },        /* wraps to 0x800 */
		{ ~0ull - 0xfff, 0x2000 },        /* wraps to 0x1000 */
		{ 1ull << 63, 1ull << 63 },       /* wraps to 0 */
		{ ~0ull, 1 },                     /* wraps to 0 */
	};
	uint64_t payload[2], ok_log[2] = { 4096, 0 };
	char what[96], pat[192];
	size_t k, mark;
	int fd, before;

	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	for (k = 0; k < RTE_DIM(cases); k++) {
		payload[0] = cases[k].size;
		payload[1] = cases[k].offset;
		snprintf(what, sizeof(what), "SET_LOG_BASE size 0x%llx "
				"offset 0x%llx",
				(unsigned long long)cases[k].size,
				(unsigned long long)cases[k].offset);
		/* Both this library's wording and DPDK's. */
		snprintf(pat, sizeof(pat), "invalid dirty log: size 0x%llx "
				"offset 0x%llx|log offset 0x%llx and log size "
				"0x%llx overflow",
				(unsigned long long)cases[k].size,
				(unsigned long long)cases[k].offset,
				(unsigned long long)cases[k].offset,
				(unsigned long long)cases[k].size);
		fd = sealable_memfd(8192);
		CU_ASSERT_FATAL(fd >= 0);
		before = test_count_fds();
		mark = fe_log_mark();
		CU_ASSERT(expect_nack(what, FM_REQ_SET_LOG_BASE, payload,
				sizeof(payload), &fd, 1));
		CU_ASSERT(fe_log_expect(mark, what, pat));
		/* The backend's copy of the fd is closed, nothing mapped. */
		CU_ASSERT_EQUAL(test_count_fds(), before);
		CU_ASSERT(memfd_unmapped(fd, what));
		close(fd);
	}
	/* The device still logs and runs: a sane area is taken. */
	fd = sealable_memfd(4096);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(fm_request(VM, FM_REQ_SET_LOG_BASE, ok_log,
			sizeof(ok_log), &fd, 1, NULL), FM_OK);
	close(fd);
	CU_ASSERT(victim_works(name));

	/* QEMU sends SET_LOG_BASE without NEED_REPLY: then a refusal
	 * closes the connection. */
	payload[0] = cases[0].size;
	payload[1] = cases[0].offset;
	fd = sealable_memfd(8192);
	CU_ASSERT_FATAL(fd >= 0);
	mark = fe_log_mark();
	CU_ASSERT(expect_closed("SET_LOG_BASE overflow without NEED_REPLY",
			FM_REQ_SET_LOG_BASE, payload, sizeof(payload), &fd, 1));
	CU_ASSERT(fe_log_expect(mark, "SET_LOG_BASE without NEED_REPLY",
			"SET_LOG_BASE failed and no reply was requested|"
			"vhost message handling failed"));
	CU_ASSERT(memfd_unmapped(fd, "SET_LOG_BASE without NEED_REPLY"));
	close(fd);
	case_close(name);
}

/* --- CVE-2020-10723: a 32-bit vring index truncated to 16 bits --- */

/*
 * DPDK kept the u32 ring index of a request in a u16: index 0x10000
 * passed the range check as ring 0, or overflowed an array. Here the
 * dispatcher (vhost_user.c, validate_msg()) checks the whole u32 against
 * VHOST_MAX_VRINGS before any handler runs, and the file requests
 * (vhost_user_vring.c, vring_file()) refuse any bit beyond the 8-bit
 * index and the no-fd flag.
 */
static void
test_cve_2020_10723(void)
{
	static const char *const name = "CVE-2020-10723";
	static const struct {
		uint32_t req;
		const char *rname;
		uint32_t index;
		uint32_t num;
	} states[] = {
		{ FM_REQ_SET_VRING_NUM, "SET_VRING_NUM", 0x10000, 64 },
		{ FM_REQ_SET_VRING_BASE, "SET_VRING_BASE", 0x10001, 77 },
		{ FM_REQ_SET_VRING_ENABLE, "SET_VRING_ENABLE", 0x10000, 0 },
		{ FM_REQ_SET_VRING_ENABLE, "SET_VRING_ENABLE", 0xffffffffu, 0 },
		{ FM_REQ_GET_VRING_BASE, "GET_VRING_BASE", 0x10000, 0 },
		{ FM_REQ_SET_VRING_ADDR, "SET_VRING_ADDR", 0x10001, 0 },
	};
	static const struct {
		uint32_t req;
		const char *rname;
		uint64_t u64;
	} files[] = {
		{ FM_REQ_SET_VRING_KICK, "SET_VRING_KICK", 0x10000 },
		{ FM_REQ_SET_VRING_CALL, "SET_VRING_CALL", 0x10001 },
		{ FM_REQ_SET_VRING_ERR, "SET_VRING_ERR", 0x100000000ull },
	};
	struct fe_backend *t = fe_target;
	struct vhost_vring_state st;
	struct vhost_vring_addr a;
	char what[96], pat[160];
	int destroyed, changes[2], q, fd;
	size_t k, mark;
	bool open = true;

	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	destroyed = atomic_load(&t->ev.destroy_device);
	for (q = 0; q < 2; q++)
		changes[q] = atomic_load(&t->ev.vring_changes[q]);
	for (k = 0; k < RTE_DIM(states) && open; k++) {
		snprintf(what, sizeof(what), "%s index 0x%x", states[k].rname,
				states[k].index);
		snprintf(pat, sizeof(pat), "%s: vring index %u out of range|"
				"invalid vring index: %u", states[k].rname,
				states[k].index, states[k].index);
		mark = fe_log_mark();
		if (states[k].req == FM_REQ_SET_VRING_ADDR) {
			/* Addresses that would be garbage for any ring. */
			memset(&a, 0, sizeof(a));
			a.index = states[k].index;
			a.desc_user_addr = 0x10;
			a.avail_user_addr = 0x20;
			a.used_user_addr = 0x40;
			open = expect_nack(what, states[k].req, &a, sizeof(a),
					NULL, 0);
		} else {
			st.index = states[k].index;
			st.num = states[k].num;
			open = expect_nack(what, states[k].req, &st, sizeof(st),
					NULL, 0);
		}
		CU_ASSERT(open);
		CU_ASSERT(fe_log_expect(mark, what, pat));
	}
	for (k = 0; k < RTE_DIM(files) && open; k++) {
		snprintf(what, sizeof(what), "%s payload 0x%llx",
				files[k].rname,
				(unsigned long long)files[k].u64);
		snprintf(pat, sizeof(pat), "%s: invalid payload 0x%llx",
				files[k].rname,
				(unsigned long long)files[k].u64);
		mark = fe_log_mark();
		fd = eventfd(0, EFD_CLOEXEC);
		open = expect_nack(what, files[k].req, &files[k].u64, 8, &fd,
				1);
		close(fd);
		CU_ASSERT(open);
		CU_ASSERT(fe_log_expect(mark, what, pat));
	}
	/* Rings 0 and 1 were never touched: not stopped, not re-enabled,
	 * and they still carry traffic. */
	CU_ASSERT_EQUAL(atomic_load(&t->ev.destroy_device), destroyed);
	for (q = 0; q < 2; q++)
		CU_ASSERT_EQUAL(atomic_load(&t->ev.vring_changes[q]), changes[q]);
	CU_ASSERT(open && victim_works(name));

	/* Without NEED_REPLY the refusal closes the connection. */
	if (open) {
		st.index = 0x10000;
		st.num = 64;
		mark = fe_log_mark();
		CU_ASSERT(expect_closed("SET_VRING_NUM index 0x10000 without "
				"NEED_REPLY", FM_REQ_SET_VRING_NUM, &st,
				sizeof(st), NULL, 0));
		CU_ASSERT(fe_log_expect(mark, "without NEED_REPLY",
				"SET_VRING_NUM failed and no reply was "
				"requested|invalid vring index: 65536"));
	}
	case_close(name);
}

/* --- inflight requests (not implemented by this library) --- */

/* The wire layout of GET/SET_INFLIGHT_FD's payload. */
struct inflight_payload {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};

#define INFLIGHT_SIZE ((uint32_t)sizeof(struct inflight_payload))

/* Refusal lines: this library's, then DPDK 22.11's. */
#define GET_INFLIGHT_LOG "unsupported request 31 \\(GET_INFLIGHT_FD\\)|" \
	"expect 0 FDs for request VHOST_USER_GET_INFLIGHT_FD"
#define SET_INFLIGHT_LOG "unsupported request 32 \\(SET_INFLIGHT_FD\\)|" \
	"expect 1 FDs for request VHOST_USER_SET_INFLIGHT_FD|" \
	"invalid vring index"

/* The protocol feature is not offered: a frontend never sends these. */
static bool
inflight_not_offered(const char *what)
{
	if (VM->offered_protocol & FM_BIT(PF_INFLIGHT_SHMFD))
		return fe_fail("%s: INFLIGHT_SHMFD is offered (0x%llx)", what,
				(unsigned long long)VM->offered_protocol);
	return true;
}

/*
 * DPDK leaked an fd and a mapping for each GET_INFLIGHT_FD, so a
 * frontend repeating it ran the backend out of both. This library has
 * no inflight tracking: it does not offer INFLIGHT_SHMFD and refuses
 * the request in the dispatcher (vhost_user.c: no handler), with a log
 * line, an error reply and nothing allocated.
 */
static void
test_cve_2020_10726(void)
{
	static const char *const name = "CVE-2020-10726";
	struct inflight_payload p = { 0, 0, 2, 256, 0 };
	struct res a;
	size_t mark;
	int round, bad, r = FM_OK;

	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	CU_ASSERT(inflight_not_offered(name));
	mark = fe_log_mark();
	res_take(&a);
	for (round = 0, bad = 0; round <= REPEAT && r != FM_CLOSED; round++) {
		r = send_request("GET_INFLIGHT_FD", FM_REQ_GET_INFLIGHT_FD, &p,
				INFLIGHT_SIZE, NULL, 0);
		bad += r != FM_NACK;
		if (round == 0)
			res_take(&a);
	}
	if (bad != 0)
		fe_fail("GET_INFLIGHT_FD: %d of %d not refused", bad, round);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(res_steady(&a, "repeated GET_INFLIGHT_FD"));
	CU_ASSERT(fe_log_expect(mark, "GET_INFLIGHT_FD",
			GET_INFLIGHT_LOG));
	CU_ASSERT(victim_works(name));
	case_close(name);
}

/*
 * DPDK did not bound SET_INFLIGHT_FD's num_queues: the handler walked
 * that many rings past its array. Here both inflight requests are
 * refused whatever they hold (no handler in vhost_user.c), their fds are
 * closed unmapped, and INFLIGHT_SHMFD can be neither offered nor agreed.
 */
static void
test_cve_2021_3839(void)
{
	static const char *const name = "CVE-2021-3839";
	/* In growing order of harm to a backend that would serve them:
	 * each is sent only if the one before was refused. DPDK 22.11
	 * serves GET_INFLIGHT_FD without offering INFLIGHT_SHMFD, and
	 * zeroes all it allocates: 64 GiB for the last one. */
	static const struct inflight_payload gets[] = {
		{ 0, 0, 1, 0xffff, 0 },
		{ 0, 0, 0xffff, 1, 0 },
		{ 0, 0, 0xffff, 0xffff, 0 },
	};
	static const struct inflight_payload sets[] = {
		{ 4096, 0, 0xffff, 0xffff, 0 },
		{ 4096, 0, 256, 32768, 0 },
		{ 1ull << 40, 0, 256, 32768, 0 },
	};
	char what[96];
	uint64_t proto;
	size_t k, mark;
	int fd, before, bad = 0, r;
	bool go;

	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	CU_ASSERT(inflight_not_offered(name));
	mark = fe_log_mark();
	proto = VM->protocol | FM_BIT(PF_INFLIGHT_SHMFD);
	r = send_request("SET_PROTOCOL_FEATURES with INFLIGHT_SHMFD",
			FM_REQ_SET_PROTOCOL_FEATURES, &proto, 8, NULL, 0);
	bad += r != FM_NACK;
	CU_ASSERT(fe_log_expect(mark, "SET_PROTOCOL_FEATURES",
			"protocol features 0x1000 were not offered|"
			"received invalid protocol features"));

	mark = fe_log_mark();
	for (k = 0, r = FM_NACK; k < RTE_DIM(gets) && r == FM_NACK; k++) {
		snprintf(what, sizeof(what), "GET_INFLIGHT_FD %u queues of %u",
				gets[k].num_queues, gets[k].queue_size);
		r = send_request(what, FM_REQ_GET_INFLIGHT_FD, &gets[k],
				INFLIGHT_SIZE, NULL, 0);
		if (r != FM_NACK)
			fe_fail("%s: %s, want an error reply", what,
					fm_result_name(r));
		bad += r != FM_NACK;
	}
	CU_ASSERT(fe_log_expect(mark, "GET_INFLIGHT_FD", GET_INFLIGHT_LOG));

	/* The same order, the first (the CVE itself) sent on any open
	 * connection: DPDK 22.11 refuses it by closing the connection, and
	 * would write the queue headers of the second far past its 4 KiB
	 * file (SIGBUS). */
	mark = fe_log_mark();
	go = r != FM_CLOSED && r != FM_TIMEOUT;
	for (k = 0; k < RTE_DIM(sets) && go; k++) {
		snprintf(what, sizeof(what), "SET_INFLIGHT_FD %u queues of %u "
				"in 0x%llx bytes", sets[k].num_queues,
				sets[k].queue_size,
				(unsigned long long)sets[k].mmap_size);
		fd = sealable_memfd(4096);
		CU_ASSERT_FATAL(fd >= 0);
		before = test_count_fds();
		r = send_request(what, REQ_SET_INFLIGHT_FD, &sets[k],
				INFLIGHT_SIZE, &fd, 1);
		if (r != FM_NACK)
			fe_fail("%s: %s, want an error reply", what,
					fm_result_name(r));
		bad += r != FM_NACK;
		go = r == FM_NACK;
		CU_ASSERT_EQUAL(test_count_fds(), before);
		CU_ASSERT(memfd_unmapped(fd, what));
		close(fd);
	}
	CU_ASSERT(fe_log_expect(mark, "SET_INFLIGHT_FD", SET_INFLIGHT_LOG));
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(r != FM_CLOSED && victim_works(name));
	case_close(name);
}

/*
 * DPDK did not close the fds that came, unexpected, with inflight
 * requests: a frontend could fill the backend's fd table. Here the
 * dispatcher closes the fds of every refused message.
 */
static void
test_cve_2022_0669(void)
{
	static const char *const name = "CVE-2022-0669";
	static const struct { uint32_t req; int nfds; } cases[] = {
		{ FM_REQ_GET_INFLIGHT_FD, 1 },
		{ FM_REQ_GET_INFLIGHT_FD, 8 },
		{ REQ_SET_INFLIGHT_FD, 0 },
		{ REQ_SET_INFLIGHT_FD, 3 },
		{ REQ_SET_INFLIGHT_FD, 8 },
	};
	struct inflight_payload p = { 4096, 0, 2, 256, 0 };
	int fds[FM_MAX_FDS], k, round, bad = 0, r = FM_OK;
	struct res a;
	char what[64];
	size_t c, mark;

	CU_ASSERT_FATAL(case_open(FE_RUNNING));
	CU_ASSERT(inflight_not_offered(name));
	mark = fe_log_mark();
	res_take(&a);
	for (round = 0; round <= REPEAT / 2 && r != FM_CLOSED; round++) {
		for (c = 0; c < RTE_DIM(cases) && r != FM_CLOSED; c++) {
			snprintf(what, sizeof(what), "%s with %d fds",
					cases[c].req == REQ_SET_INFLIGHT_FD ?
					"SET_INFLIGHT_FD" : "GET_INFLIGHT_FD",
					cases[c].nfds);
			for (k = 0; k < cases[c].nfds; k++)
				fds[k] = k % 2 ? fe_make_fd(FE_FD_EVENT) :
					fe_make_fd(FE_FD_MEM);
			r = send_request(what, cases[c].req, &p, INFLIGHT_SIZE,
					fds, cases[c].nfds);
			for (k = 0; k < cases[c].nfds; k++)
				close(fds[k]);
			bad += r != FM_NACK;
		}
		if (round == 0)
			res_take(&a);
	}
	if (bad != 0)
		fe_fail("inflight requests with fds: %d not refused", bad);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(res_steady(&a, "inflight requests with fds"));
	CU_ASSERT(fe_log_expect(mark, "GET_INFLIGHT_FD with fds",
			GET_INFLIGHT_LOG));
	CU_ASSERT(fe_log_expect(mark, "SET_INFLIGHT_FD with fds",
			SET_INFLIGHT_LOG));
	CU_ASSERT(r != FM_CLOSED && victim_works(name));
	case_close(name);
}

/* --- CVE-2022-2132: a virtio-net header over several descriptors --- */

/* A line saying a chain cannot even hold the virtio-net header. */
#define SHORT_CHAIN_LOG \
	"(short|small|less|empty).*header|header.*(short|small|less|empty)"

/*
 * DPDK assumed the header sat in at most two descriptors and did not
 * discard chains shorter than the header: a header cut into small
 * pieces was read past them. Here dequeue reads the header through the
 * same copy cursor as the packet (desc_chain.h), over any number of
 * pieces; enqueue writes it the same way; a Tx chain with no packet
 * after the header is dropped and returned unused (dequeue.c).
 */
static void
test_cve_2022_2132(void)
{
	static const char *const name = "CVE-2022-2132";
	static const uint32_t three[] = { 5, 4, 3 + 40 };
	static const uint32_t ones[] = {
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	};
	static const uint32_t halves[] = { 4, 4 };
	static const uint32_t sixes[] = { 6, 6 };
	static uint8_t pkt[100], bytes[FM_NET_HDR_LEN + 100];
	struct virtio_net_hdr h;
	struct virtio_net_hdr_mrg_rxbuf rh;
	struct fm_seg segs[4];
	struct fe_canary can[3];
	struct rte_mbuf *m = NULL;
	uint8_t *piece;
	uint32_t len;
	size_t mark;
	int head, i, n, nbufs;

	CU_ASSERT_FATAL(case_open_csum());
	/* A UDP checksum request: the flags must come through intact. */
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 6;
	udp_frame(pkt, sizeof(pkt), 11);
	len = with_header(bytes, &h, pkt, sizeof(pkt));

	/* Header over three descriptors, the third holding its end and the
	 * start of the frame; then one byte per descriptor. */
	for (i = 0; i < 2; i++) {
		const char *what = i == 0 ? "header in 3 descriptors" :
			"header in 12 one-byte descriptors";

		head = i == 0 ? post_tx_pieces(bytes, len, three, 3) :
			post_tx_pieces(bytes, len, ones, 12);
		CU_ASSERT_FATAL(head >= 0);
		m = NULL;
		CU_ASSERT(dequeue_one(what, pkt, sizeof(pkt), &m));
		if (m != NULL) {
			if (!(m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM) ||
					m->l2_len != 14 || m->l3_len != 20)
				fe_fail("%s: offload flags 0x%llx l2 %u l3 %u",
						what,
						(unsigned long long)m->ol_flags,
						m->l2_len, m->l3_len);
			CU_ASSERT((m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM) != 0);
			CU_ASSERT(m->l2_len == 14 && m->l3_len == 20);
			rte_pktmbuf_free(m);
		}
		{
			struct vring_used_elem e;

			CU_ASSERT(fm_vring_pop_used(txq(), &e, NULL) &&
					e.id == (uint32_t)head);
		}
	}

	/* A chain shorter than the header, and one that is only a header:
	 * no packet, the chain comes back unused, and a log line. */
	ratelimit_gap();
	mark = fe_log_mark();
	head = post_tx_pieces(bytes, 8, halves, 2);
	CU_ASSERT_FATAL(head >= 0);
	tx_refused("8-byte chain (shorter than the header)", head, mark,
			SHORT_CHAIN_LOG);
	ratelimit_gap();
	mark = fe_log_mark();
	head = post_tx_pieces(bytes, FM_NET_HDR_LEN, sixes, 2);
	CU_ASSERT_FATAL(head >= 0);
	tx_refused("12-byte chain (header only)", head, mark,
			SHORT_CHAIN_LOG);

	/* Host -> guest: the header written over three 4-byte descriptors,
	 * and nothing past any of them. */
	for (i = 0; i < 3; i++) {
		piece = fm_mem_alloc(&VM->mem, 0, 4 + 64, 64);
		CU_ASSERT_FATAL(piece != NULL);
		memset(piece, FM_NET_POISON, 4 + 64);
		segs[i] = (struct fm_seg){ fm_ptr_gpa(&VM->mem, piece), 4,
			true };
		can[i] = (struct fe_canary){ piece + 4, 64 };
	}
	piece = fm_mem_alloc(&VM->mem, 0, 2048, 64);
	CU_ASSERT_FATAL(piece != NULL);
	segs[3] = (struct fm_seg){ fm_ptr_gpa(&VM->mem, piece), 2048, true };
	CU_ASSERT_FATAL(fm_vring_add_chain(rxq(), segs, 4) >= 0);
	fe_packet(pkt, sizeof(pkt), 12);
	enqueue_one(pkt, sizeof(pkt));
	n = fm_net_recv(rxq(), &VM->mem, true, &rh, bytes, sizeof(bytes),
			&nbufs);
	CU_ASSERT_EQUAL(n, (int)sizeof(pkt));
	CU_ASSERT(n == (int)sizeof(pkt) && memcmp(bytes, pkt, n) == 0);
	CU_ASSERT_EQUAL(rh.num_buffers, 1);
	CU_ASSERT(fe_canaries_intact(can, 3));

	CU_ASSERT(victim_works(name));
	case_close(name);
}

/* --- CVE-2024-11614: a checksum offset beyond the packet --- */

/*
 * DPDK computed and stored the checksum a guest asked for at
 * csum_start + csum_offset without checking that it lay in the packet:
 * an out-of-bounds access from guest input. Here vhost_net_hdr_to_mbuf()
 * (net_hdr.c) refuses a checksum field that does not lie wholly inside
 * the packet (and inside its first segment, where it is written); the
 * packet is dropped and its chain returned unused (dequeue.c).
 */
static void
test_cve_2024_11614(void)
{
	static const char *const name = "CVE-2024-11614";
	static uint8_t pkt[100], bytes[FM_NET_HDR_LEN + 100];
	const uint16_t len = sizeof(pkt);
	const struct { uint16_t start, offset; } bad[] = {
		{ 14, 0xfff0 },
		{ 0xffff, 0xffff },
		{ (uint16_t)(len - 1), 0 },
		{ 34, (uint16_t)(len - 34 - 1) },
	};
	const uint32_t whole[] = { FM_NET_HDR_LEN + 100 };
	struct virtio_net_hdr h;
	struct vring_used_elem e;
	char what[96], pat[160];
	uint16_t csum;
	size_t k, mark;
	uint32_t n;
	int head;

	CU_ASSERT_FATAL(case_open_csum());
	udp_frame(pkt, len, 21);
	for (k = 0; k < RTE_DIM(bad); k++) {
		memset(&h, 0, sizeof(h));
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.csum_start = bad[k].start;
		h.csum_offset = bad[k].offset;
		n = with_header(bytes, &h, pkt, len);
		snprintf(what, sizeof(what), "checksum at %u + %u in %u bytes",
				bad[k].start, bad[k].offset, len);
		snprintf(pat, sizeof(pat), "checksum field at %u \\+ %u is "
				"outside the %u-byte packet", bad[k].start,
				bad[k].offset, len);
		ratelimit_gap();
		mark = fe_log_mark();
		head = post_tx_pieces(bytes, n, whole, 1);
		CU_ASSERT_FATAL(head >= 0);
		tx_refused(what, head, mark, pat);
	}

	/* The last two bytes of the packet are a legal place: the
	 * checksum is computed over [start, end) and stored there. */
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 14;
	h.csum_offset = len - 14 - 2;
	n = with_header(bytes, &h, pkt, len);
	head = post_tx_pieces(bytes, n, whole, 1);
	CU_ASSERT_FATAL(head >= 0);
	csum = (uint16_t)~rte_raw_cksum(pkt + 14, len - 14);
	if (csum == 0)
		csum = 0xffff;
	memcpy(pkt + len - 2, &csum, sizeof(csum));
	CU_ASSERT(dequeue_one("checksum in the last two bytes", pkt, len,
			NULL));
	CU_ASSERT(fm_vring_pop_used(txq(), &e, NULL) &&
			e.id == (uint32_t)head);
	CU_ASSERT(victim_works(name));
	case_close(name);
}

/* --- suites --- */

static int
cve_suite_init(void)
{
	if (fe_log_capture_start() < 0)
		return -1;
	/* IOMMU support offers BACKEND_REQ (the request channel). */
	iommu_backend = fe_backend_start("cve-iommu",
			RTE_VHOST_USER_IOMMU_SUPPORT);
	return iommu_backend != NULL ? 0 : -1;
}

static int
cve_suite_cleanup(void)
{
	if (iommu_backend != NULL)
		fe_backend_stop(iommu_backend);
	iommu_backend = NULL;
	fe_log_capture_stop();
	return 0;
}

static CU_TestInfo cve_tests[] = {
	{ "CVE-2018-1059: buffer past the end of a memory region",
		test_cve_2018_1059 },
	{ "CVE-2019-14818: fds and memory of repeated or refused messages",
		test_cve_2019_14818 },
	{ "CVE-2020-10722: SET_LOG_BASE size + offset overflow",
		test_cve_2020_10722 },
	{ "CVE-2020-10723: 32-bit vring index", test_cve_2020_10723 },
	{ "CVE-2020-10726: repeated GET_INFLIGHT_FD", test_cve_2020_10726 },
	{ "CVE-2021-3839: oversized inflight queue counts",
		test_cve_2021_3839 },
	{ "CVE-2022-0669: unexpected fds on inflight messages",
		test_cve_2022_0669 },
	{ "CVE-2022-2132: virtio-net header over several descriptors",
		test_cve_2022_2132 },
	{ "CVE-2024-11614: checksum offset beyond the packet",
		test_cve_2024_11614 },
	CU_TEST_INFO_NULL,
};

/* Apart, after the CVE suite has closed its own backend. */
static CU_TestInfo end_tests[] = {
	{ "no_fd_leak", fe_test_no_fd_leak },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "cve", cve_suite_init, cve_suite_cleanup, fe_victim_setup,
		fe_victim_teardown, cve_tests },
	{ "end", NULL, NULL, NULL, NULL, end_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fe_victim_main("cve", suites, argc, argv);
}
