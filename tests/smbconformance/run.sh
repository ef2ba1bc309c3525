#!/bin/bash
# Run smbtorture tests against gctdb's smbd, or against Samba 4.17's smbd
# for comparison.
#
#   tests/smbconformance/run.sh [--samba] [TEST...]
#
# Without TEST it runs every test in passing.txt. It starts a two-node
# gctdb cluster of local daemons (ctdbd and smbd per node on
# 127.107.N.1-2, binaries from $GCTDB_BINDIR or built here) and tests node
# 0's smbd; or with --samba, Samba's own smbd on 127.107.0.N:445
# (samba.sh). It prints one line per test and "N passed, N failed", and
# exits non-zero if a test failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
samba=
if [ "${1:-}" = --samba ]; then
	samba=1
	shift
fi
n=$(((RANDOM % 150) + 100))
work=$(mktemp -d /tmp/gctdb-smbconf.XXXXXX)
chmod 755 "$work"
command -v smbtorture >/dev/null || { echo "smbtorture is not installed" >&2; exit 1; }

if [ -n "$samba" ]; then
	mkdir "$work/share"
	share_dir=$work/share
	addr=${SMBD_ADDR:-127.107.0.$n}
	trap '"$here/samba.sh" stop "$work/samba"; rm -rf "$work"' EXIT
	"$here/samba.sh" start "$work/samba" "$addr" "$share_dir" || exit 1
else
	bindir=${GCTDB_BINDIR:-}
	if [ -z "$bindir" ]; then
		bindir=$work/bin
		(cd "$root" && make -s build BIN="$bindir") || exit 1
	fi
	export GCTDB_BINDIR=$bindir
	cluster=$work/cluster
	share_dir=$cluster/shared/share
	addr=127.107.$n.1
	printf '127.107.%d.1\n127.107.%d.2\n' "$n" "$n" >"$work/nodes"
	trap '"$root/tests/local_daemons.sh" "$cluster" stop all >/dev/null 2>&1; rm -rf "$work"' EXIT
	"$root/tests/local_daemons.sh" "$cluster" setup -N "$work/nodes" >/dev/null || exit 1
	for conf in "$cluster"/node.*/smb.conf; do
		printf '\n[tmpenc]\n\tpath = %s\n\tread only = no\n\tsmb encrypt = required\n' "$share_dir" >>"$conf"
	done
	"$root/tests/local_daemons.sh" "$cluster" start all || exit 1
	printf 'Secret-42\nSecret-42\n' |
		"$root/tests/local_daemons.sh" "$cluster" onnode 0 smbpasswd -s -a tester >/dev/null || exit 1
fi

if [ $# -gt 0 ]; then
	list=$(printf '%s\n' "$@")
else
	list=$(grep -v '^\s*#' "$here/passing.txt" | grep -v '^\s*$')
fi
passed=0 failed=0
while read -r name rest; do
	[ -n "$name" ] || continue
	share=share args=()
	for f in $rest; do
		case $f in share=*) share=${f#share=} ;; *) args+=("$f") ;; esac
	done
	rm -rf "$share_dir"/* "$share_dir"/.[!.]* 2>/dev/null
	out=$(smbtorture "//$addr/$share" -U tester%Secret-42 --target=samba3 \
		"${args[@]}" "$name" 2>&1)
	while read -r res tname; do
		# One line per result: the test as passing.txt names it, or
		# SUITE.TEST for the tests of a suite named as a whole.
		tname=${tname%% *}
		full=$name
		[ "${name##*.}" = "$tname" ] || full=$name.$tname
		case $res in
		success:) passed=$((passed + 1)); echo "ok   $full${rest:+ $rest}" ;;
		failure:|error:) failed=$((failed + 1)); echo "FAIL $full${rest:+ $rest}" ;;
		skip:) echo "skip $full${rest:+ $rest}" ;;
		esac
	done < <(grep -E '^(success|failure|error|skip): ' <<<"$out")
done <<<"$list"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
