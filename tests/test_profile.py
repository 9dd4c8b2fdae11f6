"""cnnzoo.profile: per-layer costs, exact to the case studies' arithmetic."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnzoo
from cnnzoo.cost import profile
from cnnzoo.errors import InputShapeError, UsageError
from tests.zoo import every_model

# (name, options, input size, conv + linear multiply-adds): the reference table.
REFERENCE = [
    ("alexnet", {}, None, 714_188_480),
    ("vgg11", {}, None, 7_609_090_048),
    ("vgg13", {}, None, 11_308_466_176),
    ("vgg16", {}, None, 15_470_264_320),
    ("vgg19", {}, None, 19_632_062_464),
    ("resnet18", {}, None, 1_814_073_344),
    ("resnet34", {}, None, 3_663_761_408),
    ("resnet50", {}, None, 4_089_184_256),
    ("resnet101", {}, None, 7_801_405_440),
    ("resnet152", {}, None, 11_513_626_624),
    ("googlenet", {}, None, 1_498_376_192),
    ("inception_v3", {}, None, 5_713_216_096),
    ("mobilenet_v2", {}, None, 300_774_272),
    ("mobilenet_v1", {}, None, 568_740_352),
    ("mobilenet_v1", {"width": 0.75}, None, 325_400_448),
    ("mobilenet_v1", {"width": 0.5}, None, 149_497_088),
    ("mobilenet_v1", {"width": 0.25}, None, 41_030_272),
    ("mobilenet_v1", {}, 192, 418_121_728),
    ("mobilenet_v1", {}, 160, 290_675_200),
    ("mobilenet_v1", {}, 128, 186_400_768),
    ("resnet20", {}, None, 40_551_040),
    ("resnet32", {}, None, 68_862_592),
    ("resnet44", {}, None, 97_174_144),
    ("resnet56", {}, None, 125_485_696),
    ("resnet110", {}, None, 252_887_680),
]


def _profile(name: str, size: int | None = None, **options: object) -> cnnzoo.cost.Profile:
    model = cnnzoo.create_model(name, device="meta", **options)
    c, h, w = cnnzoo.model_card(name).input_size
    return profile(model, (c, size or h, size or w))


@pytest.mark.parametrize("name,options,size,macs", REFERENCE)
def test_reference_macs(name: str, options: dict, size: int | None, macs: int) -> None:
    assert _profile(name, size, **options).macs == macs


def test_resnet50_with_the_papers_strides_is_3_86_billion() -> None:
    v1 = _profile("resnet50", stride_in_1x1=True).macs
    assert round(v1 / 1e9, 2) == 3.86  # the paper's "3.8 x 10^9"
    assert v1 < _profile("resnet50").macs


@pytest.mark.parametrize("name", every_model())
def test_macs_are_half_of_flop_counter_for_every_model(name: str) -> None:
    model = cnnzoo.create_model(name, device="meta").eval()
    size = cnnzoo.model_card(name).input_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty((1, *size), device="meta"))
    p = profile(model, size)
    assert 2 * (p.macs + p.zero_macs) == counter.get_total_flops()
    assert p.params == cnnzoo.count_params(model)
    assert p.uncounted_ops == ()  # every operator that computes has a cost rule
    assert sum(s.macs for s in p.stages()) == p.macs


def test_other_flops_are_counted_by_kind() -> None:
    p = _profile("resnet18")
    rows = {r.name: r for r in p.layers}
    assert rows["bn1"].other_flops == {"norm": 2 * 64 * 112 * 112}  # scale and shift
    assert rows["relu"].other_flops == {"activation": 64 * 112 * 112}
    assert rows["maxpool"].other_flops == {"pooling": 64 * 56 * 56 * 8}  # 8 comparisons
    assert rows["layer1.0.add"].other_flops == {"addition": 64 * 56 * 56}
    assert rows["avgpool"].other_flops == {"pooling": 512 * 7 * 7}
    assert rows["fc"].other_flops == {"bias": 1000} and rows["fc"].macs == 512 * 1000
    adds = [r for r in p.layers if r.type == "add"]
    assert len(adds) == 8  # one residual addition per basic block
    assert p.other_flops_by_kind["addition"] == sum(r.activation_elements for r in adds)


def test_layers_have_shapes_params_and_activation_bytes() -> None:
    p = profile(cnnzoo.create_model("vgg16", device="meta"), (3, 224, 224), dtype="bfloat16")
    first = p.layers[0]
    assert (first.name, first.type) == ("features.0", "Conv2d")
    assert first.input_shape == (3, 224, 224) and first.output_shape == (64, 224, 224)
    assert first.params == 64 * 3 * 9 + 64
    assert first.activation_bytes == 64 * 224 * 224 * 2  # bfloat16
    assert p.layers[-1].output_shape == (1000,)


def test_receptive_fields_match_hand_computation() -> None:
    rows = {r.name: r for r in _profile("vgg16").layers}
    assert rows["features.28"].receptive_field == (196, 196)  # conv5_3
    assert rows["features.30"].receptive_field == (212, 212)  # pool5
    assert rows["features.30"].jump == (32, 32)
    stages = {s.name: s for s in _profile("resnet50").stages()}
    # Each stage takes what the one before gave (the stage table's input column).
    order = list(stages.values())
    assert order[0].input_shape == (3, 224, 224)
    assert all(b.input_shape == a.output_shape for a, b in zip(order, order[1:], strict=False))
    assert [stages[f"layer{i} (conv{i + 1}_x)"].receptive_field[0] for i in (1, 2, 3, 4)] == [
        35, 91, 267, 427]
    # The paper's stride placement: 483, as in Araujo et al. (Distill, 2019).
    v1 = _profile("resnet50", stride_in_1x1=True)
    assert next(s for s in v1.stages() if s.name.startswith("layer4")).receptive_field == (
        483, 483)


def test_peak_activation_memory_is_tensors_alive_at_once() -> None:
    # input (1 KiB) -> conv (4 KiB) -> in-place ReLU -> conv (2 KiB): while the second conv
    # runs, its input and output are both alive; the network input is held throughout.
    net = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(inplace=True),
                        nn.Conv2d(16, 8, 3, padding=1))
    p = profile(net, (4, 8, 8))
    assert p.peak_activation_bytes == 4 * 64 * 4 + 16 * 64 * 4 + 8 * 64 * 4
    vgg = _profile("vgg16")  # conv1_1 and conv1_2 outputs, plus the input
    assert vgg.peak_activation_bytes == 3 * 224 * 224 * 4 + 2 * 64 * 224 * 224 * 4
    assert vgg.peak_activation_bytes < vgg.activation_bytes / 4


def test_profile_leaves_the_model_alone() -> None:
    model = cnnzoo.create_model("resnet20")
    model.train()
    before = model.conv1.weight.detach().clone()
    p = profile(model, (3, 32, 32))
    assert p.macs == 40_551_040 and p.model == "resnet20"
    assert model.training and model.conv1.weight.device.type == "cpu"
    assert torch.equal(model.conv1.weight, before)


def test_batch_size_scales_costs() -> None:
    one = _profile("resnet20")
    eight = profile(cnnzoo.create_model("resnet20", device="meta"), (3, 32, 32), batch_size=8)
    assert eight.macs == 8 * one.macs
    assert eight.layers[0].activation_bytes == 8 * one.layers[0].activation_bytes


def test_bad_input_is_a_clear_error() -> None:
    model = cnnzoo.create_model("resnet18", device="meta")
    with pytest.raises(InputShapeError, match="at least 32x32"):
        profile(model, (3, 16, 16))
    with pytest.raises(UsageError, match=r"\(C, H, W\)"):
        profile(model, (224, 224))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="float32"):
        profile(model, (3, 224, 224), dtype="int7")


def test_stages_follow_the_case_studies() -> None:
    names = [s.name for s in _profile("resnet50").stages()]
    assert names == ["stem", "layer1 (conv2_x)", "layer2 (conv3_x)", "layer3 (conv4_x)",
                     "layer4 (conv5_x)", "head"]
    mobilenet = [s.name for s in _profile("mobilenet_v2").stages()]  # its feature_info
    assert mobilenet == ["features.0-1", "features.2-3", "features.4-6", "features.7-13",
                         "features.14-17", "head"]
    vgg = _profile("vgg16").stages()
    assert [s.output_shape for s in vgg[:5]] == [(64, 112, 112), (128, 56, 56),
                                                 (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    inception = [s.name for s in _profile("inception_v3").stages()]
    assert inception == ["Conv2d_1a-2b", "Conv2d_3b-4a", "Mixed_5b-5d (35x35)",
                         "Mixed_6a-6e (17x17)", "Mixed_7a-7c (8x8)", "head"]
    cifar = {s.name: s for s in _profile("resnet20").stages()}
    # Each strided stage doubles the jump (conv stride and the shortcut's strided slice).
    assert [cifar[f"layer{i}"].jump for i in (1, 2, 3)] == [(1, 1), (2, 2), (4, 4)]


def test_a_meta_model_is_traced_as_it_is_and_left_as_it_was() -> None:
    on_meta = cnnzoo.create_model("resnet18", device="meta").train()
    on_cpu = cnnzoo.create_model("resnet18").train()
    a, b = cnnzoo.profile(on_meta, (3, 64, 64)), cnnzoo.profile(on_cpu, (3, 64, 64))
    assert [(r.name, r.macs, r.output_shape) for r in a.layers] == \
        [(r.name, r.macs, r.output_shape) for r in b.layers]
    assert all(m.training for m in on_meta.modules())  # its train mode is put back
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in on_meta.modules())
