/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging of the net_virtio_viommu PMD. */
#ifndef VVI_LOG_H
#define VVI_LOG_H

#include <rte_log.h>

extern int vvi_logtype;

#define VVI_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vvi_logtype, "virtio_viommu: " fmt "\n", \
		##__VA_ARGS__)

#endif /* VVI_LOG_H */
