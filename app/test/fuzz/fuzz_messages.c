/* SPDX-License-Identifier: BSD-3-Clause */

/* fuzz_messages: the input is a vhost-user frontend. Each input opens a
 * real connection to a server socket registered with the library
 * (rte_vhost_driver_register + start, in a temp dir), sends a sequence
 * of messages decoded from the input with real fds attached (memfds of
 * a fake guest memory, eventfds, a socket), and lets the library's
 * event thread handle them (vhost_user_handle_msg via conn_read). In
 * between, "pseudo-messages" act as the guest and the application:
 * they write guest memory (rings, packets) and run the public datapath
 * and query functions on the device, as an application would once
 * new_device was called.
 *
 * Determinism: after each message a GET_FEATURES (or GET_QUEUE_NUM)
 * "barrier" is sent and its reply awaited, so the event thread is idle
 * whenever the next message is sent or the datapath runs.
 *
 * Checks, besides the sanitizers:
 *  - every reply is well formed, at most one per message, and exactly
 *    one when REPLY_ACK was negotiated and the frontend asked; nothing
 *    arrives unasked;
 *  - the library answers within 10 s (no deadlock or stall);
 *  - every fd the device holds (kick, call, err, backend channel,
 *    memory regions) is open and is one of the files the frontend sent:
 *    a number closed too early (and perhaps reused) is caught at once;
 *  - after the connection closes and the device is destroyed: the fds
 *    of the process are those it had before (none leaked, none of ours
 *    closed), no guest memory or log is still mapped (F_SEAL_WRITE on
 *    the memfds, see check_unmapped()), every mbuf is back in the pool;
 *  - mbufs returned by dequeue are well formed.
 *
 * The sockets differ in registration flags (IOMMU, EXTBUF, LINEARBUF,
 * compliant offload flags, stats) and IOTLB entry lifetime. A pseudo-
 * message answers the IOTLB misses the backend sent, as QEMU would.
 * Known open bugs are steered around unless FUZZ_STRICT is set (see
 * avoid_known_bugs(), avoid_misaligned_rings()).
 *
 * Input format: byte 0 picks the socket; then messages, each [ctl,
 * request, flags, size u16, fd kinds..., payload] with ctl = nfds
 * (0..9) | 0x10 truncate | 0x20 split header, or a
 * pseudo-message [0xc0 | x, kind, ...] (see do_pseudo()). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>	/* memfd_create */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/virtio_net.h>

#include <rte_mbuf.h>
#include <rte_vhost.h>

#define FUZZ_WITH_EAL
#include "../common/test_clock.h"
#include "../common/test_memfd.h"
#include "../common/test_recorder.h"
#include "../common/test_sock.h"
#include "fuzz_common.h"
#include "vhost_device.h"
#include "vhost_msg.h"

#define GUEST_SIZE (1u << 20)
#define GUEST2_SIZE (64u << 10)
#define SMALL_SIZE 4096u
#define REPLY_TIMEOUT_MS 10000
#define POOL_SIZE 1023
#define NSOCK 5

/* Fds a message may carry, by kind (one input byte each). */
enum fd_kind {
	FD_GUEST,	/* memfd, 1 MiB: guest memory */
	FD_GUEST2,	/* memfd, 64 KiB: a second region */
	FD_SMALL,	/* memfd, 4 KiB: a dirty log, or a too-small region */
	FD_EVENT_A,	/* eventfds: kick, call, err */
	FD_EVENT_B,
	FD_BACKEND,	/* a socket: the backend request channel */
	FD_RDONLY,	/* the guest memfd opened read-only: mmap fails */
	FD_KINDS
};

/* Created afresh for each input (same state whatever ran before). */
static int kfd[FD_KINDS];
static struct stat kfd_stat[FD_KINDS];	/* what each one is (check_held_fds) */
static int backend_peer;		/* our end of FD_BACKEND */
static char tmpdir[64];
static char sock_path[NSOCK][108];
static struct rte_mempool *pool;

/* The callbacks of every socket, from the event thread. */
static struct test_recorder ev;

/* Between new_device and destroy_device. */
static bool
running(void)
{
	return atomic_load(&ev.new_device) > atomic_load(&ev.destroy_device);
}

/* Registration flags of the sockets an input may pick, and the IOTLB
 * entry lifetime (VHOST_IOTLB_MAX_AGE_US) each is registered with: one
 * second (nothing expires within an input), and one microsecond (every
 * entry has expired by the next burst: deterministic too). */
static const struct {
	uint64_t flags;
	const char *max_age_us;
} sock_conf[NSOCK] = {
	{ RTE_VHOST_USER_NET_STATS_ENABLE, NULL },
	{ RTE_VHOST_USER_IOMMU_SUPPORT | RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS |
	  RTE_VHOST_USER_EXTBUF_SUPPORT | RTE_VHOST_USER_NET_STATS_ENABLE, NULL },
	{ RTE_VHOST_USER_LINEARBUF_SUPPORT, NULL },
	{ RTE_VHOST_USER_IOMMU_SUPPORT, "1000000" },
	{ RTE_VHOST_USER_IOMMU_SUPPORT | RTE_VHOST_USER_NET_STATS_ENABLE, "1" },
};

/* FUZZ_TRACE=1: one line per message and burst, to check what a seed
 * or a reproducer does. */
static bool trace;
#define TRACE(...) do { if (trace) fprintf(stderr, "fuzz: " __VA_ARGS__); } while (0)

/* Wait for cond for at most REPLY_TIMEOUT_MS: yield first (the event
 * thread usually needs microseconds), then sleep. */
#define WAIT_FOR(cond, what) do { \
	uint64_t until_ = test_now_ms() + REPLY_TIMEOUT_MS; \
	for (unsigned int i_ = 0; !(cond); i_++) { \
		FZ_CHECK(test_now_ms() < until_, "timed out waiting for %s", what); \
		if (i_ < 1000) \
			sched_yield(); \
		else \
			usleep(100); \
	} \
} while (0)

/* ---- talking to the backend ---- */

/* Read exactly len bytes. Returns 1, or 0 if the backend closed the
 * connection before the first byte. A reply cut in the middle, or no
 * answer for 10 s, is a failure. */
static int
read_exact(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, REPLY_TIMEOUT_MS);
		ssize_t n;

		FZ_CHECK(r != 0, "the backend did not answer in %d ms", REPLY_TIMEOUT_MS);
		if (r < 0)
			continue;	/* EINTR */
		n = recv(fd, (uint8_t *)buf + done, len - done, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			FZ_CHECK(done == 0, "reply cut after %zu of %zu bytes", done, len);
			return 0;
		}
		done += (size_t)n;
	}
	return 1;
}

/* One reply. Returns 1, or 0 on end of connection. */
static int
read_reply(int fd, struct vhost_msg_header *hdr, uint8_t *payload)
{
	if (read_exact(fd, hdr, sizeof(*hdr)) == 0)
		return 0;
	FZ_CHECK(hdr->flags == (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK),
		 "reply to %u with flags 0x%x", hdr->request, hdr->flags);
	FZ_CHECK(hdr->size <= VHOST_MAX_MSG_PAYLOAD, "reply to %u of %u bytes",
		 hdr->request, hdr->size);
	FZ_CHECK(read_exact(fd, payload, hdr->size) == 1, "reply to %u: payload missing",
		 hdr->request);
	return 1;
}

static int
send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	/* A backend that closed the connection is found by the read. */
	return test_send_fds(sock, buf, len, fds, nfds) == (ssize_t)len ?
		0 : -1;
}

/* ---- pseudo-messages: the guest and the application ---- */

/* Only the datapath the application may run: on a started device. */
static int
app_vid(void)
{
	return running() ? atomic_load(&ev.conn_vid) : -1;
}

/* Open bug (see fuzz_desc_chain.c): avoid IPv4 checksum requests on
 * headers longer than the first segment unless FUZZ_STRICT. */
static void
avoid_known_bugs(struct rte_mbuf *m)
{
	if (fz_strict() || !(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM))
		return;
	if (m->data_len >= m->l2_len + 20u &&
	    m->data_len < m->l2_len + 4u * (rte_pktmbuf_mtod_offset(m, uint8_t *, m->l2_len)[0] & 0xf))
		m->ol_flags &= ~RTE_MBUF_F_TX_IP_CKSUM;
}

/* A packet from the input, in one or two segments. */
static struct rte_mbuf *
make_packet(struct fz_in *in)
{
	static const uint64_t ol_choice[8] = {
		0,
		RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM,
		RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV6,
		RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM,
		RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV6,
		RTE_MBUF_F_TX_UDP_SEG | RTE_MBUF_F_TX_IPV4,
		RTE_MBUF_F_TX_SCTP_CKSUM,
		RTE_MBUF_F_TX_IP_CKSUM,
	};
	uint16_t len = fz_u16(in) % 4000;
	uint8_t ol = fz_u8(in);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool), *s = m;
	uint16_t left = len;

	if (m == NULL)
		return NULL;
	m->ol_flags = ol_choice[ol % 8];
	m->l2_len = 14;
	m->l3_len = (ol & 0x10) ? 40 : 20;
	m->l4_len = (ol & 0x20) ? 8 : 20;
	m->tso_segsz = (ol & 0x40) ? 1448 : 0;
	while (s != NULL) {
		uint16_t n = RTE_MIN(left, rte_pktmbuf_tailroom(s));

		fz_bytes(in, rte_pktmbuf_append(s, n), n);
		left -= n;
		if (left == 0)
			break;
		s->next = rte_pktmbuf_alloc(pool);
		s = s->next;
		m->nb_segs++;
	}
	m->pkt_len = len;
	if (s == NULL) {	/* pool empty: cannot happen with POOL_SIZE */
		rte_pktmbuf_free(m);
		return NULL;
	}
	avoid_known_bugs(m);
	return m;
}

static void
check_dequeued(const struct rte_mbuf *m)
{
	uint32_t sum = 0;
	uint16_t segs = 0;

	for (const struct rte_mbuf *s = m; s != NULL; s = s->next) {
		FZ_CHECK(s->data_off + (uint32_t)s->data_len <= s->buf_len,
			 "dequeued segment: data %u+%u past buffer %u", s->data_off,
			 s->data_len, s->buf_len);
		FZ_CHECK(rte_mbuf_refcnt_read(s) == 1, "dequeued segment with refcnt %u",
			 rte_mbuf_refcnt_read(s));
		sum += s->data_len;
		segs++;
	}
	FZ_CHECK(segs == m->nb_segs && sum == m->pkt_len,
		 "dequeued packet: %u segments / %u bytes, header says %u / %u",
		 segs, sum, m->nb_segs, m->pkt_len);
	FZ_CHECK(m->pkt_len <= VHOST_MAX_PKT_LEN, "dequeued packet of %u bytes", m->pkt_len);
}

static void
do_burst(struct fz_in *in)
{
	uint8_t q = fz_u8(in) % 8, count = fz_u8(in) % 33, dir = fz_u8(in);
	struct rte_mbuf *pkts[32];
	int vid = app_vid();
	uint16_t n;

	if (dir & 1) {
		n = vid < 0 ? 0 : rte_vhost_dequeue_burst(vid, q | 1, pool, pkts, count);
		FZ_CHECK(n <= count, "dequeued %u of %u", n, count);
		TRACE("dequeue q%u: %u of %u (vid %d)\n", q | 1, n, count, vid);
		for (uint16_t i = 0; i < n; i++) {
			check_dequeued(pkts[i]);
			rte_pktmbuf_free(pkts[i]);
		}
	}
	if (dir & 2) {
		uint8_t nb = 0;

		while (nb < count && nb < 32) {
			pkts[nb] = make_packet(in);
			if (pkts[nb] == NULL)
				break;
			nb++;
		}
		n = vid < 0 ? 0 : rte_vhost_enqueue_burst(vid, q & ~1, pkts, nb);
		FZ_CHECK(n <= nb, "enqueued %u of %u", n, nb);
		TRACE("enqueue q%u: %u of %u (vid %d)\n", q & ~1, n, nb, vid);
		/* The library copies (or takes its own reference to hold). */
		for (uint8_t i = 0; i < nb; i++)
			rte_pktmbuf_free(pkts[i]);
	}
}

/* The queries and controls an application uses. */
static void
do_query(struct fz_in *in)
{
	int vid = atomic_load(&ev.conn_vid);
	uint16_t q = fz_u8(in), a, u, mtu;
	struct rte_vhost_stat_name names[64];
	struct rte_vhost_stat stats[64];
	struct rte_vhost_memory *mem = NULL;
	struct rte_vhost_vring vr;
	struct rte_vhost_power_monitor_cond pmc;
	uint64_t f, base, size;
	char ifname[64];
	int n;

	rte_vhost_get_vring_num(vid);
	rte_vhost_get_ifname(vid, ifname, sizeof(ifname));
	rte_vhost_get_negotiated_features(vid, &f);
	rte_vhost_get_negotiated_protocol_features(vid, &f);
	rte_vhost_get_mtu(vid, &mtu);
	rte_vhost_get_numa_node(vid);
	rte_vhost_get_log_base(vid, &base, &size);
	if (rte_vhost_get_mem_table(vid, &mem) == 0) {
		/* ADD_MEM_REG grows a table past SET_MEM_TABLE's 8. */
		FZ_CHECK(mem->nregions >= 1 && mem->nregions <= VHOST_MAX_MEM_SLOTS,
			 "memory table of %u regions", mem->nregions);
		free(mem);
	}
	rte_vhost_get_vhost_vring(vid, q, &vr);
	rte_vhost_get_vring_base(vid, q, &a, &u);
	rte_vhost_avail_entries(vid, q);
	rte_vhost_rx_queue_count(vid, q);
	rte_vhost_get_monitor_addr(vid, q, &pmc);
	n = rte_vhost_vring_stats_get_names(vid, q, names, RTE_DIM(names));
	FZ_CHECK(n <= (int)RTE_DIM(names), "%d stats names", n);
	n = rte_vhost_vring_stats_get(vid, q, stats, RTE_DIM(stats));
	FZ_CHECK(n <= (int)RTE_DIM(stats), "%d stats", n);
	if (fz_u8(in) == 0x5a)
		rte_vhost_vring_stats_reset(vid, q);
}

static void
do_notify(struct fz_in *in)
{
	int vid = atomic_load(&ev.conn_vid);
	uint16_t q = fz_u8(in);
	uint8_t what = fz_u8(in);
	uint64_t addr = fz_u64(in);
	uint32_t len = fz_u32(in);

	if (what & 1)
		rte_vhost_enable_guest_notification(vid, q, what & 2);
	if (what & 4)
		rte_vhost_vring_call(vid, q);
	if (what & 8)
		rte_vhost_vring_call_nonblock(vid, q);
	if (what & 16)
		rte_vhost_log_write(vid, addr, len);
	if (what & 32)
		rte_vhost_log_used_vring(vid, q, addr, len);
	if (what & 64)
		rte_vhost_set_vring_base(vid, q, (uint16_t)addr, (uint16_t)(addr >> 16));
}

/* ---- one message ---- */

/* Open bug (regressions/fuzz_messages/vring_misaligned_in_unaligned_
 * region): ring alignment is checked on the frontend's addresses, not
 * on ours, so a region (or an IOTLB entry) at an odd user address gives
 * misaligned ring pointers. Unless FUZZ_STRICT, keep user addresses and
 * offsets aligned so that fuzzing goes on past it. */
static void
avoid_misaligned_rings(const struct vhost_msg_header *hdr, uint8_t *payload, size_t len)
{
	/* The payload follows the 12-byte header: copy, do not cast. */
	union {
		struct vhost_user_memory mem;
		struct vhost_user_mem_reg reg;
		struct vhost_iotlb_msg iotlb;
	} m;

	if (fz_strict())
		return;
	if (hdr->request == VHOST_USER_SET_MEM_TABLE) {
		memcpy(&m.mem, payload, RTE_MIN(len, sizeof(m.mem)));
		for (size_t i = 0; i < VHOST_MAX_MEM_REGIONS &&
		     offsetof(struct vhost_user_memory, regions[i + 1]) <= len; i++) {
			m.mem.regions[i].userspace_addr &= ~63ULL;
			m.mem.regions[i].mmap_offset &= ~63ULL;
		}
		memcpy(payload, &m.mem, RTE_MIN(len, sizeof(m.mem)));
	} else if ((hdr->request == VHOST_USER_ADD_MEM_REG ||
		    hdr->request == VHOST_USER_REM_MEM_REG) && len >= sizeof(m.reg)) {
		/* Added regions must be page aligned: keep most inputs past
		 * that check, so that the table code behind it is reached. */
		memcpy(&m.reg, payload, sizeof(m.reg));
		if (!(m.reg.padding & 1)) {
			m.reg.region.guest_phys_addr &= ~4095ULL;
			m.reg.region.userspace_addr &= ~4095ULL;
			m.reg.region.memory_size &= ~4095ULL;
			m.reg.region.mmap_offset &= ~4095ULL;
		}
		memcpy(payload, &m.reg, sizeof(m.reg));
	} else if (hdr->request == VHOST_USER_IOTLB_MSG && len >= sizeof(m.iotlb)) {
		memcpy(&m.iotlb, payload, sizeof(m.iotlb));
		m.iotlb.uaddr -= (m.iotlb.uaddr - m.iotlb.iova) & 63;
		memcpy(payload, &m.iotlb, sizeof(m.iotlb));
	}
}

static void
check_fd(int fd, const char *what, uint32_t ring)
{
	struct stat st;

	if (fd < 0)
		return;		/* unset, or "no fd" */
	FZ_CHECK(fstat(fd, &st) == 0, "%s (ring %u): fd %d is closed", what, ring, fd);
	for (int k = 0; k < FD_KINDS; k++)
		if (st.st_dev == kfd_stat[k].st_dev && st.st_ino == kfd_stat[k].st_ino)
			return;
	FZ_FAIL("%s (ring %u): fd %d is no file the frontend sent", what, ring, fd);
}

/* The fds the device keeps: read between messages, when the event
 * thread is idle. */
static void
check_held_fds(void)
{
	const struct vhost_device *dev = vhost_device_get(atomic_load(&ev.conn_vid));

	if (dev == NULL)
		return;
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		check_fd(dev->vq[i]->kickfd, "kick fd", i);
		check_fd(dev->vq[i]->callfd, "call fd", i);
		check_fd(dev->vq[i]->errfd, "err fd", i);
	}
	check_fd(dev->backend_req_fd, "backend channel", 0);
	for (uint32_t i = 0; dev->mem != NULL && i < dev->mem->nregions; i++) {
		const struct rte_vhost_mem_region *r = &dev->mem->regions[i];
		uint64_t avail;

		check_fd(r->fd, "memory region", i);
		/* The lookup (scan or sorted index) finds every region by
		 * its first and last byte, in both address spaces. */
		FZ_CHECK(vhost_mem_find_gpa(dev->mem, r->guest_phys_addr, &avail) == r &&
			 vhost_mem_find_gpa(dev->mem, r->guest_phys_addr + r->size - 1, &avail) == r &&
			 vhost_mem_find_uaddr(dev->mem, r->guest_user_addr, &avail) == r &&
			 vhost_mem_find_uaddr(dev->mem, r->guest_user_addr + r->size - 1, &avail) == r,
			 "region %u of %u is not found by its addresses", i, dev->mem->nregions);
	}
}

/* Send a message (buf: header and payload) and wait until the backend
 * has handled it. Returns false once the connection is closed. */
static bool
exchange(int sock, const uint8_t *buf, size_t sent_payload, const int *fds,
	 int nfds, bool split)
{
	static uint8_t reply[VHOST_MAX_MSG_PAYLOAD];
	struct vhost_msg_header hdr, barrier = { .flags = VHOST_USER_VERSION };
	uint64_t proto = 0, value = 0;
	bool ack_expected;
	int replies = 0;

	memcpy(&hdr, buf, sizeof(hdr));
	rte_vhost_get_negotiated_protocol_features(atomic_load(&ev.conn_vid), &proto);
	ack_expected = (hdr.flags & VHOST_USER_NEED_REPLY) &&
		(proto & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
		nfds <= VHOST_MAX_MSG_FDS && hdr.size <= VHOST_MAX_MSG_PAYLOAD;
	if (split) {
		/* The header in two writes: the backend reads the rest. */
		send_with_fds(sock, buf, 5, fds, nfds);
		send_with_fds(sock, buf + 5, sizeof(hdr) - 5 + sent_payload, NULL, 0);
	} else {
		send_with_fds(sock, buf, sizeof(hdr) + sent_payload, fds, nfds);
	}

	barrier.request = hdr.request == VHOST_USER_GET_FEATURES ?
		VHOST_USER_GET_QUEUE_NUM : VHOST_USER_GET_FEATURES;
	send_with_fds(sock, &barrier, sizeof(barrier), NULL, 0);
	for (;;) {
		struct vhost_msg_header r;

		if (read_reply(sock, &r, reply) == 0) {
			TRACE("%s (%u) flags 0x%x size %u fds %d: connection closed\n",
			      vhost_msg_name(hdr.request), hdr.request, hdr.flags, hdr.size, nfds);
			return false;
		}
		if (r.request == barrier.request) {
			FZ_CHECK(r.size == sizeof(uint64_t), "barrier reply of %u bytes", r.size);
			break;
		}
		FZ_CHECK(r.request == hdr.request, "reply to request %u, sent %u",
			 r.request, hdr.request);
		FZ_CHECK(++replies == 1, "%d replies to one request %u", replies, hdr.request);
		if (r.size >= sizeof(value))
			memcpy(&value, reply, sizeof(value));
	}
	TRACE("%s (%u) flags 0x%x size %u fds %d: %d replies (0x%lx)\n", vhost_msg_name(hdr.request),
	      hdr.request, hdr.flags, hdr.size, nfds, replies, value);
	FZ_CHECK(!ack_expected || replies == 1,
		 "request %u asked for a REPLY_ACK and got %d replies", hdr.request, replies);
	check_held_fds();
	return true;
}

/* A message from the input: [ctl, request, flags, size u16, fd kinds,
 * payload]. Returns false once the connection is closed. */
static bool
do_message(int sock, uint8_t ctl, struct fz_in *in)
{
	static uint8_t buf[sizeof(struct vhost_msg_header) + VHOST_MAX_MSG_PAYLOAD];
	static uint8_t reply[VHOST_MAX_MSG_PAYLOAD];
	struct vhost_msg_header hdr;
	uint8_t rb = fz_u8(in);
	int fds[16], nfds = (ctl & 0xf) % 10;
	size_t sent_payload;

	hdr.request = rb == 0xff ? fz_u32(in) : rb;
	hdr.flags = fz_u8(in);
	hdr.size = fz_u16(in);
	for (int i = 0; i < nfds; i++)
		fds[i] = kfd[fz_u8(in) % FD_KINDS];
	sent_payload = RTE_MIN(hdr.size, (uint32_t)VHOST_MAX_MSG_PAYLOAD);
	memcpy(buf, &hdr, sizeof(hdr));
	fz_bytes(in, buf + sizeof(hdr), sent_payload);
	avoid_misaligned_rings(&hdr, buf + sizeof(hdr), sent_payload);
	/* A payload over the limit is refused on its header alone. */
	if (hdr.size > VHOST_MAX_MSG_PAYLOAD)
		sent_payload = 0;

	if (ctl & 0x10) {
		/* Half a message, then end of stream: the backend must give
		 * up on it at once, not after its read timeout. */
		size_t cut = hdr.size == 0 ? sizeof(hdr) / 2 : sizeof(hdr) + sent_payload / 2;

		send_with_fds(sock, buf, cut, fds, nfds);
		shutdown(sock, SHUT_WR);
		while (read_reply(sock, &hdr, reply) == 1)
			;
		TRACE("truncated message: connection closed\n");
		return false;
	}
	return exchange(sock, buf, sent_payload, fds, nfds, ctl & 0x20);
}

/* ---- pseudo-messages that need the connection ---- */

/* The frontend's address of guest memory in the seeds: misses are
 * answered as if all of FD_GUEST were mapped 1:1 from IOVA 0 there. */
#define SEED_UADDR 0x7f0000000000ULL

/* Answer the IOTLB misses the backend sent, as QEMU's vIOMMU would:
 * [size shift, perm extra, how]: how bit 0 skips the UPDATE, bit 1
 * answers a miss sent with NEED_REPLY with "not mapped" (non-zero), bit
 * 2 leaves it unanswered. The channel is parsed leniently: the input
 * may have passed FD_BACKEND as a call fd, which writes 8 junk bytes. */
static bool
answer_misses(int sock, struct fz_in *in)
{
	uint8_t shift = fz_u8(in) % 9, perm_extra = fz_u8(in) % 4, how = fz_u8(in);
	struct {
		struct vhost_msg_header hdr;
		struct vhost_iotlb_msg m;
	} __attribute__((packed)) miss, upd;
	int answered = 0;

	while (answered < 64 &&
	       recv(backend_peer, &miss, sizeof(miss), MSG_DONTWAIT | MSG_PEEK) == sizeof(miss)) {
		if (recv(backend_peer, &miss, sizeof(miss), MSG_DONTWAIT) != sizeof(miss) ||
		    miss.hdr.request != 1 || miss.hdr.size != sizeof(miss.m) ||
		    miss.m.type != VHOST_IOTLB_MISS)
			break;
		memset(&upd, 0, sizeof(upd));
		upd.hdr = (struct vhost_msg_header){ .request = VHOST_USER_IOTLB_MSG,
			.flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY, .size = sizeof(upd.m) };
		upd.m.iova = miss.m.iova & ~((4096ULL << shift) - 1);
		upd.m.size = 4096ULL << shift;
		upd.m.uaddr = SEED_UADDR + upd.m.iova;
		upd.m.perm = miss.m.perm | perm_extra;
		upd.m.type = VHOST_IOTLB_UPDATE;
		TRACE("answering miss iova 0x%llx perm %u flags 0x%x how %u\n",
		      (unsigned long long)miss.m.iova, miss.m.perm, miss.hdr.flags, how);
		if ((miss.hdr.flags & VHOST_USER_NEED_REPLY) && !(how & 4)) {
			/* The answer goes first: written before the barrier of
			 * the update below, the event thread sees it first. */
			struct {
				struct vhost_msg_header hdr;
				uint64_t result;
			} __attribute__((packed)) ans = {
				.hdr = { .request = miss.hdr.request, .size = sizeof(uint64_t),
					 .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK },
				.result = (how & 2) != 0,
			};

			if (send(backend_peer, &ans, sizeof(ans), MSG_NOSIGNAL) != sizeof(ans))
				break;
		}
		if (!(how & 1) &&
		    !exchange(sock, (const uint8_t *)&upd, sizeof(upd.m), NULL, 0, false))
			return false;
		answered++;
	}
	/* Whatever is left is junk or more than we answer at once. */
	while (recv(backend_peer, &miss, sizeof(miss), MSG_DONTWAIT) > 0)
		;
	/* Let the event thread take the answers before the datapath runs. */
	if (answered > 0) {
		static const struct vhost_msg_header get_features = {
			.request = VHOST_USER_GET_FEATURES, .flags = VHOST_USER_VERSION };

		return exchange(sock, (const uint8_t *)&get_features, 0, NULL, 0, false);
	}
	return true;
}

/* Pseudo-message: [0xc0 | x, kind, ...]. Returns false once the
 * connection is closed. */
static bool
do_pseudo(int sock, struct fz_in *in)
{
	uint8_t kind = fz_u8(in);

	switch (kind % 5) {
	case 0: {	/* guest writes memory: [sel, offset u32, len u16, bytes] */
		static uint8_t bytes[8192];
		uint8_t sel = fz_u8(in);
		uint32_t size = (sel & 1) ? GUEST2_SIZE : GUEST_SIZE;
		uint32_t off = fz_u32(in) % size;
		uint32_t len = RTE_MIN((uint32_t)fz_u16(in) % 8192, size - off);

		/* pwrite, not a mapping of ours: see check_unmapped(). */
		fz_bytes(in, bytes, len);
		if (pwrite(kfd[(sel & 1) ? FD_GUEST2 : FD_GUEST], bytes, len, off) != (ssize_t)len)
			abort();
		break;
	}
	case 1:
		do_burst(in);
		break;
	case 2:
		do_query(in);
		break;
	case 3:
		do_notify(in);
		break;
	default:
		return answer_misses(sock, in);
	}
	return true;
}

/* ---- set-up and per-input state ---- */

static int
make_memfd(const char *name, off_t size)
{
	int fd = test_memfd(name, (uint64_t)size, MFD_ALLOW_SEALING);

	if (fd < 0)
		abort();
	return fd;
}

/* Every fd a message may carry, new for this input: zeroed memory,
 * counters at 0, empty socket. */
static void
open_input_fds(void)
{
	int sp[2];
	char path[64];

	kfd[FD_GUEST] = make_memfd("fuzz-guest", GUEST_SIZE);
	kfd[FD_GUEST2] = make_memfd("fuzz-guest2", GUEST2_SIZE);
	kfd[FD_SMALL] = make_memfd("fuzz-small", SMALL_SIZE);
	kfd[FD_EVENT_A] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	kfd[FD_EVENT_B] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	kfd[FD_BACKEND] = sp[0];
	backend_peer = sp[1];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", kfd[FD_GUEST]);
	kfd[FD_RDONLY] = open(path, O_RDONLY | O_CLOEXEC);
	if (kfd[FD_EVENT_A] < 0 || kfd[FD_EVENT_B] < 0 || kfd[FD_RDONLY] < 0)
		abort();
	for (int k = 0; k < FD_KINDS; k++)
		if (fstat(kfd[k], &kfd_stat[k]) != 0)
			abort();
}

/* A writable shared mapping of a memfd makes F_SEAL_WRITE fail with
 * EBUSY: an exact, cheap test that the library unmapped all of guest
 * memory and the log (reading /proc/self/maps costs more than the
 * rest of an input). */
static void
check_unmapped(void)
{
	static const char *const names[] = { "guest memory", "second region", "small memfd" };

	for (int k = FD_GUEST; k <= FD_SMALL; k++)
		FZ_CHECK(fcntl(kfd[k], F_ADD_SEALS, F_SEAL_WRITE) == 0,
			 "%s is still mapped after the device was destroyed (%s)",
			 names[k], strerror(errno));
}

/* Our fds must still be open: the library closes only its copies. */
static void
close_input_fds(void)
{
	for (int k = 0; k < FD_KINDS; k++)
		FZ_CHECK(close(kfd[k]) == 0, "fd kind %d (%d) was closed by the library", k, kfd[k]);
	FZ_CHECK(close(backend_peer) == 0, "our end of the backend channel was closed by the library");
}

static void
cleanup(void)
{
	for (int i = 0; i < NSOCK; i++) {
		rte_vhost_driver_unregister(sock_path[i]);
		unlink(sock_path[i]);
	}
	rmdir(tmpdir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fz_eal_init((*argv)[0]);
	trace = getenv("FUZZ_TRACE") != NULL;
	pool = rte_pktmbuf_pool_create("fuzz_msg_pool", POOL_SIZE, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == NULL)
		abort();

	/* The pid in the name lets run_fuzz.sh remove it after a crash. */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhost-fuzz-%d-XXXXXX", (int)getpid());
	if (mkdtemp(tmpdir) == NULL)
		abort();
	test_recorder_init(&ev);
	for (int i = 0; i < NSOCK; i++) {
		snprintf(sock_path[i], sizeof(sock_path[i]), "%s/s%d.sock", tmpdir, i);
		/* Read at registration. */
		if (sock_conf[i].max_age_us != NULL)
			setenv("VHOST_IOTLB_MAX_AGE_US", sock_conf[i].max_age_us, 1);
		else
			unsetenv("VHOST_IOTLB_MAX_AGE_US");
		if (rte_vhost_driver_register(sock_path[i], sock_conf[i].flags) != 0 ||
		    test_recorder_attach(sock_path[i], &ev, NULL) != 0 ||
		    rte_vhost_driver_start(sock_path[i]) != 0) {
			fprintf(stderr, "fuzz_messages: cannot start %s\n", sock_path[i]);
			exit(1);
		}
	}
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fds_before = test_count_fds(), conns = atomic_load(&ev.new_connection), sock;
	uint8_t junk[1];

	open_input_fds();
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", sock_path[fz_u8(&in) % NSOCK]);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&un, sizeof(un)) < 0)
		abort();
	WAIT_FOR(atomic_load(&ev.new_connection) == conns + 1, "the connection");

	while (!fz_empty(&in)) {
		uint8_t ctl = fz_u8(&in);

		if ((ctl & 0xc0) == 0xc0 ? !do_pseudo(sock, &in) : !do_message(sock, ctl, &in))
			break;
	}

	/* End of stream. The library closes its end last of all (after
	 * destroy_connection, destroy_device and freeing the device), so
	 * our EOF says the teardown is over. */
	shutdown(sock, SHUT_WR);
	FZ_CHECK(read_exact(sock, junk, 1) == 0, "unsolicited data from the backend: 0x%02x", junk[0]);
	FZ_CHECK(close(sock) == 0, "our socket was closed by the library");
	FZ_CHECK(atomic_load(&ev.destroy_connection) == conns + 1, "no destroy_connection");
	FZ_CHECK(!running(), "device still running after its connection closed");
	check_unmapped();
	close_input_fds();
	FZ_CHECK(test_count_fds() == fds_before, "%d fds open, %d before the input (fd leak)",
		 test_count_fds(), fds_before);
	FZ_CHECK(rte_mempool_avail_count(pool) == POOL_SIZE, "%u of %u mbufs in the pool (mbuf leak)",
		 rte_mempool_avail_count(pool), POOL_SIZE);
	return 0;
}
