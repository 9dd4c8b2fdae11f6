"""What the tracer sees: shared modules, structural zeros, where errors and peaks happen,
the inputs `profile` takes, and transposed convolutions."""

import json

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.cost import profile
from cnnzoo.cost.report import summary_table
from cnnzoo.errors import CnnzooError, InputShapeError, UsageError


class ConvTwice(nn.Module):
    """One 3x3 conv applied twice: its weights are used twice, stored once."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(self.stem(x)))


def test_a_module_called_twice_counts_macs_per_call_and_params_once() -> None:
    p = profile(ConvTwice(), (3, 16, 16))
    conv, again = (r for r in p.layers if r.name.startswith("conv"))
    per_call = 8 * 9 * 8 * 16 * 16  # c_in * f*f * c_out * h*w
    assert (conv.macs, again.macs) == (per_call, per_call)
    assert (conv.params, again.params) == (8 * 9 * 8 + 8, 0) and again.shares == "conv"
    assert p.params == 8 * 3 + 8 + 8 * 9 * 8 + 8
    assert sum(r.params for r in p.layers) == p.params
    assert sum(s.params for s in p.stages()) == p.params
    assert p.macs == 8 * 3 * 16 * 16 + 2 * per_call
    assert "conv#2: the parameters of conv again" in str(p)


def test_lenet5_c3_counts_only_the_connections_of_its_table() -> None:
    p = profile(cnnzoo.create_model("lenet5", device="meta"), (1, 32, 32))
    c3 = next(r for r in p.layers if r.name == "c3")
    # Table I connects 60 (input, output) map pairs of 90: 60 * 25 weights per output
    # position, at 10x10 positions; the dense kernel also multiplies 30 * 25 zeros.
    assert c3.macs == 60 * 25 * 10 * 10 == 150_000
    assert c3.zero_macs == 16 * 6 * 25 * 10 * 10 - c3.macs == 90_000
    assert p.macs == 326_520 and p.zero_macs == 90_000
    assert "of which 90,000 multiply structural zeros" in str(p)
    modern = profile(cnnzoo.create_model("lenet5_modern", device="meta"), (1, 32, 32))
    assert modern.zero_macs == 0 and modern.macs == 416_520  # a full C3


class CatAtTop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), x], dim=1)


def test_the_peak_has_a_label_when_the_model_itself_calls_the_operator() -> None:
    p = profile(CatAtTop(), (4, 8, 8))
    assert p.peak_at == "cat"
    assert p.peak_activation_bytes == 4 * 64 * 4 * (1 + 1 + 2)  # input, conv, cat


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("the lookup table was never filled")


def test_an_error_that_is_not_about_the_input_says_what_failed() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Broken())
    with pytest.raises(CnnzooError) as info:
        profile(model, (3, 16, 16))
    assert not isinstance(info.value, InputShapeError)
    message = str(info.value)
    assert "failed in 1 (Broken)" in message and "never filled" in message
    assert "\n" not in message
    with pytest.raises(InputShapeError, match=r"cannot take input 3x16x16: .* in 0 \(Linear\)"):
        profile(nn.Sequential(nn.Linear(10, 4)), (3, 16, 16))


def test_profile_takes_shapes_batched_shapes_tensors_and_several_inputs() -> None:
    model = cnnzoo.create_model("resnet20", device="meta")
    one = profile(model, (3, 32, 32))
    batched = profile(model, (4, 3, 32, 32))
    tensor = profile(model, torch.randn(4, 3, 32, 32))
    assert batched.batch_size == tensor.batch_size == 4
    assert batched.macs == tensor.macs == 4 * one.macs
    assert profile(model, torch.randn(1, 3, 32, 32, dtype=torch.bfloat16)).dtype == "bfloat16"
    with pytest.raises(UsageError, match="give the batch once"):
        profile(model, (4, 3, 32, 32), batch_size=8)

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image, self.extra = nn.Conv2d(3, 2, 1), nn.Linear(5, 2)

        def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return self.image(x).mean((2, 3)) + self.extra(v)

    p = profile(TwoInputs(), [(2, 3, 8, 8), torch.randn(2, 5)])
    assert p.input_shapes == ((2, 3, 8, 8), (2, 5))
    assert p.macs == 2 * (3 * 2 * 64 + 5 * 2)


def test_print_gives_the_table() -> None:
    p = profile(cnnzoo.create_model("resnet20", device="meta"), (1, 3, 32, 32))
    text = str(p)
    assert text.startswith("resnet20\ninput 3x32x32, batch 1, float32")
    assert summary_table(p) in text and "peak activation memory" in text


def test_receptive_field_through_a_transposed_convolution() -> None:
    # A stride-2 3x3 conv (RF 3, jump 2), then a 4x4 transposed conv of stride 2: each
    # output takes 2 neighbouring inputs (RF 3 + 2 = 5) and outputs are 1 pixel apart;
    # a 3x3 conv after it adds 2 pixels.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1),
                        nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1),
                        nn.ConvTranspose2d(3, 3, 3, stride=2, padding=1, output_padding=1),
                        nn.Conv2d(3, 3, 3, padding=1))
    p = profile(net, (3, 16, 16))
    assert [r.receptive_field[0] for r in p.layers] == [3, 5, 6, 7]
    # Stride 2, k 3: taps 0 and 2 reach the even outputs from inputs one apart (1 pixel
    # now): RF 5 + 1 = 6; the jump halves to 1/2, and a 3x3 conv adds 2 * 1/2.
    assert [r.jump[0] for r in p.layers] == [2, 1, 0.5, 0.5]
    assert json.loads(summary_table(p, "json"))["layers"][2]["jump"] == [0.5, 0.5]


@pytest.mark.parametrize("conv", [
    nn.Conv2d(3, 8, 3), nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
    nn.Conv2d(4, 4, 5, padding=4, dilation=2, groups=4, bias=False),
    nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1),
    nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, groups=2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_meta_outputs_match_torchs_kernels(conv: nn.Module, channels_last: bool) -> None:
    from cnnzoo.analysis.fastmeta import FAST

    conv = conv.to("meta")
    x = torch.empty(2, conv.in_channels, 9, 11, device="meta")
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    aten = torch.ops.aten
    args = (x, conv.weight, conv.bias, list(conv.stride), list(conv.padding),
            list(conv.dilation), conv.transposed, list(conv.output_padding), conv.groups)
    fast, real = FAST[aten.convolution.default](*args), aten.convolution.default(*args)
    assert (fast.shape, fast.stride(), fast.dtype) == (real.shape, real.stride(), real.dtype)
    bn = nn.BatchNorm2d(conv.in_channels).to("meta")
    bn_args = (x, bn.weight, bn.bias, bn.running_mean, bn.running_var, False, 0.1, 1e-5)
    fast_bn = FAST[aten.native_batch_norm.default](*bn_args)
    real_bn = aten.native_batch_norm.default(*bn_args)
    assert (fast_bn[0].shape, fast_bn[0].stride()) == (real_bn[0].shape, real_bn[0].stride())


_M = "meta"


@pytest.mark.parametrize("op,args", [
    ("max_pool2d_with_indices", lambda x: (x, [3, 3], [2, 2], [1, 1], [1, 1], False)),
    ("max_pool2d_with_indices", lambda x: (x, [3, 3], [2, 2], [0, 0], [1, 1], True)),
    ("max_pool2d_with_indices", lambda x: (x, [2, 2], [], [0, 0], [1, 1], True)),
    ("avg_pool2d", lambda x: (x, [5, 5], [3, 3], [0, 0], True)),
    ("avg_pool2d", lambda x: (x, [2, 2], [2, 2], [1, 1], False, False)),
    ("avg_pool3d", lambda x: (x.unsqueeze(1), [5, 1, 1], [1, 1, 1], [2, 0, 0])),
    ("_adaptive_avg_pool2d", lambda x: (x, [1, 1])),
    ("mean", lambda x: (x, [-1, -2], True)),
    ("mean", lambda x: (x, [2, 3])),
    ("addmm", lambda x: (torch.empty(5, device=_M), torch.empty(2, 4, device=_M),
                         torch.empty(4, 5, device=_M))),
    ("cat", lambda x: ([x, x[:, :3]], 1)),
    ("add", lambda x: (x, x[:1, :, :1])),
    ("mul", lambda x: (x, 0.5)),
    ("div", lambda x: (x, x)),
    ("pow", lambda x: (x, 2)),
    ("tanh", lambda x: (x,)),
    ("add_", lambda x: (x.clone(), x[0])),
    ("relu_", lambda x: (x.clone(),)),
    ("hardtanh_", lambda x: (x.clone(), 0.0, 6.0)),
    ("index_put", lambda x: (x, [torch.empty(3, dtype=torch.long, device=_M)],
                             torch.empty(3, 1, 1, 1, device=_M))),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_meta_shapes_match_torchs_kernels(op: str, args: object,
                                               channels_last: bool) -> None:
    from cnnzoo.analysis.fastmeta import FAST

    x = torch.empty(2, 6, 9, 11, device=_M)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    call = args(x)
    func = next(f for f in FAST if f.overloadpacket.__name__ == op)  # one overload each
    fast, real = FAST[func](*call), func(*call)
    fast = fast if isinstance(fast, tuple) else (fast,)
    real = real if isinstance(real, tuple) else (real,)
    assert [(t.shape, t.dtype, t.untyped_storage().nbytes()) for t in fast] == \
        [(t.shape, t.dtype, t.untyped_storage().nbytes()) for t in real]
    if op.endswith("_"):
        assert fast[0] is call[0]  # in place: the input itself, as torch returns it


@pytest.mark.slow  # a fresh interpreter importing torch
def test_a_summary_imports_neither_dynamo_nor_sympy() -> None:
    import subprocess
    import sys

    # Every zoo model's operators have a fast meta kernel (cnnzoo.analysis.fastmeta): none
    # goes to torch's Python ones, whose first calls import the compiler stack.
    code = ("import sys, cnnzoo; "
            "[cnnzoo.profile(cnnzoo.create_model(n, device='meta')) "
            "for n in cnnzoo.list_models()]; "
            "print(sorted(m for m in ('torch._dynamo', 'sympy', "
            "'torch.fx.experimental.symbolic_shapes') if m in sys.modules)); "
            "import sympy; print(sympy.Integer(2) + 1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "3"]  # and the real sympy still imports afterwards
