/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rte_alarm.h>
#include <rte_malloc.h>

#include "vvi_attack.h"
#include "vvi_log.h"

#define GUARD_BYTE 0x5a
#define CANARY_BYTE 0xc5
/* Bytes of a straddling buffer that lie in page A, before the boundary. */
#define STRADDLE_HEAD 32
/* Offset from the end of page C of the frame used by indirect and loop,
 * and of the indirect table (clear of the straddle bytes at C's start). */
#define C_FRAME_OFF 1024
#define C_TABLE_OFF 256
/* Largest frame copied into the attack pages. */
#define MAX_FRAME 256
/* A length no sane buffer has: must be refused, not truncated. */
#define HUGE_LEN 0xfffffff0u
/* An address whose end wraps around 2^64. */
#define WRAP_ADDR 0xffffffffffffffc0ULL
#define WRAP_LEN 0x1000u

/* Window IOVAs (see vvi_attack.h). */
enum { WIN_RO, WIN_WO, WIN_S0, WIN_S1, WIN_COUNT };

static uint64_t
win(const struct vvi_attack *at, unsigned int w)
{
	return VVI_IOVA_ATTACK_BASE + w * at->page;
}

static uint8_t *
page_ptr(const struct vvi_attack *at, unsigned int p)
{
	return at->area + p * at->page;
}

int
vvi_attack_alloc(struct vvi_attack *at, const struct vvi_args *a,
	struct vvi_iommu *io)
{
	/* Attack pages are whole IOMMU pages of DPDK memory: up to 2M. */
	if (a->iommu_page > (2ULL << 20)) {
		VVI_LOG(ERR, "attack=%s needs iommu_page 4K or 2M",
			vvi_attack_name(a->attack));
		return -ENOTSUP;
	}
	if (at->area == NULL) {
		at->mode = a->attack;
		at->every = a->attack_every;
		at->page = a->iommu_page;
		at->area = rte_malloc("vvi_attack", 4 * at->page, at->page);
		at->canary = rte_malloc("vvi_canary", at->page, at->page);
		if (at->area == NULL || at->canary == NULL) {
			vvi_attack_release(at);
			return -ENOMEM;
		}
		memset(at->area, 0, 4 * at->page);
		memset(page_ptr(at, 1), GUARD_BYTE, at->page);
		memset(page_ptr(at, 3), GUARD_BYTE, at->page);
		memset(at->canary, CANARY_BYTE, at->page);
	}
	io->hole_va = (uintptr_t)at->canary;
	io->hole_len = at->page;
	return 0;
}

int
vvi_attack_map(struct vvi_attack *at, struct vvi_iommu *io)
{
	const struct vvi_map maps[WIN_COUNT] = {
		[WIN_RO] = { 0, 0, 0, VHOST_ACCESS_RO },
		[WIN_WO] = { 0, 0, 0, VHOST_ACCESS_WO },
		[WIN_S0] = { 0, 0, 0, VHOST_ACCESS_RW },
		[WIN_S1] = { 0, 0, 0, VHOST_ACCESS_RW },
	};
	/* Page each window maps: A, A, A, C. */
	static const unsigned int target[WIN_COUNT] = { 0, 0, 0, 2 };
	int r = 0;

	/* The canary keeps its would-be IOVA, but nothing maps it. */
	at->canary_iova = vvi_iommu_static_iova(io, (uintptr_t)at->canary,
		at->page);
	for (unsigned int w = 0; w < WIN_COUNT && r == 0; w++) {
		struct vvi_map m = maps[w];

		m.iova = win(at, w);
		m.size = at->page;
		m.uaddr = (uintptr_t)page_ptr(at, target[w]);
		r = vvi_iommu_map_fixed(io, &m);
	}
	at->mapped = r == 0 && at->canary_iova != 0;
	VVI_LOG(INFO, "attack=%s every %u chains: windows at %#" PRIx64
		", canary va %p would-be iova %#" PRIx64,
		vvi_attack_name(at->mode), at->every, win(at, 0),
		at->canary, at->canary_iova);
	return r;
}

static uint64_t
count_not(const uint8_t *p, uint64_t len, uint8_t v)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < len; i++)
		n += p[i] != v;
	return n;
}

uint64_t
vvi_attack_check(struct vvi_attack *at)
{
	uint64_t guard, canary;

	if (at->area == NULL)
		return 0;
	guard = count_not(page_ptr(at, 1), at->page, GUARD_BYTE) +
		count_not(page_ptr(at, 3), at->page, GUARD_BYTE);
	canary = count_not(at->canary, at->page, CANARY_BYTE);
	__atomic_store_n(&at->guard_bad, guard, __ATOMIC_RELAXED);
	__atomic_store_n(&at->canary_bad, canary, __ATOMIC_RELAXED);
	return guard + canary;
}

void
vvi_attack_release(struct vvi_attack *at)
{
	if (at->area && vvi_attack_check(at))
		VVI_LOG(ERR, "attack=%s: BACKEND WROTE protected memory: canary %"
			PRIu64 " bytes, guards %" PRIu64 " bytes",
			vvi_attack_name(at->mode), at->canary_bad, at->guard_bad);
	rte_free(at->area);
	rte_free(at->canary);
	at->area = NULL;
	at->canary = NULL;
	at->mapped = false;
}

static void
set_desc(struct vvi_vring *vr, uint16_t id, uint64_t addr, uint32_t len,
	uint16_t flags)
{
	vr->desc[id].addr = addr;
	vr->desc[id].len = len;
	vr->desc[id].flags = flags;
}

/* Copies the model frame (after a zeroed header) to p; returns its
 * length including the header. */
static uint32_t
put_frame(uint8_t *p, uint32_t hdr_len, const struct rte_mbuf *model)
{
	uint32_t len = RTE_MIN(rte_pktmbuf_data_len(model), MAX_FRAME);

	memset(p, 0, hdr_len);
	memcpy(p + hdr_len, rte_pktmbuf_mtod(model, void *), len);
	return hdr_len + len;
}

/* An indirect table in C holding one well-formed buffer: a backend that
 * ignores the bad table length would use it, and be seen to. Packed
 * tables have the packed descriptor layout. */
static uint64_t
indirect_table(struct vvi_attack *at, uint32_t buf_len, uint16_t flags,
	bool packed)
{
	void *p = page_ptr(at, 2) + at->page - C_TABLE_OFF;
	uint64_t addr = win(at, WIN_S1) + at->page - C_FRAME_OFF;

	if (packed) {
		struct vring_packed_desc *t = p;

		*t = (struct vring_packed_desc){ .addr = addr, .len = buf_len,
			.flags = flags };
	} else {
		struct vring_desc *t = p;

		*t = (struct vring_desc){ .addr = addr, .len = buf_len,
			.flags = flags };
	}
	return win(at, WIN_S1) + at->page - C_TABLE_OFF;
}

/* Packed attack=loop: every descriptor of the ring in one chain, NEXT
 * on all of them; the first holds the header (tx) or 256 writable
 * bytes (rx), the others nothing. The device must stop at the ring's
 * size and refuse it; it comes back as one used entry of size
 * descriptors. */
static uint16_t
long_chain(struct vvi_attack *at, struct vvi_vring *vr, uint64_t hdr_iova,
	uint32_t hdr_len, bool rx, uint16_t *ndesc)
{
	const uint16_t w = rx ? VRING_DESC_F_WRITE : 0;
	uint64_t c = win(at, WIN_S1) + at->page - C_FRAME_OFF;
	uint16_t h = vvi_vring_get_desc(vr), prev = h;

	if (rx)
		set_desc(vr, h, c, 256, w | VRING_DESC_F_NEXT);
	else
		set_desc(vr, h, hdr_iova + (uint64_t)h * hdr_len, hdr_len,
			VRING_DESC_F_NEXT);
	*ndesc = 1;
	while (vr->nb_free > 0) {
		uint16_t id = vvi_vring_get_desc(vr);

		set_desc(vr, id, c, 0, w | VRING_DESC_F_NEXT);
		vvi_vring_link(vr, prev, id);
		prev = id;
		(*ndesc)++;
	}
	return h;
}

/* Packed indirect variants 3 and 4: INDIRECT with NEXT (then a second
 * descriptor), and INDIRECT as the second descriptor of a list; both
 * point at a valid table. */
static void
indirect_in_list(struct vvi_vring *vr, uint16_t h, uint16_t d, uint64_t t,
	bool with_next, uint64_t hdr_addr, uint32_t hdr_len, uint16_t w)
{
	if (with_next) {
		set_desc(vr, h, t, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT);
		set_desc(vr, d, hdr_addr, hdr_len, w);
	} else {
		set_desc(vr, h, hdr_addr, hdr_len, w | VRING_DESC_F_NEXT);
		set_desc(vr, d, t, 16, VRING_DESC_F_INDIRECT);
	}
}

/* Descriptor ids come from the free list; the chain is linked here. */
static uint16_t
chain2(struct vvi_vring *vr, uint16_t *a, uint16_t *b)
{
	*a = vvi_vring_get_desc(vr);
	*b = vvi_vring_get_desc(vr);
	vvi_vring_link(vr, *a, *b);
	return *a;
}

uint16_t
vvi_attack_tx_chain(struct vvi_attack *at, struct vvi_vring *vr,
	uint64_t hdr_iova, uint32_t hdr_len, const struct rte_mbuf *model,
	uint16_t *ndesc)
{
	uint64_t n = __atomic_fetch_add(&at->sent, 1, __ATOMIC_RELAXED);
	uint32_t flen = RTE_MIN(rte_pktmbuf_data_len(model), MAX_FRAME);
	uint8_t *c_frame = page_ptr(at, 2) + at->page - C_FRAME_OFF;
	uint16_t h, d;

	if (vr->packed && at->mode == VVI_ATTACK_LOOP)
		return long_chain(at, vr, hdr_iova, hdr_len, false, ndesc);
	chain2(vr, &h, &d);
	*ndesc = 2;
	set_desc(vr, h, hdr_iova + (uint64_t)h * hdr_len, hdr_len,
		VRING_DESC_F_NEXT);
	switch (at->mode) {
	case VVI_ATTACK_UNMAPPED:
		set_desc(vr, d, VVI_IOVA_UNMAPPED_BASE + (n % 512) * 4096, flen, 0);
		break;
	case VVI_ATTACK_PERM:	/* the frame is behind a write-only window */
		memcpy(page_ptr(at, 0), rte_pktmbuf_mtod(model, void *), flen);
		set_desc(vr, d, win(at, WIN_WO), flen, 0);
		break;
	case VVI_ATTACK_STRADDLE: {	/* well-formed: must arrive intact */
		const uint8_t *f = rte_pktmbuf_mtod(model, const uint8_t *);
		uint32_t head = RTE_MIN(flen, (uint32_t)STRADDLE_HEAD);

		memcpy(page_ptr(at, 1) - head, f, head);
		memcpy(page_ptr(at, 2), f + head, flen - head);
		set_desc(vr, d, win(at, WIN_S1) - head, flen, 0);
		__atomic_fetch_add(&at->wellformed_tx, 1, __ATOMIC_RELAXED);
		break;
	}
	case VVI_ATTACK_OVERFLOW:
		if (n & 1)
			set_desc(vr, d, WRAP_ADDR, WRAP_LEN, 0);
		else
			set_desc(vr, d, win(at, WIN_S0) + at->page - 64, HUGE_LEN, 0);
		break;
	case VVI_ATTACK_INDIRECT: {
		uint32_t blen = put_frame(c_frame, hdr_len, model);
		uint64_t t = indirect_table(at, blen, 0, vr->packed);
		static const uint32_t bad_len[3] = { 16, 17, 16 * 65536 };

		if (vr->packed && n % 5 >= 3) {
			indirect_in_list(vr, h, d, t, n % 5 == 3,
				hdr_iova + (uint64_t)h * hdr_len, hdr_len, 0);
			break;
		}
		/* One indirect descriptor: unmapped table, odd or huge length. */
		vvi_vring_put_chain(vr, d, 1);
		*ndesc = 1;
		set_desc(vr, h, n % 3 == 0 ? VVI_IOVA_UNMAPPED_BASE : t,
			bad_len[n % 3], VRING_DESC_F_INDIRECT);
		break;
	}
	case VVI_ATTACK_LOOP:
		memcpy(c_frame, rte_pktmbuf_mtod(model, void *), flen);
		set_desc(vr, d, win(at, WIN_S1) + at->page - C_FRAME_OFF, flen,
			VRING_DESC_F_NEXT);
		vr->desc[d].next = h;
		break;
	case VVI_ATTACK_CANARY:	/* would-be IOVA of a never-mapped page */
		set_desc(vr, d, at->canary_iova, flen, 0);
		break;
	case VVI_ATTACK_BADID:	/* well-formed, its id out of the ring */
		vr->buf_id[h] = (uint16_t)(h + vr->size);
		__atomic_fetch_add(&at->wellformed_tx, 1, __ATOMIC_RELAXED);
		/* fall through */
	case VVI_ATTACK_WRAP:	/* well-formed; counted when made available */
		memcpy(c_frame, rte_pktmbuf_mtod(model, void *), flen);
		set_desc(vr, d, win(at, WIN_S1) + at->page - C_FRAME_OFF, flen, 0);
		break;
	default:
		break;
	}
	return h;
}

uint16_t
vvi_attack_rx_chain(struct vvi_attack *at, struct vvi_vring *vr,
	uint16_t *ndesc)
{
	uint64_t n = __atomic_fetch_add(&at->sent, 1, __ATOMIC_RELAXED);
	const uint16_t w = VRING_DESC_F_WRITE;
	uint16_t h, d;

	if (vr->packed && at->mode == VVI_ATTACK_LOOP)
		return long_chain(at, vr, 0, 0, true, ndesc);
	chain2(vr, &h, &d);
	*ndesc = 2;
	/* Most modes use one descriptor; the second is returned at once. */
	switch (at->mode) {
	case VVI_ATTACK_UNMAPPED:
		set_desc(vr, h, VVI_IOVA_UNMAPPED_BASE + (n % 512) * 4096, 2048, w);
		break;
	case VVI_ATTACK_PERM:	/* writable buffer behind a read-only window */
		set_desc(vr, h, win(at, WIN_RO), 2048, w);
		break;
	case VVI_ATTACK_STRADDLE:
		set_desc(vr, h, win(at, WIN_S1) - STRADDLE_HEAD, 2048, w);
		break;
	case VVI_ATTACK_OVERFLOW:
		if (n & 1)
			set_desc(vr, h, WRAP_ADDR, WRAP_LEN, w);
		else
			set_desc(vr, h, win(at, WIN_S0) + at->page - 64, HUGE_LEN, w);
		break;
	case VVI_ATTACK_INDIRECT: {
		static const uint32_t bad_len[3] = { 16, 17, 16 * 65536 };
		uint64_t t = indirect_table(at, 512, w, vr->packed);

		if (vr->packed && n % 5 >= 3) {
			indirect_in_list(vr, h, d, t, n % 5 == 3,
				win(at, WIN_S0), 512, w);
			return h;
		}
		set_desc(vr, h, n % 3 == 0 ? VVI_IOVA_UNMAPPED_BASE : t,
			bad_len[n % 3], VRING_DESC_F_INDIRECT);
		break;
	}
	case VVI_ATTACK_LOOP:
		set_desc(vr, h, win(at, WIN_S1) + at->page - C_FRAME_OFF, 256,
			w | VRING_DESC_F_NEXT);
		set_desc(vr, d, win(at, WIN_S1) + at->page - C_FRAME_OFF + 256,
			256, w | VRING_DESC_F_NEXT);
		vr->desc[d].next = h;
		return h;
	case VVI_ATTACK_CANARY:
		set_desc(vr, h, at->canary_iova, 2048, w);
		break;
	case VVI_ATTACK_BADID:	/* a good buffer, its id out of the ring */
		vr->buf_id[h] = (uint16_t)(h + vr->size);
		/* fall through */
	case VVI_ATTACK_WRAP:	/* a good buffer, held not available */
		set_desc(vr, h, win(at, WIN_S0), 2048, w);
		break;
	default:
		break;
	}
	vvi_vring_put_chain(vr, d, 1);
	*ndesc = 1;
	return h;
}

/* The hold's end, on the EAL alarm thread: make the head available,
 * count it well-formed (tx) and whether the device left it alone. The
 * counters come first: once held is clear the lcore may hold again. */
static void
hold_expire(void *arg)
{
	struct vvi_vring *vr = arg;
	struct vvi_attack *at = vr->hold_owner;
	const uint16_t pos = vr->held_pos;

	if (vr->hold_tx)
		__atomic_fetch_add(&at->wellformed_tx, 1, __ATOMIC_RELAXED);
	if (!vvi_vring_packed_release(vr)) {
		__atomic_fetch_add(&at->held_taken, 1, __ATOMIC_RELAXED);
		VVI_LOG(ERR, "attack=wrap: the device wrote back a descriptor that was not available (ring %u position %u)",
			vr->index, pos);
	}
}

void
vvi_attack_pushed(struct vvi_attack *at, struct vvi_vring *vr, bool tx)
{
	uint64_t n;

	if (at->mode != VVI_ATTACK_WRAP || !vr->packed)
		return;
	n = __atomic_load_n(&at->held, __ATOMIC_RELAXED);
	if (!vvi_vring_packed_hold(vr, (unsigned int)(n % 3)))
		return;
	__atomic_fetch_add(&at->held, 1, __ATOMIC_RELAXED);
	vr->hold_expire = hold_expire;
	vr->hold_owner = at;
	vr->hold_tx = tx;
	/* A timer, not the next burst: a sender whose application stops
	 * calling tx_burst would otherwise strand the packets queued
	 * behind the head, which it reported sent. */
	if (rte_eal_alarm_set(VVI_HOLD_US, hold_expire, vr) != 0) {
		VVI_LOG(ERR, "attack=wrap: no alarm for the hold: released at once");
		hold_expire(vr);
	}
}

/* Rx straddle: the frame must be split exactly at the page boundary. */
static void
check_straddle(struct vvi_attack *at, uint32_t len, uint32_t hdr_len,
	const uint8_t *model, uint32_t model_len)
{
	uint8_t got[STRADDLE_HEAD + MAX_FRAME];
	uint32_t n = RTE_MIN(len, (uint32_t)sizeof(got));
	bool ok;

	memcpy(got, page_ptr(at, 1) - STRADDLE_HEAD, STRADDLE_HEAD);
	if (n > STRADDLE_HEAD)
		memcpy(got + STRADDLE_HEAD, page_ptr(at, 2), n - STRADDLE_HEAD);
	n = n > hdr_len ? n - hdr_len : 0;
	n = RTE_MIN(n, model_len);
	ok = len > hdr_len && (model_len == 0 ||
		memcmp(got + hdr_len, model, n) == 0);
	__atomic_fetch_add(ok ? &at->straddle_ok : &at->straddle_bad, 1,
		__ATOMIC_RELAXED);
}

void
vvi_attack_done(struct vvi_attack *at, bool rx, uint32_t len,
	uint32_t hdr_len, const uint8_t *model, uint32_t model_len)
{
	__atomic_fetch_add(&at->completed, 1, __ATOMIC_RELAXED);
	if (!rx || len == 0)
		return;
	__atomic_fetch_add(&at->written, 1, __ATOMIC_RELAXED);
	if (at->mode == VVI_ATTACK_STRADDLE)
		check_straddle(at, len, hdr_len, model, model_len);
}
