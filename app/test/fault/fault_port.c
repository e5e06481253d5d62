/* SPDX-License-Identifier: BSD-3-Clause */
/* Ports and their callbacks: see fault_port.h. */
#include "fault_port.h"

#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_vhost.h>

#include "fe_harness.h"
#include "fm_conn.h"

static struct fault_port ports[FAULT_MAX_PORTS];
static atomic_int nports;

int
fault_port_strays(void)
{
	return test_recorder_strays();
}

int
fault_port_count(void)
{
	return atomic_load(&nports);
}

struct fault_port *
fault_port_at(int i)
{
	return &ports[i];
}

/* The library's view of the device, while it still exists. */
static void
take_view(int vid, struct fault_vq_view *v)
{
	uint16_t q;

	memset(v, 0, sizeof(*v));
	for (q = 0; q < 2; q++) {
		int64_t good = fe_vring_stat(vid, q, "_good_packets");
		int64_t drop = fe_vring_stat(vid, q, "_dropped_packets");
		int64_t inval = fe_vring_stat(vid, q,
				"_invalid_descriptor_chains");
		int64_t tmo = fe_vring_stat(vid, q, "_iotlb_miss_timeouts");

		if (good < 0 || drop < 0 || inval < 0 || tmo < 0 ||
				rte_vhost_get_vring_base(vid, q,
					&v->last_avail[q], &v->last_used[q]) < 0)
			return;
		v->good[q] = (uint64_t)good;
		v->dropped[q] = (uint64_t)drop;
		v->invalid[q] = (uint64_t)inval;
		v->timeouts[q] = (uint64_t)tmo;
		v->misses[q] = (uint64_t)fe_vring_stat(vid, q,
				"_iotlb_misses");
		v->pending[q] = (uint64_t)fe_vring_stat(vid, q,
				"_iotlb_pending");
	}
	v->valid = true;
}

static struct fault_port *
port_of(struct test_recorder *r)
{
	return (struct fault_port *)((char *)r -
			offsetof(struct fault_port, ev));
}

/* One device per port at a time in these tests. */
static int
on_new_device(struct test_recorder *r, int vid)
{
	struct fault_port *p = port_of(r);
	uint64_t features;

	if (atomic_load(&p->active)) {
		atomic_fetch_add(&p->refused, 1);
		return -1;
	}
	atomic_store(&p->ev.vid, vid);
	atomic_store(&p->active, true);
	if (rte_vhost_get_negotiated_features(vid, &features) == 0 &&
			(features & (1ull << VIRTIO_F_RING_PACKED)) != 0)
		atomic_fetch_add(&p->packed_devices, 1);
	return 0;
}

/* Returns once the datapath has left the device for good. */
static bool
on_destroy_device(struct test_recorder *r, int vid)
{
	struct fault_port *p = port_of(r);
	struct timespec ts;

	if (!atomic_load(&p->active) || atomic_load(&p->ev.vid) != vid) {
		atomic_fetch_add(&p->refused, 1);
		return false;
	}
	/* Close the gate, then wait for a burst already past it. */
	atomic_store(&p->active, false);
	while (atomic_load(&p->in_burst))
		sched_yield();
	take_view(vid, &p->at_stop);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	atomic_store(&p->stop_us, (long long)ts.tv_sec * 1000000 +
			ts.tv_nsec / 1000);
	return true;
}

static const struct test_recorder_hooks fault_hooks = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
};

struct fault_port *
fault_port_start(const char *name, uint64_t flags)
{
	int i, n = atomic_load(&nports);
	struct fault_port *p;

	/* A stopped port's slot is taken again (its gate is closed). */
	for (i = 0; i < n && ports[i].used; i++)
		;
	if (i >= FAULT_MAX_PORTS)
		return NULL;
	p = &ports[i];
	memset(p, 0, sizeof(*p));
	p->index = i;
	p->flags = flags;
	test_recorder_init(&p->ev);
	fe_sock_path(p->path, sizeof(p->path), name);
	/* Listed before registering: callbacks may come at once. */
	p->used = true;
	if (i == n)
		atomic_store(&nports, n + 1);
	if (rte_vhost_driver_register(p->path, flags) != 0)
		goto fail;
	if (test_recorder_attach(p->path, &p->ev, &fault_hooks) != 0)
		goto unregister;
	if (rte_vhost_driver_start(p->path) != 0) {
		test_recorder_detach(p->path);
		goto unregister;
	}
	return p;
unregister:
	rte_vhost_driver_unregister(p->path);
fail:
	p->used = false;
	return NULL;
}

int
fault_port_stop(struct fault_port *p)
{
	int ret;

	if (!p->used)
		return -1;
	ret = rte_vhost_driver_unregister(p->path);
	test_recorder_detach(p->path);
	p->used = false;
	if (!(p->flags & RTE_VHOST_USER_CLIENT))
		unlink(p->path);
	return ret;
}

void
fault_port_reset_traffic(struct fault_port *p, uint32_t stream)
{
	atomic_store(&p->stream, stream);
	atomic_store(&p->g2h_received, 0);
	atomic_store(&p->g2h_next, 0);
	atomic_store(&p->g2h_gaps, 0);
	atomic_store(&p->g2h_bad, 0);
	atomic_store(&p->g2h_poisoned, 0);
	atomic_store(&p->h2g_sent, 0);
	atomic_store(&p->h2g_on, true);
	p->at_stop.valid = false;
	if (p->g2h_seen != NULL)
		memset(p->g2h_seen, 0, (p->g2h_seen_max + 7) / 8);
}

bool
fault_port_wait_active(struct fault_port *p, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	while (!atomic_load(&p->active)) {
		if (fm_now_ms() >= deadline)
			return false;
		usleep(200);
	}
	return true;
}

bool
fault_port_wait_quiet(struct fault_port *p, int nconn, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	while (atomic_load(&p->ev.destroy_connection) < nconn ||
			atomic_load(&p->ev.new_device) !=
			atomic_load(&p->ev.destroy_device)) {
		if (fm_now_ms() >= deadline)
			return false;
		usleep(100);
	}
	return true;
}
