"""How fast a study run's final evaluation is (10,000 test + 2,000 training images, one
thread, `train.run.evaluate_final`), by memory layout and batch size, for each net the
default-mode studies train. Alternating rounds (A B C A B C ...), so a load change hits all
alike; each setting's median seconds for 2,000 test images and its ratio to the old path
(NCHW, batch 500) in the same round. Untrained weights: the speed does not depend on them.

    .venv/bin/python benchmarks/final_eval_speed.py [--rounds 3] [--images 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace

import torch

from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import build_transform
from cnnzoo.factory import create_model
from cnnzoo.studies.plan import make_plan
from cnnzoo.studies.registry import available
from cnnzoo.studies.runner import environment
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.evaluate import evaluate
from cnnzoo.train.run import input_size_for, load_data

SETTINGS = ((False, 500), (True, 500), (True, 256), (True, 128))  # (channels-last, batch)


def study_configs() -> list[TrainConfig]:
    """One config per distinct (model, options, image size) of the default mode's runs."""
    with tempfile.TemporaryDirectory() as out:
        plan = make_plan(available(), out, "quick", log=lambda line: None)
    seen, configs = set(), []
    for e in plan.entries:
        cfg = TrainConfig.from_dict({**e.config, "out": out})
        key = (cfg.model, str(cfg.model_options), str(cfg.image_size))
        if key not in seen:
            seen.add(key)
            configs.append(cfg)
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000, help="test images a timing reads")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = environment()
    print(f"# {env.get('cpu')}, torch {torch.__version__}, 1 thread, load "
          f"{env.get('load_1min')} before")
    print("| net | " + " | ".join(f"{'channels-last' if cl else 'NCHW'} {b}"
                                  for cl, b in SETTINGS) + " |")
    print("|---|" + "---:|" * len(SETTINGS))
    for cfg in study_configs():
        data = load_data(replace(cfg, limit_test=args.images, init_weights=None))
        models = {}
        for cl in {cl for cl, _ in SETTINGS}:
            m = create_model(cfg.model, num_classes=data.num_classes,
                             in_chans=cfg.in_chans or data.channels, **cfg.model_options)
            models[cl] = m.eval().to(memory_format=torch.channels_last if cl else
                                     torch.contiguous_format)
        transform = build_transform(data, input_size_for(cfg, models[False]), train=False)
        times: dict[tuple[bool, int], list[float]] = {s: [] for s in SETTINGS}
        for _ in range(args.rounds):
            for cl, batch in SETTINGS:
                t = time.perf_counter()
                with torch.no_grad():
                    evaluate(models[cl], BatchLoader(data.test, batch, transform=transform,
                                                     channels_last=cl),
                             data.num_classes, channels_last=cl)
                times[(cl, batch)].append(time.perf_counter() - t)
        base = statistics.median(times[SETTINGS[0]])
        cells = [f"{statistics.median(v):.2f} s ({statistics.median(v) / base:.2f})"
                 for v in times.values()]
        name = f"{cfg.model} {cfg.model_options or ''} {'x'.join(map(str, cfg.image_size or []))}"
        print(f"| {name.strip()} | " + " | ".join(cells) + " |", flush=True)
    print(f"# load {environment().get('load_1min')} after")


if __name__ == "__main__":
    main()
