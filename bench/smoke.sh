#!/usr/bin/env bash
# A smoke run of every haven-bench scenario, in seconds and with tiny sizes, so the tool cannot
# rot: CI runs it after the tests. It asserts that each scenario ran, answered requests and, for
# the unit and booking scenarios, that the ledger invariant held and (bookings) that no
# appointments overlap (haven-bench itself fails loudly when either breaks). It asserts no
# speed: the figures of a smoke run mean nothing.
#
#   bench/smoke.sh            # uses target/debug (built by `cargo build -p haven -p haven-bench`)
#   BIN=target/release bench/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/debug}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() {
    local name=$1
    shift
    echo "--- haven-bench smoke: $name"
    "$BIN/haven-bench" --start --haven-bin "$BIN/haven" --json "$@" >"$out/$name.json"
    python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
with open(path) as f:
    result = json.load(f)
def find(obj, key):
    """Every value of `key` anywhere in the result."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from find(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from find(v, key)
ledgers = list(find(result, "ledger"))
for ledger in ledgers:
    assert ledger.get("inconsistent") == 0, f"{name}: ledger broken: {ledger}"
if name.startswith(("reserve", "book")):
    assert ledgers, f"{name}: no ledger check in the result"
calendars = list(find(result, "calendar"))
for calendar in calendars:
    assert calendar.get("clinicianOverlaps") == 0 and calendar.get("patientOverlaps") == 0, \
        f"{name}: overlapping appointments: {calendar}"
if name.startswith("book"):
    assert calendars, f"{name}: no calendar check in the result"
ok = [v for v in find(result, "ok") if isinstance(v, int)]
print(f"{name}: ran ({len(ledgers)} ledger checks held, successes {ok[:3]})")
PY
}

run login login --concurrency 2 --duration 2s --hash-samples 2
run patient-create patient-create --concurrency 2 --duration 2s --pgbench bench/pgbench
run patient-read patient-read --concurrency 2 --duration 2s --patients 5 --pgbench bench/pgbench --haven-pool 4
run patient-read-open patient-read --concurrency 4 --duration 2s --patients 5 --rate 40
run patient-read-dpop patient-read-dpop --concurrency 2 --duration 1s --patients 5 --pairs 1
run patient-read-dpop-eddsa patient-read-dpop --concurrency 2 --duration 1s --patients 5 --pairs 2 --presign --eddsa
run breach-detector --haven-env HAVEN_BREACH_DETECTOR_SECS=1 breach-detector --concurrency 2 --duration 2s --patients 6 --list-limit 2 --catch-up-secs 30
run reserve reserve --concurrency 4 --duration 2s --authorizations 5 --patients 2 --pgbench bench/pgbench
run reserve-open reserve --concurrency 4 --duration 2s --authorizations 5 --patients 2 --rate 40
run reserve-hot reserve-hot --concurrency 4 --duration 2s --pgbench bench/pgbench
run cleanup-stale cleanup-stale --sessions 200 --stale 20 --authorizations 5
run audit-verify audit-verify --rows 2000 --seal-timeout 2m --ab-segments 1,2 --ab-pairs 1
run audit-writes audit-writes --concurrency 2 --duration 2s --pool 4
run note-read note-read --concurrency 2 --duration 2s --notes 5
run note-sign note-sign --concurrency 2 --duration 2s --notes-per-client 40
run book book --concurrency 4 --duration 2s --clinicians 3 --patients 4 --pgbench bench/pgbench --haven-pool 2
run book-series book-series --concurrency 2 --duration 2s --clinicians 2 --patients 3
run slots slots --concurrency 2 --duration 2s --clinicians 3 --patients 3 --appointments 2000 --rate 5
run realtime realtime --sockets 10 --duration 2s --rate 5 --concurrency 2
run charge-export charge-export --charges 40
echo "--- haven-bench smoke: every scenario ran"
