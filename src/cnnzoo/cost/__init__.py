"""What every layer costs: the closed-form formulas of the case studies (`conv_cost`,
`bottleneck_saving`, `depthwise_separable_saving`) and the per-layer analysis of any model
on the meta device (`profile`, `training_memory`)."""

from cnnzoo.cost.formulas import (
    BottleneckSaving,
    ConvCost,
    DepthwiseSaving,
    bottleneck_saving,
    conv_cost,
    depthwise_separable_saving,
)
from cnnzoo.cost.memory import TrainingMemory, training_memory
from cnnzoo.cost.profile import Profile, StageCost, profile
from cnnzoo.cost.rows import LayerCost

__all__ = [
    "BottleneckSaving",
    "ConvCost",
    "DepthwiseSaving",
    "LayerCost",
    "Profile",
    "StageCost",
    "TrainingMemory",
    "bottleneck_saving",
    "conv_cost",
    "depthwise_separable_saving",
    "profile",
    "training_memory",
]
