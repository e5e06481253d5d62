/* SPDX-License-Identifier: BSD-3-Clause */
/* Devices and round-trip traffic checks: see fe_traffic.h. */
#include "fe_traffic.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_vhost.h>

#include "test_memfd.h"

/* Bigger than any packet a test sends (64 KiB plus headers). */
#define FE_PKT_MAX (70 * 1024)

bool
fe_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("    FE: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	return false;
}

static int
finish_open(struct fe_dev *d, const struct fm_config *cfg)
{
	struct fm_config def;
	int before = atomic_load(&d->b->ev.new_device);
	int ret;

	if (cfg == NULL) {
		fm_config_default(&def);
		cfg = &def;
	}
	ret = fm_handshake(&d->m, cfg);
	if (ret != FM_OK) {
		fe_fail("handshake failed: %d", ret);
		return -1;
	}
	if (!fe_wait_at_least(&d->b->ev.new_device, before + 1, FE_EVENT_MS)) {
		fe_fail("new_device did not come");
		return -1;
	}
	d->vid = atomic_load(&d->b->ev.vid);
	return 0;
}

void
fe_dev_init(struct fe_dev *d)
{
	memset(d, 0, sizeof(*d));
	fm_frontend_attach(&d->m, -1);
	d->vid = -1;
}

int
fe_dev_open(struct fe_dev *d, struct fe_backend *b,
		const struct fm_config *cfg)
{
	d->b = b;
	d->vid = -1;
	d->buf_region = 0;
	if (fm_frontend_connect(&d->m, b->path) < 0) {
		fe_fail("cannot connect to %s", b->path);
		return -1;
	}
	return finish_open(d, cfg);
}

int
fe_dev_open_sock(struct fe_dev *d, struct fe_backend *b, int sock,
		const struct fm_config *cfg)
{
	d->b = b;
	d->vid = -1;
	d->buf_region = 0;
	fm_frontend_attach(&d->m, sock);
	return finish_open(d, cfg);
}

bool
fe_dev_close(struct fe_dev *d, bool wait)
{
	bool connected = d->m.sock >= 0;
	int before;

	if (!connected || d->b == NULL) {
		fm_frontend_close(&d->m);
		return true;
	}
	before = atomic_load(&d->b->ev.destroy_device);
	fm_frontend_close(&d->m);
	/* No device was made if new_device never came: nothing to wait. */
	if (!wait || d->vid < 0)
		return true;
	return fe_wait_at_least(&d->b->ev.destroy_device, before + 1,
			FE_EVENT_MS);
}

struct fe_dev fe_test_dev;

void
fe_test_dev_setup(void)
{
	fe_dev_init(&fe_test_dev);
}

void
fe_test_dev_teardown(void)
{
	fe_dev_close(&fe_test_dev, true);
}

bool
fe_dev_mergeable(const struct fe_dev *d)
{
	return (d->m.features & FM_BIT(VIRTIO_NET_F_MRG_RXBUF)) != 0;
}

int
fe_dequeue_wait(int vid, struct rte_mbuf **pkts, int want, int max,
		int timeout_ms)
{
	return fe_dequeue_wait_q(vid, FE_TXQ, pkts, want, max, timeout_ms);
}

int
fe_dequeue_wait_q(int vid, uint16_t qid, struct rte_mbuf **pkts, int want,
		int max, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;
	int got = 0;

	for (;;) {
		got += rte_vhost_dequeue_burst(vid, qid, fe_pool,
				pkts + got, (uint16_t)(max - got));
		if (got >= want || got >= max || fm_now_ms() >= deadline)
			return got;
		usleep(500);
	}
}

int
fe_dequeue_for(int vid, int ms)
{
	int64_t end = fm_now_ms() + ms;
	struct rte_mbuf *mb[4];
	int got = 0;

	do {
		int n = rte_vhost_dequeue_burst(vid, FE_TXQ, fe_pool, mb, 4);

		got += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		usleep(1000);
	} while (fm_now_ms() < end);
	return got;
}

uint16_t
fe_enqueue_one(struct fe_dev *d, uint32_t len, uint32_t seed,
		uint32_t seg_len)
{
	static uint8_t pkt[FE_PKT_MAX];
	struct rte_mbuf *m;
	uint16_t n;

	if (len > sizeof(pkt))
		return 0;
	fe_packet(pkt, len, seed);
	m = fe_mbuf_make(pkt, len, seg_len);
	if (m == NULL)
		return 0;
	n = rte_vhost_enqueue_burst(d->vid, FE_RXQ, &m, 1);
	rte_pktmbuf_free(m);
	return n;
}

bool
fe_same_bytes(const char *who, const uint8_t *got, int n,
		const uint8_t *want, uint32_t len)
{
	if (n != (int)len)
		return fe_fail("%s got %d bytes, want %u", who, n, len);
	if (memcmp(got, want, len) != 0)
		return fe_fail("%s got other bytes", who);
	return true;
}

bool
fe_rx_check(struct fe_dev *d, uint32_t len, uint32_t seed)
{
	return fe_rx_check_q(d, 0, len, seed);
}

bool
fe_rx_check_q(struct fe_dev *d, int qp, uint32_t len, uint32_t seed)
{
	static uint8_t pkt[FE_PKT_MAX], got[FE_PKT_MAX];
	uint16_t qid = (uint16_t)(2 * qp + FE_RXQ);
	struct fm_vring *vr = &d->m.vr[qid];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	bool mrg = fe_dev_mergeable(d);
	uint32_t need = FM_NET_HDR_LEN + len;
	struct rte_mbuf *m;
	int nbufs, n, i;
	uint16_t sent;

	/* Mergeable: 2 KiB buffers as Linux posts; else one chain. */
	if (mrg) {
		for (i = 0; i < (int)((need + 2047) / 2048); i++)
			if (fm_net_post_rx(vr, &d->m.mem, d->buf_region, 2048, 1,
					false) < 0)
				return fe_fail("cannot post RX buffers");
	} else if (fm_net_post_rx(vr, &d->m.mem, d->buf_region, 2048,
			(int)((need + 2047) / 2048), false) < 0) {
		return fe_fail("cannot post RX chain");
	}
	fe_packet(pkt, len, seed);
	m = fe_mbuf_make(pkt, len, 0);
	if (m == NULL)
		return fe_fail("no mbuf");
	sent = rte_vhost_enqueue_burst(d->vid, qid, &m, 1);
	rte_pktmbuf_free(m);
	if (sent != 1)
		return fe_fail("enqueue_burst returned %u", sent);
	n = fm_net_recv(vr, &d->m.mem, mrg, &hdr, got, sizeof(got), &nbufs);
	return fe_same_bytes("guest", got, n, pkt, len);
}

bool
fe_tx_check(struct fe_dev *d, uint32_t len, uint32_t seed,
		enum fm_tx_layout layout, uint32_t seg_len)
{
	return fe_tx_check_q(d, 0, len, seed, layout, seg_len);
}

bool
fe_tx_check_q(struct fe_dev *d, int qp, uint32_t len, uint32_t seed,
		enum fm_tx_layout layout, uint32_t seg_len)
{
	static uint8_t pkt[FE_PKT_MAX], got[FE_PKT_MAX];
	uint16_t qid = (uint16_t)(2 * qp + FE_TXQ);
	struct fm_vring *vr = &d->m.vr[qid];
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	int head, n, i;
	bool ok = true;

	fe_packet(pkt, len, seed);
	head = fm_net_post_tx(vr, &d->m.mem, d->buf_region, pkt, len,
			layout, seg_len);
	if (head < 0)
		return fe_fail("cannot post TX packet");
	fm_vring_kick(vr);
	n = fe_dequeue_wait_q(d->vid, qid, mb, 1, 4, 1000);
	if (n != 1)
		ok = fe_fail("dequeue_burst gave %d packets, want 1", n);
	else
		ok = fe_same_bytes("host", got,
				fe_mbuf_copy_out(mb[0], got, sizeof(got)),
				pkt, len);
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(mb[i]);
	if (!fm_vring_pop_used(vr, &e, NULL))
		return fe_fail("TX chain not returned in the used ring");
	if (e.id != (uint32_t)head)
		return fe_fail("used id %u, want %d", e.id, head);
	return ok;
}

bool
fe_traffic_ok(struct fe_dev *d)
{
	return fe_rx_check(d, 64, 1) && fe_rx_check(d, 1500, 2) &&
		fe_tx_check(d, 60, 3, FM_TX_ONE_DESC, 0) &&
		fe_tx_check(d, 1500, 4, FM_TX_HDR_APART, 0);
}

bool
fe_all_bytes(const uint8_t *p, uint8_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

bool
fe_canaries_intact(const struct fe_canary *c, int n)
{
	int i;
	uint32_t j;

	for (i = 0; i < n; i++)
		for (j = 0; j < c[i].len; j++)
			if (c[i].p[j] != FM_NET_POISON)
				return fe_fail("canary %d (bytes the device must "
						"not write) changed at byte %u",
						i, j);
	return true;
}

bool
fe_pop_refused_and_good(struct fm_vring *vr, int bad_head, int good_head,
		struct vring_used_elem *good, struct fm_chain *good_chain,
		const char *what)
{
	bool seen_bad = bad_head >= vr->size, seen_good = false;
	int64_t end = fm_now_ms() + FE_WAIT_MS;

	while ((!seen_bad || !seen_good) && fm_now_ms() < end) {
		struct vring_used_elem e;
		struct fm_chain c;

		if (!fm_vring_pop_used(vr, &e, &c))
			continue;
		if (e.id == (uint32_t)good_head) {
			*good = e;
			if (good_chain != NULL)
				*good_chain = c;
			seen_good = true;
		} else if (e.id == (uint32_t)bad_head) {
			if (e.len != 0)
				return fe_fail("%s: bad chain used with "
						"length %u", what, e.len);
			seen_bad = true;
		} else {
			return fe_fail("%s: unexpected used id %u", what, e.id);
		}
	}
	if (!seen_good)
		return fe_fail("%s: good chain not in the used ring", what);
	if (!seen_bad)
		return fe_fail("%s: bad chain never returned to the guest",
				what);
	return true;
}

uint8_t *
fe_log_start(struct fm_frontend *m, uint64_t log_size, uint64_t *f0)
{
	uint64_t payload[2] = { log_size, 0 };
	static struct fm_msg reply;
	void *log;
	int fd;

	fd = test_memfd("fe-log", log_size, 0);
	CU_ASSERT_FATAL(fd >= 0);
	log = mmap(NULL, log_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(log != MAP_FAILED);
	CU_ASSERT_EQUAL(fm_request(m, FM_REQ_SET_LOG_BASE, payload,
			sizeof(payload), &fd, 1, &reply), FM_OK);
	close(fd);
	*f0 = m->features;
	CU_ASSERT_EQUAL(fm_set_u64(m, FM_REQ_SET_FEATURES,
			*f0 | FM_BIT(VHOST_F_LOG_ALL)), FM_OK);
	return log;
}
