#!/usr/bin/env bash
# The recovery time (RTO) of the embedded database: ~1 GB of data in a Haven with WAL
# archiving, a base backup taken while it serves, the data dir "lost", a restore to the end of
# the archive, and the time until /ready. For BENCHMARKS.md ("Backups"); loopback only.
#
#   BIN=target/release WORK_DIR=/var/tmp/haven-rto bench/backup_rto.sh
set -euo pipefail
R=${WORK_DIR:-/var/tmp/haven-rto}; BIN=${BIN:-target/release}/haven
mkdir -p "$R"; chmod 755 "$R"
rm -rf $R/d1 $R/d2 $R/base $R/archive
export HAVEN_DATA_DIR=$R/d1 HAVEN_WAL_ARCHIVE_DIR=$R/archive HAVEN_BIND=127.0.0.1:18181 HAVEN_METRICS_BIND=off HAVEN_LOG=warn HAVEN_BOOTSTRAP_PASSWORD=rto-operator-pass-1234
$BIN serve > $R/s1.log 2>&1 &
pid=$!
for i in $(seq 120); do curl -sf localhost:18181/ready >/dev/null && break; sleep 0.5; done
psql -h $R/d1/run -U postgres -d haven -qc "CREATE TABLE rto_bulk (organization_id uuid NOT NULL, g int NOT NULL, filler text, PRIMARY KEY (organization_id, g)); ALTER TABLE rto_bulk ENABLE ROW LEVEL SECURITY; ALTER TABLE rto_bulk FORCE ROW LEVEL SECURITY; CREATE POLICY rto_tenant ON rto_bulk USING (organization_id = current_organization_id()) WITH CHECK (organization_id = current_organization_id()); INSERT INTO rto_bulk SELECT '00000000-0000-4000-8000-000000000001', g, repeat(md5(g::text), 30) FROM generate_series(1, 1000000) g"
psql -h $R/d1/run -U postgres -d haven -Atc "SELECT pg_size_pretty(pg_database_size('haven'))"
t0=$(date +%s.%N); $BIN backup create --to $R/base; t1=$(date +%s.%N)
echo "backup create: $(echo "$t1 - $t0" | bc) s"
kill -TERM $pid; wait $pid || true
cp $R/d1/master.key $R/key; chmod 600 $R/key
t0=$(date +%s.%N)
HAVEN_DATA_DIR=$R/d2 HAVEN_MASTER_KEY_FILE=$R/key $BIN backup restore --from $R/base
t1=$(date +%s.%N)
echo "restore (copy + replay + promote): $(echo "$t1 - $t0" | bc) s"
du -sh $R/base $R/d2/pg
t0=$(date +%s.%N)
HAVEN_DATA_DIR=$R/d2 HAVEN_MASTER_KEY_FILE=$R/key $BIN serve > $R/s2.log 2>&1 &
pid=$!
for i in $(seq 600); do curl -sf localhost:18181/ready >/dev/null && break; sleep 0.1; done
t1=$(date +%s.%N)
echo "serve until /ready: $(echo "$t1 - $t0" | bc) s"
psql -h $R/d2/run -U postgres -d haven -Atc "SELECT count(*) FROM rto_bulk"
kill -TERM $pid; wait $pid || true
