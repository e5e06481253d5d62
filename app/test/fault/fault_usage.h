/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a scenario may not leave behind: open fds, resident memory, DPDK
 * heap (rte_malloc) and libc heap. A snapshot is taken after a warm-up
 * cycle (lazy allocations are made by then) and compared at the end,
 * once the library has had time to close what it closes asynchronously.
 */
#ifndef FAULT_USAGE_H
#define FAULT_USAGE_H

#include <stdbool.h>
#include <stddef.h>

struct fault_usage {
	int fds;
	int memfd_maps;		/* mappings of memfds: guest memory */
	long rss_kb;		/* VmRSS */
	size_t heap_bytes;	/* rte_malloc: allocated bytes, all sockets */
	unsigned int heap_allocs;	/* rte_malloc: allocated elements */
	size_t libc_bytes;	/* mallinfo2 uordblks (0 under ASan) */
};

/*
 * Tolerances, and why:
 *  - fds, memfd mappings, rte_malloc bytes and elements: none. Every
 *    fd, every mapping of guest memory (the frontends' memfds, which
 *    the library maps) and every rte_malloc allocation of a connection
 *    goes with it.
 *  - libc heap: 64 KiB. Other threads (the event thread, the witness)
 *    may hold a short-lived block at the instant of a snapshot, and the
 *    first scenario of a program pays a few KiB once (measured: 3 KiB
 *    at most). 500 cycles that leaked 132 bytes each would exceed it;
 *    smaller leaks are LeakSanitizer's (devtools/test-sanitizers.sh).
 *  - RSS: 1.5 MiB. glibc keeps freed memory in its arenas and trims
 *    lazily, and a first use maps pages (measured: 0.5 MiB at most,
 *    not growing with the number of cycles). A page per cycle over 500
 *    cycles would exceed it. Under ASan freed memory waits in the
 *    quarantine (256 MiB), so RSS is reported there, not checked.
 */
#define FAULT_LIBC_SLACK (64u * 1024)
#define FAULT_RSS_SLACK_KB 1536l

void fault_usage_take(struct fault_usage *u);

/*
 * Waits (bounded) for the fd count to fall back to before's, then
 * compares everything, prints both snapshots under name and records
 * CUnit assertions. Returns true if nothing grew.
 */
bool fault_usage_check(const struct fault_usage *before, const char *name);

/* Touches every mbuf of fe_pool once, so that later traffic maps no new
 * pages and RSS measures leaks only. */
void fault_prefault_pool(void);

/* Lets the calling thread (and what it forks) run on every CPU: EAL
 * pins the main thread to lcore 0, and everything it creates inherits
 * that, which would put the frontends, the datapath and the test on one
 * of the two CPUs. */
void fault_unpin(void);

/* True when built with AddressSanitizer. */
bool fault_asan(void);

#endif /* FAULT_USAGE_H */
