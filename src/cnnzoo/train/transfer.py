"""Transfer learning: start from other weights, and train only the head if asked."""

from __future__ import annotations

from torch import nn

from cnnzoo.errors import ConfigError
from cnnzoo.models.base import ZooModel


def freeze_features(model: ZooModel) -> int:
    """Freeze everything except the classifier (and auxiliary classifiers).

    The frozen batch norms are declared to the model (`freeze_norms`), whose `train()`
    then keeps them in eval mode: their running statistics stay those of the weights being
    transferred (as in the MobileNetV2 fine-tuning recipe). Returns the number of
    parameters left trainable.
    """
    heads = model.head_names
    prefixes = tuple(n + "." for n in heads)
    trainable = 0
    for name, p in model.named_parameters():
        keep = name.startswith(prefixes)
        p.requires_grad_(keep)
        trainable += p.numel() if keep else 0
    if trainable == 0:
        raise ConfigError("freeze", f"features left nothing to train in {model.model_name}: "
                          "its classifier has no parameters")
    model.freeze_norms([
        name for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not (name in heads or name.startswith(prefixes))
    ])
    return trainable
