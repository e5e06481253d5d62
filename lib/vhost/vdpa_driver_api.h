/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VDPA_DRIVER_API_H
#define VDPA_DRIVER_API_H

/*
 * The internal vDPA driver API of DPDK 22.11 (the functions vDPA driver
 * plugins such as librte_vdpa_ifc/mlx5/sfc import). Upstream declares
 * them in vdpa_driver.h, which Debian does not install, so this library
 * carries its own declarations. vDPA is not supported here: the
 * definitions in unsupported_vdpa.c only fail, and the ops structure is
 * never looked into, so it stays an incomplete type.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_compat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* qid value of rte_vhost_host_notifier_ctrl() meaning every queue. */
#ifndef RTE_VHOST_QUEUE_ALL
#define RTE_VHOST_QUEUE_ALL UINT16_MAX
#endif

struct rte_device;
struct rte_vdpa_device;
struct rte_vdpa_dev_ops;

/* Register a vDPA device; NULL with rte_errno set on failure. */
__rte_internal
struct rte_vdpa_device *
rte_vdpa_register_device(struct rte_device *rte_dev,
		struct rte_vdpa_dev_ops *ops);

/* Unregister a vDPA device; 0 on success, negative errno on failure. */
__rte_internal
int
rte_vdpa_unregister_device(struct rte_vdpa_device *dev);

/* Enable or disable the host notifier of queue qid (RTE_VHOST_QUEUE_ALL
 * for every queue) of vhost device vid; 0 or negative errno. */
__rte_internal
int
rte_vhost_host_notifier_ctrl(int vid, uint16_t qid, bool enable);

#ifdef __cplusplus
}
#endif

#endif /* VDPA_DRIVER_API_H */
