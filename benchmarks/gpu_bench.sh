#!/usr/bin/env bash
# Issue 15's GPU checks, one prepared run (about 5 minutes on an A100/H100-class GPU; each step
# has its own timeout so the whole stays under 8): `cnnzoo bench` on CUDA for resnet50 and
# mobilenet_v2 (fp32, TF32, bf16 and fp16 weights, bf16/fp16 autocast, channels_last,
# torch.compile), then resnet50 training images/s with AMP against NVIDIA's published figure
# (2,470 img/s, ResNet-50 v1.5 on one A100 80GB, mixed precision, DALI data loading).
#
#   bash benchmarks/gpu_bench.sh            # results under benchmarks/results/gpu/
#
# NOT RUN YET: no GPU was lent to the session that wrote it (see docs/benchmarks.md).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/log.txt"; }

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
    | tee "$OUT/gpu.txt" || { log "no GPU: nvidia-smi failed"; exit 1; }
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
    | tee -a "$OUT/gpu.txt"

# 1. The bench's own variants: weights in fp32/bf16/fp16, both layouts, eager and compile
#    (batch 1 is latency; 256 is throughput). ~2 min per model.
for m in resnet50 mobilenet_v2; do
  log "bench $m"
  timeout 150 "$PY" -m cnnzoo bench "$m" --device cuda --batch-sizes 1,32,256 \
      --precision fp32,bf16,fp16 --memory-format contiguous,channels_last \
      --backend eager,compile --repeats 20 --rounds 2 --quiet --format md \
      --append "$OUT/bench.jsonl" | tee "$OUT/bench_$m.md" || log "bench $m: failed or timed out"
done

# 2. What the bench has no flag for: TF32 matmuls/convolutions and autocast (fp32 weights),
#    inference, channels_last, batch 256. ~1 min.
log "tf32 and autocast"
timeout 120 "$PY" - <<'PY' | tee "$OUT/tf32_autocast.md" || log "tf32/autocast: failed or timed out"
import torch
from cnnzoo import create_model
from cnnzoo.bench.timing import time_callable

print("| model | mode | batch | images/s |\n|---|---|---:|---:|")
for name in ("resnet50", "mobilenet_v2"):
    m = create_model(name).cuda().eval().to(memory_format=torch.channels_last)
    x = torch.randn(256, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
    for mode in ("fp32", "tf32", "autocast bf16", "autocast fp16"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
        dtype = {"autocast bf16": torch.bfloat16, "autocast fp16": torch.float16}.get(mode)

        def step():
            with torch.no_grad(), torch.autocast("cuda", dtype=dtype or torch.float16,
                                                 enabled=dtype is not None):
                return m(x)

        t = time_callable(step, "cuda", warmup=5, repeats=20)
        print(f"| {name} | {mode} | 256 | {256 / t.median:,.0f} |", flush=True)
PY

# 3. resnet50 training step (forward, backward, SGD with momentum) with AMP: fp16 autocast and a
#    gradient scaler, channels_last, batch 256, random images already on the GPU (no data
#    loading, which NVIDIA's figure includes through DALI). Eager, then compiled. ~2 min.
log "resnet50 training with AMP"
timeout 200 "$PY" - <<'PY' | tee "$OUT/train_amp.md" || log "training: failed or timed out"
import torch
import torch.nn.functional as F
from cnnzoo import create_model
from cnnzoo.bench.timing import time_callable

NVIDIA = 2470  # img/s, ResNet-50 v1.5, 1x A100 80GB, AMP (NVIDIA Deep Learning Examples)
print("| mode | batch | images/s | vs NVIDIA's 2,470 |\n|---|---:|---:|---:|")
for compiled in (False, True):
    torch.manual_seed(0)
    model = create_model("resnet50").cuda().train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scaler = torch.amp.GradScaler("cuda")
    net = torch.compile(model) if compiled else model
    x = torch.randn(256, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (256,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = F.cross_entropy(net(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    t = time_callable(step, "cuda", warmup=10 if compiled else 5, repeats=30)
    ips = 256 / t.median
    mode = "AMP fp16, channels_last" + (", torch.compile" if compiled else "")
    print(f"| {mode} | 256 | {ips:,.0f} | {ips / NVIDIA:.2f}x |", flush=True)
PY
log "done; results in $OUT"
