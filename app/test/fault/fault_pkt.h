/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packets of the fault tests: each one carries a stream id (whose
 * packet it is: device, connection, direction) and a sequence number,
 * and its length and bytes follow from both. So whoever receives a packet
 * can tell, from the packet alone, whether it is intact, whose it is and
 * where it stands in its stream: order, gaps, duplicates and stale
 * packets of an earlier connection all show. No DPDK: the forked
 * frontends use it too.
 */
#ifndef FAULT_PKT_H
#define FAULT_PKT_H

#include <stdbool.h>
#include <stdint.h>

/* Lengths vary per packet, within one guest buffer (fault_guest.h). */
#define FAULT_PKT_MIN 60u
#define FAULT_PKT_MAX 1400u
/* What the frontend scribbles over memory it took back (IOTLB tests):
 * a run of it in a packet means it was read after the take-back. */
#define FAULT_POISON 0xee

/* Direction bit of a stream id: host -> guest packets. */
#define FAULT_STREAM_H2G 0x80000000u

uint32_t fault_pkt_len(uint32_t stream, uint32_t seq);

/* Writes packet (stream, seq) to buf (fault_pkt_len bytes). */
void fault_pkt_fill(uint8_t *buf, uint32_t stream, uint32_t seq);

/*
 * Checks that buf[0..len) is an intact packet of stream. Returns 0 with
 * *seq set, or -1 (wrong stream, length or bytes).
 */
int fault_pkt_parse(const uint8_t *buf, uint32_t len, uint32_t stream,
		uint32_t *seq);

/*
 * What buf[0..len) says it is, intact or not: its stream and seq fields.
 * Returns 0, or -1 if it is too short to hold them.
 */
int fault_pkt_peek(const uint8_t *buf, uint32_t len, uint32_t *stream,
		uint32_t *seq);

/* True if buf holds a run of FAULT_POISON (normal packets never do). */
bool fault_pkt_poisoned(const uint8_t *buf, uint32_t len);

#endif /* FAULT_PKT_H */
