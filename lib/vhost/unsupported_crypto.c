/* SPDX-License-Identifier: BSD-3-Clause */

/*
 * vhost-user crypto (virtio-crypto backend) is not implemented by this
 * vhost library. Its symbols are still exported, so that applications
 * linked against DPDK 22.11's librte_vhost.so.23 load and resolve;
 * every call fails cleanly. No crypto device can be created, so the
 * burst functions never have requests to handle.
 */

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_vhost.h>
#include <rte_vhost_crypto.h>

#include "vhost_log.h"

/* The stubs ignore their arguments by design. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define CRYPTO_UNSUPPORTED() \
	VHOST_LOG_ERR("vhost crypto is not supported by this vhost library " \
		"(%s)", __func__)

/* For functions an application calls in a loop: log the first call
 * only, from whichever thread gets there first. */
#define CRYPTO_UNSUPPORTED_ONCE() do { \
	static atomic_flag crypto_logged_ = ATOMIC_FLAG_INIT; \
	if (!atomic_flag_test_and_set_explicit(&crypto_logged_, \
			memory_order_relaxed)) \
		VHOST_LOG_ERR("vhost crypto is not supported by this vhost " \
			"library (%s); further calls are not logged", \
			__func__); \
} while (0)

int
rte_vhost_crypto_driver_start(const char *path)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_crypto_create(int vid, uint8_t cryptodev_id,
		struct rte_mempool *sess_pool, int socket_id)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_crypto_free(int vid)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_crypto_set_zero_copy(int vid,
		enum rte_vhost_crypto_zero_copy option)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

uint16_t
rte_vhost_crypto_fetch_requests(int vid, uint32_t qid,
		struct rte_crypto_op **ops, uint16_t nb_ops)
{
	CRYPTO_UNSUPPORTED_ONCE();
	return 0;
}

uint16_t
rte_vhost_crypto_finalize_requests(struct rte_crypto_op **ops,
		uint16_t nb_ops, int *callfds, uint16_t *nb_callfds)
{
	CRYPTO_UNSUPPORTED_ONCE();
	/* No guest to notify either. */
	if (nb_callfds != NULL)
		*nb_callfds = 0;
	return 0;
}
