/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The library's telemetry commands (the /vhost/ ones) through this process's own
 * telemetry socket, as dpdk-telemetry.py would send them.
 *
 * state: one device; the replies name its socket, its rings and counters
 *        that moved with traffic; bad requests get the null reply.
 * churn: observer threads query without pause while a frontend connects,
 *        passes traffic, replaces its memory table, resets its owner
 *        (which frees the rings) and disconnects, cycle after cycle.
 *        Every reply must be well-formed, the device must be seen both
 *        present and absent, and no fd may be left behind. Built with
 *        ASan (devtools/test-sanitizers.sh), a read of a ring or table
 *        the event thread freed would end the run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_vhost.h>

#include "fe_harness.h"
#include "fe_traffic.h"

/* Frontend cycles of the churn test (FE_TELEMETRY_CYCLES). */
#define CYCLES 150
#define OBSERVERS 2
/* Memory tables replaced per cycle: each frees the one before. */
#define TABLES 10
/* DPDK 22.11's largest reply. */
#define REPLY_MAX (16 * 1024)

static struct fe_backend *backend;

/* A connection to the telemetry socket, past its greeting; -1 on error. */
static int
tel_open(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char greeting[1024];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s/dpdk_telemetry.v2",
			rte_eal_get_runtime_dir());
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
			recv(fd, greeting, sizeof(greeting), 0) <= 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends cmd, reads the reply into buf (NUL-terminated). Returns its
 * length or -1. */
static int
tel_query(int fd, const char *cmd, char *buf, size_t cap)
{
	ssize_t n;

	if (send(fd, cmd, strlen(cmd), 0) < 0)
		return -1;
	n = recv(fd, buf, cap - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/* The reply's value: what follows {"CMD": (cmd without parameters),
 * if the reply is one balanced object. NULL if malformed. */
static const char *
reply_value(const char *cmd, const char *reply)
{
	char prefix[64];
	size_t len = strcspn(cmd, ",");
	int depth = 0;

	snprintf(prefix, sizeof(prefix), "{\"%.*s\":", (int)len, cmd);
	if (strncmp(reply, prefix, strlen(prefix)) != 0)
		return NULL;
	/* No string in these replies holds a brace or a quote. */
	for (const char *p = reply; *p != '\0'; p++) {
		depth += (*p == '{') - (*p == '}');
		if (depth < 0 || (depth == 0 && p[1] != '\0'))
			return NULL;
	}
	return depth == 0 ? reply + strlen(prefix) : NULL;
}

/* One query from the main thread; the reply's value or NULL. */
static const char *
query(int fd, const char *cmd, char *buf)
{
	if (tel_query(fd, cmd, buf, REPLY_MAX) < 0) {
		printf("    %s: no reply\n", cmd);
		return NULL;
	}
	return reply_value(cmd, buf);
}

static bool
contains(const char *s, const char *what)
{
	if (s != NULL && strstr(s, what) != NULL)
		return true;
	printf("    expected %s in %s\n", what, s != NULL ? s : "(malformed)");
	return false;
}

static int
suite_init(void)
{
	backend = fe_backend_start("telemetry", RTE_VHOST_USER_NET_STATS_ENABLE);
	return backend == NULL ? -1 : 0;
}

static void
test_state(void)
{
	static char buf[REPLY_MAX];
	char want[512];
	struct fe_dev d;
	const char *v;
	int fd = tel_open();

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(fe_dev_open(&d, backend, NULL) == 0);
	CU_ASSERT(fe_traffic_ok(&d));

	snprintf(want, sizeof(want), "\"path\":\"%s\",\"mode\":\"server\"",
			backend->path);
	CU_ASSERT(contains(query(fd, "/vhost/sockets", buf), want));
	snprintf(want, sizeof(want), "{\"%d\":\"%s\"}", d.vid, backend->path);
	CU_ASSERT(contains(query(fd, "/vhost/devices", buf), want));

	snprintf(want, sizeof(want), "/vhost/device,%d", d.vid);
	v = query(fd, want, buf);
	CU_ASSERT(contains(v, "\"running\":1"));
	CU_ASSERT(contains(v, "\"nr_vring\":2"));
	CU_ASSERT(contains(v, "\"vring1\":{\"queue\":\"rx_q0\",\"size\":256,"
			"\"enabled\":1,\"ready\":1,\"access_ok\":1"));
	/* fm_config_default: two regions, the second at GPA 1 GiB. */
	CU_ASSERT(contains(v, "\"region1\":{\"guest_phys_addr\":\"0x40000000\""));
	CU_ASSERT(contains(v, "\"version_1\""));

	snprintf(want, sizeof(want), "/vhost/vring_stats,%d", d.vid);
	v = query(fd, want, buf);
	CU_ASSERT(contains(v, "\"stats_enabled\":1"));
	/* fe_traffic_ok passed packets both ways. */
	CU_ASSERT(v != NULL && strstr(v, "\"good_packets\":0,") == NULL);

	for (const char *const *bad = (const char *const[]){ "/vhost/device,77",
			"/vhost/device,x", "/vhost/vring_stats", "/vhost/device,0,9",
			"/vhost/vring_stats,1024", NULL }; *bad != NULL; bad++) {
		v = query(fd, *bad, buf);
		CU_ASSERT(v != NULL && strcmp(v, "null}") == 0);
		if (v == NULL || strcmp(v, "null}") != 0)
			printf("    %s: %s\n", *bad, buf);
	}
	CU_ASSERT(fe_dev_close(&d, true));
	close(fd);
}

struct observer {
	pthread_t thread;
	atomic_bool *stop;
	unsigned long replies;
	unsigned long present;	/* /vhost/device,0 found the device */
	unsigned long absent;	/* ... got the null reply */
	unsigned long bad;
	char last_bad[256];
};

static void *
observe(void *arg)
{
	static const char *const cmds[] = {
		"/vhost/device,0", "/vhost/vring_stats,0", "/vhost/device,0,1",
		"/vhost/vring_stats,0,0", "/vhost/devices", "/vhost/sockets",
	};
	struct observer *o = arg;
	char *buf = malloc(REPLY_MAX);
	int fd = tel_open();

	if (buf == NULL || fd < 0) {
		o->bad++;
		snprintf(o->last_bad, sizeof(o->last_bad), "no telemetry connection");
		goto out;
	}
	while (!atomic_load(o->stop)) {
		for (size_t i = 0; i < RTE_DIM(cmds); i++) {
			const char *v = NULL;

			if (tel_query(fd, cmds[i], buf, REPLY_MAX) >= 0)
				v = reply_value(cmds[i], buf);
			o->replies++;
			if (v == NULL) {
				o->bad++;
				snprintf(o->last_bad, sizeof(o->last_bad), "%s: %.200s",
						cmds[i], buf);
			} else if (i == 0 && strcmp(v, "null}") == 0) {
				o->absent++;
			} else if (i == 0) {
				o->present++;
			}
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void
test_churn(void)
{
	const char *env = getenv("FE_TELEMETRY_CYCLES");
	int cycles = env != NULL ? atoi(env) : CYCLES;
	struct observer obs[OBSERVERS];
	atomic_bool stop = false;
	static char buf[REPLY_MAX];
	unsigned long present = 0, absent = 0;
	int fds = test_count_fds(), fd, failures = 0;

	memset(obs, 0, sizeof(obs));
	for (int i = 0; i < OBSERVERS; i++) {
		obs[i].stop = &stop;
		CU_ASSERT_FATAL(pthread_create(&obs[i].thread, NULL, observe, &obs[i]) == 0);
	}
	for (int c = 0; c < cycles && failures < 5; c++) {
		int closed = atomic_load(&backend->ev.destroy_connection);
		struct fe_dev d;
		bool ok;

		ok = fe_dev_open(&d, backend, NULL) == 0;
		if (ok && c % 4 == 0)
			ok = fe_traffic_ok(&d);
		/* Replaces the table under the observers' eyes... */
		for (int t = 0; ok && t < TABLES; t++)
			ok = fm_set_mem_table(&d.m, &d.m.mem) == FM_OK;
		/* ... and frees every ring on one cycle in two. */
		if (ok && c % 2 == 1)
			ok = fm_send_noarg(&d.m, FM_REQ_RESET_OWNER) == FM_OK;
		fe_dev_close(&d, false);
		if (!fe_wait_at_least(&backend->ev.destroy_connection, closed + 1,
				FE_EVENT_MS))
			ok = false;
		if (!ok) {
			printf("    cycle %d failed\n", c);
			failures++;
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < OBSERVERS; i++) {
		pthread_join(obs[i].thread, NULL);
		printf("    observer %d: %lu replies, device present %lu, absent %lu, malformed %lu\n",
				i, obs[i].replies, obs[i].present, obs[i].absent, obs[i].bad);
		if (obs[i].bad != 0)
			printf("    last malformed: %s\n", obs[i].last_bad);
		CU_ASSERT(obs[i].replies > 0);
		CU_ASSERT_EQUAL(obs[i].bad, 0);
		present += obs[i].present;
		absent += obs[i].absent;
	}
	CU_ASSERT_EQUAL(failures, 0);
	/* The observers really raced with live devices. */
	CU_ASSERT(present > 0 && absent > 0);

	/* Nothing is left: no device, no fd. */
	fd = tel_open();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(contains(query(fd, "/vhost/devices", buf), "{}}"));
	CU_ASSERT(contains(query(fd, "/vhost/device,0", buf), "null}"));
	close(fd);
	CU_ASSERT(fe_wait_fd_count(fds, FE_EVENT_MS) <= fds);
}

static CU_TestInfo tests[] = {
	{ "state", test_state },
	{ "churn", test_churn },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "telemetry", suite_init, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret;

	if (fe_init_telemetry("telemetry") < 0)
		return 1;
	ret = fe_run(suites, argc, argv);
	fe_fini();
	return ret;
}
