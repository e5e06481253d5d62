#!/usr/bin/python3
"""Compare two guest RAM images page by page (4 KiB).

Usage: ramcmp.py SRC DST [--trace FILE]
SRC and DST are the memory backend files of the migration source and
destination (offset = guest physical address for the test's 512 MiB
guest, which lies wholly below the PCI hole). Prints one line per
differing page and a last line "differing_pages=N". With --trace, the
backend write trace (lib/vhost VHOST_WRITE_TRACE) says which of those
pages the backend wrote, and when relative to the control messages, and
the line before the last counts the differing pages the backend can have
had no part in: "pages_not_backend=N", pages it never wrote during the
whole trace and that hold no frame of the guest's NIC (its MAC).
"""
import mmap
import sys

PAGE = 4096
CHUNK = 1 << 20
GUEST_MAC = bytes.fromhex("525400000002")


LOG_ALL = 1 << 26  # VHOST_F_LOG_ALL


def load_trace(path):
    """Trace lines (lib/vhost/write_trace.h):
    "<ns> W <gpa hex> <len> <logged> <what> <vring>" and
    "<ns> M <message name> <argument>".
    Returns writes by page, the messages, and a summary line: writes made
    while LOG_ALL was negotiated, those of them not logged, and writes to
    a ring after the GET_VRING_BASE that stopped it."""
    writes, msgs = {}, []
    log_all = False
    stopped = {}  # vring -> ns of its GET_VRING_BASE
    n_log_all = n_unlogged = n_after_stop = 0
    with open(path) as f:
        # Threads stamp their lines before writing them: sort by time.
        records = sorted((int(p[0]), p) for p in (line.split() for line in f)
                         if len(p) >= 4 and p[0].isdigit())
    for ns, parts in records:
        if parts[1] == "W" and len(parts) >= 7:
            gpa, length, logged = int(parts[2], 16), int(parts[3]), parts[4] == "1"
            what, vring = parts[5], int(parts[6])
            for page in range(gpa // PAGE, (gpa + max(length, 1) - 1) // PAGE + 1):
                writes.setdefault(page, []).append((ns, logged, what))
            if log_all:
                n_log_all += 1
                n_unlogged += not logged
            if vring in stopped and ns > stopped[vring]:
                n_after_stop += 1
        elif parts[1] == "M":
            name, arg = parts[2], int(parts[3], 16)
            if name != "IOTLB_MSG":  # too many to place writes by
                msgs.append((ns, "%s %s" % (name, parts[3])))
            if name == "SET_FEATURES":
                log_all = bool(arg & LOG_ALL)
            elif name == "GET_VRING_BASE":
                stopped[arg & 0xffffffff] = ns
            elif name in ("SET_VRING_KICK", "SET_VRING_BASE"):
                stopped.pop(arg & 0xff, None)  # the ring restarts
    summary = ("trace: writes_with_log_all=%d unlogged_with_log_all=%d "
               "writes_after_get_vring_base=%d" % (n_log_all, n_unlogged, n_after_stop))
    return writes, msgs, summary


def describe(ns, msgs):
    """Where ns falls among the control messages: the last one before."""
    before = [m for m in msgs if m[0] <= ns]
    return ("after '%s'" % before[-1][1]) if before else "before any message"


def main():
    args = sys.argv[1:]
    trace = None
    if "--trace" in args:
        i = args.index("--trace")
        trace = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: ramcmp.py SRC DST [--trace FILE]")
    with open(args[0], "rb") as fs, open(args[1], "rb") as fd:
        src = mmap.mmap(fs.fileno(), 0, prot=mmap.PROT_READ)
        dst = mmap.mmap(fd.fileno(), 0, prot=mmap.PROT_READ)
        if len(src) != len(dst):
            sys.exit("ramcmp: sizes differ: %d and %d" % (len(src), len(dst)))
        writes, msgs, summary = load_trace(trace) if trace else ({}, [], None)
        if summary:
            print(summary)
        differing = not_backend = 0
        for base in range(0, len(src), CHUNK):
            if src[base:base + CHUNK] == dst[base:base + CHUNK]:
                continue
            for off in range(base, min(base + CHUNK, len(src)), PAGE):
                a, b = src[off:off + PAGE], dst[off:off + PAGE]
                if a == b:
                    continue
                differing += 1
                diff = [i for i in range(PAGE) if a[i] != b[i]]
                first = diff[0]
                info = ("page gpa=0x%x differing_bytes=%d first=0x%x..0x%x"
                        " src_zero=%d dst_zero=%d mac_in_src=%d mac_in_dst=%d"
                        " src@first=%s dst@first=%s" % (
                            off, len(diff), first, diff[-1],
                            a.count(0) == PAGE, b.count(0) == PAGE,
                            GUEST_MAC in a, GUEST_MAC in b,
                            a[first:first + 16].hex(), b[first:first + 16].hex()))
                if trace:
                    w = writes.get(off // PAGE, [])
                    if not w and GUEST_MAC not in a and GUEST_MAC not in b:
                        not_backend += 1
                    if w:
                        last = w[-1]
                        info += (" backend_writes=%d last_logged=%s last_what=%s last_when=%s"
                                 % (len(w), last[1], last[2], describe(last[0], msgs)))
                    else:
                        info += " backend_writes=0"
                print(info)
        if trace:
            print("pages_not_backend=%d" % not_backend)
        print("differing_pages=%d" % differing)


main()
