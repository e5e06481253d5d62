/* SPDX-License-Identifier: BSD-3-Clause */

/*
 * vDPA (hardware vhost datapath offload) is not implemented by this
 * vhost library. Its symbols are still exported, so that Debian's vDPA
 * driver plugins (librte_vdpa_ifc/mlx5/sfc) and applications linked
 * against DPDK 22.11's librte_vhost.so.23 load and resolve; every call
 * fails cleanly. No vDPA device can ever be registered, so none can be
 * attached to a vhost-user socket either.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_errno.h>
#include <rte_vdpa.h>
#include <rte_vhost.h>

#include "vdpa_driver_api.h"
#include "vhost_log.h"

/* The stubs ignore their arguments by design. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define VDPA_UNSUPPORTED() \
	VHOST_LOG_ERR("vDPA is not supported by this vhost library (%s)", \
		__func__)

/* vDPA driver API (INTERNAL). */

struct rte_vdpa_device *
rte_vdpa_register_device(struct rte_device *rte_dev,
		struct rte_vdpa_dev_ops *ops)
{
	VDPA_UNSUPPORTED();
	rte_errno = ENOTSUP;
	return NULL;
}

int
rte_vdpa_unregister_device(struct rte_vdpa_device *dev)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_host_notifier_ctrl(int vid, uint16_t qid, bool enable)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_relay_vring_used(int vid, uint16_t qid, void *vring_m)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

/* vDPA device API (rte_vdpa.h). */

struct rte_vdpa_device *
rte_vdpa_find_device_by_name(const char *name)
{
	/* Applications call this to probe for a device: no error log. */
	VHOST_LOG_DEBUG("vDPA is not supported by this vhost library, "
		"no vDPA device %s (%s)", name != NULL ? name : "(null)",
		__func__);
	rte_errno = ENOTSUP;
	return NULL;
}

struct rte_device *
rte_vdpa_get_rte_device(struct rte_vdpa_device *vdpa_dev)
{
	VDPA_UNSUPPORTED();
	rte_errno = ENOTSUP;
	return NULL;
}

int
rte_vdpa_get_queue_num(struct rte_vdpa_device *dev, uint32_t *queue_num)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_features(struct rte_vdpa_device *dev, uint64_t *features)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_protocol_features(struct rte_vdpa_device *dev,
		uint64_t *features)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_stats_names(struct rte_vdpa_device *dev,
		struct rte_vdpa_stat_name *stats_names, unsigned int size)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_stats(struct rte_vdpa_device *dev, uint16_t qid,
		struct rte_vdpa_stat *stats, unsigned int n)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_reset_stats(struct rte_vdpa_device *dev, uint16_t qid)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

/* vDPA parts of the vhost API (rte_vhost.h). */

int
rte_vhost_driver_attach_vdpa_device(const char *path,
		struct rte_vdpa_device *dev)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_driver_detach_vdpa_device(const char *path)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

struct rte_vdpa_device *
rte_vhost_driver_get_vdpa_device(const char *path)
{
	/* No socket ever has a vDPA device: NULL is the right answer, not
	 * an error, so neither an error log nor rte_errno. */
	VHOST_LOG_DEBUG("vDPA is not supported by this vhost library, "
		"no vDPA device attached (%s)", __func__);
	return NULL;
}

int
rte_vhost_driver_get_vdpa_dev_type(const char *path, uint32_t *type)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

struct rte_vdpa_device *
rte_vhost_get_vdpa_device(int vid)
{
	/* Callers may ask for every new device; see above. */
	VHOST_LOG_DEBUG("vDPA is not supported by this vhost library, "
		"no vDPA device attached (%s)", __func__);
	return NULL;
}

int
rte_vhost_slave_config_change(int vid, bool need_reply)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}
