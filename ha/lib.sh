# Shared by ha/failover-drill.sh and ha/chaos.sh (sourced, not run): running PostgreSQL tools
# as the postgres user when root, free loopback ports, bounded waits, Haven's roles and
# database on a server, and Haven's environment for an external database.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# PostgreSQL refuses to run as root: its clusters and tools run as postgres.
if [ "$(id -u)" = 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

# A fresh directory the postgres user owns, in memory when possible.
scratch_dir() { # prefix
    local base=/dev/shm
    [ -d "$base" ] && [ -w "$base" ] || base=/tmp
    local dir
    dir=$(mktemp -d "$base/$1.XXXXXX")
    chmod 0755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    echo "$dir"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

random_secret() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }

wait_for() { # seconds, description, command...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 4))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    echo "$what did not happen within ${seconds}s" >&2
    return 1
}

logged() { # log file, command...: the command's output goes to the log, shown when it fails
    local log=$1
    shift
    "$@" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}

server_sql() { # port, database, sql: as the cluster's superuser over loopback
    as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -d "$2" -XAtqc "$3"
}

# Haven's two roles and its database (README, "An external PostgreSQL"), password $2.
create_haven_database() { # port, password
    server_sql "$1" postgres "CREATE ROLE haven_owner LOGIN PASSWORD '$2'" >/dev/null
    server_sql "$1" postgres "CREATE ROLE haven_app LOGIN PASSWORD '$2' NOBYPASSRLS" >/dev/null
    server_sql "$1" postgres "CREATE DATABASE haven OWNER haven_owner" >/dev/null
    server_sql "$1" postgres "REVOKE ALL ON DATABASE haven FROM PUBLIC" >/dev/null
    server_sql "$1" postgres "GRANT CONNECT ON DATABASE haven TO haven_app" >/dev/null
}

# Exports Haven's environment for the database at hosts $1 (host:port[,host:port]) with
# password $2; the operator is operator@drill.test with $HAVEN_BOOTSTRAP_PASSWORD.
haven_environment() { # hosts, password, data dir
    export HAVEN_DATABASE_URL="postgres://haven_app:$2@$1/haven?sslmode=disable&target_session_attrs=read-write"
    export HAVEN_MIGRATE_DATABASE_URL="postgres://haven_owner:$2@$1/haven?sslmode=disable&target_session_attrs=read-write"
    HAVEN_MASTER_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
    export HAVEN_MASTER_KEY HAVEN_METRICS_BIND=off HAVEN_DATA_DIR="$3" HAVEN_LOG=warn
    HAVEN_BOOTSTRAP_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
    export HAVEN_BOOTSTRAP_EMAIL=operator@drill.test HAVEN_BOOTSTRAP_PASSWORD
    mkdir -p "$3"
}

haven_ready() { curl -sf --max-time 5 "http://$1/ready"; }
