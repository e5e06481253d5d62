#!/bin/bash
# OVS-DPDK integration test of a librte_vhost.so.23.
#
# Debian's ovs-vswitchd-dpdk (OVS 3.1) runs with its own ovsdb-server,
# database, run directory and log (never the system service), on LIBDIR's
# librte_vhost.so.23 (or Debian's with "debian"); /proc/<pid>/maps must
# show that library. A netdev bridge has both vhost-user port types, with
# 2 queue pairs each and the flows in_port=1 -> 2 and 2 -> 1:
#   vhu0  dpdkvhostuser (OVS listens), Debian's testpmd on virtio-user
#         as the frontend ("srv" below)
#   vhuc0 dpdkvhostuserclient (OVS connects, IOMMU support on), Debian's
#         testpmd on virtio-user server=1 ("cli"), later the project's
#         net_virtio_viommu frontend (server=1) in static and dynamic mode
# Each traffic round sends txonly -> rxonly through OVS in both directions
# and checks the counters exactly: what the sender sent is what OVS
# received on its port, what OVS sent or dropped on the other port is what
# it received, and what it sent is what the receiver got; every queue of
# both sides carried packets. Rounds run at start, after both frontends
# restarted, after ovs-vswitchd restarted (the client-port frontend keeps
# its rings) and with the vIOMMU frontend. The per-vring counters OVS
# shows for the client port must add up to OVS's own port counters, and
# the OVS log must hold no error.
#
# Usage: test_ovs.sh LIBDIR|debian
# Env:   OVS_TEST_PACKETS  packets the receiver must see per direction
#                          (default 5000)
#        OVS_TEST_KEEP     set to keep the logs of a passing run
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 LIBDIR|debian" >&2
	exit 2
fi
here=$(dirname "$(realpath "$0")")
root=$(realpath "$here/../../../..")
if [ "$1" = debian ]; then
	libdir=
	want_lib=$(realpath -e /usr/lib/x86_64-linux-gnu/librte_vhost.so.23)
else
	want_lib=$(realpath -e "$1/librte_vhost.so.23") || {
		echo "FAIL setup: no librte_vhost.so.23 in $1"
		exit 1
	}
	libdir=$(dirname "$want_lib")
fi
# Debian's OVS-DPDK on a fresh machine: install it (root) if missing.
# Its system service, where one starts, uses its own database and run
# directory and no DPDK; this test runs a private ovs-vswitchd.
if [ ! -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk ] ||
	! command -v ovsdb-tool >/dev/null; then
	echo "ovs: installing openvswitch-switch-dpdk"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q openvswitch-switch-dpdk >/dev/null ||
		{ apt-get update -q >/dev/null &&
		  apt-get install -y -q openvswitch-switch-dpdk >/dev/null; } || {
		echo "FAIL setup: cannot install openvswitch-switch-dpdk"
		exit 1
	}
fi
target=${OVS_TEST_PACKETS:-5000}
viommu_pmd=$root/build/drivers/net/virtio/librte_net_virtio_viommu.so

OVS_DIR=$(mktemp -d /tmp/ovs-test.XXXXXX)
TP_DIR=$OVS_DIR/tp
mkdir -p "$TP_DIR"
# EAL refuses a -d plugin on a world-writable path: a private copy.
plugdir=$(mktemp -d /run/ovs-test-plugin.XXXXXX)
# shellcheck source=SCRIPTDIR/../testpmd_common.sh
. "$here/../testpmd_common.sh"
# shellcheck source=SCRIPTDIR/ovs_common.sh
. "$here/ovs_common.sh"

passed=0 failed=0
finish() {
	tp_cleanup
	ovs_cleanup
	rm -rf "$plugdir"
	rm -f "$OVS_DIR"/*.sock "$TP_DIR"/*.in
	tp_logs_done "$OVS_DIR" "$failed" "${OVS_TEST_KEEP:-}" ovs
}
trap finish EXIT
trap 'exit 130' INT TERM

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1"
	failed=$((failed + 1))
}

# abort WHAT: a failure that leaves nothing sensible to test after it.
abort() {
	fail "$1"
	echo "---- tail of ovs-vswitchd.log ----"
	tail -n 20 "$OVS_DIR/ovs-vswitchd.log" 2>/dev/null || true
	for f in "$TP_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "---- tail of $(basename "$f") ----"
		tail -n 10 "$f"
	done
	echo "$passed passed, $failed failed"
	exit 1
}

echo "ovs: library $want_lib, logs in $OVS_DIR"

# ---- OVS ----
ovs_db_start "ovs$$" other_config:vhost-iommu-support=true ||
	abort "setup: ovsdb-server"

start_ovs() {
	ovs_start "$libdir" || abort "$1: ovs-vswitchd-dpdk did not initialise DPDK"
	local mapped
	mapped=$(ovs_mapped_vhost || true)
	if [ "$mapped" = "$want_lib" ]; then
		pass "$1: ovs-vswitchd-dpdk (pid $OVS_PID) mapped $mapped"
	else
		abort "$1: ovs-vswitchd mapped '${mapped:-no librte_vhost}', not $want_lib"
	fi
}
start_ovs "start"

ovs_vsctl add-br br0 -- set Bridge br0 datapath_type=netdev \
	-- add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuser \
		ofport_request=1 other_config:tx-steering=hash \
	-- add-port br0 vhuc0 -- set Interface vhuc0 type=dpdkvhostuserclient \
		ofport_request=2 other_config:tx-steering=hash \
		"options:vhost-server-path=$OVS_DIR/vhuc0.sock" ||
	abort "setup: bridge and ports"
ovs_flows br0 1 2 || abort "setup: flows"

# ---- frontends ----
# Main lcores on CPU 1 (they sleep at the prompt), forwarding on CPU 0;
# OVS's PMD thread polls on CPU 1.
eal=(-l 0,1 --main-lcore 1 --no-pci -m 256 --single-file-segments)
app=(-i --nb-cores=1 --rxq=2 --txq=2 --total-num-mbufs=16384
	--txonly-multi-flow)

# start_srv: the frontend of vhu0 connects to OVS's socket.
start_srv() {
	local end=$((SECONDS + 60))
	until [ -S "$OVS_DIR/vhu0" ]; do
		[ "$SECONDS" -lt "$end" ] || abort "$1: no socket $OVS_DIR/vhu0"
		sleep 0.1
	done
	tp_start srv "" "${eal[@]}" \
		--vdev "net_virtio_user0,path=$OVS_DIR/vhu0,queues=2,cq=1" \
		-- "${app[@]}"
}

# start_cli NAME [VIOMMU_DEVARGS]: the frontend of vhuc0 listens; OVS
# connects. With devargs, it is net_virtio_viommu instead of virtio-user.
start_cli() {
	local name=$1 sock=$OVS_DIR/vhuc0.sock
	rm -f "$sock"
	if [ $# -gt 1 ]; then
		tp_start "$name" "" "${eal[@]}" -d "$plugdir/$(basename "$viommu_pmd")" \
			--vdev "net_virtio_viommu0,path=$sock,server=1,queues=2$2" \
			-- "${app[@]}"
	else
		tp_start "$name" "" "${eal[@]}" \
			--vdev "net_virtio_user0,path=$sock,server=1,queues=2,cq=1" \
			-- "${app[@]}"
	fi
}

# wait_up STEP IFACE NAME: OVS sees IFACE's device ready and testpmd NAME
# has its port started.
wait_up() {
	ovs_wait_link "$2" 120 || abort "$1: OVS never saw $2 up"
	tp_wait_log "$3" 'testpmd> ' 1 120 || abort "$1: testpmd $3 did not start"
}

# wait_down STEP IFACE: OVS saw IFACE's frontend go away.
wait_down() {
	local end=$((SECONDS + 60))
	while [ "$(ovs_vsctl --no-wait get Interface "$2" link_state)" != down ]; do
		[ "$SECONDS" -lt "$end" ] || abort "$1: OVS never saw $2 down"
		sleep 0.2
	done
}

# ---- traffic ----
# last_stop_streams NAME FROMLINE: "queue rx tx" for each stream testpmd
# NAME printed at its last stop (log lines after FROMLINE).
streams() {
	tail -n "+$2" "$TP_DIR/$1.log" | awk '
		/Forward Stats for RX Port=/ {
			s = $0; sub(/.*RX Port= *[0-9]+\/Queue= */, "", s)
			q = s + 0; want = 1; next }
		want && $1 == "RX-packets:" { rx[q] = $2; tx[q] = $4; want = 0 }
		END { for (q in rx) print q, rx[q], tx[q] }'
}

declare -A ofport=([vhu0]=1 [vhuc0]=2)

# delta BEFORE AFTER: AFTER - BEFORE, or "-" if OVS could not read either.
delta() {
	if [ "$1" = - ] || [ "$2" = - ]; then echo -; else echo $(($2 - $1)); fi
}

# one_way STEP SENDER RECEIVER IN_IFACE OUT_IFACE
one_way() {
	local step=$1 snd=$2 rcv=$3 in=$4 out=$5 what="$1 $2->$3"
	local in0 out0 in1 out1 stats tx rx line
	read -r -a in0 <<<"$(ovs_port_stats br0 "${ofport[$in]}")"
	read -r -a out0 <<<"$(ovs_port_stats br0 "${ofport[$out]}")"
	tp_cmd "$rcv" "set fwd rxonly"
	tp_cmd "$snd" "set fwd txonly"
	tp_cmd "$rcv" "clear port stats all"
	tp_fwd_start "$rcv" || abort "$what: $rcv did not start forwarding"
	local sline rline
	sline=$(wc -l <"$TP_DIR/$snd.log")
	rline=$(wc -l <"$TP_DIR/$rcv.log")
	tp_fwd_start "$snd" || abort "$what: $snd did not start forwarding"
	# Traffic until the receiver has counted $target packets.
	# (A time limit, not an assertion: a starved receiver just counts less.)
	local end=$((SECONDS + 30))
	while stats=$(tp_port_stats "$rcv") && [ "${stats%% *}" -lt "$target" ]; do
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.2
	done
	tp_stop "$snd" || abort "$what: $snd did not stop"
	tx=$(tp_fwd_count "$snd" TX)
	# Drained: OVS received all that was sent, sent or dropped all of it,
	# and the receiver counted all OVS sent. Where OVS cannot read a
	# port's counters (see ovs_port_stats), until the receiver's count
	# stays put for 2 s.
	local got fwd drop indrop cur prev=-1 still=0
	end=$((SECONDS + 60))
	while :; do
		read -r -a in1 <<<"$(ovs_port_stats br0 "${ofport[$in]}")"
		read -r -a out1 <<<"$(ovs_port_stats br0 "${ofport[$out]}")"
		got=$(delta "${in0[0]}" "${in1[0]}")
		indrop=$(delta "${in0[1]}" "${in1[1]}")
		fwd=$(delta "${out0[2]}" "${out1[2]}")
		drop=$(delta "${out0[3]}" "${out1[3]}")
		stats=$(tp_port_stats "$rcv") || break
		cur=${stats%% *}
		if [ "$fwd" != - ] && [ "$drop" != - ]; then
			[ "$got" = - ] || [ "$got" -eq "$tx" ] || { sleep 0.2; continue; }
			[ $((fwd + drop)) -eq "$tx" ] && [ "$cur" -ge "$fwd" ] && break
		else
			if [ "$cur" = "$prev" ]; then still=$((still + 1)); else still=0; fi
			[ "$still" -ge 10 ] && break
			prev=$cur
		fi
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.2
	done
	tp_stop "$rcv" || abort "$what: $rcv did not stop"
	rx=$(tp_fwd_count "$rcv" RX)
	local msg="sent $tx, OVS $in rx $got dropped $indrop, $out tx $fwd dropped $drop, received $rx"
	if [ "$tx" -le 0 ] || [ "$rx" -le 0 ]; then
		fail "$what: no traffic: $msg"
		return
	fi
	local bad=
	if [ "$got" != - ]; then
		[ "$got" -eq "$tx" ] || bad+=" OVS received $got of $tx;"
		[ "$indrop" -eq 0 ] || bad+=" OVS dropped $indrop on receive;"
	fi
	if [ "$fwd" != - ] && [ "$drop" != - ]; then
		[ $((fwd + drop)) -eq "$tx" ] || bad+=" OVS sent+dropped $((fwd + drop)) of $tx;"
		[ "$rx" -eq "$fwd" ] || bad+=" receiver got $rx of the $fwd OVS sent;"
	else
		msg+=" (OVS has no counters for $out: received <= sent checked)"
		[ "$rx" -le "$tx" ] || bad+=" receiver got $rx, more than the $tx sent;"
	fi
	if [ -n "$bad" ]; then
		fail "$what: counters disagree:$bad $msg"
		return
	fi
	# Every queue: the sender sent on it, the receiver received on it.
	local q s r
	for q in 0 1; do
		s=$(streams "$snd" "$sline" | awk -v q="$q" '$1 == q { print $3 }')
		r=$(streams "$rcv" "$rline" | awk -v q="$q" '$1 == q { print $2 }')
		[ "${s:-0}" -gt 0 ] || bad+=" $snd sent nothing on queue $q;"
		[ "${r:-0}" -gt 0 ] || bad+=" $rcv received nothing on queue $q;"
		msg+=", q$q ${s:-0}/${r:-0}"
	done
	if [ -n "$bad" ]; then
		fail "$what:$bad $msg"
		return
	fi
	pass "$what: $msg"
}

# round STEP CLI: traffic both ways between srv and CLI.
round() {
	one_way "$1" srv "$2" vhu0 vhuc0
	one_way "$1" "$2" srv vhuc0 vhu0
}

start_srv start
start_cli cli
wait_up start vhu0 srv
wait_up start vhuc0 cli
round start cli

# ---- per-vring counters OVS shows (client port, library's xstats) ----
# They count from the device's start, as OVS's port counters do here; the
# database copy is refreshed every few seconds, so wait for the sums.
check_vring_stats() {
	local end=$((SECONDS + 60)) all rxs txs rxp txp
	while :; do
		all=$(ovs_vsctl --no-wait get Interface vhuc0 statistics | tr -d '{}"' | tr ',' '\n')
		rxs=$(awk -F= '$1 ~ /^ *rx_q[0-9]+_good_packets$/ { s += $2 } END { print s + 0 }' <<<"$all")
		txs=$(awk -F= '$1 ~ /^ *tx_q[0-9]+_good_packets$/ { s += $2 } END { print s + 0 }' <<<"$all")
		rxp=$(awk -F= '$1 ~ /^ *rx_packets$/ { print $2 }' <<<"$all")
		txp=$(awk -F= '$1 ~ /^ *tx_packets$/ { print $2 }' <<<"$all")
		[ "$rxs" -gt 0 ] && [ "$rxs" = "$rxp" ] && [ "$txs" = "$txp" ] && break
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.5
	done
	local names
	names=$(awk -F= '$1 ~ /_q[0-9]+_/ { print $1 }' <<<"$all" | tr -d ' ' | sort | tr '\n' ' ')
	echo "ovs: vhuc0 shows $(wc -w <<<"$names") per-vring counters, per ring:" \
		"$(tr ' ' '\n' <<<"$names" | sed -n 's/^rx_q0_//p' | tr '\n' ' ')"
	if [ "$rxs" -gt 0 ] && [ "$rxs" = "$rxp" ] && [ "$txs" = "$txp" ] &&
		grep -q 'rx_q1_good_packets' <<<"$names" &&
		grep -q 'tx_q1_good_packets' <<<"$names"; then
		pass "vring stats: rx_q*_good_packets $rxs = rx_packets, tx_q*_good_packets $txs = tx_packets"
	else
		fail "vring stats: rx_q* $rxs vs rx_packets ${rxp:-none}, tx_q* $txs vs tx_packets ${txp:-none}"
	fi
}
check_vring_stats

# ---- frontends restarted, OVS kept ----
tp_quit cli
wait_down "frontend restart" vhuc0
start_cli cli
tp_quit srv
wait_down "frontend restart" vhu0
start_srv "frontend restart"
wait_up "frontend restart" vhu0 srv
wait_up "frontend restart" vhuc0 cli
round "frontend restart" cli

# ---- ovs-vswitchd restarted ----
# cli (virtio-user server=1) keeps its rings and waits for OVS to
# reconnect; Debian's virtio-user client does not reconnect, so srv is
# started again. It quits first: OVS logs an ERR when it removes a
# dpdkvhostuser port whose device is still attached.
tp_quit srv
wait_down "ovs restart" vhu0
ovs_stop
start_ovs "ovs restart"
ovs_flows br0 1 2 || abort "ovs restart: flows"
start_srv "ovs restart"
wait_up "ovs restart" vhu0 srv
wait_up "ovs restart" vhuc0 cli
round "ovs restart" cli

# ---- vIOMMU frontend on the client port ----
if [ -e "$viommu_pmd" ]; then
	cp "$viommu_pmd" "$plugdir/"
	for mode in "static|,iommu=static,iommu_page=2M" \
		"dynamic|,iommu=dynamic,iommu_page=4K"; do
		tp_quit cli
		tp_quit vio 2>/dev/null || true
		wait_down "viommu ${mode%%|*}" vhuc0
		start_cli vio "${mode#*|}"
		wait_up "viommu ${mode%%|*}" vhuc0 vio
		round "viommu ${mode%%|*}" vio
		n=$(grep -c 'NIC extended statistics' "$TP_DIR/vio.log" || true)
		tp_cmd vio "show port xstats 0"
		tp_wait_log vio 'iommu_errors:' $((n + 1)) 20 || true
		upd=$(awk '$1 == "iommu_updates:" { v = $2 } END { print v + 0 }' "$TP_DIR/vio.log")
		mis=$(awk '$1 == "iommu_misses:" { v = $2 } END { print v + 0 }' "$TP_DIR/vio.log")
		if [ "$upd" -gt 0 ] && { [ "${mode%%|*}" = static ] || [ "$mis" -gt 0 ]; }; then
			pass "viommu ${mode%%|*}: IOTLB in use (updates $upd, misses $mis)"
		else
			fail "viommu ${mode%%|*}: IOTLB not used (updates $upd, misses $mis)"
		fi
	done
else
	fail "viommu: $viommu_pmd not built"
fi

# ---- the OVS log ----
tp_cleanup
ovs_stop
errs=$(grep -E '\|(ERR|EMER)\|' "$OVS_DIR/ovs-vswitchd.log" || true)
if [ -z "$errs" ]; then
	pass "ovs-vswitchd.log: no ERR or EMER line ($(grep -c '|WARN|' "$OVS_DIR/ovs-vswitchd.log" || true) WARN)"
else
	fail "ovs-vswitchd.log has $(wc -l <<<"$errs") ERR/EMER lines:"
	head -n 20 <<<"$errs"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
