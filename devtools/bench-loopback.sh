#!/bin/bash
# Loopback benchmark (not a test): Debian's dpdk-testpmd with the vhost PMD
# on our librte_vhost and on Debian's, against a second dpdk-testpmd with
# net_virtio_user, over a matrix of cases, with the machine's bare copy
# limit measured in the same run as a ceiling.
#
# Cases are named DIR-SIZE-mrgM-qQ (e.g. h2v-64-mrg1-q1):
#   DIR   v2h = virtio txonly -> vhost rxonly (guest->host, dequeue)
#         h2v = vhost txonly -> virtio rxonly (host->guest, enqueue)
#   SIZE  packet length in bytes (testpmd --txpkts): 64 or 1518
#   M     virtio-user mrg_rxbuf (mergeable receive buffers): 1 or 0
#   Q     queue pairs: 1 or 2
#
# Each round measures the copy limit once, then runs every case on both
# libraries back to back (ours first on odd rounds, Debian's first on even
# ones) so that drift on a noisy machine does not favour one of them.
# Per run: a fresh pair of testpmds, receiver started first, then the
# sender; BENCH_WARMUP seconds of traffic, then the receiver's rate over
# BENCH_SECONDS (testpmd's own Rx-pps, TSC-timed). The sender then stops,
# the receiver drains, and sender TX - receiver RX is reported as lost.
#
# Env: BENCH_CASES  regex over case names (default: all 16),
#                   e.g. '^h2v-64-mrg1-q1$' or '-64-mrg1-q1$'
#      BENCH_ROUNDS (5), BENCH_SECONDS measured time per run (5),
#      BENCH_WARMUP seconds of traffic before measuring (1),
#      BENCH_OURS (build/lib/vhost), BENCH_DPDK (/usr/lib/x86_64-linux-gnu),
#      BENCH_COPY_LIMIT source of the copy-limit program
#                   (../shared/tools/copy_limit.c from the repository root;
#                   set it empty to skip the copy limit),
#      BENCH_CSV (doc/bench/loopback.csv), BENCH_PNG (doc/bench/loopback.png),
#      BENCH_KEEP (set: keep the testpmd logs),
#      BENCH_VIRTIO_ARGS more virtio-user options, e.g. ',packed_vq=1'
# Usage: bench-loopback.sh [--report]; --report redoes the table and the
# plot from an existing BENCH_CSV without measuring.
# Output: a table on stdout (medians per case, ours/dpdk, 64 B as fractions
# of the copy limit), one CSV row per run and per copy-limit run, and a
# bar chart of the medians (needs gnuplot; skipped without).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=devtools/bench_common.sh
. devtools/bench_common.sh
bench_args "$@"

rounds=${BENCH_ROUNDS:-5}
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
filter=${BENCH_CASES:-.}
csv=${BENCH_CSV:-doc/bench/loopback.csv}
png=${BENCH_PNG:-doc/bench/loopback.png}
copy_src=${BENCH_COPY_LIMIT-../shared/tools/copy_limit.c}
csv_header="round,case,direction,size,mrg_rxbuf,queues,library,mpps,sent,received,cpu_share,other_share"
# Seconds a run takes beyond warm-up and measurement (two testpmds start,
# link up, drain, quit), for the time estimate: about 3 s on a quiet
# machine, up to 10 s on a loaded one.
run_overhead=3
# The copy-limit program runs for a fixed 3 s.
copy_seconds=3

for v in "$rounds" "$seconds" "$warmup"; do
	if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then
		echo "bench: BENCH_ROUNDS/SECONDS/WARMUP must be positive integers" >&2
		exit 2
	fi
done

all_cases=()
for dir in v2h h2v; do
	for size in 64 1518; do
		for mrg in 1 0; do
			for q in 1 2; do
				all_cases+=("$dir-$size-mrg$mrg-q$q")
			done
		done
	done
done
cases=()
for c in "${all_cases[@]}"; do
	if [[ $c =~ $filter ]]; then
		cases+=("$c")
	fi
done
if [ "$report_only" = 0 ] && [ "${#cases[@]}" -eq 0 ]; then
	echo "bench: BENCH_CASES='$filter' matches no case; cases are:" >&2
	printf '  %s\n' "${all_cases[@]}" >&2
	exit 2
fi

TP_DIR=$(mktemp -d /tmp/vhost-bench.XXXXXX)
trap bench_finish EXIT
trap 'exit 130' INT TERM

# measure LIB CASE: one fresh pair of testpmds. Sets mpps (receiver,
# measured interval), sent/received (accumulated forward counters after
# the sender stopped and the receiver drained), cpu (share of the two CPUs
# the testpmds used meanwhile) and other (share of the two CPUs that
# anything else used meanwhile). Runs in this shell, not in $(...), so
# that the exit trap knows every testpmd it started.
#
# Lcores: -l 0,1 on both sides; the vhost side has main lcore 0 and
# forwards on CPU 1, the virtio side has main lcore 1 and forwards on CPU 0
# (main lcores sleep on stdin). With two queue pairs each side still has
# one forwarding lcore (--nb-cores=1) that polls both of its queues: a
# second forwarding lcore per side would time-share the two CPUs. So q2
# measures the cost of serving two queues, not scaling.
run=0
measure() {
	local lib=$1 dir size mrg q
	IFS=- read -r dir size mrg q <<<"$2"
	mrg=${mrg#mrg} q=${q#q}
	run=$((run + 1))
	vh=vh$run vu=vu$run
	local sock="$TP_DIR/loop$run.sock"
	local vhost_mode=rxonly virtio_mode=txonly sender=$vu receiver=$vh
	if [ "$dir" = h2v ]; then
		vhost_mode=txonly virtio_mode=rxonly sender=$vh receiver=$vu
	fi
	local virtio_vdev="net_virtio_user0,path=$sock,queues=$q,mrg_rxbuf=$mrg${BENCH_VIRTIO_ARGS:-}"
	# virtio-user enables more than one queue pair through a control queue.
	[ "$q" -gt 1 ] && virtio_vdev+=",cq=1"
	local app=(-i --nb-cores=1 "--rxq=$q" "--txq=$q" --total-num-mbufs=16384
		"--txpkts=$size")
	tp_start "$vh" "${libdir[$lib]}" -l 0,1 --main-lcore 0 --no-pci -m 256 \
		--vdev "net_vhost0,iface=$sock,queues=$q" -- "${app[@]}" \
		"--forward-mode=$vhost_mode"
	tp_wait_sock "$vh" "$sock" 20 || { fail_run "vhost testpmd did not start"; return 1; }
	tp_start "$vu" "" -l 0,1 --main-lcore 1 --no-pci -m 256 --single-file-segments \
		--vdev "$virtio_vdev" -- "${app[@]}" "--forward-mode=$virtio_mode"
	if ! tp_wait_log "$vh" 'link state change event' 1 20 ||
		! tp_wait_log "$vu" 'testpmd> ' 1 20; then
		fail_run "$lib $2: link did not come up"
		return 1
	fi
	bench_maps_lib "$lib" || return 1

	tp_fwd_start "$receiver" ||
		{ fail_run "$receiver did not start forwarding"; return 1; }
	tp_cmd "$sender" start
	tp_sleep "$warmup"
	local pps
	bench_rate "$receiver" || return 1
	bench_stop_drain "$sender" "$receiver" || return 1
	bench_quit "$sock"
	bench_figures
}

# build_copy_limit: compile the copy-limit program into TP_DIR; without
# its source (another checkout layout) the benchmark runs without it.
copy_bin=""
build_copy_limit() {
	if [ -z "$copy_src" ]; then
		echo "bench: BENCH_COPY_LIMIT is empty: no copy limit"
		return 0
	fi
	if [ ! -r "$copy_src" ]; then
		echo "bench: warning: no $copy_src: no copy limit (set BENCH_COPY_LIMIT)" >&2
		return 0
	fi
	if ! cc -O2 -pthread -o "$TP_DIR/copy_limit" "$copy_src" 2>"$TP_DIR/copy_limit.err"; then
		echo "bench: warning: $copy_src did not compile: no copy limit" >&2
		cat "$TP_DIR/copy_limit.err" >&2
		return 0
	fi
	copy_bin=$TP_DIR/copy_limit
}

# measure_copy_limit: one run of the copy-limit program on CPUs 0 and 1.
# Sets mpps, and cpu to the share of the two CPUs its two threads had
# (bash's time reports the child's user and system time).
measure_copy_limit() {
	local out times TIMEFORMAT='%R %U %S'
	{ time taskset -c 0,1 "$copy_bin" >"$TP_DIR/copy_limit.out"; } 2>"$TP_DIR/copy_limit.time" ||
		{ echo "bench: copy-limit program failed" >&2; return 1; }
	out=$(sed -n 's/.*limit: \([0-9.]*\) Mpps.*/\1/p' "$TP_DIR/copy_limit.out")
	[ -n "$out" ] || { echo "bench: no figure from the copy-limit program" >&2; return 1; }
	mpps=$out
	times=$(tail -n 1 "$TP_DIR/copy_limit.time")
	cpu=$(awk -v t="$times" 'BEGIN { split(t, a, " ")
		printf "%.2f", (a[1] > 0 ? (a[2] + a[3]) / a[1] / 2 : 0) }')
}

# report: the table and the plot, from $csv alone. Per case, medians over
# the undisturbed runs if both libraries have at least one, else over all
# runs of that case (marked); the copy limit likewise.
report() {
	local dat="$TP_DIR/medians.dat" all="$TP_DIR/all.dat" lim="$TP_DIR/limit.dat"
	[ -s "$csv" ] || { echo "bench: no $csv" >&2; return 1; }
	if [ "$(head -n 1 "$csv")" != "$csv_header" ]; then
		echo "bench: $csv is not in this script's format (header differs)" >&2
		return 1
	fi
	local ncases nrounds
	nrounds=$(awk -F, 'NR > 1 && $1 > r { r = $1 } END { print r + 0 }' "$csv")
	echo
	awk -F, -v dat="$dat" -v alldat="$all" -v limdat="$lim" "$bench_awk_median"'
		NR == 1 { next }
		$7 == "copy_limit" { lall = lall " " $8; nl++
			if ($11 >= 0.95) { lclean = lclean " " $8; nlc++ }
			next }
		!seen[$2]++ { order[++nc] = $2; size[$2] = $4 }
		{ k = $2 "," $7; all[k] = all[k] " " $8; n[k]++
		  r = $2 "," $1; mp[r "," $7] = $8; dist[r] += $11 < 0.95
		  if (($7 == "ours" ? r ",dpdk" : r ",ours") in mp) {
			rat = mp[r ",ours"] / (mp[r ",dpdk"] > 0 ? mp[r ",dpdk"] : 1)
			pall[$2] = pall[$2] " " rat
			if (!dist[r]) pclean[$2] = pclean[$2] " " rat
		  }
		  if ($11 >= 0.95) { clean[k] = clean[k] " " $8; ncl[k]++; nclean++ }
		  lost[k] += $9 - $10; nrun++ }
		function frac(a, b) { return b > 0 ? sprintf("%.3f", a / b) : "-" }
		END {
			limit = median(nlc ? lclean : lall)
			printf "median Mpps per case (clean runs: cpu_share >= 0.95, ours/dpdk)\n"
			printf "%-16s %8s %8s %9s %7s %10s %10s %9s %9s %11s\n", "case", "ours",
				"dpdk", "ours/dpdk", "paired", "ours/limit", "dpdk/limit",
				"lost ours", "lost dpdk", "clean runs"
			for (i = 1; i <= nc; i++) {
				c = order[i]; ko = c ",ours"; kp = c ",dpdk"
				useclean = ncl[ko] > 0 && ncl[kp] > 0
				o = median(useclean ? clean[ko] : all[ko])
				p = median(useclean ? clean[kp] : all[kp])
				lo = ld = "-"
				if (size[c] == 64) { lo = frac(o, limit); ld = frac(p, limit) }
				pr = median(useclean && pclean[c] != "" ? pclean[c] : pall[c])
				printf "%-16s %8.3f %8.3f %9s %7.3f %10s %10s %9d %9d %5s %-5s%s\n",
					c, o, p, frac(o, p), pr, lo, ld, lost[ko], lost[kp],
					(ncl[ko] + 0) "/" n[ko], (ncl[kp] + 0) "/" n[kp],
					useclean ? "" : "  <- disturbed runs included"
				rt = p > 0 ? o / p : 0
				printf "%d %s %s %s %s\n", i - 1, c, o, p, rt > dat
			}
			print ""
			if (nl)
				printf "copy limit (64-byte copies between the two CPUs, no virtio): " \
					"median %.2f Mpps over %d %s runs\n", limit,
					nlc ? nlc : nl, nlc ? "clean" : "(all disturbed)"
			else
				print "copy limit: not measured in this run"
			printf "%s\n", limit > limdat
			print "ours/dpdk: ratio of the medians; paired: median over rounds of the ratio"
			print "of the back-to-back runs of the two libraries in one round (robust when"
			print "the machine changes speed between rounds); X/limit: 64 B medians as a"
			print "fraction of the copy limit;"
			print "lost: sender TX - receiver RX after draining, summed over the rounds."
			printf "%d of %d testpmd runs clean.\n", nclean, nrun
		}' "$csv"
	# Every run, for the dots on the bars.
	awk -F, 'NR == 1 || $7 == "copy_limit" { next }
		!seen[$2]++ { idx[$2] = n++ }
		{ print idx[$2] + ($7 == "ours" ? -0.19 : 0.19), $8, $11 }' "$csv" >"$all"
	ncases=$(wc -l <"$dat")

	if ! command -v gnuplot >/dev/null; then
		echo "bench: no gnuplot (apt-get install -y gnuplot-nox): $png not written" >&2
		return 0
	fi
	# Top: grouped bars per case, ours vs Debian's, every run as a dot
	# (hollow: disturbed), the copy limit as a dashed line. Bottom: the
	# ratio ours/dpdk per case against 1.0.
	local gp="$TP_DIR/plot.gp" tics limit ymax rmax
	tics=$(awk '{ printf "%s\"%s\" %d", (NR > 1 ? ", " : ""), $2, $1 }' "$dat")
	limit=$(cat "$lim")
	# Head room above the highest bar, dot or line for the key and labels.
	ymax=$(awk -v l="$limit" '{ if ($2 > m) m = $2 } END { if (l > m) m = l
		printf "%.1f", (m > 0 ? m : 1) * 1.3 }' "$all")
	rmax=$(awk '{ if ($5 > m) m = $5 } END { if (m < 1.1) m = 1.1; printf "%.2f", m * 1.2 }' "$dat")
	{
		# The keys sit right of the plots, in a fixed margin so that the
		# two panels' x axes line up.
		local width=$((ncases > 8 ? 620 + 70 * ncases : 1180))
		echo "set terminal pngcairo size $width,900 font 'sans,10'"
		echo "set output '$png'"
		echo "set multiplot layout 2,1 title 'testpmd net\\_vhost <-> net\\_virtio\\_user loopback: bars median of $nrounds rounds, dots every run'"
		echo "set style fill solid 0.7 border -1"
		echo "set grid ytics"
		echo "set key outside right top vertical"
		echo "set lmargin at screen $(awk -v w="$width" 'BEGIN { printf "%.3f", 80 / w }')"
		echo "set rmargin at screen $(awk -v w="$width" 'BEGIN { printf "%.3f", 1 - 330 / w }')"
		echo "set xrange [-0.6:$((ncases - 1)).6]"
		echo "set xtics ($tics) rotate by -30"
		echo "set yrange [0:$ymax]"
		echo "set ylabel 'receiver Mpps'"
		echo "set title 'Mpps per case (v2h: virtio txonly -> vhost rxonly; h2v: vhost txonly -> virtio rxonly)'"
		local f="'$dat'" g="'$all'" line=""
		if awk -v l="$limit" 'BEGIN { exit !(l > 0) }'; then
			line=", $limit with lines dt 2 lw 2 lc rgb 'red' title sprintf('copy limit %.1f Mpps (64 B copies)', $limit)"
		fi
		echo "plot $f using (\$1-0.19):3:(\$1-0.37):(\$1-0.01):(0):3 with boxxyerror lc rgb '#1f77b4' title 'ours (build/lib/vhost)', \\"
		echo "  $f using (\$1+0.19):4:(\$1+0.01):(\$1+0.37):(0):4 with boxxyerror lc rgb '#ff7f0e' title 'Debian 22.11', \\"
		echo "  $g using 1:(\$3 >= 0.95 ? \$2 : NaN) with points pt 7 ps 0.5 lc rgb 'black' title 'one run', \\"
		echo "  $g using 1:(\$3 < 0.95 ? \$2 : NaN) with points pt 6 ps 0.5 lc rgb 'black' title 'one run, disturbed'$line"
		echo "set title 'ours / Debian (median Mpps)'"
		echo "set ylabel 'ratio'"
		echo "set yrange [0:$rmax]"
		echo "plot $f using 1:5:(\$1-0.3):(\$1+0.3):(0):5 with boxxyerror lc rgb '#2ca02c' notitle, \\"
		echo "  $f using 1:5:(sprintf('%.2f', \$5)) with labels offset 0,0.7 font 'sans,8' notitle, \\"
		echo "  1 with lines lc rgb 'black' title 'equal', \\"
		echo "  1.1 with lines dt 2 lc rgb '#2ca02c' title '1.10: target at 64 B, mergeable on'"
		echo "unset multiplot"
	} >"$gp"
	gnuplot "$gp"
	echo "bench: wrote $png"
}

bench_report_only

bench_libdirs "$TP_DIR"
build_copy_limit

run_total=$((${#cases[@]} * 2 * rounds))
per_run=$((warmup + seconds + run_overhead))
estimate=$((run_total * per_run))
[ -n "$copy_bin" ] && estimate=$((estimate + rounds * copy_seconds))
echo "bench: $rounds rounds x ${#cases[@]} cases x 2 libraries = $run_total runs," \
	"${warmup}s warm-up + ${seconds}s measured each (+~${run_overhead}s start/stop);" \
	"about $(((estimate + 59) / 60)) min"
echo "bench: cases: ${cases[*]}"
echo "$csv_header" >"$csv"
disturbed=0 done_runs=0
start_time=$SECONDS
for ((r = 1; r <= rounds; r++)); do
	if [ -n "$copy_bin" ]; then
		measure_copy_limit || exit 1
		echo "$r,copy-limit,,64,,,copy_limit,$mpps,,,$cpu," >>"$csv"
		note=""
		disturbed_run && note="  <- disturbed"
		printf '  round %d copy limit            %9s Mpps  cpu %s%s\n' "$r" "$mpps" "$cpu" "$note"
	fi
	bench_order "$r"
	for c in "${cases[@]}"; do
		for lib in "${order[@]}"; do
			measure "$lib" "$c" || exit 1
			IFS=- read -r f_dir f_size f_mrg f_q <<<"$c"
			echo "$r,$c,$f_dir,$f_size,${f_mrg#mrg},${f_q#q},$lib,$mpps,$sent,$received,$cpu,$other" >>"$csv"
			done_runs=$((done_runs + 1))
			note=""
			if disturbed_run; then
				disturbed=$((disturbed + 1))
				note="  <- disturbed"
			fi
			printf '  [%d/%d] round %d %-16s %-4s %9s Mpps  lost %6s  cpu %s other %s%s\n' \
				"$done_runs" "$run_total" "$r" "$c" "$lib" "$mpps" \
				$((sent - received)) "$cpu" "$other" "$note"
		done
	done
done
bench_done
