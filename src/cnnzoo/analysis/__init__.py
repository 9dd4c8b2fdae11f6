"""Cost analysis: per-layer MACs, FLOPs, memory and receptive fields, on the meta device."""

from cnnzoo.analysis.memory import TrainingMemory, training_memory
from cnnzoo.analysis.profile import Profile, StageCost, profile
from cnnzoo.analysis.tracer import LayerCost

__all__ = ["LayerCost", "Profile", "StageCost", "TrainingMemory", "profile", "training_memory"]
