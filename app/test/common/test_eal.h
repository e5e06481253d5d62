/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_EAL_H
#define TEST_EAL_H

/*
 * EAL set-up shared by the test programs.
 *
 * EAL creates /var/run/dpdk/<file-prefix>/ (about 3 MB with --no-huge)
 * and rte_eal_cleanup() leaves it there: a test run used to leave
 * hundreds of them behind. test_eal_cleanup() removes it.
 */

/* rte_eal_cleanup(), then remove this process's runtime directory. */
void test_eal_cleanup(void);

/* Remove a runtime directory and the files in it (EAL makes no
 * subdirectories). For programs that must capture the path earlier. */
void test_eal_remove_dir(const char *dir);

/* Before rte_eal_init: remove the runtime directories that test
 * programs killed before their cleanup left (a meson timeout, a crash,
 * SIGKILL): those named prefix...-PID, PID a process that no longer
 * exists. */
void test_eal_sweep_stale(const char *prefix);

/* The EAL of a unit test: no hugepages, no PCI, one lcore, 64 MB, no
 * telemetry, EAL's own logs at errors only, runtime files under
 * "<prefix><pid>" (stale ones of that prefix swept first). Returns
 * rte_eal_init()'s result, after printing why it failed. */
int test_eal_init_unit(const char *argv0, const char *prefix);

#endif /* TEST_EAL_H */
