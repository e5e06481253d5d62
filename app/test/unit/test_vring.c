/* SPDX-License-Identifier: BSD-3-Clause */

/* Split ring set-up and the used side (vring.c) and dirty page logging
 * (dirty_log.c), on a hand-built device over one 64 KiB memfd region.
 *
 * Ring of 1024 entries, laid out so that the dirty log can tell its
 * parts apart by page (4 KiB):
 *   desc   gpa 0x0000 .. 0x4000
 *   avail  gpa 0x4000 .. 0x4806   (used_event at 0x4804)
 *   used   gpa 0x5ffc .. 0x8002   flags/idx on page 5, ring[0..511] on
 *          page 6, ring[512..1023] on page 7, avail_event on page 8.
 * The frontend's addresses (uaddr) are U + gpa. */

#include <stddef.h>

#include "vring.h"
#include "ut_device.h"

#define MEM_SIZE 0x10000ULL
#define U 0x7e0000000000ULL
#define QSZ 1024
#define DESC_GPA 0x0000ULL
#define AVAIL_GPA 0x4000ULL
#define USED_GPA 0x5ffcULL

static uint8_t *logview;	/* our own mapping of the whole log file */

static void
good_addrs(void)
{
	vq.ring_addr.desc_user_addr = U + DESC_GPA;
	vq.ring_addr.avail_user_addr = U + AVAIL_GPA;
	vq.ring_addr.used_user_addr = U + USED_GPA;
	vq.ring_addr.log_guest_addr = USED_GPA;
	vq.ring_addr_set = true;
}

static volatile uint16_t *
used_event_word(void)
{
	return (volatile uint16_t *)&vq.avail->ring[QSZ];
}

static volatile uint16_t *
avail_event_word(void)
{
	return (volatile uint16_t *)&vq.used->ring[QSZ];
}

static void
setup(void)
{
	ut_dev_reset("ut-vring", 0);
	ut_dev_map_one("ut_vring", MEM_SIZE, U);
	vq.size = QSZ;
	vq.callfd = -1;
	vq.kickfd = -1;
	good_addrs();
	logview = NULL;
}

static void
teardown(void)
{
	if (vq.callfd >= 0)
		close(vq.callfd);
	vhost_log_unmap(dev);
	if (logview != NULL)
		munmap(logview, UT_LOG_FILE);
	ut_dev_unmap();
}

static void
publish(uint16_t id, uint32_t len, uint16_t n)
{
	struct vhost_used_elem e[16];

	for (uint16_t i = 0; i < n; i++)
		e[i] = (struct vhost_used_elem){ .id = (uint16_t)(id + i), .len = len + i };
	vhost_used_publish(dev, &vq, e, n);
}

/* Map the dirty log through the library, keeping a view of the file. */
static void
map_log(void)
{
	logview = ut_log_map();
	CU_ASSERT_PTR_NOT_NULL(dev->log_base);
	CU_ASSERT_EQUAL(dev->log_size, UT_LOG_SIZE);
}

/* The bitmap as one number: bit n = page n dirty. */
static uint64_t
dirty(void)
{
	return ut_log_bits(logview);
}

static void
clear_log(void)
{
	memset(logview + UT_LOG_OFF, 0, UT_LOG_SIZE);
}

/* Nothing was written outside the bitmap. */
static void
check_log_guards(void)
{
	for (unsigned int i = 0; i < UT_LOG_FILE; i++) {
		if (i >= UT_LOG_OFF && i < UT_LOG_OFF + UT_LOG_SIZE)
			continue;
		if (logview[i] != 0) {
			CU_FAIL("dirty log written outside the bitmap");
			return;
		}
	}
}

static void
test_translate(void)
{
	ut_translate_ok();
	CU_ASSERT_PTR_EQUAL(vq.desc, g2h(DESC_GPA));
	CU_ASSERT_PTR_EQUAL(vq.avail, g2h(AVAIL_GPA));
	CU_ASSERT_PTR_EQUAL(vq.used, g2h(USED_GPA));

	/* The application's kick wish is applied to the new ring. */
	CU_ASSERT(vq.used->flags & VRING_USED_F_NO_NOTIFY);
	vq.guest_notify = true;
	ut_translate_ok();
	CU_ASSERT_FALSE(vq.used->flags & VRING_USED_F_NO_NOTIFY);

	/* With EVENT_IDX: kick me from the next entry on. */
	dev->features = 1ULL << VIRTIO_RING_F_EVENT_IDX;
	vq.last_avail_idx = 77;
	ut_translate_ok();
	CU_ASSERT_EQUAL(*avail_event_word(), 77);

	/* Parts that end exactly at the end of memory are fine. */
	vq.ring_addr.desc_user_addr = U + MEM_SIZE - QSZ * 16;
	vq.ring_addr.avail_user_addr = U + MEM_SIZE - (6 + 2 * QSZ);
	vq.ring_addr.used_user_addr = U + MEM_SIZE - (8 + 8 * QSZ);
	ut_translate_ok();
}

static void
expect_refused(const char *what)
{
	vq.access_ok = true;
	if (vhost_vring_translate(dev, &vq) == 0)
		fprintf(stderr, "\n  accepted bad ring addresses: %s\n", what);
	CU_ASSERT_FALSE(vq.access_ok);
	good_addrs();
}

static void
test_translate_refused(void)
{
	vq.ring_addr.desc_user_addr += 8;
	expect_refused("desc not 16-byte aligned");
	vq.ring_addr.avail_user_addr += 1;
	expect_refused("avail not 2-byte aligned");
	vq.ring_addr.used_user_addr += 2;
	expect_refused("used not 4-byte aligned");

	vq.ring_addr.desc_user_addr = U + MEM_SIZE;
	expect_refused("desc outside memory");
	vq.ring_addr.desc_user_addr = U + MEM_SIZE - QSZ * 16 + 16;
	expect_refused("desc runs past memory end");
	vq.ring_addr.avail_user_addr = U + MEM_SIZE - (6 + 2 * QSZ) + 2;
	expect_refused("avail used_event word past memory end");
	vq.ring_addr.used_user_addr = U + MEM_SIZE - (8 + 8 * QSZ) + 4;
	expect_refused("used avail_event word past memory end");
	vq.ring_addr.used_user_addr = U - 0x1000;
	expect_refused("used below memory");
	/* Guest physical addresses where uaddrs are expected. */
	vq.ring_addr.desc_user_addr = DESC_GPA;
	vq.ring_addr.avail_user_addr = AVAIL_GPA;
	vq.ring_addr.used_user_addr = USED_GPA;
	expect_refused("gpa instead of uaddr");

	vq.ring_addr_set = false;
	expect_refused("addresses never set");
	vq.size = 0;
	expect_refused("size 0");
	vq.size = QSZ;
	vhost_mem_table_free(dev->mem);
	dev->mem = NULL;
	expect_refused("no memory table");
}

static void
test_avail_count(void)
{
	ut_translate_ok();
	vq.avail->idx = 0;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), 0);
	vq.avail->idx = 10;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), 10);
	vq.avail->idx = QSZ;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), QSZ);
	/* More entries than the ring holds: impossible, so none. */
	vq.avail->idx = QSZ + 1;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), 0);
	vq.avail->idx = 40000;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), 0);
	/* Behind us is "65535 ahead": impossible too. */
	vq.last_avail_idx = 10;
	vq.avail->idx = 9;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), 0);
	/* Across the 16-bit wrap. */
	vq.last_avail_idx = 65530;
	vq.avail->idx = 4;
	CU_ASSERT_EQUAL(vhost_avail_count(dev, &vq), 10);
	vq.avail->ring[(65530 + 7) & (QSZ - 1)] = 321;
	CU_ASSERT_EQUAL(vhost_avail_head(&vq, 7), 321);
}

static void
test_used_publish(void)
{
	ut_translate_ok();
	for (unsigned int i = 0; i < QSZ; i++)
		vq.used->ring[i] = (struct vring_used_elem){ .id = 0xeeee, .len = 0xeeeeeeee };

	publish(5, 100, 3);
	CU_ASSERT_EQUAL(vq.used->idx, 3);
	CU_ASSERT_EQUAL(vq.last_used_idx, 3);
	for (unsigned int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(vq.used->ring[i].id, 5 + i);
		CU_ASSERT_EQUAL(vq.used->ring[i].len, 100 + i);
	}
	CU_ASSERT_EQUAL(vq.used->ring[3].id, 0xeeee);

	/* Across the end of the ring: slots 1022, 1023, 0, 1. */
	vq.last_used_idx = 1022;
	publish(40, 7, 4);
	CU_ASSERT_EQUAL(vq.used->idx, 1026);
	CU_ASSERT_EQUAL(vq.used->ring[1022].id, 40);
	CU_ASSERT_EQUAL(vq.used->ring[1023].id, 41);
	CU_ASSERT_EQUAL(vq.used->ring[0].id, 42);
	CU_ASSERT_EQUAL(vq.used->ring[1].len, 10);
	CU_ASSERT_EQUAL(vq.used->ring[2].id, 7);	/* from the first publish */
	CU_ASSERT_EQUAL(vq.used->ring[1021].id, 0xeeee);

	/* Across the 16-bit index wrap. */
	vq.last_used_idx = 65534;
	publish(9, 9, 3);
	CU_ASSERT_EQUAL(vq.used->idx, 1);
	CU_ASSERT_EQUAL(vq.last_used_idx, 1);
	CU_ASSERT_EQUAL(vq.used->ring[65534 & (QSZ - 1)].id, 9);
	CU_ASSERT_EQUAL(vq.used->ring[0].id, 11);

	/* Nothing to publish: nothing changes. */
	publish(1, 1, 0);
	CU_ASSERT_EQUAL(vq.used->idx, 1);
	CU_ASSERT_EQUAL(vq.last_used_idx, 1);
}

static void
test_notify_no_event_idx(void)
{
	ut_translate_ok();
	/* Polling guest: no call fd, nothing to signal (and no crash). */
	publish(0, 1, 1);
	CU_ASSERT_EQUAL(vq.stats.v[VHOST_STAT_GUEST_NOTIFICATIONS], 0);

	vq.callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(vq.callfd >= 0);
	vq.avail->flags = 0;
	publish(0, 1, 1);
	CU_ASSERT_EQUAL(ut_calls(), 1);
	publish(0, 1, 2);
	CU_ASSERT_EQUAL(ut_calls(), 1);

	vq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	publish(0, 1, 1);
	publish(0, 1, 5);
	CU_ASSERT_EQUAL(ut_calls(), 0);

	vq.avail->flags = 0;
	publish(0, 1, 1);
	CU_ASSERT_EQUAL(ut_calls(), 1);
	/* Nothing published, nothing signalled. */
	publish(0, 1, 0);
	CU_ASSERT_EQUAL(ut_calls(), 0);
	CU_ASSERT_EQUAL(vq.stats.v[VHOST_STAT_GUEST_NOTIFICATIONS], 3);
}

static void
test_notify_event_idx(void)
{
	dev->features = 1ULL << VIRTIO_RING_F_EVENT_IDX;
	ut_translate_ok();
	vq.callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(vq.callfd >= 0);

	/* First signal ever: always sent (nothing known signalled yet). */
	*used_event_word() = 100;
	publish(0, 1, 1);			/* idx 1 */
	CU_ASSERT_EQUAL(ut_calls(), 1);

	/* Guest wants a call once idx passes 3. */
	*used_event_word() = 3;
	publish(0, 1, 1);			/* idx 2 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 1);			/* idx 3 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 1);			/* idx 4: crossed */
	CU_ASSERT_EQUAL(ut_calls(), 1);
	publish(0, 1, 1);			/* idx 5: already told */
	CU_ASSERT_EQUAL(ut_calls(), 0);

	/* Crossed within one batch. */
	*used_event_word() = 10;
	publish(0, 1, 3);			/* idx 8 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 10);			/* idx 18, passes 10 */
	CU_ASSERT_EQUAL(ut_calls(), 1);

	/* An event behind the last signal is not crossed again. */
	*used_event_word() = 5;
	publish(0, 1, 1);
	CU_ASSERT_EQUAL(ut_calls(), 0);

	/* NO_INTERRUPT means nothing with EVENT_IDX: used_event rules. */
	vq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event_word() = 19;
	publish(0, 1, 1);			/* idx 20 */
	CU_ASSERT_EQUAL(ut_calls(), 1);

	/* Across the 16-bit wrap. */
	vq.last_used_idx = 65534;
	vq.signalled_used = 65534;
	*used_event_word() = 65535;
	publish(0, 1, 1);			/* idx 65535 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 1);			/* idx 0 */
	CU_ASSERT_EQUAL(ut_calls(), 1);
	CU_ASSERT_EQUAL(vq.stats.v[VHOST_STAT_GUEST_NOTIFICATIONS], 5);
}

static void
log_used_setup(void)
{
	dev->features = 1ULL << VHOST_F_LOG_ALL;
	vq.ring_addr.flags = 1u << VHOST_VRING_F_LOG;
	map_log();
	ut_translate_ok();
	clear_log();
}

#define PG(n) (1ULL << (n))

static void
test_log_used_ring(void)
{
	log_used_setup();

	/* ring[0] on page 6, idx on page 5. */
	publish(1, 1, 1);
	CU_ASSERT_EQUAL(dirty(), PG(5) | PG(6));
	clear_log();
	vq.last_used_idx = 600;		/* ring[600] on page 7 */
	publish(1, 1, 1);
	CU_ASSERT_EQUAL(dirty(), PG(5) | PG(7));
	clear_log();
	vq.last_used_idx = 511;		/* ring[511], ring[512]: pages 6, 7 */
	publish(1, 1, 2);
	CU_ASSERT_EQUAL(dirty(), PG(5) | PG(6) | PG(7));
	clear_log();
	vq.last_used_idx = 1023;	/* ring[1023] then ring[0] (wrap) */
	publish(1, 1, 2);
	CU_ASSERT_EQUAL(dirty(), PG(5) | PG(6) | PG(7));
	clear_log();
	vq.last_used_idx = 700;		/* ring[700..715]: page 7 only */
	publish(1, 1, 16);
	CU_ASSERT_EQUAL(dirty(), PG(5) | PG(7));

	/* log_guest_addr is what is logged (taken when the ring is set
	 * up, as SET_VRING_ADDR does): moved 16 KiB up. */
	vq.ring_addr.log_guest_addr = USED_GPA + 0x4000;
	ut_translate_ok();
	clear_log();
	vq.last_used_idx = 0;
	publish(1, 1, 1);
	CU_ASSERT_EQUAL(dirty(), PG(9) | PG(10));

	/* The frontend did not ask for the used ring to be logged. */
	clear_log();
	vq.ring_addr.flags = 0;
	publish(1, 1, 1);
	CU_ASSERT_EQUAL(dirty(), 0);

	/* Logging not negotiated. */
	vq.ring_addr.flags = 1u << VHOST_VRING_F_LOG;
	dev->features = 0;
	publish(1, 1, 1);
	CU_ASSERT_EQUAL(dirty(), 0);
	check_log_guards();
}

/* The used ring part the backend writes for a notification setting
 * must be logged: with EVENT_IDX that is avail_event (page 8), not the
 * flags word (page 5). */
static void
test_log_notify_event_idx(void)
{
	log_used_setup();
	dev->features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	vq.guest_notify = true;
	vq.last_avail_idx = 5;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(*avail_event_word(), 5);
	CU_ASSERT((dirty() & PG(8)) != 0);

	/* Without EVENT_IDX the flags word is written and logged. */
	clear_log();
	dev->features &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq.guest_notify = false;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT(vq.used->flags & VRING_USED_F_NO_NOTIFY);
	CU_ASSERT_EQUAL(dirty(), PG(5));
}

static void
test_log_pages(void)
{
	map_log();
	clear_log();

	vhost_log_pages(dev, 0x1000, 1);
	CU_ASSERT_EQUAL(dirty(), PG(1));
	clear_log();
	vhost_log_pages(dev, 0x1fff, 2);
	CU_ASSERT_EQUAL(dirty(), PG(1) | PG(2));
	clear_log();
	vhost_log_pages(dev, 0x3000, 0x3000);
	CU_ASSERT_EQUAL(dirty(), PG(3) | PG(4) | PG(5));
	clear_log();
	vhost_log_pages(dev, 0x3001, 0x3000);
	CU_ASSERT_EQUAL(dirty(), PG(3) | PG(4) | PG(5) | PG(6));
	clear_log();
	vhost_log_pages(dev, 0x5000, 0);
	CU_ASSERT_EQUAL(dirty(), 0);

	/* Pages beyond the bitmap (64 pages) are ignored, not written. */
	vhost_log_pages(dev, 62 * 4096ULL, 4 * 4096);
	CU_ASSERT_EQUAL(dirty(), PG(62) | PG(63));
	clear_log();
	vhost_log_pages(dev, 64 * 4096ULL, 1);
	vhost_log_pages(dev, 1ULL << 40, 1 << 20);
	vhost_log_pages(dev, UINT64_MAX - 10, 100);	/* wraps */
	CU_ASSERT_EQUAL(dirty(), 0);
	vhost_log_pages(dev, 0, UINT64_MAX);
	CU_ASSERT_EQUAL(dirty(), UINT64_MAX);
	check_log_guards();
}

/* vhost_log_map must refuse, and close the fd it was given. */
static void
expect_log_refused(int fd, uint64_t size, uint64_t offset, const char *what)
{
	int nfds = test_count_fds();

	if (vhost_log_map(dev, fd, size, offset) == 0)
		fprintf(stderr, "\n  accepted a bad log: %s\n", what);
	CU_ASSERT_PTR_NULL(dev->log_base);
	CU_ASSERT_FALSE(ut_fd_is_open(fd));
	CU_ASSERT_EQUAL(test_count_fds(), fd >= 0 ? nfds - 1 : nfds);
	vhost_log_unmap(dev);
}

static void
test_log_map(void)
{
	int p[2], fd;

	expect_log_refused(ut_memfd("ut_log", 4096), 0, 0, "size 0");
	expect_log_refused(ut_memfd("ut_log", 4096), 0, 16, "size 0 at an offset");
	expect_log_refused(ut_memfd("ut_log", 4096), 4097, 0, "size > file");
	expect_log_refused(ut_memfd("ut_log", 4096), 4096, 1, "size + offset > file");
	expect_log_refused(ut_memfd("ut_log", 4096), 1, 4096, "offset at file end");
	expect_log_refused(ut_memfd("ut_log", 4096), 4096, UINT64_MAX - 100,
			   "size + offset wraps");
	expect_log_refused(ut_memfd("ut_log", 4096), UINT64_MAX, 1, "size 2^64-1");
	/* The file is big enough; the size is not reasonable. */
	expect_log_refused(ut_memfd("ut_log", VHOST_MAX_LOG_SIZE + 8192),
			   VHOST_MAX_LOG_SIZE + 4096, 0, "size above the maximum");
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	close(p[1]);
	expect_log_refused(p[0], 4096, 0, "pipe");
	expect_log_refused(-1, 4096, 0, "fd -1");

	/* Accepted ones close the fd too. */
	fd = ut_memfd("ut_log", 4096);
	CU_ASSERT_EQUAL(vhost_log_map(dev, fd, 4096 - 16, 16), 0);
	CU_ASSERT_FALSE(ut_fd_is_open(fd));
	CU_ASSERT_EQUAL(dev->log_size, 4096 - 16);
	fd = ut_memfd("ut_log", VHOST_MAX_LOG_SIZE);
	CU_ASSERT_EQUAL(vhost_log_map(dev, fd, VHOST_MAX_LOG_SIZE, 0), 0);
	CU_ASSERT_FALSE(ut_fd_is_open(fd));
	CU_ASSERT_EQUAL(dev->log_size, VHOST_MAX_LOG_SIZE);
	/* The last page of a 1 TiB guest is the bitmap's last bit. */
	vhost_log_pages(dev, (VHOST_MAX_LOG_SIZE * 8 - 1) * VHOST_LOG_PAGE, 1);
	CU_ASSERT_EQUAL(dev->log_base[VHOST_MAX_LOG_SIZE - 1], 0x80);
}

static CU_TestInfo tests[] = {
	{ "translate ring addresses", test_translate },
	{ "refuse bad ring addresses", test_translate_refused },
	{ "avail count", test_avail_count },
	{ "used publish", test_used_publish },
	{ "notify without EVENT_IDX", test_notify_no_event_idx },
	{ "notify with EVENT_IDX", test_notify_event_idx },
	{ "dirty log: used ring", test_log_used_ring },
	{ "dirty log: EVENT_IDX notify setting", test_log_notify_event_idx },
	{ "dirty log: pages", test_log_pages },
	{ "dirty log: map", test_log_map },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "vring", ut_dev_suite_init, ut_dev_suite_clean, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return ut_main(suites, argc, argv, 0);
}
