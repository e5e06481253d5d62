/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_VRING_COUNTERS_H
#define VHOST_VRING_COUNTERS_H

/* Per-virtqueue counters, as the datapath keeps them; the control path
 * reads and names them (vring_stats.h: rte_vhost_vring_stats_*(),
 * telemetry). The first are DPDK 22.11's, in its order, so applications
 * that look them up by name (the vhost PMD's xstats, OVS) see the same
 * set; ours follow. Only the datapath thread of the queue writes them. */

#include <stdint.h>
#include <rte_mbuf.h>

enum vhost_vq_stat {
	VHOST_STAT_GOOD_PACKETS,
	VHOST_STAT_GOOD_BYTES,
	VHOST_STAT_MULTICAST,
	VHOST_STAT_BROADCAST,
	VHOST_STAT_UNDERSIZE,
	VHOST_STAT_SIZE_64,
	VHOST_STAT_SIZE_65_127,
	VHOST_STAT_SIZE_128_255,
	VHOST_STAT_SIZE_256_511,
	VHOST_STAT_SIZE_512_1023,
	VHOST_STAT_SIZE_1024_1518,
	VHOST_STAT_SIZE_1519_MAX,
	VHOST_STAT_GUEST_NOTIFICATIONS,
	VHOST_STAT_IOTLB_HITS,
	VHOST_STAT_IOTLB_MISSES,
	VHOST_STAT_INFLIGHT_SUBMITTED,
	VHOST_STAT_INFLIGHT_COMPLETED,
	/* Ours: always counted, whatever the registration flags. */
	VHOST_STAT_BAD_CHAINS,		/* chains refused by the walker */
	VHOST_STAT_DROPPED,		/* packets that could not be delivered */
	VHOST_STAT_IOTLB_REFUSED,	/* accesses outside mappings/permissions */
	VHOST_STAT_IOTLB_MISS_TIMEOUTS,	/* misses never answered in time */
	VHOST_STAT_IOTLB_HELD,		/* packets held while a miss was pending */
	VHOST_STAT_IOTLB_EVICTIONS,	/* filled in when read */
	VHOST_STAT_IOTLB_ENTRIES,	/* gauge, filled in when read */
	VHOST_STAT_IOTLB_PENDING,	/* gauge, filled in when read */
	VHOST_STAT_NB
};

struct vhost_vq_stats {
	uint64_t v[VHOST_STAT_NB];
};

/* Account one delivered packet (size histogram, cast type). Only
 * called when the socket was registered with NET_STATS_ENABLE. */
static inline void
vhost_stats_count_packet(struct vhost_vq_stats *s, const struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	const uint8_t *dst = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned int bin;

	s->v[VHOST_STAT_GOOD_PACKETS]++;
	s->v[VHOST_STAT_GOOD_BYTES] += len;
	if (len < 64)
		bin = VHOST_STAT_UNDERSIZE;
	else if (len == 64)
		bin = VHOST_STAT_SIZE_64;
	else if (len < 128)
		bin = VHOST_STAT_SIZE_65_127;
	else if (len < 256)
		bin = VHOST_STAT_SIZE_128_255;
	else if (len < 512)
		bin = VHOST_STAT_SIZE_256_511;
	else if (len < 1024)
		bin = VHOST_STAT_SIZE_512_1023;
	else if (len < 1519)
		bin = VHOST_STAT_SIZE_1024_1518;
	else
		bin = VHOST_STAT_SIZE_1519_MAX;
	s->v[bin]++;
	if (rte_pktmbuf_data_len(m) >= 6 && (dst[0] & 1)) {
		if ((dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xff)
			s->v[VHOST_STAT_BROADCAST]++;
		else
			s->v[VHOST_STAT_MULTICAST]++;
	}
}

#endif /* VHOST_VRING_COUNTERS_H */
