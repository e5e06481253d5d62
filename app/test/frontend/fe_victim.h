/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the malformed-input programs share. Each case runs on a fresh
 * connection (the "victim") to a target backend and must be refused: an
 * error reply (NEED_REPLY is always set and REPLY_ACK negotiated) or a
 * closed connection, never a crash. After each case:
 *  - a connection that answered with an error still serves requests;
 *  - once the victim is closed the process holds no more fds than before
 *    the case (nothing the backend received was leaked);
 *  - another device (the "witness", on another socket, connected all
 *    along) still answers and passes traffic.
 */
#ifndef FE_VICTIM_H
#define FE_VICTIM_H

#include <stdbool.h>

#include <CUnit/CUnit.h>

#include "fake_frontend.h"
#include "fe_harness.h"
#include "fe_traffic.h"

extern struct fe_backend *fe_target;
extern struct fe_dev fe_victim;
extern struct fe_dev fe_witness;

/* The victim's frontend: every case talks through it. */
#define VM (&fe_victim.m)

/* How far the victim gets before the malformed message. */
enum fe_level {
	FE_NEGOTIATED, /* features and protocol features agreed, REPLY_ACK */
	FE_MEMORY,     /* plus a memory table (rings laid out, not sent) */
	FE_RUNNING,    /* plus rings: new_device came */
};

/* Records the fds open now: leaks are counted from here. */
void fe_case_begin(void);

/* Connects the victim up to lvl, without starting a new case. */
bool fe_victim_connect(enum fe_level lvl);

/* fe_case_begin() then fe_victim_connect(lvl). */
bool fe_victim_open(enum fe_level lvl);

/*
 * After a refused message: sends a valid table (if need_table) and rings
 * and checks the victim becomes a working device.
 */
bool fe_victim_recovers(const char *name, bool need_table);

/* Asserts no fd was left open since fe_case_begin(), naming the new ones. */
void fe_check_case_fds(const char *name);

/*
 * Asserts that the request named name got outcome r = refused, then closes
 * the victim and checks fds and the witness.
 */
void fe_case_done(const char *name, int r);

/* The witness answers and passes traffic (reconnects it if not). */
bool fe_witness_ok(const char *after);

/* Drops the witness connection and makes a new one. */
bool fe_witness_reopen(void);

enum fe_fd_kind { FE_FD_NONE, FE_FD_EVENT, FE_FD_MEM };

/* An fd to attach to a message: an eventfd or a 4 KiB memfd. */
int fe_make_fd(enum fe_fd_kind k);

/* CUnit per-test setup and teardown for the victim. */
void fe_victim_setup(void);
void fe_victim_teardown(void);

/* A last test: the process has no more fds than when the run began. */
void fe_test_no_fd_leak(void);

/*
 * main() of a malformed-input program: EAL, the target and witness
 * backends, the fd baseline, then the suites.
 */
int fe_victim_main(const char *name, CU_SuiteInfo *suites, int argc,
		char **argv);

#endif /* FE_VICTIM_H */
