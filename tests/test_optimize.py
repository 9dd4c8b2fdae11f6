"""cnnzoo.optimize: batch-norm folding in every block layout, channels_last, bf16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.errors import UsageError
from cnnzoo.optimize import conv_bn_pairs, fold_batchnorm, iter_batchnorms, relative_error


def _random_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Freshly built batch norms are identities; give them statistics a trained net has."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


# One model per block layout: ResidualBlock/option-A (resnet20), Bottleneck + projection
# Sequential (resnet50), VGG Sequential (vgg11_bn), ConvBNReLU (googlenet),
# ConvNormAct + bare conv/bn (mobilenet_v2), depthwise separable (mobilenet_v1).
CASES = [
    ("resnet20", {}, (3, 32, 32)),
    ("resnet50", {}, (3, 32, 32)),
    pytest.param("vgg11_bn", {}, (3, 32, 32), marks=pytest.mark.slow),  # ~5 s of folding
    ("googlenet", {"aux_logits": True}, (3, 64, 64)),
    ("mobilenet_v2", {"width": 0.5}, (3, 32, 32)),
    ("mobilenet_v1", {"width": 0.25}, (3, 32, 32)),
]


@pytest.mark.parametrize("name, options, size", CASES,
                         ids=[c.values[0] if hasattr(c, "marks") else c[0] for c in CASES])
def test_folding_removes_every_batch_norm_and_keeps_outputs(name, options, size) -> None:
    model = _random_statistics(cnnzoo.create_model(name, **options))
    before = sum(1 for _ in iter_batchnorms(model))
    x = torch.randn(2, *size)
    optimized = cnnzoo.optimize(model, example=x[:1])
    with torch.no_grad():
        err = relative_error(optimized(x), model(x))
    assert err <= 1e-5
    # Every batch norm that runs in eval is folded; auxiliary heads do not run, so stay.
    assert all(n.startswith("aux") for n in iter_batchnorms(optimized))
    if not options.get("aux_logits"):
        assert list(iter_batchnorms(optimized)) == []
    assert sum(1 for _ in iter_batchnorms(model)) == before  # the original is untouched
    assert optimized.forward_features(x.contiguous(memory_format=torch.channels_last)).ndim == 4


def test_a_conv_output_used_twice_is_not_folded() -> None:
    class Tricky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.conv(x)
            return self.bn2(self.conv2(self.bn(z) + z))  # z also feeds the addition

    model = _random_statistics(Tricky())
    x = torch.randn(2, 3, 8, 8)
    pairs, _ = conv_bn_pairs(model, x)
    assert pairs == [("conv", "bn"), ("conv2", "bn2")]  # both look foldable by data flow...
    folded = fold_batchnorm(model, x)
    assert list(iter_batchnorms(folded)) == ["bn"]  # ...but the check keeps bn
    with torch.no_grad():
        assert relative_error(folded(x), model(x)) <= 1e-5


def test_optimized_model_takes_float32_nchw_and_returns_float32() -> None:
    model = _random_statistics(cnnzoo.create_model("resnet20"))
    fast = cnnzoo.optimize(model, dtype="bf16")
    assert fast.conv1.weight.dtype == torch.bfloat16
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        out = fast(x)
        assert out.dtype == torch.float32 and out.shape == (4, 10)
        assert relative_error(out, model(x)) < 0.1  # bf16 keeps ~3 significant digits
    with pytest.raises(UsageError, match="unknown precision"):
        cnnzoo.optimize(model, dtype="int4")


@pytest.mark.slow  # trains LeNet-5, then bf16, which CPUs without bf16 units emulate
def test_bf16_keeps_the_argmax_of_a_trained_model_on_real_digits() -> None:
    """A LeNet-5 trained briefly on the embedded MNIST digits, then optimised to bf16: the
    predicted class agrees on at least 99% of the 2,000 real test digits."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    # One thread: LeNet's ops are tiny, and on a busy machine a second thread only waits.
    torch.set_num_threads(1)
    try:
        _train_and_compare()
    finally:
        torch.set_num_threads(threads)


def _train_and_compare() -> None:
    from cnnzoo.data import build_transform, load_dataset

    ds = load_dataset("mnist")
    tf = build_transform(ds, (1, 32, 32))
    model = cnnzoo.create_model("lenet5_modern")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, labels = ds.train.images, ds.train.labels
    for i in range(0, len(labels), 64):
        loss = nn.functional.cross_entropy(model(tf(images[i:i + 64])), labels[i:i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = tf(ds.test.images)
    fast = cnnzoo.optimize(model, dtype="bf16")
    with torch.no_grad():
        ref, got = model(x).argmax(1), fast(x).argmax(1)
    assert (ref == ds.test.labels).float().mean() > 0.9  # it did learn
    assert (ref == got).float().mean() >= 0.99
