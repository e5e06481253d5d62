/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_RUN_H
#define TEST_RUN_H

#include <CUnit/CUnit.h>

/*
 * The CUnit runner of every test program: registers suites and runs them
 * in basic mode, all of them, or the suite argv[1] names, or that suite's
 * test argv[2] (for debugging one case). Returns 0 if everything passed,
 * 1 if an assertion failed or a suite's init failed (its tests did not
 * run), 2 if the suites could not be registered or argv names none.
 */
int test_run(CU_SuiteInfo *suites, int argc, char **argv);

#endif /* TEST_RUN_H */
