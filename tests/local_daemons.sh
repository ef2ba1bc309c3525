#!/bin/sh
# Local daemons: run a gctdb cluster on one machine, one daemon per
# 127.0.0.x address, with the commands and options of CTDB's
# ctdb/tests/local_daemons.sh so that scripts written for CTDB work.
#
# The binaries come from this repository's bin/ directory (make build),
# which is put first on PATH. With LOCAL_DAEMONS_USE_PATH=1 whatever is
# on PATH is used instead, e.g. Debian's ctdb for side-by-side runs.

set -u

export CTDB_TEST_MODE="yes"

die ()
{
	echo "$*" >&2
	exit 1
}

script_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(dirname "$script_dir")

if [ -z "${LOCAL_DAEMONS_USE_PATH:-}" ] ; then
	bindir="${GCTDB_BINDIR:-${repo_dir}/bin}"
	if [ ! -x "${bindir}/ctdbd" ] ; then
		die "${bindir}/ctdbd not found: run 'make build' first"
	fi
	PATH="${bindir}:${PATH}"
	export PATH
else
	# CTDB 4.17 in test mode finds its helpers through this variable.
	export CTDB_TEST_HELPER_BINDIR="${CTDB_TEST_HELPER_BINDIR:-/usr/libexec/ctdb}"
fi

# Print the address of node $1 (from 0).
node_ip ()
{
	_i="$1"
	if $use_ipv6 ; then
		printf 'fd00::5357:%04x\n' $((0x5f00 + 1 + _i))
	else
		echo "127.0.$((_i / 100)).$((1 + (_i % 100)))"
	fi
}

have_ip ()
{
	case "$1" in
	*:*) _bits=128 ;;
	*) _bits=32 ;;
	esac
	[ -n "$(ip addr show to "${1}/${_bits}" 2>/dev/null)" ]
}

setup_nodes ()
{
	_ok=true
	for _i in $(seq 0 $((num_nodes - 1))) ; do
		_ip=$(node_ip "$_i")
		if $use_ipv6 && ! have_ip "$_ip" ; then
			echo "ERROR: ${_ip} not on an interface, please add it" >&2
			_ok=false
		fi
		echo "$_ip"
	done
	$_ok
}

setup_public_addresses ()
{
	for _i in $(seq 0 $((num_nodes - 1))) ; do
		if [ "$_i" -eq "$node_no_ips" ] ; then
			continue
		fi
		# Two public addresses on most nodes, to make things interesting.
		if $use_ipv6 ; then
			printf 'fc00:10::1:%x/64 lo\n' $((1 + _i))
			printf 'fc00:10::2:%x/64 lo\n' $((1 + _i))
		else
			printf '192.168.%d.%d/24 lo\n' $((100 + _i / 100)) $((1 + _i % 100))
			printf '192.168.%d.%d/24 lo\n' $((200 + _i / 100)) $((1 + _i % 100))
		fi
	done
}

# Event scripts enabled on local daemons: those that work on any host.
# 10.interface (real address changes) and 50.smbd stay installed but
# disabled, so addresses are bookkeeping only, as with CTDB's harness;
# `ctdb event script enable legacy 10.interface` turns them on.
local_daemons_enabled_scripts="00.ctdb 01.reclock 05.system"

install_event_scripts ()
{
	_dir="$1"
	mkdir -p "$_dir"
	for _s in "${repo_dir}/eventscripts/legacy/"*.script ; do
		[ -f "$_s" ] || continue
		_name=$(basename "$_s" .script)
		cp "$_s" "${_dir}/"
		chmod 644 "${_dir}/${_name}.script"
		for _e in $local_daemons_enabled_scripts ; do
			if [ "$_e" = "$_name" ] ; then
				chmod 755 "${_dir}/${_name}.script"
			fi
		done
	done
}

local_daemons_setup_usage ()
{
	cat >&2 <<EOT
$0 <directory> setup [ <options>... ]

Options:
  -C            Comment out given config item (default: item uncommented)
  -F            Disable failover (default: failover enabled)
  -N <file>     Nodes file (default: automatically generated)
  -n <num>      Number of nodes (default: 3)
  -P <file>     Public addresses file (default: automatically generated)
  -R            Use a command for the cluster lock (default: use a file)
  -r <time>     Like -R and set recheck interval to <time> (default: use a file)
  -S <library>  Socket wrapper shared library to preload (not supported)
  -6            Generate IPv6 IPs for nodes, public addresses (default: IPv4)

gctdb options:
  -T            Run the transport as a separate transportd process per node
  -s            Do not run smbd (default: one smbd per node serving "share")
EOT
	exit 1
}

local_daemons_setup ()
{
	disable_failover=false
	nodes_file=""
	num_nodes=3
	public_addresses_file=""
	lock_use_command=false
	lock_recheck_interval=""
	use_ipv6=false
	comment_out=""
	external_transport=false
	with_smbd=true

	while getopts "C:FN:n:P:Rr:S:6Tsh?" _opt ; do
		case "$_opt" in
		C) comment_out="${comment_out}${OPTARG}
" ;;
		F) disable_failover=true ;;
		N) nodes_file="$OPTARG" ;;
		n) num_nodes="$OPTARG" ;;
		P) public_addresses_file="$OPTARG" ;;
		R) lock_use_command=true ;;
		r) lock_use_command=true ; lock_recheck_interval="$OPTARG" ;;
		S) die "$0 setup: -S (socket wrapper) is not supported by gctdb" ;;
		6) use_ipv6=true ;;
		T) external_transport=true ;;
		s) with_smbd=false ;;
		\?|h) local_daemons_setup_usage ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# -eq 0 ] || local_daemons_setup_usage

	case "$num_nodes" in
	''|*[!0-9]*) die "$0 setup: -n needs a number, not '${num_nodes}'" ;;
	esac
	[ "$num_nodes" -ge 1 ] || die "$0 setup: -n needs at least 1 node"

	mkdir -p "$directory" || exit 1

	nodes_all="${directory}/nodes"
	if [ -n "$nodes_file" ] ; then
		cp "$nodes_file" "$nodes_all" || exit 1
		num_nodes=$(grep -c . "$nodes_all")
	else
		setup_nodes >"$nodes_all" || exit 1
	fi

	# With more than 2 nodes, one node chosen "at random" gets no public
	# addresses, as in CTDB's harness.
	node_no_ips=-1
	if [ "$num_nodes" -gt 2 ] ; then
		node_no_ips=$(($$ % num_nodes))
	fi

	public_addresses_all="${directory}/public_addresses"
	if [ -n "$public_addresses_file" ] ; then
		cp "$public_addresses_file" "$public_addresses_all" || exit 1
	else
		setup_public_addresses >"$public_addresses_all"
	fi

	mkdir -p "${directory}/shared/.ctdb"
	cluster_lock="${directory}/shared/.ctdb/cluster.lock"
	if $lock_use_command ; then
		helper="$(command -v ctdb_mutex_fcntl_helper 2>/dev/null)"
		[ -n "$helper" ] || helper="${CTDB_TEST_HELPER_BINDIR:-/usr/libexec/ctdb}/ctdb_mutex_fcntl_helper"
		cluster_lock="!${helper} ${cluster_lock}"
		if [ -n "$lock_recheck_interval" ] ; then
			cluster_lock="${cluster_lock} ${lock_recheck_interval}"
		fi
	fi

	for _n in $(seq 0 $((num_nodes - 1))) ; do
		base="${directory}/node.${_n}"
		mkdir -p "${base}/events/legacy" "${base}/run" "${base}/var"
		cp "$nodes_all" "${base}/nodes"
		if [ -z "$public_addresses_file" ] && [ "$node_no_ips" -eq "$_n" ] ; then
			echo "Node ${_n} will have no public IPs."
			: >"${base}/public_addresses"
		else
			cp "$public_addresses_all" "${base}/public_addresses"
		fi
		for _f in "${repo_dir}/eventscripts/"*.sh "${repo_dir}/eventscripts/functions" ; do
			[ -f "$_f" ] && cp "$_f" "$base/"
		done
		install_event_scripts "${base}/events/legacy"

		node_ip=$(sed -n -e "$((_n + 1))p" "$nodes_all")
		db_dir="${base}/db"
		for _d in volatile persistent state ; do
			mkdir -p "${db_dir}/${_d}"
		done

		cat >"${base}/ctdb.conf" <<EOT
[logging]
	location = file:${base}/log.ctdb
	log level = INFO

[cluster]
	cluster lock = ${cluster_lock}
	node address = ${node_ip}

[database]
	volatile database directory = ${db_dir}/volatile
	persistent database directory = ${db_dir}/persistent
	state database directory = ${db_dir}/state

[failover]
	disabled = ${disable_failover}

[event]
	debug script = debug-hung-script.sh
EOT
		if $external_transport ; then
			sed -i -e 's|^\[cluster\]$|[cluster]\n\ttransport = transportd|' "${base}/ctdb.conf"
		fi
		# -C comments out the given items, as CTDB's harness does.
		printf '%s' "$comment_out" | while IFS='' read -r _item ; do
			[ -n "$_item" ] || continue
			sed -i -e "s|^\\([[:space:]]*\\)\\(${_item}[[:space:]]*=\\)|\\1# \\2|" "${base}/ctdb.conf"
		done
		if $with_smbd && [ -z "${LOCAL_DAEMONS_USE_PATH:-}" ] ; then
			smbd_setup_node "$base" "$node_ip"
		fi
	done
}

# ---------------------------------------------------------------------
# smbd (gctdb only): one SMB server per node on the node's address, port
# 445, all serving [share] from one directory of the cluster that every
# node sees. A node runs smbd when setup wrote its smb.conf (setup -s
# and LOCAL_DAEMONS_USE_PATH leave it out). Users are added on any node:
#   printf 'pw\npw\n' | local_daemons.sh DIR onnode 0 smbpasswd -s -a USER

smbd_setup_node ()
{
	_base="$1"
	_ip="$2"
	_share="${directory}/shared/share"
	mkdir -p "$_share"
	cat >"${_base}/smb.conf" <<EOT
[global]
	interfaces = ${_ip}
	bind interfaces only = yes
	smb ports = 445
	pid directory = ${_base}/run
	log file = ${_base}/log.smbd
	log level = 1

[share]
	path = ${_share}
	read only = no
EOT
}

# smbd_start_cmd is run "on" a node after its ctdbd started; smbd
# returns once it serves.
# shellcheck disable=SC2016
smbd_start_cmd='if [ -f "${CTDB_BASE}/smb.conf" ] ; then smbd -s "${CTDB_BASE}/smb.conf" || exit 1 ; fi'

# smbd_onnode_opts prints the onnode options for a command run through
# "local_daemons.sh onnode": smbpasswd keeps standard input, where -s
# reads the password (onnode closes it for everything else, as CTDB's).
smbd_onnode_opts ()
{
	case "$1" in
	smbpasswd|*/smbpasswd) echo "-i" ;;
	esac
}

# smbd_stop_cmd is run "on" a node before its ctdbd stops: smbd first,
# so that clients are not left with a server that lost its state. A pid
# file left by an smbd that died is not trusted: the pid must still be
# an smbd.
# shellcheck disable=SC2016
smbd_stop_cmd='_p="${CTDB_BASE}/run/smbd.pid" ; if [ -f "$_p" ] ; then _pid=$(cat "$_p") ; if [ "$(cat "/proc/${_pid}/comm" 2>/dev/null)" = smbd ] ; then kill "$_pid" 2>/dev/null ; _i=0 ; while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 100 ] ; do sleep 0.1 ; _i=$((_i + 1)) ; done ; fi ; fi'
# ---------------------------------------------------------------------

local_daemons_ssh_usage ()
{
	echo "usage: $0 <directory> ssh [ -n ] <ip> <command>" >&2
	exit 1
}

# ssh is what onnode runs (through ONNODE_SSH) to run a command "on" a
# node: in that node's environment on this machine.
local_daemons_ssh ()
{
	[ $# -ge 2 ] || local_daemons_ssh_usage
	close_stdin=false
	while getopts "nh?" _opt ; do
		case "$_opt" in
		n) close_stdin=true ;;
		\?|h) local_daemons_ssh_usage ;;
		*) : ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# -ge 2 ] || local_daemons_ssh_usage

	_ip="$1" ; shift
	_num=$(awk -v ip="$_ip" '$1 == ip { print NR }' "${directory}/nodes")
	[ -n "$_num" ] || die "$0 ssh: no node with address ${_ip}"
	CTDB_BASE="${directory}/node.$((_num - 1))"
	export CTDB_BASE
	# The node's own socket follows from CTDB_BASE in test mode.
	unset CTDB_SOCKET
	[ -d "$CTDB_BASE" ] || die "$0 ssh: Unable to find base for node ${_ip}"

	if $close_stdin ; then
		exec sh -c "$*" <&-
	else
		exec sh -c "$*"
	fi
}

onnode_common ()
{
	ONNODE_SSH="${0} ${directory} ssh"
	# onnode only needs the nodes file, so use the common one.
	CTDB_BASE="$directory"
	export ONNODE_SSH CTDB_BASE
	# "onnode ok" and "onnode con" ask a running node for the status.
	for _s in "${directory}"/node.*/run/ctdbd.socket ; do
		if [ -S "$_s" ] ; then
			CTDB_SOCKET="$_s"
			export CTDB_SOCKET
			break
		fi
	done
}

local_daemons_generic_usage ()
{
	cat >&2 <<EOT
usage: $0 <directory> ${1} <nodes>

<nodes> can be  "all", a node number or any specification supported by onnode
EOT
	exit 1
}

local_daemons_start ()
{
	if [ $# -ne 1 ] || [ "$1" = "-h" ] ; then
		local_daemons_generic_usage "start"
	fi
	onnode_common
	# Each daemon detaches once it is ready, so all start in parallel. A
	# node set up with -T gets its transportd first.
	# shellcheck disable=SC2016
	onnode -q -p "$1" 'if grep -q "^[[:space:]]*transport = transportd" "${CTDB_BASE}/ctdb.conf" ; then transportd || exit 1 ; fi ; '"${VALGRIND:-} ctdbd || exit 1 ; ${smbd_start_cmd}"
}

local_daemons_stop ()
{
	if [ $# -ne 1 ] || [ "$1" = "-h" ] ; then
		local_daemons_generic_usage "stop"
	fi
	onnode_common
	# shellcheck disable=SC2016
	onnode -q -p "$1" "${smbd_stop_cmd} ; ${VALGRIND:-} ${CTDB:-ctdb} shutdown"'; _rc=$? ; _p="${CTDB_BASE}/run/transportd.pid" ; if [ -f "$_p" ] ; then kill "$(cat "$_p")" 2>/dev/null ; fi ; exit $_rc' 
}

local_daemons_onnode_usage ()
{
	cat >&2 <<EOT
usage: $0 <directory> onnode <nodes> <command>...

<nodes> can be  "all", a node number or any specification supported by onnode
EOT
	exit 1
}

local_daemons_onnode ()
{
	if [ $# -lt 2 ] || [ "$1" = "-h" ] ; then
		local_daemons_onnode_usage
	fi
	_nodes="$1"
	shift
	onnode_common
	# shellcheck disable=SC2046
	onnode $(smbd_onnode_opts "$1") "$_nodes" "$@"
}

local_daemons_print_socket ()
{
	if [ $# -ne 1 ] || [ "$1" = "-h" ] ; then
		local_daemons_generic_usage "print-socket"
	fi
	onnode_common
	# shellcheck disable=SC2016
	onnode -q "$1" 'echo ${CTDB_BASE}/run/ctdbd.socket'
}

# Each log line starts with the date and time; the node's name goes after
# them so the merged, sorted output says which node wrote what.
log_files ()
{
	onnode_common
	# shellcheck disable=SC2016
	onnode -q "$1" 'echo ${CTDB_BASE}/log.ctdb'
}

local_daemons_print_log ()
{
	if [ $# -ne 1 ] || [ "$1" = "-h" ] ; then
		local_daemons_generic_usage "print-log"
	fi
	log_files "$1" |
	while IFS='' read -r _l ; do
		_node=$(basename "$(dirname "$_l")")
		[ -f "$_l" ] && sed -e "s|^\\([^ ][^ ]* [^ ][^ ]*\\)|\\1 ${_node}|" "$_l"
	done |
	sort
}

local_daemons_tail_log ()
{
	if [ $# -ne 1 ] || [ "$1" = "-h" ] ; then
		local_daemons_generic_usage "tail-log"
	fi
	# shellcheck disable=SC2046
	exec tail -F $(log_files "$1")
}

usage ()
{
	cat <<EOT
usage: $0 <directory> <command> [ <options>... ]

Commands:
  setup          Set up daemon configuration according to given options
  start          Start specified daemon(s)
  stop           Stop specified daemon(s)
  onnode         Run a command in the environment of specified daemon(s)
  print-socket   Print the Unix domain socket used by specified daemon(s)
  print-log      Print logs for specified daemon(s) to stdout
  tail-log       Follow logs for specified daemon(s) to stdout

All commands use <directory> for daemon configuration

Run command with -h option to see per-command usage
EOT
	exit 1
}

if [ $# -lt 2 ] ; then
	usage
fi

directory="$1"
command="$2"
shift 2
use_ipv6=false

case "$command" in
setup) local_daemons_setup "$@" ;;
ssh) local_daemons_ssh "$@" ;; # internal, used by onnode
start) local_daemons_start "$@" ;;
stop) local_daemons_stop "$@" ;;
onnode) local_daemons_onnode "$@" ;;
print-socket) local_daemons_print_socket "$@" ;;
print-log) local_daemons_print_log "$@" ;;
tail-log) local_daemons_tail_log "$@" ;;
*) usage ;;
esac
