/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_SOCKET_H
#define VHOST_SOCKET_H

/* Registered vhost-user sockets (rte_vhost_driver_*) and their
 * connections. What a device negotiates is bounded by its socket. */

#include <stdint.h>

struct vhost_socket;

uint64_t vhost_socket_features(const struct vhost_socket *vs);
uint64_t vhost_socket_protocol_features(const struct vhost_socket *vs);
uint32_t vhost_socket_queue_pairs(const struct vhost_socket *vs);

#endif /* VHOST_SOCKET_H */
