/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK 22.11 driver-side ABI that a vdev ethdev PMD touches.
 *
 * Debian's libdpdk-dev installs no driver SDK headers (ethdev_driver.h,
 * bus_vdev_driver.h, dev_driver.h), so the few layouts and internal
 * functions this PMD needs are declared here, field for field as in the
 * 22.11 ABI (an LTS: stable for every 22.11.x). vvi_abi_check() compares
 * them against what ethdev itself filled in, and probing fails on a
 * mismatch instead of corrupting memory.
 */
#ifndef VVI_ABI_H
#define VVI_ABI_H

#include <pthread.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_dev.h>
#include <rte_ethdev.h>

/* struct rte_eth_dev (per-process part of a port). */
struct rte_eth_dev {
	eth_rx_burst_t rx_pkt_burst;
	eth_tx_burst_t tx_pkt_burst;
	eth_tx_prep_t tx_pkt_prepare;
	eth_rx_queue_count_t rx_queue_count;
	eth_rx_descriptor_status_t rx_descriptor_status;
	eth_tx_descriptor_status_t tx_descriptor_status;
	struct rte_eth_dev_data *data;
	void *process_private;
	const struct eth_dev_ops *dev_ops;
	struct rte_device *device;
	struct rte_intr_handle *intr_handle;
	struct rte_eth_dev_cb_list link_intr_cbs;
	void *post_rx_burst_cbs[RTE_MAX_QUEUES_PER_PORT];
	void *pre_tx_burst_cbs[RTE_MAX_QUEUES_PER_PORT];
	enum rte_eth_dev_state state;
	void *security_ctx;
} __rte_cache_aligned;

/* struct rte_eth_dev_data (shared part of a port). */
struct rte_eth_dev_data {
	char name[RTE_ETH_NAME_MAX_LEN];
	void **rx_queues;
	void **tx_queues;
	uint16_t nb_rx_queues;
	uint16_t nb_tx_queues;
	struct rte_eth_dev_sriov sriov;
	void *dev_private;
	struct rte_eth_link dev_link;
	struct rte_eth_conf dev_conf;
	uint16_t mtu;
	uint32_t min_rx_buf_size;
	uint64_t rx_mbuf_alloc_failed;
	struct rte_ether_addr *mac_addrs;
	uint64_t mac_pool_sel[RTE_ETH_NUM_RECEIVE_MAC_ADDR];
	struct rte_ether_addr *hash_mac_addrs;
	uint16_t port_id;
	__extension__ uint8_t promiscuous : 1, scattered_rx : 1,
		all_multicast : 1, dev_started : 1, lro : 1,
		dev_configured : 1, flow_configured : 1;
	uint8_t rx_queue_state[RTE_MAX_QUEUES_PER_PORT];
	uint8_t tx_queue_state[RTE_MAX_QUEUES_PER_PORT];
	uint32_t dev_flags;
	int numa_node;
	struct rte_vlan_filter_conf vlan_filter_conf;
	struct rte_eth_dev_owner owner;
	uint16_t representor_id;
	uint16_t backer_port_id;
	pthread_mutex_t flow_ops_mutex;
} __rte_cache_aligned;

/* Slots of struct eth_dev_ops this PMD does not fill. */
typedef void (*vvi_unused_op)(void);

/*
 * struct eth_dev_ops: the first 48 slots by name, in their ABI order; the
 * rest (led, flow control, ... congestion management: 65 slots in 22.11)
 * stay NULL. The tail is oversized on purpose: ethdev only reads it.
 */
struct eth_dev_ops {
	int (*dev_configure)(struct rte_eth_dev *dev);
	int (*dev_start)(struct rte_eth_dev *dev);
	int (*dev_stop)(struct rte_eth_dev *dev);
	int (*dev_set_link_up)(struct rte_eth_dev *dev);
	int (*dev_set_link_down)(struct rte_eth_dev *dev);
	int (*dev_close)(struct rte_eth_dev *dev);
	int (*dev_reset)(struct rte_eth_dev *dev);
	int (*link_update)(struct rte_eth_dev *dev, int wait_to_complete);
	vvi_unused_op is_removed;
	int (*promiscuous_enable)(struct rte_eth_dev *dev);
	int (*promiscuous_disable)(struct rte_eth_dev *dev);
	int (*allmulticast_enable)(struct rte_eth_dev *dev);
	int (*allmulticast_disable)(struct rte_eth_dev *dev);
	vvi_unused_op mac_addr_remove;
	vvi_unused_op mac_addr_add;
	int (*mac_addr_set)(struct rte_eth_dev *dev, struct rte_ether_addr *a);
	vvi_unused_op set_mc_addr_list;
	int (*mtu_set)(struct rte_eth_dev *dev, uint16_t mtu);
	int (*stats_get)(struct rte_eth_dev *dev, struct rte_eth_stats *st);
	int (*stats_reset)(struct rte_eth_dev *dev);
	int (*xstats_get)(struct rte_eth_dev *dev, struct rte_eth_xstat *xs,
		unsigned int n);
	int (*xstats_reset)(struct rte_eth_dev *dev);
	int (*xstats_get_names)(struct rte_eth_dev *dev,
		struct rte_eth_xstat_name *names, unsigned int size);
	vvi_unused_op queue_stats_mapping_set;
	int (*dev_infos_get)(struct rte_eth_dev *dev,
		struct rte_eth_dev_info *info);
	vvi_unused_op rxq_info_get;
	vvi_unused_op txq_info_get;
	vvi_unused_op rx_burst_mode_get;
	vvi_unused_op tx_burst_mode_get;
	vvi_unused_op fw_version_get;
	vvi_unused_op dev_supported_ptypes_get;
	vvi_unused_op dev_ptypes_set;
	vvi_unused_op vlan_filter_set;
	vvi_unused_op vlan_tpid_set;
	vvi_unused_op vlan_strip_queue_set;
	vvi_unused_op vlan_offload_set;
	vvi_unused_op vlan_pvid_set;
	vvi_unused_op rx_queue_start;
	vvi_unused_op rx_queue_stop;
	vvi_unused_op tx_queue_start;
	vvi_unused_op tx_queue_stop;
	int (*rx_queue_setup)(struct rte_eth_dev *dev, uint16_t qid,
		uint16_t nb_desc, unsigned int socket_id,
		const struct rte_eth_rxconf *conf, struct rte_mempool *mp);
	void (*rx_queue_release)(struct rte_eth_dev *dev, uint16_t qid);
	vvi_unused_op rx_queue_intr_enable;
	vvi_unused_op rx_queue_intr_disable;
	int (*tx_queue_setup)(struct rte_eth_dev *dev, uint16_t qid,
		uint16_t nb_desc, unsigned int socket_id,
		const struct rte_eth_txconf *conf);
	void (*tx_queue_release)(struct rte_eth_dev *dev, uint16_t qid);
	vvi_unused_op tx_done_cleanup;
	vvi_unused_op tail[96];
};

/* struct rte_vdev_device: a list link, then the generic device. */
struct rte_vdev_device {
	struct {
		struct rte_vdev_device *tqe_next;
		struct rte_vdev_device **tqe_prev;
	} next;
	/* struct rte_device follows; it is opaque: use rte_dev_*(). */
	uint64_t device_start[];
};

static inline struct rte_device *
vvi_vdev_to_dev(struct rte_vdev_device *vdev)
{
	return (struct rte_device *)(void *)vdev->device_start;
}

/* struct rte_driver and struct rte_vdev_driver. */
struct vvi_rte_driver {
	struct {
		void *tqe_next;
		void **tqe_prev;
	} next;
	const char *name;
	const char *alias;
};

struct rte_vdev_driver {
	struct {
		struct rte_vdev_driver *tqe_next;
		struct rte_vdev_driver **tqe_prev;
	} next;
	struct vvi_rte_driver driver;
	int (*probe)(struct rte_vdev_device *dev);
	int (*remove)(struct rte_vdev_device *dev);
	void *dma_map;
	void *dma_unmap;
	uint32_t drv_flags;
};

/* Internal (version node INTERNAL) symbols of ethdev and the vdev bus. */
extern struct rte_eth_dev rte_eth_devices[];
void rte_vdev_register(struct rte_vdev_driver *driver);
struct rte_eth_dev *rte_eth_dev_allocate(const char *name);
struct rte_eth_dev *rte_eth_dev_allocated(const char *name);
int rte_eth_dev_release_port(struct rte_eth_dev *eth_dev);
void rte_eth_dev_probing_finish(struct rte_eth_dev *dev);

#ifndef RTE_PMD_REGISTER_VDEV
/* Registers the driver from a constructor, as the bus header would. */
#define RTE_PMD_REGISTER_VDEV(nm, vdrv) \
	RTE_INIT(vdrvinitfn_ ## vdrv) \
	{ \
		(vdrv).driver.name = RTE_STR(nm); \
		rte_vdev_register(&(vdrv)); \
	} \
	RTE_PMD_EXPORT_NAME(nm, __COUNTER__)
#endif

/* Returns 0 if ethdev's view of a freshly allocated port matches ours. */
int vvi_abi_check(const struct rte_eth_dev *dev, const char *name);

#endif /* VVI_ABI_H */
