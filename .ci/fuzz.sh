#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis (PyPI): a Haven is started
# on a fresh embedded database, a practice ADMIN logs in, and schemathesis sends generated
# requests to every documented operation with that ADMIN's token. The run fails on any 5xx, and
# on any response whose status, content type or body the document does not describe.
#
#   .ci/fuzz.sh                 # uses target/debug/haven (cargo build -p haven)
#   MAX_EXAMPLES=50 BIN=target/release .ci/fuzz.sh
#
# Before fuzzing, .ci/dpop_interop.py logs in, calls and refreshes with DPoP proofs made by
# PyJWT (an implementation independent of Haven's).
#
# The logout route is fuzzed last, in a run of its own: it ends the session the token belongs to.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/debug}
MAX_EXAMPLES=${MAX_EXAMPLES:-25}
# Zero 5xx; every status, content type and body as documented.
CHECKS=${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance}
venv=${FUZZ_VENV:-target/fuzz-venv}

if ! "$venv/bin/python" -c 'import schemathesis, jwt, cryptography' >/dev/null 2>&1; then
    echo "--- installing schemathesis and the DPoP interop client into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/fuzz-requirements.txt
fi

root=$(mktemp -d)
chmod 0755 "$root"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
operator_password="fuzz-operator-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"

echo "--- starting haven on $base"
env -i PATH="$PATH" HOME="$HOME" \
    HAVEN_DATA_DIR="$root/data" HAVEN_BIND="127.0.0.1:$port" HAVEN_METRICS_BIND=off \
    HAVEN_BOOTSTRAP_EMAIL=fuzz-operator@haven.test HAVEN_BOOTSTRAP_PASSWORD="$operator_password" \
    HAVEN_AUTH_RATE_LIMIT=1000000000 HAVEN_LOG=warn \
    "$BIN/haven" serve >"$root/haven.log" 2>&1 &
haven_pid=$!
stop() {
    kill -TERM "$haven_pid" 2>/dev/null || true
    wait "$haven_pid" 2>/dev/null || true
    rm -rf "$root"
}
trap stop EXIT

# Seed a practice, its ADMIN and one patient with an authorization; print the ADMIN's token.
token=$(python3 - "$base" "$operator_password" <<'PY'
import datetime, json, sys, time, urllib.error, urllib.request
base, operator_password = sys.argv[1], sys.argv[2]

def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        if path == "/ready":
            raise
        sys.exit(f"seeding: {method} {path} answered {error.code}: {error.read()[:300]!r}")

for _ in range(240):
    try:
        call("GET", "/ready")
        break
    except (urllib.error.URLError, ConnectionError):
        time.sleep(0.5)
else:
    sys.exit("haven did not become ready")

operator = call("POST", "/api/auth/login",
                {"email": "fuzz-operator@haven.test", "password": operator_password})["token"]
admin_password = "copper-meadow-lantern-" + operator_password[-12:]
call("POST", "/api/admin/organizations", {
    "name": "Fuzz Practice", "adminEmail": "fuzz-admin@haven.test",
    "adminPassword": admin_password, "adminFirstName": "Fuzz", "adminLastName": "Admin",
}, operator)
admin = call("POST", "/api/auth/login",
             {"email": "fuzz-admin@haven.test", "password": admin_password})["token"]
patient = call("POST", "/api/patients", {
    "firstName": "Avery", "lastName": "Fuzz", "dateOfBirth": "2015-04-03",
    "medicalRecordNumber": "FUZZ-1",
}, admin)["patient"]["id"]
today = datetime.date.today()
call("POST", "/api/authorizations", {
    "patientId": patient, "payerName": "Fuzz Health", "serviceCode": "97153",
    "totalUnits": 1000, "startDate": today.isoformat(),
    "endDate": (today + datetime.timedelta(days=365)).isoformat(),
}, admin)
print(admin)
PY
)

echo "--- DPoP against an independent implementation (PyJWT, cryptography)"
"$venv/bin/python" .ci/dpop_interop.py "$base" fuzz-operator@haven.test "$operator_password"

# One worker: with two threads, hypothesis parses lambda sources with `ast` concurrently, and
# CPython 3.11's ast recursion counter is not thread-safe ("AST constructor recursion depth
# mismatch", gh-106905): a runtime error of the tool, not a finding about Haven.
fuzz() {
    "$venv/bin/schemathesis" run "$base/api/openapi.json" \
        --header "Authorization: Bearer $token" \
        --checks "$CHECKS" \
        --phases examples,coverage,fuzzing \
        --max-examples "$MAX_EXAMPLES" \
        --workers 1 \
        --request-timeout 30 \
        --seed 20261206 \
        --no-color \
        "$@"
}

status=0
echo "--- schemathesis: every operation but logout"
fuzz --exclude-path /api/auth/logout || status=$?
echo "--- schemathesis: logout"
fuzz --include-path /api/auth/logout || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- haven's log (last 100 lines)"
    tail -n 100 "$root/haven.log"
fi
exit "$status"
