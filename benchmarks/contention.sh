#!/bin/sh
# Threads that share: LeNet-5's recipe (`cnnzoo train lenet5 --data mnist`, the first thing
# `make demo` runs) idle, then beside two busy processes on the machine, with cnnzoo's
# OpenMP spin count (GOMP_SPINCOUNT=10000, set by `import cnnzoo`) and with libgomp's
# default (GOMP_SPINCOUNT unset is not possible once cnnzoo sets it, so the default is given
# explicitly as 300000). Target: loaded <= 3x idle (a fair share is 2x).
#   sh benchmarks/contention.sh [.venv/bin/cnnzoo]
set -u
CNNZOO=${1:-cnnzoo}
OUT=$(mktemp -d)
run() {  # label, env assignments...
    label=$1; shift
    start=$(date +%s.%N)
    env "$@" "$CNNZOO" train lenet5 --data mnist --out "$OUT/$label" --no-progress >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$label: $(echo "$end - $start" | bc) s (load $(cut -d' ' -f1 /proc/loadavg))"
}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), cores $(nproc)"
run idle X=1
hog() { python3 -c "import time; t=time.time()
while time.time() - t < 900: pass" & }
hog; h1=$!; hog; h2=$!
sleep 5
run loaded X=1
run loaded-default-spin GOMP_SPINCOUNT=300000
kill "$h1" "$h2"
rm -rf "$OUT"
