"""The training loop: epochs of steps, evaluation, checkpoints, metrics and the curve plot.

The loop works with any loaders that yield (float images, int64 labels), have `len()`
and `set_epoch(epoch)`, and whose batches are a pure function of (seed, epoch, batch
index): that is what makes a resumed run bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import math
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cnnzoo.atomic import write_text_atomic
from cnnzoo.errors import CheckpointError, TrainingError
from cnnzoo.load import ThreadGovernor
from cnnzoo.models.base import ZooModel
from cnnzoo.train.checkpoint import (
    load_checkpoint,
    nonfinite,
    repair_best,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.distributed import DistContext, all_reduce_sum, barrier
from cnnzoo.train.evaluate import EvalResult, evaluate
from cnnzoo.train.metrics import append_metrics, rewrite_metrics
from cnnzoo.train.optim import Schedule, build_optimizer
from cnnzoo.train.plots import plot_curves
from cnnzoo.train.precision import autocast, depthwise_in_fp32, grad_scaler
from cnnzoo.train.progress import ProgressBar
from cnnzoo.train.rundir import StopFlag, os_problem
from cnnzoo.train.tensorboard import FOLDER as TENSORBOARD
from cnnzoo.train.tensorboard import TensorBoardLog
from cnnzoo.weights import save_weights

LAST, BEST, BEST_WEIGHTS = "last.pt", "best.pt", "best.safetensors"
METRICS, CURVES = "metrics.jsonl", "curves.png"
# The run's settings as plain JSON: what `cnnzoo train --config FILE` reads back.
CONFIG = "config.json"
# Drawing curves.png costs ~1 s (matplotlib): every epoch, it was a quarter of a LeNet-5
# run's wall time. Redrawn at most this often, and once more when the run stops.
REPLOT_AFTER_S = 30.0


@dataclass
class TrainResult:
    out: Path
    epochs_done: int
    best_top1: float
    best_epoch: int
    final_top1: float
    seconds: float
    interrupted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True  # False on the other ranks under torchrun
    stop_signal: int = signal.SIGINT  # what interrupted the run, when it was interrupted

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal (130 for Ctrl-C, 143 for SIGTERM) as shells expect."""
        return 128 + int(self.stop_signal) if self.interrupted else 0


class Trainer:
    def __init__(
        self,
        model: ZooModel,
        cfg: TrainConfig,
        train_loader: Any,
        test_loader: Iterable,
        num_classes: int,
        ctx: DistContext | None = None,
        weights_meta: dict[str, Any] | None = None,
        log: Callable[[str], None] = print,
        progress: bool = True,
        plots: bool = True,
    ) -> None:
        self.cfg = cfg
        # curves.png: a study's cached runs skip it (matplotlib's import and one drawing
        # took 2.8 s, more than a small run's training); their report draws the curves.
        self.plots = plots
        self.ctx = ctx or DistContext()
        self.device = self.ctx.device
        self.out = Path(cfg.out)
        self.raw = model.to(self.device)
        if cfg.channels_last:
            self.raw = self.raw.to(memory_format=torch.channels_last)
        depthwise_in_fp32(self.raw, self.device, cfg.precision)
        self.net: nn.Module = self.raw
        if self.ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.raw, device_ids=ids)
        if cfg.compile:
            self.net = torch.compile(self.net)
        self.cores: ThreadGovernor | None = None  # while fit() runs, without --threads
        self.train_loader = train_loader
        self.test_loader = test_loader
        self.num_classes = num_classes
        self.optimizer = build_optimizer(self.raw, cfg)
        self.schedule = Schedule(cfg, len(train_loader))
        self.scaler = grad_scaler(self.device, cfg.precision)
        self.weights_meta = weights_meta or {}
        self.log = log if self.ctx.is_main else (lambda s: None)
        self.show_progress = progress and self.ctx.is_main
        self.history: list[dict[str, Any]] = []
        self._plotted_at = float("-inf")  # the first epoch draws curves.png
        self._plotted_epochs = 0  # epochs curves.png shows
        self.best_top1, self.best_epoch = -1.0, 0
        self.tensorboard: TensorBoardLog | None = None  # opened on first use, if asked for
        self._config_recorded = False
        self.elapsed = 0.0
        self.epoch, self.batch = 0, 0  # where the next step starts
        # Running sums of an epoch stopped part-way (so its train metrics stay exact).
        self.partial: dict[str, float] = {"loss_sum": 0.0, "correct": 0, "seen": 0}

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        rng = rng_state()
        if self.ctx.enabled:
            # Each rank has its own dropout stream; keep them all.
            mine = rng["torch"]
            gathered = [torch.empty_like(mine) for _ in range(self.ctx.world_size)]
            dist.all_gather(gathered, mine)
            rng["torch_ranks"] = torch.stack(gathered)
        return {
            "model": {k: v.detach().cpu() for k, v in self.raw.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "batch": self.batch,
            "partial": dict(self.partial),
            "rng": rng,
            "data_order": {"seed": self.cfg.seed, "epoch": self.epoch, "batch": self.batch},
            "config": self.cfg.to_dict(),
            "history": self.history,
            "best": {"top1": self.best_top1, "epoch": self.best_epoch},
            "elapsed": self.elapsed,
            "world_size": self.ctx.world_size,
            "weights_meta": self.weights_meta,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.raw.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(
                f"the checkpoint does not fit this model and optimizer ({str(e)[:200]}); "
                "resume with the same model, options and optimizer"
            ) from None
        self.schedule.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.partial = dict(state["partial"])
        if self.ctx.rank != 0:
            self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
        self.history = list(state["history"])
        self.best_top1 = float(state["best"]["top1"])
        self.best_epoch = int(state["best"]["epoch"])
        self.elapsed = float(state["elapsed"])
        rng = dict(state["rng"])
        ranks = rng.get("torch_ranks")
        if ranks is not None and len(ranks) == self.ctx.world_size:
            rng["torch"] = ranks[self.ctx.rank].clone()  # a row view crashes set_rng_state
        set_rng_state(rng)

    def resume(self, path: str | Path | None = None) -> None:
        path = Path(path) if path else self.out / LAST
        state = load_checkpoint(path)
        if self.ctx.is_main:
            best = state["best"]
            note = repair_best(self.raw, self.out / BEST_WEIGHTS, self.out / BEST, state,
                               lambda: self._export_best(best["epoch"], best["top1"]))
            if note:
                self.log(note)
        self.load_state_dict(state)
        if self.ctx.is_main:
            # Drop metrics of any epoch the checkpoint does not include.
            rewrite_metrics(self.out / METRICS, self.history)
        where = f"epoch {self.epoch + 1}" + (f", step {self.batch + 1}" if self.batch else "")
        self.log(f"resumed from {path} at {where}")

    def _save(self, name: str) -> None:
        state = self.state_dict()  # every rank joins the RNG gather
        if self.ctx.is_main:
            self._write(lambda: save_checkpoint(self.out / name, self._finite(state)))
            self._record_config()

    # Written with the first checkpoint, not before: a run that fails before it has saved
    # anything leaves its folder empty, and the folder is removed (rundir.RunDir).
    def _record_config(self) -> None:
        """config.json: this run's settings (a resumed run's, with what it changed)."""
        if not self._config_recorded:
            self._write(lambda: write_text_atomic(
                self.out / CONFIG, json.dumps(self.cfg.to_dict(), indent=2) + "\n"))
            self._config_recorded = True

    def _log_tensorboard(self, record: dict[str, Any] | None = None) -> None:
        """With --tensorboard: open the event file on first use (writing the epochs already
        done), then add `record`."""
        if not self.cfg.tensorboard:
            return
        if self.tensorboard is None:
            done = [r for r in self.history if r is not record]
            self.tensorboard = self._write(
                lambda: TensorBoardLog(self.out / TENSORBOARD, done))
        if record is not None:
            self._write(lambda: self.tensorboard.add(record))

    def _finite(self, state: dict[str, Any]) -> dict[str, Any]:
        """`state`, once every weight and buffer in it is finite: a checkpoint is only
        written when it can be resumed from."""
        bad = nonfinite(state["model"])
        if bad:
            where = (f"epoch {self.epoch + 1}, step {self.batch + 1}" if self.batch
                     else f"epoch {self.epoch}, its last step")
            raise TrainingError(
                f"the weights became non-finite ({', '.join(bad[:3])}"
                f"{', ...' if len(bad) > 3 else ''}) by {where}; stopped without saving. "
                f"{self._last_good()} (or try a lower lr, precision fp32, or warm-up)")
        return state

    def _export_best(self, epoch: int, top1: float) -> None:
        self._write(lambda: save_weights(self.raw, self.out / BEST_WEIGHTS, epoch=epoch,
                                         test_top1=top1, **self.weights_meta))

    def _last_good(self) -> str:
        last = self.out / LAST
        if not last.is_file():
            return "No checkpoint was saved yet"
        return f"The last good checkpoint is {last}, left intact; resume from it"

    def _write(self, write: Callable[[], Any]) -> Any:
        try:
            return write()
        except OSError as e:
            raise TrainingError(f"cannot write into {self.out} ({os_problem(e)}); the previous "
                                f"checkpoint is intact: free space or fix the folder, then "
                                "resume the run") from None

    # -- the loop ----------------------------------------------------------------------

    def fit(self) -> TrainResult:
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.history:  # resumed: the events match the checkpoint's epochs at once
                self._log_tensorboard()
        # No --threads: the thread count follows the cores other processes leave free while
        # the loop runs, and is given back however it ends.
        if self.cfg.threads is None and self.device.type == "cpu" and not self.ctx.enabled:
            self.cores = ThreadGovernor()
        try:
            return self._loop()
        finally:
            if self.cores is not None:
                self.cores.release()
                self.cores = None
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _loop(self) -> TrainResult:
        cfg = self.cfg
        interrupted = False
        with StopFlag() as stop:
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                stats = self._train_epoch(stop)
                if stats is None:
                    interrupted = True
                    self._save(LAST)
                    self.log(f"interrupted: saved {self.out / LAST} at epoch {self.epoch + 1}, "
                             f"step {self.batch + 1}; continue with --resume {self.out}")
                    break
                self._sync_buffers()
                # The bare model: through DDP an eval forward would broadcast buffers, a
                # collective that ranks with unequal test shards would not all join.
                result = evaluate(self.raw, self.test_loader, self.num_classes, self.device,
                                  cfg.precision, cfg.channels_last, self.ctx)
                seconds = time.perf_counter() - t0
                self.elapsed += seconds
                self._end_epoch(stats, result, seconds)
                if self._any_rank(stop.requested):
                    interrupted = True
                    self.log(f"interrupted: {self.out / LAST} holds epoch {self.epoch}; "
                             f"continue with --resume {self.out}")
                    break
        if self.plots and self.ctx.is_main and len(self.history) > self._plotted_epochs:
            self._plot()  # finished or interrupted: curves.png shows every epoch done
        final = self.history[-1]["test_top1"] if self.history else float("nan")
        return TrainResult(self.out, self.epoch, self.best_top1, self.best_epoch, final,
                           self.elapsed, interrupted, self.history, self.ctx.is_main,
                           stop.signum)

    def _train_epoch(self, stop: StopFlag) -> dict[str, float] | None:
        cfg, loader = self.cfg, self.train_loader
        self.net.train()  # a ZooModel keeps its frozen batch norms in eval mode
        loader.set_epoch(self.epoch)
        steps = len(loader)
        bar = ProgressBar(steps, f"epoch {self.epoch + 1}/{cfg.epochs}",
                          enabled=self.show_progress)
        loss_sum = torch.tensor(self.partial["loss_sum"], dtype=torch.float64)
        correct = torch.tensor(int(self.partial["correct"]), dtype=torch.int64)
        seen = seen0 = int(self.partial["seen"])
        start = self.batch
        t_start = time.perf_counter()
        batches = (loader.iter_from(start) if hasattr(loader, "iter_from")
                   else itertools.islice(loader, start, None))
        for step, (images, labels) in enumerate(batches, start):
            self.batch = step
            # Checked before the forward pass: a forward in train mode already updates
            # batch-norm statistics, so a step is either wholly done or not begun.
            if self._any_rank(stop.requested):
                # Saved as the sums over all ranks; on resume rank 0 alone carries them.
                sums = all_reduce_sum(self.ctx, torch.stack(
                    [loss_sum, correct.double(), torch.tensor(float(seen)).double()]))
                self.partial = {"loss_sum": float(sums[0]), "correct": int(sums[1]),
                                "seen": int(sums[2])}
                bar.close(float(loss_sum) / max(1, seen), float(correct) / max(1, seen))
                return None
            if self.cores is not None:
                self.cores.step()
            lr = self.schedule.apply(self.optimizer, self.epoch * steps + step)
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            if cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, cfg.precision):
                output = self.net(images)
                logits = self.raw.main_logits(output)
                loss = self.raw.loss(output, labels, aux_weight=cfg.aux_weight,
                                     label_smoothing=cfg.label_smoothing)
            if not self._all_finite(loss):
                self._diverged(float(loss.detach()), step, steps)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            n = len(labels)
            loss_sum += loss.detach().double().cpu() * n
            correct += (logits.detach().argmax(1) == labels).sum().cpu()
            seen += n
            if bar.tty:
                bar.update(step + 1, (seen - seen0) * self.ctx.world_size,
                           float(loss_sum) / seen, float(correct) / seen)
        train_seconds = time.perf_counter() - t_start
        totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(seen)).double()])
        all_reduce_sum(self.ctx, totals)
        count = max(1.0, float(totals[2]))
        bar.images = int(count) - seen0 * self.ctx.world_size
        bar.done = steps
        stats = {"loss": float(totals[0]) / count, "acc": float(totals[1]) / count,
                 "images_per_s": bar.images / max(train_seconds, 1e-9), "lr": lr}
        bar.close(stats["loss"], stats["acc"])
        self.batch = 0
        self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0}
        return stats

    # Under torchrun every rank must take the same decision, or some would wait forever
    # in the next gradient all-reduce: a tiny all-reduce agrees on it.

    def _any_rank(self, flag: bool) -> bool:
        if not self.ctx.enabled:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def _all_finite(self, loss: torch.Tensor) -> bool:
        if not self.ctx.enabled:
            return math.isfinite(float(loss.detach()))
        return not self._any_rank(not bool(torch.isfinite(loss.detach())))

    def _diverged(self, value: float, step: int, steps: int) -> None:
        raise TrainingError(
            f"loss became {value} at epoch {self.epoch + 1}, step {step + 1}/{steps}; "
            f"stopped. {self._last_good()} (or try precision fp32, a lower lr, or warm-up)"
        )

    def _sync_buffers(self) -> None:
        # Ranks' batch-norm running statistics drift apart; evaluate and save rank 0's.
        if self.ctx.enabled:
            for buf in self.raw.buffers():
                dist.broadcast(buf, 0)

    def _end_epoch(self, stats: dict[str, float], result: EvalResult, seconds: float) -> None:
        self.epoch += 1
        record = {
            "epoch": self.epoch,
            "train_loss": stats["loss"],
            "train_err": 1 - stats["acc"],
            "test_loss": result.loss,
            "test_top1": result.top1,
            "test_top5": result.top5,
            "lr": stats["lr"],
            "seconds": seconds,
            "elapsed": self.elapsed,
            "train_images_per_s": stats["images_per_s"],
            "test_count": result.count,
            "threads": self.cores.take_fewest() if self.cores else torch.get_num_threads(),
        }
        self.history.append(record)
        improved = result.top1 > self.best_top1
        if improved:
            self.best_top1, self.best_epoch = result.top1, self.epoch
        state = self.state_dict()  # every rank joins the RNG gather
        if self.ctx.is_main:
            self._finite(state)
            # Best first, last.pt after: a kill in between leaves last.pt at the previous
            # epoch, whose own best is still on disk, and the resumed run rewrites the same
            # best again. last.pt never claims a best that is not written.
            if improved:
                self._write(lambda: save_checkpoint(self.out / BEST, state))
                self._export_best(self.epoch, result.top1)
            self._write(lambda: save_checkpoint(self.out / LAST, state))
            self._record_config()
            if self.plots and time.monotonic() - self._plotted_at >= REPLOT_AFTER_S:
                self._plot()
            self._write(lambda: append_metrics(self.out / METRICS, record))  # last: all done
            self._log_tensorboard(record)
        shared = ""
        if self.cores is not None and record["threads"] < self.cores.limit:
            shared = f", {record['threads']} thread{'s' * (record['threads'] > 1)}: " \
                     "other processes busy"
        self.log(f"epoch {self.epoch}/{self.cfg.epochs}: test top-1 {100 * result.top1:.2f}% "
                 f"top-5 {100 * result.top5:.2f}% loss {result.loss:.4f} "
                 f"({seconds:.1f} s{shared}, best {100 * self.best_top1:.2f}% at epoch "
                 f"{self.best_epoch})")
        barrier(self.ctx)

    def _plot(self) -> None:
        self._write(lambda: plot_curves(self.history, self.out / CURVES, title=self._title()))
        self._plotted_at, self._plotted_epochs = time.monotonic(), len(self.history)

    def _title(self) -> str:
        return f"{self.cfg.model} on {self.cfg.data} ({self.cfg.precision})"

