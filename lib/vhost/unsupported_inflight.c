/* SPDX-License-Identifier: BSD-3-Clause */

/*
 * Inflight descriptor tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD,
 * used by vhost-user-blk backends to resume I/O after a reconnect) is
 * not implemented by this vhost library. Its symbols are still
 * exported, so that applications linked against DPDK 22.11's
 * librte_vhost.so.23 load and resolve; every call fails cleanly.
 */

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_vhost.h>

#include "vhost_log.h"

/* The stubs ignore their arguments by design. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define INFLIGHT_UNSUPPORTED() \
	VHOST_LOG_ERR("inflight descriptor tracking is not supported by " \
		"this vhost library (%s)", __func__)

/* For functions a backend calls per request: log the first call only,
 * from whichever thread gets there first. */
#define INFLIGHT_UNSUPPORTED_ONCE() do { \
	static atomic_flag inflight_logged_ = ATOMIC_FLAG_INIT; \
	if (!atomic_flag_test_and_set_explicit(&inflight_logged_, \
			memory_order_relaxed)) \
		VHOST_LOG_ERR("inflight descriptor tracking is not supported " \
			"by this vhost library (%s); further calls are not " \
			"logged", __func__); \
} while (0)

/* Queue setup: logged every time. */

int
rte_vhost_get_vhost_ring_inflight(int vid, uint16_t vring_idx,
		struct rte_vhost_ring_inflight *vring)
{
	INFLIGHT_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_get_vring_base_from_inflight(int vid, uint16_t queue_id,
		uint16_t *last_avail_idx, uint16_t *last_used_idx)
{
	INFLIGHT_UNSUPPORTED();
	return -ENOTSUP;
}

/* Per request: logged once each. */

int
rte_vhost_set_inflight_desc_split(int vid, uint16_t vring_idx, uint16_t idx)
{
	INFLIGHT_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

int
rte_vhost_set_inflight_desc_packed(int vid, uint16_t vring_idx,
		uint16_t head, uint16_t last, uint16_t *inflight_entry)
{
	INFLIGHT_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

int
rte_vhost_set_last_inflight_io_split(int vid, uint16_t vring_idx,
		uint16_t idx)
{
	INFLIGHT_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

int
rte_vhost_set_last_inflight_io_packed(int vid, uint16_t vring_idx,
		uint16_t head)
{
	INFLIGHT_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

int
rte_vhost_clr_inflight_desc_split(int vid, uint16_t vring_idx,
		uint16_t last_used_idx, uint16_t idx)
{
	INFLIGHT_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

int
rte_vhost_clr_inflight_desc_packed(int vid, uint16_t vring_idx,
		uint16_t head)
{
	INFLIGHT_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}
