/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backend request channel: the backend reports IOTLB misses
 * on it; they are answered with UPDATEs on the front-end channel, the way
 * QEMU's vIOMMU does. A control thread serves them when nobody else
 * does, but the polling lcores serve them first (vvi_iommu_chan_poll):
 * with every CPU held by a busy-polling lcore, a woken control thread
 * may wait milliseconds for one.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>

#include "vvi_iommu.h"
#include "vvi_log.h"

/* The backend requests read in one go, and what each needs. */
struct req_batch {
	struct vvi_miss miss[VVI_IOTLB_BATCH];
	unsigned int nmiss;
	struct {
		struct vvi_msg_hdr hdr;
		int miss;	/* index into miss, or -1: not handled */
	} req[VVI_IOTLB_BATCH];
	unsigned int nreq;
};

static void
add_request(struct req_batch *b, const struct vvi_msg_hdr *hdr,
	const void *payload, int size)
{
	struct vhost_iotlb_msg msg;
	int miss = -1;

	if (hdr->request != VVI_BACKEND_IOTLB_MSG ||
			(size_t)size < sizeof(msg)) {
		VVI_LOG(WARNING, "backend request %u (size %d) not handled",
			hdr->request, size);
	} else {
		memcpy(&msg, payload, sizeof(msg));
		if (msg.type != VHOST_IOTLB_MISS) {
			VVI_LOG(WARNING, "backend IOTLB message type %u ignored",
				msg.type);
		} else {
			miss = b->nmiss++;
			b->miss[miss] = (struct vvi_miss){
				.iova = msg.iova, .perm = msg.perm,
			};
		}
	}
	b->req[b->nreq].hdr = *hdr;
	b->req[b->nreq].miss = miss;
	b->nreq++;
}

/* Serves the misses of a batch together, then replies where asked, all
 * replies in one write. */
static void
serve_batch(struct vvi_iommu *io, struct req_batch *b)
{
	struct {
		struct vvi_msg_hdr hdr;
		uint64_t ack;
	} __attribute__((packed)) reply[VVI_IOTLB_BATCH];
	int res[VVI_IOTLB_BATCH];
	unsigned int nreply = 0;

	if (b->nmiss > 0)
		vvi_iommu_serve_misses(io, b->miss, b->nmiss, res);
	for (unsigned int i = 0; i < b->nreq; i++) {
		const struct vvi_msg_hdr *hdr = &b->req[i].hdr;
		int miss = b->req[i].miss;

		if (miss >= 0 && res[miss] < 0)
			VVI_LOG(DEBUG, "miss at iova %#" PRIx64 " perm %u refused",
				b->miss[miss].iova, b->miss[miss].perm);
		if (!(hdr->flags & VVI_FLAG_NEED_REPLY))
			continue;
		reply[nreply].hdr = (struct vvi_msg_hdr){
			.request = hdr->request,
			.flags = VVI_FLAG_VERSION | VVI_FLAG_REPLY,
			.size = sizeof(uint64_t),
		};
		/* As QEMU does: a non-zero ack says no UPDATE will come. */
		reply[nreply].ack = miss < 0 || res[miss] < 0;
		nreply++;
	}
	if (nreply > 0 && send(io->backend_fd, reply, nreply * sizeof(reply[0]),
			MSG_NOSIGNAL) != (ssize_t)(nreply * sizeof(reply[0])))
		VVI_LOG(ERR, "backend channel: replies not sent: %s",
			strerror(errno));
	b->nmiss = 0;
	b->nreq = 0;
}

/* Appends what the backend has queued to io->rbuf, without waiting.
 * Returns 0, or -errno once the channel is gone. */
static int
fill(struct vvi_iommu *io)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VVI_MAX_FDS)];
	struct iovec iov = {
		.iov_base = io->rbuf + io->rlen,
		.iov_len = sizeof(io->rbuf) - io->rlen,
	};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	ssize_t n;

	if (iov.iov_len == 0)
		return 0;
	n = recvmsg(io->backend_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	/* No request we serve carries fds: never keep one. */
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int nf = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (int i = 0; i < nf; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
				close(fd);
			}
		}
	}
	io->rlen += n;
	return 0;
}

/* Moves the first complete request of io->rbuf to hdr and payload.
 * Returns its payload size, -EAGAIN if none is complete yet, or -EPROTO
 * for a malformed one (the channel is then out of step). */
static int
take(struct vvi_iommu *io, struct vvi_msg_hdr *hdr, uint8_t *payload)
{
	size_t total;

	if (io->rlen < sizeof(*hdr))
		return -EAGAIN;
	memcpy(hdr, io->rbuf, sizeof(*hdr));
	if ((hdr->flags & VVI_FLAG_VERSION_MASK) != VVI_FLAG_VERSION ||
			hdr->size > VVI_MAX_PAYLOAD) {
		VVI_LOG(ERR, "backend channel: bad request %u flags %#x size %u",
			hdr->request, hdr->flags, hdr->size);
		return -EPROTO;
	}
	total = sizeof(*hdr) + hdr->size;
	if (io->rlen < total)
		return -EAGAIN;
	memcpy(payload, io->rbuf + sizeof(*hdr), hdr->size);
	memmove(io->rbuf, io->rbuf + total, io->rlen - total);
	io->rlen -= total;
	return (int)hdr->size;
}

/* Serves the requests already queued, in batches: a backend that sends
 * the misses of a burst together gets its UPDATEs together, and they are
 * read together. With once, one batch only: a datapath caller must get
 * back to its ring, or a backend asking one page at a time would keep it
 * here. Caller holds io->backend_lock. Returns 0, or -errno once the
 * channel is gone. */
static int
drain(struct vvi_iommu *io, bool once)
{
	struct req_batch b = { .nmiss = 0, .nreq = 0 };
	uint8_t buf[VVI_MAX_PAYLOAD];
	struct vvi_msg_hdr hdr;
	int r = 0;

	while (!io->backend_gone) {
		r = fill(io);
		while (r >= 0 && b.nreq < VVI_IOTLB_BATCH &&
				(r = take(io, &hdr, buf)) >= 0)
			add_request(&b, &hdr, buf, r);
		if (r == -EAGAIN)
			r = 0;
		if (b.nreq > 0) {
			if (!once)
				io->thread_misses += b.nmiss;
			serve_batch(io, &b);
		} else if (r == 0) {
			break;		/* nothing queued */
		}
		if (r < 0 || once)
			break;
	}
	if (r < 0 && !io->backend_gone) {
		io->backend_gone = true;
		if (r != -EPIPE)
			VVI_LOG(ERR, "backend channel: %s", strerror(-r));
	}
	return io->backend_gone ? -EPIPE : 0;
}

void
vvi_iommu_chan_poll(struct vvi_iommu *io)
{
	if (io->backend_fd < 0 || io->backend_gone)
		return;
	__atomic_store_n(&io->polled_at, rte_get_timer_cycles(),
		__ATOMIC_RELAXED);
	if (pthread_mutex_trylock(&io->backend_lock) != 0)
		return;
	drain(io, true);
	pthread_mutex_unlock(&io->backend_lock);
}

/* Whether a polling lcore serves the channel: in dynamic mode it polls
 * it every burst (elsewhere only when its ring stalls, so the thread
 * must not wait for it), and it did so within the last period. */
static bool
lcore_is_serving(const struct vvi_iommu *io)
{
	uint64_t at = __atomic_load_n(&io->polled_at, __ATOMIC_RELAXED);

	if (io->mode != VVI_IOMMU_DYNAMIC)
		return false;

	return rte_get_timer_cycles() - at <
		rte_get_timer_hz() * VVI_CHAN_DEFER_US / 1000000;
}

static void *
chan_thread(void *arg)
{
	struct vvi_iommu *io = arg;
	struct pollfd p[2] = {
		{ .fd = io->backend_fd, .events = POLLIN },
		{ .fd = io->quit_fd, .events = POLLIN },
	};
	int r;

	for (;;) {
		r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[1].revents)
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* Leave the requests to a polling lcore while there is one:
		 * competing with it would only split the batches. */
		if (lcore_is_serving(io)) {
			usleep(VVI_CHAN_DEFER_US);
			continue;
		}
		pthread_mutex_lock(&io->backend_lock);
		r = drain(io, false);
		pthread_mutex_unlock(&io->backend_lock);
		if (r < 0)
			break;
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
	io->backend_fd = sv[0];
	io->backend_gone = false;
	io->rlen = 0;
	pthread_mutex_init(&io->backend_lock, NULL);
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
	if (io->backend_fd >= 0)
		close(io->backend_fd);
	if (io->quit_fd >= 0)
		close(io->quit_fd);
	io->backend_fd = -1;
	io->quit_fd = -1;
}
