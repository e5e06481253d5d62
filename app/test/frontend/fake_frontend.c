/* SPDX-License-Identifier: BSD-3-Clause */
/* The scripted vhost-user frontend: see fake_frontend.h. */
#include "fake_frontend.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void
fm_config_default(struct fm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->features = FM_BIT(VIRTIO_F_VERSION_1) |
		FM_BIT(VIRTIO_NET_F_MRG_RXBUF) |
		FM_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		FM_BIT(VIRTIO_NET_F_MTU) |
		FM_BIT(FM_F_PROTOCOL_FEATURES);
	cfg->protocol = FM_BIT(FM_PF_REPLY_ACK) | FM_BIT(FM_PF_MQ) |
		FM_BIT(FM_PF_MTU);
	cfg->queue_size = 256;
	cfg->nvrings = 2;
	/* Two regions with a hole between them, like RAM below/above 4G. */
	cfg->nregions = 2;
	cfg->regions[0].gpa = 0;
	cfg->regions[0].size = 4u << 20;
	cfg->regions[1].gpa = 1ull << 30;
	cfg->regions[1].size = 4u << 20;
	cfg->regions[1].mmap_offset = 4096;
	cfg->ring_region = 0;
}

void
fm_frontend_attach(struct fm_frontend *m, int sock)
{
	int i;

	memset(m, 0, sizeof(*m));
	m->sock = sock;
	fm_mem_init(&m->mem);
	for (i = 0; i < FM_MAX_VRINGS; i++) {
		m->vr[i].kick_fd = -1;
		m->vr[i].call_fd = -1;
	}
}

int
fm_frontend_connect(struct fm_frontend *m, const char *path)
{
	int fd = fm_connect(path, FM_REPLY_TIMEOUT_MS);

	fm_frontend_attach(m, -1);
	if (fd < 0)
		return fd;
	m->sock = fd;
	return 0;
}

void
fm_frontend_reattach(struct fm_frontend *m, int sock)
{
	if (m->sock >= 0 && m->sock != sock)
		close(m->sock);
	m->sock = sock;
	/* A new backend: nothing is negotiated yet. */
	m->offered_features = m->features = 0;
	m->offered_protocol = m->protocol = 0;
	m->queue_num = 0;
}

void
fm_frontend_close(struct fm_frontend *m)
{
	int i;

	if (m->sock >= 0)
		close(m->sock);
	m->sock = -1;
	for (i = 0; i < FM_MAX_VRINGS; i++)
		if (m->vr[i].size != 0)
			fm_vring_fini(&m->vr[i]);
	m->nvrings = 0;
	fm_mem_free(&m->mem);
}

const char *
fm_result_name(int result)
{
	switch (result) {
	case FM_OK: return "accepted";
	case FM_NACK: return "error reply";
	case FM_CLOSED: return "connection closed";
	case FM_TIMEOUT: return "no reply";
	case FM_BADREPLY: return "malformed reply";
	case FM_SENDFAIL: return "send failed";
	default: return "?";
	}
}

bool
fm_ack(const struct fm_frontend *m)
{
	return (m->protocol & FM_BIT(FM_PF_REPLY_ACK)) != 0;
}

bool
fm_has_reply(uint32_t request, uint64_t protocol)
{
	switch (request) {
	case FM_REQ_GET_FEATURES:
	case FM_REQ_GET_PROTOCOL_FEATURES:
	case FM_REQ_GET_QUEUE_NUM:
	case FM_REQ_GET_VRING_BASE:
	case FM_REQ_GET_CONFIG:
	case FM_REQ_GET_INFLIGHT_FD:
	case FM_REQ_GET_MAX_MEM_SLOTS:
	case FM_REQ_GET_STATUS:
		return true;
	case FM_REQ_SET_LOG_BASE:
		/* With a shared-memory log the backend confirms the switch. */
		return (protocol & FM_BIT(FM_PF_LOG_SHMFD)) != 0;
	default:
		return false;
	}
}

static int
send_result(int err)
{
	return err == -EPIPE || err == -ECONNRESET ? FM_CLOSED : FM_SENDFAIL;
}

/* Receives the reply to request. Returns an fm_result. */
static int
recv_reply(struct fm_frontend *m, uint32_t request, struct fm_msg *msg)
{
	int ret = fm_recv(m->sock, msg, FM_REPLY_TIMEOUT_MS);

	if (ret == 0)
		return FM_CLOSED;
	if (ret == -ETIMEDOUT)
		return FM_TIMEOUT;
	if (ret < 0)
		return FM_BADREPLY;
	if (msg->request != request || !(msg->flags & FM_FLAG_REPLY) ||
			(msg->flags & FM_FLAG_VERSION_MASK) != FM_FLAG_VERSION) {
		fm_msg_close_fds(msg);
		return FM_BADREPLY;
	}
	return FM_OK;
}

static uint64_t
payload_u64(const struct fm_msg *msg)
{
	uint64_t v;

	memcpy(&v, msg->payload, sizeof(v));
	return v;
}

int
fm_request_flags(struct fm_frontend *m, uint32_t request, uint32_t flags,
		const void *payload, uint32_t size, const int *fds, int nfds,
		struct fm_msg *reply)
{
	static struct fm_msg scratch;
	struct fm_msg *msg = reply != NULL ? reply : &scratch;
	bool own = fm_has_reply(request, m->protocol);
	int ret;

	ret = fm_send(m->sock, request, flags, size, payload, size, fds, nfds);
	if (ret < 0)
		return send_result(ret);
	if (!own && !(flags & FM_FLAG_NEED_REPLY))
		return FM_OK;
	ret = recv_reply(m, request, msg);
	if (ret != FM_OK)
		return ret;
	if (reply == NULL)
		fm_msg_close_fds(msg);
	if (own)
		return FM_OK;
	if (msg->size != sizeof(uint64_t))
		return FM_BADREPLY;
	return payload_u64(msg) == 0 ? FM_OK : FM_NACK;
}

int
fm_request(struct fm_frontend *m, uint32_t request, const void *payload,
		uint32_t size, const int *fds, int nfds, struct fm_msg *reply)
{
	uint32_t flags = FM_FLAG_VERSION;

	if (fm_ack(m) && !fm_has_reply(request, m->protocol))
		flags |= FM_FLAG_NEED_REPLY;
	return fm_request_flags(m, request, flags, payload, size, fds, nfds,
			reply);
}

int
fm_expect_refused(struct fm_frontend *m, uint32_t request,
		const void *payload, uint32_t size, uint32_t payload_len,
		const int *fds, int nfds)
{
	static struct fm_msg msg;
	int ret;

	ret = fm_send(m->sock, request, FM_FLAG_VERSION | FM_FLAG_NEED_REPLY,
			size, payload, payload_len, fds, nfds);
	if (ret < 0)
		return send_result(ret);
	ret = recv_reply(m, request, &msg);
	if (ret != FM_OK)
		return ret;
	fm_msg_close_fds(&msg);
	/* An ack-style error: non-zero u64. */
	if (msg.size == sizeof(uint64_t) && payload_u64(&msg) != 0)
		return FM_NACK;
	return FM_OK;
}

int
fm_get_u64(struct fm_frontend *m, uint32_t request, uint64_t *val)
{
	static struct fm_msg msg;
	int ret = fm_request(m, request, NULL, 0, NULL, 0, &msg);

	if (ret != FM_OK)
		return ret;
	fm_msg_close_fds(&msg);
	if (msg.size != sizeof(uint64_t))
		return FM_BADREPLY;
	*val = payload_u64(&msg);
	return FM_OK;
}

int
fm_set_u64(struct fm_frontend *m, uint32_t request, uint64_t val)
{
	return fm_request(m, request, &val, sizeof(val), NULL, 0, NULL);
}

int
fm_send_noarg(struct fm_frontend *m, uint32_t request)
{
	return fm_request(m, request, NULL, 0, NULL, 0, NULL);
}

int
fm_set_state(struct fm_frontend *m, uint32_t request, uint32_t index,
		uint32_t num)
{
	struct vhost_vring_state s = { .index = index, .num = num };

	return fm_request(m, request, &s, sizeof(s), NULL, 0, NULL);
}

int
fm_get_vring_base(struct fm_frontend *m, uint32_t index, uint32_t *num)
{
	static struct fm_msg msg;
	struct vhost_vring_state s = { .index = index, .num = 0 };
	int ret = fm_request(m, FM_REQ_GET_VRING_BASE, &s, sizeof(s), NULL, 0,
			&msg);

	if (ret != FM_OK)
		return ret;
	fm_msg_close_fds(&msg);
	if (msg.size != sizeof(s))
		return FM_BADREPLY;
	memcpy(&s, msg.payload, sizeof(s));
	if (s.index != index)
		return FM_BADREPLY;
	*num = s.num;
	return FM_OK;
}

int
fm_set_vring_addr(struct fm_frontend *m, const struct vhost_vring_addr *a)
{
	return fm_request(m, FM_REQ_SET_VRING_ADDR, a, sizeof(*a), NULL, 0,
			NULL);
}

int
fm_set_vring_fd(struct fm_frontend *m, uint32_t request, uint32_t index,
		int fd)
{
	uint64_t v = index & FM_VRING_IDX_MASK;

	if (fd < 0)
		v |= FM_VRING_NOFD;
	return fm_request(m, request, &v, sizeof(v), fd < 0 ? NULL : &fd,
			fd < 0 ? 0 : 1, NULL);
}

int
fm_set_mem_table(struct fm_frontend *m, const struct fm_mem *mem)
{
	struct fm_wire_memory wire;
	int fds[FM_MAX_REGIONS];
	uint32_t size = fm_mem_wire(mem, &wire, fds);

	return fm_request(m, FM_REQ_SET_MEM_TABLE, &wire, size, fds,
			mem->nregions, NULL);
}

void
fm_vring_addr_of(const struct fm_frontend *m, uint32_t index,
		struct vhost_vring_addr *a)
{
	const struct fm_vring *vr = &m->vr[index];

	memset(a, 0, sizeof(*a));
	a->index = index;
	/* Frontend user addresses, not guest-physical ones (no IOMMU). */
	a->desc_user_addr = fm_ptr_uaddr(vr->desc);
	a->avail_user_addr = fm_ptr_uaddr(vr->avail);
	a->used_user_addr = fm_ptr_uaddr(vr->used);
}

int
fm_negotiate(struct fm_frontend *m, uint64_t features, uint64_t protocol)
{
	int ret;

	ret = fm_get_u64(m, FM_REQ_GET_FEATURES, &m->offered_features);
	if (ret != FM_OK)
		return ret;
	if ((features & m->offered_features) != features)
		return FM_BADREPLY;
	ret = fm_send_noarg(m, FM_REQ_SET_OWNER);
	if (ret != FM_OK)
		return ret;
	if (features & FM_BIT(FM_F_PROTOCOL_FEATURES)) {
		ret = fm_get_u64(m, FM_REQ_GET_PROTOCOL_FEATURES,
				&m->offered_protocol);
		if (ret != FM_OK)
			return ret;
		if ((protocol & m->offered_protocol) != protocol)
			return FM_BADREPLY;
		/* Like QEMU: no ack asked before REPLY_ACK is agreed on. */
		ret = fm_set_u64(m, FM_REQ_SET_PROTOCOL_FEATURES, protocol);
		if (ret != FM_OK)
			return ret;
		m->protocol = protocol;
		if (protocol & FM_BIT(FM_PF_MQ)) {
			ret = fm_get_u64(m, FM_REQ_GET_QUEUE_NUM, &m->queue_num);
			if (ret != FM_OK)
				return ret;
		}
	}
	ret = fm_set_u64(m, FM_REQ_SET_FEATURES, features);
	if (ret == FM_OK)
		m->features = features;
	return ret;
}

int
fm_layout_vring(struct fm_frontend *m, uint32_t index, uint16_t size,
		int region)
{
	struct fm_vring *vr;

	if (index >= FM_MAX_VRINGS)
		return -1;
	vr = &m->vr[index];
	if (vr->size != 0)
		fm_vring_fini(vr);
	/* The layout SET_FEATURES agreed on. */
	if ((m->features & FM_BIT(VIRTIO_F_RING_PACKED) ?
			fm_vring_init_packed : fm_vring_init)(vr, &m->mem,
			region, size) < 0)
		return -1;
	if ((int)index >= m->nvrings)
		m->nvrings = (int)index + 1;
	return 0;
}

int
fm_setup_vring(struct fm_frontend *m, uint32_t index, uint16_t size,
		int region)
{
	struct vhost_vring_addr a;

	if (fm_layout_vring(m, index, size, region) < 0)
		return FM_SENDFAIL;
	fm_vring_addr_of(m, index, &a);
	/* A new ring starts at 0; a packed one's wrap counters at 1. */
	return fm_start_vring(m, index, &a,
			m->vr[index].packed ? 1u << 15 : 0, false);
}

int
fm_start_vring(struct fm_frontend *m, uint32_t index,
		const struct vhost_vring_addr *a, uint32_t base, bool base_first)
{
	struct fm_vring *vr = &m->vr[index];
	int ret;

	ret = fm_set_state(m, FM_REQ_SET_VRING_NUM, index, vr->size);
	if (ret == FM_OK && base_first)
		ret = fm_set_state(m, FM_REQ_SET_VRING_BASE, index, base);
	if (ret == FM_OK)
		ret = fm_set_vring_addr(m, a);
	if (ret == FM_OK && !base_first)
		ret = fm_set_state(m, FM_REQ_SET_VRING_BASE, index, base);
	if (ret == FM_OK)
		ret = fm_set_vring_fd(m, FM_REQ_SET_VRING_CALL, index,
				vr->call_fd);
	if (ret == FM_OK)
		ret = fm_set_vring_fd(m, FM_REQ_SET_VRING_KICK, index,
				vr->kick_fd);
	return ret;
}

/* Adds cfg's regions to m's guest memory unless it has some already.
 * Returns 0, or -1 if a region could not be made. */
static int
add_config_regions(struct fm_frontend *m, const struct fm_config *cfg)
{
	int i;

	if (m->mem.nregions != 0)
		return 0;
	for (i = 0; i < cfg->nregions; i++)
		if (fm_mem_add_region(&m->mem, cfg->regions[i].gpa,
				cfg->regions[i].size,
				cfg->regions[i].mmap_offset) < 0)
			return -1;
	return 0;
}

int
fm_handshake(struct fm_frontend *m, const struct fm_config *cfg)
{
	return fm_handshake_ext(m, cfg, NULL);
}

int
fm_handshake_ext(struct fm_frontend *m, const struct fm_config *cfg,
		const struct fm_handshake_ext *x)
{
	static const struct fm_handshake_ext none;
	uint64_t features;
	int ret, i;

	if (x == NULL)
		x = &none;
	features = cfg->features | x->features;
	ret = fm_negotiate(m, features, cfg->protocol | x->protocol);
	if (ret == FM_OK && x->negotiated != NULL)
		ret = x->negotiated(m, x->ctx);
	if (ret == FM_OK && cfg->mtu != 0)
		ret = fm_set_u64(m, FM_REQ_NET_SET_MTU, cfg->mtu);
	if (ret == FM_OK && add_config_regions(m, cfg) < 0)
		ret = FM_SENDFAIL;
	if (ret == FM_OK && x->regions_added != NULL)
		ret = x->regions_added(m, x->ctx);
	if (ret == FM_OK)
		ret = fm_set_mem_table(m, &m->mem);
	for (i = 0; ret == FM_OK && i < cfg->nvrings; i++)
		ret = x->setup_vring != NULL ?
			x->setup_vring(m, x->ctx, (uint32_t)i, cfg->queue_size,
					cfg->ring_region) :
			fm_setup_vring(m, (uint32_t)i, cfg->queue_size,
					cfg->ring_region);
	if (ret != FM_OK || cfg->leave_disabled ||
			!(features & FM_BIT(FM_F_PROTOCOL_FEATURES)))
		return ret;
	for (i = 0; ret == FM_OK && i < cfg->nvrings; i++)
		ret = fm_set_state(m, FM_REQ_SET_VRING_ENABLE, (uint32_t)i, 1);
	return ret;
}
