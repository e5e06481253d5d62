/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault scenarios 2 to 5, on a device whose frontend lives in this
 * process and whose datapath thread polls it all along: memory tables
 * replaced, rings disabled/stopped and restarted, IOTLB entries updated,
 * invalidated and revoked, memory slots added and removed, each while
 * packets flow both ways. No packet
 * may be lost, duplicated, reordered or damaged, none may be read from
 * memory the frontend took back, and the witness device keeps working.
 */
#include <stdbool.h>

#include <CUnit/CUnit.h>

#include "churn.h"
#include "fault_env.h"
#include "fault_port.h"

int
churn_ms(bool warm)
{
	return warm ? CHURN_WARM_MS :
		(int)fault_env_long("FAULT_CHURN_MS", CHURN_MS);
}

void
churn_check_device(struct fault_port *p, int starts, int stops)
{
	CU_ASSERT_EQUAL(atomic_load(&p->ev.new_device), starts);
	CU_ASSERT_EQUAL(atomic_load(&p->ev.destroy_device), stops);
	CU_ASSERT_EQUAL(atomic_load(&p->refused), 0);
}

void
churn_scenario(const char *name, void (*run)(bool, bool), bool packed)
{
	struct fault_usage base;

	fault_scenario_start(&base);
	run(true, packed);
	fault_scenario_baseline(&base);
	run(false, packed);
	fault_scenario_finish(name, &base);
}

static CU_TestInfo churn_tests[] = {
	{ "mem_table", test_churn_mem_table },
	{ "rings", test_churn_rings },
	{ "iotlb", test_churn_iotlb },
	{ "mem_slots", test_churn_mem_slots },
	{ "mem_table_packed", test_churn_mem_table_packed },
	{ "mem_slots_packed", test_churn_mem_slots_packed },
	{ "rings_packed", test_churn_rings_packed },
	{ "iotlb_packed", test_churn_iotlb_packed },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "churn", NULL, NULL, NULL, NULL, churn_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fault_main("fault-churn", suites, argc, argv);
}
