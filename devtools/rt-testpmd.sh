#!/bin/bash
# Usage: TESTPMD=$PWD/devtools/rt-testpmd.sh devtools/bench-loopback.sh ...
# dpdk-testpmd whose forwarding lcores run at real-time priority, so a
# benchmark's two pollers keep the CPUs while builds of other work run
# beside it. Main and control threads stay normal (they must answer).
# The watcher uses shell builtins only and leaves as soon as the workers
# are set (EAL creates them at start) or testpmd is gone: forks on every
# round would themselves disturb the pollers.
pid=$$
(
	for _ in $(seq 100); do
		sleep 0.2
		[ -d "/proc/$pid" ] || exit 0
		found=0
		for t in /proc/$pid/task/*; do
			read -r comm <"$t/comm" 2>/dev/null || continue
			case "$comm" in
			rte-worker-*|lcore-worker-*)
				chrt -f -p 10 "${t##*/}" >/dev/null 2>&1 && found=1 ;;
			esac
		done
		[ "$found" = 1 ] && exit 0
	done
) &
exec dpdk-testpmd "$@"
