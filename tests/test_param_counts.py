"""Every architecture's parameter count, exactly as its card declares it (built on meta)."""

import pytest

from cnnzoo import count_params, create_model, list_models, model_card

# The exact counts are declared on each card (ModelCard.params, beside the model), so a
# new family states its own; these are the option variants worth pinning as well.
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


@pytest.mark.parametrize("name", list_models())
def test_parameter_count(name: str) -> None:
    expected = model_card(name).params
    assert expected is not None, f"{name}'s card declares no params= (its exact count)"
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


def test_the_counts_the_issue_lists() -> None:
    # A few of the published counts, held here as well: a card cannot change them unseen.
    listed = {"lenet5": 60_850, "alexnet": 61_100_840, "vgg16": 138_357_544,
              "resnet50": 25_557_032, "resnet20": 269_722, "googlenet": 6_624_904,
              "inception_v3": 23_834_568, "mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872}
    assert {name: model_card(name).params for name in listed} == listed
