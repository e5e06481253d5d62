/* SPDX-License-Identifier: BSD-3-Clause */

/* Handlers of device-wide requests: features, memory, log, MTU, RARP,
 * status. */

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_net.h>

#include "dirty_log.h"
#include "vhost_lifecycle.h"
#include "vhost_log.h"
#include "vhost_socket.h"
#include "vhost_user.h"
#include "vring.h"

int
vhost_on_get_features(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	return vhost_reply_u64(msg, vhost_socket_features(dev->vsock));
}

int
vhost_on_set_features(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	uint64_t offered = vhost_socket_features(dev->vsock);
	uint64_t features = msg->payload.u64;

	if (features & ~offered) {
		VHOST_DEV_LOG(ERR, dev, "features 0x%" PRIx64 " were not offered (0x%" PRIx64 ")",
			features & ~offered, offered);
		return VH_ERR;
	}
	/* A running device may only toggle dirty logging (migration);
	 * anything else needs a reset first, or the datapath would change
	 * its header layout under the guest's feet. */
	if ((dev->flags & VHOST_DEV_RUNNING) &&
	    ((dev->features ^ features) & ~(1ULL << VHOST_F_LOG_ALL))) {
		VHOST_DEV_LOG(ERR, dev, "features changed from 0x%" PRIx64 " to 0x%" PRIx64
			" while the device runs", dev->features, features);
		return VH_ERR;
	}
	bool relayout = (dev->features ^ features) & (1ULL << VIRTIO_F_RING_PACKED);

	dev->features = features;
	/* Rings set up already were translated in the other layout. */
	for (uint32_t i = 0; relayout && i < dev->nr_vring; i++)
		if (dev->vq[i]->ring_addr_set)
			vhost_vring_translate(dev, dev->vq[i]);
	dev->hdr_len = ((features >> VIRTIO_NET_F_MRG_RXBUF) & 1 ||
			(features >> VIRTIO_F_VERSION_1) & 1) ?
		sizeof(struct virtio_net_hdr_mrg_rxbuf) : sizeof(struct virtio_net_hdr);
	dev->flags |= VHOST_DEV_FEATURES_SET;
	VHOST_DEV_LOG(INFO, dev, "negotiated features 0x%" PRIx64, features);
	return VH_OK;
}

int
vhost_on_set_owner(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	RTE_SET_USED(msg);
	dev->flags |= VHOST_DEV_OWNER_SET;
	return VH_OK;
}

int
vhost_on_reset_owner(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	RTE_SET_USED(msg);
	/* The dispatcher has stopped the device; wait for any burst still
	 * inside a ring before the rings go away. */
	vhost_unlock_all_vqs(dev, vhost_lock_all_vqs(dev));
	vhost_device_reset(dev);
	return VH_OK;
}

/* Make mem the device's table. Every ring is held (lock-all): no burst
 * reads dev->mem meanwhile. Every translation hint and cache derived
 * from the previous table goes, and the rings are found again in the
 * new one, before the caller unmaps anything the old table had. The one
 * place where the set of regions changes: SET_MEM_TABLE, ADD_MEM_REG
 * and REM_MEM_REG all come here. */
static void
switch_mem_table(struct vhost_device *dev, struct vhost_mem_table *mem,
		 bool only_untranslated)
{
	dev->mem = mem;
	/* IOTLB entries hold our addresses: recompute them for the new set. */
	vhost_iotlb_mem_table_changed(dev);
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		struct vhost_virtqueue *vq = dev->vq[i];

		if (vq == NULL)
			continue;
		vq->last_region = 0;
		vhost_xlate_cache_clear(vq);
		/* An added region leaves the mapped rings where they are. */
		if (!vq->ring_addr_set || (only_untranslated && vq->access_ok))
			continue;
		if (vhost_vring_translate(dev, vq) < 0 && !only_untranslated)
			VHOST_DEV_LOG(ERR, dev, "vring %u is not in the new memory table", i);
	}
}

int
vhost_on_set_mem_table(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_mem_table *mem, *old = dev->mem;

	if (vhost_mem_table_map(&msg->payload.memory, msg->fds, &mem,
				dev->ifname) < 0)
		return VH_ERR;
	/* The table owns the fds now. */
	for (int i = 0; i < msg->fd_num; i++)
		msg->fds[i] = -1;

	/* Every queue is locked: switch tables, then find the rings in
	 * the new one before the old mappings go away. This replaces
	 * regions added one by one too. */
	switch_mem_table(dev, mem, false);
	vhost_mem_table_free(old);
	return VH_OK;
}

static bool
mem_slots_negotiated(struct vhost_device *dev, const struct vhost_user_msg *msg)
{
	if (dev->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
		return true;
	VHOST_DEV_LOG(ERR, dev, "%s without the CONFIGURE_MEM_SLOTS protocol feature",
		vhost_msg_name(msg->hdr.request));
	return false;
}

int
vhost_on_get_max_mem_slots(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	if (!mem_slots_negotiated(dev, msg))
		return VH_ERR;
	return vhost_reply_u64(msg, VHOST_MAX_MEM_SLOTS);
}

/* How long switching tables took, wall and CPU time of this thread
 * (the difference: the thread was descheduled meanwhile), for the log. */
struct switch_clock {
	struct timespec wall, cpu;
};

static void
switch_clock_start(struct switch_clock *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->wall);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c->cpu);
}

static void
switch_clock_log(struct vhost_device *dev, const struct switch_clock *c,
		 const char *what, bool held)
{
	struct timespec w, u;

	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &u);
	VHOST_DEV_LOG(DEBUG, dev, "%s: %u regions, %s %.1f us (%.1f us on CPU)",
		what, dev->mem != NULL ? dev->mem->nregions : 0,
		held ? "rings held" : "table switched beside bursts in",
		((w.tv_sec - c->wall.tv_sec) * 1e9 + (w.tv_nsec - c->wall.tv_nsec)) / 1e3,
		((u.tv_sec - c->cpu.tv_sec) * 1e9 + (u.tv_nsec - c->cpu.tv_nsec)) / 1e3);
}

/* Make mem the device's table without holding the rings, when nothing
 * a burst keeps from the old table changes: regions[] of both tables
 * hold the same mappings for every address both have (the region hint
 * is range-checked against the table it indexes), ring pointers stay,
 * and IOTLB entries are changed under the IOTLB locks as an IOTLB
 * message would. On return no burst uses the old table any more. */
static void
publish_mem_table(struct vhost_device *dev, struct vhost_mem_table *mem,
		  const struct rte_vhost_mem_region *gone)
{
	__atomic_store_n(&dev->mem, mem, __ATOMIC_RELEASE);
	if (gone != NULL)
		vhost_iotlb_region_removed(dev, gone);
	vhost_wait_bursts(dev);
}

/* Rings set up but not translated yet: an added region may make them
 * usable, which writes the rings' state (the rings must be held). */
static bool
rings_to_translate(const struct vhost_device *dev)
{
	for (uint32_t i = 0; i < dev->nr_vring; i++) {
		const struct vhost_virtqueue *vq = dev->vq[i];

		if (vq != NULL && vq->ring_addr_set && !vq->access_ok)
			return true;
	}
	return false;
}

/* A translated ring lies (partly) in region r. */
static bool
rings_in_region(const struct vhost_device *dev, const struct rte_vhost_mem_region *r)
{
	for (uint32_t i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL &&
		    vhost_vring_uses_hva(dev, dev->vq[i], r->host_user_addr, r->size))
			return true;
	return false;
}

/* The region is mapped before anything else. Then the new table is
 * published while bursts go on: it has every mapping of the old one at
 * the same place, so IOTLB entries (each inside one region) and ring
 * pointers stay as they are. Only rings still waiting for their memory
 * need the rings held, to be translated. */
int
vhost_on_add_mem_reg(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_mem_table *mem, *old = dev->mem;
	struct switch_clock clk;
	uint32_t nlocked;
	bool held;

	if (!mem_slots_negotiated(dev, msg) ||
	    vhost_mem_table_add(old, &msg->payload.mem_reg.region, msg->fds[0],
				&mem, dev->ifname) < 0)
		return VH_ERR;
	msg->fds[0] = -1;	/* the table owns it */

	switch_clock_start(&clk);
	held = rings_to_translate(dev);
	if (held) {
		nlocked = vhost_lock_all_vqs(dev);
		switch_mem_table(dev, mem, true);
		vhost_unlock_all_vqs(dev, nlocked);
	} else {
		publish_mem_table(dev, mem, NULL);
	}
	switch_clock_log(dev, &clk, "ADD_MEM_REG", held);
	/* No burst can hold the old table any more. */
	vhost_mem_table_release(old);
	return VH_OK;
}

/* Descriptors may still point into the region: once the table without
 * it is published they fail translation (the chain is dropped and
 * counted), and the region is unmapped only once every burst that could
 * have used it has left. IOTLB entries into it go under the IOTLB locks.
 * Rings inside the region are held and found again (they fail). */
int
vhost_on_rem_mem_reg(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	struct vhost_mem_table *mem, *old = dev->mem;
	struct rte_vhost_mem_region gone;
	struct switch_clock clk;
	uint32_t nlocked;
	bool held;

	/* An fd sent along (older QEMU did) is closed unused by the
	 * dispatcher. */
	if (!mem_slots_negotiated(dev, msg) ||
	    vhost_mem_table_remove(old, &msg->payload.mem_reg.region, &mem,
				   &gone, dev->ifname) < 0)
		return VH_ERR;
	switch_clock_start(&clk);
	held = mem == NULL || rings_in_region(dev, &gone);
	if (held) {
		nlocked = vhost_lock_all_vqs(dev);
		switch_mem_table(dev, mem, false);
		vhost_unlock_all_vqs(dev, nlocked);
	} else {
		publish_mem_table(dev, mem, &gone);
	}
	switch_clock_log(dev, &clk, "REM_MEM_REG", held);
	vhost_mem_region_unmap(&gone);
	vhost_mem_table_release(old);
	return VH_OK;
}

int
vhost_on_set_log_base(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	int fd = msg->fds[0];

	msg->fds[0] = -1;
	if (vhost_log_map(dev, fd, msg->payload.log.mmap_size,
			  msg->payload.log.mmap_offset) < 0)
		return VH_ERR;
	/* The frontend waits for an empty reply once the log is in use. */
	msg->hdr.size = 0;
	return VH_REPLY;
}

int
vhost_on_set_log_fd(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	/* The log fd is for backends that signal log updates; this library
	 * writes the shared bitmap directly, so the fd is just closed. */
	RTE_SET_USED(dev);
	RTE_SET_USED(msg);
	return VH_OK;
}

int
vhost_on_get_protocol_features(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	return vhost_reply_u64(msg, vhost_socket_protocol_features(dev->vsock));
}

int
vhost_on_set_protocol_features(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	uint64_t offered = vhost_socket_protocol_features(dev->vsock);

	if (msg->payload.u64 & ~offered) {
		VHOST_DEV_LOG(ERR, dev, "protocol features 0x%" PRIx64 " were not offered",
			msg->payload.u64 & ~offered);
		return VH_ERR;
	}
	dev->protocol_features = msg->payload.u64;
	return VH_OK;
}

int
vhost_on_get_queue_num(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	return vhost_reply_u64(msg, vhost_socket_queue_pairs(dev->vsock));
}

int
vhost_on_send_rarp(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	memcpy(&dev->rarp_mac, &msg->payload.u64, RTE_ETHER_ADDR_LEN);
	/* Published after the MAC: the datapath reads the flag first. */
	__atomic_store_n(&dev->broadcast_rarp, 1, __ATOMIC_RELEASE);
	return VH_OK;
}

int
vhost_on_net_set_mtu(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	uint64_t mtu = msg->payload.u64;

	if (mtu < VHOST_MIN_MTU || mtu > VHOST_MAX_MTU) {
		VHOST_DEV_LOG(ERR, dev, "invalid MTU %" PRIu64, mtu);
		return VH_ERR;
	}
	dev->mtu = (uint16_t)mtu;
	return VH_OK;
}

int
vhost_on_set_status(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	if (msg->payload.u64 > UINT8_MAX) {
		VHOST_DEV_LOG(ERR, dev, "invalid device status 0x%" PRIx64,
			msg->payload.u64);
		return VH_ERR;
	}
	dev->status = (uint8_t)msg->payload.u64;
	return VH_OK;
}

int
vhost_on_get_status(struct vhost_device *dev, struct vhost_user_msg *msg)
{
	return vhost_reply_u64(msg, dev->status);
}
