#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Query the /vhost/* telemetry commands of a DPDK process through Debian's
dpdk-telemetry.py (non-interactive: one command a line on stdin, one JSON
reply a line on stdout) and check the answers against what the caller
measured. Used by testpmd_telemetry.sh.

  telemetry_check.py connected PREFIX SOCK RX TX   device up, traffic seen
  telemetry_check.py gone PREFIX SOCK              frontend has left
  telemetry_check.py show PREFIX CMD...            print the replies

RX and TX are the vhost testpmd's own forward counts (packets it received
from and sent to the guest). Prints one line per failed check and exits 1
if any failed.
"""
import json
import subprocess
import sys

TELEMETRY = "/usr/bin/dpdk-telemetry.py"
failures = []


def query(prefix, cmds):
    """One connection, every command in order; the replies by command."""
    out = subprocess.run([sys.executable, TELEMETRY, "-f", prefix],
                         input="".join(c + "\n" for c in cmds),
                         capture_output=True, text=True, timeout=60,
                         check=True).stdout
    # Without a terminal the script prints neither greeting nor prompt.
    lines = [line for line in out.splitlines() if line.strip()]
    if len(lines) != len(cmds):
        raise SystemExit("expected %d replies, got:\n%s" % (len(cmds), out))
    replies = []
    for cmd, line in zip(cmds, lines):
        reply = json.loads(line)
        name = cmd.split(",")[0]
        if list(reply) != [name]:
            raise SystemExit("reply to %s is not keyed by %s: %s" % (cmd, name, line))
        replies.append(reply[name])
    return replies


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  check failed: " + what)


def check_eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


def features_consistent(dev, hex_key, names_key, table):
    """The hex word and the name list say the same."""
    word = int(dev[hex_key], 16)
    names = set(dev[names_key])
    for bit, name in table.items():
        check_eq(name in names, bool(word >> bit & 1), "%s %s" % (names_key, name))


def connected(prefix, sock, rx, tx):
    sockets, devices, device, stats, ring1, stats1 = query(prefix, [
        "/vhost/sockets", "/vhost/devices", "/vhost/device,0",
        "/vhost/vring_stats,0", "/vhost/device,0,1", "/vhost/vring_stats,0,1"])

    # /vhost/sockets: the vhost PMD's one socket, a server with vid 0.
    check_eq(list(sockets), ["socket0"], "socket keys")
    s = sockets.get("socket0", {})
    check_eq(s.get("path"), sock, "socket path")
    check_eq(s.get("mode"), "server", "socket mode")
    check_eq(s.get("started"), 1, "socket started")
    check_eq(s.get("iommu_support"), 1, "socket iommu_support (iommu-support=1)")
    check("iommu_support" in s.get("flag_names", []), "flag_names has iommu_support")
    check_eq(s.get("vids"), [0], "socket vids")
    check(int(s.get("features", "0"), 16) >> 33 & 1,
          "socket offers iommu_platform (bit 33)")

    # /vhost/devices: vid 0 on that socket.
    check_eq(devices, {"0": sock}, "devices")

    # /vhost/device,0: what virtio-user negotiated (mrg_rxbuf=1, 1 pair).
    check_eq(device.get("vid"), 0, "device vid")
    check_eq(device.get("ifname"), sock, "device ifname")
    check_eq(device.get("running"), 1, "device running")
    names = device.get("feature_names", [])
    for f in ("mrg_rxbuf", "version_1", "protocol_features"):
        check(f in names, "negotiated features include " + f)
    check("iommu_platform" not in names, "virtio-user did not take iommu_platform")
    features_consistent(device, "features", "feature_names",
                        {15: "mrg_rxbuf", 30: "protocol_features",
                         32: "version_1", 33: "iommu_platform", 26: "log_all"})
    pnames = device.get("protocol_feature_names", [])
    for f in ("mq", "reply_ack"):
        check(f in pnames, "negotiated protocol features include " + f)
    features_consistent(device, "protocol_features", "protocol_feature_names",
                        {0: "mq", 3: "reply_ack", 5: "slave_req"})
    check_eq(device.get("hdr_len"), 12, "hdr_len (mergeable buffers)")
    check_eq(device.get("iommu"), 0, "iommu off")
    check_eq(device.get("dirty_log"), 0, "dirty log off")
    check_eq(device.get("stats_enabled"), 1, "stats enabled by the vhost PMD")
    check_eq(device.get("nr_vring"), 2, "nr_vring")
    regions = device.get("mem_regions", {})
    check(len(regions) >= 1, "at least one memory region")
    for key, r in regions.items():
        check(int(r.get("size", 0)) > 0, key + " has a size")
        check(r.get("guest_phys_addr", "").startswith("0x"), key + " guest_phys_addr")
    for i, queue in ((0, "tx_q0"), (1, "rx_q0")):
        r = device.get("vring%d" % i, {})
        check_eq(r.get("queue"), queue, "vring%d queue" % i)
        check_eq(r.get("size"), 256, "vring%d size" % i)
        for k in ("enabled", "ready", "access_ok"):
            check_eq(r.get(k), 1, "vring%d %s" % (i, k))
        check_eq(r.get("kick"), "fd", "vring%d kick" % i)
        check_eq(r.get("call"), "fd", "vring%d call" % i)
    # Host side: everything consumed from the guest's TX ring was used.
    r1 = device.get("vring1", {})
    check_eq(r1.get("last_used_idx"), r1.get("last_avail_idx"), "vring1 drained")
    check_eq(r1.get("last_avail_idx"), rx % 65536, "vring1 last_avail_idx == RX mod 2^16")
    check_eq(ring1.get("vring1"), r1, "/vhost/device,0,1 shows vring1 alone")
    check("vring0" not in ring1, "/vhost/device,0,1 leaves vring0 out")

    # /vhost/vring_stats,0: the counters match testpmd's counts.
    check_eq(stats.get("stats_enabled"), 1, "stats_enabled")
    v0, v1 = stats.get("vring0", {}), stats.get("vring1", {})
    check_eq(v0.get("queue"), "tx_q0", "stats vring0 queue")
    check_eq(v1.get("queue"), "rx_q0", "stats vring1 queue")
    check(rx > 0 and tx > 0, "traffic both ways (rx %d, tx %d)" % (rx, tx))
    check_eq(v1.get("good_packets"), rx, "vring1 good_packets == vhost RX")
    check_eq(v0.get("good_packets"), tx, "vring0 good_packets == vhost TX")
    for v, n, name in ((v0, tx, "vring0"), (v1, rx, "vring1")):
        # testpmd txonly sends 64-byte frames.
        check_eq(v.get("size_64_packets"), n, name + " size_64_packets")
        check_eq(v.get("good_bytes"), 64 * n, name + " good_bytes")
        for k in ("invalid_descriptor_chains", "iotlb_refused", "iotlb_entries",
                  "iotlb_pending", "iotlb_misses"):
            check_eq(v.get(k), 0, "%s %s" % (name, k))
        check(len(v) == 26, "%s has 25 counters and its queue name (%d keys)"
              % (name, len(v)))
    check(v0.get("guest_notifications", 0) >= 0, "guest_notifications present")
    check_eq(stats1.get("vring1"), v1, "/vhost/vring_stats,0,1 shows vring1 alone")
    check("vring0" not in stats1, "/vhost/vring_stats,0,1 leaves vring0 out")

    # Errors: a null reply (telemetry's error) and the process still answers.
    bad = ["/vhost/device,7", "/vhost/vring_stats,7", "/vhost/device,99999999",
           "/vhost/device,abc", "/vhost/device", "/vhost/vring_stats,0,2",
           "/vhost/device,0,-1", "/vhost/device,0,1x", "/vhost/devices"]
    replies = query(prefix, bad)
    for cmd, reply in zip(bad[:-1], replies[:-1]):
        check_eq(reply, None, cmd)
    check_eq(replies[-1], {"0": sock}, "devices after the errors")


def gone(prefix, sock):
    sockets, devices, device, stats = query(prefix, [
        "/vhost/sockets", "/vhost/devices", "/vhost/device,0",
        "/vhost/vring_stats,0"])
    s = sockets.get("socket0", {})
    check_eq(s.get("path"), sock, "socket still registered")
    check_eq(s.get("connections"), 0, "no connection left")
    check_eq(s.get("vids"), [], "no vid left")
    check_eq(devices, {}, "no device left")
    check_eq(device, None, "/vhost/device,0 after the frontend left")
    check_eq(stats, None, "/vhost/vring_stats,0 after the frontend left")


def main():
    mode, prefix = sys.argv[1], sys.argv[2]
    if mode == "connected":
        connected(prefix, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "gone":
        gone(prefix, sys.argv[3])
    elif mode == "show":
        for cmd, reply in zip(sys.argv[3:], query(prefix, sys.argv[3:])):
            print(json.dumps({cmd.split(",")[0]: reply}, indent=2))
    else:
        raise SystemExit(__doc__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
