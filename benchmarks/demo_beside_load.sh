#!/bin/sh
# `make demo` in a fresh clone while other work keeps the machine busy: the issue-23 target
# (<= 12 minutes at a 1-minute load of 2 before it starts). The other work starts first, and
# the demo once the 1-minute load has reached 2 (at most 5 minutes later):
#   hogs N [S]    N busy Python processes, stopped S seconds after the demo starts (no S:
#                 they run for the whole demo, the strictest case; S = 0: the load is 2 at
#                 the start, but from work that has just ended)
#   job EPOCHS [S] LeNet-5 trained for EPOCHS (~1.1 s each alone) on 2 threads, the old
#                 default: another job that ends while the demo runs (or is stopped
#                 S seconds after the demo starts)
#   idle          nothing else
# Prints one line: wall seconds, load before and after, the studies' and LeNet-5's times.
#   sh benchmarks/demo_beside_load.sh REPO hogs 2
#   sh benchmarks/demo_beside_load.sh REPO hogs 2 300
#   sh benchmarks/demo_beside_load.sh REPO job 300
set -u
REPO=$1; KIND=$2; AMOUNT=${3:-0}; STOP_AFTER=${4:-}
WORK=$(mktemp -d)
git clone -q "$REPO" "$WORK/demo"
pids=""
case $KIND in
  hogs)
    i=0
    while [ "$i" -lt "$AMOUNT" ]; do
      python3 -c "import time; t=time.time()
while time.time() - t < 3600: pass" &
      pids="$pids $!"; i=$((i + 1))
    done ;;
  job)
    # LeNet-5 on the embedded digits: ~1.1 s an epoch on 2 idle threads (the old default).
    "$REPO/.venv/bin/cnnzoo" train lenet5 --data mnist --epochs "$AMOUNT" --threads 2 \
        --no-progress --out "$WORK/other" > "$WORK/other.log" 2>&1 &
    pids="$!" ;;
  idle) ;;
  *) echo "usage: demo_beside_load.sh REPO hogs N [STOP_AFTER_S] | job EPOCHS [STOP_AFTER_S] | idle" >&2; exit 2 ;;
esac
if [ "$KIND" != idle ]; then
  waited=0
  while [ "$waited" -lt 300 ] && \
        [ "$(awk '{print ($1 >= 2.0)}' /proc/loadavg)" = 0 ]; do
    sleep 5; waited=$((waited + 5))
  done
fi
before=$(cut -d' ' -f1-4 /proc/loadavg)
start=$(date +%s)
stopper=""
if [ -n "$STOP_AFTER" ] && [ -n "$pids" ]; then
  # Its own output closed: a killed stopper's sleep must not hold a pipe open.
  (sleep "$STOP_AFTER" && for p in $pids; do kill "$p"; done) >/dev/null 2>&1 &
  stopper=$!
fi
(cd "$WORK/demo" && make demo > "$WORK/demo.log" 2>&1); rc=$?
end=$(date +%s)
studies=$(grep -o "studies in [0-9]* s" "$WORK/demo.log" | tail -1)
lenet=$(grep -o "[0-9.]* s of training" "$WORK/demo.log" | head -1)
other=""
[ "$KIND" = job ] && other="; the other job: $(grep -o '[0-9.]* s of training' "$WORK/other.log" | tail -1)"
[ -n "$stopper" ] && kill "$stopper" 2>/dev/null
echo "$KIND $AMOUNT${STOP_AFTER:+ (stopped after $STOP_AFTER s)}: make demo rc $rc, $((end - start)) s; load before $before, after" \
     "$(cut -d' ' -f1-4 /proc/loadavg); LeNet-5 $lenet; $studies$other;" \
     "cpu$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores"
for p in $pids; do kill "$p" 2>/dev/null; done
cp "$WORK/demo.log" "/tmp/demo_beside_load_${KIND}_${AMOUNT}${STOP_AFTER:+_$STOP_AFTER}.log"
rm -rf "$WORK"
