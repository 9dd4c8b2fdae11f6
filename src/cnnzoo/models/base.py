"""The one interface every cnnzoo model has (as timm's models do)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.errors import InputShapeError, ModelOptionError


class ZooModel(nn.Module):
    """Base class: input checks, `forward = forward_head(forward_features(x))`,
    and a classifier that can be replaced.

    Subclasses set `classifier_name` (the dotted path of the final nn.Linear),
    optionally `aux_classifier_names`, and `first_conv_name`, and implement
    `forward_features` and `forward_head`.
    """

    classifier_name: str = "fc"
    aux_classifier_names: tuple[str, ...] = ()
    first_conv_name: str = "conv1"
    # Filled by the registry when the model is created by name.
    model_name: str = ""
    min_input_size: int = 1

    def __init__(self, num_classes: int, in_chans: int) -> None:
        super().__init__()
        if num_classes < 0 or in_chans < 1:
            raise ModelOptionError(
                f"num_classes must be >= 0 and in_chans >= 1, got num_classes={num_classes}, "
                f"in_chans={in_chans}"
            )
        self.num_classes = num_classes
        self.in_chans = in_chans

    # -- the interface -------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer (and any auxiliary heads) with fresh ones for
        `num_classes` outputs; 0 gives an identity head that returns pre-logit features."""
        if num_classes < 0:
            raise ModelOptionError(f"num_classes must be >= 0, got {num_classes}")
        for path in (self.classifier_name, *self.aux_classifier_names):
            old = self.get_submodule(path)
            in_features = old.in_features if isinstance(old, nn.Linear) else old.in_features_
            new: nn.Module
            if num_classes > 0:
                new = nn.Linear(in_features, num_classes)
            else:
                new = nn.Identity()
                new.in_features_ = in_features  # remembered so the head can be restored
            new.to(device=self._param_device(), dtype=self._param_dtype())
            self.set_submodule(path, new)
        self.num_classes = num_classes

    # -- helpers -------------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> None:
        """Raise InputShapeError naming the model, what it expects and what it got."""
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            return  # shapes were checked eagerly; keep graphs free of Python checks
        name = self.model_name or type(self).__name__
        expect = f"(N, {self.in_chans}, H, W) with H, W >= {self.min_input_size}"
        if not isinstance(x, torch.Tensor):
            raise InputShapeError(f"{name} expects a tensor {expect}, got {type(x).__name__}")
        if x.ndim != 4:
            hint = " (add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
            raise InputShapeError(
                f"{name} expects a 4-D tensor {expect}, got shape {tuple(x.shape)}{hint}"
            )
        if x.shape[1] != self.in_chans:
            raise InputShapeError(
                f"{name} expects {self.in_chans} input channel(s) {expect}, got shape "
                f"{tuple(x.shape)}; build it with in_chans={x.shape[1]} or convert the images"
            )
        h, w = x.shape[-2:]
        if min(h, w) < self.min_input_size:
            raise InputShapeError(
                f"{name} needs inputs of at least {self.min_input_size}x{self.min_input_size}, "
                f"got {h}x{w}; resize or pad the images"
            )
        aux_min = getattr(self, "aux_min_input_size", 0)
        if self.training and getattr(self, "aux_logits", False) and min(h, w) < aux_min:
            raise InputShapeError(
                f"{name}'s auxiliary classifier needs inputs of at least {aux_min}x{aux_min} "
                f"in training, got {h}x{w}; resize the images or build it with aux_logits=False"
            )
        if not (x.is_floating_point() or x.is_complex()):
            raise InputShapeError(
                f"{name} expects a floating-point tensor, got {x.dtype}; use x.float() "
                "(and scale uint8 images to [0, 1])"
            )

    def _param_device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def _param_dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.float32


class AuxOutputs(NamedTuple):
    """What a model with auxiliary classifiers returns in training mode."""

    logits: torch.Tensor
    aux: tuple[torch.Tensor, ...]


def imagenet_to_half_normalisation(x: torch.Tensor) -> torch.Tensor:
    """Re-normalise ImageNet mean/std input to the (x - 0.5) / 0.5 input that Google's
    original Inception weights expect (torchvision's `transform_input`)."""
    mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x * std + mean - 0.5) / 0.5


class AuxHeadsModel(ZooModel):
    """A model with auxiliary classifiers on intermediate features (GoogLeNet, Inception-v3).

    Subclasses implement `_features(x, with_aux)` returning (features, aux_logits_list).
    """

    aux_logits: bool = False

    def _features(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list]:
        raise NotImplementedError  # pragma: no cover

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x, with_aux=False)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:  # type: ignore[override]
        self.check_input(x)
        with_aux = self.training and self.aux_logits
        features, aux = self._features(x, with_aux)
        logits = self.forward_head(features)
        return AuxOutputs(logits, tuple(aux)) if with_aux else logits
