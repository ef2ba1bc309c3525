#!/bin/bash
# SMB benchmarks: gctdb's smbd against Samba 4.17's smbd in the same run,
# both serving a share on the same tmpfs, runs interleaved, medians
# reported (docs/benchmarks.md, section SMB). gctdb runs as a one-node
# cluster of local daemons (ctdbd and smbd, every open through gctdb's
# databases); Samba as a standalone server.
#
#   tests/bench/smb.sh [-r RUNS] [-t SECONDS] [BENCH...]
#
# BENCH is any of get put echo contention rss contention3 (default: all).
#   get          smbclient get of a 2 GiB file to /dev/null: plain, signed, encrypted
#   put          smbclient put of a 1 GiB file from tmpfs:   plain, signed, encrypted
#   echo         smbtorture smb2.bench.echo, 4 connections
#   contention   smbtorture smb2.bench.path-contention-shared, 4 connections
#   rss          server RSS with 100 idle smbclient connections
#   contention3  path-contention-shared with 6 connections over the 3 nodes
#                of a gctdb cluster (2 per node, run at once; gctdb only)
#
# Environment: GCTDB_BINDIR (built binaries; default: make build into the
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
benches=${*:-get put echo contention rss contention3}
export SAMBA_PROFILE=${SAMBA_PROFILE:-plain}

user=tester pass=Secret-42
gaddr=127.107.40.1 saddr=127.107.0.31
work=$(mktemp -d /dev/shm/gctdb-smbbench.XXXXXX)
chmod 755 "$work"
mkdir "$work/samba"
gshare=$work/cluster/shared/share
ld=$root/tests/local_daemons.sh
cleanup() {
	stop_idle
	"$ld" "$work/cluster" stop all >/dev/null 2>&1
	"$ld" "$work/cluster3" stop all >/dev/null 2>&1
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

# start_cluster DIR ADDR...: a gctdb cluster of local daemons on ADDRs
# with the bench user.
start_cluster() {
	local dir=$1
	shift
	printf '%s\n' "$@" >"$work/nodes.$(basename "$dir")"
	"$ld" "$dir" setup -N "$work/nodes.$(basename "$dir")" >/dev/null &&
		"$ld" "$dir" start all &&
		printf '%s\n%s\n' "$pass" "$pass" | "$ld" "$dir" onnode 0 smbpasswd -s -a "$user" >/dev/null
}

start_gctdb() {
	if [ -z "${GCTDB_BINDIR:-}" ]; then
		export GCTDB_BINDIR=$work/bin
		(cd "$root" && make -s build BIN="$GCTDB_BINDIR") || exit 1
	fi
	start_cluster "$work/cluster" "$gaddr" || exit 1
	gpids=("$(cat "$work/cluster/node.0/run/smbd.pid")" "$(cat "$work/cluster/node.0/run/ctdbd.pid")")
}

start_samba() {
	"$root/tests/smbconformance/samba.sh" start "$work/sambad" "$saddr" "$work/samba" || exit 1
	sleep 1 # the parent starts its standing helpers (notifyd, cleanupd)
	samba_helpers=$(pgrep -c -P "$(cat "$work/sambad/smbd.pid")")
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

# Server CPU time in clock ticks: gctdb's smbd and ctdbd; Samba's parent smbd with
# its reaped children (each client's smbd exits after its client, so wait
# for the parent to be back to its standing helpers first).
server_ticks() {
	case $1 in
	gctdb) cat "/proc/${gpids[0]}/stat" "/proc/${gpids[1]}/stat" | awk '{s+=$14+$15} END {print s}' ;;
	samba)
		local p
		p=$(cat "$work/sambad/smbd.pid")
		for _ in $(seq 100); do
			[ "$(pgrep -c -P "$p")" -le "$samba_helpers" ] && break
			sleep 0.05 # polling for the client's smbd to exit
		done
		awk '{print $14+$15+$16+$17}' "/proc/$p/stat"
		;;
	esac
}

declare -A results
record() { results["$1"]+="$2 "; }

# pair NAME WORK FN ARGS...: runs "FN ADDR ARGS..." against both servers,
# alternating which goes first, and records its number and the server CPU
# seconds it took divided by WORK: how much work one run is, or "ops" for
# a rate over $secs seconds (CPU seconds per 10^6 operations = µs/op).
pair_turn=0
pair() {
	local name=$1 work_units=$2 fn=$3 order=(gctdb samba)
	shift 3
	[ $((pair_turn++ % 2)) -eq 1 ] && order=(samba gctdb)
	local srv addr t0 t1 v
	for srv in "${order[@]}"; do
		addr=$gaddr
		[ "$srv" = samba ] && addr=$saddr
		t0=$(server_ticks "$srv")
		v=$("$fn" "$addr" "$@")
		t1=$(server_ticks "$srv")
		record "$name/$srv" "$v"
		local w=$work_units
		[ "$w" = ops ] && w=$(awk -v v="$v" -v s="$secs" 'BEGIN {print v*s/1e6}')
		record "$name/$srv/cpu" "$(awk -v t=$((t1 - t0)) -v w="$w" -v hz="$(getconf CLK_TCK)" 'BEGIN {if (w > 0) printf "%.3g", t/hz/w}')"
	done
}

row() {
	local name=$1 unit=$2 cpuunit=$3 g s gc sc r
	g=$(tr ' ' '\n' <<<"${results[$name/gctdb]:-}" | grep . | median)
	s=$(tr ' ' '\n' <<<"${results[$name/samba]:-}" | grep . | median)
	gc=$(tr ' ' '\n' <<<"${results[$name/gctdb/cpu]:-}" | grep . | median)
	sc=$(tr ' ' '\n' <<<"${results[$name/samba/cpu]:-}" | grep . | median)
	# The median of the run-by-run ratios is steadier than the ratio of
	# the medians when the machine's load drifts.
	r=$(paste -d' ' <(tr ' ' '\n' <<<"${results[$name/gctdb]:-}" | grep .) \
		<(tr ' ' '\n' <<<"${results[$name/samba]:-}" | grep .) |
		awk '$2 > 0 {print $1/$2}' | median)
	printf '| %s | %s %s | %s %s | %.2f× | %s / %s %s |\n' "$name" "$g" "$unit" "$s" "$unit" "$r" "$gc" "$sc" "$cpuunit"
	printf '<!-- %s runs: gctdb %s; samba %s; cpu gctdb %s; samba %s -->\n' "$name" \
		"${results[$name/gctdb]:-}" "${results[$name/samba]:-}" "${results[$name/gctdb/cpu]:-}" "${results[$name/samba/cpu]:-}"
}

modes=("plain:" "signed:--client-protection=sign" "encrypted:--client-protection=encrypt")

bench_get() {
	head -c $((2 << 30)) /dev/zero >"$gshare/big"
	cp "$gshare/big" "$work/samba/big"
	chown "$user" "$work/samba/big"
	for _ in $(seq "$runs"); do
		for m in "${modes[@]}"; do
			pair "get 2 GiB ${m%%:*}" 2 smbclient_rate 'get big /dev/null' ${m#*:}
		done
	done
	rm -f "$gshare/big" "$work/samba/big"
	for m in "${modes[@]}"; do row "get 2 GiB ${m%%:*}" MB/s s/GiB; done
}

put_once() {
	local addr=$1 dir=$gshare
	shift
	[ "$addr" = "$saddr" ] && dir=$work/samba
	smbclient_rate "$addr" "put $work/put.src up" "$@"
	rm -f "$dir/up"
}

bench_put() {
	head -c $((1 << 30)) /dev/zero >"$work/put.src"
	for _ in $(seq "$runs"); do
		for m in "${modes[@]}"; do
			pair "put 1 GiB ${m%%:*}" 1 put_once ${m#*:}
		done
	done
	rm -f "$work/put.src"
	for m in "${modes[@]}"; do row "put 1 GiB ${m%%:*}" MB/s s/GiB; done
}

bench_echo() {
	for _ in $(seq "$runs"); do
		pair smb2.bench.echo ops torture_rate smb2.bench.echo echo
	done
	row smb2.bench.echo echo/s µs/echo
}

# CPU per open: the benchmark's opens and closes together.
bench_contention() {
	for _ in $(seq "$runs"); do
		pair smb2.bench.path-contention-shared ops torture_rate smb2.bench.path-contention-shared open
	done
	row smb2.bench.path-contention-shared opens/s µs/open
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

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }

bench_rss() {
	local n=100 srss spss spids
	start_idle $gaddr $n
	local smbd ctdbd
	smbd=$(kib_of Rss "${gpids[0]}")
	ctdbd=$(kib_of Rss "${gpids[1]}")
	stop_idle
	start_idle $saddr $n
	spids=$(samba_pids)
	srss=$(kib_of Rss $spids)
	spss=$(kib_of Pss $spids)
	stop_idle
	printf '| memory, %d idle connections | smbd %s MB RSS (one process; its ctdbd %s MB) | %s MB RSS, %s MB PSS (%d smbd processes) | | |\n' \
		$n "$(mb "$smbd")" "$(mb "$ctdbd")" "$(mb "$srss")" "$(mb "$spss")" "$(wc -w <<<"$spids")"
}

# contention3: 6 connections over the 3 nodes of a second gctdb cluster,
# 2 per node, all opening the share root at once; the sum of the nodes'
# opens/s (clustered Samba 4.17 measured 805/s in the same setup).
bench_contention3() {
	local addrs=(127.107.41.1 127.107.41.2 127.107.41.3) r i total
	for a in "${addrs[@]}"; do port_free "$a"; done
	start_cluster "$work/cluster3" "${addrs[@]}" || exit 1
	for _ in $(seq "$runs"); do
		for i in 0 1 2; do
			smbtorture "//${addrs[$i]}/share" -U "$user%$pass" --target=samba3 \
				--option=torture:nprocs=2 --option=torture:timelimit="$secs" \
				smb2.bench.path-contention-shared >"$work/c3.$i" 2>&1 &
		done
		wait
		total=0
		for i in 0 1 2; do
			r=$(tr ' \r' '\n\n' <"$work/c3.$i" | sed -n 's/^open\[num\/s=\([0-9]*\),.*/\1/p' | tail -1)
			total=$((total + ${r:-0}))
		done
		record "contention3/gctdb" "$total"
	done
	"$ld" "$work/cluster3" stop all >/dev/null 2>&1
	printf '| smb2.bench.path-contention-shared, 6 connections over 3 nodes | %s opens/s | (clustered Samba 4.17: 805 opens/s) | | |\n' \
		"$(tr ' ' '\n' <<<"${results[contention3/gctdb]}" | grep . | median)"
	printf '<!-- contention3 runs: gctdb %s -->\n' "${results[contention3/gctdb]}"
}

command -v smbclient >/dev/null && command -v smbtorture >/dev/null || {
	echo "smbclient and smbtorture are needed" >&2
	exit 1
}
port_free $gaddr
port_free $saddr
start_gctdb
start_samba
echo "| benchmark | gctdb | Samba 4.17 | gctdb/Samba | server CPU, gctdb / Samba |"
echo "|---|---|---|---|---|"
for b in $benches; do
	"bench_$b"
done
