/* SPDX-License-Identifier: BSD-3-Clause */

/* rte_telemetry commands for operators (dpdk-telemetry.py):
 *   /vhost/sockets              registered sockets
 *   /vhost/devices              connected devices: vid -> socket path
 *   /vhost/device,VID[,RING]    negotiated state, rings, memory regions
 *   /vhost/vring_stats,VID[,RING]  per-ring counters
 *
 * Requests run on telemetry client threads. A device is read with its
 * ctrl_lock held (vhost_device_observe): no handler can replace its
 * memory table or free its rings meanwhile, and it cannot be freed. The
 * datapath never takes that lock; counters it updates are read with
 * relaxed loads. State is copied under the lock and formatted after. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_common.h>
#include <rte_telemetry.h>

#include "vhost_device.h"
#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vhost_socket.h"
#include "vring_stats.h"

/* DPDK 22.11 answers at most 16 KB: per-ring sections stop at these
 * counts (about 200 and 800 bytes a ring); ",RING" asks for one. */
#define TEL_DEVICE_RINGS 32
#define TEL_STATS_RINGS 16
/* Memory regions shown (up to VHOST_MAX_MEM_SLOTS exist with hot-plug);
 * nr_mem_regions gives the count. */
#define TEL_MEM_REGIONS 8
/* How long a request waits for a device whose request handler runs. */
#define TEL_BUSY_WAIT_MS 1000

/* Names of feature bits, as in the virtio and vhost-user specs. */
static const char *const feature_names[64] = {
	[VIRTIO_NET_F_CSUM] = "csum",
	[VIRTIO_NET_F_GUEST_CSUM] = "guest_csum",
	[VIRTIO_NET_F_CTRL_GUEST_OFFLOADS] = "ctrl_guest_offloads",
	[VIRTIO_NET_F_MTU] = "mtu",
	[VIRTIO_NET_F_MAC] = "mac",
	[VIRTIO_NET_F_GUEST_TSO4] = "guest_tso4",
	[VIRTIO_NET_F_GUEST_TSO6] = "guest_tso6",
	[VIRTIO_NET_F_GUEST_ECN] = "guest_ecn",
	[VIRTIO_NET_F_GUEST_UFO] = "guest_ufo",
	[VIRTIO_NET_F_HOST_TSO4] = "host_tso4",
	[VIRTIO_NET_F_HOST_TSO6] = "host_tso6",
	[VIRTIO_NET_F_HOST_ECN] = "host_ecn",
	[VIRTIO_NET_F_HOST_UFO] = "host_ufo",
	[VIRTIO_NET_F_MRG_RXBUF] = "mrg_rxbuf",
	[VIRTIO_NET_F_STATUS] = "status",
	[VIRTIO_NET_F_CTRL_VQ] = "ctrl_vq",
	[VIRTIO_NET_F_CTRL_RX] = "ctrl_rx",
	[VIRTIO_NET_F_CTRL_VLAN] = "ctrl_vlan",
	[VIRTIO_NET_F_CTRL_RX_EXTRA] = "ctrl_rx_extra",
	[VIRTIO_NET_F_GUEST_ANNOUNCE] = "guest_announce",
	[VIRTIO_NET_F_MQ] = "mq",
	[VIRTIO_NET_F_CTRL_MAC_ADDR] = "ctrl_mac_addr",
	[VIRTIO_F_NOTIFY_ON_EMPTY] = "notify_on_empty",
	[VHOST_F_LOG_ALL] = "log_all",
	[VIRTIO_F_ANY_LAYOUT] = "any_layout",
	[VIRTIO_RING_F_INDIRECT_DESC] = "indirect_desc",
	[VIRTIO_RING_F_EVENT_IDX] = "event_idx",
	[VHOST_USER_F_PROTOCOL_FEATURES] = "protocol_features",
	[VIRTIO_F_VERSION_1] = "version_1",
	[VIRTIO_F_ACCESS_PLATFORM] = "iommu_platform",
	[34] = "ring_packed",
	[VIRTIO_F_IN_ORDER] = "in_order",
	[36] = "order_platform",
	[37] = "sr_iov",
	[38] = "notification_data",
};

/* Named after DPDK 22.11's macros, which readers of /vhost/device know:
 * "slave_req" is the spec's BACKEND_REQ, "slave_send_fd" BACKEND_SEND_FD. */
static const char *const protocol_feature_names[64] = {
	[VHOST_USER_PROTOCOL_F_MQ] = "mq",
	[VHOST_USER_PROTOCOL_F_LOG_SHMFD] = "log_shmfd",
	[VHOST_USER_PROTOCOL_F_RARP] = "rarp",
	[VHOST_USER_PROTOCOL_F_REPLY_ACK] = "reply_ack",
	[VHOST_USER_PROTOCOL_F_NET_MTU] = "net_mtu",
	[VHOST_USER_PROTOCOL_F_SLAVE_REQ] = "slave_req",
	[6] = "cross_endian",
	[7] = "crypto_session",
	[8] = "pagefault",
	[9] = "config",
	[10] = "slave_send_fd",
	[11] = "host_notifier",
	[12] = "inflight_shmfd",
	[13] = "reset_device",
	[14] = "inband_notifications",
	[15] = "configure_mem_slots",
	[VHOST_USER_PROTOCOL_F_STATUS] = "status",
};

static const char *const reg_flag_names[64] = {
	[0] = "client",
	[1] = "no_reconnect",
	[3] = "iommu_support",
	[4] = "postcopy_support",
	[5] = "extbuf_support",
	[6] = "linearbuf_support",
	[7] = "async_copy",
	[8] = "net_compliant_ol_flags",
	[9] = "net_stats_enable",
};

/* Add container c to dict d, or free it: d owns it either way. */
static void
add_container(struct rte_tel_data *d, const char *name, struct rte_tel_data *c)
{
	if (c != NULL && rte_tel_data_add_dict_container(d, name, c, 0) != 0)
		rte_tel_data_free(c);
}

static void
add_hex(struct rte_tel_data *d, const char *name, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "0x%" PRIx64, v);
	rte_tel_data_add_dict_string(d, name, s);
}

/* An array with the name of every bit set in v. */
static struct rte_tel_data *
bit_names(uint64_t v, const char *const names[64])
{
	struct rte_tel_data *a = rte_tel_data_alloc();

	if (a == NULL)
		return NULL;
	rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
	for (unsigned int b = 0; b < 64; b++) {
		char unknown[16];

		if (!((v >> b) & 1))
			continue;
		if (names[b] == NULL)
			snprintf(unknown, sizeof(unknown), "bit_%u", b);
		rte_tel_data_add_array_string(a, names[b] != NULL ? names[b] : unknown);
	}
	return a;
}

/* Ring 0 is the host's tx_q0 (enqueue), ring 1 its rx_q0, as in the
 * counter names of rte_vhost_vring_stats_get_names(). */
static void
queue_label(uint32_t ring, char *queue, size_t len)
{
	snprintf(queue, len, "%s_q%u", (ring & 1) ? "rx" : "tx", ring / 2);
}

/* Parse "VID" or "VID,RING". Returns 0, or -EINVAL. *ring is -1 if
 * absent. */
static int
parse_params(const char *params, int *vid, int *ring)
{
	char *end;
	unsigned long v;

	*ring = -1;
	if (params == NULL || params[0] < '0' || params[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(params, &end, 10);
	if (errno != 0 || v >= RTE_MAX_VHOST_DEVICE)
		return -EINVAL;
	*vid = (int)v;
	if (*end == '\0')
		return 0;
	if (*end != ',' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	v = strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || v >= VHOST_MAX_VRINGS)
		return -EINVAL;
	*ring = (int)v;
	return 0;
}

/* The device with its ctrl_lock held, waiting a bounded time while a
 * request handler runs. NULL if there is no such device (or it stays
 * busy). */
static struct vhost_device *
observe(int vid)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	struct vhost_device *dev;
	bool busy;

	for (int waited = 0; ; waited++) {
		dev = vhost_device_observe(vid, &busy);
		if (dev != NULL || !busy)
			return dev;
		if (waited >= TEL_BUSY_WAIT_MS) {
			VHOST_LOG_WARN("telemetry: device %d stayed busy for %d ms",
				vid, TEL_BUSY_WAIT_MS);
			return NULL;
		}
		nanosleep(&ms, NULL);
	}
}

/* The opening of a per-device command: parse "VID[,RING]", allocate a
 * zeroed snapshot of size bytes, and find the device (ctrl_lock held:
 * the caller copies what it needs and calls vhost_device_unobserve()).
 * Returns the device, or NULL with *err set and nothing held. */
static struct vhost_device *
observe_params(const char *params, size_t size, int *vid, int *ring,
	       void **snapshot, int *err)
{
	struct vhost_device *dev;

	*err = parse_params(params, vid, ring);
	if (*err < 0)
		return NULL;
	*snapshot = calloc(1, size);
	if (*snapshot == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	dev = observe(*vid);
	if (dev == NULL) {
		free(*snapshot);
		*snapshot = NULL;
		*err = -ENODEV;
	}
	return dev;
}

/* ---- /vhost/sockets ---- */

struct sockets_walk {
	struct rte_tel_data *d;
	unsigned int n;
};

static void
socket_entry(const struct vhost_socket_info *info, void *arg)
{
	struct sockets_walk *w = arg;
	struct rte_tel_data *s = rte_tel_data_alloc();
	struct rte_tel_data *vids;
	char key[32];

	if (s == NULL)
		return;
	snprintf(key, sizeof(key), "socket%u", w->n++);
	rte_tel_data_start_dict(s);
	rte_tel_data_add_dict_string(s, "path", info->path);
	rte_tel_data_add_dict_string(s, "mode", info->is_server ? "server" : "client");
	add_hex(s, "flags", info->flags);
	add_container(s, "flag_names", bit_names(info->flags, reg_flag_names));
	rte_tel_data_add_dict_int(s, "iommu_support",
		!!(info->flags & RTE_VHOST_USER_IOMMU_SUPPORT));
	rte_tel_data_add_dict_int(s, "started", info->started);
	if (!info->is_server)
		rte_tel_data_add_dict_int(s, "reconnecting", info->reconnecting);
	add_hex(s, "features", info->features);
	add_hex(s, "protocol_features", info->protocol_features);
	rte_tel_data_add_dict_u64(s, "iotlb_max_age_us", info->iotlb_max_age_us);
	rte_tel_data_add_dict_int(s, "connections", (int)info->nb_conns);
	vids = rte_tel_data_alloc();
	if (vids != NULL) {
		rte_tel_data_start_array(vids, RTE_TEL_INT_VAL);
		for (uint32_t i = 0; i < RTE_MIN(info->nb_conns, (uint32_t)VHOST_SOCKET_INFO_VIDS); i++)
			rte_tel_data_add_array_int(vids, info->vids[i]);
		add_container(s, "vids", vids);
	}
	add_container(w->d, key, s);
}

static int
tel_sockets(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sockets_walk w = { .d = d };

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	vhost_socket_foreach(socket_entry, &w);
	return 0;
}

/* ---- /vhost/devices ---- */

static void
device_entries(const struct vhost_socket_info *info, void *arg)
{
	struct rte_tel_data *d = arg;

	for (uint32_t i = 0; i < RTE_MIN(info->nb_conns, (uint32_t)VHOST_SOCKET_INFO_VIDS); i++) {
		char key[16];

		snprintf(key, sizeof(key), "%d", info->vids[i]);
		rte_tel_data_add_dict_string(d, key, info->path);
	}
}

static int
tel_devices(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	/* The socket list has every connected device with its path, and
	 * none that is being torn down. */
	rte_tel_data_start_dict(d);
	vhost_socket_foreach(device_entries, d);
	return 0;
}

/* ---- /vhost/device,VID[,RING] ---- */

struct ring_state {
	uint16_t size;
	bool allocated;
	bool enabled;
	bool ready;
	bool access_ok;
	int kickfd;
	int callfd;
	uint16_t last_avail_idx;
	uint16_t last_used_idx;
	uint16_t avail_idx;	/* as the guest last wrote them */
	uint16_t used_idx;
};

struct device_state {
	char ifname[PATH_MAX];
	uint64_t features;
	uint64_t protocol_features;
	uint64_t reg_flags;
	uint32_t flags;
	uint16_t hdr_len;
	uint16_t mtu;
	uint8_t status;
	uint32_t nr_vring;
	uint64_t log_size;
	bool log_mapped;
	uint32_t mem_nregions;
	struct rte_vhost_mem_region mem_regions[TEL_MEM_REGIONS];
	uint32_t first_ring;
	uint32_t nb_rings;
	struct ring_state rings[TEL_DEVICE_RINGS];
};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Copy what is shown; called with the device's ctrl_lock held. */
static void
device_copy(struct vhost_device *dev, struct device_state *st, int ring)
{
	/* Written once, before the connection's first request. */
	memcpy(st->ifname, dev->ifname, sizeof(st->ifname) - 1);
	st->ifname[sizeof(st->ifname) - 1] = '\0';
	st->features = dev->features;
	st->protocol_features = dev->protocol_features;
	st->reg_flags = dev->reg_flags;
	st->flags = LOAD(dev->flags);
	st->hdr_len = dev->hdr_len;
	st->mtu = dev->mtu;
	st->status = dev->status;
	st->nr_vring = dev->nr_vring;
	st->log_mapped = dev->log_base != NULL;
	st->log_size = dev->log_size;
	st->mem_nregions = dev->mem != NULL ? dev->mem->nregions : 0;
	if (st->mem_nregions > 0)
		memcpy(st->mem_regions, dev->mem->regions,
		       RTE_MIN(st->mem_nregions, (uint32_t)TEL_MEM_REGIONS) *
		       sizeof(st->mem_regions[0]));
	st->first_ring = ring >= 0 ? (uint32_t)ring : 0;
	if (st->first_ring < st->nr_vring)
		st->nb_rings = RTE_MIN(st->nr_vring - st->first_ring,
			ring >= 0 ? 1u : (uint32_t)TEL_DEVICE_RINGS);
	for (uint32_t i = 0; i < st->nb_rings; i++) {
		struct vhost_virtqueue *vq = dev->vq[st->first_ring + i];
		struct ring_state *r = &st->rings[i];

		if (vq == NULL)
			continue;
		r->allocated = true;
		r->size = vq->size;
		r->enabled = LOAD(vq->enabled);
		r->ready = LOAD(vq->ready);
		r->access_ok = vq->access_ok;
		r->kickfd = vq->kickfd;
		r->callfd = vq->callfd;
		r->last_avail_idx = LOAD(vq->last_avail_idx);
		r->last_used_idx = LOAD(vq->last_used_idx);
		/* The rings stay mapped while the memory table cannot change. */
		if (vq->access_ok) {
			r->avail_idx = LOAD(vq->avail->idx);
			r->used_idx = LOAD(vq->used->idx);
		}
	}
}

static const char *
fd_state(int fd)
{
	if (fd == VHOST_FD_UNSET)
		return "unset";
	return fd == VHOST_FD_NONE ? "polling" : "fd";
}

static struct rte_tel_data *
ring_dict(const struct ring_state *r, uint32_t index)
{
	struct rte_tel_data *v = rte_tel_data_alloc();
	char queue[16];

	if (v == NULL)
		return NULL;
	queue_label(index, queue, sizeof(queue));
	rte_tel_data_start_dict(v);
	rte_tel_data_add_dict_string(v, "queue", queue);
	if (!r->allocated)
		return v;
	rte_tel_data_add_dict_int(v, "size", r->size);
	rte_tel_data_add_dict_int(v, "enabled", r->enabled);
	rte_tel_data_add_dict_int(v, "ready", r->ready);
	rte_tel_data_add_dict_int(v, "access_ok", r->access_ok);
	rte_tel_data_add_dict_string(v, "kick", fd_state(r->kickfd));
	rte_tel_data_add_dict_string(v, "call", fd_state(r->callfd));
	rte_tel_data_add_dict_int(v, "last_avail_idx", r->last_avail_idx);
	rte_tel_data_add_dict_int(v, "last_used_idx", r->last_used_idx);
	if (r->access_ok) {
		rte_tel_data_add_dict_int(v, "avail_idx", r->avail_idx);
		rte_tel_data_add_dict_int(v, "used_idx", r->used_idx);
	}
	return v;
}

static struct rte_tel_data *
mem_dict(const struct device_state *st)
{
	const struct rte_vhost_mem_region *regions = st->mem_regions;
	struct rte_tel_data *m = rte_tel_data_alloc();

	if (m == NULL)
		return NULL;
	rte_tel_data_start_dict(m);
	for (uint32_t i = 0; i < st->mem_nregions && i < TEL_MEM_REGIONS; i++) {
		struct rte_tel_data *r = rte_tel_data_alloc();
		char key[16];

		if (r == NULL)
			break;
		snprintf(key, sizeof(key), "region%u", i);
		rte_tel_data_start_dict(r);
		add_hex(r, "guest_phys_addr", regions[i].guest_phys_addr);
		add_hex(r, "guest_user_addr", regions[i].guest_user_addr);
		rte_tel_data_add_dict_u64(r, "size", regions[i].size);
		add_container(m, key, r);
	}
	return m;
}

static int
tel_device(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct device_state *st = NULL;
	struct vhost_device *dev;
	int vid, ring, err;

	RTE_SET_USED(cmd);
	dev = observe_params(params, sizeof(*st), &vid, &ring, (void **)&st, &err);
	if (dev == NULL)
		return err;
	device_copy(dev, st, ring);
	vhost_device_unobserve(dev);
	if (ring >= 0 && st->nb_rings == 0) {
		free(st);
		return -EINVAL;		/* no such ring */
	}

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "vid", vid);
	rte_tel_data_add_dict_string(d, "ifname", st->ifname);
	rte_tel_data_add_dict_int(d, "running", !!(st->flags & VHOST_DEV_RUNNING));
	add_hex(d, "features", st->features);
	add_container(d, "feature_names", bit_names(st->features, feature_names));
	add_hex(d, "protocol_features", st->protocol_features);
	add_container(d, "protocol_feature_names",
		bit_names(st->protocol_features, protocol_feature_names));
	rte_tel_data_add_dict_int(d, "hdr_len", st->hdr_len);
	rte_tel_data_add_dict_int(d, "mtu", st->mtu);
	add_hex(d, "status", st->status);
	rte_tel_data_add_dict_int(d, "iommu", !!((st->features >> VIRTIO_F_ACCESS_PLATFORM) & 1));
	rte_tel_data_add_dict_int(d, "dirty_log", !!((st->features >> VHOST_F_LOG_ALL) & 1));
	rte_tel_data_add_dict_u64(d, "log_size", st->log_mapped ? st->log_size : 0);
	rte_tel_data_add_dict_int(d, "stats_enabled",
		!!(st->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE));
	rte_tel_data_add_dict_int(d, "nr_vring", (int)st->nr_vring);
	rte_tel_data_add_dict_int(d, "nr_mem_regions", (int)st->mem_nregions);
	add_container(d, "mem_regions", mem_dict(st));
	for (uint32_t i = 0; i < st->nb_rings; i++) {
		char key[16];

		snprintf(key, sizeof(key), "vring%u", st->first_ring + i);
		add_container(d, key, ring_dict(&st->rings[i], st->first_ring + i));
	}
	free(st);
	return 0;
}

/* ---- /vhost/vring_stats,VID[,RING] ---- */

struct stats_state {
	uint64_t reg_flags;
	uint32_t nr_vring;
	uint32_t first_ring;
	uint32_t nb_rings;
	bool allocated[TEL_STATS_RINGS];
	uint64_t v[TEL_STATS_RINGS][VHOST_STAT_NB];
};

static int
tel_vring_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct stats_state *st = NULL;
	struct vhost_device *dev;
	int vid, ring, err;

	RTE_SET_USED(cmd);
	dev = observe_params(params, sizeof(*st), &vid, &ring, (void **)&st, &err);
	if (dev == NULL)
		return err;
	st->reg_flags = dev->reg_flags;
	st->nr_vring = dev->nr_vring;
	st->first_ring = ring >= 0 ? (uint32_t)ring : 0;
	if (st->first_ring < st->nr_vring)
		st->nb_rings = RTE_MIN(st->nr_vring - st->first_ring,
			ring >= 0 ? 1u : (uint32_t)TEL_STATS_RINGS);
	for (uint32_t i = 0; i < st->nb_rings; i++) {
		struct vhost_virtqueue *vq = dev->vq[st->first_ring + i];

		st->allocated[i] = vq != NULL;
		if (vq != NULL)
			vhost_vq_stats_read(dev, vq, st->v[i]);
	}
	vhost_device_unobserve(dev);
	if (ring >= 0 && st->nb_rings == 0) {
		free(st);
		return -EINVAL;		/* no such ring */
	}

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "vid", vid);
	/* Without NET_STATS_ENABLE the per-packet counters stay 0 (as in
	 * DPDK); ours (from invalid_descriptor_chains on) always count. */
	rte_tel_data_add_dict_int(d, "stats_enabled",
		!!(st->reg_flags & RTE_VHOST_USER_NET_STATS_ENABLE));
	rte_tel_data_add_dict_int(d, "nr_vring", (int)st->nr_vring);
	for (uint32_t i = 0; i < st->nb_rings; i++) {
		struct rte_tel_data *r;
		char key[16], queue[16];

		if (!st->allocated[i] || (r = rte_tel_data_alloc()) == NULL)
			continue;
		snprintf(key, sizeof(key), "vring%u", st->first_ring + i);
		queue_label(st->first_ring + i, queue, sizeof(queue));
		rte_tel_data_start_dict(r);
		rte_tel_data_add_dict_string(r, "queue", queue);
		for (unsigned int s = 0; s < VHOST_STAT_NB; s++)
			rte_tel_data_add_dict_u64(r, vhost_vq_stat_names[s], st->v[i][s]);
		add_container(d, key, r);
	}
	free(st);
	return 0;
}

/* Registered when the library is loaded: telemetry keeps commands
 * registered before rte_eal_init() (EAL loads this library as a
 * dependency of the vhost PMD, or the application links to it). */
RTE_INIT(vhost_telemetry_init)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{ "/vhost/sockets", tel_sockets,
		  "Registered vhost-user sockets: path, mode, flags, features, vids. No parameters" },
		{ "/vhost/devices", tel_devices,
		  "Connected vhost devices: vid -> socket path. No parameters" },
		{ "/vhost/device", tel_device,
		  "State of a vhost device: features, rings, memory. Parameters: int vid[,int ring]" },
		{ "/vhost/vring_stats", tel_vring_stats,
		  "Counters of a vhost device's rings. Parameters: int vid[,int ring]" },
	};

	for (unsigned int i = 0; i < RTE_DIM(cmds); i++)
		if (rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help) != 0)
			VHOST_LOG_WARN("telemetry: cannot register %s", cmds[i].cmd);
}
