/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-net driver helpers over an fm_vring: TX packets with their
 * virtio_net_hdr_mrg_rxbuf in several descriptor layouts, RX buffers, and
 * reading received packets back from guest memory.
 *
 * All helpers assume VIRTIO_F_VERSION_1, where the header is always the
 * 12-byte virtio_net_hdr_mrg_rxbuf whatever MRG_RXBUF says.
 */
#ifndef FM_NET_H
#define FM_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "fm_mem.h"
#include "fm_vring.h"

#define FM_NET_HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr_mrg_rxbuf))
/* What an untouched RX buffer byte holds, to see what the device wrote. */
#define FM_NET_POISON 0xa5

enum fm_tx_layout {
	FM_TX_ONE_DESC,  /* header and packet in one descriptor */
	FM_TX_HDR_APART, /* header alone, then the packet in one descriptor */
	FM_TX_CHAINED,   /* header alone, then the packet in seg_len pieces */
	FM_TX_INDIRECT,  /* as FM_TX_CHAINED, through an indirect table */
};

/*
 * Copies a zeroed header and pkt into region `region` and posts them in
 * the given layout (seg_len only matters for CHAINED and INDIRECT).
 * Returns the head id or -errno.
 */
int fm_net_post_tx(struct fm_vring *vr, struct fm_mem *mem, int region,
		const void *pkt, uint32_t len, enum fm_tx_layout layout,
		uint32_t seg_len);

/*
 * Posts one device-writable RX buffer of nsegs pieces of seg_len bytes
 * (a direct chain, or an indirect table when indirect), filled with
 * FM_NET_POISON. Returns the head id or -errno.
 */
int fm_net_post_rx(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint32_t seg_len, int nsegs, bool indirect);

/*
 * Copies len bytes at addr, a buffer address as the driver wrote it (a
 * guest physical address, or an IOVA behind the vIOMMU), into out.
 * Returns 0, or -1 if that range is not mapped.
 */
typedef int (*fm_net_reader)(const void *ctx, uint64_t addr, void *out,
		uint32_t len);

/*
 * fm_net_read_chain and fm_net_recv for any buffer address: each piece is
 * read through read(ctx, ...).
 */
int fm_net_read_chain_with(fm_net_reader read, const void *ctx,
		const struct fm_chain *c, uint32_t len, uint8_t *out);
int fm_net_recv_with(struct fm_vring *vr, fm_net_reader read, const void *ctx,
		bool mergeable, struct virtio_net_hdr_mrg_rxbuf *hdr,
		uint8_t *out, uint32_t cap, int *nbufs);

/*
 * Copies the first len bytes stored in a chain's segments into out.
 * Returns len, or -1 if the chain holds fewer bytes or is not in guest
 * memory.
 */
int fm_net_read_chain(const struct fm_mem *mem, const struct fm_chain *c,
		uint32_t len, uint8_t *out);

/*
 * Reads one received packet: pops the used element(s) it occupies (with
 * mergeable buffers, num_buffers of them), copies the header to *hdr and
 * the packet after it to out. *nbufs gets the number of used elements
 * popped. Returns the packet length or -1 on any inconsistency.
 */
int fm_net_recv(struct fm_vring *vr, const struct fm_mem *mem,
		bool mergeable, struct virtio_net_hdr_mrg_rxbuf *hdr,
		uint8_t *out, uint32_t cap, int *nbufs);

#endif /* FM_NET_H */
