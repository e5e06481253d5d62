/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every fault program shares: EAL and the mbuf pool (fe_harness),
 * the datapath thread, the witness, and the frame of a scenario: the
 * witness runs throughout, the usage baseline is taken after a warm-up,
 * and at the end the witness, the usage and the callbacks are checked.
 */
#ifndef FAULT_ENV_H
#define FAULT_ENV_H

#include <stdint.h>

#include <CUnit/CUnit.h>

#include "fault_usage.h"

/* main(): sets up, runs the suites (argv may name one suite and test),
 * tears down. Returns the exit status. */
int fault_main(const char *name, CU_SuiteInfo *suites, int argc,
		char **argv);

/* Starts a scenario: the witness's traffic runs from here. */
void fault_scenario_start(struct fault_usage *base);

/* After the warm-up: the baseline the end is compared with. */
void fault_scenario_baseline(struct fault_usage *base);

/* Ends it: witness, usage (against base), stray callbacks; prints the
 * time since fault_scenario_start. */
void fault_scenario_finish(const char *name, const struct fault_usage *base);

/* A small deterministic generator (the tests' choices are repeatable;
 * FAULT_SEED changes them). */
uint32_t fault_rand(uint32_t *state);
uint32_t fault_seed(void);

/* An integer from the environment, or def. */
long fault_env_long(const char *var, long def);

#endif /* FAULT_ENV_H */
