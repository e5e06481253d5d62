#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the seed corpora of the lib/vhost fuzz targets into
corpus/<target>/ next to this script. The seeds are small valid (and a
few deliberately invalid) inputs in each target's input format, so the
fuzzer starts from running devices, walked chains and merged IOTLB
entries instead of having to discover the formats byte by byte. The
encodings follow the decoders in fuzz_*.c; keep them in sync."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v): return struct.pack('<B', v & 0xff)
def u16(v): return struct.pack('<H', v & 0xffff)
def u32(v): return struct.pack('<I', v & 0xffffffff)
def u64(v): return struct.pack('<Q', v & 0xffffffffffffffff)


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- packets ----

def ipv4_udp(payload=32, ihl=5):
    eth = b'\x02' * 6 + b'\x04' * 6 + u16(0x0008)   # type 0x0800, big endian
    tot = 4 * ihl + 8 + payload
    ip = bytes([0x40 | ihl, 0]) + struct.pack('>HHHBBH', tot, 1, 0, 64, 17, 0)
    ip += bytes([10, 0, 0, 1, 10, 0, 0, 2]) + b'\x00' * (4 * (ihl - 5))
    udp = struct.pack('>HHHH', 1000, 2000, 8 + payload, 0)
    return eth + ip + udp + bytes(i & 0xff for i in range(payload))


def ipv4_tcp(payload=64):
    eth = b'\x02' * 6 + b'\x04' * 6 + u16(0x0008)
    ip = bytes([0x45, 0]) + struct.pack('>HHHBBH', 40 + payload, 1, 0, 64, 6, 0)
    ip += bytes([10, 0, 0, 1, 10, 0, 0, 2])
    tcp = struct.pack('>HHIIBBHHH', 1000, 2000, 1, 0, 0x50, 0x18, 65535, 0, 0)
    return eth + ip + tcp + bytes(i & 0xff for i in range(payload))


def ipv6_tcp(payload=64):
    eth = b'\x02' * 6 + b'\x04' * 6 + u16(0xdd86)   # 0x86dd
    ip = struct.pack('>IHBB', 0x60000000, 20 + payload, 6, 64) + bytes(16) + bytes(16)
    tcp = struct.pack('>HHIIBBHHH', 1000, 2000, 1, 0, 0x50, 0x18, 65535, 0, 0)
    return eth + ip + tcp + bytes(payload)


def vnet_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_off=0,
             mrg=True):
    h = u8(flags) + u8(gso) + u16(hdr_len) + u16(gso_size) + u16(csum_start) + u16(csum_off)
    return h + (u16(1) if mrg else b'')


NEEDS_CSUM, DATA_VALID = 1, 2
GSO_TCPV4, GSO_UDP, GSO_TCPV6 = 1, 3, 4

# ---- fuzz_messages ----

GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_LOG_BASE, SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 6, 7, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 11, 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM = 15, 16, 17
SET_VRING_ENABLE, SEND_RARP, NET_SET_MTU, SET_BACKEND_REQ_FD, IOTLB_MSG = 18, 19, 20, 21, 22
GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG = 36, 37, 38
SET_STATUS, GET_STATUS = 39, 40

FD_GUEST, FD_GUEST2, FD_SMALL, FD_EV_A, FD_EV_B, FD_BACKEND, FD_RDONLY = range(7)

F_CSUM, F_GUEST_CSUM, F_MTU = 0, 1, 3
F_GUEST_TSO4, F_HOST_TSO4, F_HOST_UFO, F_MRG_RXBUF, F_MQ = 7, 11, 14, 15, 22
F_LOG_ALL, F_INDIRECT, F_EVENT_IDX, F_PROTOCOL, F_V1, F_IOMMU = 26, 28, 29, 30, 32, 33
P_MQ, P_LOG_SHMFD, P_RARP, P_REPLY_ACK, P_MTU, P_BACKEND_REQ, P_STATUS = 0, 1, 2, 3, 4, 5, 16
P_MEM_SLOTS = 15

UADDR = 0x7f0000000000          # the frontend's address of guest memory
MB = 1 << 20
# Ring layout in guest memory: (desc, avail, used) per queue.
RINGS = {0: (0x0000, 0x1000, 0x2000), 1: (0x4000, 0x5000, 0x6000),
         2: (0x8000, 0x9000, 0xa000), 3: (0xc000, 0xd000, 0xe000)}
RX_BUF, TX_BUF = 0x20000, 0x10000


def msg(req, payload=b'', flags=1, fds=(), ctl=0, size=None):
    """[ctl, request, flags, size u16, fd kinds..., payload]"""
    if size is None:
        size = len(payload)
    b = u8(ctl | len(fds))
    b += u8(req) if req < 0xff else b'\xff' + u32(req)
    return b + u8(flags) + u16(size) + bytes(fds) + payload


def state(index, num): return u32(index) + u32(num)


def vring_addr(index, desc, avail, used, flags=0, log=0):
    return u32(index) + u32(flags) + u64(desc) + u64(used) + u64(avail) + u64(log)


def mem_table(regions):
    """regions: (gpa, size, uaddr, offset)"""
    p = u32(len(regions)) + u32(0)
    for gpa, size, uaddr, off in regions:
        p += u64(gpa) + u64(size) + u64(uaddr) + u64(off)
    return p


def mem_reg(gpa, size, uaddr, off):
    """ADD_MEM_REG / REM_MEM_REG payload: padding, one region"""
    return u64(0) + u64(gpa) + u64(size) + u64(uaddr) + u64(off)


def iotlb(iova, size, uaddr, perm, typ):
    return u64(iova) + u64(size) + u64(uaddr) + u8(perm) + u8(typ) + bytes(6)


def guest_write(off, data, sel=0):
    """pseudo-message: the guest writes memory"""
    return b'\xc0' + u8(0) + u8(sel) + u32(off) + u16(len(data)) + data


def burst(q, count, dequeue=False, enqueue=()):
    """pseudo-message: dequeue up to count packets and/or enqueue the
    given ones (len, ol, bytes); count is also the number enqueued."""
    if enqueue:
        count = len(enqueue)
    b = b'\xc0' + u8(1) + u8(q) + u8(count) + u8((1 if dequeue else 0) | (2 if enqueue else 0))
    for data, ol in enqueue:
        b += u16(len(data)) + u8(ol) + data
    return b


def query(q): return b'\xc0' + u8(2) + u8(q) + u8(0)
def answer_misses(shift, perm_extra, how=0):
    """pseudo-message: answer pending misses; how: 1 no update, 2 "not
    mapped", 4 no answer on the backend channel"""
    return b'\xc0' + u8(4) + u8(shift) + u8(perm_extra) + u8(how)


def notify(q, what, addr=0, length=0):
    return b'\xc0' + u8(3) + u8(q) + u8(what) + u64(addr) + u32(length)


def ring_base(iommu):
    """Ring addresses: IOVAs with the IOMMU (mapped 1:1 onto guest
    memory below), frontend user addresses without."""
    return 0 if iommu else UADDR


def setup_ring(q, iommu=False, ack=False, log_used=False):
    d, a, u = RINGS[q]
    base = ring_base(iommu)
    fl = 9 if ack else 1
    return (msg(SET_VRING_NUM, state(q, 256), fl) +
            msg(SET_VRING_BASE, state(q, 0), fl) +
            msg(SET_VRING_ADDR, vring_addr(q, base + d, base + a, base + u,
                                           1 if log_used else 0, u), fl) +
            msg(SET_VRING_KICK, u64(q), fl, fds=[FD_EV_A]) +
            msg(SET_VRING_CALL, u64(q), fl, fds=[FD_EV_B]) +
            msg(SET_VRING_ENABLE, state(q, 1), fl))


def handshake(iommu=False, features=(F_MRG_RXBUF, F_INDIRECT), ack=False,
              queues=(0, 1), proto_extra=(), sock=None):
    feats = (1 << F_V1) | (1 << F_PROTOCOL)
    for f in features:
        feats |= 1 << f
    proto = (1 << P_MQ) | (1 << P_LOG_SHMFD) | (1 << P_RARP) | (1 << P_REPLY_ACK) | \
        (1 << P_MTU) | (1 << P_STATUS)
    for p in proto_extra:
        proto |= 1 << p
    if iommu:
        feats |= 1 << F_IOMMU
        proto |= 1 << P_BACKEND_REQ
    # Sockets: 0 plain, 1 IOMMU (+EXTBUF), 2 LINEARBUF, 3 and 4 IOMMU
    # with IOTLB entry lifetimes of 1 s and 1 us.
    b = u8(sock if sock is not None else (1 if iommu else 0))
    b += msg(GET_FEATURES) + msg(SET_OWNER) + msg(GET_PROTOCOL_FEATURES)
    b += msg(SET_PROTOCOL_FEATURES, u64(proto)) + msg(SET_FEATURES, u64(feats), 9 if ack else 1)
    if iommu:
        b += msg(SET_BACKEND_REQ_FD, fds=[FD_BACKEND])
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0)]), 9 if ack else 1, fds=[FD_GUEST])
    for q in queues:
        b += setup_ring(q, iommu, ack)
    if iommu:
        # IOTLB updates go to the rings that exist: after their set-up.
        b += msg(IOTLB_MSG, iotlb(0, MB, UADDR, 3, 2), 9)
    return b


def desc(addr, length, flags=0, nxt=0):
    return u64(addr) + u32(length) + u16(flags) + u16(nxt)


def tx_packets(q, packets, start=0):
    """The guest queues each packet in one descriptor of ring q."""
    d, a, _ = RINGS[q]
    b = b''
    off = TX_BUF
    for i, p in enumerate(packets):
        b += guest_write(off, p)
        b += guest_write(d + 16 * (start + i), desc(off, len(p)))
        b += guest_write(a + 4 + 2 * (start + i), u16(start + i))
        off += 0x1000
    return b + guest_write(a + 2, u16(start + len(packets)))


def rx_buffers(q, n, size=2048, flags=2):
    d, a, _ = RINGS[q]
    b = b''
    for i in range(n):
        b += guest_write(d + 16 * i, desc(RX_BUF + i * size, size, flags))
        b += guest_write(a + 4 + 2 * i, u16(i))
    return b + guest_write(a + 2, u16(n))


def messages_corpus():
    t = 'fuzz_messages'
    udp = vnet_hdr() + ipv4_udp(64)
    tcp_csum = vnet_hdr(NEEDS_CSUM, 0, 0, 0, 34, 16) + ipv4_tcp(100)
    tso = vnet_hdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16) + ipv4_tcp(2000)

    write(t, 'handshake', handshake())
    write(t, 'handshake_ack', handshake(ack=True, features=(F_MRG_RXBUF, F_EVENT_IDX, F_CSUM)))
    write(t, 'tx_udp', handshake() + tx_packets(1, [udp]) + burst(1, 8, dequeue=True))
    write(t, 'tx_offloads', handshake(features=(F_MRG_RXBUF, F_CSUM, F_HOST_TSO4)) +
          tx_packets(1, [tcp_csum, tso]) + burst(1, 4, dequeue=True))
    # One packet in an indirect table of three descriptors.
    d1, a1, _ = RINGS[1]
    ind = desc(TX_BUF, 12, 1, 1) + desc(TX_BUF + 12, 34, 1, 2) + desc(TX_BUF + 46, len(udp) - 46)
    write(t, 'tx_indirect', handshake() + guest_write(TX_BUF, udp) + guest_write(0x30000, ind) +
          guest_write(d1, desc(0x30000, 48, 4)) + guest_write(a1 + 4, u16(0)) +
          guest_write(a1 + 2, u16(1)) + burst(1, 4, dequeue=True))
    write(t, 'rx_mrg', handshake() + rx_buffers(0, 8) +
          burst(0, 3, enqueue=[(ipv4_udp(100), 0), (ipv4_tcp(3000), 3), (ipv4_udp(10), 2)]))
    write(t, 'rx_plain', handshake(features=(F_INDIRECT,)) + rx_buffers(0, 4, 1024) +
          burst(0, 2, enqueue=[(ipv4_udp(100), 1), (ipv6_tcp(500), 4)]))
    write(t, 'rx_tx_event_idx', handshake(features=(F_MRG_RXBUF, F_EVENT_IDX)) +
          notify(0, 3) + notify(1, 3) + rx_buffers(0, 4) + tx_packets(1, [udp, udp]) +
          burst(1, 4, dequeue=True, enqueue=[(ipv4_udp(60), 0)]) + query(1))
    # Device IOTLB: rings and buffers are IOVAs mapped onto guest memory.
    write(t, 'iommu_tx_rx', handshake(iommu=True) + rx_buffers(0, 4) +
          tx_packets(1, [udp]) + burst(1, 4, dequeue=True, enqueue=[(ipv4_udp(80), 0)]) + query(0))
    # Only the rings mapped: buffers miss, packets are held, then the
    # update arrives and delivers them.
    b = u8(1) + msg(GET_FEATURES) + msg(SET_OWNER)
    b += msg(SET_PROTOCOL_FEATURES, u64((1 << P_REPLY_ACK) | (1 << P_BACKEND_REQ)))
    b += msg(SET_FEATURES, u64((1 << F_V1) | (1 << F_PROTOCOL) | (1 << F_IOMMU) | (1 << F_MRG_RXBUF)))
    b += msg(SET_BACKEND_REQ_FD, fds=[FD_BACKEND])
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0)]), fds=[FD_GUEST])
    b += setup_ring(0, True) + setup_ring(1, True)
    b += answer_misses(0, 3)       # the rings' misses, page by page
    b += rx_buffers(0, 2) + tx_packets(1, [udp])
    b += burst(0, 2, dequeue=True, enqueue=[(ipv4_udp(50), 0), (ipv4_udp(51), 0)])
    b += burst(1, 2, dequeue=True)
    b += msg(IOTLB_MSG, iotlb(0x10000, 0x20000, UADDR + 0x10000, 3, 2), 9)
    b += burst(1, 2, dequeue=True, enqueue=[(ipv4_udp(52), 0)])
    b += msg(IOTLB_MSG, iotlb(0, 0x8000, 0, 0, 3), 9)      # invalidate the rings
    b += burst(1, 2, dequeue=True) + answer_misses(4, 0) + burst(1, 2, dequeue=True)
    write(t, 'iommu_miss_hold', b)
    # Dirty logging: log area in a small memfd, used ring logged.
    b = handshake(features=(F_MRG_RXBUF, F_LOG_ALL))
    b += msg(SET_LOG_BASE, u64(4096) + u64(0), fds=[FD_SMALL])
    b += msg(SET_VRING_ADDR, vring_addr(0, UADDR, UADDR + 0x1000, UADDR + 0x2000, 1, 0x2000))
    b += rx_buffers(0, 4) + burst(0, 2, enqueue=[(ipv4_udp(300), 0), (ipv4_udp(30), 0)])
    b += notify(0, 16 | 32, 0x3000, 100)
    write(t, 'dirty_log', b)
    # Stop and restart: GET_VRING_BASE, RESET_OWNER, set-up again.
    b = handshake() + tx_packets(1, [udp]) + burst(1, 2, dequeue=True)
    b += msg(GET_VRING_BASE, state(0, 0)) + msg(GET_VRING_BASE, state(1, 0))
    b += msg(RESET_OWNER) + handshake()[1:] + query(0)
    write(t, 'stop_restart', b)
    # New memory table while running: two regions.
    b = handshake() + msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0),
                                                     (0x100000, 0x10000, 0x7f1000000000, 0)]),
                          fds=[FD_GUEST, FD_GUEST2])
    b += tx_packets(1, [udp]) + burst(1, 2, dequeue=True)
    write(t, 'mem_table_replace', b)
    # Memory slots: regions added beside the table, packets through the
    # added one, removed again (also one that is not there, and one
    # twice), a duplicate and an overlap, then a table replacing all.
    g2 = (0x100000, 0x10000, 0x7f1000000000, 0)
    b = handshake(proto_extra=(P_MEM_SLOTS,)) + msg(GET_MAX_MEM_SLOTS)
    b += msg(ADD_MEM_REG, mem_reg(*g2), 9, fds=[FD_GUEST2])
    b += msg(ADD_MEM_REG, mem_reg(*g2), 9, fds=[FD_GUEST2])
    b += msg(ADD_MEM_REG, mem_reg(0x108000, 0x8000, 0x7f2000000000, 0), 9, fds=[FD_GUEST2])
    b += msg(ADD_MEM_REG, mem_reg(0x200000, 0x1000, 0x7f3000000000, 0x1000), 9, fds=[FD_SMALL])
    b += tx_packets(1, [udp]) + burst(1, 2, dequeue=True)
    b += msg(REM_MEM_REG, mem_reg(*g2), 9) + msg(REM_MEM_REG, mem_reg(*g2), 9, fds=[FD_GUEST2])
    b += msg(REM_MEM_REG, mem_reg(0x300000, 0x1000, 0, 0), 9)
    b += msg(ADD_MEM_REG, mem_reg(*g2), 9, fds=[FD_GUEST2])
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0)]), 9, fds=[FD_GUEST])
    b += tx_packets(1, [udp]) + burst(1, 2, dequeue=True)
    write(t, 'mem_slots', b)
    # Regions only added (QEMU with CONFIGURE_MEM_SLOTS sends no table),
    # the ring region removed while rings run, then added back.
    g1 = (0, MB, UADDR, 0)
    b = handshake(proto_extra=(P_MEM_SLOTS,))
    b += msg(REM_MEM_REG, mem_reg(*g1), 9) + burst(1, 2, dequeue=True)
    b += msg(ADD_MEM_REG, mem_reg(*g1), 9, fds=[FD_GUEST]) + query(0)
    b += msg(ADD_MEM_REG, mem_reg(*g2), 1, fds=[FD_GUEST2]) + tx_packets(1, [udp])
    b += msg(REM_MEM_REG, mem_reg(*g1), 1) + burst(1, 2, dequeue=True)
    write(t, 'mem_slots_ring_region', b)
    # More regions than a SET_MEM_TABLE holds: 12 pages of FD_GUEST2
    # added one by one (the sorted lookups), the API's copy of the table
    # queried, packets through it, then one removed.
    b = handshake(proto_extra=(P_MEM_SLOTS,))
    for i in range(12):
        b += msg(ADD_MEM_REG, mem_reg(0x200000 + i * 0x2000, 0x1000,
                                      0x7f1000000000 + i * 0x1000, i * 0x1000), 9, fds=[FD_GUEST2])
    b += query(0) + tx_packets(1, [udp]) + burst(1, 2, dequeue=True)
    b += msg(REM_MEM_REG, mem_reg(0x200000, 0x1000, 0x7f1000000000, 0), 9) + query(1)
    write(t, 'mem_slots_many', b)
    b = handshake(queues=(0, 1, 2, 3)) + msg(SET_VRING_ENABLE, state(2, 0)) + query(3) + \
        msg(GET_QUEUE_NUM)
    write(t, 'multiqueue', b)
    b = handshake(features=(F_MRG_RXBUF, F_MTU)) + msg(NET_SET_MTU, u64(1500), 9)
    b += msg(SEND_RARP, b'\x52\x54\x00\x12\x34\x56\x00\x00') + burst(1, 4, dequeue=True)
    b += msg(SET_STATUS, u64(0xf)) + msg(GET_STATUS) + msg(SET_VRING_ERR, u64(0), fds=[FD_EV_A])
    b += msg(SET_LOG_FD, fds=[FD_EV_B]) + msg(SET_VRING_CALL, u64(0x100)) + query(0) + \
        notify(1, 0x7f, 5, 5)
    write(t, 'misc_requests', b)
    # Refusals: bad version, bad size, unknown request with an fd, a
    # wrong fd count, too-small and read-only memory, 9 fds, oversized.
    # With REPLY_ACK asked for, each refusal is answered, not fatal.
    b = u8(0) + msg(SET_PROTOCOL_FEATURES, u64(1 << P_REPLY_ACK)) + msg(GET_FEATURES, flags=0xa)
    b += msg(SET_FEATURES, u32(1), 9) + msg(50, u64(1), 9, fds=[FD_EV_A])
    b += msg(SET_VRING_KICK, u64(0), 9) + msg(SET_VRING_NUM, state(300, 256), 9)
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0)]), 9, fds=[FD_SMALL])
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0)]), 9, fds=[FD_RDONLY])
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0), (0x1000, 0x1000, 0, 0)]), 9,
             fds=[FD_GUEST, FD_GUEST2])
    b += msg(SET_VRING_ENABLE, state(0, 2), 9) + msg(0xffffffff, b'', 9)
    b += msg(SET_OWNER, ctl=0x20) + msg(GET_QUEUE_NUM, fds=[FD_EV_A] * 9)
    write(t, 'refusals', b)
    write(t, 'oversized', u8(0) + msg(GET_FEATURES) + msg(SET_OWNER, size=5000))
    write(t, 'truncated', handshake() + msg(SET_VRING_ADDR, vring_addr(0, 0, 0, 0), ctl=0x10))
    # LINEARBUF without EXTBUF: a packet bigger than one mbuf is refused.
    b = u8(2) + handshake()[1:] + tx_packets(1, [vnet_hdr() + ipv4_udp(3000)]) + \
        burst(1, 2, dequeue=True)
    write(t, 'linearbuf_big', b)
    # EXTBUF (socket 1) without the IOMMU: one big linear buffer.
    b = u8(1) + handshake()[1:] + tx_packets(1, [vnet_hdr() + ipv4_udp(6000)]) + \
        burst(1, 2, dequeue=True)
    write(t, 'extbuf_big', b)
    # IOMMU with the used ring logged: its log address is an IOVA too.
    b = handshake(iommu=True, features=(F_MRG_RXBUF, F_LOG_ALL))
    b += msg(SET_LOG_BASE, u64(4096) + u64(0), fds=[FD_SMALL])
    b += msg(SET_VRING_ADDR, vring_addr(0, 0, 0x1000, 0x2000, 1, 0x2000), 9)
    b += rx_buffers(0, 2) + burst(0, 1, enqueue=[(ipv4_udp(200), 0)])
    write(t, 'iommu_dirty_log', b)
    # A global device-IOTLB flush (QEMU: iova 0, size 2^64 sent as 0).
    b = handshake(iommu=True) + tx_packets(1, [udp]) + burst(1, 2, dequeue=True)
    b += msg(IOTLB_MSG, iotlb(0, 0, 0, 0, 3), 9) + tx_packets(1, [udp], 1)
    b += burst(1, 2, dequeue=True) + answer_misses(8, 0) + burst(1, 2, dequeue=True)
    write(t, 'iommu_flush', b)
    # Two regions contiguous in the frontend's address space, mapped apart
    # by the library: a ring across them is refused.
    b = u8(1) + msg(SET_PROTOCOL_FEATURES, u64((1 << P_REPLY_ACK) | (1 << P_BACKEND_REQ)))
    b += msg(SET_FEATURES, u64((1 << F_V1) | (1 << F_PROTOCOL) | (1 << F_IOMMU)))
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0), (MB, 0x10000, UADDR + MB, 0)]), 9,
             fds=[FD_GUEST, FD_GUEST2])
    b += msg(SET_VRING_NUM, state(0, 256), 9)
    b += msg(IOTLB_MSG, iotlb(0, MB + 0x10000, UADDR, 3, 2), 9)
    b += msg(SET_VRING_ADDR, vring_addr(0, MB - 0x800, MB + 0x1000, MB + 0x2000), 9)
    b += msg(SET_VRING_ADDR, vring_addr(0, MB - 0x1000, MB + 0x1000, MB + 0x2000), 9)
    write(t, 'iommu_ring_across_regions', b)
    # Entry lifetimes: 1 s (socket 3) and 1 us (socket 4, all expired).
    for sock, name in ((3, 'lifetime_1s'), (4, 'lifetime_1us')):
        b = handshake(iommu=True, sock=sock) + rx_buffers(0, 2) + tx_packets(1, [udp])
        b += burst(1, 2, dequeue=True, enqueue=[(ipv4_udp(90), 0)]) + answer_misses(0, 0)
        b += burst(1, 2, dequeue=True, enqueue=[(ipv4_udp(91), 0)])
        write(t, name, b)
    # Misses answered "not mapped" on the backend channel: the buffers'
    # accesses fail at once instead of after the miss timeout.
    b = u8(1) + msg(SET_OWNER)
    b += msg(SET_PROTOCOL_FEATURES, u64((1 << P_REPLY_ACK) | (1 << P_BACKEND_REQ)))
    b += msg(SET_FEATURES, u64((1 << F_V1) | (1 << F_PROTOCOL) | (1 << F_IOMMU) | (1 << F_MRG_RXBUF)))
    b += msg(SET_BACKEND_REQ_FD, fds=[FD_BACKEND])
    b += msg(SET_MEM_TABLE, mem_table([(0, MB, UADDR, 0)]), fds=[FD_GUEST])
    b += setup_ring(0, True) + setup_ring(1, True)
    b += msg(IOTLB_MSG, iotlb(0, 0x10000, UADDR, 3, 2), 9)
    b += rx_buffers(0, 2) + tx_packets(1, [udp])
    b += burst(1, 2, dequeue=True, enqueue=[(ipv4_udp(40), 0)])
    b += answer_misses(0, 0, 1 | 2) + burst(1, 2, dequeue=True, enqueue=[(ipv4_udp(41), 0)])
    write(t, 'iommu_miss_refused', b)


# ---- fuzz_desc_chain ----

NEXT, WRITE, INDIRECT = 1, 2, 4
R1 = 0x4000
R2 = 0x10000


def dc_cfg(iommu=False, two_regions=False, compliant=False, hdr12=True, size_log2=8):
    return u8((1 if iommu else 0) | (2 if two_regions else 0) | (4 if compliant else 0) |
              (8 if hdr12 else 0) | (size_log2 << 4))


def dc_rec(addr, length, flags=0, nxt=0):
    """desc record: mode, addr, len, flags, next"""
    if addr < 0x14000:
        b = u8(0) + u32(addr)
    elif addr >= (1 << 64) - 0x10000:
        b = u8(2) + u16((1 << 64) - 1 - addr)
    else:
        b = u8(3) + u64(addr)
    if length > 0xffff:
        b = u8(b[0] | 12) + b[1:] + u32(length)
    else:
        b += u16(length)
    b += u8(flags) + (u8(nxt) if nxt < 0xff else b'\xff' + u16(nxt))
    return b


def dc_ring(i, addr, length, flags=0, nxt=0): return u8(0) + u8(i) + dc_rec(addr, length, flags, nxt)
def dc_mem(gpa, addr, length, flags=0, nxt=0): return u8(2) + u32(gpa) + dc_rec(addr, length, flags, nxt)


def dc_bytes(gpa, data):
    b = b''
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        b += u8(3) + u32(gpa + i) + u8(len(chunk)) + chunk
    return b


def dc_iotlb(iova, size, region, off, perm, update=True):
    sel = region | ({1: 0, 2: 4, 3: 8}[perm] if perm else 24)
    return u8(4 if update else 5) + u8(0) + u32(iova) + u16(size - 1) + u8(sel) + u16(off)


def dc_walk(head, writes, max_segs=0, first=0, chunk=7, tail=True, split=0, ol=0, l=(14, 20, 20)):
    b = u8(6) + (u8(head) if head < 0xff else b'\xff' + u16(head))
    b += u8((1 if writes else 0) | (first << 1)) + u8(max_segs) + u8(chunk)
    if not writes and tail:
        b += u8(split) + u64(ol) + u8(l[0]) + u8(l[1]) + u8(l[2])
    return b


def desc_chain_corpus():
    t = 'fuzz_desc_chain'
    tcp = vnet_hdr(NEEDS_CSUM, 0, 0, 0, 34, 16) + ipv4_tcp(60)
    write(t, 'tx_single', dc_cfg() + dc_bytes(0x1000, tcp) + dc_ring(0, 0x1000, len(tcp)) +
          dc_walk(0, False, ol=(1 << 52) | (1 << 54) | (1 << 55)))
    write(t, 'rx_across_regions', dc_cfg() + dc_ring(5, 0x1000, 12, WRITE | NEXT, 9) +
          dc_ring(9, R1 - 100, 300, WRITE | NEXT, 2) + dc_ring(2, R2 + 0x10, 64, WRITE) +
          dc_walk(5, True, chunk=3))
    udp = vnet_hdr(NEEDS_CSUM, GSO_UDP, 42, 1000, 34, 6) + ipv4_udp(1200)
    write(t, 'tx_indirect', dc_cfg(compliant=True) + dc_bytes(0x2000, udp) +
          dc_mem(0x3000, 0x2000, 12, NEXT, 2) + dc_mem(0x3020, 0x200c, 100, NEXT, 1) +
          dc_mem(0x3010, 0x2070, len(udp) - 112) +
          dc_ring(3, 0x3000, 48, INDIRECT) + dc_walk(3, False, split=0x81))
    write(t, 'indirect_across_regions', dc_cfg() +
          dc_mem(R1 - 32, 0x1000, 1, WRITE | NEXT, 1) + dc_mem(R1 - 16, 0x2000, 2, WRITE | NEXT, 2) +
          dc_mem(R1, R1 + 0x3000, 3, WRITE | NEXT, 3) + dc_mem(R1 + 16, R1 + 0x100, 4, WRITE) +
          dc_ring(4, R1 - 32, 64, INDIRECT) + dc_walk(4, True) + dc_walk(4, False, tail=False))
    write(t, 'two_regions_hole', dc_cfg(two_regions=True, size_log2=4) +
          dc_ring(0, R2, 16) + dc_walk(0, False, tail=False) +
          dc_ring(1, 0x7ff0, 0x20, WRITE) + dc_walk(1, True))
    # The IOMMU: R0 read-write, R1 read-only, a gap, R2 through an
    # IOVA window far from its guest physical address.
    b = dc_cfg(iommu=True) + dc_iotlb(0, 0x4000, 0, 0, 3) + dc_iotlb(0x4000, 0x4000, 1, 0, 1)
    b += dc_iotlb(0x9000, 0x2000, 2, 0, 3)
    b += dc_bytes(0x100, tcp) + dc_ring(0, 0x100, len(tcp)) + dc_walk(0, False, ol=1 << 52)
    b += dc_ring(1, 0x3ff0, 0x40, WRITE | NEXT, 2) + dc_ring(2, 0x9100, 0x100, WRITE) + dc_walk(1, True)
    b += dc_ring(3, 0x4100, 0x40, WRITE) + dc_walk(3, True)            # no write permission
    b += dc_ring(4, 0x8800, 0x40) + dc_walk(4, False, tail=False)      # miss
    b += dc_iotlb(0x8000, 0x1000, 2, 0x1000, 2) + dc_walk(4, False, tail=False)
    b += dc_iotlb(0x0, 0x2000, 0, 0, 0, update=False) + dc_walk(0, False, tail=False)
    write(t, 'iommu', b)
    # Page-sized IOTLB entries that merge, and an indirect table over two.
    b = dc_cfg(iommu=True, size_log2=3)
    for p in range(4):
        b += dc_iotlb(0x1000 * p, 0x1000, 0, 0x1000 * p, 3)
    b += dc_mem(0x1ff0, 0x2800, 20, NEXT, 1) + dc_mem(0x2000, 0x3000, 20)
    b += dc_ring(0, 0x1ff0, 32, INDIRECT) + dc_walk(0, False, tail=False) + dc_walk(0, True)
    write(t, 'iommu_pages', b)
    b = dc_cfg(size_log2=3) + dc_ring(3, 0x1000, 0, NEXT, 4) + dc_ring(4, 0x1000, 0, NEXT, 3)
    b += dc_walk(3, False, 255, tail=False) + dc_ring(5, 0x1000, 10, NEXT, 8) + dc_walk(5, False, tail=False)
    b += dc_ring(6, (1 << 64) - 16, 32) + dc_walk(6, False, tail=False)
    b += dc_ring(7, 0x2000, 24, INDIRECT) + dc_walk(7, False, tail=False)
    write(t, 'bad_chains', b)
    b = dc_cfg()
    for i in range(40):
        b += dc_ring(i, 0x100 * i + R1 - 0x1000, 0x100, WRITE | NEXT, i + 1)
    b += dc_ring(40, 0x5000, 0x1000, WRITE)
    b += dc_walk(0, True, 50, 3, chunk=200) + dc_walk(0, True, 20)
    write(t, 'long_chain', b)
    v6 = vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 74, 1400, 54, 16, mrg=False) + ipv6_tcp(200)
    write(t, 'tx_ipv6_tso_hdr10', dc_cfg(hdr12=False, compliant=True) + dc_bytes(0x6000, v6) +
          dc_ring(1, 0x6000, 30, NEXT, 2) + dc_ring(2, 0x601e, len(v6) - 30) +
          dc_walk(1, False, split=0x42, ol=(1 << 50) | (1 << 56)))
    opt = vnet_hdr(DATA_VALID) + ipv4_udp(20, ihl=6)
    # More distinct missing pages than the pending list holds.
    b = dc_cfg(iommu=True)
    for i in range(70):
        b += dc_ring(i, 0x1000000 + 0x1000 * i, 64) + dc_walk(i, False, tail=False)
    write(t, 'iommu_pending_full', b)
    write(t, 'tx_ip_options', dc_cfg() + dc_bytes(0x500, opt) + dc_ring(0, 0x500, len(opt)) +
          dc_walk(0, False, ol=(1 << 54) | (1 << 55), l=(14, 24, 8)))


# ---- fuzz_iotlb ----

W = 32
TOP = 2 * W          # the last cell: 2^64-1; cells W+1.. are the top bytes


def it_update(a, b, perm=3, umode=1, v=0x100, size_mode=0):
    perm_sel = {1: 0, 2: 1, 3: 2, 0: 3, 7: 4}[perm]
    return u8(0) + u8(a) + u8(b) + u8(size_mode) + u8(perm_sel) + u8(umode) + u16(v)


def it_inval(a, b, size_mode=0): return u8(4) + u8(a) + u8(b) + u8(size_mode)
def it_lookup(c, where=0, perm=1): return u8(6) + u8(c) + u8(where) + u8(perm - 1)
def it_age(tick, life): return u8(15) + u8(tick) + u8(life)


def iotlb_corpus():
    t = 'fuzz_iotlb'
    write(t, 'merge_left_right', u8(0) + it_update(0, 3) + it_update(8, 11) + it_update(4, 7) +
          it_lookup(2, 4 << 2))
    write(t, 'split_middle', u8(0) + it_update(0, 20) + it_inval(5, 9) + it_lookup(12, 5 << 2))
    write(t, 'perm_boundaries', u8(0) + it_update(0, 5, 1) + it_update(6, 9, 3) + it_update(10, 12, 2) +
          it_update(6, 9, 1) + it_lookup(7, 0, 2))
    write(t, 'top_of_space', u8(0) + it_update(W + 1, TOP) + it_update(W, W, 3, 1, 0) +
          it_lookup(TOP, 6 << 2) + it_inval(W + 5, TOP, 7) + it_update(0, TOP, 3, 0, 0, 7))
    write(t, 'gap_and_wrap', u8(0) + it_update(0, TOP) + it_update(3, W + 3, 2, 2, 5) +
          it_inval(W, W) + it_lookup(W, 1) + it_lookup(W, 2) + it_update(5, 6, 3, 2, 0))
    write(t, 'eviction', u8(2) + it_update(0, 1, 3, 0, 0x10) + it_update(4, 5, 3, 0, 0x20) +
          it_update(8, 9, 3, 0, 0x30) + it_inval(0, 10) + it_update(2, 3))
    write(t, 'evict_on_split', u8(1) + it_update(0, 20) + it_inval(5, 6) + it_lookup(10))
    write(t, 'invalid', u8(0) + it_update(1, 2, 0) + it_update(1, 2, 7) + it_update(3, 4, 3, 0, 0, 6) +
          it_inval(0, TOP) + u8(0xff) + it_update(0, 0))
    write(t, 'capacity_zero', u8(7) + it_update(0, 3) + it_lookup(1))
    # Entry lifetimes: map at clock 10, 20, 30; merge old and new; move
    # the horizon past the first ones; trim the old part off.
    write(t, 'lifetime', u8(0) + it_age(10, 100) + it_update(0, 3) + it_age(10, 100) +
          it_update(4, 7) + it_age(10, 100) + it_update(W + 1, TOP) + it_age(5, 20) +
          it_lookup(5) + it_inval(0, 3) + it_lookup(6) + it_age(200, 1) + it_update(8, 9) +
          it_lookup(8))


def main():
    messages_corpus()
    desc_chain_corpus()
    iotlb_corpus()
    return 0


if __name__ == '__main__':
    sys.exit(main())
