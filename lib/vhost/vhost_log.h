/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_LOG_H
#define VHOST_LOG_H

/* Logging for lib/vhost: one rte_log type, "lib.vhost", so operators
 * can raise or lower it with --log-level=lib.vhost:debug. */

#include <rte_cycles.h>
#include <rte_log.h>

extern int vhost_logtype;

#define VHOST_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vhost_logtype, "VHOST: " fmt "\n", ##__VA_ARGS__)

#define VHOST_LOG_ERR(fmt, ...)   VHOST_LOG(ERR, fmt, ##__VA_ARGS__)
#define VHOST_LOG_WARN(fmt, ...)  VHOST_LOG(WARNING, fmt, ##__VA_ARGS__)
#define VHOST_LOG_INFO(fmt, ...)  VHOST_LOG(INFO, fmt, ##__VA_ARGS__)
#define VHOST_LOG_DEBUG(fmt, ...) VHOST_LOG(DEBUG, fmt, ##__VA_ARGS__)

/* Per-device logging names the socket path so a log line points at
 * the offending frontend. */
#define VHOST_DEV_LOG(level, dev, fmt, ...) \
	VHOST_LOG(level, "(%s) " fmt, (dev)->ifname, ##__VA_ARGS__)

/* Data path errors come from the guest and may repeat on every burst:
 * log them at most a few times a second so a hostile guest cannot
 * flood the host log. */
#define VHOST_LOG_RATELIMITED(level, fmt, ...) do { \
	static uint64_t vhost_log_last_; \
	uint64_t vhost_log_now_ = rte_get_timer_cycles(); \
	if (vhost_log_now_ - vhost_log_last_ > rte_get_timer_hz() / 4) { \
		vhost_log_last_ = vhost_log_now_; \
		VHOST_LOG(level, fmt, ##__VA_ARGS__); \
	} \
} while (0)

#endif /* VHOST_LOG_H */
