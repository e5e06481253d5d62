/* SPDX-License-Identifier: BSD-3-Clause */

/* Walking a split-ring descriptor chain, with every check the guest's
 * input needs. See desc_chain.h. */

#include <errno.h>
#include <stdlib.h>

#include <rte_atomic.h>

#include "desc_chain.h"
#include "iotlb_miss.h"
#include "vhost_log.h"
#include "vhost_translate.h"
#include "vring.h"
#include "vring_packed.h"

/* Snapshot a descriptor: the guest may rewrite it while we look, so
 * every check and use works on this copy. */
static __rte_always_inline void
read_desc(const volatile struct vring_desc *table, uint32_t idx,
	  struct vring_desc *out)
{
	out->addr = table[idx].addr;
	out->len = table[idx].len;
	out->flags = table[idx].flags;
	out->next = table[idx].next;
}

/* Translate [addr, addr + len) into pieces. */
static int
add_buffer(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	   uint64_t addr, uint32_t len, uint8_t perm,
	   struct vhost_seg *segs, uint16_t *n, uint16_t max_segs)
{
	if (unlikely(len != 0 && addr > UINT64_MAX - (len - 1)))
		return -EINVAL;	/* wraps around the address space */
	while (len > 0) {
		uint64_t piece = len;
		uint64_t gpa;
		uint8_t *hva = vhost_translate(dev, vq, addr, &piece, perm, &gpa);

		if (unlikely(hva == NULL)) {
			if (vq->xlate_err == -EAGAIN)
				vhost_iotlb_miss_rest(dev, vq, addr, len, perm);
			return vq->xlate_err;
		}
		if (unlikely(*n >= max_segs))
			return -E2BIG;
		segs[*n].hva = hva;
		segs[*n].len = (uint32_t)piece;
		segs[*n].gpa = gpa;
		(*n)++;
		addr += piece;
		len -= (uint32_t)piece;
	}
	return 0;
}

/* Map an indirect table. If it is not contiguous in our address space
 * (it straddles two regions), gather it into the queue's private copy,
 * which also protects the walk from the guest changing it. */
static const struct vring_desc *
map_indirect(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	     uint64_t addr, uint32_t len)
{
	uint64_t piece = len;
	uint64_t gpa;
	uint8_t *hva;
	uint32_t done = 0;

	if (addr > UINT64_MAX - (len - 1)) {
		vq->xlate_err = -EINVAL;	/* the table wraps around */
		return NULL;
	}
	hva = vhost_translate(dev, vq, addr, &piece, VHOST_PERM_READ, &gpa);
	if (hva == NULL)
		return NULL;	/* vq->xlate_err says why */
	if (piece == len)
		return (const struct vring_desc *)(const void *)hva;

	if (vq->indirect_copy_len < len) {
		struct vring_desc *copy = realloc(vq->indirect_copy, len);

		if (copy == NULL) {
			vq->xlate_err = -ENOMEM;
			return NULL;
		}
		vq->indirect_copy = copy;
		vq->indirect_copy_len = len;
	}
	for (;;) {
		memcpy((uint8_t *)vq->indirect_copy + done, hva, piece);
		done += (uint32_t)piece;
		if (done == len)
			return vq->indirect_copy;
		piece = len - done;
		hva = vhost_translate(dev, vq, addr + done, &piece,
				      VHOST_PERM_READ, &gpa);
		if (hva == NULL)
			return NULL;
	}
}

/* The walk itself; the callers decide what a bad chain costs. */
static int
walk_chain(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	   uint16_t head, enum vhost_chain_dir dir,
	   struct vhost_seg *segs, uint16_t *nsegs, uint16_t max_segs,
	   struct vhost_chain *chain)
{
	const bool device_writes = dir == VHOST_CHAIN_DEVICE_WRITES;
	const uint8_t perm = device_writes ? VHOST_PERM_WRITE : VHOST_PERM_READ;
	const volatile struct vring_desc *table = vq->desc;
	uint32_t table_size = vq->size;
	uint32_t idx = head;
	uint32_t visited = 0;
	bool in_indirect = false;
	uint64_t total = 0;
	uint16_t n = *nsegs;
	struct vring_desc d;
	int ret;

	for (;;) {
		/* A chain can't hold more descriptors than its table: more
		 * means the guest made a loop. */
		if (unlikely(idx >= table_size || ++visited > table_size)) {
			ret = -ELOOP;
			goto bad;
		}
		read_desc(table, idx, &d);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* Only one level, alone in its descriptor, holding
			 * whole descriptors (virtio 1.1, 2.6.5.3.1). */
			if (unlikely(in_indirect ||
				     (d.flags & VRING_DESC_F_NEXT) ||
				     d.len == 0 || d.len % sizeof(d) != 0 ||
				     d.len / sizeof(d) > VHOST_MAX_RING_SIZE)) {
				ret = -EINVAL;
				goto bad;
			}
			table = map_indirect(dev, vq, d.addr, d.len);
			if (unlikely(table == NULL)) {
				ret = vq->xlate_err;
				goto bad;
			}
			table_size = d.len / sizeof(d);
			idx = 0;
			visited = 0;
			in_indirect = true;
			continue;
		}

		/* Rx chains are all device-writable, Tx chains all readable:
		 * anything else is not a virtio-net buffer. */
		if (unlikely(!!(d.flags & VRING_DESC_F_WRITE) != device_writes)) {
			ret = -EPERM;
			goto bad;
		}
		total += d.len;
		if (unlikely(total > VHOST_MAX_PKT_LEN * (uint64_t)VHOST_MAX_MRG_CHAINS)) {
			ret = -E2BIG;
			goto bad;
		}
		ret = add_buffer(dev, vq, d.addr, d.len, perm, segs, &n, max_segs);
		if (unlikely(ret < 0))
			goto bad;

		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
	}
	chain->head = head;
	chain->nsegs = n - *nsegs;
	chain->len = (uint32_t)total;
	chain->id = head;
	chain->ndesc = 1;
	*nsegs = n;
	return 0;
bad:
	chain->id = head;
	chain->ndesc = 1;
	return ret;
}

/* One element of a packed chain or indirect table, direct: checked and
 * translated like a split descriptor. */
static int
packed_element(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	       const struct vring_packed_desc *d, bool device_writes,
	       uint64_t *total, struct vhost_seg *segs, uint16_t *n,
	       uint16_t max_segs)
{
	if (unlikely(!!(d->flags & VRING_DESC_F_WRITE) != device_writes))
		return -EPERM;
	*total += d->len;
	if (unlikely(*total > VHOST_MAX_PKT_LEN * (uint64_t)VHOST_MAX_MRG_CHAINS))
		return -E2BIG;
	return add_buffer(dev, vq, d->addr, d->len,
			  device_writes ? VHOST_PERM_WRITE : VHOST_PERM_READ,
			  segs, n, max_segs);
}

/* A packed indirect table: len / 16 consecutive descriptors, of which
 * only the WRITE flag counts (virtio 1.1, 2.7.7). */
static int
packed_indirect(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		const struct vring_packed_desc *ind, bool device_writes,
		uint64_t *total, struct vhost_seg *segs, uint16_t *n,
		uint16_t max_segs)
{
	const volatile struct vring_packed_desc *table;
	uint32_t count;

	if (unlikely(ind->len == 0 || ind->len % sizeof(*ind) != 0 ||
		     ind->len / sizeof(*ind) > VHOST_MAX_RING_SIZE))
		return -EINVAL;
	table = (const void *)map_indirect(dev, vq, ind->addr, ind->len);
	if (unlikely(table == NULL))
		return vq->xlate_err;
	count = ind->len / sizeof(*ind);
	for (uint32_t i = 0; i < count; i++) {
		struct vring_packed_desc d = {
			.addr = table[i].addr, .len = table[i].len,
			.flags = table[i].flags,
		};

		/* DPDK's virtio PMD presets WRITE on every element of its
		 * packed Tx indirect tables and leaves it on the header's
		 * (22.11, multi-segment sends). Reading a buffer the driver
		 * also lets us write is harmless: it is translated for
		 * reading only. Writing into a readable one stays refused. */
		if (!device_writes)
			d.flags &= (uint16_t)~VRING_DESC_F_WRITE;
		int ret = packed_element(dev, vq, &d, device_writes, total,
					 segs, n, max_segs);

		if (unlikely(ret < 0))
			return ret;
	}
	return 0;
}

/* The packed walk: the list's ring descriptors are read to its end even
 * after an error, for the buffer id and the count a refused chain is
 * returned with. */
static int
walk_chain_packed(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		  uint16_t pos, enum vhost_chain_dir dir,
		  struct vhost_seg *segs, uint16_t *nsegs, uint16_t max_segs,
		  struct vhost_chain *chain)
{
	const bool device_writes = dir == VHOST_CHAIN_DEVICE_WRITES;
	const volatile struct vring_packed_desc *ring = vq->desc_packed;
	uint32_t idx = pos;
	uint16_t ndesc = 0;
	uint64_t total = 0;
	uint16_t n = *nsegs;
	int err = 0;
	struct vring_packed_desc d;

	if (unlikely(pos >= vq->size))
		return -EINVAL;	/* our own position: cannot happen */
	for (;;) {
		d.addr = ring[idx].addr;
		d.len = ring[idx].len;
		d.id = ring[idx].id;
		d.flags = ring[idx].flags;
		ndesc++;
		if (err == 0) {
			if (d.flags & VRING_DESC_F_INDIRECT) {
				/* Alone in its list, and no NEXT on it. */
				if (ndesc != 1 || (d.flags & VRING_DESC_F_NEXT))
					err = -EINVAL;
				else
					err = packed_indirect(dev, vq, &d, device_writes,
							      &total, segs, &n, max_segs);
			} else {
				err = packed_element(dev, vq, &d, device_writes,
						     &total, segs, &n, max_segs);
			}
			/* A miss is retried whole later: nothing taken. */
			if (unlikely(err == -EAGAIN))
				return err;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		/* A list holds at most the ring's descriptors. */
		if (unlikely(ndesc == vq->size)) {
			if (err == 0)
				err = -ELOOP;
			break;
		}
		idx = idx + 1 == vq->size ? 0 : idx + 1;
	}
	chain->head = pos;
	chain->id = d.id;	/* the buffer id is the last descriptor's */
	chain->ndesc = ndesc;
	if (unlikely(err != 0))
		return err;
	chain->nsegs = n - *nsegs;
	chain->len = (uint32_t)total;
	*nsegs = n;
	return 0;
}

int
vhost_chain_refused(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		    uint16_t head, int err)
{
	VHOST_LOG_RATELIMITED(ERR, "(%s) vring %u: invalid descriptor chain at head %u: %s",
		dev->ifname, vq->index, head, strerror(-err));
	vq->stats.v[VHOST_STAT_BAD_CHAINS]++;
	return err;
}

int
vhost_walk_chain_general(const struct vhost_device *dev,
			 struct vhost_virtqueue *vq, uint16_t head,
			 enum vhost_chain_dir dir, struct vhost_seg *segs,
			 uint16_t *nsegs, uint16_t max_segs,
			 struct vhost_chain *chain)
{
	int ret = walk_chain(dev, vq, head, dir, segs, nsegs, max_segs, chain);

	/* A miss is not the guest's fault: the chain is walked again once
	 * the IOTLB has the mapping. */
	if (likely(ret == 0) || ret == -EAGAIN)
		return ret;
	return vhost_chain_refused(dev, vq, head, ret);
}

int
vhost_walk_chain_packed_general(const struct vhost_device *dev,
				struct vhost_virtqueue *vq, uint16_t pos,
				enum vhost_chain_dir dir, struct vhost_seg *segs,
				uint16_t *nsegs, uint16_t max_segs,
				struct vhost_chain *chain)
{
	int ret = walk_chain_packed(dev, vq, pos, dir, segs, nsegs, max_segs,
				    chain);

	if (likely(ret == 0) || ret == -EAGAIN)
		return ret;
	return vhost_chain_refused(dev, vq, pos, ret);
}

void
vhost_walk_ahead(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		 uint16_t first, uint16_t count, enum vhost_chain_dir dir)
{
	struct vhost_seg segs[VHOST_MAX_PKT_SEGS];
	struct vhost_chain c;

	uint16_t i = 0;

	/* Chains walked ahead by an earlier burst asked already: a burst
	 * that waits must stay short, the IOTLB writer waits for it. */
	if ((int16_t)(vq->walked_ahead - (uint16_t)(vq->last_avail_idx + first)) > 0)
		i = (uint16_t)(vq->walked_ahead - vq->last_avail_idx - first);
	/* Up to what the pending list can hold: a ring that is behind by
	 * more asks for the rest as it catches up. */
	count = RTE_MIN(count, (uint16_t)VHOST_IOTLB_MAX_PENDING);
	for (; i < count; i++) {
		uint16_t nsegs = 0;

		if (vq->nb_pending >= VHOST_IOTLB_MAX_PENDING)
			break;

		/* Only the misses it records matter: a bad chain is logged
		 * and counted when the burst really reaches it. */
		(void)walk_chain(dev, vq, vhost_avail_head(vq, first + i), dir,
				 segs, &nsegs, VHOST_MAX_PKT_SEGS, &c);
		vq->walked_ahead = (uint16_t)(vq->last_avail_idx + first + i + 1);
	}
}

/* Descriptors of the packed list at pos by its NEXT flags alone (a
 * chain whose walk missed has no length yet), at most the ring size. */
static uint16_t
packed_list_len(const struct vhost_virtqueue *vq, uint16_t pos)
{
	const volatile struct vring_packed_desc *ring = vq->desc_packed;
	uint32_t idx = pos;
	uint16_t n = 1;

	while ((ring[idx].flags & VRING_DESC_F_NEXT) && n < vq->size) {
		idx = idx + 1 == vq->size ? 0 : idx + 1;
		n++;
	}
	return n;
}

void
vhost_walk_ahead_packed(const struct vhost_device *dev,
			struct vhost_virtqueue *vq, uint16_t idx, bool wrap,
			enum vhost_chain_dir dir)
{
	const uint32_t lap = 2u * vq->size;
	struct vhost_ring_pos p = { idx, wrap };
	struct vhost_seg segs[VHOST_MAX_PKT_SEGS];
	struct vhost_chain c;
	/* walked_ahead is a position in [0, 2 * size) here: what an
	 * earlier burst walked from p on is asked already (a burst that
	 * waits must stay short, the IOTLB writer waits for it); a value
	 * more than a ring behind is stale. */
	uint32_t done = ((uint32_t)vq->walked_ahead + lap -
			 vhost_packed_linear(vq, idx, wrap)) % lap;

	if (done > vq->size)
		done = 0;
	vhost_ring_pos_advance(vq, &p, (uint16_t)(done % vq->size));
	if (done == vq->size)
		return;
	for (uint16_t i = 0; i < VHOST_IOTLB_MAX_PENDING; i++) {
		uint16_t nsegs = 0, n;
		int ret;

		if (vq->nb_pending >= VHOST_IOTLB_MAX_PENDING ||
		    !vhost_packed_desc_avail(vq, p))
			break;
		/* Only the misses it records matter, as for split rings. */
		ret = walk_chain_packed(dev, vq, p.idx, dir, segs, &nsegs,
					VHOST_MAX_PKT_SEGS, &c);
		n = ret == -EAGAIN ? packed_list_len(vq, p.idx) : c.ndesc;
		if (done + n > vq->size)
			break;
		done += n;
		vhost_ring_pos_advance(vq, &p, n);
		vq->walked_ahead = (uint16_t)vhost_packed_linear(vq, p.idx, p.wrap);
	}
}
