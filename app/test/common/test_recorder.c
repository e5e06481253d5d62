/* SPDX-License-Identifier: BSD-3-Clause */
/* The callback recorder: see test_recorder.h. */
#include "test_recorder.h"

#include <string.h>
#include <unistd.h>

#include <rte_vhost.h>

#define MAX_PATHS 32

/* Written by the test thread before the path is registered (and cleared
 * after it is unregistered); read by the event thread. */
static struct {
	char path[256];
	struct test_recorder *rec;
	const struct test_recorder_hooks *hooks;
	atomic_bool used;
} paths[MAX_PATHS];
static atomic_int strays;

static int
slot_of(int vid)
{
	char name[256];
	int i;

	if (rte_vhost_get_ifname(vid, name, sizeof(name)) == 0)
		for (i = 0; i < MAX_PATHS; i++)
			if (atomic_load(&paths[i].used) &&
					strcmp(paths[i].path, name) == 0)
				return i;
	atomic_fetch_add(&strays, 1);
	return -1;
}

static struct test_recorder *
recorder_of(int vid)
{
	int i = slot_of(vid);

	return i < 0 ? NULL : paths[i].rec;
}

static int
on_new_device(int vid)
{
	int i = slot_of(vid);
	struct test_recorder *r;

	if (i < 0)
		return -1;
	r = paths[i].rec;
	if (paths[i].hooks != NULL && paths[i].hooks->new_device != NULL &&
			paths[i].hooks->new_device(r, vid) != 0)
		return -1;
	atomic_store(&r->nr_vring_at_new_device, rte_vhost_get_vring_num(vid));
	atomic_store(&r->vid, vid);
	/* Counted last: a waiter that sees the count also sees the vid. */
	atomic_fetch_add(&r->new_device, 1);
	return 0;
}

static void
on_destroy_device(int vid)
{
	int i = slot_of(vid);
	struct test_recorder *r;

	if (i < 0)
		return;
	r = paths[i].rec;
	if (paths[i].hooks != NULL && paths[i].hooks->destroy_device != NULL &&
			!paths[i].hooks->destroy_device(r, vid))
		return;
	atomic_fetch_add(&r->destroy_device, 1);
}

static int
on_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct test_recorder *r = recorder_of(vid);

	if (r == NULL)
		return -1;
	if (atomic_load(&r->vring_stall_ms) > 0) {
		atomic_fetch_add(&r->vring_stalls, 1);
		usleep((useconds_t)atomic_load(&r->vring_stall_ms) * 1000);
	}
	if (queue_id < TEST_RECORDER_MAX_VRINGS) {
		atomic_store(&r->vring_state[queue_id], enable ? 1 : 0);
		atomic_fetch_add(&r->vring_changes[queue_id], 1);
	}
	atomic_fetch_add(enable ? &r->vring_up : &r->vring_down, 1);
	atomic_fetch_add(&r->vring_events, 1);
	return 0;
}

static int
on_features_changed(int vid, uint64_t features)
{
	struct test_recorder *r = recorder_of(vid);

	if (r == NULL)
		return -1;
	atomic_store(&r->features, features);
	atomic_fetch_add(&r->features_changed, 1);
	return 0;
}

static int
on_new_connection(int vid)
{
	struct test_recorder *r = recorder_of(vid);

	if (r == NULL)
		return -1;
	atomic_store(&r->conn_vid, vid);
	atomic_fetch_add(&r->new_connection, 1);
	return 0;
}

static void
on_destroy_connection(int vid)
{
	struct test_recorder *r = recorder_of(vid);

	if (r != NULL)
		atomic_fetch_add(&r->destroy_connection, 1);
}

static void
on_guest_notified(int vid)
{
	struct test_recorder *r = recorder_of(vid);

	if (r != NULL)
		atomic_fetch_add(&r->guest_notified, 1);
}

static const struct rte_vhost_device_ops recorder_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
	.vring_state_changed = on_vring_state_changed,
	.features_changed = on_features_changed,
	.new_connection = on_new_connection,
	.destroy_connection = on_destroy_connection,
	.guest_notified = on_guest_notified,
};

void
test_recorder_reset(struct test_recorder *r)
{
	int i;

	atomic_store(&r->new_connection, 0);
	atomic_store(&r->destroy_connection, 0);
	atomic_store(&r->new_device, 0);
	atomic_store(&r->destroy_device, 0);
	atomic_store(&r->features_changed, 0);
	atomic_store(&r->guest_notified, 0);
	atomic_store(&r->vring_events, 0);
	atomic_store(&r->vring_up, 0);
	atomic_store(&r->vring_down, 0);
	atomic_store(&r->vring_stall_ms, 0);
	atomic_store(&r->vring_stalls, 0);
	atomic_store(&r->features, 0);
	atomic_store(&r->nr_vring_at_new_device, 0);
	for (i = 0; i < TEST_RECORDER_MAX_VRINGS; i++) {
		atomic_store(&r->vring_state[i], -1);
		atomic_store(&r->vring_changes[i], 0);
	}
}

void
test_recorder_init(struct test_recorder *r)
{
	test_recorder_reset(r);
	atomic_store(&r->conn_vid, -1);
	atomic_store(&r->vid, -1);
}

int
test_recorder_attach(const char *path, struct test_recorder *r,
		const struct test_recorder_hooks *hooks)
{
	int i;

	if (strlen(path) >= sizeof(paths[0].path))
		return -1;
	for (i = 0; i < MAX_PATHS && atomic_load(&paths[i].used); i++)
		;
	if (i == MAX_PATHS)
		return -1;
	strcpy(paths[i].path, path);
	paths[i].rec = r;
	paths[i].hooks = hooks;
	/* Listed before the callbacks are: they may come at once. */
	atomic_store(&paths[i].used, true);
	if (rte_vhost_driver_callback_register(path, &recorder_ops) != 0) {
		atomic_store(&paths[i].used, false);
		return -1;
	}
	return 0;
}

void
test_recorder_detach(const char *path)
{
	int i;

	for (i = 0; i < MAX_PATHS; i++)
		if (atomic_load(&paths[i].used) &&
				strcmp(paths[i].path, path) == 0)
			atomic_store(&paths[i].used, false);
}

int
test_recorder_strays(void)
{
	return atomic_load(&strays);
}
