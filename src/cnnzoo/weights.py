"""Reading and writing weights: torchvision `.pth` files and cnnzoo safetensors files.

Pickles are read with `weights_only=True`, so a file that would run code is refused.
"""

from __future__ import annotations

import difflib
import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cnnzoo.atomic import atomic_path
from cnnzoo.errors import WeightsError
from cnnzoo.models.base import ZooModel, model_name_of
from cnnzoo.pretrained import TAGS

_SAFETENSORS_SUFFIXES = (".safetensors", ".st")


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return (state_dict, metadata) from a safetensors or torch pickle file."""
    path = Path(path)
    if not path.is_file():

        close = difflib.get_close_matches(str(path), TAGS, n=1)
        hint = f"; did you mean the pretrained weights {close[0]!r}?" if close else ""
        raise WeightsError(f"weights file not found: {path}{hint}")
    if path.suffix in _SAFETENSORS_SUFFIXES or _looks_like_safetensors(path):
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
                state_dict = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except Exception as e:  # safetensors raises its own types for a bad header
            raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None
        meta = _decode_meta(meta)
        _check_counts(meta, state_dict, path)
        return state_dict, meta
    with open(path, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip archive; older files are a bare pickle (protocol byte 0x80).
    if not head.startswith((b"PK\x03\x04", b"\x80")):
        raise WeightsError(f"{path}: not a weights file (neither safetensors nor PyTorch's "
                           "format); give a .safetensors, .pt or .pth file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WeightsError(
            f"{path}: refused to load, the pickle holds more than tensors and could run code "
            f"({first[:200]}). Load only files you trust; re-save them as a state_dict or "
            "with cnnzoo.save_weights"
        ) from None
    except Exception as e:  # torch raises many types for a damaged or foreign file
        raise WeightsError(
            f"{path}: not a readable PyTorch weights file ({type(e).__name__}: {e})"
        ) from None
    return _unwrap_state_dict(obj, path), {}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a weights file without its tensors: a safetensors header's (decoded),
    {} for a torch pickle (which has none). For a file `read_weights` has checked already."""
    path = Path(path)
    if not (path.suffix in _SAFETENSORS_SUFFIXES or _looks_like_safetensors(path)):
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            return _decode_meta(dict(f.metadata() or {}))
    except Exception as e:  # safetensors raises its own types for a bad header
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None


def saved_options(meta: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The model options a weights file records (`model_options`, written by save_weights
    and `cnnzoo train`): what the model must be rebuilt with for the tensors to fit."""
    options = meta.get("model_options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise WeightsError(f"{path}: metadata model_options={options!r} is not a mapping of "
                           "options; the file is damaged (re-save it with cnnzoo.save_weights)")
    return dict(options)


def _looks_like_safetensors(path: Path) -> bool:
    # A safetensors file starts with an 8-byte little-endian header length, then '{'.
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _decode_meta(meta: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


# Bounds on what a file's metadata may ask a model to be built with; the tensors must agree.
_COUNT_LIMITS = {"num_classes": 1_000_000, "in_chans": 4096}


def _check_counts(meta: dict[str, Any], state_dict: dict[str, torch.Tensor], path: Path) -> None:
    """num_classes and in_chans in the metadata are counts the file's own tensors bear out,
    checked before any model is built from them (a bad value would otherwise be a TypeError
    deep in torch, or a head of millions of classes allocated)."""
    for key, limit in _COUNT_LIMITS.items():
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
            raise WeightsError(f"{path}: metadata {key}={value!r} is not a count between 1 and "
                               f"{limit:,}; the file is damaged or was not written by cnnzoo "
                               "(re-save it with cnnzoo.save_weights)")
        axis, ndim = (0, 2) if key == "num_classes" else (1, 4)
        if state_dict and not any(t.ndim >= ndim and t.shape[axis] == value
                                  for t in state_dict.values()):
            what = "outputs" if key == "num_classes" else "input channels"
            raise WeightsError(f"{path}: metadata says {key}={value} but no tensor in the file "
                               f"has {value} {what}; the metadata does not belong to these "
                               "weights (re-save them with cnnzoo.save_weights)")


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    # Training checkpoints wrap the weights; DistributedDataParallel prefixes 'module.'.
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state_dict (names -> tensors), got {type(obj)}")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_state_dict(
    model: ZooModel, state_dict: dict[str, torch.Tensor], source: str = "weights"
) -> None:
    """Load weights into a model, explaining any mismatch.

    Tolerated, with a warning: auxiliary-head keys present in the file but not in the
    model (or the reverse), a classifier of another class count (a fresh head is kept),
    and a first convolution of another channel count (adapted as timm does: summed for
    one channel, repeated and rescaled otherwise).
    """
    own = model.state_dict()
    aux = tuple(h.module + "." for h in model.aux_heads)
    heads = tuple(p + "." for p in model.head_names)
    first_conv = model.first_conv_name + ".weight"
    state_dict = dict(state_dict)

    dropped_aux = [k for k in state_dict if k not in own and k.startswith(aux or ("\0",))]
    for k in dropped_aux:
        del state_dict[k]
    fresh_aux = [k for k in own if k not in state_dict and k.startswith(aux or ("\0",))]

    missing = [k for k in own if k not in state_dict and k not in fresh_aux]
    unexpected = [k for k in state_dict if k not in own]
    mismatched, fresh_head = [], []
    for k, v in state_dict.items():
        if k not in own or own[k].shape == v.shape:
            continue
        if k.startswith(heads):
            fresh_head.append(k)
        elif k == first_conv and _adaptable(v, own[k]):
            state_dict[k] = _adapt_input_conv(v, own[k].shape[1])
        else:
            mismatched.append(f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}")
    if missing or unexpected or mismatched:
        raise WeightsError(_mismatch_report(model, source, missing, unexpected, mismatched))
    for k in fresh_head:
        del state_dict[k]
    if fresh_head:
        warnings.warn(
            f"{source}: the classifier has another class count; kept a freshly initialised "
            f"head for {model.num_classes} classes",
            stacklevel=3,
        )
    if fresh_aux:
        warnings.warn(
            f"{source}: no auxiliary-head weights in the file; those heads stay freshly "
            "initialised",
            stacklevel=3,
        )
    model.load_state_dict(state_dict, strict=False)


def _adaptable(file_weight: torch.Tensor, own: torch.Tensor) -> bool:
    return file_weight.ndim == 4 and file_weight.shape[0] == own.shape[0] and (
        file_weight.shape[2:] == own.shape[2:]
    )


def _adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    # Repeat the filters over the new channels and rescale so activations keep their size.
    file_chans = weight.shape[1]
    repeats = -(-in_chans // file_chans)
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (file_chans / in_chans)


def _mismatch_report(
    model: ZooModel, source: str, missing: list[str], unexpected: list[str], mismatched: list[str]
) -> str:
    def few(keys: list[str]) -> str:
        shown = ", ".join(keys[:5])
        return shown + (f", ... ({len(keys) - 5} more)" if len(keys) > 5 else "")

    name = model_name_of(model)
    lines = [f"{source} does not fit {name}"]
    if missing:
        lines.append(f"  missing in the file ({len(missing)}): {few(missing)}")
    if unexpected:
        lines.append(f"  unexpected in the file ({len(unexpected)}): {few(unexpected)}")
    if mismatched:
        lines.append(f"  shape mismatches ({len(mismatched)}): {few(mismatched)}")
    lines.append(
        "  check that the file is for this architecture (and options such as width or "
        "aux_logits)"
    )
    return "\n".join(lines)


def save_weights(model: ZooModel, path: str | Path, **metadata: Any) -> Path:
    """Write the model's weights as safetensors, atomically, with what is needed to rebuild
    it (model name, num_classes, in_chans, and the options create_model built it with, such
    as width) in the file's metadata; `create_model(name, weights=path)` rebuilds it."""
    path = Path(path)
    meta = {
        "format": "cnnzoo",
        "model": model_name_of(model),
        "num_classes": getattr(model, "num_classes", None),
        "in_chans": getattr(model, "in_chans", None),
        "model_options": dict(getattr(model, "model_options", {})),
        **metadata,
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={k: json.dumps(v) for k, v in meta.items()})
    return path
