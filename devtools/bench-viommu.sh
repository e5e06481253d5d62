#!/bin/bash
# vIOMMU benchmark (not a test): Debian's dpdk-testpmd vhost PMD on our
# librte_vhost and on Debian's, driven by our net_virtio_viommu frontend
# (build/drivers/net/virtio/librte_net_virtio_viommu.so, loaded with -d)
# with the IOMMU off, static (1G, 2M and 4K pages), dynamic (4K) and
# static scattered mappings (iommu_map=scatter: 4K or 2M pages, working
# sets of 1K, 16K and 256K windows; modes scatter-4K-1K ... scatter-2M-256K).
# 64-byte packets, one queue pair; the vhost side forwards on one CPU, the
# frontend on the other. The libraries alternate inside each round (ours
# first on odd rounds, Debian's first on even ones) so that drift on a
# shared machine does not favour one of them.
#
# Each run: fresh pair of testpmds, receiver started first, then the
# sender; BENCH_WARMUP seconds of traffic, then the receiver's rate over
# BENCH_SECONDS (testpmd's own Rx-pps, TSC-timed). The sender is then
# stopped first, the receiver drains and stops, and its accumulated RX
# count is compared with the sender's accumulated TX count (lost packets).
#
# Directions: v2h = virtio txonly -> vhost rxonly (guest->host, dequeue),
#             h2v = vhost txonly -> virtio rxonly (host->guest, enqueue).
#
# Before that, a BENCH_IOTLB_WARMUP-second session (3; 0: none) lets the
# IOTLB fill, then both sides stop and their port counters are cleared.
#
# Env: BENCH_ROUNDS (3), BENCH_SECONDS measured time per run (5),
#      BENCH_WARMUP (1), BENCH_IOTLB_WARMUP (3), BENCH_DIRS ("v2h"; "v2h h2v" for both),
#      BENCH_MODES (off static-1G static-2M static-4K dynamic-4K),
#      BENCH_OURS (build/lib/vhost), BENCH_DPDK (/usr/lib/x86_64-linux-gnu),
#      BENCH_PMD (build/drivers/net/virtio/librte_net_virtio_viommu.so),
#      BENCH_PMD_DPDK (BENCH_PMD: the frontend PMD of the "dpdk" slot's
#      runs, to compare two frontend builds in one run),
#      BENCH_CSV (doc/bench/viommu.csv), BENCH_PNG (doc/bench/viommu.png),
#      BENCH_KEEP (set: keep the testpmd logs),
#      BENCH_ENV (VAR=value words put in the vhost testpmd's environment,
#      e.g. VHOST_IOTLB_MAX_ENTRIES=300000 for a library that reads it)
# Usage: bench-viommu.sh [--report]; --report redoes the table and the
# plot from an existing BENCH_CSV without measuring.
# Output: a table on stdout, one CSV row per run
#   (round,library,mode,direction,mpps,sent,received,cpu_share,
#    iotlb_entries,iotlb_miss_rate: our library's per-ring counters from
#    telemetry, the most entries a ring held at the end and the share of
#    lookups that missed between the end of the warm-up and the end of the
#    measurement; "-" for Debian's library, which has no such counters)
# and a grouped bar chart of the medians (needs gnuplot; skipped without).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=devtools/bench_common.sh
. devtools/bench_common.sh
bench_args "$@"

rounds=${BENCH_ROUNDS:-3}
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
iotlb_warmup=${BENCH_IOTLB_WARMUP:-3}
dirs=${BENCH_DIRS:-v2h}
modes=${BENCH_MODES:-off static-1G static-2M static-4K dynamic-4K}
csv=${BENCH_CSV:-doc/bench/viommu.csv}
png=${BENCH_PNG:-doc/bench/viommu.png}
pmd=$(realpath "${BENCH_PMD:-build/drivers/net/virtio/librte_net_virtio_viommu.so}")
pmd_dpdk=$(realpath "${BENCH_PMD_DPDK:-$pmd}")
for f in "$pmd" "$pmd_dpdk"; do
	if [ ! -e "$f" ]; then
		echo "bench: no $f (ninja -C build)" >&2
		exit 1
	fi
done
# EAL refuses a -d plugin with a world-writable directory on its path
# (such as /tmp): load private copies from a root-owned directory (a
# rebuild during the run does not change them either).
plugdir=$(mktemp -d /run/vvi-bench.XXXXXX)
mkdir "$plugdir/pmd-ours" "$plugdir/pmd-dpdk"
cp "$pmd" "$plugdir/pmd-ours/" && cp "$pmd_dpdk" "$plugdir/pmd-dpdk/"
declare -A pmd_of=(
	[ours]=$plugdir/pmd-ours/$(basename "$pmd")
	[dpdk]=$plugdir/pmd-dpdk/$(basename "$pmd_dpdk")
)
bench_libdirs "$plugdir"

# Frontend devargs per mode.
declare -A devargs=(
	[off]=",iommu=off"
	[static-1G]=",iommu=static,iommu_page=1G"
	[static-2M]=",iommu=static,iommu_page=2M"
	[static-4K]=",iommu=static,iommu_page=4K"
	[dynamic-4K]=",iommu=dynamic,iommu_page=4K"
)
for pg in 4K 2M; do
	for ws in 1K:1024 16K:16384 256K:262144; do
		devargs[scatter-$pg-${ws%%:*}]=",iommu=static,iommu_page=$pg,iommu_map=scatter,iotlb_working_set=${ws#*:}"
	done
done
# Frontend mbufs per mode: 16384 fill ~9.5K pages of 4K, more than a
# working set of 1K windows allows (one per mempool page at least).
declare -A vu_mbufs=([scatter-4K-1K]=1280)
for mode in $modes; do
	[ -n "${devargs[$mode]:-}" ] || { echo "bench: unknown mode $mode" >&2; exit 2; }
done
for dir in $dirs; do
	case $dir in v2h|h2v) ;; *) echo "bench: unknown direction $dir" >&2; exit 2 ;; esac
done
# off first: the report takes modes in CSV order and divides by off.
case " $modes " in
*" off "*) modes="off ${modes/off/}" ;;
esac

TP_DIR=$(mktemp -d /tmp/viommu-bench.XXXXXX)
trap 'bench_finish "$plugdir"' EXIT
trap 'exit 130' INT TERM

# measure LIB MODE DIR: one fresh pair of testpmds. Sets mpps (receiver,
# measured interval), sent/received (accumulated forward counters after
# the sender stopped and the receiver drained), cpu (share of the two CPUs
# the testpmds used meanwhile) and other (share of the two CPUs that
# anything else used meanwhile). Runs in this shell, not in $(...), so
# that the exit trap knows every testpmd it started.
run=0
measure() {
	local lib=$1 mode=$2 dir=$3
	run=$((run + 1))
	vh=vh$run vu=vu$run
	local sock="$TP_DIR/viommu$run.sock"
	local vhost_mode=rxonly virtio_mode=txonly sender=$vu receiver=$vh
	if [ "$dir" = h2v ]; then
		vhost_mode=txonly virtio_mode=rxonly sender=$vh receiver=$vu
	fi
	local app=(-i --nb-cores=1 --total-num-mbufs=16384 --txpkts=64)
	local vu_app=(-i --nb-cores=1 "--total-num-mbufs=${vu_mbufs[$mode]:-16384}" --txpkts=64)
	local kv
	for kv in ${BENCH_ENV:-}; do export "${kv?}"; done
	# -l 0,1 with --main-lcore 0: the vhost side forwards on CPU 1; the
	# frontend (main lcore 1) forwards on CPU 0. Main lcores sleep on stdin.
	tp_start "$vh" "${libdir[$lib]}" -l 0,1 --main-lcore 0 --no-pci -m 256 \
		--vdev "net_vhost0,iface=$sock,queues=1,iommu-support=1" -- \
		"${app[@]}" "--forward-mode=$vhost_mode"
	for kv in ${BENCH_ENV:-}; do unset "${kv%%=*}"; done
	tp_wait_sock "$vh" "$sock" 20 || { fail_run "vhost testpmd did not start"; return 1; }
	tp_start "$vu" "" -l 0,1 --main-lcore 1 --no-pci -m 256 --single-file-segments \
		-d "${pmd_of[$lib]}" --vdev "net_virtio_viommu0,path=$sock${devargs[$mode]}" -- \
		"${vu_app[@]}" "--forward-mode=$virtio_mode"
	# The port is started (after the IOTLB preload) once testpmd prints
	# its MAC address; the prompt follows.
	if ! tp_wait_log "$vu" '^Port 0: ' 1 120 || ! tp_wait_log "$vu" 'testpmd> ' 1 20 ||
		! tp_wait_log "$vh" 'link state change event|new device|virtio is now ready' 1 20; then
		fail_run "$lib $mode: link did not come up"
		return 1
	fi
	bench_maps_lib "$lib" || return 1

	# IOTLB warm-up session: traffic until every mapping has been used,
	# then both sides stop (idle lcores let the telemetry thread answer:
	# with rt-testpmd.sh it gets no CPU while they poll) and their
	# counters are cleared.
	local io0=- io1=-
	if [ "$iotlb_warmup" != 0 ]; then
		tp_fwd_start "$receiver" || return 1
		tp_cmd "$sender" start
		tp_sleep "$iotlb_warmup"
		tp_stop "$sender" || { fail_run "$sender did not stop"; return 1; }
		tp_drain "$receiver" "$(tp_fwd_count "$sender" TX)" 10 || true
		tp_stop "$receiver" || { fail_run "$receiver did not stop"; return 1; }
		tp_cmd "$receiver" "clear port stats all"
		tp_cmd "$sender" "clear port stats all"
	fi
	[ "$lib" = ours ] && io0=$(iotlb_counters "$vh")
	tp_fwd_start "$receiver" || return 1
	tp_cmd "$sender" start
	tp_sleep "$warmup"
	local pps
	bench_rate "$receiver" || return 1
	bench_stop_drain "$sender" "$receiver" || return 1
	[ "$lib" = ours ] && io1=$(iotlb_counters "$vh")
	entries=- missrate=-
	if [ "$io0" != - ] && [ "$io1" != - ]; then
		read -r entries missrate < <(awk -v a="$io0" -v b="$io1" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			h = y[1] - x[1]; m = y[2] - x[2]
			printf "%d %s\n", y[3], (h + m > 0 ? sprintf("%.6f", m / (h + m)) : "-") }')
	fi
	bench_quit "$sock"
	bench_figures
}

# iotlb_counters VH: "hits misses entries" of our library in testpmd VH:
# hits and misses summed over the rings of device 0, entries the most
# any ring (or the device) holds; "-" if telemetry did not answer.
iotlb_counters() {
	printf '/vhost/vring_stats,0\n' |
		timeout 30 python3 /usr/bin/dpdk-telemetry.py -f "tp$$$1" 2>/dev/null |
		python3 -c '
import json, sys
h = m = 0
e = -1
def walk(o):
    global h, m, e
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "iotlb_hits" and isinstance(v, int):
                h += v
            elif k == "iotlb_misses" and isinstance(v, int):
                m += v
            elif k == "iotlb_entries" and isinstance(v, int):
                e = max(e, v)
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        walk(json.loads(line))
print("%d %d %d" % (h, m, e) if e >= 0 else "-")' 2>/dev/null || echo -
}

# disturbed_run (bench_common.sh): the testpmds should own both CPUs
# (cpu_share >= 0.95). Undisturbed dynamic runs measure 0.97-1.00 too
# (while the frontend's lcore waits for an ack, the vhost side's threads
# keep the CPUs busy), so one threshold serves every mode. "other" (CPU
# time of everything else on CPUs 0-1) is printed as well.

# report: the table and the plot, from $csv alone. Medians per direction,
# mode and library; over the undisturbed runs if every cell has at least
# one, else over all runs (mixing clean and disturbed cells would compare
# unlike with unlike).
report() {
	local dat="$TP_DIR/medians.dat" all="$TP_DIR/all.dat"
	[ -s "$csv" ] || { echo "bench: no $csv" >&2; return 1; }
	# Modes and directions in the order the CSV has them.
	modes=$(awk -F, 'NR > 1 && !seen[$3]++ { printf "%s ", $3 }' "$csv")
	dirs=$(awk -F, 'NR > 1 && !seen[$4]++ { printf "%s ", $4 }' "$csv")
	rounds=$(awk -F, 'NR > 1 && $1 > r { r = $1 } END { print r + 0 }' "$csv")
	nmodes=$(wc -w <<<"$modes")
	ndirs=$(wc -w <<<"$dirs")
	echo
	awk -F, -v modes="$modes" -v dirs="$dirs" -v dat="$dat" -v alldat="$all" \
		"$bench_awk_median"'
		NR == 1 { next }
		{ k = $4 "," $3 "," $2; all[k] = all[k] " " $5; n[k]++
		  if ($8 >= 0.95) { clean[k] = clean[k] " " $5; nc[k]++; ncl++ }
		  lost[k] += $6 - $7; nrun++
		  if (NF >= 10 && $9 != "-") ent[k] = ent[k] " " $9
		  if (NF >= 10 && $10 != "-") mr[k] = mr[k] " " $10 }
		function ratio(a, b) { return b > 0 ? sprintf("%.3f", a / b) : "-" }
		END {
			nd = split(dirs, d, " "); nm = split(modes, m, " ")
			useclean = 1
			for (k in n) if (nc[k] == 0) useclean = 0
			name["v2h"] = "v2h: virtio txonly -> vhost rxonly (guest->host)"
			name["h2v"] = "h2v: vhost txonly -> virtio rxonly (host->guest)"
			for (i = 1; i <= nd; i++) {
				printf "%s, median Mpps over %s runs\n", name[d[i]],
					useclean ? "the undisturbed" : "all"
				printf "%-15s %8s %8s %9s %11s %11s %9s %9s %11s %9s %10s\n", "mode",
					"ours", "dpdk", "ours/dpdk", "ours on/off", "dpdk on/off",
					"lost ours", "lost dpdk", "clean runs", "entries", "miss rate"
				o_off = p_off = 0
				for (j = 1; j <= nm; j++) {
					ko = d[i] "," m[j] ",ours"; kp = d[i] "," m[j] ",dpdk"
					o = median(useclean ? clean[ko] : all[ko])
					p = median(useclean ? clean[kp] : all[kp])
					if (m[j] == "off") { o_off = o; p_off = p }
					printf "%-15s %8.3f %8.3f %9s %11s %11s %9d %9d %5s %-5s %9s %10s\n",
						m[j], o, p, ratio(o, p), ratio(o, o_off),
						ratio(p, p_off), lost[ko], lost[kp],
						(nc[ko] + 0) "/" n[ko], (nc[kp] + 0) "/" n[kp],
						ent[ko] == "" ? "-" : median(ent[ko]),
						mr[ko] == "" ? "-" : sprintf("%.6f", median(mr[ko]))
					printf "%s %d %s %s\n", d[i], j - 1, o, p > dat
				}
				print ""
			}
			print "on/off: mode / iommu=off of the same library. lost: sender TX" \
				" - receiver RX, summed over the rounds."
			print "entries, miss rate (ours): medians of the most IOTLB entries a ring" \
				" held and of misses / lookups after the warm-up (telemetry)."
			printf "clean runs: cpu_share >= 0.95 (ours/dpdk); %d of %d runs clean.\n",
				ncl, nrun
		}' "$csv"
	# Every run, for the dots on the bars.
	awk -F, -v modes="$modes" 'NR == 1 { n = split(modes, m, " ")
			for (i = 1; i <= n; i++) idx[m[i]] = i - 1; next }
		{ print $4, idx[$3] + ($2 == "ours" ? -0.19 : 0.19), $5, $8 }' "$csv" >"$all"

	if ! command -v gnuplot >/dev/null; then
		echo "bench: no gnuplot (apt-get install -y gnuplot-nox): $png not written" >&2
		return 0
	fi
	# Grouped bars per mode, ours vs Debian's, one panel per direction,
	# every run as a dot (hollow: disturbed). Log scale: dynamic mode is two orders of
	# magnitude below the others.
	local gp="$TP_DIR/plot.gp" i=0 tics="" mode dir f g
	for mode in $modes; do
		tics="$tics${tics:+, }'$mode' $i"
		i=$((i + 1))
	done
	{
		echo "set terminal pngcairo size 800,$((60 + 400 * ndirs)) font 'sans,10'"
		echo "set output '$png'"
		echo "set multiplot layout $ndirs,1 title 'net\\_virtio\\_viommu frontend -> vhost PMD, 64 B, 1 queue pair: bars median of $rounds rounds, dots every run'"
		echo "set style fill solid 0.7 border -1"
		echo "set logscale y"
		echo "set yrange [0.01:100]"
		echo "set ylabel 'receiver Mpps (log scale)'"
		echo "set grid ytics"
		echo "set key top right"
		echo "set xrange [-0.6:$((nmodes - 1)).6]"
		echo "set xtics ($tics)"
		for dir in $dirs; do
			awk -v d="$dir" '$1 == d' "$dat" >"$TP_DIR/$dir.dat"
			awk -v d="$dir" '$1 == d' "$all" >"$TP_DIR/$dir.all"
			if [ "$dir" = v2h ]; then
				echo "set title 'guest->host: virtio txonly -> vhost rxonly'"
			else
				echo "set title 'host->guest: vhost txonly -> virtio rxonly'"
			fi
			f="'$TP_DIR/$dir.dat'" g="'$TP_DIR/$dir.all'"
			echo "plot $f using (\$2-0.19):3:(\$2-0.37):(\$2-0.01):(0.01):3 with boxxyerror lc rgb '#1f77b4' title 'ours (build/lib/vhost)', \\"
			echo "  $f using (\$2+0.19):4:(\$2+0.01):(\$2+0.37):(0.01):4 with boxxyerror lc rgb '#ff7f0e' title 'Debian 22.11', \\"
			echo "  $g using 2:(\$4 >= 0.95 ? \$3 : NaN) with points pt 7 ps 0.6 lc rgb 'black' title 'one run', \\"
			echo "  $g using 2:(\$4 < 0.95 ? \$3 : NaN) with points pt 6 ps 0.6 lc rgb 'black' title 'one run, disturbed', \\"
			echo "  $f using (\$2-0.19):(0.015):(sprintf('%.3g', \$3)) with labels font 'sans,8' notitle, \\"
			echo "  $f using (\$2+0.19):(0.015):(sprintf('%.3g', \$4)) with labels font 'sans,8' notitle"
		done
		echo "unset multiplot"
	} >"$gp"
	gnuplot "$gp"
	echo "bench: wrote $png"
}

bench_report_only
echo "round,library,mode,direction,mpps,sent,received,cpu_share,iotlb_entries,iotlb_miss_rate" >"$csv"
disturbed=0
run_total=$(($(wc -w <<<"$modes") * $(wc -w <<<"$dirs") * 2 * rounds))
echo "bench: $rounds rounds x $(wc -w <<<"$dirs") direction(s) x $(wc -w <<<"$modes") modes" \
	"x 2 libraries, ${warmup}s warm-up + ${seconds}s measured each"
start_time=$SECONDS
for ((r = 1; r <= rounds; r++)); do
	bench_order "$r"
	for dir in $dirs; do
		for mode in $modes; do
			for lib in "${order[@]}"; do
				measure "$lib" "$mode" "$dir" || exit 1
				echo "$r,$lib,$mode,$dir,$mpps,$sent,$received,$cpu,$entries,$missrate" >>"$csv"
				note=""
				if disturbed_run; then
					disturbed=$((disturbed + 1))
					note="  <- disturbed"
				fi
				printf '  round %d %s %-15s %-4s %9s Mpps  sent %10s  lost %6s  cpu %s other %s  iotlb entries %s miss rate %s%s\n' \
					"$r" "$dir" "$mode" "$lib" "$mpps" "$sent" $((sent - received)) \
					"$cpu" "$other" "$entries" "$missrate" "$note"
			done
		done
	done
done
bench_done
