/* SPDX-License-Identifier: BSD-3-Clause */

/* Micro-benchmark of the device IOTLB lookup (not a test: it asserts
 * nothing). For 1, 64, 4K, 64K and 1M resident entries of scattered
 * 4 KiB pages (IOVAs in random order, no two mergeable), it measures ns
 * per lookup, sequential (IOVA order) and random access, hits and
 * misses, for lib/vhost/iotlb.c and for a linear sorted list walked
 * from its head on every lookup (the model of DPDK 22.11's vhost IOTLB,
 * written here), in the same run. Lookups are independent of each other
 * (a burst's buffers): the figure is throughput, not latency.
 *
 * Usage: bench_iotlb_lookup [--csv FILE] [--max-entries N] [--budget-ms MS]
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static uint64_t sink;

/* ns per lookup over the queries q, for at least budget ns. */
static double
run(const struct setup *su, bool ours, const uint64_t *q, double budget,
    uint64_t *done)
{
	double t0 = now_ns(), t;
	uint64_t k = 0, acc = 0;

	do {
		/* Batches of 256 between clock reads. */
		for (uint32_t b = 0; b < 256; b++, k++) {
			uint64_t iova = q[k & (NQ - 1)] + (k & 0xff);

			if (ours) {
				const struct vhost_iotlb_entry *e = NULL;
				uint64_t len = 64;

				if (vhost_iotlb_lookup_at(&su->t, iova, &len, VHOST_ACCESS_RO,
							  0, &e) == VHOST_IOTLB_LOOKUP_HIT)
					acc += e->hva + (iova - e->iova);
			} else {
				acc += llist_find(&su->l, iova, VHOST_ACCESS_RO);
			}
		}
		t = now_ns();
	} while (t - t0 < budget);
	sink += acc;
	*done = k;
	return (t - t0) / (double)k;
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
	double ours_rand_hit[5] = { 0 };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--max-entries") == 0 && i + 1 < argc)
			max_entries = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc)
			budget = strtod(argv[++i], NULL) * 1e6;
		else {
			fprintf(stderr, "usage: %s [--csv FILE] [--max-entries N] [--budget-ms MS]\n",
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
		fprintf(csv, "entries,access,result,impl,ns_per_lookup,lookups\n");
	}
	printf("ns per lookup (independent lookups, %.0f ms per cell); linear = sorted list walked from its head (DPDK 22.11's model)\n\n",
	       budget / 1e6);
	printf("%8s  %-10s %-4s  %10s %12s %9s\n", "entries", "access", "", "ours", "linear", "ratio");
	for (unsigned int si = 0; si < 5 && sizes[si] <= max_entries; si++) {
		struct setup su;

		if (build(&su, sizes[si]) != 0) {
			fprintf(stderr, "set-up of %u entries failed\n", sizes[si]);
			return 1;
		}
		for (int pat = 0; pat < 2; pat++) {
			for (int hit = 1; hit >= 0; hit--) {
				double ns[2];
				uint64_t done[2];

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
				for (int impl = 0; impl < 2; impl++)
					ns[impl] = run(&su, impl == 0, q, budget, &done[impl]);
				printf("%8u  %-10s %-4s  %10.1f %12.1f %8.0fx\n", su.n,
				       pat == 0 ? "sequential" : "random", hit ? "hit" : "miss",
				       ns[0], ns[1], ns[1] / ns[0]);
				fflush(stdout);
				for (int impl = 0; csv != NULL && impl < 2; impl++)
					fprintf(csv, "%u,%s,%s,%s,%.2f,%" PRIu64 "\n", su.n,
						pat == 0 ? "sequential" : "random",
						hit ? "hit" : "miss", impl == 0 ? "ours" : "linear",
						ns[impl], done[impl]);
				if (pat == 1 && hit)
					ours_rand_hit[si] = ns[0];
			}
		}
		teardown(&su);
	}
	if (ours_rand_hit[0] > 0 && ours_rand_hit[4] > 0)
		printf("\nours, random hits: %.1f ns at 1M entries, %.1f ns at 1 entry: %.2fx\n",
		       ours_rand_hit[4], ours_rand_hit[0], ours_rand_hit[4] / ours_rand_hit[0]);
	if (csv != NULL)
		fclose(csv);
	free(q);
	return sink == 42 ? 3 : 0;	/* keeps the lookups from being optimised out */
}
