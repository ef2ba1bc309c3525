#!/bin/bash
# Run smbtorture tests against gctdb's smbd, or against Samba 4.17's smbd
# for comparison.
#
#   tests/smbconformance/run.sh [--samba] [TEST...]
#
# Without TEST it runs every test in passing.txt. It starts smbd
# (development in-memory state store) on 127.0.0.$N:$SMBD_PORT, or with
# --samba Samba's own smbd on 127.107.0.$N:445 (samba.sh), with a
# temporary share, prints one line per test and "N passed, N failed", and
# exits non-zero if a test failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
samba=
if [ "${1:-}" = --samba ]; then
	samba=1
	shift
fi
n=$(((RANDOM % 200) + 20))
work=$(mktemp -d /tmp/gctdb-smbconf.XXXXXX)
chmod 755 "$work" && mkdir "$work/share"
command -v smbtorture >/dev/null || { echo "smbtorture is not installed" >&2; exit 1; }

if [ -n "$samba" ]; then
	addr=${SMBD_ADDR:-127.107.0.$n}
	port=445
	trap '"$here/samba.sh" stop "$work/samba"; rm -rf "$work"' EXIT
	"$here/samba.sh" start "$work/samba" "$addr" "$work/share" || exit 1
else
	addr=${SMBD_ADDR:-127.0.0.$n}
	port=${SMBD_PORT:-4455}
	trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
	(cd "$root" && go build -o "$work/smbd" ./smbd) || exit 1
	echo "tester:Secret-42" > "$work/users"
	cat > "$work/smb.conf" <<CONF
[global]
	interfaces = $addr
	bind interfaces only = yes
	smb ports = $port
[share]
	path = $work/share
	read only = no
[tmpenc]
	path = $work/share
	read only = no
	smb encrypt = required
CONF
	"$work/smbd" -s "$work/smb.conf" -F --dev-memory-state --dev-users "$work/users" \
		>"$work/smbd.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		(echo >"/dev/tcp/$addr/$port") 2>/dev/null && break
		sleep 0.1 # polling for the listener, not waiting for a condition to settle
	done
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
	rm -rf "$work/share"/* "$work/share"/.[!.]* 2>/dev/null
	out=$(smbtorture "//$addr/$share" -p "$port" -U tester%Secret-42 --target=samba3 \
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
