"""Transfer learning: start from other weights, and train only the head if asked."""

from __future__ import annotations

from torch import nn

from cnnzoo.errors import TrainingError
from cnnzoo.models.base import ZooModel


def head_names(model: ZooModel) -> tuple[str, ...]:
    return (model.classifier_name, *getattr(model, "aux_classifier_names", ()))


def freeze_features(model: ZooModel) -> int:
    """Freeze everything except the classifier (and auxiliary classifiers).

    Frozen batch-norm layers are marked so the trainer keeps them in eval mode: their
    running statistics stay those of the weights being transferred (as in the MobileNetV2
    fine-tuning recipe). Returns the number of parameters left trainable.
    """
    heads = tuple(n + "." for n in head_names(model))
    trainable = 0
    for name, p in model.named_parameters():
        keep = name.startswith(heads)
        p.requires_grad_(keep)
        trainable += p.numel() if keep else 0
    for name, m in model.named_modules():
        is_head = name.startswith(heads) or name in head_names(model)
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not is_head:
            m._cnnzoo_frozen = True
    if trainable == 0:
        raise TrainingError(f"--freeze features left nothing to train in {model.model_name}; "
                            "its classifier has no parameters")
    return trainable
