# shellcheck shell=bash
# Helpers to drive Debian's dpdk-testpmd from bash (sourced, not run).
#
# Each testpmd runs in interactive mode with its stdin on a fifo, so a
# script can send it `start`, `stop`, `quit` when it wants: `stop` prints
# the exact accumulated forward counters, which a SIGINT exit also does but
# without letting us stop the sender before the receiver. Output goes
# through `stdbuf -oL` so the log can be polled for a command's answer.
#
# Callers set TP_DIR (a scratch directory) and call tp_cleanup on exit, or
# let tp_suite (below) do both.

TESTPMD=${TESTPMD:-dpdk-testpmd}
# Writing to the fifo of a testpmd that died must fail, not kill us.
trap '' PIPE
declare -A TP_PID=() TP_FD=()
TP_PREFIXES=()
# Why the current case failed (tp_bad); empty while it goes well.
TP_PROBLEM=""

# tp_start NAME LIBDIR EAL-AND-APP-ARGS...
# Starts testpmd NAME with its own --file-prefix. LIBDIR, if not empty,
# goes into LD_LIBRARY_PATH so the vhost PMD loads that librte_vhost.
tp_start() {
	local name=$1 libdir=$2
	shift 2
	local prefix="tp$$$name"
	local fifo="$TP_DIR/$name.in"
	rm -f "$fifo" "$TP_DIR/$name.log"
	mkfifo "$fifo"
	TP_PREFIXES+=("$prefix")
	# The subshell execs into testpmd, so $! is testpmd's pid. It drops
	# the fifo ends of the other testpmds so each sees EOF when we die.
	# env -u keeps an inherited LD_LIBRARY_PATH out of the other side.
	(
		for f in "${TP_FD[@]}"; do exec {f}>&-; done
		set -- stdbuf -oL -eL "$TESTPMD" --file-prefix "$prefix" "$@"
		if [ -n "$libdir" ]; then
			exec env LD_LIBRARY_PATH="$libdir" "$@"
		fi
		exec env -u LD_LIBRARY_PATH "$@"
	) <"$fifo" >"$TP_DIR/$name.log" 2>&1 &
	TP_PID[$name]=$!
	# Opening the write end unblocks testpmd's open of its stdin; keeping
	# it open keeps testpmd from seeing EOF and exiting.
	local fd
	exec {fd}>"$fifo"
	TP_FD[$name]=$fd
}

tp_cmd() {
	echo "$2" >&"${TP_FD[$1]}"
}

# tp_sleep SECONDS: a sleep that a trapped SIGTERM/SIGINT interrupts at
# once (bash runs traps only after a foreground command ends).
tp_sleep() {
	sleep "$1" &
	wait $!
}

tp_alive() {
	kill -0 "${TP_PID[$1]}" 2>/dev/null
}

# tp_wait_log NAME REGEX COUNT TIMEOUT_S: wait until REGEX matches at least
# COUNT lines of NAME's log. Fails early if testpmd died.
tp_wait_log() {
	local name=$1 re=$2 count=$3 timeout=$4 n
	local end=$((SECONDS + timeout))
	while :; do
		n=$(grep -cE -- "$re" "$TP_DIR/$name.log" 2>/dev/null || true)
		[ "${n:-0}" -ge "$count" ] && return 0
		tp_alive "$name" || return 1
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# tp_wait_sock NAME PATH TIMEOUT_S: wait for NAME to create a unix socket.
tp_wait_sock() {
	tp_wait_sock_pid "${TP_PID[$1]}" "$2" "$3"
}

# tp_wait_sock_pid PID SOCK TIMEOUT_S: the same for any process.
tp_wait_sock_pid() {
	local end=$((SECONDS + $3))
	until [ -S "$2" ]; do
		kill -0 "$1" 2>/dev/null || return 1
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# tp_stop NAME [TIMEOUT_S]: stop forwarding and wait (10 s unless told)
# for the counters to be printed.
tp_stop() {
	local n
	n=$(grep -c 'Accumulated forward statistics' "$TP_DIR/$1.log" || true)
	tp_cmd "$1" stop
	tp_wait_log "$1" 'Accumulated forward statistics' $((n + 1)) "${2:-10}"
}

# tp_fwd_count NAME RX|TX: the last accumulated forward RX/TX-packets.
tp_fwd_count() {
	awk -v key="$2-packets:" '
		/Accumulated forward statistics/ { inblk = 1; next }
		inblk && $1 == key { val = $2 }
		inblk && $1 == "TX-packets:" { inblk = 0 }
		END { print (val == "" ? -1 : val) }' "$TP_DIR/$1.log"
}

# tp_port_fields NAME FIELD...: ask for port 0 stats and print the
# values of the named fields of that answer (e.g. RX-packets TX-packets
# Rx-pps), in that order, on one line.
tp_port_fields() {
	local name=$1
	shift
	tp_portn_fields "$name" 0 "$@"
}

# tp_portn_fields NAME PORT FIELD...: the same for port PORT. Every
# "Key: value" pair of a line counts (RX-bytes is the third of its line).
tp_portn_fields() {
	local name=$1 port=$2 n
	shift 2
	n=$(grep -c 'Tx-pps:' "$TP_DIR/$name.log" || true)
	tp_cmd "$name" "show port stats $port"
	tp_wait_log "$name" 'Tx-pps:' $((n + 1)) 20 || return 1
	awk -v want="$*" '
		/NIC statistics for port/ { split("", v) }
		{ for (i = 1; i < NF; i++) if ($i ~ /:$/) v[$i] = $(i + 1) }
		END { n = split(want, w, " ")
		      for (i = 1; i <= n; i++)
			      printf "%s%s", v[w[i] ":"], i < n ? " " : "\n" }' \
		"$TP_DIR/$name.log"
}

# tp_port_stats NAME: "RX-packets Rx-pps" of port 0. Rx-pps is testpmd's
# own rate since the previous call, timed by the TSC.
tp_port_stats() {
	tp_port_fields "$1" RX-packets Rx-pps
}

# tp_fwd_start NAME [TIMEOUT_S]: start forwarding and wait until it runs.
# testpmd 22.11 prints the streams ("... packet forwarding - ports="),
# then empties its receive queues without counting what it throws away,
# then prints the burst set-up ("... packet forwarding packets/burst=")
# and takes its counters' base: a sender started only after that second
# line cannot lose packets to the flush.
tp_fwd_start() {
	local name=$1 timeout=${2:-30} re='packet forwarding packets/burst=' n
	n=$(grep -cE -- "$re" "$TP_DIR/$name.log" 2>/dev/null || true)
	tp_cmd "$name" start
	tp_wait_log "$name" "$re" $((${n:-0} + 1)) "$timeout"
}

# tp_drain NAME COUNT TIMEOUT_S: after the sender stopped, wait until
# receiver NAME's port counter reaches COUNT (the rings are drained).
tp_drain() {
	local stats end=$((SECONDS + $3))
	while stats=$(tp_port_stats "$1") && [ "${stats%% *}" -lt "$2" ] &&
		[ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
}

# tp_mapped_vhost NAME: real path of the librte_vhost mapped by NAME.
tp_mapped_vhost() {
	tp_mapped_vhost_pid "${TP_PID[$1]}"
}

# tp_mapped_vhost_pid PID: the same for any process.
tp_mapped_vhost_pid() {
	local lib
	lib=$(awk '$6 ~ /librte_vhost\.so/ { print $6; exit }' \
		"/proc/$1/maps" 2>/dev/null || true)
	[ -n "$lib" ] && realpath "$lib"
}

# tp_direction DIR: sender and receiver (the caller's) of v2h (virtio ->
# vhost, guest->host) or h2v (vhost -> virtio).
# shellcheck disable=SC2034
tp_direction() {
	if [ "$1" = v2h ]; then
		sender=virtio receiver=vhost
	else
		sender=vhost receiver=virtio
	fi
}

# tp_logs_done DIR FAILED KEEP NAME: at the end of a script, removes its
# log directory DIR if nothing FAILED (0) and KEEP is empty, else says
# where the logs are.
tp_logs_done() {
	if [ "$2" -eq 0 ] && [ -z "$3" ]; then
		rm -rf "$1"
	else
		echo "$4: logs kept in $1"
	fi
}

# tp_quit NAME [TIMEOUT_S]: ask testpmd to exit, kill it if it does not.
tp_quit() {
	local name=$1 timeout=${2:-10} pid=${TP_PID[$1]:-} fd
	[ -n "$pid" ] || return 0
	if [ -n "${TP_FD[$name]:-}" ]; then
		tp_cmd "$name" quit 2>/dev/null || true
		fd=${TP_FD[$name]}
		exec {fd}>&-
		unset "TP_FD[$name]"
	fi
	local end=$((SECONDS + timeout))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "TP_PID[$name]"
}

# tp_cleanup: end every testpmd started here and remove what DPDK leaves
# behind (hugepage files stay reserved until deleted).
tp_cleanup() {
	local name prefix mnt
	for name in "${!TP_PID[@]}"; do
		tp_quit "$name" 3
	done
	for prefix in "${TP_PREFIXES[@]}"; do
		while read -r mnt; do
			rm -f "$mnt/$prefix"map_* 2>/dev/null || true
		done < <(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts)
		rm -rf "/var/run/dpdk/$prefix"
	done
	TP_PREFIXES=()
}

# tp_why NAME WHAT: the reason a wait for WHAT from testpmd NAME failed.
tp_why() {
	if tp_alive "$1"; then
		echo "timed out waiting for $1 $2"
	else
		echo "$1 testpmd exited before $2"
	fi
}

# tp_fwd_queues NAME RX|TX NQ: per-queue packet counts of the last forward
# statistics NAME printed (at `stop` or `quit`), "q0 q1 ..." for NQ queues.
# testpmd prints a "Forward Stats" block per stream only with several
# streams, and none for a stream that moved nothing (0); with one queue
# the count is the port's.
tp_fwd_queues() {
	awk -v want="$2" -v nq="$3" '
		/Telling cores to stop/ {
			for (i = 0; i < nq; i++) c[i] = 0
			streams = 0; port = 0
		}
		/Forward Stats for RX Port=/ {
			line = $0
			sub(/.*RX Port= *[0-9]+\/Queue= */, "", line)
			rxq = line + 0
			sub(/.*TX Port= *[0-9]+\/Queue= */, "", line)
			txq = line + 0
			getline
			for (i = 1; i < NF; i++) {
				if ($i == "RX-packets:") rx = $(i + 1)
				if ($i == "TX-packets:") tx = $(i + 1)
			}
			if (want == "RX") c[rxq] = rx; else c[txq] = tx
			streams++
		}
		/Forward statistics for port/ { inport = 1; next }
		inport && $1 == want "-packets:" { port = $2 }
		inport && $1 == "TX-packets:" { inport = 0 }
		END {
			if (streams == 0 && nq == 1) c[0] = port
			s = ""; for (i = 0; i < nq; i++) s = s c[i] " "; print s
		}
	' "$TP_DIR/$1.log"
}

# tp_negotiated_packed NAME: whether the features the vhost device of
# testpmd NAME last came up with include bit 34
# (VIRTIO_F_RING_PACKED). virtio-user falls back to split rings silently
# when the backend does not offer packed ones, so a packed case checks.
tp_negotiated_packed() {
	local f
	f=$(grep -o 'negotiated [Vv]irtio features: 0x[0-9a-f]*\|negotiated features 0x[0-9a-f]*' \
		"$TP_DIR/$1.log" | tail -1 | grep -o '0x[0-9a-f]*$') || return 1
	(( (f >> 34) & 1 ))
}

# --- Suites of cases ----------------------------------------------------
# testpmd_loopback.sh, testpmd_paths.sh and testpmd_relaunch.sh run cases
# the same way:
#
#   tp_suite NAME "$@"          LIBDIR checked, TP_LOGROOT made, exit trap
#   TP_CASES=regex TP_BUDGET=s TP_KEEP_LOGS=... (the script's own env names)
#   run_case() {
#       tp_case "$name" || return 0
#       ... step || tp_bad "why" || return 1 ...
#       tp_case_end
#   }
#   tp_suite_end                "N passed, M failed", the exit status
#
# A case's logs go to its own directory, TP_DIR=TP_LOGROOT/CASE; they are
# removed at exit unless a case failed or TP_KEEP_LOGS is set.

# tp_want_lib "$@": the one argument of a script, LIBDIR. Sets want_lib (the
# real path of LIBDIR/librte_vhost.so.23, the library testpmd must map) and
# libdir (its directory). Exits 2 on a wrong usage; prints a FAIL line and
# returns 1 if LIBDIR has no library.
tp_want_lib() {
	if [ $# -ne 1 ]; then
		echo "usage: $0 LIBDIR" >&2
		exit 2
	fi
	want_lib=$(realpath -e "$1/librte_vhost.so.23") || {
		echo "FAIL setup: no librte_vhost.so.23 in $1"
		return 1
	}
	libdir=$(dirname "$want_lib")
}

# tp_suite NAME "$@": start suite NAME (it names the log directory
# /tmp/vhost-NAME.* and prefixes the suite's own lines).
tp_suite() {
	TP_SUITE=$1
	shift
	tp_want_lib "$@" || { echo "0 passed, 1 failed"; exit 1; }
	TP_LOGROOT=$(mktemp -d "/tmp/vhost-$TP_SUITE.XXXXXX")
	TP_DIR=$TP_LOGROOT
	TP_CASES=. TP_BUDGET=600 TP_KEEP_LOGS=
	TP_PASSED=0 TP_FAILED=0 TP_CASE=""
	trap tp_suite_exit EXIT
	trap 'exit 130' INT TERM
	echo "$TP_SUITE: library $want_lib"
}

tp_suite_exit() {
	tp_cleanup
	rm -f "$TP_LOGROOT"/*/*.sock "$TP_LOGROOT"/*/*.in
	tp_logs_done "$TP_LOGROOT" "$TP_FAILED" "$TP_KEEP_LOGS" "$TP_SUITE"
}

# tp_case CASE: begin case CASE. Returns 1 if TP_CASES does not select
# it, or if the suite ran longer than TP_BUDGET seconds: a hanging library
# must not hold CI forever, so the later cases fail without running.
tp_case() {
	TP_CASE=$1
	[[ $TP_CASE =~ $TP_CASES ]] || return 1
	if [ "$SECONDS" -ge "$TP_BUDGET" ]; then
		echo "FAIL $TP_CASE: not run, time budget of ${TP_BUDGET}s used up"
		TP_FAILED=$((TP_FAILED + 1))
		return 1
	fi
	TP_PROBLEM=""
	TP_DIR="$TP_LOGROOT/$TP_CASE"
	mkdir -p "$TP_DIR"
}

# tp_bad WHY: record why the current case failed (the first reason wins)
# and return 1, for `step || tp_bad "why" || return 1`.
tp_bad() {
	[ -n "$TP_PROBLEM" ] || TP_PROBLEM=$1
	return 1
}

# tp_check_mapped NAME: testpmd NAME mapped want_lib, not another
# librte_vhost (tp_bad otherwise).
tp_check_mapped() {
	local mapped
	mapped=$(tp_mapped_vhost "$1" || true)
	[ "$mapped" = "$want_lib" ] ||
		tp_bad "$1 testpmd mapped '${mapped:-no librte_vhost}', not $want_lib"
}

# tp_case_end [DETAIL]: the case's verdict: FAIL with tp_bad's reason and
# the tails of its testpmd logs, or PASS (with DETAIL in brackets).
# shellcheck disable=SC2120 # DETAIL is optional
tp_case_end() {
	if [ -n "$TP_PROBLEM" ]; then
		echo "FAIL $TP_CASE: $TP_PROBLEM"
		local f
		for f in "$TP_DIR"/vhost*.log "$TP_DIR/virtio.log"; do
			[ -f "$f" ] || continue
			echo "---- tail of $(basename "$f") ----"
			grep -v '^ *$' "$f" | tail -n 12 || true
		done
		TP_FAILED=$((TP_FAILED + 1))
	else
		echo "PASS $TP_CASE${1:+ ($1)}"
		TP_PASSED=$((TP_PASSED + 1))
	fi
}

# tp_suite_end: the summary line; fails unless every case passed and at
# least one ran.
tp_suite_end() {
	echo "$TP_PASSED passed, $TP_FAILED failed"
	[ "$TP_FAILED" -eq 0 ] && [ "$TP_PASSED" -gt 0 ]
}
