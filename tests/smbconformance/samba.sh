#!/bin/bash
# Start or stop Samba 4.17's own smbd (Debian's samba package) as a
# standalone server for side-by-side runs with gctdb's smbd. Everything it
# writes stays under DIR; the system's smb.conf and state are never used.
#
#   samba.sh start DIR ADDR SHAREPATH [GLOBAL-LINE...]
#   samba.sh stop DIR
#
# The server listens on ADDR:445 with the shares [share] and [tmpenc]
# (smb encrypt = required) on SHAREPATH and the user $SAMBA_USER (default
# tester, which must exist as a Unix account) with password $SAMBA_PASS
# (default Secret-42). SHAREPATH is handed to that user.
#
# SAMBA_PROFILE=selftest (the default) adds the file-server options of
# Samba's own selftest environments that Debian's package has (NT ACLs and
# streams in xattrs, DOS attributes stored, no DOS-attribute mapping onto
# mode bits, strict rename; its test-only fake_acls and xattr_tdb modules
# are not packaged); SAMBA_PROFILE=plain leaves Samba's defaults.
set -eu

user=${SAMBA_USER:-tester}
profile=${SAMBA_PROFILE:-selftest}
pass=${SAMBA_PASS:-Secret-42}
smbd=${SAMBA_SMBD:-/usr/sbin/smbd}

start() {
	local dir=$1 addr=$2 share=$3
	shift 3
	mkdir -p "$dir"/{private,lock,state,cache,run,ncalrpc,log}
	chmod 700 "$dir/private"
	{
		printf '[global]\n'
		printf '\t%s\n' \
			"netbios name = SAMBA417" \
			"workgroup = SAMBA" \
			"server role = standalone server" \
			"interfaces = $addr/8" \
			"bind interfaces only = yes" \
			"smb ports = 445" \
			"disable netbios = yes" \
			"private dir = $dir/private" \
			"lock directory = $dir/lock" \
			"state directory = $dir/state" \
			"cache directory = $dir/cache" \
			"pid directory = $dir/run" \
			"ncalrpc dir = $dir/ncalrpc" \
			"log file = $dir/log/log.%m" \
			"passdb backend = tdbsam:$dir/private/passdb.tdb" \
			"map to guest = never" \
			"load printers = no" \
			"printing = bsd" \
			"printcap name = /dev/null" \
			"disable spoolss = yes" \
			"server min protocol = SMB2_02"
		if [ "$profile" = selftest ]; then
			printf '\t%s\n' \
				"kernel oplocks = no" \
				"kernel change notify = no" \
				"smb2 leases = yes" \
				"map hidden = no" \
				"map system = no" \
				"map readonly = no" \
				"store dos attributes = yes" \
				"create mask = 755" \
				"dos filemode = yes" \
				"strict rename = yes" \
				"vfs objects = acl_xattr streams_xattr"
		fi
		for l in "$@"; do printf '\t%s\n' "$l"; done
		printf '[share]\n\tpath = %s\n\tread only = no\n' "$share"
		printf '[tmpenc]\n\tpath = %s\n\tread only = no\n\tsmb encrypt = required\n' "$share"
	} >"$dir/smb.conf"
	chown "$user" "$share"
	printf '%s\n%s\n' "$pass" "$pass" | smbpasswd -c "$dir/smb.conf" -s -a "$user" >/dev/null
	# Its own session: on shutdown smbd signals its whole process group.
	setsid "$smbd" --configfile="$dir/smb.conf" --foreground --no-process-group \
		</dev/null >"$dir/log/smbd.out" 2>&1 &
	echo $! >"$dir/smbd.pid"
	for _ in $(seq 100); do
		(echo >"/dev/tcp/$addr/445") 2>/dev/null && return 0
		sleep 0.1 # polling for the listener
	done
	echo "samba.sh: Samba's smbd did not start listening on $addr:445 (see $dir/log)" >&2
	return 1
}

# stop ends smbd and the RPC helpers it started on demand (samba-dcerpcd
# and its rpcd_* workers, which outlive smbd): the processes whose command
# line names this server's smb.conf.
stop() {
	local dir=$1 pid pids=()
	[ -f "$dir/smbd.pid" ] && pids+=("$(cat "$dir/smbd.pid")")
	for pid in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$pid/cmdline"; } 2>/dev/null | grep -qF -- "--configfile=$dir/smb.conf" &&
			pids+=("${pid#/proc/}")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill "${pids[@]}" 2>/dev/null || true
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1 # polling for the exit
		done
	done
	rm -f "$dir/smbd.pid"
}

case ${1:-} in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) echo "usage: $0 start DIR ADDR SHAREPATH [GLOBAL-LINE...] | stop DIR" >&2; exit 2 ;;
esac
