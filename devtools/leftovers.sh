#!/bin/bash
# What a test run left behind: EAL runtime directories in /var/run/dpdk
# and hugepage files in /dev/hugepages that no live process holds.
#
#   devtools/leftovers.sh snapshot FILE   record what exists now
#   devtools/leftovers.sh check FILE      list what appeared since and is
#                                          orphaned; exit 1 if anything
#
# Only what no live process maps counts (EAL maps the fbarray files of its
# runtime directory for its whole life), so programs of other users of
# the machine running at the same time are not blamed.
set -euo pipefail

# Resolved: /var/run is a link to /run, and /proc/PID/maps names the target.
RUN=$(realpath -m /var/run/dpdk)
HUGE=/dev/hugepages

# Either directory may not exist yet (a fresh machine before any DPDK
# program ran): that is an empty list, not an error under pipefail.
list() {
	{ { ls -1 "$RUN" 2>/dev/null || true; } | sed 's|^|run:|'
	  { ls -1 "$HUGE" 2>/dev/null || true; } | sed 's|^|huge:|'; } | sort
}

# What some process maps now, in the form list() prints: the runtime
# directories whose files are mapped, and the hugepage files.
mapped() {
	{ cat /proc/[0-9]*/maps 2>/dev/null || true; } | awk -v run="$RUN/" -v huge="$HUGE/" '
		index($6, run) == 1 { n = substr($6, length(run) + 1); sub("/.*", "", n); print "run:" n }
		index($6, huge) == 1 { print "huge:" substr($6, length(huge) + 1) }' | sort -u
}

case ${1:-} in
snapshot)
	list >"$2"
	;;
check)
	# New since the snapshot, minus what is in use.
	left=$(comm -23 <(comm -13 "$2" <(list)) <(mapped) |
		sed "s|^run:|$RUN/|; s|^huge:|$HUGE/|")
	[ -n "$left" ] && printf 'left behind: %s\n' $left
	n=$(printf '%s' "$left" | grep -c . || true)
	echo "leftovers: $n"
	[ "$n" -eq 0 ]
	;;
*)
	echo "usage: $0 snapshot|check FILE" >&2
	exit 2
	;;
esac
