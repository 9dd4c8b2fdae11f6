"""`train(cfg)`: data, model, loaders and trainer wired together from one TrainConfig."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cnnzoo.data import load_dataset
from cnnzoo.data.dataset import ImageDataset, Split
from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import build_transform
from cnnzoo.errors import ConfigError
from cnnzoo.factory import create_model
from cnnzoo.models.base import ZooModel
from cnnzoo.registry import default_input_size
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.config import RESUMABLE, TrainConfig, as_recorded
from cnnzoo.train.distributed import DistContext, setup, teardown
from cnnzoo.train.evaluate import EvalResult, evaluate
from cnnzoo.train.loop import LAST, Trainer, TrainResult
from cnnzoo.train.rundir import RunDir, interrupts
from cnnzoo.train.tensorboard import require_tensorboard
from cnnzoo.train.transfer import freeze_features

FINAL_TRAIN_IMAGES = 2000  # training images a study's final evaluation scores


def load_data(cfg: TrainConfig) -> ImageDataset:
    dataset = load_dataset(cfg.data, root=cfg.data_root)
    if cfg.limit_train or cfg.limit_test:
        dataset = dataset.subset(train=cfg.limit_train, test=cfg.limit_test, seed=cfg.seed)
    return dataset


def input_size_for(cfg: TrainConfig, model: ZooModel) -> tuple[int, int, int]:
    size = default_input_size(model, (model.in_chans, *cfg.image_size) if cfg.image_size else None)
    low, (h, w) = model.min_input_size, size[1:]
    if min(h, w) < low:
        raise ConfigError("image_size", f"is {h}x{w}, but {cfg.model} needs images of at "
                          f"least {low}x{low}; give a larger one")
    return size


def build_model(cfg: TrainConfig, dataset: ImageDataset) -> ZooModel:
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every rerun
    model = create_model(
        cfg.model,
        num_classes=dataset.num_classes,
        in_chans=cfg.in_chans or dataset.channels,
        weights=cfg.init_weights,
        **cfg.model_options,
    )
    if cfg.freeze == "features":
        freeze_features(model)
    return model


@dataclass
class Setup:
    trainer: Trainer
    dataset: ImageDataset
    input_size: tuple[int, int, int]


def prepare(cfg: TrainConfig, ctx: DistContext, log: Callable[[str], None] = print,
            progress: bool = True, plots: bool = True) -> Setup:
    if cfg.batch_size % ctx.world_size:
        raise ConfigError("batch_size", f"is the global batch: it must divide evenly over "
                          f"the {ctx.world_size} processes, got {cfg.batch_size}")
    dataset = load_data(cfg)
    model = build_model(cfg, dataset)
    size = input_size_for(cfg, model)
    convert = cfg.channels == "convert"
    train_t = build_transform(dataset, size, train=True, convert_channels=convert,
                              augment=cfg.augment)
    test_t = build_transform(dataset, size, train=False, convert_channels=convert)
    per_rank = cfg.batch_size // ctx.world_size
    common = dict(seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size, device=ctx.device,
                  channels_last=cfg.channels_last)
    train_loader = BatchLoader(dataset.train, per_rank, transform=train_t, shuffle=True,
                               drop_last=len(dataset.train) >= cfg.batch_size, even=True,
                               **common)
    # Evaluation shards are not padded: every test image is counted exactly once.
    test_loader = BatchLoader(dataset.test, max(per_rank, 256), transform=test_t, even=False,
                              **common)
    meta = {
        "dataset": dataset.name,
        "classes": list(dataset.classes),
        "mean": list(dataset.mean),
        "std": list(dataset.std),
        "input_size": list(size),
        "image_size": list(dataset.image_size),
        "fit": dataset.fit,
        "model_options": cfg.model_options,
    }
    trainer = Trainer(model, cfg, train_loader, test_loader, dataset.num_classes, ctx,
                      weights_meta=meta, log=log, progress=progress, plots=plots)
    return Setup(trainer, dataset, size)


def resume_config(out: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The config of the run in `out`, with the options a resume may change applied.

    Any other option given must equal the stored one: a resumed run is the same run."""
    state = load_checkpoint(Path(out) / LAST)
    stored = state["config"]
    merged = dict(stored)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in RESUMABLE:
            merged[key] = value
        elif as_recorded(value) != as_recorded(stored.get(key)):
            raise ConfigError(key, f"{value!r} differs from the run being resumed "
                              f"({stored.get(key)!r}); a resumed run keeps its options "
                              f"(only {', '.join(RESUMABLE)} may change)")
    merged["out"] = str(out)
    return TrainConfig.from_dict(merged)



def train(cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = print,
          progress: bool = True, plots: bool = True) -> TrainResult:
    """Train as `cfg` says; with resume=True continue the run in cfg.out from last.pt;
    plots=False leaves out curves.png."""
    last = Path(cfg.out) / LAST
    if not resume and last.exists():
        raise ConfigError("out", f"{cfg.out} already holds a run ({last}); continue it "
                          "(resume=True) or choose another folder")
    if cfg.tensorboard:
        require_tensorboard()  # one line now, not after the data is read
    if cfg.threads:
        # On a busy machine one thread per process beats threads fighting over cores.
        torch.set_num_threads(cfg.threads)
    # Rank 0 holds the run folder (under torchrun the others only read last.pt).
    run_dir = RunDir(cfg.out) if int(os.environ.get("RANK", "0")) == 0 else None
    # Until the loop takes over, SIGTERM unwinds (releasing the lock) as Ctrl-C does.
    with interrupts(signal.SIGTERM):
        try:
            if run_dir is not None:
                run_dir.acquire()  # before any data is read: a folder it cannot use fails now
            return _train(cfg, resume, last, log, progress, plots)
        finally:
            if run_dir is not None:
                run_dir.release()


def _train(cfg: TrainConfig, resume: bool, last: Path, log: Callable[[str], None],
           progress: bool, plots: bool) -> TrainResult:
    ctx = setup(cfg.device)
    try:
        s = prepare(cfg, ctx, log, progress, plots)
        if resume:
            s.trainer.resume(last)
        else:
            d = s.dataset
            s.trainer.log(
                f"training {cfg.model} on {d.name} ({len(d.train):,} train / {len(d.test):,} "
                f"test images, input {'x'.join(map(str, s.input_size))}), {cfg.epochs} epochs, "
                f"batch {cfg.batch_size}, {cfg.precision}, {ctx.world_size} process(es) on "
                f"{ctx.device}; writing {cfg.out}")
        return s.trainer.fit()
    finally:
        teardown(ctx)


@torch.no_grad()
def evaluate_final(cfg: TrainConfig, train_images: int = FINAL_TRAIN_IMAGES
                   ) -> dict[str, Any]:
    """The finished run's final weights (last.pt) in eval mode, on the whole test split
    (whatever cfg.limit_test evaluated per epoch) and on a fixed part of its training images
    (the first `train_images` of the subset it trained on, without augmentation): the
    figures a study's verdict rests on. Deterministic for a given thread count."""

    state = load_checkpoint(Path(cfg.out) / LAST)
    full = replace(cfg, limit_test=None, init_weights=None)
    dataset = load_data(full)
    model = create_model(cfg.model, num_classes=dataset.num_classes,
                         in_chans=cfg.in_chans or dataset.channels, **cfg.model_options)
    model.load_state_dict(state["model"])
    size = input_size_for(cfg, model)
    convert = cfg.channels == "convert"
    transform = build_transform(dataset, size, train=False, convert_channels=convert)
    # In the layout the run trained in: channels-last evaluates the study nets in 0.3-0.7 of
    # the time where they have depthwise, grouped or LRN layers, and as fast elsewhere
    # (benchmarks/final_eval_speed.py).
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)

    def score(images: Split) -> EvalResult:
        return evaluate(model, BatchLoader(images, 500, transform=transform,
                                           channels_last=cfg.channels_last),
                        dataset.num_classes, channels_last=cfg.channels_last)

    test = score(dataset.test)
    train = score(dataset.subset(train=min(train_images, len(dataset.train))).train)
    return {"test_top1": test.top1, "test_loss": test.loss, "test_images": test.count,
            "train_top1": train.top1, "train_loss": train.loss, "train_images": train.count,
            "epoch": int(state["epoch"])}
