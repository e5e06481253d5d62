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

/* Logs that func is not supported: every time, or, with a flag (for
 * functions an application may call in a loop), the first time only,
 * from whichever thread gets there first. */
static void
async_unsupported(const char *func, atomic_flag *logged)
{
	if (logged != NULL && atomic_flag_test_and_set_explicit(logged,
			memory_order_relaxed))
		return;
	VHOST_LOG_ERR("async vhost datapath is not supported by this vhost "
		"library (%s)%s", func,
		logged != NULL ? "; further calls are not logged" : "");
}

/* Set-up: fails with -ENOTSUP, logged every time. */
#define SETUP_STUB(name, ...) \
int name(__VA_ARGS__) \
{ \
	async_unsupported(__func__, NULL); \
	return -ENOTSUP; \
}

/* Datapath and draining loops: return ret, logged once each. */
#define LOOP_STUB(type, ret, name, ...) \
type name(__VA_ARGS__) \
{ \
	static atomic_flag logged = ATOMIC_FLAG_INIT; \
	async_unsupported(__func__, &logged); \
	return ret; \
}

#define QUEUE_ARGS int vid, uint16_t queue_id
#define BURST_ARGS int vid, uint16_t queue_id, struct rte_mbuf **pkts, \
	uint16_t count, int16_t dma_id, uint16_t vchan_id

SETUP_STUB(rte_vhost_async_channel_register, QUEUE_ARGS)
SETUP_STUB(rte_vhost_async_channel_register_thread_unsafe, QUEUE_ARGS)
SETUP_STUB(rte_vhost_async_channel_unregister, QUEUE_ARGS)
SETUP_STUB(rte_vhost_async_channel_unregister_thread_unsafe, QUEUE_ARGS)
SETUP_STUB(rte_vhost_async_dma_configure, int16_t dma_id, uint16_t vchan_id)
SETUP_STUB(rte_vhost_async_dma_unconfigure, int16_t dma_id, uint16_t vchan_id)

LOOP_STUB(int, -ENOTSUP, rte_vhost_async_get_inflight, QUEUE_ARGS)
LOOP_STUB(int, -ENOTSUP, rte_vhost_async_get_inflight_thread_unsafe,
	QUEUE_ARGS)
LOOP_STUB(uint16_t, 0, rte_vhost_submit_enqueue_burst, BURST_ARGS)
LOOP_STUB(uint16_t, 0, rte_vhost_poll_enqueue_completed, BURST_ARGS)
LOOP_STUB(uint16_t, 0, rte_vhost_clear_queue, BURST_ARGS)
LOOP_STUB(uint16_t, 0, rte_vhost_clear_queue_thread_unsafe, BURST_ARGS)

/* Like the loops, and *nr_inflight (if given) is -1. */
uint16_t
rte_vhost_async_try_dequeue_burst(int vid, uint16_t queue_id,
		struct rte_mempool *mbuf_pool, struct rte_mbuf **pkts,
		uint16_t count, int *nr_inflight, int16_t dma_id,
		uint16_t vchan_id)
{
	static atomic_flag logged = ATOMIC_FLAG_INIT;

	async_unsupported(__func__, &logged);
	if (nr_inflight != NULL)
		*nr_inflight = -1;
	return 0;
}
