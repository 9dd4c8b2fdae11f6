"""Every architecture's parameter count, exactly as the issue lists them (built on meta)."""

import pytest

from cnnzoo import count_params, create_model, list_models

EXPECTED = {
    "lenet5": 60_850,
    "lenet5_modern": 61_706,
    "alexnet": 61_100_840,
    "alexnet_paper": 60_965_224,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "plain18": 11_515_688,
    "plain34": 21_623_848,
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    "plain20": 269_722,
    "plain32": 464_154,
    "plain44": 658_586,
    "plain56": 853_018,
    "plain110": 1_727_962,
    "googlenet": 6_624_904,
    "googlenet_paper": 6_998_552,
    "inception_v3": 23_834_568,
    "mobilenet_v1": 4_231_976,
    "mobilenet_v2": 3_504_872,
}

WITH_OPTIONS = [
    ("googlenet", {"aux_logits": True}, 13_004_888),
    ("googlenet_paper", {"aux_logits": True}, 13_378_280),
    ("inception_v3", {"aux_logits": True}, 27_161_264),
    ("mobilenet_v1", {"width": 0.75}, 2_585_560),
    ("mobilenet_v1", {"width": 0.5}, 1_331_592),
    ("mobilenet_v1", {"width": 0.25}, 470_072),
    # The paper's v1 stride placement moves the stride, not the weights.
    ("resnet50", {"stride_in_1x1": True}, 25_557_032),
]


@pytest.mark.parametrize("name, expected", sorted(EXPECTED.items()))
def test_parameter_count(name: str, expected: int) -> None:
    assert count_params(create_model(name, device="meta")) == expected


@pytest.mark.parametrize("name, options, expected", WITH_OPTIONS)
def test_parameter_count_with_options(name: str, options: dict, expected: int) -> None:
    assert count_params(create_model(name, device="meta", **options)) == expected


def test_lenet5_splits_as_published() -> None:
    # 60,000 trainable parameters in C1..F6, as the paper says, plus the 10-way output.
    model = create_model("lenet5", device="meta")
    output = sum(p.numel() for p in model.output.parameters())
    assert output == 850
    assert count_params(model) - output == 60_000
    assert sum(p.numel() for p in model.c3.parameters()) == 1_516  # Table I's connections


def test_every_registered_model_is_counted_here() -> None:
    counted = set(EXPECTED) | {"vgg11", "vgg13"} | {n for n in list_models("vgg*_bn")}
    assert set(list_models()) == counted
