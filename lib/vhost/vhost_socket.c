/* SPDX-License-Identifier: BSD-3-Clause */

/* rte_vhost_driver_*: registered sockets, server and client mode,
 * reconnection, and the connections they carry. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_net.h>

#include <rte_cycles.h>
#include <rte_vhost.h>

#include "fd_event.h"
#include "vhost_device.h"
#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vhost_msg.h"
#include "vhost_socket.h"
#include "vhost_user.h"
#include "iotlb_miss.h"

/* What a virtio-net device served by this library can offer. */
#define VHOST_NET_FEATURES ( \
	(1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
	(1ULL << VIRTIO_NET_F_MTU) | \
	(1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
	(1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO) | \
	(1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CTRL_VQ) | \
	(1ULL << VIRTIO_NET_F_CTRL_RX) | (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE) | \
	(1ULL << VIRTIO_NET_F_MQ) | (1ULL << VHOST_F_LOG_ALL) | \
	(1ULL << VIRTIO_F_ANY_LAYOUT) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	(1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | \
	(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_IN_ORDER) | \
	(1ULL << VIRTIO_F_RING_PACKED))

#define VHOST_PROTOCOL_FEATURES ( \
	(1ULL << VHOST_USER_PROTOCOL_F_MQ) | \
	(1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD) | \
	(1ULL << VHOST_USER_PROTOCOL_F_RARP) | \
	(1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	(1ULL << VHOST_USER_PROTOCOL_F_NET_MTU) | \
	(1ULL << VHOST_USER_PROTOCOL_F_STATUS) | \
	(1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))

/* Registration flags this library implements. */
#define VHOST_SUPPORTED_FLAGS (RTE_VHOST_USER_CLIENT | \
	RTE_VHOST_USER_NO_RECONNECT | RTE_VHOST_USER_IOMMU_SUPPORT | \
	RTE_VHOST_USER_EXTBUF_SUPPORT | RTE_VHOST_USER_LINEARBUF_SUPPORT | \
	RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS | RTE_VHOST_USER_NET_STATS_ENABLE)

struct vhost_conn {
	TAILQ_ENTRY(vhost_conn) next;
	struct vhost_socket *vs;
	struct vhost_device *dev;
	int fd;
	bool listed;	/* on vs->conns; false once unregister owns it */
};

struct vhost_socket {
	TAILQ_ENTRY(vhost_socket) next;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t flags;
	bool is_server;
	bool started;
	bool registered;		/* on the sockets list */
	bool reconnect_wanted;		/* client mode: connect on next tick */
	uint64_t next_attempt;		/* timer cycles */
	int listen_fd;
	uint64_t features;
	uint64_t protocol_features;
	const struct rte_vhost_device_ops *ops;
	uint64_t iotlb_max_age;		/* timer cycles, 0: none */
	uint32_t iotlb_max_entries;	/* per device */
	TAILQ_HEAD(, vhost_conn) conns;
	/* Connections the event thread took off conns and is tearing down:
	 * unregister waits for them too. */
	uint32_t closing;
};

/* Protects the socket list, each socket's fields and connection list. */
static pthread_mutex_t sockets_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, vhost_socket) sockets = TAILQ_HEAD_INITIALIZER(sockets);
/* Signalled (with sockets_lock) when a socket's closing count drops. */
static pthread_cond_t conn_closed = PTHREAD_COND_INITIALIZER;

uint64_t
vhost_socket_features(const struct vhost_socket *vs)
{
	return vs->features;
}

uint64_t
vhost_socket_protocol_features(const struct vhost_socket *vs)
{
	return vs->protocol_features;
}

uint32_t
vhost_socket_queue_pairs(const struct vhost_socket *vs)
{
	RTE_SET_USED(vs);
	return VHOST_MAX_QUEUE_PAIRS;
}

void
vhost_socket_foreach(void (*fn)(const struct vhost_socket_info *info, void *arg),
		     void *arg)
{
	struct vhost_socket_info info;
	struct vhost_socket *vs;
	struct vhost_conn *c;

	pthread_mutex_lock(&sockets_lock);
	TAILQ_FOREACH(vs, &sockets, next) {
		memset(&info, 0, sizeof(info));
		snprintf(info.path, sizeof(info.path), "%s", vs->path);
		info.flags = vs->flags;
		info.is_server = vs->is_server;
		info.started = vs->started;
		info.reconnecting = vs->reconnect_wanted;
		info.features = vs->features;
		info.protocol_features = vs->protocol_features;
		if (vs->iotlb_max_age != 0) {
			uint64_t per_us = RTE_MAX(1ul, rte_get_timer_hz() / 1000000);

			info.iotlb_max_age_us = RTE_MAX(1ul, vs->iotlb_max_age / per_us);
		}
		/* A listed connection's device lives until it is unlisted,
		 * which needs this lock. */
		TAILQ_FOREACH(c, &vs->conns, next) {
			if (info.nb_conns < VHOST_SOCKET_INFO_VIDS)
				info.vids[info.nb_conns] = c->dev->vid;
			info.nb_conns++;
		}
		fn(&info, arg);
	}
	pthread_mutex_unlock(&sockets_lock);
}

static struct vhost_socket *
find_socket(const char *path)
{
	struct vhost_socket *vs;

	if (path == NULL)
		return NULL;
	TAILQ_FOREACH(vs, &sockets, next)
		if (strcmp(vs->path, path) == 0)
			return vs;
	return NULL;
}

static void
schedule_reconnect(struct vhost_socket *vs)
{
	vs->reconnect_wanted = true;
	vs->next_attempt = rte_get_timer_cycles() +
		rte_get_timer_hz() * VHOST_RECONNECT_INTERVAL_MS / 1000;
}

/* Tear a connection down. Called with sockets_lock not held, after the
 * connection was taken off its socket's list and its fd off the event
 * thread. */
static void
conn_destroy(struct vhost_conn *c)
{
	struct vhost_device *dev = c->dev;

	if (dev->ops != NULL && dev->ops->destroy_connection != NULL)
		dev->ops->destroy_connection(dev->vid);
	vhost_device_stop(dev);
	vhost_unlock_all_vqs(dev, vhost_lock_all_vqs(dev));
	VHOST_DEV_LOG(INFO, dev, "connection closed (vid %d)", dev->vid);
	vhost_device_free(dev);
	close(c->fd);
	free(c);
}

static void
conn_read(int fd, void *arg)
{
	struct vhost_conn *c = arg;
	struct vhost_socket *vs = c->vs;

	RTE_SET_USED(fd);
	/* Before the first byte leaves the socket: a datapath thread that
	 * finds the socket empty then sees the messages in our hands
	 * (vhost_frontend_unread). */
	__atomic_store_n(&c->dev->ctl_reading, 1, __ATOMIC_SEQ_CST);
	/* A frontend often queues several messages (a batch of IOTLB
	 * updates): take them without a poll each, within a bound so that
	 * other connections get their turn. */
	for (int i = 0; i < VHOST_MSGS_PER_WAKEUP; i++) {
		int ret = vhost_user_handle_msg(c->dev);

		if (ret > 0)
			break;		/* nothing more queued */
		if (ret < 0)
			goto closed;
	}
	vhost_iotlb_after_messages(c->dev);
	__atomic_store_n(&c->dev->ctl_reading, 0, __ATOMIC_RELEASE);
	if (vhost_user_flush_replies(c->dev) == 0)
		return;
closed:
	__atomic_store_n(&c->dev->ctl_reading, 0, __ATOMIC_RELEASE);

	pthread_mutex_lock(&sockets_lock);
	if (!c->listed) {
		/* rte_vhost_driver_unregister owns it and waits for us. */
		pthread_mutex_unlock(&sockets_lock);
		return;
	}
	c->listed = false;
	TAILQ_REMOVE(&vs->conns, c, next);
	vs->closing++;
	if (!vs->is_server && !(vs->flags & RTE_VHOST_USER_NO_RECONNECT)) {
		/* As DPDK: a first attempt at once (a frontend that keeps
		 * listening, such as virtio-user with server=1, takes it),
		 * then one per interval while they fail. */
		vs->reconnect_wanted = true;
		vs->next_attempt = 0;
	}
	pthread_mutex_unlock(&sockets_lock);
	fd_event_del(c->fd);
	conn_destroy(c);
	/* vs is still there: unregister waits for this. */
	pthread_mutex_lock(&sockets_lock);
	vs->closing--;
	pthread_cond_broadcast(&conn_closed);
	pthread_mutex_unlock(&sockets_lock);
}

/* Adopt a new connection fd. Called with sockets_lock held. */
static int
conn_add(struct vhost_socket *vs, int fd)
{
	struct vhost_conn *c = calloc(1, sizeof(*c));
	struct vhost_device *dev = vhost_device_alloc();

	if (c == NULL || dev == NULL)
		goto fail;
	c->vs = vs;
	c->dev = dev;
	c->fd = fd;
	dev->conn_fd = fd;
	dev->vsock = vs;
	dev->reg_flags = vs->flags;
	dev->ops = vs->ops;
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", vs->path);
	dev->iotlb_max_age = vs->iotlb_max_age;
	dev->iotlb_max_entries = vs->iotlb_max_entries;
	VHOST_DEV_LOG(INFO, dev, "new connection: vid %d", dev->vid);

	if (vs->ops != NULL && vs->ops->new_connection != NULL &&
	    vs->ops->new_connection(dev->vid) < 0) {
		VHOST_DEV_LOG(ERR, dev, "the application refused the connection");
		goto fail;
	}
	TAILQ_INSERT_TAIL(&vs->conns, c, next);
	c->listed = true;
	if (fd_event_add(fd, conn_read, c) < 0) {
		TAILQ_REMOVE(&vs->conns, c, next);
		goto fail;
	}
	return 0;
fail:
	vhost_device_free(dev);
	free(c);
	close(fd);
	return -1;
}

static void
listen_accept(int fd, void *arg)
{
	struct vhost_socket *vs = arg;
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (conn < 0) {
		VHOST_LOG_ERR("(%s) accept failed: %s", vs->path, strerror(errno));
		return;
	}
	pthread_mutex_lock(&sockets_lock);
	if (vs->registered)
		conn_add(vs, conn);
	else
		close(conn);
	pthread_mutex_unlock(&sockets_lock);
}

static int
make_socket(const char *path, struct sockaddr_un *un)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof(un->sun_path), "%s", path);
	return fd;
}

/* Client mode: one connection attempt. Called with sockets_lock held. */
static int
try_connect(struct vhost_socket *vs)
{
	struct sockaddr_un un;
	int fd = make_socket(vs->path, &un);

	if (fd < 0)
		return fd;
	/* Never wait in connect(): it runs on the event thread, and a
	 * frontend whose listening queue is full (not accepting yet) would
	 * stop every device (as in DPDK: EAGAIN, then the next attempt).
	 * Once connected the socket blocks again, as messages expect. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
	    connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    fcntl(fd, F_SETFL, 0) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	vs->reconnect_wanted = false;
	VHOST_LOG_INFO("(%s) connected", vs->path);
	return conn_add(vs, fd);
}

/* Every VHOST_EVENT_TICK_MS on the event thread: client reconnects, and a
 * retry of packets the rings hold. A listed connection's device cannot
 * be freed meanwhile: unregister unlists it under sockets_lock first. */
static void
socket_tick(void)
{
	struct vhost_socket *vs;
	struct vhost_conn *c;
	uint64_t now = rte_get_timer_cycles();

	pthread_mutex_lock(&sockets_lock);
	TAILQ_FOREACH(vs, &sockets, next) {
		TAILQ_FOREACH(c, &vs->conns, next)
			vhost_iotlb_retry_held(c->dev);
		if (!vs->started || !vs->reconnect_wanted || now < vs->next_attempt)
			continue;
		if (try_connect(vs) < 0)
			schedule_reconnect(vs);
	}
	pthread_mutex_unlock(&sockets_lock);
}

/* Server mode: bind, replacing a stale socket file nobody listens on. */
static int
start_server(struct vhost_socket *vs)
{
	struct sockaddr_un un;
	int fd = make_socket(vs->path, &un);

	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		int probe;
		bool alive;

		if (errno != EADDRINUSE)
			goto fail;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		alive = probe >= 0 &&
			connect(probe, (struct sockaddr *)&un, sizeof(un)) == 0;

		if (probe >= 0)
			close(probe);
		if (alive) {
			VHOST_LOG_ERR("(%s) socket is in use by another process", vs->path);
			close(fd);
			return -EADDRINUSE;
		}
		unlink(vs->path);
		if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
			goto fail;
	}
	if (listen(fd, 128) < 0)
		goto fail;
	vs->listen_fd = fd;
	if (fd_event_add(fd, listen_accept, vs) < 0) {
		vs->listen_fd = -1;
		close(fd);
		unlink(vs->path);
		return -ENOSPC;
	}
	VHOST_LOG_INFO("(%s) listening", vs->path);
	return 0;
fail:
	VHOST_LOG_ERR("(%s) cannot listen: %s", vs->path, strerror(errno));
	close(fd);
	return -errno;
}

int
rte_vhost_driver_register(const char *path, uint64_t flags)
{
	struct vhost_socket *vs;
	int ret = -1;

	if (path == NULL || path[0] == '\0')
		return -1;
	if (strlen(path) >= sizeof(vs->path)) {
		VHOST_LOG_ERR("(%s) socket path too long", path);
		return -1;
	}
	if (flags & ~VHOST_SUPPORTED_FLAGS) {
		VHOST_LOG_ERR("(%s) unsupported registration flags 0x%" PRIx64
			" (postcopy and async copy are not implemented)",
			path, (uint64_t)(flags & ~VHOST_SUPPORTED_FLAGS));
		return -1;
	}

	pthread_mutex_lock(&sockets_lock);
	if (find_socket(path) != NULL) {
		VHOST_LOG_ERR("(%s) socket already registered", path);
		goto out;
	}
	vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		goto out;
	snprintf(vs->path, sizeof(vs->path), "%s", path);
	vs->flags = flags;
	vs->is_server = !(flags & RTE_VHOST_USER_CLIENT);
	vs->listen_fd = -1;
	vs->features = VHOST_NET_FEATURES;
	vs->protocol_features = VHOST_PROTOCOL_FEATURES;
	/* A vIOMMU needs the backend request channel for misses, and
	 * acknowledged updates (QEMU refuses IOMMU without both). */
	if (flags & RTE_VHOST_USER_IOMMU_SUPPORT) {
		const char *age = getenv(VHOST_IOTLB_MAX_AGE_ENV);

		vs->iotlb_max_entries = vhost_iotlb_max_entries_conf(path);
		vs->features |= 1ULL << VIRTIO_F_IOMMU_PLATFORM;
		vs->protocol_features |= 1ULL << VHOST_USER_PROTOCOL_F_SLAVE_REQ;
		if (age != NULL && strtoul(age, NULL, 10) > 0) {
			vs->iotlb_max_age = RTE_MAX(1ul, rte_get_timer_hz() / 1000000 *
				strtoul(age, NULL, 10));
			VHOST_LOG_WARN("(%s) IOTLB entries expire after %lu us (%s)",
				path, strtoul(age, NULL, 10), VHOST_IOTLB_MAX_AGE_ENV);
		}
	}
	TAILQ_INIT(&vs->conns);
	TAILQ_INSERT_TAIL(&sockets, vs, next);
	vs->registered = true;
	ret = 0;
	VHOST_LOG_INFO("(%s) registered in %s mode", path,
		vs->is_server ? "server" : "client");
out:
	pthread_mutex_unlock(&sockets_lock);
	return ret;
}

int
rte_vhost_driver_unregister(const char *path)
{
	TAILQ_HEAD(, vhost_conn) doomed = TAILQ_HEAD_INITIALIZER(doomed);
	struct vhost_socket *vs;
	struct vhost_conn *c;

	pthread_mutex_lock(&sockets_lock);
	vs = find_socket(path);
	if (vs == NULL) {
		pthread_mutex_unlock(&sockets_lock);
		return -1;
	}
	TAILQ_REMOVE(&sockets, vs, next);
	vs->registered = false;
	pthread_mutex_unlock(&sockets_lock);

	/* Out of the lock: a callback running for these fds may need it,
	 * and fd_event_del waits for that callback to return. No new
	 * connection can appear once the listening fd is gone. */
	if (vs->listen_fd >= 0) {
		fd_event_del(vs->listen_fd);
		close(vs->listen_fd);
		unlink(vs->path);
	}
	pthread_mutex_lock(&sockets_lock);
	while ((c = TAILQ_FIRST(&vs->conns)) != NULL) {
		TAILQ_REMOVE(&vs->conns, c, next);
		c->listed = false;
		TAILQ_INSERT_TAIL(&doomed, c, next);
	}
	pthread_mutex_unlock(&sockets_lock);
	while ((c = TAILQ_FIRST(&doomed)) != NULL) {
		TAILQ_REMOVE(&doomed, c, next);
		fd_event_del(c->fd);
		conn_destroy(c);
	}
	/* A connection whose frontend went away just before is being torn
	 * down by the event thread, off the list: wait for it as well, so
	 * that, as in DPDK, no callback of this socket runs and none of its
	 * fds is open once we return. (From a callback, on the event
	 * thread, that teardown would be the caller's own.) */
	pthread_mutex_lock(&sockets_lock);
	while (vs->closing > 0 && !fd_event_in_thread())
		pthread_cond_wait(&conn_closed, &sockets_lock);
	pthread_mutex_unlock(&sockets_lock);
	VHOST_LOG_INFO("(%s) unregistered", vs->path);
	free(vs);
	return 0;
}

int
rte_vhost_driver_start(const char *path)
{
	struct vhost_socket *vs;
	int ret = -1;

	/* The event thread also retries client connections: it must run
	 * even before any fd is watched. */
	fd_event_set_tick(socket_tick);
	if (fd_event_start() < 0)
		return -1;
	pthread_mutex_lock(&sockets_lock);
	vs = find_socket(path);
	if (vs == NULL || vs->started)
		goto out;
	if (vs->is_server) {
		ret = start_server(vs) < 0 ? -1 : 0;
	} else {
		ret = try_connect(vs);
		if (ret < 0 && !(vs->flags & RTE_VHOST_USER_NO_RECONNECT)) {
			VHOST_LOG_INFO("(%s) not connected (%s): retrying every %d ms",
				path, strerror(-ret), VHOST_RECONNECT_INTERVAL_MS);
			schedule_reconnect(vs);
			ret = 0;
		} else if (ret < 0) {
			VHOST_LOG_ERR("(%s) connect failed: %s", path, strerror(-ret));
			ret = -1;
		}
	}
	vs->started = ret == 0;
out:
	pthread_mutex_unlock(&sockets_lock);
	return ret;
}

int
rte_vhost_driver_callback_register(const char *path,
				   struct rte_vhost_device_ops const *const ops)
{
	struct vhost_socket *vs;

	pthread_mutex_lock(&sockets_lock);
	vs = find_socket(path);
	if (vs != NULL)
		vs->ops = ops;
	pthread_mutex_unlock(&sockets_lock);
	return vs != NULL ? 0 : -1;
}

/* Apply op to a socket's feature word under the lock. */
static int
update_features(const char *path, bool protocol, uint64_t set, uint64_t clear,
		uint64_t *get)
{
	struct vhost_socket *vs;
	uint64_t *word;

	pthread_mutex_lock(&sockets_lock);
	vs = find_socket(path);
	if (vs == NULL) {
		pthread_mutex_unlock(&sockets_lock);
		return -1;
	}
	word = protocol ? &vs->protocol_features : &vs->features;
	*word = (*word & ~clear) | set;
	if (get != NULL)
		*get = *word;
	pthread_mutex_unlock(&sockets_lock);
	return 0;
}

int
rte_vhost_driver_set_features(const char *path, uint64_t features)
{
	if (features & ~(VHOST_NET_FEATURES | (1ULL << VIRTIO_F_IOMMU_PLATFORM))) {
		VHOST_LOG_ERR("(%s) features 0x%" PRIx64 " are not supported", path,
			(uint64_t)(features & ~VHOST_NET_FEATURES));
		return -1;
	}
	return update_features(path, false, features, UINT64_MAX, NULL);
}

int
rte_vhost_driver_enable_features(const char *path, uint64_t features)
{
	if (features & ~VHOST_NET_FEATURES) {
		VHOST_LOG_ERR("(%s) features 0x%" PRIx64 " are not supported", path,
			(uint64_t)(features & ~VHOST_NET_FEATURES));
		return -1;
	}
	return update_features(path, false, features, 0, NULL);
}

int
rte_vhost_driver_disable_features(const char *path, uint64_t features)
{
	return update_features(path, false, 0, features, NULL);
}

int
rte_vhost_driver_get_features(const char *path, uint64_t *features)
{
	return update_features(path, false, 0, 0, features);
}

int
rte_vhost_driver_set_protocol_features(const char *path,
				       uint64_t protocol_features)
{
	return update_features(path, true, protocol_features &
		(VHOST_PROTOCOL_FEATURES | (1ULL << VHOST_USER_PROTOCOL_F_SLAVE_REQ)),
		UINT64_MAX, NULL);
}

int
rte_vhost_driver_get_protocol_features(const char *path,
				       uint64_t *protocol_features)
{
	return update_features(path, true, 0, 0, protocol_features);
}

int
rte_vhost_driver_get_queue_num(const char *path, uint32_t *queue_num)
{
	uint64_t unused;

	if (update_features(path, false, 0, 0, &unused) < 0)
		return -1;
	*queue_num = VHOST_MAX_QUEUE_PAIRS;
	return 0;
}
