/* SPDX-License-Identifier: BSD-3-Clause */

/* Device IOTLB lookups racing updates, with the locking the datapath
 * uses: a writer (the vhost-user message handler) updates and
 * invalidates under the write lock; readers (the queues' datapath)
 * take the read lock, or try to, for a burst of lookups.
 *
 * The writer only ever maps iova to iova + UOFF, and only with the
 * permission of the 64 KiB block the range lies in; the last page of
 * each block is never mapped, so no two blocks merge. Any hit must
 * therefore satisfy uaddr == iova + UOFF, stay within one block, and
 * allow no more than the block's permission; a denial must be one the
 * block's permission explains. A torn or stale view of the table shows
 * up as a violation, and the data races themselves under TSan (see
 * run_tsan.sh).
 *
 * No EAL: rte_rwlock is header-only, which keeps the test runnable
 * without hugepages and buildable with -fsanitize=thread. */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <rte_rwlock.h>

#include "../common/test_rng.h"
#include "iotlb.h"

#define PG 0x1000ULL
#define BLOCK_PAGES 16ULL
#define BLOCK (BLOCK_PAGES * PG)
#define MAPPABLE ((BLOCK_PAGES - 1) * PG)	/* last page: a gap */
#define NBLOCKS 16ULL
#define BASE 0x100000000ULL
#define SPACE (NBLOCKS * BLOCK)
#define UOFF 0x7f0000000000ULL
#define MAX_ENTRIES 32		/* small, so that the writer evicts too */
#define BURST 32
#define MAX_READERS 8

static struct vhost_iotlb tlb;
static rte_rwlock_t lock = RTE_RWLOCK_INITIALIZER;
static atomic_bool stop;
static double duration = 2.0;
static uint64_t seed = 0xc0ffee10b1ab1eULL;

/* splitmix64, one state per thread. */
static uint64_t
rnd(uint64_t *s)
{
	return test_splitmix64(s);
}

static uint8_t
block_perm(uint64_t iova)
{
	return (uint8_t)((iova - BASE) / BLOCK % 3 + 1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each thread's counters and first error, read by main after join. */
struct tstats {
	unsigned int id;
	uint64_t ops, hits, misses, denied, busy, errors;
	char first_error[256];
};

static void
record_error(struct tstats *st, const char *what, uint64_t iova,
	     uint64_t len, uint8_t perm, uint64_t ua, uint64_t l)
{
	if (st->errors++ == 0)
		snprintf(st->first_error, sizeof(st->first_error),
			 "%s: lookup(0x%" PRIx64 ", len 0x%" PRIx64
			 ", perm %u) -> uaddr 0x%" PRIx64 " len 0x%" PRIx64,
			 what, iova, len, perm, ua, l);
}

/* A range inside the mappable part of one block: whole pages or bytes. */
static void
rand_range(uint64_t *s, uint64_t *iova, uint64_t *size)
{
	uint64_t block = BASE + rnd(s) % NBLOCKS * BLOCK, off, len;

	if (rnd(s) % 2 == 0) {
		off = rnd(s) % (BLOCK_PAGES - 1) * PG;
		len = (1 + rnd(s) % 6) * PG;
	} else {
		off = rnd(s) % MAPPABLE;
		len = 1 + rnd(s) % (2 * PG);
	}
	if (len > MAPPABLE - off)
		len = MAPPABLE - off;
	*iova = block + off;
	*size = len;
}

static void *
writer(void *arg)
{
	struct tstats *st = arg;
	uint64_t s = seed, iova, size;
	double end = now() + duration;

	while (now() < end) {
		uint64_t r = rnd(&s) % 100;
		int rc = 0;

		rand_range(&s, &iova, &size);
		rte_rwlock_write_lock(&lock);
		if (r < 60)
			rc = vhost_iotlb_update(&tlb, iova, size, iova + UOFF,
						block_perm(iova));
		else if (r < 99)
			vhost_iotlb_invalidate(&tlb, iova, size);
		else
			vhost_iotlb_flush(&tlb);
		rte_rwlock_write_unlock(&lock);
		if (rc != 0)
			record_error(st, "update refused", iova, size,
				     block_perm(iova), 0, 0);
		st->ops++;
	}
	atomic_store(&stop, true);
	return NULL;
}

/* One lookup, checked against what the writer can have mapped. */
static void
check_one(struct tstats *st, uint64_t iova, uint64_t len, uint8_t perm)
{
	uint64_t l = len, ua = 0, off = (iova - BASE) % BLOCK;
	bool in = iova - BASE < SPACE && off < MAPPABLE;
	uint8_t bp = in ? block_perm(iova) : 0;
	enum vhost_iotlb_result r;

	r = vhost_iotlb_lookup(&tlb, iova, &l, perm, &ua);
	switch (r) {
	case VHOST_IOTLB_LOOKUP_MISS:
		st->misses++;
		break;
	case VHOST_IOTLB_LOOKUP_DENIED:
		st->denied++;
		if (!in || (bp & perm) == perm)
			record_error(st, "wrong denial", iova, len, perm, 0, 0);
		break;
	case VHOST_IOTLB_LOOKUP_HIT:
		st->hits++;
		if (!in)
			record_error(st, "hit outside any mapping", iova, len,
				     perm, ua, l);
		else if (ua != iova + UOFF)
			record_error(st, "wrong uaddr", iova, len, perm, ua, l);
		else if (l == 0 || l > len || l > MAPPABLE - off)
			record_error(st, "wrong length", iova, len, perm, ua,
				     l);
		else if ((bp & perm) != perm)
			record_error(st, "hit without permission", iova, len,
				     perm, ua, l);
		break;
	default:
		record_error(st, "bad result", iova, len, perm, ua, l);
	}
	st->ops++;
}

static void *
reader(void *arg)
{
	struct tstats *st = arg;
	uint64_t s = seed + 0x1000 * (st->id + 1), iova = BASE;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		/* Some bursts only try, as a datapath that would rather
		 * come back later than wait for the writer. */
		if (rnd(&s) % 4 == 0) {
			if (rte_rwlock_read_trylock(&lock) != 0) {
				st->busy++;
				continue;
			}
		} else {
			rte_rwlock_read_lock(&lock);
		}
		for (unsigned int i = 0; i < BURST; i++) {
			uint64_t len = 1 + rnd(&s) % (2 * PG);
			uint8_t perm = (uint8_t)(1 + rnd(&s) % 3);

			/* Mostly consecutive buffers (the hint's case),
			 * sometimes anywhere near the window. */
			if (rnd(&s) % 8 == 0)
				iova = BASE - PG + rnd(&s) % (SPACE + 2 * PG);
			check_one(st, iova, len, perm);
			iova += len;
		}
		rte_rwlock_read_unlock(&lock);
	}
	return NULL;
}

/* After the run: every entry is one the writer could have made. */
static uint64_t
check_table(void)
{
	static struct vhost_iotlb_entry te[MAX_ENTRIES];
	uint64_t bad = 0;
	char why[256];

	if (tlb.n > MAX_ENTRIES ||
	    vhost_iotlb_snapshot(&tlb, te, MAX_ENTRIES) != tlb.n)
		return 1;
	if (vhost_iotlb_check(&tlb, why, sizeof(why)) != 0) {
		fprintf(stderr, "structure: %s\n", why);
		bad++;
	}
	for (uint32_t i = 0; i < tlb.n; i++) {
		const struct vhost_iotlb_entry *e = &te[i];

		if (e->iova < BASE || e->last >= BASE + SPACE ||
		    e->iova > e->last ||
		    (e->iova - BASE) / BLOCK != (e->last - BASE) / BLOCK ||
		    (e->last - BASE) % BLOCK >= MAPPABLE ||
		    e->uaddr != e->iova + UOFF ||
		    e->perm != block_perm(e->iova) ||
		    (i > 0 && te[i - 1].last >= e->iova)) {
			fprintf(stderr, "bad entry %u: [0x%" PRIx64 ", 0x%"
				PRIx64 "] -> 0x%" PRIx64 " perm %u\n", i,
				e->iova, e->last, e->uaddr, e->perm);
			bad++;
		}
	}
	return bad;
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-r readers (1..%d)] [-t seconds]"
		" [-s seed]\n", prog, MAX_READERS);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct tstats ws = { 0 }, rs[MAX_READERS];
	pthread_t wt, rt[MAX_READERS];
	unsigned int nreaders = 2;
	uint64_t errors = 0, hits = 0, denied = 0, lookups = 0;
	int opt;

	while ((opt = getopt(argc, argv, "r:t:s:")) != -1) {
		switch (opt) {
		case 'r': nreaders = (unsigned int)atoi(optarg); break;
		case 't': duration = atof(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		default: usage(argv[0]);
		}
	}
	if (nreaders < 1 || nreaders > MAX_READERS || duration <= 0)
		usage(argv[0]);
	printf("iotlb concurrency: 1 writer, %u readers, %.1f s, seed 0x%"
	       PRIx64 "\n", nreaders, duration, seed);

	if (vhost_iotlb_init(&tlb, MAX_ENTRIES) != 0) {
		fprintf(stderr, "vhost_iotlb_init failed\n");
		return 1;
	}
	memset(rs, 0, sizeof(rs));
	for (unsigned int i = 0; i < nreaders; i++) {
		rs[i].id = i;
		if (pthread_create(&rt[i], NULL, reader, &rs[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	if (pthread_create(&wt, NULL, writer, &ws) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	pthread_join(wt, NULL);
	for (unsigned int i = 0; i < nreaders; i++)
		pthread_join(rt[i], NULL);

	printf("writer: %" PRIu64 " ops, %" PRIu64 " evictions\n", ws.ops,
	       tlb.evictions);
	if (ws.errors != 0)
		printf("writer: %" PRIu64 " errors, first: %s\n", ws.errors,
		       ws.first_error);
	errors += ws.errors;
	for (unsigned int i = 0; i < nreaders; i++) {
		printf("reader %u: %" PRIu64 " lookups: %" PRIu64 " hit, %"
		       PRIu64 " miss, %" PRIu64 " denied; %" PRIu64
		       " busy trylocks\n", i, rs[i].ops, rs[i].hits,
		       rs[i].misses, rs[i].denied, rs[i].busy);
		if (rs[i].errors != 0)
			printf("reader %u: %" PRIu64 " errors, first: %s\n",
			       i, rs[i].errors, rs[i].first_error);
		errors += rs[i].errors;
		hits += rs[i].hits;
		denied += rs[i].denied;
		lookups += rs[i].ops;
	}
	errors += check_table();
	/* A run where the readers never saw a mapping proves nothing. */
	if (ws.ops == 0 || lookups == 0 || hits == 0 || denied == 0) {
		printf("too little happened to conclude anything\n");
		errors++;
	}
	vhost_iotlb_fini(&tlb);
	printf("iotlb-concurrency checks: %s\n", errors == 0 ? "PASS" : "FAIL");
	return errors == 0 ? 0 : 1;
}
