"""The one interface every cnnzoo model has (as timm's models do)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.errors import InputShapeError, ModelOptionError
from cnnzoo.models.features import FeatureInfoList, capture, resolve_indices


@dataclass(frozen=True)
class AuxHead:
    """An auxiliary classifier on intermediate features, declared by the model that has one
    (GoogLeNet's two side branches, Inception-v3's one), whether built or not.

    module: the side branch; its weights' keys start with `module + "."`.
    classifier: the dotted path of its final nn.Linear, which `reset_classifier` replaces.
    in_features: that layer's input width. min_input_size: the smallest H and W the branch
    takes in training.
    """

    module: str
    classifier: str
    in_features: int
    min_input_size: int = 0


class ZooModel(nn.Module):
    """Base class: input checks, `forward = forward_head(forward_features(x))`,
    a classifier that can be replaced, and what the model can do, declared:

    - `classifier_name` (the dotted path of the final nn.Linear, fed `num_features`),
      `first_conv_name`;
    - `feature_info`: its stages, appended at the lines where `__init__` builds them;
    - `aux_heads` (the side branches the architecture has) and `aux_logits` (built or not);
    - `frozen_norms`: the batch norms `train()` keeps in eval mode (see `freeze_norms`);
    - `min_input_size`: the smallest H and W it accepts (its input rule, which `check_input`
      applies to every model built, by create_model or directly);
    - `loss(output, target)`: the training loss of what `forward` returns.

    Subclasses implement `forward_features` and `forward_head`. Residual blocks declare
    which batch norm starts at zero with their own `zero_init_last()`.
    """

    classifier_name: str = "fc"
    first_conv_name: str = "conv1"
    aux_heads: tuple[AuxHead, ...] = ()
    aux_logits: bool = False
    # The smallest H and W the class accepts; a class whose minimum depends on an option
    # overrides `min_input_for`, and its __init__ sets the instance's.
    min_input_size: int = 1
    model_name: str = ""  # the registered name, set by create_model
    num_features: int

    def __init__(self, num_classes: int, in_chans: int) -> None:
        super().__init__()
        if num_classes < 0 or in_chans < 1:
            raise ModelOptionError(
                f"num_classes must be >= 0 and in_chans >= 1, got num_classes={num_classes}, "
                f"in_chans={in_chans}"
            )
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.feature_info = FeatureInfoList()
        self.frozen_norms: tuple[str, ...] = ()
        # Set by create_model: the options it was built with (save_weights records them), and
        # for a model built with weights, what input those weights expect (timm's name; see
        # cnnzoo.data_config).
        self.model_options: dict[str, Any] = {}
        self.pretrained_cfg: dict[str, Any] | None = None

    @property
    def default_cfg(self) -> dict[str, Any] | None:
        """timm's older name for `pretrained_cfg`."""
        return self.pretrained_cfg

    @classmethod
    def min_input_for(cls, **options: Any) -> int:
        """The smallest H and W a model of this class built with `options` accepts, known
        without building it (the registry's cards read it)."""
        return cls.min_input_size

    # -- the loss ------------------------------------------------------------------

    def loss(self, output: Any, target: torch.Tensor, *, aux_weight: float = 0.3,
             label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
        """The training loss of `output` (what `forward` returned) against class indices:
        cross-entropy of the logits, plus `aux_weight` times that of each auxiliary head's
        (the GoogLeNet paper's 0.3) for a model that has them."""
        return F.cross_entropy(output, target, label_smoothing=label_smoothing,
                               reduction=reduction)

    def main_logits(self, output: Any) -> torch.Tensor:
        """The main classifier's logits in what `forward` returned."""
        return output

    # -- the interface -------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self, x: torch.Tensor, indices: int | Sequence[int] | None = None
    ) -> tuple[Any, list[torch.Tensor]]:
        """The model's output (what `forward` returns) and the feature maps of the chosen
        stages of `feature_info`: all of them by default, the last n for an int n, or
        the listed indices (negative ones count from the end), in that order."""
        chosen = resolve_indices(self.feature_info, indices, model_name_of(self))
        modules = [self.feature_info[i].module for i in chosen]
        with capture(self, modules) as out:
            y = self(x)
        return y, [out[m] for m in modules]

    @property
    def head_names(self) -> tuple[str, ...]:
        """Dotted paths of the classifier layers: the main one, then the built aux ones."""
        aux = tuple(h.classifier for h in self.aux_heads) if self.aux_logits else ()
        return (self.classifier_name, *aux)

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer (and any auxiliary heads) with fresh ones for
        `num_classes` outputs; 0 gives an identity head that returns pre-logit features."""
        if num_classes < 0:
            raise ModelOptionError(f"num_classes must be >= 0, got {num_classes}")
        widths = {self.classifier_name: self.num_features}
        widths.update({h.classifier: h.in_features for h in self.aux_heads})
        for path in self.head_names:
            new = nn.Linear(widths[path], num_classes) if num_classes > 0 else nn.Identity()
            new.to(device=self._param_device(), dtype=self._param_dtype())
            self.set_submodule(path, new)
        self.num_classes = num_classes

    def freeze_norms(self, names: Sequence[str]) -> None:
        """Keep these batch norms in eval mode from now on, through every `train()`: their
        running statistics stay those of the weights being transferred."""
        for name in names:
            if not isinstance(self.get_submodule(name), nn.modules.batchnorm._BatchNorm):
                raise ModelOptionError(f"{name} is not a batch norm layer")
        self.frozen_norms = tuple(dict.fromkeys((*self.frozen_norms, *names)))
        self.train(self.training)

    def train(self, mode: bool = True) -> ZooModel:
        super().train(mode)
        for name in self.frozen_norms:
            self.get_submodule(name).eval()
        return self

    # -- helpers -------------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> None:
        """Raise InputShapeError naming the model, what it expects and what it got.

        Skipped while a graph is captured (torch.compile, torch.jit.trace, and
        torch.fx.symbolic_trace, whose input is an fx Proxy with no shape to check): the
        graph is then free of Python checks, and the eager call checks its inputs.
        """
        if (torch.compiler.is_compiling() or torch.jit.is_tracing()
                or isinstance(x, torch.fx.Proxy)):
            return
        name = model_name_of(self)
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
        aux_min = max((a.min_input_size for a in self.aux_heads), default=0)
        if self.training and self.aux_logits and min(h, w) < aux_min:
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


def loss_of(model: nn.Module, output: Any, target: torch.Tensor, **options: Any
            ) -> torch.Tensor:
    """`model.loss(output, target, **options)` for a ZooModel; for any other module,
    cross-entropy of its output (label_smoothing and reduction honoured, no aux heads)."""
    if isinstance(model, ZooModel):
        return model.loss(output, target, **options)
    options.pop("aux_weight", None)
    return F.cross_entropy(output, target, **options)


def model_name_of(module: nn.Module) -> str:
    """The registered name of a model made by `create_model`, else the class name: what
    reports and errors call any module they are given."""
    if isinstance(module, ZooModel) and module.model_name:
        return module.model_name
    return type(module).__name__


def sequential_head(classifier: nn.Sequential, x: torch.Tensor, pre_logits: bool) -> torch.Tensor:
    """Run a Sequential classifier on flat features, stopping before its last layer for
    `pre_logits`. Its layers are called one by one: a slice (`classifier[:-1]`) is a new
    Sequential, not a submodule of the model, and torch.fx cannot trace it."""
    *body, last = classifier
    for layer in body:
        x = layer(x)
    return x if pre_logits else last(x)


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

    Subclasses declare `aux_heads`, set `aux_logits`, and implement `_features(x, with_aux)`
    returning (features, aux_logits_list).
    """

    def _features(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list]:
        raise NotImplementedError  # pragma: no cover

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x, with_aux=False)[0]

    def loss(self, output: Any, target: torch.Tensor, *, aux_weight: float = 0.3,
             label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
        main = super().loss(self.main_logits(output), target, label_smoothing=label_smoothing,
                            reduction=reduction)
        if not isinstance(output, AuxOutputs):  # eval mode, or built without the heads
            return main
        for aux in output.aux:
            main = main + aux_weight * super().loss(aux, target, label_smoothing=label_smoothing,
                                                    reduction=reduction)
        return main

    def main_logits(self, output: Any) -> torch.Tensor:
        return output.logits if isinstance(output, AuxOutputs) else output

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:  # type: ignore[override]
        self.check_input(x)
        with_aux = self.training and self.aux_logits
        features, aux = self._features(x, with_aux)
        logits = self.forward_head(features)
        return AuxOutputs(logits, tuple(aux)) if with_aux else logits
