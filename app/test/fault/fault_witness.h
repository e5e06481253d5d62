/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The witness: another device in the same process, connected for the
 * whole program, with steady traffic both ways while a scenario
 * mistreats its neighbours. Its host side runs on the same datapath
 * thread as theirs (a stuck or crashing burst would stop it too), its
 * guest side on a thread of its own. After each scenario the witness is
 * drained and must account for every packet, in order and intact, with
 * no long stall, and its device must never have been stopped.
 */
#ifndef FAULT_WITNESS_H
#define FAULT_WITNESS_H

#include <stdbool.h>

/* Longest the witness may go without moving a packet during a
 * scenario, beyond the longest time one of the test's own threads (the
 * datapath thread, the witness's guest thread) did not run. Measured:
 * under 100 ms, sometimes 150, once 1.4 s; under load, 2.4-2.8 s, each
 * time with the datapath thread itself paused as long (a fork() of a
 * frontend blocks the parent's page faults while it copies the maps).
 * A device that stopped working stalls for the rest of the scenario
 * and then fails to drain. */
#define FAULT_WITNESS_MAX_GAP_MS 2000

/* Connects the witness (port "witness"). Returns 0 or -1. */
int fault_witness_open(void);
void fault_witness_close(void);

/* Starts its guest thread. */
int fault_witness_run(void);

/* Runs the witness for ms, and on until it moved packets both ways
 * (FE_EVENT_MS at most), and drains it, checking nothing: the first
 * uses of every path (thread stacks, allocator arenas) happen before
 * any scenario takes its baseline. */
void fault_witness_warm_up(int ms);

/* One request on the witness's connection (GET_FEATURES): its control
 * plane answers. Returns an fm_result. Any time: the guest thread only
 * touches the rings. */
int fault_witness_ping(void);

/*
 * Stops the guest thread, drains, and asserts (CUnit) that the witness
 * moved packets both ways, lost none, never stalled, and still answers
 * requests. Prints its
 * numbers under name. Traffic can be started again afterwards.
 */
bool fault_witness_check(const char *name);

#endif /* FAULT_WITNESS_H */
