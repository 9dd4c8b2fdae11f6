"""Bad input gets a clear error naming the problem and the fix, not a torch stack trace."""

import pytest
import torch

from cnnzoo import (
    InputShapeError,
    ModelOptionError,
    UnknownModelError,
    create_model,
    model_card,
)


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(UnknownModelError) as info:
        create_model("resnet5")
    message = str(info.value)
    assert "resnet50" in message and "resnet56" in message and "cnnzoo list" in message
    with pytest.raises(UnknownModelError, match="googlenet"):
        model_card("googlnet")


def test_unknown_option_lists_the_options() -> None:
    with pytest.raises(ModelOptionError, match=r"no option widht; its options are: width=1\.0"):
        create_model("mobilenet_v1", widht=0.5)
    with pytest.raises(ModelOptionError, match="width"):
        create_model("mobilenet_v2", width=0)


def test_wrong_channel_count_names_model_expectation_and_input() -> None:
    model = create_model("resnet18", device="meta")
    with pytest.raises(InputShapeError) as info:
        model(torch.empty(1, 1, 224, 224, device="meta"))
    message = str(info.value)
    assert message.startswith("resnet18 expects 3 input channel(s)")
    assert "(1, 1, 224, 224)" in message and "in_chans=1" in message


def test_too_small_input_and_missing_batch_dimension() -> None:
    model = create_model("alexnet", device="meta")
    with pytest.raises(InputShapeError, match="alexnet needs inputs of at least 63x63, got 62x90"):
        model(torch.empty(1, 3, 62, 90, device="meta"))
    with pytest.raises(InputShapeError, match="add a batch dimension"):
        model(torch.empty(3, 224, 224, device="meta"))


def test_integer_images_are_explained() -> None:
    model = create_model("lenet5")
    with pytest.raises(InputShapeError, match="floating-point"):
        model(torch.zeros(1, 1, 32, 32, dtype=torch.uint8))
