/* SPDX-License-Identifier: BSD-3-Clause */
/* Self-describing test packets: see fault_pkt.h. */
#include "fault_pkt.h"

#include <string.h>

#include "fe_harness.h"

/* Stream and sequence go right after the Ethernet header. */
#define OFF_STREAM 14
#define OFF_SEQ 18
/* A run this long of FAULT_POISON: fe_packet's bytes step by 7, so an
 * intact packet has no run longer than one. */
#define POISON_RUN 16

uint32_t
fault_pkt_len(uint32_t stream, uint32_t seq)
{
	uint32_t h = (seq + stream) * 2654435761u;

	return FAULT_PKT_MIN + (h >> 8) % (FAULT_PKT_MAX - FAULT_PKT_MIN + 1);
}

void
fault_pkt_fill(uint8_t *buf, uint32_t stream, uint32_t seq)
{
	fe_packet(buf, fault_pkt_len(stream, seq), seq ^ stream);
	memcpy(buf + OFF_STREAM, &stream, sizeof(stream));
	memcpy(buf + OFF_SEQ, &seq, sizeof(seq));
}

int
fault_pkt_parse(const uint8_t *buf, uint32_t len, uint32_t stream,
		uint32_t *seq)
{
	uint8_t want[FAULT_PKT_MAX];
	uint32_t s, q;

	if (len < FAULT_PKT_MIN || len > FAULT_PKT_MAX)
		return -1;
	memcpy(&s, buf + OFF_STREAM, sizeof(s));
	memcpy(&q, buf + OFF_SEQ, sizeof(q));
	if (s != stream || len != fault_pkt_len(stream, q))
		return -1;
	fault_pkt_fill(want, stream, q);
	if (memcmp(want, buf, len) != 0)
		return -1;
	*seq = q;
	return 0;
}

int
fault_pkt_peek(const uint8_t *buf, uint32_t len, uint32_t *stream,
		uint32_t *seq)
{
	if (len < OFF_SEQ + sizeof(*seq))
		return -1;
	memcpy(stream, buf + OFF_STREAM, sizeof(*stream));
	memcpy(seq, buf + OFF_SEQ, sizeof(*seq));
	return 0;
}

bool
fault_pkt_poisoned(const uint8_t *buf, uint32_t len)
{
	uint32_t run = 0, i;

	for (i = 0; i < len; i++) {
		run = buf[i] == FAULT_POISON ? run + 1 : 0;
		if (run >= POISON_RUN)
			return true;
	}
	return false;
}
