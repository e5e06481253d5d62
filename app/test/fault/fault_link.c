/* SPDX-License-Identifier: BSD-3-Clause */
/* In-process devices: see fault_link.h. */
#include "fault_link.h"

#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "fault_datapath.h"
#include "fault_iommu.h"
#include "fault_ring.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"

int
fault_link_prepare(struct fault_link *k, const char *name, uint64_t flags,
		uint32_t stream)
{
	memset(k, 0, sizeof(*k));
	fm_frontend_attach(&k->m, -1);
	k->port = fault_port_start(name, flags);
	if (k->port == NULL)
		return -1;
	fault_port_reset_traffic(k->port, stream);
	if (fm_frontend_connect(&k->m, k->port->path) < 0 ||
			fm_mem_add_region(&k->m.mem, 0, FAULT_LINK_REGION, 0) < 0 ||
			fm_mem_add_region(&k->m.mem, 1ull << 30,
				FAULT_LINK_REGION, 4096) < 0 ||
			fault_rings_layout(&k->m, 2, 0, false) < 0 ||
			fault_guest_init(&k->g, &k->m, &k->st, stream,
				FAULT_LINK_TX_BUFS, FAULT_LINK_RX_BUFS, 2) < 0)
		return -1;
	return 0;
}

int
fault_link_packed(struct fault_link *k)
{
	int q;

	/* Nothing was announced yet: the split rings are just left. */
	for (q = 0; q < k->m.nvrings; q++) {
		fm_vring_fini(&k->m.vr[q]);
		if (fm_vring_init_packed(&k->m.vr[q], &k->m.mem, 0,
				FAULT_RING_SIZE) < 0)
			return -1;
	}
	return 0;
}

int
fault_link_start(struct fault_link *k, uint64_t features)
{
	int q;

	if (k->m.vr[0].packed)
		features |= FM_BIT(VIRTIO_F_RING_PACKED);

	if (fm_negotiate(&k->m, features,
			FM_BIT(FM_PF_REPLY_ACK) | k->protocol) != FM_OK ||
			fm_set_mem_table(&k->m, &k->m.mem) != FM_OK)
		return -1;
	k->g.mergeable = (features & FM_BIT(VIRTIO_NET_F_MRG_RXBUF)) != 0;
	for (q = 0; q < 2; q++)
		if (fault_ring_start(&k->m, (uint32_t)q,
				fault_ring_base0(&k->m.vr[q]), NULL) != FM_OK)
			return -1;
	if (!fault_port_wait_active(k->port, FE_EVENT_MS))
		return -1;
	/* The library took the ring layout the frontend laid out. */
	return atomic_load(&k->port->packed_devices) ==
		(k->m.vr[0].packed ? 1 : 0) ? 0 : -1;
}

int
fault_link_start_iommu(struct fault_link *k, struct fault_iommu *x,
		uint32_t seed)
{
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	uint64_t features = FM_BIT(VIRTIO_F_VERSION_1) |
		FM_BIT(VIRTIO_NET_F_MRG_RXBUF);
	uint32_t q;

	if (k->m.vr[0].packed)
		features |= FM_BIT(VIRTIO_F_RING_PACKED);
	fault_iommu_init(x, &k->m, &k->g, seed);
	k->serve = fault_iommu_serve_cb;
	k->serve_ctx = x;
	if (fault_iommu_negotiate(x, features) != FM_OK ||
			fm_set_mem_table(&k->m, &k->m.mem) != FM_OK)
		return -1;
	for (q = 0; q < 2; q++)
		if (fault_iommu_ring_start(x, q) != FM_OK)
			return -1;
	while (!atomic_load(&k->port->active)) {
		if (fm_now_ms() >= deadline)
			return -1;
		if (fault_iommu_serve(x) == 0)
			usleep(100);
	}
	return atomic_load(&k->port->packed_devices) ==
		(k->m.vr[0].packed ? 1 : 0) ? 0 : -1;
}

void
fault_link_close(struct fault_link *k)
{
	bool connected = k->m.sock >= 0;

	fm_frontend_close(&k->m);
	if (k->port == NULL)
		return;
	/* The library closes on its own thread; wait before unregistering
	 * so that the teardown tested is the one of a lost connection. */
	if (connected && !fault_port_wait_quiet(k->port,
			atomic_load(&k->port->ev.new_connection), FE_EVENT_MS))
		fe_fail("%s: connection not torn down", k->port->path);
	fault_port_stop(k->port);
	k->port = NULL;
}

void
fault_link_pump(struct fault_link *k, int ms)
{
	int64_t end = fm_now_ms() + ms;

	do {
		if (fault_guest_step(&k->g) == 0)
			usleep(20);
		if (k->serve != NULL)
			k->serve(k->serve_ctx);
	} while (fm_now_ms() < end);
}

bool
fault_link_drain(struct fault_link *k)
{
	struct fault_port *p = k->port;
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	unsigned int settle = 0;
	bool settling = false;

	k->g.tx_on = false;
	atomic_store(&p->h2g_on, false);
	for (;;) {
		uint32_t got;

		fault_guest_step(&k->g);
		if (k->serve != NULL)
			k->serve(k->serve_ctx);
		/* Every TX buffer back and every RX packet in (or dropped
		 * by the library, which fault_link_check judges), and still
		 * so two datapath rounds later: a round under way when the
		 * traffic stopped has then finished counting. */
		got = atomic_load(&k->st.rx_got);
		if (got != atomic_load(&p->h2g_sent)) {
			int64_t dropped = fe_vring_stat(
					atomic_load(&p->ev.vid), 0,
					"_dropped_packets");

			got += dropped > 0 ? (uint32_t)dropped : 0;
		}
		if (fault_guest_tx_out(&k->g) == 0 &&
				got == atomic_load(&p->h2g_sent)) {
			if (!settling) {
				settling = true;
				settle = fault_datapath_rounds() + 2;
			} else if ((int)(fault_datapath_rounds() - settle) >= 0) {
				return true;
			}
		} else {
			settling = false;
		}
		if (fm_now_ms() >= deadline)
			return false;
		usleep(50);
	}
}

void
fault_link_resume(struct fault_link *k)
{
	k->g.tx_on = true;
	atomic_store(&k->port->h2g_on, true);
}

bool
fault_link_check(struct fault_link *k, const char *name,
		const uint64_t expect_dropped[2],
		const uint64_t expect_invalid[2])
{
	struct fault_port *p = k->port;
	struct fault_guest_stats *st = &k->st;
	int vid = atomic_load(&p->ev.vid);
	uint32_t recv = atomic_load(&p->g2h_received);
	uint32_t h2g = atomic_load(&p->h2g_sent);
	int64_t good[2], dropped[2], invalid[2];
	bool ok = true;
	int q;

	for (q = 0; q < 2; q++) {
		good[q] = fe_vring_stat(vid, (uint16_t)q, "_good_packets");
		dropped[q] = fe_vring_stat(vid, (uint16_t)q,
				"_dropped_packets");
		invalid[q] = fe_vring_stat(vid, (uint16_t)q,
				"_invalid_descriptor_chains");
	}
	/* The TX packets the library dropped are the only ones that may
	 * be missing, and only they may leave gaps. */
	if (atomic_load(&p->g2h_bad) != 0 ||
			atomic_load(&p->g2h_poisoned) != 0 ||
			atomic_load(&p->g2h_gaps) > expect_dropped[1] ||
			recv + expect_dropped[1] != atomic_load(&st->tx_posted))
		ok = fe_fail("%s: guest->host: posted %u, received %u, gaps "
				"%u, bad %u, poisoned %u", name,
				atomic_load(&st->tx_posted), recv,
				atomic_load(&p->g2h_gaps),
				atomic_load(&p->g2h_bad),
				atomic_load(&p->g2h_poisoned));
	if (atomic_load(&st->rx_got) + expect_dropped[0] != h2g ||
			atomic_load(&st->rx_bad) != 0 ||
			atomic_load(&st->rx_gaps) > expect_dropped[0] ||
			atomic_load(&st->rx_empty) +
			atomic_load(&st->revoked_back) != expect_invalid[0] ||
			atomic_load(&st->used_bad) != 0 ||
			atomic_load(&st->revoked_bad) != 0)
		ok = fe_fail("%s: host->guest: sent %u, got %u, bad %u, empty "
				"%u, bad used ids %u, revoked buffers touched "
				"%u", name, h2g, atomic_load(&st->rx_got),
				atomic_load(&st->rx_bad),
				atomic_load(&st->rx_empty),
				atomic_load(&st->used_bad),
				atomic_load(&st->revoked_bad));
	if (good[1] != (int64_t)recv || good[0] != (int64_t)h2g ||
			dropped[0] != (int64_t)expect_dropped[0] ||
			dropped[1] != (int64_t)expect_dropped[1] ||
			invalid[0] != (int64_t)expect_invalid[0] ||
			invalid[1] != (int64_t)expect_invalid[1])
		ok = fe_fail("%s: library counters good %lld/%lld (host "
				"%u/%u), dropped %lld/%lld (want %llu/%llu), "
				"invalid %lld/%lld (want %llu/%llu)", name,
				(long long)good[1], (long long)good[0], recv, h2g,
				(long long)dropped[1], (long long)dropped[0],
				(unsigned long long)expect_dropped[1],
				(unsigned long long)expect_dropped[0],
				(long long)invalid[1], (long long)invalid[0],
				(unsigned long long)expect_invalid[1],
				(unsigned long long)expect_invalid[0]);
	CU_ASSERT(ok);
	return ok;
}
