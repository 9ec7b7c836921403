#!/usr/bin/env bash
# SPEC §10 "breach detector while the API writes 2,000 audit events/s: lag < 60 s; request
# throughput within 5% of the detector switched off": PAIRS interleaved pairs of
# `haven-bench --start breach-detector`, one with the detector off (HAVEN_BREACH_DETECTOR_SECS=off)
# and one with it on (every 30 s, the default), each on a fresh Haven, then the medians.
#
#   bench/breach-detector-ab.sh                  # release build, 3 pairs, 32 clients, 90 s each
#   PAIRS=5 DURATION=60s bench/breach-detector-ab.sh --no-build
#
# Environment: PAIRS (3), CONCURRENCY (32), DURATION (90s), PATIENTS (1000), LIST_LIMIT (unset:
# single reads, one audit event each; N: lists of N patients, N events per request, to reach
# the SPEC's 2,000 events/s), RESULTS (a new directory under /tmp). Needs cargo, jq and the
# PostgreSQL server binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-3}
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-90s}
PATIENTS=${PATIENTS:-1000}
RESULTS=${RESULTS:-$(mktemp -d /tmp/haven-detector-ab.XXXXXX)}
mkdir -p "$RESULTS"
if [[ ${1:-} != --no-build ]]; then
    cargo build --release --locked -p haven -p haven-bench
fi
bin=$(mktemp -d /tmp/haven-detector-bin.XXXXXX)
cp target/release/haven target/release/haven-bench "$bin/"
echo "results in $RESULTS, binaries $bin ($(git rev-parse --short HEAD))"

one() {
    local mode=$1 pair=$2
    local file="$RESULTS/$mode-$pair.json"
    local secs=30
    [[ $mode == off ]] && secs=off
    "$bin/haven-bench" --start --haven-bin "$bin/haven" --json \
        --haven-env "HAVEN_BREACH_DETECTOR_SECS=$secs" \
        breach-detector --concurrency "$CONCURRENCY" --duration "$DURATION" \
        --patients "$PATIENTS" ${LIST_LIMIT:+--list-limit "$LIST_LIMIT"} >"$file"
    jq -r --arg mode "$mode" --arg pair "$pair" \
        '"pair \($pair) detector \($mode): \(.okPerSec | floor) requests/s, \(.breachDetector.loadAuditEventsPerSec | floor) audit events/s, max lag \(.breachDetector.maxLagSecs * 10 | floor / 10) s, caught up \(.breachDetector.caughtUpSecsAfterLoad // "-") s after, other processes \(.cpu.otherCores * 100 | floor / 100) cores"' "$file"
}

for pair in $(seq "$PAIRS"); do
    one off "$pair"
    one on "$pair"
done

# Medians of each side, and the throughput cost of the detector (on against off).
median() { jq -s "map($1) | sort | .[length / 2 | floor]" "$RESULTS"/"$2"-*.json; }
off=$(median ".okPerSec | floor" off)
on=$(median ".okPerSec | floor" on)
echo "medians: off $off requests/s, on $on requests/s ($(median ".breachDetector.loadAuditEventsPerSec | floor" on) audit events/s), max lag on $(median .breachDetector.maxLagSecs on) s"
jq -n --argjson off "$off" --argjson on "$on" \
    '"detector cost: \((($off - $on) / $off * 1000 | round) / 10)% of the requests/s with it off"'
