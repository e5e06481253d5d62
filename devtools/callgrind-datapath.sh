#!/bin/bash
# Instructions per packet of the vhost datapath (not a test): the loopback
# of bench-loopback.sh with the vhost testpmd under valgrind's callgrind,
# counting what runs inside rte_vhost_enqueue_burst (h2v) or
# rte_vhost_dequeue_burst (v2h), callees included, on our library and on
# Debian's, and how many packets each call moved on average. This VM has no hardware counters; instruction counts do not
# depend on the machine's load, so this runs on a busy machine too.
#
# Under valgrind the vhost side is tens of times slower than the virtio
# side, so bursts are mostly full (32 packets); per_call says how full.
# Below 32, empty or short polls (the virtio side descheduled on a busy
# machine) are in the per-packet figure.
#
# Env: CG_CASES (default "h2v-64-mrg1 v2h-64-mrg1 h2v-64-mrg0 v2h-64-mrg0"),
#      CG_SECONDS traffic time per run (20), CG_OURS (build/lib/vhost),
#      CG_DPDK (/usr/lib/x86_64-linux-gnu), CG_CSV (doc/bench/callgrind.csv),
#      CG_FRONTEND virtio_user (default: Debian's net_virtio_user), or
#                  viommu:DEVARGS for our net_virtio_viommu with those
#                  devargs (e.g. viommu:iommu=static,iommu_page=4K; the
#                  vhost port then gets iommu-support=1),
#      CG_VIRTIO_ARGS more virtio-user options, e.g. ',packed_vq=1',
#      CG_LIBS (default "ours dpdk"),
#      CG_KEEP a directory to keep the callgrind files in, for
#      callgrind_annotate (e.g. --inclusive=yes, or --auto=yes for lines).
# Output: a table on stdout and one CSV row per run.
set -euo pipefail
cd "$(dirname "$0")/.."

cases=${CG_CASES:-"h2v-64-mrg1 v2h-64-mrg1 h2v-64-mrg0 v2h-64-mrg0"}
seconds=${CG_SECONDS:-20}
csv=${CG_CSV:-doc/bench/callgrind.csv}
declare -A libdir=([ours]=$(realpath "${CG_OURS:-build/lib/vhost}")
		   [dpdk]=${CG_DPDK:-/usr/lib/x86_64-linux-gnu})

[ -z "${CG_KEEP:-}" ] || mkdir -p "$CG_KEEP"
command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null
[ -r "${libdir[ours]}/librte_vhost.so.23" ] ||
	{ echo "callgrind: no ${libdir[ours]}/librte_vhost.so.23 (build first)" >&2; exit 2; }

frontend=${CG_FRONTEND:-virtio_user}
TP_DIR=$(mktemp -d /tmp/vhost-callgrind.XXXXXX)
# EAL refuses a -d plugin under a world-writable directory such as /tmp.
plugdir=""
if [[ $frontend == viommu:* ]]; then
	plugdir=$(mktemp -d /run/vvi-callgrind.XXXXXX)
	cp build/drivers/net/virtio/librte_net_virtio_viommu.so "$plugdir/"
fi
# shellcheck source=app/test/integration/testpmd_common.sh
. app/test/integration/testpmd_common.sh
trap 'tp_cleanup; rm -rf "$TP_DIR" $plugdir' EXIT
trap 'exit 130' INT TERM

# The vhost testpmd runs under callgrind through this wrapper (TESTPMD is
# one word in testpmd_common.sh); the virtio-user one runs plainly.
wrapper=$TP_DIR/testpmd-callgrind
cat >"$wrapper" <<'EOF'
#!/bin/bash
case " $* " in
*net_vhost*)
	exec valgrind --tool=callgrind --callgrind-out-file="$CG_OUT" \
		dpdk-testpmd "$@" ;;
esac
exec dpdk-testpmd "$@"
EOF
chmod +x "$wrapper"

[ -s "$csv" ] || echo "case,frontend,library,function,packets,calls,instructions,per_packet,per_call" >"$csv"

# measure LIB CASE: prints "packets instructions"
measure() {
	local lib=$1 dir size mrg
	IFS=- read -r dir size mrg <<<"$2"
	mrg=${mrg#mrg}
	local sock=$TP_DIR/cg.sock vhost_mode=rxonly virtio_mode=txonly
	local func=rte_vhost_dequeue_burst counter=RX
	if [ "$dir" = h2v ]; then
		vhost_mode=txonly virtio_mode=rxonly
		func=rte_vhost_enqueue_burst counter=TX
	fi
	local out=${CG_KEEP:-$TP_DIR}/callgrind.$lib.$2.out
	local app=(-i --nb-cores=1 --rxq=1 --txq=1 --total-num-mbufs=16384
		"--txpkts=$size")
	local vhost_vdev="net_vhost0,iface=$sock,queues=1"
	local virtio=(--vdev "net_virtio_user0,path=$sock,queues=1,mrg_rxbuf=$mrg${CG_VIRTIO_ARGS:-}")
	if [ -n "$plugdir" ]; then
		vhost_vdev+=",iommu-support=1"
		virtio=(-d "$plugdir/librte_net_virtio_viommu.so" --vdev
			"net_virtio_viommu0,path=$sock,mrg_rxbuf=$mrg,${frontend#viommu:}")
	fi
	rm -f "$sock"
	# --no-huge: valgrind cannot follow DPDK's hugepage mappings of its own
	# memory; the guest memory it maps is the virtio-user side's memfd.
	CG_FUNC="$func*" CG_OUT=$out TESTPMD=$wrapper \
		tp_start vh "${libdir[$lib]}" -l 0,1 --main-lcore 0 --no-pci --no-huge \
		-m 512 --vdev "$vhost_vdev" -- "${app[@]}" \
		"--forward-mode=$vhost_mode"
	tp_wait_sock vh "$sock" 300 || { echo "callgrind: vhost testpmd did not start" >&2; return 1; }
	TESTPMD=$wrapper tp_start vu "" -l 0,1 --main-lcore 1 --no-pci -m 256 \
		--single-file-segments "${virtio[@]}" -- \
		"${app[@]}" "--forward-mode=$virtio_mode"
	tp_wait_log vh 'link state change event' 1 300 &&
		tp_wait_log vu 'testpmd> ' 1 300 ||
		{ echo "callgrind: link did not come up" >&2; return 1; }
	[ "$(tp_mapped_vhost vh)" = "$(realpath "${libdir[$lib]}/librte_vhost.so.23")" ] ||
		{ echo "callgrind: vhost testpmd did not map ${libdir[$lib]}" >&2; return 1; }
	if [ "$dir" = h2v ]; then
		tp_fwd_start vu && tp_cmd vh start
	else
		tp_fwd_start vh && tp_cmd vu start
	fi
	tp_sleep "$seconds"
	# The testpmd under valgrind may take far longer than 10 s to stop
	# forwarding and print its counters on a loaded machine.
	if [ "$dir" = h2v ]; then
		tp_stop vh 300 && tp_stop vu
	else
		tp_stop vu && tp_stop vh 300
	fi
	local pkts
	pkts=$(tp_fwd_count vh "$counter")
	tp_quit vu
	# valgrind writes its counts at exit: on a loaded machine that
	# takes longer than tp_quit's default 10 s, and a kill loses them.
	tp_quit vh 300
	tp_cleanup
	# The burst function's cost with its callees (inclusive), and how
	# often the PMD called it: the call edges into it carry both.
	local calls total
	read -r calls total < <(awk -v f="$func" '
		function name(s,   id) {
			id = s; sub(/\).*/, "", id); sub(/^.*\(/, "", id)
			if (s ~ /\) ./) { n = s; sub(/^[^)]*\) /, "", n); names[id] = n }
			return id
		}
		/^c?fn=\(/ { id = name($0); if ($0 ~ /^cfn=/) callee = id; next }
		/^calls=/ { split($0, a, /[= ]/); pending = a[2]; next }
		pending != "" && /^[0-9+*-]/ {
			# The line after calls= holds the inclusive cost of the call.
			n = split($0, c, " ")
			ncalls[callee] += pending; incl[callee] += c[2]; pending = ""
			next }
		END { for (id in ncalls) if (names[id] ~ "^" f "($|@)") {
				cl += ncalls[id]; ir += incl[id] }
		      printf "%.0f %.0f\n", cl, ir }' "$out")
	[ "${total:-0}" -gt 0 ] && [ "${pkts:-0}" -gt 0 ] ||
		{ echo "callgrind: no count in $out or no packets" >&2; return 1; }
	echo "$2,$frontend,$lib,$func,$pkts,$calls,$total,$(awk -v t="$total" -v p="$pkts" \
		'BEGIN { printf "%.1f", t / p }'),$(awk -v p="$pkts" -v c="$calls" \
		'BEGIN { printf "%.1f", p / c }')" | tee -a "$csv"
}

echo "case,frontend,library,function,packets,calls,instructions,per_packet,per_call"
for c in $cases; do
	for lib in ${CG_LIBS:-ours dpdk}; do
		measure "$lib" "$c"
	done
done
