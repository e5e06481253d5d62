#!/bin/bash
# OVS-DPDK benchmark (not a test): Debian's ovs-vswitchd-dpdk (OVS 3.1) on
# our librte_vhost and on Debian's, alternately, forwarding between two
# dpdkvhostuserclient ports (flows in_port=1 -> 2 and 2 -> 1). One Debian
# dpdk-testpmd owns both frontends (virtio-user server=1, one queue pair
# each) and io-forwards between them: port 0 -> OVS -> port 1 -> testpmd
# -> port 0 ... The loop is filled with "start tx_first", so every packet
# crosses OVS once per testpmd hop: two poll loops (OVS's PMD thread on
# CPU 1, testpmd's forwarding lcore on CPU 0), each packet dequeued and
# enqueued by the library twice per loop.
#
# Per round and library: a fresh ovs-vswitchd (its own ovsdb-server, run
# directory and EAL prefix), then per packet size a fresh testpmd;
# BENCH_WARMUP s of traffic, then testpmd's own Rx-pps of both ports summed
# (TSC-timed by testpmd) over BENCH_SECONDS. Ours goes first on odd
# rounds, Debian's on even ones.
#
# Env: BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_WARMUP (2),
#      BENCH_SIZES (64 1518), BENCH_OURS (build/lib/vhost),
#      BENCH_CSV (doc/bench/ovs.csv), BENCH_KEEP (keep the logs)
# Usage: bench-ovs.sh [--report]; --report prints the table from BENCH_CSV.
# Run it alone: /work/bench-exclusive devtools/bench-ovs.sh (or any way to
# keep other CPU load off the machine).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${BENCH_ROUNDS:-5}
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-2}
read -r -a sizes <<<"${BENCH_SIZES:-64 1518}"
csv=${BENCH_CSV:-doc/bench/ovs.csv}
csv_header="round,size,library,mpps,ovs_tx_dropped"
ourlib=$(realpath -e "${BENCH_OURS:-build/lib/vhost}/librte_vhost.so.23")
dpdklib=$(realpath -e /usr/lib/x86_64-linux-gnu/librte_vhost.so.23)

report() {
	[ -s "$csv" ] || { echo "bench: no $csv" >&2; return 1; }
	awk -F, '
		NR == 1 { next }
		!seen[$2]++ { order[++ns] = $2 }
		{ k = $2 "," $3; v[k] = v[k] " " $4; n[k]++; d[k] += $5 }
		function median(s,    a, m, i, j, t) {
			m = split(s, a, " ")
			for (i = 1; i <= m; i++)
				for (j = i + 1; j <= m; j++)
					if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		}
		END {
			printf "median Mpps through OVS (testpmd io loop, both ports summed)\n"
			printf "%-6s %8s %8s %9s %6s %14s %14s\n", "size", "ours", "dpdk",
				"ours/dpdk", "runs", "OVS drops ours", "OVS drops dpdk"
			for (i = 1; i <= ns; i++) {
				s = order[i]; o = median(v[s ",ours"]); p = median(v[s ",dpdk"])
				printf "%-6s %8.3f %8.3f %9s %6s %14d %14d\n", s, o, p,
					(p > 0 ? sprintf("%.3f", o / p) : "-"),
					n[s ",ours"] "/" n[s ",dpdk"], d[s ",ours"], d[s ",dpdk"]
			}
		}' "$csv"
}

if [ "${1:-}" = --report ]; then
	report
	exit
fi

OVS_DIR=
TP_DIR=$(mktemp -d /tmp/ovs-bench.XXXXXX)
# shellcheck source=app/test/integration/testpmd_common.sh
. app/test/integration/testpmd_common.sh
# shellcheck source=app/test/integration/ovs/ovs_common.sh
. app/test/integration/ovs/ovs_common.sh
finish() {
	local rc=$?
	tp_cleanup
	[ -z "$OVS_DIR" ] || ovs_cleanup
	rm -f "$TP_DIR"/*.in "$TP_DIR"/*/*.sock
	if [ "$rc" -eq 0 ] && [ -z "${BENCH_KEEP:-}" ]; then
		rm -rf "$TP_DIR"
	else
		echo "bench: logs kept in $TP_DIR" >&2
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $1" >&2
	[ -z "$OVS_DIR" ] || tail -n 20 "$OVS_DIR/ovs-vswitchd.log" >&2 || true
	exit 1
}

# rx_pps NAME: the sum of Rx-pps over both ports (since the previous ask).
rx_pps() {
	local n
	n=$(grep -c 'Rx-pps:' "$TP_DIR/$1.log" || true)
	tp_cmd "$1" "show port stats all"
	tp_wait_log "$1" 'Rx-pps:' $((n + 2)) 20 || return 1
	grep 'Rx-pps:' "$TP_DIR/$1.log" | tail -n 2 |
		awk '{ s += $2 } END { print s }'
}

# bench_lib ROUND LIB: one OVS on LIB, one testpmd per packet size.
run=0
bench_lib() {
	local round=$1 lib=$2 libdir= want=$dpdklib
	if [ "$lib" = ours ]; then
		libdir=$(dirname "$ourlib") want=$ourlib
	fi
	run=$((run + 1))
	OVS_DIR=$TP_DIR/ovs$run
	mkdir -p "$OVS_DIR"
	ovs_db_start "ovsb$$r$run" || die "ovsdb-server did not start"
	ovs_start "$libdir" || die "ovs-vswitchd-dpdk did not start"
	[ "$(ovs_mapped_vhost)" = "$want" ] || die "ovs-vswitchd did not map $want"
	ovs_vsctl add-br br0 -- set Bridge br0 datapath_type=netdev \
		-- add-port br0 p0 -- set Interface p0 type=dpdkvhostuserclient \
			ofport_request=1 "options:vhost-server-path=$OVS_DIR/p0.sock" \
		-- add-port br0 p1 -- set Interface p1 type=dpdkvhostuserclient \
			ofport_request=2 "options:vhost-server-path=$OVS_DIR/p1.sock" ||
		die "ports"
	ovs_flows br0 1 2 || die "flows"
	local size name mpps d0 d1 a
	for size in "${sizes[@]}"; do
		name=tp$run-$size
		# virtio-user server=1 waits in its init for OVS to connect.
		rm -f "$OVS_DIR"/p?.sock
		tp_start "$name" "" -l 0,1 --main-lcore 1 --no-pci -m 256 \
			--single-file-segments \
			--vdev "net_virtio_user0,path=$OVS_DIR/p0.sock,server=1" \
			--vdev "net_virtio_user1,path=$OVS_DIR/p1.sock,server=1" \
			-- -i --nb-cores=1 --forward-mode=io --total-num-mbufs=16384 \
			"--txpkts=$size"
		ovs_wait_link p0 120 && ovs_wait_link p1 120 ||
			die "OVS ports did not come up"
		tp_wait_log "$name" 'testpmd> ' 1 120 || die "testpmd did not start"
		read -r -a a <<<"$(ovs_port_stats br0 1)"; d0=$((a[3]))
		read -r -a a <<<"$(ovs_port_stats br0 2)"; d0=$((d0 + a[3]))
		tp_cmd "$name" "start tx_first 4"
		tp_sleep "$warmup"
		rx_pps "$name" >/dev/null || die "no stats"
		tp_sleep "$seconds"
		mpps=$(rx_pps "$name") || die "no stats"
		mpps=$(awk -v p="$mpps" 'BEGIN { printf "%.3f", p / 1e6 }')
		read -r -a a <<<"$(ovs_port_stats br0 1)"; d1=$((a[3]))
		read -r -a a <<<"$(ovs_port_stats br0 2)"; d1=$((d1 + a[3]))
		tp_quit "$name"
		echo "$round,$size,$lib,$mpps,$((d1 - d0))" >>"$csv"
		printf 'round %d %-4s %4d B: %7s Mpps (OVS tx drops %d)\n' \
			"$round" "$lib" "$size" "$mpps" $((d1 - d0))
	done
	tp_cleanup
	ovs_cleanup
	OVS_DIR=
}

mkdir -p "$(dirname "$csv")"
echo "$csv_header" >"$csv"
echo "bench: ours $ourlib, dpdk $dpdklib; $rounds rounds, ${seconds}s per run"
for round in $(seq 1 "$rounds"); do
	if [ $((round % 2)) = 1 ]; then order="ours dpdk"; else order="dpdk ours"; fi
	for lib in $order; do
		bench_lib "$round" "$lib"
	done
done
report
