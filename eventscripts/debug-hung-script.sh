#!/bin/sh
# Called by ctdbd when an event script times out, with the PID of the
# hung script and the event: debug-hung-script.sh PID EVENT [ARGS...]
# It prints what the script and its children are doing, so the log says
# why the event hung (a blocked mount, a stuck service...).
#
# script.options:
#   CTDB_DEBUG_HUNG_SCRIPT_LOGFILE   also append the report to this file
#   CTDB_DEBUG_HUNG_SCRIPT_STACKPAT  extended regexp of command names
#       whose kernel stacks are printed even when they are not in
#       uninterruptible sleep (default "exportfs|rpcinfo")

pid="$1"
event="${2:-unknown}"

[ -n "$pid" ] || { echo "usage: $0 PID EVENT" >&2 ; exit 1 ; }

[ -n "$CTDB_BASE" ] || CTDB_BASE=$(cd -P "$(dirname "$0")" && pwd)
if [ -r "${CTDB_BASE}/script.options" ] ; then
	# shellcheck disable=SC1091
	. "${CTDB_BASE}/script.options"
fi
stackpat="${CTDB_DEBUG_HUNG_SCRIPT_STACKPAT:-exportfs|rpcinfo}"

report ()
{
	echo "===== Start of hung script debug for PID=\"${pid}\", event=\"${event}\" ====="

	pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
	# The script runs in its own process group, not its own session:
	# procps' "ps -g" selects sessions, so the group is found by hand.
	members=""
	if [ -n "$pgid" ] ; then
		members=$(ps -e -o pid=,pgid= | awk -v g="$pgid" '$2 == g { print $1 }')
	fi
	echo "pstree -p -a ${pid}:"
	if command -v pstree >/dev/null 2>&1 ; then
		pstree -p -a "$pid"
	elif [ -n "$members" ] ; then
		# shellcheck disable=SC2086
		ps -o pid,ppid,stat,wchan:24,etime,args -p "$(echo $members | tr ' ' ',')"
	fi

	# Kernel stacks: of processes in uninterruptible sleep (the usual
	# culprits), and of those whose name matches the pattern.
	if [ -n "$members" ] ; then
		for p in $members ; do
			state=$(awk '{print $3}' "/proc/${p}/stat" 2>/dev/null)
			comm=$(cat "/proc/${p}/comm" 2>/dev/null)
			if [ "$state" = "D" ] || echo "$comm" | grep -Eq "$stackpat" ; then
				echo "---- Stack trace of interesting process ${p}[${comm}] ----"
				cat "/proc/${p}/stack" 2>/dev/null
			fi
		done
	fi

	echo "---- ctdb scriptstatus ${event}: ----"
	"${CTDB:-ctdb}" scriptstatus "$event" 2>&1

	echo "===== End of hung script debug for PID=\"${pid}\", event=\"${event}\" ====="
}

if [ -n "$CTDB_DEBUG_HUNG_SCRIPT_LOGFILE" ] ; then
	report | tee -a "$CTDB_DEBUG_HUNG_SCRIPT_LOGFILE"
else
	report
fi
