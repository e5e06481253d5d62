/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_LIMITS_H
#define VHOST_LIMITS_H

/* Every bound the library enforces on frontend input, with its reason. */

/* The SET_MEM_TABLE payload has room for 8 regions (protocol constant). */
#define VHOST_MAX_MEM_REGIONS 8

/* Regions added one at a time (CONFIGURE_MEM_SLOTS): QEMU's vhost-user
 * frontend takes at most 509 (GET_MAX_MEM_SLOTS), the number of KVM
 * memory slots it can back, so guests can hot-plug that many DIMMs.
 * Region indexes are kept in 16 bits. */
#define VHOST_MAX_MEM_SLOTS 509
/* Alignment of every address, size and offset of an added region. */
#define VHOST_MEM_REG_ALIGN 4096u

/* File descriptors in one message: the protocol allows at most 8. */
#define VHOST_MAX_MSG_FDS 8

/* 128 queue pairs, as DPDK 22.11 accepts: GET_QUEUE_NUM reports it. */
#define VHOST_MAX_QUEUE_PAIRS 128
#define VHOST_MAX_VRINGS (VHOST_MAX_QUEUE_PAIRS * 2)

/* Split ring size: a power of two, at most 32768 (virtio spec). */
#define VHOST_MAX_RING_SIZE 32768

/* Buffer pieces one packet may be scattered over, after translation.
 * Linux uses at most MAX_SKB_FRAGS + 2 descriptors per packet; a chain
 * that needs more pieces is dropped instead of walked further. */
#define VHOST_MAX_PKT_SEGS 256

/* Chains one mergeable packet may use (num_buffers is a u16, but a
 * 64 KiB packet in 1500-byte buffers needs 44). */
#define VHOST_MAX_MRG_CHAINS 64

/* A packet larger than this is never built from a guest chain:
 * 64 KiB of TSO payload plus headers. */
#define VHOST_MAX_PKT_LEN (64 * 1024 + 256)

/* Largest payload of a request from the frontend. Anything bigger is a
 * protocol violation; the connection is closed rather than resynced. */
#define VHOST_MAX_MSG_PAYLOAD 4096

/* A partial message must not block the event thread for long: while
 * it waits, no other device's messages are handled, and IOTLB updates
 * answering other devices' misses must arrive within
 * VHOST_IOTLB_MISS_TIMEOUT_MS, or those devices drop packets. Frontends
 * write a message with one sendmsg(); its parts arrive together. */
#define VHOST_MSG_TIMEOUT_MS 250
/* Messages of one connection handled per wake-up of the event thread,
 * and room for their replies (an ack is 20 bytes; a larger reply that
 * does not fit flushes the others first). */
#define VHOST_MSGS_PER_WAKEUP 32
#define VHOST_REPLY_BUF_SIZE 2048

/* Dirty log bitmap: one bit per 4 KiB page. 1 TiB of guest memory needs
 * 32 MiB of bitmap; refuse larger logs rather than map anything asked. */
#define VHOST_LOG_PAGE 4096
#define VHOST_MAX_LOG_SIZE (32ULL << 20)

/* MTU range accepted by NET_SET_MTU (virtio-net spec). */
#define VHOST_MIN_MTU 68
#define VHOST_MAX_MTU 65535

/* Client mode: interval between two connection attempts. */
#define VHOST_RECONNECT_INTERVAL_MS 1000

/* Device IOTLB, one per device: entries held at most (default), and
 * the environment variable that changes it without a rebuild. 32768
 * entries hold 128 MiB of guest memory mapped in scattered 4 KiB pages
 * (or 64 GiB in 2 MiB pages), far more than a NIC's buffers; their
 * memory is vhost_iotlb_mem_bytes(): 3.6 MiB, allocated at the first
 * UPDATE and only touched as entries are made. */
#define VHOST_IOTLB_DEFAULT_ENTRIES 32768
#define VHOST_IOTLB_MAX_ENTRIES_ENV "VHOST_IOTLB_MAX_ENTRIES"
/* Accepted range of VHOST_IOTLB_MAX_ENTRIES (the top: 464 MiB). */
#define VHOST_IOTLB_MIN_ENTRIES_CONF 16
#define VHOST_IOTLB_MAX_ENTRIES_CONF (1u << 22)

/* IOTLB misses are asked once per 4 KiB page (the smallest IOMMU page):
 * at most this many pages per ring are waiting for an answer. */
#define VHOST_IOTLB_PAGE 4096
#define VHOST_IOTLB_MAX_PENDING 64

/* Misses sent with NEED_REPLY whose answer is still awaited, per
 * device: the frontend answers "not mapped" at once, so an access to an
 * IOVA the guest never mapped fails without waiting for the timeout. */
#define VHOST_IOTLB_MAX_ASKED 256

/* A miss the frontend does not answer in this time (an IOVA the guest
 * never mapped) fails the access: the chain is dropped and counted. */
#define VHOST_IOTLB_MISS_TIMEOUT_MS 500
/* Pages of one buffer asked for together after a miss (64 KiB). */
#define VHOST_IOTLB_MISS_AHEAD_PAGES 16
/* A frontend stuck in the middle of a message holds the event thread:
 * other devices' answers must still make it in time. */
_Static_assert(2 * VHOST_MSG_TIMEOUT_MS <= VHOST_IOTLB_MISS_TIMEOUT_MS,
	       "a partial message may not outlast other devices' misses");

/* Environment variable: a lifetime in microseconds for IOTLB entries (0 or unset:
 * entries live until invalidated, as the protocol says). A workaround
 * for frontends that do not forward every invalidation: QEMU 7.2 drops
 * the domain-wide flushes of a Linux guest in lazy mode (iommu.strict=0),
 * so cached entries would go stale; see doc/iotlb.md. */
#define VHOST_IOTLB_MAX_AGE_ENV "VHOST_IOTLB_MAX_AGE_US"

/* Packets an enqueue keeps, rather than reporting them unsent, while
 * the guest buffers they need wait for an IOTLB update. Held packets
 * are dropped (and counted) only if they wait twice the miss timeout. */
#define VHOST_MAX_HELD_PKTS 256

/* The event thread's tick: how long it waits for an fd at most before
 * it retries client connections and held packets (fd_event.c). */
#define VHOST_EVENT_TICK_MS 100

/* The longest stretch between two attempts to deliver held packets that
 * counts in full towards their wait: the event thread tries every tick
 * besides every burst, so a gap of two ticks means no thread could (the
 * process, or a thread holding the ring, was not scheduled), and that
 * time is not the frontend's or the guest's delay. */
#define VHOST_HELD_MAX_GAP_MS (2 * VHOST_EVENT_TICK_MS)
/* One gap counted in full must leave held packets most of their wait
 * (twice the miss timeout) for the frontend's answer. */
_Static_assert(VHOST_HELD_MAX_GAP_MS <= VHOST_IOTLB_MISS_TIMEOUT_MS,
	       "a stall of the event thread alone would make packets stale");

#endif /* VHOST_LIMITS_H */
