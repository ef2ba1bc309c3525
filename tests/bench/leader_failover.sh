#!/bin/sh
# Leader failover, gctdb against Debian's CTDB 4.17 in the same run: the
# time from kill -9 and from SIGSTOP of the leader's ctdbd until the
# other nodes agree on a new leader (docs/benchmarks.md, "Leader
# failover").
#   tests/bench/leader_failover.sh [-runs 20] [-cap 30s] [-only gctdb|ctdb]
set -eu
cd "$(dirname "$0")/../.."
make build >/dev/null
exec go run ./tests/bench/leaderfailover "$@"
