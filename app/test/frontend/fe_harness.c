/* SPDX-License-Identifier: BSD-3-Clause */
/* Backend side of the frontend tests: see fe_harness.h. */
#include "fe_harness.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_vhost.h>

#include "fm_conn.h"
#include "test_eal.h"
#include "test_run.h"

#define FE_MAX_BACKENDS 8

struct rte_mempool *fe_pool;
static char tmpdir[64];
static struct fe_backend backends[FE_MAX_BACKENDS];
static int
init(const char *name, bool telemetry)
{
	char prefix[96], loglevel[96];
	const char *level = getenv("FE_LOG_LEVEL");
	char *argv[] = {
		(char *)(uintptr_t)name, "--no-pci", "--no-huge", "-m", "256",
		"-l", "0", prefix, loglevel, "--no-telemetry",
	};
	/* Without telemetry unless asked: one thread less to reason about. */
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - (telemetry ? 1 : 0);

	/* Line buffering keeps CUnit lines and library logs in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(prefix, sizeof(prefix), "--file-prefix=fe-%s-%d", name,
			(int)getpid());
	test_eal_sweep_stale("fe-");
	/* lib.vhost* covers ours (lib.vhost) and DPDK's (lib.vhost.config). */
	snprintf(loglevel, sizeof(loglevel), "--log-level=lib.vhost*:%s",
			level != NULL ? level : "debug");
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "rte_eal_init failed: %s\n",
				rte_strerror(rte_errno));
		return -1;
	}
	/* Library logs on stderr, test results alone on stdout. */
	rte_openlog_stream(stderr);
	fe_pool = rte_pktmbuf_pool_create("fe_pool", 8191, 0, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (fe_pool == NULL) {
		fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	strcpy(tmpdir, "/tmp/vhost-fe-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

int
fe_init(const char *name)
{
	return init(name, false);
}

int
fe_init_telemetry(const char *name)
{
	return init(name, true);
}

static void
remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

void
fe_fini(void)
{
	int i;

	for (i = 0; i < FE_MAX_BACKENDS; i++)
		if (backends[i].active)
			fe_backend_stop(&backends[i]);
	if (test_recorder_strays() != 0)
		fprintf(stderr, "%d callbacks for unknown vids\n",
				test_recorder_strays());
	rte_mempool_free(fe_pool);
	fe_pool = NULL;
	test_eal_cleanup();
	remove_tmpdir();
}

void
fe_sock_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.sock", tmpdir, name);
}

void
fe_backend_reset_events(struct fe_backend *b)
{
	test_recorder_reset(&b->ev);
}

struct fe_backend *
fe_backend_register(const char *name, uint64_t flags)
{
	struct fe_backend *b = NULL;
	int i;

	for (i = 0; i < FE_MAX_BACKENDS && b == NULL; i++)
		if (!backends[i].active)
			b = &backends[i];
	if (b == NULL)
		return NULL;
	fe_sock_path(b->path, sizeof(b->path), name);
	b->flags = flags;
	test_recorder_init(&b->ev);
	if (rte_vhost_driver_register(b->path, flags) != 0)
		return NULL;
	if (test_recorder_attach(b->path, &b->ev, NULL) != 0) {
		rte_vhost_driver_unregister(b->path);
		return NULL;
	}
	b->active = true;
	return b;
}

struct fe_backend *
fe_backend_start(const char *name, uint64_t flags)
{
	struct fe_backend *b = fe_backend_register(name, flags);

	if (b != NULL && rte_vhost_driver_start(b->path) != 0) {
		fe_backend_stop(b);
		return NULL;
	}
	return b;
}

int
fe_backend_stop(struct fe_backend *b)
{
	int ret;

	if (!b->active)
		return -ENOENT;
	ret = rte_vhost_driver_unregister(b->path);
	test_recorder_detach(b->path);
	b->active = false;
	unlink(b->path);
	return ret;
}

bool
fe_wait_at_least(atomic_int *v, int n, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	while (atomic_load(v) < n) {
		if (fm_now_ms() >= deadline)
			return false;
		usleep(1000);
	}
	return true;
}

bool
fe_stays_below(atomic_int *v, int n, int ms)
{
	int64_t deadline = fm_now_ms() + ms;

	while (fm_now_ms() < deadline) {
		if (atomic_load(v) >= n)
			return false;
		usleep(1000);
	}
	return atomic_load(v) < n;
}

bool
fe_more_rounds(int64_t start, int ms, int done, int min)
{
	int64_t now = fm_now_ms();

	return now < start + ms || (done < min && now < start + FE_SLOW_MS);
}

bool
fe_wait_vring_state(struct fe_backend *b, int ring, int state,
		int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	while (atomic_load(&b->ev.vring_state[ring]) != state) {
		if (fm_now_ms() >= deadline)
			return false;
		usleep(1000);
	}
	return true;
}

void
fe_fd_snapshot(struct fe_fdset *s)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	s->n = 0;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && s->n < (int)(sizeof(s->fd) /
			sizeof(s->fd[0])))
		if (e->d_name[0] != '.')
			s->fd[s->n++] = atoi(e->d_name);
	closedir(d);
}

void
fe_fd_print_new(const struct fe_fdset *s)
{
	struct fe_fdset now;
	int i, j;

	fe_fd_snapshot(&now);
	for (i = 0; i < now.n; i++) {
		char p[64], target[256];
		ssize_t l;

		for (j = 0; j < s->n; j++)
			if (s->fd[j] == now.fd[i])
				break;
		if (j < s->n)
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", now.fd[i]);
		l = readlink(p, target, sizeof(target) - 1);
		if (l < 0)
			continue; /* the directory stream itself, now closed */
		target[l] = '\0';
		printf("    FE:   fd %d -> %s\n", now.fd[i], target);
	}
}

int
fe_wait_fd_count(int target, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;
	int n;

	while ((n = test_count_fds()) > target && fm_now_ms() < deadline)
		usleep(2000);
	return n;
}

void
fe_packet(uint8_t *buf, uint32_t len, uint32_t seed)
{
	static const uint8_t head[14] = {
		0x02, 0, 0, 0, 0, 0x01,   /* locally administered unicast */
		0x02, 0, 0, 0, 0, 0x02,
		0x88, 0xb5,               /* IEEE local experimental */
	};
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = i < sizeof(head) ? head[i] :
			(uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

struct rte_mbuf *
fe_mbuf_make(const uint8_t *data, uint32_t len, uint32_t seg_len)
{
	struct rte_mbuf *head = NULL;
	uint32_t off = 0;

	do {
		struct rte_mbuf *m = rte_pktmbuf_alloc(fe_pool);
		uint32_t room, l;
		char *p;

		if (m == NULL)
			goto fail;
		room = rte_pktmbuf_tailroom(m);
		if (seg_len != 0 && seg_len < room)
			room = seg_len;
		l = len - off < room ? len - off : room;
		p = rte_pktmbuf_append(m, (uint16_t)l);
		if (p == NULL && l != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
		memcpy(p, data + off, l);
		off += l;
		if (head == NULL)
			head = m;
		else if (rte_pktmbuf_chain(head, m) != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
	} while (off < len);
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

int
fe_mbuf_copy_out(const struct rte_mbuf *m, uint8_t *out, uint32_t cap)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	const void *p;

	if (len > cap)
		return -1;
	p = rte_pktmbuf_read(m, 0, len, out);
	if (p == NULL)
		return -1;
	if (p != out)
		memcpy(out, p, len);
	return (int)len;
}

int
fe_run(CU_SuiteInfo *suites, int argc, char **argv)
{
	return test_run(suites, argc, argv);
}

int
fe_main_one_backend(const char *name, const char *bname,
		struct fe_backend **b, CU_SuiteInfo *suites, int argc,
		char **argv)
{
	int ret = 2;

	if (fe_init(name) != 0)
		return 2;
	*b = fe_backend_start(bname, 0);
	if (*b != NULL)
		ret = fe_run(suites, argc, argv);
	fe_fini();
	return ret;
}

int64_t
fe_vring_stat(int vid, uint16_t q, const char *name)
{
	struct rte_vhost_stat_name names[128];
	struct rte_vhost_stat st[128];
	size_t sl = strlen(name);
	int n;

	n = rte_vhost_vring_stats_get_names(vid, q, names, 128);
	if (n <= 0 || n > 128 || rte_vhost_vring_stats_get(vid, q, st, 128) != n)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *nm;
		size_t l;

		if (st[i].id >= (uint64_t)n)
			continue;
		nm = names[st[i].id].name;
		l = strlen(nm);
		/* A whole word at the end: "misses" must not match
		 * "iotlb_misses" when asked for "_misses"'s neighbour. */
		if (l >= sl && strcmp(nm + l - sl, name) == 0 &&
				(name[0] == '_' || (l > sl && nm[l - sl - 1] == '_')))
			return (int64_t)st[i].value;
	}
	return -1;
}
