"""The one interface every model has: forward_features, forward_head, reset_classifier,
num_classes, in_chans, and any input size at or above the card's minimum."""

import pytest
import torch
import torch.nn.functional as F

from cnnzoo import InputShapeError, create_model, list_models, model_card
from cnnzoo.models.base import AuxOutputs, loss_of
from tests.zoo import every_model

ALL = list_models()
# Small enough to run for real on the CPU in a test; the rest run on the meta device.
SMALL = ["lenet5", "lenet5_modern", "resnet20", "plain20", "mobilenet_v1", "mobilenet_v2",
         "googlenet", "googlenet_paper", "resnet18"]


@pytest.mark.parametrize("name", every_model())
def test_interface_on_meta(name: str) -> None:
    card = model_card(name)
    model = create_model(name, num_classes=7, in_chans=2, device="meta").eval()
    assert (model.num_classes, model.in_chans) == (7, 2)
    x = torch.empty(2, 2, *card.input_size[1:], device="meta")
    features = model.forward_features(x)
    assert features.ndim == 4
    pre = model.forward_head(features, pre_logits=True)
    assert pre.shape == (2, model.num_features)
    assert model(x).shape == (2, 7)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


@pytest.mark.parametrize("name", every_model())
def test_minimum_and_larger_input_sizes(name: str) -> None:
    card = model_card(name)
    model = create_model(name, device="meta").eval()
    c, low = card.input_size[0], card.min_input_size
    for h, w in ((low, low), (low + 13, low + 5), (card.input_size[1] + 17,) * 2):
        assert model(torch.empty(1, c, h, w, device="meta")).shape == (1, card.num_classes)
    with pytest.raises(InputShapeError, match=f"at least {low}x{low}"):
        model(torch.empty(1, c, low - 1, low, device="meta"))


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "alexnet_paper", "vgg11"])
def test_card_minimum_is_the_true_minimum(name: str) -> None:
    # For these nets one pixel less really breaks a layer (not just our check).
    card = model_card(name)
    model = create_model(name, device="meta").eval()
    x = torch.empty(1, card.input_size[0], card.min_input_size - 1, card.min_input_size - 1,
                    device="meta")
    with pytest.raises(RuntimeError):
        model.forward_head(model.forward_features(x))


@pytest.mark.parametrize("name", SMALL)
def test_real_forward_and_backward(name: str) -> None:
    torch.manual_seed(0)
    card = model_card(name)
    model = create_model(name, num_classes=5, in_chans=1)
    size = max(card.min_input_size, 64 if "googlenet" in name else card.min_input_size)
    x = torch.randn(2, 1, size, size)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)


@pytest.mark.parametrize("name, n_aux", [("googlenet", 2), ("googlenet_paper", 2),
                                         ("inception_v3", 1)])
def test_aux_heads_in_training_only(name: str, n_aux: int) -> None:
    model = create_model(name, num_classes=4, aux_logits=True, device="meta")
    size = 299 if name == "inception_v3" else 96
    x = torch.empty(2, 3, size, size, device="meta")
    out = model.train()(x)
    assert isinstance(out, AuxOutputs) and len(out.aux) == n_aux
    assert all(a.shape == (2, 4) for a in (out.logits, *out.aux))
    assert model.eval()(x).shape == (2, 4)
    model.reset_classifier(9)  # the aux classifiers follow the main one
    assert all(a.shape == (2, 9) for a in model.train()(x).aux)


def test_inception_v3_aux_minimum_is_explained() -> None:
    model = create_model("inception_v3", aux_logits=True, device="meta").train()
    with pytest.raises(InputShapeError, match="auxiliary classifier needs inputs of at least 299"):
        model(torch.empty(2, 3, 200, 200, device="meta"))
    assert model.eval()(torch.empty(2, 3, 200, 200, device="meta")).shape == (2, 1000)


def test_stride_placement_v1_versus_v1_5() -> None:
    v15 = create_model("resnet50", device="meta")
    v1 = create_model("resnet50", stride_in_1x1=True, device="meta")
    assert v15.layer2[0].conv2.stride == (2, 2) and v15.layer2[0].conv1.stride == (1, 1)
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    x = torch.empty(1, 3, 224, 224, device="meta")
    assert v1(x).shape == v15(x).shape


def test_plain_nets_have_no_shortcuts() -> None:
    plain, res = create_model("plain34", device="meta"), create_model("resnet34", device="meta")
    assert not any("downsample" in k for k in plain.state_dict())
    assert any("downsample" in k for k in res.state_dict())
    assert all(not b.residual for stage in (plain.layer1, plain.layer4) for b in stage)


def test_the_model_owns_its_loss_and_weights_its_aux_heads() -> None:
    torch.manual_seed(0)
    model = create_model("googlenet", num_classes=4, aux_logits=True, width=0.25).train()
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([1, 3])
    out = model(x)
    assert isinstance(out, AuxOutputs) and len(out.aux) == 2
    expected = F.cross_entropy(out.logits, y, label_smoothing=0.1) + 0.5 * sum(
        F.cross_entropy(a, y, label_smoothing=0.1) for a in out.aux)
    got = model.loss(out, y, aux_weight=0.5, label_smoothing=0.1)
    assert torch.allclose(got, expected)
    assert model.main_logits(out) is out.logits
    logits = model.eval()(x)  # eval mode: the logits alone, and their loss alone
    assert torch.allclose(model.loss(logits, y), F.cross_entropy(logits, y))
    plain = torch.nn.Linear(3, 4)  # any other module: plain cross-entropy
    z = torch.randn(2, 4)
    assert torch.allclose(loss_of(plain, z, y, aux_weight=0.3), F.cross_entropy(z, y))
