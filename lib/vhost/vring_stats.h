/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_VRING_STATS_H
#define VHOST_VRING_STATS_H

/* Reading a ring's counters (vring_counters.h) from the control path:
 * rte_vhost_vring_stats_*() and telemetry. Defined in vring_stats.c. */

#include <stdint.h>

#include "vhost_device_types.h"
#include "vring_counters.h"

/* The counters' names, by enum vhost_vq_stat, without the rx_qN_/tx_qN_
 * prefix of rte_vhost_vring_stats_get_names(). */
extern const char *const vhost_vq_stat_names[VHOST_STAT_NB];

/* Every counter of a ring, the IOTLB gauges included, into v. Any
 * thread may call it while the ring exists; it holds the ring's
 * iotlb_lock for reading for a few loads only, and sleeps (after a
 * short spin, vq_gate.h) while an IOTLB message holds it for writing. */
void vhost_vq_stats_read(const struct vhost_device *dev, struct vhost_virtqueue *vq,
			 uint64_t v[VHOST_STAT_NB]);

#endif /* VHOST_VRING_STATS_H */
