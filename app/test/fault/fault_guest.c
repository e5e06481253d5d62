/* SPDX-License-Identifier: BSD-3-Clause */
/* The guest's side of steady traffic: see fault_guest.h. */
#include "fault_guest.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fault_pkt.h"

#define G2H 1	/* the guest transmits on ring 1 */
#define H2G 0

static int64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void
progress(struct fault_guest_stats *st)
{
	int64_t now = now_ns(), last = atomic_load(&st->last_progress_ns);

	if (last != 0 && now - last > atomic_load(&st->max_gap_ns))
		atomic_store(&st->max_gap_ns, now - last);
	atomic_store(&st->last_progress_ns, now);
}

static uint64_t
map_buf(struct fault_guest *g, uint8_t *p, uint32_t len, bool dev_writes)
{
	if (g->map != NULL)
		return g->map->map(g->map->ctx, p, len, dev_writes);
	return fm_ptr_gpa(&g->m->mem, p);
}

static void
unmap_buf(struct fault_guest *g, uint64_t addr, uint32_t len)
{
	if (g->map != NULL)
		g->map->unmap(g->map->ctx, addr, len);
}

int
fault_guest_init(struct fault_guest *g, struct fm_frontend *m,
		struct fault_guest_stats *st, uint32_t stream, int ntx, int nrx,
		int nregions)
{
	int i;

	memset(g, 0, sizeof(*g));
	if (ntx > FG_MAX_SLOTS || nrx > FG_MAX_SLOTS || nregions < 1 ||
			m->vr[H2G].size != FAULT_RING_SIZE ||
			m->vr[G2H].size != FAULT_RING_SIZE)
		return -1;
	g->m = m;
	g->st = st;
	g->ntx = ntx;
	g->nrx = nrx;
	g->tx_on = true;
	g->rx_on = true;
	g->mergeable = (m->features & FM_BIT(VIRTIO_NET_F_MRG_RXBUF)) != 0;
	/* A page per buffer: an IOMMU maps and revokes whole pages. */
	for (i = 0; i < ntx; i++) {
		g->tx_slot[i] = fm_mem_alloc(&m->mem, i % nregions, FG_SLOT,
				4096);
		g->tx_free[g->ntx_free++] = (int16_t)i;
	}
	for (i = 0; i < nrx; i++) {
		g->rx_slot[i] = fm_mem_alloc(&m->mem, i % nregions, FG_SLOT,
				4096);
		g->rx_free[g->nrx_free++] = (int16_t)i;
	}
	for (i = 0; i < FAULT_RING_SIZE; i++) {
		g->tx_of[i] = -1;
		g->rx_of[i] = -1;
	}
	for (i = 0; i < ntx; i++)
		if (g->tx_slot[i] == NULL)
			return -1;
	for (i = 0; i < nrx; i++)
		if (g->rx_slot[i] == NULL)
			return -1;
	fault_guest_restream(g, stream);
	return 0;
}

void
fault_guest_restream(struct fault_guest *g, uint32_t stream)
{
	g->tx_stream = stream;
	g->rx_stream = stream | FAULT_STREAM_H2G;
	g->tx_seq = 0;
	g->rx_seq = 0;
	g->rx_seen = 0;
}

static int
reclaim_tx(struct fault_guest *g)
{
	struct fm_vring *vr = &g->m->vr[G2H];
	struct vring_used_elem e;
	int n = 0;

	while ((g->batch == 0 || n < g->batch) &&
			fm_vring_pop_used(vr, &e, NULL)) {
		int16_t slot;

		if (e.id >= FAULT_RING_SIZE || g->tx_of[e.id] < 0) {
			atomic_fetch_add(&g->st->used_bad, 1);
			continue;
		}
		slot = g->tx_of[e.id];
		g->tx_of[e.id] = -1;
		unmap_buf(g, g->tx_addr[e.id], g->tx_len[e.id]);
		g->tx_free[g->ntx_free++] = slot;
		atomic_fetch_add(&g->st->tx_done, 1);
		n++;
	}
	if (n > 0)
		progress(g->st);
	return n;
}

static bool
all_poison(const uint8_t *p, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (p[i] != FAULT_POISON)
			return false;
	return true;
}

/* Keeps what the guest saw of a bad packet, then counts it. */
static void
rx_bad(struct fault_guest *g, enum fault_guest_bad_why why,
		const uint8_t *buf, uint32_t len, uint32_t want_seq)
{
	unsigned int n = atomic_load(&g->st->rx_bad);

	if (n < FG_BAD_KEEP) {
		struct fault_guest_bad *b = &g->st->bad[n];
		uint32_t stream = 0, seq = 0;

		if (len > FM_NET_HDR_LEN)
			fault_pkt_peek(buf + FM_NET_HDR_LEN,
					len - FM_NET_HDR_LEN, &stream, &seq);
		*b = (struct fault_guest_bad){
			.why = why, .nth = g->rx_seen - 1,
			.want_stream = g->rx_stream, .want_seq = want_seq,
			.stream = stream, .seq = seq, .len = len,
		};
	}
	atomic_fetch_add(&g->st->rx_bad, 1);
}

/* One received packet in buf[0..len), header first. */
static void
check_rx(struct fault_guest *g, const uint8_t *buf, uint32_t len)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	uint32_t seq, stream;

	if (len < FM_NET_HDR_LEN || len > FG_SLOT) {
		rx_bad(g, FG_BAD_LEN, buf, len, g->rx_seq);
		return;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	/* The host sends no offloads, and each packet fits one buffer. */
	if (hdr.hdr.flags != 0 || hdr.hdr.gso_type != 0 ||
			(g->mergeable && hdr.num_buffers != 1)) {
		rx_bad(g, FG_BAD_HDR, buf, len, g->rx_seq);
		return;
	}
	if (fault_pkt_parse(buf + FM_NET_HDR_LEN, len - FM_NET_HDR_LEN,
			g->rx_stream, &seq) < 0) {
		enum fault_guest_bad_why why = FG_BAD_BYTES;

		if (fault_pkt_peek(buf + FM_NET_HDR_LEN, len - FM_NET_HDR_LEN,
				&stream, &seq) < 0)
			why = FG_BAD_LEN;
		else if (stream != g->rx_stream)
			why = FG_BAD_STREAM;
		else if (len - FM_NET_HDR_LEN != fault_pkt_len(stream, seq))
			why = FG_BAD_PKTLEN;
		rx_bad(g, why, buf, len, g->rx_seq);
		return;
	}
	if (seq > g->rx_seq) {
		/* Intact, but later than the next: the device dropped
		 * those between. */
		atomic_fetch_add(&g->st->rx_gaps, 1);
		g->rx_seq = seq;
	} else if (seq != g->rx_seq) {
		uint32_t want = g->rx_seq;

		/* Resynchronise so that one fault is counted once. */
		g->rx_seq = seq + 1;
		rx_bad(g, FG_BAD_ORDER, buf, len, want);
		return;
	}
	g->rx_seq++;
	atomic_fetch_add(&g->st->rx_got, 1);
	progress(g->st);
}

static const char *
bad_why_name(uint32_t why)
{
	switch (why) {
	case FG_BAD_LEN: return "length";
	case FG_BAD_HDR: return "header";
	case FG_BAD_STREAM: return "stream";
	case FG_BAD_PKTLEN: return "length of its seq";
	case FG_BAD_BYTES: return "bytes";
	case FG_BAD_ORDER: return "order";
	default: return "?";
	}
}

void
fault_guest_bad_describe(const struct fault_guest_stats *st, char *buf,
		size_t size)
{
	unsigned int n = atomic_load(&st->rx_bad), i;
	size_t off = 0;

	if (size > 0)
		buf[0] = '\0';
	for (i = 0; i < n && i < FG_BAD_KEEP && off < size; i++) {
		const struct fault_guest_bad *b = &st->bad[i];
		int w = snprintf(buf + off, size - off, "%sRX chain %u bad "
				"(%s): expected stream %#x seq %u, got stream "
				"%#x seq %u, %u bytes", i > 0 ? "; " : "",
				b->nth, bad_why_name(b->why), b->want_stream,
				b->want_seq, b->stream, b->seq, b->len);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static int
harvest_rx(struct fault_guest *g)
{
	struct fm_vring *vr = &g->m->vr[H2G];
	struct vring_used_elem e;
	int n = 0;

	while ((g->batch == 0 || n < g->batch) &&
			fm_vring_pop_used(vr, &e, NULL)) {
		uint8_t *buf;
		int16_t slot;

		g->rx_seen++;
		if (e.id >= FAULT_RING_SIZE || g->rx_of[e.id] < 0) {
			atomic_fetch_add(&g->st->used_bad, 1);
			continue;
		}
		slot = g->rx_of[e.id];
		g->rx_of[e.id] = -1;
		buf = g->rx_slot[slot];
		if (g->rx_revoked[e.id]) {
			/* Taken back before the device used it: it must come
			 * back empty and untouched. */
			if (e.len != 0 || !all_poison(buf, FG_SLOT))
				atomic_fetch_add(&g->st->revoked_bad, 1);
			atomic_fetch_add(&g->st->revoked_back, 1);
			g->rx_revoked[e.id] = false;
		} else if (e.len == 0) {
			atomic_fetch_add(&g->st->rx_empty, 1);
		} else {
			check_rx(g, buf, e.len);
		}
		unmap_buf(g, g->rx_addr[e.id], FG_SLOT);
		g->rx_free[g->nrx_free++] = slot;
		n++;
	}
	return n;
}

static int
post_rx(struct fault_guest *g)
{
	struct fm_vring *vr = &g->m->vr[H2G];
	int n = 0;

	while (g->rx_on && g->nrx_free > 0 && (g->batch == 0 || n < g->batch)) {
		int16_t slot = g->rx_free[g->nrx_free - 1];
		uint64_t addr = map_buf(g, g->rx_slot[slot], FG_SLOT, true);
		struct fm_seg seg = { addr, FG_SLOT, true };
		int head;

		if (addr == UINT64_MAX)
			break;
		head = fm_vring_add_chain(vr, &seg, 1);
		if (head < 0) {
			unmap_buf(g, addr, FG_SLOT);
			break;
		}
		g->nrx_free--;
		g->rx_of[head] = slot;
		g->rx_addr[head] = addr;
		n++;
	}
	return n;
}

uint32_t
fault_guest_tx_pos(uint32_t seq)
{
	static const uint32_t in_turn[3] = { 0, 1, 3 };

	return 6 * (seq / 3) + in_turn[seq % 3];
}

uint32_t
fault_guest_chain_pos(int q, uint32_t n)
{
	return q == G2H ? fault_guest_tx_pos(n) : n;
}

uint16_t
fault_guest_ring_base(const struct fm_vring *vr, int q, uint32_t count)
{
	if (!vr->packed)
		return (uint16_t)count;
	return fault_ring_pos_base(vr, fault_guest_chain_pos(q, count));
}

/* Descriptors for packet seq of len at addr: the layouts take 1, 2 and
 * 3 descriptors in turn (fault_guest_tx_pos counts on it). */
static int
tx_segs(uint32_t seq, uint64_t addr, uint32_t len, struct fm_seg *s)
{
	uint32_t half = len / 2;

	switch (seq % 3) {
	case 0:		/* header and packet together */
		s[0] = (struct fm_seg){ addr, FM_NET_HDR_LEN + len, false };
		return 1;
	case 1:		/* header apart */
		s[0] = (struct fm_seg){ addr, FM_NET_HDR_LEN, false };
		s[1] = (struct fm_seg){ addr + FM_NET_HDR_LEN, len, false };
		return 2;
	default:	/* header apart, packet in two */
		s[0] = (struct fm_seg){ addr, FM_NET_HDR_LEN, false };
		s[1] = (struct fm_seg){ addr + FM_NET_HDR_LEN, half, false };
		s[2] = (struct fm_seg){ addr + FM_NET_HDR_LEN + half,
			len - half, false };
		return 3;
	}
}

static int
post_tx(struct fault_guest *g)
{
	struct fm_vring *vr = &g->m->vr[G2H];
	int n = 0;

	while (g->tx_on && g->ntx_free > 0 && (g->batch == 0 || n < g->batch)) {
		int16_t slot = g->tx_free[g->ntx_free - 1];
		uint8_t *buf = g->tx_slot[slot];
		uint32_t len = fault_pkt_len(g->tx_stream, g->tx_seq);
		uint32_t total = FM_NET_HDR_LEN + len;
		struct fm_seg segs[3];
		uint64_t addr;
		int nseg, head;

		memset(buf, 0, FM_NET_HDR_LEN);
		fault_pkt_fill(buf + FM_NET_HDR_LEN, g->tx_stream, g->tx_seq);
		addr = map_buf(g, buf, total, false);
		if (addr == UINT64_MAX)
			break;
		nseg = tx_segs(g->tx_seq, addr, len, segs);
		head = fm_vring_add_chain(vr, segs, nseg);
		if (head < 0) {
			unmap_buf(g, addr, total);
			break;
		}
		g->ntx_free--;
		g->tx_of[head] = slot;
		g->tx_seq_of[head] = g->tx_seq;
		g->tx_addr[head] = addr;
		g->tx_len[head] = total;
		g->tx_seq++;
		atomic_fetch_add(&g->st->tx_posted, 1);
		n++;
	}
	return n;
}

int
fault_guest_step(struct fault_guest *g)
{
	int back = reclaim_tx(g) + harvest_rx(g);
	int rx = post_rx(g), tx = post_tx(g);

	if (rx > 0)
		fm_vring_kick(&g->m->vr[H2G]);
	if (tx > 0)
		fm_vring_kick(&g->m->vr[G2H]);
	return back + rx + tx;
}

int
fault_guest_tx_out(const struct fault_guest *g)
{
	return g->ntx - g->ntx_free;
}

int
fault_guest_rx_out(const struct fault_guest *g)
{
	return g->nrx - g->nrx_free;
}

void
fault_guest_revoke_tx(struct fault_guest *g, uint16_t head)
{
	uint32_t seq;

	if (head >= FAULT_RING_SIZE || g->tx_of[head] < 0)
		return;
	seq = g->tx_seq_of[head];
	memset(g->tx_slot[g->tx_of[head]], FAULT_POISON, g->tx_len[head]);
	if (g->tx_revoked != NULL && seq < g->tx_revoked_max)
		g->tx_revoked[seq / 8] |= (uint8_t)(1u << (seq % 8));
}

void
fault_guest_revoke_rx(struct fault_guest *g, uint16_t head)
{
	if (head >= FAULT_RING_SIZE || g->rx_of[head] < 0)
		return;
	memset(g->rx_slot[g->rx_of[head]], FAULT_POISON, FG_SLOT);
	g->rx_revoked[head] = true;
}
