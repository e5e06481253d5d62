/* SPDX-License-Identifier: BSD-3-Clause */

/* Packed ring set-up and access (vring.c, vring_packed.c) on a hand-built
 * device over one 64 KiB memfd region:
 *   descriptor ring  gpa 0x0000 .. 0x4010   (1025 entries)
 *   driver events    gpa 0x5000
 *   device events    gpa 0x6000
 * The frontend's addresses (uaddr) are U + gpa. */

#include "vring.h"
#include "vring_packed.h"
#include "ut_device.h"

#define MEM_SIZE 0x10000ULL
#define U 0x7e0000000000ULL
#define QSZ 1025
#define DRV_GPA 0x5000ULL
#define DEV_GPA 0x6000ULL
#define AV VHOST_PACKED_AVAIL
#define US VHOST_PACKED_USED

static void
setup(void)
{
	ut_dev_reset("ut-vring-packed", 1ULL << VIRTIO_F_RING_PACKED);
	ut_dev_map_one("ut_vring_packed", MEM_SIZE, U);
	vq.size = QSZ;
	vq.callfd = -1;
	vq.kickfd = -1;
	vq.avail_wrap = vq.used_wrap = true;
	vq.ring_addr.desc_user_addr = U;
	vq.ring_addr.avail_user_addr = U + DRV_GPA;
	vq.ring_addr.used_user_addr = U + DEV_GPA;
	vq.ring_addr_set = true;
}

static void
teardown(void)
{
	if (vq.callfd >= 0)
		close(vq.callfd);
	vhost_log_unmap(dev);
	ut_dev_unmap();
}

static void
test_translate(void)
{
	ut_translate_ok();
	CU_ASSERT_EQUAL(vq.desc_log_gpa, 0);
	CU_ASSERT_EQUAL(vq.device_event_log_gpa, DEV_GPA);
	/* The device event area says whether the driver should kick. */
	vq.guest_notify = false;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(vq.device_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	vq.guest_notify = true;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(vq.device_event->flags, VRING_PACKED_EVENT_FLAG_ENABLE);

	/* 1025 entries: fine packed, not split. */
	dev->features = 0;
	CU_ASSERT_EQUAL(vhost_vring_translate(dev, &vq), -EFAULT);
	CU_ASSERT_FALSE(vq.access_ok);
	dev->features = 1ULL << VIRTIO_F_RING_PACKED;

	/* Event areas: 4-byte aligned, inside memory. */
	vq.ring_addr.avail_user_addr = U + DRV_GPA + 2;
	CU_ASSERT_EQUAL(vhost_vring_translate(dev, &vq), -EFAULT);
	vq.ring_addr.avail_user_addr = U + MEM_SIZE - 2;
	CU_ASSERT_EQUAL(vhost_vring_translate(dev, &vq), -EFAULT);
	vq.ring_addr.avail_user_addr = U + DRV_GPA;
	/* The descriptor ring must fit whole. */
	vq.ring_addr.desc_user_addr = U + MEM_SIZE - 16 * 1024;
	CU_ASSERT_EQUAL(vhost_vring_translate(dev, &vq), -EFAULT);
	vq.ring_addr.desc_user_addr = U;
	/* A base outside the ring is refused at start. */
	vq.last_avail_idx = QSZ;
	CU_ASSERT_EQUAL(vhost_vring_translate(dev, &vq), -EFAULT);
	vq.last_avail_idx = 0;
	ut_translate_ok();
}

static void
test_avail(void)
{
	struct vhost_ring_pos p = { 3, true };

	ut_translate_ok();
	vq.desc_packed[3].flags = 0;
	CU_ASSERT_FALSE(vhost_packed_desc_avail(&vq, p));
	vq.desc_packed[3].flags = AV;
	CU_ASSERT_TRUE(vhost_packed_desc_avail(&vq, p));
	vq.desc_packed[3].flags = AV | US;	/* used in lap 1 */
	CU_ASSERT_FALSE(vhost_packed_desc_avail(&vq, p));
	p.wrap = false;
	CU_ASSERT_FALSE(vhost_packed_desc_avail(&vq, p));
	vq.desc_packed[3].flags = US;		/* available in lap 0 */
	CU_ASSERT_TRUE(vhost_packed_desc_avail(&vq, p));

	/* Positions wrap at the size, flipping the counter. */
	p = (struct vhost_ring_pos){ QSZ - 2, true };
	vhost_ring_pos_advance(&vq, &p, 2);
	CU_ASSERT_EQUAL(p.idx, 0);
	CU_ASSERT_FALSE(p.wrap);
	vhost_ring_pos_advance(&vq, &p, QSZ);
	CU_ASSERT_EQUAL(p.idx, 0);
	CU_ASSERT_TRUE(p.wrap);

	/* Counting what waits: 5 descriptors from position 1021 on. */
	for (unsigned int i = 0; i < QSZ; i++)
		vq.desc_packed[i].flags = 0;
	vq.last_avail_idx = 1021;
	vq.avail_wrap = true;
	for (unsigned int i = 1021; i < QSZ; i++)
		vq.desc_packed[i].flags = AV;
	vq.desc_packed[0].flags = US;
	CU_ASSERT_EQUAL(vhost_packed_avail_count(&vq), 5);
}

/* Runs of available descriptors, as the guest Tx burst checks them
 * before walking: counted from a position up to a limit, in one lap or
 * across the ring's end, ending at the first one not available even if
 * later ones are. */
static void
test_avail_run(void)
{
	struct vhost_ring_pos p = { 10, true };

	ut_translate_ok();
	for (unsigned int i = 0; i < QSZ; i++)
		vq.desc_packed[i].flags = 0;
	/* Nothing available. */
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 32), 0);
	/* 10 .. 19 available, 20 not, 21 .. 29 again: the run is 10. */
	for (unsigned int i = 10; i < 30; i++)
		vq.desc_packed[i].flags = AV | (uint16_t)(i % 3 == 0 ? VRING_DESC_F_NEXT : 0);
	vq.desc_packed[20].flags = AV | US;	/* used in lap 1 */
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 32), 10);
	/* Up to the limit only. */
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 4), 4);
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 0), 0);
	/* From 21 on: 9. */
	p.idx = 21;
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 32), 9);
	/* The other lap's flags are not available in this one. */
	p.wrap = false;
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 32), 0);

	/* Across the end: 1020 .. 1024 in lap 1, 0 .. 2 in lap 0 (wrap
	 * counter flipped: USED set, AVAIL clear), 3 not. */
	for (unsigned int i = 1020; i < QSZ; i++)
		vq.desc_packed[i].flags = AV;
	for (unsigned int i = 0; i < 3; i++)
		vq.desc_packed[i].flags = US;
	vq.desc_packed[3].flags = AV;	/* lap 1's: not available in lap 0 */
	p = (struct vhost_ring_pos){ 1020, true };
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 32), 8);
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 5), 5);
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 6), 6);
	/* Lap 1's flags at 0 would not do. */
	vq.desc_packed[0].flags = AV;
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, 32), 5);

	/* The whole ring, starting in the middle of a lap. */
	for (unsigned int i = 0; i < QSZ; i++)
		vq.desc_packed[i].flags = i < 500 ? US : AV;
	p = (struct vhost_ring_pos){ 500, true };
	CU_ASSERT_EQUAL(vhost_packed_avail_run(&vq, p, QSZ), QSZ);
	vq.last_avail_idx = 500;
	vq.avail_wrap = true;
	CU_ASSERT_EQUAL(vhost_packed_avail_count(&vq), QSZ);
}

static void
publish(uint16_t id, uint16_t ndesc, uint32_t len, uint16_t n)
{
	struct vhost_used_elem e[16];

	for (uint16_t i = 0; i < n; i++)
		e[i] = (struct vhost_used_elem){
			.id = vhost_packed_used_id((uint16_t)(id + i), ndesc),
			.len = len,
		};
	vhost_packed_used_publish(dev, &vq, e, n);
}

static void
test_used_publish(void)
{
	ut_translate_ok();
	for (unsigned int i = 0; i < QSZ; i++)
		vq.desc_packed[i] = (struct vring_packed_desc){
			.addr = 0x1234, .len = 0xeeee, .id = 0xeeee, .flags = AV };

	/* Three chains of two descriptors: used at 0, 2, 4. */
	publish(7, 2, 100, 3);
	CU_ASSERT_EQUAL(vq.last_used_idx, 6);
	CU_ASSERT_TRUE(vq.used_wrap);
	for (unsigned int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(vq.desc_packed[2 * i].id, 7 + i);
		CU_ASSERT_EQUAL(vq.desc_packed[2 * i].len, 100);
		CU_ASSERT_EQUAL(vq.desc_packed[2 * i].flags,
				AV | US | VRING_DESC_F_WRITE);
		/* Skipped descriptors stay as the driver wrote them. */
		CU_ASSERT_EQUAL(vq.desc_packed[2 * i + 1].id, 0xeeee);
		CU_ASSERT_EQUAL(vq.desc_packed[2 * i + 1].flags, AV);
	}
	/* Nothing written: no WRITE flag (a Tx buffer). */
	publish(1, 1, 0, 1);
	CU_ASSERT_EQUAL(vq.desc_packed[6].flags, AV | US);

	/* Across the end: the wrap counter flips, used flags clear. */
	vq.last_used_idx = QSZ - 1;
	publish(20, 1, 5, 3);
	CU_ASSERT_EQUAL(vq.desc_packed[QSZ - 1].flags, AV | US | VRING_DESC_F_WRITE);
	CU_ASSERT_EQUAL(vq.desc_packed[0].flags, VRING_DESC_F_WRITE);
	CU_ASSERT_EQUAL(vq.desc_packed[0].id, 21);
	CU_ASSERT_EQUAL(vq.desc_packed[1].id, 22);
	CU_ASSERT_EQUAL(vq.last_used_idx, 2);
	CU_ASSERT_FALSE(vq.used_wrap);

	/* Nothing to publish: nothing changes. */
	publish(0, 1, 0, 0);
	CU_ASSERT_EQUAL(vq.last_used_idx, 2);
}

static void
publish_tx(uint16_t id, const uint16_t *ndesc, uint16_t n)
{
	struct vhost_used_elem e[16];

	for (uint16_t i = 0; i < n; i++)
		e[i] = (struct vhost_used_elem){
			.id = vhost_packed_used_id((uint16_t)(id + i), ndesc[i]),
			.len = 0,
		};
	vhost_packed_used_publish_tx(dev, &vq, e, n);
}

/* Guest Tx bursts: with IN_ORDER one used descriptor at the burst's
 * first position carries the last buffer id, and nothing else of the
 * ring is written; without it, one used descriptor per chain. */
static void
test_used_publish_tx(void)
{
	static const uint16_t one[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
					  1, 1, 1, 1, 1, 1, 1, 1 };
	static const uint16_t mixed[3] = { 1, 3, 2 };
	struct vring_packed_desc before[QSZ];

	ut_translate_ok();
	for (unsigned int i = 0; i < QSZ; i++)
		vq.desc_packed[i] = (struct vring_packed_desc){
			.addr = 0x1234, .len = 76, .id = (uint16_t)i, .flags = AV };

	/* Not negotiated: every chain's descriptor is written. */
	publish_tx(0, one, 4);
	for (unsigned int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(vq.desc_packed[i].id, i);
		CU_ASSERT_EQUAL(vq.desc_packed[i].len, 0);
		CU_ASSERT_EQUAL(vq.desc_packed[i].flags, AV | US);
	}
	CU_ASSERT_EQUAL(vq.last_used_idx, 4);

	dev->features |= 1ULL << VIRTIO_F_IN_ORDER;
	memcpy(before, (const void *)vq.desc_packed, sizeof(before));
	/* Chains of 1, 3 and 2 descriptors at 4, 5 and 8: one used
	 * descriptor at 4 with the last id (12), positions 5 .. 9 as the
	 * driver left them. */
	publish_tx(10, mixed, 3);
	CU_ASSERT_EQUAL(vq.last_used_idx, 10);
	CU_ASSERT_TRUE(vq.used_wrap);
	CU_ASSERT_EQUAL(vq.desc_packed[4].id, 12);
	CU_ASSERT_EQUAL(vq.desc_packed[4].len, 0);
	CU_ASSERT_EQUAL(vq.desc_packed[4].flags, AV | US);
	CU_ASSERT_EQUAL(vq.desc_packed[4].addr, 0x1234);
	CU_ASSERT_EQUAL(memcmp(&before[5], (const void *)&vq.desc_packed[5],
			       (QSZ - 5) * sizeof(before[0])), 0);

	/* Across the end of the ring: written with the wrap counter of
	 * the burst's first position; the counter flips after. */
	vq.last_used_idx = QSZ - 2;
	memcpy(before, (const void *)vq.desc_packed, sizeof(before));
	publish_tx(30, one, 5);
	CU_ASSERT_EQUAL(vq.desc_packed[QSZ - 2].id, 34);
	CU_ASSERT_EQUAL(vq.desc_packed[QSZ - 2].flags, AV | US);
	CU_ASSERT_EQUAL(memcmp(&before[0], (const void *)&vq.desc_packed[0],
			       (QSZ - 2) * sizeof(before[0])), 0);
	CU_ASSERT_EQUAL(memcmp(&before[QSZ - 1], (const void *)&vq.desc_packed[QSZ - 1],
			       sizeof(before[0])), 0);
	CU_ASSERT_EQUAL(vq.last_used_idx, 3);
	CU_ASSERT_FALSE(vq.used_wrap);
	/* The next lap's used flags are clear. */
	publish_tx(40, one, 1);
	CU_ASSERT_EQUAL(vq.desc_packed[3].id, 40);
	CU_ASSERT_EQUAL(vq.desc_packed[3].flags, 0);
	CU_ASSERT_EQUAL(vq.last_used_idx, 4);

	/* Nothing to publish: nothing changes. */
	publish_tx(0, one, 0);
	CU_ASSERT_EQUAL(vq.last_used_idx, 4);
}

/* In-order Tx bursts notify as the driver's event offset asks: the
 * burst covers every position it skips. */
static void
test_notify_tx(void)
{
	static const uint16_t one[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
					  1, 1, 1, 1, 1, 1, 1, 1 };

	ut_translate_ok();
	vq.callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(vq.callfd >= 0);
	dev->features |= 1ULL << VIRTIO_F_IN_ORDER | 1ULL << VIRTIO_RING_F_EVENT_IDX;
	vq.driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	publish_tx(0, one, 8);			/* 0 .. 7 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	vq.driver_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	vq.driver_event->off_wrap = 12 | 1u << 15;
	publish_tx(8, one, 4);			/* 8 .. 11 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish_tx(12, one, 8);			/* 12 .. 19: covers 12 */
	CU_ASSERT_EQUAL(ut_calls(), 1);
	vq.driver_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	publish_tx(20, one, 1);
	CU_ASSERT_EQUAL(ut_calls(), 1);
}

static void
test_notify(void)
{
	ut_translate_ok();
	vq.callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(vq.callfd >= 0);

	vq.driver_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	publish(0, 1, 1, 1);
	CU_ASSERT_EQUAL(ut_calls(), 1);
	vq.driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	publish(0, 1, 1, 4);
	CU_ASSERT_EQUAL(ut_calls(), 0);
	/* DESC without EVENT_IDX is not a valid wish: notify. */
	vq.driver_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	publish(0, 1, 1, 1);
	CU_ASSERT_EQUAL(ut_calls(), 1);

	/* With EVENT_IDX: the used descriptor at offset 10, wrap 1. */
	dev->features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	vq.driver_event->off_wrap = 10 | 1u << 15;
	publish(0, 1, 1, 3);			/* 6 .. 8 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 1, 3);			/* 9 .. 11: covers 10 */
	CU_ASSERT_EQUAL(ut_calls(), 1);
	publish(0, 1, 1, 1);			/* 12: behind */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	/* A multi-descriptor chain's skipped slots count too. */
	vq.driver_event->off_wrap = 14 | 1u << 15;
	publish(0, 4, 1, 1);			/* 13 .. 16 */
	CU_ASSERT_EQUAL(ut_calls(), 1);

	/* Across the wrap: offset 1 of the next lap (wrap 0). */
	vq.last_used_idx = QSZ - 2;
	vq.signalled_used = vhost_packed_linear(&vq, QSZ - 2, true);
	vq.driver_event->off_wrap = 1;
	publish(0, 1, 1, 2);			/* 1023, 1024 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 1, 1);			/* 0 (wrap 0) */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	publish(0, 1, 1, 1);			/* 1 (wrap 0) */
	CU_ASSERT_EQUAL(ut_calls(), 1);
	/* The same offset with the old wrap value is a lap behind. */
	vq.driver_event->off_wrap = 3 | 1u << 15;
	publish(0, 1, 1, 3);			/* 2 .. 4 */
	CU_ASSERT_EQUAL(ut_calls(), 0);
	/* An offset outside the ring: notify rather than stall. */
	vq.driver_event->off_wrap = 0x7fff;
	publish(0, 1, 1, 1);
	CU_ASSERT_EQUAL(ut_calls(), 1);
}

/* The device event area: whether, and with EVENT_IDX when, the driver
 * kicks. */
static void
test_device_event(void)
{
	volatile struct vring_packed_desc_event *ev;

	ut_translate_ok();
	ev = vq.device_event;
	vq.guest_notify = false;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	vq.guest_notify = true;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);

	/* With EVENT_IDX: a kick for the descriptor at our avail position,
	 * with its wrap counter. */
	dev->features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	vq.last_avail_idx = 1020;
	vq.avail_wrap = false;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DESC);
	CU_ASSERT_EQUAL(ev->off_wrap, 1020);
	vq.last_avail_idx = 3;
	vq.avail_wrap = true;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DESC);
	CU_ASSERT_EQUAL(ev->off_wrap, 3 | 1u << 15);
	vq.guest_notify = false;
	vhost_vring_apply_notify(dev, &vq);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
}

static void
test_base(void)
{
	/* GET returns avail in 0-15, used in 16-31, wraps in bit 15. */
	vq.last_avail_idx = 5;
	vq.avail_wrap = false;
	vq.last_used_idx = 3;
	vq.used_wrap = true;
	CU_ASSERT_EQUAL(vhost_vring_packed_base(&vq), 5u | (3u | 0x8000u) << 16);

	/* SET with only the avail half (DPDK's virtio-user). */
	CU_ASSERT_EQUAL(vhost_vring_set_packed_base(dev, &vq, 0x8000 | 7), 0);
	CU_ASSERT_EQUAL(vq.last_avail_idx, 7);
	CU_ASSERT_TRUE(vq.avail_wrap);
	CU_ASSERT_EQUAL(vq.last_used_idx, 7);
	CU_ASSERT_TRUE(vq.used_wrap);
	/* Both halves (QEMU). */
	CU_ASSERT_EQUAL(vhost_vring_set_packed_base(dev, &vq, 9 | (4u << 16) | (1u << 31)), 0);
	CU_ASSERT_EQUAL(vq.last_avail_idx, 9);
	CU_ASSERT_FALSE(vq.avail_wrap);
	CU_ASSERT_EQUAL(vq.last_used_idx, 4);
	CU_ASSERT_TRUE(vq.used_wrap);
	/* Outside the ring. */
	CU_ASSERT_EQUAL(vhost_vring_set_packed_base(dev, &vq, QSZ), -EINVAL);
	CU_ASSERT_EQUAL(vhost_vring_set_packed_base(dev, &vq, 1 | (uint32_t)QSZ << 16), -EINVAL);
	CU_ASSERT_EQUAL(vq.last_avail_idx, 9);
}

/* Dirty logging: the used descriptors written and the device event
 * area, by guest physical page. */
static void
test_log(void)
{
	uint8_t *view = ut_log_map();

	dev->features |= 1ULL << VHOST_F_LOG_ALL;
	ut_translate_ok();
	memset(view + UT_LOG_OFF, 0, UT_LOG_SIZE);
	/* Descriptors 255 (page 0) and 256 (page 1). */
	vq.last_used_idx = 255;
	publish(0, 1, 1, 2);
	vhost_vring_apply_notify(dev, &vq);	/* page 6 */
	CU_ASSERT_EQUAL(ut_log_bits(view), 1ULL << 0 | 1ULL << 1 | 1ULL << 6);
	/* In order, a Tx burst from 255 writes descriptor 255 alone. */
	dev->features |= 1ULL << VIRTIO_F_IN_ORDER;
	memset(view + UT_LOG_OFF, 0, UT_LOG_SIZE);
	vq.last_used_idx = 255;
	{
		static const uint16_t one[4] = { 1, 1, 1, 1 };

		publish_tx(0, one, 4);
	}
	CU_ASSERT_EQUAL(ut_log_bits(view), 1ULL << 0);
	munmap(view, UT_LOG_FILE);
}

/* Restart the ring at base (16-bit form, as virtio-user sends it) on the
 * ring memory as it is; returns the positions the ring resumes from. */
static struct vhost_ring_pos
restart(uint32_t base)
{
	CU_ASSERT_EQUAL_FATAL(vhost_vring_set_packed_base(dev, &vq, base), 0);
	vq.resync_armed = true;
	vhost_vring_resync(dev, &vq);
	CU_ASSERT_EQUAL(vq.last_avail_idx, vq.last_used_idx);
	CU_ASSERT_EQUAL(vq.avail_wrap, vq.used_wrap);
	return (struct vhost_ring_pos){ vq.last_used_idx, vq.used_wrap };
}

static void
set_desc(uint16_t i, uint16_t flags, uint16_t id)
{
	vq.desc_packed[i] = (struct vring_packed_desc){
		.addr = 0x8000, .len = 64, .id = id, .flags = flags };
}

/* Descriptors from..to-1 with flags, each its own id. */
static void
set_descs(uint16_t from, uint16_t to, uint16_t flags)
{
	for (uint16_t i = from; i < to; i++)
		set_desc(i, flags, i);
}

/* Restarted from base, the ring resumes at position at with wrap
 * counter lap. A macro, so that a failure names the case's line. */
#define expect_resume(base, at, lap) do { \
		struct vhost_ring_pos p_ = restart(base); \
		CU_ASSERT(p_.idx == (at) && p_.wrap == (lap)); \
	} while (0)

static void
test_resync(void)
{
	ut_translate_ok();
	/* A ring virtio-user reset: zeroed, then buffers made available in
	 * lap 1. Base 0 with the wrap bit agrees with it: no change. */
	memset(vq.desc_packed, 0, QSZ * sizeof(struct vring_packed_desc));
	set_descs(0, 10, AV);
	expect_resume(1u << 15, 0, true);

	/* The previous backend used 0..5 (one descriptor each), the driver
	 * made 6..9 available: a base of 0 resumes at 6. */
	set_descs(0, 6, AV | US);
	expect_resume(1u << 15, 6, true);
	/* Base 2 (stale too) comes to the same place; base 6 is right. */
	CU_ASSERT_EQUAL(restart(1u << 15 | 2).idx, 6);
	CU_ASSERT_EQUAL(restart(1u << 15 | 6).idx, 6);

	/* The last used chain had three descriptors (6, 7, 8: NEXT on the
	 * first two, the id on the last), the driver's next chain is at 9. */
	set_desc(6, AV | US, 40);
	set_desc(7, AV | VRING_DESC_F_NEXT, 0);
	set_desc(8, AV, 40);
	set_desc(9, AV, 41);
	CU_ASSERT_EQUAL(restart(1u << 15).idx, 9);
	/* A one-descriptor chain at 6 followed by the driver's chain 7-8
	 * with another id: resume at 7. */
	set_desc(8, AV, 41);
	CU_ASSERT_EQUAL(restart(1u << 15).idx, 7);

	/* The previous backend wrapped: lap 0's used descriptors at 0..2,
	 * lap 1's from 3 to the end. A base in lap 1 resumes at 3, lap 0. */
	set_descs(0, QSZ, AV | US);
	set_descs(0, 3, 0);
	set_desc(3, AV, 3);
	expect_resume(1u << 15 | 500, 3, false);
	/* Every descriptor used in lap 1: the ring resumes at 0 of lap 0. */
	set_desc(0, AV | US, 0);
	set_desc(1, AV | US, 1);
	set_desc(2, AV | US, 2);
	set_desc(3, AV | US, 3);
	expect_resume(1u << 15 | 7, 0, false);

	/* The driver at 10 (lap 1): 0..5 used, 6..9 its. Base 6 with the
	 * other wrap counter (a lap behind) is flipped; with the right one
	 * it stands. Base 20 of lap 1 is ahead of the driver: flipped to
	 * lap 0, where 20.. were used, then 0..5: resume at 6. */
	memset(vq.desc_packed, 0, QSZ * sizeof(struct vring_packed_desc));
	set_descs(0, 6, AV | US);
	set_descs(6, 10, AV);
	expect_resume(6, 6, true);
	expect_resume(1u << 15 | 6, 6, true);
	expect_resume(1u << 15 | 20, 6, true);
	/* Bases 7 and 8 are inside the driver's chain 6..8: kept (an
	 * error says so), the ring cannot tell where the device stands.
	 * 6 starts the chain, after a used one: it stands. */
	set_desc(6, AV | VRING_DESC_F_NEXT, 8);
	set_desc(7, AV | VRING_DESC_F_NEXT, 8);
	set_desc(8, AV, 8);
	expect_resume(1u << 15 | 7, 7, true);
	expect_resume(1u << 15 | 8, 8, true);
	expect_resume(1u << 15 | 6, 6, true);

	/* The driver filled the ring: 6.. of lap 1 and 0..5 of lap 0 are
	 * its, nothing is used. Base 6 of lap 0 (the driver's own position,
	 * a lap ahead) resumes a ring behind it; 6 of lap 1 stands. */
	memset(vq.desc_packed, 0, QSZ * sizeof(struct vring_packed_desc));
	set_descs(6, QSZ, AV);
	set_descs(0, 6, US);
	expect_resume(6, 6, true);
	expect_resume(1u << 15 | 6, 6, true);

	/* Everything used: lap 1 to the end, then 0..5 of lap 0; the
	 * driver is at 6 of lap 0 with nothing outstanding. Base 6 of lap
	 * 1 (a lap behind) resumes at 6 of lap 0; that one stands. */
	set_descs(6, QSZ, AV | US);
	set_descs(0, 6, 0);
	expect_resume(1u << 15 | 6, 6, false);
	expect_resume(6, 6, false);

	/* AVAIL bits that change at more than one place: the driver's
	 * position is unknown, the base is kept. */
	memset(vq.desc_packed, 0, QSZ * sizeof(struct vring_packed_desc));
	set_descs(0, 6, AV | US);
	set_descs(10, 12, AV);
	expect_resume(1u << 15 | 3, 3, true);

	/* Not armed (a running ring translated again): no check. */
	CU_ASSERT_EQUAL_FATAL(vhost_vring_set_packed_base(dev, &vq, 1u << 15 | 7), 0);
	vq.resync_armed = false;
	vhost_vring_resync(dev, &vq);
	CU_ASSERT_EQUAL(vq.last_used_idx, 7);
}

static CU_TestInfo tests[] = {
	{ "translate (size 1025)", test_translate },
	{ "avail detection and positions", test_avail },
	{ "runs of available descriptors", test_avail_run },
	{ "used write-back", test_used_publish },
	{ "used write-back of guest Tx bursts (in order)", test_used_publish_tx },
	{ "guest notification (event suppression)", test_notify },
	{ "guest notification after in-order Tx bursts", test_notify_tx },
	{ "device event area (driver kicks)", test_device_event },
	{ "vring base with wrap counters", test_base },
	{ "dirty log", test_log },
	{ "resync of a restarted ring from its flags", test_resync },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "vring_packed", ut_dev_suite_init, ut_dev_suite_clean, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return ut_main(suites, argc, argv, 20);
}
