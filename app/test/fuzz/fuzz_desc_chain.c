/* SPDX-License-Identifier: BSD-3-Clause */

/* fuzz_desc_chain: vhost_walk_chain() and vhost_walk_chain_packed()
 * (desc_chain.c) over descriptor tables or packed rings, indirect tables
 * and buffers written from the input into a
 * fake guest memory, with and without the device IOTLB; then the copy
 * cursors over the pieces it returns, and the virtio-net header parser
 * (net_hdr.c) over the bytes they hold.
 *
 * Guest memory is three memfd regions (like app/test/unit/
 * test_desc_chain.c, plus a third one with an mmap offset):
 *
 *   region  gpa               uaddr                    size
 *   R0      0x00000-0x04000   0x10000000-0x10004000    0x4000
 *   R1      0x04000-0x08000   0x10004000-0x10008000    0x4000
 *   (hole   0x08000-0x10000)
 *   R2      0x10000-0x12000   0x20000000-0x20002000    0x2000 (offset 0x1000)
 *
 * R0 and R1 are contiguous in guest physical and user address space but
 * mapped separately by the library, so a buffer across 0x4000 must come
 * back as two pieces. An input may also use a table of R0 and R1 only.
 *
 * Oracles: every piece lies inside one mapped region and its gpa
 * matches its address; pieces add up to the chain length and respect
 * max_segs; and a reference walker written from the spec (design.md,
 * iotlb.md), translating through a plain list of the IOTLB operations,
 * must agree on accept / miss / refuse and on the bytes described; for
 * packed chains also on the buffer id and descriptor count, refused
 * chains included (they are returned to the guest with them).
 * Known open bugs are steered around unless FUZZ_STRICT (the
 * fz_strict() call sites).
 *
 * Input: [cfg] then operations (see LLVMFuzzerTestOneInput()); cfg bit
 * 0 IOMMU, bit 1 two regions, bit 2 compliant offload flags, bit 3
 * 12-byte header, bits 4-7 log2 of the ring size. A walk's flag bit 3
 * walks a packed chain instead, in a ring smaller by flag bits 4-5
 * (packed sizes need not be powers of two). */

#include <errno.h>
#include <sys/mman.h>
#include <linux/virtio_net.h>

#include <rte_mbuf.h>

#define FUZZ_WITH_EAL
#include "../common/test_memfd.h"
#include "fuzz_common.h"
#include "desc_chain.h"
#include "iotlb.h"
#include "iotlb_miss.h"
#include "net_hdr.h"
#include "vhost_log.h"

#define NREG 3
#define ADDR_SPACE 0x14000ULL	/* GPAs/IOVAs the decoder aims at */
#define DESC_GPA 0x0		/* the ring's descriptor table, in R0 */
#define MAX_TABLE 256		/* ring sizes up to 256: 4 KiB at DESC_GPA */
#define MAX_IOTLB_OPS 512

static const struct {
	uint64_t gpa, uaddr, size, offset;
} layout[NREG] = {
	{ 0x00000, 0x10000000, 0x4000, 0 },
	{ 0x04000, 0x10004000, 0x4000, 0 },
	{ 0x10000, 0x20000000, 0x2000, 0x1000 },
};

/* One memory table, and our own copy of where its regions are. */
struct guest {
	struct vhost_mem_table *mem;
	uint32_t nregions;
	uint8_t *host[NREG];
};

static struct guest guests[2];	/* 3 regions, 2 regions */
static struct guest *g;		/* the one this input uses */
static struct vhost_device *dev;
static struct vhost_virtqueue vq;
static struct rte_mempool *pool;
static uint8_t shadow[NREG][0x4000];	/* expected memory after a write */

/* IOTLB operations of this input, oldest first: the reference
 * translation takes the newest one covering an address. */
static struct iotlb_op {
	uint64_t iova, last, uaddr;
	uint8_t perm;
	bool update;
} ops[MAX_IOTLB_OPS];
static unsigned int nops;

/* FUZZ_TRACE=1: one line per operation, to read a reproducer. */
static bool trace;
/* The library's IOTLB counters when this input began. */
static uint64_t evictions_before;
#define TRACE(...) do { if (trace) fprintf(stderr, "fuzz: " __VA_ARGS__); } while (0)

static int
map_guest(struct guest *gu, uint32_t nregions)
{
	struct vhost_user_memory m = { .nregions = nregions };
	int fds[NREG];

	for (uint32_t i = 0; i < nregions; i++) {
		fds[i] = test_memfd("fuzz-guest", layout[i].size + layout[i].offset, 0);
		if (fds[i] < 0)
			return -1;
		m.regions[i] = (struct vhost_user_mem_region){
			.guest_phys_addr = layout[i].gpa,
			.memory_size = layout[i].size,
			.userspace_addr = layout[i].uaddr,
			.mmap_offset = layout[i].offset,
		};
	}
	if (vhost_mem_table_map(&m, fds, &gu->mem, "fuzz") != 0)
		return -1;
	gu->nregions = nregions;
	for (uint32_t i = 0; i < nregions; i++) {
		const struct rte_vhost_mem_region *r = &gu->mem->regions[i];

		/* The bounds every piece is checked against: the region must
		 * be where its mapping and offset say, and wholly mapped. */
		if (r->host_user_addr != (uintptr_t)r->mmap_addr + layout[i].offset ||
		    r->mmap_size < layout[i].size + layout[i].offset || r->size != layout[i].size)
			return -1;
		gu->host[i] = (uint8_t *)(uintptr_t)r->host_user_addr;
	}
	return 0;
}

/* Region of ours holding [hva, hva + len), or -1. */
static int
region_of_hva(const uint8_t *hva, uint64_t len)
{
	for (uint32_t i = 0; i < g->nregions; i++) {
		uintptr_t off = (uintptr_t)hva - (uintptr_t)g->host[i];

		if ((uintptr_t)hva >= (uintptr_t)g->host[i] && off < layout[i].size &&
		    len <= layout[i].size - off)
			return (int)i;
	}
	return -1;
}

/* Write bytes at a guest physical address; bytes outside guest memory
 * are dropped, as a guest could not have written them either. */
static void
guest_write(uint64_t gpa, const void *src, size_t len)
{
	const uint8_t *s = src;

	for (size_t k = 0; k < len; k++, gpa++)
		for (uint32_t i = 0; i < g->nregions; i++)
			if (gpa - layout[i].gpa < layout[i].size)
				g->host[i][gpa - layout[i].gpa] = s[k];
}

/* ---- reference translation and walker ---- */

struct piece {
	const uint8_t *hva;
	uint64_t gpa;
	uint64_t len;
};

enum verdict { V_OK, V_MISS, V_REFUSED, V_TOO_MANY };

/* Guest physical: the region containing addr. */
static enum verdict
ref_xlate_gpa(uint64_t addr, uint64_t *len, struct piece *p)
{
	for (uint32_t i = 0; i < g->nregions; i++) {
		uint64_t off = addr - layout[i].gpa;

		if (addr >= layout[i].gpa && off < layout[i].size) {
			*len = RTE_MIN(*len, layout[i].size - off);
			*p = (struct piece){ g->host[i] + off, addr, *len };
			return V_OK;
		}
	}
	return V_REFUSED;
}

/* Does guest memory hold all of [uaddr, uaddr + size)? */
static bool
ref_uaddr_in_guest(uint64_t uaddr, uint64_t size)
{
	uint64_t done = 0;

	while (done < size) {
		uint64_t a = uaddr + done;
		uint32_t i;

		for (i = 0; i < g->nregions; i++)
			if (a >= layout[i].uaddr && a - layout[i].uaddr < layout[i].size)
				break;
		if (i == g->nregions)
			return false;
		done += layout[i].size - (a - layout[i].uaddr);
	}
	return true;
}

/* IOVA: newest operation covering addr; the piece ends where that
 * operation ends, where a newer one starts, or at the region's end. */
static enum verdict
ref_xlate_iova(uint64_t addr, uint64_t *len, uint8_t perm, struct piece *p)
{
	int k;
	uint64_t last, uaddr;

	for (k = (int)nops - 1; k >= 0; k--)
		if (ops[k].iova <= addr && addr <= ops[k].last)
			break;
	if (k < 0 || !ops[k].update)
		return V_MISS;
	if ((ops[k].perm & perm) != perm)
		return V_REFUSED;
	last = ops[k].last;
	for (unsigned int j = (unsigned int)k + 1; j < nops; j++)
		if (ops[j].iova > addr && ops[j].iova <= last)
			last = ops[j].iova - 1;
	if (*len - 1 > last - addr)
		*len = last - addr + 1;
	uaddr = ops[k].uaddr + (addr - ops[k].iova);
	for (uint32_t i = 0; i < g->nregions; i++) {
		uint64_t off = uaddr - layout[i].uaddr;

		if (uaddr >= layout[i].uaddr && off < layout[i].size) {
			*len = RTE_MIN(*len, layout[i].size - off);
			*p = (struct piece){ g->host[i] + off, layout[i].gpa + off, *len };
			return V_OK;
		}
	}
	return V_REFUSED;	/* mapped outside guest memory */
}

static enum verdict
ref_xlate(uint64_t addr, uint64_t *len, uint8_t perm, struct piece *p)
{
	return vhost_iommu_on(dev) ? ref_xlate_iova(addr, len, perm, p) :
		ref_xlate_gpa(addr, len, p);
}

/* Two pieces that continue each other in both our and guest physical
 * addresses describe the same bytes as one piece. */
static bool
continues(const struct piece *a, const uint8_t *hva, uint64_t gpa)
{
	return a->hva + a->len == hva && a->gpa + a->len == gpa;
}

struct ref_chain {
	struct piece p[VHOST_MAX_PKT_SEGS + 1];
	unsigned int n;
	uint64_t len;
};

/* With the IOMMU, the library may cut pieces at IOTLB entry ends the
 * reference does not know about (merges), so pieces are compared after
 * joining; without it, the cuts are the region ends, exactly. */
static bool
ref_add(struct ref_chain *rc, const struct piece *p, unsigned int room, bool join)
{
	if (join && rc->n > 0 && continues(&rc->p[rc->n - 1], p->hva, p->gpa)) {
		rc->p[rc->n - 1].len += p->len;
		return true;
	}
	if (rc->n >= room)
		return false;
	rc->p[rc->n++] = *p;
	return true;
}

static struct vring_desc ref_table[VHOST_MAX_RING_SIZE];

/* One direct descriptor's buffer, in either layout. */
static enum verdict
ref_element(uint64_t addr, uint32_t len, uint16_t flags, bool writes,
	    unsigned int room, struct ref_chain *rc)
{
	const uint8_t perm = writes ? VHOST_ACCESS_WO : VHOST_ACCESS_RO;

	if (!!(flags & VRING_DESC_F_WRITE) != writes)
		return V_REFUSED;
	rc->len += len;
	if (rc->len > (uint64_t)VHOST_MAX_PKT_LEN * VHOST_MAX_MRG_CHAINS)
		return V_REFUSED;
	if (len != 0 && addr + (len - 1) < addr)
		return V_REFUSED;
	for (uint64_t done = 0; done < len;) {
		uint64_t n = len - done;
		struct piece p;
		enum verdict v = ref_xlate(addr + done, &n, perm, &p);

		if (v != V_OK)
			return v;
		if (!ref_add(rc, &p, room, vhost_iommu_on(dev)))
			return V_TOO_MANY;
		done += n;
	}
	return V_OK;
}

/* Gather a table of len bytes at addr into ref_table. */
static enum verdict
ref_gather(uint64_t addr, uint32_t len)
{
	uint64_t done = 0;

	if (addr > UINT64_MAX - (len - 1))
		return V_REFUSED;
	while (done < len) {
		uint64_t n = len - done;
		struct piece p;
		enum verdict v = ref_xlate(addr + done, &n, VHOST_ACCESS_RO, &p);

		if (v != V_OK)
			return v;
		memcpy((uint8_t *)ref_table + done, p.hva, n);
		done += n;
	}
	return V_OK;
}

static enum verdict
ref_walk(uint16_t head, bool writes, unsigned int room, struct ref_chain *rc)
{
	const struct vring_desc *table = vq.desc;
	uint32_t size = vq.size, idx = head, seen = 0;
	bool indirect = false;

	rc->n = 0;
	rc->len = 0;
	for (;;) {
		struct vring_desc d;

		if (idx >= size || ++seen > size)
			return V_REFUSED;	/* out of the table, or a loop */
		memcpy(&d, &table[idx], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			enum verdict v;

			if (indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(d) != 0 || d.len / sizeof(d) > VHOST_MAX_RING_SIZE)
				return V_REFUSED;
			/* Gather the table: it may span regions or entries;
			 * one wrapping around the address space is refused
			 * before any of it is translated. */
			v = ref_gather(d.addr, d.len);
			if (v != V_OK)
				return v;
			table = ref_table;
			size = d.len / sizeof(d);
			idx = 0;
			seen = 0;
			indirect = true;
			continue;
		}
		enum verdict v = ref_element(d.addr, d.len, d.flags, writes, room, rc);

		if (v != V_OK)
			return v;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return V_OK;
		idx = d.next;
	}
}

/* A packed chain at ring position pos (virtio 1.1, 2.7): consecutive
 * ring descriptors while NEXT, at most the ring's size, or one indirect
 * descriptor alone in its list, whose table entries count only their
 * WRITE flag. The buffer id is the list's last descriptor's; *id and
 * *ndesc are found for a refused chain too. */
static enum verdict
ref_walk_packed(uint16_t pos, bool writes, unsigned int room, struct ref_chain *rc,
		uint16_t *id, uint16_t *ndesc)
{
	const struct vring_packed_desc *ring = vq.desc_packed;
	enum verdict v = V_OK;
	uint32_t idx = pos;

	rc->n = 0;
	rc->len = 0;
	*ndesc = 0;
	for (;;) {
		struct vring_packed_desc d;

		memcpy(&d, &ring[idx], sizeof(d));
		(*ndesc)++;
		*id = d.id;
		if (v == V_OK && (d.flags & VRING_DESC_F_INDIRECT)) {
			if (*ndesc != 1 || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(d) != 0 || d.len / sizeof(d) > VHOST_MAX_RING_SIZE)
				v = V_REFUSED;
			else
				v = ref_gather(d.addr, d.len);
			for (uint32_t i = 0; v == V_OK && i < d.len / sizeof(d); i++) {
				const struct vring_packed_desc *t =
					(const void *)&ref_table[i];

				/* A Tx table's WRITE flags do not count (DPDK's
				 * virtio presets them); an Rx table's do. */
				v = ref_element(t->addr, t->len,
						(uint16_t)(writes ? (t->flags & VRING_DESC_F_WRITE) : 0),
						writes, room, rc);
			}
		} else if (v == V_OK) {
			v = ref_element(d.addr, d.len, d.flags & VRING_DESC_F_WRITE,
					writes, room, rc);
		}
		if (v == V_MISS)
			return v;	/* retried later: nothing to return */
		if (!(d.flags & VRING_DESC_F_NEXT))
			return v;
		if (*ndesc == vq.size)
			return V_REFUSED;	/* no end within the ring */
		idx = idx + 1 == vq.size ? 0 : idx + 1;
	}
}

/* ---- checks of one walk ---- */

static struct vhost_seg segs[VHOST_MAX_PKT_SEGS + 1];
static const struct vhost_seg canary = { (uint8_t *)(uintptr_t)0xc0ffee, 0xabcd, 0x5eed };

static void
check_pieces(const struct vhost_chain *c, uint16_t first, uint16_t head)
{
	uint64_t total = 0;

	FZ_CHECK(c->head == head, "chain head %u, walked %u", c->head, head);
	for (uint16_t i = first; i < first + c->nsegs; i++) {
		const struct vhost_seg *s = &segs[i];
		int r = region_of_hva(s->hva, s->len);

		FZ_CHECK(s->len > 0, "piece %u is empty", i);
		FZ_CHECK(r >= 0, "piece %u: %p + %u is not inside one guest memory region",
			 i, (void *)s->hva, s->len);
		/* The gpa given for dirty logging is the one of those bytes. */
		FZ_CHECK(s->gpa - layout[r].gpa == (uint64_t)(s->hva - g->host[r]),
			 "piece %u: gpa 0x%lx does not match its address (region %d)", i, s->gpa, r);
		total += s->len;
	}
	FZ_CHECK(total == c->len, "pieces hold %lu bytes, chain length %u", total, c->len);
}

/* Library pieces, joined like the reference joins its own. */
static unsigned int
join_lib(uint16_t first, uint16_t n, struct piece *out, bool join)
{
	unsigned int k = 0;

	for (uint16_t i = first; i < first + n; i++) {
		if (join && k > 0 && continues(&out[k - 1], segs[i].hva, segs[i].gpa)) {
			out[k - 1].len += segs[i].len;
			continue;
		}
		out[k++] = (struct piece){ segs[i].hva, segs[i].gpa, segs[i].len };
	}
	return k;
}

static void
compare_with_ref(int ret, enum verdict want, const struct ref_chain *rc,
		 const struct vhost_chain *c, uint16_t first, uint64_t timeouts_before)
{
	const bool iommu = vhost_iommu_on(dev);
	static struct piece lib[VHOST_MAX_PKT_SEGS + 1];
	unsigned int n;

	/* Finer cuts can only make the library run out of pieces sooner. */
	if (iommu && ret == -E2BIG)
		return;
	/* A miss unanswered for 500 ms becomes a refusal (slow machine). */
	if (want == V_MISS && ret == -EFAULT &&
	    vq.stats.v[VHOST_STAT_IOTLB_MISS_TIMEOUTS] != timeouts_before)
		return;
	/* The IOTLB is a cache: an entry it retired (its cap, or too many
	 * sub-page entries in one page) is asked again. The reference keeps
	 * every mapping, so whatever it expects, a miss is right once
	 * anything was retired. */
	if (iommu && ret == -EAGAIN && dev->iotlb.evictions != evictions_before)
		return;
	switch (want) {
	case V_OK:
		FZ_CHECK(ret == 0, "library refused a valid chain: %d", ret);
		break;
	case V_MISS:
		FZ_CHECK(ret == -EAGAIN, "IOTLB miss expected, library returned %d", ret);
		return;
	case V_TOO_MANY:
		FZ_CHECK(ret == -E2BIG, "more pieces than max_segs expected, library returned %d", ret);
		return;
	case V_REFUSED:
		FZ_CHECK(ret < 0 && ret != -EAGAIN, "invalid chain expected, library returned %d", ret);
		return;
	}
	FZ_CHECK(c->len == rc->len, "chain length %u, reference %lu", c->len, rc->len);
	n = join_lib(first, c->nsegs, lib, iommu);
	FZ_CHECK(n == rc->n, "%u pieces, reference %u", n, rc->n);
	for (unsigned int i = 0; i < n; i++)
		FZ_CHECK(lib[i].hva == rc->p[i].hva && lib[i].gpa == rc->p[i].gpa &&
			 lib[i].len == rc->p[i].len,
			 "piece %u: %p gpa 0x%lx len %lu, reference %p 0x%lx %lu", i,
			 (const void *)lib[i].hva, lib[i].gpa, lib[i].len,
			 (const void *)rc->p[i].hva, rc->p[i].gpa, rc->p[i].len);
}

static uint8_t pattern[1 << 16];	/* constant: inputs must replay alike */
static uint8_t expect[1 << 16];
static uint8_t readback[1 << 16];

/* Write through a cursor in chunks, and the same bytes by hand into a
 * copy of guest memory: both must end up equal. */
static void
check_cursor_write(uint16_t first, const struct vhost_chain *c, uint8_t chunk)
{
	struct vhost_seg_cursor cur;
	uint64_t want = RTE_MIN((uint64_t)c->len + chunk % 7, sizeof(pattern));
	uint64_t done = 0, pos = 0;
	uint32_t step = 1 + chunk * 13u;

	for (uint32_t i = 0; i < g->nregions; i++)
		memcpy(shadow[i], g->host[i], layout[i].size);
	for (uint16_t i = first; i < first + c->nsegs && pos < want; i++) {
		int r = region_of_hva(segs[i].hva, segs[i].len);
		uint64_t n = RTE_MIN((uint64_t)segs[i].len, want - pos);

		memcpy(shadow[r] + (segs[i].hva - g->host[r]), pattern + pos, n);
		pos += n;
	}
	vhost_cursor_init(&cur, segs + first, c->nsegs);
	while (done < want) {
		uint32_t n = (uint32_t)RTE_MIN((uint64_t)step, want - done);
		uint32_t got = vhost_cursor_write(&cur, pattern + done, n);
		/* Not nested in one RTE_MIN: its locals would shadow. */
		uint64_t room = (uint64_t)c->len - RTE_MIN(done, (uint64_t)c->len);

		FZ_CHECK(got == RTE_MIN((uint64_t)n, room),
			 "cursor wrote %u of %u at %lu (chain %u)", got, n, done, c->len);
		done += n;
	}
	for (uint32_t i = 0; i < g->nregions; i++)
		FZ_CHECK(memcmp(shadow[i], g->host[i], layout[i].size) == 0,
			 "cursor write left region %u different from the pieces' bytes", i);
}

/* Read through a cursor in chunks; compare with the pieces read flat. */
static uint64_t
check_cursor_read(uint16_t first, const struct vhost_chain *c, uint8_t chunk)
{
	struct vhost_seg_cursor cur;
	uint64_t want = RTE_MIN((uint64_t)c->len, sizeof(readback)), pos = 0, done = 0;
	uint32_t step = 1 + chunk * 13u;

	for (uint16_t i = first; i < first + c->nsegs && pos < want; i++) {
		uint64_t n = RTE_MIN((uint64_t)segs[i].len, want - pos);

		memcpy(expect + pos, segs[i].hva, n);
		pos += n;
	}
	vhost_cursor_init(&cur, segs + first, c->nsegs);
	while (done < want) {
		uint32_t n = (uint32_t)RTE_MIN((uint64_t)step, want - done);

		FZ_CHECK(vhost_cursor_read(&cur, readback + done, n) == n,
			 "cursor read short at %lu of %u", done, c->len);
		done += n;
	}
	FZ_CHECK(memcmp(expect, readback, want) == 0, "cursor read bytes differ from the pieces");
	return want;
}

/* ---- virtio-net header on an mbuf whose data is on the heap ---- */

static void
free_ext(void *addr, void *opaque)
{
	free(addr);
	free(opaque);	/* the shinfo itself */
}

/* An mbuf segment whose buffer is exactly len bytes of malloc()ed
 * memory: AddressSanitizer sees any access past the packet. */
static struct rte_mbuf *
heap_seg(const uint8_t *data, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_mbuf_ext_shared_info *sh = malloc(sizeof(*sh));
	uint8_t *buf = malloc(len ? len : 1);

	if (m == NULL || sh == NULL || buf == NULL)
		abort();
	memcpy(buf, data, len);
	sh->free_cb = free_ext;
	sh->fcb_opaque = sh;
	rte_mbuf_ext_refcnt_set(sh, 1);
	rte_pktmbuf_attach_extbuf(m, buf, 0, len, sh);
	m->data_len = len;
	m->pkt_len = len;
	return m;
}

static void
check_net_hdr(const uint8_t *pkt, uint64_t pkt_len, struct fz_in *in, bool compliant)
{
	struct virtio_net_hdr_mrg_rxbuf out;
	struct virtio_net_hdr hdr;
	uint8_t split = fz_u8(in);
	uint64_t ol = fz_u64(in);
	uint8_t l2 = fz_u8(in), l3 = fz_u8(in), l4 = fz_u8(in);
	struct rte_mbuf *m, *last;
	uint16_t len = (uint16_t)RTE_MIN(pkt_len - dev->hdr_len, 2048u);
	uint16_t cut1 = split % 3 ? (uint16_t)(len * (split >> 2) / 64) : len;
	uint16_t cut2 = split % 3 == 2 ? (uint16_t)(cut1 + (len - cut1) / 2) : len;
	int ret;

	memcpy(&hdr, pkt, sizeof(hdr));
	pkt += dev->hdr_len;
	/* One to three segments, so checksums and parsing cross them. */
	m = heap_seg(pkt, RTE_MIN(cut1, len));
	last = m;
	if (cut1 < len) {
		last->next = heap_seg(pkt + cut1, cut2 - cut1);
		last = last->next;
		m->nb_segs++;
		if (cut2 < len) {
			last->next = heap_seg(pkt + cut2, len - cut2);
			m->nb_segs++;
		}
	}
	m->pkt_len = len;
	ret = vhost_net_hdr_to_mbuf(&hdr, m, compliant);
	FZ_CHECK(ret == 0 || ret == -EINVAL, "vhost_net_hdr_to_mbuf: %d", ret);
	if (ret == 0 && (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		FZ_CHECK((uint32_t)hdr.csum_start + hdr.csum_offset + 2 <= len,
			 "accepted a checksum at %u+%u in %u bytes", hdr.csum_start,
			 hdr.csum_offset, len);
	FZ_CHECK(m->pkt_len == len, "pkt_len changed from %u to %u", len, m->pkt_len);

	/* The other direction, with the offload requests of an application
	 * (it may write the IPv4 header checksum into the packet). */
	m->ol_flags = (m->ol_flags & RTE_MBUF_F_EXTERNAL) |
		(ol & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG |
		       RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6));
	m->l2_len = l2;
	m->l3_len = l3 | ((uint16_t)(split & 1) << 8);
	m->l4_len = l4;
	m->tso_segsz = (uint16_t)(ol >> 48);
	/* Open bug: net_hdr.c checks 20 bytes of IPv4 header but
	 * rte_ipv4_cksum() sums IHL * 4 (up to 60) bytes. */
	if (!fz_strict() && (m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM) &&
	    m->data_len >= m->l2_len + 20u &&
	    m->data_len < m->l2_len + 4u * (rte_pktmbuf_mtod_offset(m, uint8_t *, m->l2_len)[0] & 0xf))
		m->ol_flags &= ~RTE_MBUF_F_TX_IP_CKSUM;
	vhost_net_hdr_from_mbuf(m, &out);
	rte_pktmbuf_free(m);
}

/* ---- input decoding ---- */

/* A guest address: mostly inside the modelled space, sometimes near the
 * top of the 64-bit space (wrap-around), sometimes anything. */
static uint64_t
decode_addr(struct fz_in *in, uint8_t mode)
{
	switch (mode % 4) {
	case 2:
		return UINT64_MAX - fz_u16(in);
	case 3:
		return fz_u64(in);
	default:
		return fz_u32(in) % ADDR_SPACE;
	}
}

static void
decode_desc(struct fz_in *in, struct vring_desc *d)
{
	uint8_t mode = fz_u8(in);
	uint8_t next;

	d->addr = decode_addr(in, mode);
	d->len = (mode >> 2) % 4 == 3 ? fz_u32(in) : fz_u16(in);
	d->flags = fz_u8(in);
	next = fz_u8(in);
	d->next = next == 0xff ? fz_u16(in) : next;
}

static void
op_iotlb(struct fz_in *in, bool update)
{
	static const uint8_t perms[8] = { 1, 2, 3, 3, 1, 2, 0, 5 };
	uint8_t mode = fz_u8(in);
	uint64_t iova = decode_addr(in, mode & 3);
	uint64_t size = (mode >> 2) % 4 == 3 ? fz_u64(in) : 1 + fz_u16(in);
	uint8_t sel = fz_u8(in);
	uint64_t uaddr = sel % 4 < NREG ? layout[sel % 4].uaddr + fz_u16(in) % 0x4000 : fz_u64(in);
	uint8_t perm = perms[(sel >> 2) % 8];
	struct iotlb_op *o = &ops[nops];

	if (nops == MAX_IOTLB_OPS)
		return;
	if (!update) {
		uint64_t last = iova + (size - 1);

		if (size == 0)
			return;
		vhost_iotlb_invalidate(&dev->iotlb, iova, size);
		TRACE("iotlb invalidate iova 0x%lx size 0x%lx\n", iova, size);
		*o = (struct iotlb_op){ .iova = iova, .last = last < iova ? UINT64_MAX : last };
		nops++;
		return;
	}
	bool ranges_ok = size != 0 && iova + (size - 1) >= iova &&
		uaddr + (size - 1) >= uaddr;
	bool valid = ranges_ok && perm >= 1 && perm <= VHOST_ACCESS_RW;
	/* As the UPDATE handler: an update not wholly in guest memory is
	 * refused, and changes nothing. */
	bool inmem = ranges_ok && ref_uaddr_in_guest(uaddr, size);
	int want = !ranges_ok ? -EINVAL : !inmem ? -EFAULT : !valid ? -EINVAL : 0;
	int ret = vhost_iotlb_map_mem(dev, iova, size, uaddr, perm);

	FZ_CHECK(ret == want, "iotlb update: %d, expected %d", ret, want);
	valid = want == 0;
	TRACE("iotlb update iova 0x%lx size 0x%lx uaddr 0x%lx perm %u: %d\n",
	      iova, size, uaddr, perm, ret);
	if (valid) {
		*o = (struct iotlb_op){ .iova = iova, .last = iova + (size - 1),
			.uaddr = uaddr, .perm = perm, .update = true };
		nops++;
		/* What the library's UPDATE handler does with pending misses. */
		vhost_iotlb_resolve_pending(&vq, iova, size, perm);
	}
}

/* Walk head in one direction and check the result against the
 * reference. Returns the library's result; on success the pieces are
 * segs[first .. first + c->nsegs). */
static int
walk_checked(uint16_t head, bool writes, uint16_t max_segs, uint16_t first,
	     struct vhost_chain *cp, bool packed)
{
	uint16_t ref_id = 0, ref_ndesc = 0;
	uint16_t nsegs = first;
	uint64_t bad_before = vq.stats.v[VHOST_STAT_BAD_CHAINS];
	uint64_t timeouts_before = vq.stats.v[VHOST_STAT_IOTLB_MISS_TIMEOUTS];
	static struct ref_chain rc;
	struct vhost_chain c = { 0 };
	enum verdict want;
	int ret;

	for (uint16_t i = 0; i <= VHOST_MAX_PKT_SEGS; i++)
		segs[i] = canary;
	if (packed) {
		want = ref_walk_packed(head, writes, max_segs - first, &rc,
				       &ref_id, &ref_ndesc);
		ret = vhost_walk_chain_packed(dev, &vq, head,
				writes ? VHOST_CHAIN_DEVICE_WRITES : VHOST_CHAIN_DEVICE_READS,
				segs, &nsegs, max_segs, &c);
	} else {
		want = ref_walk(head, writes, max_segs - first, &rc);
		ret = vhost_walk_chain(dev, &vq, head,
				writes ? VHOST_CHAIN_DEVICE_WRITES : VHOST_CHAIN_DEVICE_READS,
				segs, &nsegs, max_segs, &c);
	}
	/* What a chain is returned to the guest with, refused or not:
	 * for a packed one, the id and count the spec gives. */
	if (packed && ret != -EAGAIN && want != V_MISS &&
	    !(vhost_iommu_on(dev) && ret == -E2BIG))
		FZ_CHECK(c.id == ref_id && c.ndesc == ref_ndesc,
			 "packed chain at %u: id %u ndesc %u, reference %u %u (result %d)",
			 head, c.id, c.ndesc, ref_id, ref_ndesc, ret);
	TRACE("walk %s head %u %s max %u first %u (ring size %u, %s): library %d, reference %s, %u pieces\n",
	      packed ? "packed" : "split", head,
	      writes ? "device-writes" : "device-reads", max_segs, first, vq.size,
	      vhost_iommu_on(dev) ? "iommu" : "gpa", ret,
	      (const char *[]){ "ok", "miss", "refused", "too many" }[want], ret == 0 ? c.nsegs : 0);
	for (uint16_t i = first; trace && ret == 0 && i < first + c.nsegs; i++)
		TRACE("  piece gpa 0x%lx len %u\n", segs[i].gpa, segs[i].len);
	FZ_CHECK(memcmp(&segs[max_segs], &canary, sizeof(canary)) == 0,
		 "walker wrote piece %u past max_segs", max_segs);
	for (uint16_t i = 0; i < first; i++)
		FZ_CHECK(memcmp(&segs[i], &canary, sizeof(canary)) == 0,
			 "walker overwrote the caller's piece %u", i);
	/* Refused chains are counted; misses are retried, not counted. */
	FZ_CHECK(vq.stats.v[VHOST_STAT_BAD_CHAINS] ==
		 bad_before + (ret < 0 && ret != -EAGAIN),
		 "bad chain counter %lu -> %lu for result %d", bad_before,
		 vq.stats.v[VHOST_STAT_BAD_CHAINS], ret);
	if (ret < 0) {
		FZ_CHECK(nsegs == first, "failed walk moved nsegs %u -> %u", first, nsegs);
		compare_with_ref(ret, want, &rc, &c, first, timeouts_before);
		return ret;
	}
	FZ_CHECK(nsegs == first + c.nsegs && nsegs <= max_segs,
		 "nsegs %u after %u + %u pieces (max %u)", nsegs, first, c.nsegs, max_segs);
	check_pieces(&c, first, head);
	compare_with_ref(ret, want, &rc, &c, first, timeouts_before);
	*cp = c;
	return 0;
}

/* [head (u8, 0xff: u16 follows), flags, max_segs, chunk] and, after a
 * device-reads walk whose chain holds more than a header, the mbuf
 * bytes of check_net_hdr(). The chain is walked both ways: the asked
 * direction is then copied through the cursors. */
static void
op_walk(struct fz_in *in, bool compliant)
{
	uint8_t h = fz_u8(in);
	uint16_t head = h == 0xff ? fz_u16(in) : h;
	uint8_t f = fz_u8(in), mx = fz_u8(in), chunk = fz_u8(in);
	bool writes = f & 1;
	uint16_t max_segs = mx == 0 ? VHOST_MAX_PKT_SEGS : mx;
	uint16_t first = RTE_MIN((uint16_t)((f >> 1) & 3), max_segs);
	bool packed = f & 8;
	uint16_t split_size = vq.size;
	struct vhost_chain c;
	int ret;

	if (packed) {
		/* Any size: shrink the ring by 0-3, at least 1 entry; the
		 * position must be inside it (the datapath's own). */
		vq.size = (uint16_t)RTE_MAX(1, vq.size - ((f >> 4) & 3));
		head %= vq.size;
	}
	walk_checked(head, !writes, max_segs, first, &c, packed);
	ret = walk_checked(head, writes, max_segs, first, &c, packed);
	vq.size = split_size;
	if (ret < 0)
		return;
	if (writes) {
		check_cursor_write(first, &c, chunk);
	} else {
		uint64_t got = check_cursor_read(first, &c, chunk);

		if (got > dev->hdr_len)
			check_net_hdr(readback, got, in, compliant);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	/* EAL for the timer (IOTLB miss timeouts) and the mbuf pool. */
	fz_eal_init((*argv)[0]);
	pool = rte_pktmbuf_pool_create("fuzz_pool", 255, 0, 0, 128, SOCKET_ID_ANY);
	dev = calloc(1, sizeof(*dev));
	if (pool == NULL || dev == NULL || map_guest(&guests[0], 3) != 0 ||
	    map_guest(&guests[1], 2) != 0 ||
	    vhost_iotlb_init(&dev->iotlb, VHOST_IOTLB_DEFAULT_ENTRIES) != 0) {
		fprintf(stderr, "fuzz_desc_chain: set-up failed\n");
		exit(1);
	}
	strcpy(dev->ifname, "fuzz");
	trace = getenv("FUZZ_TRACE") != NULL;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t cfg = fz_u8(&in);
	struct vring_desc *indirect_copy = vq.indirect_copy;
	uint32_t indirect_copy_len = vq.indirect_copy_len;
	bool compliant = cfg & 4;

	/* A fresh queue, keeping the allocations of earlier inputs. */
	memset(&vq, 0, sizeof(vq));
	vhost_iotlb_flush(&dev->iotlb);
	evictions_before = dev->iotlb.evictions;
	vq.indirect_copy = indirect_copy;
	vq.indirect_copy_len = indirect_copy_len;
	vhost_gate_init(&vq.gate);
	rte_rwlock_init(&vq.iotlb_lock);
	vq.kickfd = vq.callfd = vq.errfd = VHOST_FD_UNSET;
	nops = 0;

	g = &guests[(cfg >> 1) & 1];
	for (uint32_t i = 0; i < g->nregions; i++) {
		FZ_CHECK(g->mem->regions[i].host_user_addr == (uintptr_t)g->host[i] &&
			 g->mem->nregions == g->nregions, "memory table changed");
		memset(g->host[i], 0, layout[i].size);
	}
	dev->mem = g->mem;
	dev->features = (cfg & 1) ? 1ULL << VIRTIO_F_ACCESS_PLATFORM : 0;
	dev->hdr_len = (cfg & 8) ? sizeof(struct virtio_net_hdr_mrg_rxbuf) :
		sizeof(struct virtio_net_hdr);
	dev->backend_req_fd = -1;	/* misses are recorded, never sent */
	vq.size = (uint16_t)(1u << ((cfg >> 4) % 9));
	vq.desc = (struct vring_desc *)(void *)(g->host[0] + DESC_GPA);
	vq.access_ok = true;
	vq.enabled = true;

	while (!fz_empty(&in)) {
		uint8_t op = fz_u8(&in);
		struct vring_desc d;
		uint8_t buf[256];
		uint64_t gpa;
		uint8_t n;

		switch (op % 8) {
		case 0: case 1:		/* a descriptor of the ring's table */
			n = fz_u8(&in);
			decode_desc(&in, &d);
			TRACE("ring desc %u: addr 0x%lx len 0x%x flags 0x%x next %u\n",
			      n, (uint64_t)d.addr, d.len, d.flags, d.next);
			guest_write(DESC_GPA + (uint64_t)n * sizeof(d), &d, sizeof(d));
			break;
		case 2:			/* a descriptor anywhere (indirect tables) */
			gpa = fz_u32(&in) % ADDR_SPACE;
			decode_desc(&in, &d);
			TRACE("desc at 0x%lx: addr 0x%lx len 0x%x flags 0x%x next %u\n",
			      gpa, (uint64_t)d.addr, d.len, d.flags, d.next);
			guest_write(gpa, &d, sizeof(d));
			break;
		case 3:			/* packet bytes (headers) */
			gpa = fz_u32(&in) % ADDR_SPACE;
			n = fz_u8(&in);
			fz_bytes(&in, buf, n);
			guest_write(gpa, buf, n);
			break;
		case 4:
			op_iotlb(&in, true);
			break;
		case 5:
			op_iotlb(&in, false);
			break;
		default:
			op_walk(&in, compliant);
			break;
		}
	}
	return 0;
}
