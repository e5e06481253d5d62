/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

/* Helpers shared by the libFuzzer targets of lib/vhost: reading the
 * input as a stream of small integers, failing loudly, counting the
 * process's fds (leak checks), and EAL set-up. Each target is one C
 * file that includes this. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/test_res.h"	/* test_count_fds() */

/* Undefined behaviour is compiled recoverable (so that known open bugs
 * can be suppressed while exploring, see known_bugs.supp) but must stop
 * the run like any other finding: halt by default. UBSAN_OPTIONS set
 * by run_fuzz.sh adds to these. */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* What each target defines for libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Known open bugs of lib/vhost are avoided by the harness (so a short
 * run keeps exploring past them) unless FUZZ_STRICT is set; the
 * regression replays of run_fuzz.sh set it, so a reproducer keeps
 * failing until the library is fixed. */
static inline bool
fz_strict(void)
{
	static int strict = -1;

	if (strict < 0) {
		const char *v = getenv("FUZZ_STRICT");

		strict = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
	}
	return strict;
}

/* A failed check: print why and abort(), which libFuzzer reports as a
 * crash and saves the input for. */
static void __attribute__((noreturn, format(printf, 3, 4)))
fz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==FUZZ CHECK FAILED== %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FZ_FAIL(...) fz_fail(__FILE__, __LINE__, __VA_ARGS__)

#define FZ_CHECK(cond, ...) do { \
	if (!(cond)) \
		fz_fail(__FILE__, __LINE__, __VA_ARGS__); \
} while (0)

/* The input, consumed front to back. Reading past the end yields
 * zeros, so every input decodes to something (libFuzzer mutates
 * lengths freely). */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline bool
fz_empty(const struct fz_in *in)
{
	return in->n == 0;
}

static inline uint8_t
fz_u8(struct fz_in *in)
{
	uint8_t v = 0;

	if (in->n > 0) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

/* Little endian, like the wire format the seeds are written in. */
static inline uint64_t
fz_uint(struct fz_in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)fz_u8(in) << (8 * i);
	return v;
}

#define fz_u16(in) ((uint16_t)fz_uint(in, 2))
#define fz_u32(in) ((uint32_t)fz_uint(in, 4))
#define fz_u64(in) fz_uint(in, 8)

/* Copy len bytes, zero-padded past the end of the input. */
static inline void
fz_bytes(struct fz_in *in, void *dst, size_t len)
{
	size_t take = len < in->n ? len : in->n;

	memcpy(dst, in->p, take);
	memset((uint8_t *)dst + take, 0, len - take);
	in->p += take;
	in->n -= take;
}

#ifdef FUZZ_WITH_EAL
#include <sched.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

/* EAL without hugepages or devices, on the first CPU we may run on (a
 * fuzzer started under taskset may not have CPU 0). --no-shconf: no
 * shared files, no IPC thread, nothing left in /var/run/dpdk but an
 * empty directory. Library logs are silenced unless FUZZ_LOG is set:
 * every refused input logs an error, thousands of times a second. */
static inline void
fz_eal_init(const char *prog)
{
	char prefix[64], lcore[32];
	char *eal[] = { (char *)(uintptr_t)prog, "--no-huge", "--no-pci", "-m", "128",
		"--no-telemetry", "--no-shconf", "--log-level=lib.eal:error",
		"-l", lcore, prefix };
	cpu_set_t set;
	int cpu = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &set))
			cpu++;
	snprintf(lcore, sizeof(lcore), "%d", cpu);
	snprintf(prefix, sizeof(prefix), "--file-prefix=fuzz%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	if (getenv("FUZZ_LOG") == NULL)
		rte_log_set_level_pattern("lib.vhost*", RTE_LOG_CRIT);
}
#endif

#endif /* FUZZ_COMMON_H */
