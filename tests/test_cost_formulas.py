"""cnnzoo.cost: the case studies' worked examples, and the real layers that do them."""

import pytest
from torch import nn

from cnnzoo.blocks import DepthwiseSeparableConv, InceptionBlock
from cnnzoo.cost import bottleneck_saving, conv_cost, depthwise_separable_saving, profile
from cnnzoo.errors import UsageError


def test_conv_cost_is_f_f_cin_h_w_cout() -> None:
    c = conv_cost(28, 28, 192, 32, 5)
    assert c.multiplications == 120_422_400 == 5 * 5 * 192 * 28 * 28 * 32
    assert "120,422,400" in str(c)
    assert conv_cost(4, 4, 6, 6, 3, groups=6).multiplications == 3 * 3 * 1 * 4 * 4 * 6


def test_bottleneck_example_is_about_a_tenth() -> None:
    s = bottleneck_saving(28, 28, 192, 16, 32, 5)
    assert s.direct.multiplications == 120_422_400
    assert s.reduce.multiplications == 2_408_448
    assert s.expand.multiplications == 10_035_200
    assert s.bottleneck == 12_443_648
    assert 0.1 < s.ratio < 0.11
    text = str(s)
    for figure in ("120,422,400", "2,408,448", "10,035,200", "12,443,648"):
        assert figure in text


def test_depthwise_example_and_the_closed_form_ratio() -> None:
    s = depthwise_separable_saving(4, 4, 3, 5, 3)
    assert (s.normal.multiplications, s.depthwise.multiplications) == (2_160, 432)
    assert (s.pointwise.multiplications, s.separable) == (240, 672)
    assert s.ratio == pytest.approx(0.311, abs=5e-4)
    assert s.ratio == pytest.approx(1 / 5 + 1 / 9)
    wide = depthwise_separable_saving(4, 4, 3, 512, 3)
    assert wide.ratio == pytest.approx(1 / 512 + 1 / 9)
    assert "672" in str(s) and "0.311" in str(s)


@pytest.mark.parametrize("h,c_in,c_out,f", [(7, 16, 24, 3), (14, 32, 64, 5), (3, 1, 1, 1)])
def test_ratio_formula_holds_for_other_sizes(h: int, c_in: int, c_out: int, f: int) -> None:
    s = depthwise_separable_saving(h, h, c_in, c_out, f)
    assert s.ratio == pytest.approx(s.formula)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sizes_are_refused(bad: object) -> None:
    with pytest.raises(UsageError, match="positive integer"):
        conv_cost(4, 4, bad, 5, 3)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="groups=4 must divide"):
        conv_cost(4, 4, 6, 6, 3, groups=4)


def _macs(p, name: str) -> int:  # noqa: ANN001
    return next(r.macs for r in p.layers if r.name == name)


def test_inception_5x5_branch_costs_what_the_formula_says() -> None:
    # GoogLeNet's inception (3a) with the paper's 5x5 branch: 192 channels at 28x28,
    # 1x1 reduce to 16, 5x5 to 32, exactly the case studies' example.
    block = InceptionBlock(192, 64, 96, 128, 16, 32, 32, branch3_kernel=5)
    p = profile(block, (192, 28, 28))
    s = bottleneck_saving(28, 28, 192, 16, 32, 5)
    assert _macs(p, "branch3.0.conv") == s.reduce.multiplications
    assert _macs(p, "branch3.1.conv") == s.expand.multiplications
    direct = profile(nn.Conv2d(192, 32, 5, padding=2, bias=False), (192, 28, 28))
    assert direct.macs == s.direct.multiplications


def test_depthwise_separable_conv_costs_what_the_formula_says() -> None:
    # The block pads by 1, so a 4x4 input gives the example's 4x4 output.
    p = profile(DepthwiseSeparableConv(3, 5), (3, 4, 4))
    s = depthwise_separable_saving(4, 4, 3, 5, 3)
    assert _macs(p, "depthwise.0") == s.depthwise.multiplications == 432
    assert _macs(p, "pointwise.0") == s.pointwise.multiplications == 240
    normal = profile(nn.Conv2d(3, 5, 3, bias=False), (3, 6, 6))
    assert normal.macs == s.normal.multiplications == 2_160
    assert p.macs / normal.macs == pytest.approx(s.ratio)
