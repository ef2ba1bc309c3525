#!/bin/bash
# SMB benchmarks: gctdb's smbd against Samba 4.17's smbd in the same run,
# both serving a share on the same tmpfs, runs interleaved, medians
# reported (docs/benchmarks.md, section SMB).
#
#   tests/bench/smb.sh [-r RUNS] [-t SECONDS] [BENCH...]
#
# BENCH is any of get put echo contention rss (default: all).
#   get         smbclient get of a 2 GiB file to /dev/null: plain, signed, encrypted
#   put         smbclient put of a 1 GiB file from tmpfs:   plain, signed, encrypted
#   echo        smbtorture smb2.bench.echo, 4 connections
#   contention  smbtorture smb2.bench.path-contention-shared, 4 connections
#   rss         server RSS with 100 idle smbclient connections
#
# Environment: GCTDB_BINDIR (built binaries; default: go build into the
# work directory), SAMBA_PROFILE (plain or selftest, see
# tests/smbconformance/samba.sh; default plain).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=5
secs=10
while getopts r:t: opt; do
	case $opt in
	r) runs=$OPTARG ;;
	t) secs=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
benches=${*:-get put echo contention rss}
export SAMBA_PROFILE=${SAMBA_PROFILE:-plain}

user=tester pass=Secret-42
gaddr=127.107.0.30 saddr=127.107.0.31
work=$(mktemp -d /dev/shm/gctdb-smbbench.XXXXXX)
chmod 755 "$work"
mkdir "$work/gctdb" "$work/samba"
gpid=
cleanup() {
	stop_idle
	[ -n "$gpid" ] && kill "$gpid" 2>/dev/null && wait "$gpid" 2>/dev/null
	"$root/tests/smbconformance/samba.sh" stop "$work/sambad"
	rm -rf "$work"
}
trap cleanup EXIT

port_free() {
	if (echo >"/dev/tcp/$1/445") 2>/dev/null; then
		echo "something already listens on $1:445" >&2
		exit 1
	fi
}

wait_port() {
	for _ in $(seq 100); do
		(echo >"/dev/tcp/$1/445") 2>/dev/null && return 0
		sleep 0.1 # polling for the listener
	done
	echo "nothing listens on $1:445" >&2
	return 1
}

start_gctdb() {
	local bin=${GCTDB_BINDIR:-}
	if [ -z "$bin" ]; then
		bin=$work/bin
		(cd "$root" && go build -o "$bin/smbd" ./smbd) || exit 1
	fi
	echo "$user:$pass" >"$work/users"
	cat >"$work/smb.conf" <<-CONF
	[global]
		interfaces = $gaddr
		bind interfaces only = yes
	[share]
		path = $work/gctdb
		read only = no
	CONF
	"$bin/smbd" -s "$work/smb.conf" -F --dev-memory-state --dev-users "$work/users" \
		>"$work/gctdb.log" 2>&1 &
	gpid=$!
	wait_port "$gaddr"
}

start_samba() {
	"$root/tests/smbconformance/samba.sh" start "$work/sambad" "$saddr" "$work/samba" || exit 1
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# smbclient's rate (get: "KiloBytes/sec", put: "kb/s", both KiB/s) is of
# the transfer alone, not the connection setup; printed as MB/s (10^6
# bytes).
smbclient_rate() {
	local addr=$1 cmd=$2
	shift 2
	smbclient "//$addr/share" -U "$user%$pass" "$@" -c "$cmd" 2>&1 |
		sed -n 's/.*(\([0-9.]*\) \(KiloBytes\/sec\|kb\/s\)) (average.*/\1/p' | awk '{printf "%.0f\n", $1*1024/1e6}'
}

# torture_rate ADDR TEST METRIC: the whole-run num/s of METRIC.
torture_rate() {
	smbtorture "//$1/share" -U "$user%$pass" --target=samba3 \
		--option=torture:nprocs=4 --option=torture:timelimit="$secs" "$2" 2>&1 |
		tr ' ' '\n' | sed -n "s/^$3\[num\/s=\([0-9]*\),.*/\1/p" | tail -1
}

declare -A results
record() { results["$1"]+="$2 "; }

row() {
	local name=$1 unit=$2 g s
	g=$(tr ' ' '\n' <<<"${results[$name/gctdb]:-}" | grep . | median)
	s=$(tr ' ' '\n' <<<"${results[$name/samba]:-}" | grep . | median)
	printf '| %s | %s %s | %s %s | %s |\n' "$name" "$g" "$unit" "$s" "$unit" \
		"$(awk -v g="$g" -v s="$s" 'BEGIN {if (s > 0) printf "%.2f×", g/s}')"
	printf '<!-- %s runs: gctdb %s; samba %s -->\n' "$name" "${results[$name/gctdb]:-}" "${results[$name/samba]:-}"
}

modes=("plain:" "signed:--client-protection=sign" "encrypted:--client-protection=encrypt")

bench_get() {
	head -c $((2 << 30)) /dev/zero >"$work/gctdb/big"
	cp "$work/gctdb/big" "$work/samba/big"
	chown "$user" "$work/samba/big"
	for _ in $(seq "$runs"); do
		for m in "${modes[@]}"; do
			record "get 2 GiB ${m%%:*}/gctdb" "$(smbclient_rate $gaddr 'get big /dev/null' ${m#*:})"
			record "get 2 GiB ${m%%:*}/samba" "$(smbclient_rate $saddr 'get big /dev/null' ${m#*:})"
		done
	done
	rm -f "$work/gctdb/big" "$work/samba/big"
	for m in "${modes[@]}"; do row "get 2 GiB ${m%%:*}" MB/s; done
}

bench_put() {
	head -c $((1 << 30)) /dev/zero >"$work/put.src"
	for _ in $(seq "$runs"); do
		for m in "${modes[@]}"; do
			record "put 1 GiB ${m%%:*}/gctdb" "$(smbclient_rate $gaddr "put $work/put.src up" ${m#*:})"
			rm -f "$work/gctdb/up"
			record "put 1 GiB ${m%%:*}/samba" "$(smbclient_rate $saddr "put $work/put.src up" ${m#*:})"
			rm -f "$work/samba/up"
		done
	done
	rm -f "$work/put.src"
	for m in "${modes[@]}"; do row "put 1 GiB ${m%%:*}" MB/s; done
}

bench_echo() {
	for _ in $(seq "$runs"); do
		record "smb2.bench.echo/gctdb" "$(torture_rate $gaddr smb2.bench.echo echo)"
		record "smb2.bench.echo/samba" "$(torture_rate $saddr smb2.bench.echo echo)"
	done
	row smb2.bench.echo echo/s
}

bench_contention() {
	for _ in $(seq "$runs"); do
		record "smb2.bench.path-contention-shared/gctdb" "$(torture_rate $gaddr smb2.bench.path-contention-shared open)"
		record "smb2.bench.path-contention-shared/samba" "$(torture_rate $saddr smb2.bench.path-contention-shared open)"
	done
	row smb2.bench.path-contention-shared opens/s
}

# Idle clients: smbclient sessions (negotiate, session setup, tree
# connect) waiting for commands on a FIFO that is held open.
idle_pids=()
start_idle() {
	local addr=$1 n=$2
	rm -f "$work/idle.fifo"
	mkfifo "$work/idle.fifo"
	for _ in $(seq "$n"); do
		smbclient "//$addr/share" -U "$user%$pass" <"$work/idle.fifo" >/dev/null 2>&1 &
		idle_pids+=($!)
	done
	exec 9>"$work/idle.fifo"
	for _ in $(seq 300); do
		[ "$(ss -Htn state established "( dst $addr and dport = :445 )" | wc -l)" -ge "$n" ] && break
		sleep 0.1 # polling for the connections
	done
	sleep 1 # let the sessions settle after their last request
}
stop_idle() {
	[ ${#idle_pids[@]} -gt 0 ] || return 0
	exec 9>&-
	kill "${idle_pids[@]}" 2>/dev/null
	wait "${idle_pids[@]}" 2>/dev/null
	idle_pids=()
}

# kib_of FIELD PID...: the sum of a /proc/PID/smaps_rollup field in KiB.
kib_of() {
	local f=$1
	shift
	for p in "$@"; do awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/smaps_rollup"; done | awk '{s+=$1} END {print s+0}'
}
samba_pids() {
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "^/usr/sbin/smbd --configfile=$work/sambad/smb.conf" &&
			echo "${p#/proc/}"
	done
}

bench_rss() {
	local n=100
	start_idle $gaddr $n
	local grss gpss
	grss=$(kib_of Rss "$gpid")
	stop_idle
	start_idle $saddr $n
	local spids
	spids=$(samba_pids)
	local srss spss
	srss=$(kib_of Rss $spids)
	spss=$(kib_of Pss $spids)
	stop_idle
	printf '| smbd memory, %d idle connections | %.1f MB RSS (one process) | %.1f MB RSS, %.1f MB PSS (%d processes) | |\n' \
		$n "$(awk -v k="$grss" 'BEGIN {print k/1024}')" "$(awk -v k="$srss" 'BEGIN {print k/1024}')" \
		"$(awk -v k="$spss" 'BEGIN {print k/1024}')" "$(wc -w <<<"$spids")"
}

command -v smbclient >/dev/null && command -v smbtorture >/dev/null || {
	echo "smbclient and smbtorture are needed" >&2
	exit 1
}
port_free $gaddr
port_free $saddr
start_gctdb
start_samba
echo "| benchmark | gctdb | Samba 4.17 | gctdb/Samba |"
echo "|---|---|---|---|"
for b in $benches; do
	"bench_$b"
done
