/* SPDX-License-Identifier: BSD-3-Clause */
/* Resource accounting of the fault tests: see fault_usage.h. */
#include "fault_usage.h"

#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "fe_harness.h"
#include "fe_traffic.h"

#if defined(__SANITIZE_ADDRESS__)
#define FAULT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULT_ASAN 1
#endif
#endif
#ifndef FAULT_ASAN
#define FAULT_ASAN 0
#endif

bool
fault_asan(void)
{
	return FAULT_ASAN;
}

void
fault_usage_take(struct fault_usage *u)
{
	unsigned int s;

	memset(u, 0, sizeof(*u));
	u->fds = test_count_fds();
	/* Mappings of memfds: the frontends' guest memory, as the
	 * frontends (or a forked one's parent) and the library map it. */
	u->memfd_maps = test_count_maps("/memfd:");
	u->rss_kb = test_rss_kib();
	for (s = 0; s < rte_socket_count(); s++) {
		struct rte_malloc_socket_stats st;

		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(s),
				&st) == 0) {
			u->heap_bytes += st.heap_allocsz_bytes;
			u->heap_allocs += st.alloc_count;
		}
	}
	if (!FAULT_ASAN)
		u->libc_bytes = mallinfo2().uordblks;
}

bool
fault_usage_check(const struct fault_usage *before, const char *name)
{
	struct fault_usage now;
	bool ok = true;

	/* The library closes a dead connection's fds on its own thread. */
	fe_wait_fd_count(before->fds, FE_EVENT_MS);
	fault_usage_take(&now);
	printf("    %s: fds %d -> %d, memfd mappings %d -> %d, RSS %ld -> %ld KiB, rte_malloc %zu B "
			"in %u -> %zu B in %u, libc heap %zu -> %zu B\n", name,
			before->fds, now.fds, before->memfd_maps,
			now.memfd_maps, before->rss_kb, now.rss_kb,
			before->heap_bytes, before->heap_allocs, now.heap_bytes,
			now.heap_allocs, before->libc_bytes, now.libc_bytes);
	if (now.fds > before->fds)
		ok = fe_fail("%s: %d fds more than before", name,
				now.fds - before->fds);
	if (now.memfd_maps != before->memfd_maps)
		ok = fe_fail("%s: %d memfd mappings, %d before", name,
				now.memfd_maps, before->memfd_maps);
	if (now.heap_bytes != before->heap_bytes ||
			now.heap_allocs != before->heap_allocs)
		ok = fe_fail("%s: rte_malloc heap changed", name);
	if (now.libc_bytes > before->libc_bytes + FAULT_LIBC_SLACK)
		ok = fe_fail("%s: libc heap grew by %zu B", name,
				now.libc_bytes - before->libc_bytes);
	if (!FAULT_ASAN && now.rss_kb > before->rss_kb + FAULT_RSS_SLACK_KB)
		ok = fe_fail("%s: RSS grew by %ld KiB", name,
				now.rss_kb - before->rss_kb);
	CU_ASSERT(now.fds <= before->fds);
	CU_ASSERT_EQUAL(now.memfd_maps, before->memfd_maps);
	CU_ASSERT_EQUAL(now.heap_bytes, before->heap_bytes);
	CU_ASSERT_EQUAL(now.heap_allocs, before->heap_allocs);
	CU_ASSERT(now.libc_bytes <= before->libc_bytes + FAULT_LIBC_SLACK);
	if (!FAULT_ASAN)
		CU_ASSERT(now.rss_kb <= before->rss_kb + FAULT_RSS_SLACK_KB);
	return ok;
}

void
fault_prefault_pool(void)
{
	enum { CHUNK = 256 };
	struct rte_mbuf **all;
	unsigned int n = 0, cap = rte_mempool_avail_count(fe_pool), i;

	all = calloc(cap, sizeof(*all));
	if (all == NULL)
		return;
	while (n + CHUNK <= cap &&
			rte_pktmbuf_alloc_bulk(fe_pool, all + n, CHUNK) == 0)
		n += CHUNK;
	while (n < cap && (all[n] = rte_pktmbuf_alloc(fe_pool)) != NULL)
		n++;
	for (i = 0; i < n; i++)
		memset(rte_pktmbuf_mtod(all[i], void *), 0,
				rte_pktmbuf_tailroom(all[i]));
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(all[i]);
	free(all);
}

void
fault_unpin(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	long i;

	CPU_ZERO(&set);
	for (i = 0; i < ncpu && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}
