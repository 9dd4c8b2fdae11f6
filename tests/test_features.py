"""What every model declares (stages, aux heads, the BN to zero, frozen norms), and what is
built from the declaration: feature_info, forward_intermediates, features_only."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.architecture import architecture
from cnnzoo.blocks import Bottleneck, InvertedResidual, Residual, ResidualBlock
from cnnzoo.errors import ModelOptionError
from cnnzoo.models.base import ZooModel
from cnnzoo.train.transfer import freeze_features
from tests.zoo import every_model

ALL = cnnzoo.list_models()


def meta_model(name: str, **options) -> ZooModel:
    return cnnzoo.create_model(name, device="meta", **options).eval()


@pytest.mark.parametrize("name", every_model())
def test_feature_info_matches_a_forward_pass(name: str) -> None:
    model = meta_model(name)
    info = model.feature_info
    assert len(info) >= 3, f"{name} declares too few stages"
    # A large input on the meta device: no arithmetic, and the padding of valid convs
    # becomes small beside the stride, so side / feature side rounds to the reduction.
    side = 512
    _, feats = model.forward_intermediates(torch.empty(1, model.in_chans, side, side,
                                                       device="meta"))
    assert len(feats) == len(info)
    for f, x in zip(info, feats, strict=True):
        assert x.shape[1] == f.channels, f"{name} {f.module}: {x.shape[1]} != {f.channels}"
        measured = 2 ** round(math.log2(side / x.shape[-1]))
        assert measured == f.reduction, f"{name} {f.module}: reduction {measured}"
    reductions = [f.reduction for f in info]
    assert reductions == sorted(reductions)
    assert len({f.module for f in info}) == len(info) and all(f.title for f in info)


def test_feature_info_is_exact_for_the_issue_models() -> None:
    resnet50 = meta_model("resnet50").feature_info
    assert [(f.channels, f.reduction) for f in resnet50] == [
        (64, 2), (256, 4), (512, 8), (1024, 16), (2048, 32)]
    assert [f.title for f in resnet50][1:] == [f"layer{i} (conv{i + 1}_x)" for i in range(1, 5)]
    mobilenet = meta_model("mobilenet_v2").feature_info
    assert [(f.channels, f.reduction) for f in mobilenet] == [
        (16, 2), (24, 4), (32, 8), (96, 16), (320, 32)]
    assert [f.channels for f in meta_model("inception_v3").feature_info] == [
        64, 192, 288, 768, 2048]
    assert [f.channels for f in meta_model("googlenet").feature_info] == [
        64, 192, 480, 832, 1024]
    assert [f.channels for f in meta_model("vgg16").feature_info] == [64, 128, 256, 512, 512]
    assert [f.channels for f in meta_model("resnet20").feature_info] == [16, 16, 32, 64]
    assert [f.channels for f in meta_model("mobilenet_v1", width=0.5).feature_info] == [
        32, 64, 128, 256, 512]


def test_features_only_returns_the_chosen_maps_with_the_model_s_values() -> None:
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    logits, feats = model.forward_intermediates(x, indices=(1, -1))
    torch.testing.assert_close(logits, model(x))
    assert [tuple(f.shape) for f in feats] == [(2, 64, 16, 16), (2, 512, 2, 2)]
    assert [t.shape[1] for t in model.forward_intermediates(x, indices=2)[1]] == [256, 512]

    extractor = cnnzoo.create_model("resnet18", features_only=True, out_indices=(0, 2)).eval()
    extractor.load_state_dict(_without_pruned(model.state_dict(), extractor))
    maps = extractor(x)
    _, expected = model.forward_intermediates(x, indices=(0, 2))
    assert len(maps) == 2
    for got, want in zip(maps, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert [f.module for f in extractor.feature_info] == ["relu", "layer2"]


def _without_pruned(state: dict, extractor: nn.Module) -> dict:
    own = extractor.state_dict()
    return {k: v for k, v in (("model." + k, v) for k, v in state.items()) if k in own}


def test_features_only_drops_what_the_chosen_stages_do_not_need() -> None:
    full = cnnzoo.count_params(meta_model("vgg16"))
    trunk = cnnzoo.create_model("vgg16", device="meta", features_only=True)
    early = cnnzoo.create_model("vgg16", device="meta", features_only=True, out_indices=(1,))
    assert cnnzoo.count_params(trunk) == 14_714_688  # the 13 convs: no classifier
    assert cnnzoo.count_params(early) < cnnzoo.count_params(trunk) < full
    names = {n for n, _ in cnnzoo.create_model("resnet50", device="meta", features_only=True,
                                                out_indices=(1,)).named_parameters()}
    assert not any(n.startswith(("model.fc", "model.layer2", "model.layer4")) for n in names)
    assert any(n.startswith("model.layer1") for n in names)


@pytest.mark.slow  # every subset of stages of four nets: ~15 s
@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "mobilenet_v2", "lenet5",
                                  "alexnet_paper"])
def test_every_subset_of_stages_agrees_with_the_whole_model(name: str) -> None:
    model = meta_model(name)
    size = cnnzoo.default_input_size(model)
    x = torch.empty(1, *size, device="meta")
    _, everything = model.forward_intermediates(x)
    for last in range(len(everything)):
        pick = (0, last) if last else (0,)
        maps = cnnzoo.create_model(name, device="meta", features_only=True, out_indices=pick)(x)
        assert [m.shape for m in maps] == [everything[i].shape for i in pick]


def test_bad_stage_indices_are_one_clear_line() -> None:
    with pytest.raises(ModelOptionError) as e:
        cnnzoo.create_model("resnet50", device="meta", features_only=True, out_indices=(1, 5))
    message = str(e.value)
    assert "\n" not in message and "no stage 5" in message
    assert "0=relu, 1=layer1, 2=layer2, 3=layer3, 4=layer4" in message
    with pytest.raises(ModelOptionError, match="distinct"):
        cnnzoo.create_model("resnet50", device="meta", features_only=True, out_indices=(1, -4))
    with pytest.raises(ModelOptionError, match="last 6: give 1 to 5"):
        meta_model("resnet50").forward_intermediates(torch.empty(1, 3, 64, 64, device="meta"), 6)
    with pytest.raises(ModelOptionError, match="features_only=True"):
        cnnzoo.create_model("resnet50", device="meta", out_indices=(1,))


def test_features_only_keeps_the_loaded_weights_and_takes_in_chans(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = cnnzoo.create_model("mobilenet_v2", width=0.35, in_chans=1, num_classes=7).eval()
    path = cnnzoo.save_weights(source, tmp_path / "m.safetensors")
    extractor = cnnzoo.create_model("mobilenet_v2", weights=path, width=0.35, in_chans=1,
                                    features_only=True, out_indices=(-2, -1)).eval()
    x = torch.randn(1, 1, 64, 64)
    _, expected = source.forward_intermediates(x, indices=(-2, -1))
    for got, want in zip(extractor(x), expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("block", [
    ResidualBlock(8, 8), Bottleneck(32, 8), InvertedResidual(8, 8, stride=1, expand_ratio=6)])
def test_zero_init_last_makes_each_residual_block_the_identity(block: Residual) -> None:
    block.eval()
    for m in block.modules():  # non-trivial statistics, so only the zeroed scale can explain it
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            m.running_mean.uniform_(-1, 1)
    x = torch.randn(2, block.conv1.in_channels if hasattr(block, "conv1") else 8, 8, 8).abs()
    assert not torch.allclose(block(x), x)
    block.zero_init_last()
    assert torch.count_nonzero(block.last_norm().weight) == 0
    torch.testing.assert_close(block(x), x)  # x >= 0: the final ReLU keeps it


def test_zero_init_residual_asks_every_block() -> None:
    model = cnnzoo.create_model("resnet50", zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, Residual)]
    assert len(blocks) == 16 and all(torch.count_nonzero(b.last_norm().weight) == 0
                                     for b in blocks)
    plain = ResidualBlock(8, 8, residual=False).eval()
    plain.zero_init_last()  # no shortcut: the block now outputs zeros
    assert torch.count_nonzero(plain(torch.randn(1, 8, 4, 4))) == 0


def test_frozen_norms_stay_frozen_through_train() -> None:
    model = cnnzoo.create_model("resnet20")
    freeze_features(model)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(model.frozen_norms) == len(norms) == 19
    model.train()
    assert model.training and not any(m.training for m in norms)
    before = norms[0].running_mean.clone()
    model(torch.randn(4, 3, 16, 16))
    assert torch.equal(norms[0].running_mean, before)
    with pytest.raises(ModelOptionError, match="not a batch norm"):
        model.freeze_norms(["conv1"])


@pytest.mark.parametrize("name", ALL)
def test_the_classifier_is_declared_with_its_width(name: str) -> None:
    model = meta_model(name)
    assert model.get_classifier().in_features == model.num_features
    for head in model.aux_heads:
        assert isinstance(head.in_features, int) and head.classifier.startswith(head.module)


@pytest.mark.parametrize("name, options", [("resnet18", {}), ("vgg11", {}),
                                           ("googlenet", {"aux_logits": True}),
                                           ("inception_v3", {"aux_logits": True})])
def test_reset_classifier_to_zero_and_back(name: str, options: dict) -> None:
    model = meta_model(name, **options)
    assert len(model.head_names) == 1 + len(model.aux_heads)
    model.reset_classifier(0)
    assert all(isinstance(model.get_submodule(p), nn.Identity) for p in model.head_names)
    model.reset_classifier(10)
    for path in model.head_names:
        assert model.get_submodule(path).out_features == 10
    assert model.get_classifier().in_features == model.num_features


def test_aux_heads_are_declared_even_when_not_built() -> None:
    built, bare = meta_model("googlenet", aux_logits=True), meta_model("googlenet")
    assert [h.module for h in bare.aux_heads] == ["aux1", "aux2"]
    assert bare.head_names == ("fc",) and built.head_names == ("fc", "aux1.fc2", "aux2.fc2")
    assert meta_model("inception_v3").aux_heads[0].min_input_size == 299


def test_stage_subtotals_count_a_shared_module_once() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.head = nn.Conv2d(4, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(self.conv(x)))

    p = cnnzoo.profile(Shared(), (4, 8, 8))
    stages = {s.name: s for s in p.stages()}
    assert stages["conv"].params == 4 * 4 * 9 + 4 and stages["conv"].layers == 2
    assert sum(s.params for s in p.stages()) == p.params
    assert sum(s.macs for s in p.stages()) == p.macs  # but computed twice, counted twice


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "googlenet", "lenet5"])
def test_cost_stages_and_show_rows_read_the_declaration(name: str) -> None:
    model = meta_model(name)
    titles = [f.title for f in model.feature_info]
    p = cnnzoo.profile(model, cnnzoo.default_input_size(model))
    assert [s.name for s in p.stages()] == [*titles, "head"]
    assert sum(s.params for s in p.stages()) == p.params
    rows = architecture(model, cnnzoo.default_input_size(model))
    assert list(dict.fromkeys(r.stage for r in rows)) == [*titles, "head"]


def test_one_name_and_one_input_size_for_any_module() -> None:
    model = cnnzoo.create_model("inception_v3", device="meta", in_chans=1)
    assert cnnzoo.model_name_of(model) == "inception_v3"
    assert cnnzoo.model_name_of(nn.Conv2d(1, 1, 1)) == "Conv2d"
    assert cnnzoo.default_input_size(model) == (1, 299, 299)  # its channels, the card's size
    assert cnnzoo.default_input_size(model, smallest=True) == (1, 75, 75)
    assert cnnzoo.default_input_size(nn.Conv2d(1, 1, 1), [2, 8, 8]) == (2, 8, 8)
    with pytest.raises(cnnzoo.errors.UsageError, match="give input_size"):
        cnnzoo.default_input_size(nn.Conv2d(1, 1, 1))
    with pytest.raises(cnnzoo.errors.UsageError, match="is not a size: give .*positive integers"):
        cnnzoo.default_input_size(model, (3, 0, 8))
