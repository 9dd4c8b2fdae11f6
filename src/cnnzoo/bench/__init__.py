"""Measured speed: `benchmark` (images/s per variant and batch size), `per_layer` (each
layer against this machine's roofline), `machine_peaks` (measured FLOP/s and bandwidth).

    from cnnzoo.bench import benchmark, Variant
    results = benchmark(create_model("resnet18"), variants=[Variant("eager", "bf16",
                        "channels_last")], batch_sizes=[1, 16])
"""

from cnnzoo.bench.machine import MachinePeaks, machine_peaks
from cnnzoo.bench.roofline import LayerRoofline, RooflineReport, per_layer
from cnnzoo.bench.runner import BenchResult, benchmark, default_batch_sizes
from cnnzoo.bench.timing import Timing, time_callable
from cnnzoo.bench.variants import (
    BACKENDS,
    MEMORY_FORMATS,
    Variant,
    check_variant,
    useful_variants,
)

__all__ = [
    "BACKENDS",
    "MEMORY_FORMATS",
    "BenchResult",
    "LayerRoofline",
    "MachinePeaks",
    "RooflineReport",
    "Timing",
    "Variant",
    "benchmark",
    "check_variant",
    "default_batch_sizes",
    "machine_peaks",
    "per_layer",
    "time_callable",
    "useful_variants",
]
