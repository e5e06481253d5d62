/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device IOTLB (VIRTIO_F_IOMMU_PLATFORM) through a real vhost-user
 * connection: the frontend plays QEMU with a vIOMMU (fm_iommu.h). Every
 * address the backend gets (rings, descriptors, indirect tables) is an
 * IOVA, never a GPA or a user address, so nothing works unless the
 * backend translates through the IOTLB the frontend fills.
 *
 * Checked: negotiation, rings at IOVAs (misses, the device waits), misses
 * on both directions without losing packets, permissions, misses never
 * answered, buffers spanning IOTLB entries, INVALIDATE and its reply
 * (also against a concurrent datapath), an update storm against the
 * IOTLB bound, and malformed IOTLB messages.
 *
 * This file holds the test list and main(); the device and its traffic
 * helpers are in iotlb_dev.[ch], the tests by concern in iotlb_paths.c,
 * iotlb_access.c, iotlb_invalidate.c and iotlb_hostile.c.
 */
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "iotlb_dev.h"

static void
test_setup(void)
{
	iodev_reset(&D);
	iodev_reset(&W);
}

static void
test_teardown(void)
{
	iodev_close(&D);
	iodev_close(&W);
}

static CU_TestInfo iotlb_tests[] = {
	{ "negotiation", test_negotiation },
	{ "rings_at_iovas", test_rings_at_iovas },
	{ "tx_miss_update", test_tx_miss_update },
	{ "rx_miss_held", test_rx_miss_held },
	{ "rx_held_over_stall", test_rx_held_over_stall },
	{ "mem_slots", test_mem_slots },
	{ "permission_rx_read_only", test_permission_rx_read_only },
	{ "permission_rx_read_only_alone", test_permission_rx_read_only_alone },
	{ "permission_tx_write_only", test_permission_tx_write_only },
	{ "permission_least_needed", test_permission_least_needed },
	{ "unanswered_miss", test_unanswered_miss },
	{ "answer_unread", test_answer_unread },
	{ "straddle", test_straddle },
	{ "invalidate", test_invalidate },
	{ "invalidate_rings", test_invalidate_rings },
	{ "invalidate_concurrent_tx", test_invalidate_concurrent_tx },
	{ "invalidate_concurrent_rx", test_invalidate_concurrent_rx },
	{ "malformed", test_malformed },
	CU_TEST_INFO_NULL,
};

/* 250000 UPDATEs, each a round trip through the socket: most of the
 * program's time, and slowed most by a busy machine (each round trip
 * waits for both threads to get a CPU), so meson runs it as a test of
 * its own. */
static CU_TestInfo storm_tests[] = {
	{ "update_storm", test_update_storm },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "iotlb", NULL, NULL, test_setup, test_teardown, iotlb_tests },
	{ "storm", NULL, NULL, test_setup, test_teardown, storm_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret = 2;

	if (fe_init("iotlb") != 0)
		return 2;
	/* Read when the sockets are registered. */
	setenv("VHOST_IOTLB_MAX_ENTRIES", IOTLB_MAX_ENTRIES_STR, 1);
	BI = fe_backend_start("iommu", IOMMU_FLAGS);
	BW = fe_backend_start("iommu2", IOMMU_FLAGS);
	BP = fe_backend_start("plain", RTE_VHOST_USER_NET_STATS_ENABLE);
	if (BI != NULL && BW != NULL && BP != NULL)
		ret = fe_run(suites, argc, argv);
	fe_fini();
	return ret;
}
