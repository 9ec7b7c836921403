#!/usr/bin/env bash
# Where the haven process's CPU goes under a load (issue 22): runs `haven-bench --start
# <scenario>` on the release build, attaches `perf record --call-graph dwarf` to the started
# haven for RECORD seconds once the load runs, then breaks the samples down by layer
# (bench/perf-layers.py).
#
#   bench/profile.sh patient-read            # or patient-create, reserve ...
#   NO_BUILD=1 DELAY=25 RECORD=20 DURATION=50s bench/profile.sh patient-create
#   NO_BUILD=1 bench/profile.sh patient-read-dpop --pairs 2 --presign   # more scenario options
#
# Environment: DURATION of the load (45s), DELAY before recording (20 s: start-up, seeding and
# warm-up come first; 1,000 patients seed in ~5 s on 2 cores), RECORD seconds (15), FREQ
# samples/s (499), CONCURRENCY (32), OUT directory (a new one under /tmp), BIN (see below),
# NO_BUILD (set: use the build as it is). Needs perf
# (Debian: `apt-get install linux-perf`) and root or kernel.perf_event_paranoid <= 1.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: bench/profile.sh <scenario> [haven-bench options of the scenario...]}
shift
DURATION=${DURATION:-45s}
DELAY=${DELAY:-20}
RECORD=${RECORD:-15}
FREQ=${FREQ:-499}
CONCURRENCY=${CONCURRENCY:-32}
OUT=${OUT:-$(mktemp -d /tmp/haven-profile.XXXXXX)}
mkdir -p "$OUT"
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
if [[ -z ${NO_BUILD:-} && -z ${BIN:-} ]]; then
    cargo build --release --locked -p haven -p haven-bench
fi
# BIN: a directory with haven and haven-bench to profile instead of a private copy of the build.
if [[ -n ${BIN:-} ]]; then
    bin=$BIN
else
    bin=$(mktemp -d /tmp/haven-profile-bin.XXXXXX)
    cp target/release/haven target/release/haven-bench "$bin/"
fi

"$bin/haven-bench" --start --haven-bin "$bin/haven" "$scenario" \
    --concurrency "$CONCURRENCY" --duration "$DURATION" "$@" >"$OUT/bench.txt" 2>&1 &
bench=$!
sleep "$DELAY"
pid=$(pgrep -n -f "^$bin/haven serve" || true)
if [[ -z $pid ]]; then
    echo "no started haven found" >&2
    kill "$bench" 2>/dev/null || true
    exit 1
fi
echo "recording haven ($pid) for $RECORD s at $FREQ Hz into $OUT/perf.data"
perf record -q -F "$FREQ" --call-graph dwarf,16384 -p "$pid" -o "$OUT/perf.data" -- sleep "$RECORD"
wait "$bench"
perf script -i "$OUT/perf.data" 2>/dev/null >"$OUT/perf.txt"
bench/perf-layers.py <"$OUT/perf.txt" | tee "$OUT/layers.txt"
echo "--- the load (haven-bench)"
cat "$OUT/bench.txt"
echo "samples and breakdown in $OUT"
