/* SPDX-License-Identifier: BSD-3-Clause */

/* IOVA translation through the device IOTLB, and IOTLB misses. */

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <rte_cycles.h>

#include "iotlb_miss.h"
#include "vhost_log.h"
#include "vhost_msg.h"

/* Backend -> frontend request carrying an IOTLB message. */
#define VHOST_USER_BACKEND_IOTLB_MSG 1

static uint64_t
ms_to_cycles(uint64_t ms)
{
	return rte_get_timer_hz() * ms / 1000;
}

bool
vhost_frontend_unread(const struct vhost_device *dev)
{
	int n = 0;

	/* The socket first, then the flag: the event thread raises the
	 * flag before it takes the first byte out. */
	if (dev->conn_fd >= 0 && ioctl(dev->conn_fd, FIONREAD, &n) == 0 && n > 0)
		return true;
	return __atomic_load_n(&dev->ctl_reading, __ATOMIC_ACQUIRE) != 0;
}

/* A miss for iova: record it, or tell how long it has waited. */
static int
note_miss(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	  uint64_t iova, uint8_t perm)
{
	uint64_t page = iova & ~(uint64_t)(VHOST_IOTLB_PAGE - 1);
	uint64_t now = rte_get_timer_cycles();

	for (uint16_t i = 0; i < vq->nb_pending; i++) {
		struct vhost_iotlb_pending *p = &vq->pending[i];

		if (p->iova != page || (p->perm & perm) != perm)
			continue;
		if (now - p->since < ms_to_cycles(VHOST_IOTLB_MISS_TIMEOUT_MS))
			return -EAGAIN;
		/* The time is up, but the answer may be in the frontend's
		 * messages that the event thread has not read or applied
		 * yet (it was not scheduled, or busy with another device):
		 * the frontend did answer then, our thread was late. Wait
		 * for it. (A refused page, since 0, fails at once.) */
		if (p->since != 0 && vhost_frontend_unread(dev))
			return -EAGAIN;
		/* Never answered: fail this access, and forget the page so
		 * that a later access asks again. */
		VHOST_LOG_RATELIMITED(ERR, "(%s) vring %u: IOTLB miss for iova 0x%" PRIx64
			" (perm %u) unanswered after %d ms",
			dev->ifname, vq->index, page, perm, VHOST_IOTLB_MISS_TIMEOUT_MS);
		vq->stats.v[VHOST_STAT_IOTLB_MISS_TIMEOUTS]++;
		*p = vq->pending[--vq->nb_pending];
		return -EFAULT;
	}
	if (vq->nb_pending == VHOST_IOTLB_MAX_PENDING)
		return -EAGAIN;	/* asked again once others are answered */
	vq->pending[vq->nb_pending++] = (struct vhost_iotlb_pending){
		.iova = page, .perm = perm, .since = now, .sent = false };
	vq->nb_unsent++;
	return -EAGAIN;
}

bool
vhost_uaddr_range_mapped(const struct vhost_device *dev, uint64_t uaddr,
			 uint64_t size)
{
	while (size > 0) {
		uint64_t len = size;

		if (dev->mem == NULL ||
		    vhost_mem_uaddr_to_hva(dev->mem, uaddr, &len) == 0)
			return false;
		uaddr += len;
		size -= len;
	}
	return true;
}

int
vhost_iotlb_map_mem(struct vhost_device *dev, uint64_t iova, uint64_t size,
		    uint64_t uaddr, uint8_t perm)
{
	if (size == 0 || iova > UINT64_MAX - (size - 1) ||
	    uaddr > UINT64_MAX - (size - 1))
		return -EINVAL;
	if (!vhost_uaddr_range_mapped(dev, uaddr, size))
		return -EFAULT;
	while (size > 0) {
		uint64_t avail = 0, piece;
		const struct rte_vhost_mem_region *r =
			vhost_mem_find_uaddr(dev->mem, uaddr, &avail);
		int ret;

		piece = RTE_MIN(size, avail);
		ret = vhost_iotlb_map(&dev->iotlb, iova, piece, uaddr,
				      r->host_user_addr + (uaddr - r->guest_user_addr),
				      r->guest_phys_addr + (uaddr - r->guest_user_addr),
				      perm);
		if (ret < 0)
			return ret;
		iova += piece;
		uaddr += piece;
		size -= piece;
	}
	return 0;
}

bool
vhost_iotlb_resolve_uaddr(void *arg, uint64_t uaddr, uint64_t len,
			  uint64_t *hva, uint64_t *gpa)
{
	const struct vhost_device *dev = arg;
	const struct rte_vhost_mem_region *r;
	uint64_t avail = 0;

	if (dev->mem == NULL)
		return false;
	r = vhost_mem_find_uaddr(dev->mem, uaddr, &avail);
	if (r == NULL || avail < len)
		return false;
	*hva = r->host_user_addr + (uaddr - r->guest_user_addr);
	*gpa = r->guest_phys_addr + (uaddr - r->guest_user_addr);
	return true;
}

/* The hint the last prefetch left for iova (vq->xh), if the IOTLB is
 * unchanged since. The walk meets the IOVAs in the order they were
 * noted, but may skip one the ring's range cache served meanwhile. */
static __rte_always_inline uint32_t
hint_take(struct vhost_virtqueue *vq, const struct vhost_iotlb *t,
	  uint64_t iova)
{
	struct vhost_iotlb_hints *xh = &vq->xh;
	uint16_t k = xh->next;

	if (k >= xh->n || xh->gen != t->gen)
		return VHOST_IOTLB_NIL;
	if (xh->iova[k] != iova) {
		if (k + 1 >= xh->n || xh->iova[k + 1] != iova)
			return VHOST_IOTLB_NIL;
		k++;
	}
	xh->next = (uint16_t)(k + 1);
	return xh->id[k];
}

uint8_t *
vhost_iova_translate(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		     uint64_t iova, uint64_t *len, uint8_t perm, uint64_t *gpa)
{
	const struct vhost_iotlb_entry *e = NULL;
	uint64_t off;

	switch (vhost_iotlb_lookup_hinted(&dev->iotlb, iova, len, perm,
					  vq->iotlb_expire_before,
					  hint_take(vq, &dev->iotlb, iova), &e)) {
	case VHOST_IOTLB_LOOKUP_HIT:
		break;
	case VHOST_IOTLB_LOOKUP_DENIED:
		VHOST_LOG_RATELIMITED(ERR, "(%s) vring %u: iova 0x%" PRIx64
			" is mapped without %s permission",
			dev->ifname, vq->index, iova,
			perm == VHOST_ACCESS_WO ? "write" : "read");
		vq->stats.v[VHOST_STAT_IOTLB_REFUSED]++;
		vq->xlate_err = -EPERM;
		return NULL;
	default:
		vq->stats.v[VHOST_STAT_IOTLB_MISSES]++;
		vq->xlate_err = note_miss(dev, vq, iova, perm);
		return NULL;
	}
	vq->stats.v[VHOST_STAT_IOTLB_HITS]++;

	/* Our and the guest physical address were worked out when the
	 * entry was mapped (it lies in one memory region). Keep the entry
	 * for the next translations (not with entry lifetimes: entries
	 * expire). */
	off = iova - e->iova;
	*gpa = e->gpa + off;
	if (dev->iotlb_max_age == 0) {
		vq->xc.iova = e->iova;
		vq->xc.last = e->last;
		vq->xc.hva = e->hva;
		vq->xc.gpa = e->gpa;
		vq->xc.perm = e->perm;
		vq->xc.gen = dev->iotlb.gen;
	}
	return (uint8_t *)(uintptr_t)(e->hva + off);
}

void
vhost_iotlb_miss_rest(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		      uint64_t iova, uint64_t len, uint8_t perm)
{
	uint64_t page = iova & ~(uint64_t)(VHOST_IOTLB_PAGE - 1);
	uint64_t last = iova + len - 1;	/* the caller checked the wrap */
	int err = vq->xlate_err;

	for (int i = 0; i < VHOST_IOTLB_MISS_AHEAD_PAGES; i++) {
		const struct vhost_iotlb_entry *e;
		uint64_t l = 1;

		if (last - page < VHOST_IOTLB_PAGE)
			break;
		page += VHOST_IOTLB_PAGE;
		if (vhost_iotlb_lookup_at(&dev->iotlb, page, &l, perm,
					  vq->iotlb_expire_before, &e) ==
		    VHOST_IOTLB_LOOKUP_MISS)
			(void)note_miss(dev, vq, page, perm);
	}
	vq->xlate_err = err;
}

void *
vhost_iova_range(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		 uint64_t iova, uint64_t len, uint8_t perm)
{
	uint8_t *start = NULL;
	uint64_t done = 0;

	if (len == 0 || iova > UINT64_MAX - (len - 1)) {
		vq->xlate_err = -EFAULT;
		return NULL;
	}
	while (done < len) {
		uint64_t piece = len - done, gpa;
		uint8_t *hva = vhost_iova_translate(dev, vq, iova + done, &piece,
						    perm, &gpa);

		if (hva == NULL)
			return NULL;
		if (start == NULL)
			start = hva;
		else if (hva != start + done) {
			vq->xlate_err = -EFAULT;	/* not contiguous for us */
			return NULL;
		}
		done += piece;
	}
	return start;
}

void
vhost_iotlb_send_misses(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	struct {
		struct vhost_msg_header hdr;
		struct vhost_iotlb_msg body;
	} __attribute__((packed)) msgs[VHOST_IOTLB_MAX_PENDING];
	uint64_t now;
	bool ask = dev->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint16_t n = 0;
	ssize_t sent = -1;

	if (vq->nb_unsent == 0)
		return;
	for (uint16_t i = 0; i < vq->nb_pending; i++) {
		const struct vhost_iotlb_pending *p = &vq->pending[i];

		if (p->sent)
			continue;
		memset(&msgs[n], 0, sizeof(msgs[n]));
		msgs[n].hdr.request = VHOST_USER_BACKEND_IOTLB_MSG;
		msgs[n].hdr.flags = VHOST_USER_VERSION;
		msgs[n].hdr.size = sizeof(msgs[n].body);
		msgs[n].body.iova = p->iova;
		msgs[n].body.perm = p->perm;
		msgs[n].body.type = VHOST_IOTLB_MISS;
		n++;
	}
	/* One write for the whole burst; never block a datapath thread:
	 * if the channel is full, the misses stay unsent for next time. */
	rte_spinlock_lock(&dev->backend_req_lock);
	/* Ask for an answer while there is room to remember the question:
	 * "not mapped" then fails the access at once. */
	ask = ask && dev->asked_count + n <= VHOST_IOTLB_MAX_ASKED;
	for (uint16_t i = 0; ask && i < n; i++)
		msgs[i].hdr.flags |= VHOST_USER_NEED_REPLY;
	if (dev->backend_req_fd >= 0)
		sent = send(dev->backend_req_fd, msgs, n * sizeof(msgs[0]),
			    MSG_DONTWAIT | MSG_NOSIGNAL);
	if (ask && sent == (ssize_t)(n * sizeof(msgs[0]))) {
		for (uint16_t i = 0; i < n; i++) {
			struct vhost_iotlb_asked *a = &dev->asked[
				(dev->asked_head + dev->asked_count++) % VHOST_IOTLB_MAX_ASKED];

			a->iova = msgs[i].body.iova;
			a->perm = msgs[i].body.perm;
			a->vring = vq->index;
		}
	}
	rte_spinlock_unlock(&dev->backend_req_lock);
	if (sent != (ssize_t)(n * sizeof(msgs[0]))) {
		if (sent > 0)	/* a partial write would desynchronise */
			VHOST_DEV_LOG(ERR, dev, "backend channel: short write of IOTLB misses");
		return;
	}
	/* The wait starts once the frontend can see the misses: a thread
	 * descheduled before its send() must not count that time against
	 * the frontend. */
	now = rte_get_timer_cycles();
	for (uint16_t i = 0; i < vq->nb_pending; i++) {
		if (!vq->pending[i].sent) {
			vq->pending[i].sent = true;
			vq->pending[i].since = now;
		}
	}
	vq->nb_unsent = 0;
	VHOST_DEV_LOG(DEBUG, dev, "vring %u: sent %u IOTLB misses (first iova 0x%" PRIx64 ")",
		vq->index, n, (uint64_t)msgs[0].body.iova);
}

void
vhost_iotlb_age(const struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	uint64_t now = rte_get_timer_cycles();

	vq->iotlb_expire_before = now > dev->iotlb_max_age ?
		now - dev->iotlb_max_age : 0;
}

void
vhost_iotlb_refuse_pending(struct vhost_virtqueue *vq, uint64_t iova,
			   uint8_t perm)
{
	for (uint16_t i = 0; i < vq->nb_pending; i++) {
		struct vhost_iotlb_pending *p = &vq->pending[i];

		/* Aged past the timeout: the next access fails at once. */
		if (p->iova == iova && p->perm == perm)
			p->since = 0;
	}
}

void
vhost_iotlb_resolve_pending(struct vhost_virtqueue *vq, uint64_t iova,
			    uint64_t size, uint8_t perm)
{
	uint64_t last = iova + (size - 1);

	for (uint16_t i = 0; i < vq->nb_pending;) {
		struct vhost_iotlb_pending *p = &vq->pending[i];

		if (p->iova + (VHOST_IOTLB_PAGE - 1) >= iova && p->iova <= last &&
		    (p->perm & perm) == p->perm) {
			if (!p->sent)
				vq->nb_unsent--;
			*p = vq->pending[--vq->nb_pending];
		} else {
			i++;
		}
	}
}
