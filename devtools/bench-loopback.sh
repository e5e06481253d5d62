#!/bin/bash
# Loopback benchmark (not a test): our librte_vhost against Debian's, run
# alternately in one go because the machine is noisy. 64-byte packets, one
# queue pair, vhost forwarding on one CPU and virtio-user on the other.
# Prints median and best Mpps and writes every run to doc/bench/loopback.csv.
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
# shellcheck source=app/test/integration/testpmd_common.sh
. app/test/integration/testpmd_common.sh
finish() {
	local rc=$?
	tp_cleanup
	if [ "$rc" -eq 0 ]; then
		rm -rf "$TP_DIR"
	else
		rm -f "$TP_DIR"/*.in "$TP_DIR"/*.sock
		echo "bench: failed, logs kept in $TP_DIR" >&2
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# measure LIB DIR: one fresh pair of testpmds; sets pkts and mpps to what
# the receiver got over the measured interval, and cpu to the share of the
# two CPUs the testpmds had meanwhile. Called in this shell, not in $(...),
# so that the exit trap knows every testpmd it started.
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
	if ! tp_wait_log vhost 'link state change event' 1 20 ||
		! tp_wait_log virtio 'testpmd> ' 1 10; then
		echo "bench: link did not come up" >&2
		return 1
	fi
	if [ "$(tp_mapped_vhost vhost)" != "$(realpath "${libdir[$lib]}/librte_vhost.so.23")" ]; then
		echo "bench: vhost testpmd did not map ${libdir[$lib]}/librte_vhost.so.23" >&2
		return 1
	fi

	tp_cmd "$receiver" start
	tp_cmd "$sender" start
	tp_sleep "$warmup"
	local before after rx0 rx1 pps ticks0 ticks1
	ticks0=$(cpu_ticks)
	if ! before=$(tp_port_stats "$receiver"); then
		echo "bench: no stats from $receiver" >&2
		return 1
	fi
	tp_sleep "$seconds"
	if ! after=$(tp_port_stats "$receiver"); then
		echo "bench: no stats from $receiver" >&2
		return 1
	fi
	ticks1=$(cpu_ticks)
	read -r rx0 _ <<<"$before"
	read -r rx1 pps <<<"$after"
	tp_quit virtio
	tp_quit vhost
	tp_cleanup
	rm -f "$sock"
	pkts=$((rx1 - rx0))
	mpps=$(awk -v p="$pps" 'BEGIN { printf "%.3f", p / 1e6 }')
	cpu=$(awk -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v s="$seconds" \
		'BEGIN { printf "%.2f", t / hz / s / 2 }')
}

# cpu_ticks: CPU time (clock ticks) used so far by both testpmds. Their two
# forwarding loops should own both CPUs; a lower share means something
# else ran during the measurement and the figure is not trustworthy.
cpu_ticks() {
	cat "/proc/${TP_PID[vhost]}/stat" "/proc/${TP_PID[virtio]}/stat" |
		awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t }'
}

mkdir -p "$(dirname "$csv")"
echo "round,direction,library,seconds,rx_packets,mpps,cpu_share" >"$csv"
disturbed=0
echo "bench: $rounds rounds x 2 directions x 2 libraries, ${seconds}s each"
for ((r = 1; r <= rounds; r++)); do
	for dir in v2h h2v; do
		# Swap the order every round so drift does not favour one library.
		order=(ours dpdk)
		if [ $((r % 2)) -eq 0 ]; then
			order=(dpdk ours)
		fi
		for lib in "${order[@]}"; do
			measure "$lib" "$dir" || exit 1
			echo "$r,$dir,$lib,$seconds,$pkts,$mpps,$cpu" >>"$csv"
			note=""
			if awk -v c="$cpu" 'BEGIN { exit !(c < 0.95) }'; then
				note="  <- disturbed: testpmds had only $cpu of the CPUs"
				disturbed=$((disturbed + 1))
			fi
			printf '  round %d %-3s %-4s %8s Mpps%s\n' "$r" "$dir" "$lib" "$mpps" "$note"
		done
	done
done

# Median and best run per library and direction, and ours/dpdk ratios.
# The best run matters here: rates on these machines jump between two
# levels (about 5 and 20 Mpps) with nothing else running.
echo
# Disturbed runs (cpu_share < 0.95) count only where a cell has no other.
awk -F, 'NR > 1 { k = $2 "," $3; all[k] = all[k] " " $6
		if ($7 >= 0.95) clean[k] = clean[k] " " $6 }
	function runs(k) {
		if (clean[k] != "") return clean[k]
		split(k, kk, ",")
		note = note " " kk[2]
		return all[k]
	}
	function sorted(s, a,    n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n
	}
	function median(s,    a, n) {
		n = sorted(s, a)
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function best(s,    a, n) {
		n = sorted(s, a)
		return a[n]
	}
	function ratio(a, b) { return b > 0 ? a / b : 0 }
	END {
		printf "%-30s %26s   %26s\n", "", "median Mpps", "best Mpps"
		printf "%-30s %8s %8s %8s   %8s %8s %8s\n", "direction",
			"ours", "dpdk", "ratio", "ours", "dpdk", "ratio"
		split("v2h h2v", d, " ")
		name["v2h"] = "virtio txonly -> vhost rxonly"
		name["h2v"] = "vhost txonly -> virtio rxonly"
		for (i = 1; i <= 2; i++) {
			note = ""
			o = runs(d[i] ",ours"); p = runs(d[i] ",dpdk")
			if (note != "") note = "  disturbed runs only:" note
			printf "%-30s %8.2f %8.2f %8.2f   %8.2f %8.2f %8.2f%s\n", name[d[i]],
				median(o), median(p), ratio(median(o), median(p)),
				best(o), best(p), ratio(best(o), best(p)), note
		}
	}' "$csv"
if [ "$disturbed" -gt 0 ]; then
	echo "bench: warning: $disturbed runs shared the CPUs with other work"
fi
echo "bench: wrote $csv"
