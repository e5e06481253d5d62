/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdio.h>

#include "vvi_log.h"
#include "vvi_stats.h"

static uint64_t
rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

int
vvi_stats_get(struct rte_eth_dev *eth, struct rte_eth_stats *st)
{
	const struct vvi_dev *d = eth->data->dev_private;

	for (uint16_t q = 0; q < VVI_MAX_QUEUE_PAIRS; q++) {
		const struct vvi_rxq *rx = d->rxq[q];
		const struct vvi_txq *tx = d->txq[q];

		if (rx) {
			st->ipackets += rx->st.packets;
			st->ibytes += rx->st.bytes;
			st->ierrors += rx->st.errors;
			st->rx_nombuf += rx->st.nombuf;
			if (q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
				st->q_ipackets[q] = rx->st.packets;
				st->q_ibytes[q] = rx->st.bytes;
				st->q_errors[q] = rx->st.errors;
			}
		}
		if (tx) {
			st->opackets += tx->st.packets;
			st->obytes += tx->st.bytes;
			st->oerrors += tx->st.errors;
			if (q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
				st->q_opackets[q] = tx->st.packets;
				st->q_obytes[q] = tx->st.bytes;
			}
		}
	}
	return 0;
}

int
vvi_stats_reset(struct rte_eth_dev *eth)
{
	struct vvi_dev *d = eth->data->dev_private;

	for (uint16_t q = 0; q < VVI_MAX_QUEUE_PAIRS; q++) {
		if (d->rxq[q])
			d->rxq[q]->st = (struct vvi_qstats){ 0 };
		if (d->txq[q])
			d->txq[q]->st = (struct vvi_qstats){ 0 };
	}
	return 0;
}

/* IOMMU and attack counters: cumulative, never reset (other threads
 * update them). */
#define XS(name, field) { name, offsetof(struct vvi_dev, field) }
static const struct {
	const char *name;
	size_t off;
} xstats[] = {
	XS("vhost_user_requests", chan.requests),
	XS("iommu_updates", iommu.updates),
	XS("iommu_invalidates", iommu.invalidates),
	XS("iommu_misses", iommu.misses),
	XS("iommu_misses_refused", iommu.misses_refused),
	XS("iommu_miss_batches", iommu.miss_batches),
	XS("iommu_misses_by_thread", iommu.thread_misses),
	XS("iommu_invalidate_batches", iommu.invalidate_batches),
	XS("iommu_errors", iommu.errors),
	XS("iommu_scatter_windows", iommu.windows),
	XS("attack_sent", attack.sent),
	XS("attack_completed", attack.completed),
	XS("attack_written", attack.written),
	XS("attack_wellformed_tx", attack.wellformed_tx),
	XS("attack_straddle_ok", attack.straddle_ok),
	XS("attack_straddle_bad", attack.straddle_bad),
	XS("attack_guard_bad", attack.guard_bad),
	XS("attack_canary_bad", attack.canary_bad),
	XS("attack_held", attack.held),
	XS("attack_held_taken", attack.held_taken),
};

int
vvi_xstats_get(struct rte_eth_dev *eth, struct rte_eth_xstat *xs,
	unsigned int n)
{
	struct vvi_dev *d = eth->data->dev_private;

	if (xs == NULL || n < RTE_DIM(xstats))
		return RTE_DIM(xstats);
	vvi_attack_check(&d->attack);
	for (unsigned int i = 0; i < RTE_DIM(xstats); i++) {
		xs[i].id = i;
		xs[i].value = rd(RTE_PTR_ADD(d, xstats[i].off));
	}
	return RTE_DIM(xstats);
}

int
vvi_xstats_get_names(struct rte_eth_dev *eth,
	struct rte_eth_xstat_name *names, unsigned int n)
{
	RTE_SET_USED(eth);
	if (names == NULL || n < RTE_DIM(xstats))
		return RTE_DIM(xstats);
	for (unsigned int i = 0; i < RTE_DIM(xstats); i++)
		snprintf(names[i].name, sizeof(names[i].name), "%s",
			xstats[i].name);
	return RTE_DIM(xstats);
}

void
vvi_log_summary(const struct vvi_dev *d)
{
	const struct vvi_iommu *io = &d->iommu;
	const struct vvi_attack *at = &d->attack;
	uint64_t rx = 0, tx = 0;

	for (uint16_t q = 0; q < VVI_MAX_QUEUE_PAIRS; q++) {
		rx += d->rxq[q] ? d->rxq[q]->st.packets : 0;
		tx += d->txq[q] ? d->txq[q]->st.packets : 0;
	}
	VVI_LOG(INFO, "%s: rx %" PRIu64 " tx %" PRIu64 " packets; iommu=%s: "
		"updates %" PRIu64 " invalidates %" PRIu64 " misses %" PRIu64
		" (refused %" PRIu64 ") errors %" PRIu64, d->name, rx, tx,
		vvi_iommu_mode_name(d->args.iommu), rd(&io->updates),
		rd(&io->invalidates), rd(&io->misses), rd(&io->misses_refused),
		rd(&io->errors));
	if (d->args.attack != VVI_ATTACK_NONE)
		VVI_LOG(INFO, "%s: attack=%s sent %" PRIu64 " completed %" PRIu64
			" written %" PRIu64 " wellformed_tx %" PRIu64
			" straddle ok/bad %" PRIu64 "/%" PRIu64
			" guard_bad %" PRIu64 " canary_bad %" PRIu64
			" held %" PRIu64 " held_taken %" PRIu64, d->name,
			vvi_attack_name(at->mode), rd(&at->sent),
			rd(&at->completed), rd(&at->written),
			rd(&at->wellformed_tx), rd(&at->straddle_ok),
			rd(&at->straddle_bad), rd(&at->guard_bad),
			rd(&at->canary_bad), rd(&at->held), rd(&at->held_taken));
}
