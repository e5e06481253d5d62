/* SPDX-License-Identifier: BSD-3-Clause */

/* Micro-benchmark of the device IOTLB lookup (not a test: it asserts
 * nothing). For 1, 64, 4K, 64K and 1M resident entries of scattered
 * 4 KiB pages (IOVAs in random order, no two mergeable), it measures ns
 * per lookup, sequential (IOVA order) and random access, hits and
 * misses, for lib/vhost/iotlb.c and for a linear sorted list walked
 * from its head on every lookup (the model of DPDK 22.11's vhost IOTLB,
 * written here), in the same run.
 *
 * Three ways of issuing the lookups (the "mode" column):
 * - single: one lookup after the other, independent of each other, no
 *   software prefetch. The CPU overlaps what its out-of-order window
 *   holds (a few lookups), so this is neither latency nor the
 *   datapath's cost.
 * - batch32 (ours, random access): batches of 32 independent IOVAs
 *   looked up the way the datapath does (vhost_prefetch_translations()
 *   in lib/vhost/vring.h): prefetch every lookup's index slot, then
 *   every entry those slots name, then look them all up. What a burst
 *   pays per lookup.
 * - chained (ours, random access): each lookup's IOVA depends on the
 *   result of the one before, so nothing overlaps: the latency of one
 *   lookup.
 *
 * Usage: bench_iotlb_lookup [--csv FILE] [--max-entries N] [--budget-ms MS]
 *                           [--huge]
 * --huge: madvise(MADV_HUGEPAGE) the IOTLB's tables before filling them
 * (transparent huge pages), to compare with and without in two runs.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <linux/vhost_types.h>

#include "../common/test_rng.h"
#include "iotlb.h"

#define PG 4096ULL

static uint64_t rng = 0x10b1ab1e5eedULL;

static uint64_t
rnd(void)
{
	return test_splitmix64(&rng);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- the linear sorted list (DPDK 22.11's model) ------------------------ */

struct lnode {
	struct lnode *next;
	uint64_t iova, size, uaddr;
	uint8_t perm;
};

struct llist {
	struct lnode *head;
	struct lnode *nodes;	/* allocated in insertion (random) order */
};

/* Walk from the head until past iova, as DPDK's
 * vhost_user_iotlb_cache_find() does. */
static uint64_t
llist_find(const struct llist *l, uint64_t iova, uint8_t perm)
{
	for (const struct lnode *n = l->head; n != NULL; n = n->next) {
		if (iova < n->iova)
			break;
		if (iova < n->iova + n->size) {
			if ((n->perm & perm) != perm)
				break;
			return n->uaddr + (iova - n->iova);
		}
	}
	return 0;
}

static int
cmp_node_ptr(const void *a, const void *b)
{
	const struct lnode *x = *(struct lnode *const *)a;
	const struct lnode *y = *(struct lnode *const *)b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/* ---- the set-up ----------------------------------------------------------- */

struct setup {
	uint32_t n;
	uint64_t *page;		/* 2n distinct pages: n mapped, n not */
	uint64_t *sorted;	/* the mapped ones in IOVA order */
	struct vhost_iotlb t;
	struct llist l;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Distinct random page numbers in a 48-bit IOVA space: sort, then
 * replace duplicates (rare) until none is left. */
static void
distinct_pages(uint64_t *p, uint32_t count)
{
	uint64_t *s = malloc(count * sizeof(*s));
	bool dup = true;

	for (uint32_t i = 0; i < count; i++)
		p[i] = rnd() & ((1ULL << 36) - 1);
	while (dup) {
		dup = false;
		memcpy(s, p, count * sizeof(*s));
		qsort(s, count, sizeof(*s), cmp_u64);
		for (uint32_t i = 1; i < count; i++) {
			if (s[i] != s[i - 1])
				continue;
			for (uint32_t j = 0; j < count; j++)
				if (p[j] == s[i]) {
					p[j] = rnd() & ((1ULL << 36) - 1);
					break;
				}
			dup = true;
		}
	}
	free(s);
}

/* Set by --huge. */
static bool huge;

/* Ask for transparent huge pages on one of the IOTLB's tables (whole
 * 2 MiB pages inside it only). */
static void
advise_huge(void *p, size_t bytes)
{
	uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
	uintptr_t end = ((uintptr_t)p + bytes) & ~(uintptr_t)((2u << 20) - 1);

	if (end > a && madvise((void *)a, end - a, MADV_HUGEPAGE) != 0)
		perror("madvise(MADV_HUGEPAGE)");
}

static int
build(struct setup *su, uint32_t n)
{
	struct lnode **order;

	memset(su, 0, sizeof(*su));
	su->n = n;
	su->page = malloc(2 * (size_t)n * sizeof(*su->page));
	su->sorted = malloc((size_t)n * sizeof(*su->sorted));
	order = malloc((size_t)n * sizeof(*order));
	su->l.nodes = calloc(n, sizeof(*su->l.nodes));
	if (su->page == NULL || su->sorted == NULL || order == NULL ||
	    su->l.nodes == NULL || vhost_iotlb_init(&su->t, n) != 0)
		return -1;
	if (huge) {
		advise_huge(su->t.e, (size_t)n * sizeof(*su->t.e));
		advise_huge(su->t.node, (size_t)n * sizeof(*su->t.node));
		advise_huge(su->t.slot, (su->t.slot_mask + 1) * sizeof(*su->t.slot));
	}
	distinct_pages(su->page, 2 * n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t iova = su->page[i] * PG;
		/* uaddrs 8 KiB apart: no two IOVA neighbours merge. */
		uint64_t uaddr = 0x100000000000ULL + (uint64_t)i * 2 * PG;

		if (vhost_iotlb_update(&su->t, iova, PG, uaddr, VHOST_ACCESS_RW) != 0)
			return -1;
		su->l.nodes[i] = (struct lnode){ NULL, iova, PG, uaddr, VHOST_ACCESS_RW };
		order[i] = &su->l.nodes[i];
		su->sorted[i] = iova;
	}
	if (su->t.n != n) {
		fprintf(stderr, "the IOTLB holds %u entries, not %u\n", su->t.n, n);
		return -1;
	}
	qsort(order, n, sizeof(*order), cmp_node_ptr);
	for (uint32_t i = 0; i + 1 < n; i++)
		order[i]->next = order[i + 1];
	su->l.head = order[0];
	qsort(su->sorted, n, sizeof(*su->sorted), cmp_u64);
	free(order);
	return 0;
}

static void
teardown(struct setup *su)
{
	vhost_iotlb_fini(&su->t);
	free(su->page);
	free(su->sorted);
	free(su->l.nodes);
}

/* ---- measuring ------------------------------------------------------------- */

#define NQ (1u << 20)	/* queries per pattern, cycled */
#define BATCH 32	/* lookups per batch in batch32 mode */

enum mode { SINGLE, BATCH32, CHAINED, NMODES };

static const char *const mode_name[NMODES] = { "single", "batch32", "chained" };

static uint64_t sink;
/* Zero, but the compiler cannot know it: chains each lookup to the
 * result of the one before (chained mode). */
static volatile uint64_t zero;

static __rte_always_inline uint64_t
lookup_ours(const struct vhost_iotlb *t, uint64_t iova)
{
	const struct vhost_iotlb_entry *e = NULL;
	uint64_t len = 64;

	if (vhost_iotlb_lookup_at(t, iova, &len, VHOST_ACCESS_RO, 0, &e) ==
	    VHOST_IOTLB_LOOKUP_HIT)
		return e->hva + (iova - e->iova);
	return 0;
}

/* The IOVA of lookup k: a query, at an offset inside its page. */
static __rte_always_inline uint64_t
query(const uint64_t *q, uint64_t k)
{
	return q[k & (NQ - 1)] + (k & 0xff);
}

/* ns per lookup over the queries q, for at least budget ns. */
static double
run(const struct setup *su, bool ours, enum mode mode, const uint64_t *q,
    double budget, uint64_t *done)
{
	const struct vhost_iotlb *t = &su->t;
	double t0 = now_ns(), now;
	uint64_t k = 0, acc = 0, z = zero;

	do {
		/* 256 lookups between clock reads. */
		if (!ours) {
			for (uint32_t b = 0; b < 256; b++, k++)
				acc += llist_find(&su->l, query(q, k), VHOST_ACCESS_RO);
		} else if (mode == SINGLE) {
			for (uint32_t b = 0; b < 256; b++, k++)
				acc += lookup_ours(t, query(q, k));
		} else if (mode == CHAINED) {
			for (uint32_t b = 0; b < 256; b++, k++)
				acc += lookup_ours(t, query(q, k) + (acc & z));
		} else {
			for (uint32_t b = 0; b < 256; b += BATCH) {
				uint64_t iova[BATCH], hash[BATCH];

				/* As vhost_prefetch_translations() does
				 * (t->levels is never 0 here). */
				for (uint32_t i = 0; i < BATCH; i++) {
					iova[i] = query(q, k + i);
					hash[i] = vhost_iotlb_prefetch_slot(t, iova[i]);
				}
				for (uint32_t i = 0; i < BATCH; i++)
					vhost_iotlb_prefetch_entry(t, hash[i]);
				for (uint32_t i = 0; i < BATCH; i++)
					acc += lookup_ours(t, iova[i]);
				k += BATCH;
			}
		}
		now = now_ns();
	} while (now - t0 < budget);
	sink += acc;
	*done = k;
	return (now - t0) / (double)k;
}

static void
report(FILE *csv, uint32_t n, int pat, enum mode mode, int hit, bool ours,
       double ns, uint64_t done)
{
	if (csv != NULL)
		fprintf(csv, "%u,%s,%s,%s,%s,%.2f,%" PRIu64 "\n", n,
			pat == 0 ? "sequential" : "random", mode_name[mode],
			hit ? "hit" : "miss", ours ? "ours" : "linear", ns, done);
}

int
main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1, 64, 4096, 65536, 1048576 };
	const char *csv_path = NULL;
	uint32_t max_entries = 1048576;
	double budget = 300e6;
	uint64_t *q = malloc(NQ * sizeof(*q));
	FILE *csv = NULL;
	/* Random hits, ours, per mode: at 1 entry and at the most measured. */
	double first[NMODES] = { 0 }, last[NMODES] = { 0 };
	uint32_t last_n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--max-entries") == 0 && i + 1 < argc)
			max_entries = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc)
			budget = strtod(argv[++i], NULL) * 1e6;
		else if (strcmp(argv[i], "--huge") == 0)
			huge = true;
		else {
			fprintf(stderr, "usage: %s [--csv FILE] [--max-entries N] [--budget-ms MS] [--huge]\n",
				argv[0]);
			return 2;
		}
	}
	if (q == NULL)
		return 1;
	if (csv_path != NULL) {
		csv = fopen(csv_path, "w");
		if (csv == NULL) {
			perror(csv_path);
			return 1;
		}
		fprintf(csv, "entries,access,mode,result,impl,ns_per_lookup,lookups\n");
	}
	printf("ns per lookup, %.0f ms per cell%s; linear = sorted list walked from its head (DPDK 22.11's model)\n"
	       "single: independent lookups one after the other, no prefetch (the CPU overlaps a few)\n"
	       "batch32: %u independent lookups, slots then entries prefetched first (the datapath's way: what a burst pays)\n"
	       "chained: each lookup waits for the one before (latency)\n\n",
	       budget / 1e6, huge ? ", tables madvise(MADV_HUGEPAGE)" : "", BATCH);
	printf("%8s  %-10s %-7s %-4s  %10s %12s %9s\n", "entries", "access", "mode", "",
	       "ours", "linear", "ratio");
	for (unsigned int si = 0; si < 5 && sizes[si] <= max_entries; si++) {
		struct setup su;

		if (build(&su, sizes[si]) != 0) {
			fprintf(stderr, "set-up of %u entries failed\n", sizes[si]);
			return 1;
		}
		for (int pat = 0; pat < 2; pat++) {
			for (int hit = 1; hit >= 0; hit--) {
				/* Sequential: the pages in IOVA order, cycled;
				 * random: any page each time. Misses are pages
				 * that are not mapped. */
				for (uint32_t k = 0; k < NQ; k++) {
					uint32_t i = pat == 0 ? k % su.n :
						(uint32_t)(rnd() % su.n);

					if (hit)
						q[k] = pat == 0 ? su.sorted[i] : su.page[i] * PG;
					else
						q[k] = su.page[su.n + i] * PG;
				}
				if (pat == 0 && !hit) {
					qsort(q, su.n, sizeof(*q), cmp_u64);
					for (uint32_t k = su.n; k < NQ; k++)
						q[k] = q[k % su.n];
				}
				/* Batched and chained lookups: random access,
				 * ours only (the linear list's walk is a chain
				 * of dependent loads whatever the mode). */
				for (enum mode m = SINGLE; m < NMODES; m++) {
					const char *row = pat == 0 ? "sequential" : "random";
					double ns, lns;
					uint64_t done, ldone;

					if (m != SINGLE && pat == 0)
						break;
					ns = run(&su, true, m, q, budget, &done);
					report(csv, su.n, pat, m, hit, true, ns, done);
					if (m == SINGLE) {
						lns = run(&su, false, m, q, budget, &ldone);
						report(csv, su.n, pat, m, hit, false, lns, ldone);
						printf("%8u  %-10s %-7s %-4s  %10.1f %12.1f %8.1fx\n",
						       su.n, row, mode_name[m], hit ? "hit" : "miss",
						       ns, lns, lns / ns);
					} else {
						printf("%8u  %-10s %-7s %-4s  %10.1f %12s %9s\n",
						       su.n, row, mode_name[m], hit ? "hit" : "miss",
						       ns, "-", "-");
					}
					fflush(stdout);
					if (pat == 1 && hit) {
						if (si == 0)
							first[m] = ns;
						last[m] = ns;
						last_n = su.n;
					}
				}
			}
		}
		teardown(&su);
	}
	if (last_n > 1) {
		printf("\nours, random hits at %u entries against 1 entry, same mode:\n", last_n);
		for (enum mode m = SINGLE; m < NMODES; m++)
			printf("  %-7s %8.1f ns against %6.1f ns: %6.2fx\n", mode_name[m],
			       last[m], first[m], last[m] / first[m]);
	}
	if (csv != NULL)
		fclose(csv);
	free(q);
	return sink == 42 ? 3 : 0;	/* keeps the lookups from being optimised out */
}
