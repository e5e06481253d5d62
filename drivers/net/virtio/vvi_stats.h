/* SPDX-License-Identifier: BSD-3-Clause */
/* Basic and extended statistics, and the summary logged at close. */
#ifndef VVI_STATS_H
#define VVI_STATS_H

#include "vvi_abi.h"
#include "vvi_dev.h"

int vvi_stats_get(struct rte_eth_dev *eth, struct rte_eth_stats *st);
int vvi_stats_reset(struct rte_eth_dev *eth);
int vvi_xstats_get(struct rte_eth_dev *eth, struct rte_eth_xstat *xs,
	unsigned int n);
int vvi_xstats_get_names(struct rte_eth_dev *eth,
	struct rte_eth_xstat_name *names, unsigned int n);
void vvi_log_summary(const struct vvi_dev *d);

#endif /* VVI_STATS_H */
