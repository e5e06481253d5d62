/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The scenarios of test_fault_churn: a live device whose frontend (in
 * this process) changes things under the datapath's feet while packets
 * flow both ways, and no packet may be lost.
 */
#ifndef CHURN_H
#define CHURN_H

#include <stdbool.h>

/* How long each scenario churns (FAULT_CHURN_MS overrides). */
#define CHURN_MS 2500
/* The warm-up run before the usage baseline. */
#define CHURN_WARM_MS 150

/* Scenario 2: SET_MEM_TABLE again and again, new fds and addresses,
 * regions hot-added and removed (churn_memtable.c). */
void test_churn_mem_table(void);
void test_churn_mem_table_packed(void);	/* the same, packed rings */

/* Scenario 3: rings disabled and enabled, stopped (GET_VRING_BASE) and
 * restarted (churn_rings.c). */
void test_churn_rings(void);
void test_churn_rings_packed(void);	/* the same, packed rings */

/* Scenario 4: IOTLB updates, invalidations, revocations and flushes
 * (churn_iotlb.c). */
void test_churn_iotlb(void);
void test_churn_iotlb_packed(void);	/* the same, packed rings */

/* Scenario 5: memory regions added and removed one at a time
 * (ADD_MEM_REG / REM_MEM_REG), up to the slot limit (churn_memslots.c). */
void test_churn_mem_slots(void);
void test_churn_mem_slots_packed(void);	/* the same, packed rings */

/* The churn duration for a run (warm-up or not). */
int churn_ms(bool warm);

struct fault_port;

/* The device's callbacks over a run: new_device starts times,
 * destroy_device stops times, none the port could not honour. */
void churn_check_device(struct fault_port *p, int starts, int stops);

/* One scenario's frame: a warm-up run, the usage baseline, the real run,
 * the final checks under name. run(warm, packed). */
void churn_scenario(const char *name, void (*run)(bool, bool), bool packed);

/* A scenario's two tests, test_churn_<name>() on split rings and
 * test_churn_<name>_packed() on packed rings: churn_scenario() of run,
 * under the names "<name>" and "<name> packed". */
#define CHURN_TESTS(name, run) \
	void \
	test_churn_##name(void) \
	{ \
		churn_scenario(#name, run, false); \
	} \
	void \
	test_churn_##name##_packed(void) \
	{ \
		churn_scenario(#name " packed", run, true); \
	}

#endif /* CHURN_H */
