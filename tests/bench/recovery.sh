#!/bin/sh
# Recovery time of volatile databases, gctdb against Debian's CTDB 4.17 in
# the same run (docs/benchmarks.md, "Recovery").
#   tests/bench/recovery.sh [-records 10000,100000] [-dbs 3] [-runs 4] [-only gctdb|ctdb]
set -eu
cd "$(dirname "$0")/../.."
make build >/dev/null
exec go run ./tests/bench/recoverybench "$@"
