#!/bin/sh
# Called by ctdbd when an event script times out, with the PID of the
# hung script and the event: debug-hung-script.sh PID EVENT [ARGS...]
# It prints what the script and its children are doing, so the log says
# why the event hung (a blocked mount, a stuck service...).

pid="$1"
event="${2:-unknown}"

[ -n "$pid" ] || { echo "usage: $0 PID EVENT" >&2 ; exit 1 ; }

echo "===== Event script for \"${event}\" hung (pid ${pid}) ====="

# The process tree under the hung script.
if command -v pstree >/dev/null 2>&1 ; then
	pstree -p -a "$pid"
else
	ps -o pid,ppid,stat,wchan:24,etime,args -g "$(ps -o pgid= -p "$pid" | tr -d ' ')" 2>/dev/null
fi

# Kernel stacks of processes in uninterruptible sleep: the usual culprit.
for p in $(ps -o pid= -g "$(ps -o pgid= -p "$pid" | tr -d ' ')" 2>/dev/null) ; do
	state=$(awk '{print $3}' "/proc/${p}/stat" 2>/dev/null)
	if [ "$state" = "D" ] && [ -r "/proc/${p}/stack" ] ; then
		echo "----- stack of ${p} ($(tr '\0' ' ' <"/proc/${p}/cmdline")) -----"
		cat "/proc/${p}/stack"
	fi
done

echo "===== End of hung script debug for \"${event}\" ====="
