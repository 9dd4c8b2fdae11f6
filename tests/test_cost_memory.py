"""`training_memory` against hand-computed sizes and against real training steps."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.cost import training_memory
from cnnzoo.cost.measure import measure_training_peak
from cnnzoo.errors import UsageError

# A net whose first weight dominates: 1000 -> 2000 -> 10.
BIG, SMALL = 2000 * 1000, 10 * 2000
PARAM_BYTES = 4 * (BIG + 2000 + SMALL + 10)


class Wide(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(1000, 2000), nn.Linear(2000, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def test_gradients_are_held_through_backward() -> None:
    # A Linear's weight gradient is the transpose of an mm output: a view that keeps the
    # mm's storage alive. Counting by tensor, not storage, dropped every such gradient.
    est = training_memory(Wide(), (1000, 1, 1), batch_size=4, optimizer="sgd")
    assert est.gradients == PARAM_BYTES
    assert est.backward_peak >= est.batch + est.gradients
    alexnet = training_memory(cnnzoo.create_model("alexnet", device="meta"), (3, 224, 224),
                              batch_size=1, optimizer="sgd")
    assert alexnet.backward_peak > alexnet.gradients == alexnet.weights


def test_adam_step_temporaries_are_counted() -> None:
    # torch's per-parameter Adam (the CPU default) holds sqrt(v) and sqrt(v)/c at once, for
    # one parameter at a time: twice the largest. The foreach kernels hold sqrt(v) of all.
    single = training_memory(Wide(), (1000, 1, 1), batch_size=4, optimizer="adam")
    assert single.optimizer_state == 2 * PARAM_BYTES
    assert single.step_temporaries == 2 * 4 * BIG
    assert single.peak_in == "optimizer step"
    assert single.peak == (single.weights + single.batch + single.gradients
                           + single.optimizer_state + single.step_temporaries)
    many = training_memory(Wide(), (1000, 1, 1), batch_size=4, optimizer="adam", foreach=True)
    assert many.foreach and many.step_temporaries == PARAM_BYTES
    momentum = training_memory(Wide(), (1000, 1, 1), batch_size=4, optimizer="momentum")
    assert momentum.optimizer_state == PARAM_BYTES and momentum.step_temporaries == 0


def _ratio(model: nn.Module, size: tuple[int, int, int], optimizer: str,
           foreach: bool | None = None) -> float:
    torch.manual_seed(0)
    est = training_memory(model, size, 8, optimizer, foreach=foreach).peak
    real = measure_training_peak(model, size, 8, optimizer, num_classes=10, foreach=foreach)
    return est / real


@pytest.mark.parametrize("optimizer,foreach", [("adam", None), ("adam", True),
                                               ("momentum", None), ("adamw", None)])
def test_a_small_net_is_within_10_percent_of_measured(optimizer: str, foreach: bool) -> None:
    assert abs(_ratio(Wide(), (1000, 1, 1), optimizer, foreach) - 1) < 0.1


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_resnet20_is_within_10_percent_of_measured(optimizer: str) -> None:
    assert abs(_ratio(cnnzoo.create_model("resnet20"), (3, 32, 32), optimizer) - 1) < 0.1


@pytest.mark.slow
def test_training_memory_grows_with_batch_and_optimizer() -> None:
    model = cnnzoo.create_model("mobilenet_v2", device="meta")
    small = training_memory(model, (3, 224, 224), 8, "sgd")
    big = training_memory(model, (3, 224, 224), 32, "adam")
    assert small.optimizer_state == 0 and big.optimizer_state == 2 * big.gradients
    assert 3.5 < big.saved_activations / small.saved_activations < 4.5
    with pytest.raises(UsageError, match="adam"):
        training_memory(model, (3, 224, 224), 8, "lion")
