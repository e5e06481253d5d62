/* SPDX-License-Identifier: BSD-3-Clause */
/* The frontend side of the device IOTLB: see fm_iommu.h. */
#include "fm_iommu.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(sizeof(struct vhost_iotlb_msg) == FM_IOTLB_MSG_SIZE,
		"struct vhost_iotlb_msg is 32 bytes on the wire");

void
fm_iommu_init(struct fm_iommu *io)
{
	memset(io, 0, sizeof(*io));
	io->backend_req_fd = -1;
}

void
fm_iommu_fini(struct fm_iommu *io)
{
	if (io->backend_req_fd >= 0)
		close(io->backend_req_fd);
	fm_iommu_init(io);
}

int
fm_iommu_map(struct fm_iommu *io, uint64_t iova, void *ptr, uint64_t size,
		uint8_t perm)
{
	if (size == 0 || iova + (size - 1) < iova)
		return -EINVAL;
	if (io->nmaps == FM_IOMMU_MAX_MAPS)
		return -ENOSPC;
	io->maps[io->nmaps++] = (struct fm_iommu_map){
		.iova = iova, .size = size, .ptr = ptr, .perm = perm };
	return 0;
}

void
fm_iommu_unmap(struct fm_iommu *io, uint64_t iova, uint64_t size)
{
	uint64_t last = iova + (size - 1);
	int i = 0;

	if (size == 0)
		return;
	while (i < io->nmaps) {
		const struct fm_iommu_map *mp = &io->maps[i];

		if (mp->iova <= last && iova <= mp->iova + (mp->size - 1)) {
			/* Keep the order: newer mappings hide older ones. */
			memmove(&io->maps[i], &io->maps[i + 1],
					sizeof(io->maps[0]) *
					(size_t)(io->nmaps - i - 1));
			io->nmaps--;
		} else {
			i++;
		}
	}
}

int
fm_iommu_map_regions(struct fm_iommu *io, const struct fm_mem *mem,
		uint8_t perm)
{
	int r, ret;

	for (r = 0; r < mem->nregions; r++) {
		ret = fm_iommu_map(io, FM_IOVA_REGION(r), mem->r[r].base,
				mem->r[r].size, perm);
		if (ret < 0)
			return ret;
	}
	return 0;
}

const struct fm_iommu_map *
fm_iommu_lookup(const struct fm_iommu *io, uint64_t iova)
{
	int i;

	for (i = io->nmaps - 1; i >= 0; i--) {
		const struct fm_iommu_map *mp = &io->maps[i];

		if (iova - mp->iova < mp->size)
			return mp;
	}
	return NULL;
}

void *
fm_iommu_ptr(const struct fm_iommu *io, uint64_t iova, uint64_t len)
{
	const struct fm_iommu_map *mp = fm_iommu_lookup(io, iova);
	uint64_t off;

	if (mp == NULL)
		return NULL;
	off = iova - mp->iova;
	if (len > mp->size - off)
		return NULL;
	return mp->ptr + off;
}

uint64_t
fm_iommu_iova(const struct fm_iommu *io, const void *p)
{
	const uint8_t *b = p;
	int i;

	for (i = io->nmaps - 1; i >= 0; i--) {
		const struct fm_iommu_map *mp = &io->maps[i];

		if (b >= mp->ptr && (uint64_t)(b - mp->ptr) < mp->size)
			return mp->iova + (uint64_t)(b - mp->ptr);
	}
	return UINT64_MAX;
}

/* Walks [iova, iova + len) mapping by mapping; op 0 writes src, 1 reads
 * into dst, 2 fills with byte. */
static int
access_iova(const struct fm_iommu *io, uint64_t iova, uint8_t *buf,
		uint8_t byte, uint64_t len, int op)
{
	uint64_t done = 0;

	while (done < len) {
		const struct fm_iommu_map *mp = fm_iommu_lookup(io, iova + done);
		uint64_t off, n;
		uint8_t *p;

		if (mp == NULL)
			return -EFAULT;
		off = iova + done - mp->iova;
		n = mp->size - off;
		if (n > len - done)
			n = len - done;
		p = mp->ptr + off;
		if (op == 0)
			memcpy(p, buf + done, n);
		else if (op == 1)
			memcpy(buf + done, p, n);
		else
			memset(p, byte, n);
		done += n;
	}
	return 0;
}

int
fm_iommu_write(const struct fm_iommu *io, uint64_t iova, const void *src,
		uint64_t len)
{
	return access_iova(io, iova, (uint8_t *)(uintptr_t)src, 0, len, 0);
}

int
fm_iommu_read(const struct fm_iommu *io, uint64_t iova, void *dst,
		uint64_t len)
{
	return access_iova(io, iova, dst, 0, len, 1);
}

int
fm_iommu_fill(const struct fm_iommu *io, uint64_t iova, uint8_t byte,
		uint64_t len)
{
	return access_iova(io, iova, NULL, byte, len, 2);
}

int
fm_iommu_negotiate(struct fm_frontend *m, uint64_t features, uint64_t protocol)
{
	return fm_negotiate(m, features | FM_IOMMU_FEATURES,
			protocol | FM_IOMMU_PROTOCOL);
}

int
fm_iommu_set_backend_req_fd(struct fm_frontend *m, struct fm_iommu *io)
{
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return FM_SENDFAIL;
	ret = fm_request(m, FM_REQ_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1,
			NULL);
	/* The backend has its own copy now (or never will). */
	close(sv[1]);
	if (ret != FM_OK) {
		close(sv[0]);
		return ret;
	}
	if (io->backend_req_fd >= 0)
		close(io->backend_req_fd);
	io->backend_req_fd = sv[0];
	return FM_OK;
}

int
fm_iotlb_msg(struct fm_frontend *m, const struct vhost_iotlb_msg *msg)
{
	return fm_request_flags(m, FM_REQ_IOTLB_MSG,
			FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, msg,
			FM_IOTLB_MSG_SIZE, NULL, 0, NULL);
}

int
fm_iotlb_update(struct fm_frontend *m, uint64_t iova, uint64_t size,
		uint64_t uaddr, uint8_t perm)
{
	struct vhost_iotlb_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.iova = iova;
	msg.size = size;
	msg.uaddr = uaddr;
	msg.perm = perm;
	msg.type = VHOST_IOTLB_UPDATE;
	return fm_iotlb_msg(m, &msg);
}

int
fm_iotlb_invalidate(struct fm_frontend *m, uint64_t iova, uint64_t size)
{
	struct vhost_iotlb_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.iova = iova;
	msg.size = size;
	msg.type = VHOST_IOTLB_INVALIDATE;
	return fm_iotlb_msg(m, &msg);
}

int
fm_iotlb_update_mapped(struct fm_frontend *m, const struct fm_iommu *io,
		uint64_t iova, uint64_t size)
{
	uint64_t done = 0;

	while (done < size) {
		const struct fm_iommu_map *mp = fm_iommu_lookup(io, iova + done);
		uint64_t off, n;
		int ret;

		if (mp == NULL)
			return FM_IOMMU_NOMAP;
		off = iova + done - mp->iova;
		n = mp->size - off;
		if (n > size - done)
			n = size - done;
		ret = fm_iotlb_update(m, iova + done, n,
				fm_ptr_uaddr(mp->ptr + off), mp->perm);
		if (ret != FM_OK)
			return ret;
		done += n;
	}
	return FM_OK;
}

int
fm_iommu_recv_miss(struct fm_iommu *io, struct vhost_iotlb_msg *miss,
		int timeout_ms)
{
	static struct fm_msg msg;
	int ret;

	if (io->backend_req_fd < 0)
		return FM_CLOSED;
	ret = fm_recv(io->backend_req_fd, &msg, timeout_ms);
	if (ret == -ETIMEDOUT)
		return 0;
	if (ret == 0)
		return FM_CLOSED;
	if (ret < 0)
		return FM_BADREPLY;
	fm_msg_close_fds(&msg);
	if (msg.flags & FM_FLAG_NEED_REPLY) {
		/* A backend waiting for an answer must not stall on us. */
		uint64_t zero = 0;

		fm_send(io->backend_req_fd, msg.request,
				FM_FLAG_VERSION | FM_FLAG_REPLY, sizeof(zero),
				&zero, sizeof(zero), NULL, 0);
	}
	if (msg.request != FM_BACKEND_IOTLB_MSG ||
			msg.size != FM_IOTLB_MSG_SIZE ||
			(msg.flags & FM_FLAG_VERSION_MASK) != FM_FLAG_VERSION)
		return FM_BADREPLY;
	memcpy(miss, msg.payload, sizeof(*miss));
	if (miss->type != VHOST_IOTLB_MISS)
		return FM_BADREPLY;
	io->misses_received++;
	return 1;
}

int
fm_iommu_collect_misses(struct fm_iommu *io, struct vhost_iotlb_msg *out,
		int max, int quiet_ms, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;
	int n = 0;

	for (;;) {
		struct vhost_iotlb_msg miss;
		int64_t left = deadline - fm_now_ms();
		int ret;

		/* Past the deadline, only what is queued already is read;
		 * a backend flooding the channel cannot hold us long. */
		if (left < 0)
			left = 0;
		if (fm_now_ms() > deadline + 1000)
			return n;
		ret = fm_iommu_recv_miss(io, &miss,
				(int)(left < quiet_ms ? left : quiet_ms));
		if (ret < 0)
			return ret;
		if (ret == 0)
			return n;
		if (n < max)
			out[n] = miss;
		n++;
	}
}

int
fm_iommu_await_misses(struct fm_iommu *io, struct vhost_iotlb_msg *out,
		int max, int first_ms, int quiet_ms, int timeout_ms)
{
	struct vhost_iotlb_msg first;
	int ret, n;

	ret = fm_iommu_recv_miss(io, &first, first_ms);
	if (ret <= 0)
		return ret;
	if (max > 0)
		out[0] = first;
	n = fm_iommu_collect_misses(io, out + (max > 0), max > 0 ? max - 1 : 0,
			quiet_ms, timeout_ms);
	return n < 0 ? n : n + 1;
}

int
fm_iommu_answer(struct fm_frontend *m, struct fm_iommu *io,
		const struct vhost_iotlb_msg *miss)
{
	const struct fm_iommu_map *mp = fm_iommu_lookup(io, miss->iova);
	uint64_t start, end, mend;
	int ret;

	if (mp == NULL || (mp->perm & miss->perm) != miss->perm) {
		io->misses_unmapped++;
		return FM_IOMMU_NOMAP;
	}
	start = mp->iova;
	mend = mp->iova + (mp->size - 1);
	end = mend;
	if (io->answer_size != 0) {
		/* The aligned window around the miss, inside the mapping. */
		uint64_t w = miss->iova & ~(io->answer_size - 1);

		if (w > start)
			start = w;
		if (w + (io->answer_size - 1) < end)
			end = w + (io->answer_size - 1);
	}
	ret = fm_iotlb_update(m, start, end - start + 1,
			fm_ptr_uaddr(mp->ptr + (start - mp->iova)), mp->perm);
	if (ret == FM_OK)
		io->misses_answered++;
	return ret;
}

int
fm_iommu_serve(struct fm_frontend *m, struct fm_iommu *io, int wait_ms)
{
	int answered = 0;
	int wait = wait_ms;

	for (;;) {
		struct vhost_iotlb_msg miss;
		int ret = fm_iommu_recv_miss(io, &miss, wait);

		if (ret < 0)
			return ret;
		if (ret == 0)
			return answered;
		ret = fm_iommu_answer(m, io, &miss);
		if (ret == FM_OK)
			answered++;
		else if (ret != FM_IOMMU_NOMAP)
			return ret;
		/* Then only what is queued already. */
		wait = 0;
	}
}

void
fm_iommu_vring_addr(const struct fm_frontend *m, const struct fm_iommu *io,
		uint32_t index, struct vhost_vring_addr *a)
{
	const struct fm_vring *vr = &m->vr[index];

	memset(a, 0, sizeof(*a));
	a->index = index;
	/* With the IOMMU, ring addresses are IOVAs (vhost-user spec). */
	a->desc_user_addr = fm_iommu_iova(io, vr->desc);
	a->avail_user_addr = fm_iommu_iova(io, vr->avail);
	a->used_user_addr = fm_iommu_iova(io, vr->used);
}

int
fm_iommu_setup_vring(struct fm_frontend *m, struct fm_iommu *io,
		uint32_t index, uint16_t size, int region)
{
	struct vhost_vring_addr a;

	if (fm_layout_vring(m, index, size, region) < 0)
		return FM_SENDFAIL;
	fm_iommu_vring_addr(m, io, index, &a);
	if (a.desc_user_addr == UINT64_MAX || a.avail_user_addr == UINT64_MAX ||
			a.used_user_addr == UINT64_MAX)
		return FM_SENDFAIL;	/* the guest did not map its ring */
	return fm_start_vring(m, index, &a, 0, false);
}

static int
handshake_negotiated(struct fm_frontend *m, void *io)
{
	return fm_iommu_set_backend_req_fd(m, io);
}

static int
handshake_regions_added(struct fm_frontend *m, void *ctx)
{
	struct fm_iommu *io = ctx;

	if (io->nmaps == 0 &&
			fm_iommu_map_regions(io, &m->mem, VHOST_ACCESS_RW) < 0)
		return FM_SENDFAIL;
	return FM_OK;
}

static int
handshake_setup_vring(struct fm_frontend *m, void *io, uint32_t index,
		uint16_t size, int region)
{
	return fm_iommu_setup_vring(m, io, index, size, region);
}

int
fm_iommu_handshake(struct fm_frontend *m, struct fm_iommu *io,
		const struct fm_config *cfg)
{
	const struct fm_handshake_ext x = {
		.features = FM_IOMMU_FEATURES,
		.protocol = FM_IOMMU_PROTOCOL,
		.ctx = io,
		.negotiated = handshake_negotiated,
		.regions_added = handshake_regions_added,
		.setup_vring = handshake_setup_vring,
	};

	return fm_handshake_ext(m, cfg, &x);
}

/* fm_net_reader for buffers at IOVAs. */
static int
read_iova(const void *io, uint64_t iova, void *out, uint32_t len)
{
	return fm_iommu_read(io, iova, out, len) < 0 ? -1 : 0;
}

int
fm_iommu_read_chain(const struct fm_iommu *io, const struct fm_chain *c,
		uint32_t len, uint8_t *out)
{
	return fm_net_read_chain_with(read_iova, io, c, len, out);
}

int
fm_iommu_net_recv(struct fm_vring *vr, const struct fm_iommu *io,
		bool mergeable, struct virtio_net_hdr_mrg_rxbuf *hdr,
		uint8_t *out, uint32_t cap, int *nbufs)
{
	return fm_net_recv_with(vr, read_iova, io, mergeable, hdr, out, cap,
			nbufs);
}
