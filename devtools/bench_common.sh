# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # the caller's variables, used and set
# What devtools/bench-loopback.sh and devtools/bench-viommu.sh share: a
# pair of testpmds (the vhost PMD on one of two librte_vhost.so.23, a
# virtio frontend on the other side) started, measured and stopped the
# same way. Sourced from the repository root; uses the caller's $seconds
# (measured time per run), $vh and $vu (the pair's testpmd names) and
# TP_DIR (testpmd_common.sh).

# shellcheck source=app/test/integration/testpmd_common.sh
. app/test/integration/testpmd_common.sh

# An awk function for the reports' programs (put in front of them):
# median(s), the median of the numbers in the string s, 0 if none.
bench_awk_median='
		function median(s,    a, m, i, j, t) {
			m = split(s, a, " ")
			if (m == 0) return 0
			for (i = 1; i <= m; i++)
				for (j = i + 1; j <= m; j++)
					if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		}'

# bench_args ARG...: the command line, --report or nothing; sets
# report_only.
bench_args() {
	report_only=0
	case ${1:-} in
	--report) report_only=1 ;;
	"") ;;
	*) echo "usage: $0 [--report]   (--report: table and plot from BENCH_CSV only)" >&2
	   exit 2 ;;
	esac
}

# bench_report_only: where the CSV and the plot go; with --report, the
# report (the script's report()) from the CSV alone, then exit.
bench_report_only() {
	mkdir -p "$(dirname "$csv")" "$(dirname "$png")"
	if [ "$report_only" = 1 ]; then
		report
		exit
	fi
}

# bench_libdirs DIR: libdir[ours] and libdir[dpdk], where the two
# libraries are (BENCH_OURS, BENCH_DPDK); exits if one is missing. Ours
# then runs from a copy in DIR/ours-lib: a rebuild during the run must
# not change (or truncate) what the next testpmd loads.
bench_libdirs() {
	declare -gA libdir=(
		[ours]=$(realpath "${BENCH_OURS:-build/lib/vhost}")
		[dpdk]=$(realpath "${BENCH_DPDK:-/usr/lib/x86_64-linux-gnu}")
	)
	local lib
	for lib in ours dpdk; do
		if [ ! -e "${libdir[$lib]}/librte_vhost.so.23" ]; then
			echo "bench: no librte_vhost.so.23 in ${libdir[$lib]} (build first)" >&2
			exit 1
		fi
	done
	mkdir -p "$1/ours-lib"
	cp -L "${libdir[ours]}/librte_vhost.so.23" "$1/ours-lib/"
	libdir[ours]=$1/ours-lib
}

# bench_finish [PATH...]: the exit trap. Stops every testpmd, removes
# TP_DIR (kept with BENCH_KEEP or after a failure, but for its fifos and
# sockets), then the PATHs.
bench_finish() {
	local rc=$?
	tp_cleanup
	if [ "$rc" -eq 0 ] && [ -z "${BENCH_KEEP:-}" ]; then
		rm -rf "$TP_DIR"
	else
		rm -f "$TP_DIR"/*.in "$TP_DIR"/*.sock
		[ "$rc" -eq 0 ] || echo "bench: failed" >&2
		echo "bench: logs kept in $TP_DIR" >&2
	fi
	[ $# -eq 0 ] || rm -rf "$@"
}

# cpu_ticks VH VU: CPU time (clock ticks) used so far by both testpmds
# (all their threads).
cpu_ticks() {
	cat "/proc/${TP_PID[$1]}/stat" "/proc/${TP_PID[$2]}/stat" |
		awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t }'
}

# busy_ticks: non-idle clock ticks (steal included) of CPUs 0 and 1.
busy_ticks() {
	awk '$1 == "cpu0" || $1 == "cpu1" { t += $2 + $3 + $4 + $7 + $8 + $9 }
		END { print t }' /proc/stat
}

# fail_run MSG: say why a run failed, with the tail of both logs.
fail_run() {
	echo "bench: $1" >&2
	local f
	for f in "$TP_DIR/$vh.log" "$TP_DIR/$vu.log"; do
		[ -f "$f" ] || continue
		echo "--- $f" >&2
		tail -n 15 "$f" >&2
	done
	return 1
}

# bench_maps_lib LIB: the vhost testpmd mapped libdir[LIB]'s library.
bench_maps_lib() {
	if [ "$(tp_mapped_vhost "$vh")" != "$(realpath "${libdir[$1]}/librte_vhost.so.23")" ]; then
		fail_run "vhost testpmd did not map ${libdir[$1]}/librte_vhost.so.23"
		return 1
	fi
}

# bench_rate RECEIVER: the receiver's rate over $seconds, in pps. The
# first call starts testpmd's Rx-pps interval; the second ends it. CPU
# time is sampled right after each answer, over the elapsed time, for
# bench_figures.
bench_rate() {
	local after
	tp_port_stats "$1" >/dev/null || { fail_run "no stats from $1"; return 1; }
	bench_ticks0=$(cpu_ticks "$vh" "$vu")
	bench_busy0=$(busy_ticks)
	bench_t0=$EPOCHREALTIME
	tp_sleep "$seconds"
	after=$(tp_port_stats "$1") || { fail_run "no stats from $1"; return 1; }
	bench_ticks1=$(cpu_ticks "$vh" "$vu")
	bench_busy1=$(busy_ticks)
	bench_t1=$EPOCHREALTIME
	read -r _ pps <<<"$after"
}

# bench_stop_drain SENDER RECEIVER: sender first (sets sent); then the
# receiver drains whatever is still in flight: until it has everything,
# or its counter stays put for 2 s (10 s max); then it stops (sets
# received).
bench_stop_drain() {
	local sender=$1 receiver=$2
	tp_stop "$sender" || { fail_run "$sender did not stop"; return 1; }
	sent=$(tp_fwd_count "$sender" TX)
	local cur prev=-1 still=0 end=$((SECONDS + 10)) stats
	while stats=$(tp_port_stats "$receiver"); do
		cur=${stats%% *}
		[ "$cur" -ge "$sent" ] && break
		if [ "$cur" = "$prev" ]; then still=$((still + 1)); else still=0; fi
		[ "$still" -ge 20 ] || [ "$SECONDS" -ge "$end" ] && break
		prev=$cur
		sleep 0.1
	done
	tp_stop "$receiver" || { fail_run "$receiver did not stop"; return 1; }
	received=$(tp_fwd_count "$receiver" RX)
}

# bench_quit SOCK: both testpmds quit, their socket removed.
bench_quit() {
	tp_quit "$vu"
	tp_quit "$vh"
	tp_cleanup
	rm -f "$1"
}

# bench_figures: from pps and bench_rate's samples, mpps, cpu (share of
# the two CPUs the testpmds used meanwhile) and other (share of the two
# CPUs that anything else used meanwhile).
bench_figures() {
	mpps=$(awk -v p="$pps" 'BEGIN { printf "%.3f", p / 1e6 }')
	local hz s ticks=$((bench_ticks1 - bench_ticks0))
	hz=$(getconf CLK_TCK)
	s=$(awk -v a="$bench_t0" -v b="$bench_t1" 'BEGIN { print b - a }')
	cpu=$(awk -v t="$ticks" -v hz="$hz" -v s="$s" \
		'BEGIN { printf "%.2f", t / hz / s / 2 }')
	other=$(awk -v b=$((bench_busy1 - bench_busy0)) -v t="$ticks" -v hz="$hz" -v s="$s" \
		'BEGIN { o = (b - t) / hz / s / 2; printf "%.2f", o < 0 ? 0 : o }')
}

# disturbed_run: both testpmds' forwarding loops (or both copy-limit
# threads) should own both CPUs; a lower share means something else ran
# during the measurement and the figure is not trustworthy.
disturbed_run() {
	awk -v c="$cpu" 'BEGIN { exit !(c < 0.95) }'
}

# bench_order ROUND: order, the two libraries in the order they run in
# ROUND: swapped every round so that drift does not favour one of them.
bench_order() {
	order=(ours dpdk)
	if [ $(($1 % 2)) -eq 0 ]; then
		order=(dpdk ours)
	fi
}

# bench_done: the end of a measuring run: time taken, the CSV, the
# report (the script's report()), and a warning if runs were disturbed.
bench_done() {
	echo "bench: $run_total runs in $((SECONDS - start_time)) s"
	echo "bench: wrote $csv"
	report
	if [ "$disturbed" -gt 0 ]; then
		echo "bench: warning: $disturbed of $run_total runs shared the CPUs with other work" \
			"(cpu_share < 0.95)"
	fi
}
