#!/usr/bin/env bash
# Unit-ledger benchmarks (SPEC §10, issue 6 "Measure"): reservations at 64 clients over 1,000
# authorizations and on one hot authorization, each against pgbench running the same
# transaction (bench/pgbench/reserve{,_hot}.sql) on the same embedded cluster in the same run
# (haven-bench --pgbench runs it right after the HTTP load, before Haven is stopped); then the
# stale cleanup of 10,000 sessions among 1,000,000. Each run starts a fresh Haven (--start: data
# on /dev/shm, HAVEN_AUTH_RATE_LIMIT=1000000000). Prints every run's report; the ratio
# Haven ÷ pgbench is the "vs pgbench" row.
#
#   bench/units.sh [RUNS=3] [BIN_DIR=target/release]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
bin="${2:-target/release}"
bench="$bin/haven-bench"
[ -x "$bench" ] || { echo "build first: cargo build --release -p haven -p haven-bench" >&2; exit 1; }
echo "machine: $(nproc) cores; $(uptime)"
for n in $(seq "$runs"); do
  echo "== reserve, run $n"
  "$bench" --start reserve --concurrency 64 --duration 20s --authorizations 1000 --pgbench bench/pgbench
done
for n in $(seq "$runs"); do
  echo "== cleanup-stale, run $n"
  "$bench" --start cleanup-stale --sessions 1000000 --stale 10000 --via cli
done
for n in $(seq "$runs"); do
  echo "== reserve-hot, run $n"
  "$bench" --start reserve-hot --concurrency 64 --duration 20s --total-units 100000 --pgbench bench/pgbench
done
echo "machine after: $(uptime)"
