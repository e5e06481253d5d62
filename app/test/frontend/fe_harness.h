/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backend side of the frontend tests: EAL and an mbuf pool, backends
 * registered through the public rte_vhost API with callbacks that record
 * what they saw, bounded waits, fd counting and the CUnit runner.
 */
#ifndef FE_HARNESS_H
#define FE_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <CUnit/CUnit.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "test_recorder.h"
#include "test_res.h"	/* test_count_fds/_maps(), test_rss_kib() */

/* Rings whose vring_state_changed events are recorded. */
#define FE_MAX_VRINGS TEST_RECORDER_MAX_VRINGS
/* How long an event the test caused may take to show up. */
#define FE_WAIT_MS 3000
/* The same for the steps of opening and closing a device, which every
 * test repeats: the library's event thread makes them, and on a loaded
 * machine it may wait seconds for a CPU (2.6 s seen at load 34). The
 * waits end when the event comes. */
#define FE_EVENT_MS 15000
/* How long a scenario that runs "for a while" may stretch to reach the
 * least number of rounds it asserts, on a loaded machine. */
#define FE_SLOW_MS 60000
/* How long the absence of an event is watched for. */
#define FE_QUIET_MS 300

/* One path registered with rte_vhost_driver_register. */
struct fe_backend {
	char path[256];
	uint64_t flags;
	bool active;
	struct test_recorder ev;	/* what its callbacks told */
};

extern struct rte_mempool *fe_pool;

/* rte_eal_init for one test program (name makes the file prefix unique). */
int fe_init(const char *name);
/* The same with the telemetry socket (rte_eal_get_runtime_dir()). */
int fe_init_telemetry(const char *name);
/* Unregisters what is left, cleans EAL and the temp dir. */
void fe_fini(void);

/* A socket path in the test's temp dir. */
void fe_sock_path(char *buf, size_t len, const char *name);

/*
 * Registers tmpdir/name.sock with flags, installs the recording callbacks
 * and starts it. Returns NULL on failure.
 */
struct fe_backend *fe_backend_start(const char *name, uint64_t flags);
/* Registers without starting (the caller starts); for client mode. */
struct fe_backend *fe_backend_register(const char *name, uint64_t flags);
/* rte_vhost_driver_unregister. Returns its result. */
int fe_backend_stop(struct fe_backend *b);
/* Zeroes every counter (vid stays). */
void fe_backend_reset_events(struct fe_backend *b);

/* Waits until *v >= n. */
bool fe_wait_at_least(atomic_int *v, int n, int timeout_ms);
/* True if *v stays below n for the whole of ms. */
bool fe_stays_below(atomic_int *v, int n, int ms);
/* For a scenario that runs "for ms" and asserts at least min rounds:
 * true while ms since start have not passed, or fewer than min rounds
 * are done and FE_SLOW_MS have not passed (a loaded machine stretches
 * the scenario instead of failing it). */
bool fe_more_rounds(int64_t start, int ms, int done, int min);
/* Waits until the vring_state of ring is state. */
bool fe_wait_vring_state(struct fe_backend *b, int ring, int state,
		int timeout_ms);

/* The set of open fds at one moment, to name the ones added later. */
struct fe_fdset {
	int n;
	int fd[512];
};
void fe_fd_snapshot(struct fe_fdset *s);
/* Prints the fds open now that were not in s, with what they are. */
void fe_fd_print_new(const struct fe_fdset *s);

/* Waits until the fd count is at most target; returns the last count. */
int fe_wait_fd_count(int target, int timeout_ms);

/* An Ethernet-looking packet (unicast, local ethertype) with a pattern. */
void fe_packet(uint8_t *buf, uint32_t len, uint32_t seed);
/*
 * An mbuf holding data, split into segments of at most seg_len bytes
 * (0: as big as the pool allows). NULL on failure.
 */
struct rte_mbuf *fe_mbuf_make(const uint8_t *data, uint32_t len,
		uint32_t seg_len);
/* Copies an mbuf chain's bytes out. Returns pkt_len, or -1 if too big. */
int fe_mbuf_copy_out(const struct rte_mbuf *m, uint8_t *out, uint32_t cap);

/* test_run() (test_run.h): the CUnit runner of every test program. */
int fe_run(CU_SuiteInfo *suites, int argc, char **argv);

/*
 * The whole main() of a test program on one backend: EAL for name, the
 * backend bname (no flags) started into *b, then the suites (fe_run).
 */
int fe_main_one_backend(const char *name, const char *bname,
		struct fe_backend **b, CU_SuiteInfo *suites, int argc,
		char **argv);

/* A per-ring counter of device vid whose name ends with name after an
 * underscore ("good_packets" or "_good_packets" for "rx_q0_good_packets"),
 * or -1. */
int64_t fe_vring_stat(int vid, uint16_t q, const char *name);

#endif /* FE_HARNESS_H */
