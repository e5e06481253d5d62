/* SPDX-License-Identifier: BSD-3-Clause */

/*
 * The asynchronous (DMA-offloaded) vhost datapath is not implemented by
 * this vhost library. Its experimental symbols are still exported, so
 * that applications linked against DPDK 22.11's librte_vhost.so.23 load
 * and resolve; every call fails cleanly. No queue can be registered as
 * asynchronous, so the burst functions never have packets to handle.
 */

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_vhost.h>
#include <rte_vhost_async.h>

#include "vhost_log.h"

/* The stubs ignore their arguments by design. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define ASYNC_UNSUPPORTED() \
	VHOST_LOG_ERR("async vhost datapath is not supported by this vhost " \
		"library (%s)", __func__)

/* For functions an application may call in a loop: log the first call
 * only, from whichever thread gets there first. */
#define ASYNC_UNSUPPORTED_ONCE() do { \
	static atomic_flag async_logged_ = ATOMIC_FLAG_INIT; \
	if (!atomic_flag_test_and_set_explicit(&async_logged_, \
			memory_order_relaxed)) \
		VHOST_LOG_ERR("async vhost datapath is not supported by this " \
			"vhost library (%s); further calls are not logged", \
			__func__); \
} while (0)

/* Setup: logged every time. */

int
rte_vhost_async_channel_register(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_channel_register_thread_unsafe(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_channel_unregister(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_channel_unregister_thread_unsafe(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_dma_configure(int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_dma_unconfigure(int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

/* Datapath and draining loops: logged once each. */

int
rte_vhost_async_get_inflight(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

int
rte_vhost_async_get_inflight_thread_unsafe(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	return -ENOTSUP;
}

uint16_t
rte_vhost_submit_enqueue_burst(int vid, uint16_t queue_id,
		struct rte_mbuf **pkts, uint16_t count, int16_t dma_id,
		uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	return 0;
}

uint16_t
rte_vhost_poll_enqueue_completed(int vid, uint16_t queue_id,
		struct rte_mbuf **pkts, uint16_t count, int16_t dma_id,
		uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	return 0;
}

uint16_t
rte_vhost_clear_queue(int vid, uint16_t queue_id,
		struct rte_mbuf **pkts, uint16_t count, int16_t dma_id,
		uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	return 0;
}

uint16_t
rte_vhost_clear_queue_thread_unsafe(int vid, uint16_t queue_id,
		struct rte_mbuf **pkts, uint16_t count, int16_t dma_id,
		uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	return 0;
}

uint16_t
rte_vhost_async_try_dequeue_burst(int vid, uint16_t queue_id,
		struct rte_mempool *mbuf_pool, struct rte_mbuf **pkts,
		uint16_t count, int *nr_inflight, int16_t dma_id,
		uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED_ONCE();
	if (nr_inflight != NULL)
		*nr_inflight = -1;
	return 0;
}
