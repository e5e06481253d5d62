/* SPDX-License-Identifier: BSD-3-Clause */
/* virtio-net driver helpers for the scripted frontend: see fm_net.h. */
#include "fm_net.h"

#include <errno.h>
#include <string.h>

int
fm_net_post_tx(struct fm_vring *vr, struct fm_mem *mem, int region,
		const void *pkt, uint32_t len, enum fm_tx_layout layout,
		uint32_t seg_len)
{
	struct fm_seg segs[FM_MAX_CHAIN];
	uint8_t *buf = fm_mem_alloc(mem, region, FM_NET_HDR_LEN + len, 64);
	uint64_t gpa;
	uint32_t off;
	int n = 0;

	if (buf == NULL)
		return -ENOSPC;
	/* A zero header: no offloads, which every device must accept. */
	memcpy(buf + FM_NET_HDR_LEN, pkt, len);
	gpa = fm_ptr_gpa(mem, buf);
	if (layout == FM_TX_ONE_DESC) {
		segs[n++] = (struct fm_seg){ gpa, FM_NET_HDR_LEN + len, false };
		return fm_vring_add_chain(vr, segs, n);
	}
	segs[n++] = (struct fm_seg){ gpa, FM_NET_HDR_LEN, false };
	if (layout == FM_TX_HDR_APART)
		seg_len = len;
	if (seg_len == 0)
		return -EINVAL;
	for (off = 0; off < len; off += seg_len) {
		uint32_t l = len - off < seg_len ? len - off : seg_len;

		if (n == FM_MAX_CHAIN)
			return -E2BIG;
		segs[n++] = (struct fm_seg){
			gpa + FM_NET_HDR_LEN + off, l, false };
	}
	if (layout == FM_TX_INDIRECT)
		return fm_vring_add_indirect(vr, mem, region, segs, n);
	return fm_vring_add_chain(vr, segs, n);
}

int
fm_net_post_rx(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint32_t seg_len, int nsegs, bool indirect)
{
	struct fm_seg segs[FM_MAX_CHAIN];
	int i;

	if (nsegs <= 0 || nsegs > FM_MAX_CHAIN)
		return -EINVAL;
	for (i = 0; i < nsegs; i++) {
		/* Separate allocations: pieces are not contiguous in memory. */
		uint8_t *b = fm_mem_alloc(mem, region, seg_len + 64, 64);

		if (b == NULL)
			return -ENOSPC;
		memset(b, FM_NET_POISON, seg_len + 64);
		segs[i] = (struct fm_seg){ fm_ptr_gpa(mem, b), seg_len, true };
	}
	if (indirect)
		return fm_vring_add_indirect(vr, mem, region, segs, nsegs);
	return fm_vring_add_chain(vr, segs, nsegs);
}

/* fm_net_reader for buffers at guest physical addresses. */
static int
read_gpa(const void *mem, uint64_t gpa, void *out, uint32_t len)
{
	const uint8_t *p = fm_gpa_ptr(mem, gpa, len);

	if (p == NULL)
		return -1;
	memcpy(out, p, len);
	return 0;
}

int
fm_net_read_chain_with(fm_net_reader read, const void *ctx,
		const struct fm_chain *c, uint32_t len, uint8_t *out)
{
	uint32_t done = 0;
	int i;

	for (i = 0; i < c->nsegs && done < len; i++) {
		uint32_t l = c->segs[i].len;

		if (l > len - done)
			l = len - done;
		if (read(ctx, c->segs[i].addr, out + done, l) < 0)
			return -1;
		done += l;
	}
	return done == len ? (int)len : -1;
}

int
fm_net_read_chain(const struct fm_mem *mem, const struct fm_chain *c,
		uint32_t len, uint8_t *out)
{
	return fm_net_read_chain_with(read_gpa, mem, c, len, out);
}

int
fm_net_recv_with(struct fm_vring *vr, fm_net_reader read, const void *ctx,
		bool mergeable, struct virtio_net_hdr_mrg_rxbuf *hdr,
		uint8_t *out, uint32_t cap, int *nbufs)
{
	/* Room for a whole 64 KiB packet plus headers. */
	static uint8_t tmp[FM_MAX_CHAIN * 4096];
	struct vring_used_elem e;
	struct fm_chain c;
	uint32_t total = 0;
	int want = 1, got = 0;

	*nbufs = 0;
	while (got < want) {
		if (!fm_vring_pop_used(vr, &e, &c))
			return -1;
		got++;
		*nbufs = got;
		if (e.len > sizeof(tmp) - total ||
				fm_net_read_chain_with(read, ctx, &c, e.len,
						tmp + total) < 0)
			return -1;
		total += e.len;
		if (got == 1) {
			if (total < FM_NET_HDR_LEN)
				return -1;
			memcpy(hdr, tmp, FM_NET_HDR_LEN);
			if (mergeable)
				want = hdr->num_buffers;
			if (want < 1)
				return -1;
		}
	}
	if (total - FM_NET_HDR_LEN > cap)
		return -1;
	memcpy(out, tmp + FM_NET_HDR_LEN, total - FM_NET_HDR_LEN);
	return (int)(total - FM_NET_HDR_LEN);
}

int
fm_net_recv(struct fm_vring *vr, const struct fm_mem *mem, bool mergeable,
		struct virtio_net_hdr_mrg_rxbuf *hdr, uint8_t *out,
		uint32_t cap, int *nbufs)
{
	return fm_net_recv_with(vr, read_gpa, mem, mergeable, hdr, out, cap,
			nbufs);
}
