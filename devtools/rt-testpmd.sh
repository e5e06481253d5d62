#!/bin/bash
# Usage: TESTPMD=$PWD/devtools/rt-testpmd.sh devtools/bench-loopback.sh ...
# dpdk-testpmd whose forwarding lcores run at real-time priority, so a
# benchmark's two pollers keep the CPUs while builds of other work run
# beside it. Main and control threads stay normal (they must answer).
pid=$$
(
	for _ in $(seq 150); do
		sleep 0.2
		for t in /proc/$pid/task/*; do
			case "$(cat "$t/comm" 2>/dev/null)" in
			rte-worker-*|lcore-worker-*) chrt -f -p 10 "${t##*/}" >/dev/null 2>&1 ;;
			esac
		done
	done
) &
exec dpdk-testpmd "$@"
