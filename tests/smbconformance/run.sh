#!/bin/bash
# Run smbtorture tests against gctdb's smbd.
#
#   tests/smbconformance/run.sh            run every test in passing.txt
#   tests/smbconformance/run.sh smb2.lock  run the named tests or suites
#
# Starts smbd (development in-memory state store) on 127.0.0.$HOSTNUM with
# a temporary share, prints one line per test and "N passed, N failed",
# and exits non-zero if a test failed. Later this runner starts a gctdb
# cluster through the local-daemons harness instead.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
addr=${SMBD_ADDR:-127.0.0.$(( (RANDOM % 200) + 20 ))}
port=${SMBD_PORT:-4455}
work=$(mktemp -d /tmp/gctdb-smbconf.XXXXXX)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT

command -v smbtorture >/dev/null || { echo "smbtorture is not installed" >&2; exit 1; }
(cd "$root" && go build -o "$work/smbd" ./smbd) || exit 1
mkdir "$work/share"
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
		case $res in
		success:) passed=$((passed + 1)); echo "ok   $name ${tname%% *}" ;;
		failure:|error:) failed=$((failed + 1)); echo "FAIL $name ${tname%% *}" ;;
		skip:) echo "skip $name ${tname%% *}" ;;
		esac
	done < <(grep -E '^(success|failure|error|skip): ' <<<"$out")
done <<<"$list"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
