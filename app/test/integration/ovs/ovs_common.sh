# shellcheck shell=bash
# Helpers to run a private OVS-DPDK (sourced, not run): its own
# ovsdb-server, database, run directory and log under $OVS_DIR, never the
# system service. Debian's alternatives point ovs-vswitchd at the build
# without DPDK, so the DPDK binary is called by its path.
#
# Callers source ../testpmd_common.sh first (tp_wait_sock_pid,
# tp_mapped_vhost_pid), set OVS_DIR (an empty scratch directory) and call
# ovs_cleanup on exit.

OVS_VSWITCHD=${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
OVS_SCHEMA=${OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}
OVS_DB_PID=
OVS_PID=
OVS_PREFIX=

# ovs_vsctl ARGS...: ovs-vsctl on the private database.
ovs_vsctl() {
	ovs-vsctl --db="unix:$OVS_DIR/db.sock" --timeout=30 "$@"
}

ovs_appctl() {
	ovs-appctl -t "$OVS_DIR/ovs-vswitchd.ctl" --timeout=30 "$@"
}

# ovs_db_start PREFIX [OTHER_CONFIG...]: create the database, start its
# server and configure DPDK: no PCI bus, EAL file prefix PREFIX, small
# hugepage memory, one PMD thread on CPU 1.
ovs_db_start() {
	OVS_PREFIX=$1
	shift
	# ovs-vswitchd puts dpdkvhostuser sockets, its pid file and the
	# bridges' OpenFlow sockets in its run directory.
	export OVS_RUNDIR=$OVS_DIR OVS_LOGDIR=$OVS_DIR OVS_DBDIR=$OVS_DIR
	ovsdb-tool create "$OVS_DIR/conf.db" "$OVS_SCHEMA" || return 1
	ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVS_DIR/db.sock" \
		--unixctl="$OVS_DIR/ovsdb-server.ctl" \
		--log-file="$OVS_DIR/ovsdb-server.log" -vconsole:off \
		>"$OVS_DIR/ovsdb-server.out" 2>&1 &
	OVS_DB_PID=$!
	tp_wait_sock_pid "$OVS_DB_PID" "$OVS_DIR/db.sock" 30 || return 1
	ovs_vsctl --no-wait init || return 1
	ovs_vsctl --no-wait set Open_vSwitch . \
		other_config:dpdk-init=true \
		"other_config:dpdk-extra=--no-pci --file-prefix $OVS_PREFIX" \
		other_config:dpdk-socket-mem=512 \
		other_config:dpdk-socket-limit=512 \
		other_config:per-port-memory=true \
		other_config:pmd-cpu-mask=0x2 \
		"$@"
}

# ovs_start LIBDIR: start ovs-vswitchd-dpdk (LIBDIR empty: Debian's
# librte_vhost) and wait until DPDK is initialised.
ovs_start() {
	local libdir=$1
	(
		if [ -n "$libdir" ]; then
			export LD_LIBRARY_PATH=$libdir
		else
			unset LD_LIBRARY_PATH
		fi
		exec "$OVS_VSWITCHD" "unix:$OVS_DIR/db.sock" \
			--unixctl="$OVS_DIR/ovs-vswitchd.ctl" \
			--log-file="$OVS_DIR/ovs-vswitchd.log" -vconsole:off
	) >>"$OVS_DIR/ovs-vswitchd.out" 2>&1 &
	OVS_PID=$!
	local end=$((SECONDS + 120)) v
	while :; do
		kill -0 "$OVS_PID" 2>/dev/null || return 1
		v=$(ovs_vsctl --no-wait get Open_vSwitch . dpdk_initialized 2>/dev/null || true)
		[ "$v" = true ] && [ -S "$OVS_DIR/ovs-vswitchd.ctl" ] && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ovs_mapped_vhost: real path of the librte_vhost ovs-vswitchd mapped.
ovs_mapped_vhost() {
	tp_mapped_vhost_pid "$OVS_PID"
}

# ovs_stop: ask ovs-vswitchd to exit, kill it if it does not.
ovs_stop() {
	[ -n "$OVS_PID" ] || return 0
	ovs_appctl exit >/dev/null 2>&1 || kill -TERM "$OVS_PID" 2>/dev/null
	local end=$((SECONDS + 30))
	while kill -0 "$OVS_PID" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	kill -KILL "$OVS_PID" 2>/dev/null || true
	wait "$OVS_PID" 2>/dev/null || true
	OVS_PID=
}

# ovs_wait_link IFACE TIMEOUT_S: wait until OVS reports IFACE's link up
# (the vhost device became ready).
ovs_wait_link() {
	local end=$((SECONDS + $2)) s
	while :; do
		s=$(ovs_vsctl --no-wait get Interface "$1" link_state 2>/dev/null || true)
		[ "$s" = up ] && return 0
		kill -0 "$OVS_PID" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ovs_port_stats BRIDGE OFPORT: "rx_packets rx_dropped tx_packets
# tx_dropped" of a port, live from OpenFlow port statistics (the database
# copy lags by seconds; dpctl/show gives no stats for vhost ports). A
# counter OVS cannot read is "-": OVS 3.1 takes a vhost port's packet
# counts from the library's per-vring counters, which only ports
# registered with RTE_VHOST_USER_NET_STATS_ENABLE (dpdkvhostuserclient)
# have.
ovs_port_stats() {
	ovs-ofctl dump-ports "$1" "$2" | awk '
		function val(k,    i) {
			for (i = 1; i <= NF; i++)
				if (index($i, k "=") == 1) {
					sub(/^[a-z]+=/, "", $i); sub(/,$/, "", $i)
					return $i ~ /^[0-9]+$/ ? $i : "-" }
			return "-" }
		/ rx pkts=/ { rx = val("pkts"); rxd = val("drop") }
		/ tx pkts=/ { tx = val("pkts"); txd = val("drop") }
		END { if (rx == "" || tx == "") exit 1; print rx, rxd, tx, txd }'
}

# ovs_iface_stat IFACE KEY: one key of IFACE's statistics column (the
# per-vring counters of vhost ports are there), empty if absent.
ovs_iface_stat() {
	ovs_vsctl --no-wait get Interface "$1" "statistics:$2" 2>/dev/null |
		tr -d '"' || true
}

# ovs_flows BRIDGE PORT_A PORT_B: exactly two flows, A -> B and B -> A.
# Waits for the bridge's OpenFlow socket first (after a restart, OVS
# creates it once it has read the database).
ovs_flows() {
	tp_wait_sock_pid "$OVS_PID" "$OVS_DIR/$1.mgmt" 60 || return 1
	ovs-ofctl del-flows "$1" &&
		ovs-ofctl add-flow "$1" "in_port=$2,actions=output:$3" &&
		ovs-ofctl add-flow "$1" "in_port=$3,actions=output:$2"
}

# ovs_cleanup: stop both daemons and remove the EAL files of the prefix.
ovs_cleanup() {
	ovs_stop
	if [ -n "$OVS_DB_PID" ]; then
		kill -TERM "$OVS_DB_PID" 2>/dev/null || true
		wait "$OVS_DB_PID" 2>/dev/null || true
		OVS_DB_PID=
	fi
	if [ -n "$OVS_PREFIX" ]; then
		local mnt
		while read -r mnt; do
			rm -f "$mnt/$OVS_PREFIX"map_* 2>/dev/null || true
		done < <(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts)
		rm -rf "/var/run/dpdk/$OVS_PREFIX"
	fi
}
