/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The recorder of vhost device callbacks every test program shares: the
 * callbacks an application registers with rte_vhost_driver_callback_register
 * (new_device, destroy_device, vring_state_changed, features_changed,
 * new_connection, destroy_connection, guest_notified) counted per socket
 * path. A test attaches a recorder to a registered path and waits on its
 * counters; a callback for a vid whose path no recorder holds is a stray
 * (always a library bug). Several paths may share one recorder.
 */
#ifndef TEST_RECORDER_H
#define TEST_RECORDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Rings whose vring_state_changed events are recorded one by one. */
#define TEST_RECORDER_MAX_VRINGS 8

/* What the callbacks told, cumulative until test_recorder_reset(). */
struct test_recorder {
	atomic_int new_connection;
	atomic_int destroy_connection;
	atomic_int new_device;
	atomic_int destroy_device;
	atomic_int features_changed;
	atomic_int guest_notified;
	atomic_int vring_events;	/* every vring_state_changed */
	atomic_int vring_up;		/* of those, enable = 1 */
	atomic_int vring_down;		/* enable = 0 */
	atomic_int conn_vid;	/* from the last new_connection, or -1 */
	atomic_int vid;		/* from the last new_device, or -1 */
	atomic_ullong features;	/* from the last features_changed */
	atomic_int nr_vring_at_new_device;
	atomic_int vring_state[TEST_RECORDER_MAX_VRINGS]; /* -1 never told */
	atomic_int vring_changes[TEST_RECORDER_MAX_VRINGS];
	/* Set by a test: each vring_state_changed first keeps the event
	 * thread this long (a thread the machine does not schedule), and
	 * counts in vring_stalls when it begins. */
	atomic_int vring_stall_ms;
	atomic_int vring_stalls;
};

/*
 * What a test adds to the recording: each hook runs on the event thread
 * before the event is counted (so a waiter that sees the count sees what
 * the hook did). Either may be NULL.
 */
struct test_recorder_hooks {
	/* Non-zero refuses the device: not counted, -1 to the library. */
	int (*new_device)(struct test_recorder *r, int vid);
	/* False: the event is not counted. */
	bool (*destroy_device)(struct test_recorder *r, int vid);
};

/* Zeroes every counter, ring states -1; vid and conn_vid stay. */
void test_recorder_reset(struct test_recorder *r);
/* test_recorder_reset, and vid and conn_vid -1: a recorder to attach. */
void test_recorder_init(struct test_recorder *r);

/*
 * Lists path (registered with rte_vhost_driver_register, not started)
 * as recorded into r, then registers the recording callbacks for it.
 * 0, or -1 if the table is full or the library refused.
 */
int test_recorder_attach(const char *path, struct test_recorder *r,
		const struct test_recorder_hooks *hooks);
/* Forgets path (after rte_vhost_driver_unregister). */
void test_recorder_detach(const char *path);

/* Callbacks for a vid of no attached path so far (should be 0). */
int test_recorder_strays(void);

#endif /* TEST_RECORDER_H */
