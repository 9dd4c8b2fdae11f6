"""The case studies' claims about their building blocks, as tests."""

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.blocks import (
    Bottleneck,
    DepthwiseSeparableConv,
    InceptionBlock,
    InvertedResidual,
    ResidualBlock,
    ZeroPadShortcut,
)
from cnnzoo.models.lenet import C3_TABLE, PartialConv2d


def test_residual_block_with_zeroed_second_layer_is_the_identity() -> None:
    # a[l+2] = g(W a + b + a[l]) = g(a[l]) = a[l] for a non-negative a[l] (after a ReLU).
    torch.manual_seed(0)
    block = ResidualBlock(16, 16)
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
    a = torch.relu(torch.randn(2, 16, 9, 9))
    for mode in (block.train(), block.eval()):
        assert torch.equal(mode(a), a)
    # Without the shortcut (a plain net's block) the same weights give zero, not a.
    plain = ResidualBlock(16, 16, residual=False)
    plain.load_state_dict(block.state_dict())
    assert torch.count_nonzero(plain.eval()(a)) == 0


def test_one_by_one_convolution_is_a_matrix_product_across_channels() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 8, kernel_size=1)
    x = torch.randn(3, 32, 6, 5)
    w = conv.weight.view(8, 32)
    # At every (n, h, w) position: out[:, n, h, w] = W x[:, n, h, w] + b.
    by_matmul = torch.einsum("oc,nchw->nohw", w, x) + conv.bias.view(1, 8, 1, 1)
    torch.testing.assert_close(conv(x), by_matmul, rtol=1e-5, atol=1e-5)


def test_inception_block_keeps_size_and_concatenates_branches() -> None:
    block = InceptionBlock(192, 64, 96, 128, 16, 32, 32)  # inception (3a)
    x = torch.randn(1, 192, 28, 28)
    assert block(x).shape == (1, 64 + 128 + 32 + 32, 28, 28) == (1, block.out_channels, 28, 28)
    odd = torch.randn(2, 192, 7, 11)
    assert block(odd).shape[-2:] == (7, 11)
    assert block.branch3[1].conv.kernel_size == (5, 5)


def test_depthwise_separable_has_the_output_shape_of_a_normal_convolution() -> None:
    for stride in (1, 2):
        dsc = DepthwiseSeparableConv(3, 5, stride=stride)
        normal = nn.Conv2d(3, 5, 3, stride=stride, padding=1)
        x = torch.randn(1, 3, 6, 6)
        assert dsc(x).shape == normal(x).shape
    assert dsc.depthwise[0].groups == 3 and dsc.pointwise[0].kernel_size == (1, 1)


def test_inverted_residual_adds_the_input_only_when_shapes_allow() -> None:
    torch.manual_seed(0)
    same = InvertedResidual(24, 24, stride=1, expand_ratio=6).eval()
    x = torch.randn(2, 24, 8, 8)
    assert same.use_residual
    assert torch.allclose(same(x) - same.conv(x), x)
    assert not InvertedResidual(24, 32, 1, 6).use_residual
    assert not InvertedResidual(24, 24, 2, 6).use_residual
    # Expansion 6 widens the middle to 144 channels; the projection is linear (no ReLU).
    assert same.conv[0][0].out_channels == 144
    assert isinstance(same.conv[-1], nn.BatchNorm2d)


def test_zero_pad_shortcut_subsamples_and_pads_channels() -> None:
    x = torch.randn(2, 16, 8, 8)
    y = ZeroPadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, :8]) == 0 and torch.count_nonzero(y[:, 24:]) == 0


def test_bottleneck_shapes() -> None:
    block = Bottleneck(256, 64)
    assert block(torch.randn(1, 256, 14, 14)).shape == (1, 256, 14, 14)


def test_c3_output_maps_see_only_their_table_inputs() -> None:
    torch.manual_seed(0)
    c3 = PartialConv2d(6, C3_TABLE, 5)
    torch.nn.init.normal_(c3.weight)
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = c3(x)
    for j, inputs in enumerate(C3_TABLE):
        (grad,) = torch.autograd.grad(out[0, j].sum(), x, retain_graph=True)
        touched = {i for i in range(6) if grad[0, i].abs().sum() > 0}
        assert touched == set(inputs), f"C3 map {j}"
    dense = F.conv2d(x, c3.dense_weight(), c3.bias)
    torch.testing.assert_close(out, dense)
