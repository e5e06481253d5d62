/* SPDX-License-Identifier: BSD-3-Clause */

/* The device IOTLB's size, from the environment (VHOST_IOTLB_MAX_ENTRIES):
 * an operator raises it for a guest with a large scattered working set,
 * or lowers it to spend less memory per device, without a rebuild. */

#include <errno.h>
#include <stdlib.h>

#include "iotlb.h"
#include "iotlb_miss.h"
#include "vhost_limits.h"
#include "vhost_log.h"

uint32_t
vhost_iotlb_max_entries_conf(const char *path)
{
	const char *s = getenv(VHOST_IOTLB_MAX_ENTRIES_ENV);
	uint32_t max = VHOST_IOTLB_DEFAULT_ENTRIES;
	unsigned long long v;
	char *end;

	if (s != NULL) {
		errno = 0;
		v = strtoull(s, &end, 10);
		/* Digits only: "-1" or "1e6" must not become something else. */
		if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
		    v < VHOST_IOTLB_MIN_ENTRIES_CONF || v > VHOST_IOTLB_MAX_ENTRIES_CONF)
			VHOST_LOG_ERR("(%s) %s=\"%s\" ignored: a number of entries from %u to %u is expected; using %u",
				path, VHOST_IOTLB_MAX_ENTRIES_ENV, s,
				VHOST_IOTLB_MIN_ENTRIES_CONF, VHOST_IOTLB_MAX_ENTRIES_CONF, max);
		else
			max = (uint32_t)v;
	}
	VHOST_LOG_INFO("(%s) device IOTLB: up to %u entries, %zu KiB per device%s",
		path, max, vhost_iotlb_mem_bytes(max) / 1024,
		s != NULL && max != VHOST_IOTLB_DEFAULT_ENTRIES ? " (" VHOST_IOTLB_MAX_ENTRIES_ENV ")" : "");
	return max;
}
