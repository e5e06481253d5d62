/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The application's datapath: one thread that polls every port whose
 * gate is open (fault_port.h), like a PMD thread serving several vhost
 * ports. Each round on a port dequeues the guest's packets and checks
 * each one (stream, order, bytes, poison), then enqueues numbered packets
 * to the guest. It never stops on its own for a port: only the gate
 * (destroy_device) takes a device away from it, so control messages and
 * connection deaths always race real bursts.
 */
#ifndef FAULT_DATAPATH_H
#define FAULT_DATAPATH_H

#include <stdbool.h>

#define FAULT_BURST 32

/* Starts the thread (once). Returns 0 or -1. */
int fault_datapath_start(void);
/* Stops it and frees the packets it held. */
void fault_datapath_stop(void);

/* Rounds over all ports so far: two more rounds than now means that a
 * round under way has finished (and counted what it moved). */
unsigned int fault_datapath_rounds(void);

/* Waits (bounded) until two more rounds have run. */
void fault_datapath_settle(void);

/* The longest time between two rounds since the last call (us): a
 * stall of the datapath thread itself, for diagnostics. */
unsigned int fault_datapath_take_max_gap_us(void);

#endif /* FAULT_DATAPATH_H */
