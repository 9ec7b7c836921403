#!/usr/bin/env bash
# The failover drill (issue 24): pg_auto_failover — a monitor, a primary and a synchronous
# standby, each a private cluster on loopback ports in a fresh directory — and one Haven
# connected to both nodes with a multi-host URL (target_session_attrs=read-write). Under a load
# of patient creates, unit reservations and audited reads (`haven-bench failover`), the primary
# (its postgres and its pg_autoctl keeper) is killed with SIGKILL; the monitor promotes the
# standby and Haven's pool follows it by itself. haven-bench then checks that every acknowledged
# write is on the new primary, that the unit ledger holds and that the audit outbox drains; this
# script checks that /ready never hung (every poll answered within 5 s; 503 during the outage)
# and that `haven audit verify` passes on the new primary. Bounded: the load runs
# DRILL_DURATION, the whole drill stops after DRILL_TIMEOUT seconds.
#
#   ha/failover-drill.sh                       # target/debug; CI runs it after the tests
#   BIN=target/release DRILL_DURATION=60s ha/failover-drill.sh
#
# Runs as root (the clusters run as the postgres user) or as an ordinary user. Needs the Debian
# package postgresql-15-auto-failover (installed when missing and root).
set -euo pipefail
cd "$(dirname "$0")/.."

. ha/lib.sh
BIN=${BIN:-target/debug}
DURATION=${DRILL_DURATION:-40s}
KILL_AFTER=${DRILL_KILL_AFTER:-10s}
TIMEOUT=${DRILL_TIMEOUT:-600}
CONCURRENCY=${DRILL_CONCURRENCY:-8}

if ! command -v pg_autoctl >/dev/null 2>&1 || ! [ -f "$PG_BIN/../lib/pgautofailover.so" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "pg_autoctl missing: apt-get install postgresql-15-auto-failover" >&2
        exit 1
    fi
    echo "--- installing pg_auto_failover (postgresql-15-auto-failover)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-15-auto-failover pg-auto-failover-cli
fi
AUTOCTL=$(command -v pg_autoctl)

dir=$(scratch_dir haven-failover)
haven_pid=
poller_pid=

cleanup() {
    set +e
    [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null
    [ -n "$haven_pid" ] && kill "$haven_pid" 2>/dev/null && wait "$haven_pid" 2>/dev/null
    # Every keeper of this drill with its services and server: each leads its own session.
    for pid_file in "$dir"/*/postmaster.pid; do
        [ -s "$pid_file" ] || continue
        session=$(ps -o sid= -p "$(head -1 "$pid_file")" | tr -d ' ')
        [ -n "$session" ] && pkill -KILL -s "$session"
    done
    [ -s "$dir/sessions" ] && while read -r session; do pkill -KILL -s "$session"; done <"$dir/sessions"
    sleep 0.5
    # Haven's own log of the drill (warnings and errors; no PHI is ever logged) survives it.
    [ -f "$dir/haven.log" ] && cp "$dir/haven.log" "${DRILL_LOG:-/tmp/haven-failover-drill.log}"
    [ -f "$dir/ready.txt" ] && cp "$dir/ready.txt" "${DRILL_LOG:-/tmp/haven-failover-drill.log}.ready"
    rm -rf "$dir"
}
# The watchdog holds none of the script's output open (a pipe reading it would wait for it).
( exec </dev/null >/dev/null 2>&1; sleep "$TIMEOUT"; kill -TERM $$ ) &
watchdog=$!
on_exit() {
    local status=$?
    set +e
    pkill -P "$watchdog" 2>/dev/null
    kill "$watchdog" 2>/dev/null
    [ "$status" = 0 ] || tail -n 20 "$dir"/*.log >&2
    cleanup
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'echo "failover drill: stopped (TERM: the ${TIMEOUT}s bound or a signal)" >&2; exit 143' TERM

monitor_port=$(free_port)
node_ports=("$(free_port)" "$(free_port)")
haven_port=$(free_port)

keeper() { # name: runs `pg_autoctl run` for $dir/name in the background, logging to name.log
    as_pg setsid "$AUTOCTL" run --pgdata "$dir/$1" >"$dir/$1.log" 2>&1 &
}

echo "--- pg_auto_failover monitor on 127.0.0.1:$monitor_port"
logged "$dir/create-monitor.log" as_pg "$AUTOCTL" create monitor --pgctl "$PG_BIN/pg_ctl" --pgdata "$dir/monitor" \
    --pgport "$monitor_port" --hostname 127.0.0.1 --auth trust --no-ssl
keeper monitor
monitor_sql() { server_sql "$monitor_port" pg_auto_failover "$1"; }
wait_for 30 "the monitor accepting connections" monitor_sql "SELECT 1"
# Detect a dead primary in seconds rather than the default minute (health checks every second,
# one retry, unhealthy after 5 s without a keeper report, no long demote wait for a node whose
# keeper is gone with it).
monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_period = 1000" >/dev/null
monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000" >/dev/null
monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1" >/dev/null
monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500" >/dev/null
monitor_sql "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 5000" >/dev/null
monitor_sql "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000" >/dev/null
monitor_sql "SELECT pg_reload_conf()" >/dev/null
monitor_uri="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"

node_state() { monitor_sql "SELECT reportedstate FROM pgautofailover.node WHERE nodename = '$1'"; }
in_state() { [ "$(node_state "$1")" = "$2" ]; }

for n in 1 2; do
    port=${node_ports[$((n - 1))]}
    echo "--- node$n on 127.0.0.1:$port"
    logged "$dir/create-node$n.log" as_pg "$AUTOCTL" create postgres --pgctl "$PG_BIN/pg_ctl" --pgdata "$dir/node$n" \
        --pgport "$port" --hostname 127.0.0.1 --auth trust --no-ssl --monitor "$monitor_uri" \
        --name "node$n" --replication-quorum true
    keeper "node$n"
    if [ "$n" = 1 ]; then
        wait_for 60 "node1 running alone" in_state node1 single
    fi
done
wait_for 120 "node2 becoming the synchronous standby" in_state node2 secondary
wait_for 30 "node1 reporting primary" in_state node1 primary
for node in monitor node1 node2; do # the keepers' sessions, for the cleanup
    ps -o sid= -p "$(head -1 "$dir/$node/postmaster.pid")" | tr -d ' ' >>"$dir/sessions"
done
echo "synchronous_standby_names on node1: $(server_sql "${node_ports[0]}" postgres 'SHOW synchronous_standby_names')"
echo "synchronous_commit on node1: $(server_sql "${node_ports[0]}" postgres 'SHOW synchronous_commit')"

echo "--- Haven's roles and database on the primary (README: An external PostgreSQL)"
password=$(random_secret)
create_haven_database "${node_ports[0]}" "$password"
hosts="127.0.0.1:${node_ports[0]},127.0.0.1:${node_ports[1]}"
haven_environment "$hosts" "$password" "$dir/haven"
export HAVEN_BIND="127.0.0.1:$haven_port" HAVEN_AUTH_RATE_LIMIT=100000
echo "--- haven serve on 127.0.0.1:$haven_port (hosts $hosts)"
"$BIN/haven" serve >"$dir/haven.log" 2>&1 &
haven_pid=$!
wait_for 120 "Haven ready" haven_ready "127.0.0.1:$haven_port"

# /ready during the whole drill: every answer within 5 s (000 = no answer in time: a hang).
( while :; do
      printf '%s %s\n' "$(date +%s.%N)" \
          "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$haven_port/ready")"
      sleep 0.5
  done ) >"$dir/ready.txt" 2>/dev/null &
poller_pid=$!

cat >"$dir/kill-primary.sh" <<EOF
#!/bin/sh
# SIGKILL the current primary as if its host died: its keeper's whole process group (the
# supervisor and its services, which would otherwise restart postgres), then its postmaster.
set -e
primary=\$($PG_BIN/psql -h 127.0.0.1 -p $monitor_port -U autoctl_node -d pg_auto_failover -XAtqc \
    "SELECT nodename FROM pgautofailover.node WHERE reportedstate = 'primary'")
[ -n "\$primary" ]
echo "killing \$primary" >&2
# The keeper leads its own session (setsid), the postmaster it started among it: everything in
# that session dies at once.
pkill -KILL -s "\$(ps -o sid= -p "\$(head -1 "$dir/\$primary/postmaster.pid")" | tr -d ' ')"
echo "\$primary" >"$dir/killed"
EOF
chmod +x "$dir/kill-primary.sh"

echo "--- haven-bench failover: $CONCURRENCY clients for $DURATION, the primary killed after $KILL_AFTER"
"$BIN/haven-bench" --url "http://127.0.0.1:$haven_port" \
    --operator-email "$HAVEN_BOOTSTRAP_EMAIL" --operator-password "$HAVEN_BOOTSTRAP_PASSWORD" \
    ${DRILL_JSON:+--json} failover --concurrency "$CONCURRENCY" --duration "$DURATION" \
    --kill "$dir/kill-primary.sh" --kill-after "$KILL_AFTER" \
    --owner-url "$HAVEN_MIGRATE_DATABASE_URL" | tee "$dir/bench.out"

kill "$poller_pid" 2>/dev/null || true
wait "$poller_pid" 2>/dev/null || true
poller_pid=
killed=$(cat "$dir/killed")
survivor=node1
[ "$killed" = node1 ] && survivor=node2
echo "--- after: $killed killed, $survivor is $(node_state "$survivor")"
killed_port=${node_ports[0]}
[ "$killed" = node2 ] && killed_port=${node_ports[1]}
if server_sql "$killed_port" postgres "SELECT 1" >/dev/null 2>&1; then
    echo "failover drill: the killed primary ($killed) answers again: it was not really killed" >&2
    exit 1
fi
python3 - "$dir/ready.txt" <<'PY'
import sys
codes = [line.split()[1] for line in open(sys.argv[1]) if len(line.split()) == 2]
hung = codes.count("000")
print(f"/ready polled {len(codes)} times: " + ", ".join(f"{c} ×{codes.count(c)}" for c in sorted(set(codes))))
assert hung == 0, f"/ready did not answer within 5 s {hung} times"
assert "503" in codes, "/ready never answered 503: the outage was not seen"
assert codes[-1] == "200", "/ready is not 200 at the end"
PY

echo "--- haven audit verify on the new primary"
"$BIN/haven" audit verify
echo "failover drill: passed"
