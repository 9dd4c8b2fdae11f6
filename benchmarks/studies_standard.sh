#!/bin/sh
# The committed evidence: every study in standard mode (5 seeds for the training studies,
# larger runs; sized for <= 90 minutes on 2 cores), into docs/studies/standard. The training
# runs are cached in docs/studies/standard/_runs (git-ignored): stopped, it resumes where it
# was when started again, and a study's files are replaced only when it completes.
#   nohup sh benchmarks/studies_standard.sh > /tmp/standard.log 2>&1 &
set -u
OUT=${OUT:-docs/studies/standard}
CNNZOO=${CNNZOO:-cnnzoo}
echo "== standard run: $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
# shellcheck disable=SC2086
$CNNZOO study run --standard --out "$OUT" --no-progress "$@"
status=$?
echo "== done: $(date -u), $(( $(date +%s) - start )) s, exit $status, load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
