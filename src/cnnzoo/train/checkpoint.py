"""Training checkpoints: written atomically, read back with `weights_only=True`.

Everything in one is a tensor or a plain Python value (RNG states are uint8 tensors), so a
checkpoint never needs an unsafe unpickler.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cnnzoo.atomic import atomic_path
from cnnzoo.errors import CheckpointError, WeightsError
from cnnzoo.weights import read_weights

CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    # Python's Mersenne Twister state is a tuple of ints: a plain value.
    version, internal, gauss = random.getstate()
    state["python"] = [version, list(internal), gauss]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save to a temporary file in the same directory, then rename over `path`, so a
    crash mid-write leaves the previous checkpoint intact."""
    path = Path(path)
    with atomic_path(path, fsync=True) as tmp, tmp.open("wb") as f:
        torch.save({"version": CHECKPOINT_VERSION, **state}, f)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; check the run directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file fails in a dozen ways (fuzzed)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"{path} is not a readable cnnzoo checkpoint ({first}); it may be truncated"
        ) from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} is not a cnnzoo training checkpoint (version {CHECKPOINT_VERSION})"
        )
    problem = _malformed(state)
    if problem:
        raise CheckpointError(f"{path} is a damaged cnnzoo checkpoint: {problem}; resume from "
                              "another copy or start the run again")
    return state


# What every checkpoint holds (see Trainer.state_dict), checked before any of it is used.
_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "model": dict, "optimizer": dict, "scheduler": dict, "scaler": dict, "epoch": int,
    "batch": int, "partial": dict, "rng": dict, "config": dict, "history": list,
    "best": dict, "elapsed": (int, float),
}


def _malformed(state: dict[str, Any]) -> str | None:
    for key, kind in _SCHEMA.items():
        if key not in state:
            return f"it has no {key!r}"
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            return f"{key!r} is a {type(state[key]).__name__}"
    if not all(torch.is_tensor(v) for v in state["model"].values()):
        return "'model' holds something other than tensors"
    if state["epoch"] < 0 or state["batch"] < 0:
        return f"epoch {state['epoch']}, step {state['batch']} is not a place in a run"
    best = state["best"]
    if not (isinstance(best.get("epoch"), int) and isinstance(best.get("top1"), int | float)):
        return "'best' is not an epoch and an accuracy"
    if not torch.is_tensor(state["rng"].get("torch")):
        return "its random-number state is missing"
    return None


def nonfinite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The names of floating-point tensors holding a NaN or an infinity."""
    return [k for k, v in tensors.items()
            if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def weights_epoch(path: Path) -> int | None:
    """The epoch a best.safetensors records, or None when missing or unreadable."""

    if not path.is_file():
        return None
    try:
        return int(read_weights(path)[1].get("epoch"))
    except (WeightsError, TypeError, ValueError):
        return None


def repair_best(model: torch.nn.Module, weights: Path, best: Path, last: dict[str, Any],
                export: Callable[[], Any]) -> str | None:
    """Make `weights` (best.safetensors) the epoch `last` (last.pt's state) calls best.

    Ahead of last.pt (a kill between the two writes) is fine: the resumed run redoes that
    epoch bit-identically and writes the same best. Behind it is stale: `export()` rewrites
    it from best.pt's weights, loaded into `model` for the call, when best.pt holds the
    claimed epoch. Returns what was done, for the log."""
    claimed, done = int(last["best"]["epoch"]), int(last["epoch"])
    have = weights_epoch(weights)
    if claimed < 1 or have == claimed or (have is not None and have > done):
        return None
    try:
        state = load_checkpoint(best)
    except CheckpointError:
        state = None
    if state is None or int(state["epoch"]) != claimed:
        return (f"warning: {weights} is not the best epoch {claimed} that last.pt names and "
                f"{best} cannot replace it; it is rewritten when the run next improves")
    current = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state["model"])
    try:
        export()
    finally:
        model.load_state_dict(current)
    return f"repaired {weights}: rewritten from {best} (epoch {claimed})"
