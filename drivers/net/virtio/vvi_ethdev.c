/* SPDX-License-Identifier: BSD-3-Clause */
/* ethdev glue: vdev probe/remove and the device operations. */
#include <errno.h>
#include <string.h>

#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "vvi_abi.h"
#include "vvi_dev.h"
#include "vvi_log.h"
#include "vvi_stats.h"

RTE_LOG_REGISTER(vvi_logtype, pmd.net.virtio_viommu, INFO);

#define VVI_LINK_SPEED RTE_ETH_SPEED_NUM_10G
#define VVI_MAX_RX_PKTLEN 9728

static struct vvi_dev *
priv(const struct rte_eth_dev *eth)
{
	return eth->data->dev_private;
}

int
vvi_abi_check(const struct rte_eth_dev *eth, const char *name)
{
	const struct rte_eth_dev_data *data = eth->data;
	ptrdiff_t slot = eth - rte_eth_devices;

	if (data == NULL || slot < 0 || slot >= RTE_MAX_ETHPORTS ||
			data->port_id != slot ||
			strncmp(data->name, name, sizeof(data->name)) != 0 ||
			data->mtu != RTE_ETHER_MTU) {
		VVI_LOG(ERR, "ethdev layout differs from the DPDK 22.11 ABI");
		return -ENOTSUP;
	}
	return 0;
}

static void
set_link(struct rte_eth_dev *eth, bool up)
{
	struct rte_eth_link link = {
		.link_speed = up ? VVI_LINK_SPEED : RTE_ETH_SPEED_NUM_NONE,
		.link_duplex = RTE_ETH_LINK_FULL_DUPLEX,
		.link_autoneg = RTE_ETH_LINK_FIXED,
		.link_status = up,
	};
	uint64_t v;

	/* ethdev reads the link as one 64-bit word. */
	RTE_BUILD_BUG_ON(sizeof(link) != sizeof(v));
	memcpy(&v, &link, sizeof(v));
	__atomic_store_n((uint64_t *)(void *)&eth->data->dev_link, v,
		__ATOMIC_SEQ_CST);
}

static int
vvi_configure(struct rte_eth_dev *eth)
{
	const struct vvi_dev *d = priv(eth);

	if (eth->data->nb_rx_queues > d->args.queues ||
			eth->data->nb_tx_queues > d->args.queues)
		return -EINVAL;
	return 0;
}

static void
set_queue_states(struct rte_eth_dev *eth, uint8_t state)
{
	for (uint16_t q = 0; q < eth->data->nb_rx_queues; q++)
		eth->data->rx_queue_state[q] = state;
	for (uint16_t q = 0; q < eth->data->nb_tx_queues; q++)
		eth->data->tx_queue_state[q] = state;
}

static int
vvi_start(struct rte_eth_dev *eth)
{
	struct vvi_dev *d = priv(eth);
	int r;

	d->nb_rxq = eth->data->nb_rx_queues;
	d->nb_txq = eth->data->nb_tx_queues;
	r = vvi_user_start(d);
	if (r < 0) {
		vvi_user_stop(d);
		return r;
	}
	d->started = true;
	set_queue_states(eth, RTE_ETH_QUEUE_STATE_STARTED);
	set_link(eth, true);
	return 0;
}

static int
vvi_stop(struct rte_eth_dev *eth)
{
	struct vvi_dev *d = priv(eth);

	set_link(eth, false);
	if (d->started) {
		d->started = false;
		vvi_user_stop(d);
	}
	set_queue_states(eth, RTE_ETH_QUEUE_STATE_STOPPED);
	eth->data->dev_started = 0;
	return 0;
}

static void
vvi_rxq_release(struct rte_eth_dev *eth, uint16_t qid)
{
	struct vvi_dev *d = priv(eth);

	vvi_rxq_free(d->rxq[qid]);
	d->rxq[qid] = NULL;
	eth->data->rx_queues[qid] = NULL;
}

static void
vvi_txq_release(struct rte_eth_dev *eth, uint16_t qid)
{
	struct vvi_dev *d = priv(eth);

	vvi_txq_free(d->txq[qid]);
	d->txq[qid] = NULL;
	eth->data->tx_queues[qid] = NULL;
}

static int
vvi_close(struct rte_eth_dev *eth)
{
	struct vvi_dev *d = priv(eth);

	if (d == NULL)
		return 0;
	vvi_stop(eth);
	vvi_log_summary(d);
	vvi_attack_release(&d->attack);
	for (uint16_t q = 0; q < VVI_MAX_QUEUE_PAIRS; q++) {
		vvi_rxq_free(d->rxq[q]);
		vvi_txq_free(d->txq[q]);
		d->rxq[q] = NULL;
		d->txq[q] = NULL;
	}
	for (uint16_t q = 0; q < eth->data->nb_rx_queues; q++)
		eth->data->rx_queues[q] = NULL;
	for (uint16_t q = 0; q < eth->data->nb_tx_queues; q++)
		eth->data->tx_queues[q] = NULL;
	/* Closing the socket tells the backend the device is gone. */
	vvi_user_disconnect(d);
	vvi_iommu_release(&d->iommu);
	return 0;
}

static int
vvi_link_update(struct rte_eth_dev *eth, int wait)
{
	RTE_SET_USED(wait);
	set_link(eth, priv(eth)->started);
	return 0;
}

static int
vvi_nop(struct rte_eth_dev *eth)
{
	RTE_SET_USED(eth);
	return 0;
}

static int
vvi_mtu_set(struct rte_eth_dev *eth, uint16_t mtu)
{
	const struct vvi_dev *d = priv(eth);
	uint32_t max = d->args.mrg_rxbuf ? VVI_MAX_RX_PKTLEN : RTE_ETHER_MAX_LEN;

	return (uint32_t)mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN > max ?
		-EINVAL : 0;
}

static int
vvi_mac_set(struct rte_eth_dev *eth, struct rte_ether_addr *a)
{
	priv(eth)->mac = *a;
	return 0;
}

static int
vvi_infos_get(struct rte_eth_dev *eth, struct rte_eth_dev_info *info)
{
	const struct vvi_dev *d = priv(eth);
	const struct rte_eth_desc_lim lim = {
		.nb_max = VVI_MAX_QUEUE_SIZE, .nb_min = 1, .nb_align = 1,
	};

	info->max_mac_addrs = 1;
	info->max_rx_pktlen = d->args.mrg_rxbuf ? VVI_MAX_RX_PKTLEN :
		RTE_ETHER_MAX_LEN;
	info->min_rx_bufsize = RTE_PKTMBUF_HEADROOM + RTE_ETHER_MIN_LEN;
	info->max_rx_queues = d->args.queues;
	info->max_tx_queues = d->args.queues;
	info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	info->rx_offload_capa = d->args.mrg_rxbuf ? RTE_ETH_RX_OFFLOAD_SCATTER : 0;
	/* The ring size is the queue_size devarg, whatever is asked. */
	info->rx_desc_lim = lim;
	info->tx_desc_lim = lim;
	info->default_rxportconf.ring_size = d->args.queue_size;
	info->default_txportconf.ring_size = d->args.queue_size;
	info->speed_capa = RTE_ETH_LINK_SPEED_10G;
	return 0;
}

static int
vvi_rx_setup(struct rte_eth_dev *eth, uint16_t qid, uint16_t nb_desc,
	unsigned int socket, const struct rte_eth_rxconf *conf,
	struct rte_mempool *mp)
{
	struct vvi_dev *d = priv(eth);
	int r;

	RTE_SET_USED(nb_desc);
	RTE_SET_USED(conf);
	vvi_rxq_release(eth, qid);
	r = vvi_rxq_create(d, qid, (int)socket, mp, &d->rxq[qid]);
	if (r == 0)
		eth->data->rx_queues[qid] = d->rxq[qid];
	return r;
}

static int
vvi_tx_setup(struct rte_eth_dev *eth, uint16_t qid, uint16_t nb_desc,
	unsigned int socket, const struct rte_eth_txconf *conf)
{
	struct vvi_dev *d = priv(eth);
	int r;

	RTE_SET_USED(nb_desc);
	RTE_SET_USED(conf);
	vvi_txq_release(eth, qid);
	r = vvi_txq_create(d, qid, (int)socket, &d->txq[qid]);
	if (r == 0)
		eth->data->tx_queues[qid] = d->txq[qid];
	return r;
}

static const struct eth_dev_ops vvi_ops = {
	.dev_configure = vvi_configure,
	.dev_start = vvi_start,
	.dev_stop = vvi_stop,
	.dev_close = vvi_close,
	.link_update = vvi_link_update,
	.promiscuous_enable = vvi_nop,
	.promiscuous_disable = vvi_nop,
	.allmulticast_enable = vvi_nop,
	.allmulticast_disable = vvi_nop,
	.mac_addr_set = vvi_mac_set,
	.mtu_set = vvi_mtu_set,
	.stats_get = vvi_stats_get,
	.stats_reset = vvi_stats_reset,
	.xstats_get = vvi_xstats_get,
	.xstats_get_names = vvi_xstats_get_names,
	.dev_infos_get = vvi_infos_get,
	.rx_queue_setup = vvi_rx_setup,
	.rx_queue_release = vvi_rxq_release,
	.tx_queue_setup = vvi_tx_setup,
	.tx_queue_release = vvi_txq_release,
};

static int
create_port(struct rte_device *rd, const char *name, struct vvi_dev *d)
{
	struct rte_eth_dev *eth = rte_eth_dev_allocate(name);
	struct rte_ether_addr *mac;

	if (eth == NULL)
		return -ENOMEM;
	mac = rte_zmalloc("vvi_mac", sizeof(*mac), 0);
	if (vvi_abi_check(eth, name) < 0 || mac == NULL) {
		rte_free(mac);
		eth->data->dev_private = NULL;
		rte_eth_dev_release_port(eth);
		return -ENOTSUP;
	}
	rte_eth_random_addr(d->mac.addr_bytes);
	*mac = d->mac;
	d->port_id = eth->data->port_id;
	eth->data->dev_private = d;
	eth->data->mac_addrs = mac;
	eth->data->numa_node = rte_dev_numa_node(rd);
	eth->device = rd;
	eth->dev_ops = &vvi_ops;
	eth->rx_pkt_burst = vvi_rx_burst;
	eth->tx_pkt_burst = vvi_tx_burst;
	rte_eth_dev_probing_finish(eth);
	return 0;
}

static int
vvi_probe(struct rte_vdev_device *vdev)
{
	struct rte_device *rd = vvi_vdev_to_dev(vdev);
	const char *name = rte_dev_name(rd);
	const struct rte_devargs *da = rte_dev_devargs(rd);
	struct vvi_dev *d;
	int r;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		VVI_LOG(ERR, "%s: secondary processes are not supported", name);
		return -ENOTSUP;
	}
	d = rte_zmalloc("vvi_dev", sizeof(*d), RTE_CACHE_LINE_SIZE);
	if (d == NULL)
		return -ENOMEM;
	snprintf(d->name, sizeof(d->name), "%s", name);
	r = vvi_args_parse(da ? da->args : "", &d->args);
	if (r == 0)
		r = vvi_user_connect(d);
	if (r < 0) {
		rte_free(d);
		return r;
	}
	r = create_port(rd, name, d);
	if (r < 0) {
		vvi_user_disconnect(d);
		rte_free(d);
		return r;
	}
	VVI_LOG(INFO, "%s: port %u on %s (%s), %u %s queue pair(s) of %u, "
		"mrg_rxbuf %d, iommu=%s page %" PRIu64 "K%s%s", name, d->port_id,
		d->args.path, d->args.server ? "server" : "client",
		d->args.queues, d->args.packed_vq ? "packed" : "split",
		d->args.queue_size, d->args.mrg_rxbuf,
		vvi_iommu_mode_name(d->args.iommu), d->args.iommu_page >> 10,
		d->args.iommu == VVI_IOMMU_STATIC && !d->args.iommu_preload ?
		" lazy" : "", d->args.scatter ? " scatter" : "");
	return 0;
}

static int
vvi_remove(struct rte_vdev_device *vdev)
{
	const char *name = rte_dev_name(vvi_vdev_to_dev(vdev));
	struct rte_eth_dev *eth = rte_eth_dev_allocated(name);

	/* Already gone if the application closed the port. */
	if (eth == NULL)
		return 0;
	vvi_close(eth);
	return rte_eth_dev_release_port(eth);
}

static struct rte_vdev_driver vvi_driver = {
	.probe = vvi_probe,
	.remove = vvi_remove,
};

RTE_PMD_REGISTER_VDEV(net_virtio_viommu, vvi_driver);
RTE_PMD_REGISTER_PARAM_STRING(net_virtio_viommu, VVI_PARAMS);
