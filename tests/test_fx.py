"""Every model traces with torch.fx.symbolic_trace and the graph computes what eager does."""

from __future__ import annotations

import pytest
import torch
import torch.fx

from cnnzoo import InputShapeError, create_model, model_card
from tests.zoo import every_model


@pytest.mark.parametrize("name", every_model())
def test_symbolic_trace_matches_eager(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    graph = torch.fx.symbolic_trace(model)
    card = model_card(name)
    side = max(32, card.min_input_size)
    x = torch.randn(2, card.input_size[0], side, side)
    with torch.no_grad():
        assert torch.equal(graph(x), model(x))
    # The input check is left out of the graph, and still runs eagerly.
    assert "check_input" not in graph.code
    with pytest.raises(InputShapeError):
        model(x[0])


def test_pre_logits_of_a_sequential_head_trace_without_slicing() -> None:
    model = create_model("alexnet", device="meta").eval()

    class PreLogits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    graph = torch.fx.symbolic_trace(PreLogits())
    called = [n.target for n in graph.graph.nodes if n.op == "call_module"]
    assert called[-1] == "net.classifier.5"  # FC7's ReLU, not the classifier
    out = graph(torch.empty(1, 3, 224, 224, device="meta"))
    assert out.shape == (1, 4096)
