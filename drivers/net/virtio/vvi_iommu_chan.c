/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backend request ("slave") channel: the backend reports IOTLB misses
 * on it; a control thread answers each with an UPDATE on the master
 * channel, the way QEMU's vIOMMU does.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "vvi_iommu.h"
#include "vvi_log.h"

static void
handle_msg(struct vvi_iommu *io, const struct vvi_msg_hdr *hdr,
	const void *payload, int size)
{
	struct vhost_iotlb_msg msg;
	uint64_t ack = 0;

	if (hdr->request != VVI_SLAVE_IOTLB_MSG ||
			(size_t)size < sizeof(msg)) {
		VVI_LOG(WARNING, "backend request %u (size %d) not handled",
			hdr->request, size);
		ack = 1;
	} else {
		memcpy(&msg, payload, sizeof(msg));
		if (msg.type != VHOST_IOTLB_MISS) {
			VVI_LOG(WARNING, "backend IOTLB message type %u ignored",
				msg.type);
			ack = 1;
		} else if (vvi_iommu_serve_miss(io, msg.iova, msg.perm) < 0) {
			/* As QEMU does: a non-zero ack says no UPDATE will come. */
			ack = 1;
			VVI_LOG(DEBUG, "miss at iova %#" PRIx64 " perm %u refused",
				(uint64_t)msg.iova, msg.perm);
		}
	}
	if (hdr->flags & VVI_FLAG_NEED_REPLY) {
		struct vvi_msg_hdr rh = {
			.request = hdr->request,
			.flags = VVI_FLAG_VERSION | VVI_FLAG_REPLY,
			.size = sizeof(ack),
		};

		vvi_sock_send(io->slave_fd, &rh, &ack, NULL, 0);
	}
}

static void *
chan_thread(void *arg)
{
	struct vvi_iommu *io = arg;
	struct pollfd p[2] = {
		{ .fd = io->slave_fd, .events = POLLIN },
		{ .fd = io->quit_fd, .events = POLLIN },
	};
	uint8_t buf[VVI_MAX_PAYLOAD];
	struct vvi_msg_hdr hdr;
	int r;

	for (;;) {
		r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[1].revents)
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = vvi_sock_recv(io->slave_fd, &hdr, buf, sizeof(buf),
			VVI_REPLY_TIMEOUT_MS);
		if (r < 0) {
			if (r != -EPIPE)
				VVI_LOG(ERR, "backend channel: %s", strerror(-r));
			break;
		}
		handle_msg(io, &hdr, buf, r);
	}
	return NULL;
}

int
vvi_iommu_chan_open(struct vvi_iommu *io)
{
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	io->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (io->quit_fd < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	io->slave_fd = sv[0];
	r = rte_ctrl_thread_create(&io->thread, "vvi-iotlb", NULL, chan_thread,
		io);
	if (r != 0) {
		close(sv[1]);
		vvi_iommu_chan_close(io);
		return -r;
	}
	io->thread_started = true;
	return sv[1];
}

void
vvi_iommu_chan_close(struct vvi_iommu *io)
{
	if (io->thread_started) {
		static const uint64_t one = 1;
		ssize_t n = write(io->quit_fd, &one, sizeof(one));

		RTE_SET_USED(n);
		pthread_join(io->thread, NULL);
		io->thread_started = false;
	}
	if (io->slave_fd >= 0)
		close(io->slave_fd);
	if (io->quit_fd >= 0)
		close(io->quit_fd);
	io->slave_fd = -1;
	io->quit_fd = -1;
}
