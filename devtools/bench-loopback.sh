#!/bin/bash
# Loopback benchmark (not a test): our librte_vhost against Debian's, run
# alternately in one go because the machine is noisy. 64-byte packets, one
# queue pair, vhost forwarding on one CPU and virtio-user on the other.
# Prints a table of median Mpps and writes every run to doc/bench/loopback.csv.
#
# Env: BENCH_ROUNDS (3), BENCH_SECONDS measured time per run (8),
#      BENCH_WARMUP seconds of traffic before measuring (1),
#      BENCH_OURS (build/lib/vhost), BENCH_DPDK (/usr/lib/x86_64-linux-gnu),
#      BENCH_CSV (doc/bench/loopback.csv)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${BENCH_ROUNDS:-3}
seconds=${BENCH_SECONDS:-8}
warmup=${BENCH_WARMUP:-1}
csv=${BENCH_CSV:-doc/bench/loopback.csv}
declare -A libdir=(
	[ours]=$(realpath "${BENCH_OURS:-build/lib/vhost}")
	[dpdk]=$(realpath "${BENCH_DPDK:-/usr/lib/x86_64-linux-gnu}")
)
for lib in ours dpdk; do
	if [ ! -e "${libdir[$lib]}/librte_vhost.so.23" ]; then
		echo "bench: no librte_vhost.so.23 in ${libdir[$lib]} (run devtools/setup.sh)" >&2
		exit 1
	fi
done

TP_DIR=$(mktemp -d /tmp/vhost-bench.XXXXXX)
. app/test/integration/testpmd_common.sh
trap 'tp_cleanup; rm -rf "$TP_DIR"' EXIT
trap 'exit 130' INT TERM

# measure LIB DIR: one fresh pair of testpmds, prints "RX-packets Mpps"
# for the receiver over the measured interval.
measure() {
	local lib=$1 dir=$2 sock="$TP_DIR/vhost.sock"
	local vhost_mode=rxonly virtio_mode=txonly sender=virtio receiver=vhost
	if [ "$dir" = h2v ]; then
		vhost_mode=txonly virtio_mode=rxonly sender=vhost receiver=virtio
	fi
	local app=(-i --nb-cores=1 --total-num-mbufs=16384 --txpkts=64)
	tp_start vhost "${libdir[$lib]}" -l 0,1 --main-lcore 0 --no-pci -m 256 \
		--vdev "net_vhost0,iface=$sock,queues=1" -- "${app[@]}" \
		"--forward-mode=$vhost_mode"
	tp_wait_sock vhost "$sock" 15 || { echo "bench: vhost did not start" >&2; return 1; }
	tp_start virtio "" -l 0,1 --main-lcore 1 --no-pci -m 256 --single-file-segments \
		--vdev "net_virtio_user0,path=$sock,queues=1" -- "${app[@]}" \
		"--forward-mode=$virtio_mode"
	tp_wait_log vhost 'link state change event' 1 20 &&
		tp_wait_log virtio 'testpmd> ' 1 10 ||
		{ echo "bench: link did not come up, see $TP_DIR" >&2; return 1; }
	if [ "$(tp_mapped_vhost vhost)" != "$(realpath "${libdir[$lib]}/librte_vhost.so.23")" ]; then
		echo "bench: vhost testpmd did not map ${libdir[$lib]}/librte_vhost.so.23" >&2
		return 1
	fi

	tp_cmd "$receiver" start
	tp_cmd "$sender" start
	sleep "$warmup"
	local rx0 rx1 pps
	read -r rx0 _ < <(tp_port_stats "$receiver")
	sleep "$seconds"
	read -r rx1 pps < <(tp_port_stats "$receiver")
	tp_quit virtio
	tp_quit vhost
	tp_cleanup
	rm -f "$sock"
	echo "$((rx1 - rx0)) $(awk -v p="$pps" 'BEGIN { printf "%.3f", p / 1e6 }')"
}

mkdir -p "$(dirname "$csv")"
echo "round,direction,library,seconds,rx_packets,mpps" >"$csv"
echo "bench: $rounds rounds x 2 directions x 2 libraries, ${seconds}s each"
for ((r = 1; r <= rounds; r++)); do
	for dir in v2h h2v; do
		# Swap the order every round so drift does not favour one library.
		order=(ours dpdk)
		[ $((r % 2)) -eq 0 ] && order=(dpdk ours)
		for lib in "${order[@]}"; do
			read -r pkts mpps < <(measure "$lib" "$dir") || exit 1
			[ -n "${mpps:-}" ] || exit 1
			echo "$r,$dir,$lib,$seconds,$pkts,$mpps" >>"$csv"
			printf '  round %d %-3s %-4s %8s Mpps\n' "$r" "$dir" "$lib" "$mpps"
		done
	done
done

# Median per library and direction, then the ratio.
echo
awk -F, 'NR > 1 { v[$2 "," $3] = v[$2 "," $3] " " $6 }
	function median(s,    a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		printf "%-34s %10s %10s %8s\n", "direction (median Mpps)", "ours", "dpdk", "ratio"
		split("v2h h2v", d, " ")
		name["v2h"] = "virtio txonly -> vhost rxonly"
		name["h2v"] = "vhost txonly -> virtio rxonly"
		for (i = 1; i <= 2; i++) {
			o = median(v[d[i] ",ours"]); p = median(v[d[i] ",dpdk"])
			printf "%-34s %10.2f %10.2f %8.2f\n", name[d[i]], o, p, (p > 0 ? o / p : 0)
		}
	}' "$csv"
echo "bench: wrote $csv"
