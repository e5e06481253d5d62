/* SPDX-License-Identifier: BSD-3-Clause */
/* The CUnit runner shared by the test programs: see test_run.h. */
#include "test_run.h"

#include <stdio.h>

#include <CUnit/Basic.h>

int
test_run(CU_SuiteInfo *suites, int argc, char **argv)
{
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (argc > 1) {
		CU_pSuite s = CU_get_suite(argv[1]);
		CU_pTest t = (s != NULL && argc > 2) ? CU_get_test(s, argv[2]) : NULL;

		if (s == NULL || (argc > 2 && t == NULL)) {
			fprintf(stderr, "no such suite or test\n");
			CU_cleanup_registry();
			return 2;
		}
		if (t != NULL)
			CU_basic_run_test(s, t);
		else
			CU_basic_run_suite(s);
	} else {
		CU_basic_run_tests();
	}
	failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
