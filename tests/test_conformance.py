"""torchvision compatibility, checked numerically against the shared fixtures.

For each model the fixture lists torchvision's state_dict keys and shapes and the
float64 logits it computed with weights from fill.py; we must match both.
"""

import json
from pathlib import Path

import pytest
import torch

from cnnzoo import create_model, list_models, model_card
from tests.conformance.fill import fill_state_dict, make_input

FIXTURE_FILE = Path(__file__).parent / "conformance" / "torchvision_phase0.json"
FIXTURE = json.loads(FIXTURE_FILE.read_text())
AUX = {"googlenet", "inception_v3"}  # torchvision builds these with aux heads by default


def build(name: str, device: str | None = None) -> torch.nn.Module:
    return create_model(name, device=device, **({"aux_logits": True} if name in AUX else {}))


def test_fixture_covers_the_torchvision_layout_models() -> None:
    # Every card that claims torchvision's layout has a fixture, and only those.
    assert set(FIXTURE) == {n for n in list_models() if model_card(n).torchvision_layout}


@pytest.mark.parametrize("name", sorted(FIXTURE))
def test_state_dict_keys_and_shapes(name: str) -> None:
    ours = [[k, list(v.shape)] for k, v in build(name, "meta").state_dict().items()]
    assert ours == FIXTURE[name]["keys"]


# The float64 forward of AlexNet and the VGGs at 224x224 takes 5-8 s each: slow tier.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n.startswith(("alexnet", "vgg"))
    or n in ("resnet101", "resnet152") else n  # 2-4 s each; resnet18/34/50 keep the layout
    for n in sorted(FIXTURE)])
def test_float64_logits_match_torchvision(name: str) -> None:
    case = FIXTURE[name]
    model = build(name, "meta")
    filled = fill_state_dict(model.state_dict(), case["phase"])
    model.load_state_dict(filled, assign=True)  # meta tensors replaced by the float64 fill
    model.eval()
    x = make_input(case["input_shape"], case["phase"])
    with torch.no_grad():
        logits = model(x)
    expected = torch.tensor(case["logits"], dtype=torch.float64)
    assert logits.dtype == torch.float64
    relative_error = (logits - expected).abs().max() / expected.abs().max()
    assert relative_error <= 1e-9, f"{name}: relative error {relative_error:.3e}"
