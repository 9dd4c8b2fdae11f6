#!/bin/sh
# The training studies' full run (the paper's recipe where the data allows), in two passes:
# 3 seeds (the fewest a verdict rests on), then 5. Every pass ends with result.json files and
# the report for the seeds finished, and reuses the runs cached under $OUT/_runs (every arm
# of seed 0 before seed 1, so partial results stay paired). Killed, it resumes where it
# stopped when started again (finished runs are skipped, a run in progress continues from
# its last.pt).
#   nohup nice -n 5 sh benchmarks/studies_full.sh > /tmp/full.log 2>&1 &
set -u
OUT=${OUT:-docs/studies/full}
CNNZOO=${CNNZOO:-cnnzoo}
IDS="degradation identity lrn depthwise-accuracy v2-vs-v1 inception-aux"
for n in 3 5; do
    echo "== pass with $n seeds: $(date -u)"
    # shellcheck disable=SC2086
    $CNNZOO study run $IDS --full --seeds "$n" --out "$OUT" --no-progress \
        || echo "== pass $n stopped (exit $?); the next pass continues from the cache"
done
echo "== done: $(date -u)"
