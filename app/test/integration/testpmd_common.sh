# shellcheck shell=bash
# Helpers to drive Debian's dpdk-testpmd from bash (sourced, not run).
#
# Each testpmd runs in interactive mode with its stdin on a fifo, so a
# script can send it `start`, `stop`, `quit` when it wants: `stop` prints
# the exact accumulated forward counters, which a SIGINT exit also does but
# without letting us stop the sender before the receiver. Output goes
# through `stdbuf -oL` so the log can be polled for a command's answer.
#
# Callers set TP_DIR (a scratch directory) and call tp_cleanup on exit.

TESTPMD=${TESTPMD:-dpdk-testpmd}
# Writing to the fifo of a testpmd that died must fail, not kill us.
trap '' PIPE
declare -A TP_PID=() TP_FD=()
TP_PREFIXES=()

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
	local end=$((SECONDS + $3))
	until [ -S "$2" ]; do
		tp_alive "$1" || return 1
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# tp_stop NAME: stop forwarding and wait for the counters to be printed.
tp_stop() {
	local n
	n=$(grep -c 'Accumulated forward statistics' "$TP_DIR/$1.log" || true)
	tp_cmd "$1" stop
	tp_wait_log "$1" 'Accumulated forward statistics' $((n + 1)) 10
}

# tp_fwd_count NAME RX|TX: the last accumulated forward RX/TX-packets.
tp_fwd_count() {
	awk -v key="$2-packets:" '
		/Accumulated forward statistics/ { inblk = 1; next }
		inblk && $1 == key { val = $2 }
		inblk && $1 == "TX-packets:" { inblk = 0 }
		END { print (val == "" ? -1 : val) }' "$TP_DIR/$1.log"
}

# tp_port_stats NAME: ask for port 0 stats; prints "RX-packets Rx-pps".
# Rx-pps is testpmd's own rate since the previous call, timed by the TSC.
tp_port_stats() {
	local n
	n=$(grep -c 'Rx-pps:' "$TP_DIR/$1.log" || true)
	tp_cmd "$1" "show port stats 0"
	tp_wait_log "$1" 'Rx-pps:' $((n + 1)) 10 || return 1
	awk '
		/NIC statistics for port/ { rx = ""; pps = "" }
		$1 == "RX-packets:" { rx = $2 }
		$1 == "Rx-pps:" { pps = $2 }
		END { print rx, pps }' "$TP_DIR/$1.log"
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
	local lib
	lib=$(awk '$6 ~ /librte_vhost\.so/ { print $6; exit }' \
		"/proc/${TP_PID[$1]}/maps" 2>/dev/null || true)
	[ -n "$lib" ] && realpath "$lib"
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
