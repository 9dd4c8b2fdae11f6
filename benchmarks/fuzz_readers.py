"""Fuzz benchmark for the readers: many mutated files each, in a subprocess per reader.

    nice python benchmarks/fuzz_readers.py [--n 10000] [--readers idx,cifar,image,checkpoint]

Each reader gets --n inputs made from valid files (random bytes, truncations, flipped bytes,
header fields overwritten with huge numbers, chunks repeated, gzip wrapped). A worker
process reads them one by one; the parent watches it:
- crash: the worker died (a signal such as SIGSEGV) or the reader raised anything but the
  reader's own clear error (DatasetError, UsageError, CheckpointError);
- hang: one input took more than --hang seconds;
- balloon: the worker's peak RSS while reading one input (Linux's VmHWM, reset before each
  input through /proc/self/clear_refs) rose by more than 100 MiB above its RSS before it,
  beyond what the input could honestly need: the size its header declares, bounded by the
  dataset's spec (IDX) or cnnzoo's image cap (8 bytes a pixel: Pillow's decoded canvas and
  its RGB copy, 4 bytes a pixel each), or else 4x its own length.
A crashed or hung worker is restarted after the input that broke it. Results are printed and
written to benchmarks/results/fuzz_readers.json.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import pickle
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1 << 20
SLACK = 100 * MIB


# -- inputs ---------------------------------------------------------------------------------

def _valid_files() -> dict[str, list[bytes]]:
    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.data_fakes import cifar_batch_bytes, cifar_batch_bytes_py2, idx_bytes

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    images = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP"):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(buf, fmt)
        images.append(buf.getvalue())
    ckpt = io.BytesIO()
    torch.save({"version": 1, "epoch": 1, "model": {"w": torch.ones(4, 4)},
                "history": [{"epoch": 1, "test_top1": 0.5}]}, ckpt)
    batch = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    return {
        "idx": [idx_bytes(x), idx_bytes(np.arange(3, dtype=np.uint8))],
        "cifar": [cifar_batch_bytes(batch, [1, 2]), cifar_batch_bytes_py2(batch, [3, 4]),
                  pickle.dumps({b"data": batch, b"labels": [5, 6]}, protocol=4)],
        "image": images,
        "checkpoint": [ckpt.getvalue()],
    }


_BIG = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000, 60001, 10**9, 0]


def mutate(seed: bytes, rng: random.Random, gz: bool) -> bytes:
    kind = rng.randrange(7)
    data = bytearray(seed)
    if kind == 0:
        data = bytearray(rng.randbytes(rng.randrange(0, 2048)))
    elif kind == 1:
        data = data[: rng.randrange(0, len(data) + 1)]
    elif kind == 2:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 3:  # a length or dimension field made huge
        at = rng.randrange(max(1, len(data) - 4))
        big = rng.choice(_BIG)
        data[at:at + 4] = struct.pack(rng.choice(["<I", ">I"]), big)
    elif kind == 4:  # a chunk repeated
        a = rng.randrange(len(data))
        b = min(len(data), a + rng.randrange(1, 64))
        data[a:a] = data[a:b] * rng.randint(1, 50)
    elif kind == 5:  # a byte inserted or deleted
        at = rng.randrange(len(data))
        if rng.random() < 0.5:
            del data[at]
        else:
            data.insert(at, rng.randrange(256))
    else:
        pass  # the valid file itself (and, gzipped below, its gzip form)
    out = bytes(data)
    if gz:
        out = gzip.compress(out)
        if rng.random() < 0.3:  # damage the compressed stream too
            cut = bytearray(out)
            cut[rng.randrange(len(cut))] = rng.randrange(256)
            out = bytes(cut[: rng.randrange(1, len(cut) + 1)])
    return out


def inputs(reader: str, n: int, seed: int) -> list[bytes]:
    rng = random.Random(f"{reader}-{seed}")
    seeds = _valid_files()[reader]
    return [mutate(rng.choice(seeds), rng, gz=reader == "idx" and rng.random() < 0.4)
            for _ in range(n)]


# -- the worker -----------------------------------------------------------------------------

def _honest(reader: str, data: bytes) -> int:
    """Bytes the input could honestly need beyond its own copy."""
    if reader == "idx":
        try:  # the header's declared size, within MNIST's bounds (60,000 x 28 x 28)
            raw = gzip.decompress(data)[:16] if data[:2] == b"\x1f\x8b" else data[:16]
        except Exception:  # noqa: BLE001
            raw = b""
        if len(raw) >= 8 and raw[3] in (1, 3):
            return min(int.from_bytes(raw[4:8], "big"), 60000) * (784 if raw[3] == 3 else 1)
        return 0
    if reader == "image":
        import warnings

        from PIL import Image

        from cnnzoo.data.pipeline import MAX_IMAGE_PIXELS

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w, h = Image.open(io.BytesIO(data)).size
        except Exception:  # noqa: BLE001 - no readable header: it declares nothing
            return 4 * len(data)
        return max(4 * len(data), 8 * w * h if w * h <= MAX_IMAGE_PIXELS else 0)
    return 4 * len(data)


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so each input is measured alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def worker(reader: str, n: int, seed: int, start: int, progress: Path) -> None:
    from cnnzoo.errors import CheckpointError, DatasetError, UsageError

    allowed = (DatasetError, UsageError, CheckpointError)
    cases = inputs(reader, n, seed)
    tmp = progress.parent  # the parent's folder: removed by it, even after a crash
    path = tmp / ("input.gz" if reader == "idx" else "input")

    def read(i: int, data: bytes) -> None:
        if reader == "cifar":
            from cnnzoo.data.cifar import parse_batch

            parse_batch(data, "fuzz", "labels", 10, max_images=10000)
            return
        path.write_bytes(data)
        if reader == "idx":
            from cnnzoo.data.idx import read_idx

            read_idx(path, 3 if i % 2 == 0 else 1, max_items=60000,
                     item_shape=(28, 28) if i % 2 == 0 else None)
        elif reader == "image":
            from cnnzoo.data.folder import decode
            from cnnzoo.train.images import Expected, read_for_training_data

            try:
                decode(path, 32)
            finally:
                read_for_training_data(path, Expected(3, (32, 32), "fuzz"))
        else:
            from cnnzoo.train.checkpoint import load_checkpoint

            load_checkpoint(path)

    with contextlib.suppress(allowed):
        read(0, _valid_files()[reader][0])  # warm the imports before the baseline
    worst = float("-inf")
    per_input = _reset_peak()  # else: the process's peak since start, as a fallback
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(progress, "a") as log:
        for i in range(start, n):
            log.write(f"start {i}\n")
            log.flush()
            if per_input:
                _reset_peak()
                base = _status_bytes("VmRSS")
            outcome = "ok"
            try:
                read(i, cases[i])
            except allowed:
                outcome = "error"
            except Exception as e:  # noqa: BLE001 - exactly what the benchmark counts
                outcome = f"crash {type(e).__name__}: {str(e)[:120]}"
            peak = (_status_bytes("VmHWM") if per_input
                    else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
            over = peak - base - len(cases[i]) - _honest(reader, cases[i])
            if over > SLACK:
                outcome = f"balloon {over // MIB} MiB (input {i})"
                base = peak  # report each jump once
            if over > worst:
                worst = over
                log.write(f"over {i} {over / MIB:.1f}\n")  # the largest rise so far
            log.write(f"done {i} {outcome}\n")
            log.flush()


# -- the parent -----------------------------------------------------------------------------

def run_reader(reader: str, n: int, seed: int, hang: float) -> dict:
    progress = Path(tempfile.mkdtemp(prefix=f"fuzz-{reader}-")) / "progress.log"
    results: dict[int, str] = {}
    start, t0 = 0, time.monotonic()
    while start < n:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", reader, "--n", str(n),
                                 "--seed", str(seed), "--start", str(start),
                                 "--progress", str(progress)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        last_seen, last_change, current = None, time.monotonic(), None
        skip = len(progress.read_text().splitlines()) if progress.exists() else 0
        while proc.poll() is None:
            time.sleep(0.2)
            # Only this worker's lines: its start-up is not a hang of the last input.
            lines = progress.read_text().splitlines()[skip:] if progress.exists() else []
            if lines and lines[-1] != last_seen:
                last_seen, last_change = lines[-1], time.monotonic()
            if lines and lines[-1].startswith("start ") and time.monotonic() - last_change > hang:
                current = int(lines[-1].split()[1])
                proc.kill()
                proc.wait()
                results[current] = "hang"
        err = proc.stderr.read() if proc.stderr else ""
        lines = progress.read_text().splitlines() if progress.exists() else []
        for line in lines:
            if line.startswith("done "):
                _, i, outcome = line.split(" ", 2)
                results[int(i)] = outcome
        started = [int(x.split()[1]) for x in lines if x.startswith("start ")]
        last = started[-1] if started else start
        if proc.returncode not in (0, None) and last not in results:
            results[last] = f"crash signal/exit {proc.returncode}: {err.strip()[-200:]}"
        start = max(results) + 1 if results else n
    shutil.rmtree(progress.parent, ignore_errors=True)
    outcomes = list(results.values())
    worst = [line.split() for line in lines if line.startswith("over ")]
    top = max(worst, key=lambda w: float(w[2])) if worst else None
    return {
        "reader": reader, "inputs": len(results),
        "read_ok": outcomes.count("ok"), "clear_error": outcomes.count("error"),
        "crashes": sum(o.startswith("crash") for o in outcomes),
        "hangs": outcomes.count("hang"),
        "balloons": sum(o.startswith("balloon") for o in outcomes),
        "seconds": round(time.monotonic() - t0, 1),
        "largest_rise_beyond_honest_mib": float(top[2]) if top else None,
        "largest_rise_input": int(top[1]) if top else None,
        "examples": sorted({o for o in outcomes if o not in ("ok", "error")})[:10],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readers", default="idx,cifar,image,checkpoint")
    ap.add_argument("--hang", type=float, default=20.0, help="seconds for one input")
    ap.add_argument("--json", default="benchmarks/results/fuzz_readers.json")
    ap.add_argument("--worker")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--progress")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.seed, args.start, Path(args.progress))
        return
    results = []
    for reader in args.readers.split(","):
        r = run_reader(reader, args.n, args.seed, args.hang)
        results.append(r)
        print(json.dumps(r), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
