#!/bin/sh
# Threads that share: LeNet-5's recipe (`cnnzoo train lenet5 --data mnist`, the first thing
# `make demo` runs) idle, then beside two busy processes, (a) as the trainer chooses by
# default (the cores other processes leave free, judged again every 2 s) and (b) on a fixed
# 2 threads, the count it used before. Target: loaded <= 3x idle (a fair share is 2x).
#   sh benchmarks/contention.sh [.venv/bin/cnnzoo]
set -u
CNNZOO=${1:-cnnzoo}
OUT=$(mktemp -d)
run() {  # label, extra cnnzoo train arguments...
    label=$1; shift
    before=$(cut -d' ' -f1,4 /proc/loadavg)
    start=$(date +%s.%N)
    "$CNNZOO" train lenet5 --data mnist --out "$OUT/$label" --no-progress "$@" >"$OUT/$label.log" 2>&1
    end=$(date +%s.%N)
    shared=$(grep -c "other processes busy" "$OUT/$label.log")
    echo "$label: $(echo "$end - $start" | bc) s (load, running/tasks before: $before;" \
         "after: $(cut -d' ' -f1,4 /proc/loadavg); epochs on fewer threads: $shared)"
}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), cores $(nproc)"
run idle
hog() { python3 -c "import time; t=time.time()
while time.time() - t < 1200: pass" & }
hog; h1=$!; hog; h2=$!
sleep 5
run loaded
run loaded-2-threads --threads 2
kill "$h1" "$h2"
rm -rf "$OUT"
