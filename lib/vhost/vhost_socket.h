/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_SOCKET_H
#define VHOST_SOCKET_H

/* Registered vhost-user sockets (rte_vhost_driver_*) and their
 * connections. What a device negotiates is bounded by its socket. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

struct vhost_socket;

/* A registered socket as observers (telemetry) see it. */
#define VHOST_SOCKET_INFO_VIDS 16
struct vhost_socket_info {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t flags;			/* RTE_VHOST_USER_* at registration */
	bool is_server;
	bool started;			/* rte_vhost_driver_start done */
	bool reconnecting;		/* client mode: waiting to retry */
	uint64_t features;		/* offered to frontends */
	uint64_t protocol_features;
	uint64_t iotlb_max_age_us;	/* 0: entries live until invalidated */
	uint32_t nb_conns;
	int vids[VHOST_SOCKET_INFO_VIDS];	/* the first nb_conns of them */
};

/* Call fn on a snapshot of each registered socket, in registration
 * order. fn runs with the socket list locked: it must not call into the
 * library. */
void vhost_socket_foreach(void (*fn)(const struct vhost_socket_info *info, void *arg),
			  void *arg);

uint64_t vhost_socket_features(const struct vhost_socket *vs);
uint64_t vhost_socket_protocol_features(const struct vhost_socket *vs);
uint32_t vhost_socket_queue_pairs(const struct vhost_socket *vs);

#endif /* VHOST_SOCKET_H */
