/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user frontend sequence: features and protocol features at
 * probe; memory table, IOTLB and rings at start; ring stop at stop.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vvi_dev.h"
#include "vvi_log.h"

/* vhost-user's own feature bit (not in the uapi headers). */
#define VVI_F_PROTOCOL_FEATURES 30
/* How long probing waits for the backend's socket. */
#define VVI_CONNECT_TIMEOUT_MS 30000
/* vring file payload: bit 8 = no fd (not used: we always send one). */
#define VVI_VRING_IDX_MASK 0xffu

#define BIT(n) (1ULL << (n))
/* Packed SET_VRING_BASE: position 0 with wrap counter 1. */
#define VVI_PACKED_BASE_WRAP (1u << 15)

static int
get_u64(struct vvi_dev *d, uint32_t req, uint64_t *v)
{
	return vvi_chan_call(&d->chan, req, NULL, 0, NULL, 0, v, sizeof(*v));
}

static int
set_u64(struct vvi_dev *d, uint32_t req, uint64_t v)
{
	return vvi_chan_call(&d->chan, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

/* Features we want, given what the backend offers. */
static int
choose_features(struct vvi_dev *d, uint64_t offered)
{
	uint64_t want = BIT(VIRTIO_F_VERSION_1);

	if (d->args.mrg_rxbuf)
		want |= BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (d->args.queues > 1)
		want |= BIT(VIRTIO_NET_F_MQ);
	if (d->args.iommu != VVI_IOMMU_OFF)
		want |= BIT(VIRTIO_F_IOMMU_PLATFORM);
	if (d->args.attack == VVI_ATTACK_INDIRECT)
		want |= BIT(VIRTIO_RING_F_INDIRECT_DESC);
	if (d->args.packed_vq)
		want |= BIT(VIRTIO_F_RING_PACKED);
	if ((offered & want) != want) {
		VVI_LOG(ERR, "backend lacks features %#" PRIx64,
			want & ~offered);
		return -ENOTSUP;
	}
	d->features = want | (offered & BIT(VVI_F_PROTOCOL_FEATURES));
	return 0;
}

static int
negotiate_protocol(struct vvi_dev *d)
{
	uint64_t offered, want = BIT(VVI_PROTO_REPLY_ACK);
	int r;

	if (!(d->features & BIT(VVI_F_PROTOCOL_FEATURES))) {
		if (d->args.iommu != VVI_IOMMU_OFF) {
			VVI_LOG(ERR, "iommu=%s needs a backend with protocol features",
				vvi_iommu_mode_name(d->args.iommu));
			return -ENOTSUP;
		}
		return 0;
	}
	r = get_u64(d, VVI_GET_PROTOCOL_FEATURES, &offered);
	if (r < 0)
		return r;
	if (d->args.iommu != VVI_IOMMU_OFF)
		want |= BIT(VVI_PROTO_BACKEND_REQ);
	if ((offered & want) != want) {
		VVI_LOG(ERR, "backend lacks protocol features %#" PRIx64,
			want & ~offered);
		return -ENOTSUP;
	}
	want |= offered & BIT(VVI_PROTO_MQ);
	r = set_u64(d, VVI_SET_PROTOCOL_FEATURES, want);
	if (r < 0)
		return r;
	d->protocol_features = want;
	d->chan.reply_ack = true;
	d->max_queue_pairs = 1;
	if (want & BIT(VVI_PROTO_MQ)) {
		uint64_t n;

		r = get_u64(d, VVI_GET_QUEUE_NUM, &n);
		if (r < 0)
			return r;
		d->max_queue_pairs = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
	}
	return 0;
}

static int
open_backend_channel(struct vvi_dev *d)
{
	int fd, r;

	fd = vvi_iommu_chan_open(&d->iommu);
	if (fd < 0)
		return fd;
	r = vvi_chan_call(&d->chan, VVI_SET_BACKEND_REQ_FD, NULL, 0, &fd, 1,
		NULL, 0);
	close(fd);
	return r;
}

int
vvi_user_connect(struct vvi_dev *d)
{
	uint64_t offered;
	int fd, r;

	fd = vvi_sock_open(d->args.path, d->args.server, VVI_CONNECT_TIMEOUT_MS);
	if (fd < 0) {
		VVI_LOG(ERR, "cannot open %s: %s", d->args.path, strerror(-fd));
		return fd;
	}
	vvi_chan_init(&d->chan, fd);
	vvi_iommu_init(&d->iommu, &d->args, &d->chan);
	d->max_queue_pairs = 1;
	r = get_u64(d, VVI_GET_FEATURES, &offered);
	if (r == 0)
		r = choose_features(d, offered);
	if (r == 0)
		r = vvi_chan_call(&d->chan, VVI_SET_OWNER, NULL, 0, NULL, 0,
			NULL, 0);
	if (r == 0)
		r = negotiate_protocol(d);
	if (r == 0 && d->args.queues > d->max_queue_pairs) {
		VVI_LOG(ERR, "backend has %u queue pairs, %u asked",
			d->max_queue_pairs, d->args.queues);
		r = -ENOTSUP;
	}
	if (r == 0 && d->args.iommu != VVI_IOMMU_OFF)
		r = open_backend_channel(d);
	if (r < 0) {
		vvi_user_disconnect(d);
		return r;
	}
	d->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	VVI_LOG(INFO, "%s: features %#" PRIx64 " protocol %#" PRIx64
		", backend queue pairs %u", d->name, d->features,
		d->protocol_features, d->max_queue_pairs);
	return 0;
}

void
vvi_user_disconnect(struct vvi_dev *d)
{
	/* The thread takes the channel lock: stop it before the lock goes. */
	vvi_iommu_chan_close(&d->iommu);
	vvi_chan_close(&d->chan);
}

static int
send_mem_table(struct vvi_dev *d)
{
	struct vvi_mem_table_msg msg;
	int fds[VVI_MAX_REGIONS];
	uint64_t gpa_base;
	uint32_t size;
	int r;

	r = vvi_mem_build(&d->mem);
	if (r < 0)
		return r;
	/* With an IOMMU, GPAs differ from both VAs and IOVAs, so that a
	 * backend using the wrong one of the three is caught. */
	gpa_base = d->args.iommu == VVI_IOMMU_OFF ? 0 : VVI_GPA_BASE;
	size = vvi_mem_table_msg(&d->mem, gpa_base, &msg, fds);
	for (uint32_t i = 0; i < d->mem.nregions; i++)
		VVI_LOG(DEBUG, "region %u: va %#" PRIx64 " len %#" PRIx64
			" offset %#" PRIx64, i, d->mem.r[i].va, d->mem.r[i].len,
			d->mem.r[i].fd_off);
	return vvi_chan_call(&d->chan, VVI_SET_MEM_TABLE, &msg, size, fds,
		d->mem.nregions, NULL, 0);
}

static int
set_state(struct vvi_dev *d, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = { .index = index, .num = num };

	return vvi_chan_call(&d->chan, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

static int
set_file(struct vvi_dev *d, uint32_t req, uint32_t index, int fd)
{
	uint64_t v = index & VVI_VRING_IDX_MASK;

	return vvi_chan_call(&d->chan, req, &v, sizeof(v), &fd, 1, NULL, 0);
}

/* Maps a ring's memory for as long as the device runs (before its
 * addresses are taken: scatter mode gives rings their own IOVAs). */
static int
pin_vring(struct vvi_dev *d, struct vvi_vring *vr)
{
	return vvi_iommu_pin(&d->iommu, (uintptr_t)vr->mem, vr->mem_len,
		VHOST_ACCESS_RW);
}

/* BASE, ADDR, KICK, CALL for one ring (pinned already). */
static int
setup_vring(struct vvi_dev *d, struct vvi_vring *vr)
{
	struct vhost_vring_addr a = { .index = vr->index };
	/* Packed: the wrap counters start at 1 (bit 15 of the base). */
	uint32_t base = vr->packed ? VVI_PACKED_BASE_WRAP : 0;
	int r;

	if (vr->packed) {
		/* avail/used: the driver and device event areas. */
		a.desc_user_addr = vvi_dev_addr(d, (uintptr_t)vr->pdesc, 1);
		a.avail_user_addr = vvi_dev_addr(d, (uintptr_t)vr->driver_event, 1);
		a.used_user_addr = vvi_dev_addr(d, (uintptr_t)vr->device_event, 1);
	} else {
		a.desc_user_addr = vvi_dev_addr(d, (uintptr_t)vr->desc, 1);
		a.avail_user_addr = vvi_dev_addr(d, (uintptr_t)vr->avail, 1);
		a.used_user_addr = vvi_dev_addr(d, (uintptr_t)vr->used, 1);
	}
	a.log_guest_addr = a.used_user_addr;
	if (a.desc_user_addr == 0 || a.avail_user_addr == 0 ||
			a.used_user_addr == 0)
		return -EFAULT;
	r = set_state(d, VVI_SET_VRING_BASE, vr->index, base);
	if (r == 0)
		r = vvi_chan_call(&d->chan, VVI_SET_VRING_ADDR, &a, sizeof(a),
			NULL, 0, NULL, 0);
	if (r == 0)
		r = set_file(d, VVI_SET_VRING_KICK, vr->index, vr->kickfd);
	if (r == 0)
		r = set_file(d, VVI_SET_VRING_CALL, vr->index, vr->callfd);
	return r;
}

static int
enable_vring(struct vvi_dev *d, struct vvi_vring *vr, bool on)
{
	/* Without protocol features a ring runs once its kick fd is set. */
	if (!(d->features & BIT(VVI_F_PROTOCOL_FEATURES)))
		return 0;
	return set_state(d, VVI_SET_VRING_ENABLE, vr->index, on);
}

int
vvi_user_start(struct vvi_dev *d)
{
	uint32_t nslots = 2u * d->args.queues * d->args.queue_size;
	uint16_t nq = RTE_MAX(d->nb_rxq, d->nb_txq);
	int r;

	r = set_u64(d, VVI_SET_FEATURES, d->features);
	if (r == 0 && d->args.attack != VVI_ATTACK_NONE)
		r = vvi_attack_alloc(&d->attack, &d->args, &d->iommu);
	if (r == 0)
		r = send_mem_table(d);
	/* Both DPDK's IOTLB and ours are per ring, and a ring exists from
	 * its first message on: UPDATEs sent before it would be lost. */
	for (uint16_t q = 0; q < nq && r == 0; q++) {
		if (d->rxq[q])
			r = set_state(d, VVI_SET_VRING_NUM, d->rxq[q]->vr.index,
				d->rxq[q]->vr.size);
		if (r == 0 && d->txq[q])
			r = set_state(d, VVI_SET_VRING_NUM, d->txq[q]->vr.index,
				d->txq[q]->vr.size);
	}
	if (r == 0)
		r = vvi_iommu_start(&d->iommu, &d->mem, nslots);
	if (r == 0 && d->args.attack != VVI_ATTACK_NONE)
		r = vvi_attack_map(&d->attack, &d->iommu);
	if (r == 0)
		r = vvi_iommu_preload(&d->iommu);
	for (uint16_t q = 0; q < nq && r == 0; q++) {
		if (d->txq[q])
			r = pin_vring(d, &d->txq[q]->vr);
		if (r == 0 && d->rxq[q])
			r = pin_vring(d, &d->rxq[q]->vr);
	}
	for (uint16_t q = 0; q < nq && r == 0; q++) {
		if (d->txq[q]) {
			r = vvi_txq_start(d->txq[q]);
			if (r == 0)
				r = setup_vring(d, &d->txq[q]->vr);
		}
		if (r == 0 && d->rxq[q]) {
			r = setup_vring(d, &d->rxq[q]->vr);
			if (r == 0)
				r = vvi_rxq_fill(d->rxq[q]);
		}
	}
	for (uint16_t q = 0; q < nq && r == 0; q++) {
		if (d->rxq[q])
			r = enable_vring(d, &d->rxq[q]->vr, true);
		if (r == 0 && d->txq[q])
			r = enable_vring(d, &d->txq[q]->vr, true);
	}
	if (r < 0)
		VVI_LOG(ERR, "%s: start failed: %s", d->name, strerror(-r));
	return r;
}

/* Stops one ring in the backend; its used entries are final after this. */
static void
stop_vring(struct vvi_dev *d, struct vvi_vring *vr)
{
	struct vhost_vring_state s = { .index = vr->index };

	enable_vring(d, vr, false);
	if (vvi_chan_call(&d->chan, VVI_GET_VRING_BASE, &s, sizeof(s), NULL, 0,
			&s, sizeof(s)) < 0)
		VVI_LOG(WARNING, "%s: GET_VRING_BASE %u failed", d->name,
			vr->index);
}

void
vvi_user_stop(struct vvi_dev *d)
{
	uint16_t nq = RTE_MAX(d->nb_rxq, d->nb_txq);

	for (uint16_t q = 0; q < nq; q++) {
		if (d->rxq[q]) {
			stop_vring(d, &d->rxq[q]->vr);
			vvi_rxq_drain(d->rxq[q]);
		}
		if (d->txq[q]) {
			stop_vring(d, &d->txq[q]->vr);
			vvi_txq_drain(d->txq[q]);
		}
	}
	if (d->args.iommu != VVI_IOMMU_OFF)
		vvi_iommu_stop(&d->iommu);
}
