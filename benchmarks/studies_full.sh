#!/bin/sh
# The training studies' full run, in passes of 1, 2 and 3 seeds: every pass ends with
# result.json files and the report for the seeds finished so far (balanced: seed 0 of every
# model before seed 1), and reuses the runs cached under docs/studies/_runs. Killed, it
# resumes where it stopped when started again (finished runs are skipped, a run in progress
# continues from its last.pt).
#   nohup nice -n 5 sh benchmarks/studies_full.sh > /tmp/full.log 2>&1 &
set -u
OUT=${OUT:-docs/studies}
THREADS=${THREADS:-2}
IDS="degradation identity lrn depthwise-accuracy v2-vs-v1 inception-aux"
for n in 1 2 3; do
    echo "== pass with $n seed(s): $(date -u)"
    # shellcheck disable=SC2086
    cnnzoo study run $IDS --full --seeds "$n" --out "$OUT" --threads "$THREADS" --no-progress \
        || echo "== pass $n stopped (exit $?); the next pass continues from the cache"
done
echo "== done: $(date -u)"
