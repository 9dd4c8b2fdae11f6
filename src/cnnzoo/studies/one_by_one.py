"""one-by-one: a 1x1 convolution shrinks the channels of a volume and keeps its size.

The case studies' example: 32 filters of 1x1x192 turn 28x28x192 into 28x28x32.
"""

from __future__ import annotations

from torch import nn

from cnnzoo.cost import conv_cost
from cnnzoo.studies.base import CONFIRMED, REFUTED, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.layers import count

STUDY = Study(
    id="one-by-one",
    claim="A 1x1 convolution shrinks the number of channels: 32 filters of 1x1x192 turn a "
          "28x28x192 volume into 28x28x32, costing 192 weights per filter.",
    source="Lin, Chen, Yan (2014), Network in Network, sec. 3.2; Szegedy et al. (2015), "
           "Going Deeper with Convolutions, sec. 4 (1x1 reductions)",
    experiment="Build nn.Conv2d(192, 32, 1) and trace it on a 28x28x192 input: output shape, "
               "weights and multiply-adds, beside the formula 1*1*192 * 28*28*32.",
    tolerance="Exact: the output must be 28x28x32, the weights 32*192 (+32 biases) and the "
              "MACs equal the formula to the unit.",
    quick_cost="< 1 s", full_cost="< 1 s",
    deviations="None: a pure count. Biases are counted as parameters but not as MACs.",
)
SHAPE = (192, 28, 28)
C_OUT = 32


def run(ctx: StudyContext) -> None:
    counted = count(nn.Conv2d(SHAPE[0], C_OUT, 1), SHAPE)
    formula = conv_cost(28, 28, 192, C_OUT, 1)
    ctx.write_json("counts", {
        "input_shape": list(SHAPE), "output_shape": counted["output_shape"],
        "params": counted["params"], "macs": counted["macs"],
        "formula_macs": formula.multiplications, "formula_working": formula.working(),
    })


def measure(raw: RawData) -> dict:
    c = raw.json("counts")
    return {**c, "expected_output": [C_OUT, 28, 28], "expected_params": C_OUT * 192 + C_OUT}


def verdict(m: dict) -> Verdict:
    key = (f"{'x'.join(map(str, m['input_shape'][::-1]))} -> "
           f"{'x'.join(map(str, m['output_shape'][::-1]))}, {m['params']:,} weights, "
           f"{m['macs']:,} MACs (formula {m['formula_macs']:,})")
    failures = []
    if m["output_shape"] != m["expected_output"]:
        failures.append(f"output {m['output_shape']} is not {m['expected_output']}")
    if m["params"] != m["expected_params"]:
        failures.append(f"{m['params']} weights, not {m['expected_params']}")
    if m["macs"] != m["formula_macs"]:
        failures.append(f"traced MACs {m['macs']} differ from the formula {m['formula_macs']}")
    if failures:
        return Verdict(REFUTED, key, "; ".join(failures))
    return Verdict(CONFIRMED, key, "shape, weights and MACs match the formula exactly: "
                   f"{m['formula_working']} multiply-adds, about 4.8M")
