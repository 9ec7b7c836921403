#!/usr/bin/env bash
# Runs the SPEC §10 scenarios of BENCHMARKS.md, each RUNS times (a fresh Haven every run), and
# prints every run's headline figures and their medians; the JSON of every run is kept.
#
#   bench/run.sh                         # build, then every scenario below, 3 runs each
#   bench/run.sh patient-read            # only some: patient-create patient-read audit-verify
#                                        #            audit-writes-1 audit-writes-100 book
#                                        #            book-series slots
#   RUNS=5 DURATION=30s bench/run.sh --no-build patient-create
#
# Each run: `haven-bench --start <scenario> ... --json` starts `haven serve` on a fresh data
# directory under /dev/shm (embedded PostgreSQL, data in memory), seeds through the API, runs the
# load, and for the patient scenarios then runs the same SQL through pgbench against the same
# cluster (bench/pgbench/*.sql, as the app role haven_app, -M prepared, same clients and
# duration): the ratio Haven ÷ pgbench is SPEC §10's "physical limit" comparison.
#
# The binaries are copied to a private directory first, so that a rebuild by someone else on the
# machine cannot swap them in the middle of a series. Needs cargo, jq, pgbench and the
# PostgreSQL server binaries.
#
# Environment: RUNS (3), CONCURRENCY (32), DURATION (20s), PATIENTS (1000), ROWS (1000000),
# RESULTS (a new directory under /tmp), PGBENCH_THREADS (2), SLOT_APPOINTMENTS (300000),
# SLOTS_RATE (10 searches/s, open loop), BIN (a directory holding haven and
# haven-bench from an earlier series, printed at its start: reuse them, build and copy nothing).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-20s}
PATIENTS=${PATIENTS:-1000}
ROWS=${ROWS:-1000000}
PGBENCH_THREADS=${PGBENCH_THREADS:-2}
SLOT_APPOINTMENTS=${SLOT_APPOINTMENTS:-300000}
SLOTS_RATE=${SLOTS_RATE:-10}

build=1
if [[ ${1:-} == --no-build ]]; then
    build=0
    shift
fi
scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 ]]; then
    scenarios=(patient-create patient-read audit-verify audit-writes-1 audit-writes-100 book
        book-series slots)
fi
for tool in jq pgbench; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not on PATH" >&2; exit 2; }
done

if [[ -n ${BIN:-} ]]; then
    # The private copies of an earlier series: more runs of the very same binaries.
    bin=$BIN
else
    if [[ $build == 1 ]]; then
        cargo build --release -p haven -p haven-bench
    fi
    bin=$(mktemp -d /tmp/haven-bench-bin.XXXXXX)
    cp target/release/haven target/release/haven-bench "$bin/"
fi
RESULTS=${RESULTS:-$(mktemp -d /tmp/haven-bench-results.XXXXXX)}
mkdir -p "$RESULTS"
{
    echo "date: $(date -Is)"
    echo "binaries: $bin"
    sha256sum "$bin/haven" "$bin/haven-bench"
    echo "nproc: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULTS/series.txt"

# The median of the numbers on standard input (one per line; "null" lines are skipped).
median() {
    grep -v '^null$' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f\n", m
    }'
}

# One scenario's haven-bench arguments.
arguments() {
    case $1 in
        patient-create)
            echo "patient-create --concurrency $CONCURRENCY --duration $DURATION" \
                "--pgbench $repo/bench/pgbench --pgbench-threads $PGBENCH_THREADS" ;;
        patient-read)
            echo "patient-read --concurrency $CONCURRENCY --duration $DURATION" \
                "--patients $PATIENTS --pgbench $repo/bench/pgbench --pgbench-threads $PGBENCH_THREADS" ;;
        audit-verify)
            echo "audit-verify --rows $ROWS" ;;
        audit-writes-1)
            echo "audit-writes --concurrency $CONCURRENCY --duration $DURATION --orgs 1" ;;
        audit-writes-100)
            echo "audit-writes --concurrency $CONCURRENCY --duration $DURATION --orgs 100" ;;
        # SPEC §10's sizes: 64 clients over 50 clinicians; 8 clients; 50 clinicians × 31 days.
        book)
            echo "book --concurrency 64 --duration $DURATION --clinicians 50 --patients 200" \
                "--pgbench $repo/bench/pgbench --pgbench-threads $PGBENCH_THREADS" ;;
        book-series)
            echo "book-series --concurrency 8 --duration $DURATION --clinicians 50 --patients 200" ;;
        slots)
            echo "slots --concurrency 32 --duration $DURATION --clinicians 50 --days 31" \
                "--appointments $SLOT_APPOINTMENTS --rate $SLOTS_RATE" ;;
        *)
            echo "run.sh: unknown scenario $1" >&2; return 2 ;;
    esac
}

# One line of headline figures from a run's JSON.
headline() {
    case $1 in
        patient-* | book)
            jq -r '"haven \(.okPerSec | floor)/s p99 \(.latency.p99Ms * 100 | round / 100) ms | pgbench \(.pgbench.tps // 0 | floor) tps p99 \(.pgbench.latency.p99Ms // 0 | . * 100 | round / 100) ms | ratio \(.percentOfPgbench // 0 | . * 10 | round / 10)% | errors \(.errors | tostring) | RSS peak \(.memory.afterLoad.peakMib // 0 | floor) MiB | other CPU \(.cpu.otherCores * 100 | round / 100) / \(.pgbench.cpu.otherCores // 0 | . * 100 | round / 100) cores"' "$2" ;;
        audit-verify)
            jq -r '"sealed \(.sealPerSec | floor)/s | verify \(.verify.perSec | floor)/s (command \(.verify.wallPerSec | floor)/s) | other CPU \(.sealCpu.otherCores * 100 | round / 100) / \(.verify.cpu.otherCores * 100 | round / 100) cores"' "$2" ;;
        book-series)
            jq -r '"\(.okPerSec * 10 | round / 10) series/s p50 \(.latency.p50Ms * 100 | round / 100) ms p99 \(.latency.p99Ms * 100 | round / 100) ms | errors \(.errors | tostring) | other CPU \(.cpu.otherCores * 100 | round / 100) cores"' "$2" ;;
        slots)
            jq -r '"\(.okPerSec * 10 | round / 10) searches/s p50 \(.latency.p50Ms * 100 | round / 100) ms p99 \(.latency.p99Ms * 100 | round / 100) ms | \(.slotsFound) slots | errors \(.errors | tostring) | other CPU \(.cpu.otherCores * 100 | round / 100) cores"' "$2" ;;
        audit-writes-*)
            jq -r '"\(.okPerSec | floor) events/s p99 \(.latency.p99Ms * 100 | round / 100) ms | backlog \(.outbox.backlogAtEnd) drained in \(.outbox.drainedSecs * 100 | round / 100) s | errors \(.errors | tostring) | other CPU \(.cpu.otherCores * 100 | round / 100) cores"' "$2" ;;
    esac
}

# The medians of a scenario's runs.
medians() {
    local scenario=$1
    shift
    local files=("$@")
    figure() { for f in "${files[@]}"; do jq -r "$1" "$f"; done | median; }
    case $scenario in
        patient-* | book)
            echo "  median: haven $(figure .okPerSec)/s, p99 $(figure .latency.p99Ms) ms;" \
                "pgbench $(figure .pgbench.tps) tps, p99 $(figure .pgbench.latency.p99Ms) ms;" \
                "ratio (per run) $(figure .percentOfPgbench)%;" \
                "haven RSS peak $(figure .memory.afterLoad.peakMib) MiB" ;;
        audit-verify)
            echo "  median: sealing $(figure .sealPerSec) events/s;" \
                "verify $(figure .verify.perSec) entries/s (whole command $(figure .verify.wallPerSec)/s)" ;;
        book-series | slots)
            echo "  median: $(figure .okPerSec)/s, p50 $(figure .latency.p50Ms) ms, p99 $(figure .latency.p99Ms) ms" ;;
        audit-writes-*)
            echo "  median: $(figure .okPerSec) events/s, p99 $(figure .latency.p99Ms) ms;" \
                "backlog at end $(figure .outbox.backlogAtEnd), drained in $(figure .outbox.drainedSecs) s" ;;
    esac
}

for scenario in "${scenarios[@]}"; do
    args=$(arguments "$scenario")
    echo
    echo "== $scenario: haven-bench --start $args --json"
    files=()
    for run in $(seq 1 "$RUNS"); do
        out="$RESULTS/$scenario-$run.json"
        # shellcheck disable=SC2086 # the arguments are words
        "$bin/haven-bench" --start --haven-bin "$bin/haven" $args --json >"$out"
        files+=("$out")
        echo "  run $run ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg)): $(headline "$scenario" "$out")"
    done
    medians "$scenario" "${files[@]}"
done
echo
echo "results: $RESULTS"
